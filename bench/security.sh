#!/usr/bin/env bash
# Produce and fetch over each security protocol, in one run on one broker (compare the ratios: the
# machine is noisy): PLAINTEXT, SASL_PLAINTEXT with PLAIN and with SCRAM-SHA-512, SASL_SSL with
# SCRAM-SHA-512 (a self-signed RSA 2048 certificate). For each: `oxbow bench produce` (600 B
# records, 6 partitions, acks=all) to its own topic, then `oxbow bench consume --assign` of what it
# wrote, with the page cache dropped before each step when this user may. ROUNDS rounds in turn.
# Prints one line per case and step (MB/s, broker CPU s/GB).
#   bench/security.sh [BIN] [SECONDS]      ROUNDS=2 by default
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/oxbow}
D=${2:-10}
ROUNDS=${ROUNDS:-2}
W=$(mktemp -d "${BENCH_TMP:-/tmp}/oxbow-sec.XXXXXX")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
P1=$(free_port); P2=$(free_port); P3=$(free_port)
B=""
trap '[[ -n "$B" ]] && kill "$B" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null
cat > "$W/oxbow.toml" <<TOML
[[server.listeners]]
name = "PLAIN"
listen = "127.0.0.1:$P1"
protocol = "PLAINTEXT"
[[server.listeners]]
name = "SASL"
listen = "127.0.0.1:$P2"
protocol = "SASL_PLAINTEXT"
[[server.listeners]]
name = "SASLSSL"
listen = "127.0.0.1:$P3"
protocol = "SASL_SSL"
[tls]
cert_file = "$W/cert.pem"
key_file = "$W/key.pem"
[security]
sasl_mechanisms = ["PLAIN", "SCRAM-SHA-512"]
[security.plain_users]
bench = "bench-secret"
TOML
OXBOW_LOG_LEVEL=warn "$BIN" serve --config "$W/oxbow.toml" --data-dir "$W/data" > "$W/broker.log" 2>&1 &
B=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$P1") 2>/dev/null; then break; fi
    sleep 0.1
done
"$BIN" user add scram --password scram-secret --mechanism SCRAM-SHA-512 --iterations 4096 \
    --bootstrap "127.0.0.1:$P1" > /dev/null
plain=(-X security.protocol=SASL_PLAINTEXT -X sasl.mechanism=PLAIN -X sasl.username=bench -X sasl.password=bench-secret)
scram=(-X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=scram -X sasl.password=scram-secret)
tls=(-X security.protocol=SASL_SSL -X "ssl.ca.location=$W/cert.pem")
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
run() {
    local name=$1 port=$2 round=$3
    shift 3
    local topic="sec-${name//\//-}-$round"
    local C=(--bootstrap "127.0.0.1:$port" --broker-pid "$B" --json --quiet "$@")
    drop
    "$BIN" bench produce --topic "$topic" --partitions 6 --record-size 600 --acks all \
        --duration "${D}s" --warmup 2s "${C[@]}" > "$W/p.json"
    drop
    "$BIN" bench consume --topic "$topic" --assign "${C[@]}" > "$W/c.json"
    python3 - "$name" "$round" "$W/p.json" "$W/c.json" <<'PY'
import json, sys
name, rnd, p, c = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
cin = (p.get("broker") or {}).get("cpu_s_per_gb_in")
cout = (c.get("broker") or {}).get("cpu_s_per_gb_out")
print(f"round {rnd} {name:<24} produce {p['mb_per_s']:>7.1f} MB/s cpu {cin or float('nan'):>6.2f} s/GB in   "
      f"consume {c['mb_per_s']:>7.1f} MB/s cpu {cout or float('nan'):>5.2f} s/GB out   errors {p['errors']}")
PY
}
for r in $(seq "$ROUNDS"); do
    run PLAINTEXT "$P1" "$r"
    run SASL_PLAINTEXT/PLAIN "$P2" "$r" "${plain[@]}"
    run SASL_PLAINTEXT/SCRAM-512 "$P2" "$r" -X security.protocol=SASL_PLAINTEXT "${scram[@]}"
    run SASL_SSL/SCRAM-512 "$P3" "$r" "${tls[@]}" "${scram[@]}"
done
