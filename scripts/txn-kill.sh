#!/usr/bin/env bash
# The long run of tests/txn_kill.rs: examples-c/txn.c copies 1,000,000 numbered records
# in transactions of 1,000 against Apache Kafka 4.3.1 while the copying process is
# killed with SIGKILL at random points (20 times) and started again; a read_committed
# reader of the output must then see every record exactly once, in order. Prints the
# figures (records, kills, transactions committed and aborted, duplicates, lost, times).
#
#   scripts/txn-kill.sh [RECORDS [KILLS [VERSION]]]
#
# VERSION is the transaction protocol the cluster is formatted with (2, the default, or
# 1). KAFKAC_TXN_KILL_SEED repeats a run (each run prints its seed).
set -euo pipefail
cd "$(dirname "$0")/.."
export KAFKAC_TXN_KILL_RECORDS="${1:-1000000}"
export KAFKAC_TXN_KILLS="${2:-20}"
export KAFKAC_TXN_KILL_VERSION="${3:-2}"
exec cargo test --release --test txn_kill -- --nocapture
