#!/usr/bin/env bash
# The fast paths (produce append, sendfile fetch) of several builds, back to back on fresh brokers:
# for each binary, `oxbow bench produce` (600 B records, 6 partitions, acks=all) then
# `oxbow bench consume --assign` of what it wrote. ROUNDS rounds in turn (default 2), the page
# cache dropped before each step when this user may. Prints MB/s and broker CPU s/GB per step.
#   bench/fastpath.sh BIN [BIN...]        D=12 seconds measured per produce
set -euo pipefail
cd "$(dirname "$0")/.."
D=${D:-12}
ROUNDS=${ROUNDS:-2}
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
one() {
    local bin=$1 round=$2
    local w port b
    w=$(mktemp -d "${BENCH_TMP:-/tmp}/oxbow-fast.XXXXXX")
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    OXBOW_LOG_LEVEL=warn "$bin" serve --data-dir "$w/data" --listen "127.0.0.1:$port" > "$w/broker.log" 2>&1 &
    b=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
        sleep 0.1
    done
    local C=(--bootstrap "127.0.0.1:$port" --broker-pid "$b" --json --quiet)
    drop
    "$bin" bench produce --topic fast --partitions 6 --record-size 600 --acks all \
        --duration "${D}s" --warmup 3s "${C[@]}" > "$w/p.json"
    drop
    "$bin" bench consume --topic fast --assign "${C[@]}" > "$w/c.json"
    kill "$b"; wait "$b" 2>/dev/null || true
    python3 - "$bin" "$round" "$w/p.json" "$w/c.json" <<'PY'
import json, sys
name, rnd, p, c = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
cin = (p.get("broker") or {}).get("cpu_s_per_gb_in")
cout = (c.get("broker") or {}).get("cpu_s_per_gb_out")
print(f"round {rnd} {name:<22} produce {p['mb_per_s']:>7.1f} MB/s cpu {cin or float('nan'):>6.2f} s/GB in   "
      f"consume {c['mb_per_s']:>7.1f} MB/s cpu {cout or float('nan'):>5.2f} s/GB out")
PY
    rm -rf "$w"
}
for r in $(seq "$ROUNDS"); do
    for bin in "$@"; do one "$bin" "$r"; done
done
