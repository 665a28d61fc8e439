"""What the producer and the consumer share: configuration, timeouts, partitions, messages,
and the exceptions of callbacks kept for the Python call that served them."""
import threading
import time
from ctypes import POINTER, byref, c_char, c_int32, c_size_t

from . import _constants as C
from . import _ffi as F
from ._error import KafkaError, error_from

#: Longest single wait inside the library: a longer poll or flush is made of waits of
#: this length, so that Python can act on a signal (Ctrl-C) between them.
SLICE_MS = 200

_INT32_MAX = 2**31 - 1


def to_ms(timeout):
    """Seconds (float) to the C API's milliseconds: None or negative is -1 (no limit)."""
    if timeout is None or timeout < 0:
        return -1
    return min(int(timeout * 1000), _INT32_MAX)


class Deadline:
    """Splits a wait of `ms` milliseconds (-1: no limit) into waits of at most SLICE_MS."""

    __slots__ = ("_end",)

    def __init__(self, ms):
        self._end = None if ms < 0 else time.monotonic() + ms / 1000.0

    def next_slice(self):
        """The length of the next wait; 0 once the deadline has passed."""
        if self._end is None:
            return SLICE_MS
        left = int((self._end - time.monotonic()) * 1000)
        return max(0, min(left, SLICE_MS))

    def passed(self):
        return self._end is not None and time.monotonic() >= self._end


def conf_value(v):
    if isinstance(v, bool):
        return b"true" if v else b"false"
    if isinstance(v, bytes):
        return v
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v).encode()
    return str(v).encode()


def make_conf(props):
    """A `kc_conf_t` with every property of `props` set (values as strings; True/False as
    true/false); raises `KafkaException` naming the property on a bad one. The caller owns
    the result (free it with kc_conf_free)."""
    conf = F.kc_conf_new()
    if not conf:
        raise error_from(F.kc_last_error_code() or C.KC_ERR__PANIC)
    try:
        for k, v in props.items():
            if callable(v):
                raise TypeError(f"configuration property {k!r}: a callable is not supported here")
            err = F.kc_conf_set(conf, str(k).encode(), conf_value(v))
            if err:
                raise error_from(err)
    except BaseException:
        F.kc_conf_free(conf)
        raise
    return conf


class CallbackErrors:
    """The first exception raised by a callback, per thread: callbacks run on the thread
    making the poll (or flush, or close) that serves them, and C must never see a Python
    exception, so each callback is wrapped, its exception kept here, and raised again by
    that Python call once the C call has returned. A callback on a background thread of
    the library (the OAUTHBEARER refresh, after `sasl_background_callbacks_enable`) keeps
    its exception for whichever thread serves the client next (`keep_shared`)."""

    __slots__ = ("_tls", "_shared")

    def __init__(self):
        self._tls = threading.local()
        self._shared = None

    def keep(self, exc):
        if getattr(self._tls, "exc", None) is None:
            self._tls.exc = exc

    def keep_shared(self, exc):
        if self._shared is None:
            self._shared = exc

    def pending(self):
        return getattr(self._tls, "exc", None) is not None or self._shared is not None

    def raise_pending(self):
        exc = getattr(self._tls, "exc", None)
        if exc is not None:
            self._tls.exc = None
        else:
            exc, self._shared = self._shared, None
        if exc is not None:
            try:
                raise exc
            finally:
                exc = None


def encode(v, what):
    """A key, value or header value as bytes (str as UTF-8; None stays None)."""
    if v is None or isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    raise TypeError(f"{what} must be bytes, str or None, not {type(v).__name__}")


class TopicPartition:
    """A partition of a topic, with an offset (the next record to consume, or one of
    OFFSET_BEGINNING, OFFSET_END, OFFSET_STORED, OFFSET_INVALID), as in confluent-kafka.
    `error` is a KafkaError where a call reports one per partition, else None."""

    __slots__ = ("topic", "partition", "offset", "leader_epoch", "error", "metadata")

    def __init__(self, topic, partition=-1, offset=C.KC_OFFSET_INVALID, metadata=None,
                 leader_epoch=None, error=None):
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.metadata = metadata
        self.leader_epoch = leader_epoch
        self.error = error

    def _key(self):
        return (self.topic, self.partition)

    def __eq__(self, other):
        if not isinstance(other, TopicPartition):
            return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other):
        return self._key() < other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        err = f",error={self.error!r}" if self.error else ""
        epoch = f",leader_epoch={self.leader_epoch}" if self.leader_epoch is not None else ""
        return (f"TopicPartition{{topic={self.topic},partition={self.partition},"
                f"offset={self.offset}{epoch}{err}}}")


def tp_array(parts):
    """A C array of `kc_topic_partition_t` for `parts` (it keeps the topic names alive)."""
    parts = list(parts)
    arr = (F.kc_topic_partition_t * len(parts))()
    for i, tp in enumerate(parts):
        if not isinstance(tp, TopicPartition):
            raise TypeError(f"expected TopicPartition, got {type(tp).__name__}")
        e = arr[i]
        e.topic = tp.topic.encode("utf-8")
        e.partition = tp.partition
        e.offset = tp.offset
        e.leader_epoch = -1 if tp.leader_epoch is None else tp.leader_epoch
        e.err = 0
    return arr


