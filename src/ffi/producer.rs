//! `kc_producer_t`: the asynchronous producer, its delivery reports and callbacks.

use super::client::{headers_of, kc_record_t};
use super::conf::kc_conf_t;
use super::errors::kc_err_t;
use super::oauth_refresh::{check_conf, enable_background, Refresher};
use super::util::{
    array, boundary, buf, call, catch, copy_out, cstr, millis, null_arg, write_out, Gate,
};
use crate::error::{local, Error, Result};
use crate::producer::{purge, CustomPartitioner, Message, Persisted, Producer, Report};
use crate::record::RecordHeaderIn;
use bytes::Bytes;
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The partitioner chooses the partition (librdkafka's `RD_KAFKA_PARTITION_UA`).
pub const KC_PARTITION_UA: i32 = -1;

/// `kc_delivery_report_t.status`: the message was never written (it failed before it
/// was sent, or the broker refused it).
pub const KC_PERSISTED_NOT: i32 = 0;
/// `kc_delivery_report_t.status`: the message was sent but no acknowledgement came (a
/// lost connection, a timeout, `acks=0`): it may be in the log.
pub const KC_PERSISTED_POSSIBLY: i32 = 1;
/// `kc_delivery_report_t.status`: the broker acknowledged the message.
pub const KC_PERSISTED: i32 = 2;

/// `kc_producer_purge`: messages queued in the producer, not sent yet.
pub const KC_PURGE_F_QUEUE: c_int = 1;
/// `kc_producer_purge`: messages in requests sent and not answered (their answers are
/// ignored; the broker may still write them).
pub const KC_PURGE_F_INFLIGHT: c_int = 2;

/// The outcome of one message, handed to the delivery report callbacks. Every pointer
/// in it is valid only during the callback. The library allocates it and hands it out
/// by pointer only; a later minor version may add fields at its end (never allocate one
/// or index an array of them).
#[repr(C)]
pub struct kc_delivery_report_t {
    /// The topic (NUL-terminated).
    pub topic: *const c_char,
    pub partition: i32,
    /// The offset the broker gave the message; -1 when it failed, with `acks=0`, or when
    /// a retry was recognised by the broker as a duplicate (which does not say where).
    pub offset: i64,
    /// The message's timestamp (ms since the epoch), or the broker's time for topics
    /// with `message.timestamp.type=LogAppendTime`.
    pub timestamp: i64,
    /// `KC_OK` when delivered; else why not (see `kc_producer_send`).
    pub err: kc_err_t,
    /// NULL when delivered; else a description naming the topic, and the partition and
    /// broker where known.
    pub errstr: *const c_char,
    /// `KC_PERSISTED_NOT`, `KC_PERSISTED_POSSIBLY` or `KC_PERSISTED`.
    pub status: i32,
    /// The `opaque` given to `kc_producer_send`.
    pub opaque: *mut c_void,
}

/// A delivery report callback, one report per call. `cb_opaque` is the one set with
/// `kc_conf_set_opaque`. Runs on the thread calling `kc_producer_poll`,
/// `kc_producer_flush` or `kc_producer_close`, never on an internal thread. It may call
/// `kc_producer_send`; it must not free the producer.
pub type kc_dr_msg_cb_t = Option<
    unsafe extern "C" fn(
        producer: *mut kc_producer_t,
        report: *const kc_delivery_report_t,
        cb_opaque: *mut c_void,
    ),
>;

/// A delivery report callback taking many reports per call (in order), for throughput:
/// `reports` is an array of `count` pointers (not of structs, so that
/// `kc_delivery_report_t` may grow at its end in a later minor version). Same rules as
/// `kc_dr_msg_cb_t`.
pub type kc_dr_batch_cb_t = Option<
    unsafe extern "C" fn(
        producer: *mut kc_producer_t,
        reports: *const *const kc_delivery_report_t,
        count: usize,
        cb_opaque: *mut c_void,
    ),
>;

/// An error callback: called once with the producer's fatal error (after which every
/// send fails with `KC_ERR__FATAL`). Runs inside `kc_producer_poll`/`_flush`.
pub type kc_error_cb_t = Option<
    unsafe extern "C" fn(
        producer: *mut kc_producer_t,
        err: kc_err_t,
        reason: *const c_char,
        cb_opaque: *mut c_void,
    ),
>;

/// A partitioner callback: returns the partition (in `0..partition_cnt`) for a message
/// sent with `KC_PARTITION_UA`; any other value fails that send with
/// `KC_ERR__UNKNOWN_PARTITION`. `key` is NULL for a NULL key. Called on the thread that
/// calls `kc_producer_send` (or on the producer's thread, for messages sent before their
/// topic's partitions were known), while the producer is locked: it must not call the
/// producer, and should be quick.
pub type kc_partitioner_cb_t = Option<
    unsafe extern "C" fn(
        topic: *const c_char,
        key: *const c_void,
        key_len: usize,
        partition_cnt: i32,
        cb_opaque: *mut c_void,
    ) -> i32,
>;

/// `kc_producer_send_flags`: the record's value is handed over to the producer instead
/// of copied (librdkafka's `RD_KAFKA_MSG_F_FREE`). A value larger than
/// `message.copy.max.bytes` (default 65535) going into an uncompressed batch is written
/// to the broker from the application's buffer, with no copy.
pub const KC_MSG_F_FREE: c_int = 1;

/// Frees a value handed over with `KC_MSG_F_FREE`: `payload` and `len` are the record's
/// `value` and `value_len`, `cb_opaque` the one set with `kc_conf_set_opaque`. Called
/// exactly once per value handed over, when the producer no longer needs the bytes: on
/// the sending thread before the send returns when the value was copied (small values,
/// compressed batches), else on an internal thread (the producer's or an I/O thread)
/// after the broker acknowledged the message or it failed, which may be before its
/// delivery report is served. The one callback that may run on an internal thread: it
/// must not call the producer, and should be quick. Without one, the C library's
/// `free()` is called.
pub type kc_free_cb_t =
    Option<unsafe extern "C" fn(payload: *mut c_void, len: usize, cb_opaque: *mut c_void)>;

/// The application's pointer for its callbacks: never dereferenced here, only handed
/// back.
#[derive(Clone, Copy)]
pub(crate) struct CbOpaque(*mut c_void);

// SAFETY: the pointer is never dereferenced by the library; it is only passed back to
// the application's callbacks (on the thread that calls poll or flush, and to the free
// callback on an internal thread, as documented for `kc_free_cb_t`).
unsafe impl Send for CbOpaque {}
// SAFETY: as above: shared only to be copied and handed back.
unsafe impl Sync for CbOpaque {}

impl CbOpaque {
    pub(crate) fn get(self) -> *mut c_void {
        self.0
    }
}

impl Default for CbOpaque {
    fn default() -> Self {
        CbOpaque(std::ptr::null_mut())
    }
}

/// The producer's callbacks, kept in the `kc_conf_t`.
#[derive(Clone, Copy, Default)]
pub(crate) struct Callbacks {
    dr_msg: kc_dr_msg_cb_t,
    dr_batch: kc_dr_batch_cb_t,
    error: kc_error_cb_t,
    partitioner: kc_partitioner_cb_t,
    free: kc_free_cb_t,
    pub(crate) opaque: CbOpaque,
}

/// An asynchronous producer.
///
/// Thread-safe: `kc_producer_send` and the other calls may be made from many threads at
/// once; callbacks run on whichever thread calls `kc_producer_poll`/`_flush`/`_close`.
/// `kc_producer_free` may be called while other threads are inside calls on it (they
/// return `KC_ERR__DESTROY`); a call that starts after it is a use after free.
pub struct kc_producer_t {
    pub(super) producer: Producer,
    pub(super) callbacks: Callbacks,
    gate: Gate,
    /// The OAUTHBEARER token refresh callback, if one is set.
    refresher: Option<Arc<Refresher>>,
}

/// Changes one of a configuration's callbacks.
///
/// # Safety
/// `conf` must be NULL or a live handle not used by another thread during the call.
unsafe fn set_callback(conf: *mut kc_conf_t, set: impl FnOnce(&mut Callbacks)) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live, exclusively used handle (contract above).
        let conf = unsafe { conf.as_mut() }.ok_or_else(|| null_arg("conf"))?;
        set(&mut conf.callbacks);
        Ok(())
    })
}

