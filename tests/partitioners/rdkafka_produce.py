"""Where librdkafka's producer (confluent-kafka's bundled librdkafka) puts each record
when the application leaves the partition unassigned.

    rdkafka_produce.py BOOTSTRAP NAMES TOPICS STICKY_LINGER_MS  < keys

NAMES and TOPICS are comma-separated lists (partitioner names; existing topics). Keys,
one a line: `null` for a NULL key, else the key in hex (an empty line is the empty key).

For each partitioner, one producer (`partitioner=<name>`,
`sticky.partitioning.linger.ms=STICKY_LINGER_MS`) produces every key, in order, to each
topic, after one record with a key has been delivered there (so the topic's metadata and
leaders are known before the records that count). Output: the line
`librdkafka <version>`, then per partitioner and topic the line
`<name> <topic> <partition of key 0> <partition of key 1> ...` from the delivery
reports. A failed delivery fails the script.
"""

import sys
import time

from confluent_kafka import Producer, libversion

DEADLINE_S = 60


def main():
    bootstrap, names, topics, linger = sys.argv[1:5]
    keys = []
    for line in sys.stdin.read().splitlines():
        keys.append(None if line == "null" else bytes.fromhex(line))
    print("librdkafka %s" % libversion()[0], flush=True)
    for name in names.split(","):
        producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "partitioner": name,
                "sticky.partitioning.linger.ms": int(linger),
                "linger.ms": 5,
                "queue.buffering.max.messages": 1000000,
                "message.timeout.ms": DEADLINE_S * 1000,
                "log_level": 3,
            }
        )
        for topic in topics.split(","):
            print("%s %s %s" % (name, topic, " ".join(map(str, run(producer, topic, keys)))), flush=True)
        producer.flush(10)


def run(producer, topic, keys):
    parts = [None] * len(keys)
    failures = []

    def delivered(err, msg):
        if err is not None:
            failures.append("%s: %s" % (msg.value(), err))
        elif msg.value() != b"warm-up":
            parts[int(msg.value())] = msg.partition()

    producer.produce(topic, key=b"warm-up", value=b"warm-up", on_delivery=delivered)
    settle(producer, topic, failures)
    for i, key in enumerate(keys):
        producer.produce(topic, key=key, value=str(i).encode(), on_delivery=delivered)
        producer.poll(0)
    settle(producer, topic, failures)
    missing = sum(1 for p in parts if p is None)
    if missing:
        sys.exit("%s: %d records without a delivery report" % (topic, missing))
    return parts


def settle(producer, topic, failures):
    deadline = time.monotonic() + DEADLINE_S
    while producer.flush(1) > 0:
        if time.monotonic() > deadline:
            sys.exit("%s: records still undelivered after %ds" % (topic, DEADLINE_S))
    if failures:
        sys.exit("%s: %d deliveries failed, first: %s" % (topic, len(failures), failures[0]))


if __name__ == "__main__":
    main()
