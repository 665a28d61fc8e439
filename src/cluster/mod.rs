//! The cluster view: bootstrap, broker connections (one per broker, opened on first use),
//! the metadata cache, leader routing, and retry with backoff.

mod metadata;
mod refresher;
mod retry;

pub use metadata::{
    BrokerMeta, LeaderHint, Metadata, PartitionMeta, Snapshot, TopicEntry, TopicMeta,
};
pub use refresher::Refresher;
pub use retry::{Backoff, Closing};

use crate::config::Settings;
use crate::error::{local, Error, Result};
use crate::net::{
    split_host_port, Attempt, Connection, ConnectionOptions, IoThreads, Mechanism, Resolver,
    SaslSetup, SaslStats, TokenStore,
};
use crate::protocol::messages::{MetadataRequest, MetadataRequestTopic};
use parking_lot::{Mutex, RwLock, RwLockUpgradableReadGuard};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a connection to a broker is for. Each broker gets one connection per purpose,
/// so a long-poll fetch never waits in front of a produce acknowledgement, a metadata
/// answer, a heartbeat or a commit (Kafka answers a connection's requests in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Produce, metadata and admin requests.
    Produce = 0,
    /// Fetch (long polls).
    Fetch = 1,
    /// Group and transaction coordinators.
    Coordinator = 2,
}

const PURPOSES: usize = 3;

/// One broker's address and its connections, opened on first use. A connection's lock is
/// held while connecting so concurrent callers share one attempt.
struct BrokerSlot {
    host: String,
    port: i32,
    conns: [Mutex<ConnSlot>; PURPOSES],
}

/// One connection to a broker, and the back-off after failed attempts to open it.
#[derive(Default)]
struct ConnSlot {
    conn: Option<Arc<Connection>>,
    /// Since the first of the failed attempts in a row: `reconnect.backoff.ms`, doubling
    /// with each failure up to `reconnect.backoff.max.ms`.
    backoff: Option<Backoff>,
    /// No new attempt before this.
    retry_at: Option<Instant>,
    last_error: Option<Error>,
}

impl ConnSlot {
    fn live(&self) -> Option<Arc<Connection>> {
        self.conn.as_ref().filter(|c| !c.is_broken()).cloned()
    }
}

/// Adds broker `b`, or replaces its slot (and so its connections) when its address changed.
fn upsert_broker(brokers: &mut HashMap<i32, Arc<BrokerSlot>>, b: &BrokerMeta) {
    let same = brokers
        .get(&b.id)
        .is_some_and(|s| s.host == b.host && s.port == b.port);
    if !same {
        brokers.insert(
            b.id,
            Arc::new(BrokerSlot {
                host: b.host.clone(),
                port: b.port,
                conns: Default::default(),
            }),
        );
    }
}

/// A client's view of one Kafka cluster. Shared between threads.
pub struct Cluster {
    pub settings: Settings,
    conn_opts: ConnectionOptions,
    io: Arc<IoThreads>,
    resolver: Resolver,
    brokers: RwLock<HashMap<i32, Arc<BrokerSlot>>>,
    /// Connection to a bootstrap address, used until broker ids are known.
    bootstrap: Mutex<Option<Arc<Connection>>>,
    /// Bootstrap addresses that refused the client for a reason retrying at once will not
    /// fix (authentication, TLS): when to try each again, and why it failed. Kept apart
    /// from the brokers' slots, which only exist once the metadata named them.
    bootstrap_backoff: Mutex<HashMap<String, (Backoff, Instant, Error)>>,
    /// Bootstrap connection attempts a caller stopped waiting for: the next caller waits
    /// for the same attempt rather than starting another (a caller with a short timeout
    /// and a slow authentication would otherwise start one attempt per call).
    bootstrap_pending: Mutex<HashMap<String, Attempt>>,
    /// What the client knows of the topics; replaced whole by each refresh.
    snapshot: RwLock<Arc<Snapshot>>,
    /// Held while a Metadata request is in flight: concurrent misses wait for it and
    /// use its answer instead of sending their own (single flight).
    refresh_lock: Mutex<()>,
    stats: ClusterStats,
    /// The OAUTHBEARER token every connection reads (see [`Cluster::oauth_tokens`]).
    tokens: Arc<TokenStore>,
    closing: Arc<Closing>,
}

