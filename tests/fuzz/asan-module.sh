#!/usr/bin/env bash
# The httpd module built with AddressSanitizer + UndefinedBehaviorSanitizer,
# in build-asan/ (the configured copy of tests/fuzz/asan-common.sh), by apxs
# and libtool as the normal build does:
#
#   bash tests/fuzz/asan-module.sh      # prints the path of the module
#
# Produces build-asan/mod_auth_idbroker.so. apxs does not use configure's
# CFLAGS, so the sanitizer flags go in through the Makefile's IB_APXS_WC
# (apxs -Wc,/-Wl,: compile and link flags). The .so needs libasan and
# libubsan; Debian's httpd is not built with ASan, and ASan's runtime must
# be the first library of the process, so httpd is started with
#   LD_PRELOAD=$(gcc -print-file-name=libasan.so)
# (libubsan comes in as a dependency of the module). The integration tests do
# that when IDBROKER_HTTPD_PRELOAD is set (tests/integration/harness.py;
# tests/fuzz/asan-integration.sh sets it).
#
# Output: the build log is build-asan/make-module.out; stdout is the .so path.
set -euo pipefail

# shellcheck source=tests/fuzz/asan-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/asan-common.sh"
asan_configure >&2

# The configured warning flags (-Werror included) plus the sanitizer ones.
warn=$(sed -n 's/^IB_APXS_WC = //p' Makefile)
wc=$warn
for f in $CFLAGS_; do wc="$wc -Wc,$f"; done
for f in $LDFLAGS_; do wc="$wc -Wl,$f"; done
echo "asan: make mod_auth_idbroker.so (apxs, $SAN)" >&2
make -j2 mod_auth_idbroker.so IB_APXS_WC="$wc" >make-module.out 2>&1 \
    || { tail -50 make-module.out >&2; fail "make mod_auth_idbroker.so"; }

# A module that is not really instrumented would make the sanitizer run a
# plain one, green for nothing.
# (Whole outputs into variables: grep -q would end the pipe early, and
# pipefail would count the writer's SIGPIPE as a failure.)
so=$B/mod_auth_idbroker.so
libs=$(ldd "$so")
for lib in libasan libubsan; do
    [[ $libs == *"$lib"* ]] || fail "$so does not link $lib (flags lost by apxs/libtool?)"
done
[[ $(nm -D "$so") == *__asan_report_load* ]] || fail "$so is not instrumented by ASan"
echo "$so"