/// Sets the delivery report callback called once per message. Setting both this and
/// the batch form calls both.
///
/// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
///
/// # Safety
/// `conf` must be a live handle not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn kc_conf_set_dr_msg_cb(
    conf: *mut kc_conf_t,
    cb: kc_dr_msg_cb_t,
) -> kc_err_t {
    // SAFETY: NULL or a live, exclusively used handle (contract above).
    unsafe { set_callback(conf, |c| c.dr_msg = cb) }
}

/// Sets the delivery report callback called with many reports at once: those waiting,
/// in order, at most 256 per call (more waiting make more calls). Setting both this and
/// the per-message form calls both, the batch form first for each group of reports.
///
/// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
///
/// # Safety
/// `conf` must be a live handle not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn kc_conf_set_dr_batch_cb(
    conf: *mut kc_conf_t,
    cb: kc_dr_batch_cb_t,
) -> kc_err_t {
    // SAFETY: NULL or a live, exclusively used handle (contract above).
    unsafe { set_callback(conf, |c| c.dr_batch = cb) }
}

/// Sets the error callback (the fatal error, once).
///
/// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
///
/// # Safety
/// `conf` must be a live handle not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn kc_conf_set_error_cb(conf: *mut kc_conf_t, cb: kc_error_cb_t) -> kc_err_t {
    // SAFETY: NULL or a live, exclusively used handle (contract above).
    unsafe { set_callback(conf, |c| c.error = cb) }
}

/// Sets the partitioner callback, used instead of the `partitioner` property.
///
/// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
///
/// # Safety
/// `conf` must be a live handle not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn kc_conf_set_partitioner_cb(
    conf: *mut kc_conf_t,
    cb: kc_partitioner_cb_t,
) -> kc_err_t {
    // SAFETY: NULL or a live, exclusively used handle (contract above).
    unsafe { set_callback(conf, |c| c.partitioner = cb) }
}