/// Whether a broker refused the client for a reason that retrying at once will not fix:
/// TLS (certificate, handshake), SASL authentication, a mechanism the broker does not
/// enable.
fn refused(e: &Error) -> bool {
    matches!(
        e.code,
        local::SSL | local::AUTHENTICATION | UNSUPPORTED_SASL_MECHANISM
    )
}

/// Kafka's UNSUPPORTED_SASL_MECHANISM, as an error code.
const UNSUPPORTED_SASL_MECHANISM: i32 = 33;

/// Counters kept by the cluster view, for statistics and tests.
#[derive(Debug, Default)]
pub struct ClusterStats {
    /// Metadata requests sent.
    pub metadata_requests: AtomicU64,
    /// Times a topic's metadata was copied out of the snapshot (only [`Cluster::topic`]
    /// does; routing reads the snapshot in place).
    pub topic_copies: AtomicU64,
    /// Leaders moved by hints in Produce and Fetch answers (KIP-951), without a Metadata
    /// request.
    pub leader_hints: AtomicU64,
    /// SASL authentications and re-authentications (KIP-368) of every connection.
    pub sasl: Arc<SaslStats>,
}

impl Cluster {
    pub fn new(settings: Settings) -> Result<Self> {
        for hp in &settings.bootstrap {
            split_host_port(hp).map_err(|_| {
                Error::new(
                    local::INVALID_CONFIG,
                    format!(
                        "invalid value '{hp}' in configuration property 'bootstrap.servers': \
                         expected host:port"
                    ),
                )
            })?;
        }
        let stats = ClusterStats::default();
        let tokens = Arc::new(TokenStore::default());
        let conn_opts = ConnectionOptions {
            client_id: settings.client_id.clone(),
            software_name: settings.software_name.clone(),
            software_version: settings.software_version.clone(),
            connect_timeout: settings.connect_timeout,
            socket_timeout: settings.socket_timeout,
            // librdkafka's meaning: socket.timeout.ms is the network timeout of a request;
            // request.timeout.ms is the producer's acknowledgement timeout (see produce).
            request_timeout: settings.socket_timeout,
            max_frame: settings.receive_message_max_bytes,
            nodelay: settings.nodelay,
            max_in_flight: settings.max_in_flight,
            idle_timeout: settings.idle_timeout,
            tls: settings.tls.clone(),
            sasl: settings.sasl.clone().map(|config| SaslSetup {
                config,
                stats: stats.sasl.clone(),
                tokens: tokens.clone(),
            }),
        };
        let io = IoThreads::start(settings.io_threads)?;
        let resolver = Resolver::new(settings.address_ttl, settings.address_family);
        Ok(Cluster {
            settings,
            conn_opts,
            io,
            resolver,
            brokers: RwLock::new(HashMap::new()),
            bootstrap: Mutex::new(None),
            bootstrap_backoff: Mutex::new(HashMap::new()),
            bootstrap_pending: Mutex::new(HashMap::new()),
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            refresh_lock: Mutex::new(()),
            stats,
            tokens,
            closing: Arc::new(Closing::default()),
        })
    }

    /// The produce/metadata connection to broker `id`, opened if needed.
    pub fn broker(&self, id: i32, deadline: Instant) -> Result<Arc<Connection>> {
        self.broker_for(id, Purpose::Produce, deadline)
    }

