//! TLS (`security.protocol=ssl`) against Apache Kafka 4.3 with SSL listeners whose
//! certificates the test makes (rcgen): a CA, a broker certificate for 127.0.0.1 and
//! localhost, an expired one, one for another host, and a client certificate.
//!
//! One single-node cluster, shared, with a PLAINTEXT listener and four SSL listeners:
//! `SSL` (the good certificate), `MTLS` (the same, `ssl.client.auth=required`),
//! `EXPIRED` and `WRONGHOST`. Kafka reads them as PEM stores
//! (`ssl.keystore.type=PEM`, `ssl.truststore.type=PEM`).

mod common;

use common::client::{config_with, create_topic, metadata_fails_with};
use common::kafka::KafkaCluster;
use common::records::record;
use common::{scratch_dir, with_timeout};
use kafkac::error::local;
use kafkac::producer::{Message, Producer};
use kafkac::record::{Compression, RecordIn};
use kafkac::{Client, Config};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Timeout of one client call.
const T: Duration = Duration::from_secs(20);
/// Limit for one test (includes starting the shared cluster).
const LIMIT: Duration = Duration::from_secs(150);
/// The connection set-up timeout the error tests use: a failure must come before it.
const SETUP_MS: u64 = 8000;

/// The files the test made, in PEM.
struct Pki {
    dir: PathBuf,
    /// CA certificate that signs the brokers' and the client's certificates.
    ca: String,
    /// Another CA, that signed nothing the broker shows.
    other_ca: String,
    client_cert: String,
    client_key: String,
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    (p.self_signed(&key).unwrap(), key)
}

fn leaf(
    names: &[&str],
    cn: &str,
    usage: ExtendedKeyUsagePurpose,
    expired: bool,
    (ca, ca_key): &(rcgen::Certificate, KeyPair),
) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut p = CertificateParams::new(names).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![usage];
    if expired {
        p.not_before = date_time_ymd(2020, 1, 1);
        p.not_after = date_time_ymd(2021, 1, 1);
    }
    let cert = p.signed_by(&key, ca, ca_key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = scratch_dir("tls-pki");
        std::fs::create_dir_all(&dir).unwrap();
        let the_ca = ca("kafkac test CA");
        let other = ca("kafkac other CA");
        let server = ExtendedKeyUsagePurpose::ServerAuth;
        let stores = [
            (
                "broker",
                leaf(
                    &["127.0.0.1", "localhost"],
                    "broker",
                    server.clone(),
                    false,
                    &the_ca,
                ),
            ),
            (
                "expired",
                leaf(
                    &["127.0.0.1", "localhost"],
                    "expired",
                    server.clone(),
                    true,
                    &the_ca,
                ),
            ),
            (
                "wronghost",
                leaf(&["wrong.example.com"], "wronghost", server, false, &the_ca),
            ),
        ];
        for (name, (cert, key)) in &stores {
            // Kafka's PEM keystore file: the key and the certificate chain.
            std::fs::write(dir.join(format!("{name}.pem")), format!("{key}{cert}")).unwrap();
        }
        let ca_pem = the_ca.0.pem();
        std::fs::write(dir.join("ca.pem"), &ca_pem).unwrap();
        let (client_cert, client_key) = leaf(
            &["kafkac-client"],
            "kafkac-client",
            ExtendedKeyUsagePurpose::ClientAuth,
            false,
            &the_ca,
        );
        std::fs::write(dir.join("client.pem"), &client_cert).unwrap();
        std::fs::write(dir.join("client.key"), &client_key).unwrap();
        Pki {
            dir,
            ca: ca_pem,
            other_ca: other.0.pem(),
            client_cert,
            client_key,
        }
    })
}

fn cluster() -> &'static KafkaCluster {
    static CLUSTER: OnceLock<KafkaCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let d = &pki().dir;
        let file = |n: &str| d.join(n).display().to_string();
        let (broker, expired, wronghost, ca) = (
            file("broker.pem"),
            file("expired.pem"),
            file("wronghost.pem"),
            file("ca.pem"),
        );
        KafkaCluster::start_with_listeners(
            1,
            &["SSL", "MTLS", "EXPIRED", "WRONGHOST"],
            &[
                ("ssl.keystore.type", "PEM"),
                ("ssl.keystore.location", &broker),
                ("ssl.truststore.type", "PEM"),
                ("ssl.truststore.location", &ca),
                ("listener.name.mtls.ssl.client.auth", "required"),
                ("listener.name.expired.ssl.keystore.location", &expired),
                ("listener.name.wronghost.ssl.keystore.location", &wronghost),
            ],
        )
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

