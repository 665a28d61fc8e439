//! Client configuration: string key/value properties with librdkafka's names and meanings.
//! An unknown key or a bad value is refused when it is set, with a message naming both.

use crate::error::{local, Error, Result};
use crate::net::sasl::UnsecuredJwt;
use crate::net::{Mechanism, SaslConfig, TlsConfig, TlsOptions};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How a property's value is checked.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    /// Non-empty string.
    NonEmpty,
    Int(i64, i64),
    Bool,
    Enum(&'static [&'static str]),
}

struct Prop {
    name: &'static str,
    kind: Kind,
    default: &'static str,
    doc: &'static str,
}

const fn p(name: &'static str, kind: Kind, default: &'static str, doc: &'static str) -> Prop {
    Prop {
        name,
        kind,
        default,
        doc,
    }
}

const MAX_MS: i64 = 3_600_000;

/// Every property the client accepts.
static PROPS: &[Prop] = &[
    p(
        "bootstrap.servers",
        Kind::Str,
        "",
        "Comma-separated host:port list of initial brokers.",
    ),
    p(
        "metadata.broker.list",
        Kind::Str,
        "",
        "Alias of bootstrap.servers.",
    ),
    p(
        "client.id",
        Kind::Str,
        "kafkac",
        "Client identifier sent to brokers.",
    ),
    p(
        "socket.timeout.ms",
        Kind::Int(10, MAX_MS),
        "60000",
        "Network timeout of a request: an answer later than this past the time the broker may \
         hold the request (a fetch's maximum wait, a produce's request.timeout.ms) closes the \
         connection as stuck.",
    ),
    p(
        "socket.connection.setup.timeout.ms",
        Kind::Int(1, MAX_MS),
        "30000",
        "Time allowed to connect to one broker address and complete the ApiVersions handshake.",
    ),
    p(
        "request.timeout.ms",
        Kind::Int(1, 900_000),
        "30000",
        "Producer acknowledgement timeout, enforced by the broker: how long the partition \
         leader may wait for the in-sync replicas (sent in each Produce request with acks != 0; \
         never more than what remains of the call's own timeout).",
    ),
    p(
        "retry.backoff.ms",
        Kind::Int(1, 300_000),
        "100",
        "First backoff before a retry.",
    ),
    p(
        "retry.backoff.max.ms",
        Kind::Int(1, 300_000),
        "1000",
        "Largest backoff between retries (the backoff doubles up to it).",
    ),
    p(
        "receive.message.max.bytes",
        Kind::Int(1000, 2_147_483_647),
        "100000000",
        "Largest response frame accepted; larger ones are refused before allocation.",
    ),
    p(
        "max.in.flight.requests.per.connection",
        Kind::Int(1, 1_000_000),
        "1000000",
        "Requests written to one connection and not yet answered; more wait their turn.",
    ),
    p(
        "connections.max.idle.ms",
        Kind::Int(0, 2_147_483_647),
        "0",
        "Close a broker connection that has had no traffic for this long (0: never); it is \
         reopened on next use.",
    ),
    p(
        "reconnect.backoff.ms",
        Kind::Int(0, 3_600_000),
        "100",
        "Wait after a failed connection attempt before the next one to the same broker; \
         doubles with each failure up to reconnect.backoff.max.ms.",
    ),
    p(
        "reconnect.backoff.max.ms",
        Kind::Int(0, 3_600_000),
        "10000",
        "Largest wait between connection attempts to one broker.",
    ),
    p(
        "broker.address.ttl",
        Kind::Int(0, 86_400_000),
        "1000",
        "How long a resolved broker address is kept before the name is looked up again.",
    ),
    p(
        "client.dns.lookup",
        Kind::Enum(&["use_all_dns_ips"]),
        "use_all_dns_ips",
        "Every address a name resolves to is tried in turn.",
    ),
    p(
        "metadata.recovery.strategy",
        Kind::Enum(&["rebootstrap", "none"]),
        "rebootstrap",
        "When no known broker can be reached: rebootstrap tries bootstrap.servers again \
         (KIP-899); none gives up.",
    ),
    p(
        "io.threads",
        Kind::Int(1, 64),
        "1",
        "I/O threads that own the broker connections (each connection belongs to one).",
    ),
    p(
        "metadata.max.age.ms",
        Kind::Int(1, 86_400_000),
        "900000",
        "Cached metadata older than this is refreshed before use.",
    ),
    p(
        "topic.metadata.refresh.interval.ms",
        Kind::Int(-1, MAX_MS),
        "300000",
        "Refresh the metadata of every known topic this often, in the background (-1 or 0: \
         only on demand).",
    ),
    p(
        "api.version.request",
        Kind::Bool,
        "true",
        "Ask each broker for its supported API versions (must be true).",
    ),
    p(
        "broker.address.family",
        Kind::Enum(&["any", "v4", "v6"]),
        "any",
        "Address family used for broker connections.",
    ),
    p(
        "socket.nagle.disable",
        Kind::Bool,
        "true",
        "Disable Nagle's algorithm (TCP_NODELAY).",
    ),
    p(
        "fetch.max.decompressed.bytes",
        Kind::Int(1024, 2_147_483_647),
        "104857600",
        "Memory budget of one fetch call, shared by all its partitions: the decompressed \
         bytes plus the decoded record index (about 40 bytes a record); more is refused \
         before it is allocated (decompression-bomb guard).",
    ),
    p(
        "check.crcs",
        Kind::Bool,
        "true",
        "Verify record batch CRCs on fetch.",
    ),
    p(
        "compression.type",
        Kind::Enum(&["none", "gzip", "snappy", "lz4", "zstd"]),
        "none",
        "Default compression for produce.",
    ),
    p(
        "compression.codec",
        Kind::Enum(&["none", "gzip", "snappy", "lz4", "zstd"]),
        "none",
        "Alias of compression.type.",
    ),
    p(
        "compression.level",
        Kind::Int(-1, 22),
        "-1",
        "Codec-specific compression level; -1 is the codec's default.",
    ),
    p(
        "acks",
        Kind::Enum(&["0", "1", "-1", "all"]),
        "-1",
        "Default acknowledgements required for produce.",
    ),
    p(
        "request.required.acks",
        Kind::Enum(&["0", "1", "-1", "all"]),
        "-1",
        "Alias of acks.",
    ),
    p(
        "message.max.bytes",
        Kind::Int(1000, 1_000_000_000),
        "1000000",
        "Largest record batch produced.",
    ),
    p(
        "max.in.flight",
        Kind::Int(1, 1_000_000),
        "1000000",
        "Alias of max.in.flight.requests.per.connection.",
    ),
    p(
        "linger.ms",
        Kind::Int(0, 900_000),
        "5",
        "Producer: how long a partition's batch may wait for more messages before it is sent.",
    ),
    p(
        "queue.buffering.max.ms",
        Kind::Int(0, 900_000),
        "5",
        "Alias of linger.ms.",
    ),
    p(
        "batch.num.messages",
        Kind::Int(1, 1_000_000),
        "10000",
        "Producer: most messages in one batch.",
    ),
    p(
        "batch.size",
        Kind::Int(1, i32::MAX as i64),
        "1000000",
        "Producer: most bytes in one batch (before compression).",
    ),
    p(
        "message.timeout.ms",
        Kind::Int(0, i32::MAX as i64),
        "300000",
        "Producer: a message not delivered this long after it was sent gets a failed \
         delivery report (_MSG_TIMED_OUT); 0 waits forever.",
    ),
    p(
        "delivery.timeout.ms",
        Kind::Int(0, i32::MAX as i64),
        "300000",
        "Alias of message.timeout.ms.",
    ),
    p(
        "retries",
        Kind::Int(0, i32::MAX as i64),
        "2147483647",
        "Producer: times a failed batch is sent again (within message.timeout.ms).",
    ),
    p(
        "message.send.max.retries",
        Kind::Int(0, i32::MAX as i64),
        "2147483647",
        "Alias of retries.",
    ),
    p(
        "partitioner",
        Kind::Enum(&[
            "consistent_random",
            "consistent",
            "random",
            "murmur2",
            "murmur2_random",
            "fnv1a",
            "fnv1a_random",
        ]),
        "consistent_random",
        "Producer: how a message without a partition gets one (librdkafka's names and results; \
         murmur2_random is the Java client's).",
    ),
    p(
        "sticky.partitioning.linger.ms",
        Kind::Int(0, 900_000),
        "10",
        "Producer: keyless messages stick to one partition this long (0: a random partition \
         per message). Unset, it is twice linger.ms (at most 900000), as in librdkafka: 10 at \
         the default linger.ms, 0 with linger.ms=0.",
    ),
    p(
        "queue.buffering.max.messages",
        Kind::Int(1, i32::MAX as i64),
        "100000",
        "Producer: most messages queued or in flight, not yet acknowledged.",
    ),
    p(
        "queue.buffering.max.kbytes",
        Kind::Int(1, i32::MAX as i64),
        "1048576",
        "Producer: most payload KiB queued or in flight, not yet acknowledged.",
    ),
    p(
        "message.copy.max.bytes",
        Kind::Int(0, 1_000_000_000),
        "65535",
        "Producer: a value handed over with the free flag (kc_producer_send_flags with \
         KC_MSG_F_FREE) larger than this is written to the broker from the application's \
         buffer instead of copied into the batch (uncompressed batches only).",
    ),
    p(
        "delivery.report.max.messages",
        Kind::Int(1, i32::MAX as i64),
        "1000000",
        "Producer: most delivery reports waiting for kc_producer_poll (each a small fixed-size \
         record; payloads are released at acknowledgement, not here).",
    ),
    p(
        "enable.idempotence",
        Kind::Bool,
        "true",
        "Producer: exactly once and in order per partition (producer id and sequence numbers).",
    ),
    p(
        "transactional.id",
        Kind::Str,
        "",
        "Producer: the transactional id; set, the producer is transactional (idempotent, and \
         messages are sent inside transactions: kc_producer_init_transactions and the rest).",
    ),
    p(
        "transaction.timeout.ms",
        Kind::Int(1000, i32::MAX as i64),
        "60000",
        "Producer: how long a transaction may stay open before the transaction coordinator \
         aborts it. message.timeout.ms is set to it when left unset, and may not exceed it.",
    ),
    p(
        "topic.metadata.propagation.max.ms",
        Kind::Int(0, MAX_MS),
        "30000",
        "Producer: how long messages wait for a topic that the cluster does not (yet) know \
         before they fail with _UNKNOWN_TOPIC. A topic the cluster refuses to describe \
         (TOPIC_AUTHORIZATION_FAILED) fails them at once, with that error.",
    ),
    p(
        "group.id",
        Kind::Str,
        "",
        "Consumer: the consumer group; needed for subscribe and for committing offsets.",
    ),
    p(
        "group.instance.id",
        Kind::Str,
        "",
        "Consumer: a static member's id (KIP-345); empty for a dynamic member.",
    ),
    p(
        "group.protocol",
        Kind::Enum(&["classic", "consumer"]),
        "classic",
        "Consumer: the group protocol: classic (JoinGroup/SyncGroup) or consumer (KIP-848, \
         ConsumerGroupHeartbeat; the broker assigns).",
    ),
    p(
        "partition.assignment.strategy",
        Kind::Str,
        "range,roundrobin",
        "Consumer (classic protocol): the assignors, in order of preference: range, \
         roundrobin, cooperative-sticky.",
    ),
    p(
        "group.remote.assignor",
        Kind::Str,
        "",
        "Consumer (consumer protocol): the broker-side assignor to ask for (uniform, range); \
         empty lets the broker choose.",
    ),
    p(
        "session.timeout.ms",
        Kind::Int(1, MAX_MS),
        "45000",
        "Consumer (classic protocol): the member is removed from the group when no heartbeat \
         reaches the coordinator for this long.",
    ),
    p(
        "heartbeat.interval.ms",
        Kind::Int(1, MAX_MS),
        "3000",
        "Consumer (classic protocol): time between heartbeats.",
    ),
    p(
        "max.poll.interval.ms",
        Kind::Int(1, 86_400_000),
        "300000",
        "Consumer: longest time between two polls before the consumer leaves its group.",
    ),
    p(
        "enable.auto.commit",
        Kind::Bool,
        "true",
        "Consumer: commit offsets in the background every auto.commit.interval.ms (what the \
         application has polled past).",
    ),
    p(
        "auto.commit.interval.ms",
        Kind::Int(0, 86_400_000),
        "5000",
        "Consumer: time between automatic commits.",
    ),
    p(
        "enable.auto.offset.store",
        Kind::Bool,
        "true",
        "Consumer: store the offset of each message the application has polled past, for \
         the next commit; false leaves storing to kc_consumer_store_offset.",
    ),
    p(
        "auto.offset.reset",
        Kind::Enum(&[
            "smallest",
            "earliest",
            "beginning",
            "largest",
            "latest",
            "end",
            "error",
        ]),
        "latest",
        "Consumer: where to start without a committed offset, or when the offset is out of \
         range: earliest, latest, or error (an error event).",
    ),
    p(
        "isolation.level",
        Kind::Enum(&["read_committed", "read_uncommitted"]),
        "read_committed",
        "Consumer: read_committed hides records of aborted and open transactions.",
    ),
    p(
        "fetch.min.bytes",
        Kind::Int(1, 100_000_000),
        "1",
        "Consumer: the broker answers a fetch once it has this many bytes (or \
         fetch.wait.max.ms passed).",
    ),
    p(
        "fetch.wait.max.ms",
        Kind::Int(0, 300_000),
        "500",
        "Consumer: longest time the broker holds a fetch waiting for fetch.min.bytes.",
    ),
    p(
        "fetch.max.bytes",
        Kind::Int(0, 2_147_483_135),
        "52428800",
        "Consumer: most bytes one fetch answer may hold (a batch larger than this still \
         comes, alone, so the consumer can progress).",
    ),
    p(
        "max.partition.fetch.bytes",
        Kind::Int(1, 1_000_000_000),
        "1048576",
        "Consumer: most bytes one fetch answer may hold for one partition.",
    ),
    p(
        "queued.max.messages.kbytes",
        Kind::Int(1, 2_097_151),
        "65536",
        "Consumer: the one memory budget (KiB) for everything fetched and not yet released \
         by the application, decompressed data and record index included.",
    ),
    p(
        "enable.partition.eof",
        Kind::Bool,
        "false",
        "Consumer: an event (_PARTITION_EOF) each time a partition's end is reached.",
    ),
    p(
        "client.rack",
        Kind::Str,
        "",
        "Consumer: the rack of this client, sent with each Fetch (KIP-392): when the leader names a preferred read replica (a broker with replica.selector.class=RackAwareReplicaSelector), the partition is fetched from it until it fails, errs, leaves the metadata or metadata.max.age.ms passes, then from the leader again.",
    ),
    p(
        "debug",
        Kind::Str,
        "",
        "Accepted for compatibility; no debug contexts are implemented.",
    ),
    p(
        "security.protocol",
        Kind::Enum(&["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"]),
        "plaintext",
        "How to talk to brokers: plaintext, ssl (TLS through rustls), sasl_plaintext (SASL \
         authentication, no TLS) or sasl_ssl (SASL over TLS).",
    ),
    p(
        "sasl.mechanism",
        Kind::NonEmpty,
        "GSSAPI",
        "SASL mechanism for security.protocol=sasl_*: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or \
         OAUTHBEARER (alias sasl.mechanisms). The default, GSSAPI (Kerberos), is not \
         supported: set one of the others.",
    ),
    p(
        "sasl.oauthbearer.config",
        Kind::Str,
        "",
        "OAUTHBEARER with enable.sasl.oauthbearer.unsecure.jwt=true: the unsecured JWT's \
         settings, space separated: principal=<name> (required), scopeClaimName=<name>, \
         scope=<a,b>, lifeSeconds=<n> (default 3600), extension_<key>=<value>.",
    ),
    p(
        "enable.sasl.oauthbearer.unsecure.jwt",
        Kind::Bool,
        "false",
        "OAUTHBEARER: make an unsecured JWT (alg none) from sasl.oauthbearer.config, for \
         brokers that accept them (testing). When false, the application supplies the \
         token with kc_client/producer/consumer_oauthbearer_set_token or from a token \
         refresh callback (kc_conf_set_oauthbearer_token_refresh_cb, which is refused \
         when this is true); connections fail with _AUTHENTICATION until it does.",
    ),
    p(
        "sasl.username",
        Kind::Str,
        "",
        "SASL user name (PLAIN, SCRAM).",
    ),
    p(
        "sasl.password",
        Kind::Str,
        "",
        "SASL password (PLAIN, SCRAM). Secret: kc_conf_get does not give it back.",
    ),
    p(
        "ssl.ca.location",
        Kind::Str,
        "",
        "PEM file of the CA certificates that sign the brokers' certificates; with neither \
         this nor ssl.ca.pem, the system's CA store is used.",
    ),
    p(
        "ssl.ca.pem",
        Kind::Str,
        "",
        "CA certificates in PEM text (instead of ssl.ca.location).",
    ),
    p(
        "ssl.certificate.location",
        Kind::Str,
        "",
        "PEM file of the client's certificate (chain), for brokers that require one (mTLS).",
    ),
    p(
        "ssl.certificate.pem",
        Kind::Str,
        "",
        "The client's certificate in PEM text (instead of ssl.certificate.location).",
    ),
    p(
        "ssl.key.location",
        Kind::Str,
        "",
        "PEM file of the client certificate's private key (PKCS#8, PKCS#1 or SEC1; an \
         encrypted PKCS#8 key needs ssl.key.password).",
    ),
    p(
        "ssl.key.pem",
        Kind::Str,
        "",
        "The client's private key in PEM text (instead of ssl.key.location). Secret: \
         kc_conf_get does not give it back.",
    ),
    p(
        "ssl.key.password",
        Kind::Str,
        "",
        "Password of an encrypted PKCS#8 private key. Secret: kc_conf_get does not give it \
         back.",
    ),
    p(
        "ssl.keystore.location",
        Kind::Str,
        "",
        "PKCS#12 file (.p12, .pfx) of the client's certificate chain and private key, for \
         brokers that require a client certificate (mTLS); instead of ssl.certificate.* and \
         ssl.key.*. Encryptions read: PBES2 with PBKDF2 and AES-128/192/256-CBC (OpenSSL \
         3's and Java's default) or DES-EDE3-CBC, and the legacy PBE-SHA1-3DES and \
         PBE-SHA1-RC2-40 (openssl pkcs12 -legacy); MAC HMAC-SHA-1 or HMAC-SHA-256.",
    ),
    p(
        "ssl.keystore.password",
        Kind::Str,
        "",
        "Password of the ssl.keystore.location file. Secret: kc_conf_get does not give it \
         back.",
    ),
    p(
        "enable.ssl.certificate.verification",
        Kind::Bool,
        "true",
        "Verify the broker's certificate (false accepts any certificate: encrypted but not \
         authenticated).",
    ),
    p(
        "ssl.endpoint.identification.algorithm",
        Kind::Enum(&["https", "none"]),
        "https",
        "https: the broker's certificate must name the host (or IP address) connected to; \
         none skips that check only (the certificate is still verified).",
    ),
    p(
        "client.software.name",
        Kind::NonEmpty,
        "kafkac",
        "Software name sent in ApiVersions v3+.",
    ),
    p(
        "client.software.version",
        Kind::NonEmpty,
        env!("CARGO_PKG_VERSION"),
        "Software version sent in ApiVersions v3+.",
    ),
];

