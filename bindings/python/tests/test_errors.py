"""Errors a user can hit without a broker: each is an exception with the code and the
library's message."""
import gc

import pytest

import kafkac
from kafkac import KafkaError, KafkaException


def test_unknown_property():
    with pytest.raises(KafkaException) as ei:
        kafkac.Producer({"bootstrap.servers": "127.0.0.1:1", "no.such.property": "1"})
    e = ei.value.args[0]
    assert isinstance(e, KafkaError)
    assert e.code() == KafkaError._UNKNOWN_CONFIG
    assert e.name() == "_UNKNOWN_CONFIG"
    assert "no.such.property" in e.str()
    assert not e.fatal()
    assert "_UNKNOWN_CONFIG" in str(ei.value)


def test_invalid_value():
    with pytest.raises(KafkaException) as ei:
        kafkac.Consumer({"bootstrap.servers": "127.0.0.1:1", "group.id": "g",
                         "session.timeout.ms": "soon"})
    e = ei.value.error
    assert e.code() == KafkaError._INVALID_CONFIG
    assert "session.timeout.ms" in e.str() and "soon" in e.str()


def test_missing_bootstrap_servers():
    with pytest.raises(KafkaException) as ei:
        kafkac.Producer({})
    assert ei.value.error.code() == KafkaError._INVALID_CONFIG
    assert "bootstrap.servers" in ei.value.error.str()


def test_bool_and_int_values_are_accepted():
    p = kafkac.Producer({"bootstrap.servers": "127.0.0.1:1", "enable.idempotence": False,
                         "linger.ms": 7})
    p.close(0)


def test_callable_for_a_property_is_refused():
    with pytest.raises(TypeError):
        kafkac.Producer({"bootstrap.servers": "127.0.0.1:1", "stats_cb": lambda s: None})


def test_subscribe_without_group_id():
    with kafkac.Consumer({"bootstrap.servers": "127.0.0.1:1"}) as c:
        with pytest.raises(KafkaException) as ei:
            c.subscribe(["t"])
        assert ei.value.error.code() == KafkaError._INVALID_ARG
        assert "group.id" in ei.value.error.str()


def test_bad_argument_types():
    with kafkac.Producer({"bootstrap.servers": "127.0.0.1:1"}) as p:
        with pytest.raises(TypeError):
            p.produce("t", value=12)
        with pytest.raises(TypeError):
            p.produce("t", b"v", headers=[("k",)])
        # An empty topic name is the library's INVALID_ARG.
        with pytest.raises(KafkaException) as ei:
            p.produce("", b"v")
        assert ei.value.error.code() == KafkaError._INVALID_ARG
        p.close(0)


