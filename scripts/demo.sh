#!/usr/bin/env bash
# The kafkac demo: starts a local Apache Kafka node (KRaft, from the jars installed from
# Maven Central), then uses the C examples (built against libkafkac) to create a topic,
# produce a few thousand records with each codec, fetch them back, send keyed lines through
# the asynchronous producer, and look up offsets.
# Everything runs on 127.0.0.1 and is stopped at the end.
#
#   scripts/demo.sh            (installs what is missing first: Tansu takes a while once)
#   KAFKAC_SKIP_INSTALL=1 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

KAFKAC_CACHE="${KAFKAC_CACHE:-$HOME/.cache/kafkac}"
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if [ -z "${KAFKAC_SKIP_INSTALL:-}" ]; then
    say "Installing dependencies (skipped when present)"
    scripts/install-deps.sh
fi

say "Building libkafkac (release) and the C examples"
cargo build --release --lib
scripts/build-examples.sh
BIN=target/examples-c

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BOOT="127.0.0.1:$PORT"
WORK=$(mktemp -d)
say "Starting Apache Kafka on $BOOT (one KRaft node; data in $WORK/kafka)"
trap 'kill -9 "$(cat "$WORK/kafka/pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$WORK"' EXIT
time scripts/kafka-single.sh "$WORK/kafka" "$PORT"

say "metadata $BOOT"
$BIN/metadata "$BOOT"

say "create_topic $BOOT demo 3"
$BIN/create_topic "$BOOT" demo 3 1
$BIN/metadata "$BOOT" demo

N=5000
seq 1 $N | sed 's/^/record-/' >"$WORK/in.txt"
p=0
for codec in none gzip snappy lz4 zstd; do
    say "produce $N records to demo/$p with $codec, in batches of 1000"
    $BIN/produce "$BOOT" demo $p -z $codec -b 1000 <"$WORK/in.txt" | tee "$WORK/produced.txt"
    start=$(head -n1 "$WORK/produced.txt" | awk '{print $NF}')
    say "fetch them back from demo/$p, starting at offset $start"
    $BIN/fetch "$BOOT" demo $p $start -c $N >"$WORK/out.txt"
    if cmp -s "$WORK/in.txt" "$WORK/out.txt"; then
        echo "fetched $(wc -l <"$WORK/out.txt") records, identical to what was produced (first: $(head -n1 "$WORK/out.txt"), last: $(tail -n1 "$WORK/out.txt"))"
    else
        echo "MISMATCH between produced and fetched records" >&2
        diff "$WORK/in.txt" "$WORK/out.txt" | head >&2
        exit 1
    fi
    p=$(((p + 1) % 3))
done

say "keyed records: key<TAB>value"
printf 'user-1\tlogged in\nuser-2\tlogged out\n' | $BIN/produce "$BOOT" demo 0 -k | tee "$WORK/produced.txt"
$BIN/fetch "$BOOT" demo 0 "$(awk '{print $NF}' "$WORK/produced.txt")" -k

say "the asynchronous, idempotent producer: 10000 keyed lines, partitioned by key (consistent_random), one delivery report per line"
seq 1 10000 | sed 's/^\(.*\)$/user-\1:event-\1/' >"$WORK/keyed.txt"
$BIN/producer -b "$BOOT" -t demo -k : -D <"$WORK/keyed.txt" >"$WORK/reports.txt"
echo "first reports (partition offset): $(head -n3 "$WORK/reports.txt" | tr '\n' ' ')"
echo "messages per partition: $(awk '{print $1}' "$WORK/reports.txt" | sort | uniq -c | awk '{printf "p%s=%s ", $2, $1}')"
line=$(head -n1 "$WORK/reports.txt")
say "fetch the first of them back from demo/${line%% *} at offset ${line##* }"
$BIN/fetch "$BOOT" demo "${line%% *}" "${line##* }" -c 1 -k

say "offsets of demo/0: earliest is the first record, latest is the next offset to be written"
echo "earliest: $($BIN/offsets "$BOOT" demo 0 earliest)"
echo "latest:   $($BIN/offsets "$BOOT" demo 0 latest)"

say "errors, as a user sees them"
$BIN/fetch "$BOOT" demo 7 0 || true
$BIN/metadata "$BOOT" -X socket.timeout.ms=soon || true

say "Done: Kafka stopped, scratch files removed."
