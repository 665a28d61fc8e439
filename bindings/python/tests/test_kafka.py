"""The producer and the consumer against a real Apache Kafka ($KAFKAC_BOOTSTRAP)."""
import time

import pytest

import kafkac
from conftest import T, consume_n, group_id
from kafkac import KafkaError, KafkaException, TopicPartition

#: Every kind of record the binding must carry unchanged: null vs empty key and value,
#: headers (repeated keys, null and empty values, in order), binary bytes, str.
RECORDS = [
    dict(key=b"k0", value=b"v0", headers=None),
    dict(key=None, value=b"no key", headers=None),
    dict(key=b"", value=b"empty key", headers=None),
    dict(key=b"null value", value=None, headers=None),
    dict(key=b"empty value", value=b"", headers=None),
    dict(key=None, value=None, headers=None),
    dict(key=b"h", value=b"with headers",
         headers=[("a", b"1"), ("b", None), ("a", b"2"), ("empty", b"")]),
    dict(key=b"\x00\xff", value=bytes(range(256)), headers={"dict": b"form"}),
    dict(key="str key", value="str value \u00e9", headers=[("s", "text")]),
]


def as_bytes(v):
    return v.encode() if isinstance(v, str) else v


def expected_headers(h):
    if not h:
        return None
    items = h.items() if isinstance(h, dict) else h
    return [(k, as_bytes(v)) for k, v in items]


def produce_all(bootstrap, topic, records, **conf):
    reports = []
    with kafkac.Producer({"bootstrap.servers": bootstrap, **conf}) as p:
        for i, r in enumerate(records):
            p.produce(topic, r["value"], r["key"], partition=0, headers=r["headers"],
                      on_delivery=lambda err, msg, i=i: reports.append((i, err, msg)))
        assert p.flush(T) == 0
        assert len(p) == 0
    return reports


def test_produce_reports_offsets_and_consume_back_exactly(bootstrap, new_topic):
    topic = new_topic()
    before = int(time.time() * 1000)
    reports = produce_all(bootstrap, topic, RECORDS)
    # One report per record, in order, delivered, with consecutive offsets from 0.
    assert [i for i, _, _ in reports] == list(range(len(RECORDS)))
    for i, err, msg in reports:
        assert err is None, err
        assert msg.error() is None
        assert msg.topic() == topic and msg.partition() == 0 and msg.offset() == i
        assert msg.key() == as_bytes(RECORDS[i]["key"])
        assert msg.value() == as_bytes(RECORDS[i]["value"])
        assert msg.status() == kafkac.PERSISTED
        tstype, ts = msg.timestamp()
        assert tstype == kafkac.TIMESTAMP_CREATE_TIME and ts >= before - 1000

    gid = group_id()
    with kafkac.Consumer({"bootstrap.servers": bootstrap, "group.id": gid,
                          "auto.offset.reset": "earliest",
                          "enable.auto.commit": False}) as c:
        c.subscribe([topic])
        got = consume_n(c, len(RECORDS))
        for i, m in enumerate(got):
            r = RECORDS[i]
            assert (m.topic(), m.partition(), m.offset()) == (topic, 0, i)
            assert m.key() == as_bytes(r["key"]), i
            assert m.value() == as_bytes(r["value"]), i
            assert m.headers() == expected_headers(r["headers"]), i
            tstype, ts = m.timestamp()
            assert tstype == kafkac.TIMESTAMP_CREATE_TIME
            assert ts == reports[i][2].timestamp()[1]
            assert len(m) == len(as_bytes(r["value"]) or b"")
        # Nothing more.
        assert c.poll(0.5) is None
        assert c.assignment() == [TopicPartition(topic, 0)]


def test_null_and_empty_are_told_apart(bootstrap, new_topic):
    topic = new_topic()
    produce_all(bootstrap, topic, [dict(key=None, value=None, headers=None),
                                   dict(key=b"", value=b"", headers=[("k", b""), ("n", None)])])
    with kafkac.Consumer({"bootstrap.servers": bootstrap, "group.id": group_id()}) as c:
        c.assign([TopicPartition(topic, 0, kafkac.OFFSET_BEGINNING)])
        a, b = consume_n(c, 2)
        assert a.key() is None and a.value() is None and a.headers() is None
        assert b.key() == b"" and b.value() == b"" and b.headers() == [("k", b""), ("n", None)]


