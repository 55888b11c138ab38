# shellcheck shell=bash
# Sourced by tests/fuzz/asan.sh and tests/fuzz/asan-module.sh: the sanitizer
# flags, and the copy of the tree in build-asan/ configured with them.
#
# configure refuses a VPATH build while the source tree is itself configured
# (tests/build.sh builds in place), so build-asan/ gets a copy of the build
# inputs (tests/fuzz/mirror.sh: only what changed) and is configured in
# place, with the sanitizer flags, once per flag change.
#
# Environment:
#   IDBROKER_ASAN_DIR   build directory (default: build-asan in the repo)
#   IDBROKER_ASAN_CC    compiler (default gcc; clang works too)
#
# After `asan_configure`, the current directory is $B and the caller holds
# $B/.build.lock (released when the caller exits): asan.sh and asan-module.sh
# may be started at the same time, and share one build directory.

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

asan_configure() {
    bash "$REPO/tests/fuzz/mirror.sh" "$B"
    cd "$B" || fail "cd $B"
    exec {ASAN_LOCK_FD}>"$B/.build.lock"
    flock "$ASAN_LOCK_FD"
    local stamp="CC=$CC_ CFLAGS=$CFLAGS_ LDFLAGS=$LDFLAGS_"
    if [[ ! -f Makefile || configure -nt Makefile || $(cat .asan-flags 2>/dev/null) != "$stamp" ]]; then
        echo "asan: ./configure in $B"
        ./configure -q CC="$CC_" CFLAGS="$CFLAGS_" LDFLAGS="$LDFLAGS_" >configure.out 2>&1 \
            || { cat configure.out; fail "./configure (see $B/config.log)"; }
        echo "$stamp" >.asan-flags
    fi
}
