//! SASL (`security.protocol=sasl_plaintext|sasl_ssl`) against Apache Kafka 4.3 with
//! PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 users.
//!
//! One single-node cluster, shared, with a PLAINTEXT listener (inter-broker, and where
//! the SCRAM credentials are created) and three SASL listeners: `SASL_PLAINTEXT` and
//! `SASL_SSL` (every mechanism) and `SASL_PLAINTEXT_PLAINONLY` (PLAIN only, for the
//! unsupported-mechanism error). The TLS certificate is made by the test (rcgen: a CA and
//! a broker certificate for 127.0.0.1). PLAIN users are in the listeners' JAAS
//! configuration; SCRAM credentials are added with Kafka's own ConfigCommand
//! (AlterUserScramCredentials) once the broker runs.
//!
//! The broker sets `connections.max.reauth.ms=3000`: every connection of every test
//! re-authenticates (KIP-368) every 2.5–2.9 s, and one test produces for 14 s checking
//! that nothing is lost and that re-authentications happened.

mod clib;
mod common;

use common::client::{config_with, create_topic, group_round_trip, metadata_fails_with};
use common::kafka::{self, KafkaCluster};
use common::{scratch_dir, with_timeout};
use kafkac::consumer::{Consumer, Event};
use kafkac::error::local;
use kafkac::net::{OAuthToken, UnsecuredJwt};
use kafkac::producer::{Message, Producer, PARTITION_ANY};
use kafkac::record::{Compression, RecordIn};
use kafkac::{Client, Config};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Timeout of one client call.
const T: Duration = Duration::from_secs(20);
/// Limit for one test (includes starting the shared cluster and adding the users).
const LIMIT: Duration = Duration::from_secs(240);
/// The connection set-up timeout: a failure must come well before it.
const SETUP_MS: u64 = 8000;
/// The broker's session lifetime for SASL connections (KIP-368).
const REAUTH_MS: u64 = 3000;

const USER: &str = "alice";
const PASSWORD: &str = "alice-secret";

/// The test's CA (PEM file) and the broker's PEM keystore.
struct Pki {
    dir: PathBuf,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = scratch_dir("sasl-pki");
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(DnType::CommonName, "kafkac SASL test CA");
        let ca = p.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut p =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, "broker");
        let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
        std::fs::write(
            dir.join("broker.pem"),
            format!("{}{}", key.serialize_pem(), cert.pem()),
        )
        .unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        Pki { dir }
    })
}

fn ca_file() -> String {
    pki().dir.join("ca.pem").display().to_string()
}

const PLAIN_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
                          user_alice=\"alice-secret\" user_bob=\"bob-secret\";";
const SCRAM_JAAS: &str = "org.apache.kafka.common.security.scram.ScramLoginModule required;";

fn cluster() -> &'static KafkaCluster {
    static CLUSTER: OnceLock<KafkaCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let d = &pki().dir;
        let broker = d.join("broker.pem").display().to_string();
        let ca = ca_file();
        let reauth = REAUTH_MS.to_string();
        let mut extra: Vec<(String, String)> = vec![
            ("ssl.keystore.type".into(), "PEM".into()),
            ("ssl.keystore.location".into(), broker),
            ("ssl.truststore.type".into(), "PEM".into()),
            ("ssl.truststore.location".into(), ca),
            (
                "sasl.enabled.mechanisms".into(),
                "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER".into(),
            ),
            (
                "listener.name.sasl_plaintext_plainonly.sasl.enabled.mechanisms".into(),
                "PLAIN".into(),
            ),
            ("connections.max.reauth.ms".into(), reauth),
        ];
        for l in ["sasl_plaintext", "sasl_ssl", "sasl_plaintext_plainonly"] {
            extra.push((
                format!("listener.name.{l}.plain.sasl.jaas.config"),
                PLAIN_JAAS.into(),
            ));
            // Unsecured JWTs (Kafka's default validator); SASL_PLAINTEXT requires the
            // scope "kafka" in them.
            let scope = if l == "sasl_plaintext" {
                " unsecuredValidatorRequiredScope=\"kafka\""
            } else {
                ""
            };
            extra.push((
                format!("listener.name.{l}.oauthbearer.sasl.jaas.config"),
                format!(
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule \
                     required unsecuredLoginStringClaim_sub=\"broker\"{scope};"
                ),
            ));
            for m in ["scram-sha-256", "scram-sha-512"] {
                extra.push((
                    format!("listener.name.{l}.{m}.sasl.jaas.config"),
                    SCRAM_JAAS.into(),
                ));
            }
        }
        let extra: Vec<(&str, &str)> = extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let c = KafkaCluster::start_with_listeners(
            1,
            &["SASL_PLAINTEXT", "SASL_SSL", "SASL_PLAINTEXT_PLAINONLY"],
            &extra,
        );
        // SCRAM credentials for alice (each hash: one request may alter a user's
        // credentials once), through the PLAINTEXT listener.
        for hash in [
            format!("SCRAM-SHA-256=[iterations=4096,password={PASSWORD}]"),
            format!("SCRAM-SHA-512=[password={PASSWORD}]"),
        ] {
            let out = kafka::run_tool(
                "kafka.admin.ConfigCommand",
                &[
                    "--bootstrap-server",
                    &c.bootstrap,
                    "--alter",
                    "--entity-type",
                    "users",
                    "--entity-name",
                    USER,
                    "--add-config",
                    &hash,
                ],
                Duration::from_secs(90),
            )
            .unwrap_or_else(|e| panic!("adding SCRAM users: {e}"));
            assert!(out.contains("Completed updating config"), "{out}");
        }
        c
    })
}

