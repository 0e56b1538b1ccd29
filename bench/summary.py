#!/usr/bin/env python3
"""One line per `oxbow bench --json` result file: rate, MB/s, p99, errors, broker CPU."""
import json
import sys

for path in sys.argv[1:]:
    with open(path) as f:
        r = json.load(f)
    lat = r.get("latency_us") or {}
    b = r.get("broker") or {}
    p99 = f"{lat['p99'] / 1000:.2f} ms" if "p99" in lat else "-"
    print(f"   {r.get('records')} records, {r.get('records_per_s')} rec/s, {r.get('mb_per_s')} MB/s, "
          f"p99 {p99}, errors {r.get('errors')}, broker {b.get('cpu_cores', '-')} cores, "
          f"{b.get('cpu_s_per_gb_in', '-')} CPU-s/GB in, {b.get('cpu_s_per_gb_out', '-')} CPU-s/GB out")
