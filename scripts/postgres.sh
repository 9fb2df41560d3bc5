#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks.
#
#   scripts/postgres.sh start DIR PORT [--no-fsync]   create a cluster in DIR, serve it on 127.0.0.1:PORT
#                                                     (trust auth), print its SQLAlchemy URL
#   scripts/postgres.sh stop DIR                      stop that server and remove DIR
#
# Installs PostgreSQL with apt-get when no initdb is found (on PATH or under /usr/lib/postgresql/*/bin).
# initdb refuses to run as root: as root, the cluster belongs to the `postgres` user. DIR must not exist yet or
# be empty; `--no-fsync` trades crash safety for speed (tests). Errors go to stderr with exit status 1.
set -euo pipefail

die() {
    echo "postgres.sh: $*" >&2
    exit 1
}

find_bin() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

install_postgres() {
    [[ "$(id -u)" == 0 ]] || die "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)"
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and there is no apt-get to install it"
    echo "postgres.sh: installing PostgreSQL with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    local log
    log="$(mktemp)"
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends postgresql; } >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        rm -f "$log"
        die "apt-get install postgresql failed"
    fi
    rm -f "$log"
}

# run a command as the cluster's owner: `postgres` when we are root, else ourselves
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    local dir="$1" port="$2" fsync=on
    [[ "${3:-}" == "--no-fsync" ]] && fsync=off
    [[ "$port" =~ ^[0-9]+$ ]] || die "bad port: $port"
    local bin
    bin="$(find_bin)" || { install_postgres; bin="$(find_bin)" || die "no initdb after installing PostgreSQL"; }
    if [[ "$(id -u)" == 0 ]] && ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres || die "cannot create user postgres"
    fi
    mkdir -p "$dir"
    [[ -z "$(ls -A "$dir")" ]] || die "$dir is not empty"
    [[ "$(id -u)" == 0 ]] && chown postgres: "$dir"
    chmod 700 "$dir"
    local initlog="$dir/initdb.log"
    if ! as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync \
        >"$initlog" 2>&1; then
        cat "$initlog" >&2
        die "initdb failed in $dir"
    fi
    local options="-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=$fsync -c max_connections=200"
    # pg_ctl's output to a file: the server must not inherit the caller's pipes
    if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$options" -w -t 60 start \
        >"$dir/pg_ctl.log" 2>&1; then
        cat "$dir/pg_ctl.log" >&2
        tail -n 20 "$dir/server.log" >&2 || true
        die "PostgreSQL did not start on 127.0.0.1:$port (log: $dir/server.log)"
    fi
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
}

stop() {
    local dir="$1" bin
    if [[ -f "$dir/data/postmaster.pid" ]] && bin="$(find_bin)"; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
start)
    [[ $# -ge 3 ]] || die "usage: $0 start DIR PORT [--no-fsync]"
    start "$2" "$3" "${4:-}"
    ;;
stop)
    [[ $# -eq 2 ]] || die "usage: $0 stop DIR"
    stop "$2"
    ;;
*) die "usage: $0 start DIR PORT [--no-fsync] | stop DIR" ;;
esac
