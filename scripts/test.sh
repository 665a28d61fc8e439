#!/usr/bin/env bash
# kafkac's full test run (what CI runs after scripts/install-deps.sh).
# Stops at the first failure.
set -euo pipefail

cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

# Unit tests, and integration tests against real brokers on 127.0.0.1
# (Apache Kafka, Tansu and librdkafka's mock cluster; see tests/common/).
step "cargo test --release"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --release 2>&1 | tee "$log"

# Every broker, peer and helper the tests started must be gone: they die with
# their test binary (PDEATHSIG) and their directories are removed by a janitor
# that outlives it by a second. Anything still running from the cache (Kafka's
# JVMs, Tansu, the Java peer) or from target/ (the mock cluster) is a leak.
step "no test process left behind"
cache="${KAFKAC_CACHE:-$HOME/.cache/kafkac}"
pattern="($cache|$PWD/target)/"
for _ in $(seq 1 30); do
    pgrep -f "$pattern" >/dev/null || break
    sleep 0.5
done
if pgrep -f "$pattern" >/dev/null; then
    echo "test.sh: processes left running after the tests:" >&2
    pgrep -af "$pattern" >&2
    exit 1
fi
if compgen -G "$PWD/target/tmp/kafka*" >/dev/null; then
    echo "test.sh: Kafka cluster directories left behind:" >&2
    ls -d "$PWD"/target/tmp/kafka* >&2
    exit 1
fi
echo "none"

# C examples under sanitizers: tests/c_examples.rs, run by cargo test above
# (with the header and symbol tests, tests/header.rs and tests/symbols.rs).

# fuzz smoke
# Each libFuzzer target for FUZZ_SECONDS (default 30) from the committed seeds.
step "fuzz smoke"
scripts/fuzz-smoke.sh

# One closing line for the whole run: the sum of cargo test's result lines.
awk '/^test result: / { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