def test_commit_and_committed(bootstrap, new_topic):
    topic = new_topic()
    produce_all(bootstrap, topic, [dict(key=None, value=b"%d" % i, headers=None) for i in range(10)])
    gid = group_id()
    conf = {"bootstrap.servers": bootstrap, "group.id": gid, "auto.offset.reset": "earliest",
            "enable.auto.commit": False}
    tp = TopicPartition(topic, 0)
    with kafkac.Consumer(conf) as c:
        c.subscribe([topic])
        msgs = consume_n(c, 4)
        assert [m.value() for m in msgs] == [b"0", b"1", b"2", b"3"]
        # Nothing committed yet.
        (before,) = c.committed([tp], timeout=T)
        assert before.offset == kafkac.OFFSET_INVALID and before.error is None
        # The offset after a message.
        assert c.commit(message=msgs[1]) == [TopicPartition(topic, 0, 2)]
        assert c.committed([tp], timeout=T)[0].offset == 2
        # Explicit offsets.
        c.commit(offsets=[TopicPartition(topic, 0, 3)])
        assert c.committed([tp], timeout=T)[0].offset == 3
        # What the polls handed out (the four records).
        assert c.commit() is None
        assert c.committed([tp], timeout=T)[0].offset == 4
        assert c.position([tp])[0].offset == 4
    # A new member of the group starts at the committed offset.
    with kafkac.Consumer(conf) as c:
        c.subscribe([topic])
        (m,) = consume_n(c, 1)
        assert m.offset() == 4 and m.value() == b"4"


