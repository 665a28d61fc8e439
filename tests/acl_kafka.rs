//! Authorization against Apache Kafka 4.3 with `StandardAuthorizer` (KRaft's ACLs) and
//! `allow.everyone.if.no.acl.found=false`: what a user may not do fails with Kafka's
//! authorization error, naming the topic or group, and promptly (these errors are not
//! retriable), while what it may do works.
//!
//! One single-node cluster, shared. Its PLAINTEXT listener carries the inter-broker and
//! controller traffic (principal `User:ANONYMOUS`, which must therefore be a super user:
//! without it the controller refuses the broker's BrokerRegistration, which needs
//! ClusterAction, and the broker never starts) and the ACL changes; clients
//! authenticate on a `SASL_PLAINTEXT` listener with PLAIN:
//! * `admin`: a super user (creates the topics);
//! * `alice` and `bob`: Write, Read, Describe and Create on `acl-open`, Read on the
//!   groups whose names start with `acl-group` (a prefixed ACL: each test has its own
//!   group);
//! * `bob` also: Describe only on `acl-nowrite` (it sees the topic, may neither write
//!   nor read it) and on group `describe-only-group` (it finds the coordinator, may not
//!   join);
//! * nobody else: `acl-hidden` (no ACL: bob may not even see it) and group
//!   `denied-group`; `acl-later` until a test grants bob producer rights on it.

mod common;

use common::client::{config_with, create_topic};
use common::kafka::{self, KafkaCluster};
use common::{wait_until, with_timeout};
use kafkac::consumer::assignor::TopicPartition;
use kafkac::consumer::group::CommitOffset;
use kafkac::consumer::{Consumer, Event};
use kafkac::error::Error;
use kafkac::producer::{Message, Producer, Report};
use kafkac::record::{Compression, RecordIn};
use kafkac::{Client, Config};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Timeout of one client call.
const T: Duration = Duration::from_secs(20);
/// Limit for one test (includes starting the shared cluster and adding the ACLs).
const LIMIT: Duration = Duration::from_secs(240);
/// An authorization error comes back within this: one round trip, no retries.
const PROMPT: Duration = Duration::from_secs(3);

const TOPIC_AUTHORIZATION_FAILED: i32 = 29;
const GROUP_AUTHORIZATION_FAILED: i32 = 30;

const OPEN: &str = "acl-open";
const NOWRITE: &str = "acl-nowrite";
const HIDDEN: &str = "acl-hidden";
const GROUP: &str = "acl-group";
const GROUP_DENIED: &str = "denied-group";
const GROUP_DESCRIBE: &str = "describe-only-group";
/// Bob may do nothing with it until a test grants him producer rights.
const LATER: &str = "acl-later";

const JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
                    user_admin=\"admin-secret\" user_alice=\"alice-secret\" \
                    user_bob=\"bob-secret\";";

/// Adds ACLs with Kafka's own tool (`kafka-acls.sh`) through the PLAINTEXT listener.
fn add_acls(c: &KafkaCluster, args: &[&str]) {
    let mut all = vec![
        "--bootstrap-server",
        c.bootstrap.as_str(),
        "--add",
        "--force",
    ];
    all.extend_from_slice(args);
    let out = kafka::run_tool(
        "org.apache.kafka.tools.AclCommand",
        &all,
        Duration::from_secs(90),
    )
    .unwrap_or_else(|e| panic!("adding ACLs {args:?}: {e}"));
    assert!(out.contains("Adding ACLs for resource"), "{out}");
}

