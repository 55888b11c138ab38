#!/usr/bin/env bash
# The sanitizer build: libibcore.a, the Check unit tests (every program of
# $(TESTS)) and the fuzz replay programs built with AddressSanitizer +
# UndefinedBehaviorSanitizer (and LeakSanitizer) in build-asan/, then run;
# any sanitizer report fails.
#
#   bash tests/fuzz/asan.sh
#
# The httpd module itself is not built here: httpd is not built with ASan,
# and an ASan-instrumented module cannot be loaded into it. Its protocol core
# is what is tested: the same sources, in libibcore.a.
#
# configure refuses a VPATH build while the source tree is itself configured
# (tests/build.sh builds in place), so build-asan/ gets a copy of the build
# inputs (tests/fuzz/mirror.sh: only what changed) and is configured in
# place, with the sanitizer flags, once per flag change.
#
# Environment:
#   IDBROKER_ASAN_DIR   build directory (default: build-asan in the repo)
#   IDBROKER_ASAN_CC    compiler (default gcc; clang works too)
#   ASAN_OPTIONS, UBSAN_OPTIONS, LSAN_OPTIONS  override the defaults below
#
# Third-party leaks (lasso, glib, libxml2, xmlsec, OpenSSL internals) are
# suppressed by tests/fuzz/lsan.supp, which says why for each entry; leaks in
# mod_src/ are never suppressed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=${IDBROKER_ASAN_DIR:-$REPO/build-asan}
CC_=${IDBROKER_ASAN_CC:-gcc}
SAN="-fsanitize=address,undefined -fsanitize=float-cast-overflow -fno-sanitize-recover=all"
CFLAGS_="-O1 -g -fno-omit-frame-pointer $SAN"
LDFLAGS_="$SAN"

fail() {
    echo "asan: FAILED: $*" >&2
    exit 1
}

# ---- the copy -----------------------------------------------------------------
bash "$REPO/tests/fuzz/mirror.sh" "$B"

# ---- configure (when the flags or configure changed) and build ----------------
cd "$B"
stamp="CC=$CC_ CFLAGS=$CFLAGS_ LDFLAGS=$LDFLAGS_"
if [[ ! -f Makefile || configure -nt Makefile || $(cat .asan-flags 2>/dev/null) != "$stamp" ]]; then
    echo "asan: ./configure in $B"
    ./configure -q CC="$CC_" CFLAGS="$CFLAGS_" LDFLAGS="$LDFLAGS_" >configure.out 2>&1 \
        || { cat configure.out; fail "./configure (see $B/config.log)"; }
    echo "$stamp" >.asan-flags
fi
units=$(make -s print-unit-tests)
[[ -n $units ]] || fail "no unit test programs (is Check installed?)"
echo "asan: make libibcore.a $units fuzz-build ($CC_, $SAN)"
# shellcheck disable=SC2086
make -j2 libibcore.a $units fuzz-build >make.out 2>&1 \
    || { tail -50 make.out; fail "make"; }

# ---- run ----------------------------------------------------------------------
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$REPO/tests/fuzz/lsan.supp:print_suppressions=0}

# Any report in the output fails the step, whatever the exit status says (a
# report inside a forked Check test could otherwise read as a plain failure).
REPORT='ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior|Leak)Sanitizer'
status=0

echo "asan: unit tests (Check, one forked process per test)"
rc=0
: >unit.out
for t in $units; do
    "./$t" >>unit.out 2>&1 || rc=$?
done
grep -E '^[0-9]+%: Checks' unit.out || true
if [[ $rc -ne 0 ]] || grep -Eq "$REPORT" unit.out; then
    grep -E -B2 -A30 "$REPORT|Failures|Errors|:[EF]:" unit.out | head -150 >&2 || tail -50 unit.out >&2
    echo "asan: unit tests FAILED (exit $rc; full output in $B/unit.out)" >&2
    status=1
fi

echo "asan: fuzz corpus replay"
rc=0
bash "$REPO/tests/fuzz/replay.sh" "$B/fuzz" "$REPO/fuzz/corpus" >replay.out 2>&1 || rc=$?
grep -E '^replay:' replay.out | grep -v 'the failing input' || true
if [[ $rc -ne 0 ]] || grep -Eq "$REPORT" replay.out; then
    grep -E -B5 -A40 "$REPORT|FAILED|the failing input" replay.out | head -150 >&2 || true
    echo "asan: replay FAILED (exit $rc; full output in $B/replay.out)" >&2
    status=1
fi

[[ $status -eq 0 ]] && echo "asan: PASS (no sanitizer report)"
exit $status
