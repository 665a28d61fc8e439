"""Topic administration and offset look-ups (`kc_client_*`)."""
from ctypes import byref, c_char_p, c_int64, c_void_p

from . import _constants as C
from . import _ffi as F
from ._common import make_conf, to_ms
from ._error import KafkaError, KafkaException, error_from


class AdminClient:
    """A client for topic administration and offset look-ups.

        a = AdminClient({"bootstrap.servers": "127.0.0.1:9092"})
        a.create_topic("events", partitions=3)

    Thread-safe. Usable as a context manager (leaving the block closes it)."""

    def __init__(self, conf=None, **kwargs):
        props = dict(conf or {})
        props.update(kwargs)
        conf = make_conf(props)
        try:
            h = c_void_p()
            err = F.kc_client_new(conf, byref(h))
            if err:
                raise error_from(err)
        finally:
            F.kc_conf_free(conf)
        self._h = h.value

    def _handle(self):
        if self._h is None:
            raise KafkaException(KafkaError(C.KC_ERR__DESTROY, "the client is closed"))
        return self._h

    def create_topic(self, topic, partitions=-1, replication_factor=-1, config=None,
                     timeout=30.0):
        """Creates `topic` (-1: the broker's default partitions / replication factor) with
        `config` (a dict of topic properties). Raises KafkaException with the broker's code
        (e.g. TOPIC_ALREADY_EXISTS)."""
        pairs = []
        for k, v in (config or {}).items():
            pairs += [str(k).encode(), str(v).encode()]
        arr = (c_char_p * len(pairs))(*pairs)
        err = F.kc_client_create_topic(self._handle(), topic.encode(), partitions,
                                       replication_factor, arr if pairs else None,
                                       len(pairs) // 2, to_ms(timeout))
        if err:
            raise error_from(err)

    def delete_topic(self, topic, timeout=30.0):
        err = F.kc_client_delete_topic(self._handle(), topic.encode(), to_ms(timeout))
        if err:
            raise error_from(err)

    def list_offset(self, topic, partition, what=C.KC_OFFSET_LATEST, timeout=30.0):
        """OFFSET_EARLIEST (log start), OFFSET_LATEST (the next offset), or the first
        offset at or after a timestamp in ms."""
        out = c_int64()
        err = F.kc_client_list_offsets(self._handle(), topic.encode(), partition, what,
                                       to_ms(timeout), byref(out))
        if err:
            raise error_from(err)
        return out.value

    def get_watermark_offsets(self, partition, timeout=30.0):
        """(low, high) offsets of a TopicPartition, as confluent-kafka's consumer gives."""
        return (self.list_offset(partition.topic, partition.partition, C.KC_OFFSET_EARLIEST, timeout),
                self.list_offset(partition.topic, partition.partition, C.KC_OFFSET_LATEST, timeout))

    def close(self, _free=F.kc_client_free):
        h, self._h = self._h, None
        if h is not None:
            _free(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        if getattr(self, "_h", None) is not None:
            self.close()
