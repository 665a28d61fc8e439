"""Transactions of the producer against a real Apache Kafka ($KAFKAC_BOOTSTRAP): what a
read_committed consumer sees, offsets committed with a transaction, fencing, and the
class of each error (retriable, abortable, fatal)."""
import uuid

import pytest

import kafkac
from conftest import T, consume_n, group_id, readme_example
from kafkac import KafkaError, KafkaException, TopicPartition


def txn_producer(bootstrap, txn_id=None, **conf):
    return kafkac.Producer({"bootstrap.servers": bootstrap,
                            "transactional.id": txn_id or f"py-txn-{uuid.uuid4().hex[:12]}",
                            **conf})


def read_all(bootstrap, topic, isolation, n, partition=0):
    """Exactly `n` records of `topic`'s partition from the start, with
    `isolation.level=isolation`, then nothing more: [(offset, value)]."""
    with kafkac.Consumer({"bootstrap.servers": bootstrap, "group.id": group_id(),
                          "isolation.level": isolation, "enable.auto.commit": False}) as c:
        c.assign([TopicPartition(topic, partition, kafkac.OFFSET_BEGINNING)])
        got = [(m.offset(), m.value()) for m in consume_n(c, n)] if n else []
        extra = c.poll(1.0)
        assert extra is None, f"{isolation} read more than {n}: {extra!r}"
        return got


def classes(e):
    return (e.retriable(), e.txn_requires_abort(), e.fatal())


