#!/usr/bin/env bash
# Install the Debian packages this project needs, and only those missing.
#
#   tests/deps.sh build   # compiler, autotools, httpd + dev headers, libraries
#   tests/deps.sh demo    # build + what examples/demo.sh runs (python3-lxml,
#                         # openssl, SimpleSAMLphp under php -S, Node.js for
#                         # its OpenID Provider)
#   tests/deps.sh test    # build + what the unit and integration tests use
#                         # (and chromium for the browser tests)
#
# Shared by examples/demo.sh and tests/run.sh. Idempotent and silent when
# everything is already there, so it costs nothing to call it every time; a
# fresh machine (CI, a new developer box) gets everything from this one place.
set -euo pipefail

BUILD_PKGS=(
    build-essential autoconf automake libtool pkg-config
    apache2 apache2-dev
    liblasso3-dev libxml2-dev libxmlsec1-dev libssl-dev libcjson-dev
    libcurl4-openssl-dev zlib1g-dev check
)
# SimpleSAMLphp IdP, served by `php -S`: for the sign-in tests
# (tests/integration/ssp.py) and the demo's local IdP (examples/idp/).
# php-cgi comes first on purpose: it satisfies the `php` metapackage's
# "libapache2-mod-php | php-fpm | php-cgi" so apt does not pull
# libapache2-mod-php (which would switch the system apache2 to mpm_prefork).
SSP_PKGS=(php-cgi simplesamlphp php-cli php-xml php-mbstring php-curl)
# npm oidc-provider, the OIDC tests' OP (tests/integration/op.py) and the
# demo's: Node.js >= 20.12 with npm. Machines that come with NodeSource's
# nodejs have npm inside it, and that package conflicts with Debian's npm:
# ask Debian for both only where there is no npm at all. npm also installs
# playwright-core for the browser tests (tests/integration/browser/).
NODE_PKGS=()
if ! command -v npm >/dev/null 2>&1; then
    NODE_PKGS=(nodejs npm)
fi
# The browser tests drive Debian's headless chromium (/usr/bin/chromium)
# with npm playwright-core, which downloads no browser of its own. The bench
# smoke test (test_bench_smoke.py) runs wrk and mod_auth_mellon. valgrind:
# tests/fuzz/valgrind-integration.sh (and valgrind.sh), which tests/run.sh runs.
TEST_PKGS=(
    python3-pytest python3-requests python3-lxml python3-cryptography
    python3-lasso opensaml-schemas xmltooling-schemas openssl xmlsec1
    redis-server memcached chromium wrk libapache2-mod-auth-mellon
    "${SSP_PKGS[@]}" "${NODE_PKGS[@]}"
    valgrind
)
# examples/demo.sh: its helper (python3 + lxml), the local IdP's key pair
# (openssl), the IdP itself and the local OpenID Provider (Node.js).
DEMO_PKGS=(python3 python3-lxml openssl "${SSP_PKGS[@]}" "${NODE_PKGS[@]}")

usage() {
    echo "usage: $0 build|demo|test" >&2
    exit 2
}

# Print the packages from "$@" that dpkg does not report as installed.
# dpkg-query fails for a package it has never heard of: that counts as missing.
missing_packages() {
    local pkg status
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        if [[ "$status" != "install ok installed" ]]; then
            printf '%s\n' "$pkg"
        fi
    done
}

# Debian's apache2 package starts the system-wide server on port 80 at
# install time. Our demo and tests run private httpd instances instead, so
# stop it and keep it from coming back at boot. There may be no systemd in a
# container, hence every way is tried and none is required to work.
quiet_system_apache() {
    echo "deps: stopping the system apache2 service (private instances are used instead)"
    if command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now apache2 >/dev/null 2>&1 || true
    fi
    service apache2 stop >/dev/null 2>&1 || true
    apache2ctl stop >/dev/null 2>&1 || true
    update-rc.d apache2 disable >/dev/null 2>&1 || true
}

install_packages() {
    if [[ $(id -u) -ne 0 ]]; then
        echo "deps: missing Debian packages: $*" >&2
        echo "deps: run as root, or: sudo apt-get install $*" >&2
        exit 1
    fi
    echo "deps: installing: $*"
    # Only update the package lists when there is something to install:
    # it is slow and needs the network.
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

main() {
    [[ $# -eq 1 ]] || usage
    local -a wanted
    case "$1" in
        build) wanted=("${BUILD_PKGS[@]}") ;;
        demo) wanted=("${BUILD_PKGS[@]}" "${DEMO_PKGS[@]}") ;;
        test) wanted=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}") ;;
        *) usage ;;
    esac

    local -a missing
    mapfile -t missing < <(missing_packages "${wanted[@]}")
    [[ ${#missing[@]} -eq 0 ]] && return 0

    install_packages "${missing[@]}"

    local pkg
    for pkg in "${missing[@]}"; do
        if [[ "$pkg" == apache2 ]]; then
            quiet_system_apache
        fi
    done

    # Verify, so a half-failed install is reported here and not as a
    # confusing build error later.
    mapfile -t missing < <(missing_packages "${wanted[@]}")
    if [[ ${#missing[@]} -ne 0 ]]; then
        echo "deps: still missing after install: ${missing[*]}" >&2
        exit 1
    fi
    echo "deps: done"
}

main "$@"
