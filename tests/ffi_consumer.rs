//! The consumer's C API (`kc_consumer_*`, `kc_message_*`, `kc_topic_partitions_free`,
//! `kc_conf_set_rebalance_cb` and `_offset_commit_cb`), called as a C program would,
//! against Apache Kafka (the single-node cluster this test binary shares) and an address
//! where nothing listens.
//!
//! Every function is called with NULL for each pointer argument and on each error path
//! a user can hit; a group flow checks what both callbacks receive and the committed
//! offsets, positions and assignment; and a C program (tests/c/consumer_lifecycle.c)
//! runs the consumer's life cycle under AddressSanitizer, LeakSanitizer and
//! UndefinedBehaviorSanitizer.

mod clib;
mod common;

use common::ffi::{assert_err, assert_ok, cs, last_error, rs, Out};
use common::kafka::{self, KAFKA_START_TIMEOUT};
use common::with_timeout;
use kafkac::client::OffsetSpec;
use kafkac::ffi::*;
use kafkac::producer::{Message as ProducerMessage, Producer, PARTITION_ANY};
use kafkac::record::RecordHeaderIn;
use std::collections::{BTreeMap, HashSet};
use std::ffi::{c_char, c_void, CStr};
use std::ptr;
use std::sync::{Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

/// Bound on each test once its broker runs.
const LIMIT: Duration = Duration::from_secs(90);
/// Bound on starting the shared cluster.
const START_LIMIT: Duration = Duration::from_secs(2 * KAFKA_START_TIMEOUT.as_secs());
/// Bound on building the library and the C program.
const BUILD_LIMIT: Duration = Duration::from_secs(600);
/// Timeout of the Rust calls that create topics, produce and look up offsets.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

fn on_kafka<F>(f: F)
where
    F: FnOnce(&'static str) + Send + 'static,
{
    let k = with_timeout(START_LIMIT, kafka::shared);
    with_timeout(LIMIT, move || f(&k.bootstrap))
}

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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Creates `name` with `partitions` partitions and writes `n` records to it: key
/// "key-<i>", value "value-<i>", one header "n" with the value. Returns the end offset
/// of each partition.
fn topic_with_records(b: &str, name: &str, partitions: i32, n: usize) -> Vec<i64> {
    let c = common::client::client(b);
    common::client::create_topic(&c, name, partitions, 1, &[], CALL_TIMEOUT);
    let mut conf = kafkac::Config::new();
    conf.set("bootstrap.servers", b).unwrap();
    conf.set("linger.ms", "5").unwrap();
    let p = Producer::new(&conf).unwrap();
    for i in 0..n {
        let key = format!("key-{i}");
        let value = format!("value-{i}");
        let headers = [RecordHeaderIn {
            key: b"n",
            value: Some(value.as_bytes()),
        }];
        p.send_blocking(
            &ProducerMessage {
                topic: name,
                partition: PARTITION_ANY,
                key: Some(key.as_bytes()),
                value: Some(value.as_bytes()),
                headers: &headers,
                opaque: i,
                ..Default::default()
            },
            CALL_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("send {i}: {e}"));
    }
    let mut failed = 0;
    p.flush(CALL_TIMEOUT, |r| failed += usize::from(r.error.is_some()))
        .unwrap();
    assert_eq!(failed, 0);
    end_offsets(b, name, partitions)
}

fn end_offsets(b: &str, name: &str, partitions: i32) -> Vec<i64> {
    let c = common::client::client(b);
    (0..partitions)
        .map(|p| {
            c.list_offsets(name, p, OffsetSpec::Latest, CALL_TIMEOUT)
                .unwrap()
                .offset
        })
        .collect()
}

/// Owns a configuration.
struct Conf(*mut kc_conf_t);

impl Conf {
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

    /// Routes both callbacks to `sink`.
    fn callbacks(&self, sink: &Sink) {
        // SAFETY: live handle; the sink outlives every consumer made from it.
        unsafe {
            assert_ok(kc_conf_set_rebalance_cb(self.0, Some(on_rebalance)));
            assert_ok(kc_conf_set_offset_commit_cb(self.0, Some(on_commit)));
            assert_ok(kc_conf_set_opaque(
                self.0,
                sink as *const Sink as *mut c_void,
            ));
        }
    }

    fn consumer(&self) -> Consumer {
        let mut out = Out::<*mut kc_consumer_t>::new();
        // SAFETY: live configuration, valid out-pointer.
        assert_ok(unsafe { kc_consumer_new(self.0, out.ptr()) });
        Consumer(out.get())
    }
}

impl Drop for Conf {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { kc_conf_free(self.0) }
    }
}

/// Owns a consumer.
struct Consumer(*mut kc_consumer_t);

impl Drop for Consumer {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { kc_consumer_free(self.0) }
    }
}

/// A partition entry borrowing `topic`.
fn part(topic: &CStr, partition: i32, offset: i64) -> kc_topic_partition_t {
    kc_topic_partition_t {
        topic: topic.as_ptr(),
        partition,
        offset,
        leader_epoch: -1,
        err: 0,
    }
}

/// A partition entry as Rust values: topic, partition, offset, err.
type Entry = (String, i32, i64, kc_err_t);
/// One rebalance: its kind and its partitions.
type Rebalance = (kc_err_t, Vec<(String, i32)>);
/// One commit result: its code and its offsets.
type Commit = (kc_err_t, Vec<Entry>);

/// What the callbacks received.
#[derive(Default)]
struct Sink {
    consumer: Mutex<usize>,
    rebalances: Mutex<Vec<Rebalance>>,
    commits: Mutex<Vec<Commit>>,
    threads: Mutex<HashSet<ThreadId>>,
    wrong_handle: Mutex<usize>,
}

/// # Safety
/// `parts` must hold `cnt` valid entries.
unsafe fn entries(parts: *const kc_topic_partition_t, cnt: usize) -> Vec<Entry> {
    if cnt == 0 {
        return Vec::new();
    }
    // SAFETY: `cnt` valid entries (contract above).
    unsafe { std::slice::from_raw_parts(parts, cnt) }
        .iter()
        .map(|p| (rs(p.topic), p.partition, p.offset, p.err))
        .collect()
}

unsafe extern "C" fn on_rebalance(
    c: *mut kc_consumer_t,
    kind: kc_err_t,
    parts: *const kc_topic_partition_t,
    cnt: usize,
    opaque: *mut c_void,
) {
    // SAFETY: the opaque is the test's Sink, alive while the consumer is.
    let sink = unsafe { &*(opaque as *const Sink) };
    if *lock(&sink.consumer) != c as usize {
        *lock(&sink.wrong_handle) += 1;
    }
    lock(&sink.threads).insert(thread::current().id());
    // SAFETY: `cnt` entries valid during the call.
    let e = unsafe { entries(parts, cnt) };
    for (_, _, offset, err) in &e {
        assert_eq!((*offset, *err), (KC_OFFSET_INVALID, KC_OK));
    }
    let list = e.into_iter().map(|(t, p, ..)| (t, p)).collect();
    lock(&sink.rebalances).push((kind, list));
    if kind == KC_ERR__REVOKE_PARTITIONS {
        // A revoke callback may commit what was processed.
        // SAFETY: the consumer the callback runs for.
        assert_eq!(unsafe { kc_consumer_commit(c, ptr::null(), 0, 0) }, KC_OK);
    }
}

