"""The group consumer (`kc_consumer_*`)."""
import collections
import weakref
from ctypes import POINTER, byref, c_char_p, c_size_t, c_void_p

from . import _constants as C
from . import _ffi as F
from ._common import (
    CallbackErrors,
    Deadline,
    Message,
    TopicPartition,
    make_conf,
    to_ms,
    tp_array,
    tp_list,
)
from ._error import KafkaError, KafkaException, error_from
from ._oauth import TokenRefresh, set_token, set_token_failure

_DESTROY = C.KC_ERR__DESTROY
_new = object.__new__


class ConsumerGroupMetadata:
    """A consumer's group metadata (its `group.id`, `group.instance.id` and, while it is a
    member of a stable group, its generation and member id) as
    `Consumer.consumer_group_metadata()` took it, for
    `Producer.send_offsets_to_transaction()`. Opaque; usable from any thread."""

    __slots__ = ("_m",)

    def __init__(self):
        self._m = None
        raise TypeError("made by Consumer.consumer_group_metadata() only")

    @classmethod
    def _wrap(cls, ptr):
        m = _new(cls)
        m._m = ptr
        return m

    def _handle(self):
        return self._m

    def __del__(self, _free=F.kc_group_metadata_free):
        m = self._m
        if m:
            self._m = None
            _free(m)

    def __repr__(self):
        return "<ConsumerGroupMetadata>"


