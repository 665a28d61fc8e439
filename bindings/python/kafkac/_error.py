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

    __slots__ = ("_code", "_str", "_fatal", "_retriable", "_txn_requires_abort")

    NO_ERROR = C.KC_OK

    def __init__(self, code, reason=None, fatal=False, retriable=False,
                 txn_requires_abort=False):
        self._code = int(code)
        self._str = reason
        self._fatal = bool(fatal)
        self._retriable = bool(retriable)
        self._txn_requires_abort = bool(txn_requires_abort)

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
        """Whether the client cannot go on after this error (close it). For a
        transactional call: the producer is unusable (fenced by a newer producer with
        the same `transactional.id`, not authorised); the transaction in progress was
        not committed."""
        return self._fatal

    def retriable(self):
        """Whether the transactional call that failed may be made again with the same
        arguments: it continues where it stopped (a timeout)."""
        return self._retriable

    def txn_requires_abort(self):
        """Whether the transactional call that failed leaves a transaction that can only
        be aborted: call `abort_transaction()`, rewind the input to the last committed
        point, and begin a new transaction."""
        return self._txn_requires_abort

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
        flags = "".join(f", {n}" for n, on in (("fatal", self._fatal),
                                               ("retriable", self._retriable),
                                               ("txn_requires_abort", self._txn_requires_abort))
                        if on)
        return f"KafkaError{{code={self.name()},val={self._code},str={self.str()!r}{flags}}}"


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


def txn_error_from(code):
    """A `KafkaException` for a failed transactional call: its class (retriable,
    abortable, fatal) and detail are read here, on the thread that made the call, before
    any other library call can replace them."""
    retriable = bool(F.kc_txn_error_is_retriable())
    abortable = bool(F.kc_txn_error_is_abortable())
    fatal = bool(F.kc_txn_error_is_fatal()) or code == C.KC_ERR__FATAL
    msg = last_error_message() or None
    return KafkaException(KafkaError(code, msg, fatal=fatal, retriable=retriable,
                                     txn_requires_abort=abortable))


def check(code):
    """Raises for a non-zero code."""
    if code:
        raise error_from(code)