fn addr(listener: &str) -> String {
    cluster().nodes[0].listener_addr(listener)
}

fn config(bootstrap: &str, settings: &[(&str, &str)]) -> Config {
    let setup = SETUP_MS.to_string();
    let mut all = vec![("socket.connection.setup.timeout.ms", setup.as_str())];
    all.extend_from_slice(settings);
    config_with(bootstrap, &all)
}

/// The settings of a SASL client of `listener` (SASL_SSL: with the test CA) with
/// `mechanism`, `user` and `password`.
fn sasl_settings(
    listener: &str,
    mechanism: &str,
    user: &str,
    password: &str,
) -> Vec<(String, String)> {
    let ssl = listener.starts_with("SASL_SSL");
    let mut s = vec![
        (
            "security.protocol".to_string(),
            if ssl { "sasl_ssl" } else { "sasl_plaintext" }.to_string(),
        ),
        ("sasl.mechanism".into(), mechanism.into()),
        ("sasl.username".into(), user.into()),
        ("sasl.password".into(), password.into()),
    ];
    if ssl {
        s.push(("ssl.ca.location".into(), ca_file()));
    }
    s
}

fn sasl_config(listener: &str, mechanism: &str, extra: &[(&str, &str)]) -> Config {
    let s = sasl_settings(listener, mechanism, USER, PASSWORD);
    let mut all: Vec<(&str, &str)> = s.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    config(&addr(listener), &all)
}

/// A client of `listener` authenticating with `mechanism` as alice. SCRAM credentials
/// reach the broker through its metadata log a moment after they are created: the first
/// client waits for them.
fn client(listener: &str, mechanism: &str) -> Client {
    let deadline = Instant::now() + T;
    loop {
        // A fresh client each time: no reconnect back-off from the refusal.
        let c = Client::new(&sasl_config(listener, mechanism, &[])).unwrap();
        match c.metadata(None, T) {
            Ok(_) => return c,
            Err(e) if e.code == local::AUTHENTICATION && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("{listener} {mechanism}: {e}"),
        }
    }
}

/// Metadata, then a produce and a fetch of what it wrote, through `c`.
fn round_trip(c: &Client, topic: &str) {
    let md = c.metadata(None, T).unwrap();
    assert_eq!(md.brokers.len(), 1);
    create_topic(c, topic, 1, 1, &[], T);
    common::wait_until(T, &format!("leader for {topic}"), || {
        c.metadata(Some(&[topic.to_string()]), T)
            .map(|md| md.topics[0].error_code == 0 && md.topics[0].partitions[0].leader >= 0)
            .unwrap_or(false)
    });
    let vals: Vec<Vec<u8>> = (0..100).map(|i| format!("sasl-{i}").into_bytes()).collect();
    let recs: Vec<RecordIn> = vals
        .iter()
        .map(|v| common::records::record(None, Some(v)))
        .collect();
    let base = c.produce(topic, 0, &recs, -1, Compression::Lz4, T).unwrap();
    let got = fetch_all(c, topic, base, vals.len());
    assert_eq!(got, vals);
}

fn fetch_all(c: &Client, topic: &str, from: i64, n: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let deadline = Instant::now() + T;
    while got.len() < n && Instant::now() < deadline {
        let f = c
            .fetch(
                topic,
                0,
                from + got.len() as i64,
                1 << 20,
                Duration::from_millis(200),
                T,
            )
            .unwrap();
        got.extend(f.records.iter().map(|r| r.value.unwrap().to_vec()));
    }
    got
}

/// The error of a metadata call through a client of `bootstrap` with `settings`: it
/// must come before the set-up timeout, name the broker and contain `cause`.
fn fails_with(bootstrap: &str, settings: &[(&str, &str)], code: i32, cause: &str) -> String {
    let c = Client::new(&config(bootstrap, settings)).unwrap();
    metadata_fails_with(
        &c,
        bootstrap,
        code,
        cause,
        T,
        Duration::from_millis(SETUP_MS),
    )
}

