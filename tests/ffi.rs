//! The C API (`kafkac::ffi`), called as a C program would, against Apache Kafka: a
//! single-node cluster shared by the test binary and, for what needs several brokers, a
//! three-node one.
//!
//! Every exported function is called here: with good arguments, with NULL for each
//! pointer argument, and with bad indexes and values. Out-parameters are pre-filled with
//! a sentinel pattern to check that a failing call leaves them alone.
//!
//! Freeing a client while other threads are inside calls on it is tested against Apache
//! Kafka (a fetch in its long poll) and against fake brokers on loopback (tests/fake)
//! that hold a request unanswered or drop the connection, and once from a C program
//! under AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer.

mod clib;
mod common;
mod fake;

use common::ffi::{assert_err, assert_ok, cs, last_error, rs, Out, SENTINEL};
use common::kafka::{self, KafkaCluster, KAFKA_START_TIMEOUT};
use common::with_timeout;
use kafkac::ffi::*;
use std::ffi::{c_char, CStr, CString};
use std::ptr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// Kafka's error codes are macros in the header (build.rs writes them from the error
// table), not Rust constants; these are the ones used here, at Kafka's numbers.
const KC_ERR_OFFSET_OUT_OF_RANGE: kc_err_t = 1;
const KC_ERR_UNKNOWN_TOPIC_OR_PARTITION: kc_err_t = 3;
const KC_ERR_TOPIC_ALREADY_EXISTS: kc_err_t = 36;
const KC_ERR_INVALID_CONFIG: kc_err_t = 40;

/// Timeout passed to client calls.
const TMO: i32 = 20_000;
/// Bound on each network test, once its cluster runs.
const LIMIT: Duration = Duration::from_secs(60);
/// Bound on starting a cluster: formatting the metadata directory (one JVM) and starting
/// the nodes, each bounded by the rig's own limit.
const START_LIMIT: Duration = Duration::from_secs(2 * KAFKA_START_TIMEOUT.as_secs());
/// How long a topic created a moment ago may take to appear, with a leader for every
/// partition, in the broker's metadata (KRaft brokers apply the controller's records
/// asynchronously).
const TOPIC_VISIBLE: Duration = Duration::from_secs(15);

/// The single-node cluster every test here shares (it dies with the process).
fn broker() -> &'static KafkaCluster {
    kafka::shared()
}

