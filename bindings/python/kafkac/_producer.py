"""The asynchronous producer (`kc_producer_*`)."""
import itertools
import weakref
from ctypes import byref, c_size_t, c_void_p, create_string_buffer

from . import _constants as C
from . import _ffi as F
from ._common import (
    CallbackErrors,
    Deadline,
    DeliveredMessage,
    encode,
    make_conf,
    to_ms,
    tp_array,
)
from ._consumer import ConsumerGroupMetadata
from ._error import KafkaError, KafkaException, error_from, txn_error_from
from ._oauth import TokenRefresh, set_token, set_token_failure

_DESTROY = C.KC_ERR__DESTROY
_send = F.kc_producer_send
_record = F.kc_record_t


def _headers_array(headers):
    """`headers` (a dict, or a list of (key, value) pairs; keys str, values bytes, str or
    None) as a C array of `kc_header_t`, and the normalized list."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers)
    arr = (F.kc_header_t * len(items))()
    norm = []
    for i, pair in enumerate(items):
        try:
            k, v = pair
        except (TypeError, ValueError):
            raise TypeError("headers must be a dict or a list of (key, value) pairs") from None
        if isinstance(k, bytes):
            kb = k
            k = k.decode("utf-8", "replace")
        elif isinstance(k, str):
            kb = k.encode("utf-8")
        else:
            raise TypeError(f"header key must be str, not {type(k).__name__}")
        vb = encode(v, "header value")
        h = arr[i]
        h.key = kb
        h.key_len = len(kb)
        if vb is not None:
            h.value = vb
            h.value_len = len(vb)
        norm.append((k, vb))
    return arr, norm


class Producer:
    """An asynchronous producer, with confluent-kafka's surface.

        p = Producer({"bootstrap.servers": "127.0.0.1:9092"})
        p.produce("events", b"value", key=b"key", on_delivery=report)
        p.poll(0)       # serves delivery reports: report(err, msg)
        p.flush()

    `conf` takes librdkafka's property names (values may be str, int or bool) and, as
    Python callables: `on_delivery` (the default delivery callback, `f(err, msg)`),
    `error_cb` (`f(KafkaError)`, the producer's fatal error, once) and `oauth_cb`
    (`f(oauthbearer_config)` returning `(token, expiry)` or `(token, expiry, principal,
    extensions)`, expiry in seconds since the epoch: the OAUTHBEARER token, for
    `sasl.mechanism=OAUTHBEARER`; called when the producer starts and at 80 % of each
    token's lifetime).

    With `transactional.id`, records are produced in transactions: `init_transactions()`
    once, then `begin_transaction()`, `produce(...)`, optionally
    `send_offsets_to_transaction(...)`, and `commit_transaction()` or
    `abort_transaction()`. A failed transactional call raises KafkaException whose
    KafkaError says what to do: `retriable()` (call again), `txn_requires_abort()`
    (abort, rewind, begin again) or `fatal()` (the producer is unusable).

    Callbacks run inside `poll()`, `flush()` and `close()`, on the calling thread. An
    exception a callback raises is kept (the other reports of the call are still served)
    and raised by that call once the library has returned.

    Thread-safe: produce, poll and flush may be called from several threads. Usable as a
    context manager: leaving the block closes the producer (it delivers what is queued,
    see `close`).
    """

    def __init__(self, conf=None, **kwargs):
        props = dict(conf or {})
        props.update(kwargs)
        on_delivery = props.pop("on_delivery", None)
        alias = props.pop("delivery.report.callback", None)
        self._on_delivery = on_delivery or alias
        self._error_cb = props.pop("error_cb", None)
        oauth_cb = props.pop("oauth_cb", None)
        self._pending = {}
        self._ids = itertools.count(1)
        self._topics = {}
        self._topic_names = {}
        self._errors = CallbackErrors()
        self._closed = False
        wself = weakref.ref(self)

        # The functions C calls. Each catches everything: an exception is kept for the
        # Python call that is serving the callbacks (ctypes would print and drop it).
        errors = self._errors

        def dr(_producer, reports, count, _opaque):
            try:
                s = wself()
                if s is not None:
                    s._serve_reports(reports, count)
            except BaseException as e:
                errors.keep(e)

        def on_error(_producer, err, reason, _opaque):
            try:
                s = wself()
                if s is not None:
                    s._serve_error(err, reason)
            except BaseException as e:
                errors.keep(e)

        # Kept on the instance: C holds the function pointers as long as the producer.
        self._c_dr = F.kc_dr_batch_cb_t(dr)
        self._c_error = F.kc_error_cb_t(on_error)
        self._oauth = TokenRefresh(oauth_cb, errors) if oauth_cb is not None else None
        conf = make_conf(props)
        try:
            F.kc_conf_set_dr_batch_cb(conf, self._c_dr)
            F.kc_conf_set_error_cb(conf, self._c_error)
            if self._oauth is not None:
                F.kc_conf_set_oauthbearer_token_refresh_cb(conf, self._oauth.thunk)
            h = c_void_p()
            err = F.kc_producer_new(conf, byref(h))
            if err:
                raise error_from(err)
        finally:
            F.kc_conf_free(conf)
        self._h = h.value

    # -- callbacks (called by C; never let an exception out) --------------------------

    def _serve_reports(self, reports, count):
        try:
            pending = self._pending
            if not pending:
                return
            names = self._topic_names
            for i in range(count):
                r = reports[i].contents
                entry = pending.pop(r.opaque, None)
                if entry is None:
                    continue
                cb, key, value, headers = entry
                err = r.err
                error = None
                if err:
                    s = r.errstr
                    error = KafkaError(err, s.decode("utf-8", "replace") if s else None,
                                       fatal=err == C.KC_ERR__FATAL)
                tb = r.topic
                topic = names.get(tb)
                if topic is None:
                    topic = names[tb] = tb.decode("utf-8", "replace")
                offset = r.offset
                msg = DeliveredMessage(topic, r.partition, None if offset < 0 else offset,
                                       r.timestamp, key, value, headers, error, r.status)
                try:
                    cb(error, msg)
                except BaseException as e:  # C must not see it
                    self._errors.keep(e)
        except BaseException as e:
            self._errors.keep(e)

    def _serve_error(self, err, reason):
        try:
            if self._error_cb is not None:
                self._error_cb(KafkaError(err, reason.decode("utf-8", "replace") if reason else None,
                                          fatal=True))
        except BaseException as e:
            self._errors.keep(e)

    # -- the API -------------------------------------------------------------------------

    def _handle(self):
        h = getattr(self, "_h", None)
        if h is None or self._closed:
            raise KafkaException(KafkaError(_DESTROY, "the producer is closed"))
        return h

    def produce(self, topic, value=None, key=None, partition=C.KC_PARTITION_UA,
                on_delivery=None, timestamp=0, headers=None, callback=None):
        """Queues one record and returns at once. `value`/`key`: bytes or str (UTF-8), or
        None for a null one (b"" is an empty one, which Kafka tells apart). `partition`:
        PARTITION_UA lets the partitioner choose. `headers`: a dict or a list of
        (key, value) pairs, values bytes, str or None. `timestamp`: ms since the epoch, 0
        for now. `on_delivery(err, msg)` is called from a later poll/flush with the
        outcome (`err` None when delivered; `msg.offset()` the offset).

        Raises QueueFullError (a KafkaException and a BufferError) when the queue is full:
        poll() and produce again. Other errors: KafkaException with the code (e.g.
        `MESSAGE_TOO_LARGE`, `_UNKNOWN_PARTITION`, `_FATAL`, `_INVALID_ARG`)."""
        if self._closed:
            self._handle()
        h = self._h
        tb = self._topics.get(topic)
        if tb is None:
            if not isinstance(topic, str):
                raise TypeError(f"topic must be str, not {type(topic).__name__}")
            tb = self._topics[topic] = topic.encode("utf-8")
        rec = _record()
        if value is not None:
            if type(value) is not bytes:
                value = encode(value, "value")
            rec.value = value
            rec.value_len = len(value)
        if key is not None:
            if type(key) is not bytes:
                key = encode(key, "key")
            rec.key = key
            rec.key_len = len(key)
        norm = None
        if headers:
            arr, norm = _headers_array(headers)
            rec.headers = arr
            rec.header_cnt = len(arr)
        if timestamp:
            rec.timestamp = timestamp
        cb = on_delivery or callback or self._on_delivery
        if cb is None:
            err = _send(h, tb, partition, byref(rec), None)
            if err:
                raise error_from(err)
            return
        oid = next(self._ids)
        self._pending[oid] = (cb, key, value, norm)
        err = _send(h, tb, partition, byref(rec), oid)
        if err:
            e = error_from(err)
            self._pending.pop(oid, None)
            raise e

    def poll(self, timeout=None):
        """Serves waiting delivery reports (and the fatal error) through the callbacks,
        waiting up to `timeout` seconds for the first (None or negative: no limit).
        Returns how many reports were served."""
        h = self._handle()
        dl = Deadline(to_ms(timeout))
        while True:
            n = F.kc_producer_poll(h, dl.next_slice())
            if n < 0:
                raise error_from(F.kc_last_error_code() or C.KC_ERR__FAIL)
            self._errors.raise_pending()
            if n > 0 or dl.next_slice() == 0:
                return n

    def flush(self, timeout=None):
        """Sends everything queued and serves delivery reports until every message has its
        report or `timeout` seconds have passed (None or negative: no limit). Returns the
        number of messages still waiting (0 when all were reported), as confluent-kafka."""
        h = self._handle()
        dl = Deadline(to_ms(timeout))
        while True:
            err = F.kc_producer_flush(h, dl.next_slice())
            if err and err != C.KC_ERR__TIMED_OUT:
                raise error_from(err)
            self._errors.raise_pending()
            if not err or dl.next_slice() == 0:
                return F.kc_producer_outq_len(h)

    def purge(self, in_queue=True, in_flight=True, blocking=True):
        """Drops queued and/or in-flight messages: each gets a failed delivery report
        (`_PURGE_QUEUE`, `_PURGE_INFLIGHT`) served by the next poll. `blocking` is accepted
        for confluent-kafka compatibility (the purge never waits)."""
        flags = (C.KC_PURGE_F_QUEUE if in_queue else 0) | (C.KC_PURGE_F_INFLIGHT if in_flight else 0)
        err = F.kc_producer_purge(self._handle(), flags)
        if err:
            raise error_from(err)

    def outq_len(self):
        """Messages not yet reported: queued, in flight, or with a report not served yet."""
        h = getattr(self, "_h", None)
        return F.kc_producer_outq_len(h) if h is not None else 0

    def __len__(self):
        return self.outq_len()

    def __bool__(self):
        return True

    def fatal_error(self):
        """The producer's fatal error as a KafkaError, or None."""
        buf = create_string_buffer(512)
        code = F.kc_producer_fatal_error(self._handle(), buf, len(buf))
        if not code:
            return None
        return KafkaError(code, buf.value.decode("utf-8", "replace") or None, fatal=True)

    # -- transactions ------------------------------------------------------------------

    def _txn(self, fn, timeout, *args):
        """Runs a transactional call in waits of at most SLICE_MS (a timed-out call
        continues where it stopped when made again), serving callbacks; raises the
        error with its class."""
        h = self._handle()
        dl = Deadline(to_ms(timeout))
        while True:
            err = fn(h, *args, dl.next_slice())
            exc = txn_error_from(err) if err else None
            self._errors.raise_pending()
            if exc is None:
                return
            e = exc.args[0]
            if not (e.code() == C.KC_ERR__TIMED_OUT and e.retriable()) or dl.next_slice() == 0:
                raise exc

    def init_transactions(self, timeout=None):
        """Gets the producer id for `transactional.id` from the transaction coordinator,
        fencing older producers with the same id and aborting the transaction they left
        open. Called once, before the first transaction, within `timeout` seconds (None
        or negative: no limit). Raises KafkaException: `_TIMED_OUT` (`retriable()`: call
        again, it continues), `_STATE` (not a transactional producer, or initialised
        already), a fatal broker error (`TRANSACTIONAL_ID_AUTHORIZATION_FAILED`)."""
        self._txn(F.kc_producer_init_transactions, timeout)

    def begin_transaction(self):
        """Begins a transaction: records produced until commit or abort belong to it (a
        transactional producer refuses records outside one, with `_STATE`). Raises
        KafkaException `_STATE` (no init_transactions, or a transaction in progress), the
        abortable error not yet aborted (`txn_requires_abort()`), or a fatal error."""
        h = self._handle()
        err = F.kc_producer_begin_transaction(h)
        if err:
            raise txn_error_from(err)

    def send_offsets_to_transaction(self, positions, group_metadata, timeout=None):
        """Commits the consumer offsets `positions` (TopicPartitions, offset the next
        record to consume) of the group in `group_metadata`
        (`Consumer.consumer_group_metadata()`) as part of the transaction: they become
        the group's committed offsets when, and only if, the transaction commits.
        Errors: `_TIMED_OUT` (retriable), abortable errors (`ILLEGAL_GENERATION`,
        `UNKNOWN_MEMBER_ID`: the group rebalanced), fatal errors, `_STATE`."""
        if not isinstance(group_metadata, ConsumerGroupMetadata):
            raise TypeError("group_metadata must come from Consumer.consumer_group_metadata(), "
                            f"not {type(group_metadata).__name__}")
        positions = list(positions)
        arr = tp_array(positions)
        self._txn(F.kc_producer_send_offsets_to_transaction, timeout, arr, len(positions),
                  group_metadata._handle())

    def commit_transaction(self, timeout=None):
        """Commits the transaction: sends what is queued, waits for every record of it
        (serving delivery reports), then has the coordinator commit, within `timeout`
        seconds (None or negative: no limit). Errors: `_TIMED_OUT` (retriable: call
        again, the commit continues), abortable errors (a record of the transaction
        failed: abort), fatal errors (fenced), `_STATE` (no transaction)."""
        self._txn(F.kc_producer_commit_transaction, timeout)

    def abort_transaction(self, timeout=None):
        """Aborts the transaction: drops what is queued (each record gets its delivery
        report, `_PURGE_QUEUE`), waits for what is in flight, then has the coordinator
        abort, within `timeout` seconds (None or negative: no limit); read_committed
        consumers never see its records. Errors: `_TIMED_OUT` (retriable), fatal
        errors, `_STATE` (no transaction)."""
        self._txn(F.kc_producer_abort_transaction, timeout)

    # -- OAUTHBEARER ---------------------------------------------------------------------

    def oauthbearer_set_token(self, token, expiry, principal=None, extensions=None):
        """Sets the OAUTHBEARER token every connection of the producer sends when it
        authenticates (`sasl.mechanism=OAUTHBEARER`): `expiry` in seconds since the
        epoch, `principal` (None: the JWT's `sub` claim), `extensions` a dict of SASL
        extensions. For applications that get tokens without `oauth_cb`. Raises
        KafkaException `_INVALID_ARG` (a malformed token, an expiry in the past, ...;
        the message says which) or `_STATE` (not OAUTHBEARER)."""
        set_token(F.kc_producer_oauthbearer_set_token, self._handle(), token, expiry,
                  principal, extensions)

    def oauthbearer_set_token_failure(self, errstr):
        """Records that no token could be got: connections fail with `_AUTHENTICATION`
        and `errstr` until a token is set (`oauth_cb` is called again 10 s later)."""
        set_token_failure(F.kc_producer_oauthbearer_set_token_failure, self._handle(), errstr)

    def sasl_background_callbacks_enable(self):
        """Runs `oauth_cb` on a background thread of the producer from now on, instead
        of inside `poll()` and `flush()`: for an application that does not poll. An
        exception it raises is then raised by the next `poll()`/`flush()` on any thread.
        Raises KafkaException `_STATE` when the producer has no `oauth_cb` (or does not
        use OAUTHBEARER)."""
        h = self._handle()
        if self._oauth is None:
            err = F.kc_producer_sasl_background_callbacks_enable(h)
            if err:
                raise error_from(err)
            return
        self._oauth.enable_background(F.kc_producer_sasl_background_callbacks_enable, h, self)

    def close(self, timeout=None):
        """Flushes for up to `timeout` seconds (None: until every message has its report,
        which `message.timeout.ms` bounds), serving reports through the callbacks, then
        drops what is left and stops the producer's threads and connections. Returns how
        many messages were dropped without a report. Closing again does nothing; other
        calls then raise KafkaException(_DESTROY)."""
        h = getattr(self, "_h", None)
        if h is None or self._closed:
            return 0
        dropped = c_size_t(0)
        # Flushed in slices first (so that Ctrl-C is seen), then closed for good.
        # The handle itself is freed when the object is collected: another thread may be
        # inside a call on it, which the library answers with _DESTROY from now on.
        try:
            if timeout is None or timeout > 0:
                self.flush(timeout)
        finally:
            self._closed = True
            err = F.kc_producer_close(h, 0, byref(dropped))
            # Messages dropped without a report: their callbacks will never be called.
            self._pending.clear()
        if err and err != _DESTROY:
            raise error_from(err)
        self._errors.raise_pending()
        return dropped.value

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def __del__(self, _free=F.kc_producer_free):
        # (The function is bound at definition: module globals may be gone at exit.)
        h = getattr(self, "_h", None)
        if h is not None:
            self._h = None
            _free(h)
