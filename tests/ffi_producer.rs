//! The producer's C API (`kc_producer_*`, `kc_conf_set_dr_msg_cb`, `_dr_batch_cb`,
//! `_error_cb` and `_opaque`), called as a C program would, against Apache Kafka (the
//! single-node cluster this test binary shares), an address where nothing listens, and
//! a fake broker on loopback (tests/fake) that holds Produce requests unanswered and
//! lacks InitProducerId.
//!
//! Every function is called with NULL for each pointer argument and on each error path
//! a user can hit; delivery reports are checked through both callback forms; and a C
//! program (tests/c/producer_lifecycle.c) runs the producer's life cycle under
//! AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer.

mod clib;
mod common;
mod fake;

use common::ffi::{assert_ok, cs, last_error, rs, Out};
use common::kafka::{self, KAFKA_START_TIMEOUT};
use common::records::Reader;
use common::with_timeout;
use kafkac::ffi::*;
use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Kafka's MESSAGE_TOO_LARGE (a macro in the header, not a Rust constant).
const KC_ERR_MESSAGE_TOO_LARGE: kc_err_t = 10;

/// Bound on each test once its broker runs.
const LIMIT: Duration = Duration::from_secs(60);
/// Bound on starting the shared cluster: formatting the metadata directory (one JVM) and
/// starting the node.
const START_LIMIT: Duration = Duration::from_secs(2 * KAFKA_START_TIMEOUT.as_secs());
/// Bound on building the library and the C program.
const BUILD_LIMIT: Duration = Duration::from_secs(600);
/// Timeout of the flushes that must deliver everything.
const FLUSH_MS: i32 = 30_000;
/// Timeout of the Rust client calls that create topics and read back.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `f` with the bootstrap address of the shared single-node cluster: the cluster's
/// start is bounded by [`START_LIMIT`] and the test by [`LIMIT`].
fn on_kafka<F>(f: F)
where
    F: FnOnce(&'static str) + Send + 'static,
{
    let k = with_timeout(START_LIMIT, kafka::shared);
    with_timeout(LIMIT, move || f(&k.bootstrap))
}

/// Runs `f`, which needs no broker, bounded by [`LIMIT`].
fn offline<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    with_timeout(LIMIT, f)
}

/// An address where nothing listens: connecting is refused.
fn nowhere() -> String {
    format!("127.0.0.1:{}", common::free_port())
}

/// Creates `name` with `partitions` partitions (one replica) on the broker at `b`.
fn create_topic(b: &str, name: &str, partitions: i32) {
    let c = common::client::client(b);
    common::client::create_topic(&c, name, partitions, 1, &[], CALL_TIMEOUT);
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Asserts a call returned `want`, that the thread's last error has the same code, and
/// that its message contains every fragment in `says`. Returns the message.
#[track_caller]
fn assert_err(got: kc_err_t, want: kc_err_t, says: &[&str]) -> String {
    let msg = last_error();
    assert_eq!(
        got,
        want,
        "expected {} got {} ({msg})",
        rs(kc_err_name(want)),
        rs(kc_err_name(got))
    );
    assert_last_error(want, says)
}

/// Asserts the thread's last error has code `want` and mentions every fragment in `says`.
#[track_caller]
fn assert_last_error(want: kc_err_t, says: &[&str]) -> String {
    let msg = last_error();
    assert_eq!(kc_last_error_code(), want, "kc_last_error_code ({msg})");
    for s in says {
        assert!(msg.contains(s), "last error {msg:?} should mention {s:?}");
    }
    msg
}

/// Owns a configuration.
struct Conf(*mut kc_conf_t);

impl Conf {
    /// A configuration with `bootstrap.servers` (unless empty), a short retry back-off
    /// and `settings`.
    fn new(bootstrap: &str, settings: &[(&str, &str)]) -> Conf {
        let c = Conf(kc_conf_new());
        assert!(!c.0.is_null());
        if !bootstrap.is_empty() {
            c.set("bootstrap.servers", bootstrap);
        }
        c.set("retry.backoff.ms", "20");
        c.set("retry.backoff.max.ms", "200");
        for (k, v) in settings {
            c.set(k, v);
        }
        c
    }

    #[track_caller]
    fn set(&self, name: &str, value: &str) {
        // SAFETY: live handle, NUL-terminated strings.
        assert_ok(unsafe { kc_conf_set(self.0, cs(name).as_ptr(), cs(value).as_ptr()) });
    }

    /// Routes the callbacks asked for to `sink` (as `cb_opaque`).
    fn callbacks(&self, sink: &Sink, msg: bool, batch: bool, error: bool) {
        // SAFETY: live handle; the sink outlives every producer made from this
        // configuration (the tests declare it first).
        unsafe {
            if msg {
                assert_ok(kc_conf_set_dr_msg_cb(self.0, Some(on_msg)));
            }
            if batch {
                assert_ok(kc_conf_set_dr_batch_cb(self.0, Some(on_batch)));
            }
            if error {
                assert_ok(kc_conf_set_error_cb(self.0, Some(on_error)));
            }
            assert_ok(kc_conf_set_opaque(self.0, sink.ptr()));
        }
    }
}

impl Drop for Conf {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { kc_conf_free(self.0) }
    }
}

/// A record over borrowed buffers: NULL for `None`, a non-NULL pointer for `Some` (also
/// when empty).
fn record(key: Option<&[u8]>, value: Option<&[u8]>) -> kc_record_t {
    let (k, kl) = key.map_or((ptr::null(), 0), |k| (k.as_ptr(), k.len()));
    let (v, vl) = value.map_or((ptr::null(), 0), |v| (v.as_ptr(), v.len()));
    kc_record_t {
        key: k,
        key_len: kl,
        value: v,
        value_len: vl,
        headers: ptr::null(),
        header_cnt: 0,
        timestamp: 0,
    }
}

/// Owns a producer (freed on drop unless taken).
struct Producer(*mut kc_producer_t);

// SAFETY: the producer is documented as usable from many threads at once.
unsafe impl Send for Producer {}
// SAFETY: as above.
unsafe impl Sync for Producer {}

impl Producer {
    #[track_caller]
    fn new(conf: &Conf) -> Producer {
        let mut out = Out::<*mut kc_producer_t>::new();
        // SAFETY: live configuration, valid out-pointer.
        assert_ok(unsafe { kc_producer_new(conf.0, out.ptr()) });
        let p = out.get();
        assert!(!p.is_null());
        Producer(p)
    }

    fn send(&self, topic: &CStr, partition: i32, rec: &kc_record_t, opaque: usize) -> kc_err_t {
        // SAFETY: live producer, NUL-terminated topic, a record over live buffers.
        unsafe {
            kc_producer_send(
                self.0,
                topic.as_ptr(),
                partition,
                rec,
                opaque as *mut c_void,
            )
        }
    }

    /// Sends a message with `value` and no key.
    fn send_value(&self, topic: &CStr, partition: i32, value: &[u8], opaque: usize) -> kc_err_t {
        self.send(topic, partition, &record(None, Some(value)), opaque)
    }

    fn poll(&self, timeout_ms: i32) -> i32 {
        // SAFETY: live producer.
        unsafe { kc_producer_poll(self.0, timeout_ms) }
    }

    fn flush(&self, timeout_ms: i32) -> kc_err_t {
        // SAFETY: live producer.
        unsafe { kc_producer_flush(self.0, timeout_ms) }
    }

    fn outq_len(&self) -> usize {
        // SAFETY: live producer.
        unsafe { kc_producer_outq_len(self.0) }
    }

    fn purge(&self, flags: i32) -> kc_err_t {
        // SAFETY: live producer.
        unsafe { kc_producer_purge(self.0, flags) }
    }

    /// `kc_producer_close`; returns its code and the dropped count (or `usize::MAX` when
    /// it wrote none).
    fn close(&self, timeout_ms: i32) -> (kc_err_t, usize) {
        let mut dropped = usize::MAX;
        // SAFETY: live producer, valid out-pointer.
        let rc = unsafe { kc_producer_close(self.0, timeout_ms, &mut dropped) };
        (rc, dropped)
    }

    /// Polls until `sink` holds `n` per-message reports or `limit` passes.
    fn poll_until(&self, sink: &Sink, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while sink.msgs().len() < n && Instant::now() < deadline {
            assert!(self.poll(50) >= 0, "poll: {}", last_error());
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        // SAFETY: owned, freed once; NULL (taken) is a no-op.
        unsafe { kc_producer_free(self.0) }
    }
}

/// One delivery report, copied out of a callback, with what the callback was given.
#[derive(Debug, Clone, PartialEq)]
struct Rep {
    producer: usize,
    cb_opaque: usize,
    thread: ThreadId,
    topic: String,
    partition: i32,
    offset: i64,
    timestamp: i64,
    err: kc_err_t,
    errstr: Option<String>,
    status: i32,
    opaque: usize,
}

/// What the error callback was given.
#[derive(Debug, Clone)]
struct ErrorCall {
    producer: usize,
    cb_opaque: usize,
    err: kc_err_t,
    reason: String,
}

/// What the partitioner callback was given.
#[derive(Debug, Clone)]
struct PartitionerCall {
    topic: String,
    key: Option<Vec<u8>>,
    partition_cnt: i32,
    cb_opaque: usize,
}

/// Where the callbacks put what they get (their `cb_opaque`). Callbacks never panic
/// (a panic cannot cross `extern "C"`): they record, and the tests check.
#[derive(Default)]
struct Sink {
    msg: Mutex<Vec<Rep>>,
    batch: Mutex<Vec<Rep>>,
    /// The count of each batch callback call.
    batch_calls: Mutex<Vec<usize>>,
    errors: Mutex<Vec<ErrorCall>>,
    /// When the report of this opaque arrives, the per-message callback sends a message
    /// to partition 0 of the topic with opaque [`RESENT`] and records the result.
    resend_on: Mutex<Option<(usize, CString)>>,
    resend_rc: Mutex<Option<kc_err_t>>,
    partitioned: Mutex<Vec<PartitionerCall>>,
    /// Values freed by [`free_value`]: address, length, first byte and thread.
    freed: Mutex<Vec<(usize, usize, u8, ThreadId)>>,
}

const RESENT: usize = 0x5E5E;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sink {
    fn ptr(&self) -> *mut c_void {
        (self as *const Sink).cast_mut().cast()
    }

    fn msgs(&self) -> Vec<Rep> {
        lock(&self.msg).clone()
    }

    fn batches(&self) -> Vec<Rep> {
        lock(&self.batch).clone()
    }

    fn clear(&self) {
        lock(&self.msg).clear();
        lock(&self.batch).clear();
        lock(&self.batch_calls).clear();
    }
}

/// A report as the callbacks see it.
///
/// # Safety
/// `r` must point to a live report.
unsafe fn rep(p: *mut kc_producer_t, r: *const kc_delivery_report_t, cb: *mut c_void) -> Rep {
    // SAFETY: valid for the callback (caller contract).
    let r = unsafe { &*r };
    let text = |s: *const c_char| {
        // SAFETY: NULL or a NUL-terminated string valid during the callback.
        (!s.is_null()).then(|| unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned())
    };
    Rep {
        producer: p as usize,
        cb_opaque: cb as usize,
        thread: thread::current().id(),
        topic: text(r.topic).unwrap_or_else(|| "<NULL topic>".into()),
        partition: r.partition,
        offset: r.offset,
        timestamp: r.timestamp,
        err: r.err,
        errstr: text(r.errstr),
        status: r.status,
        opaque: r.opaque as usize,
    }
}

unsafe extern "C" fn on_msg(
    p: *mut kc_producer_t,
    r: *const kc_delivery_report_t,
    cb: *mut c_void,
) {
    // SAFETY: `cb` is the Sink the test set with kc_conf_set_opaque, alive while the
    // producer is.
    let sink = unsafe { &*cb.cast::<Sink>() };
    // SAFETY: the report is valid during the callback.
    let rep = unsafe { rep(p, r, cb) };
    let resend = lock(&sink.resend_on)
        .as_ref()
        .filter(|(o, _)| *o == rep.opaque)
        .map(|(_, t)| t.clone());
    if let Some(topic) = resend {
        let rec = record(None, Some(b"sent from a callback"));
        // SAFETY: the producer the callback was given is live during it; the header
        // allows sending from a delivery report callback.
        let rc = unsafe { kc_producer_send(p, topic.as_ptr(), 0, &rec, RESENT as *mut c_void) };
        *lock(&sink.resend_rc) = Some(rc);
    }
    lock(&sink.msg).push(rep);
}

unsafe extern "C" fn on_batch(
    p: *mut kc_producer_t,
    reports: *const *const kc_delivery_report_t,
    count: usize,
    cb: *mut c_void,
) {
    // SAFETY: as in on_msg.
    let sink = unsafe { &*cb.cast::<Sink>() };
    lock(&sink.batch_calls).push(count);
    let mut v = lock(&sink.batch);
    for i in 0..count {
        // SAFETY: `count` pointers to reports valid during the callback.
        v.push(unsafe { rep(p, *reports.add(i), cb) });
    }
}

unsafe extern "C" fn on_error(
    p: *mut kc_producer_t,
    err: kc_err_t,
    reason: *const c_char,
    cb: *mut c_void,
) {
    // SAFETY: as in on_msg.
    let sink = unsafe { &*cb.cast::<Sink>() };
    let reason = if reason.is_null() {
        "<NULL reason>".into()
    } else {
        // SAFETY: a NUL-terminated string valid during the callback.
        unsafe { CStr::from_ptr(reason) }
            .to_string_lossy()
            .into_owned()
    };
    lock(&sink.errors).push(ErrorCall {
        producer: p as usize,
        cb_opaque: cb as usize,
        err,
        reason,
    });
}

/// A partitioner: a key "p<digit>" goes to that partition, a NULL key to the last
/// partition, an empty key to partition 0, and any other key to partition 99 (which no
/// topic here has).
unsafe extern "C" fn by_key(
    topic: *const c_char,
    key: *const c_void,
    key_len: usize,
    partition_cnt: i32,
    cb: *mut c_void,
) -> i32 {
    // SAFETY: as in on_msg.
    let sink = unsafe { &*cb.cast::<Sink>() };
    let key: Option<Vec<u8>> = (!key.is_null())
        // SAFETY: `key_len` bytes at `key`, valid during the call.
        .then(|| unsafe { std::slice::from_raw_parts(key.cast::<u8>(), key_len) }.to_vec());
    // SAFETY: a NUL-terminated topic name valid during the call.
    let name = unsafe { CStr::from_ptr(topic) }
        .to_string_lossy()
        .into_owned();
    let p = match key.as_deref() {
        None => partition_cnt - 1,
        Some([]) => 0,
        Some([b'p', d]) if d.is_ascii_digit() => i32::from(d - b'0'),
        Some(_) => 99,
    };
    lock(&sink.partitioned).push(PartitionerCall {
        topic: name,
        key,
        partition_cnt,
        cb_opaque: cb as usize,
    });
    p
}

/// Frees a value handed over with `KC_MSG_F_FREE` (made by [`handed_value`]) and
/// records it in the sink.
unsafe extern "C" fn free_value(payload: *mut c_void, len: usize, cb: *mut c_void) {
    // SAFETY: as in on_msg.
    let sink = unsafe { &*cb.cast::<Sink>() };
    // SAFETY: `payload` is a `Box<[u8]>` of `len` bytes leaked by `handed_value`, freed
    // here once (the test checks the producer calls this once per value).
    let value = unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(payload.cast::<u8>(), len)) };
    let first = value.first().copied().unwrap_or(0);
    lock(&sink.freed).push((payload as usize, len, first, thread::current().id()));
}