fn ca_file() -> String {
    pki().dir.join("ca.pem").display().to_string()
}

/// A TLS client of `listener` that trusts the test CA, with `settings` on top.
fn tls_client(listener: &str, settings: &[(&str, &str)]) -> Client {
    let ca = ca_file();
    let mut all = vec![
        ("security.protocol", "ssl"),
        ("ssl.ca.location", ca.as_str()),
    ];
    all.extend_from_slice(settings);
    Client::new(&config(&addr(listener), &all)).unwrap()
}

/// Metadata through `c` fails fast (before the set-up timeout) with `code`, and the
/// message names the broker and contains `cause`.
fn fails_with(c: &Client, bootstrap: &str, code: i32, cause: &str) {
    metadata_fails_with(
        c,
        bootstrap,
        code,
        cause,
        T,
        Duration::from_millis(SETUP_MS),
    );
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
    let vals: Vec<Vec<u8>> = (0..100).map(|i| format!("tls-{i}").into_bytes()).collect();
    let recs: Vec<RecordIn> = vals.iter().map(|v| record(None, Some(v))).collect();
    let base = c
        .produce(topic, 0, &recs, -1, Compression::Zstd, T)
        .unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + T;
    while got.len() < vals.len() && Instant::now() < deadline {
        let f = c
            .fetch(
                topic,
                0,
                base + got.len() as i64,
                1 << 20,
                Duration::from_millis(200),
                T,
            )
            .unwrap();
        got.extend(f.records.iter().map(|r| r.value.unwrap().to_vec()));
    }
    assert_eq!(got, vals);
}

#[test]
fn metadata_produce_fetch_over_tls() {
    with_timeout(LIMIT, || {
        let c = tls_client("SSL", &[]);
        round_trip(&c, "tls-roundtrip");
        // By name too: the certificate names localhost.
        let port = addr("SSL").rsplit(':').next().unwrap().to_owned();
        let ca = ca_file();
        let by_name = Client::new(&config(
            &format!("localhost:{port}"),
            &[("security.protocol", "SSL"), ("ssl.ca.location", &ca)],
        ))
        .unwrap();
        by_name.metadata(None, T).unwrap();
    });
}

#[test]
fn async_producer_over_tls() {
    with_timeout(LIMIT, || {
        let c = tls_client("SSL", &[]);
        create_topic(&c, "tls-producer", 1, 1, &[], T);
        let ca = pki().ca.clone();
        let p = Producer::new(&config(
            &addr("SSL"),
            &[("security.protocol", "ssl"), ("ssl.ca.pem", &ca)],
        ))
        .unwrap();
        let n = 2000;
        for i in 0..n {
            let v = format!("v{i}");
            let m = Message {
                topic: "tls-producer",
                partition: 0,
                value: Some(v.as_bytes()),
                opaque: i,
                ..Default::default()
            };
            p.send_blocking(&m, T).unwrap();
        }
        let mut reports = Vec::new();
        p.flush(T, |r| reports.push(r.clone())).unwrap();
        assert_eq!(reports.len(), n);
        assert!(
            reports.iter().all(|r| r.error.is_none()),
            "{:?}",
            reports.iter().find(|r| r.error.is_some())
        );
        let mut offsets: Vec<i64> = reports.iter().map(|r| r.offset).collect();
        offsets.sort_unstable();
        assert_eq!(offsets, (0..n as i64).collect::<Vec<_>>());
        p.close(T);
    });
}

#[test]
fn mutual_tls_with_a_client_certificate() {
    with_timeout(LIMIT, || {
        let d = &pki().dir;
        let (cert, key) = (
            d.join("client.pem").display().to_string(),
            d.join("client.key").display().to_string(),
        );
        let c = tls_client(
            "MTLS",
            &[
                ("ssl.certificate.location", &cert),
                ("ssl.key.location", &key),
            ],
        );
        round_trip(&c, "tls-mtls");
        // The same in PEM text.
        let (cert, key) = (pki().client_cert.clone(), pki().client_key.clone());
        let c = tls_client(
            "MTLS",
            &[("ssl.certificate.pem", &cert), ("ssl.key.pem", &key)],
        );
        c.metadata(None, T).unwrap();
        // Without one, the broker refuses the handshake.
        let c = tls_client("MTLS", &[]);
        fails_with(&c, &addr("MTLS"), local::SSL, "client certificate");
    });
}