/// Runs `f` against the shared single-node cluster: the cluster's start is bounded by
/// [`START_LIMIT`] and the test by [`LIMIT`].
fn on_kafka<T, F>(f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(&'static KafkaCluster) -> T + Send + 'static,
{
    let k = with_timeout(START_LIMIT, broker);
    with_timeout(LIMIT, move || f(k))
}

/// Like [`on_kafka`], on the shared three-node cluster (replication factor 3,
/// `min.insync.replicas` 2).
fn on_kafka3<T, F>(f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(&'static KafkaCluster) -> T + Send + 'static,
{
    let k = with_timeout(START_LIMIT, kafka::shared3);
    with_timeout(LIMIT, move || f(k))
}

/// `(ptr, len)` as bytes; NULL gives `None`.
fn bytes<'a>(p: *const u8, len: usize) -> Option<&'a [u8]> {
    if p.is_null() {
        assert_eq!(len, 0, "NULL pointer with a length");
        None
    } else {
        // SAFETY: the library hands out `len` readable bytes valid while the result lives.
        Some(unsafe { std::slice::from_raw_parts(p, len) })
    }
}

fn client_last_error(c: *const kc_client_t) -> String {
    // SAFETY: `c` is a live client; buffers sized as asked.
    unsafe {
        let n = kc_client_last_error(c, ptr::null_mut(), 0);
        let mut buf = vec![0x55u8; n + 1];
        assert_eq!(
            kc_client_last_error(c, buf.as_mut_ptr().cast(), buf.len()),
            n
        );
        assert_eq!(buf[n], 0, "NUL-terminated");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }
}

/// Owns a configuration.
struct Conf(*mut kc_conf_t);

impl Conf {
    fn new() -> Conf {
        let c = kc_conf_new();
        assert!(!c.is_null());
        Conf(c)
    }

    #[track_caller]
    fn set(&self, name: &str, value: &str) {
        // SAFETY: live handle, NUL-terminated strings.
        assert_ok(unsafe { kc_conf_set(self.0, cs(name).as_ptr(), cs(value).as_ptr()) });
    }

    /// `kc_conf_get`, sizing the buffer with a first call.
    #[track_caller]
    fn get(&self, name: &str) -> String {
        conf_get(self.0, name)
    }
}

impl Drop for Conf {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { kc_conf_free(self.0) }
    }
}

#[track_caller]
fn conf_get(conf: *const kc_conf_t, name: &str) -> String {
    let name = cs(name);
    let mut len = 0usize;
    // SAFETY: live handle; a NULL buffer of size 0 asks for the length.
    let rc = unsafe { kc_conf_get(conf, name.as_ptr(), ptr::null_mut(), &mut len) };
    assert_err(rc, KC_ERR__BUFFER_TOO_SMALL, &[]);
    let mut buf = vec![0x55u8; len + 1];
    let mut cap = buf.len();
    // SAFETY: `buf` has `cap` writable bytes.
    let rc = unsafe { kc_conf_get(conf, name.as_ptr(), buf.as_mut_ptr().cast(), &mut cap) };
    assert_ok(rc);
    assert_eq!(cap, len);
    assert_eq!(buf[len], 0, "NUL-terminated");
    String::from_utf8(buf[..len].to_vec()).unwrap()
}

/// Owns a client.
struct Client(*mut kc_client_t);

impl Drop for Client {
    fn drop(&mut self) {
        // SAFETY: owned, freed once, no other thread uses it any more.
        unsafe { kc_client_free(self.0) }
    }
}

fn client_for(bootstrap: &str) -> Client {
    let conf = Conf::new();
    conf.set("bootstrap.servers", bootstrap);
    conf.set("retry.backoff.ms", "20");
    conf.set("retry.backoff.max.ms", "200");
    conf.set("socket.connection.setup.timeout.ms", "2000");
    client_from(&conf)
}

/// A client made from `conf`, which must be accepted.
fn client_from(conf: &Conf) -> Client {
    let mut out = Out::<*mut kc_client_t>::new();
    // SAFETY: live conf, valid out-pointer.
    assert_ok(unsafe { kc_client_new(conf.0, out.ptr()) });
    let c = out.get();
    assert!(!c.is_null());
    Client(c)
}

fn client() -> Client {
    client_for(&broker().bootstrap)
}

/// Owns a metadata snapshot.
struct Md(*mut kc_metadata_t);

impl Drop for Md {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { kc_metadata_free(self.0) }
    }
}

/// Owns a fetch result.
struct Fetched(*mut kc_fetch_result_t);

impl Drop for Fetched {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { kc_fetch_result_free(self.0) }
    }
}

#[track_caller]
fn metadata(c: &Client, topics: &[&str]) -> Md {
    let names: Vec<CString> = topics.iter().map(|t| cs(t)).collect();
    let ptrs: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
    let mut out = Out::<*mut kc_metadata_t>::new();
    let (p, n) = if topics.is_empty() {
        (ptr::null(), 0)
    } else {
        (ptrs.as_ptr(), ptrs.len())
    };
    // SAFETY: live client, `n` valid strings (or NULL/0), valid out-pointer.
    assert_ok(unsafe { kc_client_metadata(c.0, p, n, TMO, out.ptr()) });
    Md(out.get())
}

/// Creates a topic (one replica) and waits until it is in the broker's metadata.
#[track_caller]
fn create_topic(c: &Client, name: &str, partitions: i32) -> MdView {
    // SAFETY: live client, NUL-terminated name, no configs.
    let rc = unsafe {
        kc_client_create_topic(c.0, cs(name).as_ptr(), partitions, 1, ptr::null(), 0, TMO)
    };
    assert_ok(rc);
    wait_for_topic(c, name, partitions as usize, 1)
}

/// Polls metadata until `topic` has `partitions` partitions, each with a leader and at
/// least `min_isr` in-sync replicas, and returns that metadata. A topic created a moment
/// ago is not in the broker's metadata yet: its CreateTopics answer comes from the
/// controller.
#[track_caller]
fn wait_for_topic(c: &Client, topic: &str, partitions: usize, min_isr: usize) -> MdView {
    let deadline = Instant::now() + TOPIC_VISIBLE;
    loop {
        let v = read_metadata(&metadata(c, &[topic]));
        let t = &v.topics[0];
        let ready = t.name == topic
            && t.err == KC_OK
            && t.partitions.len() == partitions
            && t.partitions
                .iter()
                .all(|p| p.err == KC_OK && p.leader >= 0 && p.isrs.len() >= min_isr);
        if ready {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "topic {topic} not ready in metadata after {TOPIC_VISIBLE:?}: err {} {:?}",
            t.err,
            t.partitions
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[track_caller]
fn fetch(c: &Client, topic: &str, partition: i32, offset: i64) -> Fetched {
    let mut out = Out::<*mut kc_fetch_result_t>::new();
    // SAFETY: live client, NUL-terminated topic, valid out-pointer.
    let rc = unsafe {
        kc_client_fetch(
            c.0,
            cs(topic).as_ptr(),
            partition,
            offset,
            1 << 20,
            100,
            TMO,
            out.ptr(),
        )
    };
    assert_ok(rc);
    Fetched(out.get())
}

#[track_caller]
fn list_offset(c: &Client, topic: &str, partition: i32, what: i64) -> i64 {
    let mut out = Out::<i64>::new();
    // SAFETY: live client, NUL-terminated topic, valid out-pointer.
    let rc =
        unsafe { kc_client_list_offsets(c.0, cs(topic).as_ptr(), partition, what, TMO, out.ptr()) };
    assert_ok(rc);
    out.get()
}

/// A record value of `v`: NULL, or a non-NULL pointer (also for an empty slice).
fn ptr_of(v: Option<&[u8]>) -> (*const u8, usize) {
    match v {
        None => (ptr::null(), 0),
        Some(s) => (s.as_ptr(), s.len()),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ---------------------------------------------------------------------------------------
// Version and error codes
// ---------------------------------------------------------------------------------------

#[test]
fn version_matches_the_crate_and_the_header_macros() {
    assert_eq!(rs(kc_version()), env!("CARGO_PKG_VERSION"));
    assert_eq!(kc_version(), kc_version(), "a static string");
    let want = (KC_VERSION_MAJOR << 16) | (KC_VERSION_MINOR << 8) | KC_VERSION_PATCH;
    assert_eq!(kc_version_num(), want);
    assert_eq!(
        format!("{KC_VERSION_MAJOR}.{KC_VERSION_MINOR}.{KC_VERSION_PATCH}"),
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn error_names_and_descriptions_for_ok_kafka_local_and_unknown_codes() {
    assert_eq!(rs(kc_err_name(KC_OK)), "NO_ERROR");
    assert_eq!(rs(kc_err_str(KC_OK)), "Success");
    assert_eq!(rs(kc_err_name(1)), "OFFSET_OUT_OF_RANGE");
    assert!(
        rs(kc_err_str(1)).contains("offset"),
        "{}",
        rs(kc_err_str(1))
    );
    assert_eq!(rs(kc_err_name(36)), "TOPIC_ALREADY_EXISTS");
    assert_eq!(rs(kc_err_name(KC_ERR__TIMED_OUT)), "_TIMED_OUT");
    assert_eq!(rs(kc_err_str(KC_ERR__TIMED_OUT)), "Local: timed out");
    assert_eq!(rs(kc_err_name(KC_ERR__NULL_ARG)), "_NULL_ARG");
    for unknown in [12_345, -500, -1008, 40_000, i32::MAX, i32::MIN] {
        assert_eq!(rs(kc_err_name(unknown)), "_UNKNOWN", "{unknown}");
        assert_eq!(rs(kc_err_str(unknown)), "Unknown error code", "{unknown}");
    }
    // Static strings: the same pointer every time, from any thread.
    let p = kc_err_name(1) as usize;
    let q = std::thread::spawn(|| kc_err_name(1) as usize)
        .join()
        .unwrap();
    assert_eq!(p, q);
    // Describing a code is not a failure and does not touch the last error.
    assert_eq!(kc_last_error_code(), KC_OK);
}

/// Every `#define KC_ERR_<NAME> <code>` of the header has that name in `kc_err_name`
/// (`KC_ERR__X` gives "_X") and a description.
#[test]
fn every_error_macro_in_the_header_has_its_name_and_a_description() {
    let header =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/kafkac.h")).unwrap();
    let mut n = 0;
    for line in header.lines() {
        let Some(rest) = line.strip_prefix("#define KC_ERR_") else {
            continue;
        };
        let (name, code) = rest.split_once(' ').unwrap();
        let code: i32 = code.trim().parse().unwrap();
        assert_eq!(rs(kc_err_name(code)), name, "KC_ERR_{name}");
        assert_ne!(rs(kc_err_str(code)), "Unknown error code", "KC_ERR_{name}");
        n += 1;
    }
    assert!(n > 120, "found only {n} KC_ERR_ macros");
}

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

#[test]
fn conf_set_get_and_dup() {
    let conf = Conf::new();
    assert_eq!(
        conf.get("client.id"),
        "kafkac",
        "default of an unset property"
    );
    assert_eq!(conf.get("bootstrap.servers"), "");
    conf.set("client.id", "ffi-test");
    conf.set("metadata.broker.list", "127.0.0.1:1,127.0.0.1:2");
    conf.set("acks", "all");
    assert_eq!(conf.get("client.id"), "ffi-test");
    assert_eq!(conf.get("bootstrap.servers"), "127.0.0.1:1,127.0.0.1:2");
    assert_eq!(conf.get("metadata.broker.list"), "127.0.0.1:1,127.0.0.1:2");
    assert_eq!(conf.get("acks"), "-1");

    // A copy is independent of its original, both ways.
    // SAFETY: live handle.
    let dup = Conf(unsafe { kc_conf_dup(conf.0) });
    assert!(!dup.0.is_null());
    assert_eq!(dup.get("client.id"), "ffi-test");
    conf.set("client.id", "changed");
    dup.set("request.timeout.ms", "1234");
    assert_eq!(dup.get("client.id"), "ffi-test");
    assert_eq!(conf.get("client.id"), "changed");
    assert_eq!(conf.get("request.timeout.ms"), "30000");
    drop(conf);
    assert_eq!(
        dup.get("request.timeout.ms"),
        "1234",
        "the copy outlives the original"
    );
}

#[test]
fn conf_unknown_key_and_bad_value_name_the_key_and_the_value() {
    let conf = Conf::new();
    // SAFETY: live handle, NUL-terminated strings.
    let rc = unsafe { kc_conf_set(conf.0, cs("no.such.property").as_ptr(), cs("v1").as_ptr()) };
    assert_err(rc, KC_ERR__UNKNOWN_CONFIG, &["'no.such.property'", "'v1'"]);
    // A misspelt name that may hold a secret: the value is not repeated.
    // SAFETY: as above.
    let rc = unsafe {
        kc_conf_set(
            conf.0,
            cs("ssl.key.pasword").as_ptr(),
            cs("hunter2").as_ptr(),
        )
    };
    let msg = assert_err(rc, KC_ERR__UNKNOWN_CONFIG, &["'ssl.key.pasword'"]);
    assert!(!msg.contains("hunter2"), "{msg}");
    // SAFETY: as above.
    let rc = unsafe {
        kc_conf_set(
            conf.0,
            cs("request.timeout.ms").as_ptr(),
            cs("soon").as_ptr(),
        )
    };
    assert_err(
        rc,
        KC_ERR__INVALID_CONFIG,
        &["'request.timeout.ms'", "'soon'", "integer"],
    );
    // SAFETY: as above.
    let rc = unsafe {
        kc_conf_set(
            conf.0,
            cs("compression.type").as_ptr(),
            cs("brotli").as_ptr(),
        )
    };
    assert_err(
        rc,
        KC_ERR__INVALID_CONFIG,
        &["'compression.type'", "'brotli'"],
    );
    assert_eq!(
        conf.get("compression.type"),
        "none",
        "a refused value is not stored"
    );
    // A success clears the thread's last error.
    conf.set("compression.type", "zstd");
    assert_eq!(conf.get("compression.type"), "zstd");
    // Reading an unknown property fails too, leaving *lenp alone.
    let mut buf = [SENTINEL as c_char; 8];
    let mut len = buf.len();
    // SAFETY: `buf` has `len` writable bytes.
    let rc = unsafe {
        kc_conf_get(
            conf.0,
            cs("no.such.key").as_ptr(),
            buf.as_mut_ptr(),
            &mut len,
        )
    };
    assert_err(rc, KC_ERR__UNKNOWN_CONFIG, &["'no.such.key'"]);
    assert_eq!(len, buf.len());
    assert!(buf.iter().all(|&b| b == SENTINEL as c_char));
}

#[test]
fn conf_get_with_a_small_buffer_reports_the_needed_length() {
    let conf = Conf::new();
    conf.set("client.id", "abcdef");
    let name = cs("client.id");
    for cap in [0usize, 1, 6] {
        let mut buf = [SENTINEL as c_char; 16];
        let mut len = cap;
        // SAFETY: `buf` has 16 >= cap writable bytes.
        let rc = unsafe { kc_conf_get(conf.0, name.as_ptr(), buf.as_mut_ptr(), &mut len) };
        assert_err(
            rc,
            KC_ERR__BUFFER_TOO_SMALL,
            &["'client.id'", "needs 7 bytes", &format!("has {cap}")],
        );
        assert_eq!(len, 6, "length of the value without the NUL");
        assert!(
            buf.iter().all(|&b| b == SENTINEL as c_char),
            "nothing written to a buffer that is too small"
        );
    }
    // Exactly large enough: value and NUL, nothing beyond.
    let mut buf = [SENTINEL as c_char; 16];
    let mut len = 7;
    // SAFETY: `buf` has 16 >= 7 writable bytes.
    assert_ok(unsafe { kc_conf_get(conf.0, name.as_ptr(), buf.as_mut_ptr(), &mut len) });
    assert_eq!(len, 6);
    // SAFETY: NUL-terminated by the call.
    assert_eq!(
        unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap(),
        "abcdef"
    );
    assert!(buf[7..].iter().all(|&b| b == SENTINEL as c_char));
}

#[test]
fn last_error_copies_truncates_and_is_cleared_by_a_success() {
    let conf = Conf::new();
    // SAFETY: live handle, NUL-terminated strings.
    let rc = unsafe { kc_conf_set(conf.0, cs("bogus").as_ptr(), cs("x").as_ptr()) };
    let msg = assert_err(rc, KC_ERR__UNKNOWN_CONFIG, &["'bogus'"]);
    // Truncated to the buffer, always NUL-terminated, returns the whole length.
    let mut small = [SENTINEL as c_char; 8];
    // SAFETY: 5 of the 8 bytes offered.
    let n = unsafe { kc_last_error(small.as_mut_ptr(), 5) };
    assert_eq!(n, msg.len());
    // SAFETY: NUL-terminated by the call.
    let got = unsafe { CStr::from_ptr(small.as_ptr()) }.to_str().unwrap();
    assert_eq!(got, &msg[..4]);
    assert!(small[5..].iter().all(|&b| b == SENTINEL as c_char));
    // A zero length writes nothing, even with a buffer.
    let mut one = [SENTINEL as c_char; 1];
    // SAFETY: length 0.
    assert_eq!(unsafe { kc_last_error(one.as_mut_ptr(), 0) }, msg.len());
    assert_eq!(one[0], SENTINEL as c_char);
    // The last error is per thread.
    let other = std::thread::spawn(|| (kc_last_error_code(), last_error()))
        .join()
        .unwrap();
    assert_eq!(other, (KC_OK, String::new()));
    // A successful call clears it.
    conf.set("client.id", "x");
    // SAFETY: length 0, NULL buffer.
    assert_eq!(unsafe { kc_last_error(ptr::null_mut(), 0) }, 0);
    assert_eq!(kc_last_error_code(), KC_OK);
    let mut buf = [SENTINEL as c_char; 4];
    // SAFETY: 4 writable bytes.
    assert_eq!(unsafe { kc_last_error(buf.as_mut_ptr(), buf.len()) }, 0);
    assert_eq!(buf[0], 0, "an empty message is still NUL-terminated");
}

// ---------------------------------------------------------------------------------------
// Client handle
// ---------------------------------------------------------------------------------------

#[test]
fn client_new_without_bootstrap_servers_is_an_invalid_config() {
    let conf = Conf::new();
    let mut out = Out::<*mut kc_client_t>::new();
    // SAFETY: live conf, valid out-pointer.
    let rc = unsafe { kc_client_new(conf.0, out.ptr()) };
    assert_err(rc, KC_ERR__INVALID_CONFIG, &["bootstrap.servers"]);
    out.assert_untouched("kc_client_new");
    conf.set("bootstrap.servers", " , ");
    // SAFETY: as above.
    let rc = unsafe { kc_client_new(conf.0, out.ptr()) };
    assert_err(rc, KC_ERR__INVALID_CONFIG, &["bootstrap.servers"]);
    out.assert_untouched("kc_client_new");
    conf.set("bootstrap.servers", "127.0.0.1:1");
    conf.set("api.version.request", "false");
    // SAFETY: as above.
    let rc = unsafe { kc_client_new(conf.0, out.ptr()) };
    assert_err(rc, KC_ERR__INVALID_CONFIG, &["api.version.request"]);
    out.assert_untouched("kc_client_new");
    // A good configuration opens no connection: creating and freeing a client for an
    // unreachable address succeeds at once.
    conf.set("api.version.request", "true");
    // SAFETY: as above.
    assert_ok(unsafe { kc_client_new(conf.0, out.ptr()) });
    let c = Client(out.get());
    assert!(!c.0.is_null());
    assert_eq!(client_last_error(c.0), "", "a new client has no last error");
}

#[test]
fn the_client_keeps_its_own_copy_of_the_configuration() {
    on_kafka(|k| {
        let conf = Conf::new();
        conf.set("bootstrap.servers", &k.bootstrap);
        conf.set("client.id", "ffi-own-copy");
        let c = client_from(&conf);
        // A copy taken now carries the bootstrap list too.
        // SAFETY: live handle.
        let dup = Conf(unsafe { kc_conf_dup(conf.0) });
        assert!(!dup.0.is_null());
        // Changing or freeing the configuration afterwards does not affect the client.
        conf.set("bootstrap.servers", "127.0.0.1:1");
        drop(conf);
        let md = metadata(&c, &[]);
        // SAFETY: live snapshot.
        assert_eq!(unsafe { kc_metadata_broker_count(md.0) }, 1);
        // A client made from the copy reaches the same cluster.
        assert_eq!(dup.get("bootstrap.servers"), k.bootstrap);
        assert_eq!(dup.get("client.id"), "ffi-own-copy");
        let mut out = Out::<*mut kc_client_t>::new();
        // SAFETY: live conf, valid out-pointer.
        assert_ok(unsafe { kc_client_new(dup.0, out.ptr()) });
        let from_dup = Client(out.get());
        drop(dup);
        let md = metadata(&from_dup, &[]);
        // SAFETY: live snapshot.
        assert_eq!(rs(unsafe { kc_metadata_cluster_id(md.0) }), k.cluster_id);
    })
}

#[test]
fn null_pointer_arguments_are_refused_and_named() {
    let conf = Conf::new();
    conf.set("bootstrap.servers", "127.0.0.1:1");
    let c = client_for("127.0.0.1:1");
    let topic = cs("t");
    let name = cs("client.id");
    let value = cs("x");
    let rec = kc_record_t {
        key: ptr::null(),
        key_len: 0,
        value: b"v".as_ptr(),
        value_len: 1,
        headers: ptr::null(),
        header_cnt: 0,
        timestamp: 0,
    };
    let none: *const c_char = ptr::null();
    let null_client: *mut kc_client_t = ptr::null_mut();

    // SAFETY: each call passes NULL where the header allows the library to check it,
    // and valid pointers everywhere else.
    unsafe {
        // kc_conf_*
        let rc = kc_conf_set(ptr::null_mut(), name.as_ptr(), value.as_ptr());
        assert_err(rc, KC_ERR__NULL_ARG, &["'conf'"]);
        let rc = kc_conf_set(conf.0, none, value.as_ptr());
        assert_err(rc, KC_ERR__NULL_ARG, &["'name'"]);
        let rc = kc_conf_set(conf.0, name.as_ptr(), none);
        assert_err(rc, KC_ERR__NULL_ARG, &["'value'"]);
        let mut len = 16usize;
        let mut buf = [0 as c_char; 16];
        let rc = kc_conf_get(ptr::null(), name.as_ptr(), buf.as_mut_ptr(), &mut len);
        assert_err(rc, KC_ERR__NULL_ARG, &["'conf'"]);
        let rc = kc_conf_get(conf.0, none, buf.as_mut_ptr(), &mut len);
        assert_err(rc, KC_ERR__NULL_ARG, &["'name'"]);
        let rc = kc_conf_get(conf.0, name.as_ptr(), buf.as_mut_ptr(), ptr::null_mut());
        assert_err(rc, KC_ERR__NULL_ARG, &["'lenp'"]);
        assert_eq!(len, 16);
        assert!(kc_conf_dup(ptr::null()).is_null());
        assert_err(KC_ERR__NULL_ARG, KC_ERR__NULL_ARG, &["'conf'"]);

        // kc_client_new / kc_client_last_error
        let mut cp = Out::<*mut kc_client_t>::new();
        let rc = kc_client_new(ptr::null(), cp.ptr());
        assert_err(rc, KC_ERR__NULL_ARG, &["'conf'"]);
        cp.assert_untouched("kc_client_new");
        let rc = kc_client_new(conf.0, ptr::null_mut());
        assert_err(rc, KC_ERR__NULL_ARG, &["'clientp'"]);
        let mut ebuf = [SENTINEL as c_char; 8];
        assert_eq!(kc_client_last_error(ptr::null(), ebuf.as_mut_ptr(), 8), 0);
        assert!(ebuf.iter().all(|&b| b == SENTINEL as c_char));

        // kc_client_produce
        let mut off = Out::<i64>::new();
        let rc = kc_client_produce(
            null_client,
            topic.as_ptr(),
            0,
            &rec,
            1,
            1,
            0,
            TMO,
            off.ptr(),
        );
        assert_err(rc, KC_ERR__NULL_ARG, &["'client'"]);
        let rc = kc_client_produce(c.0, none, 0, &rec, 1, 1, 0, TMO, off.ptr());
        assert_err(rc, KC_ERR__NULL_ARG, &["'topic'"]);
        let rc = kc_client_produce(c.0, topic.as_ptr(), 0, ptr::null(), 1, 1, 0, TMO, off.ptr());
        assert_err(rc, KC_ERR__NULL_ARG, &["'records'"]);
        let hdr = kc_header_t {
            key: ptr::null(),
            key_len: 0,
            value: ptr::null(),
            value_len: 0,
        };
        let with_null_header_key = kc_record_t {
            headers: &hdr,
            header_cnt: 1,
            ..rec
        };
        let rc = kc_client_produce(
            c.0,
            topic.as_ptr(),
            0,
            &with_null_header_key,
            1,
            1,
            0,
            TMO,
            off.ptr(),
        );
        assert_err(rc, KC_ERR__NULL_ARG, &["'header key'"]);
        off.assert_untouched("kc_client_produce");

        // kc_client_list_offsets
        let rc = kc_client_list_offsets(null_client, topic.as_ptr(), 0, -1, TMO, off.ptr());
        assert_err(rc, KC_ERR__NULL_ARG, &["'client'"]);
        let rc = kc_client_list_offsets(c.0, none, 0, -1, TMO, off.ptr());
        assert_err(rc, KC_ERR__NULL_ARG, &["'topic'"]);
        let rc = kc_client_list_offsets(c.0, topic.as_ptr(), 0, -1, TMO, ptr::null_mut());
        assert_err(rc, KC_ERR__NULL_ARG, &["'offsetp'"]);
        off.assert_untouched("kc_client_list_offsets");

        // kc_client_create_topic / kc_client_delete_topic
        let rc = kc_client_create_topic(null_client, topic.as_ptr(), 1, 1, ptr::null(), 0, TMO);
        assert_err(rc, KC_ERR__NULL_ARG, &["'client'"]);
        let rc = kc_client_create_topic(c.0, none, 1, 1, ptr::null(), 0, TMO);
        assert_err(rc, KC_ERR__NULL_ARG, &["'topic'"]);
        let rc = kc_client_create_topic(c.0, topic.as_ptr(), 1, 1, ptr::null(), 1, TMO);
        assert_err(rc, KC_ERR__NULL_ARG, &["'configs'"]);
        let cfg = [none, value.as_ptr()];
        let rc = kc_client_create_topic(c.0, topic.as_ptr(), 1, 1, cfg.as_ptr(), 1, TMO);
        assert_err(rc, KC_ERR__NULL_ARG, &["'config name'"]);
        let rc = kc_client_delete_topic(null_client, topic.as_ptr(), TMO);
        assert_err(rc, KC_ERR__NULL_ARG, &["'client'"]);
        let rc = kc_client_delete_topic(c.0, none, TMO);
        assert_err(rc, KC_ERR__NULL_ARG, &["'topic'"]);

        // kc_client_metadata
        let mut mdp = Out::<*mut kc_metadata_t>::new();
        let rc = kc_client_metadata(null_client, ptr::null(), 0, TMO, mdp.ptr());
        assert_err(rc, KC_ERR__NULL_ARG, &["'client'"]);
        let rc = kc_client_metadata(c.0, ptr::null(), 0, TMO, ptr::null_mut());
        assert_err(rc, KC_ERR__NULL_ARG, &["'mdp'"]);
        let rc = kc_client_metadata(c.0, ptr::null(), 2, TMO, mdp.ptr());
        assert_err(rc, KC_ERR__NULL_ARG, &["'topics'"]);
        let names = [topic.as_ptr(), none];
        let rc = kc_client_metadata(c.0, names.as_ptr(), 2, TMO, mdp.ptr());
        assert_err(rc, KC_ERR__NULL_ARG, &["'topics[i]'"]);
        mdp.assert_untouched("kc_client_metadata");

        // kc_metadata_* on a NULL snapshot
        assert_eq!(kc_metadata_broker_count(ptr::null()), 0);
        assert_eq!(kc_metadata_topic_count(ptr::null()), 0);
        assert_eq!(kc_metadata_controller_id(ptr::null()), -1);
        assert!(kc_metadata_cluster_id(ptr::null()).is_null());
        let mut b = Out::<kc_broker_t>::new();
        assert_err(
            kc_metadata_broker(ptr::null(), 0, b.ptr()),
            KC_ERR__NULL_ARG,
            &["'md'"],
        );
        b.assert_untouched("kc_metadata_broker");
        let mut t = Out::<kc_topic_t>::new();
        assert_err(
            kc_metadata_topic(ptr::null(), 0, t.ptr()),
            KC_ERR__NULL_ARG,
            &["'md'"],
        );
        t.assert_untouched("kc_metadata_topic");
        let mut p = Out::<kc_partition_t>::new();
        assert_err(
            kc_metadata_partition(ptr::null(), 0, 0, p.ptr()),
            KC_ERR__NULL_ARG,
            &["'md'"],
        );
        p.assert_untouched("kc_metadata_partition");

        // kc_client_fetch
        let mut rp = Out::<*mut kc_fetch_result_t>::new();
        let rc = kc_client_fetch(null_client, topic.as_ptr(), 0, 0, 1 << 20, 0, TMO, rp.ptr());
        assert_err(rc, KC_ERR__NULL_ARG, &["'client'"]);
        let rc = kc_client_fetch(c.0, none, 0, 0, 1 << 20, 0, TMO, rp.ptr());
        assert_err(rc, KC_ERR__NULL_ARG, &["'topic'"]);
        let rc = kc_client_fetch(c.0, topic.as_ptr(), 0, 0, 1 << 20, 0, TMO, ptr::null_mut());
        assert_err(rc, KC_ERR__NULL_ARG, &["'resultp'"]);
        rp.assert_untouched("kc_client_fetch");

        // kc_fetch_result_* on a NULL result
        assert_eq!(kc_fetch_result_record_count(ptr::null()), 0);
        assert_eq!(kc_fetch_result_high_watermark(ptr::null()), -1);
        assert_eq!(kc_fetch_result_log_start_offset(ptr::null()), -1);
        assert_eq!(kc_fetch_result_last_stable_offset(ptr::null()), -1);
        assert_eq!(kc_fetch_result_next_offset(ptr::null()), -1);
        let mut rv = Out::<kc_record_view_t>::new();
        assert_err(
            kc_fetch_result_record(ptr::null(), 0, rv.ptr()),
            KC_ERR__NULL_ARG,
            &["'result'"],
        );
        rv.assert_untouched("kc_fetch_result_record");
        let mut hv = Out::<kc_header_view_t>::new();
        assert_err(
            kc_fetch_result_header(ptr::null(), 0, 0, hv.ptr()),
            KC_ERR__NULL_ARG,
            &["'result'"],
        );
        hv.assert_untouched("kc_fetch_result_header");

        // kc_last_error: a NULL buffer is fine with any length (nothing is written).
        assert_eq!(kc_last_error(ptr::null_mut(), 100), last_error().len());
    }
    // Argument errors on a live client are also its last error; the last one was
    // kc_client_fetch's.
    assert_eq!(client_last_error(c.0), "argument 'resultp' is NULL");
}

#[test]
fn free_functions_accept_null() {
    // SAFETY: NULL is documented as a no-op for every _free.
    unsafe {
        kc_conf_free(ptr::null_mut());
        kc_client_free(ptr::null_mut());
        kc_metadata_free(ptr::null_mut());
        kc_fetch_result_free(ptr::null_mut());
    }
}

#[test]
fn bad_argument_values_are_invalid_args() {
    let c = client_for("127.0.0.1:1");
    let topic = cs("t");
    let rec = kc_record_t {
        key: ptr::null(),
        key_len: 0,
        value: b"v".as_ptr(),
        value_len: 1,
        headers: ptr::null(),
        header_cnt: 0,
        timestamp: 0,
    };
    let mut off = Out::<i64>::new();
    // SAFETY: valid pointers; only the values are wrong.
    unsafe {
        let rc = kc_client_produce(c.0, topic.as_ptr(), 0, &rec, 0, 1, 0, TMO, off.ptr());
        assert_err(rc, KC_ERR__INVALID_ARG, &["record_cnt"]);
        let rc = kc_client_produce(c.0, topic.as_ptr(), 0, &rec, 1, 2, 0, TMO, off.ptr());
        assert_err(rc, KC_ERR__INVALID_ARG, &["acks", "2"]);
        let rc = kc_client_produce(c.0, topic.as_ptr(), 0, &rec, 1, 1, 5, TMO, off.ptr());
        assert_err(rc, KC_ERR__INVALID_ARG, &["compression 5"]);
        let rc = kc_client_produce(c.0, topic.as_ptr(), 0, &rec, 1, 1, -2, TMO, off.ptr());
        assert_err(rc, KC_ERR__INVALID_ARG, &["compression -2"]);
        let bad_key = kc_record_t { key_len: 3, ..rec };
        let rc = kc_client_produce(c.0, topic.as_ptr(), 0, &bad_key, 1, 1, 0, TMO, off.ptr());
        assert_err(rc, KC_ERR__INVALID_ARG, &["'key'", "length is 3"]);
        let bad_headers = kc_record_t {
            header_cnt: 2,
            ..rec
        };
        let rc = kc_client_produce(
            c.0,
            topic.as_ptr(),
            0,
            &bad_headers,
            1,
            1,
            0,
            TMO,
            off.ptr(),
        );
        assert_err(
            rc,
            KC_ERR__INVALID_ARG,
            &["headers is NULL", "header_cnt is 2"],
        );
        off.assert_untouched("kc_client_produce");

        let rc = kc_client_list_offsets(c.0, topic.as_ptr(), 0, -3, TMO, off.ptr());
        assert_err(rc, KC_ERR__INVALID_ARG, &["-3"]);
        off.assert_untouched("kc_client_list_offsets");

        let rc = kc_client_create_topic(c.0, topic.as_ptr(), 1, 70_000, ptr::null(), 0, TMO);
        assert_err(rc, KC_ERR__INVALID_ARG, &["70000"]);

        let mut rp = Out::<*mut kc_fetch_result_t>::new();
        let rc = kc_client_fetch(c.0, topic.as_ptr(), 0, 0, 1 << 20, -1, TMO, rp.ptr());
        assert_err(rc, KC_ERR__INVALID_ARG, &["max_wait_ms"]);
        rp.assert_untouched("kc_client_fetch");

        let bad_utf8 = b"caf\xe9\0";
        let rc = kc_client_delete_topic(c.0, bad_utf8.as_ptr().cast(), TMO);
        assert_err(rc, KC_ERR__INVALID_ARG, &["'topic'", "UTF-8"]);
    }
}

// ---------------------------------------------------------------------------------------
// Topics and metadata
// ---------------------------------------------------------------------------------------

#[test]
fn create_existing_and_delete_missing_topics_report_kafka_codes() {
    on_kafka(|_| {
        let c = client();
        let name = cs("ffi-admin");
        let cfg = [
            cs("cleanup.policy"),
            cs("delete"),
            cs("retention.ms"),
            cs("3600000"),
        ];
        // SAFETY: live client; (name, value) pairs as the header describes.
        unsafe {
            // Kafka refuses a NULL value ("Null value not supported for topic configs")
            // and creates nothing.
            let with_null = [
                cfg[0].as_ptr(),
                cfg[1].as_ptr(),
                cfg[2].as_ptr(),
                ptr::null(),
            ];
            let rc = kc_client_create_topic(c.0, name.as_ptr(), 2, -1, with_null.as_ptr(), 2, TMO);
            let msg = assert_err(rc, KC_ERR_INVALID_CONFIG, &["ffi-admin"]);
            assert!(
                msg.contains("Null value not supported for topic configs: retention.ms"),
                "the broker's message: {msg}"
            );
            assert_eq!(rs(kc_err_name(rc)), "INVALID_CONFIG");
            assert_eq!(rs(kc_err_str(rc)), "The configuration is not valid.");

            // The same topic without the NULL value: created (so the refused call
            // created nothing), then refused as a duplicate.
            let cfg_ptrs = [
                cfg[0].as_ptr(),
                cfg[1].as_ptr(),
                cfg[2].as_ptr(),
                cfg[3].as_ptr(),
            ];
            assert_ok(kc_client_create_topic(
                c.0,
                name.as_ptr(),
                2,
                -1,
                cfg_ptrs.as_ptr(),
                2,
                TMO,
            ));
            let rc = kc_client_create_topic(c.0, name.as_ptr(), 2, 1, ptr::null(), 0, TMO);
            assert_err(
                rc,
                KC_ERR_TOPIC_ALREADY_EXISTS,
                &["TOPIC_ALREADY_EXISTS", "ffi-admin"],
            );
            let on_client = client_last_error(c.0);
            assert!(on_client.contains("ffi-admin"), "{on_client}");
        }
        // Replication factor -1: the broker's default, one replica on one node.
        let v = wait_for_topic(&c, "ffi-admin", 2, 1);
        let t = &v.topics[0];
        assert_eq!(
            (t.name.as_str(), t.err, t.partitions.len()),
            ("ffi-admin", 0, 2)
        );
        assert!(
            t.partitions.iter().all(|p| p.replicas == [1]),
            "{:?}",
            t.partitions
        );
        // SAFETY: live client, NUL-terminated name.
        unsafe {
            assert_ok(kc_client_delete_topic(c.0, name.as_ptr(), TMO));
            let rc = kc_client_delete_topic(c.0, name.as_ptr(), TMO);
            assert_err(
                rc,
                KC_ERR_UNKNOWN_TOPIC_OR_PARTITION,
                &["UNKNOWN_TOPIC_OR_PARTITION", "ffi-admin"],
            );
        }
        // The broker's metadata follows the controller's a moment later.
        common::wait_until(TOPIC_VISIBLE, "ffi-admin gone from metadata", || {
            let md = metadata(&c, &["ffi-admin"]);
            let mut t = Out::<kc_topic_t>::new();
            // SAFETY: live snapshot, valid out-pointer.
            assert_ok(unsafe { kc_metadata_topic(md.0, 0, t.ptr()) });
            t.get().err == KC_ERR_UNKNOWN_TOPIC_OR_PARTITION
        });
    })
}

/// Reads every broker, topic and partition of a snapshot through the accessors.
struct MdView {
    brokers: Vec<(i32, String, i32, Option<String>)>,
    topics: Vec<TopicView>,
}

struct TopicView {
    name: String,
    err: kc_err_t,
    internal: bool,
    partitions: Vec<PartView>,
}

#[derive(Debug)]
struct PartView {
    id: i32,
    err: kc_err_t,
    leader: i32,
    replicas: Vec<i32>,
    isrs: Vec<i32>,
}

fn read_metadata(md: &Md) -> MdView {
    // SAFETY: live snapshot; every index is within the counts it reports.
    unsafe {
        let nb = kc_metadata_broker_count(md.0);
        let mut brokers = Vec::new();
        for i in 0..nb {
            let mut b = Out::<kc_broker_t>::new();
            assert_ok(kc_metadata_broker(md.0, i, b.ptr()));
            let b = b.get();
            let rack = (!b.rack.is_null()).then(|| rs(b.rack));
            brokers.push((b.id, rs(b.host), b.port, rack));
        }
        let nt = kc_metadata_topic_count(md.0);
        let mut topics = Vec::new();
        for i in 0..nt {
            let mut t = Out::<kc_topic_t>::new();
            assert_ok(kc_metadata_topic(md.0, i, t.ptr()));
            let t = t.get();
            let mut partitions = Vec::new();
            for j in 0..t.partition_cnt {
                let mut p = Out::<kc_partition_t>::new();
                assert_ok(kc_metadata_partition(md.0, i, j, p.ptr()));
                let p = p.get();
                let arr = |p: *const i32, n: usize| {
                    assert!(!p.is_null() || n == 0);
                    if n == 0 {
                        Vec::new()
                    } else {
                        std::slice::from_raw_parts(p, n).to_vec()
                    }
                };
                partitions.push(PartView {
                    id: p.id,
                    err: p.err,
                    leader: p.leader,
                    replicas: arr(p.replicas, p.replica_cnt),
                    isrs: arr(p.isrs, p.isr_cnt),
                });
            }
            topics.push(TopicView {
                name: rs(t.name),
                err: t.err,
                internal: t.is_internal != 0,
                partitions,
            });
        }
        MdView { brokers, topics }
    }
}

#[test]
fn metadata_accessors_on_kafka() {
    on_kafka(|k| {
        let c = client();
        create_topic(&c, "ffi-md", 3);
        let md = metadata(&c, &["ffi-md-missing", "ffi-md"]);
        let v = read_metadata(&md);
        let node = &k.nodes[0];
        assert_eq!(
            v.brokers,
            [(1, "127.0.0.1".to_string(), node.port as i32, None)],
            "node 1, no rack"
        );
        let id = node.node_id;
        // SAFETY: live snapshot.
        let (controller, cluster) = unsafe {
            (
                kc_metadata_controller_id(md.0),
                kc_metadata_cluster_id(md.0),
            )
        };
        // A KRaft broker names a live broker as the controller: the only one here.
        assert_eq!(controller, id);
        assert_eq!(rs(cluster), k.cluster_id);

        // Topics come sorted by name; a missing one is reported, not a failure.
        let names: Vec<&str> = v.topics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["ffi-md", "ffi-md-missing"]);
        let t = &v.topics[0];
        assert_eq!((t.err, t.internal, t.partitions.len()), (0, false, 3));
        for (j, p) in t.partitions.iter().enumerate() {
            assert_eq!((p.id, p.err, p.leader), (j as i32, 0, id), "{p:?}");
            assert_eq!(p.replicas, [id], "{p:?}");
            assert_eq!(p.isrs, [id], "{p:?}");
        }
        let missing = &v.topics[1];
        assert_eq!(missing.err, KC_ERR_UNKNOWN_TOPIC_OR_PARTITION);
        assert!(missing.partitions.is_empty());

        // Out-of-range indexes and NULL out-pointers fail and leave the output alone.
        // SAFETY: live snapshot; out-pointers valid or NULL.
        unsafe {
            let mut b = Out::<kc_broker_t>::new();
            assert_err(
                kc_metadata_broker(md.0, 1, b.ptr()),
                KC_ERR__INVALID_ARG,
                &["broker index 1", "count 1"],
            );
            b.assert_untouched("kc_metadata_broker");
            let mut tt = Out::<kc_topic_t>::new();
            assert_err(
                kc_metadata_topic(md.0, 2, tt.ptr()),
                KC_ERR__INVALID_ARG,
                &["topic index 2", "count 2"],
            );
            tt.assert_untouched("kc_metadata_topic");
            let mut p = Out::<kc_partition_t>::new();
            assert_err(
                kc_metadata_partition(md.0, 0, 3, p.ptr()),
                KC_ERR__INVALID_ARG,
                &["partition index 3", "count 3"],
            );
            assert_err(
                kc_metadata_partition(md.0, 1, 0, p.ptr()),
                KC_ERR__INVALID_ARG,
                &["partition index 0", "count 0"],
            );
            assert_err(
                kc_metadata_partition(md.0, 2, 0, p.ptr()),
                KC_ERR__INVALID_ARG,
                &["topic index 2"],
            );
            p.assert_untouched("kc_metadata_partition");
            assert_err(
                kc_metadata_broker(md.0, 0, ptr::null_mut()),
                KC_ERR__NULL_ARG,
                &["'out'"],
            );
            assert_err(
                kc_metadata_topic(md.0, 0, ptr::null_mut()),
                KC_ERR__NULL_ARG,
                &["'out'"],
            );
            assert_err(
                kc_metadata_partition(md.0, 0, 0, ptr::null_mut()),
                KC_ERR__NULL_ARG,
                &["'out'"],
            );
        }

        // Every topic when none is named.
        let all = read_metadata(&metadata(&c, &[]));
        assert!(all.topics.iter().any(|t| t.name == "ffi-md" && t.err == 0));
        assert!(all.topics.iter().all(|t| t.name != "ffi-md-missing"));
        let sorted = all.topics.windows(2).all(|w| w[0].name < w[1].name);
        assert!(sorted, "topics sorted by name");

        // A snapshot stays valid after its client is freed.
        drop(c);
        let again = read_metadata(&md);
        assert_eq!(again.topics[0].name, "ffi-md");
        assert_eq!(again.brokers[0].1, "127.0.0.1");
    })
}

#[test]
fn metadata_and_records_on_a_three_node_cluster() {
    on_kafka3(|k| {
        let c = client_for(&k.bootstrap);
        let topic = cs("ffi-three");
        // SAFETY: live client, NUL-terminated name, no configs.
        assert_ok(unsafe {
            kc_client_create_topic(c.0, topic.as_ptr(), 3, 3, ptr::null(), 0, TMO)
        });
        let ready = wait_for_topic(&c, "ffi-three", 3, 3);
        let md = metadata(&c, &["ffi-three"]);
        let v = read_metadata(&md);
        let want: Vec<(i32, String, i32, Option<String>)> = k
            .nodes
            .iter()
            .map(|n| (n.node_id, "127.0.0.1".to_string(), n.port as i32, None))
            .collect();
        assert_eq!(v.brokers, want, "brokers sorted by id");
        assert_eq!(v.brokers.iter().map(|b| b.0).collect::<Vec<_>>(), [1, 2, 3]);
        // SAFETY: live snapshot.
        let (controller, cluster) = unsafe {
            (
                kc_metadata_controller_id(md.0),
                kc_metadata_cluster_id(md.0),
            )
        };
        // A KRaft broker names a random live broker as the controller.
        assert!((1..=3).contains(&controller), "controller {controller}");
        assert_eq!(rs(cluster), k.cluster_id);
        assert_eq!(v.topics.len(), 1);
        let t = &v.topics[0];
        assert_eq!(
            (t.name.as_str(), t.err, t.internal),
            ("ffi-three", 0, false)
        );
        assert_eq!(t.partitions.len(), 3);
        for (j, p) in t.partitions.iter().enumerate() {
            assert_eq!((p.id, p.err), (j as i32, 0));
            let mut r = p.replicas.clone();
            r.sort();
            assert_eq!(r, [1, 2, 3], "{p:?}");
            assert!(p.isrs.iter().all(|i| r.contains(i)), "{p:?}");
            assert!(p.isrs.contains(&p.leader), "{p:?}");
        }
        // Every replica was in sync once the topic was ready.
        for p in &ready.topics[0].partitions {
            let mut isr = p.isrs.clone();
            isr.sort();
            assert_eq!(isr, [1, 2, 3], "{p:?}");
        }
        // Kafka stripes new partitions' leaders over the nodes (one each here, unless a
        // node was fenced meanwhile), so the records below go to more than one node.
        let mut leaders: Vec<i32> = t.partitions.iter().map(|p| p.leader).collect();
        leaders.sort();
        leaders.dedup();
        assert!(leaders.len() >= 2, "{:?}", t.partitions);

        for p in 0..3 {
            let value = format!("on node {}", t.partitions[p as usize].leader);
            let recs = [
                kc_record_t {
                    key: b"k".as_ptr(),
                    key_len: 1,
                    value: value.as_ptr(),
                    value_len: value.len(),
                    headers: ptr::null(),
                    header_cnt: 0,
                    timestamp: 0,
                },
                kc_record_t {
                    key: ptr::null(),
                    key_len: 0,
                    value: b"".as_ptr(),
                    value_len: 0,
                    headers: ptr::null(),
                    header_cnt: 0,
                    timestamp: 0,
                },
            ];
            let mut base = Out::<i64>::new();
            // SAFETY: live client, two valid records.
            assert_ok(unsafe {
                kc_client_produce(
                    c.0,
                    topic.as_ptr(),
                    p,
                    recs.as_ptr(),
                    2,
                    -1,
                    KC_COMPRESSION_LZ4,
                    TMO,
                    base.ptr(),
                )
            });
            assert_eq!(base.get(), 0, "partition {p}");
            // acks=all: every in-sync replica has both records, so the high watermark is
            // past them.
            assert_eq!(list_offset(&c, "ffi-three", p, KC_OFFSET_LATEST), 2);
            assert_eq!(list_offset(&c, "ffi-three", p, KC_OFFSET_EARLIEST), 0);
            let f = fetch(&c, "ffi-three", p, 0);
            let got = read_records(&f);
            assert_eq!(got.len(), 2, "partition {p}");
            assert_eq!(got[0].key.as_deref(), Some(&b"k"[..]));
            assert_eq!(got[0].value.as_deref(), Some(value.as_bytes()));
            assert_eq!(got[1].key, None);
            assert_eq!(got[1].value.as_deref(), Some(&b""[..]));
            // SAFETY: live result.
            assert_eq!(unsafe { kc_fetch_result_high_watermark(f.0) }, 2);
        }

        // An offset past the end comes back with Kafka's code and leaves *resultp alone.
        let mut rp = Out::<*mut kc_fetch_result_t>::new();
        // SAFETY: live client, valid out-pointer.
        let rc =
            unsafe { kc_client_fetch(c.0, topic.as_ptr(), 1, 1000, 1 << 20, 10, TMO, rp.ptr()) };
        assert_err(
            rc,
            KC_ERR_OFFSET_OUT_OF_RANGE,
            &["OFFSET_OUT_OF_RANGE", "ffi-three/1"],
        );
        rp.assert_untouched("kc_client_fetch");
        assert!(client_last_error(c.0).contains("OFFSET_OUT_OF_RANGE"));
    })
}

// ---------------------------------------------------------------------------------------
// Produce, fetch, offsets
// ---------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
struct Got {
    offset: i64,
    timestamp: i64,
    timestamp_type: i32,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// Every record of a fetch result through `kc_fetch_result_record`/`_header`, checking
/// that the views keep the NULL / empty distinction.
fn read_records(f: &Fetched) -> Vec<Got> {
    // SAFETY: live result; indexes within the counts it reports.
    unsafe {
        let n = kc_fetch_result_record_count(f.0);
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            let mut r = Out::<kc_record_view_t>::new();
            assert_ok(kc_fetch_result_record(f.0, i, r.ptr()));
            let r = r.get();
            let mut headers = Vec::new();
            for j in 0..r.header_cnt {
                let mut h = Out::<kc_header_view_t>::new();
                assert_ok(kc_fetch_result_header(f.0, i, j, h.ptr()));
                let h = h.get();
                let key = bytes(h.key.cast(), h.key_len).expect("header key is never NULL");
                headers.push((
                    key.to_vec(),
                    bytes(h.value, h.value_len).map(<[u8]>::to_vec),
                ));
            }
            v.push(Got {
                offset: r.offset,
                timestamp: r.timestamp,
                timestamp_type: r.timestamp_type,
                key: bytes(r.key, r.key_len).map(<[u8]>::to_vec),
                value: bytes(r.value, r.value_len).map(<[u8]>::to_vec),
                headers,
            });
        }
        v
    }
}

/// (key, value, with headers, timestamp) of one record to produce.
type RecordSpec<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, bool, i64);

/// The records every codec round trip produces: null and empty keys, values and header
/// values, explicit and "now" timestamps, and a large compressible value.
struct Batch {
    big: Vec<u8>,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            big: b"compressible ".repeat(1000),
            headers: vec![
                (b"h1".to_vec(), Some(b"x".to_vec())),
                (b"null-value".to_vec(), None),
                (b"empty-value".to_vec(), Some(Vec::new())),
                (Vec::new(), Some(b"empty key".to_vec())),
            ],
        }
    }

    /// (key, value, with headers, timestamp)
    fn spec(&self) -> Vec<RecordSpec<'_>> {
        vec![
            (None, Some(b"null key"), false, 1_700_000_000_000),
            (Some(b""), None, true, 1_700_000_000_001),
            (Some(b"k2"), Some(b""), false, 0),
            (None, None, true, 0),
            (Some(b"big"), Some(&self.big), false, 1_700_000_000_004),
        ]
    }

    fn header_structs(&self) -> Vec<kc_header_t> {
        self.headers
            .iter()
            .map(|(k, v)| {
                let (value, value_len) = ptr_of(v.as_deref());
                kc_header_t {
                    key: k.as_ptr().cast(),
                    key_len: k.len(),
                    value,
                    value_len,
                }
            })
            .collect()
    }
}

#[test]
fn produce_and_fetch_null_and_empty_fields_with_every_codec() {
    on_kafka(|_| {
        let c = client();
        let codecs = [
            KC_COMPRESSION_DEFAULT,
            KC_COMPRESSION_NONE,
            KC_COMPRESSION_GZIP,
            KC_COMPRESSION_SNAPPY,
            KC_COMPRESSION_LZ4,
            KC_COMPRESSION_ZSTD,
        ];
        create_topic(&c, "ffi-codecs", codecs.len() as i32);
        let batch = Batch::new();
        let hs = batch.header_structs();
        let spec = batch.spec();
        let recs: Vec<kc_record_t> = spec
            .iter()
            .map(|(k, v, h, ts)| {
                let (key, key_len) = ptr_of(*k);
                let (value, value_len) = ptr_of(*v);
                kc_record_t {
                    key,
                    key_len,
                    value,
                    value_len,
                    headers: if *h { hs.as_ptr() } else { ptr::null() },
                    header_cnt: if *h { hs.len() } else { 0 },
                    timestamp: *ts,
                }
            })
            .collect();
        let topic = cs("ffi-codecs");
        for (p, codec) in codecs.iter().enumerate() {
            let p = p as i32;
            let before = now_ms();
            let mut base = Out::<i64>::new();
            // SAFETY: live client, records valid as kc_record_t describes.
            assert_ok(unsafe {
                kc_client_produce(
                    c.0,
                    topic.as_ptr(),
                    p,
                    recs.as_ptr(),
                    recs.len(),
                    KC_ACKS_DEFAULT,
                    *codec,
                    TMO,
                    base.ptr(),
                )
            });
            let after = now_ms();
            let base = base.get();
            assert_eq!(base, 0, "codec {codec}: first batch of partition {p}");
            let f = fetch(&c, "ffi-codecs", p, base);
            // SAFETY: live result.
            let (hw, next, lso, log_start) = unsafe {
                (
                    kc_fetch_result_high_watermark(f.0),
                    kc_fetch_result_next_offset(f.0),
                    kc_fetch_result_last_stable_offset(f.0),
                    kc_fetch_result_log_start_offset(f.0),
                )
            };
            assert_eq!(hw, base + recs.len() as i64, "codec {codec}");
            assert_eq!(next, hw, "codec {codec}: next offset after the batch");
            assert_eq!(
                lso, hw,
                "codec {codec}: last stable offset (no transactions)"
            );
            assert_eq!(log_start, 0, "codec {codec}: log start offset");
            let got = read_records(&f);
            assert_eq!(got.len(), recs.len(), "codec {codec}");
            let check = |g: &Got, i: usize| {
                let (k, v, h, ts) = spec[i];
                let what = format!("codec {codec} record {i}");
                assert_eq!(g.offset, base + i as i64, "{what}");
                assert_eq!(g.key.as_deref(), k, "{what}: key");
                assert_eq!(g.value.as_deref(), v, "{what}: value");
                let want_headers = if h { batch.headers.clone() } else { Vec::new() };
                assert_eq!(g.headers, want_headers, "{what}: headers");
                assert_eq!(g.timestamp_type, KC_TIMESTAMP_CREATE_TIME, "{what}");
                if ts != 0 {
                    assert_eq!(g.timestamp, ts, "{what}: timestamp");
                } else {
                    // The client stamps "now" while it encodes the batch.
                    assert!(
                        (before..=after).contains(&g.timestamp),
                        "{what}: timestamp {} not 'now' ({before}..={after})",
                        g.timestamp
                    );
                }
            };
            for (i, g) in got.iter().enumerate() {
                check(g, i);
            }

            // From the middle of the batch: Kafka sends the whole (compressed) batch,
            // the result starts exactly at the offset asked for.
            let mid = fetch(&c, "ffi-codecs", p, base + 2);
            let tail = read_records(&mid);
            assert_eq!(tail.len(), recs.len() - 2, "codec {codec}: from the middle");
            for (i, g) in tail.iter().enumerate() {
                check(g, i + 2);
            }
            // SAFETY: live result.
            assert_eq!(unsafe { kc_fetch_result_next_offset(mid.0) }, hw);

            // Indexes past the end fail and leave the output alone.
            // SAFETY: live result; out-pointers valid or NULL.
            unsafe {
                let mut r = Out::<kc_record_view_t>::new();
                assert_err(
                    kc_fetch_result_record(f.0, recs.len(), r.ptr()),
                    KC_ERR__INVALID_ARG,
                    &["record index 5", "count 5"],
                );
                r.assert_untouched("kc_fetch_result_record");
                let mut h = Out::<kc_header_view_t>::new();
                assert_err(
                    kc_fetch_result_header(f.0, 0, 0, h.ptr()),
                    KC_ERR__INVALID_ARG,
                    &["header index 0", "count 0"],
                );
                assert_err(
                    kc_fetch_result_header(f.0, 1, 4, h.ptr()),
                    KC_ERR__INVALID_ARG,
                    &["header index 4", "count 4"],
                );
                assert_err(
                    kc_fetch_result_header(f.0, 9, 0, h.ptr()),
                    KC_ERR__INVALID_ARG,
                    &["record index 9"],
                );
                h.assert_untouched("kc_fetch_result_header");
                assert_err(
                    kc_fetch_result_record(f.0, 0, ptr::null_mut()),
                    KC_ERR__NULL_ARG,
                    &["'out'"],
                );
                assert_err(
                    kc_fetch_result_header(f.0, 1, 0, ptr::null_mut()),
                    KC_ERR__NULL_ARG,
                    &["'out'"],
                );
            }
        }
    })
}

#[test]
fn produce_with_each_acks_setting_and_a_null_base_offset_pointer() {
    on_kafka(|_| {
        let c = client();
        create_topic(&c, "ffi-acks", 1);
        let topic = cs("ffi-acks");
        let produce = |value: &'static [u8], acks: i32, base: *mut i64| {
            let rec = value_record(value);
            // SAFETY: live client, one valid record, `base` valid or NULL.
            unsafe { kc_client_produce(c.0, topic.as_ptr(), 0, &rec, 1, acks, 0, TMO, base) }
        };
        for (expect, acks) in [1, -1, KC_ACKS_DEFAULT].into_iter().enumerate() {
            let mut base = Out::<i64>::new();
            assert_ok(produce(b"acked", acks, base.ptr()));
            assert_eq!(base.get(), expect as i64, "acks {acks}");
        }
        // acks=0: Kafka sends no answer, so there is no offset, and the call does not
        // wait for one (it would fail with _TIMED_OUT after TMO).
        let mut base = Out::<i64>::new();
        assert_ok(produce(b"fire and forget", 0, base.ptr()));
        assert_eq!(base.get(), -1);
        // The offset pointer may be NULL. Same connection, so Kafka handled the acks=0
        // request first: its record is at 3, this one at 4.
        assert_ok(produce(b"null base pointer", 1, ptr::null_mut()));
        let mut base = Out::<i64>::new();
        assert_ok(produce(b"last", 1, base.ptr()));
        assert_eq!(
            base.get(),
            5,
            "the acks=0 and the NULL-pointer records took 3 and 4"
        );
        assert_eq!(list_offset(&c, "ffi-acks", 0, KC_OFFSET_LATEST), 6);
        let f = fetch(&c, "ffi-acks", 0, 0);
        let values: Vec<Option<Vec<u8>>> = read_records(&f).into_iter().map(|g| g.value).collect();
        let want: Vec<Option<Vec<u8>>> = [
            &b"acked"[..],
            b"acked",
            b"acked",
            b"fire and forget",
            b"null base pointer",
            b"last",
        ]
        .iter()
        .map(|v| Some(v.to_vec()))
        .collect();
        assert_eq!(values, want);
        // A partition the topic does not have.
        let rec = value_record(b"nowhere");
        let mut base = Out::<i64>::new();
        // SAFETY: live client, one valid record, valid out-pointer.
        let rc =
            unsafe { kc_client_produce(c.0, topic.as_ptr(), 7, &rec, 1, 1, 0, TMO, base.ptr()) };
        assert_err(rc, KC_ERR__UNKNOWN_PARTITION, &["ffi-acks", "partition 7"]);
        base.assert_untouched("kc_client_produce");
    })
}

/// One record, value `v`, no key, no headers, timestamp "now".
fn value_record(v: &'static [u8]) -> kc_record_t {
    kc_record_t {
        key: ptr::null(),
        key_len: 0,
        value: v.as_ptr(),
        value_len: v.len(),
        headers: ptr::null(),
        header_cnt: 0,
        timestamp: 0,
    }
}

#[test]
fn fetch_at_the_end_past_it_and_after_the_client_is_freed() {
    on_kafka(|_| {
        let c = client();
        create_topic(&c, "ffi-end", 1);
        let topic = cs("ffi-end");
        let rec = value_record(b"only");
        // SAFETY: live client, one valid record.
        assert_ok(unsafe {
            kc_client_produce(c.0, topic.as_ptr(), 0, &rec, 1, 1, 0, TMO, ptr::null_mut())
        });
        // At the high watermark: a success with no records, after the broker's wait.
        let f = fetch(&c, "ffi-end", 0, 1);
        // SAFETY: live result.
        unsafe {
            assert_eq!(kc_fetch_result_record_count(f.0), 0);
            assert_eq!(kc_fetch_result_high_watermark(f.0), 1);
            assert_eq!(kc_fetch_result_last_stable_offset(f.0), 1);
            assert_eq!(kc_fetch_result_log_start_offset(f.0), 0);
            assert_eq!(kc_fetch_result_next_offset(f.0), -1, "nothing returned");
            let mut r = Out::<kc_record_view_t>::new();
            assert_err(
                kc_fetch_result_record(f.0, 0, r.ptr()),
                KC_ERR__INVALID_ARG,
                &["record index 0", "count 0"],
            );
            r.assert_untouched("kc_fetch_result_record");
        }
        // Past it: Kafka's OFFSET_OUT_OF_RANGE, *resultp left alone.
        let mut rp = Out::<*mut kc_fetch_result_t>::new();
        // SAFETY: live client, valid out-pointer.
        let rc = unsafe { kc_client_fetch(c.0, topic.as_ptr(), 0, 2, 1 << 20, 10, TMO, rp.ptr()) };
        assert_err(
            rc,
            KC_ERR_OFFSET_OUT_OF_RANGE,
            &["OFFSET_OUT_OF_RANGE", "ffi-end/0"],
        );
        rp.assert_untouched("kc_client_fetch");
        // A fetch result stays valid after its client is freed.
        let f = fetch(&c, "ffi-end", 0, 0);
        drop(c);
        let got = read_records(&f);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].value.as_deref(), Some(&b"only"[..]));
    })
}

