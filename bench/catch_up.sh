#!/usr/bin/env bash
# Catch-up reads against one `oxbow` binary (compare two builds by running it for each in one
# session; the machine is noisy, so compare ratios from back-to-back runs):
#   1. lag: an open-loop producer (600 B, acks=all, 10 MB/s) alone for 10 s, then while a reader
#      catches up GB gigabytes from disk (page cache dropped); producer latency in both.
#   2. cold: readers alone, page cache dropped: 100 KB records (GB gigabytes), then 600 B records.
# Needs root to drop the page cache. Usage: bench/catch_up.sh [BIN] [GB]
set -euo pipefail
BIN=${1:-target/release/oxbow}
GB=${2:-3}
W=$(mktemp -d "${BENCH_TMP:-/tmp}/oxbow-catchup.XXXXXX")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
B=""
trap '[[ -n "$B" ]] && kill "$B" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
OXBOW_LOG_LEVEL=warn "$BIN" serve --data-dir "$W/data" --listen "127.0.0.1:$PORT" > "$W/broker.log" 2>&1 &
B=$!
sleep 1
C=(--bootstrap "127.0.0.1:$PORT" --json --quiet)
"$BIN" bench produce --topic backlog --partitions 4 --record-size 100000 --acks 1 --linger-ms 5 \
    --records $((GB * 10000)) --warmup 0s "${C[@]}" > "$W/fill.json"
PROD=(produce --topic lag-producer --partitions 6 --record-size 600 --acks all --linger-ms 1 --rate 10MB/s --warmup 3s)
drop
"$BIN" bench "${PROD[@]}" --duration 10s "${C[@]}" > "$W/alone.json"
drop
"$BIN" bench "${PROD[@]}" --duration 600s "${C[@]}" > "$W/with.json" &
P=$!
sleep 3.5
"$BIN" bench consume --topic backlog --assign "${C[@]}" > "$W/reader.json"
kill -INT "$P"
wait "$P" || true
"$BIN" bench produce --topic small --partitions 6 --record-size 600 --acks 1 --records 3000000 \
    --warmup 0s "${C[@]}" > /dev/null
drop
"$BIN" bench consume --topic backlog --assign --broker-pid "$B" "${C[@]}" > "$W/cold-big.json"
drop
"$BIN" bench consume --topic small --assign --broker-pid "$B" "${C[@]}" > "$W/cold-small.json"
python3 - "$W" <<'PY'
import json, sys
w = sys.argv[1]
def load(n):
    with open(f"{w}/{n}.json") as f:
        return json.load(f)
for n in ("alone", "with"):
    lat = load(n).get("latency_us") or {}
    print(f"producer {n:5}: p50 {lat.get('p50', 0)/1000:.2f} ms, p99 {lat.get('p99', 0)/1000:.2f} ms, max {lat.get('max', 0)/1000:.2f} ms")
print(f"reader catching up: {load('reader').get('mb_per_s')} MB/s")
for n in ("cold-big", "cold-small"):
    r = load(n)
    b = r.get("broker") or {}
    print(f"{n}: {r.get('mb_per_s')} MB/s, broker {b.get('cpu_s_per_gb_out')} CPU-s/GB out")
PY
