#!/usr/bin/env bash
# How long `envv exec -- true` takes against a warm agent, with 10, 100 and
# 1,000 secrets, beside plain `true`, measured in one hyperfine run.
#
#   envv-cli/bench/exec.sh
#
# The difference from `true` is envv's own cost: start-up, one round trip to
# the agent (connect, handshake, read) and the environment it builds before
# exec(). The agent answers from its in-memory cache of decrypted files.
#
# Needs: cargo, and hyperfine (installed with apt-get if missing).
# Environment (all optional):
#   BENCH_COUNTS="10 100 1000"   numbers of secrets
#   BENCH_WARMUP=20              hyperfine warm-up runs per command
#   BENCH_MIN_RUNS=300           hyperfine minimum runs per command
#   BENCH_RESULTS=envv-cli/bench/results.md  where to append ("" = don't)
#   BENCH_NO_BUILD=1             use the release binaries already built
#   CARGO_TARGET_DIR             where cargo builds (binaries are found there)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"

COUNTS=${BENCH_COUNTS:-10 100 1000}
WARMUP=${BENCH_WARMUP:-20}
MIN_RUNS=${BENCH_MIN_RUNS:-300}
RESULTS=${BENCH_RESULTS-envv-cli/bench/results.md}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}

if ! command -v hyperfine >/dev/null 2>&1; then
    echo "installing hyperfine" >&2
    if [ "$(id -u)" = 0 ]; then apt-get install -y hyperfine >/dev/null
    else sudo apt-get install -y hyperfine >/dev/null; fi
fi

if [ -z "${BENCH_NO_BUILD:-}" ]; then
    cargo build --release --locked -p envv-cli --bins --example exec_floor
fi
ENVV=$TARGET_DIR/release/envv
FLOOR=$TARGET_DIR/release/examples/exec_floor
export ENVV_AGENTD=$TARGET_DIR/release/envvd

# A private world: nothing of the user's agent, keys or projects is touched.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/envv-bench.XXXXXX")
cleanup() {
    "$ENVV" agent stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/home" "$WORK/run"
chmod 700 "$WORK/run"
export HOME=$WORK/home
export XDG_DATA_HOME=$WORK/home/.local/share XDG_CONFIG_HOME=$WORK/home/.config
export XDG_STATE_HOME=$WORK/home/.local/state XDG_CACHE_HOME=$WORK/home/.cache
export XDG_RUNTIME_DIR=$WORK/run ENVV_AGENT_SOCK=$WORK/run/agent.sock
unset ENVV_ENV

"$ENVV" agent start >/dev/null
commands=(-n "true" "true")
for n in $COUNTS; do
    dir=$WORK/p$n
    mkdir -p "$dir"
    "$ENVV" -C "$dir" init >/dev/null
    # 32-byte random hex values, like API keys.
    for i in $(seq -w 1 "$n"); do
        printf 'SECRET_%s=%s\n' "$i" "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    done | "$ENVV" -C "$dir" import - 2>/dev/null
    got=$("$ENVV" -C "$dir" exec -- env | grep -c '^SECRET_')
    [ "$got" = "$n" ] || { echo "expected $n secrets in the environment, got $got" >&2; exit 1; }
    commands+=(-n "envv exec, $n secrets" "$ENVV -C $dir exec -- true")
    # The floor: a minimal program that reads the same values over the
    # socket and execs (envv-cli/examples/exec_floor.rs).
    commands+=(-n "floor, $n secrets" "$FLOOR $dir true")
done

out=$WORK/results.md
hyperfine -N --warmup "$WARMUP" --min-runs "$MIN_RUNS" --export-markdown "$out" \
    --export-json "$WORK/results.json" "${commands[@]}"
# envv against the floor at each count, from the same run's means (the aim:
# within 15 %).
python3 - "$WORK/results.json" "$COUNTS" >>"$out" <<'PY'
import json, sys
runs = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
print()
for n in sys.argv[2].split():
    envv, floor = runs[f"envv exec, {n} secrets"], runs[f"floor, {n} secrets"]
    print(f"- {n} secrets: envv {envv['mean'] * 1e3:.2f} ms (median {envv['median'] * 1e3:.2f}), "
          f"floor {floor['mean'] * 1e3:.2f} ms (median {floor['median'] * 1e3:.2f}): "
          f"envv/floor {envv['mean'] / floor['mean']:.3f}")
PY
sed -n '/^- /p' "$out" >&2

if [ -n "$RESULTS" ]; then
    {
        if [ ! -s "$RESULTS" ]; then
            printf '# `envv exec` benchmark results\n\n'
            printf '`envv exec -- true` against a warm agent beside plain `true`, measured in\n'
            printf 'one run by `envv-cli/bench/exec.sh` (newest last). Release builds; the agent,\n'
            printf 'hyperfine and envv share the machine'"'"'s cores.\n'
        fi
        printf '\n## %s, %s, %s cores\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" \
            "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo "${BENCH_COMMIT:-unknown}")" "$(nproc)"
        cat "$out"
    } >>"$RESULTS"
    echo "appended to $RESULTS" >&2
fi
