#!/usr/bin/env bash
# Oxbow's standard benchmark: builds the release binary, measures this machine's own limits,
# starts a fresh local broker on a temporary data directory and port, runs the standard matrix with
# `oxbow bench`, and writes BENCHMARKS.md (figures, ratios to the machine's limits, targets).
#
#   bench/run.sh                    # about 10 minutes after the build (5 without the scale runs)
#   BENCH_DURATION=10 bench/run.sh  # seconds measured per workload (default 20)
#   BENCH_PERF=1 bench/run.sh       # also profile the broker with perf (if installed)
#   BENCH_OUT=/tmp/B.md bench/run.sh
#   BENCH_TMP=/mnt/fast bench/run.sh  # where the data directory goes (default /tmp)
#   BENCH_SCALE=0 bench/run.sh      # skip the scale runs (targets 5-7, about 4 more minutes)
#   BENCH_CRASH_GB=10 bench/run.sh  # data written before the SIGKILL restart (default 10)
#   BENCH_LAG_GB=5 bench/run.sh     # backlog the lagging reader catches up (default 5)
#   BENCH_BIN=/tmp/oxbow-old bench/run.sh  # measure that binary instead of building this tree
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${BENCH_OUT:-$ROOT/BENCHMARKS.md}
D=${BENCH_DURATION:-20}
PERF=${BENCH_PERF:-0}
SCALE=${BENCH_SCALE:-1}
CRASH_GB=${BENCH_CRASH_GB:-10}
LAG_GB=${BENCH_LAG_GB:-5}
# 10,000 partitions keep 10,000 segment files open and 5,000 connections need as many sockets.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

if [[ -n "${BENCH_BIN:-}" ]]; then
    BIN=$BENCH_BIN   # e.g. an older build, for before/after comparisons on the same machine
else
    echo "== building (cargo build --release)"
    cargo build --release -p oxbow
    BIN=$ROOT/target/release/oxbow
fi

