#!/usr/bin/env bash
# A sign-in demo: mod_auth_idbroker in a private Apache httpd protecting a
# sample portal with two tenants, one signing in with SAML at a local
# SimpleSAMLphp IdP (or yours), one with OpenID Connect at a local OpenID
# Provider (or yours).
#
#   examples/demo.sh [--port N] [--idp-port M] [--oidc-port P] [--op-port Q]
#                    [--dir DIR]
#           install what is missing, build, start a local SimpleSAMLphp IdP
#           on 127.0.0.1:M with demo users, make a tenant connected to it,
#           start a local OpenID Provider (npm oidc-provider, the one the
#           tests use: tests/integration/op/server.js) on 127.0.0.1:Q with
#           demo users and a client registered for the second tenant,
#           oidcdemo, on 127.0.0.1:P; start httpd on 127.0.0.1:N and :P and
#           make the IdP trust the SAML tenant
#   examples/demo.sh --idp-metadata FILE [--port N] [--dir DIR]
#           no local IdP: connect the tenant to the IdP described by the SAML
#           metadata in FILE (entity ID, SSO/SLO URLs, signing certificates)
#   examples/demo.sh --tenant-dir DIR2 ...
#           use the tenant conf(s) in DIR2 (from `idbroker-tenant new`)
#           instead of making one; DIR2 is never written to: the demo works
#           on a copy in DIR
#   examples/demo.sh --oidc-issuer URL --client-id ID --client-secret-file FILE
#           [--oidc-port P] ...
#           no local OpenID Provider: tenant oidcdemo signs in with OpenID
#           Connect at the provider with that issuer, as that client (FILE
#           holds the client secret, one line). Register at the provider the
#           redirect URI http://127.0.0.1:P/oidc/callback and the post-logout
#           redirect URI http://127.0.0.1:P/ (the demo prints both at start)
#   examples/demo.sh --stop [--dir DIR]
#           stop the httpd, the local IdP and the local OpenID Provider of the
#           demo in DIR
#
# Defaults: port 8080, IdP port = port + 1, OIDC tenant port = port + 2, OP
# port = port + 3, dir /tmp/idbroker-demo. Everything (configs, tenants, keys,
# IdP, OP, logs, pid files) lives in DIR; the system's /etc/apache2 setup is
# neither used nor touched, and every server listens on 127.0.0.1 only.
# Starting again stops the previous demo in DIR first.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APACHE_BIN=/usr/sbin/apache2
PHP_BIN=/usr/bin/php
# The local OpenID Provider: the test suite's npm oidc-provider server, run
# with Node.js (NodeSource's or Debian's).
NODE_BIN=$(command -v node || echo /usr/bin/node)
NPM_BIN=$(command -v npm || echo /usr/bin/npm)
OP_SRC=$REPO/tests/integration/op
PYTHON=/usr/bin/python3
MODULES_DIR=/usr/lib/apache2/modules
# The modules the demo config needs besides ours. Ones compiled into the
# binary (Debian: unixd, log_config) are skipped when writing LoadModule lines.
MODULES=(mpm_event authz_core authz_user authn_core authz_host mime dir alias
         headers socache_shmcb env setenvif cgid unixd log_config)
TIMEOUT=10   # seconds to wait for start-up / shut-down

PORT=8080
PORT_SET=0
IDP_PORT=
DIR=/tmp/idbroker-demo
IDP_METADATA=
TENANT_DIR=
ACTION=start
# The OpenID Connect tenant (--oidc-issuer ...); OIDC_FLAGS lists the OIDC
# flags given, to check that they come together.
OIDC_NAME=oidcdemo
OIDC_ISSUER=
OIDC_CLIENT_ID=
OIDC_SECRET_FILE=
OIDC_PORT=
OIDC_FLAGS=
# Without --oidc-issuer the demo runs its own OpenID Provider on OP_PORT
# (default port + 3), with this client registered for oidcdemo.
LOCAL_OP=1
OP_PORT=
OP_CLIENT_ID=demo-portal

usage() {
    cat >&2 <<EOF
usage: examples/demo.sh [--port N] [--idp-port M] [--oidc-port P]
                        [--op-port Q] [--dir DIR]
                        [--idp-metadata FILE] [--tenant-dir DIR2]
                        [--oidc-issuer URL --client-id ID
                         --client-secret-file FILE]
       examples/demo.sh --stop [--dir DIR]
Defaults: --port 8080 --idp-port PORT+1 --oidc-port PORT+2 --op-port PORT+3
          --dir /tmp/idbroker-demo
  --idp-metadata FILE  connect to the IdP in this SAML metadata file instead
                       of starting a local SimpleSAMLphp IdP
  --tenant-dir DIR2    use the tenant conf(s) in DIR2 (made by
                       idbroker-tenant new) instead of making one
  --oidc-port P        the port of tenant oidcdemo, which signs in with
                       OpenID Connect (default PORT+2)
  --op-port Q          the port of the local OpenID Provider (default PORT+3)
  --oidc-issuer URL, --client-id ID, --client-secret-file FILE
                       (together) no local OpenID Provider: oidcdemo signs
                       in at the provider with this issuer as this client;
                       FILE holds the client secret (one line). Register at
                       the provider the redirect URI
                       http://127.0.0.1:P/oidc/callback and the post-logout
                       redirect URI http://127.0.0.1:P/
EOF
    exit 2
}

# A wrong or missing argument: what is wrong, then how to call the demo.
usage_error() {
    echo "demo: $*" >&2
    usage
}

die() {
    echo "demo: $*" >&2
    exit 1
}