class Consumer:
    """A consumer of a group's partitions (`subscribe`) or of partitions the application
    assigns (`assign`), with confluent-kafka's surface.

        c = Consumer({"bootstrap.servers": "127.0.0.1:9092", "group.id": "g",
                      "auto.offset.reset": "earliest"})
        c.subscribe(["events"])
        msg = c.poll(1.0)       # a Message, or None when nothing came in time
        c.close()

    `conf` takes librdkafka's property names, `on_commit` (a callable
    `f(err, partitions)`: the result of asynchronous and automatic commits) and `oauth_cb`
    (`f(oauthbearer_config)` returning `(token, expiry)` or `(token, expiry, principal,
    extensions)`, expiry in seconds since the epoch: the OAUTHBEARER token, for
    `sasl.mechanism=OAUTHBEARER`; run inside `poll()`/`consume()` when due).

    `subscribe` takes `on_assign`, `on_revoke` and `on_lost` callbacks,
    `f(consumer, partitions)`. They are informational (the consumer applies the
    assignment itself once they return); they may commit, seek, pause, or call `assign`
    with the partitions they were given to choose where each starts (applied as a seek).

    Callbacks run inside `poll()`, `consume()` and `close()`, on the calling thread. An
    exception one raises is kept and raised by that call once the library has returned
    (a message that call received is handed out by the next one).

    Usable as a context manager: leaving the block closes the consumer.
    """

    def __init__(self, conf=None, **kwargs):
        props = dict(conf or {})
        props.update(kwargs)
        self._on_commit = props.pop("on_commit", None)
        oauth_cb = props.pop("oauth_cb", None)
        self._on_assign = self._on_revoke = self._on_lost = None
        self._errors = CallbackErrors()
        self._held = collections.deque()
        self._closed = False
        self._closing = False
        wself = weakref.ref(self)

        # The functions C calls. Each catches everything: an exception is kept for the
        # Python call that is serving the callbacks (ctypes would print and drop it).
        errors = self._errors

        def rebalance(_c, kind, parts, cnt, _opaque):
            try:
                s = wself()
                if s is not None:
                    s._serve_rebalance(kind, parts, cnt)
            except BaseException as e:
                errors.keep(e)

        def commit(_c, err, offsets, cnt, _opaque):
            try:
                s = wself()
                if s is not None:
                    s._serve_commit(err, offsets, cnt)
            except BaseException as e:
                errors.keep(e)

        self._c_rebalance = F.kc_rebalance_cb_t(rebalance)
        self._c_commit = F.kc_offset_commit_cb_t(commit)
        self._oauth = TokenRefresh(oauth_cb, errors) if oauth_cb is not None else None
        conf = make_conf(props)
        try:
            F.kc_conf_set_rebalance_cb(conf, self._c_rebalance)
            F.kc_conf_set_offset_commit_cb(conf, self._c_commit)
            if self._oauth is not None:
                F.kc_conf_set_oauthbearer_token_refresh_cb(conf, self._oauth.thunk)
            h = c_void_p()
            err = F.kc_consumer_new(conf, byref(h))
            if err:
                raise error_from(err)
        finally:
            F.kc_conf_free(conf)
        self._h = h.value

    # -- callbacks (called by C; never let an exception out) --------------------------

    def _serve_rebalance(self, kind, parts, cnt):
        try:
            if kind == C.KC_ERR__ASSIGN_PARTITIONS:
                cb = self._on_assign
            elif kind == C.KC_ERR__REVOKE_PARTITIONS:
                cb = self._on_revoke
            else:
                cb = self._on_lost or self._on_revoke
            if cb is None:
                return
            cb(self, tp_list(parts, cnt))
        except BaseException as e:  # C must not see it
            self._errors.keep(e)

    def _serve_commit(self, err, offsets, cnt):
        try:
            if self._on_commit is not None:
                self._on_commit(KafkaError(err) if err else None, tp_list(offsets, cnt))
        except BaseException as e:
            self._errors.keep(e)

    # -- helpers --------------------------------------------------------------------------

    def _handle(self):
        h = getattr(self, "_h", None)
        if h is None or self._closed:
            raise KafkaException(KafkaError(_DESTROY, "the consumer is closed"))
        return h

    def _call(self, fn, *args):
        err = fn(self._handle(), *args)
        if err:
            raise error_from(err)

    def _after_poll(self, msgs):
        """Raises a callback's exception after a poll, keeping what the poll received for
        the next one."""
        if self._errors.pending():
            self._held.extend(msgs)
            self._errors.raise_pending()

    # -- subscription and assignment ------------------------------------------------

    def subscribe(self, topics, on_assign=None, on_revoke=None, on_lost=None):
        """Subscribes to `topics` (names; one starting with `^` is a regular expression),
        replacing any earlier subscription or assignment."""
        if isinstance(topics, str):
            raise TypeError("topics must be a list of topic names")
        names = [t.encode("utf-8") for t in topics]
        arr = (c_char_p * len(names))(*names)
        self._on_assign, self._on_revoke, self._on_lost = on_assign, on_revoke, on_lost
        self._call(F.kc_consumer_subscribe, arr, len(names))

    def unsubscribe(self):
        self._call(F.kc_consumer_unsubscribe)

    def assign(self, partitions):
        """Consumes exactly `partitions` (TopicPartition, each with an offset or
        OFFSET_BEGINNING / OFFSET_END / OFFSET_STORED / OFFSET_INVALID), without group
        membership. Called from `on_assign`, it takes that rebalance over instead (the
        group's assignment stands): the partitions listed start at their offsets, the
        ones given to `on_assign` and left out stay assigned but paused until `resume`.
        From `on_revoke`/`on_lost`, an empty list (`unassign()`) changes nothing."""
        partitions = list(partitions)
        arr = tp_array(partitions)
        self._call(F.kc_consumer_assign, arr, len(partitions))

    def unassign(self):
        self._call(F.kc_consumer_assign, None, 0)

    def assignment(self):
        """The partitions assigned now, sorted."""
        parts = POINTER(F.kc_topic_partition_t)()
        cnt = c_size_t()
        self._call(F.kc_consumer_assignment, byref(parts), byref(cnt))
        try:
            return [TopicPartition(tp.topic, tp.partition) for tp in tp_list(parts, cnt.value)]
        finally:
            F.kc_topic_partitions_free(parts, cnt.value)

    # -- consuming ------------------------------------------------------------------------

    def poll(self, timeout=None):
        """The next record or event (a Message; check `msg.error()`), or None when nothing
        came within `timeout` seconds (None or negative: no limit)."""
        if self._held:
            return self._held.popleft()
        h = self._handle()
        dl = Deadline(to_ms(timeout))
        while True:
            p = F.kc_consumer_poll(h, dl.next_slice())
            if p:
                msg = Message._wrap(p)
                self._after_poll((msg,))
                return msg
            code = F.kc_last_error_code()
            if code:
                raise error_from(code)
            self._errors.raise_pending()
            if dl.next_slice() == 0:
                return None

    def consume(self, num_messages=1, timeout=None):
        """Up to `num_messages` messages: waits up to `timeout` seconds (None or negative:
        no limit) for the first, then takes what is ready. Returns a list (empty when
        nothing came in time)."""
        if num_messages < 1:
            raise ValueError("num_messages must be at least 1")
        if self._held:
            out = []
            while self._held and len(out) < num_messages:
                out.append(self._held.popleft())
            return out
        h = self._handle()
        arr = (c_void_p * num_messages)()
        dl = Deadline(to_ms(timeout))
        while True:
            n = F.kc_consumer_poll_batch(h, dl.next_slice(), arr, num_messages)
            if n:
                msgs = []
                append = msgs.append
                for p in arr[:n]:
                    m = _new(Message)
                    m._m = p
                    append(m)
                self._after_poll(msgs)
                return msgs
            code = F.kc_last_error_code()
            if code:
                raise error_from(code)
            self._errors.raise_pending()
            if dl.next_slice() == 0:
                return []

    # -- offsets --------------------------------------------------------------------------

    def _offsets_of(self, message, offsets):
        if message is not None and offsets is not None:
            raise ValueError("give message or offsets, not both")
        if message is not None:
            if message.error() is not None:
                raise ValueError("the message is an error event, not a record")
            return [TopicPartition(message.topic(), message.partition(), message.offset() + 1,
                                   leader_epoch=message.leader_epoch())]
        if offsets is not None:
            return list(offsets)
        return None

    def commit(self, message=None, offsets=None, asynchronous=False):
        """Commits the offset after `message`, or `offsets` (TopicPartitions, offset the
        next record to consume), or, with neither, what the polls handed out so far.
        Synchronous by default: waits for the broker and raises its error; returns the
        offsets committed when they were given, else None. `asynchronous=True` returns at
        once (the result goes to `on_commit` in a later poll)."""
        parts = self._offsets_of(message, offsets)
        if parts is None:
            self._call(F.kc_consumer_commit, None, 0, 1 if asynchronous else 0)
            return None
        arr = tp_array(parts)
        self._call(F.kc_consumer_commit, arr, len(parts), 1 if asynchronous else 0)
        return None if asynchronous else parts

    def store_offsets(self, message=None, offsets=None):
        """Stores the offset after `message`, or `offsets`, for the next commit (for
        `enable.auto.offset.store=false`)."""
        parts = self._offsets_of(message, offsets)
        if parts is None:
            raise ValueError("give message or offsets")
        for tp in parts:
            self._call(F.kc_consumer_store_offset, tp.topic.encode("utf-8"), tp.partition,
                       tp.offset)

    def committed(self, partitions, timeout=None):
        """The group's committed offsets of `partitions` (any partitions): new
        TopicPartitions, offset OFFSET_INVALID where nothing is committed."""
        partitions = list(partitions)
        arr = tp_array(partitions)
        self._call(F.kc_consumer_committed, arr, len(partitions), to_ms(timeout))
        return tp_list(arr, len(partitions))

    def position(self, partitions):
        """The offset of the next record a poll hands out for each of `partitions`
        (OFFSET_INVALID before the first record); a partition not assigned gets
        `error` _UNKNOWN_PARTITION."""
        partitions = list(partitions)
        arr = tp_array(partitions)
        self._call(F.kc_consumer_position, arr, len(partitions))
        return tp_list(arr, len(partitions))

    def seek(self, partition):
        """Moves an assigned partition (a TopicPartition) to its `offset` (>= 0,
        OFFSET_BEGINNING or OFFSET_END)."""
        self._call(F.kc_consumer_seek, partition.topic.encode("utf-8"), partition.partition,
                   partition.offset)

    def pause(self, partitions):
        partitions = list(partitions)
        self._call(F.kc_consumer_pause, tp_array(partitions), len(partitions))

    def resume(self, partitions):
        partitions = list(partitions)
        self._call(F.kc_consumer_resume, tp_array(partitions), len(partitions))

    def consumer_group_metadata(self):
        """The consumer's group metadata now, for
        `Producer.send_offsets_to_transaction()`: take it after the poll whose records
        the transaction holds (the coordinator refuses offsets of a member that left the
        group or of an older generation). Raises KafkaException `_INVALID_ARG` when the
        consumer has no `group.id`."""
        m = c_void_p()
        self._call(F.kc_consumer_group_metadata, byref(m))
        return ConsumerGroupMetadata._wrap(m.value)

    # -- OAUTHBEARER ----------------------------------------------------------------------

    def oauthbearer_set_token(self, token, expiry, principal=None, extensions=None):
        """Sets the OAUTHBEARER token the consumer's connections send when they
        authenticate; as `Producer.oauthbearer_set_token`."""
        set_token(F.kc_consumer_oauthbearer_set_token, self._handle(), token, expiry,
                  principal, extensions)

    def oauthbearer_set_token_failure(self, errstr):
        """Records that no token could be got; as
        `Producer.oauthbearer_set_token_failure`."""
        set_token_failure(F.kc_consumer_oauthbearer_set_token_failure, self._handle(), errstr)

    def sasl_background_callbacks_enable(self):
        """Runs `oauth_cb` on a background thread of the consumer from now on, instead
        of inside `poll()`/`consume()`; as `Producer.sasl_background_callbacks_enable`."""
        h = self._handle()
        if self._oauth is None:
            self._call(F.kc_consumer_sasl_background_callbacks_enable)
            return
        self._oauth.enable_background(F.kc_consumer_sasl_background_callbacks_enable, h, self)

    # -- closing --------------------------------------------------------------------------

    def close(self, timeout=10.0):
        """Leaves the group cleanly (the revoke callback runs here; with
        `enable.auto.commit` what the polls handed out is committed) and stops the
        consumer's threads and connections, within `timeout` seconds (None: no limit)
        plus a little. Closing again does nothing; other calls then raise
        KafkaException(_DESTROY). Messages already received stay valid."""
        h = getattr(self, "_h", None)
        if h is None or self._closed or self._closing:
            return
        # The callbacks close runs (on_revoke) may still call the consumer (commit,
        # unassign): it is marked closed once the library's close has returned.
        self._closing = True
        self._held.clear()
        # The handle is freed when the object is collected: another thread may still be
        # inside a call on it, which the library answers with _DESTROY from now on.
        try:
            err = F.kc_consumer_close(h, to_ms(timeout))
        finally:
            self._closed = True
        if err and err != _DESTROY:
            raise error_from(err)
        self._errors.raise_pending()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def __del__(self, _free=F.kc_consumer_free):
        # (The function is bound at definition: module globals may be gone at exit.)
        h = getattr(self, "_h", None)
        if h is not None:
            self._h = None
            _free(h)
