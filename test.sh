#!/usr/bin/env bash
# Runs every test: the Rust workspace (unit + integration tests against the real binary), then the
# Python client tests (kafka-python, confluent-kafka) and the Node client tests (kafkajs,
# node-postgres) against target/debug/oxbow. Exits non-zero if anything fails.
set -uo pipefail
cd "$(dirname "$0")"

KAFKA_PYTHON_VERSION=3.0.12
CONFLUENT_KAFKA_VERSION=2.16.1
PYTEST_VERSION=9.2.0
PYTEST_TIMEOUT_VERSION=2.4.0
AVRO_VERSION=1.12.1
AIOSMTPD_VERSION=1.4.6
# The lake tests read the Delta tables with delta-rs's Python package and pyarrow.
DELTALAKE_VERSION=1.6.6
PYARROW_VERSION=26.0.1
PSYCOPG_VERSION=3.3.9
MOTO_VERSION=5.2.6
SQLALCHEMY_VERSION=2.0.59

# Backstops so that a hang fails its phase instead of eating CI's 90 minutes (the Rust harness
# also aborts a test whose broker outlives OXBOW_TEST_TIMEOUT_SECS, pytest-timeout a Python test).
BUILD_PHASE_LIMIT=3000
RUST_PHASE_LIMIT=1800
PHASE_LIMIT=900

status=0
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
rust_result="not run"
python_result="not run"
node_result="not run"

# The TLS tests (Rust, Python, Node) make their certificates with the openssl command.
if ! command -v openssl >/dev/null; then
    echo "==> installing openssl (the TLS tests make certificates with it)"
    if ! (apt-get update -qq && apt-get install -y -qq openssl); then
        echo "cannot install openssl"
        exit 1
    fi
fi

# The metrics tests scrape the broker with a real Prometheus and send alerts to a real
# Alertmanager (Debian's packages).
# The old-client tests build programs with Debian's sarama (at its default, pre-0.10 protocol
# version) and segmentio kafka-go 0.2.
if ! command -v go >/dev/null || [ ! -d /usr/share/gocode/src/github.com/Shopify/sarama ] \
        || [ ! -d /usr/share/gocode/src/github.com/segmentio/kafka-go ]; then
    echo "==> installing golang-go, golang-github-shopify-sarama-dev, golang-github-segmentio-kafka-go-dev (the Go client tests build with them)"
    if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go golang-github-shopify-sarama-dev golang-github-segmentio-kafka-go-dev); then
        echo "cannot install go and sarama"
        exit 1
    fi
fi

# Burrow (Debian's 1.2, which needs a local ZooKeeper) watches the broker's consumer groups in
# the Burrow test.
if ! command -v Burrow >/dev/null || [ ! -x /usr/share/zookeeper/bin/zkServer.sh ]; then
    echo "==> installing burrow and zookeeper (the Burrow test runs them)"
    if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends burrow zookeeper); then
        echo "cannot install burrow and zookeeper"
        exit 1
    fi
fi

if ! command -v prometheus >/dev/null || ! command -v prometheus-alertmanager >/dev/null; then
    echo "==> installing prometheus and prometheus-alertmanager (the metrics tests run real ones)"
    if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager); then
        echo "cannot install prometheus"
        exit 1
    fi
fi

if ! command -v psql >/dev/null; then
    echo "==> installing postgresql-client (the SQL tests run psql)"
    if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-client); then
        echo "cannot install postgresql-client"
        exit 1
    fi
fi

# The JDBC test compiles a Java program against PostgreSQL's JDBC driver (Debian's).
if ! command -v javac >/dev/null || [ ! -f /usr/share/java/postgresql.jar ]; then
    echo "==> installing default-jdk-headless and libpostgresql-jdbc-java (the JDBC test runs them)"
    if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends default-jdk-headless libpostgresql-jdbc-java); then
        echo "cannot install a JDK and the PostgreSQL JDBC driver"
        exit 1
    fi
fi

if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    python3 -m venv .venv || { echo "cannot create .venv"; exit 1; }
fi
echo "==> installing kafka-python==$KAFKA_PYTHON_VERSION confluent-kafka[avro,json,protobuf,schemaregistry]==$CONFLUENT_KAFKA_VERSION pytest==$PYTEST_VERSION pytest-timeout==$PYTEST_TIMEOUT_VERSION avro==$AVRO_VERSION aiosmtpd==$AIOSMTPD_VERSION deltalake==$DELTALAKE_VERSION pyarrow==$PYARROW_VERSION psycopg[binary]==$PSYCOPG_VERSION moto[server]==$MOTO_VERSION sqlalchemy==$SQLALCHEMY_VERSION"
if ! .venv/bin/pip install --quiet --disable-pip-version-check \
        "kafka-python==$KAFKA_PYTHON_VERSION" "confluent-kafka[avro,json,protobuf,schemaregistry]==$CONFLUENT_KAFKA_VERSION" \
        "pytest==$PYTEST_VERSION" "pytest-timeout==$PYTEST_TIMEOUT_VERSION" "avro==$AVRO_VERSION" \
        "aiosmtpd==$AIOSMTPD_VERSION" "deltalake==$DELTALAKE_VERSION" "pyarrow==$PYARROW_VERSION" \
        "psycopg[binary]==$PSYCOPG_VERSION" "moto[server]==$MOTO_VERSION" "sqlalchemy==$SQLALCHEMY_VERSION"; then
    echo "pip install failed"
    exit 1