unsafe extern "C" fn on_commit(
    c: *mut kc_consumer_t,
    err: kc_err_t,
    offsets: *const kc_topic_partition_t,
    cnt: usize,
    opaque: *mut c_void,
) {
    // SAFETY: the opaque is the test's Sink.
    let sink = unsafe { &*(opaque as *const Sink) };
    if *lock(&sink.consumer) != c as usize {
        *lock(&sink.wrong_handle) += 1;
    }
    lock(&sink.threads).insert(thread::current().id());
    // SAFETY: `cnt` entries valid during the call.
    let e = unsafe { entries(offsets, cnt) };
    lock(&sink.commits).push((err, e));
}

/// A message's fields as Rust values; `None` key/value for NULL.
struct Got {
    topic: String,
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

/// # Safety
/// `m` must be a live message.
unsafe fn read(m: *const kc_message_t) -> Got {
    // SAFETY: a live message; the pointers it returns are valid while it is.
    unsafe {
        assert_eq!(kc_message_err(m), KC_OK);
        let mut klen = 7usize;
        let mut vlen = 7usize;
        let k = kc_message_key(m, &mut klen);
        let v = kc_message_value(m, &mut vlen);
        let bytes = |p: *const c_void, n: usize| {
            (!p.is_null()).then(|| std::slice::from_raw_parts(p.cast::<u8>(), n).to_vec())
        };
        Got {
            topic: rs(kc_message_topic(m)),
            partition: kc_message_partition(m),
            offset: kc_message_offset(m),
            key: bytes(k, klen),
            value: bytes(v, vlen),
        }
    }
}

/// Polls until `want` records came (events other than EOF fail the test); frees them.
fn consume(c: &Consumer, want: usize, limit: Duration) -> Vec<Got> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut batch = [ptr::null_mut::<kc_message_t>(); 32];
    while out.len() < want && Instant::now() < deadline {
        // SAFETY: a live consumer, room for 32 pointers.
        let n = unsafe { kc_consumer_poll_batch(c.0, 100, batch.as_mut_ptr(), batch.len()) };
        for &m in &batch[..n] {
            // SAFETY: messages the poll handed out, freed once.
            unsafe {
                let err = kc_message_err(m);
                if err == KC_OK {
                    out.push(read(m));
                } else if err != KC_ERR__PARTITION_EOF {
                    panic!(
                        "event {}: {}",
                        rs(kc_err_name(err)),
                        rs(kc_message_errstr(m))
                    );
                }
                kc_message_free(m);
            }
        }
    }
    out
}

/// The assignment, as (topic, partition), freeing the library's array.
fn assignment(c: &Consumer) -> Vec<(String, i32)> {
    let mut parts = Out::<*mut kc_topic_partition_t>::new();
    let mut cnt = Out::<usize>::new();
    // SAFETY: a live consumer, valid out-pointers; the array is freed with its count.
    unsafe {
        assert_ok(kc_consumer_assignment(c.0, parts.ptr(), cnt.ptr()));
        let (p, n) = (parts.get(), cnt.get());
        let v = entries(p, n).into_iter().map(|(t, p, ..)| (t, p)).collect();
        kc_topic_partitions_free(p, n);
        v
    }
}

// ---------------------------------------------------------------------------------------
// NULL arguments
// ---------------------------------------------------------------------------------------