    /// The connection to broker `id` for `purpose`, opened if needed.
    pub fn broker_for(
        &self,
        id: i32,
        purpose: Purpose,
        deadline: Instant,
    ) -> Result<Arc<Connection>> {
        let slot = self.brokers.read().get(&id).cloned().ok_or_else(|| {
            Error::new(
                local::TRANSPORT,
                format!("broker {id} is not in the cluster metadata"),
            )
        })?;
        // Another thread may be connecting to this broker: share its attempt, but wait
        // for it no longer than this caller's deadline.
        let mut g = slot.conns[purpose as usize]
            .try_lock_until(deadline)
            .ok_or_else(|| {
                Error::timed_out(format!(
                    "timed out waiting for the connection to {}:{} (broker {id})",
                    slot.host, slot.port
                ))
            })?;
        if let Some(c) = g.live() {
            return Ok(c);
        }
        let name = format!("{}:{} (broker {id})", slot.host, slot.port);
        if let Some(at) = g.retry_at {
            let now = Instant::now();
            if at > now {
                if at >= deadline {
                    let why = g
                        .last_error
                        .clone()
                        .unwrap_or_else(|| Error::transport(format!("{name}: not connected")));
                    return Err(why.context(format!(
                        "{name}: in reconnect back-off for {} ms more",
                        (at - now).as_millis()
                    )));
                }
                if !self.closing.sleep_until(at) {
                    return Err(Self::closed_error());
                }
            }
        }
        let attempt = self
            .resolver
            .resolve(&format!("{}:{}", slot.host, slot.port))
            .and_then(|addrs| {
                Connection::connect(
                    &self.io,
                    &name,
                    &slot.host,
                    &addrs,
                    &self.conn_opts,
                    deadline,
                )
            });
        match attempt {
            Ok(conn) => {
                *g = ConnSlot {
                    conn: Some(conn.clone()),
                    ..ConnSlot::default()
                };
                Ok(conn)
            }
            Err(e) => {
                g.conn = None;
                let wait = g
                    .backoff
                    .get_or_insert_with(|| {
                        Backoff::new(
                            self.settings.reconnect_backoff,
                            self.settings.reconnect_backoff_max,
                        )
                    })
                    .next_delay();
                g.retry_at = Some(Instant::now() + wait);
                g.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Whether broker `id` is among the brokers the metadata listed.
    pub fn knows_broker(&self, id: i32) -> bool {
        self.brokers.read().contains_key(&id)
    }

    /// When broker `id`'s connection for `purpose` may next be attempted, if it has none
    /// live and is in its reconnect back-off now; `None` otherwise. Does not wait: for a
    /// caller (the producer's sender) that has other brokers to serve meanwhile.
    pub fn reconnect_at(&self, id: i32, purpose: Purpose) -> Option<Instant> {
        let slot = self.brokers.read().get(&id).cloned()?;
        // A slot being connected is not in back-off.
        let g = slot.conns[purpose as usize].try_lock()?;
        if g.live().is_some() {
            return None;
        }
        g.retry_at.filter(|&at| at > Instant::now())
    }

    /// Any live connection: a connected broker, else a known broker, else a bootstrap
    /// address, tried in order until one answers or the deadline passes.
    pub fn any_broker(&self, deadline: Instant) -> Result<Arc<Connection>> {
        let slots: Vec<(i32, Arc<BrokerSlot>)> = self
            .brokers
            .read()
            .iter()
            .map(|(id, s)| (*id, s.clone()))
            .collect();
        for (_, s) in &slots {
            // A slot that is locked is being connected: not a live connection to borrow.
            let conn = s.conns[Purpose::Produce as usize].try_lock();
            if let Some(c) = conn.as_ref().and_then(|g| g.live()) {
                return Ok(c);
            }
        }
        let mut errors = Vec::new();
        for (id, s) in &slots {
            if Instant::now() >= deadline {
                break;
            }
            // A broker in reconnect back-off is skipped here: another broker, or a
            // bootstrap address, may answer now.
            let backing_off = s.conns[Purpose::Produce as usize]
                .try_lock()
                .is_some_and(|g| g.retry_at.is_some_and(|at| at > Instant::now()));
            if backing_off {
                errors.push(format!("broker {id}: in reconnect back-off"));
                continue;
            }
            match self.broker(*id, deadline) {
                Ok(c) => return Ok(c),
                Err(e) if e.code == local::DESTROY => return Err(e),
                Err(e) => errors.push(e.message),
            }
        }
        if !slots.is_empty() && !self.settings.rebootstrap {
            return Err(Error::new(
                local::ALL_BROKERS_DOWN,
                format!(
                    "no known broker reachable (metadata.recovery.strategy=none): {}",
                    errors.join("; ")
                ),
            ));
        }
        // Every known broker is gone: start again from bootstrap.servers (KIP-899).
        let mut g = self.bootstrap.try_lock_until(deadline).ok_or_else(|| {
            Error::timed_out("timed out waiting for the bootstrap connection attempt")
        })?;
        if let Some(c) = g.as_ref() {
            if !c.is_broken() {
                return Ok(c.clone());
            }
        }
        // The codes of the failures, to report one that says what to look at.
        let mut codes = Vec::new();
        for hp in &self.settings.bootstrap {
            if Instant::now() >= deadline {
                break;
            }
            // An address that refused the client (authentication, TLS) is not asked again
            // before its reconnect back-off ends: no reconnect storm against a broker that
            // will refuse again.
            let waiting = self
                .bootstrap_backoff
                .lock()
                .get(hp)
                .map(|(_, at, e)| (*at, e.clone()));
            if let Some((at, e)) = waiting {
                let now = Instant::now();
                if at > now {
                    if at >= deadline {
                        codes.push(e.code);
                        errors.push(format!(
                            "{} (in reconnect back-off for {} ms more)",
                            e.message,
                            (at - now).as_millis()
                        ));
                        continue;
                    }
                    if !self.closing.sleep_until(at) {
                        return Err(Self::closed_error());
                    }
                }
            }
            let pending = self.bootstrap_pending.lock().remove(hp);
            let attempt = match pending {
                Some(a) => a,
                None => {
                    let addrs = match self.resolver.resolve(hp) {
                        Ok(a) => a,
                        Err(e) => {
                            codes.push(e.code);
                            errors.push(e.message);
                            continue;
                        }
                    };
                    let host = split_host_port(hp).map(|(h, _)| h).unwrap_or_default();
                    Connection::begin(
                        &self.io,
                        &format!("{hp} (bootstrap)"),
                        host,
                        &addrs,
                        &self.conn_opts,
                    )
                }
            };
            let outcome = match attempt.wait(deadline) {
                Some(r) => r,
                None => {
                    // Left running for the next caller (its own set-up timeout ends it).
                    let e = attempt.timed_out();
                    self.bootstrap_pending.lock().insert(hp.clone(), attempt);
                    Err(e)
                }
            };
            match outcome {
                Ok(c) => {
                    self.bootstrap_backoff.lock().remove(hp);
                    *g = Some(c.clone());
                    return Ok(c);
                }
                Err(e) if e.code == local::DESTROY => return Err(e),
                Err(e) => {
                    if refused(&e) {
                        let mut b = self.bootstrap_backoff.lock();
                        let entry = b.entry(hp.clone()).or_insert_with(|| {
                            (
                                Backoff::new(
                                    self.settings.reconnect_backoff,
                                    self.settings.reconnect_backoff_max,
                                ),
                                Instant::now(),
                                e.clone(),
                            )
                        });
                        entry.1 = Instant::now() + entry.0.next_delay();
                        entry.2 = e.clone();
                    }
                    codes.push(e.code);
                    errors.push(e.message)
                }
            }
        }
        let detail = if errors.is_empty() {
            "no time left".to_owned()
        } else {
            errors.join("; ")
        };
        // Every bootstrap address refused the client for the same reason (TLS,
        // authentication): retrying will not help, and the code says what to look at.
        let code = match codes.first() {
            Some(&c) if codes.iter().all(|&x| x == c) && refused(&Error::new(c, "")) => c,
            _ if Instant::now() >= deadline => local::TIMED_OUT,
            _ => local::ALL_BROKERS_DOWN,
        };
        Err(Error::new(code, format!("no broker reachable: {detail}")))
    }

    /// Fetches metadata for `topics` (all topics for `None`), updates the broker list and
    /// the cache, and returns it.
    pub fn fetch_metadata(&self, topics: Option<&[String]>, deadline: Instant) -> Result<Metadata> {
        let conn = self.any_broker(deadline)?;
        let version = conn.version_of::<MetadataRequest>()?;
        let req = MetadataRequest {
            topics: match topics {
                // v0 has no null: an empty list means every topic.
                None if version == 0 => Some(Vec::new()),
                None => None,
                Some(names) => Some(
                    names
                        .iter()
                        .map(|n| MetadataRequestTopic {
                            name: Some(n.clone()),
                            ..Default::default()
                        })
                        .collect(),
                ),
            },
            allow_auto_topic_creation: false,
            ..Default::default()
        };
        self.stats.metadata_requests.fetch_add(1, Ordering::Relaxed);
        let resp = conn
            .request_at(&req, version, deadline)
            .map_err(|e| e.context("Metadata request"))?;
        let md = Metadata::from_response(resp);
        self.update_brokers(&md);
        // Upgradable: lookups go on while the next snapshot is built, and a leader hint
        // applied meanwhile is not lost (it waits, then applies to this snapshot).
        let g = self.snapshot.upgradable_read();
        let next = g.merged(&md, topics.is_none(), Instant::now());
        *RwLockUpgradableReadGuard::upgrade(g) = Arc::new(next);
        Ok(md)
    }

    /// Applies leaders that brokers named in their answers (KIP-951): `endpoints` (from
    /// `NodeEndpoints`) are added to the brokers known, or replace a broker whose address
    /// changed; then each hint whose leader is a known broker moves its partition's
    /// leader in a new snapshot (copy on write), if its epoch is newer than the one held.
    /// No Metadata request is sent. Returns, for each hint, whether it is usable: the
    /// snapshot now has its leader at its epoch (applied now or before) and the leader's
    /// address is known. A request can go to a usable hint's leader without a refresh;
    /// for the others, refresh the topic's metadata.
    pub fn apply_leader_hints(&self, hints: &[LeaderHint], endpoints: &[BrokerMeta]) -> Vec<bool> {
        if !endpoints.is_empty() {
            let mut brokers = self.brokers.write();
            for b in endpoints {
                if b.id < 0 || b.host.is_empty() {
                    continue;
                }
                upsert_broker(&mut brokers, b);
            }
        }
        let known: Vec<bool> = {
            let brokers = self.brokers.read();
            hints
                .iter()
                .map(|h| h.is_known() && brokers.contains_key(&h.leader))
                .collect()
        };
        let usable: Vec<LeaderHint> = hints
            .iter()
            .zip(&known)
            .filter(|(_, k)| **k)
            .map(|(h, _)| h.clone())
            .collect();
        let g = self.snapshot.upgradable_read();
        let snap = match g.with_leaders(&usable) {
            Some(next) => {
                let moved = usable
                    .iter()
                    .filter(|h| !g.holds(h) && next.holds(h))
                    .count();
                self.stats
                    .leader_hints
                    .fetch_add(moved as u64, Ordering::Relaxed);
                let next = Arc::new(next);
                *RwLockUpgradableReadGuard::upgrade(g) = next.clone();
                next
            }
            None => g.clone(),
        };
        hints
            .iter()
            .zip(known)
            .map(|(h, k)| k && snap.holds(h))
            .collect()
    }

    /// Brokers in the answer are added (or replaced when their address changed); brokers
    /// missing from it have left the cluster and are forgotten (their connections close
    /// once no request uses them).
    fn update_brokers(&self, md: &Metadata) {
        if md.brokers.is_empty() {
            return;
        }
        let mut brokers = self.brokers.write();
        brokers.retain(|id, _| md.brokers.iter().any(|b| b.id == *id));
        for b in &md.brokers {
            upsert_broker(&mut brokers, b);
        }
    }

    /// The current snapshot of topic metadata (cheap: a reference count).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().clone()
    }

    /// Events for the application to serve (connections lost, brokers that stopped
    /// answering, throttles), with a descriptor that wakes its event loop.
    pub fn events(&self) -> &Arc<crate::net::events::EventQueue> {
        self.io.events()
    }

    /// The OAUTHBEARER token store shared by every connection; refused (`STATE`) when the
    /// client does not authenticate with an application-supplied OAUTHBEARER token.
    pub fn oauth_tokens(&self) -> Result<&Arc<TokenStore>> {
        match &self.settings.sasl {
            Some(c) if c.mechanism == Mechanism::OAuthBearer && c.oauth.is_none() => {
                Ok(&self.tokens)
            }
            Some(c) if c.mechanism == Mechanism::OAuthBearer => Err(Error::new(
                local::STATE,
                "the OAUTHBEARER token is made from sasl.oauthbearer.config \
                 (enable.sasl.oauthbearer.unsecure.jwt=true): it cannot be set",
            )),
            _ => Err(Error::new(
                local::STATE,
                "sasl.mechanism is not OAUTHBEARER: there is no OAUTHBEARER token to set",
            )),
        }
    }

    pub fn stats(&self) -> &ClusterStats {
        &self.stats
    }

    /// Refreshes the metadata of `topics` with one request, unless another caller's
    /// refresh that started after `since` already brought every one of them (single
    /// flight: concurrent callers wait for the request in flight and share its answer).
    pub fn refresh_topics(
        &self,
        topics: &[String],
        since: Instant,
        deadline: Instant,
    ) -> Result<()> {
        let _g = self.refresh_lock.try_lock_until(deadline).ok_or_else(|| {
            Error::timed_out("timed out waiting for the metadata refresh in flight")
        })?;
        let snap = self.snapshot();
        let fresh = |t: &String| {
            snap.topic(t).is_some_and(|e| {
                e.fetched_at >= since && !e.is_stale(self.settings.metadata_max_age)
            })
        };
        if !topics.is_empty() && topics.iter().all(fresh) {
            return Ok(());
        }
        self.fetch_metadata(Some(topics), deadline).map(|_| ())
    }

    /// The entry of `topic`, from the snapshot when it is there and fresh, else after a
    /// refresh (also when `force`d).
    pub fn topic_entry(
        &self,
        topic: &str,
        force: bool,
        deadline: Instant,
    ) -> Result<Arc<TopicEntry>> {
        let asked = Instant::now();
        if !force {
            if let Some(t) = self.snapshot().topic(topic) {
                if !t.is_stale(self.settings.metadata_max_age) {
                    return Ok(t.clone());
                }
            }
        }
        self.refresh_topics(&[topic.to_owned()], asked, deadline)?;
        self.snapshot().topic(topic).cloned().ok_or_else(|| {
            Error::new(
                local::UNKNOWN_TOPIC,
                format!("topic '{topic}' missing from the Metadata response"),
            )
        })
    }

    /// A copy of a topic's metadata, refreshed when missing, stale, or `force`d.
    pub fn topic(&self, topic: &str, force: bool, deadline: Instant) -> Result<TopicMeta> {
        let e = self.topic_entry(topic, force, deadline)?;
        self.stats.topic_copies.fetch_add(1, Ordering::Relaxed);
        Ok(e.meta.clone())
    }

    /// The leader of `topic`/`partition`, from the snapshot or fresh metadata. O(1) on a
    /// fresh snapshot; nothing is copied.
    pub fn leader(
        &self,
        topic: &str,
        partition: i32,
        force: bool,
        deadline: Instant,
    ) -> Result<i32> {
        let t = self.topic_entry(topic, force, deadline)?;
        if t.meta.error_code != 0 {
            // Kafka's code as is: UNKNOWN_TOPIC_OR_PARTITION stays retriable, since a
            // topic created a moment ago may not be in every broker's metadata yet.
            return Err(Error::kafka(t.meta.error_code, format!("topic '{topic}'")));
        }
        let p = t.partition(partition).ok_or_else(|| {
            Error::new(
                local::UNKNOWN_PARTITION,
                format!(
                    "partition {partition} does not exist in topic '{topic}' ({} partitions)",
                    t.meta.partitions.len()
                ),
            )
        })?;
        if p.leader < 0 {
            return Err(Error::kafka(
                if p.error_code != 0 { p.error_code } else { 5 },
                format!("{topic}/{partition} has no leader"),
            ));
        }
        Ok(p.leader)
    }

    /// Marks cached leadership of a topic stale so the next lookup refreshes it.
    pub fn invalidate(&self, topic: &str) {
        self.snapshot.read().invalidate(topic);
    }

    /// Runs `op` until it succeeds, fails with a non-retriable error, or the deadline
    /// passes. Between attempts it backs off (`retry.backoff.ms` doubling up to
    /// `retry.backoff.max.ms`); `op` gets the attempt number (0 first) and should refresh
    /// metadata when the attempt is not the first.
    pub fn retry<T>(&self, deadline: Instant, mut op: impl FnMut(u32) -> Result<T>) -> Result<T> {
        let mut backoff = self.backoff();
        let mut attempt = 0;
        let mut previous: Option<Error> = None;
        loop {
            if self.closing.is_closed() {
                return Err(Self::closed_error());
            }
            let err = match op(attempt) {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            // The deadline ended while an attempt waited for its answer: TIMED_OUT (as
            // documented), naming the error that made the loop try again.
            if err.code == local::TIMED_OUT && Instant::now() >= deadline {
                if let Some(p) = previous {
                    return Err(Error::new(
                        err.code,
                        format!(
                            "{} (attempt {}; the one before failed with {p})",
                            err.message,
                            attempt + 1
                        ),
                    ));
                }
            }
            if !err.is_retriable() || err.code == local::DESTROY {
                return Err(err);
            }
            if !backoff.sleep_before(deadline) {
                if self.closing.is_closed() {
                    return Err(Self::closed_error());
                }
                return Err(err.gave_up(attempt + 1));
            }
            previous = Some(err);
            attempt += 1;
        }
    }

    /// A retry back-off (`retry.backoff.ms` doubling up to `retry.backoff.max.ms`) whose
    /// waits end when the client is closed.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.settings.retry_backoff, self.settings.retry_backoff_max)
            .until_closed(&self.closing)
    }

    /// Whether the client is being closed.
    pub fn is_closing(&self) -> bool {
        self.closing.is_closed()
    }

    /// The error of a call on a client being closed.
    pub fn closed_error() -> Error {
        Error::new(local::DESTROY, "the client is being closed")
    }

    /// Closes every connection and joins the I/O threads. Calls inside the client return
    /// DESTROY promptly: waits for answers and back-off sleeps end, and new connection
    /// attempts fail at once.
    pub fn close(&self) {
        self.closing.close();
        // The I/O threads first: that ends every wait for an answer or a connection set-up,
        // which releases the connection locks below.
        self.io.shutdown();
        for s in self.brokers.read().values() {
            for conn in &s.conns {
                if let Some(c) = conn.lock().conn.take() {
                    c.close();
                }
            }
        }
        if let Some(c) = self.bootstrap.lock().take() {
            c.close();
        }
    }

    /// Deadline `timeout` from now (saturating).
    pub fn deadline(timeout: Duration) -> Instant {
        let now = Instant::now();
        now.checked_add(timeout)
            .unwrap_or(now + Duration::from_secs(86_400 * 365))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        let mut c = crate::Config::new();
        c.set("bootstrap.servers", "127.0.0.1:1").unwrap();
        c.set("retry.backoff.ms", "10").unwrap();
        c.set("retry.backoff.max.ms", "10").unwrap();
        Cluster::new(c.settings().unwrap()).unwrap()
    }

    #[test]
    fn deadline_ending_mid_attempt_is_timed_out_naming_the_error_retried() {
        let c = cluster();
        let deadline = Instant::now() + Duration::from_millis(300);
        let e = c
            .retry(deadline, |attempt| -> Result<()> {
                if attempt == 0 {
                    Err(Error::kafka(3, "t/0: no such topic"))
                } else {
                    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    Err(Error::new(local::TIMED_OUT, "Metadata request: timed out"))
                }
            })
            .unwrap_err();
        assert_eq!(e.code, local::TIMED_OUT, "{e}");
        assert!(e.message.contains("Metadata request: timed out"), "{e}");
        assert!(e.message.contains("attempt 2;"), "{e}");
        assert!(e.message.contains("t/0: no such topic"), "{e}");
    }

    /// No attempt begins with less than LEAST_ATTEMPT left: the loop gives up with the
    /// last attempt's error instead of starting one that could only time out.
    #[test]
    fn no_attempt_begins_too_close_to_the_deadline() {
        let c = cluster();
        let deadline = Instant::now() + Duration::from_millis(400);
        let mut began = Vec::new();
        let e = c
            .retry(deadline, |_| -> Result<()> {
                began.push(Instant::now());
                Err(Error::new(local::ALL_BROKERS_DOWN, "no broker reachable"))
            })
            .unwrap_err();
        assert_eq!(e.code, local::ALL_BROKERS_DOWN, "{e}");
        assert!(e.message.contains("gave up after"), "{e}");
        assert!(began.len() > 5, "{} attempts", began.len());
        let last = *began.last().expect("attempts");
        // The back-off checks the time when its sleep ends; the attempt reads the clock a
        // few instructions later, so a descheduling in between is allowed 5 ms.
        assert!(
            deadline.saturating_duration_since(last) + Duration::from_millis(5)
                >= crate::cluster::retry::LEAST_ATTEMPT,
            "the last attempt began {:?} before the deadline",
            deadline.saturating_duration_since(last)
        );
    }

    #[test]
    fn a_first_attempt_timing_out_reports_timed_out() {
        let c = cluster();
        let deadline = Instant::now() + Duration::from_millis(20);
        let e = c
            .retry(deadline, |_| -> Result<()> {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                Err(Error::new(local::TIMED_OUT, "Metadata request: timed out"))
            })
            .unwrap_err();
        assert_eq!(e.code, local::TIMED_OUT, "{e}");
        assert!(!e.message.contains("the one before"), "{e}");
    }
}
