"""OAUTHBEARER tokens from the application against a real Apache Kafka: a SASL_PLAINTEXT
listener ($KAFKAC_OAUTH_BOOTSTRAP) taking unsecured JWTs (Kafka's default validator),
for the `oauth_cb` refresh callback and the token calls; topics are made on the
plaintext listener ($KAFKAC_BOOTSTRAP)."""
import base64
import json
import os
import subprocess
import sys
import threading
import time

import pytest

import kafkac
from conftest import T, consume_n, group_id, readme_example
from kafkac import KafkaError, KafkaException


@pytest.fixture(scope="session")
def oauth_bootstrap():
    b = os.environ.get("KAFKAC_OAUTH_BOOTSTRAP")
    if not b:
        pytest.fail("KAFKAC_OAUTH_BOOTSTRAP is not set: these tests need a SASL_PLAINTEXT "
                    "listener taking OAUTHBEARER")
    return b


def b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def jwt(sub="alice", life=60):
    """An unsecured JWT (alg none) for `sub`, and its expiry in seconds since the epoch."""
    now = int(time.time())
    return b64({"alg": "none"}) + "." + b64({"sub": sub, "iat": now, "exp": now + life}) + ".", \
        now + life


def sasl(bootstrap, **conf):
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "OAUTHBEARER", "reconnect.backoff.max.ms": 500, **conf}


class Recorder:
    """An oauth_cb that records its calls (config, thread) and answers with `answers`
    in turn (the last one repeats): a tuple to return, or an exception to raise."""

    def __init__(self, *answers):
        self.answers = list(answers) or ["token"]
        self.calls = []

    def __call__(self, config):
        self.calls.append((config, threading.get_ident()))
        a = self.answers[min(len(self.calls), len(self.answers)) - 1]
        if isinstance(a, BaseException):
            raise a
        if a == "token":
            return jwt()
        if a == "token4":
            token, exp = jwt("bob")
            return token, exp, "bob", {"traceId": "py-test"}
        return a


def produce_and_flush(p, topic, values, timeout=T):
    reports = []
    for v in values:
        p.produce(topic, v, partition=0, on_delivery=lambda err, msg: reports.append((err, msg)))
    deadline = time.monotonic() + timeout
    while p.flush(1.0) and time.monotonic() < deadline:
        pass
    return reports


def test_oauth_cb_gives_producer_and_consumer_their_token(oauth_bootstrap, new_topic):
    topic = new_topic()
    cb = Recorder("token")
    with kafkac.Producer(sasl(oauth_bootstrap, oauth_cb=cb,
                              **{"sasl.oauthbearer.config": "scope=kafka"})) as p:
        reports = produce_and_flush(p, topic, [b"a", b"b", b"c"])
    assert [(e, m.offset()) for e, m in reports] == [(None, 0), (None, 1), (None, 2)]
    # Called with sasl.oauthbearer.config, inside flush, on this thread.
    assert cb.calls and cb.calls[0] == ("scope=kafka", threading.get_ident())

    cb4 = Recorder("token4")
    with kafkac.Consumer(sasl(oauth_bootstrap, oauth_cb=cb4, **{
            "group.id": group_id(), "auto.offset.reset": "earliest"})) as c:
        c.subscribe([topic])
        assert [m.value() for m in consume_n(c, 3)] == [b"a", b"b", b"c"]
    assert cb4.calls and cb4.calls[0] == ("", threading.get_ident())


def test_oauth_cb_raising_fails_connections_and_is_called_again(oauth_bootstrap, new_topic):
    topic = new_topic()
    cb = Recorder(RuntimeError("identity provider down"), "token")
    p = kafkac.Producer(sasl(oauth_bootstrap, oauth_cb=cb))
    try:
        reports = []
        p.produce(topic, b"late", partition=0,
                  on_delivery=lambda err, msg: reports.append((err, msg)))
        # The exception is raised by the flush that ran the callback, never into C.
        with pytest.raises(RuntimeError, match="identity provider down"):
            p.flush(T)
        # The library was told why: called again 10 s later, the callback gives a
        # token and the record goes out.
        assert p.flush(T) == 0
        assert len(cb.calls) == 2
        assert [(e, m.offset()) for e, m in reports] == [(None, 0)]
    finally:
        p.close()


def test_oauth_cb_failure_reaches_the_delivery_report(oauth_bootstrap, new_topic):
    topic = new_topic()
    cb = Recorder(RuntimeError("no idp"))
    p = kafkac.Producer(sasl(oauth_bootstrap, oauth_cb=cb, **{"message.timeout.ms": 2000}))
    try:
        reports = []
        p.produce(topic, b"x", partition=0, on_delivery=lambda err, msg: reports.append(err))
        with pytest.raises(RuntimeError, match="no idp"):
            p.flush(T)
        assert p.flush(T) == 0
        (err,) = reports
        assert err.code() == KafkaError._MSG_TIMED_OUT
        assert "oauth_cb failed: RuntimeError: no idp" in err.str(), err.str()
    finally:
        p.close(0)


def test_oauth_cb_raising_in_a_consumer(oauth_bootstrap, new_topic):
    topic = new_topic()
    cb = Recorder(ValueError("bad credentials"))
    with kafkac.Consumer(sasl(oauth_bootstrap, oauth_cb=cb, **{"group.id": group_id()})) as c:
        c.subscribe([topic])
        with pytest.raises(ValueError, match="bad credentials"):
            c.poll(T)
        # The consumer goes on (without a token nothing comes).
        assert c.poll(1.0) is None
        assert c.consume(5, 0.5) == []
    assert len(cb.calls) == 1


