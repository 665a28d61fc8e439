//! Apache Kafka (KRaft) on loopback, from the jars `scripts/install-deps.sh`
//! gathers from Maven Central.
//!
//! * [`KafkaCluster::start`] with one node: a combined broker + controller.
//! * [`KafkaCluster::start`] with three nodes: each a combined broker +
//!   controller, one quorum, replication factor 3 and `min.insync.replicas=2`.
//!   Any one node can be stopped, killed and restarted; the quorum survives.
//! * [`shared`]: one single-node cluster per test binary, for tests that don't
//!   disturb each other.
//!
//! A node is ready when its `server.log` says `Kafka Server started` (after
//! the broker is unfenced); a port that accepts connections is not ready yet.
//!
//! Clean-up: each JVM is spawned with `PR_SET_PDEATHSIG = SIGKILL`
//! ([`super::spawn_guarded`]), so it dies with the test binary whatever the way
//! the binary ends. A cluster's directory is removed when the cluster is
//! dropped, and also by a small janitor process (`sh`) that waits for its
//! stdin, held by the test binary, to close: statics are never dropped, and a
//! test binary killed at a time limit drops nothing either.
//!
//! Every JVM carries `-Dkafkac.test.node` on its command line, so
//! `scripts/test.sh` can check that none is left after the suite.

use super::{free_port, log_dir, read_tail, scratch_dir, spawn_guarded, unique, wait_timeout};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// The Kafka version `scripts/install-deps.sh` installs (see `scripts/kafka/pom.xml`).
pub const KAFKA_VERSION: &str = "4.3.1";
/// How long one node may take from `java` to `Kafka Server started`.
pub const KAFKA_START_TIMEOUT: Duration = Duration::from_secs(60);

/// JVM settings for a 2-core machine: small heaps, one GC thread, C1 only
/// (start-up matters more than peak speed here). `KAFKAC_KAFKA_JVM_OPTS`
/// replaces them (for benchmarks, say).
const JVM_OPTS: &[&str] = &[
    "-Xms64m",
    "-Xmx320m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Xss512k",
    "-XX:MaxMetaspaceSize=128m",
    "-Djava.awt.headless=true",
];

/// The nodes' logging configuration, shared with scripts/kafka-single.sh.
fn log4j2() -> PathBuf {
    super::manifest_dir().join("scripts/kafka/log4j2.properties")
}

/// The directory with Kafka's jars: `$KAFKAC_KAFKA_LIBS`, else
/// `$KAFKAC_CACHE/kafka-<v>/libs`, else `~/.cache/kafkac/kafka-<v>/libs`.
/// Panics when none holds the broker's jar: a missing broker fails the suite.
pub fn libs_dir() -> PathBuf {
    let rel = format!("kafka-{KAFKA_VERSION}/libs");
    let candidates: Vec<PathBuf> = [
        std::env::var_os("KAFKAC_KAFKA_LIBS").map(PathBuf::from),
        std::env::var_os("KAFKAC_CACHE").map(|c| PathBuf::from(c).join(&rel)),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/kafkac").join(&rel)),
    ]
    .into_iter()
    .flatten()
    .collect();
    for c in &candidates {
        let jar = c.join(format!("kafka_2.13-{KAFKA_VERSION}.jar"));
        if jar.is_file() {
            return c.clone();
        }
    }
    panic!(
        "Apache Kafka {KAFKA_VERSION} jars not found (looked in {candidates:?}); \
         run scripts/install-deps.sh or set KAFKAC_KAFKA_LIBS"
    );
}

/// `-cp` argument for Kafka's jars.
pub fn classpath() -> String {
    format!("{}/*", libs_dir().display())
}

fn jvm_opts() -> Vec<String> {
    match std::env::var("KAFKAC_KAFKA_JVM_OPTS") {
        Ok(s) if !s.trim().is_empty() => s.split_whitespace().map(String::from).collect(),
        _ => JVM_OPTS.iter().map(|s| s.to_string()).collect(),
    }
}