/// A value to hand over: `len` bytes of `fill`, leaked until [`free_value`] (or the test,
/// when the send failed) frees it.
fn handed_value(len: usize, fill: u8) -> (*mut u8, usize) {
    let b: Box<[u8]> = vec![fill; len].into_boxed_slice();
    (Box::into_raw(b).cast::<u8>(), len)
}

/// A record read back: offset, key, value.
type Row = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// Reads `n` records of `topic`/`partition` from offset 0 with kafkac's low-level fetch,
/// in order.
fn read_back(bootstrap: &str, topic: &str, partition: i32, n: usize) -> Vec<Row> {
    let c = common::client::client(bootstrap);
    let reader = Reader {
        timeout: CALL_TIMEOUT,
        high_watermark_covers: false,
    };
    reader
        .fetch_n(&c, topic, partition, 0, n)
        .into_iter()
        .map(|g| (g.offset, g.key, g.value))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Arguments and configuration
// ---------------------------------------------------------------------------------------

#[test]
fn null_pointer_arguments_are_refused_and_named() {
    offline(|| {
        let sink = Sink::default();
        let conf = Conf::new(&nowhere(), &[]);
        let null_conf: *mut kc_conf_t = ptr::null_mut();
        // SAFETY (every call below): NULL where the test says so, else live handles and
        // valid buffers; the library must check each pointer before using it.
        unsafe {
            assert_err(
                kc_conf_set_dr_msg_cb(null_conf, Some(on_msg)),
                KC_ERR__NULL_ARG,
                &["'conf'"],
            );
            assert_err(
                kc_conf_set_dr_batch_cb(null_conf, Some(on_batch)),
                KC_ERR__NULL_ARG,
                &["'conf'"],
            );
            assert_err(
                kc_conf_set_error_cb(null_conf, Some(on_error)),
                KC_ERR__NULL_ARG,
                &["'conf'"],
            );
            assert_err(
                kc_conf_set_partitioner_cb(null_conf, Some(by_key)),
                KC_ERR__NULL_ARG,
                &["'conf'"],
            );
            assert_err(
                kc_conf_set_opaque(null_conf, sink.ptr()),
                KC_ERR__NULL_ARG,
                &["'conf'"],
            );
            // A NULL callback or opaque unsets it.
            assert_ok(kc_conf_set_dr_msg_cb(conf.0, None));
            assert_ok(kc_conf_set_dr_batch_cb(conf.0, None));
            assert_ok(kc_conf_set_error_cb(conf.0, None));
            assert_ok(kc_conf_set_partitioner_cb(conf.0, None));
            assert_ok(kc_conf_set_opaque(conf.0, ptr::null_mut()));

            let mut out = Out::<*mut kc_producer_t>::new();
            assert_err(
                kc_producer_new(ptr::null(), out.ptr()),
                KC_ERR__NULL_ARG,
                &["'conf'"],
            );
            out.assert_untouched("kc_producer_new(NULL conf)");
            assert_err(
                kc_producer_new(conf.0, ptr::null_mut()),
                KC_ERR__NULL_ARG,
                &["'producerp'"],
            );
            let p = Producer::new(&conf);
            let topic = cs("ffi-prod-null");
            let value = b"value";
            let rec = record(None, Some(value));
            let null_key_header = kc_header_t {
                key: ptr::null(),
                key_len: 0,
                value: ptr::null(),
                value_len: 0,
            };
            let header_value_without_buffer = kc_header_t {
                key: c"h".as_ptr(),
                key_len: 1,
                value: ptr::null(),
                value_len: 4,
            };
            let with_headers = |h: *const kc_header_t, n: usize| kc_record_t {
                headers: h,
                header_cnt: n,
                ..record(None, Some(value))
            };
            let bad_records: [(kc_record_t, kc_err_t, &str); 5] = [
                (
                    with_headers(&null_key_header, 1),
                    KC_ERR__NULL_ARG,
                    "'header key'",
                ),
                (
                    with_headers(&header_value_without_buffer, 1),
                    KC_ERR__INVALID_ARG,
                    "'header value' is NULL but its length is 4",
                ),
                (
                    with_headers(ptr::null(), 2),
                    KC_ERR__INVALID_ARG,
                    "headers is NULL but header_cnt is 2",
                ),
                (
                    kc_record_t {
                        key_len: 3,
                        ..record(None, Some(value))
                    },
                    KC_ERR__INVALID_ARG,
                    "'key' is NULL but its length is 3",
                ),
                (
                    kc_record_t {
                        value_len: 3,
                        ..record(None, None)
                    },
                    KC_ERR__INVALID_ARG,
                    "'value' is NULL but its length is 3",
                ),
            ];
            for blocking in [false, true] {
                let send = |p: *mut kc_producer_t, t: *const c_char, r: *const kc_record_t| {
                    if blocking {
                        kc_producer_send_blocking(p, t, 0, r, ptr::null_mut(), 100)
                    } else {
                        kc_producer_send(p, t, 0, r, ptr::null_mut())
                    }
                };
                assert_err(
                    send(ptr::null_mut(), topic.as_ptr(), &rec),
                    KC_ERR__NULL_ARG,
                    &["'producer'"],
                );
                assert_err(send(p.0, ptr::null(), &rec), KC_ERR__NULL_ARG, &["'topic'"]);
                assert_err(
                    send(p.0, topic.as_ptr(), ptr::null()),
                    KC_ERR__NULL_ARG,
                    &["'rec'"],
                );
                for (r, code, says) in &bad_records {
                    assert_err(send(p.0, topic.as_ptr(), r), *code, &[says]);
                }
            }
            assert_eq!(p.outq_len(), 0, "nothing was queued");

            // kc_producer_send_batch returns how many it queued: 0, and the reason.
            let recs = [rec, record(Some(b"k"), None)];
            let mut errs = [0x5555 as kc_err_t; 2];
            let batch = |p, t, r, n, e: *mut kc_err_t| {
                kc_producer_send_batch(p, t, 0, r, ptr::null(), n, e)
            };
            assert_eq!(
                batch(
                    ptr::null_mut(),
                    topic.as_ptr(),
                    recs.as_ptr(),
                    2,
                    errs.as_mut_ptr()
                ),
                0
            );
            assert_last_error(KC_ERR__NULL_ARG, &["'producer'"]);
            assert_eq!(
                batch(p.0, ptr::null(), recs.as_ptr(), 2, errs.as_mut_ptr()),
                0
            );
            assert_last_error(KC_ERR__NULL_ARG, &["'topic'"]);
            assert_eq!(
                batch(p.0, topic.as_ptr(), ptr::null(), 2, errs.as_mut_ptr()),
                0
            );
            assert_last_error(KC_ERR__NULL_ARG, &["'recs'"]);
            assert_eq!(errs, [0x5555; 2], "errs written by a call that failed");
            // No records: NULL is fine, nothing is queued, and it is not an error.
            assert_eq!(
                batch(p.0, topic.as_ptr(), ptr::null(), 0, ptr::null_mut()),
                0
            );
            assert_last_error(KC_OK, &[]);
            // A bad record inside a batch is that record's error, not the call's.
            let bad = [
                with_headers(&null_key_header, 1),
                kc_record_t {
                    key_len: 3,
                    ..record(None, Some(value))
                },
            ];
            assert_eq!(
                batch(p.0, topic.as_ptr(), bad.as_ptr(), 2, errs.as_mut_ptr()),
                0
            );
            assert_eq!(errs, [KC_ERR__NULL_ARG, KC_ERR__INVALID_ARG]);
            assert_eq!(p.outq_len(), 0, "nothing was queued");

            assert_eq!(kc_producer_poll(ptr::null_mut(), 0), -1);
            assert_last_error(KC_ERR__NULL_ARG, &["'producer'"]);
            assert_err(
                kc_producer_flush(ptr::null_mut(), 0),
                KC_ERR__NULL_ARG,
                &["'producer'"],
            );
            assert_err(
                kc_producer_purge(ptr::null_mut(), KC_PURGE_F_QUEUE),
                KC_ERR__NULL_ARG,
                &["'producer'"],
            );
            // Documented results for NULL: 0.
            assert_eq!(kc_producer_outq_len(ptr::null_mut()), 0);
            assert_last_error(KC_ERR__NULL_ARG, &["'producer'"]);
            let mut buf = [0x55u8; 16];
            assert_eq!(
                kc_producer_fatal_error(ptr::null_mut(), buf.as_mut_ptr().cast(), buf.len()),
                0
            );
            assert_eq!(buf, [0x55; 16], "buffer written for a NULL producer");
            // No fatal error: 0, with or without a buffer, and the buffer left alone.
            assert_eq!(kc_producer_fatal_error(p.0, ptr::null_mut(), 0), 0);
            assert_eq!(
                kc_producer_fatal_error(p.0, buf.as_mut_ptr().cast(), buf.len()),
                0
            );
            assert_eq!(buf, [0x55; 16], "buffer written without a fatal error");

            let mut dropped = Out::<usize>::new();
            assert_err(
                kc_producer_close(ptr::null_mut(), 0, dropped.ptr()),
                KC_ERR__NULL_ARG,
                &["'producer'"],
            );
            dropped.assert_untouched("kc_producer_close(NULL)");
            // `droppedp` may be NULL.
            assert_ok(kc_producer_close(p.0, 0, ptr::null_mut()));
            kc_producer_free(ptr::null_mut());
        }
    })
}

/// Configuration properties as (name, value).
type Settings<'a> = &'a [(&'a str, &'a str)];

/// `kc_producer_new` checks the producer's properties together; the message names the
/// property and says why.
#[test]
fn producer_new_refuses_invalid_configurations_naming_the_property() {
    offline(|| {
        let b = nowhere();
        let refused: [(&str, Settings, &[&str]); 5] = [
            ("", &[], &["bootstrap.servers"]),
            (
                &b,
                &[("enable.idempotence", "true"), ("acks", "1")],
                &["'acks'", "enable.idempotence=true needs acks=all"],
            ),
            (&b, &[("acks", "0")], &["'acks'", "enable.idempotence=true"]),
            (
                &b,
                &[
                    ("enable.idempotence", "true"),
                    ("max.in.flight.requests.per.connection", "6"),
                ],
                &[
                    "'max.in.flight.requests.per.connection'",
                    "'6'",
                    "at most 5",
                ],
            ),
            (
                &b,
                &[("max.in.flight", "6")],
                &["'max.in.flight.requests.per.connection'", "at most 5"],
            ),
        ];
        for (bootstrap, settings, says) in refused {
            let conf = Conf::new(bootstrap, settings);
            let mut out = Out::<*mut kc_producer_t>::new();
            // SAFETY: live configuration, valid out-pointer.
            let rc = unsafe { kc_producer_new(conf.0, out.ptr()) };
            assert_err(rc, KC_ERR__INVALID_CONFIG, says);
            out.assert_untouched(&format!("{settings:?}"));
        }
        let accepted: [Settings; 4] = [
            &[("max.in.flight.requests.per.connection", "5")],
            &[("acks", "all"), ("enable.idempotence", "true")],
            &[("enable.idempotence", "false"), ("acks", "1")],
            &[("enable.idempotence", "false"), ("max.in.flight", "6")],
        ];
        for settings in accepted {
            drop(Producer::new(&Conf::new(&b, settings)));
        }
    })
}

// ---------------------------------------------------------------------------------------
// Delivery reports
// ---------------------------------------------------------------------------------------

/// Both callback forms get every report, once, on the thread that polls and only inside
/// its poll, with the message's opaque, the configuration's `cb_opaque` and the producer;
/// and the offsets they give hold the messages.
#[test]
fn delivery_reports_reach_both_callback_forms_with_opaques_and_offsets() {
    on_kafka(|b| {
        const N: usize = 3000;
        const TS: i64 = 1_700_000_000_000;
        let name = "ffi-prod-reports";
        create_topic(b, name, 3);
        let topic = cs(name);
        let sink = Sink::default();
        let conf = Conf::new(b, &[("linger.ms", "5")]);
        conf.callbacks(&sink, true, true, true);
        let p = Producer::new(&conf);
        // Opaques are addresses in a buffer the test owns, as a C program's would be.
        let slots = vec![0u8; N + 1];
        let opaque = |i: usize| slots.as_ptr() as usize + i;
        let mut keys: Vec<Vec<u8>> = Vec::with_capacity(N);
        let mut values: Vec<Vec<u8>> = Vec::with_capacity(N);
        let before = now_ms();
        for i in 0..N {
            keys.push(format!("key-{}", i % 50).into_bytes());
            values.push(format!("value-{i}").into_bytes());
            let mut rec = record(Some(&keys[i]), Some(&values[i]));
            if i % 3 == 0 {
                rec.timestamp = TS + i as i64;
            }
            // Every tenth message names its partition; the others leave it to the
            // partitioner (by key).
            let partition = if i % 10 == 9 {
                (i % 3) as i32
            } else {
                KC_PARTITION_UA
            };
            assert_ok(p.send(&topic, partition, &rec, opaque(i)));
        }
        // Callbacks run only inside the application's poll or flush.
        thread::sleep(Duration::from_millis(300));
        assert!(sink.msgs().is_empty() && sink.batches().is_empty());
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut served = 0usize;
        while served < N && Instant::now() < deadline {
            let n = p.poll(100);
            assert!(n >= 0, "poll: {}", last_error());
            served += n as usize;
        }
        let after = now_ms();
        assert_eq!(served, N, "reports served by kc_producer_poll");
        assert_ok(p.flush(0));
        assert_eq!(p.outq_len(), 0);

        let msgs = sink.msgs();
        assert_eq!(msgs.len(), N, "per-message callbacks");
        assert_eq!(
            sink.batches(),
            msgs,
            "both forms see the same reports in order"
        );
        let calls = lock(&sink.batch_calls).clone();
        assert!(calls.iter().all(|&c| c > 0), "an empty batch callback");
        assert_eq!(calls.iter().sum::<usize>(), N);
        assert!(lock(&sink.errors).is_empty(), "no error callback");

        let me = thread::current().id();
        let mut seen = vec![false; N];
        let mut by_key: HashMap<&[u8], i32> = HashMap::new();
        let mut by_partition: HashMap<i32, Vec<(i64, usize)>> = HashMap::new();
        for r in &msgs {
            assert_eq!(r.err, KC_OK, "{r:?}");
            assert_eq!(r.errstr, None, "errstr is NULL on success: {r:?}");
            assert_eq!(r.status, KC_PERSISTED, "{r:?}");
            assert_eq!(r.topic, name);
            assert_eq!(r.producer, p.0 as usize, "the producer argument");
            assert_eq!(r.cb_opaque, sink.ptr() as usize, "cb_opaque");
            assert_eq!(r.thread, me, "callbacks run on the polling thread");
            let i = r.opaque.wrapping_sub(opaque(0));
            assert!(
                i < N && !seen[i],
                "opaque {:#x}: unknown or twice",
                r.opaque
            );
            seen[i] = true;
            if i % 3 == 0 {
                assert_eq!(r.timestamp, TS + i as i64, "the record's own timestamp");
            } else {
                assert!(
                    (before..=after).contains(&r.timestamp),
                    "timestamp {} of message {i} not in {before}..={after}",
                    r.timestamp
                );
            }
            if i % 10 == 9 {
                assert_eq!(r.partition, (i % 3) as i32, "the partition asked for");
            } else {
                let p = *by_key.entry(&keys[i]).or_insert(r.partition);
                assert_eq!(r.partition, p, "one partition per key");
            }
            by_partition
                .entry(r.partition)
                .or_default()
                .push((r.offset, i));
        }
        assert_eq!(
            by_partition.len(),
            3,
            "the keys spread over every partition"
        );
        for (part, sent) in &by_partition {
            let mut sent = sent.clone();
            sent.sort_by_key(|&(_, i)| i);
            for (k, &(offset, _)) in sent.iter().enumerate() {
                assert_eq!(offset, k as i64, "partition {part}: offsets in send order");
            }
            let got = read_back(b, name, *part, sent.len());
            assert_eq!(got.len(), sent.len(), "partition {part}: records read back");
            for ((offset, key, value), (want_offset, i)) in got.iter().zip(&sent) {
                assert_eq!(offset, want_offset);
                assert_eq!(key.as_deref(), Some(keys[*i].as_slice()));
                assert_eq!(value.as_deref(), Some(values[*i].as_slice()));
            }
        }

        // A delivery report callback may send.
        sink.clear();
        *lock(&sink.resend_on) = Some((opaque(N), topic.clone()));
        assert_ok(p.send_value(&topic, 1, b"trigger", opaque(N)));
        assert_ok(p.flush(FLUSH_MS));
        assert_eq!(*lock(&sink.resend_rc), Some(KC_OK), "{}", last_error());
        assert_ok(p.flush(FLUSH_MS));
        let msgs = sink.msgs();
        let opaques: Vec<usize> = msgs.iter().map(|r| r.opaque).collect();
        assert_eq!(opaques, [opaque(N), RESENT]);
        assert!(msgs
            .iter()
            .all(|r| r.err == KC_OK && r.status == KC_PERSISTED));
        assert_eq!(msgs[1].partition, 0);
    })
}

/// `kc_producer_send_batch_flags` with `KC_MSG_F_FREE`: each queued record's value is the
/// producer's and freed once; the records not queued (from the first QUEUE_FULL on, and
/// a refused one) stay the application's; unknown flags queue nothing.
#[test]
fn send_batch_flags_hands_over_the_queued_values_only() {
    on_kafka(|b| {
        let name = "ffi-prod-batch-free";
        create_topic(b, name, 1);
        let topic = cs(name);
        let sink = Sink::default();
        let conf = Conf::new(
            b,
            &[
                ("queue.buffering.max.messages", "5"),
                ("linger.ms", "200"),
                ("message.max.bytes", "100000"),
            ],
        );
        conf.callbacks(&sink, true, false, false);
        // SAFETY: a live configuration and a callback of the right type.
        assert_ok(unsafe { kc_conf_set_free_cb(conf.0, Some(free_value)) });
        let p = Producer::new(&conf);
        // Record 1 is too large (refused), 0 and 2..=5 fill the queue (5 messages), 6 and
        // 7 find it full; record 3 has no value (nothing to hand over).
        let mut values = Vec::new();
        let recs: Vec<kc_record_t> = (0..8u8)
            .map(|i| {
                if i == 3 {
                    return record(Some(b"k3"), None);
                }
                let (v, n) = handed_value(
                    if i == 1 {
                        200_000
                    } else {
                        70_000 + usize::from(i)
                    },
                    i + 1,
                );
                values.push((i, v as usize, n));
                kc_record_t {
                    value: v,
                    value_len: n,
                    ..record(None, None)
                }
            })
            .collect();
        let opaques: Vec<*mut c_void> = (0..8).map(|i| i as *mut c_void).collect();
        let mut errs = [0x5555 as kc_err_t; 8];
        // SAFETY (every call below): a live producer or NULL where the test says so, a
        // NUL-terminated topic, records over buffers handed over as documented.
        unsafe {
            // Unknown flags: nothing queued, nothing freed, every record says why.
            let queued = kc_producer_send_batch_flags(
                p.0,
                topic.as_ptr(),
                0,
                recs.as_ptr(),
                opaques.as_ptr(),
                recs.len(),
                KC_MSG_F_FREE | 0x10,
                errs.as_mut_ptr(),
            );
            assert_eq!(queued, 0);
            assert_eq!(errs, [KC_ERR__INVALID_ARG; 8]);
            let why = last_error();
            assert!(why.contains("unknown flags 0x11"), "{why}");
            let queued = kc_producer_send_batch_flags(
                ptr::null_mut(),
                topic.as_ptr(),
                0,
                recs.as_ptr(),
                opaques.as_ptr(),
                recs.len(),
                KC_MSG_F_FREE,
                errs.as_mut_ptr(),
            );
            assert_eq!(queued, 0);
            let why = last_error();
            assert!(why.contains("'producer'"), "{why}");
            assert!(lock(&sink.freed).is_empty(), "a refused call freed a value");

            let queued = kc_producer_send_batch_flags(
                p.0,
                topic.as_ptr(),
                0,
                recs.as_ptr(),
                opaques.as_ptr(),
                recs.len(),
                KC_MSG_F_FREE,
                errs.as_mut_ptr(),
            );
            assert_eq!(queued, 5);
            assert_eq!(
                errs,
                [
                    KC_OK,
                    KC_ERR_MESSAGE_TOO_LARGE,
                    KC_OK,
                    KC_OK,
                    KC_OK,
                    KC_OK,
                    KC_ERR__QUEUE_FULL,
                    KC_ERR__QUEUE_FULL
                ]
            );
            // The values not queued are still the application's: none was freed.
            for (i, v, n) in &values {
                if errs[usize::from(*i)] != KC_OK {
                    assert!(
                        !lock(&sink.freed).iter().any(|f| f.0 == *v),
                        "value {i} freed though not queued"
                    );
                    free_value(*v as *mut c_void, *n, sink.ptr());
                }
            }
            assert_ok(p.flush(FLUSH_MS));
        }
        let msgs = sink.msgs();
        assert_eq!(msgs.len(), 5, "{msgs:?}");
        assert!(msgs.iter().all(|r| r.err == KC_OK), "{msgs:?}");
        let mut opaques: Vec<usize> = msgs.iter().map(|r| r.opaque).collect();
        opaques.sort_unstable();
        assert_eq!(opaques, [0, 2, 3, 4, 5]);
        // Every value freed exactly once: the four queued by the producer, the three
        // refused by the test.
        let freed = lock(&sink.freed).clone();
        assert_eq!(freed.len(), values.len(), "{freed:?}");
        for (i, v, n) in &values {
            let f: Vec<_> = freed.iter().filter(|f| f.0 == *v).collect();
            assert_eq!(f.len(), 1, "value {i} freed {} times", f.len());
            assert_eq!((f[0].1, f[0].2), (*n, i + 1));
        }
        drop(p);
        // What the broker has is what was handed over.
        let from = msgs.iter().map(|r| r.offset).min().unwrap();
        let rows = common::client::client(b);
        let reader = Reader {
            timeout: CALL_TIMEOUT,
            high_watermark_covers: false,
        };
        let rows = reader.fetch_n(&rows, name, 0, from, 5);
        for r in &msgs {
            let i = r.opaque as u8;
            let row = rows.iter().find(|g| g.offset == r.offset).unwrap();
            if i == 3 {
                assert_eq!(row.value, None);
            } else {
                assert_eq!(
                    row.value.as_deref(),
                    Some(&vec![i + 1; 70_000 + usize::from(i)][..])
                );
            }
        }
    })
}

/// `kc_producer_send_batch` queues the good records, gives each record its own code, and
/// hands each queued record's opaque back in its report.
#[test]
fn send_batch_queues_good_records_and_gives_each_bad_one_its_code() {
    on_kafka(|b| {
        let name = "ffi-prod-batch";
        create_topic(b, name, 2);
        let topic = cs(name);
        let sink = Sink::default();
        let conf = Conf::new(b, &[("message.max.bytes", "2000")]);
        conf.callbacks(&sink, true, false, false);
        let p = Producer::new(&conf);
        // The topic's partitions are known after a first delivery.
        assert_ok(p.send_value(&topic, 0, b"first", 1));
        assert_ok(p.flush(FLUSH_MS));
        sink.clear();

        let big = vec![b'x'; 3000];
        let hk = b"h";
        let header = kc_header_t {
            key: hk.as_ptr().cast(),
            key_len: 1,
            value: b"hv".as_ptr(),
            value_len: 2,
        };
        let null_key_header = kc_header_t {
            key: ptr::null(),
            key_len: 0,
            value: ptr::null(),
            value_len: 0,
        };
        let recs = [
            record(Some(b"k0"), Some(b"r0")),
            kc_record_t {
                headers: &null_key_header,
                header_cnt: 1,
                ..record(None, Some(b"r1"))
            },
            kc_record_t {
                value_len: 3,
                ..record(None, None)
            },
            record(None, Some(&big)),
            record(None, Some(b"")),
            kc_record_t {
                headers: &header,
                header_cnt: 1,
                ..record(Some(b""), Some(b"r5"))
            },
        ];
        let opaques: Vec<*mut c_void> = (100..106).map(|i| i as *mut c_void).collect();
        let mut errs = [0x5555 as kc_err_t; 6];
        // SAFETY: live producer, six records over live buffers, six opaques, room for six
        // codes.
        let queued = unsafe {
            kc_producer_send_batch(
                p.0,
                topic.as_ptr(),
                1,
                recs.as_ptr(),
                opaques.as_ptr(),
                recs.len(),
                errs.as_mut_ptr(),
            )
        };
        assert_eq!(queued, 3);
        assert_eq!(
            errs,
            [
                KC_OK,
                KC_ERR__NULL_ARG,
                KC_ERR__INVALID_ARG,
                KC_ERR_MESSAGE_TOO_LARGE,
                KC_OK,
                KC_OK
            ]
        );
        // Without opaques (reports carry NULL) and without room for codes.
        let more = [record(None, Some(b"r6")), record(None, Some(b"r7"))];
        // SAFETY: as above, with NULL opaques and codes.
        let queued = unsafe {
            kc_producer_send_batch(
                p.0,
                topic.as_ptr(),
                1,
                more.as_ptr(),
                ptr::null(),
                more.len(),
                ptr::null_mut(),
            )
        };
        assert_eq!(queued, 2);
        // A partition the topic does not have: every record says so.
        // SAFETY: as above.
        let queued = unsafe {
            kc_producer_send_batch(
                p.0,
                topic.as_ptr(),
                7,
                more.as_ptr(),
                ptr::null(),
                more.len(),
                errs.as_mut_ptr(),
            )
        };
        assert_eq!(queued, 0);
        assert_eq!(errs[..2], [KC_ERR__UNKNOWN_PARTITION; 2]);
        assert_ok(p.flush(FLUSH_MS));

        let msgs = sink.msgs();
        let got: Vec<(usize, i32, i64, kc_err_t)> = msgs
            .iter()
            .map(|r| (r.opaque, r.partition, r.offset, r.err))
            .collect();
        assert_eq!(
            got,
            [
                (100, 1, 0, KC_OK),
                (104, 1, 1, KC_OK),
                (105, 1, 2, KC_OK),
                (0, 1, 3, KC_OK),
                (0, 1, 4, KC_OK)
            ],
            "one report per queued record, in order"
        );
        let rows = read_back(b, name, 1, 5);
        let want: Vec<Row> = vec![
            (0, Some(b"k0".to_vec()), Some(b"r0".to_vec())),
            (1, None, Some(Vec::new())),
            (2, Some(Vec::new()), Some(b"r5".to_vec())),
            (3, None, Some(b"r6".to_vec())),
            (4, None, Some(b"r7".to_vec())),
        ];
        assert_eq!(rows, want);
    })
}

/// The partitioner callback places every message sent with `KC_PARTITION_UA` (also
/// those sent before the topic's partitions were known), gets the topic, the key (NULL
/// for a NULL key), the partition count and `cb_opaque`; an answer outside the topic's
/// partitions fails the message with `KC_ERR__UNKNOWN_PARTITION`.
#[test]
fn the_partitioner_callback_places_messages_sent_to_any_partition() {
    on_kafka(|b| {
        let name = "ffi-prod-partitioner";
        create_topic(b, name, 3);
        let topic = cs(name);
        let sink = Sink::default();
        let conf = Conf::new(b, &[]);
        conf.callbacks(&sink, true, false, false);
        // SAFETY: live configuration.
        assert_ok(unsafe { kc_conf_set_partitioner_cb(conf.0, Some(by_key)) });
        let p = Producer::new(&conf);
        let send = |key: Option<&[u8]>, partition: i32, opaque: usize| {
            p.send(&topic, partition, &record(key, Some(b"v")), opaque)
        };
        // Before the partitions are known: placed by the producer's thread.
        assert_ok(send(Some(b"p1"), KC_PARTITION_UA, 1));
        assert_ok(send(Some(b"other"), KC_PARTITION_UA, 2));
        assert_ok(p.flush(FLUSH_MS));
        // Known now: placed by the sending thread.
        assert_ok(send(Some(b"p0"), KC_PARTITION_UA, 3));
        assert_ok(send(None, KC_PARTITION_UA, 4));
        assert_ok(send(Some(b""), KC_PARTITION_UA, 5));
        assert_err(
            send(Some(b"other"), KC_PARTITION_UA, 6),
            KC_ERR__UNKNOWN_PARTITION,
            &[
                "partitioner callback chose partition 99",
                name,
                "(3 partitions)",
            ],
        );
        // A partition given by the application: no callback.
        assert_ok(send(Some(b"other"), 1, 7));
        assert_ok(p.flush(FLUSH_MS));

        let mut got: Vec<(usize, i32, kc_err_t)> = sink
            .msgs()
            .iter()
            .map(|r| (r.opaque, r.partition, r.err))
            .collect();
        got.sort_unstable();
        assert_eq!(
            got,
            [
                (1, 1, KC_OK),
                (2, KC_PARTITION_UA, KC_ERR__UNKNOWN_PARTITION),
                (3, 0, KC_OK),
                (4, 2, KC_OK),
                (5, 0, KC_OK),
                (7, 1, KC_OK)
            ],
        );
        let calls = lock(&sink.partitioned).clone();
        let keys: Vec<Option<&[u8]>> = calls.iter().map(|c| c.key.as_deref()).collect();
        let want: [Option<&[u8]>; 6] = [
            Some(b"p1"),
            Some(b"other"),
            Some(b"p0"),
            None,
            Some(b""),
            Some(b"other"),
        ];
        assert_eq!(keys, want, "one call per message sent to any partition");
        for c in &calls {
            assert_eq!(
                (c.topic.as_str(), c.partition_cnt, c.cb_opaque),
                (name, 3, sink.ptr() as usize),
                "{c:?}"
            );
        }
    })
}

// ---------------------------------------------------------------------------------------
// Errors a user can hit
// ---------------------------------------------------------------------------------------

/// Each limit of the queue gives `KC_ERR__QUEUE_FULL`, naming the limit, from every
/// send form; serving the reports (or delivering) makes room again.
#[test]
fn queue_full_names_the_limit_in_every_send_form() {
    on_kafka(|b| {
        let name = "ffi-prod-full";
        let topic = cs(name);
        let sink = Sink::default();

        // queue.buffering.max.messages. Nothing leaves while the topic does not exist
        // (its messages wait for it; a long linger would not hold them: a full queue
        // sends its lingering batches).
        let conf = Conf::new(
            b,
            &[
                ("queue.buffering.max.messages", "3"),
                ("linger.ms", "60000"),
            ],
        );
        conf.callbacks(&sink, true, false, false);
        let p = Producer::new(&conf);
        for i in 0..3 {
            assert_ok(p.send_value(&topic, 0, b"m", i));
        }
        assert_err(
            p.send_value(&topic, 0, b"m", 3),
            KC_ERR__QUEUE_FULL,
            &["queue.buffering.max.messages"],
        );
        let rec = record(None, Some(b"blocked"));
        let t0 = Instant::now();
        // SAFETY: live producer, topic and record.
        let rc = unsafe {
            kc_producer_send_blocking(p.0, topic.as_ptr(), 0, &rec, ptr::null_mut(), 200)
        };
        let waited = t0.elapsed();
        assert_err(
            rc,
            KC_ERR__QUEUE_FULL,
            &[
                "timed out waiting for queue space",
                "queue.buffering.max.messages",
            ],
        );
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(2),
            "kc_producer_send_blocking waited {waited:?} for a 200 ms timeout"
        );
        let three = [0, 1, 2].map(|_| record(None, Some(b"blocked")));
        let mut errs = [0x5555 as kc_err_t; 3];
        // SAFETY: live producer, three records, room for three codes.
        let queued = unsafe {
            kc_producer_send_batch(
                p.0,
                topic.as_ptr(),
                0,
                three.as_ptr(),
                ptr::null(),
                3,
                errs.as_mut_ptr(),
            )
        };
        assert_eq!(queued, 0);
        assert_eq!(errs, [KC_ERR__QUEUE_FULL; 3]);
        assert_eq!(p.outq_len(), 3);
        // A blocking send waits for the room a delivery makes.
        let shared = Shared(p.0);
        let t = topic.clone();
        let waiting = thread::spawn(move || {
            let shared = shared;
            let rec = record(None, Some(b"waited"));
            // SAFETY: the producer outlives this thread (joined below).
            let rc = unsafe {
                kc_producer_send_blocking(shared.0, t.as_ptr(), 0, &rec, 4 as *mut c_void, 10_000)
            };
            (rc, last_error())
        });
        thread::sleep(Duration::from_millis(100));
        create_topic(b, name, 1);
        assert_ok(p.flush(FLUSH_MS));
        let (rc, msg) = waiting.join().unwrap();
        assert_eq!(rc, KC_OK, "{msg}");
        assert_ok(p.flush(FLUSH_MS));
        let opaques: Vec<usize> = sink.msgs().iter().map(|r| r.opaque).collect();
        assert_eq!(opaques, [0, 1, 2, 4]);
        assert_eq!(p.outq_len(), 0);
        // Room for two: a batch stops at the first QUEUE_FULL.
        assert_ok(p.send_value(&topic, 0, b"m", 10));
        // SAFETY: as above.
        let queued = unsafe {
            kc_producer_send_batch(
                p.0,
                topic.as_ptr(),
                0,
                three.as_ptr(),
                ptr::null(),
                3,
                errs.as_mut_ptr(),
            )
        };
        assert_eq!(queued, 2);
        assert_eq!(errs, [KC_OK, KC_OK, KC_ERR__QUEUE_FULL]);
        assert_ok(p.flush(FLUSH_MS));
        drop(p);

        // queue.buffering.max.kbytes: a message larger than the limit is taken when the
        // queue is empty, and the next waits.
        let conf = Conf::new(
            b,
            &[("queue.buffering.max.kbytes", "1"), ("linger.ms", "60000")],
        );
        let p = Producer::new(&conf);
        let value = vec![b'k'; 1500];
        assert_ok(p.send_value(&topic, 0, &value, 0));
        assert_err(
            p.send_value(&topic, 0, &value, 0),
            KC_ERR__QUEUE_FULL,
            &["queue.buffering.max.kbytes"],
        );
        assert_ok(p.flush(FLUSH_MS));
        assert_ok(p.send_value(&topic, 0, &value, 0));
        assert_ok(p.flush(FLUSH_MS));
        drop(p);

        // delivery.report.max.messages: reports that wait for the application's poll
        // hold sends back.
        sink.clear();
        let conf = Conf::new(
            b,
            &[("delivery.report.max.messages", "2"), ("linger.ms", "0")],
        );
        conf.callbacks(&sink, true, false, false);
        let p = Producer::new(&conf);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut sent = 0;
        let rc = loop {
            let rc = p.send_value(&topic, 0, b"r", sent);
            if rc != KC_OK || Instant::now() >= deadline {
                break rc;
            }
            sent += 1;
            thread::sleep(Duration::from_millis(20));
        };
        assert_err(rc, KC_ERR__QUEUE_FULL, &["delivery.report.max.messages"]);
        assert!(sent >= 2, "{sent} sent before the reports filled up");
        assert!(p.poll(1000) >= 2, "serves the waiting reports");
        assert_ok(p.send_value(&topic, 0, b"r", sent));
        assert_ok(p.flush(FLUSH_MS));
        assert_eq!(sink.msgs().len(), sent + 1);
        assert!(sink.msgs().iter().all(|r| r.err == KC_OK));
    })
}