fi

# The build first, under a limit of its own, so a slow fresh build (DataFusion, delta-rs and
# librdkafka from source) is reported as such and never eats the tests' time.
echo "==> cargo test --workspace --no-run (build)"
build_started=$(date +%s)
timeout --kill-after=20 $BUILD_PHASE_LIMIT cargo test --workspace --no-run 2>&1 | tee "$logs/build.log"
build_rc=${PIPESTATUS[0]}
echo "    build: $(( $(date +%s) - build_started )) s"

echo "==> cargo test --workspace --no-fail-fast"
if [ "$build_rc" -ne 0 ]; then
    echo "the workspace did not build" | tee "$logs/cargo.log"
    false
else
    timeout --kill-after=20 $RUST_PHASE_LIMIT cargo test --workspace --no-fail-fast 2>&1 | tee "$logs/cargo.log"
    [ "${PIPESTATUS[0]}" -eq 0 ]
fi
if [ $? -eq 0 ]; then
    rust_result="passed"
else
    rust_result="FAILED"
    status=1
fi

# Fault injection (I/O errors, ENOSPC, a cleaner killed mid-swap) needs the `failpoints` feature.
# Selected with --workspace so the dependencies keep the features the workspace build gave them
# (with -p alone cargo resolves them anew and rebuilds tokio and everything above it).
echo "==> cargo test --workspace --features oxbow-storage/failpoints (fault injection)"
timeout --kill-after=20 $PHASE_LIMIT cargo test --workspace --features oxbow-storage/failpoints --test failpoints --test cleaner_failpoints 2>&1 | tee -a "$logs/cargo.log"
if [ "${PIPESTATUS[0]}" -ne 0 ]; then
    rust_result="FAILED"
    status=1
fi

# The binary the client tests run is the one the Rust phase built (`cargo build -p oxbow` would
# build it again with the features the workspace's tests do not share, minutes on 2 cores).
echo "==> cargo test --workspace --no-run (target/debug/oxbow)"
if cargo test --workspace --no-run; then
    echo "==> pytest tests/python"
    timeout --kill-after=20 $PHASE_LIMIT .venv/bin/pytest tests/python -q --timeout=300 --timeout-method=thread 2>&1 | tee "$logs/pytest.log"
    rc=${PIPESTATUS[0]}
    if [ $rc -eq 0 ]; then
        python_result="passed"
    elif [ $rc -eq 5 ]; then
        python_result="FAILED (no tests collected)"
        status=1
    else
        python_result="FAILED"
        status=1
    fi

    # Node client tests: kafkajs and pg pinned by tests/node/package-lock.json.
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "node/npm not found: the Node tests need Node.js 18+ with npm"
        node_result="FAILED (node/npm missing)"
        status=1
    elif ! (cd tests/node && npm ci --no-audit --no-fund --loglevel=error); then
        echo "npm ci in tests/node failed"
        node_result="FAILED (npm ci)"
        status=1
    else
        echo "==> node --test tests/node"
        (cd tests/node && timeout --kill-after=20 $PHASE_LIMIT node --test) 2>&1 | tee "$logs/node.log"
        if [ "${PIPESTATUS[0]}" -eq 0 ]; then
            node_result="passed"
        else
            node_result="FAILED"
            status=1
        fi
    fi
else
    python_result="FAILED (build)"
    node_result="FAILED (build)"
    status=1
fi

# Totals over the three runners.
rust_passed=$(grep -E '^test result:' "$logs/cargo.log" 2>/dev/null | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
rust_failed=$(grep -E '^test result:' "$logs/cargo.log" 2>/dev/null | grep -oE '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
py_line=$(grep -E '[0-9]+ (passed|failed|error)' "$logs/pytest.log" 2>/dev/null | tail -1)
py_passed=$(echo "$py_line" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
py_failed=$(echo "$py_line" | grep -oE '[0-9]+ (failed|errors?)' | awk '{s+=$1} END {print s+0}')
node_passed=$(grep -E '^# pass [0-9]+' "$logs/node.log" 2>/dev/null | tail -1 | awk '{print $3+0}')
node_failed=$(grep -E '^# (fail|cancelled) [0-9]+' "$logs/node.log" 2>/dev/null | awk '{s+=$3} END {print s+0}')
total_passed=$(( ${rust_passed:-0} + ${py_passed:-0} + ${node_passed:-0} ))
total_failed=$(( ${rust_failed:-0} + ${py_failed:-0} + ${node_failed:-0} ))
if [ $status -ne 0 ] && [ $total_failed -eq 0 ]; then
    total_failed=1  # a build or setup failure counts as a failure
fi

echo
echo "==> summary"
echo "    rust (cargo test --workspace): $rust_result"
echo "    python (pytest tests/python):  $python_result"
echo "    node (node --test tests/node):  $node_result"
if [ $status -eq 0 ]; then
    echo "    all tests passed"
else
    echo "    SOME TESTS FAILED"
fi
echo "total: $total_passed passed, $total_failed failed"
exit $status
