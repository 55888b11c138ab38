#!/usr/bin/env bash
# The sanitizer build: libibcore.a, the Check unit tests (every program of
# $(TESTS)) and the fuzz replay programs built with AddressSanitizer +
# UndefinedBehaviorSanitizer (and LeakSanitizer) in build-asan/, then run;
# any sanitizer report fails.
#
#   bash tests/fuzz/asan.sh
#
# The httpd module built the same way, and the integration tests run against
# it: tests/fuzz/asan-module.sh and tests/fuzz/asan-integration.sh.
#
# build-asan/ is a configured copy of the tree (tests/fuzz/asan-common.sh).
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

# shellcheck source=tests/fuzz/asan-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/asan-common.sh"
asan_configure
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
