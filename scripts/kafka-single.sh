#!/usr/bin/env bash
# Starts one Apache Kafka node (KRaft, broker and controller in one JVM) on
# 127.0.0.1, from the jars scripts/install-deps.sh put in the cache, and waits
# until it is ready (its log says "Kafka Server started"). For the demo, the
# benchmark and poking by hand; the test suite has its own rig
# (tests/common/kafka.rs).
#
#   scripts/kafka-single.sh DIR PORT
#
# DIR is created (data, logs, config); the JVM's pid is written to DIR/pid.
# Stop it with: kill "$(cat DIR/pid)". Prints "ready 127.0.0.1:PORT" when ready,
# and exits non-zero (with the log's tail) if the node does not come up within
# 60 s.
#   KAFKAC_KAFKA_JVM_OPTS   replaces the JVM options (small heaps by default)
#   KAFKAC_KAFKA_LISTENERS  extra client listeners, "NAME:PORT ..." where NAME is also
#                           the listener's security protocol (SSL, SASL_SSL, ...)
#   KAFKAC_KAFKA_PROPS      a file whose lines are added to server.properties (their
#                           keystores, SASL mechanisms and JAAS configurations)
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 DIR PORT" >&2
    exit 2
fi
DIR=$1
PORT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
KAFKA_VERSION=4.3.1
KAFKAC_CACHE="${KAFKAC_CACHE:-$HOME/.cache/kafkac}"
LIBS="${KAFKAC_KAFKA_LIBS:-$KAFKAC_CACHE/kafka-$KAFKA_VERSION/libs}"
if [ ! -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]; then
    echo "kafka-single: no Kafka $KAFKA_VERSION jars in $LIBS (run scripts/install-deps.sh)" >&2
    exit 1
fi
CPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
read -r -a JVM <<<"${KAFKAC_KAFKA_JVM_OPTS:--Xms64m -Xmx512m -XX:+UseSerialGC -XX:-UsePerfData -Djava.awt.headless=true}"

LISTENERS="" ADVERTISED="" PROTOCOLS=""
for l in ${KAFKAC_KAFKA_LISTENERS:-}; do
    LISTENERS+=",${l%%:*}://127.0.0.1:${l##*:}"
    PROTOCOLS+=",${l%%:*}:${l%%:*}"
done
ADVERTISED=$LISTENERS
mkdir -p "$DIR/logs"
DIR=$(cd "$DIR" && pwd)
cat >"$DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT$LISTENERS
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT$ADVERTISED
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT$PROTOCOLS
log.dirs=$DIR/data
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
group.coordinator.threads=1
log.cleaner.dedupe.buffer.size=4194304
PROPS
if [ -n "${KAFKAC_KAFKA_PROPS:-}" ]; then
    cat "$KAFKAC_KAFKA_PROPS" >>"$DIR/server.properties"
fi
run() {
    "${EXEC[@]}" java "${JVM[@]}" -cp "$LIBS/*" -Dkafkac.demo.node=1 \
        -Dlog4j2.configurationFile="$HERE/kafka/log4j2.properties" -Dkafka.logs.dir="$DIR/logs" "$@"
}
EXEC=()
if [ ! -f "$DIR/data/meta.properties" ]; then
    run kafka.tools.StorageTool format -t "$(run kafka.tools.StorageTool random-uuid)" \
        -c "$DIR/server.properties" >"$DIR/logs/format.log" 2>&1
fi
# exec: the background job is the JVM itself, so $! is the pid to kill.
EXEC=(exec)
run kafka.Kafka "$DIR/server.properties" >"$DIR/logs/stdout.log" 2>&1 &
echo $! >"$DIR/pid"
for _ in $(seq 1 600); do
    if grep -q "Kafka Server started" "$DIR/logs/server.log" 2>/dev/null; then
        echo "ready 127.0.0.1:$PORT"
        exit 0
    fi
    if ! kill -0 "$(cat "$DIR/pid")" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
echo "kafka-single: node did not become ready; $DIR/logs/server.log:" >&2
tail -n 40 "$DIR/logs/server.log" "$DIR/logs/stdout.log" >&2 || true
kill -9 "$(cat "$DIR/pid")" 2>/dev/null || true
exit 1