def test_async_commit_reports_to_on_commit(bootstrap, new_topic):
    topic = new_topic()
    produce_all(bootstrap, topic, [dict(key=None, value=b"x", headers=None)] * 3)
    results = []
    conf = {"bootstrap.servers": bootstrap, "group.id": group_id(),
            "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "on_commit": lambda err, parts: results.append((err, parts))}
    with kafkac.Consumer(conf) as c:
        c.subscribe([topic])
        consume_n(c, 3)
        assert c.commit(asynchronous=True) is None
        deadline = time.monotonic() + T
        while not results and time.monotonic() < deadline:
            assert c.poll(0.2) is None
        assert len(results) == 1
        err, parts = results[0]
        assert err is None
        assert [(p.topic, p.partition, p.offset) for p in parts] == [(topic, 0, 3)]


def test_seek_and_position_on_assigned_partition(bootstrap, new_topic):
    topic = new_topic()
    produce_all(bootstrap, topic, [dict(key=None, value=b"%d" % i, headers=None) for i in range(5)])
    with kafkac.Consumer({"bootstrap.servers": bootstrap, "group.id": group_id()}) as c:
        c.assign([TopicPartition(topic, 0, 3)])
        (m,) = consume_n(c, 1)
        assert m.value() == b"3"
        c.seek(TopicPartition(topic, 0, 1))
        assert [m.value() for m in consume_n(c, 2)] == [b"1", b"2"]
        assert c.position([TopicPartition(topic, 0)])[0].offset == 3
        other = c.position([TopicPartition(topic, 7)])[0]
        assert other.error is not None and other.error.code() == KafkaError._UNKNOWN_PARTITION
        with pytest.raises(KafkaException) as ei:
            c.seek(TopicPartition(topic, 7, 0))
        assert ei.value.error.code() == KafkaError._UNKNOWN_PARTITION


def test_rebalance_callbacks(bootstrap, new_topic):
    topic = new_topic(2)
    events = []
    with kafkac.Consumer({"bootstrap.servers": bootstrap, "group.id": group_id()}) as c:
        c.subscribe([topic], on_assign=lambda cons, parts: events.append(("assign", parts)),
                    on_revoke=lambda cons, parts: events.append(("revoke", parts)))
        deadline = time.monotonic() + T
        while not events and time.monotonic() < deadline:
            c.poll(0.2)
        assert events and events[0][0] == "assign"
        assert sorted(events[0][1]) == [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        c.close()
    assert events[-1][0] == "revoke"


def test_on_assign_may_choose_offsets_with_assign(bootstrap, new_topic):
    topic = new_topic()
    produce_all(bootstrap, topic, [dict(key=None, value=b"%d" % i, headers=None) for i in range(5)])

    def on_assign(consumer, parts):
        for p in parts:
            p.offset = 2
        consumer.assign(parts)

    with kafkac.Consumer({"bootstrap.servers": bootstrap, "group.id": group_id(),
                          "auto.offset.reset": "earliest"}) as c:
        c.subscribe([topic], on_assign=on_assign)
        assert [m.value() for m in consume_n(c, 3)] == [b"2", b"3", b"4"]


def test_on_assign_taking_over_pauses_what_it_leaves_out(bootstrap, new_topic):
    topic = new_topic(2)
    with kafkac.Producer({"bootstrap.servers": bootstrap}) as p:
        for part in (0, 1):
            for i in range(3):
                p.produce(topic, b"%d-%d" % (part, i), partition=part)
        assert p.flush(T) == 0
    events = []

    def on_assign(consumer, parts):
        events.append(("assign", sorted(tp.partition for tp in parts)))
        consumer.assign([TopicPartition(topic, 0, 1)])

    def on_revoke(consumer, parts):
        events.append(("revoke", sorted(tp.partition for tp in parts)))
        consumer.unassign()

    with kafkac.Consumer({"bootstrap.servers": bootstrap, "group.id": group_id(),
                          "auto.offset.reset": "earliest"}) as c:
        c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
        assert [m.value() for m in consume_n(c, 2)] == [b"0-1", b"0-2"]
        # Partition 1 was left out: assigned, paused, nothing from it.
        assert c.consume(10, 1.0) == []
        assert sorted(tp.partition for tp in c.assignment()) == [0, 1]
        c.resume([TopicPartition(topic, 1)])
        assert [m.value() for m in consume_n(c, 3)] == [b"1-0", b"1-1", b"1-2"]
        c.close()
    assert events == [("assign", [0, 1]), ("revoke", [0, 1])]


class Boom(Exception):
    pass


def test_delivery_callback_raising(bootstrap, new_topic):
    topic = new_topic()
    seen = []

    def cb(err, msg):
        seen.append(msg.offset())
        if msg.offset() == 1:
            raise Boom("from the callback")

    p = kafkac.Producer({"bootstrap.servers": bootstrap, "linger.ms": 50})
    for i in range(3):
        p.produce(topic, b"%d" % i, partition=0, on_delivery=cb)
    # The exception comes out of flush, after the library returned; the other reports of
    # the call were still served.
    with pytest.raises(Boom, match="from the callback"):
        p.flush(T)
    assert p.flush(T) == 0
    assert sorted(seen) == [0, 1, 2]
    # The producer still works.
    p.produce(topic, b"after", partition=0, on_delivery=lambda e, m: seen.append(m.offset()))
    assert p.flush(T) == 0
    assert seen[-1] == 3
    p.close()


def test_default_delivery_callback_raising_in_poll(bootstrap, new_topic):
    topic = new_topic()
    calls = []

    def cb(err, msg):
        calls.append(msg.offset())
        raise Boom("poll")

    p = kafkac.Producer({"bootstrap.servers": bootstrap, "on_delivery": cb})
    p.produce(topic, b"v", partition=0)
    with pytest.raises(Boom):
        deadline = time.monotonic() + T
        while time.monotonic() < deadline:
            p.poll(0.2)
    assert calls == [0]
    p.close()


def test_rebalance_callback_raising_keeps_the_message(bootstrap, new_topic):
    topic = new_topic()
    produce_all(bootstrap, topic, [dict(key=None, value=b"only", headers=None)])

    def on_assign(consumer, parts):
        raise Boom("assign")

    with kafkac.Consumer({"bootstrap.servers": bootstrap, "group.id": group_id(),
                          "auto.offset.reset": "earliest"}) as c:
        c.subscribe([topic], on_assign=on_assign)
        with pytest.raises(Boom, match="assign"):
            deadline = time.monotonic() + T
            while time.monotonic() < deadline:
                c.poll(0.2)
        # The consumer goes on, and no record was lost to the exception.
        (m,) = consume_n(c, 1)
        assert m.value() == b"only"


def test_partition_eof_event(bootstrap, new_topic):
    topic = new_topic()
    produce_all(bootstrap, topic, [dict(key=None, value=b"a", headers=None)])
    with kafkac.Consumer({"bootstrap.servers": bootstrap, "group.id": group_id(),
                          "enable.partition.eof": True}) as c:
        c.assign([TopicPartition(topic, 0, kafkac.OFFSET_BEGINNING)])
        (m,) = consume_n(c, 1)
        deadline = time.monotonic() + T
        while True:
            ev = c.poll(0.5)
            assert time.monotonic() < deadline
            if ev is not None:
                break
        err = ev.error()
        assert err.code() == KafkaError._PARTITION_EOF and not err.fatal()
        assert ev.topic() == topic and ev.partition() == 0 and ev.offset() == 1


def test_unknown_partition_on_produce(bootstrap, new_topic):
    topic = new_topic()
    with kafkac.Producer({"bootstrap.servers": bootstrap}) as p:
        # Learn the topic's partitions first.
        p.produce(topic, b"v", partition=0)
        assert p.flush(T) == 0
        with pytest.raises(KafkaException) as ei:
            p.produce(topic, b"v", partition=5)
        assert ei.value.error.code() == KafkaError._UNKNOWN_PARTITION
        assert topic in ei.value.error.str()


def test_messages_outlive_the_consumer(bootstrap, new_topic):
    topic = new_topic()
    produce_all(bootstrap, topic, [dict(key=b"k", value=b"kept", headers=[("h", b"v")])])
    c = kafkac.Consumer({"bootstrap.servers": bootstrap, "group.id": group_id()})
    c.assign([TopicPartition(topic, 0, kafkac.OFFSET_BEGINNING)])
    (m,) = consume_n(c, 1)
    c.close()
    del c
    assert (m.key(), m.value(), m.headers()) == (b"k", b"kept", [("h", b"v")])


def test_purge_gives_failed_reports(bootstrap, new_topic):
    topic = new_topic()
    got = []
    with kafkac.Producer({"bootstrap.servers": bootstrap, "linger.ms": 10000}) as p:
        for i in range(3):
            p.produce(topic, b"%d" % i, on_delivery=lambda e, m: got.append(e.code()))
        p.purge(in_queue=True, in_flight=False)
        deadline = time.monotonic() + T
        while len(got) < 3 and time.monotonic() < deadline:
            p.poll(0.2)
        assert got == [KafkaError._PURGE_QUEUE] * 3
        assert len(p) == 0


def test_producing_from_several_threads(bootstrap, new_topic):
    import threading

    topic = new_topic(3)
    offsets = []
    lock = threading.Lock()

    def report(err, msg):
        assert err is None, err
        with lock:
            offsets.append((msg.partition(), msg.offset(), msg.value()))

    with kafkac.Producer({"bootstrap.servers": bootstrap}) as p:
        def send(t):
            for i in range(500):
                p.produce(topic, b"%d-%d" % (t, i), key=b"%d" % i, on_delivery=report)
                if i % 100 == 0:
                    p.poll(0)

        threads = [threading.Thread(target=send, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert p.flush(T) == 0
    # Every record reported once, each at an offset of its own.
    assert len(offsets) == 2000
    assert len({(part, off) for part, off, _ in offsets}) == 2000
    assert sorted(v for _, _, v in offsets) == sorted(b"%d-%d" % (t, i) for t in range(4) for i in range(500))


def test_store_offsets_commits_only_what_was_stored(bootstrap, new_topic):
    topic = new_topic()
    produce_all(bootstrap, topic, [dict(key=None, value=b"%d" % i, headers=None) for i in range(6)])
    conf = {"bootstrap.servers": bootstrap, "group.id": group_id(),
            "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "enable.auto.offset.store": False}
    tp = TopicPartition(topic, 0)
    with kafkac.Consumer(conf) as c:
        c.subscribe([topic])
        msgs = consume_n(c, 6)
        c.store_offsets(message=msgs[2])
        c.commit()
        assert c.committed([tp], timeout=T)[0].offset == 3
        c.store_offsets(offsets=[TopicPartition(topic, 0, 5)])
        c.commit()
        assert c.committed([tp], timeout=T)[0].offset == 5
        with pytest.raises(KafkaException) as ei:
            c.store_offsets(offsets=[TopicPartition(topic, 9, 1)])
        assert ei.value.error.code() == KafkaError._UNKNOWN_PARTITION


def test_pause_and_resume(bootstrap, new_topic):
    topic = new_topic()
    produce_all(bootstrap, topic, [dict(key=None, value=b"a", headers=None)])
    tp = TopicPartition(topic, 0, kafkac.OFFSET_BEGINNING)
    with kafkac.Consumer({"bootstrap.servers": bootstrap, "group.id": group_id()}) as c:
        c.assign([tp])
        c.pause([tp])
        assert c.consume(10, 1.0) == []
        c.resume([tp])
        (m,) = consume_n(c, 1)
        assert m.value() == b"a"
        c.unassign()
        assert c.assignment() == []


def test_admin_errors_carry_the_broker_code(admin, new_topic):
    topic = new_topic()
    with pytest.raises(KafkaException) as ei:
        admin.create_topic(topic, 1, 1)
    e = ei.value.error
    assert e.code() == KafkaError.TOPIC_ALREADY_EXISTS
    assert topic in e.str()
    assert admin.get_watermark_offsets(TopicPartition(topic, 0)) == (0, 0)