/// Sets the callback that frees values handed over with `KC_MSG_F_FREE` (see
/// `kc_free_cb_t`; without one, `free()`).
///
/// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
///
/// # Safety
/// `conf` must be a live handle not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn kc_conf_set_free_cb(conf: *mut kc_conf_t, cb: kc_free_cb_t) -> kc_err_t {
    // SAFETY: NULL or a live, exclusively used handle (contract above).
    unsafe { set_callback(conf, |c| c.free = cb) }
}

/// Sets the pointer every callback receives as `cb_opaque` (NULL by default).
///
/// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
///
/// # Safety
/// `conf` must be a live handle not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn kc_conf_set_opaque(conf: *mut kc_conf_t, opaque: *mut c_void) -> kc_err_t {
    // SAFETY: NULL or a live, exclusively used handle (contract above).
    unsafe { set_callback(conf, |c| c.opaque = CbOpaque(opaque)) }
}

/// Creates a producer from a configuration (`bootstrap.servers` and the producer's
/// properties: `linger.ms`, `enable.idempotence`, … librdkafka's names). `conf` is
/// borrowed (the producer keeps a copy, callbacks included). Brokers are contacted in
/// the background: an unreachable cluster shows as failed delivery reports, not here.
/// On success `*producerp` receives the producer; free it with `kc_producer_free`.
///
/// Errors: `KC_ERR__NULL_ARG` (`conf`, `producerp`), `KC_ERR__INVALID_CONFIG`
/// (`bootstrap.servers` missing; `enable.idempotence=true` with `acks` other than all
/// or `max.in.flight` above 5; an OAUTHBEARER token refresh callback with
/// `enable.sasl.oauthbearer.unsecure.jwt=true`), `KC_ERR__FAIL` (a thread could not be started),
/// `KC_ERR__PANIC`.
///
/// # Safety
/// `conf` must be a live handle and `producerp` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_new(
    conf: *const kc_conf_t,
    producerp: *mut *mut kc_producer_t,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle (contract above).
        let conf = unsafe { conf.as_ref() }.ok_or_else(|| null_arg("conf"))?;
        if producerp.is_null() {
            return Err(null_arg("producerp"));
        }
        check_conf(conf)?;
        let custom = conf.callbacks.partitioner.map(|cb| {
            let opaque = conf.callbacks.opaque;
            CustomPartitioner(Arc::new(move |topic: &str, key: Option<&[u8]>, n: i32| {
                let t = CString::new(topic).unwrap_or_default();
                let (k, len) = key.map_or((std::ptr::null(), 0), |k| (k.as_ptr().cast(), k.len()));
                // SAFETY: the application's callback, with a NUL-terminated topic and a
                // key buffer valid for the call.
                unsafe { cb(t.as_ptr(), k, len, n, opaque.get()) }
            }))
        });
        let producer = Producer::with_partitioner(&conf.inner, custom)?;
        let refresher = Refresher::attach(conf, producer.client());
        let h = Arc::into_raw(Arc::new(kc_producer_t {
            producer,
            callbacks: conf.callbacks,
            gate: Gate::new(),
            refresher,
        }))
        .cast_mut();
        // SAFETY: `producerp` is non-NULL and valid for writes (contract above).
        unsafe { write_out(producerp, h) };
        Ok(())
    })
}

/// Runs `f` as a call inside the producer, within a panic boundary of its own:
/// refused once the producer is being freed.
///
/// # Safety
/// `p` must be NULL or a live handle.
pub(super) unsafe fn with_producer<T>(
    p: *const kc_producer_t,
    f: impl FnOnce(&kc_producer_t) -> Result<T>,
) -> Result<T> {
    // SAFETY: NULL or a live handle (caller contract).
    catch(|| unsafe { in_producer(p, f) }).and_then(|r| r)
}

/// As [`with_producer`], without a panic boundary of its own: for the calls made
/// once per message, which run inside [`call`]'s (a panic in `f` still leaves the
/// gate, as the guard is dropped while unwinding).
///
/// # Safety
/// `p` must be NULL or a live handle.
unsafe fn in_producer<T>(
    p: *const kc_producer_t,
    f: impl FnOnce(&kc_producer_t) -> Result<T>,
) -> Result<T> {
    // SAFETY: NULL or a live handle (caller contract). It stays live for the call:
    // `kc_producer_free` drops C's reference, the only one, only once the gate is empty,
    // and this call leaves the gate last of all it does with the handle.
    let h = unsafe { p.as_ref() }.ok_or_else(|| null_arg("producer"))?;
    let Some(_inside) = h.gate.enter() else {
        return Err(Error::new(
            local::DESTROY,
            "kc_producer_free has been called on this producer",
        ));
    };
    f(h)
}