/// What a send refuses at once (nothing queued, no report) and what it queues and then
/// fails in the report.
#[test]
fn send_errors_too_large_unknown_partition_and_bad_topics() {
    on_kafka(|b| {
        let name = "ffi-prod-errors";
        create_topic(b, name, 2);
        let topic = cs(name);
        let sink = Sink::default();
        let conf = Conf::new(
            b,
            &[
                ("message.max.bytes", "1000"),
                ("topic.metadata.propagation.max.ms", "500"),
            ],
        );
        conf.callbacks(&sink, true, false, false);
        let p = Producer::new(&conf);

        assert_err(
            p.send_value(&topic, 0, &[b'x'; 2000], 1),
            KC_ERR_MESSAGE_TOO_LARGE,
            &[name, "exceeds message.max.bytes (1000)"],
        );
        // Before the topic's partitions are known, a send waits for them: a partition
        // the topic lacks fails in its report.
        assert_ok(p.send_value(&topic, 5, b"to partition 5", 2));
        assert_ok(p.send_value(&topic, 0, b"to partition 0", 3));
        // A topic the cluster does not know fails after
        // topic.metadata.propagation.max.ms.
        let missing = cs("ffi-prod-no-such-topic");
        assert_ok(p.send_value(&missing, KC_PARTITION_UA, b"lost", 4));
        assert_ok(p.flush(FLUSH_MS));
        let mut msgs = sink.msgs();
        msgs.sort_by_key(|r| r.opaque);
        let got: Vec<(usize, kc_err_t, i32)> =
            msgs.iter().map(|r| (r.opaque, r.err, r.status)).collect();
        assert_eq!(
            got,
            [
                (2, KC_ERR__UNKNOWN_PARTITION, KC_PERSISTED_NOT),
                (3, KC_OK, KC_PERSISTED),
                (4, KC_ERR__UNKNOWN_TOPIC, KC_PERSISTED_NOT)
            ],
            "{msgs:?}"
        );
        let errstr = msgs[0].errstr.clone().unwrap_or_default();
        assert!(errstr.contains("partition 5"), "{errstr}");
        assert_eq!(msgs[0].offset, -1);
        let errstr = msgs[2].errstr.clone().unwrap_or_default();
        assert!(errstr.contains("ffi-prod-no-such-topic"), "{errstr}");

        // Now the topic is known: at once.
        assert_err(
            p.send_value(&topic, 5, b"x", 5),
            KC_ERR__UNKNOWN_PARTITION,
            &["partition 5", name, "(2 partitions)"],
        );
        assert_err(
            p.send_value(&topic, -2, b"x", 6),
            KC_ERR__UNKNOWN_PARTITION,
            &["invalid partition -2"],
        );
        assert_err(
            p.send_value(c"", 0, b"x", 7),
            KC_ERR__INVALID_ARG,
            &["invalid topic name"],
        );
        assert_err(
            p.send_value(c"\xff\xfe", 0, b"x", 8),
            KC_ERR__INVALID_ARG,
            &["'topic' is not valid UTF-8"],
        );
        assert_eq!(p.outq_len(), 0, "nothing was queued");
        assert_ok(p.flush(0));
        assert_eq!(sink.msgs().len(), 3, "no report for a refused send");
    })
}

