#!/usr/bin/env bash
# Throughput and latency of the control plane's authenticated
# `GET /teams/{id}/members`, on SQLite and on PostgreSQL, beside a bare axum
# JSON hello-world measured in the same run on the same machine.
#
#   bench/control-plane.sh
#
# Needs: cargo, curl, jq, openssl, psql, and a PostgreSQL server that
# postgres://postgres@127.0.0.1:5432 reaches without a password (the
# test-suite's). wrk is installed with apt-get if missing.
#
# Environment (all optional):
#   BENCH_DURATION=10s      wrk run length per target
#   BENCH_THREADS=2         wrk threads
#   BENCH_CONNECTIONS=64    wrk connections
#   BENCH_MEMBERS=5         team size (the owner plus invited members)
#   BENCH_TARGETS="hello sqlite postgres"
#   BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres  (admin URL)
#   BENCH_RESULTS=bench/results.md   where to append the figures ("" = don't)
#   BENCH_NO_BUILD=1        use the release binaries already built
#   BENCH_CONTROL_PLANE_BIN=PATH   benchmark this control-plane binary instead
#                           (A/B comparisons of builds; implies no build of it)
#   CARGO_TARGET_DIR        where cargo builds (binaries are looked up there)
#
# The load generator and the server share the machine's cores: the figures
# are what this box does with both on it, not the server alone.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

DURATION=${BENCH_DURATION:-10s}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
MEMBERS=${BENCH_MEMBERS:-5}
TARGETS=${BENCH_TARGETS:-hello sqlite postgres}
PG_ADMIN_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
RESULTS=${BENCH_RESULTS-bench/results.md}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}

NAME=bench
# shellcheck source=bench/common.sh
source "$REPO/bench/common.sh"

# --- tools and binaries -------------------------------------------------------

for tool in cargo curl jq openssl; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
if [[ " $TARGETS " == *" postgres "* ]]; then
    command -v psql >/dev/null || die "psql is required for the PostgreSQL target"
fi
if ! command -v wrk >/dev/null; then
    log "installing wrk"
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq wrk >/dev/null
fi

if [[ -z "${BENCH_NO_BUILD:-}" ]]; then
    log "building release binaries"
    [[ -n "${BENCH_CONTROL_PLANE_BIN:-}" ]] || cargo build --release -p control-plane
    # Seeds the team as clients would, with keys and signed chain statements.
    cargo build --release -p envv-load
    # Its own workspace: without --target-dir it would build into bench/hello/target.
    cargo build --release --manifest-path bench/hello/Cargo.toml --target-dir "$TARGET_DIR"
fi
CP_BIN=${BENCH_CONTROL_PLANE_BIN:-$TARGET_DIR/release/envv-control-plane}
HELLO_BIN=$TARGET_DIR/release/envv-bench-hello
SEED_BIN=$TARGET_DIR/release/envv-load
[[ -x "$CP_BIN" ]] || die "$CP_BIN is missing (set CARGO_TARGET_DIR?)"
[[ -x "$SEED_BIN" ]] || die "$SEED_BIN is missing (set CARGO_TARGET_DIR?)"
[[ -x "$HELLO_BIN" ]] || die "$HELLO_BIN is missing (set CARGO_TARGET_DIR?)"

# --- helpers ------------------------------------------------------------------

# api METHOD URL TOKEN BODY: the JSON answer; fails on a non-2xx status.
api() {
    local method=$1 url=$2 token=$3 body=$4 out status
    local args=(-sS -o "$WORK/resp" -w '%{http_code}' -X "$method" -H 'content-type: application/json')
    [[ -n "$token" ]] && args+=(-H "authorization: Bearer $token")
    [[ -n "$body" ]] && args+=(--data "$body")
    status=$(curl "${args[@]}" "$url")
    out=$(cat "$WORK/resp")
    [[ "$status" == 2* ]] || die "$method $url answered $status: $out"
    printf '%s' "$out"
}

# seed BASE: signs up an owner, creates a team, has MEMBERS-1 more people join
# through invites (`envv-load --seed-only`, bench/load/src/seed.rs: the team
# chain's statements need real keys); prints "TEAM_ID OWNER_TOKEN".
seed() {
    local base=$1 seeded team owner
    seeded=$("$SEED_BIN" --seed-only --server "$base" --team-size "$MEMBERS") || die "seeding failed"
    read -r team owner <<<"$seeded"
    local count
    count=$(api GET "$base/teams/$team/members" "$owner" "" | jq 'length')
    [[ "$count" == "$MEMBERS" ]] || die "expected $MEMBERS members, the API lists $count"
    echo "$team $owner"
}