#[test]
fn untrusted_certificate() {
    with_timeout(LIMIT, || {
        let other = pki().other_ca.clone();
        let c = Client::new(&config(
            &addr("SSL"),
            &[("security.protocol", "ssl"), ("ssl.ca.pem", &other)],
        ))
        .unwrap();
        fails_with(&c, &addr("SSL"), local::SSL, "not trusted");
        // Verification off: any certificate is accepted.
        let c = Client::new(&config(
            &addr("SSL"),
            &[
                ("security.protocol", "ssl"),
                ("ssl.ca.pem", &other),
                ("enable.ssl.certificate.verification", "false"),
            ],
        ))
        .unwrap();
        c.metadata(None, T).unwrap();
    });
}

#[test]
fn hostname_mismatch() {
    with_timeout(LIMIT, || {
        let c = tls_client("WRONGHOST", &[]);
        fails_with(&c, &addr("WRONGHOST"), local::SSL, "hostname mismatch");
        // none skips the host name only: the certificate is still verified.
        let c = tls_client(
            "WRONGHOST",
            &[("ssl.endpoint.identification.algorithm", "none")],
        );
        c.metadata(None, T).unwrap();
        let other = pki().other_ca.clone();
        let c = Client::new(&config(
            &addr("WRONGHOST"),
            &[
                ("security.protocol", "ssl"),
                ("ssl.ca.pem", &other),
                ("ssl.endpoint.identification.algorithm", "none"),
            ],
        ))
        .unwrap();
        fails_with(&c, &addr("WRONGHOST"), local::SSL, "not trusted");
    });
}

#[test]
fn expired_certificate() {
    with_timeout(LIMIT, || {
        let c = tls_client("EXPIRED", &[]);
        fails_with(&c, &addr("EXPIRED"), local::SSL, "expired");
        let c = tls_client(
            "EXPIRED",
            &[("ssl.endpoint.identification.algorithm", "none")],
        );
        fails_with(&c, &addr("EXPIRED"), local::SSL, "expired");
        let c = tls_client(
            "EXPIRED",
            &[("enable.ssl.certificate.verification", "false")],
        );
        c.metadata(None, T).unwrap();
    });
}

#[test]
fn tls_client_on_a_plaintext_listener() {
    with_timeout(LIMIT, || {
        let plain = cluster().nodes[0].addr.clone();
        let ca = ca_file();
        let c = Client::new(&config(
            &plain,
            &[("security.protocol", "ssl"), ("ssl.ca.location", &ca)],
        ))
        .unwrap();
        fails_with(&c, &plain, local::SSL, "plaintext listener");
    });
}

#[test]
fn plaintext_client_on_a_tls_listener() {
    with_timeout(LIMIT, || {
        let tls = addr("SSL");
        let c = Client::new(&config(&tls, &[])).unwrap();
        fails_with(&c, &tls, local::SSL, "security.protocol=ssl");
    });
}

#[test]
fn bad_settings_are_refused_at_creation() {
    let new = |settings: &[(&str, &str)]| match Client::new(&config("127.0.0.1:9", settings)) {
        Ok(_) => panic!("{settings:?} should be refused"),
        Err(e) => e,
    };
    let e = new(&[
        ("security.protocol", "ssl"),
        ("ssl.ca.location", "/nonexistent/ca.pem"),
    ]);
    assert_eq!(e.code, local::INVALID_CONFIG);
    assert!(e.message.contains("'ssl.ca.location'"), "{e}");
    let e = new(&[("security.protocol", "ssl"), ("ssl.ca.pem", "garbage")]);
    assert!(e.message.contains("'ssl.ca.pem'"), "{e}");
    let cert = pki().client_cert.clone();
    let e = new(&[("security.protocol", "ssl"), ("ssl.certificate.pem", &cert)]);
    assert!(
        e.message.contains("'ssl.certificate.pem'") && e.message.contains("key"),
        "{e}"
    );
    let e = new(&[
        ("security.protocol", "ssl"),
        ("ssl.certificate.pem", &cert),
        (
            "ssl.key.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ),
    ]);
    assert!(e.message.contains("'ssl.key.pem'"), "{e}");
    assert!(
        !e.message.contains("AAAA"),
        "key material in the message: {e}"
    );
    // Kerberos is refused when set (SASL itself: tests/sasl_kafka.rs).
    let mut c = Config::new();
    c.set("security.protocol", "SASL_SSL").unwrap();
    let e = c.set("sasl.mechanism", "GSSAPI").unwrap_err();
    assert_eq!(e.code, local::INVALID_CONFIG);
    assert!(e.message.contains("Kerberos"), "{e}");
    // Secrets are not given back.
    c.set("ssl.key.password", "hunter2").unwrap();
    assert_eq!(c.get("ssl.key.password").unwrap(), "[set]");
}
