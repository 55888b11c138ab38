#!/usr/bin/env bash
# Copies the build inputs of the repository into a variant build directory
# (build-asan/, build-fuzz/), keeping timestamps and copying only what changed:
#
#   tests/fuzz/mirror.sh DIR
#
# configure refuses a VPATH build while the source tree is itself configured
# (tests/build.sh builds in place), so variants build in a copy. The copy
# ignores itself in git (DIR/.gitignore).
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=$1
mkdir -p "$B"
[[ -f $B/.gitignore ]] || echo '*' >"$B/.gitignore"
cd "$REPO"
[[ -f configure && -f Makefile.in ]] || { echo "mirror: run tests/build.sh first" >&2; exit 1; }
{
    printf '%s\n' configure configure.ac Makefile.am Makefile.in aclocal.m4
    find build-aux m4 -type f
    find mod_src tools tests/unit fuzz -type f \( -name '*.c' -o -name '*.h' -o -name '*.def' \)
} | while read -r f; do
    [[ -e $f ]] || continue
    mkdir -p "$B/$(dirname "$f")"
    cp -pu "$f" "$B/$f"
done