def test_message_timed_out_report_names_the_topic():
    # Nothing listens on port 1: the record is reported failed, with the topic named.
    got = []
    p = kafkac.Producer({"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 300})
    p.produce("nowhere", b"v", on_delivery=lambda err, msg: got.append((err, msg)))
    assert p.flush(10) == 0
    assert len(got) == 1
    err, msg = got[0]
    assert err.code() == KafkaError._MSG_TIMED_OUT
    assert "nowhere" in err.str()
    assert msg.offset() is None and msg.value() == b"v" and msg.error() is err
    assert msg.status() == kafkac.PERSISTED_NOT
    p.close()


def test_context_manager_closes():
    with kafkac.Producer({"bootstrap.servers": "127.0.0.1:1"}) as p:
        pass
    with pytest.raises(KafkaException) as ei:
        p.produce("t", b"v")
    assert ei.value.error.code() == KafkaError._DESTROY
    assert p.close() == 0  # closing again does nothing

    with kafkac.Consumer({"bootstrap.servers": "127.0.0.1:1", "group.id": "g"}) as c:
        pass
    with pytest.raises(KafkaException) as ei:
        c.poll(0)
    assert ei.value.error.code() == KafkaError._DESTROY
    c.close()


def test_context_manager_closes_on_exception():
    with pytest.raises(RuntimeError):
        with kafkac.Consumer({"bootstrap.servers": "127.0.0.1:1", "group.id": "g"}) as c:
            raise RuntimeError("boom")
    with pytest.raises(KafkaException):
        c.subscribe(["t"])


def test_handles_are_freed_when_collected():
    import weakref

    p = kafkac.Producer({"bootstrap.servers": "127.0.0.1:1"})
    c = kafkac.Consumer({"bootstrap.servers": "127.0.0.1:1", "group.id": "g"})
    refs = [weakref.ref(p), weakref.ref(c)]
    del p, c
    # The callbacks hold the objects weakly: no cycle keeps them (and their threads).
    assert [r() for r in refs] == [None, None]
    gc.collect()


def test_queue_full_is_a_buffer_error():
    p = kafkac.Producer({"bootstrap.servers": "127.0.0.1:1",
                         "queue.buffering.max.messages": 2})
    p.produce("t", b"1")
    p.produce("t", b"2")
    with pytest.raises(BufferError) as ei:
        p.produce("t", b"3")
    assert isinstance(ei.value, KafkaException)
    assert ei.value.error.code() == KafkaError._QUEUE_FULL
    assert len(p) == 2
    p.purge()
    assert p.poll(5) == 2  # two purged reports served (no callback to call)
    assert len(p) == 0
    p.close()


def test_message_too_large():
    with kafkac.Producer({"bootstrap.servers": "127.0.0.1:1", "message.max.bytes": 1000}) as p:
        with pytest.raises(KafkaException) as ei:
            p.produce("big", b"x" * 5000, on_delivery=lambda err, msg: None)
        e = ei.value.error
        assert e.code() == KafkaError.MESSAGE_TOO_LARGE == KafkaError.MSG_SIZE_TOO_LARGE
        assert "big" in e.str() and "message.max.bytes" in e.str()
        # Nothing was queued, and no report will come.
        assert len(p) == 0
        assert not p._pending
        p.close(0)


def test_library_not_found_is_an_import_error(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, KAFKAC_LIB=str(tmp_path / "no-such-libkafkac.so"))
    r = subprocess.run([sys.executable, "-c", "import kafkac"], env=env,
                       cwd=os.path.dirname(os.path.dirname(kafkac.__file__)),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "KAFKAC_LIB" in r.stderr


def test_transaction_calls_without_a_broker():
    with kafkac.Producer({"bootstrap.servers": "127.0.0.1:1", "transactional.id": "t"}) as p:
        with pytest.raises(KafkaException) as ei:
            p.begin_transaction()
        e = ei.value.args[0]
        assert e.code() == KafkaError._STATE and "Uninitialized" in e.str()
        assert not (e.retriable() or e.txn_requires_abort() or e.fatal())
        with pytest.raises(KafkaException) as ei:
            p.init_transactions(0.3)
        e = ei.value.args[0]
        assert e.code() == KafkaError._TIMED_OUT and e.retriable(), repr(e)
        assert "retriable" in repr(e)


def test_group_metadata_needs_a_group_id():
    with kafkac.Consumer({"bootstrap.servers": "127.0.0.1:1"}) as c:
        with pytest.raises(KafkaException) as ei:
            c.consumer_group_metadata()
        assert ei.value.args[0].code() == KafkaError._INVALID_ARG
        assert "group.id" in ei.value.args[0].str()
    with pytest.raises(TypeError):
        kafkac.ConsumerGroupMetadata()


OAUTH = {"bootstrap.servers": "127.0.0.1:1", "security.protocol": "SASL_PLAINTEXT",
         "sasl.mechanism": "OAUTHBEARER"}


def test_oauth_cb_configuration_errors():
    with pytest.raises(TypeError):
        kafkac.Producer(dict(OAUTH, oauth_cb="not callable"))
    # The callback and the unsecured JWT exclude each other.
    with pytest.raises(KafkaException) as ei:
        kafkac.Consumer(dict(OAUTH, oauth_cb=lambda cfg: ("t", 0), **{
            "enable.sasl.oauthbearer.unsecure.jwt": True,
            "sasl.oauthbearer.config": "principal=alice"}))
    e = ei.value.args[0]
    assert e.code() == KafkaError._INVALID_CONFIG
    assert "enable.sasl.oauthbearer.unsecure.jwt" in e.str()


def test_oauthbearer_token_calls_errors():
    import time
    # No refresh callback: no background thread to start.
    with kafkac.Producer(OAUTH) as p:
        with pytest.raises(KafkaException) as ei:
            p.sasl_background_callbacks_enable()
        assert ei.value.args[0].code() == KafkaError._STATE
        assert "refresh callback" in ei.value.args[0].str()
        # A token that expired.
        with pytest.raises(KafkaException) as ei:
            p.oauthbearer_set_token("abc", time.time() - 10, "alice")
        assert ei.value.args[0].code() == KafkaError._INVALID_ARG
        assert "not in the future" in ei.value.args[0].str()
        with pytest.raises(KafkaException) as ei:
            p.oauthbearer_set_token_failure("")
        assert ei.value.args[0].code() == KafkaError._INVALID_ARG
        with pytest.raises(TypeError):
            p.oauthbearer_set_token("abc", "tomorrow")
        with pytest.raises(TypeError):
            p.oauthbearer_set_token("abc", time.time() + 60, "alice", {"k": 1})
        p.oauthbearer_set_token("abc", time.time() + 60, "alice", {"traceId": "x"})
        p.oauthbearer_set_token_failure("no identity provider")
    # Not an OAUTHBEARER client.
    with kafkac.Consumer({"bootstrap.servers": "127.0.0.1:1"}) as c:
        with pytest.raises(KafkaException) as ei:
            c.oauthbearer_set_token("abc", time.time() + 60, "alice")
        assert ei.value.args[0].code() == KafkaError._STATE
        assert "OAUTHBEARER" in ei.value.args[0].str()
        with pytest.raises(KafkaException) as ei:
            c.sasl_background_callbacks_enable()
        assert ei.value.args[0].code() == KafkaError._STATE
