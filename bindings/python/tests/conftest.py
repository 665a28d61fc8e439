"""Fixtures of the kafkac binding's tests.

Environment:
  KAFKAC_LIB        path of libkafkac.so (else the package's own search)
  KAFKAC_BOOTSTRAP  bootstrap address of a running Apache Kafka (tests marked `kafka`
                    fail without it: they are never skipped)
  KAFKAC_HEADER     path of include/kafkac.h (default: the repository's)
"""
import os
import sys
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import kafkac  # noqa: E402

#: Bound on every wait of the tests.
T = 30.0


@pytest.fixture(scope="session")
def bootstrap():
    b = os.environ.get("KAFKAC_BOOTSTRAP")
    if not b:
        pytest.fail("KAFKAC_BOOTSTRAP is not set: these tests need a running Kafka broker")
    return b


@pytest.fixture(scope="session")
def admin(bootstrap):
    a = kafkac.AdminClient({"bootstrap.servers": bootstrap})
    yield a
    a.close()


@pytest.fixture
def new_topic(admin):
    """A factory of fresh topics: new_topic(partitions=1) -> name (visible to the
    producer and consumer once it returns)."""
    made = []

    def make(partitions=1):
        name = f"py-{uuid.uuid4().hex[:12]}"
        admin.create_topic(name, partitions, 1, timeout=T)
        made.append(name)
        deadline = time.monotonic() + T
        # A topic just created reaches the broker's metadata a moment later.
        while True:
            try:
                admin.list_offset(name, partitions - 1, kafkac.OFFSET_LATEST, timeout=5)
                break
            except kafkac.KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return name

    yield make
    for name in made:
        try:
            admin.delete_topic(name, timeout=T)
        except kafkac.KafkaException:
            pass


def group_id():
    return f"py-group-{uuid.uuid4().hex[:12]}"


def consume_n(consumer, n, timeout=T):
    """Exactly `n` records (error events fail the test), within `timeout` seconds."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"got {len(out)} of {n} records in {timeout}s"
        for m in consumer.consume(n - len(out), min(left, 1.0)):
            assert m.error() is None, m.error()
            out.append(m)
    return out


def readme_example(name, replacements):
    """The code block after `<!-- example: NAME -->` in the binding's README.md, with
    each (old, new) of `replacements` made (each must occur)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "README.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    marker = f"<!-- example: {name} -->\n```python\n"
    start = text.index(marker) + len(marker)
    code = text[start:text.index("```\n", start)]
    for old, new in replacements:
        assert old in code, f"{old!r} not in the README's {name} example"
        code = code.replace(old, new)
    return code