#[test]
fn null_pointer_arguments_are_refused_and_named() {
    offline(|| {
        let conf = Conf::new(&nowhere(), &[("group.id", "ffi-cons-null")]);
        let c = conf.consumer();
        let t = cs("t");
        let good = [part(&t, 0, 0)];
        let no_topic = [kc_topic_partition_t {
            topic: ptr::null(),
            ..part(&t, 0, 0)
        }];
        let nul = ptr::null_mut::<kc_consumer_t>();
        // SAFETY: every pointer is NULL or valid; calls with NULL must fail cleanly.
        unsafe {
            let mut out = Out::<*mut kc_consumer_t>::new();
            assert_err(
                kc_consumer_new(ptr::null(), out.ptr()),
                KC_ERR__NULL_ARG,
                &["'conf'"],
            );
            out.assert_untouched("consumerp");
            assert_err(
                kc_consumer_new(conf.0, ptr::null_mut()),
                KC_ERR__NULL_ARG,
                &["'consumerp'"],
            );
            assert_err(
                kc_conf_set_rebalance_cb(ptr::null_mut(), None),
                KC_ERR__NULL_ARG,
                &["'conf'"],
            );
            assert_err(
                kc_conf_set_offset_commit_cb(ptr::null_mut(), None),
                KC_ERR__NULL_ARG,
                &["'conf'"],
            );

            let topics = [t.as_ptr()];
            let null_topic = [ptr::null::<c_char>()];
            assert_err(
                kc_consumer_subscribe(nul, topics.as_ptr(), 1),
                KC_ERR__NULL_ARG,
                &["'consumer'"],
            );
            assert_err(
                kc_consumer_subscribe(c.0, ptr::null(), 1),
                KC_ERR__NULL_ARG,
                &["'topics'"],
            );
            assert_err(
                kc_consumer_subscribe(c.0, null_topic.as_ptr(), 1),
                KC_ERR__NULL_ARG,
                &["'topics[0]'"],
            );
            assert_err(
                kc_consumer_unsubscribe(nul),
                KC_ERR__NULL_ARG,
                &["'consumer'"],
            );
            assert_err(
                kc_consumer_assign(nul, good.as_ptr(), 1),
                KC_ERR__NULL_ARG,
                &["'consumer'"],
            );
            assert_err(
                kc_consumer_assign(c.0, ptr::null(), 1),
                KC_ERR__NULL_ARG,
                &["'parts'"],
            );
            assert_err(
                kc_consumer_assign(c.0, no_topic.as_ptr(), 1),
                KC_ERR__NULL_ARG,
                &["'parts[0].topic'"],
            );

            let mut parts = Out::<*mut kc_topic_partition_t>::new();
            let mut cnt = Out::<usize>::new();
            assert_err(
                kc_consumer_assignment(nul, parts.ptr(), cnt.ptr()),
                KC_ERR__NULL_ARG,
                &["'consumer'"],
            );
            assert_err(
                kc_consumer_assignment(c.0, ptr::null_mut(), cnt.ptr()),
                KC_ERR__NULL_ARG,
                &["'partsp'"],
            );
            assert_err(
                kc_consumer_assignment(c.0, parts.ptr(), ptr::null_mut()),
                KC_ERR__NULL_ARG,
                &["'cntp'"],
            );
            parts.assert_untouched("partsp");
            cnt.assert_untouched("cntp");
            kc_topic_partitions_free(ptr::null_mut(), 0);

            assert!(kc_consumer_poll(nul, 0).is_null());
            assert_err(kc_last_error_code(), KC_ERR__NULL_ARG, &["'consumer'"]);
            let mut msgs = [ptr::null_mut::<kc_message_t>(); 2];
            assert_eq!(kc_consumer_poll_batch(nul, 0, msgs.as_mut_ptr(), 2), 0);
            assert_err(kc_last_error_code(), KC_ERR__NULL_ARG, &["'consumer'"]);
            assert_eq!(kc_consumer_poll_batch(c.0, 0, ptr::null_mut(), 2), 0);
            assert_err(kc_last_error_code(), KC_ERR__NULL_ARG, &["'msgs'"]);

            // Message accessors: a default value, and the last error says why.
            let m = ptr::null::<kc_message_t>();
            let check = |what: &str| {
                let msg = assert_err(kc_last_error_code(), KC_ERR__NULL_ARG, &["'message'"]);
                assert!(!msg.is_empty(), "{what}");
            };
            assert_eq!(kc_message_err(m), KC_ERR__NULL_ARG);
            check("err");
            assert!(kc_message_errstr(m).is_null());
            check("errstr");
            assert_eq!(kc_message_is_fatal(m), 0);
            check("is_fatal");
            assert!(kc_message_topic(m).is_null());
            check("topic");
            assert_eq!(kc_message_partition(m), -1);
            check("partition");
            assert_eq!(kc_message_offset(m), -1);
            check("offset");
            let mut ty = 9;
            assert_eq!(kc_message_timestamp(m, &mut ty), -1);
            assert_eq!(ty, KC_TIMESTAMP_NOT_AVAILABLE);
            check("timestamp");
            assert_eq!(kc_message_leader_epoch(m), -1);
            check("leader_epoch");
            let mut len = 9usize;
            assert!(kc_message_key(m, &mut len).is_null());
            assert_eq!(len, 0);
            check("key");
            assert!(kc_message_value(m, ptr::null_mut()).is_null());
            check("value");
            assert_eq!(kc_message_header_cnt(m), 0);
            check("header_cnt");
            let (mut k, mut kl, mut v, mut vl) = (ptr::null(), 0usize, ptr::null(), 0usize);
            assert_err(
                kc_message_header(m, 0, &mut k, &mut kl, &mut v, &mut vl),
                KC_ERR__NULL_ARG,
                &["'message'"],
            );
            kc_message_free(ptr::null_mut());

            let t0 = part(&t, 0, 0);
            let mut io = [t0];
            assert_err(
                kc_consumer_commit(nul, ptr::null(), 0, 0),
                KC_ERR__NULL_ARG,
                &["'consumer'"],
            );
            assert_err(
                kc_consumer_commit(c.0, no_topic.as_ptr(), 1, 0),
                KC_ERR__NULL_ARG,
                &["'parts[0].topic'"],
            );
            assert_err(
                kc_consumer_store_offset(nul, t.as_ptr(), 0, 1),
                KC_ERR__NULL_ARG,
                &["'consumer'"],
            );
            assert_err(
                kc_consumer_store_offset(c.0, ptr::null(), 0, 1),
                KC_ERR__NULL_ARG,
                &["'topic'"],
            );
            assert_err(
                kc_consumer_committed(nul, io.as_mut_ptr(), 1, 0),
                KC_ERR__NULL_ARG,
                &["'consumer'"],
            );
            assert_err(
                kc_consumer_committed(c.0, ptr::null_mut(), 1, 0),
                KC_ERR__NULL_ARG,
                &["'parts'"],
            );
            assert_err(
                kc_consumer_position(nul, io.as_mut_ptr(), 1),
                KC_ERR__NULL_ARG,
                &["'consumer'"],
            );
            assert_err(
                kc_consumer_position(c.0, ptr::null_mut(), 1),
                KC_ERR__NULL_ARG,
                &["'parts'"],
            );
            assert_eq!(io[0].offset, 0, "a failed call writes nothing");
            assert_err(
                kc_consumer_seek(nul, t.as_ptr(), 0, 0),
                KC_ERR__NULL_ARG,
                &["'consumer'"],
            );
            assert_err(
                kc_consumer_seek(c.0, ptr::null(), 0, 0),
                KC_ERR__NULL_ARG,
                &["'topic'"],
            );
            assert_err(
                kc_consumer_pause(nul, good.as_ptr(), 1),
                KC_ERR__NULL_ARG,
                &["'consumer'"],
            );
            assert_err(
                kc_consumer_pause(c.0, ptr::null(), 1),
                KC_ERR__NULL_ARG,
                &["'parts'"],
            );
            assert_err(
                kc_consumer_resume(nul, good.as_ptr(), 1),
                KC_ERR__NULL_ARG,
                &["'consumer'"],
            );
            assert_err(
                kc_consumer_resume(c.0, no_topic.as_ptr(), 1),
                KC_ERR__NULL_ARG,
                &["'parts[0].topic'"],
            );
            assert_err(kc_consumer_close(nul, 0), KC_ERR__NULL_ARG, &["'consumer'"]);
            kc_consumer_free(ptr::null_mut());
            // NULL with a count of 0 is an empty list.
            assert_ok(kc_consumer_pause(c.0, ptr::null(), 0));
            assert_ok(kc_consumer_position(c.0, ptr::null_mut(), 0));
        }
    })
}

// ---------------------------------------------------------------------------------------
// Error paths
// ---------------------------------------------------------------------------------------