/// A random 16-byte id in Kafka's text form (22 characters of URL-safe
/// base64, no padding), as `StorageTool random-uuid` prints.
fn random_kafka_uuid() -> String {
    let mut b = [0u8; 16];
    if let Ok(mut f) = fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    // Never one of Kafka's reserved ids (the first 100 values), and never a leading '-'
    // (the storage tool would take the id for an option): the first character is one of
    // 'Q'..'f'.
    b[0] = (b[0] | 0x40) & 0x7f;
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for byte in b {
        acc = (acc << 8) | byte as u32;
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(A[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(A[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}

/// A formatted, never started, metadata directory: formatted once per test
/// binary (one JVM start) and copied for every node, with the node's own ids
/// written into its `meta.properties`. Format writes only feature levels to
/// the bootstrap checkpoint; with static `controller.quorum.voters` nothing
/// in it depends on the node.
fn template() -> &'static Path {
    static T: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    T.get_or_init(|| format_template(&[]))
        .as_deref()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`template`], formatted with `--feature` settings (such as
/// `transaction.version=1`): one template per set of features.
fn template_with(features: &[&str]) -> PathBuf {
    if features.is_empty() {
        return template().to_path_buf();
    }
    static T: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut m = T
        .get_or_init(Default::default)
        .lock()
        .expect("template lock");
    let key = features.join(",");
    if let Some(p) = m.get(&key) {
        return p.clone();
    }
    let p = format_template(features).unwrap_or_else(|e| panic!("{e}"));
    m.insert(key, p.clone());
    p
}

fn format_template(features: &[&str]) -> Result<PathBuf, String> {
    {
        let dir = scratch_dir("kafka-template");
        // Removed when the test binary exits.
        std::mem::forget(spawn_janitor(&dir));
        let props = dir.join("format.properties");
        fs::write(
            &props,
            format!(
                "process.roles=broker,controller\nnode.id=1\n\
                 controller.quorum.voters=1@127.0.0.1:1\n\
                 controller.listener.names=CONTROLLER\n\
                 listeners=PLAINTEXT://127.0.0.1:2,CONTROLLER://127.0.0.1:1\n\
                 log.dirs={}\n",
                dir.join("data").display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let mut cmd = Command::new("java");
        cmd.args(jvm_opts())
            .arg("-cp")
            .arg(classpath())
            .arg("-Dkafkac.test.node=format")
            .arg(format!("-Dlog4j2.configurationFile={}", log4j2().display()))
            .arg(format!("-Dkafka.logs.dir={}", dir.display()))
            .args(["kafka.tools.StorageTool", "format", "-t"])
            .arg(random_kafka_uuid())
            .arg("-c")
            .arg(&props);
        for f in features {
            cmd.arg("--feature").arg(f);
        }
        let done = super::run_bounded(cmd, None, KAFKA_START_TIMEOUT)
            .map_err(|e| format!("run StorageTool: {e}"))?;
        if done.status.map(|s| s.success()) != Some(true) {
            return Err(format!(
                "StorageTool format failed ({:?}):\n{}\n{}",
                done.status,
                String::from_utf8_lossy(&done.stdout),
                done.stderr_text()
            ));
        }
        Ok(dir.join("data"))
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create dir");
    for e in fs::read_dir(from).expect("read template") {
        let e = e.expect("template entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            fs::copy(e.path(), &dst).expect("copy template file");
        }
    }
}

/// The security protocol of an extra listener: SASL_SSL or SASL_PLAINTEXT when its name
/// starts so, else SSL.
fn listener_protocol(name: &str) -> &'static str {
    if name.starts_with("SASL_SSL") {
        "SASL_SSL"
    } else if name.starts_with("SASL_PLAINTEXT") {
        "SASL_PLAINTEXT"
    } else {
        "SSL"
    }
}

/// A Kafka tool (`class` with `args`, e.g. `kafka.admin.ConfigCommand`) run with the
/// brokers' class path and JVM options, bounded by `limit`; its stdout and stderr, or why
/// it failed.
pub fn run_tool(class: &str, args: &[&str], limit: Duration) -> Result<String, String> {
    let logs = super::scratch_dir("kafka-tool");
    let mut cmd = Command::new("java");
    cmd.args(jvm_opts())
        .arg("-cp")
        .arg(classpath())
        .arg("-Dkafkac.test.node=tool")
        .arg(format!("-Dlog4j2.configurationFile={}", log4j2().display()))
        // Its log files go to a scratch directory, not the working directory.
        .arg(format!("-Dkafka.logs.dir={}", logs.display()))
        .arg(class)
        .args(args);
    let done = super::run_bounded(cmd, None, limit);
    // The tool has exited (or was killed): its logs go with it, like every scratch
    // directory the suite makes (scripts/test.sh fails on one left behind).
    let _ = std::fs::remove_dir_all(&logs);
    let done = done.map_err(|e| format!("run {class}: {e}"))?;
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&done.stdout),
        done.stderr_text()
    );
    if done.status.map(|s| s.success()) != Some(true) {
        return Err(format!("{class} failed ({:?}):\n{out}", done.status));
    }
    Ok(out)
}

/// One Kafka node (broker + controller) of a [`KafkaCluster`].
pub struct KafkaNode {
    pub node_id: i32,
    /// Client listener port on 127.0.0.1.
    pub port: u16,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    pub controller_port: u16,
    /// Extra SSL listeners ([`KafkaCluster::start_with_listeners`]): name and port.
    pub ssl_listeners: Vec<(String, u16)>,
    dir: PathBuf,
    incarnation: u32,
    child: Option<Child>,
}

impl KafkaNode {
    /// The JVM's pid, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The current incarnation's `server.log`.
    pub fn log_path(&self) -> PathBuf {
        self.dir
            .join(format!("logs-{}", self.incarnation))
            .join("server.log")
    }

    /// `127.0.0.1:<port>` of the extra SSL listener `name`.
    pub fn listener_addr(&self, name: &str) -> String {
        let (_, port) = self
            .ssl_listeners
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no listener {name}"));
        format!("127.0.0.1:{port}")
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

/// A set of Kafka nodes on loopback that form one KRaft cluster. Killed and
/// its directory removed when dropped.
pub struct KafkaCluster {
    pub nodes: Vec<KafkaNode>,
    /// Every node's address, comma-separated.
    pub bootstrap: String,
    pub cluster_id: String,
    dir: PathBuf,
    voters: String,
    extra: Vec<(String, String)>,
    _janitor: Option<(Child, ChildStdin)>,
    /// How long the last start took, from the first `java` to the last ready node.
    pub started_in: Duration,
}

impl KafkaCluster {
    /// Starts `n` nodes (1 or 3 in this suite) and waits until each is ready.
    pub fn start(n: usize) -> KafkaCluster {
        Self::start_with(n, &[])
    }

    /// Like [`start`](Self::start), with extra broker properties (they win over the defaults).
    pub fn start_with(n: usize, extra: &[(&str, &str)]) -> KafkaCluster {
        Self::start_with_listeners(n, &[], extra)
    }

    /// Like [`start_with`](Self::start_with), with extra listeners named `ssl_listeners`,
    /// of security protocol SSL (SASL_SSL or SASL_PLAINTEXT for a name that starts so), each on a port of its own (see
    /// [`KafkaNode::listener_addr`]); brokers still talk to each other over PLAINTEXT.
    /// Their keystores and options come in `extra` (`ssl.*`, or
    /// `listener.name.<name lowercase>.ssl.*` for one listener).
    pub fn start_with_listeners(
        n: usize,
        ssl_listeners: &[&str],
        extra: &[(&str, &str)],
    ) -> KafkaCluster {
        Self::start_formatted(n, &[], ssl_listeners, extra)
    }

    /// Like [`start_with_listeners`](Self::start_with_listeners), with one extra
    /// listener, `SASL_PLAINTEXT`, taking OAUTHBEARER with unsecured JWTs (Kafka's
    /// default validator; the client's tokens need only a `sub`), and `extra`.
    pub fn start_with_oauthbearer(n: usize, extra: &[(&str, &str)]) -> KafkaCluster {
        let mut props = vec![
            ("sasl.enabled.mechanisms", "OAUTHBEARER"),
            (
                "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config",
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule \
                 required unsecuredLoginStringClaim_sub=\"broker\";",
            ),
        ];
        props.extend_from_slice(extra);
        Self::start_with_listeners(n, &["SASL_PLAINTEXT"], &props)
    }

    /// Like [`start_with_listeners`](Self::start_with_listeners), with the storage
    /// formatted with `features` (`kafka-storage format --feature`, such as
    /// `transaction.version=1`).
    pub fn start_formatted(
        n: usize,
        features: &[&str],
        ssl_listeners: &[&str],
        extra: &[(&str, &str)],
    ) -> KafkaCluster {
        assert!(n >= 1, "a cluster has at least one node");
        let mut last = String::new();
        // A port that was free a moment ago can be taken before the JVM binds
        // it: start again on new ports when a node exits during start-up.
        for _ in 0..3 {
            match Self::try_start(n, features, ssl_listeners, extra) {
                Ok(c) => return c,
                Err(e) => last = e,
            }
        }
        panic!("Kafka cluster of {n} did not start: {last}");
    }

    fn try_start(
        n: usize,
        features: &[&str],
        ssl_listeners: &[&str],
        extra: &[(&str, &str)],
    ) -> Result<KafkaCluster, String> {
        let template = template_with(features);
        let template = template.as_path();
        let dir = scratch_dir(&format!("kafka{n}"));
        let janitor = spawn_janitor(&dir);
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let voters = ports
            .iter()
            .enumerate()
            .map(|(i, (_, c))| format!("{}@127.0.0.1:{c}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let cluster_id = fs::read_to_string(template.join("meta.properties"))
            .map_err(|e| e.to_string())?
            .lines()
            .find_map(|l| l.strip_prefix("cluster.id=").map(str::to_string))
            .ok_or("template has no cluster.id")?;
        let mut nodes = Vec::with_capacity(n);
        for (i, (port, controller_port)) in ports.into_iter().enumerate() {
            let node_id = i as i32 + 1;
            let ndir = dir.join(format!("node-{node_id}"));
            copy_dir(template, &ndir.join("data"));
            fs::write(
                ndir.join("data/meta.properties"),
                format!(
                    "version=1\nnode.id={node_id}\ncluster.id={cluster_id}\ndirectory.id={}\n",
                    random_kafka_uuid()
                ),
            )
            .map_err(|e| e.to_string())?;
            nodes.push(KafkaNode {
                node_id,
                port,
                addr: format!("127.0.0.1:{port}"),
                controller_port,
                ssl_listeners: ssl_listeners
                    .iter()
                    .map(|l| (l.to_string(), free_port()))
                    .collect(),
                dir: ndir,
                incarnation: 0,
                child: None,
            });
        }
        let bootstrap = nodes
            .iter()
            .map(|n| n.addr.clone())
            .collect::<Vec<_>>()
            .join(",");
        let mut c = KafkaCluster {
            nodes,
            bootstrap,
            cluster_id,
            dir,
            voters,
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            _janitor: janitor,
            started_in: Duration::ZERO,
        };
        let t0 = Instant::now();
        for i in 0..n {
            c.write_properties(i)?;
            c.spawn(i)?;
        }
        for i in 0..n {
            c.wait_ready(i, t0 + KAFKA_START_TIMEOUT)?;
        }
        if n > 1 {
            c.wait_brokers_listed(t0 + KAFKA_START_TIMEOUT)?;
        }
        c.started_in = t0.elapsed();
        Ok(c)
    }

    /// Waits until every node's metadata lists every node: a node says it started
    /// before the others' registrations reach it, and a topic created then has no
    /// replica on a node it does not list yet.
    fn wait_brokers_listed(&self, deadline: Instant) -> Result<(), String> {
        let n = self.nodes.len();
        // Metadata v4: no topics, no auto-creation. The answer: correlation id, throttle
        // time, then the brokers' count.
        let body = [0u8, 0, 0, 0, 0];
        for node in &self.nodes {
            let mut listed = 0;
            loop {
                let wait = Duration::from_secs(5);
                if let Ok(r) = super::raw_request(&node.addr, 3, 4, 7, "kafkac-rig", &body, wait) {
                    if let Some(b) = r.get(8..12) {
                        listed = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                    }
                }
                if listed as usize >= n {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "node {} lists {listed} of the {n} brokers after the start time-out",
                        node.node_id
                    ));
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    fn properties(&self, i: usize) -> String {
        let n = self.nodes.len();
        let node = &self.nodes[i];
        let rf = n.min(3);
        let isr = if n >= 3 { 2 } else { 1 };
        let ssl: String = node
            .ssl_listeners
            .iter()
            .map(|(name, port)| format!(",{name}://127.0.0.1:{port}"))
            .collect();
        let ssl_map: String = node
            .ssl_listeners
            .iter()
            .map(|(name, _)| format!(",{name}:{}", listener_protocol(name)))
            .collect();
        let mut props: Vec<(String, String)> = [
            ("process.roles", "broker,controller".to_string()),
            ("node.id", node.node_id.to_string()),
            ("controller.quorum.voters", self.voters.clone()),
            ("controller.listener.names", "CONTROLLER".into()),
            (
                "listeners",
                format!(
                    "PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}{ssl}",
                    node.port, node.controller_port
                ),
            ),
            (
                "advertised.listeners",
                format!("PLAINTEXT://127.0.0.1:{}{ssl}", node.port),
            ),
            ("inter.broker.listener.name", "PLAINTEXT".into()),
            (
                "listener.security.protocol.map",
                format!("PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT{ssl_map}"),
            ),
            ("log.dirs", node.dir.join("data").display().to_string()),
            ("auto.create.topics.enable", "false".into()),
            ("num.partitions", "1".into()),
            ("default.replication.factor", rf.to_string()),
            ("min.insync.replicas", isr.to_string()),
            ("offsets.topic.replication.factor", rf.to_string()),
            ("offsets.topic.num.partitions", "3".into()),
            ("transaction.state.log.replication.factor", rf.to_string()),
            ("transaction.state.log.min.isr", isr.to_string()),
            ("transaction.state.log.num.partitions", "3".into()),
            (
                "share.coordinator.state.topic.replication.factor",
                rf.to_string(),
            ),
            ("share.coordinator.state.topic.min.isr", isr.to_string()),
            ("group.initial.rebalance.delay.ms", "0".into()),
            ("num.network.threads", "1".into()),
            ("num.io.threads", "2".into()),
            ("background.threads", "2".into()),
            ("num.recovery.threads.per.data.dir", "1".into()),
            ("num.replica.fetchers", "1".into()),
            ("group.coordinator.threads", "1".into()),
            ("share.coordinator.threads", "1".into()),
            ("log.cleaner.threads", "1".into()),
            ("log.cleaner.dedupe.buffer.size", "4194304".into()),
            // A killed node is fenced after broker.session.timeout.ms (9 s by
            // default): a second and a half here.
            ("broker.session.timeout.ms", "1500".into()),
            ("broker.heartbeat.interval.ms", "250".into()),
            // Followers drop out of the ISR quickly when their node dies.
            ("replica.lag.time.max.ms", "3000".into()),
            // Faster controller elections after a controller dies.
            ("controller.quorum.election.timeout.ms", "500".into()),
            ("controller.quorum.fetch.timeout.ms", "1000".into()),
            // Shorter KIP-848 timings for tests (min <= value <= max, heartbeat < session).
            ("group.consumer.min.session.timeout.ms", "6000".into()),
            ("group.consumer.session.timeout.ms", "10000".into()),
            ("group.consumer.min.heartbeat.interval.ms", "500".into()),
            ("group.consumer.heartbeat.interval.ms", "1000".into()),
            // Small preallocated indexes: many partitions stay cheap on disk.
            ("log.index.size.max.bytes", "1048576".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        // `{node}` in an extra value is this node's id (e.g. `broker.rack=r{node}`).
        for (k, v) in &self.extra {
            let v = v.replace("{node}", &node.node_id.to_string());
            match props.iter_mut().find(|(pk, _)| pk == k) {
                Some(p) => p.1 = v,
                None => props.push((k.clone(), v)),
            }
        }
        props
            .into_iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }

    fn write_properties(&self, i: usize) -> Result<(), String> {
        let node = &self.nodes[i];
        fs::write(node.dir.join("server.properties"), self.properties(i))
            .map_err(|e| format!("write server.properties: {e}"))?;
        Ok(())
    }

    fn spawn(&mut self, i: usize) -> Result<(), String> {
        let node = &mut self.nodes[i];
        node.incarnation += 1;
        let logs = node.dir.join(format!("logs-{}", node.incarnation));
        fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
        let out = fs::File::create(logs.join("stdout.log")).map_err(|e| e.to_string())?;
        let mut cmd = Command::new("java");
        cmd.args(jvm_opts())
            .arg("-cp")
            .arg(classpath())
            .arg(format!("-Dkafkac.test.node={}", node.node_id))
            .arg(format!("-Dlog4j2.configurationFile={}", log4j2().display()))
            .arg(format!("-Dkafka.logs.dir={}", logs.display()))
            .arg("kafka.Kafka")
            .arg(node.dir.join("server.properties"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out);
        let child = spawn_guarded(cmd).map_err(|e| format!("spawn java: {e}"))?;
        node.child = Some(child);
        Ok(())
    }

    fn wait_ready(&mut self, i: usize, deadline: Instant) -> Result<(), String> {
        let node = &mut self.nodes[i];
        let log = node.log_path();
        loop {
            if fs::read_to_string(&log)
                .map(|s| s.contains("Kafka Server started"))
                .unwrap_or(false)
            {
                return Ok(());
            }
            let exited = match node.child.as_mut() {
                Some(c) => !matches!(c.try_wait(), Ok(None)),
                None => true,
            };
            if exited || Instant::now() >= deadline {
                let why = if exited { "exited" } else { "timed out" };
                let stdout = log.with_file_name("stdout.log");
                let msg = format!(
                    "node {} {why} before it was ready; {}:\n{}\n{}:\n{}",
                    node.node_id,
                    log.display(),
                    read_tail(&log, 6000),
                    stdout.display(),
                    read_tail(&stdout, 3000)
                );
                // Other nodes are killed by the caller dropping the cluster.
                if let Some(mut c) = node.child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return Err(msg);
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn index(&self, node_id: i32) -> usize {
        self.nodes
            .iter()
            .position(|n| n.node_id == node_id)
            .unwrap_or_else(|| panic!("no node {node_id}"))
    }

    pub fn node(&self, node_id: i32) -> &KafkaNode {
        &self.nodes[self.index(node_id)]
    }

    /// Kills node `node_id` at once (SIGKILL), like a crash, and reaps it.
    pub fn kill(&mut self, node_id: i32) {
        let i = self.index(node_id);
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops node `node_id` with a controlled shutdown (SIGTERM); SIGKILL if
    /// it has not exited after `grace`.
    pub fn stop(&mut self, node_id: i32, grace: Duration) {
        let i = self.index(node_id);
        if let Some(mut c) = self.nodes[i].child.take() {
            if let Ok(None) = c.try_wait() {
                // SAFETY: kill(2) on our own child, not yet reaped.
                unsafe {
                    libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
                }
            }
            if !matches!(wait_timeout(&mut c, grace), Ok(Some(_))) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// Starts node `node_id` again with its data (killing it first if it
    /// runs) and waits until it is ready. Returns how long that took.
    pub fn restart(&mut self, node_id: i32) -> Duration {
        self.kill(node_id);
        let i = self.index(node_id);
        let t0 = Instant::now();
        self.spawn(i)
            .unwrap_or_else(|e| panic!("restart node {node_id}: {e}"));
        self.wait_ready(i, t0 + KAFKA_START_TIMEOUT)
            .unwrap_or_else(|e| panic!("restart node {node_id}: {e}"));
        t0.elapsed()
    }

    /// Addresses of the nodes that run now, comma-separated.
    pub fn running_bootstrap(&mut self) -> String {
        self.nodes
            .iter_mut()
            .filter_map(|n| n.is_running().then(|| n.addr.clone()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Resident memory of every running node, in bytes, from `/proc`.
    pub fn rss_bytes(&self) -> u64 {
        self.nodes
            .iter()
            .filter_map(|n| n.pid())
            .filter_map(|pid| fs::read_to_string(format!("/proc/{pid}/statm")).ok())
            .filter_map(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map(|pages| pages * 4096)
            .sum()
    }

    /// Where the nodes' data and logs live (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Copies every node's current `server.log` to `target/test-logs/`, for a
    /// failed test's post-mortem; the cluster's directory is removed on drop.
    pub fn keep_logs(&self, tag: &str) {
        for n in &self.nodes {
            let to = log_dir().join(format!(
                "kafka-{tag}-{}-{}-node{}.log",
                std::process::id(),
                unique(),
                n.node_id
            ));
            let _ = fs::copy(n.log_path(), to);
        }
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        if thread::panicking() {
            self.keep_logs("panicked");
        }
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A process that removes `dir` once its stdin closes: when the cluster is
/// dropped, or when the test binary exits in any way. Not tied to the test
/// binary by PDEATHSIG (it must outlive it), and it holds no resources.
fn spawn_janitor(dir: &Path) -> Option<(Child, ChildStdin)> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("cat >/dev/null; sleep 1; rm -rf \"$1\"")
        .arg("kafkac-janitor")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().ok()?;
    let stdin = child.stdin.take()?;
    Some((child, stdin))
}

/// One single-node cluster for the whole test binary (tests that share it
/// must not disturb each other: each uses its own topics).
pub fn shared() -> &'static KafkaCluster {
    static C: OnceLock<KafkaCluster> = OnceLock::new();
    C.get_or_init(|| KafkaCluster::start(1))
}

/// One three-node cluster for the whole test binary, for tests that need
/// replication but stop no node.
pub fn shared3() -> &'static KafkaCluster {
    static C: OnceLock<KafkaCluster> = OnceLock::new();
    C.get_or_init(|| KafkaCluster::start(3))
}