/// `kc_producer_send_flags` with `KC_MSG_F_FREE`: values larger than
/// `message.copy.max.bytes` go to the broker from the application's buffers and are
/// freed once each, after delivery, on an internal thread; smaller ones (and every one
/// into a compressed batch) are copied and freed before the send returns. A refused
/// send frees nothing: the buffer is still the application's.
#[test]
fn values_handed_over_are_freed_once_where_the_header_says() {
    on_kafka(|b| {
        let name = "ffi-prod-handed";
        create_topic(b, name, 1);
        let topic = cs(name);
        // SAFETY (every call below): NULL where the test says so, else live handles, a
        // NUL-terminated topic and records over buffers handed over as documented.
        unsafe {
            assert_err(
                kc_conf_set_free_cb(ptr::null_mut(), Some(free_value)),
                KC_ERR__NULL_ARG,
                &["'conf'"],
            );
            for (codec, large) in [("none", 200_000), ("gzip", 200_000)] {
                let sink = Sink::default();
                let conf = Conf::new(
                    b,
                    &[
                        ("compression.type", codec),
                        ("message.max.bytes", "1000000"),
                        ("linger.ms", "20"),
                    ],
                );
                conf.callbacks(&sink, true, false, false);
                assert_ok(kc_conf_set_free_cb(conf.0, Some(free_value)));
                let p = Producer::new(&conf);
                let mut sent = Vec::new();
                for i in 0..12u8 {
                    let len = if i % 2 == 0 {
                        large + usize::from(i)
                    } else {
                        100
                    };
                    let (v, n) = handed_value(len, i + 1);
                    let rec = kc_record_t {
                        value: v,
                        value_len: n,
                        ..record(None, None)
                    };
                    let before = lock(&sink.freed).len();
                    assert_ok(kc_producer_send_flags(
                        p.0,
                        topic.as_ptr(),
                        0,
                        &rec,
                        usize::from(i) as *mut c_void,
                        KC_MSG_F_FREE,
                        0,
                    ));
                    let copied = codec != "none" || len <= 65_535;
                    let freed = lock(&sink.freed).clone();
                    if copied {
                        assert_eq!(freed.len(), before + 1, "{codec}: value {i} copied");
                        assert_eq!(freed[before].0, v as usize);
                        assert_eq!(freed[before].2, i + 1);
                        assert_eq!(freed[before].3, thread::current().id());
                    } else {
                        assert!(
                            !freed.iter().any(|f| f.2 == i + 1),
                            "{codec}: value {i} freed while still queued"
                        );
                    }
                    sent.push((v as usize, n, i + 1));
                }
                // Refused sends free nothing: unknown flags, a value too large, and the
                // NULL arguments.
                let (v, n) = handed_value(2_000_000, 0);
                let rec = kc_record_t {
                    value: v,
                    value_len: n,
                    ..record(None, None)
                };
                let flags_err = kc_producer_send_flags(
                    p.0,
                    topic.as_ptr(),
                    0,
                    &rec,
                    ptr::null_mut(),
                    KC_MSG_F_FREE | 0x40,
                    0,
                );
                assert_err(flags_err, KC_ERR__INVALID_ARG, &["unknown flags 0x41"]);
                assert_err(
                    kc_producer_send_flags(
                        p.0,
                        topic.as_ptr(),
                        0,
                        &rec,
                        ptr::null_mut(),
                        KC_MSG_F_FREE,
                        0,
                    ),
                    KC_ERR_MESSAGE_TOO_LARGE,
                    &["exceeds message.max.bytes"],
                );
                assert_err(
                    kc_producer_send_flags(
                        ptr::null_mut(),
                        topic.as_ptr(),
                        0,
                        &rec,
                        ptr::null_mut(),
                        KC_MSG_F_FREE,
                        0,
                    ),
                    KC_ERR__NULL_ARG,
                    &["'producer'"],
                );
                assert_err(
                    kc_producer_send_flags(
                        p.0,
                        ptr::null(),
                        0,
                        &rec,
                        ptr::null_mut(),
                        KC_MSG_F_FREE,
                        0,
                    ),
                    KC_ERR__NULL_ARG,
                    &["'topic'"],
                );
                assert_err(
                    kc_producer_send_flags(
                        p.0,
                        topic.as_ptr(),
                        0,
                        ptr::null(),
                        ptr::null_mut(),
                        KC_MSG_F_FREE,
                        0,
                    ),
                    KC_ERR__NULL_ARG,
                    &["'rec'"],
                );
                // Still the application's: freed here (free_value records it).
                assert!(!lock(&sink.freed).iter().any(|f| f.2 == 0));
                free_value(v.cast(), n, sink.ptr());

                assert_ok(p.flush(FLUSH_MS));
                let msgs = sink.msgs();
                assert_eq!(msgs.len(), 12, "{codec}: {msgs:?}");
                assert!(msgs.iter().all(|r| r.err == KC_OK), "{codec}: {msgs:?}");
                let freed = lock(&sink.freed).clone();
                // Every value once (and the refused one, by the test).
                assert_eq!(freed.len(), 13, "{codec}: {freed:?}");
                for (addr, len, fill) in &sent {
                    let n = freed.iter().filter(|f| f.2 == *fill).count();
                    assert_eq!(n, 1, "{codec}: value {fill} freed {n} times");
                    assert!(freed
                        .iter()
                        .any(|f| f.0 == *addr && f.1 == *len && f.2 == *fill));
                }
                if codec == "none" {
                    // The large ones: after acknowledgement, on an internal thread.
                    for (_, _, fill) in sent.iter().step_by(2) {
                        let f = freed.iter().find(|f| f.2 == *fill).unwrap();
                        assert_ne!(f.3, thread::current().id(), "freed on an internal thread");
                    }
                }
                drop(p);
                // What the broker has is what was handed over.
                let from = msgs.iter().map(|r| r.offset).min().unwrap();
                let c = common::client::client(b);
                let reader = Reader {
                    timeout: CALL_TIMEOUT,
                    high_watermark_covers: false,
                };
                let rows = reader.fetch_n(&c, name, 0, from, 12);
                for r in &msgs {
                    let i = r.opaque;
                    let (_, len, fill) = sent[i];
                    let row = rows.iter().find(|g| g.offset == r.offset).unwrap();
                    assert_eq!(
                        row.value.as_deref(),
                        Some(&vec![fill; len][..]),
                        "{codec}: {i}"
                    );
                }
            }
        }
    })
}