/// The message `r` describes, borrowing its buffers (and `headers`, from
/// [`headers_of`]).
///
/// # Safety
/// `r` must describe valid buffers (see `kc_record_t`).
unsafe fn message_of<'a>(
    topic: &'a str,
    partition: i32,
    r: &'a kc_record_t,
    headers: &'a [RecordHeaderIn<'a>],
    opaque: *mut c_void,
) -> Result<Message<'a>> {
    Ok(Message {
        topic,
        partition,
        // SAFETY: the record's buffers are valid (contract above).
        key: unsafe { buf(r.key, r.key_len, "key")? },
        // SAFETY: as above.
        value: unsafe { buf(r.value, r.value_len, "value")? },
        headers,
        timestamp: (r.timestamp != 0).then_some(r.timestamp),
        opaque: opaque as usize,
    })
}

/// Sends one record and returns at once: the record is copied into the partition's
/// batch (everything `rec` points to is borrowed for the call only). `partition`: a
/// partition or `KC_PARTITION_UA` (the `partitioner` property chooses). `opaque` comes
/// back in the record's delivery report, which is served by `kc_producer_poll`.
/// `rec->timestamp` 0 takes the time of the call.
///
/// Errors (nothing was queued; no report will come):
///  - `KC_ERR__QUEUE_FULL`: `queue.buffering.max.messages` or `.kbytes` reached
///    (messages not yet acknowledged), or `delivery.report.max.messages` reports wait
///    for `kc_producer_poll`. Poll, then send again (or use `kc_producer_send_blocking`).
///  - `KC_ERR_MESSAGE_TOO_LARGE`: the record alone exceeds `message.max.bytes`.
///  - `KC_ERR__UNKNOWN_PARTITION`: the topic is known and has no such partition (a
///    topic not known yet is waited for: `topic.metadata.propagation.max.ms`).
///  - `KC_ERR__FATAL`: the producer hit a fatal error (`kc_producer_fatal_error`).
///  - `KC_ERR__DESTROY`: the producer is being closed or freed.
///  - `KC_ERR__BAD_COMPRESSION`: the batch the record filled could not be compressed
///    (its other records get failed reports).
///  - `KC_ERR__NULL_ARG` (`producer`, `topic`, `rec`, a header key),
///    `KC_ERR__INVALID_ARG` (an empty topic, a NULL buffer with a length, a string that
///    is not UTF-8), `KC_ERR__PANIC`.
///
/// # Safety
/// `producer` must be a live handle, `topic` a NUL-terminated string, `rec` a valid
/// record (see `kc_record_t`).
#[no_mangle]
pub unsafe extern "C" fn kc_producer_send(
    producer: *mut kc_producer_t,
    topic: *const c_char,
    partition: i32,
    rec: *const kc_record_t,
    opaque: *mut c_void,
) -> kc_err_t {
    // SAFETY: pointers checked inside; validity per the contract above.
    unsafe { send_one(producer, topic, partition, rec, opaque, None) }
}

/// As `kc_producer_send`, but when the queue is full it waits up to `timeout_ms` for
/// space (a negative timeout waits a year) instead of failing at once (Java's
/// `max.block.ms`). `KC_ERR__QUEUE_FULL` then means the wait ran out.
///
/// Errors: as `kc_producer_send`.
///
/// # Safety
/// As `kc_producer_send`.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_send_blocking(
    producer: *mut kc_producer_t,
    topic: *const c_char,
    partition: i32,
    rec: *const kc_record_t,
    opaque: *mut c_void,
    timeout_ms: i32,
) -> kc_err_t {
    // SAFETY: pointers checked inside; validity per the contract above.
    unsafe {
        send_one(
            producer,
            topic,
            partition,
            rec,
            opaque,
            Some(millis(timeout_ms)),
        )
    }
}

/// # Safety
/// As `kc_producer_send`.
unsafe fn send_one(
    producer: *mut kc_producer_t,
    topic: *const c_char,
    partition: i32,
    rec: *const kc_record_t,
    opaque: *mut c_void,
    block: Option<Duration>,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle; the strings and record valid (contract).
        unsafe {
            in_producer(producer, |h| {
                let topic = cstr(topic, "topic")?;
                let r = rec.as_ref().ok_or_else(|| null_arg("rec"))?;
                let headers = headers_of(r)?;
                let m = message_of(topic, partition, r, &headers, opaque)?;
                match block {
                    None => h.producer.send(&m),
                    Some(t) => h.producer.send_blocking(&m, t),
                }
            })
        }
    })
}