#[test]
fn errors_a_user_can_hit_name_what_is_wrong() {
    offline(|| {
        let b = nowhere();
        let t = cs("t");
        // SAFETY: live handles and valid arguments throughout.
        unsafe {
            // Configuration refused by kc_consumer_new.
            let mut out = Out::<*mut kc_consumer_t>::new();
            let bad = Conf::new(
                &b,
                &[
                    ("session.timeout.ms", "3000"),
                    ("heartbeat.interval.ms", "3000"),
                ],
            );
            assert_err(
                kc_consumer_new(bad.0, out.ptr()),
                KC_ERR__INVALID_CONFIG,
                &["heartbeat.interval.ms"],
            );
            // With the consumer protocol the broker owns the session settings.
            let bad = Conf::new(
                &b,
                &[
                    ("group.protocol", "consumer"),
                    ("session.timeout.ms", "3000"),
                ],
            );
            assert_err(
                kc_consumer_new(bad.0, out.ptr()),
                KC_ERR__INVALID_CONFIG,
                &["session.timeout.ms", "group.protocol=consumer"],
            );
            out.assert_untouched("consumerp");

            // No group.id: no subscription, no commits.
            let plain = Conf::new(&b, &[]).consumer();
            let topics = [t.as_ptr()];
            assert_err(
                kc_consumer_subscribe(plain.0, topics.as_ptr(), 1),
                KC_ERR__INVALID_ARG,
                &["group.id"],
            );
            assert_err(
                kc_consumer_commit(plain.0, ptr::null(), 0, 0),
                KC_ERR__INVALID_ARG,
                &["group.id"],
            );
            let offs = [part(&t, 0, 5)];
            assert_err(
                kc_consumer_commit(plain.0, offs.as_ptr(), 1, 1),
                KC_ERR__INVALID_ARG,
                &["group.id"],
            );
            let mut io = [part(&t, 0, 3)];
            assert_err(
                kc_consumer_committed(plain.0, io.as_mut_ptr(), 1, 100),
                KC_ERR__INVALID_ARG,
                &["group.id"],
            );
            assert_eq!(io[0].offset, 3);

            let c = Conf::new(&b, &[("group.id", "ffi-cons-errors")]).consumer();
            // Subscriptions.
            let re = cs("^[unclosed");
            let bad_re = [re.as_ptr()];
            assert_err(
                kc_consumer_subscribe(c.0, bad_re.as_ptr(), 1),
                KC_ERR__INVALID_ARG,
                &["invalid pattern", "^[unclosed"],
            );
            assert_err(
                kc_consumer_subscribe(c.0, topics.as_ptr(), 0),
                KC_ERR__INVALID_ARG,
                &["no topics"],
            );
            let empty = cs("");
            let empties = [empty.as_ptr()];
            assert_err(
                kc_consumer_subscribe(c.0, empties.as_ptr(), 1),
                KC_ERR__INVALID_ARG,
                &["empty topic"],
            );
            let not_utf8 = [c"\xff".as_ptr()];
            assert_err(
                kc_consumer_subscribe(c.0, not_utf8.as_ptr(), 1),
                KC_ERR__INVALID_ARG,
                &["UTF-8"],
            );
            let good_re = cs("^ffi-cons-.*");
            let both = [t.as_ptr(), good_re.as_ptr()];
            assert_ok(kc_consumer_subscribe(c.0, both.as_ptr(), 2));
            assert_ok(kc_consumer_unsubscribe(c.0));

            // Partitions not assigned.
            assert_err(
                kc_consumer_store_offset(c.0, t.as_ptr(), 0, 5),
                KC_ERR__UNKNOWN_PARTITION,
                &["t/0", "not assigned"],
            );
            assert_err(
                kc_consumer_seek(c.0, t.as_ptr(), 0, 5),
                KC_ERR__UNKNOWN_PARTITION,
                &["t/0", "not assigned"],
            );
            let mut pos = [part(&t, 7, 1)];
            assert_ok(kc_consumer_position(c.0, pos.as_mut_ptr(), 1));
            assert_eq!(
                (pos[0].offset, pos[0].err),
                (KC_OFFSET_INVALID, KC_ERR__UNKNOWN_PARTITION)
            );

            // Invalid arguments.
            let neg = [part(&t, -1, 0)];
            assert_err(
                kc_consumer_assign(c.0, neg.as_ptr(), 1),
                KC_ERR__INVALID_ARG,
                &["partition -1"],
            );
            let bad_off = [part(&t, 0, -5)];
            assert_err(
                kc_consumer_assign(c.0, bad_off.as_ptr(), 1),
                KC_ERR__INVALID_ARG,
                &["offset -5"],
            );
            let twice = [part(&t, 0, 0), part(&t, 0, 1)];
            assert_err(
                kc_consumer_assign(c.0, twice.as_ptr(), 2),
                KC_ERR__INVALID_ARG,
                &["twice"],
            );
            let no_name = [part(&empty, 0, 0)];
            assert_err(
                kc_consumer_pause(c.0, no_name.as_ptr(), 1),
                KC_ERR__INVALID_ARG,
                &["empty topic"],
            );
            assert_err(
                kc_consumer_commit(c.0, bad_off.as_ptr(), 1, 0),
                KC_ERR__INVALID_ARG,
                &["offset -5"],
            );

            // Assigned: the same calls work, and bad offsets are still refused.
            let assign = [
                part(&t, 0, KC_OFFSET_STORED),
                part(&t, 1, KC_OFFSET_BEGINNING),
            ];
            assert_ok(kc_consumer_assign(c.0, assign.as_ptr(), 2));
            assert_eq!(assignment(&c), [("t".to_owned(), 0), ("t".to_owned(), 1)]);
            assert_ok(kc_consumer_store_offset(c.0, t.as_ptr(), 0, 5));
            assert_err(
                kc_consumer_store_offset(c.0, t.as_ptr(), 0, -1),
                KC_ERR__INVALID_ARG,
                &["offset -1"],
            );
            assert_ok(kc_consumer_seek(c.0, t.as_ptr(), 1, 42));
            assert_ok(kc_consumer_seek(c.0, t.as_ptr(), 0, KC_OFFSET_END));
            assert_err(
                kc_consumer_seek(c.0, t.as_ptr(), 1, KC_OFFSET_STORED),
                KC_ERR__INVALID_ARG,
                &["-1000"],
            );
            let mut pos = [part(&t, 1, 0)];
            assert_ok(kc_consumer_position(c.0, pos.as_mut_ptr(), 1));
            assert_eq!((pos[0].offset, pos[0].err), (42, KC_OK));
            assert_ok(kc_consumer_pause(c.0, assign.as_ptr(), 2));
            assert_ok(kc_consumer_resume(c.0, assign.as_ptr(), 2));

            // An array the library did not hand out, or a wrong count, is left alone.
            let mut parts = ptr::null_mut();
            let mut cnt = 0usize;
            assert_ok(kc_consumer_assignment(c.0, &mut parts, &mut cnt));
            assert_eq!(cnt, 2);
            kc_topic_partitions_free(parts, 1);
            assert_err(
                kc_last_error_code(),
                KC_ERR__INVALID_ARG,
                &["has 2 entries, not 1"],
            );
            let mut mine = [part(&t, 0, 0)];
            kc_topic_partitions_free(mine.as_mut_ptr(), 1);
            assert_err(
                kc_last_error_code(),
                KC_ERR__INVALID_ARG,
                &["not an array this library handed out"],
            );
            kc_topic_partitions_free(parts, cnt);

            // Empty assignment: NULL and 0.
            assert_ok(kc_consumer_assign(c.0, ptr::null(), 0));
            let mut parts = Out::<*mut kc_topic_partition_t>::new();
            let mut n = Out::<usize>::new();
            assert_ok(kc_consumer_assignment(c.0, parts.ptr(), n.ptr()));
            assert!(parts.get().is_null());
            assert_eq!(n.get(), 0);

            // Nothing in time: NULL, and the last error is KC_OK.
            assert!(kc_consumer_poll(c.0, 50).is_null());
            assert_eq!(kc_last_error_code(), KC_OK);
            let mut msgs = [ptr::null_mut(); 4];
            assert_eq!(kc_consumer_poll_batch(c.0, 0, msgs.as_mut_ptr(), 0), 0);
            assert_eq!(kc_consumer_poll_batch(c.0, 20, msgs.as_mut_ptr(), 4), 0);
            assert_eq!(kc_last_error_code(), KC_OK);

            // Closed: bounded, idempotent, and every later call says so.
            let began = Instant::now();
            assert_ok(kc_consumer_close(c.0, 200));
            assert!(
                began.elapsed() < Duration::from_millis(1000),
                "{:?}",
                began.elapsed()
            );
            assert_ok(kc_consumer_close(c.0, 200));
            assert!(kc_consumer_poll(c.0, 1000).is_null());
            assert_err(kc_last_error_code(), KC_ERR__DESTROY, &["closed"]);
            assert_eq!(kc_consumer_poll_batch(c.0, 1000, msgs.as_mut_ptr(), 4), 0);
            assert_err(kc_last_error_code(), KC_ERR__DESTROY, &["closed"]);
            assert_err(
                kc_consumer_subscribe(c.0, topics.as_ptr(), 1),
                KC_ERR__DESTROY,
                &["closed"],
            );
            assert_err(
                kc_consumer_commit(c.0, ptr::null(), 0, 0),
                KC_ERR__DESTROY,
                &["closed"],
            );
            assert_err(
                kc_consumer_seek(c.0, t.as_ptr(), 0, 0),
                KC_ERR__DESTROY,
                &["closed"],
            );
            assert_err(
                kc_consumer_assign(c.0, assign.as_ptr(), 1),
                KC_ERR__DESTROY,
                &["closed"],
            );
            assert_err(kc_consumer_unsubscribe(c.0), KC_ERR__DESTROY, &["closed"]);
        }
    })
}