fn cluster() -> &'static KafkaCluster {
    static CLUSTER: OnceLock<KafkaCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let c = KafkaCluster::start_with_listeners(
            1,
            &["SASL_PLAINTEXT"],
            &[
                (
                    "authorizer.class.name",
                    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                ),
                ("super.users", "User:ANONYMOUS;User:admin"),
                ("allow.everyone.if.no.acl.found", "false"),
                ("sasl.enabled.mechanisms", "PLAIN"),
                ("listener.name.sasl_plaintext.plain.sasl.jaas.config", JAAS),
            ],
        );
        // The topics, made by the super user over SASL.
        let sasl = c.nodes[0].listener_addr("SASL_PLAINTEXT");
        let admin = Client::new(&config_at(&sasl, "admin", &[])).unwrap();
        for t in [OPEN, NOWRITE, HIDDEN, LATER] {
            create_topic(&admin, t, 1, 1, &[], T);
        }
        // Producer and consumer rights on acl-open and the acl-group* groups for alice
        // and bob.
        add_acls(
            &c,
            &[
                "--resource-pattern-type",
                "prefixed",
                "--allow-principal",
                "User:alice",
                "--allow-principal",
                "User:bob",
                "--producer",
                "--consumer",
                "--topic",
                OPEN,
                "--group",
                GROUP,
            ],
        );
        add_acls(
            &c,
            &[
                "--allow-principal",
                "User:bob",
                "--operation",
                "Describe",
                "--topic",
                NOWRITE,
                "--group",
                GROUP_DESCRIBE,
            ],
        );
        // ACLs reach the broker through the metadata log: wait until they apply.
        let bob = Client::new(&config_at(&sasl, "bob", &[])).unwrap();
        wait_until(T, "bob's ACLs", || {
            bob.metadata(Some(&[OPEN.to_string(), NOWRITE.to_string()]), T)
                .is_ok_and(|md| md.topics.iter().all(|t| t.error_code == 0))
        });
        c
    })
}

fn addr() -> String {
    cluster().nodes[0].listener_addr("SASL_PLAINTEXT")
}

/// The configuration of a client of `bootstrap` (the SASL listener) authenticating as
/// `user`, with `extra` settings.
fn config_at(bootstrap: &str, user: &str, extra: &[(&str, &str)]) -> Config {
    let password = format!("{user}-secret");
    let mut all = vec![
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", user),
        ("sasl.password", password.as_str()),
    ];
    all.extend_from_slice(extra);
    config_with(bootstrap, &all)
}

/// [`config_at`] the shared cluster's SASL listener.
fn config(user: &str, extra: &[(&str, &str)]) -> Config {
    config_at(&addr(), user, extra)
}

/// `e` is Kafka's error `code`, its message names the error and each of `names`, and it
/// came within [`PROMPT`] of `t0`.
#[track_caller]
fn denied(e: &Error, code: i32, names: &[&str], t0: Instant) {
    assert_eq!(e.code, code, "{e}");
    let name = kafkac::error::name(code);
    assert!(e.message.contains(name), "{name} not in: {e}");
    for n in names {
        assert!(e.message.contains(n), "'{n}' not in: {e}");
    }
    assert!(t0.elapsed() < PROMPT, "took {:?}: {e}", t0.elapsed());
}

fn rec(v: &[u8]) -> RecordIn<'_> {
    common::records::record(None, Some(v))
}

#[test]
fn low_level_calls_on_denied_topics_fail_at_once() {
    with_timeout(LIMIT, || {
        let bob = Client::new(&config("bob", &[])).unwrap();
        // Metadata: the topic bob may not describe comes back with the error, the others
        // with their partitions.
        let md = bob
            .metadata(Some(&[OPEN.into(), NOWRITE.into(), HIDDEN.into()]), T)
            .unwrap();
        let topic = |name: &str| md.topics.iter().find(|t| t.name == name).unwrap();
        assert_eq!(topic(OPEN).error_code, 0);
        assert_eq!(topic(NOWRITE).error_code, 0);
        assert_eq!(topic(NOWRITE).partitions.len(), 1);
        assert_eq!(
            i32::from(topic(HIDDEN).error_code),
            TOPIC_AUTHORIZATION_FAILED
        );
        assert!(topic(HIDDEN).partitions.is_empty());
        // Produce where bob may describe but not write: the broker's answer, naming the
        // partition and the broker.
        let recs = [rec(b"denied")];
        for acks in [-1, 1] {
            let t0 = Instant::now();
            let e = bob
                .produce(NOWRITE, 0, &recs, acks, Compression::None, T)
                .unwrap_err();
            denied(
                &e,
                TOPIC_AUTHORIZATION_FAILED,
                &["acl-nowrite/0", &addr()],
                t0,
            );
        }
        // A topic bob may not see: the metadata's error, naming the topic.
        let t0 = Instant::now();
        let e = bob
            .produce(HIDDEN, 0, &recs, -1, Compression::None, T)
            .unwrap_err();
        denied(&e, TOPIC_AUTHORIZATION_FAILED, &["'acl-hidden'"], t0);
        // Reading: bob may describe acl-nowrite, not read it.
        let t0 = Instant::now();
        let e = bob
            .fetch(NOWRITE, 0, 0, 1 << 20, Duration::from_millis(100), T)
            .err()
            .expect("fetch must fail");
        denied(&e, TOPIC_AUTHORIZATION_FAILED, &["acl-nowrite/0"], t0);
        let t0 = Instant::now();
        let e = bob
            .fetch(HIDDEN, 0, 0, 1 << 20, Duration::from_millis(100), T)
            .err()
            .expect("fetch must fail");
        denied(&e, TOPIC_AUTHORIZATION_FAILED, &["'acl-hidden'"], t0);
        // The same client still writes and reads what it may.
        let base = bob
            .produce(OPEN, 0, &[rec(b"bob-low-level")], -1, Compression::None, T)
            .unwrap();
        let f = bob
            .fetch(OPEN, 0, base, 1 << 20, Duration::from_millis(100), T)
            .unwrap();
        let first = f.records.iter().next().expect("a record");
        assert_eq!(first.value, Some(&b"bob-low-level"[..]));
    });
}

