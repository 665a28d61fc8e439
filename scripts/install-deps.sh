#!/usr/bin/env bash
# Installs everything kafkac's tests need on a Debian 12 machine (as root, or
# with sudo): Debian packages, the Python reference clients, Apache Kafka's
# jars from Maven Central, and the Tansu broker built from crates.io. Safe to
# run again: each step is skipped when already done.
#
#   KAFKAC_CACHE  where Kafka and Tansu go (default: $HOME/.cache/kafkac)
#
# The tests find Kafka's jars in $KAFKAC_CACHE/kafka-<version>/libs (or
# $KAFKAC_KAFKA_LIBS) and Tansu at $KAFKAC_CACHE/tansu-0.6.0/bin/tansu (or
# $KAFKAC_TANSU).
set -euo pipefail

cd "$(dirname "$0")/.."

KAFKAC_CACHE="${KAFKAC_CACHE:-$HOME/.cache/kafkac}"
TANSU_VERSION=0.6.0
TANSU_ROOT="$KAFKAC_CACHE/tansu-$TANSU_VERSION"

log() { printf '==> %s\n' "$*"; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install-deps: not root and no sudo; install Debian packages by hand" >&2
    fi
fi

# --- Debian packages --------------------------------------------------------
# librdkafka-dev  headers + pkg-config file for tests/mock/mock_cluster.c
#                 (librdkafka's mock cluster) and the C interop checks
# kcat            command-line Kafka client: interop tests (tests/interop.rs), and
#                 for poking at brokers by hand
# pkg-config      flags for librdkafka
# clang, llvm     C examples under sanitizers and fuzzing; llvm gives
#                 llvm-symbolizer for readable sanitizer reports
# libclang-rt-14-dev  clang's sanitizer/libFuzzer runtimes (gcc's libasan,
#                 liblsan and libubsan already come with gcc)
# g++             the C++ binding's tests (tests/cpp_binding.rs; clang++ comes with clang)
# openssl         the command-line tool: bench/security.py makes its test CA with it;
#                 tests/tls_kafka.rs makes PKCS#12 keystores with it
APT_PACKAGES=(librdkafka-dev kcat pkg-config clang llvm libclang-rt-14-dev g++ openssl)

# Python's pip, if the interpreter has none (a bare Debian python3).
if ! python3 -m pip --version >/dev/null 2>&1; then
    APT_PACKAGES+=(python3-pip)
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}"
else
    log "Debian packages already installed"
fi

# --- Python reference clients -----------------------------------------------
PIP_ARGS=(--disable-pip-version-check --no-input -q -r tests/requirements.txt)
# A Debian-managed python3 refuses pip installs (PEP 668) unless told to.
if python3 - <<'EOF'
import os, sys, sysconfig
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)
EOF
then
    PIP_ARGS+=(--break-system-packages)
fi
log "pip install -r tests/requirements.txt"
PIP_ROOT_USER_ACTION=ignore python3 -m pip install "${PIP_ARGS[@]}"
python3 -c "import confluent_kafka, kafka, lz4.frame, snappy, zstandard, pytest"

# --- Go (the Go binding: bindings/go/kafkac, tests/go_binding.rs) -------------
# The binding needs Go 1.21 or later (Debian 12's golang-go is 1.19); the machines this
# runs on carry Go in /usr/local/go. Its module has no dependency to download.
export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null 2>&1 || ! command -v gofmt >/dev/null 2>&1; then
    echo "install-deps: go and gofmt (Go 1.21 or later) are needed for the Go binding's tests" >&2
    exit 1
fi
if ! go version | grep -Eq 'go1\.(2[1-9]|[3-9][0-9])'; then
    echo "install-deps: $(go version) is too old for the Go binding (1.21 or later)" >&2
    exit 1
fi
log "$(go version)"

# --- cargo-fuzz ---------------------------------------------------------------
# Runs the libFuzzer targets under fuzz/ (scripts/fuzz-smoke.sh) on the default
# toolchain, stable included: the smoke sets RUSTC_BOOTSTRAP=1 so rustc accepts the
# -Z flags cargo-fuzz passes (-Zsanitizer=address). No nightly toolchain is needed.
if command -v cargo-fuzz >/dev/null 2>&1; then
    log "cargo-fuzz already installed ($(cargo fuzz --version 2>/dev/null || echo unknown version))"
else
    log "cargo install cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# --- Apache Kafka (broker, tools and Java client) from Maven Central ---------
# No release tarball can be downloaded here: scripts/kafka/pom.xml names the
# broker's artifacts and Maven copies them with their runtime dependencies.
# Keep KAFKA_VERSION in step with the pom and tests/common/kafka.rs.
KAFKA_VERSION=4.3.1
KAFKA_LIBS="$KAFKAC_CACHE/kafka-$KAFKA_VERSION/libs"
for tool in java javac mvn; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install-deps: $tool not found (Java 17+ and Maven are needed for Apache Kafka)" >&2
        exit 1
    fi
done
mkdir -p "$KAFKAC_CACHE"
if [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ] && [ -f "$KAFKA_LIBS/.complete" ]; then
    log "Apache Kafka $KAFKA_VERSION already in $KAFKA_LIBS"
else
    log "mvn dependency:copy-dependencies: Apache Kafka $KAFKA_VERSION into $KAFKA_LIBS"
    rm -rf "$KAFKA_LIBS"
    mvn -B -q -f scripts/kafka/pom.xml dependency:copy-dependencies \
        -DoutputDirectory="$KAFKA_LIBS" -DincludeScope=runtime
    touch "$KAFKA_LIBS/.complete"
fi
java -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool version 2>/dev/null | head -n 1 || true
if [ ! -f "$KAFKA_LIBS/kafka-clients-$KAFKA_VERSION.jar" ]; then
    echo "install-deps: $KAFKA_LIBS has no kafka-clients-$KAFKA_VERSION.jar" >&2
    exit 1
fi

# --- Tansu broker -----------------------------------------------------------
mkdir -p "$KAFKAC_CACHE"
(
    # One build at a time, also across concurrent runs of this script.
    flock 9
    if [ -x "$TANSU_ROOT/bin/tansu" ]; then
        log "tansu $TANSU_VERSION already at $TANSU_ROOT/bin/tansu"
    else
        BUILD_LOG="$KAFKAC_CACHE/tansu-build.log"
        log "cargo install tansu $TANSU_VERSION into $TANSU_ROOT (several minutes; log: $BUILD_LOG)"
        if ! cargo install tansu --version "=$TANSU_VERSION" --locked \
            --features dynostore,libsql --root "$TANSU_ROOT" >"$BUILD_LOG" 2>&1; then
            tail -n 60 "$BUILD_LOG" >&2
            echo "install-deps: building tansu failed (full log: $BUILD_LOG)" >&2
            exit 1
        fi
    fi
) 9>"$KAFKAC_CACHE/tansu.lock"
"$TANSU_ROOT/bin/tansu" --version

log "dependencies ready"