/// A record with value `v` and timestamp `ts`.
fn timed_record(v: &'static [u8], ts: i64) -> kc_record_t {
    kc_record_t {
        timestamp: ts,
        ..value_record(v)
    }
}

/// "Latest" is the high watermark, not the start of the last batch; a timestamp gives the
/// first offset whose record timestamp is at or after it, inside multi-record batches
/// (compressed or not) as well as at their starts.
#[test]
fn list_offsets_earliest_latest_and_by_timestamp() {
    on_kafka(|_| {
        let c = client();
        create_topic(&c, "ffi-offsets", 1);
        let topic = cs("ffi-offsets");
        let lookup = |what: i64| list_offset(&c, "ffi-offsets", 0, what);
        // An empty partition.
        assert_eq!(lookup(KC_OFFSET_EARLIEST), 0);
        assert_eq!(lookup(KC_OFFSET_LATEST), 0);
        assert_eq!(lookup(0), -1, "no record at all");

        const T: i64 = 1_700_000_000_000;
        // Two batches: offsets 0-2 (LZ4) at T, T+10, T+20; offsets 3-5 (uncompressed) at
        // T+30, T+30, T+50.
        let batches = [
            (
                [
                    timed_record(b"a", T),
                    timed_record(b"b", T + 10),
                    timed_record(b"c", T + 20),
                ],
                KC_COMPRESSION_LZ4,
                0,
            ),
            (
                [
                    timed_record(b"d", T + 30),
                    timed_record(b"e", T + 30),
                    timed_record(b"f", T + 50),
                ],
                KC_COMPRESSION_NONE,
                3,
            ),
        ];
        for (recs, codec, want_base) in &batches {
            let mut base = Out::<i64>::new();
            // SAFETY: live client, three valid records.
            assert_ok(unsafe {
                kc_client_produce(
                    c.0,
                    topic.as_ptr(),
                    0,
                    recs.as_ptr(),
                    recs.len(),
                    1,
                    *codec,
                    TMO,
                    base.ptr(),
                )
            });
            assert_eq!(base.get(), *want_base);
        }
        assert_eq!(lookup(KC_OFFSET_EARLIEST), 0);
        assert_eq!(lookup(KC_OFFSET_LATEST), 6, "the high watermark");
        for (ts, want) in [
            (0, 0),
            (T - 1, 0),
            (T, 0),
            (T + 1, 1),
            (T + 10, 1),
            (T + 15, 2),
            (T + 20, 2),
            (T + 21, 3),
            (T + 30, 3),
            (T + 31, 5),
            (T + 50, 5),
            (T + 51, -1),
        ] {
            assert_eq!(lookup(ts), want, "first offset at or after T{:+}", ts - T);
        }

        let mut off = Out::<i64>::new();
        // SAFETY: live client, valid out-pointer.
        let rc = unsafe {
            kc_client_list_offsets(c.0, topic.as_ptr(), 9, KC_OFFSET_LATEST, TMO, off.ptr())
        };
        assert_err(rc, KC_ERR__UNKNOWN_PARTITION, &["ffi-offsets"]);
        off.assert_untouched("kc_client_list_offsets");
    })
}

