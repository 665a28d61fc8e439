#!/usr/bin/env python3
"""Smoke test of a broker with a reference client.

usage: infra_smoke.py <bootstrap> <topic> [confluent|kafka-python] [steps]

steps is a comma-separated subset of create,produce,consume (default: all):
create <topic> (1 partition) with the admin API, produce 5 messages, consume
them back from offset 0 with an assigned (group-less) consumer. Prints
key=value lines: created=, produced=, consumed=, values=.
Exits non-zero on any failure.
"""
import importlib
import sys
import time

N = 5
DEADLINE = 30.0


def confluent_create(bootstrap, topic):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for _, fut in admin.create_topics(
        [NewTopic(topic, num_partitions=1, replication_factor=1)],
        operation_timeout=10,
    ).items():
        fut.result(timeout=15)
    print("created=1")


def confluent_produce(bootstrap, topic):
    from confluent_kafka import Producer

    errors = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    for i in range(N):
        producer.produce(
            topic,
            key=b"k%d" % i,
            value=b"v%d" % i,
            on_delivery=lambda err, _msg: err and errors.append(err),
        )
    left = producer.flush(15)
    if left or errors:
        sys.exit("produce failed: left=%d errors=%r" % (left, errors))
    print("produced=%d" % N)


def confluent_consume(bootstrap, topic):
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "kafkac-infra-smoke",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    end = time.monotonic() + DEADLINE
    while len(values) < N and time.monotonic() < end:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            sys.exit("consume error: %s" % msg.error())
        values.append(msg.value().decode())
    consumer.close()
    return values


def kp_create(bootstrap, topic):
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()
    print("created=1")


def kp_produce(bootstrap, topic):
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=1)
    futures = [producer.send(topic, key=b"k%d" % i, value=b"v%d" % i) for i in range(N)]
    for f in futures:
        f.get(timeout=15)
    producer.close(timeout=10)
    print("produced=%d" % N)


def kp_consume(bootstrap, topic):
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, 0)
    values = []
    end = time.monotonic() + DEADLINE
    while len(values) < N and time.monotonic() < end:
        for records in consumer.poll(timeout_ms=500).values():
            values.extend(r.value.decode() for r in records)
    consumer.close()
    return values


CLIENTS = {
    "confluent": (confluent_create, confluent_produce, confluent_consume),
    "kafka-python": (kp_create, kp_produce, kp_consume),
}


def main():
    if len(sys.argv) not in (3, 4, 5):
        sys.exit(__doc__)
    bootstrap, topic = sys.argv[1], sys.argv[2]
    client = sys.argv[3] if len(sys.argv) > 3 else "confluent"
    steps = (sys.argv[4] if len(sys.argv) > 4 else "create,produce,consume").split(",")
    module, package = {
        "confluent": ("confluent_kafka", "confluent-kafka"),
        "kafka-python": ("kafka", "kafka-python"),
    }[client]
    try:
        importlib.import_module(module)
    except ImportError as e:
        sys.exit("%s is not installed (%s); run scripts/install-deps.sh" % (package, e))
    create, produce, consume = CLIENTS[client]
    if "create" in steps:
        create(bootstrap, topic)
    if "produce" in steps:
        produce(bootstrap, topic)
    if "consume" in steps:
        values = consume(bootstrap, topic)
        print("consumed=%d" % len(values))
        print("values=%s" % ",".join(values))
        if len(values) != N:
            sys.exit("consumed %d of %d messages" % (len(values), N))


if __name__ == "__main__":
    main()