WORK=$(mktemp -d "${BENCH_TMP:-/tmp}/oxbow-bench.XXXXXX")
RES=$WORK/results
mkdir -p "$RES"
BROKER=""
cleanup() {
    if [[ -n "$BROKER" ]] && kill -0 "$BROKER" 2>/dev/null; then
        kill -TERM "$BROKER" 2>/dev/null || true
        wait "$BROKER" 2>/dev/null || true
    fi
    rm -rf "$WORK"/data*
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
    echo "nofile=$(ulimit -n)"
    echo "loadavg_at_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} > "$RES/machine.env"
# The figures assume nothing else runs: warn about (and record) other busy processes.
BUSY=$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 > 20 {print $2}' | grep -v '^ps$' | head -5 | tr '\n' ' ' || true)
if [[ -n "$BUSY" ]]; then
    echo "   warning: other busy processes: $BUSY(figures will be noisy)"
    echo "busy_at_start=$BUSY" >> "$RES/machine.env"
fi

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
rm -rf "$WORK/data"

if [[ "$SCALE" == 1 ]]; then
    # ---- Scale and restart (targets 5-7). Each part runs its own fresh broker on the same port. ----

    # start_broker NAME: a fresh `oxbow serve` on $WORK/NAME; its log (with startup_ms) in $WORK/NAME.log.
    start_broker() {
        OXBOW_LOG_LEVEL=warn,oxbow::cli::serve=info "$BIN" serve --data-dir "$WORK/$1" --listen "127.0.0.1:$PORT" \
            >> "$WORK/$1.log" 2>&1 &
        BROKER=$!
    }
    # stop_broker TERM|KILL: stops the broker and waits for it to exit.
    stop_broker() {
        kill "-$1" "$BROKER" 2>/dev/null || true
        wait "$BROKER" 2>/dev/null || true
        BROKER=""
    }
    now_ns() { date +%s%N; }
    ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }
    kv() { echo "$1=$2" >> "$RES/scale.env"; }
    status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
    # startup_ms NAME: the last "broker started ... startup_ms=N" of that broker's log.
    startup_ms() { sed 's/\x1b\[[0-9;]*m//g' "$WORK/$1.log" | grep -o 'startup_ms=[0-9]*' | tail -1 | cut -d= -f2; }
    drop_caches() { sync; (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; }
    # tool NAME ARGS...: an `oxbow bench` helper or workload against the current broker; JSON to $RES/NAME.json.
    tool() {
        local name=$1
        shift
        echo "== $name: oxbow bench $*"
        echo "oxbow bench $*" > "$RES/$name.cmd"
        if "$BIN" bench "$@" --bootstrap "127.0.0.1:$PORT" --json --quiet > "$RES/$name.json" 2> "$RES/$name.err"; then
            cut -c1-300 "$RES/$name.json" | sed 's/^/   /'
            return 0
        fi
        echo "   failed:"
        tail -5 "$RES/$name.err" | sed 's/^/   /'
        rm -f "$RES/$name.json"
        return 1
    }
    : > "$RES/scale.env"
    CAN_DROP=0
    if (echo 1 > /proc/sys/vm/drop_caches) 2>/dev/null; then CAN_DROP=1; fi
    kv nofile "$(ulimit -n)"

    # (f) 5,000 idle connections: the broker's RSS before and while they are held (target 7).
    echo "== (f) idle connections"
    start_broker data-conn
    tool ready-conn ready || true
    sleep 2
    tool connections connections --count 5000 --hold 5s --broker-pid "$BROKER" || true
    stop_broker TERM

    # (g) 10,000 partitions with one record each: idle RSS, then a clean restart (target 5).
    echo "== (g) 10,000 partitions"
    start_broker data-parts
    tool ready-parts ready || true
    if tool partitions partitions --topics 100 --partitions 100; then
        sleep 5
        kv parts_idle_rss_kb "$(status_kb "$BROKER" VmRSS)"
        kv parts_idle_hwm_kb "$(status_kb "$BROKER" VmHWM)"
        kv parts_fds "$(ls "/proc/$BROKER/fd" | wc -l)"
        t=$(now_ns)
        stop_broker TERM
        kv clean_stop_ms "$(ms_since "$t")"
        t=$(now_ns)
        start_broker data-parts
        tool ready-clean ready --expect-partitions 10000 --timeout 300s || true
        kv clean_start_ms "$(ms_since "$t")"
        kv clean_startup_log_ms "$(startup_ms data-parts)"
        sleep 5
        kv parts_restarted_rss_kb "$(status_kb "$BROKER" VmRSS)"
        if [[ "$PERF" == 1 ]] && command -v strace > /dev/null; then
            # Where a clean stop's time goes: system calls (wall time in each) of a second stop.
            echo "== strace of a clean stop"
            strace -f -c -w -o "$RES/strace-stop.txt" -p "$BROKER" 2> /dev/null &
            tracer=$!
            sleep 1
            t=$(now_ns)
            stop_broker TERM
            kv traced_stop_ms "$(ms_since "$t")"
            wait "$tracer" || true
        fi
    fi
    stop_broker TERM
    rm -rf "$WORK/data-parts"

    # (h) SIGKILL right after writing CRASH_GB GB (acks=1, 100 KB records, 4 partitions), then time the
    # restart until Metadata is served: once with the page cache as the crash left it (a process
    # crash), once with it dropped (every byte recovered comes from the disk) (target 5).
    echo "== (h) restart after SIGKILL with $CRASH_GB GB"
    avail_gb=$(df -BG --output=avail "$WORK" | tail -1 | tr -dc 0-9)
    need_gb=$(( CRASH_GB * 5 / 2 ))
    kv crash_gb "$CRASH_GB"
    kv disk_free_gb "$avail_gb"
    if (( avail_gb < need_gb )); then
        echo "   skipped: $avail_gb GB free on $WORK, need $need_gb"
        kv crash_skipped "only $avail_gb GB free on the data filesystem (need $need_gb GB)"
    else
        for mode in warm cold; do
            if [[ $mode == cold && $CAN_DROP == 0 ]]; then
                kv crash_cold_skipped "cannot drop the page cache (not root)"
                continue
            fi
            start_broker data-crash
            tool "ready-crash-$mode-0" ready || true
            if tool "crash-produce-$mode" produce --topic crash --partitions 4 --record-size 100000 --acks 1 --linger-ms 5 \
                --records $(( CRASH_GB * 10000 )) --warmup 0s --broker-pid "$BROKER"; then
                stop_broker KILL
                [[ $mode == cold ]] && drop_caches
                kv crash_${mode}_data_gb "$(du -s -B1 "$WORK/data-crash" | awk '{printf "%.2f", $1 / 1e9}')"
                t=$(now_ns)
                start_broker data-crash
                tool "ready-crash-$mode" ready --expect-partitions 4 --timeout 300s || true
                kv crash_${mode}_start_ms "$(ms_since "$t")"
                kv crash_${mode}_startup_log_ms "$(startup_ms data-crash)"
                # Everything acknowledged is there: the sum of the high watermarks.
                kv crash_${mode}_records_after "$("$BIN" topic describe crash --bootstrap "127.0.0.1:$PORT" --json \
                    | python3 -c 'import json, sys; print(sum(p["high"] - p["low"] for p in json.load(sys.stdin)["partitions"]))' || echo '?')"
            fi
            stop_broker KILL
            if [[ $mode == cold && "$PERF" == 1 && -d "$WORK/data-crash" ]]; then
                # How fast this disk gives the same segment files back (dd, 64 KiB reads, cache
                # dropped): one file after another, as the loader reads them, then one stream per
                # partition at once.
                echo "== disk read check: the recovered segments with dd"
                drop_caches || true
                t=$(now_ns)
                for f in "$WORK"/data-crash/crash-*/*.log; do dd if="$f" of=/dev/null bs=64K status=none; done
                kv read_serial_ms "$(ms_since "$t")"
                drop_caches || true
                t=$(now_ns)
                readers=()
                for pdir in "$WORK"/data-crash/crash-*; do
                    (for f in "$pdir"/*.log; do dd if="$f" of=/dev/null bs=64K status=none; done) &
                    readers+=($!)
                done
                wait "${readers[@]}" || true
                kv read_parallel_ms "$(ms_since "$t")"
                kv read_parallel_streams "${#readers[@]}"
            fi
            rm -rf "$WORK/data-crash"
        done
    fi

    # (i) A lagging reader catches up LAG_GB GB from disk while an open-loop producer writes 10 MB/s
    # acks=all to another topic: the producer's latency without the reader, then with it (target 6).
    echo "== (i) lagging reader"
    avail_gb=$(df -BG --output=avail "$WORK" | tail -1 | tr -dc 0-9)
    if (( avail_gb < LAG_GB * 2 )); then
        kv lag_skipped "only $avail_gb GB free on the data filesystem"
    else
        kv lag_gb "$LAG_GB"
        start_broker data-lag
        tool ready-lag ready || true
        tool lag-fill produce --topic lag-backlog --partitions 4 --record-size 100000 --acks 1 --linger-ms 5 \
            --records $(( LAG_GB * 10000 )) --warmup 0s || true
        PROD=(produce --topic lag-producer --partitions 6 --record-size 600 --acks all --linger-ms 1 --rate 10MB/s --warmup 3s)
        drop_caches || true
        tool lag-base "${PROD[@]}" --duration "${D}s" --broker-pid "$BROKER" || true
        drop_caches || true
        [[ $CAN_DROP == 1 ]] && kv lag_cache_dropped 1
        # The producer runs until the reader has read everything (then SIGINT ends its measurement).
        echo "== lag-with: oxbow bench ${PROD[*]} --duration 600s   (+ consume --topic lag-backlog --assign)"
        echo "oxbow bench ${PROD[*]} --duration 600s   # ended by SIGINT when the reader is done" > "$RES/lag-with.cmd"
        "$BIN" bench "${PROD[@]}" --duration 600s --broker-pid "$BROKER" --bootstrap "127.0.0.1:$PORT" --json --quiet \
            > "$RES/lag-with.json" 2> "$RES/lag-with.err" &
        prodpid=$!
        sleep 3.5
        tool lag-reader consume --topic lag-backlog --assign --broker-pid "$BROKER" || true
        kill -INT "$prodpid" 2>/dev/null || true
        wait "$prodpid" || true
        python3 bench/summary.py "$RES/lag-with.json" || true
        if [[ "$PERF" == 1 ]] && command -v perf > /dev/null; then
            # Where the time goes, in separate 10 s passes: the broker's system calls per thread
            # (calls and wall time: what its threads wait in) with the producer alone, then with the
            # reader catching up from disk (cache dropped again, reading from the start), plus an
            # on-CPU profile of the second pass.
            for pass in base with; do
                echo "== perf trace: lagging reader ($pass)"
                drop_caches || true
                "$BIN" bench "${PROD[@]}" --duration 12s --bootstrap "127.0.0.1:$PORT" --quiet > /dev/null 2>&1 &
                prodpid=$!
                sleep 3
                perf trace -s -p "$BROKER" -o "$RES/trace-lag-$pass.txt" -- sleep 10 > /dev/null 2>&1 &
                tracer=$!
                if [[ $pass == with ]]; then
                    perf record -F 499 -g -p "$BROKER" -o "$WORK/perf-lag.data" -- sleep 10 > /dev/null 2>&1 &
                    perfpid=$!
                    "$BIN" bench consume --topic lag-backlog --assign --duration 10s --bootstrap "127.0.0.1:$PORT" \
                        --quiet > /dev/null 2>&1 || true
                    wait "$perfpid" || true
                fi
                wait "$prodpid" "$tracer" || true
            done
            perf report -i "$WORK/perf-lag.data" --no-children -g none --percent-limit 0.5 --sort dso,symbol --stdio 2>/dev/null \
                | grep -v '^#' | grep '%' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/^[[:space:]]+//' \
                | head -25 > "$RES/perf-lag.txt" || true
        fi
        stop_broker KILL
        rm -rf "$WORK/data-lag"
    fi
fi

python3 bench/report.py "$RES" > "$OUT"
echo "== wrote $OUT (raw results in $RES)"
