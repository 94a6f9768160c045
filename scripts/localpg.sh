#!/usr/bin/env bash
# A project-managed PostgreSQL + PostGIS cluster: its own data directory and port,
# never the system cluster.
#
#   scripts/localpg.sh start   DIR PORT durable|throwaway   -> prints the DATABASE_URL
#   scripts/localpg.sh stop    DIR
#   scripts/localpg.sh running DIR                          (exit 0 when the server runs)
#   scripts/localpg.sh destroy DIR                          (stop, then remove DIR)
#
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres`
# user and DIR must be reachable by that user (not under /root or a 0700 temp dir).
# `durable` keeps fsync on (make run); `throwaway` turns it off (make test).
set -euo pipefail

cmd=${1:?usage: localpg.sh start|stop|destroy DIR [PORT MODE]}
dir=${2:?data directory missing}
port=${3:-}
mode=${4:-durable}

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbin" ] || { echo "localpg: PostgreSQL server binaries not found (run scripts/os-deps.sh)" >&2; exit 1; }
data=$dir/data
log=$dir/postgres.log
pwfile=$dir/password

as_owner() {
    # From / so that the postgres user is not left in a directory it cannot read.
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

is_running() { [ -f "$data/PG_VERSION" ] && as_owner "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

init_cluster() {
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
    chmod 700 "$dir"
    # A random password for host connections (scram). The socket lives in DIR (mode 0700),
    # so only the cluster owner can use it; local socket auth is trust.
    as_owner sh -c "umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > '$pwfile'"
    as_owner "$pgbin/initdb" -D "$data" -U lagesbild --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
}

start() {
    [ -n "$port" ] || { echo "localpg: port missing" >&2; exit 1; }
    [ -f "$data/PG_VERSION" ] || init_cluster
    if ! is_running; then
        local opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir'"
        if [ "$mode" = throwaway ]; then
            opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        fi
        as_owner "$pgbin/pg_ctl" -D "$data" -l "$log" -w -t 60 -o "$opts" start >/dev/null \
            || { echo "localpg: server did not start; last lines of $log:" >&2; tail -n 20 "$log" >&2; exit 1; }
    fi
    local pw; pw=$(cat "$pwfile")
    local actual_port; actual_port=$(head -n 4 "$data/postmaster.pid" | tail -n 1)
    # Create the database and PostGIS once; both are idempotent.
    as_owner "$pgbin/psql" -h "$dir" -p "$actual_port" -U lagesbild -d postgres -qtA -v ON_ERROR_STOP=1 \
        -c "SELECT 1 FROM pg_database WHERE datname='lagesbild'" | grep -q 1 \
        || as_owner "$pgbin/createdb" -h "$dir" -p "$actual_port" -U lagesbild lagesbild
    PGOPTIONS="-c client_min_messages=warning" as_owner "$pgbin/psql" -h "$dir" -p "$actual_port" -U lagesbild -d lagesbild -qtA -v ON_ERROR_STOP=1 \
        -c "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
    echo "postgresql+psycopg://lagesbild:$pw@127.0.0.1:$actual_port/lagesbild"
}

stop() {
    if is_running; then as_owner "$pgbin/pg_ctl" -D "$data" -m fast -w stop >/dev/null; fi
}

case $cmd in
    start) start ;;
    running) is_running ;;
    stop) stop ;;
    destroy) stop; rm -rf "$dir" ;;
    *) echo "localpg: unknown command $cmd" >&2; exit 2 ;;
esac
