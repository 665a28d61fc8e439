#!/usr/bin/env python3
"""Produce or consume an exact set of records with a reference Kafka client.

usage:
  clients.py <tool> produce <bootstrap> <topic> <partition> <codec> <records-file>
  clients.py <tool> consume <bootstrap> <topic> <partition> <offset> <count>

<tool> is `confluent` (confluent-kafka, librdkafka inside) or `kafka-python`.
<codec> is none, gzip, snappy, lz4 or zstd.

Records travel as text, one record a line, fields separated by one space. A
byte string is `-` when null, else `:` followed by its bytes in hex (so `:`
alone is the empty string). Header names are UTF-8 (every client here models
them as text). The records file has one line per record:

  <timestamp ms, or - for none> <key> <value> [<header name> <header value>]...

produce sends the records in order to <topic>/<partition>, waits for every
delivery report and prints one line: `offsets <o1> <o2> ...`, the offset the
broker assigned to each record.

consume reads <count> records starting at <offset> from <topic>/<partition>
(assigned, no consumer group) and prints one line per record:

  <offset> <timestamp type> <timestamp> <key> <value> [<name> <value>]...

with timestamp type 0 for create time and 1 for log append time.

Every run is bounded in time: it exits non-zero after DEADLINE seconds
($KAFKAC_INTEROP_DEADLINE, default 45), and on any client error.
$KAFKAC_KAFKA_PYTHON_API_VERSION (e.g. 2.8.0) pins kafka-python's protocol
version instead of probing the broker.

Limits of the clients themselves: kafka-python's producer can't send a null
header value nor a record with neither key nor value.
"""
import importlib
import os
import signal
import sys
import time

DEADLINE = float(os.environ.get("KAFKAC_INTEROP_DEADLINE", "45"))
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")


def die(msg):
    sys.stderr.write("clients.py: %s\n" % msg)
    sys.stderr.flush()
    os._exit(2)


def on_alarm(_signum, _frame):
    die("timed out after %.0f s" % DEADLINE)


def require(tool):
    """Exits with a message naming what is missing unless `tool` and the codecs it
    needs can be imported (they come from tests/requirements.txt)."""
    module, package = {
        "confluent": ("confluent_kafka", "confluent-kafka"),
        "kafka-python": ("kafka", "kafka-python"),
    }[tool]
    try:
        importlib.import_module(module)
    except ImportError as e:
        die("%s is not installed (%s); run scripts/install-deps.sh" % (package, e))
    if tool == "kafka-python":
        from kafka import codec

        missing = [c for c in CODECS[1:] if not getattr(codec, "has_" + c)()]
        if missing:
            die(
                "kafka-python lacks the libraries for %s; run scripts/install-deps.sh"
                % ", ".join(missing)
            )


def unhex(field):
    if field == "-":
        return None
    if not field.startswith(":"):
        raise ValueError("bad byte field %r" % field)
    return bytes.fromhex(field[1:])


def tohex(b):
    if b is None:
        return "-"
    if isinstance(b, str):
        b = b.encode("utf-8")
    return ":" + bytes(b).hex()


def load_records(path):
    out = []
    with open(path) as f:
        for line in f:
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 3 or len(fields) % 2 == 0:
                raise ValueError("bad record line %r" % line)
            hdrs = fields[3:]
            out.append(
                {
                    "timestamp": None if fields[0] == "-" else int(fields[0]),
                    "key": unhex(fields[1]),
                    "value": unhex(fields[2]),
                    "headers": [
                        (unhex(hdrs[i]).decode("utf-8"), unhex(hdrs[i + 1]))
                        for i in range(0, len(hdrs), 2)
                    ],
                }
            )
    return out


def record_line(offset, ts_type, ts, key, value, headers):
    fields = [str(offset), str(ts_type), str(ts), tohex(key), tohex(value)]
    for k, v in headers or []:
        fields += [tohex(k), tohex(v)]
    return " ".join(fields)


def remaining(end):
    return max(0.0, end - time.monotonic())


# ---------------------------------------------------------------------------
# confluent-kafka (librdkafka)
# ---------------------------------------------------------------------------


