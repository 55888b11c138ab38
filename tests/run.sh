#!/usr/bin/env bash
# The test command: install what is missing, build, run every test.
#
#   bash tests/run.sh [PYTEST_ARGS...]
#
# 1. tests/deps.sh test   Debian packages for the build and the tests
# 2. tests/build.sh       autoreconf/configure when stale, then make
# 3. make check           C unit tests (Check)
# 4. make fuzz-replay     every fuzz corpus (fuzz/corpus) through the fuzz
#                         targets, built without clang (tests/fuzz/replay.sh)
# 5. tests/fuzz/asan.sh   unit tests and corpora again, built with ASan, UBSan
#                         and LSan in build-asan/ (IDBROKER_SANITIZERS=0 skips)
#    tests/fuzz/valgrind.sh  the same under valgrind memcheck, only with
#                         IDBROKER_VALGRIND=1 (it takes ~8 minutes)
# 6. pytest               integration tests against private httpd instances;
#                         extra arguments go to pytest (e.g. -k metadata -x)
# 7. tests/fuzz/asan-integration.sh  the integration tests again, with the
#                         module built with ASan+UBSan (IDBROKER_SANITIZERS=0
#                         skips)
# 8. tests/fuzz/valgrind-integration.sh  a subset of them with httpd under
#                         valgrind memcheck (IDBROKER_VALGRIND=0 skips)
#
# Every step runs even if one before failed, so one run shows everything;
# the exit code is non-zero if any failed. The last line sums it up.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

bash tests/deps.sh test
bash tests/build.sh

# Unit tests. automake's harness keeps Check's own report in the .log file;
# show its summary line ("100%: Checks: N, Failures: 0, Errors: 0") and, on
# failure, the whole log, so the reason is in the output and not on disk.
unit=FAIL
echo "== unit tests: make check"
if make -j2 check; then
    unit=PASS
else
    cat test-suite.log tests/unit/*.log 2>/dev/null || true
fi
grep -h 'Checks:' tests/unit/*.log 2>/dev/null || true

# Fuzz corpora, sanitizers, valgrind (README "Fuzzing and sanitizers").
fuzz=FAIL
echo "== fuzz corpus replay: make fuzz-replay"
make -j2 fuzz-replay && fuzz=PASS
sanitizers=SKIP
if [[ ${IDBROKER_SANITIZERS:-1} != 0 ]]; then
    sanitizers=FAIL
    echo "== sanitizers: tests/fuzz/asan.sh (ASan+UBSan+LSan in build-asan/)"
    bash tests/fuzz/asan.sh && sanitizers=PASS
fi
valgrind=SKIP
if [[ ${IDBROKER_VALGRIND:-0} == 1 ]]; then
    valgrind=FAIL
    echo "== valgrind: tests/fuzz/valgrind.sh"
    bash tests/fuzz/valgrind.sh && valgrind=PASS
fi

# Integration tests. pytest exits 5 when it collected nothing: a suite that
# tested nothing must not pass.
integration=FAIL
echo "== integration tests: pytest tests/integration $*"
rc=0
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration "$@" || rc=$?
case $rc in
    0) integration=PASS ;;
    5) echo "run: pytest collected no tests: counted as a failure" >&2 ;;
    *) ;;
esac

# The integration tests under the memory checkers (README "Fuzzing and
# sanitizers"); any report from an httpd fails them.
asan_it=SKIP
if [[ ${IDBROKER_SANITIZERS:-1} != 0 ]]; then
    asan_it=FAIL
    echo "== integration tests under ASan+UBSan: tests/fuzz/asan-integration.sh"
    bash tests/fuzz/asan-integration.sh && asan_it=PASS
fi
valgrind_it=SKIP
if [[ ${IDBROKER_VALGRIND:-} != 0 ]]; then
    valgrind_it=FAIL
    echo "== integration tests under valgrind: tests/fuzz/valgrind-integration.sh"
    bash tests/fuzz/valgrind-integration.sh && valgrind_it=PASS
fi

echo "unit: $unit, fuzz replay: $fuzz, sanitizers: $sanitizers, valgrind: $valgrind," \
     "integration: $integration, integration under ASan: $asan_it," \
     "integration under valgrind: $valgrind_it"
[[ $unit == PASS && $fuzz == PASS && $sanitizers != FAIL && $valgrind != FAIL \
   && $integration == PASS && $asan_it != FAIL && $valgrind_it != FAIL ]]