/// A consumer handle another thread may use (the test frees it only after the thread
/// is inside its call).
#[derive(Clone, Copy)]
struct Shared(*mut kc_consumer_t);
// SAFETY: kc_consumer_t is thread-safe (header); the test orders the free after use.
unsafe impl Send for Shared {}

#[test]
fn free_wakes_a_poll_waiting_in_another_thread_with_destroy() {
    offline(|| {
        let conf = Conf::new(&nowhere(), &[]);
        let c = conf.consumer();
        let t = cs("t");
        let p = [part(&t, 0, KC_OFFSET_END)];
        // SAFETY: a live consumer, a valid array.
        assert_ok(unsafe { kc_consumer_assign(c.0, p.as_ptr(), 1) });
        let h = Shared(c.0);
        std::mem::forget(c);
        let (tx, rx) = std::sync::mpsc::channel();
        let th = thread::spawn(move || {
            let h = h;
            tx.send(()).unwrap();
            // SAFETY: live until the main thread frees it, which this call survives.
            let m = unsafe { kc_consumer_poll(h.0, 30_000) };
            (
                m.is_null(),
                kc_last_error_code(),
                last_error(),
                Instant::now(),
            )
        });
        rx.recv().unwrap();
        thread::sleep(Duration::from_millis(300));
        let began = Instant::now();
        // SAFETY: owned, freed once; the other thread is inside its poll.
        unsafe { kc_consumer_free(h.0) };
        let (null, code, msg, returned) = th.join().unwrap();
        assert!(null);
        assert_eq!(code, KC_ERR__DESTROY, "{msg}");
        assert!(msg.contains("kc_consumer_free"), "{msg}");
        assert!(returned.duration_since(began) < Duration::from_secs(2));
        assert!(began.elapsed() < Duration::from_secs(12));
    })
}

// ---------------------------------------------------------------------------------------
// A group through the C API
// ---------------------------------------------------------------------------------------