/// As `kc_producer_send`, with flags, and waiting up to `timeout_ms` for queue space
/// as `kc_producer_send_blocking` does when `timeout_ms` is not 0 (0 fails at once with
/// `KC_ERR__QUEUE_FULL`, as `kc_producer_send`).
///
/// `flags`: 0, or `KC_MSG_F_FREE`: `rec->value` is handed over. On `KC_OK` the producer
/// owns the buffer and frees it with the free callback (`kc_conf_set_free_cb`, or
/// `free()`) exactly once; the application must not touch it again. On any error the
/// application still owns it and the producer kept no reference. The key and headers
/// are copied either way. A NULL value hands nothing over.
///
/// Errors: as `kc_producer_send`; `KC_ERR__INVALID_ARG` for unknown flags.
///
/// # Safety
/// As `kc_producer_send`; with `KC_MSG_F_FREE`, `rec->value` must be a buffer the free
/// callback (or `free()`) may free, not used by the application after `KC_OK`.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_send_flags(
    producer: *mut kc_producer_t,
    topic: *const c_char,
    partition: i32,
    rec: *const kc_record_t,
    opaque: *mut c_void,
    flags: c_int,
    timeout_ms: i32,
) -> kc_err_t {
    call(|| {
        if flags & !KC_MSG_F_FREE != 0 {
            return Err(Error::invalid_arg(format!("unknown flags {flags:#x}")));
        }
        let block = (timeout_ms != 0).then(|| millis(timeout_ms));
        // SAFETY: NULL or a live handle; the strings and record valid, and with
        // KC_MSG_F_FREE the value handed over (contract above).
        unsafe {
            in_producer(producer, |h| {
                let topic = cstr(topic, "topic")?;
                let r = rec.as_ref().ok_or_else(|| null_arg("rec"))?;
                send_record(h, topic, partition, r, opaque, flags, block)
            })
        }
    })
}

/// Sends one record (`kc_producer_send_flags` and `kc_producer_send_batch_flags`):
/// with `KC_MSG_F_FREE` and a value, the value is handed over on success.
///
/// # Safety
/// `r`'s pointers valid as `kc_producer_send` requires; with `KC_MSG_F_FREE`, `r.value`
/// a buffer handed over as `kc_producer_send_flags` documents.
unsafe fn send_record(
    h: &kc_producer_t,
    topic: &str,
    partition: i32,
    r: &kc_record_t,
    opaque: *mut c_void,
    flags: c_int,
    block: Option<Duration>,
) -> Result<()> {
    // SAFETY: the record's pointers are valid (caller contract).
    let headers = unsafe { headers_of(r)? };
    // SAFETY: as above.
    let m = unsafe { message_of(topic, partition, r, &headers, opaque)? };
    if flags & KC_MSG_F_FREE == 0 || r.value.is_null() {
        return match block {
            None => h.producer.send(&m),
            Some(t) => h.producer.send_blocking(&m, t),
        };
    }
    let handed = Arc::new(Handed {
        ptr: r.value.cast_mut(),
        len: r.value_len,
        free: h.callbacks.free,
        opaque: h.callbacks.opaque,
        armed: AtomicBool::new(true),
    });
    let value = Bytes::from_owner(HandedRef(handed.clone()));
    let sent = h.producer.send_shared(&m, value, block);
    if sent.is_err() {
        // The producer kept no reference: the buffer stays the application's.
        handed.armed.store(false, Ordering::Release);
    }
    sent
}

/// A value handed over with `KC_MSG_F_FREE`: freed once, when the last reference to it
/// goes, unless the send failed (`armed` false).
struct Handed {
    ptr: *mut u8,
    len: usize,
    free: kc_free_cb_t,
    opaque: CbOpaque,
    armed: AtomicBool,
}

// SAFETY: the buffer was handed over (KC_MSG_F_FREE): nothing else writes to it while the
// producer holds it, the producer only reads it, and it is freed once, in `drop`, after
// the last reader let go. The free callback may run on any thread (documented).
unsafe impl Send for Handed {}
// SAFETY: as above: shared read-only.
unsafe impl Sync for Handed {}

impl Drop for Handed {
    fn drop(&mut self) {
        if !self.armed.load(Ordering::Acquire) {
            return;
        }
        match self.free {
            // SAFETY: the application handed `ptr` over with `len` bytes and asked for
            // this callback to free it; this runs once, the last reference gone.
            Some(f) => unsafe { f(self.ptr.cast(), self.len, self.opaque.get()) },
            // SAFETY: without a callback the application promised a `malloc`ed buffer
            // (documented for KC_MSG_F_FREE); freed once, here.
            None => unsafe { libc::free(self.ptr.cast()) },
        }
    }
}

/// The `Bytes` owner of a handed-over value.
struct HandedRef(Arc<Handed>);

