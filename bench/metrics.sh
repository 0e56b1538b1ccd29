#!/usr/bin/env bash
# What /metrics costs, in one run on one broker: 10,000 partitions (100 topics × 100) and 1,000
# groups with committed offsets; the scrape's time and size (5 scrapes); then the produce fast
# path's broker CPU per GB with no scrape and with a scrape every second, back to back.
#   bench/metrics.sh [BIN] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/oxbow}
D=${2:-12}
PY=${PY:-.venv/bin/python}
W=$(mktemp -d "${BENCH_TMP:-/tmp}/oxbow-metrics.XXXXXX")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port); HPORT=$(free_port)
B=""
trap '[[ -n "$B" ]] && kill "$B" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
ulimit -n 20000 2>/dev/null || true
OXBOW_LOG_LEVEL=warn "$BIN" serve --data-dir "$W/data" --listen "127.0.0.1:$PORT" \
    --http-listen "127.0.0.1:$HPORT" --registry-listen 127.0.0.1:0 > "$W/broker.log" 2>&1 &
B=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    sleep 0.1
done
C=(--bootstrap "127.0.0.1:$PORT")
"$BIN" bench partitions --topic part --topics 100 --partitions 100 "${C[@]}" --quiet > /dev/null
"$PY" - "127.0.0.1:$PORT" <<'PY'
import sys
from confluent_kafka import Consumer, TopicPartition
boot = sys.argv[1]
for g in range(1000):
    c = Consumer({"bootstrap.servers": boot, "group.id": f"bench-group-{g}", "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(f"part-{g % 100:04}", p, 0) for p in range(10)], asynchronous=False)
    c.close()
PY
for i in 1 2 3 4 5; do
    curl -s -o "$W/m.txt" -w "scrape %{time_total}s %{size_download} bytes\n" "http://127.0.0.1:$HPORT/metrics"
done
echo "series: $(grep -vc '^#' "$W/m.txt")"
run() {
    local name=$1
    "$BIN" bench produce --topic "fast-$name" --partitions 6 --record-size 600 --acks all \
        --duration "${D}s" --warmup 2s "${C[@]}" --broker-pid "$B" --json --quiet > "$W/p.json"
    python3 - "$name" "$W/p.json" <<'PY2'
import json, sys
j = json.load(open(sys.argv[2]))
print(f"{sys.argv[1]:<16} produce {j['mb_per_s']:>7.1f} MB/s  broker cpu {(j.get('broker') or {}).get('cpu_s_per_gb_in', float('nan')):.2f} s/GB in")
PY2
}
run no-scrape
( while true; do curl -s -o /dev/null "http://127.0.0.1:$HPORT/metrics"; sleep 1; done ) &
S=$!
run scrape-every-1s
kill $S
run no-scrape-again
