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
# (Tansu and librdkafka's mock cluster; see tests/common/mod.rs).
step "cargo test --release"
cargo test --release

# C examples under sanitizers: tests/c_examples.rs, run by cargo test above
# (with the header and symbol tests, tests/header.rs and tests/symbols.rs).

# fuzz smoke
# Each libFuzzer target for FUZZ_SECONDS (default 30) from the committed seeds.
step "fuzz smoke"
scripts/fuzz-smoke.sh