#[test]
fn every_mechanism_over_sasl_plaintext_and_sasl_ssl() {
    with_timeout(LIMIT, || {
        for listener in ["SASL_PLAINTEXT", "SASL_SSL"] {
            for mech in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
                let c = client(listener, mech);
                let topic = format!("sasl-{}-{}", listener, mech).to_lowercase();
                round_trip(&c, &topic);
                let stats = &c.cluster().stats().sasl;
                assert!(stats.authentications.load(Ordering::Relaxed) >= 1);
                assert_eq!(stats.failures.load(Ordering::Relaxed), 0);
            }
        }
        // librdkafka's name for the mechanism property, and PLAIN's other user.
        let s = sasl_settings("SASL_PLAINTEXT", "PLAIN", "bob", "bob-secret");
        let mut c = Config::new();
        for (k, v) in &s {
            let k = if k == "sasl.mechanism" {
                "sasl.mechanisms"
            } else {
                k
            };
            c.set(k, v).unwrap();
        }
        c.set("bootstrap.servers", &addr("SASL_PLAINTEXT")).unwrap();
        Client::new(&c).unwrap().metadata(None, T).unwrap();
    });
}

/// A group consumer reads what was written, over each SASL listener with each mechanism
/// (the unsecured JWT for OAUTHBEARER), and commits: the coordinator's connection
/// authenticates like the others.
#[test]
fn group_consumption_over_each_protocol_and_mechanism() {
    with_timeout(LIMIT, || {
        for listener in ["SASL_PLAINTEXT", "SASL_SSL"] {
            for mech in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] {
                let what = format!("{listener} {mech}");
                let topic = format!("sasl-grp-{listener}-{mech}").to_lowercase();
                let group = format!("{topic}-g");
                let mut extra = vec![
                    ("group.id", group.as_str()),
                    ("auto.offset.reset", "earliest"),
                    ("enable.auto.commit", "false"),
                ];
                if mech == "OAUTHBEARER" {
                    extra.extend([
                        ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
                        ("sasl.oauthbearer.config", "principal=alice scope=kafka"),
                    ]);
                } else {
                    // The SCRAM users may still be on their way to the broker.
                    client(listener, mech);
                }
                let admin = client(listener, "PLAIN");
                let consumer = sasl_config(listener, mech, &extra);
                group_round_trip(&admin, &consumer, &topic, &what, T);
            }
        }
    });
}

#[test]
fn oauthbearer_with_an_unsecured_jwt() {
    with_timeout(LIMIT, || {
        let oauth = |listener: &str, jwt: &str| {
            let mut c = sasl_config(listener, "OAUTHBEARER", &[]);
            c.set("enable.sasl.oauthbearer.unsecure.jwt", "true")
                .unwrap();
            c.set("sasl.oauthbearer.config", jwt).unwrap();
            c
        };
        let c = Client::new(&oauth("SASL_SSL", "principal=alice lifeSeconds=600")).unwrap();
        round_trip(&c, "sasl-oauth-ssl");
        let c = Client::new(&oauth(
            "SASL_PLAINTEXT",
            "principal=alice scope=kafka,other",
        ))
        .unwrap();
        round_trip(&c, "sasl-oauth-plain");
        // Connections live past the broker's 3 s session: re-authenticated, not dropped.
        std::thread::sleep(Duration::from_millis(REAUTH_MS + 1000));
        c.metadata(None, T).unwrap();
        let stats = &c.cluster().stats().sasl;
        assert!(stats.reauthentications.load(Ordering::Relaxed) >= 1);
        assert_eq!(stats.failures.load(Ordering::Relaxed), 0);
        // Without the scope the listener requires: refused, with the broker's reason.
        let b = addr("SASL_PLAINTEXT");
        let cfg = oauth("SASL_PLAINTEXT", "principal=alice scope=other");
        let t0 = Instant::now();
        let e = Client::new(&cfg).unwrap().metadata(None, T).unwrap_err();
        assert_eq!(e.code, local::AUTHENTICATION, "{e}");
        assert!(
            e.message.contains(&b)
                && e.message.contains("OAUTHBEARER")
                && e.message.contains("insufficient_scope"),
            "{e}"
        );
        assert!(t0.elapsed() < Duration::from_millis(SETUP_MS), "{e}");
        // Settings: the unsecured token needs a principal.
        let mut cfg = sasl_config("SASL_SSL", "OAUTHBEARER", &[]);
        cfg.set("enable.sasl.oauthbearer.unsecure.jwt", "true")
            .unwrap();
        let e = Client::new(&cfg).err().expect("refused");
        assert!(e.message.contains("principal"), "{e}");
        // The unsecured token cannot be replaced by the application's.
        let c = Client::new(&oauth("SASL_SSL", "principal=alice")).unwrap();
        let e = c.cluster().oauth_tokens().expect_err("refused");
        assert_eq!(e.code, local::STATE, "{e}");
        assert!(e.message.contains("sasl.oauthbearer.config"), "{e}");
    });
}

/// An unsecured JWT for `principal=alice` with scope `kafka` (the listeners' validator
/// accepts it) living
/// `life_s` seconds, with the lifetime in milliseconds since the epoch the application
/// passes along with it.
fn app_token(life_s: u64) -> OAuthToken {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let jwt =
        UnsecuredJwt::parse(&format!("principal=alice scope=kafka lifeSeconds={life_s}")).unwrap();
    OAuthToken {
        value: jwt.token(now),
        lifetime_ms: ((now + life_s) * 1000) as i64,
        principal: "alice".into(),
        extensions: vec![("traceId".into(), "t 1".into())],
    }
}