fn canonical(name: &str) -> &str {
    match name {
        "metadata.broker.list" => "bootstrap.servers",
        "compression.codec" => "compression.type",
        "request.required.acks" => "acks",
        "max.in.flight" => "max.in.flight.requests.per.connection",
        "queue.buffering.max.ms" => "linger.ms",
        "delivery.timeout.ms" => "message.timeout.ms",
        "message.send.max.retries" => "retries",
        "sasl.mechanisms" => "sasl.mechanism",
        other => other,
    }
}

/// A set of configuration properties. Cheap to clone.
#[derive(Clone, Default)]
pub struct Config {
    values: BTreeMap<String, String>,
}

impl std::fmt::Debug for Config {
    // Secrets are shown as set, never their value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.values.iter().map(|(k, v)| {
                let v = if is_secret(k) { "[set]" } else { v.as_str() };
                (k, v)
            }))
            .finish()
    }
}

impl Config {
    pub fn new() -> Self {
        Config::default()
    }

    /// Sets a property after checking the name and value.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let prop = PROPS
            .iter()
            .find(|p| p.name == canonical(name))
            .ok_or_else(|| {
                Error::new(
                    local::UNKNOWN_CONFIG,
                    if name.contains("password") || name.contains("secret") || name.contains("key")
                    {
                        // Perhaps a secret under a misspelt name: not repeated.
                        format!("unknown configuration property '{name}'")
                    } else {
                        format!("unknown configuration property '{name}' (value '{value}')")
                    },
                )
            })?;
        let lowered;
        let value = if name == "security.protocol" {
            // librdkafka's values are case-insensitive (SSL, ssl).
            lowered = value.trim().to_ascii_lowercase();
            lowered.as_str()
        } else if canonical(name) == "sasl.mechanism" {
            // Refused at once when not implemented (GSSAPI: Kerberos); stored in Kafka's
            // spelling (upper case).
            lowered = Mechanism::parse(value)?.name().to_owned();
            lowered.as_str()
        } else {
            value
        };
        check(prop, value)?;
        // Stored as checked: trimmed, with "all" spelled as its number; keys and
        // passwords exactly as given.
        let v = match value.trim() {
            "all" if canonical(name) == "acks" => "-1",
            _ if is_secret(name) => value,
            v => v,
        };
        self.values.insert(canonical(name).to_owned(), v.to_owned());
        Ok(())
    }

    /// The value of a property: the one set, or its default. `None` for an unknown name.
    /// Secret properties (keys, passwords) answer whether they are set, never their value.
    pub fn get(&self, name: &str) -> Option<String> {
        let v = self.get_raw(name)?;
        if is_secret(canonical(name)) {
            return Some(if v.is_empty() {
                String::new()
            } else {
                "[set]".to_owned()
            });
        }
        Some(v)
    }

    /// The value of a property, secrets included: for this crate's own use only.
    pub(crate) fn get_raw(&self, name: &str) -> Option<String> {
        let name = canonical(name);
        let prop = PROPS.iter().find(|p| p.name == name)?;
        Some(
            self.values
                .get(name)
                .cloned()
                .unwrap_or_else(|| prop.default.to_owned()),
        )
    }

    /// Whether `name` (or an alias of it) was set, rather than left at its default.
    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(canonical(name))
    }

    pub(crate) fn int(&self, name: &str) -> i64 {
        self.get(name)
            .and_then(|v| v.parse().ok())
            .expect("integer property validated on set")
    }

    pub(crate) fn ms(&self, name: &str) -> Duration {
        Duration::from_millis(self.int(name).max(0) as u64)
    }

    pub(crate) fn flag(&self, name: &str) -> bool {
        self.get(name).as_deref() == Some("true")
    }

    /// Resolves the properties into typed settings; fails if a required one is missing.
    pub fn settings(&self) -> Result<Settings> {
        let bootstrap: Vec<String> = self
            .get("bootstrap.servers")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if bootstrap.is_empty() {
            return Err(Error::new(
                local::INVALID_CONFIG,
                "configuration property 'bootstrap.servers' is required (e.g. \"127.0.0.1:9092\")",
            ));
        }
        if !self.flag("api.version.request") {
            return Err(Error::new(
                local::INVALID_CONFIG,
                "invalid value 'false' for configuration property 'api.version.request': \
                 version negotiation cannot be disabled",
            ));
        }
        let protocol = self.get("security.protocol").unwrap_or_default();
        let tls = if protocol == "ssl" || protocol == "sasl_ssl" {
            let text = |n: &str| self.get_raw(n).filter(|v| !v.is_empty());
            Some(Arc::new(TlsConfig::new(&TlsOptions {
                ca_location: text("ssl.ca.location"),
                ca_pem: text("ssl.ca.pem"),
                certificate_location: text("ssl.certificate.location"),
                certificate_pem: text("ssl.certificate.pem"),
                key_location: text("ssl.key.location"),
                key_pem: text("ssl.key.pem"),
                key_password: text("ssl.key.password"),
                keystore_location: text("ssl.keystore.location"),
                keystore_password: self.get_raw("ssl.keystore.password").filter(|_| {
                    // Set to "" is a password too (an empty one); unset is none.
                    self.is_set("ssl.keystore.password")
                }),
                verify_certificate: self.flag("enable.ssl.certificate.verification"),
                verify_hostname: self.get("ssl.endpoint.identification.algorithm").as_deref()
                    != Some("none"),
            })?))
        } else {
            None
        };
        let sasl = if protocol.starts_with("sasl_") {
            Some(Arc::new(self.sasl_config(&protocol)?))
        } else {
            None
        };
        let backoff = self.ms("retry.backoff.ms");
        let backoff_max = self.ms("retry.backoff.max.ms").max(backoff);
        Ok(Settings {
            bootstrap,
            client_id: self.get("client.id").unwrap_or_default(),
            socket_timeout: self.ms("socket.timeout.ms"),
            connect_timeout: self.ms("socket.connection.setup.timeout.ms"),
            request_timeout: self.ms("request.timeout.ms"),
            retry_backoff: backoff,
            retry_backoff_max: backoff_max,
            receive_message_max_bytes: self.int("receive.message.max.bytes") as usize,
            metadata_max_age: self.ms("metadata.max.age.ms"),
            address_family: match self.get("broker.address.family").as_deref() {
                Some("v4") => AddressFamily::V4,
                Some("v6") => AddressFamily::V6,
                _ => AddressFamily::Any,
            },
            nodelay: self.flag("socket.nagle.disable"),
            max_decompressed: self.int("fetch.max.decompressed.bytes") as usize,
            check_crcs: self.flag("check.crcs"),
            compression: self.get("compression.type").unwrap_or_default(),
            compression_level: self.int("compression.level") as i32,
            acks: self.int("acks") as i16,
            message_max_bytes: self.int("message.max.bytes") as usize,
            max_in_flight: self.int("max.in.flight.requests.per.connection") as usize,
            io_threads: self.int("io.threads") as usize,
            idle_timeout: self.ms("connections.max.idle.ms"),
            address_ttl: self.ms("broker.address.ttl"),
            metadata_refresh_interval: self.ms("topic.metadata.refresh.interval.ms"),
            rebootstrap: self.get("metadata.recovery.strategy").as_deref() != Some("none"),
            reconnect_backoff: self.ms("reconnect.backoff.ms"),
            reconnect_backoff_max: self
                .ms("reconnect.backoff.max.ms")
                .max(self.ms("reconnect.backoff.ms")),
            software_name: self.get("client.software.name").unwrap_or_default(),
            software_version: self.get("client.software.version").unwrap_or_default(),
            tls,
            sasl,
        })
    }

    /// The SASL settings of `security.protocol` `protocol` (sasl_plaintext, sasl_ssl).
    fn sasl_config(&self, protocol: &str) -> Result<SaslConfig> {
        let mechanism = if self.is_set("sasl.mechanism") {
            Mechanism::parse(&self.get("sasl.mechanism").unwrap_or_default())?
        } else {
            return Err(Error::new(
                local::INVALID_CONFIG,
                format!(
                    "security.protocol={protocol} needs configuration property \
                     'sasl.mechanism': its default, GSSAPI (Kerberos), is not supported; \
                     set PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                ),
            ));
        };
        let username = self.get("sasl.username").unwrap_or_default();
        if mechanism == Mechanism::OAuthBearer {
            let mut c = SaslConfig::new(mechanism, &username, "");
            if !self.flag("enable.sasl.oauthbearer.unsecure.jwt") {
                // The application sets the token (kc_*_oauthbearer_set_token).
                return Ok(c);
            }
            c.oauth = Some(UnsecuredJwt::parse(
                &self.get("sasl.oauthbearer.config").unwrap_or_default(),
            )?);
            return Ok(c);
        }
        if username.is_empty() {
            return Err(Error::new(
                local::INVALID_CONFIG,
                format!(
                    "sasl.mechanism={} needs configuration property 'sasl.username'",
                    mechanism.name()
                ),
            ));
        }
        let password = self.get_raw("sasl.password").unwrap_or_default();
        Ok(SaslConfig::new(mechanism, &username, &password))
    }

    /// Every known property with its default and description, for documentation.
    pub fn describe() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
        PROPS.iter().map(|p| (p.name, p.default, p.doc))
    }
}

