"""kafkac: an Apache Kafka client (Python binding of libkafkac, over ctypes).

    from kafkac import Producer
    with Producer({"bootstrap.servers": "127.0.0.1:9092"}) as p:
        p.produce("events", b"hello", key=b"k")

The surface follows confluent-kafka: Producer, Consumer, Message, TopicPartition,
KafkaError, KafkaException, and the OFFSET_* / TIMESTAMP_* constants. Every constant of
include/kafkac.h is also in `kafkac.constants` under its C name (KC_...).
"""
from . import _constants as constants
from ._client import AdminClient
from ._common import DeliveredMessage, Message, TopicPartition
from ._consumer import Consumer, ConsumerGroupMetadata
from ._error import KafkaError, KafkaException, QueueFullError
from ._ffi import lib_path, kc_version as _kc_version
from ._producer import Producer

PARTITION_UA = constants.KC_PARTITION_UA
OFFSET_BEGINNING = constants.KC_OFFSET_BEGINNING
OFFSET_END = constants.KC_OFFSET_END
OFFSET_STORED = constants.KC_OFFSET_STORED
OFFSET_INVALID = constants.KC_OFFSET_INVALID
OFFSET_EARLIEST = constants.KC_OFFSET_EARLIEST
OFFSET_LATEST = constants.KC_OFFSET_LATEST
TIMESTAMP_NOT_AVAILABLE = constants.KC_TIMESTAMP_NOT_AVAILABLE
TIMESTAMP_CREATE_TIME = constants.KC_TIMESTAMP_CREATE_TIME
TIMESTAMP_LOG_APPEND_TIME = constants.KC_TIMESTAMP_LOG_APPEND_TIME
PERSISTED_NOT = constants.KC_PERSISTED_NOT
PERSISTED_POSSIBLY = constants.KC_PERSISTED_POSSIBLY
PERSISTED = constants.KC_PERSISTED
PURGE_F_QUEUE = constants.KC_PURGE_F_QUEUE
PURGE_F_INFLIGHT = constants.KC_PURGE_F_INFLIGHT

__version__ = "0.1.0"


def version():
    """(version string, version number) of the library loaded, as confluent-kafka's
    libversion()."""
    from ._ffi import kc_version_num
    return (_kc_version().decode(), kc_version_num())


libversion = version

__all__ = [
    "AdminClient", "Consumer", "ConsumerGroupMetadata", "DeliveredMessage", "KafkaError", "KafkaException", "Message",
    "Producer", "QueueFullError", "TopicPartition", "constants", "lib_path", "libversion",
    "version", "PARTITION_UA", "OFFSET_BEGINNING", "OFFSET_END", "OFFSET_STORED",
    "OFFSET_INVALID", "OFFSET_EARLIEST", "OFFSET_LATEST", "TIMESTAMP_NOT_AVAILABLE",
    "TIMESTAMP_CREATE_TIME", "TIMESTAMP_LOG_APPEND_TIME", "PERSISTED_NOT",
    "PERSISTED_POSSIBLY", "PERSISTED", "PURGE_F_QUEUE", "PURGE_F_INFLIGHT",
]
