# Sourced by bench/control-plane.sh and bench/load.sh: messages, a work
# folder, and on any exit the end of every process started (PIDS), the
# database made (PG_DB, on PG_ADMIN_URL) and the folder; finding where a
# server listens, and naming a test database.
# Set first: NAME (the messages' prefix), PG_ADMIN_URL.

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '%s: %s\n' "$NAME" "$*" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/envv-$NAME.XXXXXX")
PIDS=()
PG_DB=""

# database_url NAME: PG_ADMIN_URL with its database replaced by NAME, its
# query string (?sslmode=...) kept.
database_url() {
    local base=${PG_ADMIN_URL%%\?*}
    echo "${base%/*}/$1${PG_ADMIN_URL#"$base"}"
}

# wait_for_address LOGFILE PID: the address a server (the control plane, or
# the hello-world) printed once listening; up to 60 s.
wait_for_address() {
    local logfile=$1 pid=$2 addr=""
    for _ in $(seq 1 600); do
        kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; die "server exited early"; }
        addr=$(sed 's/\x1b\[[0-9;]*m//g' "$logfile" |
            grep -oE '(address=|listening on )127\.0\.0\.1:[0-9]+' | head -n1 | grep -oE '127\.0\.0\.1:[0-9]+' || true)
        if [[ -n "$addr" ]]; then
            echo "$addr"
            return
        fi
        sleep 0.1
    done
    cat "$logfile" >&2
    die "server did not report its address"
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$PG_DB" ]]; then
        psql -q -X "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 ||
            echo "$NAME: could not drop database $PG_DB" >&2
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