#[test]
fn a_group_flow_reaches_both_callbacks_and_commits_what_was_consumed() {
    on_kafka(|b| {
        let topic = "ffi-cons-group";
        let n = 300;
        let ends = topic_with_records(b, topic, 3, n);
        assert_eq!(ends.iter().sum::<i64>(), n as i64);
        let sink = Box::new(Sink::default());
        let conf = Conf::new(
            b,
            &[
                ("group.id", "ffi-cons-group"),
                ("auto.offset.reset", "earliest"),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("enable.partition.eof", "true"),
            ],
        );
        conf.callbacks(&sink);
        let c = conf.consumer();
        *lock(&sink.consumer) = c.0 as usize;
        let tc = cs(topic);
        let topics = [tc.as_ptr()];
        // SAFETY: live handles and valid arguments throughout.
        unsafe {
            assert_ok(kc_consumer_subscribe(c.0, topics.as_ptr(), 1));

            // The first message, read in detail (held while more are polled).
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut first: *mut kc_message_t = ptr::null_mut();
            while first.is_null() && Instant::now() < deadline {
                let m = kc_consumer_poll(c.0, 100);
                if !m.is_null() && kc_message_err(m) != KC_OK {
                    assert_eq!(kc_message_err(m), KC_ERR__PARTITION_EOF);
                    kc_message_free(m);
                    continue;
                }
                first = m;
            }
            assert!(!first.is_null(), "no record within 30 s: {}", last_error());
            let g = read(first);
            assert_eq!(g.topic, topic);
            let v = String::from_utf8(g.value.clone().unwrap()).unwrap();
            let i: usize = v.strip_prefix("value-").unwrap().parse().unwrap();
            assert_eq!(g.key.as_deref(), Some(format!("key-{i}").as_bytes()));
            assert!(kc_message_errstr(first).is_null());
            assert_eq!(kc_message_is_fatal(first), 0);
            let mut ty = -1;
            assert!(kc_message_timestamp(first, &mut ty) > 0);
            assert_eq!(ty, KC_TIMESTAMP_CREATE_TIME);
            assert!(kc_message_leader_epoch(first) >= 0);
            assert_eq!(kc_message_header_cnt(first), 1);
            let (mut k, mut kl, mut hv, mut vl) = (ptr::null(), 0usize, ptr::null(), 0usize);
            assert_ok(kc_message_header(
                first, 0, &mut k, &mut kl, &mut hv, &mut vl,
            ));
            assert_eq!(std::slice::from_raw_parts(k.cast::<u8>(), kl), b"n");
            assert_eq!(
                std::slice::from_raw_parts(hv.cast::<u8>(), vl),
                v.as_bytes()
            );
            assert_err(
                kc_message_header(first, 1, &mut k, &mut kl, &mut hv, &mut vl),
                KC_ERR__INVALID_ARG,
                &["header index 1"],
            );
            for (i, name) in ["keyp", "key_lenp", "valuep", "value_lenp"]
                .iter()
                .enumerate()
            {
                let r = kc_message_header(
                    first,
                    0,
                    if i == 0 { ptr::null_mut() } else { &mut k },
                    if i == 1 { ptr::null_mut() } else { &mut kl },
                    if i == 2 { ptr::null_mut() } else { &mut hv },
                    if i == 3 { ptr::null_mut() } else { &mut vl },
                );
                assert_err(r, KC_ERR__NULL_ARG, &[&format!("'{name}'")]);
            }

            // The rest, each once.
            let rest = consume(&c, n - 1, Duration::from_secs(30));
            let mut seen: Vec<usize> = rest
                .iter()
                .chain([&g])
                .map(|g| {
                    let v = String::from_utf8(g.value.clone().unwrap()).unwrap();
                    v["value-".len()..].parse().unwrap()
                })
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..n).collect::<Vec<_>>());
            // The first message is still intact after later polls.
            assert_eq!(read(first).value, g.value);
            kc_message_free(first);

            // The rebalance callback assigned the three partitions.
            let r = lock(&sink.rebalances).clone();
            assert_eq!(r.len(), 1, "{r:?}");
            assert_eq!(r[0].0, KC_ERR__ASSIGN_PARTITIONS);
            let want: Vec<(String, i32)> = (0..3).map(|p| (topic.to_owned(), p)).collect();
            let mut got = r[0].1.clone();
            got.sort();
            assert_eq!(got, want);
            assert_eq!(assignment(&c), want);

            // Positions are the end offsets.
            let mut io: Vec<kc_topic_partition_t> = (0..3).map(|p| part(&tc, p, -7)).collect();
            assert_ok(kc_consumer_position(c.0, io.as_mut_ptr(), 3));
            assert_eq!(io.iter().map(|p| p.offset).collect::<Vec<_>>(), ends);

            // Nothing committed yet.
            assert_ok(kc_consumer_committed(c.0, io.as_mut_ptr(), 3, 10_000));
            assert!(io
                .iter()
                .all(|p| p.offset == KC_OFFSET_INVALID && p.err == KC_OK));

            // With enable.auto.offset.store=false nothing is stored: committing what
            // the polls handed out commits nothing.
            assert_ok(kc_consumer_commit(c.0, ptr::null(), 0, 0));
            assert_ok(kc_consumer_committed(c.0, io.as_mut_ptr(), 3, 10_000));
            assert!(io.iter().all(|p| p.offset == KC_OFFSET_INVALID));

            // An asynchronous commit of the end offsets: its result reaches the
            // callback in a later poll, on this thread.
            let all: Vec<kc_topic_partition_t> =
                (0..3).map(|p| part(&tc, p, ends[p as usize])).collect();
            assert_ok(kc_consumer_commit(c.0, all.as_ptr(), 3, 1));
            let deadline = Instant::now() + Duration::from_secs(10);
            while lock(&sink.commits).is_empty() && Instant::now() < deadline {
                kc_message_free(kc_consumer_poll(c.0, 100));
            }
            let commits = lock(&sink.commits).clone();
            assert_eq!(commits.len(), 1, "{commits:?}");
            assert_eq!(commits[0].0, KC_OK);
            let mut offs = commits[0].1.clone();
            offs.sort();
            let want: Vec<_> = (0..3)
                .map(|p| (topic.to_owned(), p, ends[p as usize], KC_OK))
                .collect();
            assert_eq!(offs, want);
            assert_ok(kc_consumer_committed(c.0, io.as_mut_ptr(), 3, 10_000));
            assert_eq!(io.iter().map(|p| p.offset).collect::<Vec<_>>(), ends);

            // A synchronous commit of given offsets, then of a stored one.
            let back = [part(&tc, 0, 1)];
            assert_ok(kc_consumer_commit(c.0, back.as_ptr(), 1, 0));
            assert_ok(kc_consumer_committed(c.0, io.as_mut_ptr(), 1, 10_000));
            assert_eq!(io[0].offset, 1);
            assert_ok(kc_consumer_store_offset(c.0, tc.as_ptr(), 1, 2));
            assert_ok(kc_consumer_commit(c.0, ptr::null(), 0, 0));
            assert_ok(kc_consumer_committed(c.0, io.as_mut_ptr(), 3, 10_000));
            assert_eq!((io[0].offset, io[1].offset), (1, 2));

            // Seek back on partition 0: its records come again from offset 1; pause and
            // resume partition 0.
            assert_ok(kc_consumer_seek(c.0, tc.as_ptr(), 0, 1));
            let again = consume(&c, (ends[0] - 1) as usize, Duration::from_secs(20));
            assert!(again.iter().all(|g| g.partition == 0));
            assert_eq!(again.first().map(|g| g.offset), Some(1));
            let p0 = [part(&tc, 0, 0)];
            assert_ok(kc_consumer_pause(c.0, p0.as_ptr(), 1));
            assert_ok(kc_consumer_seek(c.0, tc.as_ptr(), 0, KC_OFFSET_BEGINNING));
            assert!(
                consume(&c, 1, Duration::from_millis(500)).is_empty(),
                "paused"
            );
            assert_ok(kc_consumer_resume(c.0, p0.as_ptr(), 1));
            assert_eq!(consume(&c, 1, Duration::from_secs(10))[0].offset, 0);

            // Close: the revoke callback runs here (and commits: nothing new is stored).
            assert_ok(kc_consumer_close(c.0, 5_000));
            let r = lock(&sink.rebalances).clone();
            assert_eq!(r.len(), 2, "{r:?}");
            assert_eq!(r[1].0, KC_ERR__REVOKE_PARTITIONS);
            assert_eq!(r[1].1.len(), 3);
        }
        drop(c);
        assert_eq!(*lock(&sink.wrong_handle), 0);
        let threads = lock(&sink.threads).clone();
        assert_eq!(threads, HashSet::from([thread::current().id()]));
        // The group's committed offsets, as another member sees them.
        let conf = Conf::new(b, &[("group.id", "ffi-cons-group")]);
        let c = conf.consumer();
        let mut io: Vec<kc_topic_partition_t> =
            (0..3).map(|p| part(&tc, p, KC_OFFSET_STORED)).collect();
        // SAFETY: a live consumer, a valid array.
        unsafe {
            assert_ok(kc_consumer_assign(c.0, io.as_ptr(), 3));
            assert_ok(kc_consumer_committed(c.0, io.as_mut_ptr(), 3, 10_000));
        }
        let got: BTreeMap<i32, i64> = io.iter().map(|p| (p.partition, p.offset)).collect();
        let want = BTreeMap::from([(0, 1), (1, 2), (2, ends[2])]);
        assert_eq!(got, want, "where the application put them");
    })
}

// ---------------------------------------------------------------------------------------
// From C, under the sanitizers
// ---------------------------------------------------------------------------------------

/// One call of the taking-over rebalance callback: its kind, the partitions, and the
/// codes (with the last error's text) of the assign calls it made.
type TakeOverCall = (kc_err_t, Vec<i32>, Vec<(kc_err_t, String)>);

/// What the taking-over rebalance callback did.
struct TakeOver {
    topic: std::ffi::CString,
    calls: Mutex<Vec<TakeOverCall>>,
}

