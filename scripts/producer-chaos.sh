#!/usr/bin/env bash
# The producer under broker crashes, full size (tests/producer_chaos.rs): a three-node
# Apache Kafka cluster, N records sent while the node leading the most partitions is
# killed and restarted K times, then every record is read back and checked, with and
# without idempotence. Prints the figures (rounds, leader moves, the producer's counters,
# delivery latency, what the log holds) and keeps the whole output in target/test-logs/.
#
#   scripts/producer-chaos.sh [test name filter]
#
# KAFKAC_CHAOS_RECORDS (default 1000000) and KAFKAC_CHAOS_LEADER_CHANGES (default 10)
# set N and K; KAFKAC_CHAOS_TIMELINE=1 adds the latency of each second of sending.
# The CI runs the same tests with 100000 records and 2 leader changes.
set -euo pipefail

cd "$(dirname "$0")/.."

export KAFKAC_CHAOS_RECORDS="${KAFKAC_CHAOS_RECORDS:-1000000}"
export KAFKAC_CHAOS_LEADER_CHANGES="${KAFKAC_CHAOS_LEADER_CHANGES:-10}"
filter="${1:-while_leaders_crash}"

mkdir -p target/test-logs
log="target/test-logs/producer-chaos-$(date +%Y%m%d-%H%M%S).log"
echo "producer chaos: $KAFKAC_CHAOS_RECORDS records, $KAFKAC_CHAOS_LEADER_CHANGES leader changes; output in $log"

cargo build --release --test producer_chaos
status=0
cargo test --release --test producer_chaos -- --nocapture --test-threads=1 "$filter" \
    >"$log" 2>&1 || status=$?

grep -E '^chaos: |^test |panicked|^test result' "$log" || true
if [ "$status" -ne 0 ]; then
    echo "producer chaos: FAILED (exit $status); see $log" >&2
fi
exit "$status"