impl AsRef<[u8]> for HandedRef {
    fn as_ref(&self) -> &[u8] {
        if self.0.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` is non-NULL (checked before handing over) and points to `len`
        // readable bytes that stay valid and unchanged until `Handed` is dropped, which
        // cannot happen while this reference to it lives.
        unsafe { std::slice::from_raw_parts(self.0.ptr, self.0.len) }
    }
}

/// Sends `cnt` records to `topic`/`partition` in one call: the lowest cost per message.
/// `opaques` (NULL, or `cnt` pointers) gives each record's report opaque. `errs` (NULL,
/// or room for `cnt` codes) receives each record's result, as `kc_producer_send` would
/// return it. Stops at the first `KC_ERR__QUEUE_FULL` (the records from there on get
/// that code). Returns how many records were queued; on an argument error before any
/// record (`KC_ERR__NULL_ARG` for `producer` or `topic`), 0 and `kc_last_error` says
/// why.
///
/// # Safety
/// `producer` must be a live handle, `topic` a NUL-terminated string, `recs` `cnt`
/// valid records, `opaques` NULL or `cnt` pointers, `errs` NULL or `cnt` writable codes.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_send_batch(
    producer: *mut kc_producer_t,
    topic: *const c_char,
    partition: i32,
    recs: *const kc_record_t,
    opaques: *const *mut c_void,
    cnt: usize,
    errs: *mut kc_err_t,
) -> usize {
    // SAFETY: the caller's contract is kc_producer_send_batch_flags's, with no flags.
    unsafe { kc_producer_send_batch_flags(producer, topic, partition, recs, opaques, cnt, 0, errs) }
}

/// As `kc_producer_send_batch`, with `flags` for every record: 0, or `KC_MSG_F_FREE`
/// (as in `kc_producer_send_flags`): each queued record's `value` is handed over and
/// freed by the producer with the free callback (`kc_conf_set_free_cb`, or `free()`)
/// exactly once; a record that was not queued (its code in `errs` is not `KC_OK`: a
/// refused record, or every record from the first `KC_ERR__QUEUE_FULL` on) leaves its
/// value with the application. So with `KC_MSG_F_FREE`, the application frees or
/// resends exactly the records from the returned count on that have a value.
///
/// Errors: as `kc_producer_send_batch`; unknown flags: 0 records queued,
/// `KC_ERR__INVALID_ARG` from `kc_last_error` (and in each of `errs`).
///
/// # Safety
/// As `kc_producer_send_batch`; with `KC_MSG_F_FREE`, every record's non-NULL `value` a
/// buffer the free callback (or `free()`) may free, not used by the application after
/// its record was queued.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_send_batch_flags(
    producer: *mut kc_producer_t,
    topic: *const c_char,
    partition: i32,
    recs: *const kc_record_t,
    opaques: *const *mut c_void,
    cnt: usize,
    flags: c_int,
    errs: *mut kc_err_t,
) -> usize {
    let mut queued = 0usize;
    let rc = call(|| {
        // SAFETY: pointers checked inside; validity per the contract above.
        unsafe {
            let mut codes: Option<&mut [kc_err_t]> = if errs.is_null() || cnt == 0 {
                None
            } else {
                Some(std::slice::from_raw_parts_mut(errs, cnt))
            };
            if flags & !KC_MSG_F_FREE != 0 {
                if let Some(c) = codes.as_deref_mut() {
                    c.fill(local::INVALID_ARG);
                }
                return Err(Error::invalid_arg(format!("unknown flags {flags:#x}")));
            }
            with_producer(producer, |h| {
                let topic = cstr(topic, "topic")?;
                if recs.is_null() && cnt > 0 {
                    return Err(null_arg("recs"));
                }
                let rs = array(recs, cnt, "recs")?;
                let ops: Option<&[*mut c_void]> = if opaques.is_null() {
                    None
                } else {
                    Some(array(opaques, cnt, "opaques")?)
                };
                let mut full = false;
                for (i, r) in rs.iter().enumerate() {
                    let res = if full {
                        Err(Error::new(local::QUEUE_FULL, "queue full"))
                    } else {
                        let opaque = ops.map_or(std::ptr::null_mut(), |o| o[i]);
                        send_record(h, topic, partition, r, opaque, flags, None)
                    };
                    let code = match &res {
                        Ok(()) => {
                            queued += 1;
                            0
                        }
                        Err(e) => {
                            full |= e.code == local::QUEUE_FULL;
                            e.code
                        }
                    };
                    if let Some(c) = codes.as_deref_mut() {
                        c[i] = code;
                    }
                }
                Ok(())
            })
        }
    });
    if rc != 0 {
        return 0;
    }
    queued
}

/// Serves waiting delivery reports (and the fatal error, once) through the callbacks,
/// on this thread, waiting up to `timeout_ms` for the first (0: don't wait; negative: a
/// year). Runs the OAUTHBEARER token refresh callback too when it is due, meanwhile
/// (unless `kc_producer_sasl_background_callbacks_enable` was called); it does not
/// count among the reports served. Returns how many reports were served, or -1 on an error (`kc_last_error`:
/// `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY`, `KC_ERR__PANIC`).
///
/// # Safety
/// `producer` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_poll(producer: *mut kc_producer_t, timeout_ms: i32) -> c_int {
    let mut served = 0usize;
    // SAFETY: NULL or a live handle (contract above).
    let rc = call(|| unsafe {
        with_producer(producer, |h| {
            Refresher::serving_while(h.refresher.as_ref(), millis(timeout_ms), |slice| {
                served = serve(producer, h, slice);
                served > 0 || h.gate.is_closing()
            });
            if served == 0 && h.gate.is_closing() {
                return Err(Error::new(
                    local::DESTROY,
                    "kc_producer_free was called during kc_producer_poll",
                ));
            }
            Ok(())
        })
    });
    if rc != 0 {
        return -1;
    }
    served.min(c_int::MAX as usize) as c_int
}

/// Runs the callbacks for waiting reports. Returns how many were served.
pub(super) fn serve(p: *mut kc_producer_t, h: &kc_producer_t, timeout: Duration) -> usize {
    let cbs = h.callbacks;
    if let (Some(cb), Some(e)) = (cbs.error, h.producer.take_fatal_event()) {
        let reason = CString::new(e.message.replace('\0', " ")).unwrap_or_default();
        // SAFETY: the application's callback, called with valid arguments on its thread.
        unsafe { cb(p, e.code, reason.as_ptr(), cbs.opaque.0) };
    }
    h.producer
        .poll_batches(timeout, |reports| deliver(p, &cbs, reports))
}

/// At most this many reports go to one call of the batch callback, and are converted to
/// C structs at a time: a few KiB of memory per call, however many reports wait.
const DELIVER_CHUNK: usize = 256;

pub(super) fn deliver(p: *mut kc_producer_t, cbs: &Callbacks, reports: &[Report]) {
    if reports.is_empty() || (cbs.dr_msg.is_none() && cbs.dr_batch.is_none()) {
        return;
    }
    let n = reports.len().min(DELIVER_CHUNK);
    // One message string per error value (the reports of a failed batch share one), each
    // on the heap, where it stays while the vector grows.
    let mut errstrs: Vec<CString> = Vec::new();
    let mut c: Vec<kc_delivery_report_t> = Vec::with_capacity(n);
    let mut ptrs: Vec<*const kc_delivery_report_t> = Vec::with_capacity(n);
    for chunk in reports.chunks(DELIVER_CHUNK) {
        errstrs.clear();
        c.clear();
        let mut last_error: Option<&Arc<Error>> = None;
        for r in chunk {
            let errstr = match &r.error {
                None => std::ptr::null(),
                Some(e) => {
                    if !last_error.is_some_and(|l| Arc::ptr_eq(l, e)) {
                        let s = e.message.replace('\0', " ");
                        errstrs.push(CString::new(s).unwrap_or_default());
                        last_error = Some(e);
                    }
                    errstrs.last().map_or(std::ptr::null(), |s| s.as_ptr())
                }
            };
            c.push(kc_delivery_report_t {
                topic: r.topic.c_name.as_ptr(),
                partition: r.partition,
                offset: r.offset,
                timestamp: r.timestamp,
                err: r.error.as_ref().map_or(0, |e| e.code),
                errstr,
                status: match r.status {
                    Persisted::Not => KC_PERSISTED_NOT,
                    Persisted::Possibly => KC_PERSISTED_POSSIBLY,
                    Persisted::Persisted => KC_PERSISTED,
                },
                opaque: r.opaque as *mut c_void,
            });
        }
        if let Some(cb) = cbs.dr_batch {
            ptrs.clear();
            ptrs.extend(c.iter().map(|r| r as *const _));
            // SAFETY: the application's callback; `ptrs`, the reports and the strings
            // they point to live until the call returns.
            unsafe { cb(p, ptrs.as_ptr(), ptrs.len(), cbs.opaque.0) };
        }
        if let Some(cb) = cbs.dr_msg {
            for r in &c {
                // SAFETY: as above, one report at a time.
                unsafe { cb(p, r, cbs.opaque.0) };
            }
        }
    }
}

/// Sends everything queued now (cutting `linger.ms` short) and serves delivery reports
/// through the callbacks until every message sent before the call has its report, or
/// `timeout_ms` passes (negative: a year). The OAUTHBEARER token refresh callback runs
/// meanwhile when due, as in `kc_producer_poll`.
///
/// Errors: `KC_ERR__TIMED_OUT` (messages remain; they stay queued and keep their
/// `message.timeout.ms`), `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY`, `KC_ERR__PANIC`.
///
/// # Safety
/// `producer` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_flush(
    producer: *mut kc_producer_t,
    timeout_ms: i32,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle (contract above).
        unsafe {
            with_producer(producer, |h| {
                let cbs = h.callbacks;
                let mut r = Ok(());
                Refresher::serving_while(h.refresher.as_ref(), millis(timeout_ms), |slice| {
                    r = h
                        .producer
                        .flush_batches(slice, |reports| deliver(producer, &cbs, reports));
                    !matches!(&r, Err(e) if e.code == local::TIMED_OUT)
                });
                serve(producer, h, Duration::ZERO);
                r
            })
        }
    })
}

/// Drops queued (`KC_PURGE_F_QUEUE`) and/or in-flight (`KC_PURGE_F_INFLIGHT`) messages.
/// Each gets a failed report (`KC_ERR__PURGE_QUEUE`, `KC_ERR__PURGE_INFLIGHT`) served
/// by the next `kc_producer_poll`. With idempotence, the producer's epoch is bumped
/// before anything more is sent.
///
/// Errors: `KC_ERR__INVALID_ARG` (unknown flags), `KC_ERR__NULL_ARG`,
/// `KC_ERR__DESTROY`, `KC_ERR__PANIC`.
///
/// # Safety
/// `producer` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_purge(producer: *mut kc_producer_t, flags: c_int) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle (contract above).
        unsafe {
            with_producer(producer, |h| {
                if flags & !(KC_PURGE_F_QUEUE | KC_PURGE_F_INFLIGHT) != 0 {
                    return Err(Error::invalid_arg(format!(
                        "unknown purge flags {flags:#x}"
                    )));
                }
                let mut f = 0;
                if flags & KC_PURGE_F_QUEUE != 0 {
                    f |= purge::QUEUE;
                }
                if flags & KC_PURGE_F_INFLIGHT != 0 {
                    f |= purge::INFLIGHT;
                }
                h.producer.purge(f);
                Ok(())
            })
        }
    })
}

/// Messages not yet acknowledged (queued or in flight) plus delivery reports not yet
/// served: 0 once everything has been reported (librdkafka's `rd_kafka_outq_len`).
/// 0 for NULL.
///
/// # Safety
/// `producer` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_outq_len(producer: *mut kc_producer_t) -> usize {
    let mut n = 0;
    // SAFETY: NULL or a live handle (contract above).
    let _ = call(|| unsafe {
        with_producer(producer, |h| {
            let (a, b) = h.producer.outstanding();
            n = a + b;
            Ok(())
        })
    });
    n
}

/// The producer's fatal error: its code (0 when there is none) and, when `buf` is not
/// NULL, its description in `buf` (`len` bytes, NUL-terminated, truncated to fit).
/// Returns 0 for a NULL producer.
///
/// # Safety
/// `producer` must be NULL or a live handle; `buf` NULL or `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_fatal_error(
    producer: *mut kc_producer_t,
    buf: *mut c_char,
    len: usize,
) -> kc_err_t {
    let mut code = 0;
    // SAFETY: NULL or a live handle; `buf` valid (contract above).
    let _ = call(|| unsafe {
        with_producer(producer, |h| {
            if let Some(e) = h.producer.fatal_error() {
                code = e.code;
                if !buf.is_null() && len > 0 {
                    copy_out(&e.message, buf, len);
                }
            }
            Ok(())
        })
    });
    code
}

/// Flushes for up to `timeout_ms` (serving reports through the callbacks), then drops
/// what is left and stops the producer's threads and connections. A transactional
/// producer's open transaction is aborted first (a commit already under way is carried
/// on), within the same `timeout_ms`, so that it does not hold `read_committed` readers
/// back until `transaction.timeout.ms`. Returns within
/// `timeout_ms` plus the time to close connections (no network wait; a negative timeout
/// is a year). `*droppedp` (may be NULL) receives how many messages were dropped without
/// a report. After it, sends fail with `KC_ERR__DESTROY`; the handle must still be
/// freed.
///
/// Errors: `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY` (already being freed), `KC_ERR__PANIC`.
///
/// # Safety
/// `producer` must be a live handle; `droppedp` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_close(
    producer: *mut kc_producer_t,
    timeout_ms: i32,
    droppedp: *mut usize,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle (contract above).
        unsafe {
            with_producer(producer, |h| {
                let cbs = h.callbacks;
                // Reports reach the callbacks a slice at a time as they come, as in
                // poll and flush (not gathered first).
                let mut serve = |b: &[Report]| deliver(producer, &cbs, b);
                let deadline = Instant::now() + millis(timeout_ms);
                h.producer
                    .end_open_transaction(millis(timeout_ms), &mut serve);
                let _ = h.producer.flush_batches(
                    deadline.saturating_duration_since(Instant::now()),
                    &mut serve,
                );
                let dropped = h.producer.close(Duration::ZERO);
                write_out(droppedp, dropped);
                Ok(())
            })
        }
    })
}