#[test]
fn oauthbearer_with_a_token_from_the_application() {
    with_timeout(LIMIT, || {
        let b = addr("SASL_PLAINTEXT");
        let c = Client::new(&sasl_config("SASL_PLAINTEXT", "OAUTHBEARER", &[])).unwrap();
        // No token yet: connections fail at once, saying so.
        let t0 = Instant::now();
        let e = c.metadata(None, T).unwrap_err();
        assert_eq!(e.code, local::AUTHENTICATION, "{e}");
        assert!(
            e.message.contains(&b) && e.message.contains("no token has been set"),
            "{e}"
        );
        assert!(t0.elapsed() < Duration::from_millis(SETUP_MS), "{e}");
        let store = c.cluster().oauth_tokens().unwrap();
        // The application could not get one: its reason is the error.
        store.set_failure("identity provider unreachable").unwrap();
        let e = c.metadata(None, T).unwrap_err();
        assert_eq!(e.code, local::AUTHENTICATION, "{e}");
        assert!(e.message.contains("identity provider unreachable"), "{e}");
        // Invalid tokens are refused with the reason; the failure stays in place.
        let invalid = |t: OAuthToken, what: &str| {
            let e = store.set(t).unwrap_err();
            assert_eq!(e.code, local::INVALID_ARG, "{e}");
            assert!(e.message.contains(what), "{what}: {e}");
        };
        let good = app_token(600);
        invalid(
            OAuthToken {
                value: String::new(),
                ..good.clone()
            },
            "empty",
        );
        invalid(
            OAuthToken {
                value: "a b".into(),
                ..good.clone()
            },
            "b64token",
        );
        invalid(
            OAuthToken {
                lifetime_ms: 1000,
                ..good.clone()
            },
            "not in the future",
        );
        invalid(
            OAuthToken {
                principal: String::new(),
                ..good.clone()
            },
            "md_principal_name is empty",
        );
        invalid(
            OAuthToken {
                extensions: vec![("auth".into(), "x".into())],
                ..good.clone()
            },
            "'auth' is reserved",
        );
        invalid(
            OAuthToken {
                extensions: vec![("trace-id".into(), "x".into())],
                ..good.clone()
            },
            "extension key 'trace-id'",
        );
        invalid(
            OAuthToken {
                extensions: vec![("k".into(), "\u{1}".into())],
                ..good.clone()
            },
            "value of extension 'k'",
        );
        assert!(store.set_failure("").is_err());
        let e = c.metadata(None, T).unwrap_err();
        assert!(e.message.contains("identity provider unreachable"), "{e}");
        // A token: produce and fetch work (after the reconnect back-off).
        store.set(good).unwrap();
        let deadline = Instant::now() + T;
        while let Err(e) = c.metadata(None, Duration::from_secs(2)) {
            assert!(Instant::now() < deadline, "{e}");
            std::thread::sleep(Duration::from_millis(200));
        }
        round_trip(&c, "sasl-oauth-app");
        // Re-authentication sends the newest token: the first one expires 6 s from now;
        // a second is set before then; connections re-authenticate every ~3 s and still
        // work after the first token's expiry (the broker refuses expired tokens).
        store.set(app_token(6)).unwrap();
        std::thread::sleep(Duration::from_millis(REAUTH_MS + 500));
        c.metadata(None, T).unwrap();
        store.set(app_token(600)).unwrap();
        std::thread::sleep(Duration::from_millis(6000));
        c.metadata(None, T).unwrap();
        round_trip(&c, "sasl-oauth-app-2");
        let stats = &c.cluster().stats().sasl;
        assert!(stats.reauthentications.load(Ordering::Relaxed) >= 2);
        // Producers and consumers have a token store of their own.
        let p = Producer::new(&sasl_config("SASL_SSL", "OAUTHBEARER", &[])).unwrap();
        p.client()
            .cluster()
            .oauth_tokens()
            .unwrap()
            .set(app_token(600))
            .unwrap();
        p.client().metadata(None, T).unwrap();
        // Not OAUTHBEARER: nothing to set.
        let e = client("SASL_PLAINTEXT", "PLAIN")
            .cluster()
            .oauth_tokens()
            .expect_err("refused");
        assert_eq!(e.code, local::STATE, "{e}");
    });
}