#[test]
fn the_c_api_returns_the_authorization_error_of_a_produce() {
    use common::ffi::{assert_err, assert_ok, cs, Out};
    use kafkac::ffi::*;
    with_timeout(LIMIT, || {
        let b = addr();
        let settings = [
            ("bootstrap.servers", b.as_str()),
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "bob"),
            ("sasl.password", "bob-secret"),
        ];
        let rec = kc_record_t {
            key: std::ptr::null(),
            key_len: 0,
            value: b"v".as_ptr(),
            value_len: 1,
            headers: std::ptr::null(),
            header_cnt: 0,
            timestamp: 0,
        };
        // SAFETY: live handles, NUL-terminated strings and a record whose buffers outlive
        // the calls; the client is freed once, after its last call.
        unsafe {
            let conf = kc_conf_new();
            assert!(!conf.is_null());
            for (k, v) in settings {
                assert_ok(kc_conf_set(conf, cs(k).as_ptr(), cs(v).as_ptr()));
            }
            let mut c: *mut kc_client_t = std::ptr::null_mut();
            assert_ok(kc_client_new(conf, &mut c));
            kc_conf_free(conf);
            for (topic, names) in [
                (NOWRITE, ["acl-nowrite/0", b.as_str()]),
                (HIDDEN, ["'acl-hidden'", "TOPIC_AUTHORIZATION_FAILED"]),
            ] {
                let mut off = Out::<i64>::new();
                let t0 = Instant::now();
                let rc = kc_client_produce(
                    c,
                    cs(topic).as_ptr(),
                    0,
                    &rec,
                    1,
                    -1,
                    KC_COMPRESSION_NONE,
                    20_000,
                    off.ptr(),
                );
                // KC_ERR_TOPIC_AUTHORIZATION_FAILED in kafkac.h.
                assert_err(rc, TOPIC_AUTHORIZATION_FAILED, &names);
                assert!(t0.elapsed() < PROMPT, "{topic}: took {:?}", t0.elapsed());
                off.assert_untouched("kc_client_produce");
            }
            let mut off = Out::<i64>::new();
            let rc = kc_client_produce(
                c,
                cs(OPEN).as_ptr(),
                0,
                &rec,
                1,
                -1,
                KC_COMPRESSION_NONE,
                20_000,
                off.ptr(),
            );
            assert_ok(rc);
            kc_client_free(c);
        }
    });
}

/// Sends `msgs` (topic, partition) through `p` and collects their delivery reports in
/// order of arrival, with when each came (from the first send).
fn deliver(p: &Producer, msgs: &[(&str, i32)]) -> Vec<(Report, Duration)> {
    let t0 = Instant::now();
    for (i, (topic, partition)) in msgs.iter().enumerate() {
        p.send(&Message {
            topic,
            partition: *partition,
            value: Some(b"v"),
            opaque: i,
            ..Default::default()
        })
        .unwrap();
    }
    let mut reports = Vec::new();
    while reports.len() < msgs.len() && t0.elapsed() < T {
        p.poll(Duration::from_millis(50), |r| {
            reports.push((r.clone(), t0.elapsed()))
        });
    }
    assert_eq!(reports.len(), msgs.len(), "reports missing after {T:?}");
    reports.sort_by_key(|(r, _)| r.opaque);
    reports
}