// ---------------------------------------------------------------------------------------
// Flush, purge, close and free
// ---------------------------------------------------------------------------------------

/// A raw producer pointer to hand to another thread.
#[derive(Clone, Copy)]
struct Shared(*mut kc_producer_t);

// SAFETY: the producer may be used from many threads at once (header).
unsafe impl Send for Shared {}

/// `kc_producer_free` wakes a send blocked on a full queue: it returns
/// `KC_ERR__DESTROY` at once, and the free returns promptly.
#[test]
fn free_wakes_a_send_blocked_in_send_blocking_with_destroy() {
    on_kafka(|b| {
        // A topic that does not exist: its messages wait for it, and so the queue stays
        // full (a long linger would not hold it).
        let name = "ffi-prod-free-absent";
        let topic = cs(name);
        let conf = Conf::new(
            b,
            &[
                ("queue.buffering.max.messages", "1"),
                ("linger.ms", "60000"),
            ],
        );
        let mut p = Producer::new(&conf);
        assert_ok(p.send_value(&topic, 0, b"fills the queue", 0));
        let shared = Shared(p.0);
        let (entered_tx, entered) = mpsc::channel();
        let t = topic.clone();
        let blocked = thread::spawn(move || {
            let shared = shared;
            let rec = record(None, Some(b"waits"));
            entered_tx.send(()).unwrap();
            // SAFETY: the producer is live until the free below, which waits for this
            // call to leave.
            let rc = unsafe {
                kc_producer_send_blocking(shared.0, t.as_ptr(), 0, &rec, ptr::null_mut(), -1)
            };
            (rc, last_error(), Instant::now())
        });
        entered.recv().unwrap();
        thread::sleep(Duration::from_millis(300));
        assert!(
            !blocked.is_finished(),
            "the send should wait for queue space"
        );
        let began = Instant::now();
        let raw = std::mem::replace(&mut p.0, ptr::null_mut());
        // SAFETY: owned, freed once; the other thread's call is inside already.
        unsafe { kc_producer_free(raw) };
        let took = began.elapsed();
        let (rc, msg, returned) = blocked.join().unwrap();
        assert_eq!(rc, KC_ERR__DESTROY, "{msg}");
        assert!(
            took < Duration::from_secs(2),
            "kc_producer_free took {took:?}"
        );
        assert!(
            returned.duration_since(began) < Duration::from_secs(2),
            "the blocked send returned {:?} after the free began",
            returned.duration_since(began)
        );
    })
}