#[test]
fn client_last_error_is_kept_per_handle_for_every_thread() {
    on_kafka(|_| {
        let c = client();
        let other = client();
        let addr = c.0 as usize;
        let code = std::thread::spawn(move || {
            // SAFETY: the client outlives this thread (joined below) and is thread-safe.
            unsafe {
                kc_client_delete_topic(
                    addr as *mut kc_client_t,
                    cs("ffi-never-created").as_ptr(),
                    TMO,
                )
            }
        })
        .join()
        .unwrap();
        assert_eq!(code, KC_ERR_UNKNOWN_TOPIC_OR_PARTITION);
        // Not this thread's failure...
        assert_eq!(kc_last_error_code(), KC_OK);
        // ...but this client's, and only this one's.
        let msg = client_last_error(c.0);
        assert!(
            msg.contains("ffi-never-created") && msg.contains("UNKNOWN_TOPIC_OR_PARTITION"),
            "{msg}"
        );
        assert_eq!(client_last_error(other.0), "");
        // It stays the last failure after calls that succeed.
        let _ = metadata(&c, &[]);
        assert_eq!(client_last_error(c.0), msg);
        // Truncation works as for kc_last_error.
        let mut buf = [SENTINEL as c_char; 6];
        // SAFETY: 6 writable bytes.
        let n = unsafe { kc_client_last_error(c.0, buf.as_mut_ptr(), buf.len()) };
        assert_eq!(n, msg.len());
        // SAFETY: NUL-terminated by the call.
        assert_eq!(
            unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap(),
            &msg[..5]
        );
    })
}

