#!/usr/bin/env bash
# The lake's landing rate (rows/s and rows per broker CPU second for JSON), commit durations and
# freshness (acknowledged produce to landed in the Delta table), on one binary:
#   bench/lake.sh target/release/oxbow        N=1000000 records, FRESH=100 freshness samples
# Uses the venv the test command creates (confluent-kafka for the freshness producer).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python bench/lake.py "$@"