/// Properties whose values are never shown: not by `get`, not in a message.
fn is_secret(name: &str) -> bool {
    matches!(
        name,
        "ssl.key.password" | "ssl.key.pem" | "ssl.keystore.password" | "sasl.password"
    )
}

fn check(prop: &Prop, value: &str) -> Result<()> {
    let bad = |expected: String| {
        Err(Error::new(
            local::INVALID_CONFIG,
            format!(
                "invalid value '{value}' for configuration property '{}': expected {expected}",
                prop.name
            ),
        ))
    };
    let v = value.trim();
    match prop.kind {
        Kind::Str => Ok(()),
        Kind::NonEmpty if v.is_empty() => bad("a non-empty string".into()),
        Kind::NonEmpty => Ok(()),
        Kind::Int(lo, hi) => match v.parse::<i64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(()),
            _ => bad(format!("an integer from {lo} to {hi}")),
        },
        Kind::Bool => match v {
            "true" | "false" => Ok(()),
            _ => bad("true or false".into()),
        },
        Kind::Enum(allowed) if allowed.contains(&v) => Ok(()),
        Kind::Enum(allowed) => bad(format!("one of {}", allowed.join(", "))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressFamily {
    Any,
    V4,
    V6,
}

/// Typed, validated settings derived from a [`Config`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub bootstrap: Vec<String>,
    pub client_id: String,
    pub socket_timeout: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    pub receive_message_max_bytes: usize,
    pub metadata_max_age: Duration,
    pub address_family: AddressFamily,
    pub nodelay: bool,
    pub max_decompressed: usize,
    pub check_crcs: bool,
    pub compression: String,
    pub compression_level: i32,
    pub acks: i16,
    pub message_max_bytes: usize,
    pub software_name: String,
    pub software_version: String,
    pub max_in_flight: usize,
    pub io_threads: usize,
    pub idle_timeout: Duration,
    pub address_ttl: Duration,
    pub metadata_refresh_interval: Duration,
    pub rebootstrap: bool,
    pub reconnect_backoff: Duration,
    pub reconnect_backoff_max: Duration,
    /// `security.protocol=ssl` or `sasl_ssl`: the TLS configuration every connection uses.
    pub tls: Option<Arc<TlsConfig>>,
    /// `security.protocol=sasl_*`: the SASL settings every connection authenticates with.
    pub sasl: Option<Arc<SaslConfig>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_names_key_and_value() {
        let e = Config::new().set("bootstrap.server", "x:1").unwrap_err();
        assert_eq!(e.code, local::UNKNOWN_CONFIG);
        assert!(e.message.contains("'bootstrap.server'"), "{}", e.message);
        assert!(e.message.contains("'x:1'"), "{}", e.message);
    }

    #[test]
    fn bad_values_name_key_value_and_expectation() {
        let mut c = Config::new();
        let e = c.set("request.timeout.ms", "soon").unwrap_err();
        assert_eq!(e.code, local::INVALID_CONFIG);
        assert!(e.message.contains("'soon'") && e.message.contains("'request.timeout.ms'"));
        assert!(
            e.message.contains("integer from 1 to 900000"),
            "{}",
            e.message
        );
        let e = c.set("socket.nagle.disable", "yes").unwrap_err();
        assert!(e.message.contains("true or false"));
        let e = c.set("compression.type", "brotli").unwrap_err();
        assert!(e.message.contains("none, gzip, snappy, lz4, zstd"));
        let e = c.set("retry.backoff.ms", "0").unwrap_err();
        assert_eq!(e.code, local::INVALID_CONFIG);
    }

    #[test]
    fn defaults_aliases_and_settings() {
        let mut c = Config::new();
        assert!(c.settings().is_err(), "bootstrap.servers is required");
        c.set("metadata.broker.list", "a:1, b:2").unwrap();
        c.set("request.required.acks", " all ").unwrap();
        c.set("compression.codec", "lz4").unwrap();
        let s = c.settings().unwrap();
        assert_eq!(s.bootstrap, vec!["a:1", "b:2"]);
        assert_eq!(s.acks, -1);
        assert_eq!(s.compression, "lz4");
        assert_eq!(s.request_timeout, Duration::from_secs(30));
        assert_eq!(s.receive_message_max_bytes, 100_000_000);
        assert_eq!(c.get("client.id").unwrap(), "kafkac");
        assert_eq!(c.get("nope"), None);
    }
}