/// Frees a producer (to an address where nothing listens, with a message that cannot be
/// delivered) while another thread waits in `kc_producer_poll` (`polls`) or
/// `kc_producer_flush`, without a timeout. Returns what the waiting call returned, the
/// thread's last error code and message, and how long after the free began it returned.
fn free_while_waiting(polls: bool) -> (i32, kc_err_t, String, Duration) {
    let mut p = Producer::new(&Conf::new(&nowhere(), &[]));
    let topic = cs("ffi-prod-free-wait");
    assert_ok(p.send_value(&topic, KC_PARTITION_UA, b"never delivered", 0));
    let shared = Shared(p.0);
    let (entered_tx, entered) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let shared = shared;
        entered_tx.send(()).unwrap();
        // SAFETY: the producer is live until the free below, which waits for this call
        // to leave.
        let rc = unsafe {
            if polls {
                kc_producer_poll(shared.0, -1)
            } else {
                kc_producer_flush(shared.0, -1)
            }
        };
        (rc, kc_last_error_code(), last_error(), Instant::now())
    });
    entered.recv().unwrap();
    thread::sleep(Duration::from_millis(300));
    assert!(!waiter.is_finished(), "the call should wait");
    let began = Instant::now();
    let raw = std::mem::replace(&mut p.0, ptr::null_mut());
    // SAFETY: owned, freed once; the other thread's call is inside already.
    unsafe { kc_producer_free(raw) };
    let took = began.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "kc_producer_free took {took:?}"
    );
    let (rc, code, msg, returned) = waiter.join().unwrap();
    (rc, code, msg, returned.duration_since(began))
}

/// `kc_producer_free` makes a flush waiting in another thread return `KC_ERR__DESTROY`
/// at once. A flush returns `KC_OK` only when every message has its report; the free
/// drops the message unreported, so the woken flush must not take the emptied queue for
/// success. Run 30 times.
#[test]
fn free_wakes_a_flush_waiting_in_another_thread_with_destroy() {
    offline(|| {
        for _ in 0..30 {
            let (rc, code, msg, after) = free_while_waiting(false);
            assert!(
                after < Duration::from_secs(2),
                "returned {after:?} after the free"
            );
            assert_eq!((rc, code), (KC_ERR__DESTROY, KC_ERR__DESTROY), "{msg:?}");
            assert!(msg.contains("closed during flush"), "{msg}");
        }
    })
}

/// `kc_producer_free` says calls in progress return `KC_ERR__DESTROY` ("a blocked send
/// or a poll is woken at once") and `kc_producer_poll` returns -1 on an error with
/// `KC_ERR__DESTROY` among them: a poll woken by the free returns -1, not 0 (no report
/// served).
#[test]
fn free_wakes_a_poll_waiting_in_another_thread_with_destroy() {
    offline(|| {
        let (rc, code, msg, after) = free_while_waiting(true);
        assert!(
            after < Duration::from_secs(2),
            "returned {after:?} after the free"
        );
        assert_eq!((rc, code), (-1, KC_ERR__DESTROY), "last error {msg:?}");
    })
}

/// Against an address where nothing listens: a flush gives up at its timeout with
/// `KC_ERR__TIMED_OUT` (the messages stay queued); a purge then fails them with
/// `KC_ERR__PURGE_QUEUE` reports; bad purge flags are refused.
#[test]
fn flush_times_out_against_an_unreachable_broker_then_purge_fails_the_messages() {
    offline(|| {
        let sink = Sink::default();
        let conf = Conf::new(&nowhere(), &[]);
        conf.callbacks(&sink, true, false, false);
        let p = Producer::new(&conf);
        let topic = cs("ffi-prod-unreachable");
        for i in 0..3 {
            assert_ok(p.send_value(&topic, KC_PARTITION_UA, b"nowhere to go", i));
        }
        let t0 = Instant::now();
        let rc = p.flush(500);
        let took = t0.elapsed();
        assert_err(
            rc,
            KC_ERR__TIMED_OUT,
            &["flush timed out with 3 messages not delivered"],
        );
        assert!(
            took >= Duration::from_millis(500) && took < Duration::from_secs(3),
            "a 500 ms flush took {took:?}"
        );
        assert_eq!(p.outq_len(), 3, "still queued");
        assert!(sink.msgs().is_empty());

        assert_err(
            p.purge(4),
            KC_ERR__INVALID_ARG,
            &["unknown purge flags 0x4"],
        );
        assert_err(
            p.purge(KC_PURGE_F_QUEUE | 8),
            KC_ERR__INVALID_ARG,
            &["unknown purge flags"],
        );
        assert_eq!(p.outq_len(), 3, "a refused purge drops nothing");
        assert_ok(p.purge(0));
        assert_ok(p.purge(KC_PURGE_F_QUEUE | KC_PURGE_F_INFLIGHT));
        p.poll_until(&sink, 3, Duration::from_secs(5));
        let msgs = sink.msgs();
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        for (i, r) in msgs.iter().enumerate() {
            assert_eq!(r.opaque, i, "reports in send order");
            assert_eq!(r.err, KC_ERR__PURGE_QUEUE);
            assert_eq!(r.status, KC_PERSISTED_NOT);
            assert_eq!(r.offset, -1);
            assert!(
                r.errstr.as_deref().is_some_and(|s| s.contains("purged")),
                "{r:?}"
            );
        }
        assert_eq!(p.outq_len(), 0);
        assert_ok(p.flush(0));
        assert_eq!(p.close(0), (KC_OK, 0));
    })
}

/// `kc_producer_close` waits up to its timeout, then drops what is left and says how
/// many; sends after it fail with `KC_ERR__DESTROY`.
#[test]
fn close_drops_what_it_cannot_deliver_within_its_bound_and_counts_it() {
    offline(|| {
        let sink = Sink::default();
        let conf = Conf::new(&nowhere(), &[]);
        conf.callbacks(&sink, true, true, false);
        let p = Producer::new(&conf);
        let topic = cs("ffi-prod-close");
        for i in 0..5 {
            assert_ok(p.send_value(&topic, KC_PARTITION_UA, b"never delivered", i));
        }
        let t0 = Instant::now();
        let (rc, dropped) = p.close(300);
        let took = t0.elapsed();
        assert_ok(rc);
        assert_eq!(dropped, 5);
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(2),
            "a close with a 300 ms timeout took {took:?}"
        );
        assert!(sink.msgs().is_empty() && sink.batches().is_empty());
        assert_eq!(p.outq_len(), 0);
        assert_err(
            p.send_value(&topic, 0, b"late", 9),
            KC_ERR__DESTROY,
            &["closing"],
        );
        // Closing again finds nothing to drop.
        assert_eq!(p.close(100), (KC_OK, 0));
    })
}

/// What the fake broker answers to ApiVersions: no InitProducerId (key 22), so an
/// idempotent producer cannot start.
const FAKE_APIS: &[(i16, i16, i16)] = &[
    (fake::PRODUCE, 3, 9),
    (fake::FETCH, 4, 12),
    (fake::LIST_OFFSETS, 1, 7),
    (fake::METADATA, 1, 12),
    (fake::API_VERSIONS, 0, 3),
];