def test_oauth_cb_bad_answers(oauth_bootstrap, new_topic):
    topic = new_topic()
    token, _ = jwt()
    # A token that expired: the library's own error, with its detail.
    cb = Recorder((token, time.time() - 5))
    with kafkac.Producer(sasl(oauth_bootstrap, oauth_cb=cb)) as p:
        with pytest.raises(KafkaException) as ei:
            p.poll(T)
        assert ei.value.args[0].code() == KafkaError._INVALID_ARG
        assert "not in the future" in ei.value.args[0].str()
        p.close(0)
    # Not a tuple.
    cb = Recorder(None)
    with kafkac.Consumer(sasl(oauth_bootstrap, oauth_cb=cb, **{"group.id": group_id()})) as c:
        c.subscribe([topic])
        with pytest.raises(TypeError, match=r"oauth_cb must return \(token, expiry\)"):
            c.poll(T)


def test_token_set_by_the_application(oauth_bootstrap, new_topic):
    topic = new_topic()
    p = kafkac.Producer(sasl(oauth_bootstrap, **{"message.timeout.ms": 2000}))
    try:
        p.oauthbearer_set_token_failure("token service unreachable")
        reports = produce_and_flush(p, topic, [b"refused"])
        (err, _), = reports
        assert err.code() == KafkaError._MSG_TIMED_OUT
        assert "token service unreachable" in err.str(), err.str()
        token, exp = jwt()
        p.oauthbearer_set_token(token, exp, extensions={"traceId": "app"})
        reports = produce_and_flush(p, topic, [b"accepted"])
        assert [(e, m.offset()) for e, m in reports] == [(None, 0)]
    finally:
        p.close(0)
    with kafkac.Consumer(sasl(oauth_bootstrap, **{"group.id": group_id()})) as c:
        token, exp = jwt()
        c.oauthbearer_set_token(token, exp)
        c.assign([kafkac.TopicPartition(topic, 0, kafkac.OFFSET_BEGINNING)])
        assert [m.value() for m in consume_n(c, 1)] == [b"accepted"]


def test_background_callbacks(oauth_bootstrap, new_topic):
    topic = new_topic()
    cb = Recorder("token")
    with kafkac.Producer(sasl(oauth_bootstrap, oauth_cb=cb)) as p:
        p.sasl_background_callbacks_enable()
        p.sasl_background_callbacks_enable()  # again: nothing more
        deadline = time.monotonic() + T
        while not cb.calls and time.monotonic() < deadline:
            time.sleep(0.05)
        # Called without any poll, on a thread of the library.
        assert cb.calls and cb.calls[0][1] != threading.get_ident()
        reports = produce_and_flush(p, topic, [b"bg"])
        assert [(e, m.offset()) for e, m in reports] == [(None, 0)]
    # An exception raised there is raised by the next poll of the consumer.
    cb = Recorder(RuntimeError("background failure"))
    with kafkac.Consumer(sasl(oauth_bootstrap, oauth_cb=cb, **{"group.id": group_id()})) as c:
        c.sasl_background_callbacks_enable()
        deadline = time.monotonic() + T
        while not cb.calls and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cb.calls and cb.calls[0][1] != threading.get_ident()
        with pytest.raises(RuntimeError, match="background failure"):
            c.poll(1.0)
        assert c.poll(0.2) is None


def test_process_exits_cleanly_with_background_callbacks(oauth_bootstrap):
    """Clients left open with their callback on a background thread: the interpreter
    exits cleanly (the clients are freed before Python is torn down)."""
    code = f"""
import threading, time, kafkac
calls = []
def cb(cfg):
    calls.append(1)
    time.sleep(0.3)
    raise RuntimeError("never seen")
conf = {{"bootstrap.servers": "{oauth_bootstrap}", "security.protocol": "SASL_PLAINTEXT",
         "sasl.mechanism": "OAUTHBEARER", "oauth_cb": cb}}
p = kafkac.Producer(conf)
c = kafkac.Consumer(dict(conf, **{{"group.id": "exit"}}))
p.sasl_background_callbacks_enable()
c.sasl_background_callbacks_enable()
while len(calls) < 2:
    time.sleep(0.01)
print("ok", flush=True)
"""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(kafkac.__file__)))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"
    assert "Exception" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_readme_oauthbearer_example(oauth_bootstrap, bootstrap, new_topic):
    """The README's oauth_cb example, run as written with a token of this test."""
    topic = new_topic()
    asked = []

    def fetch_token_from_identity_provider(config):
        asked.append(config)
        return jwt()[0]

    code = readme_example("oauthbearer", [
        ('"127.0.0.1:9093"', repr(oauth_bootstrap)), ('"events"', repr(topic))])
    exec(compile(code, "README.md", "exec"),
         {"fetch_token_from_identity_provider": fetch_token_from_identity_provider})
    assert asked and asked[0] == "scope=kafka"
    with kafkac.Consumer({"bootstrap.servers": bootstrap, "group.id": group_id()}) as c:
        c.assign([kafkac.TopicPartition(topic, 0, kafkac.OFFSET_BEGINNING)])
        assert [m.value() for m in consume_n(c, 1)] == [b"authenticated"]