# wrk_run NAME URL [TOKEN]: a short warm-up, then the measured run; records
# the figures in RESULT_<field>[NAME].
declare -A RESULT_RPS RESULT_P50 RESULT_P99 RESULT_ERRORS
wrk_run() {
    local name=$1 url=$2 token=${3:-} out
    local args=(-t"$THREADS" -c"$CONNECTIONS" --latency)
    [[ -n "$token" ]] && args+=(-H "Authorization: Bearer $token")
    # In the background, so a signal reaches the trap without waiting for wrk.
    wrk "${args[@]}" -d2s "$url" >/dev/null &
    PIDS+=($!)
    wait $!
    log "$name: wrk ${args[*]//Bearer */Bearer …} -d$DURATION $url"
    wrk "${args[@]}" -d"$DURATION" "$url" >"$WORK/wrk-$name.txt" &
    PIDS+=($!)
    wait $!
    out=$(cat "$WORK/wrk-$name.txt")
    echo "$out" >&2
    RESULT_RPS[$name]=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
    RESULT_P50[$name]=$(echo "$out" | awk '$1 == "50%" {print $2}')
    RESULT_P99[$name]=$(echo "$out" | awk '$1 == "99%" {print $2}')
    # Non-2xx answers and socket errors would make the figures meaningless.
    RESULT_ERRORS[$name]=$(echo "$out" | awk '/Non-2xx or 3xx responses:/ {n += $5} /Socket errors:/ {for (i = 3; i <= NF; i++) {v = $i; gsub(",", "", v); if (v ~ /^[0-9]+$/) n += v}} END {print n + 0}')
}

# start_control_plane DATABASE_URL: starts the server; sets CP_BASE.
start_control_plane() {
    local url=$1 n=${#PIDS[@]}
    local logfile=$WORK/control-plane-$n.log keyfile=$WORK/signing-key-$n
    (umask 077 && openssl rand -base64 32 >"$keyfile")
    "$CP_BIN" serve --listen 127.0.0.1:0 --database-url "$url" --signing-key-file "$keyfile" \
        >"$logfile" 2>&1 &
    PIDS+=($!)
    CP_BASE="http://$(wait_for_address "$logfile" $!)"
}

stop_last() {
    local pid=${PIDS[-1]}
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

bench_control_plane() {
    local name=$1 url=$2 seeded team token
    start_control_plane "$url"
    log "$name: control plane on $CP_BASE; seeding a team of $MEMBERS"
    seeded=$(seed "$CP_BASE")
    read -r team token <<<"$seeded"
    wrk_run "$name" "$CP_BASE/teams/$team/members" "$token"
    stop_last
}

# --- the run ------------------------------------------------------------------

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before: $LOAD_BEFORE on $(nproc) cores"

for target in $TARGETS; do
    case $target in
        hello)
            "$HELLO_BIN" 0 >"$WORK/hello.log" 2>&1 &
            PIDS+=($!)
            addr=$(wait_for_address "$WORK/hello.log" $!)
            wrk_run hello "http://$addr/"
            stop_last
            ;;
        sqlite)
            bench_control_plane sqlite "sqlite:$WORK/envv.db"
            ;;
        postgres)
            PG_DB="envv_bench_$(openssl rand -hex 6)"
            psql -q -X "$PG_ADMIN_URL" -c "CREATE DATABASE $PG_DB" >/dev/null ||
                { PG_DB=""; die "cannot create a database through $PG_ADMIN_URL"; }
            bench_control_plane postgres "$(database_url "$PG_DB")"
            ;;
        *) die "unknown target $target (hello, sqlite, postgres)" ;;
    esac
done

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- summary ------------------------------------------------------------------

COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- control-plane 2>/dev/null || COMMIT="$COMMIT (control-plane modified)"
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
WRK_CMD="wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency"

table() {
    local hello_rps=${RESULT_RPS[hello]:-}
    echo "| target | req/s | p50 | p99 | vs hello-world | errors |"
    echo "|---|---:|---:|---:|---:|---:|"
    for target in $TARGETS; do
        local rps=${RESULT_RPS[$target]} ratio="-"
        if [[ -n "$hello_rps" && "$target" != hello ]]; then
            ratio=$(awk -v a="$rps" -v b="$hello_rps" 'BEGIN {printf "%.2f (1/%.1f)", a / b, b / a}')
        fi
        local label=$target
        [[ $target == hello ]] && label="hello-world (bare axum)"
        [[ $target == sqlite || $target == postgres ]] && label="GET /teams/{id}/members, $target"
        printf '| %s | %.0f | %s | %s | %s | %s |\n' "$label" "$rps" \
            "${RESULT_P50[$target]}" "${RESULT_P99[$target]}" "$ratio" "${RESULT_ERRORS[$target]}"
    done
}

SUMMARY=$(table)
echo
echo "$SUMMARY"
echo
echo "($WRK_CMD; $(nproc) cores shared by wrk and the server; load before $LOAD_BEFORE, after $LOAD_AFTER; commit $COMMIT)"

if [[ -n "$RESULTS" ]]; then
    {
        echo
        echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), commit $COMMIT"
        echo
        echo "- machine: $(nproc) cores ($CPU), $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM; wrk and the servers share the cores"
        echo "- load average (1/5/15 min): before $LOAD_BEFORE, after $LOAD_AFTER"
        echo "- load: \`$WRK_CMD\` after a 2 s warm-up; team of $MEMBERS members; control plane with its default settings (log level info)"
        echo "- command: \`bench/control-plane.sh\`"
        echo
        echo "$SUMMARY"
    } >>"$RESULTS"
    log "appended to $RESULTS"
fi

for target in $TARGETS; do
    [[ "${RESULT_ERRORS[$target]}" == 0 ]] || die "$target had ${RESULT_ERRORS[$target]} errors or non-2xx answers"
done
