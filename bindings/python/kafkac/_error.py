"""Errors: `KafkaError` (a code with its description) and `KafkaException` (carries one)."""
import ctypes

from . import _constants as C
from . import _ffi as F


class KafkaError:
    """An error code of kafkac with its description.

    `code()` is the number from include/kafkac.h: 0 is success, Kafka's own errors keep
    their wire numbers (`KafkaError.UNKNOWN_TOPIC_OR_PARTITION` is 3) and local errors are
    negative (`KafkaError._TIMED_OUT`). Every `KC_ERR_<NAME>` of the header is a class
    attribute `<NAME>`, e.g. `KafkaError._QUEUE_FULL`, `KafkaError.NOT_COORDINATOR`.
    Compares equal to its code.
    """

    __slots__ = ("_code", "_str", "_fatal")

    NO_ERROR = C.KC_OK

    def __init__(self, code, reason=None, fatal=False):
        self._code = int(code)
        self._str = reason
        self._fatal = bool(fatal)

    def code(self):
        """The error code (an int)."""
        return self._code

    def name(self):
        """The code's symbolic name without the `KC_ERR_` prefix, e.g. `_TIMED_OUT`."""
        return F.kc_err_name(self._code).decode()

    def str(self):
        """What happened: the detail the library gave for this failure (which broker,
        topic, partition, property), else the code's generic description."""
        if self._str:
            return self._str
        return F.kc_err_str(self._code).decode()

    def fatal(self):
        """Whether the client cannot go on after this error (close it)."""
        return self._fatal

    def __eq__(self, other):
        if isinstance(other, KafkaError):
            return self._code == other._code
        if isinstance(other, int):
            return self._code == other
        return NotImplemented

    def __hash__(self):
        return hash(self._code)

    def __str__(self):
        return self.str()

    def __repr__(self):
        fatal = ", fatal" if self._fatal else ""
        return f"KafkaError{{code={self.name()},val={self._code},str={self.str()!r}{fatal}}}"


for _name in dir(C):
    if _name.startswith("KC_ERR_"):
        setattr(KafkaError, _name[len("KC_ERR_"):], getattr(C, _name))
del _name

# librdkafka's (and so confluent-kafka's) names for the Kafka codes it names differently.
KafkaError.INVALID_MSG = C.KC_ERR_CORRUPT_MESSAGE
KafkaError.INVALID_MSG_SIZE = C.KC_ERR_INVALID_FETCH_SIZE
KafkaError.MSG_SIZE_TOO_LARGE = C.KC_ERR_MESSAGE_TOO_LARGE
KafkaError.NOT_LEADER_FOR_PARTITION = C.KC_ERR_NOT_LEADER_OR_FOLLOWER
KafkaError.STALE_CTRL_EPOCH = C.KC_ERR_STALE_CONTROLLER_EPOCH
KafkaError.TOPIC_EXCEPTION = C.KC_ERR_INVALID_TOPIC_EXCEPTION
KafkaError.UNKNOWN = C.KC_ERR_UNKNOWN_SERVER_ERROR
KafkaError.UNKNOWN_TOPIC_OR_PART = C.KC_ERR_UNKNOWN_TOPIC_OR_PARTITION


class KafkaException(Exception):
    """A failed call: `args[0]` (and `.error`) is the `KafkaError`."""

    def __init__(self, error, *args):
        if isinstance(error, int):
            error = KafkaError(error)
        super().__init__(error, *args)

    @property
    def error(self):
        return self.args[0]

    def __str__(self):
        e = self.args[0]
        if isinstance(e, KafkaError):
            return f"{e.name()}: {e.str()}"
        return super().__str__()


class QueueFullError(KafkaException, BufferError):
    """`produce()` found the producer's queue full (`KafkaError._QUEUE_FULL`): serve
    delivery reports with `poll()`, then produce again. Also a `BufferError`, which is what
    confluent-kafka raises there."""


def last_error_message():
    """The calling thread's last failure detail, from `kc_last_error`."""
    n = F.kc_last_error(None, 0)
    if n == 0:
        return ""
    buf = ctypes.create_string_buffer(n + 1)
    F.kc_last_error(buf, n + 1)
    return buf.value.decode("utf-8", "replace")


def error_from(code):
    """A `KafkaException` for `code`, with the calling thread's last failure detail (read
    right after the failing call, on the same thread)."""
    msg = last_error_message() or None
    cls = QueueFullError if code == C.KC_ERR__QUEUE_FULL else KafkaException
    return cls(KafkaError(code, msg, fatal=code == C.KC_ERR__FATAL))


def check(code):
    """Raises for a non-zero code."""
    if code:
        raise error_from(code)