check_port() {
    if ! [[ "$2" =~ ^[0-9]+$ ]] || ((10#$2 < 1 || 10#$2 > 65535)); then
        die "$1 must be a number from 1 to 65535, not '$2'"
    fi
}

parse_args() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --port) [[ $# -ge 2 ]] || usage; PORT=$2; PORT_SET=1; shift 2 ;;
            --port=*) PORT=${1#*=}; PORT_SET=1; shift ;;
            --idp-port) [[ $# -ge 2 ]] || usage; IDP_PORT=$2; shift 2 ;;
            --idp-port=*) IDP_PORT=${1#*=}; shift ;;
            --dir) [[ $# -ge 2 ]] || usage; DIR=$2; shift 2 ;;
            --dir=*) DIR=${1#*=}; shift ;;
            --idp-metadata) [[ $# -ge 2 ]] || usage; IDP_METADATA=$2; shift 2 ;;
            --idp-metadata=*) IDP_METADATA=${1#*=}; shift ;;
            --tenant-dir) [[ $# -ge 2 ]] || usage; TENANT_DIR=$2; shift 2 ;;
            --tenant-dir=*) TENANT_DIR=${1#*=}; shift ;;
            --oidc-issuer|--client-id|--client-secret-file|--oidc-port|--op-port)
                [[ $# -ge 2 ]] || usage_error "$1 needs a value"
                set_oidc_arg "$1" "$2"; shift 2 ;;
            --oidc-issuer=*|--client-id=*|--client-secret-file=*|--oidc-port=*|--op-port=*)
                set_oidc_arg "${1%%=*}" "${1#*=}"; shift ;;
            --stop) ACTION=stop; shift ;;
            -h|--help) usage ;;
            *) echo "demo: unknown argument: $1" >&2; usage ;;
        esac
    done
    check_port --port "$PORT"
    PORT=$((10#$PORT))
    if [[ -n "$IDP_PORT" ]]; then
        check_port --idp-port "$IDP_PORT"
        IDP_PORT=$((10#$IDP_PORT))
    fi
    [[ -n "$DIR" ]] || die "--dir must not be empty"
    # httpd wants absolute paths throughout its config.
    DIR=$(realpath -m -- "$DIR")
    [[ "$DIR" != / ]] || die "--dir must not be /"
    # httpd.conf names paths in DIR unquoted.
    [[ "$DIR" != *[[:space:]\"]* ]] || die "--dir must not contain spaces or quotes"
    if [[ $ACTION == start && -n "$IDP_METADATA" ]]; then
        [[ -f "$IDP_METADATA" && -r "$IDP_METADATA" ]] \
            || die "--idp-metadata: no readable file '$IDP_METADATA'"
        IDP_METADATA=$(realpath -- "$IDP_METADATA")
    fi
    if [[ $ACTION == start && -n "$TENANT_DIR" ]]; then
        [[ -d "$TENANT_DIR" ]] || die "--tenant-dir: no directory '$TENANT_DIR'"
        TENANT_DIR=$(realpath -- "$TENANT_DIR")
    fi
    check_oidc_args
    CONF=$DIR/httpd.conf
    PIDFILE=$DIR/run/httpd.pid
    ERROR_LOG=$DIR/logs/error.log
    # The demo's own tenant lives (and stays) in tenants.d; a --tenant-dir
    # is copied afresh into tenants-copy.d on every start.
    if [[ -n "$TENANT_DIR" ]]; then
        TENANTS=$DIR/tenants-copy.d
    else
        TENANTS=$DIR/tenants.d
    fi
    PORTAL_DIR=$DIR/portal
    HTDOCS=$DIR/htdocs
    SP_METADATA_DIR=$DIR/sp-metadata
    IDP_DIR=$DIR/idp
    IDP_PIDFILE=$IDP_DIR/php.pid
    # The OIDC tenant (conf + SP key pair), apart from TENANTS: it is on a
    # port of its own and has no SAML IdP to connect.
    OIDC_TENANTS=$DIR/oidc.d
    # The local OpenID Provider: its config (keys, client, users), client
    # secret, log and pid file.
    OP_DIR=$DIR/op
    OP_PIDFILE=$OP_DIR/node.pid
    OP_CONFIG=$OP_DIR/config.json
}

set_oidc_arg() {
    case "$1" in
        --oidc-issuer) OIDC_ISSUER=$2 ;;
        --client-id) OIDC_CLIENT_ID=$2 ;;
        --client-secret-file) OIDC_SECRET_FILE=$2 ;;
        --oidc-port) OIDC_PORT=$2; return ;;
        --op-port) OP_PORT=$2; return ;;
    esac
    OIDC_FLAGS+=" $1"
}

# True if $1 is empty or is not one bare word a tenant conf can hold:
# spaces or other non-printing characters, quotes, backslash, < or >.
not_a_conf_word() {
    [[ -z "$1" || "$1" == *[^[:graph:]]* || "$1" == *[\"\'\\\<\>]* ]]
}

# The OIDC flags: all three or none, each value fit for a tenant conf; the
# ports, whether or not the provider is the demo's own.
check_oidc_args() {
    local flag
    local -a missing=()
    if [[ -n "$OIDC_PORT" ]]; then
        check_port --oidc-port "$OIDC_PORT"
        OIDC_PORT=$((10#$OIDC_PORT))
    fi
    if [[ -n "$OP_PORT" ]]; then
        check_port --op-port "$OP_PORT"
        OP_PORT=$((10#$OP_PORT))
    fi
    [[ -n "$OIDC_FLAGS" ]] || return 0
    if [[ -n "$OP_PORT" ]]; then
        usage_error "--op-port is the port of the demo's own OpenID Provider, which" \
            "--oidc-issuer replaces: give one or the other"
    fi
    LOCAL_OP=0
    for flag in --oidc-issuer --client-id --client-secret-file; do
        [[ "$OIDC_FLAGS " == *" $flag "* ]] || missing+=("$flag")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        usage_error "--oidc-issuer, --client-id and --client-secret-file go together;" \
            "missing: ${missing[*]}"
    fi
    [[ $ACTION == start ]] || return 0
    if not_a_conf_word "$OIDC_ISSUER" \
        || ! [[ "$OIDC_ISSUER" =~ ^https://[^/]+ \
                || "$OIDC_ISSUER" =~ ^http://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?(/|$) ]]; then
        usage_error "--oidc-issuer takes the provider's issuer URL: https://... (plain" \
            "http only on 127.0.0.1 or localhost), not '$OIDC_ISSUER'"
    fi
    if not_a_conf_word "$OIDC_CLIENT_ID"; then
        usage_error "--client-id takes the client ID the provider gave (no spaces," \
            "quotes or backslashes), not '$OIDC_CLIENT_ID'"
    fi
    if [[ ! -f "$OIDC_SECRET_FILE" || ! -r "$OIDC_SECRET_FILE" ]]; then
        usage_error "--client-secret-file: no readable file '$OIDC_SECRET_FILE'"
    fi
    if [[ ! -s "$OIDC_SECRET_FILE" ]]; then
        usage_error "--client-secret-file: '$OIDC_SECRET_FILE' is empty; it holds the" \
            "client secret (one line)"
    fi
    OIDC_SECRET_FILE=$(realpath -- "$OIDC_SECRET_FILE")
    if not_a_conf_word "$OIDC_SECRET_FILE"; then
        usage_error "--client-secret-file: a tenant conf cannot name '$OIDC_SECRET_FILE'" \
            "(spaces or quotes in the path); move the file"
    fi
}

helper() {
    "$PYTHON" -B "$REPO/examples/demo_helper.py" "$@"
}

# mkdir -p with an explicit 0755: httpd's children run as www-data and must
# be able to reach the portal whatever the caller's umask is.
mkdir_755() {
    mkdir -p -- "$1"
    chmod 0755 -- "$1"
}

# True if the process exists and is not a zombie. The daemonized servers are
# re-parented to PID 1, which in a container may never reap them, so a
# stopped server can linger as <defunct>; that counts as gone.
pid_alive() {
    local state
    state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# Live (non-zombie) processes in process group $1, one pid a line.
group_members() {
    local stat line state pgrp
    for stat in /proc/[0-9]*/stat; do
        { read -r line <"$stat"; } 2>/dev/null || continue
        # after "pid (comm) ": state ppid pgrp ...
        read -r state _ pgrp _ <<<"${line##*) }"
        if [[ "$pgrp" == "$1" && "$state" != Z && "$state" != X ]]; then
            stat=${stat#/proc/}
            echo "${stat%/stat}"
        fi
    done
}

# Wait (up to 2s) for PID 1 to reap an exited server, so `ps` right after a
# stop shows no <defunct> entry. Not an error if it never does.
await_reaped() {
    local i
    for ((i = 0; i < 20; i++)); do
        [[ -e "/proc/$1" ]] || return 0
        sleep 0.1
    done
}

running_pid() {
    local pid
    [[ -r "$PIDFILE" ]] || return 1
    pid=$(<"$PIDFILE")
    [[ "$pid" =~ ^[0-9]+$ ]] && pid_alive "$pid" || return 1
    echo "$pid"
}

# True if something accepts TCP connections on 127.0.0.1:$1. Uses bash's
# /dev/tcp so the demo needs no curl.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Stop the httpd whose pid file is in DIR, if any; wait until it is gone.
stop_httpd() {
    local pid i
    pid=$(running_pid) || return 1
    # -k stop reads the pid file from httpd.conf; fall back to a signal if
    # the config is gone or broken.
    "$APACHE_BIN" -f "$CONF" -k stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < TIMEOUT * 10; i++)); do
        pid_alive "$pid" || break
        sleep 0.1
    done
    if pid_alive "$pid"; then
        echo "demo: httpd $pid did not stop within ${TIMEOUT}s, killing it" >&2
        # httpd calls setsid: its pid is also its process group.
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    await_reaped "$pid"
    rm -f -- "$PIDFILE"
    return 0
}

# The pid of the running local IdP (php -S serving IDP_DIR), if any. The
# command line is checked so a recycled pid is never taken for it.
idp_pid() {
    local pid
    [[ -r "$IDP_PIDFILE" ]] || return 1
    pid=$(<"$IDP_PIDFILE")
    [[ "$pid" =~ ^[0-9]+$ ]] && pid_alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-t $IDP_DIR/docroot" || return 1
    echo "$pid"
}

# Stop a process group started under setsid (its leader PID and every
# member), TERM first, then KILL; say so if a signal was not enough.
stop_group() {
    local pid=$1 what=$2 i sig
    for sig in TERM KILL; do
        kill "-$sig" -- "-$pid" 2>/dev/null || true
        for ((i = 0; i < TIMEOUT * 10; i++)); do
            [[ -z "$(group_members "$pid")" ]] && break 2
            sleep 0.1
        done
        echo "demo: $what (pid $pid) did not stop on SIG$sig" >&2
    done
    await_reaped "$pid"
}

# Stop the local IdP: php -S and its PHP_CLI_SERVER_WORKERS children, which
# all share its process group (it was started under setsid).
stop_idp() {
    local pid
    pid=$(idp_pid) || { rm -f -- "$IDP_PIDFILE"; return 1; }
    stop_group "$pid" "the IdP (php)"
    rm -f -- "$IDP_PIDFILE"
    return 0
}

# The pid of the running local OpenID Provider (node server.js with the
# demo's OP config), if any; the command line is checked as for the IdP.
op_pid() {
    local pid
    [[ -r "$OP_PIDFILE" ]] || return 1
    pid=$(<"$OP_PIDFILE")
    [[ "$pid" =~ ^[0-9]+$ ]] && pid_alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "server.js $OP_CONFIG" || return 1
    echo "$pid"
}

# Stop the local OpenID Provider (one node process, in a session of its own).
stop_op() {
    local pid
    pid=$(op_pid) || { rm -f -- "$OP_PIDFILE"; return 1; }
    stop_group "$pid" "the OpenID Provider (node)"
    rm -f -- "$OP_PIDFILE"
    return 0
}

stop_all() {
    local -a what=()
    if stop_httpd; then what+=("httpd"); fi
    if stop_idp; then what+=("the local IdP"); fi
    if stop_op; then what+=("the local OpenID Provider"); fi
    case ${#what[@]} in
        0) return 1 ;;
        1) echo "demo: stopped ${what[0]} in $DIR" ;;
        2) echo "demo: stopped ${what[0]} and ${what[1]} in $DIR" ;;
        *) echo "demo: stopped ${what[0]}, ${what[1]} and ${what[2]} in $DIR" ;;
    esac
}

build() {
    bash "$REPO/tests/deps.sh" demo
    bash "$REPO/tests/build.sh"
}

# The sample tenant is made once, so its keys and scoped entity ID stay the
# same across restarts (an IdP would be registered against them). It is only
# remade when it was made for another port, because the port is part of its
# SP base URL and so of every URL in its metadata.
make_tenant() {
    local conf=$TENANTS/demo.conf
    local base=http://127.0.0.1:$PORT
    if [[ -f "$conf" ]]; then
        if grep -Eq "^[[:space:]]*IdBrokerSPBaseURL[[:space:]]+$base/?[[:space:]]*\$" "$conf"; then
            return 0
        fi
        echo "demo: $conf was made for another port; making it again for $PORT"
        rm -rf -- "$conf" "$TENANTS/demo-keys"
    fi
    mkdir_755 "$TENANTS"
    "$REPO/idbroker-tenant" new demo --sp-base "$base" --scoped --dir "$TENANTS" >/dev/null \
        || die "idbroker-tenant new failed"
}

# --tenant-dir: the conf files are copied (the demo adds the IdP connection
# to the copies) and everything else (key directories, certificates) is
# linked, so relative paths in the confs resolve as they do in DIR2.
copy_tenants() {
    local entry name
    local -a confs
    [[ "$TENANT_DIR" != "$TENANTS" ]] || die "--tenant-dir must not be $TENANTS"
    shopt -s nullglob
    confs=("$TENANT_DIR"/*.conf)
    shopt -u nullglob
    [[ ${#confs[@]} -gt 0 ]] || die "--tenant-dir: no *.conf in $TENANT_DIR"
    rm -rf -- "$TENANTS"
    mkdir_755 "$TENANTS"
    for entry in "$TENANT_DIR"/*; do
        name=${entry##*/}
        case "$name" in
            idp-signing-*.pem) die "$entry: the demo writes files of that name; rename it" ;;
        esac
        if [[ "$name" == *.conf && -f "$entry" ]]; then
            cp -- "$entry" "$TENANTS/$name"
            chmod 0644 -- "$TENANTS/$name"
        else
            ln -s -- "$entry" "$TENANTS/$name"
        fi
    done
}

# The OpenID Connect tenant: its SP key pair is made once (OIDC does not use
# it, but every tenant has one); its conf is written afresh on every start,
# for the local OpenID Provider or from the --oidc-* flags. Claims map to the
# identity as the standard scopes give them: cip_upn from email
# (user@domain), names from profile. The local provider also knows the scope
# `cip`, whose claims (cip_sid, cip_oid, ...) have the identity's own names.
make_oidc_tenant() {
    local conf=$OIDC_TENANTS/$OIDC_NAME.conf keys=$OIDC_NAME-keys origin scopes
    if ((LOCAL_OP)); then
        origin="for the demo's own OpenID Provider (tests/integration/op/server.js,
# config in $OP_DIR), which has the client registered. --oidc-issuer,
# --client-id and --client-secret-file connect it to another provider
# instead: use those, do not edit this file. At that provider, register"
        scopes="openid profile email cip"
    else
        origin="from --oidc-issuer, --client-id and --client-secret-file: change those, not
# this file. At the provider, register"
        scopes="openid profile email"
    fi
    if [[ ! -f "$OIDC_TENANTS/$keys/sp-signing.key" || ! -f "$OIDC_TENANTS/$keys/sp-signing.crt" ]]; then
        rm -rf -- "$OIDC_TENANTS"
        mkdir_755 "$OIDC_TENANTS"
        "$REPO/idbroker-tenant" new "$OIDC_NAME" --sp-base "$OIDC_BASE" --dir "$OIDC_TENANTS" \
            >/dev/null || die "idbroker-tenant new $OIDC_NAME failed"
        [[ -f "$OIDC_TENANTS/$keys/sp-signing.key" ]] \
            || die "idbroker-tenant new did not make $OIDC_TENANTS/$keys/sp-signing.key"
    fi
    cat >"$conf.tmp" <<EOF
# The demo's OpenID Connect tenant, written by examples/demo.sh on every start
# $origin
#     redirect URI               $OIDC_BASE/oidc/callback
#     post-logout redirect URI   $OIDC_BASE/
<IdBrokerTenant $OIDC_NAME>
    IdBrokerSignInID $OIDC_NAME
    IdBrokerSPKey $keys/sp-signing.key $keys/sp-signing.crt

    # Standard claims (scopes profile and email) as the portal's fields;
    # cip_sid, cip_oid, ... keep their default names, for a provider that
    # sends such claims.
    IdBrokerAttribute cip_upn email
    IdBrokerAttribute cip_email email
    IdBrokerAttribute displayName name
    IdBrokerAttribute firstName given_name
    IdBrokerAttribute lastName family_name

    # After sign-out the provider sends the browser to $OIDC_BASE/
    IdBrokerPostLogoutURL /

    <IdBrokerApp primary>
        IdBrokerSPBaseURL $OIDC_BASE
        IdBrokerOIDCIssuer $OIDC_ISSUER
        IdBrokerOIDCClientID $OIDC_CLIENT_ID
        IdBrokerOIDCClientSecret file:$OIDC_SECRET_FILE
        IdBrokerOIDCScopes $scopes
        # Some providers (Okta) leave profile claims out of the ID token.
        IdBrokerOIDCUserinfo On
    </IdBrokerApp>
</IdBrokerTenant>
EOF
    chmod 0644 -- "$conf.tmp"
    mv -f -- "$conf.tmp" "$conf"
    OIDC_CONF=$conf
}

# The provider's discovery document and keys, fetched as httpd will: a wrong
# issuer or an unreachable provider is reported now, not at the first sign-in.
check_oidc_provider() {
    local out
    if ! out=$("$REPO/idbroker-tenant" oidc-check "$OIDC_CONF" 2>&1); then
        printf '%s\n' "$out" >&2
        die "the OpenID provider $OIDC_ISSUER is not usable (above: idbroker-tenant oidc-check $OIDC_CONF)"
    fi
}

print_oidc_registration() {
    cat <<EOF
demo: OpenID Connect tenant $OIDC_NAME on $OIDC_BASE, client $OIDC_CLIENT_ID at $OIDC_ISSUER.
      Register at the provider, for this client:
        redirect URI:             $OIDC_BASE/oidc/callback
        post-logout redirect URI: $OIDC_BASE/
EOF
}

# Reads TENANT_CONFS (every *.conf in TENANTS) and, for each tenant in them,
# its name, SP base URL and scope into the TENANT_* arrays. The demo serves
# http://127.0.0.1:PORT, so every tenant must live there; with --tenant-dir
# and no --port, PORT is taken from the tenants.
read_tenants() {
    local conf name base scope tport
    shopt -s nullglob
    TENANT_CONFS=("$TENANTS"/*.conf)
    shopt -u nullglob
    [[ ${#TENANT_CONFS[@]} -gt 0 ]] || die "no tenant conf in $TENANTS"
    TENANT_NAMES=() TENANT_BASES=() TENANT_SCOPES=()
    local info
    info=$(helper tenant-info "${TENANT_CONFS[@]}") || exit 1
    while IFS=$'\t' read -r conf name base scope; do
        if ! [[ "$base" =~ ^http://127\.0\.0\.1(:([0-9]+))?(/.*)?$ ]]; then
            die "$conf: tenant $name has SP base URL $base; the demo serves" \
                "http://127.0.0.1:PORT only (idbroker-tenant new NAME --sp-base http://127.0.0.1:PORT)"
        fi
        tport=${BASH_REMATCH[2]:-80}
        if [[ -n "$TENANT_DIR" && $PORT_SET -eq 0 && ${#TENANT_NAMES[@]} -eq 0 ]]; then
            PORT=$((10#$tport))
        fi
        if ((10#$tport != PORT)); then
            die "$conf: tenant $name is made for port $tport (SP base URL $base)," \
                "the demo runs on port $PORT; use --port $tport"
        fi
        TENANT_NAMES+=("$name")
        TENANT_BASES+=("${base%/}")
        TENANT_SCOPES+=("$scope")
    done <<<"$info"
}

# The URL of tenant $1's SP metadata: ?entity= picks a scoped app among
# several on one host; with a single tenant the plain URL is the one to give.
sp_metadata_url() {
    local url=${TENANT_BASES[$1]}/saml/metadata
    if [[ ${#TENANT_NAMES[@]} -gt 1 && "${TENANT_SCOPES[$1]}" != - ]]; then
        url+="?entity=${TENANT_SCOPES[$1]}"
    fi
    echo "$url"
}

# The local SimpleSAMLphp IdP under PHP's built-in web server, in its own
# session (so it and its workers form one process group to stop).
start_idp() {
    local i
    helper ssp-setup --idp-dir "$IDP_DIR" --port "$IDP_PORT" \
        --templates "$REPO/examples/idp" --users "$REPO/examples/idp/users.json" \
        || die "could not write the IdP config in $IDP_DIR"
    rm -f -- "$IDP_PIDFILE"
    # $$ and "$@" belong to the inner sh: the pid written is php's own.
    # shellcheck disable=SC2016
    (cd "$IDP_DIR" && exec setsid /bin/sh -c 'echo "$$" >"$0" && exec "$@"' "$IDP_PIDFILE" \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C LC_ALL=C TZ=UTC \
        SIMPLESAMLPHP_CONFIG_DIR="$IDP_DIR/config" PHP_CLI_SERVER_WORKERS=4 \
        "$PHP_BIN" -d display_errors=0 -d log_errors=1 \
        -d "error_log=$IDP_DIR/log/php-errors.log" \
        -S "127.0.0.1:$IDP_PORT" -t "$IDP_DIR/docroot") \
        </dev/null >>"$IDP_DIR/log/php-server.log" 2>&1 &
    for ((i = 0; i < TIMEOUT * 10; i++)); do
        [[ -s "$IDP_PIDFILE" ]] && break
        sleep 0.1
    done
    STARTED_IDP=1
    if ! helper wait-url "$IDP_BASE/simplesaml/saml2/idp/metadata.php" \
            --contains EntityDescriptor --timeout "$TIMEOUT"; then
        echo "demo: the IdP did not start; last log lines:" >&2
        tail -n 20 -- "$IDP_DIR/log/php-server.log" "$IDP_DIR/log/php-errors.log" >&2 2>/dev/null || true
        exit 1
    fi
    helper fetch "$IDP_BASE/simplesaml/saml2/idp/metadata.php" "$IDP_DIR/idp-metadata.xml" \
        --metadata || exit 1
}

# Whether this machine cannot run the local OpenID Provider: npm
# oidc-provider 9 needs crypto.hash(), Node.js 20.12 or later (Debian 12's
# own nodejs is 18, NodeSource's is newer). If so, prints why.
node_too_old() {
    local version
    if [[ ! -x "$NODE_BIN" ]]; then
        echo "$NODE_BIN not found"
        return 0
    fi
    version=$("$NODE_BIN" -p 'process.versions.node' 2>/dev/null) || version=unknown
    if [[ "$version" =~ ^([0-9]+)\.([0-9]+) ]] \
        && ((BASH_REMATCH[1] > 20 || (BASH_REMATCH[1] == 20 && BASH_REMATCH[2] >= 12))); then
        return 1
    fi
    echo "$NODE_BIN is Node.js $version"
}

# npm oidc-provider for the local OpenID Provider: `npm ci` in OP_SRC when
# node_modules is missing or no longer holds it. The test suite (op.py) does
# the same under the same lock file, so the two never run npm at once.
ensure_op_modules() {
    local lock=${TMPDIR:-/tmp}/idbroker-op-npm-ci.lock out
    if [[ -f "$OP_SRC/node_modules/oidc-provider/package.json" \
          && -f "$OP_SRC/node_modules/.package-lock.json" ]]; then
        return 0
    fi
    [[ -x "$NPM_BIN" ]] || die "$NPM_BIN not found: npm installs the local OpenID Provider"
    echo "demo: npm ci in $OP_SRC (npm oidc-provider, for the local OpenID Provider)"
    if ! out=$(exec 9>>"$lock" && flock 9 && cd "$OP_SRC" \
            && NPM_CONFIG_UPDATE_NOTIFIER=false "$NPM_BIN" ci --no-audit --no-fund \
               --loglevel=error 2>&1); then
        printf '%s\n' "$out" >&2
        die "npm ci in $OP_SRC failed"
    fi
}

# The local OpenID Provider: node server.js with a config (signing key,
# cookie key and client secret made once; the client's redirect URIs and the
# users written on every start), in a session of its own like the IdP.
start_op() {
    local i
    ensure_op_modules
    helper op-setup --op-dir "$OP_DIR" --port "$OP_PORT" --client-id "$OP_CLIENT_ID" \
        --rp-base "$OIDC_BASE" --node "$NODE_BIN" \
        || die "could not write the OpenID Provider's config in $OP_DIR"
    rm -f -- "$OP_PIDFILE"
    # shellcheck disable=SC2016
    (cd "$OP_SRC" && exec setsid /bin/sh -c 'echo "$$" >"$0" && exec "$@"' "$OP_PIDFILE" \
        env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C LC_ALL=C TZ=UTC HOME="$OP_DIR" \
        "$NODE_BIN" "$OP_SRC/server.js" "$OP_CONFIG" "$OP_PORT") \
        </dev/null >>"$OP_DIR/op.log" 2>&1 &
    for ((i = 0; i < TIMEOUT * 10; i++)); do
        [[ -s "$OP_PIDFILE" ]] && break
        sleep 0.1
    done
    STARTED_OP=1
    if ! helper wait-url "$OIDC_ISSUER/.well-known/openid-configuration" \
            --contains authorization_endpoint --timeout "$TIMEOUT"; then
        echo "demo: the OpenID Provider did not start; last log lines:" >&2
        tail -n 20 -- "$OP_DIR/op.log" >&2 2>/dev/null || true
        exit 1
    fi
}

# The portal (a CGI) and the start page are copied afresh each start so
# edits to examples/ show up.
install_portal() {
    rm -rf -- "$PORTAL_DIR" "$HTDOCS"
    mkdir_755 "$PORTAL_DIR"
    mkdir_755 "$HTDOCS"
    cp -- "$REPO/examples/portal/index.py" "$PORTAL_DIR/index.py"
    chmod 0755 -- "$PORTAL_DIR/index.py"
    cp -- "$REPO/examples/htdocs/index.html" "$HTDOCS/index.html"
    chmod 0644 -- "$HTDOCS/index.html"
}

# As root, httpd serves (and runs the CGI) as www-data: every directory
# above DIR must let it through (the demo makes the ones inside 0755).
check_dir_reachable() {
    if [[ $(id -u) -eq 0 ]] && command -v runuser >/dev/null 2>&1 \
        && ! runuser -u www-data -- test -x "$DIR" 2>/dev/null; then
        die "www-data cannot reach $DIR (a parent directory is not world-searchable);" \
            "pick a --dir like /tmp/idbroker-demo"
    fi
}

# Print LoadModule lines for MODULES, leaving out those compiled into httpd:
# a LoadModule for them would name a .so that does not exist.
load_module_lines() {
    local builtin name
    builtin=$("$APACHE_BIN" -l)
    for name in "${MODULES[@]}"; do
        if grep -q "^[[:space:]]*mod_$name\.c\$" <<<"$builtin"; then
            continue
        fi
        [[ -f "$MODULES_DIR/mod_$name.so" ]] || die "$MODULES_DIR/mod_$name.so not found"
        echo "LoadModule ${name}_module $MODULES_DIR/mod_$name.so"
    done
}

write_config() {
    local user="" modules oidc_listen="" oidc_include=""
    # Computed before the here-document: a failure inside one would be lost.
    modules=$(load_module_lines)
    # As root, httpd refuses to serve requests as root: hand the children
    # (and the CGI) to www-data (hence the 0755 dirs).
    if [[ $(id -u) -eq 0 ]]; then
        user=$'User www-data\nGroup www-data'
    fi
    # The OpenID Connect tenant, on a port of its own: the module picks the
    # tenant by the host and port the browser asked for.
    if [[ -n "$OIDC_CONF" ]]; then
        oidc_listen="Listen 127.0.0.1:$OIDC_PORT"
        oidc_include=$'# The OpenID Connect tenant.\nInclude '"$OIDC_CONF"
    fi
    mkdir_755 "$DIR/logs"
    mkdir_755 "$DIR/run"
    cat >"$CONF" <<EOF
# Private httpd for the mod_auth_idbroker demo, written by examples/demo.sh.
# Rewritten on every start: edit the script, not this file.
ServerRoot $DIR
$modules
LoadModule auth_idbroker_module $REPO/mod_auth_idbroker.so
$user

Listen 127.0.0.1:$PORT
$oidc_listen
ServerName 127.0.0.1:$PORT
PidFile $PIDFILE
DefaultRuntimeDir $DIR/run
Mutex file:$DIR/run default
ScriptSock $DIR/run/cgid.sock

ErrorLog $ERROR_LOG
LogLevel info
LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"" combined
CustomLog $DIR/logs/access.log combined

# A demo needs few workers.
StartServers 1
ServerLimit 2
ThreadsPerChild 10
MaxRequestWorkers 20
MinSpareThreads 5
MaxSpareThreads 20

TypesConfig /etc/mime.types
<Directory />
    AllowOverride None
    Require all denied
</Directory>

# The public start page.
DocumentRoot $HTDOCS
<Directory $HTDOCS>
    Require all granted
</Directory>
DirectoryIndex index.html

# The sample portal, a CGI (examples/portal/index.py). Signing in is what
# lets a request in: the module hands the CGI the identity in REMOTE_USER
# and IDBROKER_* variables.
Alias /portal $PORTAL_DIR
<Directory $PORTAL_DIR>
    Options +ExecCGI
    AddHandler cgi-script .py
    DirectoryIndex index.py
    Require all granted
</Directory>
<Location /portal>
    AuthType IdBroker
    Require valid-user
</Location>

# The tenant(s), with the IdP connection the demo wrote into them.
Include $TENANTS/*.conf
$oidc_include
EOF
    chmod 0644 "$CONF"
}

start_httpd() {
    local i
    if ! "$APACHE_BIN" -t -f "$CONF"; then
        die "config test failed: $CONF"
    fi
    "$APACHE_BIN" -f "$CONF" -k start || die "httpd did not start; see $ERROR_LOG"
    STARTED_HTTPD=1
    for ((i = 0; i < TIMEOUT * 10; i++)); do
        if running_pid >/dev/null && port_open "$PORT" \
            && { [[ -z "$OIDC_CONF" ]] || port_open "$OIDC_PORT"; }; then
            return 0
        fi
        sleep 0.1
    done
    echo "demo: httpd did not answer on 127.0.0.1:$PORT within ${TIMEOUT}s; last log lines:" >&2
    tail -n 20 -- "$ERROR_LOG" >&2 || true
    exit 1
}

# Each tenant's SP metadata, as the running server serves it, saved in
# SP_METADATA_DIR (to upload to an IdP) and, with the local IdP, trusted by it.
save_sp_metadata() {
    local i
    local -a files=()
    rm -rf -- "$SP_METADATA_DIR"
    mkdir_755 "$SP_METADATA_DIR"
    for i in "${!TENANT_NAMES[@]}"; do
        helper fetch "$(sp_metadata_url "$i")" "$SP_METADATA_DIR/${TENANT_NAMES[$i]}.xml" \
            --metadata || exit 1
        files+=("$SP_METADATA_DIR/${TENANT_NAMES[$i]}.xml")
    done
    if [[ -z "$IDP_METADATA" ]]; then
        helper trust-sp --idp-dir "$IDP_DIR" "${files[@]}" >/dev/null || exit 1
    fi
}

# The OpenID Connect half of the summary.
print_oidc_summary() {
    echo "  OIDC portal:     $OIDC_BASE/portal/   <- the same portal, signing in with OpenID Connect"
    if ((LOCAL_OP)); then
        cat <<EOF
  Users:           jane               has every cip_* claim: reaches the portal
                   nosid              no email, no cip_upn, no cip_sid: the attribute error page
                   (the provider asks for the user name only, no password)
  Provider:        $OIDC_ISSUER  (local npm oidc-provider, pid $(op_pid || echo '?'))
                   discovery $OIDC_ISSUER/.well-known/openid-configuration
EOF
    fi
    echo "  OIDC tenant:     $OIDC_NAME, issuer $OIDC_ISSUER, client $OIDC_CLIENT_ID"
    if ((LOCAL_OP)); then
        echo "  Registered:      redirect URI $OIDC_BASE/oidc/callback"
    else
        echo "  At the provider: redirect URI $OIDC_BASE/oidc/callback"
    fi
    echo "                   post-logout redirect URI $OIDC_BASE/"
}

print_summary() {
    local url=http://127.0.0.1:$PORT i stop
    stop="examples/demo.sh --stop"
    [[ "$DIR" == /tmp/idbroker-demo ]] || stop+=" --dir $DIR"
    echo
    echo "mod_auth_idbroker sign-in demo is running (httpd pid $(running_pid))."
    echo
    echo "SAML 2.0:"
    echo "  Portal:          $url/portal/   <- open this, you will be sent to the IdP"
    if [[ -z "$IDP_METADATA" ]]; then
        cat <<EOF
  Users:           jane / janepass    has every cip_* attribute: reaches the portal
                   nosid / nosidpass  no cip_upn, no cip_sid: the attribute error page
  IdP:             $IDP_BASE/simplesaml/  (local SimpleSAMLphp, pid $(idp_pid || echo '?'))
                   metadata $IDP_BASE/simplesaml/saml2/idp/metadata.php
EOF
    else
        echo "  IdP:             from $IDP_METADATA"
    fi
    printf '%s\n' "$IDP_SUMMARY"
    for i in "${!TENANT_NAMES[@]}"; do
        echo "  Tenant:          ${TENANT_NAMES[$i]}, SP entity ID" \
            "$(helper entity-id "$SP_METADATA_DIR/${TENANT_NAMES[$i]}.xml")"
        echo "  SP metadata:     $(sp_metadata_url "$i")"
        echo "                   (saved as $SP_METADATA_DIR/${TENANT_NAMES[$i]}.xml)"
    done
    if [[ -n "$IDP_METADATA" ]]; then
        echo "  At the IdP:      register the SP metadata above (upload the saved file)," \
            "then open the portal"
    fi
    echo
    echo "OpenID Connect:"
    if [[ -n "$OIDC_OFF" ]]; then
        echo "  (none: $OIDC_OFF)"
    else
        print_oidc_summary
    fi
    echo
    cat <<EOF
Sign out:          the portal's "Sign out" link (/saml/logout on either port). Both
                   tenants set their cookies on 127.0.0.1: a browser is signed in to
                   one of them at a time.
Tenant config:     ${TENANT_CONFS[*]}${OIDC_CONF:+ $OIDC_CONF}
Logs:              $ERROR_LOG  (sign-in events, error details by Transaction ID)
                   $DIR/logs/access.log
EOF
    if [[ -z "$IDP_METADATA" ]]; then
        echo "                   $IDP_DIR/log/simplesamlphp.log  (IdP, with the SAML messages)"
    fi
    if ((LOCAL_OP)) && [[ -z "$OIDC_OFF" ]]; then
        echo "                   $OP_DIR/op.log  (OpenID Provider)"
    fi
    echo "Stop it with:      $stop"
}

# The OpenID Connect tenant on a port of its own: the local OpenID Provider
# (unless --oidc-issuer names another), the tenant conf, a check of the
# provider.
start_oidc_tenant() {
    [[ -n "$OIDC_PORT" ]] || OIDC_PORT=$((PORT + 2))
    ((OIDC_PORT <= 65535)) || die "--oidc-port: PORT+2 is not a port; give --oidc-port"
    ((OIDC_PORT != PORT)) || die "--oidc-port must differ from --port"
    if [[ -z "$IDP_METADATA" ]] && ((OIDC_PORT == IDP_PORT)); then
        die "--oidc-port must differ from --idp-port"
    fi
    local name
    for name in "${TENANT_NAMES[@]}"; do
        [[ "$name" != "$OIDC_NAME" ]] \
            || die "a tenant in ${TENANT_DIR:-$TENANTS} is named $OIDC_NAME, the name of" \
                "the demo's OpenID Connect tenant; rename it"
    done
    if port_open "$OIDC_PORT"; then
        die "127.0.0.1:$OIDC_PORT is already in use by another program; pick another --oidc-port"
    fi
    OIDC_BASE=http://127.0.0.1:$OIDC_PORT
    if ((LOCAL_OP)); then
        [[ -n "$OP_PORT" ]] || OP_PORT=$((PORT + 3))
        ((OP_PORT <= 65535)) || die "--op-port: PORT+3 is not a port; give --op-port"
        ((OP_PORT != PORT && OP_PORT != OIDC_PORT)) \
            || die "--op-port must differ from --port and --oidc-port"
        if [[ -z "$IDP_METADATA" ]] && ((OP_PORT == IDP_PORT)); then
            die "--op-port must differ from --idp-port"
        fi
        if port_open "$OP_PORT"; then
            die "127.0.0.1:$OP_PORT is already in use by another program; pick another --op-port"
        fi
        OIDC_ISSUER=http://127.0.0.1:$OP_PORT
        OIDC_CLIENT_ID=$OP_CLIENT_ID
        OIDC_SECRET_FILE=$OP_DIR/client.secret
        start_op
    else
        print_oidc_registration
    fi
    make_oidc_tenant
    check_oidc_provider
}

# On a failed start, stop whatever this run started.
on_exit() {
    local rc=$?
    if ((rc != 0)); then
        if ((STARTED_HTTPD)); then stop_httpd || true; fi
        if ((STARTED_IDP)); then stop_idp || true; fi
        if ((STARTED_OP)); then stop_op || true; fi
    fi
}

main() {
    parse_args "$@"
    if [[ $ACTION == stop ]]; then
        stop_all || echo "demo: no demo running in $DIR"
        return 0
    fi

    build
    mkdir_755 "$DIR"
    check_dir_reachable
    # A previous demo from this DIR holds the pid files (and maybe the
    # ports): stop it before its config is rewritten under it.
    stop_all || true

    STARTED_HTTPD=0 STARTED_IDP=0 STARTED_OP=0 OIDC_CONF='' OIDC_OFF=''
    trap on_exit EXIT

    if [[ -n "$TENANT_DIR" ]]; then
        copy_tenants
    else
        make_tenant
    fi
    read_tenants
    [[ -n "$IDP_PORT" ]] || IDP_PORT=$((PORT + 1))
    ((IDP_PORT <= 65535)) || die "--idp-port: PORT+1 is not a port; give --idp-port"
    IDP_BASE=http://127.0.0.1:$IDP_PORT
    if port_open "$PORT"; then
        die "127.0.0.1:$PORT is already in use by another program; pick another --port"
    fi
    # The OpenID Connect tenant, at the local OpenID Provider unless
    # --oidc-issuer names another. Without a Node.js that can run the local
    # one, the demo goes on with the SAML tenant alone.
    local why
    if ((LOCAL_OP)) && why=$(node_too_old); then
        OIDC_OFF="$why; the local OpenID Provider (npm oidc-provider 9) needs Node.js 20.12 or later"
        echo "demo: $OIDC_OFF: no OpenID Connect tenant (--oidc-issuer, --client-id and" \
            "--client-secret-file connect one at another provider)" >&2
    else
        start_oidc_tenant
    fi

    local metadata source
    if [[ -z "$IDP_METADATA" ]]; then
        ((IDP_PORT != PORT)) || die "--idp-port must differ from --port"
        if port_open "$IDP_PORT"; then
            die "127.0.0.1:$IDP_PORT is already in use by another program; pick another --idp-port"
        fi
        start_idp
        metadata=$IDP_DIR/idp-metadata.xml
        source="the local IdP, $IDP_BASE/simplesaml/saml2/idp/metadata.php"
    else
        metadata=$IDP_METADATA
        source=$IDP_METADATA
    fi
    IDP_SUMMARY=$(helper apply-idp --metadata "$metadata" --cert-dir "$TENANTS" \
        --source "$source" "${TENANT_CONFS[@]}") || exit 1

    install_portal
    write_config
    start_httpd
    save_sp_metadata
    trap - EXIT
    print_summary
}

main "$@"
