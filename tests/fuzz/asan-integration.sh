#!/usr/bin/env bash
# The integration tests against the module built with ASan + UBSan
# (tests/fuzz/asan-module.sh), loaded into Debian's httpd with the ASan
# runtime LD_PRELOADed:
#
#   bash tests/fuzz/asan-integration.sh [PYTEST_ARGS...]
#
# Without arguments: every test file that starts httpd with the module, but
# those that start httpd themselves, outside the harness (test_bench_smoke.py:
# bench/run.sh; test_demo_oidc.py and browser/: examples/demo.sh), and the
# self-tests of the test IdP/OP/SimpleSAMLphp and the README samples, which
# load no module. Arguments go to pytest; if the first is an option (-x,
# -k EXPR), the default files are added after them, else they replace them
# (e.g. tests/integration/test_oidc.py -x).
#
# tests/integration/harness.py does the rest when IDBROKER_HTTPD_PRELOAD is
# set: each httpd gets LD_PRELOAD and ASAN_OPTIONS/UBSAN_OPTIONS with
# log_path=<its work dir>/memcheck/{asan,ubsan} (no leak check: children are
# killed at stop; halt_on_error); any report there, or a child that died of a
# signal, fails the test that was running and the run (conftest.py).
# test_memcheck_selftest.py proves it: it crashes a child and expects ASan's
# report. The normal build (tests/build.sh) must exist: the tests use its
# ./idbroker-tenant.
#
# tests/run.sh runs this unless IDBROKER_SANITIZERS=0: ~760 tests, ~7 minutes
# on 2 cores (shared with other test runs when measured).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
so=$(bash "$REPO/tests/fuzz/asan-module.sh")
# The module links gcc's shared libasan; its runtime must come first in httpd.
libasan=$(gcc -print-file-name=libasan.so)
[[ -f $libasan ]] || { echo "asan-integration: no $libasan (gcc's libasan)" >&2; exit 1; }

export IDBROKER_MODULE=$so IDBROKER_HTTPD_PRELOAD=$libasan
# ASan makes the module ~2-3 times slower: room for the harness's waits.
export IDBROKER_TIMEOUT_SCALE=${IDBROKER_TIMEOUT_SCALE:-3}
cd "$REPO"
if [[ $# -eq 0 || $1 == -* ]]; then
    set -- "$@" tests/integration \
        --ignore=tests/integration/test_bench_smoke.py \
        --ignore=tests/integration/test_demo_oidc.py \
        --ignore=tests/integration/browser \
        --ignore=tests/integration/test_op_selftest.py \
        --ignore=tests/integration/test_ssp_selftest.py \
        --ignore=tests/integration/test_testidp_selftest.py \
        --ignore=tests/integration/test_readme_samples.py
fi
echo "asan-integration: pytest $* (module $so, LD_PRELOAD=$libasan)"
rc=0
/usr/bin/python3 -m pytest -q -p no:cacheprovider "$@" || rc=$?
# pytest exits 5 when it collected nothing: that tested nothing.
[[ $rc -eq 5 ]] && echo "asan-integration: no test collected" >&2
[[ $rc -eq 0 ]] && echo "asan-integration: PASS (no ASan/UBSan report)"
exit $rc
