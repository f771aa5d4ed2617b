#!/usr/bin/env bash
# Simulated agents against real control-plane replicas: REPLICAS
# `envv-control-plane serve` processes on one PostgreSQL database (or one on
# SQLite), driven by bench/load (`envv-load`) for DURATION seconds.
#
#   bench/load.sh                              # 3 replicas on PostgreSQL, then 1 on SQLite
#   LOAD_TARGETS=postgres LOAD_REPLICAS=2 bench/load.sh
#
# Needs: cargo, openssl, psql, and a PostgreSQL server that
# postgres://postgres@127.0.0.1:5432 reaches without a password (the
# test-suite's).
#
# Environment (all optional):
#   LOAD_USERS=200           simulated agents, each its own user
#   LOAD_DURATION=60         seconds of load per target
#   LOAD_TEAM_SIZE=5         members per team
#   LOAD_THINK_MS=0          pause between an agent's rounds
#   LOAD_REPLICAS=3          replicas on PostgreSQL (SQLite: always 1)
#   LOAD_POOL_SIZE=          --db-pool-size per replica (default: the server's)
#   LOAD_TARGETS="postgres sqlite"
#   LOAD_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres  (admin URL)
#   LOAD_RESULTS=bench/results.md   where to append the figures ("" = don't)
#   LOAD_NO_BUILD=1          use the release binaries already built
#   CARGO_TARGET_DIR         where cargo builds (binaries are looked up there)
#
# The replicas run as production would behind a load balancer:
# `--trust-forwarded-for`, one shared signing key, log level info. The
# generator, the replicas and PostgreSQL share the machine's cores.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

USERS=${LOAD_USERS:-200}
DURATION=${LOAD_DURATION:-60}
TEAM_SIZE=${LOAD_TEAM_SIZE:-5}
THINK_MS=${LOAD_THINK_MS:-0}
REPLICAS=${LOAD_REPLICAS:-3}
POOL_SIZE=${LOAD_POOL_SIZE:-}
TARGETS=${LOAD_TARGETS:-postgres sqlite}
PG_ADMIN_URL=${LOAD_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
RESULTS=${LOAD_RESULTS-bench/results.md}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}

NAME=load
# shellcheck source=bench/common.sh
source "$REPO/bench/common.sh"

for tool in cargo openssl; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
if [[ " $TARGETS " == *" postgres "* ]]; then
    command -v psql >/dev/null || die "psql is required for the PostgreSQL target"
fi

if [[ -z "${LOAD_NO_BUILD:-}" ]]; then
    log "building release binaries"
    cargo build --release -p control-plane -p envv-load
fi
CP_BIN=$TARGET_DIR/release/envv-control-plane
LOAD_BIN=$TARGET_DIR/release/envv-load
[[ -x "$CP_BIN" ]] || die "$CP_BIN is missing (set CARGO_TARGET_DIR?)"
[[ -x "$LOAD_BIN" ]] || die "$LOAD_BIN is missing (set CARGO_TARGET_DIR?)"

# One signing key for every replica, as operations.md asks.
KEY=$WORK/signing-key
(umask 077 && openssl rand -base64 32 >"$KEY")

# start_replicas N DATABASE_URL: sets SERVERS (comma-separated base URLs).
start_replicas() {
    local n=$1 url=$2 i logfile
    local extra=()
    [[ -n "$POOL_SIZE" ]] && extra+=(--db-pool-size "$POOL_SIZE")
    SERVERS=""
    for i in $(seq 1 "$n"); do
        logfile=$WORK/replica-$i-${#PIDS[@]}.log
        "$CP_BIN" serve --listen 127.0.0.1:0 --database-url "$url" --signing-key-file "$KEY" \
            --trust-forwarded-for "${extra[@]}" >"$logfile" 2>&1 &
        PIDS+=($!)
        SERVERS+="${SERVERS:+,}http://$(wait_for_address "$logfile" $!)"
    done
}

stop_replicas() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

declare -A TABLE SUMMARY
run_target() {
    local name=$1 replicas=$2 url=$3 out
    start_replicas "$replicas" "$url"
    log "$name: $replicas replica(s) at $SERVERS; $USERS agents for $DURATION s"
    out=$WORK/load-$name.txt
    "$LOAD_BIN" --server "$SERVERS" --users "$USERS" --duration "$DURATION" \
        --team-size "$TEAM_SIZE" --think-ms "$THINK_MS" >"$out" || {
        cat "$out"
        die "$name: the load run failed"
    }
    cat "$out"
    TABLE[$name]=$(grep '^|' "$out")
    SUMMARY[$name]=$(grep -v '^|' "$out" | sed '/^$/d')
    stop_replicas
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before: $LOAD_BEFORE on $(nproc) cores"
for target in $TARGETS; do
    case $target in
        postgres)
            PG_DB="envv_load_$(openssl rand -hex 6)"
            psql -q -X "$PG_ADMIN_URL" -c "CREATE DATABASE $PG_DB" >/dev/null ||
                { PG_DB=""; die "cannot create a database through $PG_ADMIN_URL"; }
            run_target postgres "$REPLICAS" "$(database_url "$PG_DB")"
            ;;
        sqlite)
            run_target sqlite 1 "sqlite:$WORK/envv.db"
            ;;
        *) die "unknown target $target (postgres, sqlite)" ;;
    esac
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

if [[ -n "$RESULTS" ]]; then
    COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    git diff --quiet HEAD -- control-plane bench/load 2>/dev/null || COMMIT="$COMMIT (modified)"
    CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    {
        echo
        echo "## Load: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $COMMIT"
        echo
        echo "- machine: $(nproc) cores ($CPU), $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM; generator, replicas and PostgreSQL share the cores"
        echo "- load average (1/5/15 min): before $LOAD_BEFORE, after $LOAD_AFTER"
        echo "- $USERS simulated agents in teams of $TEAM_SIZE, ${DURATION} s, think time ${THINK_MS} ms; replicas with --trust-forwarded-for${POOL_SIZE:+, --db-pool-size $POOL_SIZE}"
        echo "- command: \`bench/load.sh\` (LOAD_TARGETS=\"$TARGETS\", LOAD_REPLICAS=$REPLICAS)"
        for target in $TARGETS; do
            echo
            case $target in
                postgres) echo "### $REPLICAS replicas on PostgreSQL" ;;
                sqlite) echo "### 1 replica on SQLite" ;;
            esac
            echo
            echo "${TABLE[$target]}"
            echo
            echo "${SUMMARY[$target]}"
        done
    } >>"$RESULTS"
    log "appended to $RESULTS"
fi