/// Starts a fake broker on 127.0.0.1 that answers ApiVersions and Metadata (one broker,
/// itself, leading partition 0 of topic "t") and holds every Produce request unanswered,
/// telling `produced` of each. Returns its port.
fn fake_broker(produced: mpsc::Sender<()>) -> u16 {
    use std::io::Write;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { return };
            let produced = produced.clone();
            thread::spawn(move || {
                while let Some(req) = fake::read_request(&mut s) {
                    let (k, v, cid) = (req.api_key, req.api_version, req.correlation_id);
                    let frame = match k {
                        fake::API_VERSIONS => fake::api_versions_response(cid, v, 0, FAKE_APIS),
                        fake::METADATA => fake::metadata_response(cid, v, 1, port, "t"),
                        fake::PRODUCE => {
                            let _ = produced.send(());
                            continue;
                        }
                        _ => continue,
                    };
                    if s.write_all(&frame).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// A producer of the fake broker's topic "t" that sends each batch at once, one request
/// at a time per partition, without idempotence.
fn one_at_a_time(port: u16, sink: &Sink) -> Producer {
    let conf = Conf::new(
        &format!("127.0.0.1:{port}"),
        &[
            ("enable.idempotence", "false"),
            ("max.in.flight.requests.per.connection", "1"),
            ("linger.ms", "0"),
        ],
    );
    conf.callbacks(sink, true, false, false);
    Producer::new(&conf)
}

/// A message in a Produce request that gets no answer is purged with
/// `KC_ERR__PURGE_INFLIGHT` (it may be in the log: status possibly persisted); one
/// queued behind it with `KC_ERR__PURGE_QUEUE` (never written). A close drops a message
/// in flight and counts it.
#[test]
fn purge_fails_in_flight_and_queued_messages_with_their_own_codes() {
    offline(|| {
        let (tx, produced) = mpsc::channel();
        let port = fake_broker(tx);
        let sink = Sink::default();
        let p = one_at_a_time(port, &sink);
        let topic = cs("t");
        assert_ok(p.send_value(&topic, 0, b"in flight", 1));
        produced
            .recv_timeout(Duration::from_secs(10))
            .expect("a Produce request reaches the broker");
        assert_ok(p.send_value(&topic, 0, b"queued behind it", 2));
        assert_eq!(p.outq_len(), 2);
        assert_ok(p.purge(KC_PURGE_F_QUEUE));
        p.poll_until(&sink, 1, Duration::from_secs(5));
        assert_ok(p.purge(KC_PURGE_F_INFLIGHT));
        p.poll_until(&sink, 2, Duration::from_secs(5));
        let msgs = sink.msgs();
        let got: Vec<(usize, kc_err_t, i32)> =
            msgs.iter().map(|r| (r.opaque, r.err, r.status)).collect();
        assert_eq!(
            got,
            [
                (2, KC_ERR__PURGE_QUEUE, KC_PERSISTED_NOT),
                (1, KC_ERR__PURGE_INFLIGHT, KC_PERSISTED_POSSIBLY)
            ],
            "{msgs:?}"
        );
        assert!(msgs.iter().all(|r| r.errstr.is_some() && r.offset == -1));
        assert_eq!(p.outq_len(), 0);
        drop(p);

        // A close drops what is in flight: a new producer (the purged request still
        // occupies the old connection's one slot until it times out).
        let p = one_at_a_time(port, &sink);
        assert_ok(p.send_value(&topic, 0, b"in flight at close", 3));
        produced
            .recv_timeout(Duration::from_secs(10))
            .expect("a Produce request reaches the broker");
        let t0 = Instant::now();
        assert_eq!(p.close(200), (KC_OK, 1));
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    })
}

/// `kc_producer_purge(KC_PURGE_F_QUEUE | KC_PURGE_F_INFLIGHT)` must fail every message
/// queued or in flight at the call, including a message queued behind one in flight:
/// the producer's thread, purging the one in flight, frees the partition's slot, and
/// must not send the queued one (which would then wait, unreported, for an answer the
/// broker never sends). The race is run 20 times.
#[test]
fn purge_with_both_flags_leaves_no_queued_message_behind() {
    offline(|| {
        let (tx, produced) = mpsc::channel();
        let port = fake_broker(tx);
        let topic = cs("t");
        let mut escaped = 0;
        for _ in 0..20 {
            let sink = Sink::default();
            let p = one_at_a_time(port, &sink);
            assert_ok(p.send_value(&topic, 0, b"in flight", 1));
            produced
                .recv_timeout(Duration::from_secs(10))
                .expect("a Produce request reaches the broker");
            assert_ok(p.send_value(&topic, 0, b"queued behind it", 2));
            assert_ok(p.purge(KC_PURGE_F_QUEUE | KC_PURGE_F_INFLIGHT));
            p.poll_until(&sink, 2, Duration::from_secs(1));
            if sink.msgs().len() < 2 {
                escaped += 1;
                assert_eq!(p.outq_len(), 1, "{:?}", sink.msgs());
            }
        }
        assert_eq!(
            escaped, 0,
            "of 20 purges, {escaped} left a message unreported"
        );
    })
}

// ---------------------------------------------------------------------------------------
// The fatal error
// ---------------------------------------------------------------------------------------

/// An idempotent producer whose broker lacks InitProducerId hits a fatal error: the
/// error callback gets it once (inside poll), `kc_producer_fatal_error` returns it, the
/// messages sent before fail with `KC_ERR__FATAL`, and so does every later send.
#[test]
fn a_fatal_error_reaches_the_error_callback_once_and_fails_every_send() {
    offline(|| {
        let (tx, _produced) = mpsc::channel();
        let port = fake_broker(tx);
        let sink = Sink::default();
        let conf = Conf::new(&format!("127.0.0.1:{port}"), &[]);
        conf.callbacks(&sink, true, false, true);
        let p = Producer::new(&conf);
        let topic = cs("t");
        let first = p.send_value(&topic, 0, b"before", 1);
        let deadline = Instant::now() + Duration::from_secs(20);
        while lock(&sink.errors).is_empty() && Instant::now() < deadline {
            assert!(p.poll(50) >= 0);
        }
        let errors = lock(&sink.errors).clone();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = &errors[0];
        assert_eq!(e.err, KC_ERR__UNSUPPORTED_FEATURE, "{e:?}");
        assert!(e.reason.contains("enable.idempotence=false"), "{e:?}");
        assert_eq!(e.producer, p.0 as usize);
        assert_eq!(e.cb_opaque, sink.ptr() as usize);

        // SAFETY: live producer; buffers of the sizes given.
        unsafe {
            assert_eq!(kc_producer_fatal_error(p.0, ptr::null_mut(), 0), e.err);
            let mut buf = vec![0x55u8; 1024];
            assert_eq!(
                kc_producer_fatal_error(p.0, buf.as_mut_ptr().cast(), buf.len()),
                e.err
            );
            assert_eq!(rs(buf.as_ptr().cast()), e.reason);
            let mut small = [0x55u8; 8];
            assert_eq!(
                kc_producer_fatal_error(p.0, small.as_mut_ptr().cast(), small.len()),
                e.err
            );
            assert_eq!(small[7], 0, "truncated and NUL-terminated");
            assert_eq!(&small[..7], &e.reason.as_bytes()[..7]);
        }
        assert_err(
            p.send_value(&topic, 0, b"after", 2),
            KC_ERR__FATAL,
            &["fatal error", "enable.idempotence=false"],
        );
        // SAFETY: live producer, topic and record.
        let rc = unsafe {
            let rec = record(None, Some(b"after"));
            kc_producer_send_blocking(p.0, topic.as_ptr(), 0, &rec, ptr::null_mut(), 100)
        };
        assert_eq!(rc, KC_ERR__FATAL);
        let rc = p.flush(5000);
        assert_ok(rc);
        if first == KC_OK {
            let msgs = sink.msgs();
            assert_eq!(msgs.len(), 1, "{msgs:?}");
            assert_eq!((msgs[0].opaque, msgs[0].err), (1, KC_ERR__FATAL));
        } else {
            assert_eq!(first, KC_ERR__FATAL, "the first send came after the error");
        }
        // Once only.
        p.poll(200);
        assert_eq!(lock(&sink.errors).len(), 1);
    })
}

// ---------------------------------------------------------------------------------------
// From C, under the sanitizers
// ---------------------------------------------------------------------------------------

#[test]
fn c_program_runs_the_producer_life_cycle_under_the_sanitizers() {
    clib::require_tool(&clib::cc(), &["--version"]);
    let dir = clib::bin_dir().join("ffi");
    std::fs::create_dir_all(&dir).unwrap();
    let src = clib::manifest_dir().join("tests/c/producer_lifecycle.c");
    let exe = dir.join("producer_lifecycle");
    let flags = common::SANITIZE_FLAGS;
    let out = exe.clone();
    with_timeout(BUILD_LIMIT, move || {
        clib::compile(&clib::cc(), &src, flags, Some(clib::Link::Static), &out)
    })
    .unwrap_or_else(|e| panic!("{e}"));
    on_kafka(move |b| {
        let name = "ffi-prod-lifecycle";
        create_topic(b, name, 3);
        let mut cmd = std::process::Command::new(&exe);
        cmd.args([b, name]);
        let out = common::run_sanitized(cmd, Duration::from_secs(50));
        assert!(out.contains("delivered 20000 in "), "{out}");
        assert!(out.contains("purged 100, then delivered 10"), "{out}");
        assert!(out.contains("close delivered 3000\n"), "{out}");
        assert!(out.contains("blocked send: _DESTROY"), "{out}");
        assert!(out.contains("handed over 70 values, delivered 50"), "{out}");
        assert!(out.ends_with("0 failed checks\n"), "{out}");
    })
}

/// Every `kc_producer_*` and `kc_conf_set_*` callback function the header declares is
/// called by a test in this file.
/// The OAUTHBEARER token calls on a producer handle: NULL handle, invalid tokens and
/// failures are refused with their codes; a valid token and a failure reason are taken;
/// a producer that does not use application tokens refuses with STATE.
#[test]
fn oauthbearer_token_calls_on_a_producer() {
    offline(|| {
        let b = nowhere();
        let oauth = Producer::new(&Conf::new(
            &b,
            &[
                ("security.protocol", "sasl_plaintext"),
                ("sasl.mechanism", "OAUTHBEARER"),
            ],
        ));
        let plain = Producer::new(&Conf::new(
            &b,
            &[
                ("security.protocol", "sasl_plaintext"),
                ("sasl.mechanism", "SCRAM-SHA-256"),
                ("sasl.username", "alice"),
                ("sasl.password", "secret"),
            ],
        ));
        let token = cs("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.");
        let alice = cs("alice");
        let later = now_ms() + 60_000;
        let ext = [cs("traceId"), cs("abc 123"), cs("bad key!"), cs("v")];
        let ext_ptrs: Vec<*const c_char> = ext.iter().map(|e| e.as_ptr()).collect();
        // SAFETY: live handles (or NULL where refused), NUL-terminated strings, and
        // extension arrays of the length given.
        unsafe {
            assert_err(
                kc_producer_oauthbearer_set_token(
                    ptr::null(),
                    token.as_ptr(),
                    later,
                    alice.as_ptr(),
                    ptr::null(),
                    0,
                ),
                KC_ERR__NULL_ARG,
                &[],
            );
            assert_err(
                kc_producer_oauthbearer_set_token(
                    oauth.0,
                    token.as_ptr(),
                    later,
                    cs("").as_ptr(),
                    ptr::null(),
                    0,
                ),
                KC_ERR__INVALID_ARG,
                &["md_principal_name is empty"],
            );
            assert_err(
                kc_producer_oauthbearer_set_token(
                    oauth.0,
                    token.as_ptr(),
                    later,
                    alice.as_ptr(),
                    ext_ptrs.as_ptr(),
                    4,
                ),
                KC_ERR__INVALID_ARG,
                &["bad key!"],
            );
            assert_ok(kc_producer_oauthbearer_set_token(
                oauth.0,
                token.as_ptr(),
                later,
                alice.as_ptr(),
                ext_ptrs.as_ptr(),
                2,
            ));
            assert_ok(kc_producer_oauthbearer_set_token_failure(
                oauth.0,
                cs("the identity provider is down").as_ptr(),
            ));
            assert_err(
                kc_producer_oauthbearer_set_token_failure(plain.0, cs("x").as_ptr()),
                KC_ERR__STATE,
                &["not OAUTHBEARER"],
            );
            assert_err(
                kc_producer_oauthbearer_set_token(
                    plain.0,
                    token.as_ptr(),
                    later,
                    alice.as_ptr(),
                    ptr::null(),
                    0,
                ),
                KC_ERR__STATE,
                &["not OAUTHBEARER"],
            );
        }
    })
}

/// What the OAUTHBEARER token refresh callback saw: the thread and the configuration
/// string of each call. Tokens it sets live `life_ms`.
struct Refreshes {
    calls: Mutex<Vec<(ThreadId, String)>>,
    life_ms: i64,
}

unsafe extern "C" fn refresh_cb(
    ob: *mut kc_oauthbearer_t,
    config: *const c_char,
    opaque: *mut c_void,
) {
    // SAFETY: the opaque is the `Refreshes` the test set; it outlives the handle.
    let r = unsafe { &*(opaque as *const Refreshes) };
    // SAFETY: a NUL-terminated string valid for the call.
    let config = unsafe { CStr::from_ptr(config) }
        .to_string_lossy()
        .into_owned();
    lock(&r.calls).push((thread::current().id(), config));
    let token = cs("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.");
    // SAFETY: `ob` as the callback received it; NUL-terminated strings.
    let rc = unsafe {
        kc_oauthbearer_set_token(
            ob,
            token.as_ptr(),
            now_ms() + r.life_ms,
            cs("alice").as_ptr(),
            ptr::null(),
            0,
        )
    };
    assert_eq!(rc, KC_OK, "{}", last_error());
}

/// The token refresh callback on a producer: refused with the unsecured JWT; run only
/// inside `kc_producer_poll` (at its start, then again at 80 % of the token's lifetime
/// while the poll waits) on the polling thread; or, after
/// `kc_producer_sasl_background_callbacks_enable`, on another thread, which
/// `kc_producer_free` joins at once.
#[test]
fn oauthbearer_token_refresh_callback_on_a_producer() {
    offline(|| {
        let b = nowhere();
        let oauth = [
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "OAUTHBEARER"),
            ("sasl.oauthbearer.config", "scope=test"),
        ];
        let refreshes = Refreshes {
            calls: Mutex::new(Vec::new()),
            life_ms: 1000,
        };
        let opaque = &refreshes as *const Refreshes as *mut c_void;
        // SAFETY: live configurations and handles (or NULL where refused); the opaque
        // outlives every producer made here.
        unsafe {
            assert_err(
                kc_conf_set_oauthbearer_token_refresh_cb(ptr::null_mut(), Some(refresh_cb)),
                KC_ERR__NULL_ARG,
                &["conf"],
            );
            let jwt = Conf::new(
                &b,
                &[
                    ("security.protocol", "sasl_plaintext"),
                    ("sasl.mechanism", "OAUTHBEARER"),
                    ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
                    ("sasl.oauthbearer.config", "principal=alice"),
                ],
            );
            assert_ok(kc_conf_set_oauthbearer_token_refresh_cb(
                jwt.0,
                Some(refresh_cb),
            ));
            let mut out = Out::<*mut kc_producer_t>::new();
            assert_err(
                kc_producer_new(jwt.0, out.ptr()),
                KC_ERR__INVALID_CONFIG,
                &[
                    "enable.sasl.oauthbearer.unsecure.jwt",
                    "token refresh callback",
                    "mutually exclusive",
                ],
            );

            assert_err(
                kc_producer_sasl_background_callbacks_enable(ptr::null_mut()),
                KC_ERR__NULL_ARG,
                &["producer"],
            );
            let without = Producer::new(&Conf::new(&b, &oauth));
            assert_err(
                kc_producer_sasl_background_callbacks_enable(without.0),
                KC_ERR__STATE,
                &["no OAUTHBEARER token refresh callback"],
            );

            let conf = Conf::new(&b, &oauth);
            assert_ok(kc_conf_set_oauthbearer_token_refresh_cb(
                conf.0,
                Some(refresh_cb),
            ));
            assert_ok(kc_conf_set_opaque(conf.0, opaque));
            let p = Producer::new(&conf);
            thread::sleep(Duration::from_millis(100));
            assert!(lock(&refreshes.calls).is_empty(), "called before a poll");
            // At the poll's start, then 800 ms later while it waits for reports.
            let t = Instant::now();
            assert_eq!(p.poll(1500), 0);
            assert!(
                t.elapsed() >= Duration::from_millis(1400),
                "{:?}",
                t.elapsed()
            );
            {
                let calls = lock(&refreshes.calls);
                assert_eq!(calls.len(), 2, "{calls:?}");
                assert!(calls
                    .iter()
                    .all(|(id, config)| *id == thread::current().id() && config == "scope=test"));
            }
            // On a background thread, from now on; a second enable changes nothing.
            assert_ok(kc_producer_sasl_background_callbacks_enable(p.0));
            assert_ok(kc_producer_sasl_background_callbacks_enable(p.0));
            let seen = lock(&refreshes.calls).len();
            let t = Instant::now();
            while lock(&refreshes.calls).len() == seen {
                assert!(t.elapsed() < Duration::from_secs(5), "not refreshed");
                thread::sleep(Duration::from_millis(10));
            }
            let (id, _) = lock(&refreshes.calls).last().cloned().unwrap();
            assert_ne!(id, thread::current().id());
            let t = Instant::now();
            drop(p);
            assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
            let after = lock(&refreshes.calls).len();
            thread::sleep(Duration::from_millis(1000));
            assert_eq!(lock(&refreshes.calls).len(), after, "called after free");
        }
    })
}

#[test]
fn every_producer_function_in_the_header_is_tested_here() {
    offline(|| {
        let header =
            std::fs::read_to_string(clib::manifest_dir().join("include/kafkac.h")).unwrap();
        let this =
            std::fs::read_to_string(clib::manifest_dir().join("tests/ffi_producer.rs")).unwrap();
        let declared: HashSet<&str> = header
            .lines()
            .filter(|l| !l.starts_with("//"))
            .filter_map(|l| l.split_once('('))
            .filter_map(|(head, _)| head.rsplit(' ').next())
            .map(|name| name.trim_start_matches('*'))
            // The consumer's callbacks are tested with it (tests/ffi_consumer.rs).
            .filter(|n| {
                !matches!(
                    *n,
                    "kc_conf_set_rebalance_cb" | "kc_conf_set_offset_commit_cb"
                )
            })
            .filter(|n| {
                n.starts_with("kc_producer_")
                    || (n.starts_with("kc_conf_set_") && n.ends_with("_cb"))
                    || *n == "kc_conf_set_opaque"
            })
            .collect();
        assert!(declared.len() >= 15, "{declared:?}");
        let untested: Vec<&&str> = declared
            .iter()
            .filter(|n| !this.contains(&format!("{n}(")))
            .collect();
        assert!(untested.is_empty(), "not called here: {untested:?}");
    })
}

// ---------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------

/// (retriable, abortable, fatal) of the last transactional call on this thread.
fn txn_class() -> (i32, i32, i32) {
    (
        kc_txn_error_is_retriable(),
        kc_txn_error_is_abortable(),
        kc_txn_error_is_fatal(),
    )
}

impl Producer {
    fn init_transactions(&self, ms: i32) -> kc_err_t {
        // SAFETY: live producer.
        unsafe { kc_producer_init_transactions(self.0, ms) }
    }
    fn begin_transaction(&self) -> kc_err_t {
        // SAFETY: live producer.
        unsafe { kc_producer_begin_transaction(self.0) }
    }
    fn commit_transaction(&self, ms: i32) -> kc_err_t {
        // SAFETY: live producer.
        unsafe { kc_producer_commit_transaction(self.0, ms) }
    }
    fn abort_transaction(&self, ms: i32) -> kc_err_t {
        // SAFETY: live producer.
        unsafe { kc_producer_abort_transaction(self.0, ms) }
    }
}

#[test]
fn transactions_from_c_commit_abort_offsets_and_error_classes() {
    on_kafka(|b| {
        let topic_name = format!("ffi-txn-{}", std::process::id());
        create_topic(b, &topic_name, 2);
        let topic = cs(&topic_name);

        // NULL and a producer without transactional.id: no class.
        // SAFETY: NULL is refused.
        let rc = unsafe { kc_producer_init_transactions(ptr::null_mut(), 100) };
        assert_err(rc, KC_ERR__NULL_ARG, &["producer"]);
        assert_eq!(txn_class(), (0, 0, 0));
        let plain = Producer::new(&Conf::new(b, &[]));
        assert_err(
            plain.begin_transaction(),
            KC_ERR__STATE,
            &["transactional.id"],
        );
        assert_eq!(txn_class(), (0, 0, 0));

        // Against no broker, init times out: retriable, and again.
        let lost = Producer::new(&Conf::new(&nowhere(), &[("transactional.id", "ffi-lost")]));
        assert_err(
            lost.init_transactions(200),
            KC_ERR__TIMED_OUT,
            &["call it again"],
        );
        assert_eq!(txn_class(), (1, 0, 0));
        assert_err(
            lost.init_transactions(200),
            KC_ERR__TIMED_OUT,
            &["call it again"],
        );
        assert_eq!(txn_class(), (1, 0, 0));

        let sink = Sink::default();
        let id = format!("ffi-tx-{}", std::process::id());
        let conf = Conf::new(b, &[("transactional.id", &id), ("linger.ms", "1000")]);
        conf.callbacks(&sink, true, false, false);
        let p = Producer::new(&conf);
        // Sends outside a transaction are refused.
        assert_err(
            p.send_value(&topic, 0, b"early", 1),
            KC_ERR__STATE,
            &["transaction"],
        );
        assert_err(p.begin_transaction(), KC_ERR__STATE, &["Uninitialized"]);
        assert_ok(p.init_transactions(FLUSH_MS));
        assert_eq!(txn_class(), (0, 0, 0));

        // Abort: the queued messages are purged, each reported through the callback.
        assert_ok(p.begin_transaction());
        for i in 0..10 {
            assert_ok(p.send_value(&topic, i % 2, b"aborted", i as usize));
        }
        assert_ok(p.abort_transaction(FLUSH_MS));
        let reps = sink.msgs();
        assert_eq!(reps.len(), 10, "{reps:?}");
        assert!(
            reps.iter().all(|r| r.err == KC_ERR__PURGE_QUEUE),
            "{reps:?}"
        );
        sink.clear();

        // Commit with the consumer group's offsets.
        let group = format!("ffi-txn-g-{}", std::process::id());
        let cconf = Conf::new(b, &[("group.id", &group)]);
        let mut c = Out::<*mut kc_consumer_t>::new();
        // SAFETY: live configuration, valid out-pointer.
        assert_ok(unsafe { kc_consumer_new(cconf.0, c.ptr()) });
        let consumer = c.get();
        let mut m = Out::<*mut kc_group_metadata_t>::new();
        // SAFETY: live consumer, valid out-pointer.
        assert_ok(unsafe { kc_consumer_group_metadata(consumer, m.ptr()) });
        let meta = m.get();
        assert_ok(p.begin_transaction());
        for i in 0..5 {
            assert_ok(p.send_value(&topic, i % 2, b"committed", 100 + i as usize));
        }
        let offsets = [kc_topic_partition_t {
            topic: topic.as_ptr(),
            partition: 1,
            offset: 42,
            leader_epoch: -1,
            err: 0,
        }];
        // SAFETY: live producer, one valid entry, live metadata.
        let rc = unsafe {
            kc_producer_send_offsets_to_transaction(p.0, offsets.as_ptr(), 1, meta, FLUSH_MS)
        };
        assert_ok(rc);
        // A bad offset is refused before anything is sent.
        let bad = [kc_topic_partition_t {
            offset: -5,
            ..offsets[0]
        }];
        // SAFETY: as above.
        let rc = unsafe {
            kc_producer_send_offsets_to_transaction(p.0, bad.as_ptr(), 1, meta, FLUSH_MS)
        };
        assert_err(rc, KC_ERR__INVALID_ARG, &["offsets[0]", "offset -5"]);
        // SAFETY: live producer, NULL metadata is refused.
        let rc = unsafe {
            kc_producer_send_offsets_to_transaction(p.0, offsets.as_ptr(), 1, ptr::null(), 100)
        };
        assert_err(rc, KC_ERR__NULL_ARG, &["group_metadata"]);
        assert_ok(p.commit_transaction(FLUSH_MS));
        let reps = sink.msgs();
        assert_eq!(reps.len(), 5, "{reps:?}");
        assert!(reps.iter().all(|r| r.err == 0 && r.offset >= 0), "{reps:?}");
        // SAFETY: owned, freed once; NULL is a no-op.
        unsafe {
            kc_group_metadata_free(meta);
            kc_group_metadata_free(ptr::null_mut());
            kc_consumer_free(consumer);
        }
        let committed = kafkac::consumer::Consumer::new(&{
            let mut c = kafkac::Config::new();
            c.set("bootstrap.servers", b).unwrap();
            c.set("group.id", &group).unwrap();
            c
        })
        .unwrap();
        let tp = kafkac::consumer::assignor::TopicPartition::new(&topic_name, 1);
        let got = committed
            .committed(std::slice::from_ref(&tp), CALL_TIMEOUT)
            .unwrap();
        assert_eq!(got, vec![(tp, 42)]);
        committed.close(CALL_TIMEOUT).unwrap();

        // A second producer with the same id fences the first: fatal.
        let p2 = Producer::new(&Conf::new(b, &[("transactional.id", &id)]));
        assert_ok(p2.init_transactions(FLUSH_MS));
        assert_ok(p.begin_transaction());
        let _ = p.send_value(&topic, 0, b"fenced", 7);
        let rc = p.commit_transaction(FLUSH_MS);
        assert_ne!(rc, 0);
        assert_eq!(txn_class(), (0, 0, 1), "{}", last_error());
        assert_ne!(p.abort_transaction(100), 0);
        assert_eq!(txn_class(), (0, 0, 1));
    })
}