def confluent_produce(bootstrap, topic, partition, codec, records):
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "compression.type": codec,
            # One request for the whole set, in order, no retries reordering it.
            "linger.ms": 50,
            "batch.num.messages": 100000,
            "max.in.flight.requests.per.connection": 1,
            "enable.idempotence": False,
            "acks": "all",
            "message.timeout.ms": int(DEADLINE * 1000),
            "socket.timeout.ms": 10000,
        }
    )
    offsets = [None] * len(records)
    errors = []

    def report(i):
        def cb(err, msg):
            if err is not None:
                errors.append("record %d: %s" % (i, err))
            else:
                offsets[i] = msg.offset()

        return cb

    for i, r in enumerate(records):
        kwargs = {}
        if r["timestamp"] is not None:
            kwargs["timestamp"] = r["timestamp"]
        if r["headers"]:
            kwargs["headers"] = r["headers"]
        producer.produce(
            topic,
            value=r["value"],
            key=r["key"],
            partition=partition,
            on_delivery=report(i),
            **kwargs
        )
    end = time.monotonic() + DEADLINE
    left = producer.flush(remaining(end))
    if left or errors:
        die("produce failed: %d undelivered, errors %r" % (left, errors))
    return offsets


def confluent_consume(bootstrap, topic, partition, offset, count):
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "kafkac-interop",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "check.crcs": True,
            "socket.timeout.ms": 10000,
        }
    )
    consumer.assign([TopicPartition(topic, partition, offset)])
    out = []
    end = time.monotonic() + DEADLINE
    while len(out) < count and time.monotonic() < end:
        msg = consumer.poll(min(0.5, remaining(end)))
        if msg is None:
            continue
        if msg.error():
            die("consume error: %s" % msg.error())
        ts_type, ts = msg.timestamp()
        # librdkafka: 1 create time, 2 log append time (0: not available).
        out.append(
            record_line(
                msg.offset(),
                {1: 0, 2: 1}.get(ts_type, -1),
                ts,
                msg.key(),
                msg.value(),
                msg.headers(),
            )
        )
    consumer.close()
    return out


# ---------------------------------------------------------------------------
# kafka-python
# ---------------------------------------------------------------------------


def kp_common(bootstrap):
    conf = {
        "bootstrap_servers": bootstrap,
        "request_timeout_ms": 15000,
    }
    api = os.environ.get("KAFKAC_KAFKA_PYTHON_API_VERSION")
    if api:
        conf["api_version"] = tuple(int(x) for x in api.split("."))
    return conf


def kp_produce(bootstrap, topic, partition, codec, records):
    from kafka import KafkaProducer

    producer = KafkaProducer(
        compression_type=None if codec == "none" else codec,
        acks="all",
        linger_ms=50,
        batch_size=16 << 20,
        max_request_size=16 << 20,
        max_in_flight_requests_per_connection=1,
        retries=0,
        max_block_ms=int(DEADLINE * 1000),
        **kp_common(bootstrap)
    )
    futures = [
        producer.send(
            topic,
            key=r["key"],
            value=r["value"],
            headers=r["headers"],
            partition=partition,
            timestamp_ms=r["timestamp"],
        )
        for r in records
    ]
    end = time.monotonic() + DEADLINE
    producer.flush(timeout=remaining(end))
    offsets = [f.get(timeout=remaining(end)).offset for f in futures]
    producer.close(timeout=5)
    return offsets


def kp_consume(bootstrap, topic, partition, offset, count):
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        enable_auto_commit=False,
        check_crcs=True,
        fetch_max_wait_ms=200,
        **kp_common(bootstrap)
    )
    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    consumer.seek(tp, offset)
    out = []
    end = time.monotonic() + DEADLINE
    while len(out) < count and time.monotonic() < end:
        polled = consumer.poll(timeout_ms=int(min(500, remaining(end) * 1000)))
        for recs in polled.values():
            for m in recs:
                out.append(
                    record_line(
                        m.offset,
                        m.timestamp_type,
                        m.timestamp,
                        m.key,
                        m.value,
                        m.headers,
                    )
                )
    consumer.close()
    return out


TOOLS = {
    "confluent": (confluent_produce, confluent_consume),
    "kafka-python": (kp_produce, kp_consume),
}


def main(argv):
    if len(argv) != 8 or argv[1] not in TOOLS or argv[2] not in ("produce", "consume"):
        sys.stderr.write(__doc__)
        return 64
    tool, mode, bootstrap, topic = argv[1], argv[2], argv[3], argv[4]
    partition = int(argv[5])
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(DEADLINE) + 10)
    require(tool)
    produce, consume = TOOLS[tool]
    if mode == "produce":
        codec = argv[6]
        if codec not in CODECS:
            die("unknown codec %r" % codec)
        offsets = produce(bootstrap, topic, partition, codec, load_records(argv[7]))
        sys.stdout.write("offsets %s" % " ".join(str(o) for o in offsets))
    else:
        offset, count = int(argv[6]), int(argv[7])
        recs = consume(bootstrap, topic, partition, offset, count)
        if len(recs) < count:
            die("consumed %d of %d records" % (len(recs), count))
        sys.stdout.write("".join(r + "\n" for r in recs[:count]).rstrip("\n"))
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