/// On assign: refuses a partition the rebalance does not add, then takes the change
/// over: partition 0 from offset 5, partition 1 left out (paused). On revoke: assign
/// with no partitions (librdkafka's `assign(NULL)`) and with one it does not revoke.
unsafe extern "C" fn on_rebalance_take_over(
    c: *mut kc_consumer_t,
    kind: kc_err_t,
    parts: *const kc_topic_partition_t,
    cnt: usize,
    opaque: *mut c_void,
) {
    // SAFETY: the opaque is the test's TakeOver, alive while the consumer is.
    let t = unsafe { &*(opaque as *const TakeOver) };
    // SAFETY: `cnt` entries valid during the call.
    let list: Vec<i32> = unsafe { entries(parts, cnt) }
        .into_iter()
        .map(|(_, p, ..)| p)
        .collect();
    let mut codes = Vec::new();
    let mut call = |ps: &[kc_topic_partition_t]| {
        // SAFETY: the consumer the callback runs for; `ps` valid entries.
        let code = unsafe { kc_consumer_assign(c, ps.as_ptr(), ps.len()) };
        codes.push((code, last_error()));
    };
    if kind == KC_ERR__ASSIGN_PARTITIONS {
        call(&[part(&t.topic, 7, KC_OFFSET_INVALID)]);
        call(&[part(&t.topic, 0, 5)]);
    } else {
        call(&[]);
        call(&[part(&t.topic, 9, KC_OFFSET_INVALID)]);
    }
    lock(&t.calls).push((kind, list, codes));
}

/// `kc_consumer_assign` from the rebalance callback takes the rebalance over: the added
/// partitions it lists start where it says, those it leaves out stay paused until
/// resumed; in a revoke callback an empty list is accepted; partitions the rebalance
/// does not concern are refused, naming them.
#[test]
fn assign_from_the_rebalance_callback_takes_the_assignment_over() {
    on_kafka(|b| {
        let topic = "ffi-cons-takeover";
        let ends = topic_with_records(b, topic, 2, 100);
        assert!(ends[0] > 5 && ends[1] > 0, "{ends:?}");
        let t = Box::new(TakeOver {
            topic: cs(topic),
            calls: Mutex::new(Vec::new()),
        });
        let conf = Conf::new(
            b,
            &[
                ("group.id", "ffi-cons-takeover"),
                ("auto.offset.reset", "earliest"),
                ("enable.auto.commit", "false"),
            ],
        );
        // SAFETY: live configuration; the TakeOver outlives the consumer.
        unsafe {
            assert_ok(kc_conf_set_rebalance_cb(
                conf.0,
                Some(on_rebalance_take_over),
            ));
            assert_ok(kc_conf_set_opaque(
                conf.0,
                &*t as *const TakeOver as *mut c_void,
            ));
        }
        let c = conf.consumer();
        let tc = cs(topic);
        let topics = [tc.as_ptr()];
        // SAFETY: live handles and valid arguments throughout.
        unsafe { assert_ok(kc_consumer_subscribe(c.0, topics.as_ptr(), 1)) };
        let want = (ends[0] - 5) as usize;
        let got = consume(&c, want, Duration::from_secs(40));
        assert_eq!(got.len(), want, "partition 0 from offset 5");
        let mut offsets: Vec<i64> = got.iter().map(|g| g.offset).collect();
        offsets.sort_unstable();
        assert!(
            got.iter().all(|g| g.partition == 0),
            "a record of the paused partition"
        );
        assert_eq!(offsets, (5..ends[0]).collect::<Vec<_>>());
        // Partition 1 stays paused.
        let more = consume(&c, 1, Duration::from_secs(2));
        assert!(more.is_empty(), "{} records while paused", more.len());
        {
            let calls = lock(&t.calls);
            assert_eq!(calls.len(), 1, "one assign rebalance");
            let (kind, list, codes) = &calls[0];
            assert_eq!(*kind, KC_ERR__ASSIGN_PARTITIONS);
            assert_eq!(list, &[0, 1]);
            assert_eq!(codes[0].0, KC_ERR__INVALID_ARG);
            assert!(
                codes[0].1.contains("ffi-cons-takeover/7")
                    && codes[0]
                        .1
                        .contains("not among the partitions this rebalance assigns"),
                "{}",
                codes[0].1
            );
            assert_eq!(codes[1].0, KC_OK, "{}", codes[1].1);
        }
        assert_eq!(
            assignment(&c),
            [(topic.to_string(), 0), (topic.to_string(), 1)],
            "the left-out partition stays assigned"
        );
        // Resumed, partition 1 is read from its start (auto.offset.reset=earliest).
        let p1 = [part(&tc, 1, KC_OFFSET_INVALID)];
        // SAFETY: a live consumer and one valid entry.
        unsafe { assert_ok(kc_consumer_resume(c.0, p1.as_ptr(), 1)) };
        let got = consume(&c, ends[1] as usize, Duration::from_secs(30));
        assert_eq!(got.len(), ends[1] as usize);
        assert!(got.iter().all(|g| g.partition == 1));
        assert_eq!(got.iter().map(|g| g.offset).min(), Some(0));
        // Closing revokes: the callback's empty assign is accepted, a stranger refused.
        // SAFETY: a live consumer.
        unsafe { assert_ok(kc_consumer_close(c.0, 10_000)) };
        let calls = lock(&t.calls);
        let (kind, list, codes) = calls.last().unwrap();
        assert_eq!(*kind, KC_ERR__REVOKE_PARTITIONS);
        assert_eq!(list, &[0, 1]);
        assert_eq!(codes[0].0, KC_OK, "{}", codes[0].1);
        assert_eq!(codes[1].0, KC_ERR__INVALID_ARG);
        assert!(
            codes[1]
                .1
                .contains("not among the partitions this rebalance revokes"),
            "{}",
            codes[1].1
        );
    })
}

#[test]
fn c_program_runs_the_consumer_life_cycle_under_the_sanitizers() {
    clib::require_tool(&clib::cc(), &["--version"]);
    let dir = clib::bin_dir().join("ffi");
    std::fs::create_dir_all(&dir).unwrap();
    let src = clib::manifest_dir().join("tests/c/consumer_lifecycle.c");
    let exe = dir.join("consumer_lifecycle");
    let flags = common::SANITIZE_FLAGS;
    let out = exe.clone();
    with_timeout(BUILD_LIMIT, move || {
        clib::compile(&clib::cc(), &src, flags, Some(clib::Link::Static), &out)
    })
    .unwrap_or_else(|e| panic!("{e}"));
    on_kafka(move |b| {
        let name = "ffi-cons-lifecycle";
        topic_with_records(b, name, 3, 500);
        let mut cmd = std::process::Command::new(&exe);
        cmd.args([b, name, "ffi-cons-lifecycle", "500"]);
        let out = common::run_sanitized(cmd, Duration::from_secs(80));
        assert!(
            out.contains("consumed 500 records once each from 3 partitions"),
            "{out}"
        );
        assert!(out.contains("blocked poll: _DESTROY"), "{out}");
        assert!(
            out.contains("messages read and freed after the consumer"),
            "{out}"
        );
        assert!(out.ends_with("0 failed checks\n"), "{out}");
    })
}