// ---------------------------------------------------------------------------------------
// Freeing a client while other threads are inside calls on it
// ---------------------------------------------------------------------------------------

/// How soon a call waiting for a broker's answer returns once `kc_client_free` begins,
/// and how long `kc_client_free` then takes.
const WAKE_BOUND: Duration = Duration::from_secs(2);

/// What a call made on another thread came back with, and when it returned.
struct Outcome {
    rc: kc_err_t,
    /// That thread's `kc_last_error`.
    msg: String,
    returned: Instant,
}

/// When `kc_client_free` began and returned, and what each call came back with.
struct Freed {
    began: Instant,
    returned: Instant,
    calls: Vec<Outcome>,
}

/// Starts each of `calls` on a thread of its own with the client, lets them block for
/// `settle`, then frees the client on this thread and collects their outcomes.
fn free_during<F>(c: Client, settle: Duration, calls: Vec<F>) -> Freed
where
    F: FnOnce(*mut kc_client_t) -> kc_err_t + Send + 'static,
{
    let addr = c.0 as usize;
    // Freed by hand below, while the calls are inside.
    std::mem::forget(c);
    let threads: Vec<_> = calls
        .into_iter()
        .map(|call| {
            std::thread::spawn(move || {
                let rc = call(addr as *mut kc_client_t);
                let returned = Instant::now();
                Outcome {
                    rc,
                    msg: last_error(),
                    returned,
                }
            })
        })
        .collect();
    std::thread::sleep(settle);
    let began = Instant::now();
    // SAFETY: a live client; every call on it started `settle` ago (none starts after).
    unsafe { kc_client_free(addr as *mut kc_client_t) };
    let returned = Instant::now();
    Freed {
        began,
        returned,
        calls: threads.into_iter().map(|t| t.join().unwrap()).collect(),
    }
}