/// Frees the producer without waiting for anything: messages not yet reported are
/// dropped (call `kc_producer_flush` or `kc_producer_close` first to deliver them).
/// Calls in progress on other threads return `KC_ERR__DESTROY` (a blocked send or a
/// poll is woken at once). Returns once the producer's threads have stopped. NULL is a
/// no-op; freeing twice, or from inside a callback, is undefined behaviour.
///
/// # Safety
/// `producer` must be NULL or a live handle; no call on it may start after this one.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_free(producer: *mut kc_producer_t) {
    boundary((), || {
        if producer.is_null() {
            return;
        }
        // SAFETY: made by Arc::into_raw in kc_producer_new; this takes back C's
        // reference, once (contract above). It is dropped once the calls inside have
        // left the gate (they borrow the handle for no longer).
        let h = unsafe { Arc::from_raw(producer.cast_const()) };
        if let Some(r) = &h.refresher {
            r.stop();
        }
        h.gate.close();
        h.producer.close(Duration::ZERO);
        h.gate.wait_until_empty();
        drop(h);
    })
}

/// `kc_client_sasl_background_callbacks_enable` for a producer: its token refresh
/// callback runs on a background thread instead of inside `kc_producer_poll` and
/// `_flush`. Stopped by `kc_producer_free`, with the same bound. Same errors.
///
/// # Safety
/// `producer` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_sasl_background_callbacks_enable(
    producer: *mut kc_producer_t,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle (contract above).
        unsafe { with_producer(producer, |h| enable_background(h.refresher.as_ref())) }
    })
}