def test_transaction_commits_records_and_offsets(bootstrap, new_topic):
    src, dst = new_topic(), new_topic()
    with kafkac.Producer({"bootstrap.servers": bootstrap}) as p:
        for i in range(5):
            p.produce(src, b"in-%d" % i, partition=0)
        assert p.flush(T) == 0

    gid = group_id()
    tp = TopicPartition(src, 0)
    c = kafkac.Consumer({"bootstrap.servers": bootstrap, "group.id": gid,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    p = txn_producer(bootstrap)
    try:
        p.init_transactions(T)
        c.subscribe([src])
        msgs = consume_n(c, 5)

        # Consume-transform-produce: the copies and the input offsets in one transaction.
        reports = []
        p.begin_transaction()
        for m in msgs:
            p.produce(dst, b"out-" + m.value(), key=b"%d" % m.offset(), partition=0,
                      on_delivery=lambda err, msg: reports.append((err, msg.offset())))
        assert c.committed([tp], timeout=T)[0].offset == kafkac.OFFSET_INVALID
        meta = c.consumer_group_metadata()
        assert isinstance(meta, kafkac.ConsumerGroupMetadata)
        p.send_offsets_to_transaction([TopicPartition(src, 0, msgs[-1].offset() + 1)], meta, T)
        p.commit_transaction(T)
        # The commit waited for every record and served its report.
        assert reports == [(None, i) for i in range(5)]
        assert c.committed([tp], timeout=T)[0].offset == 5

        # Offsets of an aborted transaction are never committed.
        p.begin_transaction()
        p.send_offsets_to_transaction([TopicPartition(src, 0, 2)], c.consumer_group_metadata(), T)
        p.abort_transaction(T)
        assert c.committed([tp], timeout=T)[0].offset == 5

        # Offsets alone in a committed transaction become the group's.
        p.begin_transaction()
        p.send_offsets_to_transaction([TopicPartition(src, 0, 3)], c.consumer_group_metadata(), T)
        p.commit_transaction(T)
        assert c.committed([tp], timeout=T)[0].offset == 3
    finally:
        c.close()
        p.close()

    # Exactly the copies, once each, in order (offset 5 is the commit marker).
    want = [(i, b"out-in-%d" % i) for i in range(5)]
    assert read_all(bootstrap, dst, "read_committed", 5) == want


def test_aborted_transaction_is_seen_only_by_read_uncommitted(bootstrap, new_topic):
    topic = new_topic()
    reports = []
    with txn_producer(bootstrap) as p:
        p.init_transactions(T)
        for tag, end in (("a", p.commit_transaction), ("b", p.abort_transaction),
                         ("c", p.commit_transaction)):
            p.begin_transaction()
            for i in range(2):
                p.produce(topic, f"{tag}{i}".encode(), partition=0,
                          on_delivery=lambda err, msg: reports.append((err, msg.value())))
            # On the log before the end of the transaction, so that an abort leaves
            # them there (marked aborted) rather than dropping them from the queue.
            assert p.flush(T) == 0
            end(T)
    assert [e for e, _ in reports] == [None] * 6

    committed = read_all(bootstrap, topic, "read_committed", 4)
    assert [v for _, v in committed] == [b"a0", b"a1", b"c0", b"c1"]
    # a0 a1 <commit> b0 b1 <abort> c0 c1: the aborted records' offsets are skipped.
    assert [o for o, _ in committed] == [0, 1, 6, 7]
    uncommitted = read_all(bootstrap, topic, "read_uncommitted", 6)
    assert uncommitted == [(0, b"a0"), (1, b"a1"), (3, b"b0"), (4, b"b1"), (6, b"c0"),
                           (7, b"c1")]


def test_abort_drops_what_is_queued_with_a_report(bootstrap, new_topic):
    topic = new_topic()
    reports = []
    with txn_producer(bootstrap, **{"linger.ms": 60000}) as p:
        p.init_transactions(T)
        p.begin_transaction()
        p.produce(topic, b"never", partition=0,
                  on_delivery=lambda err, msg: reports.append(err))
        p.abort_transaction(T)
        assert [e.code() if e else None for e in reports] == [KafkaError._PURGE_QUEUE]
        p.begin_transaction()
        p.produce(topic, b"kept", partition=0)
        p.commit_transaction(T)
    assert [v for _, v in read_all(bootstrap, topic, "read_committed", 1)] == [b"kept"]


def test_second_producer_fences_the_first(bootstrap, new_topic):
    topic = new_topic()
    txn_id = f"py-fence-{uuid.uuid4().hex[:12]}"
    p1 = txn_producer(bootstrap, txn_id)
    p2 = None
    try:
        p1.init_transactions(T)
        p1.begin_transaction()
        p1.produce(topic, b"p1-committed", partition=0)
        p1.commit_transaction(T)

        p2 = txn_producer(bootstrap, txn_id)
        p2.init_transactions(T)

        p1.begin_transaction()
        p1.produce(topic, b"p1-fenced", partition=0)
        with pytest.raises(KafkaException) as ei:
            p1.commit_transaction(T)
        e = ei.value.args[0]
        assert e.code() in (KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH,
                            KafkaError._FATAL), repr(e)
        assert classes(e) == (False, False, True), repr(e)
        assert e.str()
        # Every later call says the same.
        with pytest.raises(KafkaException) as ei:
            p1.begin_transaction()
        assert ei.value.args[0].fatal()
        assert p1.fatal_error() is not None

        p2.begin_transaction()
        p2.produce(topic, b"p2", partition=0)
        p2.commit_transaction(T)
    finally:
        p1.close(0)
        if p2 is not None:
            p2.close()
    got = read_all(bootstrap, topic, "read_committed", 2)
    assert [v for _, v in got] == [b"p1-committed", b"p2"]


def test_init_transactions_timeout_is_retriable(bootstrap, new_topic):
    topic = new_topic()
    with txn_producer(bootstrap) as p:
        with pytest.raises(KafkaException) as ei:
            p.init_transactions(0)
        e = ei.value.args[0]
        assert e.code() == KafkaError._TIMED_OUT
        assert classes(e) == (True, False, False), repr(e)
        assert "call it again" in e.str()
        # Called again with time to finish, it continues and succeeds.
        p.init_transactions(T)
        p.begin_transaction()
        p.produce(topic, b"after retry", partition=0)
        p.commit_transaction(T)
    assert [v for _, v in read_all(bootstrap, topic, "read_committed", 1)] == [b"after retry"]


def test_calls_in_the_wrong_state(bootstrap, new_topic):
    topic = new_topic()
    with txn_producer(bootstrap) as p:
        # Before init_transactions.
        with pytest.raises(KafkaException) as ei:
            p.begin_transaction()
        e = ei.value.args[0]
        assert e.code() == KafkaError._STATE
        assert "Uninitialized" in e.str()
        assert classes(e) == (False, False, False)
        p.init_transactions(T)
        # Outside a transaction: no records, no commit, no abort.
        with pytest.raises(KafkaException) as ei:
            p.produce(topic, b"x", partition=0)
        assert ei.value.args[0].code() == KafkaError._STATE
        assert "transaction" in ei.value.args[0].str()
        for call in (p.commit_transaction, p.abort_transaction):
            with pytest.raises(KafkaException) as ei:
                call(T)
            assert ei.value.args[0].code() == KafkaError._STATE, call
            assert ei.value.args[0].str()
        # Twice.
        with pytest.raises(KafkaException) as ei:
            p.init_transactions(T)
        assert ei.value.args[0].code() == KafkaError._STATE
        p.begin_transaction()
        with pytest.raises(KafkaException) as ei:
            p.begin_transaction()
        assert ei.value.args[0].code() == KafkaError._STATE
        with pytest.raises(TypeError):
            p.send_offsets_to_transaction([TopicPartition(topic, 0, 1)], object(), T)
        p.abort_transaction(T)


def test_transactional_calls_on_a_non_transactional_producer(bootstrap):
    with kafkac.Producer({"bootstrap.servers": bootstrap}) as p:
        for call in (lambda: p.init_transactions(T), p.begin_transaction,
                     lambda: p.commit_transaction(T), lambda: p.abort_transaction(T)):
            with pytest.raises(KafkaException) as ei:
                call()
            e = ei.value.args[0]
            assert e.code() == KafkaError._STATE
            assert "transactional.id" in e.str(), e.str()
            assert classes(e) == (False, False, False)


def test_readme_transaction_example(bootstrap, new_topic):
    """The README's consume-transform-produce loop, run as written on fresh topics."""
    src, dst = new_topic(), new_topic()
    gid, txn_id = group_id(), f"py-readme-{uuid.uuid4().hex[:12]}"
    with kafkac.Producer({"bootstrap.servers": bootstrap}) as p:
        for v in (b"one", b"two", b"three"):
            p.produce(src, v, key=v[:1], partition=0)
        assert p.flush(T) == 0
    code = readme_example("transactions", [
        ('"127.0.0.1:9092"', repr(bootstrap)), ('"copier"', repr(gid)),
        ('"copier-1"', repr(txn_id)), ('["input"]', repr([src])), ('"output"', repr(dst))])
    exec(compile(code, "README.md", "exec"), {})
    got = read_all(bootstrap, dst, "read_committed", 3)
    # Three transactions: each record is followed by its commit marker.
    assert got == [(0, b"ONE"), (2, b"TWO"), (4, b"THREE")]
    with kafkac.Consumer({"bootstrap.servers": bootstrap, "group.id": gid}) as c:
        assert c.committed([TopicPartition(src, 0)], timeout=T)[0].offset == 3


def test_failed_record_makes_the_transaction_abortable(bootstrap, admin, new_topic):
    """A record the broker refuses (larger than the topic's max.message.bytes): its
    report has the broker's error, the commit fails with an error that
    txn_requires_abort(), and after the abort the next transaction commits."""
    topic = f"py-small-{uuid.uuid4().hex[:12]}"
    admin.create_topic(topic, 1, 1, {"max.message.bytes": "1000"}, timeout=T)
    new_topic()  # waits for the metadata of a topic made after it
    reports = []
    with txn_producer(bootstrap) as p:
        p.init_transactions(T)
        p.begin_transaction()
        p.produce(topic, b"x" * 5000, partition=0,
                  on_delivery=lambda err, msg: reports.append(err))
        with pytest.raises(KafkaException) as ei:
            p.commit_transaction(T)
        e = ei.value.args[0]
        assert classes(e) == (False, True, False), repr(e)
        assert e.str()
        assert [r.code() if r else None for r in reports] == [KafkaError.MSG_SIZE_TOO_LARGE]
        # Only an abort is allowed now: other calls raise the same abortable error.
        with pytest.raises(KafkaException) as ei:
            p.begin_transaction()
        assert ei.value.args[0].code() == e.code()
        assert ei.value.args[0].txn_requires_abort()
        p.abort_transaction(T)
        p.begin_transaction()
        p.produce(topic, b"small", partition=0)
        p.commit_transaction(T)
    assert [v for _, v in read_all(bootstrap, topic, "read_committed", 1)] == [b"small"]
