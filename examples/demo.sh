#!/usr/bin/env bash
# Run mod_auth_idbroker in a private Apache httpd with one sample tenant.
#
#   examples/demo.sh [--port N] [--dir DIR]   build, configure and start
#   examples/demo.sh --stop [--dir DIR]       stop the instance in DIR
#
# Defaults: port 8080, dir /tmp/idbroker-demo. Everything (config, tenant,
# keys, logs, pid file) lives in DIR; the system's /etc/apache2 setup is
# neither used nor touched, and the server listens on 127.0.0.1 only.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APACHE_BIN=/usr/sbin/apache2
MODULES_DIR=/usr/lib/apache2/modules
# The modules the demo config needs besides ours. Ones compiled into the
# binary (Debian: unixd, log_config) are skipped when writing LoadModule lines.
MODULES=(mpm_event authz_core authn_core authz_host mime dir alias headers
         socache_shmcb env setenvif unixd log_config)
TIMEOUT=10   # seconds to wait for start-up / shut-down

PORT=8080
DIR=/tmp/idbroker-demo
ACTION=start

usage() {
    cat >&2 <<EOF
usage: examples/demo.sh [--port N] [--dir DIR]
       examples/demo.sh --stop [--dir DIR]
Defaults: --port 8080 --dir /tmp/idbroker-demo
EOF
    exit 2
}

die() {
    echo "demo: $*" >&2
    exit 1
}

parse_args() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --port) [[ $# -ge 2 ]] || usage; PORT=$2; shift 2 ;;
            --port=*) PORT=${1#*=}; shift ;;
            --dir) [[ $# -ge 2 ]] || usage; DIR=$2; shift 2 ;;
            --dir=*) DIR=${1#*=}; shift ;;
            --stop) ACTION=stop; shift ;;
            -h|--help) usage ;;
            *) echo "demo: unknown argument: $1" >&2; usage ;;
        esac
    done
    if ! [[ "$PORT" =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
        die "--port must be a number from 1 to 65535, not '$PORT'"
    fi
    [[ -n "$DIR" ]] || die "--dir must not be empty"
    # httpd wants absolute paths throughout its config.
    DIR=$(realpath -m -- "$DIR")
    [[ "$DIR" != / ]] || die "--dir must not be /"
    CONF=$DIR/httpd.conf
    PIDFILE=$DIR/run/httpd.pid
    ERROR_LOG=$DIR/logs/error.log
    TENANTS=$DIR/tenants.d
}

# mkdir -p with an explicit 0755: httpd's children run as www-data and must
# be able to reach the document root whatever the caller's umask is.
mkdir_755() {
    mkdir -p -- "$1"
    chmod 0755 -- "$1"
}

# True if the process exists and is not a zombie. The daemonized httpd is
# re-parented to PID 1, which in a container may never reap it, so a
# stopped server can linger as <defunct>; that counts as gone.
pid_alive() {
    local state
    state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

running_pid() {
    local pid
    [[ -r "$PIDFILE" ]] || return 1
    pid=$(<"$PIDFILE")
    [[ "$pid" =~ ^[0-9]+$ ]] && pid_alive "$pid" || return 1
    echo "$pid"
}

# True if something accepts TCP connections on 127.0.0.1:PORT. Uses bash's
# /dev/tcp so the demo needs no curl.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

# Stop the instance whose pid file is in DIR, if any; wait until it is gone.
stop_instance() {
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
    # Give PID 1 a moment to reap the exited master, so `ps` right after a
    # stop shows no <defunct> apache2. Not an error if it never does.
    for ((i = 0; i < 20; i++)); do
        [[ -e "/proc/$pid" ]] || break
        sleep 0.1
    done
    rm -f -- "$PIDFILE"
    return 0
}

build() {
    bash "$REPO/tests/deps.sh" build
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
    "$REPO/idbroker-tenant" new demo --sp-base "$base" --scoped --dir "$TENANTS" \
        || die "idbroker-tenant new failed"
}

# The portal is copied afresh each start so edits to examples/portal show up.
install_portal() {
    rm -rf -- "$DIR/htdocs"
    mkdir_755 "$DIR/htdocs"
    cp -R -- "$REPO/examples/portal/." "$DIR/htdocs/"
    chmod -R a+rX -- "$DIR/htdocs"
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
    local user="" modules
    # Computed before the here-document: a failure inside one would be lost.
    modules=$(load_module_lines)
    # As root, httpd refuses to serve requests as root: hand the children
    # to www-data (hence the 0755 dirs).
    if [[ $(id -u) -eq 0 ]]; then
        user=$'User www-data\nGroup www-data'
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
ServerName 127.0.0.1:$PORT
PidFile $PIDFILE
DefaultRuntimeDir $DIR/run
Mutex file:$DIR/run default

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
DocumentRoot $DIR/htdocs
<Directory $DIR/htdocs>
    Require all granted
</Directory>
DirectoryIndex index.html

# The sample tenant (made by idbroker-tenant new demo).
Include $TENANTS/*.conf
EOF
    chmod 0644 "$CONF"
}

start_instance() {
    local i
    if ! "$APACHE_BIN" -t -f "$CONF"; then
        die "config test failed: $CONF"
    fi
    if port_open; then
        die "127.0.0.1:$PORT is already in use by another program; pick another --port"
    fi
    "$APACHE_BIN" -f "$CONF" -k start || die "httpd did not start; see $ERROR_LOG"
    for ((i = 0; i < TIMEOUT * 10; i++)); do
        if running_pid >/dev/null && port_open; then
            return 0
        fi
        sleep 0.1
    done
    echo "demo: httpd did not answer on 127.0.0.1:$PORT within ${TIMEOUT}s; last log lines:" >&2
    tail -n 20 -- "$ERROR_LOG" >&2 || true
    stop_instance || true
    exit 1
}

print_summary() {
    local url=http://127.0.0.1:$PORT
    cat <<EOF

mod_auth_idbroker demo is running (httpd pid $(running_pid)).
  Portal:          $url/
  SP metadata:     $url/saml/metadata
                   $url/saml/metadata.xml  (same, .xml name)
  Tenant config:   $TENANTS/demo.conf
  Error log:       $ERROR_LOG
Stop it with:      examples/demo.sh --stop --dir $DIR
EOF
}

main() {
    parse_args "$@"
    if [[ $ACTION == stop ]]; then
        if stop_instance; then
            echo "demo: stopped the httpd in $DIR"
        else
            echo "demo: no demo httpd running in $DIR"
        fi
        return 0
    fi

    build
    mkdir_755 "$DIR"
    # A previous demo from this DIR holds the pid file (and maybe the port):
    # stop it before its config is rewritten under it.
    if stop_instance; then
        echo "demo: stopped the previous demo httpd in $DIR"
    fi
    make_tenant
    install_portal
    write_config
    start_instance
    print_summary
}

main "$@"