/// Every consumer function the header declares is called by a test in this file.
/// The OAUTHBEARER token calls on a consumer handle: NULL handle, invalid tokens and
/// failures are refused with their codes; a valid token and a failure reason are taken;
/// a consumer that does not use application tokens refuses with STATE.
#[test]
fn oauthbearer_token_calls_on_a_consumer() {
    offline(|| {
        let b = nowhere();
        let oauth = Conf::new(
            &b,
            &[
                ("security.protocol", "sasl_plaintext"),
                ("sasl.mechanism", "OAUTHBEARER"),
            ],
        )
        .consumer();
        let plain = Conf::new(
            &b,
            &[
                ("security.protocol", "sasl_plaintext"),
                ("sasl.mechanism", "PLAIN"),
                ("sasl.username", "alice"),
                ("sasl.password", "secret"),
            ],
        )
        .consumer();
        let token = cs("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.");
        let alice = cs("alice");
        let empty = cs("");
        let later = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
            + 60_000;
        // SAFETY: live handles (or NULL where refused), NUL-terminated strings.
        unsafe {
            assert_err(
                kc_consumer_oauthbearer_set_token(
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
                kc_consumer_oauthbearer_set_token(
                    oauth.0,
                    empty.as_ptr(),
                    later,
                    alice.as_ptr(),
                    ptr::null(),
                    0,
                ),
                KC_ERR__INVALID_ARG,
                &["token value is empty"],
            );
            assert_err(
                kc_consumer_oauthbearer_set_token(
                    oauth.0,
                    token.as_ptr(),
                    1000,
                    alice.as_ptr(),
                    ptr::null(),
                    0,
                ),
                KC_ERR__INVALID_ARG,
                &["not in the future"],
            );
            assert_ok(kc_consumer_oauthbearer_set_token(
                oauth.0,
                token.as_ptr(),
                later,
                alice.as_ptr(),
                ptr::null(),
                0,
            ));
            assert_err(
                kc_consumer_oauthbearer_set_token_failure(oauth.0, empty.as_ptr()),
                KC_ERR__INVALID_ARG,
                &["errstr is empty"],
            );
            assert_ok(kc_consumer_oauthbearer_set_token_failure(
                oauth.0,
                cs("the identity provider is down").as_ptr(),
            ));
            assert_err(
                kc_consumer_oauthbearer_set_token(
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
            assert_err(
                kc_consumer_oauthbearer_set_token_failure(plain.0, cs("x").as_ptr()),
                KC_ERR__STATE,
                &["not OAUTHBEARER"],
            );
        }
    })
}

/// The threads of the OAUTHBEARER token refresh callback's calls.
struct Refreshes {
    calls: Mutex<Vec<ThreadId>>,
}

unsafe extern "C" fn refresh_cb(
    ob: *mut kc_oauthbearer_t,
    _config: *const c_char,
    opaque: *mut c_void,
) {
    // SAFETY: the opaque is the `Refreshes` the test set; it outlives the consumer.
    let r = unsafe { &*(opaque as *const Refreshes) };
    lock(&r.calls).push(thread::current().id());
    // SAFETY: `ob` as the callback received it; a NUL-terminated string.
    let rc = unsafe { kc_oauthbearer_set_token_failure(ob, cs("no identity provider").as_ptr()) };
    assert_eq!(rc, KC_OK, "{}", last_error());
}

/// The token refresh callback on a consumer: refused with the unsecured JWT; run inside
/// `kc_consumer_poll` on the polling thread (and not again for 10 s after it reported a
/// failure); after `kc_consumer_sasl_background_callbacks_enable`, not by polls.
#[test]
fn oauthbearer_token_refresh_callback_on_a_consumer() {
    offline(|| {
        let b = nowhere();
        let oauth = [
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "OAUTHBEARER"),
        ];
        let refreshes = Refreshes {
            calls: Mutex::new(Vec::new()),
        };
        let opaque = &refreshes as *const Refreshes as *mut c_void;
        // SAFETY: live configurations and handles (or NULL where refused); the opaque
        // outlives every consumer made here.
        unsafe {
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
            let mut out = Out::<*mut kc_consumer_t>::new();
            assert_err(
                kc_consumer_new(jwt.0, out.ptr()),
                KC_ERR__INVALID_CONFIG,
                &["enable.sasl.oauthbearer.unsecure.jwt", "mutually exclusive"],
            );

            assert_err(
                kc_consumer_sasl_background_callbacks_enable(ptr::null_mut()),
                KC_ERR__NULL_ARG,
                &["consumer"],
            );
            let without = Conf::new(&b, &oauth).consumer();
            assert_err(
                kc_consumer_sasl_background_callbacks_enable(without.0),
                KC_ERR__STATE,
                &["no OAUTHBEARER token refresh callback"],
            );

            let conf = Conf::new(&b, &oauth);
            assert_ok(kc_conf_set_oauthbearer_token_refresh_cb(
                conf.0,
                Some(refresh_cb),
            ));
            assert_ok(kc_conf_set_opaque(conf.0, opaque));
            let c = conf.consumer();
            thread::sleep(Duration::from_millis(100));
            assert!(lock(&refreshes.calls).is_empty(), "called before a poll");
            assert!(kc_consumer_poll(c.0, 300).is_null());
            assert_eq!(*lock(&refreshes.calls), vec![thread::current().id()]);
            // The failure puts the next call 10 s away.
            assert!(kc_consumer_poll(c.0, 200).is_null());
            assert_eq!(lock(&refreshes.calls).len(), 1);
            assert_ok(kc_consumer_sasl_background_callbacks_enable(c.0));
            assert!(kc_consumer_poll(c.0, 200).is_null());
            assert_eq!(lock(&refreshes.calls).len(), 1);
            let t = Instant::now();
            drop(c);
            assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        }
    })
}

#[test]
fn every_consumer_function_in_the_header_is_tested_here() {
    offline(|| {
        let header =
            std::fs::read_to_string(clib::manifest_dir().join("include/kafkac.h")).unwrap();
        let this =
            std::fs::read_to_string(clib::manifest_dir().join("tests/ffi_consumer.rs")).unwrap();
        let declared: HashSet<&str> = header
            .lines()
            .filter(|l| !l.starts_with("//"))
            .filter_map(|l| l.split_once('('))
            .filter_map(|(head, _)| head.rsplit(' ').next())
            .map(|name| name.trim_start_matches('*'))
            .filter(|n| {
                n.starts_with("kc_consumer_")
                    || n.starts_with("kc_message_")
                    || n.starts_with("kc_topic_partitions_")
                    || *n == "kc_conf_set_rebalance_cb"
                    || *n == "kc_conf_set_offset_commit_cb"
            })
            // Tested with the transactional producer (tests/ffi_producer.rs).
            .filter(|n| *n != "kc_consumer_group_metadata")
            .collect();
        assert!(declared.len() >= 30, "{declared:?}");
        let untested: Vec<&&str> = declared
            .iter()
            .filter(|n| !this.contains(&format!("{n}(")))
            .collect();
        assert!(untested.is_empty(), "not called here: {untested:?}");
    })
}
