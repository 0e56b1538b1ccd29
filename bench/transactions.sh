#!/usr/bin/env bash
# Transactional produce against the idempotent baseline, in one run on one fresh broker (compare
# the ratios: the machine is noisy). 600 B records, 6 partitions, acks=all, one producer, closed
# loop: the idempotent producer, then transactional producers committing every 10, 100 and 1000
# records. Prints one line per case (records/s, MB/s, p50/p99 ack latency, broker CPU s/GB in).
#   bench/transactions.sh [BIN] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/oxbow}
D=${2:-15}
W=$(mktemp -d "${BENCH_TMP:-/tmp}/oxbow-txn.XXXXXX")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
B=""
trap '[[ -n "$B" ]] && kill "$B" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
OXBOW_LOG_LEVEL=warn "$BIN" serve --data-dir "$W/data" --listen "127.0.0.1:$PORT" > "$W/broker.log" 2>&1 &
B=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    sleep 0.1
done
C=(--bootstrap "127.0.0.1:$PORT" --broker-pid "$B" --json --quiet)
COMMON=(produce --partitions 6 --record-size 600 --acks all --duration "${D}s" --warmup 3s)
run() {
    local name=$1
    shift
    "$BIN" bench "${COMMON[@]}" --topic "txn-$name" "$@" "${C[@]}" > "$W/$name.json"
    python3 - "$name" "$W/$name.json" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
j = json.load(open(path))
lat = j.get("latency_us") or {}
cpu = (j.get("broker") or {}).get("cpu_s_per_gb_in")
print(f"{name:<14} {j['records_per_s']:>10.0f} rec/s {j['mb_per_s']:>7.1f} MB/s  "
      f"p50 {lat.get('p50', 0)/1000:>7.1f} ms  p99 {lat.get('p99', 0)/1000:>7.1f} ms  "
      f"cpu {cpu if cpu is not None else float('nan'):.2f} s/GB  errors {j['errors']}")
PY
}
run idempotent --idempotent
run txn-10 --transactional 10
run txn-100 --transactional 100
run txn-1000 --transactional 1000