#[test]
fn producer_reports_denied_topics_at_once_and_delivers_the_others() {
    with_timeout(LIMIT, || {
        for idempotence in ["true", "false"] {
            let p = Producer::new(&config(
                "bob",
                &[
                    ("enable.idempotence", idempotence),
                    ("linger.ms", "5"),
                    // Far longer than PROMPT: a retried error would show.
                    ("message.timeout.ms", "30000"),
                ],
            ))
            .unwrap();
            let reports = deliver(&p, &[(NOWRITE, 0), (HIDDEN, -1), (OPEN, -1), (NOWRITE, -1)]);
            for (r, at) in &reports {
                eprintln!(
                    "idempotence={idempotence} {} after {at:?}: {:?}",
                    r.topic.name, r.error
                );
            }
            for (i, topic) in [(0, NOWRITE), (1, HIDDEN), (3, NOWRITE)] {
                let (r, at) = &reports[i];
                assert_eq!(r.topic.name, topic);
                let e = r.error.as_ref().expect("must not be delivered");
                assert_eq!(e.code, TOPIC_AUTHORIZATION_FAILED, "{e}");
                assert!(
                    e.message.contains("TOPIC_AUTHORIZATION_FAILED") && e.message.contains(topic),
                    "{e}"
                );
                assert!(*at < PROMPT, "{topic}: reported after {at:?}: {e}");
            }
            let (r, _) = &reports[2];
            assert!(r.error.is_none(), "{:?}", r.error);
            assert!(r.offset >= 0);
            // Nothing fatal: the producer goes on with what it may write.
            assert!(p.fatal_error().is_none(), "{:?}", p.fatal_error());
            // Again, once the denials are known: still reported promptly, and the topic
            // bob may not see is asked about again (not failed on the old answer alone).
            let again = deliver(&p, &[(OPEN, 0), (NOWRITE, 0), (HIDDEN, 0), (OPEN, 0)]);
            assert!(again[0].0.error.is_none() && again[3].0.error.is_none());
            for (r, at) in &again[1..3] {
                assert_eq!(
                    r.error.as_ref().map(|e| e.code),
                    Some(TOPIC_AUTHORIZATION_FAILED)
                );
                assert!(*at < PROMPT, "{}: reported after {at:?}", r.topic.name);
            }
            p.close(T);
        }
    });
}

