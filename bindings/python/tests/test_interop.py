"""Interoperability with confluent-kafka (librdkafka) on the same broker: what kafkac's
Python producer writes, confluent-kafka's consumer reads back exactly, and the other way
round."""
import time

import confluent_kafka

import kafkac
from conftest import T, consume_n, group_id
from test_kafka import RECORDS, as_bytes, expected_headers, produce_all


def test_confluent_reads_what_kafkac_wrote(bootstrap, new_topic):
    topic = new_topic()
    reports = produce_all(bootstrap, topic, RECORDS)
    assert all(err is None for _, err, _ in reports)
    c = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group_id(),
                                  "auto.offset.reset": "earliest",
                                  "enable.auto.commit": False})
    try:
        c.subscribe([topic])
        got = []
        deadline = time.monotonic() + T
        while len(got) < len(RECORDS):
            assert time.monotonic() < deadline, f"confluent-kafka read {len(got)} records"
            m = c.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            got.append(m)
        for i, m in enumerate(got):
            r = RECORDS[i]
            assert (m.topic(), m.partition(), m.offset()) == (topic, 0, i)
            assert m.key() == as_bytes(r["key"]), i
            assert m.value() == as_bytes(r["value"]), i
            assert m.headers() == expected_headers(r["headers"]), i
            assert m.timestamp() == (confluent_kafka.TIMESTAMP_CREATE_TIME,
                                     reports[i][2].timestamp()[1])
    finally:
        c.close()


def test_kafkac_reads_what_confluent_wrote(bootstrap, new_topic):
    topic = new_topic()
    p = confluent_kafka.Producer({"bootstrap.servers": bootstrap})
    # confluent-kafka takes headers as a list of (str, bytes or None).
    for r in RECORDS:
        p.produce(topic, value=as_bytes(r["value"]), key=as_bytes(r["key"]), partition=0,
                  headers=expected_headers(r["headers"]))
    assert p.flush(T) == 0
    with kafkac.Consumer({"bootstrap.servers": bootstrap, "group.id": group_id(),
                          "auto.offset.reset": "earliest"}) as c:
        c.subscribe([topic])
        got = consume_n(c, len(RECORDS))
        for i, m in enumerate(got):
            r = RECORDS[i]
            assert m.offset() == i
            assert m.key() == as_bytes(r["key"]), i
            assert m.value() == as_bytes(r["value"]), i
            assert m.headers() == expected_headers(r["headers"]), i


def test_same_surface_as_confluent():
    # The names a confluent-kafka program uses exist, with the same values.
    for name in ["OFFSET_BEGINNING", "OFFSET_END", "OFFSET_STORED", "OFFSET_INVALID",
                 "TIMESTAMP_NOT_AVAILABLE", "TIMESTAMP_CREATE_TIME",
                 "TIMESTAMP_LOG_APPEND_TIME"]:
        assert getattr(kafkac, name) == getattr(confluent_kafka, name), name
    for name in ["_PARTITION_EOF", "_TIMED_OUT", "_QUEUE_FULL", "_MSG_TIMED_OUT",
                 "_UNKNOWN_PARTITION", "_ALL_BROKERS_DOWN", "_TRANSPORT",
                 "UNKNOWN_TOPIC_OR_PART", "OFFSET_OUT_OF_RANGE", "NOT_COORDINATOR",
                 "MSG_SIZE_TOO_LARGE", "NOT_LEADER_FOR_PARTITION", "INVALID_MSG",
                 "INVALID_MSG_SIZE", "STALE_CTRL_EPOCH", "TOPIC_EXCEPTION", "UNKNOWN"]:
        assert getattr(kafkac.KafkaError, name) == getattr(confluent_kafka.KafkaError, name), name
    # Every name the two share stands for the same number.
    for name in dir(confluent_kafka.KafkaError):
        v = getattr(confluent_kafka.KafkaError, name)
        if isinstance(v, int) and not name.startswith("__") and hasattr(kafkac.KafkaError, name):
            assert getattr(kafkac.KafkaError, name) == v, name
    for cls, methods in [(kafkac.Producer, ["produce", "poll", "flush", "purge", "__len__"]),
                         (kafkac.Consumer, ["subscribe", "unsubscribe", "assign", "unassign",
                                            "assignment", "poll", "consume", "commit",
                                            "committed", "position", "seek", "pause",
                                            "resume", "store_offsets", "close"])]:
        for m in methods:
            assert callable(getattr(cls, m)), (cls, m)
