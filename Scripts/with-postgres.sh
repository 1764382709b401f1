#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for Stepwise's PostgreSQL tests and examples: a fresh data
# directory under /tmp, trust authentication, listening on 127.0.0.1 only (and a unix socket in
# the data directory), stopped by its pid and removed afterwards.
#
# Run a command with it:
#     Scripts/with-postgres.sh swift test
#     Scripts/with-postgres.sh --port 54339 swift test --filter StepwisePostgresTests
# The command sees STEPWISE_TEST_POSTGRES_URL, the URL the tests read (database stepwise_test);
# give it to `stepwise --postgres` or `storefront --postgres` to use the same server. It does
# not set STEPWISE_POSTGRES_URL, which would move every `stepwise` command given no --db onto
# PostgreSQL, the SQLite tests' too.
#
# Or source it and call the functions, as .ci/run does:
#     source Scripts/with-postgres.sh
#     postgres_start            # exports the URL, POSTGRES_PID and POSTGRES_DATA
#     trap postgres_stop EXIT
#
# The port is $STEPWISE_POSTGRES_PORT, else a free one. Runs as any user; as root (CI), the
# server runs as the `postgres` user, since PostgreSQL refuses to run as root. Installs
# PostgreSQL with apt when no server binaries are found.

# The server's binaries: PostgreSQL 15 where the machine has it, else the newest installed.
postgres_bin() {
    local candidate
    for candidate in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# Runs a command as the user the server runs as: `postgres` when we are root.
postgres_as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A free TCP port on 127.0.0.1 (the kernel's choice; closed again before the server binds it).
postgres_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

postgres_start() {
    local bin
    if ! bin=$(postgres_bin); then
        echo "== installing postgresql (no PostgreSQL server binaries under /usr/lib/postgresql)" >&2
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        else
            sudo apt-get update -qq && sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        fi
        bin=$(postgres_bin) || { echo "with-postgres: no PostgreSQL server binaries after installing postgresql" >&2; return 1; }
    fi
    local port="${STEPWISE_POSTGRES_PORT:-}"
    if [ -z "$port" ]; then port=$(postgres_free_port) || return 1; fi

    POSTGRES_DATA=$(mktemp -d /tmp/stepwise-pg.XXXXXX) || return 1
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$POSTGRES_DATA"; fi
    # --auth=trust is acceptable only because the server listens on loopback and a socket in
    # its own 0700 directory; --no-sync: a throwaway cluster needs no fsync at creation.
    if ! postgres_as_owner "$bin/initdb" -D "$POSTGRES_DATA" -U stepwise --auth=trust -E UTF8 --no-sync >"$POSTGRES_DATA.initdb.log" 2>&1; then
        echo "with-postgres: initdb failed:" >&2
        cat "$POSTGRES_DATA.initdb.log" >&2
        rm -rf "$POSTGRES_DATA" "$POSTGRES_DATA.initdb.log"
        return 1
    fi
    rm -f "$POSTGRES_DATA.initdb.log"
    # -w: pg_ctl returns once the server accepts connections (or fails after -t seconds).
    # max_connections=600: the engine's tests on PostgreSQL (STEPWISE_TEST_STORE=postgres) make
    # a hundred stores in one process, each with up to two pooled connections and a listener.
    if ! postgres_as_owner "$bin/pg_ctl" -D "$POSTGRES_DATA" -l "$POSTGRES_DATA/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $POSTGRES_DATA -c max_connections=600" start >/dev/null; then
        echo "with-postgres: the server did not start on 127.0.0.1:$port; its log:" >&2
        cat "$POSTGRES_DATA/server.log" >&2 || true
        rm -rf "$POSTGRES_DATA"
        return 1
    fi
    POSTGRES_PID=$(head -1 "$POSTGRES_DATA/postmaster.pid")
    if ! "$bin/createdb" -h 127.0.0.1 -p "$port" -U stepwise stepwise_test; then
        echo "with-postgres: createdb failed" >&2
        postgres_stop
        return 1
    fi
    export POSTGRES_PID POSTGRES_DATA
    export STEPWISE_TEST_POSTGRES_URL="postgres://stepwise@127.0.0.1:$port/stepwise_test?sslmode=disable"
    echo "== PostgreSQL $("$bin/postgres" --version | awk '{print $3}') (pid $POSTGRES_PID) at $STEPWISE_TEST_POSTGRES_URL" >&2
}

# Stops the server started by postgres_start, by its pid (SIGINT is PostgreSQL's fast
# shutdown: it rolls back open transactions and disconnects), waits for it to exit, and
# removes its data directory. Safe to call twice, or when nothing was started.
postgres_stop() {
    if [ -n "${POSTGRES_PID:-}" ]; then
        kill -INT "$POSTGRES_PID" 2>/dev/null || true
        local waited=0
        while kill -0 "$POSTGRES_PID" 2>/dev/null; do
            # After 30 s a stuck server is ended outright: CI must not hang on shutdown.
            if [ "$waited" -ge 300 ]; then kill -KILL "$POSTGRES_PID" 2>/dev/null || true; fi
            sleep 0.1
            waited=$((waited + 1))
        done
        POSTGRES_PID=
    fi
    if [ -n "${POSTGRES_DATA:-}" ]; then
        rm -rf "$POSTGRES_DATA"
        POSTGRES_DATA=
    fi
}

# Executed rather than sourced: start, run the command, stop, exit with the command's status.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    if [ "${1:-}" = "--port" ]; then
        STEPWISE_POSTGRES_PORT="${2:?--port needs a number}"
        shift 2
    fi
    if [ "$#" = 0 ]; then
        echo "usage: $0 [--port N] COMMAND [ARGUMENT...]" >&2
        exit 64
    fi
    trap postgres_stop EXIT
    trap 'exit 130' INT TERM
    postgres_start
    status=0
    "$@" || status=$?
    exit "$status"
fi