def tp_list(ptr, n):
    """`n` entries of a `kc_topic_partition_t` array as new TopicPartition objects."""
    out = []
    for i in range(n):
        e = ptr[i]
        out.append(TopicPartition(
            e.topic.decode("utf-8", "replace") if e.topic else None,
            e.partition,
            e.offset,
            leader_epoch=None if e.leader_epoch < 0 else e.leader_epoch,
            error=KafkaError(e.err) if e.err else None,
        ))
    return out


_new = object.__new__
_err = F.kc_message_err
_key = F.kc_message_key
_value = F.kc_message_value
_char_p = POINTER(c_char)


class Message:
    """A record handed out by `Consumer.poll`/`consume`, or an event (then `error()` is
    not None), or the message a delivery report is about. Methods as in confluent-kafka.

    A consumed message reads its fields from the library on each call and frees the
    library's message when it is garbage-collected (it keeps a part of a fetch buffer
    alive, which counts against `queued.max.messages.kbytes`)."""

    __slots__ = ("_m", "__weakref__")

    def __init__(self):
        self._m = None
        raise TypeError("messages are made by the consumer and the producer only")

    @classmethod
    def _wrap(cls, ptr):
        m = _new(cls)
        m._m = ptr
        return m

    def __del__(self, _free=F.kc_message_free):
        m = self._m
        if m:
            self._m = None
            _free(m)

    def error(self):
        """None for a record; else the event's KafkaError (e.g. `_PARTITION_EOF`)."""
        code = _err(self._m)
        if code == 0:
            return None
        s = F.kc_message_errstr(self._m)
        return KafkaError(code, s.decode("utf-8", "replace") if s else None,
                          fatal=bool(F.kc_message_is_fatal(self._m)))

    def topic(self):
        t = F.kc_message_topic(self._m)
        return t.decode("utf-8", "replace") if t is not None else None

    def partition(self):
        p = F.kc_message_partition(self._m)
        return None if p < 0 else p

    def offset(self):
        o = F.kc_message_offset(self._m)
        return None if o < 0 else o

    def timestamp(self):
        """(timestamp type, ms since the epoch): a TIMESTAMP_* constant and the time (-1
        when there is none)."""
        t = c_int32(0)
        ts = F.kc_message_timestamp(self._m, byref(t))
        return (t.value, ts)

    def leader_epoch(self):
        e = F.kc_message_leader_epoch(self._m)
        return None if e < 0 else e

    def key(self):
        """bytes, or None for a null key (b"" for an empty one)."""
        n = c_size_t()
        p = _key(self._m, byref(n))
        return p[:n.value] if p else None

    def value(self):
        """bytes, or None for a null value (b"" for an empty one)."""
        n = c_size_t()
        p = _value(self._m, byref(n))
        return p[:n.value] if p else None

    def headers(self):
        """A list of (str, bytes or None) in the record's order, or None when it has none
        (as confluent-kafka)."""
        cnt = F.kc_message_header_cnt(self._m)
        if cnt == 0:
            return None
        out = []
        kp, kl, vp, vl = _char_p(), c_size_t(), _char_p(), c_size_t()
        for i in range(cnt):
            err = F.kc_message_header(self._m, i, byref(kp), byref(kl), byref(vp), byref(vl))
            if err:
                raise error_from(err)
            k = kp[:kl.value].decode("utf-8", "replace")
            v = vp[:vl.value] if vp else None
            out.append((k, v))
        return out

    def __len__(self):
        n = c_size_t()
        _value(self._m, byref(n))
        return n.value

    def __repr__(self):
        e = self.error()
        if e is not None:
            return f"<Message error={e!r} topic={self.topic()} partition={self.partition()}>"
        return (f"<Message topic={self.topic()} partition={self.partition()} "
                f"offset={self.offset()} key={self.key()!r} len={len(self)}>")


class DeliveredMessage(Message):
    """The message a delivery report is about: its topic, partition, offset (None when it
    failed), timestamp, key and value as produced, and `error()` (None when delivered).
    `status()` is PERSISTED, PERSISTED_POSSIBLY or PERSISTED_NOT."""

    __slots__ = ("_topic", "_partition", "_offset", "_ts", "_key", "_value", "_headers",
                 "_error", "_status")

    def __init__(self, topic, partition, offset, ts, key, value, headers, error, status):
        self._m = None
        self._topic = topic
        self._partition = partition
        self._offset = offset
        self._ts = ts
        self._key = key
        self._value = value
        self._headers = headers
        self._error = error
        self._status = status

    def error(self):
        return self._error

    def topic(self):
        return self._topic

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset

    def timestamp(self):
        if self._ts <= 0:
            return (C.KC_TIMESTAMP_NOT_AVAILABLE, -1)
        return (C.KC_TIMESTAMP_CREATE_TIME, self._ts)

    def leader_epoch(self):
        return None

    def key(self):
        return self._key

    def value(self):
        return self._value

    def headers(self):
        return self._headers

    def status(self):
        return self._status

    def __len__(self):
        return 0 if self._value is None else len(self._value)


__all__ = ["TopicPartition", "Message", "DeliveredMessage", "make_conf", "to_ms",
           "Deadline", "CallbackErrors", "encode", "tp_array", "tp_list", "SLICE_MS"]
