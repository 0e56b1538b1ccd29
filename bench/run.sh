#!/usr/bin/env bash
# Oxbow's standard benchmark: builds the release binary, measures this machine's own limits,
# starts a fresh local broker on a temporary data directory and port, runs the standard matrix with
# `oxbow bench`, and writes BENCHMARKS.md (figures, ratios to the machine's limits, targets).
#
#   bench/run.sh                    # about 5 minutes after the build
#   BENCH_DURATION=10 bench/run.sh  # seconds measured per workload (default 20)
#   BENCH_PERF=1 bench/run.sh       # also profile the broker with perf (if installed)
#   BENCH_OUT=/tmp/B.md bench/run.sh
#   BENCH_TMP=/mnt/fast bench/run.sh  # where the data directory goes (default /tmp)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${BENCH_OUT:-$ROOT/BENCHMARKS.md}
D=${BENCH_DURATION:-20}
PERF=${BENCH_PERF:-0}

echo "== building (cargo build --release)"
cargo build --release -p oxbow
BIN=$ROOT/target/release/oxbow

WORK=$(mktemp -d "${BENCH_TMP:-/tmp}/oxbow-bench.XXXXXX")
RES=$WORK/results
mkdir -p "$RES"
BROKER=""
cleanup() {
    if [[ -n "$BROKER" ]] && kill -0 "$BROKER" 2>/dev/null; then
        kill -TERM "$BROKER" 2>/dev/null || true
        wait "$BROKER" 2>/dev/null || true
    fi
    rm -rf "$WORK/data"
}
trap cleanup EXIT

echo "== machine limits (data dir filesystem: $WORK)"
"$BIN" bench machine --dir "$WORK" --json > "$RES/machine.json"
cat "$RES/machine.json"
{
    echo "cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "cpus=$(nproc)"
    echo "mem_total_gib=$(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo)"
    echo "kernel=$(uname -r)"
    echo "filesystem=$(df -T "$WORK" | awk 'NR==2 {print $2" on "$1}')"
    echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "duration_s=$D"
} > "$RES/machine.env"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "== starting oxbow serve on 127.0.0.1:$PORT"
OXBOW_LOG_LEVEL=warn "$BIN" serve --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" > "$WORK/broker.log" 2>&1 &
BROKER=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    sleep 0.1
done
kill -0 "$BROKER"

COMMON=(--bootstrap "127.0.0.1:$PORT" --broker-pid "$BROKER" --json --quiet)

# run NAME ARGS...: one workload; JSON to $RES/NAME.json, the command line to $RES/NAME.cmd.
run() {
    local name=$1
    shift
    echo "== $name: oxbow bench $*"
    echo "oxbow bench $*" > "$RES/$name.cmd"
    if "$BIN" bench "$@" "${COMMON[@]}" > "$RES/$name.json" 2> "$RES/$name.err"; then
        python3 bench/summary.py "$RES/$name.json"
        return 0
    fi
    echo "   failed:"
    tail -5 "$RES/$name.err" | sed 's/^/   /'
    rm -f "$RES/$name.json"
    return 1
}

# (a) produce 600 B, acks=all, 6 partitions, as fast as the client goes.
run produce produce --topic bench-produce --partitions 6 --record-size 600 --acks all \
    --duration "${D}s" --warmup 3s || true

# (b) consume what (a) wrote: first from the page cache, then from disk after dropping the cache.
run consume-cache consume --topic bench-produce --assign || true
sync
if (echo 1 > /proc/sys/vm/drop_caches) 2>/dev/null; then
    echo dropped > "$RES/drop_caches"
    run consume-disk consume --topic bench-produce --assign || true
else
    echo "   (cannot drop the page cache without root: consume-disk skipped)"
fi

# (c) end to end at 10 MB/s, acks=all (linger 1 ms: the client adds little of its own).
run e2e e2e --topic bench-e2e --partitions 6 --record-size 600 --acks all --linger-ms 1 --rate 10MB/s \
    --duration "${D}s" --warmup 3s || true

# (d) finance preset: 20 MB/s in, 23 consumer groups out. Groups via the group coordinator; if
# that fails, the readers assign partitions directly.
if ! run finance --preset finance --duration "${D}s" --warmup 3s; then
    echo "   retrying with --assign"
    run finance --preset finance --assign --duration "${D}s" --warmup 3s || true
fi

# (e) market data: ~100 B records at 50k/s, acks=1, linger 0.
run market-data --preset market-data --duration "${D}s" --warmup 3s || true

# Optional: where the broker's CPU goes, produce and fanout (not part of the figures above).
if [[ "$PERF" == 1 ]] && command -v perf > /dev/null; then
    for w in produce finance; do
        echo "== perf: $w"
        if [[ $w == produce ]]; then
            args=(produce --topic bench-perf --partitions 6 --record-size 600 --acks all --duration 10s --warmup 1s)
        else
            args=(--preset finance --assign --topic bench-perf-fin --duration 10s --warmup 1s)
        fi
        perf record -F 499 -g -p "$BROKER" -o "$WORK/perf-$w.data" -- sleep 13 > /dev/null 2>&1 &
        perfpid=$!
        "$BIN" bench "${args[@]}" --bootstrap "127.0.0.1:$PORT" --quiet > /dev/null 2>&1 || true
        wait "$perfpid" || true
        perf report -i "$WORK/perf-$w.data" --no-children -g none --percent-limit 0.5 --sort dso,symbol --stdio 2>/dev/null \
            | grep -v '^#' | grep '%' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/^[[:space:]]+//' \
            | head -25 > "$RES/perf-$w.txt" || true
    done
fi

kill -TERM "$BROKER"
wait "$BROKER" || true
BROKER=""

python3 bench/report.py "$RES" > "$OUT"
echo "== wrote $OUT (raw results in $RES)"
