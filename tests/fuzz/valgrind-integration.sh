#!/usr/bin/env bash
# A subset of the integration tests with every httpd under valgrind memcheck
# (the normal build, ./mod_auth_idbroker.so):
#
#   bash tests/fuzz/valgrind-integration.sh [PYTEST_ARGS...]
#
# Without arguments: SUBSET below, the requests that reach most of the module:
# SAML sign-in at SimpleSAMLphp, the ACS's checks on forged and broken
# responses, SAML/OIDC logout, the OIDC callback, sessions and the shared
# (redis/memcached, sealed) store of several nodes. test_routing.py (+2.5 min)
# and the rest run under ASan only (tests/fuzz/asan-integration.sh), to keep
# this step near 7 minutes. Arguments go to pytest; if
# the first is an option (-x, -k EXPR), SUBSET is added after them, else they
# replace it.
#
# tests/integration/harness.py does the rest when IDBROKER_HTTPD_VALGRIND=1:
# `apache2 -k start` and `apache2 -t` run under
#   valgrind --tool=memcheck --trace-children=yes --leak-check=no
#            --suppressions=tests/fuzz/valgrind.supp --log-file=<dir>/vg.%p
# (one log per process: master and children; no leak check, as children are
# killed at stop and httpd's pools are freed wholesale), every harness timeout
# is scaled by IDBROKER_TIMEOUT_SCALE; any memcheck error in a log, or a child
# that died of a signal, fails the test that was running and the run
# (conftest.py; test_memcheck_selftest.py proves it with a crashed child).
# Third-party reports go in tests/fuzz/valgrind.supp, each with its reason;
# never a frame of mod_src/.
#
# tests/run.sh runs this unless IDBROKER_VALGRIND=0: ~395 tests, ~7 minutes on
# 2 cores (11 when measured with other test runs on the same cores).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
command -v valgrind >/dev/null || {
    echo "valgrind-integration: valgrind is not installed (tests/deps.sh test installs it)" >&2
    exit 1
}
[[ -f mod_auth_idbroker.so ]] || { echo "valgrind-integration: build first (tests/build.sh)" >&2; exit 1; }

SUBSET=(
    tests/integration/test_memcheck_selftest.py
    tests/integration/test_signin_ssp.py
    tests/integration/test_acs_rules.py
    tests/integration/test_logout.py
    tests/integration/test_oidc.py
    tests/integration/test_sessions.py
    tests/integration/test_multinode.py
    # counts sign-ins done in a fixed 2 s window: none are, this slow
    --deselect tests/integration/test_oidc.py::test_key_rotation_during_continuous_sign_ins
)
export IDBROKER_HTTPD_VALGRIND=1
export IDBROKER_TIMEOUT_SCALE=${IDBROKER_TIMEOUT_SCALE:-6}
[[ $# -eq 0 || $1 == -* ]] && set -- "$@" "${SUBSET[@]}"
echo "valgrind-integration: pytest $*"
rc=0
/usr/bin/python3 -m pytest -q -p no:cacheprovider "$@" || rc=$?
[[ $rc -eq 5 ]] && echo "valgrind-integration: no test collected" >&2
[[ $rc -eq 0 ]] && echo "valgrind-integration: PASS (no memcheck error)"
exit $rc