#[test]
fn oauthbearer_token_through_the_c_api_under_the_sanitizers() {
    with_timeout(LIMIT, || {
        let b = addr("SASL_PLAINTEXT");
        clib::library();
        let dir = clib::bin_dir().join("sasl-examples");
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("oauth_token");
        clib::compile(
            &clib::cc(),
            &clib::manifest_dir().join("tests/c/oauth_token.c"),
            common::SANITIZE_FLAGS,
            Some(clib::Link::Static),
            &out,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let t = app_token(600);
        let mut cmd = Command::new(&out);
        cmd.args([b.as_str(), t.value.as_str(), &t.lifetime_ms.to_string()]);
        let stdout = common::run_sanitized(cmd, Duration::from_secs(120));
        assert!(stdout.ends_with("ok\n"), "{stdout}");
        assert!(
            stdout.contains("metadata after failure: -169")
                && stdout.contains("odd extensions: -186"),
            "{stdout}"
        );
    });
}

#[test]
fn producer_and_group_consumer_over_sasl_ssl() {
    with_timeout(LIMIT, || {
        let topic = "sasl-group";
        let admin = client("SASL_SSL", "SCRAM-SHA-512");
        create_topic(&admin, topic, 3, 1, &[], T);
        let p = Producer::new(&sasl_config(
            "SASL_SSL",
            "SCRAM-SHA-256",
            &[("linger.ms", "5")],
        ))
        .unwrap();
        let n = 3000;
        for i in 0..n {
            let v = format!("g{i}");
            p.send_blocking(
                &Message {
                    topic,
                    partition: PARTITION_ANY,
                    key: Some(v.as_bytes()),
                    value: Some(v.as_bytes()),
                    opaque: i,
                    ..Default::default()
                },
                T,
            )
            .unwrap();
        }
        let mut errors = Vec::new();
        let mut reports = 0;
        p.flush(T, |r| {
            reports += 1;
            if let Some(e) = &r.error {
                errors.push(e.to_string());
            }
        })
        .unwrap();
        assert_eq!(reports, n);
        assert!(errors.is_empty(), "{errors:?}");
        p.close(T);
        let c = Consumer::new(&sasl_config(
            "SASL_SSL",
            "SCRAM-SHA-512",
            &[
                ("group.id", "sasl-group"),
                ("auto.offset.reset", "earliest"),
            ],
        ))
        .unwrap();
        c.subscribe(&[topic]).unwrap();
        let mut got = BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while got.len() < n && Instant::now() < deadline {
            for e in c.poll_batch(500, Duration::from_millis(200)) {
                match e {
                    Event::Message(m) => {
                        got.insert(String::from_utf8(m.value().unwrap().to_vec()).unwrap());
                    }
                    Event::Error { error, fatal, .. } => {
                        assert!(!fatal, "{error}");
                    }
                }
            }
        }
        assert_eq!(got.len(), n, "consumed {} of {n}", got.len());
        c.commit(None, false).unwrap();
        c.close(T).unwrap();
    });
}

#[test]
fn wrong_password_and_unknown_user_fail_without_a_reconnect_storm() {
    with_timeout(LIMIT, || {
        cluster();
        for (listener, mech, user, password) in [
            ("SASL_PLAINTEXT", "PLAIN", USER, "wrong"),
            ("SASL_SSL", "PLAIN", "mallory", "x"),
            ("SASL_PLAINTEXT", "SCRAM-SHA-256", USER, "wrong"),
            ("SASL_SSL", "SCRAM-SHA-512", "mallory", "x"),
        ] {
            let s = sasl_settings(listener, mech, user, password);
            let s: Vec<(&str, &str)> = s.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let msg = fails_with(&addr(listener), &s, local::AUTHENTICATION, "authentication");
            assert!(msg.contains(mech) && msg.contains(user), "{msg}");
            assert!(!msg.contains(password) || password == "x", "{msg}");
        }
        // Calls keep coming for 5 s; connection attempts follow the reconnect back-off
        // (100 ms doubling up to 1 s here: about 9 in 5 s), not the calls.
        let listener = "SASL_PLAINTEXT";
        let s = sasl_settings(listener, "SCRAM-SHA-512", USER, "wrong");
        let mut s: Vec<(&str, &str)> = s.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        s.extend([
            ("reconnect.backoff.ms", "100"),
            ("reconnect.backoff.max.ms", "1000"),
        ]);
        let c = Client::new(&config(&addr(listener), &s)).unwrap();
        let t0 = Instant::now();
        let mut calls = 0;
        while t0.elapsed() < Duration::from_secs(5) {
            let e = c.metadata(None, Duration::from_millis(200)).unwrap_err();
            assert!(
                e.code == local::AUTHENTICATION || e.code == local::TIMED_OUT,
                "{e}"
            );
            calls += 1;
        }
        let attempts = c
            .cluster()
            .stats()
            .sasl
            .authentications
            .load(Ordering::Relaxed);
        let failures = c.cluster().stats().sasl.failures.load(Ordering::Relaxed);
        eprintln!("{calls} calls, {attempts} authentication attempts in 5 s");
        assert!(calls >= 20, "only {calls} calls");
        assert!(
            (3..=15).contains(&attempts),
            "{attempts} authentication attempts for {calls} calls in 5 s"
        );
        // The last attempt may still be under way.
        assert!(
            failures + 1 >= attempts && failures <= attempts,
            "{failures} of {attempts}"
        );
        // A producer gets the error in its delivery report, and does not storm either.
        let p = Producer::new(&config(
            &addr(listener),
            &[
                s.as_slice(),
                &[("message.timeout.ms", "4000"), ("linger.ms", "0")],
            ]
            .concat(),
        ))
        .unwrap();
        p.send(&Message {
            topic: "sasl-nowhere",
            partition: 0,
            value: Some(b"v"),
            ..Default::default()
        })
        .unwrap();
        let mut reports = Vec::new();
        let _ = p.flush(Duration::from_secs(15), |r| reports.push(r.clone()));
        assert_eq!(reports.len(), 1);
        let e = reports[0].error.as_ref().expect("not delivered");
        eprintln!("delivery report: {e}");
        assert_eq!(e.code, local::MSG_TIMED_OUT, "{e}");
        assert!(
            e.message.contains("authentication failed") && e.message.contains(&addr(listener)),
            "{e}"
        );
        let attempts = p
            .client()
            .cluster()
            .stats()
            .sasl
            .authentications
            .load(Ordering::Relaxed);
        assert!(
            (1..=14).contains(&attempts),
            "{attempts} authentication attempts in 4 s"
        );
        p.close(T);
    });
}

#[test]
fn a_mechanism_the_broker_does_not_enable() {
    with_timeout(LIMIT, || {
        let s = sasl_settings("SASL_PLAINTEXT_PLAINONLY", "SCRAM-SHA-256", USER, PASSWORD);
        let s: Vec<(&str, &str)> = s.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let msg = fails_with(
            &addr("SASL_PLAINTEXT_PLAINONLY"),
            &s,
            33,
            "does not enable SASL mechanism SCRAM-SHA-256",
        );
        assert!(msg.contains("it enables: PLAIN"), "{msg}");
    });
}

#[test]
fn sasl_client_on_other_listeners_and_other_clients_on_sasl_listeners() {
    with_timeout(LIMIT, || {
        let plain = cluster().nodes[0].addr.clone();
        let mut s = sasl_settings("SASL_PLAINTEXT", "PLAIN", USER, PASSWORD);
        s[0].1 = "sasl_plaintext".into();
        let s: Vec<(&str, &str)> = s.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        // SASL client on the PLAINTEXT listener: the broker refuses the SaslHandshake.
        fails_with(&plain, &s, local::AUTHENTICATION, "does not take SASL");
        // Plaintext client on a SASL listener: the broker closes the connection at the
        // first request. That is retried (a broker may also go away at that moment), and
        // the caller gets why when its time is up.
        let b = addr("SASL_PLAINTEXT");
        let c = Client::new(&config(&b, &[])).unwrap();
        let t0 = Instant::now();
        let e = c.metadata(None, Duration::from_secs(2)).unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
        assert_eq!(e.code, local::TRANSPORT, "{e}");
        assert!(
            e.message.contains(&b) && e.message.contains("may require SASL authentication"),
            "{e}"
        );
        // sasl_plaintext on the SASL_SSL listener: the broker answers with TLS.
        fails_with(&addr("SASL_SSL"), &s, local::SSL, "sasl_ssl");
        // sasl_ssl on the SASL_PLAINTEXT listener: no TLS there.
        let ssl = sasl_settings("SASL_SSL", "PLAIN", USER, PASSWORD);
        let ssl: Vec<(&str, &str)> = ssl.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        fails_with(
            &addr("SASL_PLAINTEXT"),
            &ssl,
            local::SSL,
            "plaintext listener",
        );
    });
}

#[test]
fn reauthentication_during_a_long_produce_run_loses_nothing() {
    with_timeout(LIMIT, || {
        let topic = "sasl-reauth";
        let admin = client("SASL_SSL", "SCRAM-SHA-256");
        create_topic(&admin, topic, 1, 1, &[], T);
        let p = Producer::new(&sasl_config(
            "SASL_SSL",
            "SCRAM-SHA-256",
            &[("linger.ms", "2")],
        ))
        .unwrap();
        let run = Duration::from_millis(REAUTH_MS * 14 / 3);
        let t0 = Instant::now();
        let mut n = 0usize;
        let mut errors = Vec::new();
        // Continuously: a record every millisecond or so, delivery reports served as
        // they come.
        while t0.elapsed() < run {
            let v = format!("r{n}");
            p.send_blocking(
                &Message {
                    topic,
                    partition: 0,
                    value: Some(v.as_bytes()),
                    opaque: n,
                    ..Default::default()
                },
                T,
            )
            .unwrap();
            n += 1;
            p.poll(Duration::ZERO, |r| {
                if let Some(e) = &r.error {
                    errors.push(e.to_string());
                }
            });
            std::thread::sleep(Duration::from_millis(1));
        }
        p.flush(T, |r| {
            if let Some(e) = &r.error {
                errors.push(e.to_string());
            }
        })
        .unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let stats = &p.client().cluster().stats().sasl;
        let reauths = stats.reauthentications.load(Ordering::Relaxed);
        let auths = stats.authentications.load(Ordering::Relaxed);
        assert_eq!(stats.failures.load(Ordering::Relaxed), 0);
        // The connections were kept (a re-authentication is not a new connection): the
        // bootstrap one and the leader's, perhaps one more after a metadata change.
        assert!(
            auths <= 4,
            "{auths} authentications: connections were replaced"
        );
        // 14 s with a 3 s lifetime: every connection re-authenticated four or five times.
        assert!(
            reauths >= 4,
            "{reauths} re-authentications, {auths} authentications in {:?}",
            t0.elapsed()
        );
        p.close(T);
        // Nothing lost, nothing doubled, in order.
        let got = fetch_all(&admin, topic, 0, n);
        let want: Vec<Vec<u8>> = (0..n).map(|i| format!("r{i}").into_bytes()).collect();
        assert_eq!(got.len(), n);
        assert!(got == want, "records differ");
        eprintln!(
            "{n} records in {:?}; {auths} authentications, {reauths} re-authentications",
            t0.elapsed()
        );
    });
}

#[test]
fn secrets_and_refused_settings() {
    let mut c = Config::new();
    c.set("sasl.password", "hunter2").unwrap();
    assert_eq!(c.get("sasl.password").unwrap(), "[set]");
    let e = c.set("sasl.mechanism", "GSSAPI").unwrap_err();
    assert_eq!(e.code, local::INVALID_CONFIG);
    assert!(e.message.contains("Kerberos"), "{e}");
    let e = c.set("sasl.mechanisms", "gssapi").unwrap_err();
    assert!(e.message.contains("Kerberos"), "{e}");
    c.set("sasl.mechanisms", "scram-sha-512").unwrap();
    assert_eq!(c.get("sasl.mechanism").unwrap(), "SCRAM-SHA-512");
    // The default mechanism (GSSAPI) is refused when SASL is asked for.
    let mut c = Config::new();
    c.set("bootstrap.servers", "127.0.0.1:9").unwrap();
    c.set("security.protocol", "SASL_SSL").unwrap();
    let e = Client::new(&c).err().expect("refused");
    assert_eq!(e.code, local::INVALID_CONFIG);
    assert!(
        e.message.contains("'sasl.mechanism'") && e.message.contains("Kerberos"),
        "{e}"
    );
    c.set("sasl.mechanism", "PLAIN").unwrap();
    let e = Client::new(&c).err().expect("refused");
    assert!(e.message.contains("'sasl.username'"), "{e}");
    c.set("sasl.username", "u").unwrap();
    c.set("sasl.password", "hunter2").unwrap();
    Client::new(&c).unwrap();
    assert!(!format!("{c:?}").contains("hunter2"), "{c:?}");
}

// ----- the C examples and the Java client --------------------------------------------

fn example(name: &str) -> PathBuf {
    clib::example(name, "sasl-examples")
}

#[test]
fn c_examples_take_the_sasl_settings_through_x() {
    with_timeout(Duration::from_secs(600), || {
        let (metadata, produce, fetch) =
            (example("metadata"), example("produce"), example("fetch"));
        let b = addr("SASL_SSL");
        // The first SCRAM client waits for the credentials to reach the broker.
        client("SASL_SSL", "SCRAM-SHA-512");
        let ca = ca_file();
        let x: Vec<String> = [
            "security.protocol=SASL_SSL".to_string(),
            "sasl.mechanisms=SCRAM-SHA-512".into(),
            format!("sasl.username={USER}"),
            format!("sasl.password={PASSWORD}"),
            format!("ssl.ca.location={ca}"),
        ]
        .iter()
        .flat_map(|p| ["-X".to_string(), p.clone()])
        .collect();
        let x: Vec<&str> = x.iter().map(String::as_str).collect();
        let admin = client("SASL_SSL", "SCRAM-SHA-512");
        create_topic(&admin, "sasl-c", 1, 1, &[], T);
        let (code, out, err) =
            common::run_example(&metadata, &[&[b.as_str(), "sasl-c"], &x[..]].concat(), b"");
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains("partition sasl-c 0 leader 1"), "{out}");
        let (code, out, err) = common::run_example(
            &produce,
            &[&[b.as_str(), "sasl-c", "0"], &x[..]].concat(),
            b"one\ntwo\n",
        );
        assert_eq!(code, Some(0), "{out}{err}");
        let (code, out, err) = common::run_example(
            &fetch,
            &[&[b.as_str(), "sasl-c", "0", "0", "-c", "2"], &x[..]].concat(),
            b"",
        );
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains("one") && out.contains("two"), "{out}");
        // A wrong password: the example says why, naming the broker.
        let mut bad = x.clone();
        let i = bad
            .iter()
            .position(|a| a.starts_with("sasl.password="))
            .unwrap();
        bad[i] = "sasl.password=wrong";
        let (code, out, err) =
            common::run_example(&metadata, &[&[b.as_str()], &bad[..]].concat(), b"");
        assert_ne!(code, Some(0), "{out}{err}");
        assert!(err.contains("_AUTHENTICATION"), "{err}");
        assert!(err.contains(&b) && !err.contains(PASSWORD), "{err}");
    });
}

