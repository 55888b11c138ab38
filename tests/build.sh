#!/usr/bin/env bash
# Build the module and the CLI in the repository root, doing only the steps
# that are out of date:
#   autoreconf -fi  when configure is missing or older than its inputs,
#   ./configure     when Makefile is missing or older than configure,
#   make -j2        always (make itself knows what changed).
# Produces ./mod_auth_idbroker.so and ./idbroker-tenant.
# The one build step shared by examples/demo.sh and tests/run.sh; it expects
# the packages from `tests/deps.sh build` to be installed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

# True if $1 is missing or any of the other files is newer than it.
stale() {
    local target=$1 src
    shift
    [[ -e "$target" ]] || return 0
    for src in "$@"; do
        [[ "$src" -nt "$target" ]] && return 0
    done
    return 1
}

fail() {
    echo "build: FAILED: $*" >&2
    exit 1
}

if stale configure configure.ac Makefile.am m4/*.m4; then
    echo "build: autoreconf -fi"
    autoreconf -fi || fail "autoreconf -fi"
fi

if stale Makefile configure; then
    echo "build: ./configure"
    ./configure || fail "./configure (see config.log)"
fi

make -j2 || fail "make"

for out in mod_auth_idbroker.so idbroker-tenant; do
    [[ -f "$out" ]] || fail "make did not produce ./$out"
done
