#!/usr/bin/env bash
# The Check unit tests (and the fuzz corpus replay) under valgrind memcheck:
#
#   bash tests/fuzz/valgrind.sh [--no-replay]
#
# Uses the normal build in the repository (tests/build.sh; the unit test
# programs of `make check` and the replay programs of make fuzz-build). Fails on any
# memcheck error (invalid read/write, use of uninitialised values, invalid
# free) and on any "definitely lost" leak; third-party reports are suppressed
# by tests/fuzz/valgrind.supp, which says why for each entry.
#
# Check runs each test in a forked child; valgrind follows forks (the child is
# the same process image), so every test runs under memcheck and a child with
# an error exits with --error-exitcode, which Check reports as a failed test.
#
# tests/run.sh runs this when IDBROKER_VALGRIND=1.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
command -v valgrind >/dev/null || {
    echo "valgrind: not installed (apt-get install valgrind; tests/deps.sh test installs it)" >&2
    exit 1
}
replay=1
[[ ${1:-} == --no-replay ]] && replay=0

VG=(valgrind --tool=memcheck --error-exitcode=42 --leak-check=full
    --show-leak-kinds=definite --errors-for-leak-kinds=definite
    --suppressions="$REPO/tests/fuzz/valgrind.supp" --num-callers=30 -q)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0

units=$(make -s print-unit-tests)
# shellcheck disable=SC2086
make -j2 $units fuzz-build >/dev/null
echo "valgrind: unit tests (Check, one forked process per test)"
rc=0
for t in $units; do
    CK_DEFAULT_TIMEOUT=300 "${VG[@]}" "./$t" >>"$out" 2>&1 || rc=$?
done
grep -E '^[0-9]+%: Checks' "$out" || true
if [[ $rc -ne 0 ]] || grep -q '^==[0-9]*== [A-Z]' "$out"; then
    grep -E '^==[0-9]+==|:[EF]:' "$out" | head -200 >&2
    echo "valgrind: unit tests FAILED (exit $rc)" >&2
    status=1
fi

if [[ $replay -eq 1 ]]; then
    echo "valgrind: fuzz corpus replay"
    for c in fuzz/fuzz_*.c; do
        n=$(basename "$c" .c)
        [[ $n == fuzz_common ]] && continue
        rc=0
        "${VG[@]}" "fuzz/$n" "fuzz/corpus/${n#fuzz_}" >"$out" 2>&1 || rc=$?
        grep -E '^replay: fuzz_' "$out" || true
        if [[ $rc -ne 0 ]] || grep -q '^==[0-9]*== [A-Z]' "$out"; then
            grep -E '^==[0-9]+==|replay:|fuzz:' "$out" | head -120 >&2
            echo "valgrind: $n FAILED (exit $rc)" >&2
            status=1
        fi
    done
fi

[[ $status -eq 0 ]] && echo "valgrind: PASS (no memcheck error, no definite leak)"
exit $status