/// Compiles `tests/java/Peer.java` into a directory of this test binary.
fn peer_classes() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch_dir("sasl-java");
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("javac");
        cmd.arg("-encoding")
            .arg("UTF-8")
            .arg("-cp")
            .arg(kafka::classpath())
            .arg("-d")
            .arg(&dir)
            .arg(clib::manifest_dir().join("tests/java/Peer.java"));
        let done = common::run_bounded(cmd, None, Duration::from_secs(180))
            .unwrap_or_else(|e| panic!("cannot run javac (a JDK is required): {e}"));
        assert!(
            done.status.map(|s| s.success()) == Some(true),
            "javac failed: {}",
            done.stderr_text()
        );
        dir
    })
    .clone()
}

#[test]
fn java_client_reads_over_sasl_ssl_what_kafkac_wrote_over_sasl_ssl() {
    with_timeout(Duration::from_secs(400), || {
        let topic = "sasl-java";
        let admin = client("SASL_SSL", "SCRAM-SHA-512");
        create_topic(&admin, topic, 2, 1, &[], T);
        let p = Producer::new(&sasl_config("SASL_SSL", "SCRAM-SHA-512", &[])).unwrap();
        let n = 500;
        for i in 0..n {
            let v = format!("j{i}");
            p.send_blocking(
                &Message {
                    topic,
                    partition: PARTITION_ANY,
                    key: Some(v.as_bytes()),
                    value: Some(v.as_bytes()),
                    ..Default::default()
                },
                T,
            )
            .unwrap();
        }
        let mut failed = 0;
        p.flush(T, |r| failed += usize::from(r.error.is_some()))
            .unwrap();
        assert_eq!(failed, 0);
        p.close(T);
        // The Java client's credentials: a JAAS file (the peer's properties are
        // space-separated, and a JAAS line has spaces).
        let dir = scratch_dir("sasl-jaas");
        std::fs::create_dir_all(&dir).unwrap();
        let jaas = dir.join("client.jaas");
        std::fs::write(
            &jaas,
            format!(
                "KafkaClient {{\n org.apache.kafka.common.security.scram.ScramLoginModule \
                 required username=\"{USER}\" password=\"{PASSWORD}\";\n}};\n"
            ),
        )
        .unwrap();
        let mut cmd = Command::new("java");
        cmd.args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg("-Dkafkac.test.node=java-peer")
            .arg("-Dlog4j2.level=WARN")
            .arg(format!(
                "-Djava.security.auth.login.config={}",
                jaas.display()
            ))
            .arg("-cp")
            .arg(format!(
                "{}:{}",
                peer_classes().display(),
                kafka::classpath()
            ))
            .arg("Peer");
        let line = format!(
            "group-consume {} sasl-java-group {topic} range classic {n} 5000 sync \
             security.protocol=SASL_SSL sasl.mechanism=SCRAM-SHA-512 \
             ssl.truststore.type=PEM ssl.truststore.location={}\n",
            addr("SASL_SSL"),
            ca_file()
        );
        let done = common::run_bounded(cmd, Some(line.into_bytes()), Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("java: {e}"));
        let out = String::from_utf8_lossy(&done.stdout).into_owned();
        let got: BTreeSet<String> = out
            .lines()
            .filter_map(|l| l.strip_prefix("rec "))
            .filter_map(|l| l.split(' ').nth(2))
            .map(|hex| {
                let hex = hex.trim_start_matches(':');
                let bytes: Vec<u8> = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
                String::from_utf8(bytes).unwrap()
            })
            .collect();
        let want: BTreeSet<String> = (0..n).map(|i| format!("j{i}")).collect();
        assert!(
            out.lines().any(|l| l == format!("ok {n}")),
            "java peer:\n{out}\n{}",
            done.stderr_text()
        );
        assert_eq!(got, want);
    });
}

#[test]
fn the_c_api_hides_the_password_and_refuses_kerberos() {
    use common::ffi::{assert_err, assert_ok, cs};
    use kafkac::ffi::*;
    let conf = kc_conf_new();
    assert!(!conf.is_null());
    // SAFETY: a live handle and NUL-terminated strings; buffers of the sizes given.
    unsafe {
        assert_ok(kc_conf_set(
            conf,
            cs("sasl.password").as_ptr(),
            cs("hunter2").as_ptr(),
        ));
        let mut buf = [0u8; 64];
        let mut len = buf.len();
        assert_ok(kc_conf_get(
            conf,
            cs("sasl.password").as_ptr(),
            buf.as_mut_ptr().cast(),
            &mut len,
        ));
        assert_eq!(&buf[..len], b"[set]");
        let rc = kc_conf_set(conf, cs("sasl.mechanisms").as_ptr(), cs("GSSAPI").as_ptr());
        let msg = assert_err(rc, KC_ERR__INVALID_CONFIG, &["Kerberos", "sasl.mechanism"]);
        assert!(!msg.contains("hunter2"), "{msg}");
        assert_eq!(KC_ERR__AUTHENTICATION, local::AUTHENTICATION);
        kc_conf_free(conf);
    }
}