#[test]
fn producer_denied_a_topic_delivers_once_it_is_granted() {
    with_timeout(LIMIT, || {
        let p = Producer::new(&config("bob", &[("message.timeout.ms", "30000")])).unwrap();
        let r = deliver(&p, &[(LATER, -1)]);
        let e = r[0].0.error.as_ref().expect("denied");
        assert_eq!(e.code, TOPIC_AUTHORIZATION_FAILED, "{e}");
        assert!(r[0].1 < PROMPT, "after {:?}", r[0].1);
        add_acls(
            cluster(),
            &[
                "--allow-principal",
                "User:bob",
                "--producer",
                "--topic",
                LATER,
            ],
        );
        // The same producer: once the ACL reaches the broker, messages go through.
        let t0 = Instant::now();
        loop {
            let r = deliver(&p, &[(LATER, -1)]);
            match &r[0].0.error {
                None => break,
                Some(e) => {
                    assert_eq!(e.code, TOPIC_AUTHORIZATION_FAILED, "{e}");
                    assert!(
                        t0.elapsed() < T,
                        "still denied after {:?}: {e}",
                        t0.elapsed()
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        eprintln!("delivered {:?} after the grant", t0.elapsed());
        p.close(T);
    });
}

/// Polls `c` until an error event comes (or `limit` passes); the error, whether it was
/// fatal, and how long it took. Messages polled meanwhile are counted into `messages`.
fn first_error(
    c: &Consumer,
    limit: Duration,
    messages: &mut usize,
) -> Option<(Error, bool, Duration)> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        for e in c.poll_batch(100, Duration::from_millis(100)) {
            match e {
                Event::Message(_) => *messages += 1,
                Event::Error { error, fatal, .. } => return Some((error, fatal, t0.elapsed())),
            }
        }
    }
    None
}

/// After a group authorization error, for 3 s: the error stays visible (no silent
/// retrying: it comes again after each back-off, unless the consumer stopped for good,
/// `fatal`), never a flood, and no message arrives.
fn group_errors_keep_coming_without_a_flood(c: &Consumer, protocol: &str, fatal: bool) {
    let mut again = 0;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        for ev in c.poll_batch(100, Duration::from_millis(100)) {
            match ev {
                Event::Message(_) => panic!("{protocol}: consumed without a group"),
                Event::Error { error, .. } => {
                    assert_eq!(error.code, GROUP_AUTHORIZATION_FAILED, "{error}");
                    again += 1;
                }
            }
        }
    }
    eprintln!("{protocol}: {again} more errors in 3 s");
    assert!(again <= 30, "{protocol}: {again} errors in 3 s");
    assert!(
        fatal || again >= 1,
        "{protocol}: the error was not repeated"
    );
}

/// bob subscribes in `group` with each group protocol: the first error is
/// GROUP_AUTHORIZATION_FAILED naming the group, promptly, with nothing consumed; it keeps
/// coming without a flood; a fatal one makes later calls say why; close is prompt.
fn group_authorization_failed_for_each_protocol(group: &str) {
    for protocol in ["classic", "consumer"] {
        let c = Consumer::new(&config(
            "bob",
            &[
                ("group.id", group),
                ("group.protocol", protocol),
                ("auto.offset.reset", "earliest"),
            ],
        ))
        .unwrap();
        c.subscribe(&[OPEN]).unwrap();
        let mut messages = 0;
        let (e, fatal, at) = first_error(&c, T, &mut messages)
            .unwrap_or_else(|| panic!("{protocol}: no error in {T:?}"));
        eprintln!("{protocol}: after {at:?} (fatal: {fatal}): {e}");
        assert_eq!(e.code, GROUP_AUTHORIZATION_FAILED, "{protocol}: {e}");
        assert!(
            e.message.contains("GROUP_AUTHORIZATION_FAILED") && e.message.contains(group),
            "{protocol}: {e}"
        );
        assert!(at < PROMPT, "{protocol}: after {at:?}");
        assert_eq!(messages, 0, "{protocol}: consumed without joining");
        assert!(c.assignment().is_empty(), "{protocol}");
        group_errors_keep_coming_without_a_flood(&c, protocol, fatal);
        if fatal {
            // Later calls say why the consumer stopped.
            let e = c.commit(None, false).unwrap_err();
            assert_eq!(e.code, kafkac::error::local::FATAL, "{e}");
            assert!(e.message.contains("GROUP_AUTHORIZATION_FAILED"), "{e}");
        }
        let t0 = Instant::now();
        let _ = c.close(T);
        assert!(
            t0.elapsed() < PROMPT,
            "{protocol}: close took {:?}",
            t0.elapsed()
        );
    }
}

#[test]
fn consumer_in_a_group_it_may_not_read_gets_group_authorization_failed() {
    with_timeout(LIMIT, || {
        group_authorization_failed_for_each_protocol(GROUP_DENIED)
    });
}

#[test]
fn consumer_that_may_describe_its_group_but_not_join_it_gets_group_authorization_failed() {
    with_timeout(LIMIT, || {
        group_authorization_failed_for_each_protocol(GROUP_DESCRIBE)
    });
}

#[test]
fn commits_to_a_group_it_may_not_read_fail_with_group_authorization_failed() {
    with_timeout(LIMIT, || {
        // Partitions assigned by the application, offsets committed to a group: bob may
        // not read denied-group (FindCoordinator fails) nor describe-only-group
        // (OffsetCommit fails).
        for group in [GROUP_DENIED, GROUP_DESCRIBE] {
            let c = Consumer::new(&config("bob", &[("group.id", group)])).unwrap();
            let tp = TopicPartition::new(OPEN, 0);
            c.assign(&[(tp.clone(), Some(0))]).unwrap();
            let t0 = Instant::now();
            let e = c
                .commit(
                    Some(&[CommitOffset {
                        tp,
                        offset: 0,
                        leader_epoch: -1,
                        metadata: None,
                    }]),
                    false,
                )
                .unwrap_err();
            eprintln!("{group}: commit: {e}");
            denied(&e, GROUP_AUTHORIZATION_FAILED, &[group], t0);
            let _ = c.close(T);
        }
    });
}

#[test]
fn consumer_of_a_topic_it_may_not_read_gets_topic_authorization_failed() {
    with_timeout(LIMIT, || {
        for protocol in ["classic", "consumer"] {
            // bob may describe acl-nowrite (it is assigned) but not read it (Fetch fails).
            let group = format!("{GROUP}-noread-{protocol}");
            let c = Consumer::new(&config(
                "bob",
                &[
                    ("group.id", group.as_str()),
                    ("group.protocol", protocol),
                    ("auto.offset.reset", "earliest"),
                ],
            ))
            .unwrap();
            c.subscribe(&[NOWRITE]).unwrap();
            let mut messages = 0;
            let (e, fatal, at) = first_error(&c, T, &mut messages)
                .unwrap_or_else(|| panic!("{protocol}: no error in {T:?}"));
            eprintln!("{protocol}: after {at:?} (fatal: {fatal}): {e}");
            assert_eq!(e.code, TOPIC_AUTHORIZATION_FAILED, "{protocol}: {e}");
            assert!(
                e.message.contains("TOPIC_AUTHORIZATION_FAILED") && e.message.contains(NOWRITE),
                "{protocol}: {e}"
            );
            assert!(at < Duration::from_secs(10), "{protocol}: after {at:?}");
            assert_eq!(messages, 0);
            let _ = c.close(T);
            // Without a group: assigned by the application.
            let c = Consumer::new(&config("bob", &[("auto.offset.reset", "earliest")])).unwrap();
            c.assign(&[(TopicPartition::new(NOWRITE, 0), Some(0))])
                .unwrap();
            let (e, _, at) = first_error(&c, T, &mut messages)
                .unwrap_or_else(|| panic!("assign: no error in {T:?}"));
            eprintln!("assign: after {at:?}: {e}");
            assert_eq!(e.code, TOPIC_AUTHORIZATION_FAILED, "{e}");
            assert!(e.message.contains("acl-nowrite/0"), "{e}");
            assert!(at < PROMPT, "assign: after {at:?}");
            let _ = c.close(T);
        }
    });
}

#[test]
fn consumer_subscribed_to_a_topic_it_may_not_see_gets_topic_authorization_failed() {
    with_timeout(LIMIT, || {
        for protocol in ["classic", "consumer"] {
            let group = format!("{GROUP}-hidden-{protocol}");
            let c = Consumer::new(&config(
                "bob",
                &[
                    ("group.id", group.as_str()),
                    ("group.protocol", protocol),
                    ("auto.offset.reset", "earliest"),
                ],
            ))
            .unwrap();
            c.subscribe(&[HIDDEN]).unwrap();
            let mut messages = 0;
            let (e, fatal, at) = first_error(&c, T, &mut messages)
                .unwrap_or_else(|| panic!("{protocol}: no error in {T:?}"));
            eprintln!("{protocol}: after {at:?} (fatal: {fatal}): {e}");
            assert_eq!(e.code, TOPIC_AUTHORIZATION_FAILED, "{protocol}: {e}");
            assert!(e.message.contains(HIDDEN), "{protocol}: {e}");
            assert!(at < Duration::from_secs(10), "{protocol}: after {at:?}");
            let _ = c.close(T);
        }
    });
}

#[test]
fn a_user_with_the_right_acls_produces_and_consumes_in_its_group() {
    with_timeout(LIMIT, || {
        let p = Producer::new(&config("alice", &[("linger.ms", "5")])).unwrap();
        let n = 200;
        let want: Vec<String> = (0..n).map(|i| format!("alice-{i}")).collect();
        for v in &want {
            p.send_blocking(
                &Message {
                    topic: OPEN,
                    partition: 0,
                    value: Some(v.as_bytes()),
                    ..Default::default()
                },
                T,
            )
            .unwrap();
        }
        let mut errors = Vec::new();
        p.flush(T, |r| {
            if let Some(e) = &r.error {
                errors.push(e.to_string());
            }
        })
        .unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        p.close(T);
        for protocol in ["classic", "consumer"] {
            let group = format!("{GROUP}-alice-{protocol}");
            let c = Consumer::new(&config(
                "alice",
                &[
                    ("group.id", group.as_str()),
                    ("group.protocol", protocol),
                    ("auto.offset.reset", "earliest"),
                    ("enable.auto.commit", "false"),
                ],
            ))
            .unwrap();
            c.subscribe(&[OPEN]).unwrap();
            let mut got = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while got.len() < n && Instant::now() < deadline {
                for e in c.poll_batch(500, Duration::from_millis(200)) {
                    match e {
                        Event::Message(m) => {
                            let v = String::from_utf8(m.value().unwrap().to_vec()).unwrap();
                            if v.starts_with("alice-") {
                                got.push(v);
                            }
                        }
                        Event::Error { error, .. } => panic!("{protocol}: {error}"),
                    }
                }
            }
            assert_eq!(got, want, "{protocol}");
            // Committing needs Read on the group and the topic: alice has both.
            c.commit(None, false).unwrap();
            let committed = c.committed(&[TopicPartition::new(OPEN, 0)], T).unwrap();
            assert!(committed[0].1 > 0, "{protocol}: {committed:?}");
            c.close(T).unwrap();
        }
    });
}
