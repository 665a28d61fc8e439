//! TLS (`security.protocol=ssl`) against Apache Kafka 4.3 with SSL listeners whose
//! certificates the test makes (rcgen): a CA, a broker certificate for 127.0.0.1 and
//! localhost, an expired one, one for another host, and a client certificate.
//!
//! One single-node cluster, shared, with a PLAINTEXT listener and four SSL listeners:
//! `SSL` (the good certificate), `MTLS` (the same, `ssl.client.auth=required`),
//! `EXPIRED` and `WRONGHOST`. Kafka reads them as PEM stores
//! (`ssl.keystore.type=PEM`, `ssl.truststore.type=PEM`).
//!
//! The client's PKCS#12 keystores (`ssl.keystore.location`) are made by the openssl CLI
//! (`openssl pkcs12 -export`), which these tests need.

mod clib;
mod common;

use common::client::{config_with, create_topic, group_round_trip, metadata_fails_with};
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
use std::process::Command;
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

/// A group consumer over TLS and over mTLS reads what was written and commits: the
/// coordinator's connection is TLS like the others.
#[test]
fn group_consumption_over_tls_and_mtls() {
    with_timeout(LIMIT, || {
        let d = &pki().dir;
        let (cert, key) = (
            d.join("client.pem").display().to_string(),
            d.join("client.key").display().to_string(),
        );
        let ca = ca_file();
        for (listener, extra) in [
            ("SSL", vec![]),
            (
                "MTLS",
                vec![
                    ("ssl.certificate.location", cert.as_str()),
                    ("ssl.key.location", key.as_str()),
                ],
            ),
        ] {
            let topic = format!("tls-group-{listener}").to_lowercase();
            let group = format!("{topic}-g");
            let c = tls_client(listener, &extra);
            let mut settings = vec![
                ("security.protocol", "ssl"),
                ("ssl.ca.location", ca.as_str()),
                ("group.id", group.as_str()),
                ("auto.offset.reset", "earliest"),
                ("enable.auto.commit", "false"),
            ];
            settings.extend_from_slice(&extra);
            let consumer = config(&addr(listener), &settings);
            group_round_trip(&c, &consumer, &topic, listener, T);
        }
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

// ----- PKCS#12 keystores (ssl.keystore.location / ssl.keystore.password) ---------------

const P12_PASSWORD: &str = "p12-s3cret";

/// `openssl pkcs12 -export` of the client's certificate and key, with the test CA in the
/// chain, into `<name>.p12` under `P12_PASSWORD`; `args` on top choose the encryption.
/// Each caller uses its own `name`.
fn p12(name: &str, args: &[&str]) -> String {
    p12_with_password(name, args, P12_PASSWORD)
}

/// [`p12`] under `password`.
fn p12_with_password(name: &str, args: &[&str], password: &str) -> String {
    let d = &pki().dir;
    let out = d.join(format!("{name}.p12"));
    let mut cmd = Command::new("openssl");
    cmd.args(["pkcs12", "-export", "-in"])
        .arg(d.join("client.pem"))
        .arg("-inkey")
        .arg(d.join("client.key"))
        .arg("-certfile")
        .arg(d.join("ca.pem"))
        .arg("-out")
        .arg(&out)
        .arg("-passout")
        .arg(format!("pass:{password}"))
        .args(args);
    let done = common::run_bounded(cmd, None, Duration::from_secs(30)).unwrap_or_else(|e| {
        panic!(
            "cannot run openssl (the openssl CLI is needed; install it with \
             scripts/install-deps.sh): {e}"
        )
    });
    assert!(
        done.status.map(|s| s.success()) == Some(true),
        "openssl pkcs12 -export {args:?} failed: {}",
        done.stderr_text()
    );
    out.display().to_string()
}

/// The encryptions a keystore is tested with: OpenSSL 3's default (PBES2: PBKDF2-SHA256,
/// AES-256-CBC; MAC HMAC-SHA-256), its `-legacy` (RC2-40 certificates, 3DES key, SHA-1
/// MAC), and 3DES throughout as Java 8 and OpenSSL 1.1 wrote.
const P12_KINDS: [(&str, &[&str]); 3] = [
    ("client-aes", &[]),
    ("client-legacy", &["-legacy"]),
    (
        "client-3des",
        &[
            "-certpbe",
            "PBE-SHA1-3DES",
            "-keypbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
        ],
    ),
];

#[test]
fn mutual_tls_with_a_pkcs12_keystore() {
    with_timeout(LIMIT, || {
        for (name, args) in P12_KINDS {
            let ks = p12(name, args);
            let c = tls_client(
                "MTLS",
                &[
                    ("ssl.keystore.location", &ks),
                    ("ssl.keystore.password", P12_PASSWORD),
                ],
            );
            round_trip(&c, &format!("tls-{name}"));
        }
        // The producer takes it the same way.
        let ks = p12("client-producer", &[]);
        let ca = ca_file();
        let p = Producer::new(&config(
            &addr("MTLS"),
            &[
                ("security.protocol", "ssl"),
                ("ssl.ca.location", &ca),
                ("ssl.keystore.location", &ks),
                ("ssl.keystore.password", P12_PASSWORD),
            ],
        ))
        .unwrap();
        let m = Message {
            topic: "tls-client-aes",
            partition: 0,
            value: Some(b"from the producer"),
            ..Default::default()
        };
        p.send_blocking(&m, T).unwrap();
        let mut reports = Vec::new();
        p.flush(T, |r| reports.push(r.clone())).unwrap();
        assert_eq!(reports.len(), 1);
        assert!(reports[0].error.is_none(), "{:?}", reports[0]);
        p.close(T);
    });
}

/// Client creation with `settings` on top of security.protocol=ssl fails; the error.
fn refused(settings: &[(&str, &str)]) -> kafkac::error::Error {
    let mut all = vec![("security.protocol", "ssl")];
    all.extend_from_slice(settings);
    match Client::new(&config("127.0.0.1:9", &all)) {
        Ok(_) => panic!("{settings:?} should be refused"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_names(e: &kafkac::error::Error, parts: &[&str]) {
    assert_eq!(e.code, local::INVALID_CONFIG, "{e}");
    for p in parts {
        assert!(e.message.contains(p), "{p:?} not in: {e}");
    }
    for secret in [P12_PASSWORD, "wrong-pw"] {
        assert!(
            !e.message.contains(secret),
            "a password in the message: {e}"
        );
    }
}

#[test]
fn pkcs12_keystore_errors_are_refused_at_creation() {
    let ks = p12("client-errors", &[]);
    // Every supported kind opens (offline: the client is made, nothing is sent), PBES2
    // with 3DES too.
    let pbes2_3des: [(&str, &[&str]); 1] = [(
        "client-pbes2-3des",
        &["-keypbe", "DES-EDE3-CBC", "-certpbe", "DES-EDE3-CBC"],
    )];
    for (name, args) in P12_KINDS.iter().chain(&pbes2_3des) {
        let ks = p12(&format!("{name}-offline"), args);
        Client::new(&config(
            "127.0.0.1:9",
            &[
                ("security.protocol", "ssl"),
                ("ssl.keystore.location", &ks),
                ("ssl.keystore.password", P12_PASSWORD),
            ],
        ))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // An empty password: set empty, or not set.
    let empty = p12_with_password("client-empty-pw", &[], "");
    for password in [Some(""), None] {
        let mut settings = vec![
            ("security.protocol", "ssl"),
            ("ssl.keystore.location", empty.as_str()),
        ];
        settings.extend(password.map(|p| ("ssl.keystore.password", p)));
        Client::new(&config("127.0.0.1:9", &settings))
            .unwrap_or_else(|e| panic!("empty password {password:?}: {e}"));
    }
    // Wrong password, and none.
    let e = refused(&[
        ("ssl.keystore.location", &ks),
        ("ssl.keystore.password", "wrong-pw"),
    ]);
    assert_eq!(
        e.message,
        format!(
            "configuration property 'ssl.keystore.password': cannot open the PKCS#12 \
             keystore '{ks}' (wrong password; or a damaged file)"
        )
    );
    assert_names(&e, &[]);
    let e = refused(&[("ssl.keystore.location", &ks)]);
    assert_names(
        &e,
        &["'ssl.keystore.password'", "wrong password", "is not set"],
    );
    // A file that is not there.
    let e = refused(&[
        ("ssl.keystore.location", "/nonexistent/client.p12"),
        ("ssl.keystore.password", P12_PASSWORD),
    ]);
    assert_names(
        &e,
        &[
            "configuration property 'ssl.keystore.location': cannot read \
             '/nonexistent/client.p12'",
        ],
    );
    // A damaged file: cut short, or one byte changed inside (the MAC no longer matches).
    let bytes = std::fs::read(&ks).unwrap();
    let d = &pki().dir;
    let short = d.join("short.p12");
    std::fs::write(&short, &bytes[..bytes.len() / 2]).unwrap();
    let short = short.display().to_string();
    let e = refused(&[
        ("ssl.keystore.location", &short),
        ("ssl.keystore.password", P12_PASSWORD),
    ]);
    assert_names(
        &e,
        &[
            "'ssl.keystore.location'",
            &format!("'{short}' is not a valid PKCS#12 keystore"),
        ],
    );
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    let flipped_path = d.join("flipped.p12");
    std::fs::write(&flipped_path, &flipped).unwrap();
    let e = refused(&[
        ("ssl.keystore.location", &flipped_path.display().to_string()),
        ("ssl.keystore.password", P12_PASSWORD),
    ]);
    assert_names(&e, &["'ssl.keystore.password'", "or a damaged file"]);
    // A PEM file given as a keystore.
    let pem = d.join("client.pem").display().to_string();
    let e = refused(&[("ssl.keystore.location", &pem)]);
    assert_names(
        &e,
        &["'ssl.keystore.location'", "is PEM, not a PKCS#12 keystore"],
    );
    // A keystore with certificates only.
    let no_key = p12("client-nokey", &["-nokeys"]);
    let e = refused(&[
        ("ssl.keystore.location", &no_key),
        ("ssl.keystore.password", P12_PASSWORD),
    ]);
    assert_names(&e, &["'ssl.keystore.location'", "holds no private key"]);
    // A MAC the reader does not know: the message lists what it reads.
    let sha512 = p12("client-sha512", &["-macalg", "sha512"]);
    let e = refused(&[
        ("ssl.keystore.location", &sha512),
        ("ssl.keystore.password", P12_PASSWORD),
    ]);
    assert_names(
        &e,
        &[
            "'ssl.keystore.location'",
            "unsupported encryption or MAC algorithm",
            "AES-128/192/256-CBC",
            "PBE-SHA1-3DES",
        ],
    );
    // A cipher it does not know.
    let camellia = p12(
        "client-camellia",
        &[
            "-keypbe",
            "CAMELLIA-256-CBC",
            "-certpbe",
            "CAMELLIA-256-CBC",
        ],
    );
    let e = refused(&[
        ("ssl.keystore.location", &camellia),
        ("ssl.keystore.password", P12_PASSWORD),
    ]);
    assert_names(
        &e,
        &[
            "'ssl.keystore.location'",
            "unsupported encryption or MAC algorithm",
        ],
    );
    // With the PEM pair too: both properties named.
    let cert = pki().client_cert.clone();
    for (other, value) in [
        ("ssl.certificate.location", pem.as_str()),
        ("ssl.certificate.pem", cert.as_str()),
        ("ssl.key.location", "/some/client.key"),
        ("ssl.key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n"),
    ] {
        let e = refused(&[
            ("ssl.keystore.location", &ks),
            ("ssl.keystore.password", P12_PASSWORD),
            (other, value),
        ]);
        assert_eq!(
            e.message,
            format!(
                "configuration property 'ssl.keystore.location': set either \
                 'ssl.keystore.location' or '{other}', not both (the keystore holds the \
                 client's certificate and key)"
            )
        );
        assert_names(&e, &[]);
    }
    // The password is a secret.
    let mut c = Config::new();
    c.set("ssl.keystore.password", P12_PASSWORD).unwrap();
    assert_eq!(c.get("ssl.keystore.password").unwrap(), "[set]");
    assert!(!format!("{c:?}").contains(P12_PASSWORD), "{c:?}");
}

fn example(name: &str) -> PathBuf {
    clib::example(name, "tls-examples")
}

#[test]
fn c_examples_take_a_pkcs12_keystore_through_x() {
    with_timeout(Duration::from_secs(600), || {
        let (metadata, produce, fetch) =
            (example("metadata"), example("produce"), example("fetch"));
        let b = addr("MTLS");
        let ks = p12("client-c", &["-legacy"]);
        let ca = ca_file();
        let x: Vec<String> = [
            "security.protocol=SSL".to_string(),
            format!("ssl.ca.location={ca}"),
            format!("ssl.keystore.location={ks}"),
            format!("ssl.keystore.password={P12_PASSWORD}"),
        ]
        .iter()
        .flat_map(|p| ["-X".to_string(), p.clone()])
        .collect();
        let x: Vec<&str> = x.iter().map(String::as_str).collect();
        let admin = tls_client("SSL", &[]);
        create_topic(&admin, "tls-p12-c", 1, 1, &[], T);
        let (code, out, err) = common::run_example(
            &metadata,
            &[&[b.as_str(), "tls-p12-c"], &x[..]].concat(),
            b"",
        );
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains("partition tls-p12-c 0 leader 1"), "{out}");
        let (code, out, err) = common::run_example(
            &produce,
            &[&[b.as_str(), "tls-p12-c", "0"], &x[..]].concat(),
            b"one\ntwo\n",
        );
        assert_eq!(code, Some(0), "{out}{err}");
        let (code, out, err) = common::run_example(
            &fetch,
            &[&[b.as_str(), "tls-p12-c", "0", "0", "-c", "2"], &x[..]].concat(),
            b"",
        );
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains("one") && out.contains("two"), "{out}");
        // A wrong password: refused at creation, naming the property, not the password.
        let mut bad = x.clone();
        let i = bad
            .iter()
            .position(|a| a.starts_with("ssl.keystore.password="))
            .unwrap();
        bad[i] = "ssl.keystore.password=wrong-pw";
        let (code, out, err) =
            common::run_example(&metadata, &[&[b.as_str()], &bad[..]].concat(), b"");
        assert_ne!(code, Some(0), "{out}{err}");
        assert!(
            err.contains("_INVALID_CONFIG") && err.contains("'ssl.keystore.password'"),
            "{err}"
        );
        assert!(
            !err.contains("wrong-pw") && !err.contains(P12_PASSWORD),
            "{err}"
        );
    });
}

#[test]
fn the_c_api_hides_the_keystore_password_and_names_it_on_failure() {
    use common::ffi::{assert_err, assert_ok, cs, Out};
    use kafkac::ffi::*;
    let ks = p12("client-ffi", &[]);
    let conf = kc_conf_new();
    assert!(!conf.is_null());
    // SAFETY: a live handle and NUL-terminated strings; buffers of the sizes given; the
    // out-parameter is ours.
    unsafe {
        for (k, v) in [
            ("bootstrap.servers", "127.0.0.1:9"),
            ("security.protocol", "SSL"),
            ("ssl.keystore.location", ks.as_str()),
            ("ssl.keystore.password", "wrong-pw"),
        ] {
            assert_ok(kc_conf_set(conf, cs(k).as_ptr(), cs(v).as_ptr()));
        }
        let mut buf = [0u8; 64];
        let mut len = buf.len();
        assert_ok(kc_conf_get(
            conf,
            cs("ssl.keystore.password").as_ptr(),
            buf.as_mut_ptr().cast(),
            &mut len,
        ));
        assert_eq!(&buf[..len], b"[set]");
        let mut out = Out::<*mut kc_client_t>::new();
        let msg = assert_err(
            kc_client_new(conf, out.ptr()),
            KC_ERR__INVALID_CONFIG,
            &["'ssl.keystore.password'", "wrong password", &ks],
        );
        out.assert_untouched("kc_client_new");
        assert!(!msg.contains("wrong-pw"), "{msg}");
        // The right password: the client is made.
        assert_ok(kc_conf_set(
            conf,
            cs("ssl.keystore.password").as_ptr(),
            cs(P12_PASSWORD).as_ptr(),
        ));
        let mut out = Out::<*mut kc_client_t>::new();
        assert_ok(kc_client_new(conf, out.ptr()));
        kc_client_free(out.get());
        kc_conf_free(conf);
    }
}