/// Asserts that a call came back with `KC_ERR__DESTROY` naming `kc_client_free`, after
/// the free began and within `bound` of it.
#[track_caller]
fn assert_destroyed(f: &Freed, o: &Outcome, bound: Duration) {
    assert_eq!(
        o.rc,
        KC_ERR__DESTROY,
        "{} ({})",
        rs(kc_err_name(o.rc)),
        o.msg
    );
    assert!(o.msg.contains("kc_client_free"), "{}", o.msg);
    assert!(
        o.returned >= f.began,
        "the call returned before the free: {}",
        o.msg
    );
    let after = o.returned - f.began;
    assert!(
        after < bound,
        "the call returned {after:?} after kc_client_free began (bound {bound:?})"
    );
}

/// What a fake broker (tests/fake) does after answering ApiVersions.
#[derive(Clone, Copy, PartialEq)]
enum Fake {
    /// Reads every request and answers none, not even ApiVersions: connection set-up
    /// never completes.
    SilentAtConnect,
    /// Answers ApiVersions and nothing else.
    SilentAfterHandshake,
    /// Answers Metadata (one broker, itself, leading partition 0 of topic "t") and closes
    /// the connection on ListOffsets.
    DropOnListOffsets,
}

/// What the fake broker answers to ApiVersions: (api_key, min_version, max_version).
const FAKE_APIS: &[(i16, i16, i16)] = &[
    (fake::PRODUCE, 3, 9),
    (fake::FETCH, 4, 12),
    (fake::LIST_OFFSETS, 1, 7),
    (fake::METADATA, 1, 12),
    (fake::API_VERSIONS, 0, 3),
];

