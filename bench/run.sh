#!/usr/bin/env bash
# Benchmarks of mod_auth_idbroker, side by side with mod_auth_mellon in one run
# on this machine. Prints tables (ours, mellon's, the ratio, the target);
# asserts nothing and is not part of the test suite.
#
#   bash bench/run.sh                 # everything, ~8-10 minutes on 2 cores
#   bash bench/run.sh --parts 1,3     # some parts; see bench/bench.py --help
#   bash bench/run.sh --smoke         # every part on a tiny input, ~30 s: checks
#                                     # the scripts still run; numbers meaningless
#
# 1. Debian packages: the build's (tests/deps.sh build), then wrk,
#    libapache2-mod-auth-mellon, redis-server, xmlsec1, python3 libraries
# 2. make (tests/build.sh), then a private copy of the module, so a rebuild
#    during the run cannot change what is measured
# 3. /usr/bin/python3 bench/bench.py: private httpd instances on 127.0.0.1
#    only; the output is also kept in $BENCH_WORK/bench-output.txt
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export BENCH_WORK=${BENCH_WORK:-/tmp/idbroker-bench}

BENCH_PKGS=(wrk libapache2-mod-auth-mellon apache2 redis-server xmlsec1 openssl
            python3-lxml python3-cryptography python3-requests)

missing=()
for pkg in "${BENCH_PKGS[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
bash tests/deps.sh build
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "bench: installing: ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    # Debian starts (and enables) the system apache2 on install; the bench
    # runs its own instances and wants the CPU to itself.
    service apache2 stop >/dev/null 2>&1 || true
fi

# Other builds share this tree: build and copy the module under their lock.
mkdir -p "$BENCH_WORK"
flock /tmp/ib-build.lock bash -c 'bash tests/build.sh && cp mod_auth_idbroker.so "$BENCH_WORK/mod_auth_idbroker.so"'
export BENCH_MODULE="$BENCH_WORK/mod_auth_idbroker.so"

/usr/bin/python3 bench/bench.py "$@" 2>&1 | tee "$BENCH_WORK/bench-output.txt"