/// Starts a fake broker on 127.0.0.1 and returns its port. Requests it does not answer
/// are held: the connection stays open until the client closes it.
fn fake_broker(mode: Fake) -> u16 {
    use std::io::Write;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { return };
            std::thread::spawn(move || {
                while let Some(req) = fake::read_request(&mut s) {
                    let (k, v, cid) = (req.api_key, req.api_version, req.correlation_id);
                    let frame = match (mode, k) {
                        (Fake::SilentAtConnect, _) => continue,
                        (_, fake::API_VERSIONS) => {
                            fake::api_versions_response(cid, v, 0, FAKE_APIS)
                        }
                        (Fake::DropOnListOffsets, fake::METADATA) => {
                            fake::metadata_response(cid, v, 1, port, "t")
                        }
                        (Fake::DropOnListOffsets, fake::LIST_OFFSETS) => return,
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

/// `kc_client_metadata` for every topic, with `timeout_ms`.
fn metadata_call(timeout_ms: i32) -> impl FnOnce(*mut kc_client_t) -> kc_err_t + Send {
    move |c| {
        let mut md = Out::<*mut kc_metadata_t>::new();
        // SAFETY: a live client (freed only while this call is inside), valid out-pointer.
        let rc = unsafe { kc_client_metadata(c, ptr::null(), 0, timeout_ms, md.ptr()) };
        match rc {
            KC_OK => drop(Md(md.get())),
            _ => md.assert_untouched("kc_client_metadata"),
        }
        rc
    }
}

#[test]
fn fetch_in_a_long_poll_returns_destroy_at_once_when_another_thread_frees_the_client() {
    on_kafka(|_| {
        let c = client();
        create_topic(&c, "ffi-free-fetch", 1);
        // A short fetch first opens the fetch connection to the leader, so the long one
        // is waiting for the broker's answer (not connecting) when the client is freed.
        let f = fetch(&c, "ffi-free-fetch", 0, 0);
        // SAFETY: live result.
        assert_eq!(unsafe { kc_fetch_result_record_count(f.0) }, 0);
        drop(f);
        let long_fetch = |c: *mut kc_client_t| {
            let mut out = Out::<*mut kc_fetch_result_t>::new();
            let topic = cs("ffi-free-fetch");
            // SAFETY: a live client (freed only while this call is inside), valid
            // out-pointer. The partition is empty: Kafka holds the fetch for 20 s.
            let rc = unsafe {
                kc_client_fetch(c, topic.as_ptr(), 0, 0, 1 << 20, 20_000, TMO, out.ptr())
            };
            match rc {
                KC_OK => drop(Fetched(out.get())),
                _ => out.assert_untouched("kc_client_fetch"),
            }
            rc
        };
        let f = free_during(c, Duration::from_secs(1), vec![long_fetch]);
        assert_destroyed(&f, &f.calls[0], WAKE_BOUND);
        let took = f.returned - f.began;
        assert!(took < WAKE_BOUND, "kc_client_free took {took:?}");
    })
}

#[test]
fn calls_waiting_for_a_silent_broker_return_destroy_at_once_when_the_client_is_freed() {
    with_timeout(LIMIT, || {
        let port = fake_broker(Fake::SilentAfterHandshake);
        let c = client_for(&format!("127.0.0.1:{port}"));
        // Three threads inside at once, each waiting for a Metadata answer that never
        // comes (20 s timeout).
        let calls = (0..3).map(|_| metadata_call(20_000)).collect();
        let f = free_during(c, Duration::from_millis(500), calls);
        for o in &f.calls {
            assert_destroyed(&f, o, WAKE_BOUND);
        }
        let took = f.returned - f.began;
        assert!(took < WAKE_BOUND, "kc_client_free took {took:?}");
    })
}

/// A call sleeping between retries is woken by `kc_client_free` (the back-off ends at
/// once with DESTROY), and the free returns only once the call has left.
#[test]
fn free_wakes_a_call_sleeping_between_retries_and_waits_for_it_to_leave() {
    with_timeout(LIMIT, || {
        let port = fake_broker(Fake::DropOnListOffsets);
        let conf = Conf::new();
        conf.set("bootstrap.servers", &format!("127.0.0.1:{port}"));
        // The first attempt loses its connection at once; the retry waits 1.2-1.5 s
        // (20% jitter).
        conf.set("retry.backoff.ms", "1500");
        conf.set("retry.backoff.max.ms", "1500");
        let c = client_from(&conf);
        const TIMEOUT_MS: i32 = 4_000;
        let started = Instant::now();
        let list = move |c: *mut kc_client_t| {
            let mut off = Out::<i64>::new();
            let topic = cs("t");
            // SAFETY: a live client (freed only while this call is inside), valid
            // out-pointer.
            let rc = unsafe {
                kc_client_list_offsets(
                    c,
                    topic.as_ptr(),
                    0,
                    KC_OFFSET_LATEST,
                    TIMEOUT_MS,
                    off.ptr(),
                )
            };
            if rc != KC_OK {
                off.assert_untouched("kc_client_list_offsets");
            }
            rc
        };
        let f = free_during(c, Duration::from_millis(400), vec![list]);
        let o = &f.calls[0];
        // Freed 400 ms in, during its 1.2-1.5 s back-off: it returns DESTROY at once,
        // well before the back-off would have ended.
        assert_destroyed(&f, o, WAKE_BOUND);
        assert!(
            o.returned - started < Duration::from_millis(1100),
            "the call returned {:?} after it began: it slept its whole back-off: {}",
            o.returned - started,
            o.msg
        );
        // The free returned after the call left (a free that did not wait would have
        // returned about a second before it).
        assert!(
            f.returned + Duration::from_millis(500) >= o.returned,
            "kc_client_free returned {:?} before the call did",
            o.returned - f.returned
        );
    })
}

/// A C program: three threads wait in `kc_client_metadata` (20 s timeout) on the broker
/// named by argv[1]; the main thread frees the client, joins them, and checks that each
/// got `KC_ERR__DESTROY` and that the free took less than 2 s. Exit status 0 on success.
const FREE_WHILE_WAITING_C: &str = r#"#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include "kafkac.h"

#define THREADS 3

static kc_client_t *client;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *wait_in_metadata(void *result) {
    kc_metadata_t *md = NULL;
    *(kc_err_t *)result = kc_client_metadata(client, NULL, 0, 20000, &md);
    kc_metadata_free(md);
    return NULL;
}

int main(int argc, char **argv) {
    pthread_t threads[THREADS];
    kc_err_t results[THREADS];
    struct timespec settle = {0, 500 * 1000 * 1000};
    kc_conf_t *conf = kc_conf_new();
    double began, took;
    int i, failed = 0;
    if (argc != 2 || kc_conf_set(conf, "bootstrap.servers", argv[1]) != KC_OK ||
        kc_client_new(conf, &client) != KC_OK)
        return 2;
    kc_conf_free(conf);
    for (i = 0; i < THREADS; i++) {
        results[i] = KC_OK;
        if (pthread_create(&threads[i], NULL, wait_in_metadata, &results[i]) != 0)
            return 3;
    }
    nanosleep(&settle, NULL);
    began = now();
    kc_client_free(client);
    took = now() - began;
    for (i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        printf("thread %d: %s\n", i, kc_err_name(results[i]));
        failed |= results[i] != KC_ERR__DESTROY;
    }
    printf("kc_client_free took %.3f s\n", took);
    return failed || took >= 2.0;
}
"#;

#[test]
fn c_program_frees_a_client_while_threads_wait_in_it_under_the_sanitizers() {
    clib::require_tool(&clib::cc(), &["--version"]);
    let dir = clib::bin_dir().join("ffi");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("free_while_waiting.c");
    std::fs::write(&src, FREE_WHILE_WAITING_C).unwrap();
    let exe = dir.join("free_while_waiting");
    let flags = common::SANITIZE_FLAGS;
    with_timeout(Duration::from_secs(600), move || {
        clib::compile(&clib::cc(), &src, flags, Some(clib::Link::Static), &exe)
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let exe = dir.join("free_while_waiting");
    with_timeout(LIMIT, move || {
        let port = fake_broker(Fake::SilentAfterHandshake);
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg(format!("127.0.0.1:{port}"));
        let out = common::run_sanitized(cmd, Duration::from_secs(30));
        assert_eq!(out.matches(": _DESTROY").count(), 3, "{out}");
    })
}

/// A call opening a connection when the client is freed comes back as promptly as one
/// waiting for an answer: closing stops the I/O threads first, which ends the set-up
/// wait, and the call does not retry on a closed client.
#[test]
fn a_call_connecting_to_a_silent_broker_returns_destroy_at_once_when_the_client_is_freed() {
    with_timeout(LIMIT, || {
        let port = fake_broker(Fake::SilentAtConnect);
        let c = client_for(&format!("127.0.0.1:{port}"));
        let f = free_during(c, Duration::from_millis(500), vec![metadata_call(20_000)]);
        assert_destroyed(&f, &f.calls[0], WAKE_BOUND);
        let took = f.returned - f.began;
        assert!(took < WAKE_BOUND, "kc_client_free took {took:?}");
    })
}

/// The three network failures the header tells apart (see `kc_client_t`): no broker
/// reachable for metadata, a connection lost under every attempt, and a deadline that
/// passes while waiting for an answer.
#[test]
fn all_brokers_down_transport_and_timed_out_are_told_apart() {
    with_timeout(LIMIT, || {
        // Nothing listens on the port: every attempt is refused, and retries run out.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = client_for(&format!("127.0.0.1:{closed}"));
        let started = Instant::now();
        let rc = metadata_call(1_000)(c.0);
        let msg = assert_err(
            rc,
            KC_ERR__ALL_BROKERS_DOWN,
            &[&format!("127.0.0.1:{closed}"), "gave up after"],
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{msg}");
        drop(c);

        // The leader takes the connection, answers metadata, and drops the connection
        // on every ListOffsets. Retries 1.6-2 s apart in a 5 s timeout: the third attempt
        // fails by about 4 s, the next would not fit, and the client gives up with the
        // attempt's own error, a second or more before its deadline (so a loaded machine
        // cannot turn it into TIMED_OUT).
        let port = fake_broker(Fake::DropOnListOffsets);
        let conf = Conf::new();
        conf.set("bootstrap.servers", &format!("127.0.0.1:{port}"));
        conf.set("retry.backoff.ms", "2000");
        conf.set("retry.backoff.max.ms", "2000");
        let c = client_from(&conf);
        let mut off = Out::<i64>::new();
        let topic = cs("t");
        let started = Instant::now();
        // SAFETY: live client, valid out-pointer.
        let rc = unsafe {
            kc_client_list_offsets(c.0, topic.as_ptr(), 0, KC_OFFSET_LATEST, 5_000, off.ptr())
        };
        let msg = assert_err(rc, KC_ERR__TRANSPORT, &["ListOffsets", "gave up after"]);
        off.assert_untouched("kc_client_list_offsets");
        assert!(started.elapsed() < Duration::from_secs(5), "{msg}");
        drop(c);

        // A broker that completes the handshake and never answers: the call's own
        // deadline passes first (socket.timeout.ms is a minute).
        let port = fake_broker(Fake::SilentAfterHandshake);
        let c = client_for(&format!("127.0.0.1:{port}"));
        let started = Instant::now();
        let rc = metadata_call(500)(c.0);
        let msg = assert_err(rc, KC_ERR__TIMED_OUT, &["Metadata"]);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(2),
            "{took:?}: {msg}"
        );
    })
}

/// Whether `fd` is readable now (poll(2) with no wait).
fn fd_readable(fd: std::ffi::c_int) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n == 1 && p.revents & libc::POLLIN != 0
}

/// Events raised on the I/O threads reach the application through
/// `kc_client_event_poll`, and the descriptor from `kc_client_event_fd` is readable
/// exactly while some wait.
#[test]
fn connection_failures_become_events_with_a_wakeup_descriptor() {
    with_timeout(LIMIT, || {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = client_for(&format!("127.0.0.1:{closed}"));
        // SAFETY: live client.
        let fd = unsafe { kc_client_event_fd(c.0) };
        assert!(fd >= 0);
        // SAFETY: NULL is accepted.
        assert_eq!(unsafe { kc_client_event_fd(ptr::null()) }, -1);
        assert!(!fd_readable(fd), "no event yet");
        let (mut sev, mut code) = (0, 0);
        let mut buf = [0 as c_char; 256];
        // SAFETY: live client, valid out-pointers, `buf` has its length.
        let rc =
            unsafe { kc_client_event_poll(c.0, &mut sev, &mut code, buf.as_mut_ptr(), buf.len()) };
        assert_eq!(rc, KC_ERR__NOENT);
        assert_eq!((sev, code), (0, 0), "nothing written without an event");
        assert_err(metadata_call(500)(c.0), KC_ERR__ALL_BROKERS_DOWN, &[]);
        assert!(fd_readable(fd), "a refused connection is an event");
        let mut seen = Vec::new();
        loop {
            // SAFETY: as above.
            let rc = unsafe {
                kc_client_event_poll(c.0, &mut sev, &mut code, buf.as_mut_ptr(), buf.len())
            };
            if rc == KC_ERR__NOENT {
                break;
            }
            assert_eq!(rc, KC_OK);
            // SAFETY: NUL-terminated by kc_client_event_poll.
            let msg = unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned();
            seen.push((sev, code, msg));
        }
        assert!(!seen.is_empty());
        for (sev, code, msg) in &seen {
            assert_eq!((*sev, *code), (4, KC_ERR__TRANSPORT), "{msg}");
            assert!(msg.contains(&format!("127.0.0.1:{closed}")), "{msg}");
        }
        assert!(
            !fd_readable(fd),
            "all events taken: the descriptor is quiet"
        );
        // SAFETY: NULL client / NULL out-pointers are refused.
        unsafe {
            assert_eq!(
                kc_client_event_poll(ptr::null(), &mut sev, &mut code, ptr::null_mut(), 0),
                KC_ERR__NULL_ARG
            );
            assert_eq!(
                kc_client_event_poll(c.0, ptr::null_mut(), &mut code, ptr::null_mut(), 0),
                KC_ERR__NULL_ARG
            );
        }
    })
}
