//! kafkac's group consumer together with the Apache Kafka Java client (kafka-clients
//! 4.3.1), the reference implementation, against Apache Kafka 4.3.1 (one node for the
//! whole binary):
//!
//! * mixed groups: kafkac consumers and Java consumers in one classic group over a
//!   6-partition topic, with the range assignor and with cooperative-sticky. A kafkac
//!   member leads there (it joins first), a Java member in the kill test below: each
//!   side decodes the other's subscriptions and assignments. The
//!   partitions split between all members (each gets some, together all 6, none twice),
//!   partitions move from kafkac members to Java members and back, and every record is
//!   consumed exactly once, each new owner resuming at the last owner's commit;
//! * commits handed over: a Java member commits and closes, a kafkac member resumes
//!   exactly there, commits and closes, and a Java member resumes exactly there;
//! * a Java member killed with SIGKILL while it owns partitions: the kafkac members get
//!   them within session.timeout.ms and one rebalance (the time is printed), no record
//!   is lost, and only records after the killed member's last commit are read again;
//!   the same with three kafkac members over 12 partitions, one of them a process of its
//!   own (`examples-c/consumer`) that is killed (the duplicates are counted);
//! * transactions of the Java transactional producer: kafkac with isolation.level
//!   read_committed (the default) reads exactly the committed records in order, with
//!   read_uncommitted all of them, also when the committed and aborted transactions of
//!   two producers overlap in one partition;
//! * a group on the KIP-848 protocol: Java members on group.protocol=consumer and a
//!   kafkac member on classic in one group (Kafka 4 converts classic members).
//!
//! Each Java member is a JVM of its own running `tests/java/Peer.java` (`group-consume`
//! blocks its JVM while the member runs, and streams its `assigned`, `rec` and
//! `committed` lines as they happen, so a test watches it live and can SIGKILL exactly
//! that member). Every JVM is killed and reaped when its handle drops (also when a test
//! fails) and dies with the test binary at the latest; every wait is bounded.
//! `cargo test --test consumer_interop -- --nocapture` prints the figures.

mod clib;
mod common;

use common::client::{client, create_topic};
use common::kafka;
use common::with_timeout;
use kafkac::client::OffsetSpec;
use kafkac::consumer::assignor::TopicPartition;
use kafkac::consumer::group::CommitOffset;
use kafkac::consumer::{Consumer, Event, RebalanceKind};
use kafkac::error::local;
use kafkac::producer::{Message as Out, Producer, PARTITION_ANY};
use kafkac::Config;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Timeout of one kafkac call.
const T: Duration = Duration::from_secs(30);
/// Limit for one whole test (includes starting the broker and compiling the peer).
const TEST_LIMIT: Duration = Duration::from_secs(240);
/// A Java member's peer abandons a command after this long (`err timed out`).
const PEER_DEADLINE_MS: u64 = 150_000;
/// Limit for a JVM to start and answer `ping`.
const PEER_START_LIMIT: Duration = Duration::from_secs(60);
/// Limit for `javac`.
const JAVAC_LIMIT: Duration = Duration::from_secs(120);
/// Partitions of the group topics.
const PARTITIONS: i32 = 6;
/// session.timeout.ms of every member (the broker's minimum).
const SESSION_MS: u64 = 6_000;
/// JVM flags for the peers: small heap, one GC thread, C1 only.
const PEER_JVM_OPTS: &[&str] = &[
    "-Xms32m",
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
    // Like the broker JVMs, so scripts can find any JVM the suite left behind.
    "-Dkafkac.test.node=java-peer",
    "-Dlog4j2.level=WARN",
];

fn unique() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn bootstrap() -> &'static str {
    &kafka::shared().bootstrap
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// Polls `cond` every 20 ms; panics with `what` after `limit`. How long it took.
fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

// ---------------------------------------------------------------------------
// The Java peer: one JVM per Java member
// ---------------------------------------------------------------------------

/// Compiles `tests/java/Peer.java` into `target/testbin/java-consumer-interop` (again
/// when the source is newer than the class) and returns that directory.
fn peer_classes() -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(compile_peer)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn compile_peer() -> Result<PathBuf, String> {
    let src = common::manifest_dir().join("tests/java/Peer.java");
    let testbin = common::target_dir().join("testbin");
    let dir = testbin.join("java-consumer-interop");
    let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let src_time = mtime(&src).ok_or_else(|| format!("no {}", src.display()))?;
    if mtime(&dir.join("Peer.class")).is_some_and(|c| c >= src_time) {
        return Ok(dir);
    }
    // Compiled into a private directory and moved into place, so a half-written class
    // directory is never used.
    let tmp = testbin.join(format!("java-consumer-interop.{}.tmp", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| format!("create {}: {e}", tmp.display()))?;
    let mut cmd = Command::new("javac");
    cmd.arg("-encoding")
        .arg("UTF-8")
        .arg("-cp")
        .arg(kafka::classpath())
        .arg("-d")
        .arg(&tmp)
        .arg(&src);
    let done = common::run_bounded(cmd, None, JAVAC_LIMIT)
        .map_err(|e| format!("cannot run javac (a JDK is required): {e}"))?;
    if done.status.map(|s| s.success()) != Some(true) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(format!(
            "javac {} failed ({:?}):\n{}{}",
            src.display(),
            done.status,
            String::from_utf8_lossy(&done.stdout),
            done.stderr_text()
        ));
    }
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&tmp, &dir).map_err(|e| format!("move classes to {}: {e}", dir.display()))?;
    Ok(dir)
}

/// One record as a consumer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    partition: i32,
    offset: i64,
    value: String,
    at: Instant,
}

/// What the running command of a JVM has shown so far (reset by each command).
#[derive(Default)]
struct JavaState {
    /// The member's partitions as of its latest `assigned` line.
    assigned: Vec<i32>,
    /// Every `assigned` line.
    changes: Vec<(Instant, Vec<i32>)>,
    recs: Vec<Rec>,
    /// The latest committed offset per partition.
    commits: BTreeMap<i32, i64>,
    /// The terminating line: `Ok(after "ok ")` or `Err(message)`.
    done: Option<Result<String, String>>,
    /// A line outside the protocol, or stdout closed.
    broken: Option<String>,
}

/// A JVM running `Peer`, spawned through [`common::spawn_guarded`]. A reader thread
/// folds its output into [`JavaState`]; commands are sent without waiting, so a test
/// can watch a member while it runs.
struct JavaPeer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    state: Arc<Mutex<JavaState>>,
    log: PathBuf,
}

fn unhex(field: &str) -> Result<Option<Vec<u8>>, String> {
    if field == "-" {
        return Ok(None);
    }
    let h = field
        .strip_prefix(':')
        .ok_or_else(|| format!("bad byte field {field:?}"))?;
    if h.len() % 2 != 0 {
        return Err(format!("bad byte field {field:?}"));
    }
    (0..h.len() / 2)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).map_err(|e| e.to_string()))
        .collect::<Result<Vec<u8>, String>>()
        .map(Some)
}

/// Folds one line of the peer into `s`.
fn take_line(s: &mut JavaState, line: &str) -> Result<(), String> {
    let now = Instant::now();
    let mut f = line.split(' ');
    match f.next() {
        Some("ok") => s.done = Some(Ok(line[2..].trim_start().to_string())),
        Some("err") => s.done = Some(Err(line[3..].trim_start().to_string())),
        Some("assigned") => {
            let parts = f
                .map(|p| p.parse::<i32>().map_err(|e| format!("{line:?}: {e}")))
                .collect::<Result<Vec<i32>, String>>()?;
            s.assigned = parts.clone();
            s.changes.push((now, parts));
        }
        Some("committed") => {
            for c in f {
                let (p, o) = c.split_once(':').ok_or_else(|| format!("{line:?}"))?;
                let p = p.parse().map_err(|e| format!("{line:?}: {e}"))?;
                let o = o.parse().map_err(|e| format!("{line:?}: {e}"))?;
                s.commits.insert(p, o);
            }
        }
        Some("rec") => {
            let (Some(p), Some(o), Some(v), None) = (f.next(), f.next(), f.next(), f.next()) else {
                return Err(format!("bad rec line {line:?}"));
            };
            let value = unhex(v)?.ok_or_else(|| format!("null value in {line:?}"))?;
            s.recs.push(Rec {
                partition: p.parse().map_err(|e| format!("{line:?}: {e}"))?,
                offset: o.parse().map_err(|e| format!("{line:?}: {e}"))?,
                value: String::from_utf8(value).map_err(|e| format!("{line:?}: {e}"))?,
                at: now,
            });
        }
        _ => return Err(format!("line outside the protocol: {line:?}")),
    }
    Ok(())
}

impl JavaPeer {
    fn start(name: &str) -> JavaPeer {
        let classes = peer_classes();
        let log = common::log_dir().join(format!(
            "java-member-{name}-{}-{}.log",
            std::process::id(),
            unique()
        ));
        let err = File::create(&log).expect("create java peer log");
        let mut cmd = Command::new("java");
        cmd.args(PEER_JVM_OPTS)
            .arg(format!("-Dkafkac.peer.deadline.ms={PEER_DEADLINE_MS}"))
            .arg("-cp")
            .arg(format!("{}:{}", classes.display(), kafka::classpath()))
            .arg("Peer")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err);
        let mut child =
            common::spawn_guarded(cmd).unwrap_or_else(|e| panic!("spawn java (Peer): {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let state = Arc::new(Mutex::new(JavaState::default()));
        let st = state.clone();
        thread::Builder::new()
            .name(format!("java-{name}-reader"))
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(l) = line else { break };
                    let mut s = st.lock().unwrap();
                    if let Err(e) = take_line(&mut s, &l) {
                        s.broken.get_or_insert(e);
                    }
                }
                st.lock()
                    .unwrap()
                    .broken
                    .get_or_insert_with(|| "stdout closed".into());
            })
            .expect("spawn reader thread");
        let mut p = JavaPeer {
            name: name.to_string(),
            child,
            stdin,
            state,
            log,
        };
        p.send("ping");
        let ok = p
            .wait_done(PEER_START_LIMIT)
            .unwrap_or_else(|e| panic!("ping: {e}"));
        assert!(ok.contains("kafka-clients=4.3.1"), "{ok}");
        p
    }

    /// Sends one command line; what it shows goes to a fresh [`JavaState`].
    fn send(&mut self, command: &str) {
        *self.state.lock().unwrap() = JavaState::default();
        let stdin = self.stdin.as_mut().expect("stdin open");
        if let Err(e) = writeln!(stdin, "{command}").and_then(|_| stdin.flush()) {
            self.fail(&format!("write {command:?}: {e}"));
        }
    }

    fn stderr_tail(&self) -> String {
        let mut buf = Vec::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_end(&mut buf);
        }
        let start = buf.len().saturating_sub(6000);
        String::from_utf8_lossy(&buf[start..]).into_owned()
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "java member {}: {what}; stderr {}:\n{}",
            self.name,
            self.log.display(),
            self.stderr_tail()
        );
    }

    /// Reads the state; panics if the stream went out of the protocol.
    fn with<R>(&self, f: impl FnOnce(&JavaState) -> R) -> R {
        let s = self.state.lock().unwrap();
        if let Some(b) = &s.broken {
            if s.done.is_none() {
                let b = b.clone();
                drop(s);
                self.fail(&b);
            }
        }
        f(&s)
    }

    fn assigned(&self) -> Vec<i32> {
        self.with(|s| s.assigned.clone())
    }

    /// Waits up to `limit` for the command's terminating line.
    fn wait_done(&self, limit: Duration) -> Result<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(d) = self.with(|s| s.done.clone()) {
                return d;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("no answer within {limit:?}"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Like [`wait_done`](Self::wait_done), failing the test on `err`.
    fn expect_ok(&self, limit: Duration) -> String {
        self.wait_done(limit)
            .unwrap_or_else(|e| self.fail(&format!("err {e}")))
    }

    /// Starts a classic group member (`group-consume`, see Peer.java) that commits
    /// after each poll, with the session timeout of the kafkac members.
    fn group_consume(
        &mut self,
        group: &str,
        topic: &str,
        strategy: &str,
        max: usize,
        idle_ms: u64,
    ) {
        self.group_consume_committing(group, topic, strategy, max, idle_ms, "sync");
    }

    /// Like [`group_consume`](Self::group_consume), committing as `commit` says.
    fn group_consume_committing(
        &mut self,
        group: &str,
        topic: &str,
        strategy: &str,
        max: usize,
        idle_ms: u64,
        commit: &str,
    ) {
        self.send(&format!(
            "group-consume {} {group} {topic} {strategy} classic {max} {idle_ms} {commit} \
             session.timeout.ms={SESSION_MS} heartbeat.interval.ms=500",
            bootstrap()
        ));
    }

    /// SIGKILL, then reap. What the member showed stays readable.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.state
            .lock()
            .unwrap()
            .done
            .get_or_insert_with(|| Err("killed".into()));
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for JavaPeer {
    fn drop(&mut self) {
        // Closing stdin ends an idle JVM; one still running a command is killed.
        self.stdin = None;
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// kafkac members and the producer
// ---------------------------------------------------------------------------

/// A kafkac group member polled by a thread of its own: its assignment as the rebalance
/// callback told it, and the records it consumed.
struct KafkacMember {
    consumer: Arc<Consumer>,
    assigned: Arc<Mutex<Vec<i32>>>,
    got: Arc<Mutex<Vec<Rec>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn consumer_config(settings: &[(&str, &str)]) -> Config {
    let mut c = Config::new();
    c.set("bootstrap.servers", bootstrap()).unwrap();
    c.set("retry.backoff.ms", "50").unwrap();
    for (k, v) in settings {
        c.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    c
}

fn value_of(m: &kafkac::consumer::Message) -> String {
    String::from_utf8(m.value().expect("a value").to_vec()).expect("a UTF-8 value")
}

impl KafkacMember {
    fn start(group: &str, topic: &str, strategy: &str) -> KafkacMember {
        let session = SESSION_MS.to_string();
        let c = Consumer::new(&consumer_config(&[
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("partition.assignment.strategy", strategy),
            ("session.timeout.ms", &session),
            ("heartbeat.interval.ms", "500"),
            ("auto.commit.interval.ms", "200"),
        ]))
        .unwrap();
        let assigned = Arc::new(Mutex::new(Vec::new()));
        let seen = assigned.clone();
        c.set_rebalance_callback(Some(Box::new(move |_, kind, tps| {
            let mut a = seen.lock().unwrap();
            let ps = tps.iter().map(|t| t.partition);
            match kind {
                RebalanceKind::Assign => a.extend(ps),
                _ => {
                    let gone: Vec<i32> = ps.collect();
                    a.retain(|p| !gone.contains(p));
                }
            }
            a.sort_unstable();
        })));
        c.subscribe(&[topic]).unwrap();
        let consumer = Arc::new(c);
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (c, got, stop) = (consumer.clone(), got.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    for e in c.poll_batch(200, Duration::from_millis(50)) {
                        match e {
                            Event::Message(m) => got.lock().unwrap().push(Rec {
                                partition: m.partition(),
                                offset: m.offset(),
                                value: value_of(&m),
                                at: Instant::now(),
                            }),
                            Event::Error { error, .. } if error.code == local::PARTITION_EOF => {}
                            Event::Error { error, .. } => panic!("kafkac member: {error}"),
                        }
                    }
                }
            })
        };
        KafkacMember {
            consumer,
            assigned,
            got,
            stop,
            thread: Some(thread),
        }
    }

    fn assigned(&self) -> Vec<i32> {
        self.assigned.lock().unwrap().clone()
    }

    fn got(&self) -> Vec<Rec> {
        self.got.lock().unwrap().clone()
    }

    /// Stops polling, then closes (committing what was consumed: auto-commit).
    fn close(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.join().expect("kafkac member's poll thread");
        }
        self.consumer.close(Duration::from_secs(10)).unwrap();
    }
}

impl Drop for KafkacMember {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = self.consumer.close(Duration::from_secs(5));
    }
}

/// Produces the records `from..from + n` (value and key "<i>") spread over the topic's
/// partitions and waits for every one to be delivered.
fn produce(topic: &str, from: usize, n: usize) {
    let mut c = Config::new();
    c.set("bootstrap.servers", bootstrap()).unwrap();
    c.set("linger.ms", "5").unwrap();
    let p = Producer::new(&c).unwrap();
    for i in from..from + n {
        let v = i.to_string();
        p.send_blocking(
            &Out {
                topic,
                partition: PARTITION_ANY,
                key: Some(v.as_bytes()),
                value: Some(v.as_bytes()),
                opaque: i,
                ..Default::default()
            },
            T,
        )
        .unwrap_or_else(|e| panic!("send {i}: {e}"));
    }
    let mut failed = 0;
    p.flush(T, |r| failed += usize::from(r.error.is_some()))
        .unwrap_or_else(|e| panic!("flush: {e}"));
    assert_eq!(failed, 0, "{failed} records not delivered");
    p.close(T);
}

fn new_topic(name: &str, partitions: i32) {
    create_topic(&client(bootstrap()), name, partitions, 1, &[], T);
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// Whether the members' assignments split the topic (of [`PARTITIONS`]): each member
/// some, all together every partition, none twice.
fn split(assignments: &[Vec<i32>]) -> bool {
    split_of(assignments, PARTITIONS)
}

/// [`split`] for a topic of `partitions`.
fn split_of(assignments: &[Vec<i32>], partitions: i32) -> bool {
    let all: Vec<i32> = assignments.iter().flatten().copied().collect();
    let set: BTreeSet<i32> = all.iter().copied().collect();
    assignments.iter().all(|a| !a.is_empty())
        && all.len() == set.len()
        && set.into_iter().eq(0..partitions)
}

/// Every value `0..n` appears in `recs` exactly once, and per partition the offsets run
/// from 0 without a gap or repeat (so each new owner of a partition started at exactly
/// the offset its last owner committed).
fn check_exactly_once(who: &[(&str, &[Rec])], n: usize) {
    let mut values: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut by_partition: BTreeMap<i32, Vec<(i64, &str)>> = BTreeMap::new();
    for (name, recs) in who {
        for r in recs.iter() {
            values.entry(r.value.as_str()).or_default().push(name);
            by_partition
                .entry(r.partition)
                .or_default()
                .push((r.offset, name));
        }
    }
    let twice: Vec<String> = values
        .iter()
        .filter(|(_, w)| w.len() > 1)
        .map(|(v, w)| format!("{v} by {w:?}"))
        .take(20)
        .collect();
    assert!(twice.is_empty(), "records consumed twice: {twice:?}");
    let missing: Vec<usize> = (0..n)
        .filter(|i| !values.contains_key(i.to_string().as_str()))
        .take(20)
        .collect();
    assert!(missing.is_empty(), "records never consumed: {missing:?}...");
    assert_eq!(values.len(), n, "values consumed");
    for (p, mut offs) in by_partition {
        offs.sort_unstable();
        for (i, (o, _)) in offs.iter().enumerate() {
            assert_eq!(*o, i as i64, "partition {p}: offsets {offs:?}");
        }
    }
}

/// How many times a partition went from one member's records to another's: (from a
/// Java member to kafkac, from kafkac to Java).
fn handoffs(who: &[(&str, bool, &[Rec])]) -> (usize, usize) {
    let mut by_partition: BTreeMap<i32, Vec<(i64, bool)>> = BTreeMap::new();
    for (_, java, recs) in who {
        for r in recs.iter() {
            by_partition
                .entry(r.partition)
                .or_default()
                .push((r.offset, *java));
        }
    }
    let (mut to_kafkac, mut to_java) = (0, 0);
    for offs in by_partition.values_mut() {
        offs.sort_unstable();
        for w in offs.windows(2) {
            match (w[0].1, w[1].1) {
                (true, false) => to_kafkac += 1,
                (false, true) => to_java += 1,
                _ => {}
            }
        }
    }
    (to_kafkac, to_java)
}

// ---------------------------------------------------------------------------
// Mixed groups
// ---------------------------------------------------------------------------

/// Two kafkac members consume a 6-partition topic; two Java members join (partitions
/// move to them from kafkac, resuming at kafkac's commits); all four split the topic
/// and each consumes records of its own; the Java members go idle, commit and leave
/// (their partitions go back to kafkac, resuming at Java's commits). Every record is
/// consumed exactly once.
fn mixed_group(strategy: &str) {
    let topic = format!("ci-mixed-{strategy}");
    let group = format!("ci-mixed-group-{strategy}");
    new_topic(&topic, PARTITIONS);
    produce(&topic, 0, 2_000);
    let mut k: Vec<KafkacMember> = (0..2)
        .map(|_| KafkacMember::start(&group, &topic, strategy))
        .collect();
    wait_for(
        T,
        "the kafkac members to read the first 2000 records",
        || k.iter().map(|m| m.got().len()).sum::<usize>() >= 2_000,
    );
    // Two Java members join; they stay while records come or the assignment changes.
    let mut j: Vec<JavaPeer> = (0..2)
        .map(|i| JavaPeer::start(&format!("mixed-{strategy}-{i}")))
        .collect();
    for m in &mut j {
        m.group_consume(&group, &topic, strategy, 0, 6_000);
    }
    let assignments = |k: &[KafkacMember], j: &[JavaPeer]| -> Vec<Vec<i32>> {
        k.iter()
            .map(|m| m.assigned())
            .chain(j.iter().map(|m| m.assigned()))
            .collect()
    };
    let took = wait_for(T, "all four members to split the topic", || {
        split(&assignments(&k, &j))
    });
    let seen = assignments(&k, &j);
    eprintln!("{strategy}: split {seen:?} (kafkac, kafkac, java, java) {took:?} after the Java members started");
    // New records: each member reads some of its partitions'.
    produce(&topic, 2_000, 2_000);
    let all_recs = |k: &[KafkacMember], j: &[JavaPeer]| -> usize {
        k.iter().map(|m| m.got().len()).sum::<usize>()
            + j.iter().map(|m| m.with(|s| s.recs.len())).sum::<usize>()
    };
    wait_for(T, "the second 2000 records", || all_recs(&k, &j) >= 4_000);
    let second: Vec<usize> = k
        .iter()
        .map(|m| {
            m.got()
                .iter()
                .filter(|r| r.value.parse::<usize>().unwrap() >= 2_000)
                .count()
        })
        .chain(j.iter().map(|m| {
            m.with(|s| {
                s.recs
                    .iter()
                    .filter(|r| r.value.parse::<usize>().unwrap() >= 2_000)
                    .count()
            })
        }))
        .collect();
    eprintln!("{strategy}: records of the second batch per member {second:?}");
    assert!(
        second.iter().all(|&n| n > 0),
        "a member read none of the second batch: {second:?} (assignments {:?})",
        assignments(&k, &j)
    );
    // The Java members go idle and leave; kafkac takes their partitions back.
    for m in &j {
        let n = m.expect_ok(Duration::from_secs(60));
        eprintln!("{strategy}: java member {} read {n} records", m.name);
    }
    wait_for(T, "the kafkac members to own the topic again", || {
        split(&k.iter().map(|m| m.assigned()).collect::<Vec<_>>())
    });
    produce(&topic, 4_000, 1_000);
    wait_for(T, "the last 1000 records", || all_recs(&k, &j) >= 5_000);
    // Give a duplicate a moment to show up.
    thread::sleep(Duration::from_millis(500));
    for m in &mut k {
        m.close();
    }
    let java: Vec<Vec<Rec>> = j.iter().map(|m| m.with(|s| s.recs.clone())).collect();
    let kafkac: Vec<Vec<Rec>> = k.iter().map(|m| m.got()).collect();
    let who: Vec<(&str, &[Rec])> = vec![
        ("kafkac-0", &kafkac[0]),
        ("kafkac-1", &kafkac[1]),
        ("java-0", &java[0]),
        ("java-1", &java[1]),
    ];
    check_exactly_once(&who, 5_000);
    let (to_kafkac, to_java) = handoffs(&[
        ("kafkac-0", false, &kafkac[0]),
        ("kafkac-1", false, &kafkac[1]),
        ("java-0", true, &java[0]),
        ("java-1", true, &java[1]),
    ]);
    eprintln!(
        "{strategy}: partitions handed from kafkac to Java {to_java} times, back {to_kafkac} times"
    );
    assert!(
        to_java > 0 && to_kafkac > 0,
        "handoffs {to_java} / {to_kafkac}"
    );
}

#[test]
fn mixed_group_with_the_range_assignor() {
    with_timeout(TEST_LIMIT, || mixed_group("range"));
}

#[test]
fn mixed_group_with_the_cooperative_sticky_assignor() {
    with_timeout(TEST_LIMIT, || mixed_group("cooperative-sticky"));
}

// ---------------------------------------------------------------------------
// Commits handed over one member at a time
// ---------------------------------------------------------------------------

/// The first offset read per partition.
fn first_offsets(recs: &[Rec]) -> BTreeMap<i32, i64> {
    let mut m = BTreeMap::new();
    for r in recs {
        m.entry(r.partition).or_insert(r.offset);
    }
    m
}

/// The group's committed offsets of `tps`, by partition (partitions without one left
/// out).
fn committed_offsets(c: &Consumer, tps: &[TopicPartition]) -> BTreeMap<i32, i64> {
    c.committed(tps, T)
        .unwrap()
        .into_iter()
        .filter(|(_, o)| *o >= 0)
        .map(|(t, o)| (t.partition, o))
        .collect()
}

/// The offset after the last record read per partition.
fn next_offsets(recs: &[Rec]) -> BTreeMap<i32, i64> {
    let mut m = BTreeMap::new();
    for r in recs {
        let e = m.entry(r.partition).or_insert(0);
        *e = (*e).max(r.offset + 1);
    }
    m
}

/// Every partition that has records past `commits` starts there (0 where nothing was
/// committed).
fn check_resumes(what: &str, recs: &[Rec], commits: &BTreeMap<i32, i64>) {
    for (p, first) in first_offsets(recs) {
        let want = commits.get(&p).copied().unwrap_or(0);
        assert_eq!(
            first, want,
            "{what}: partition {p} starts at {first}, committed {want}"
        );
    }
}

#[test]
fn kafkac_and_java_members_resume_from_each_others_commits() {
    with_timeout(TEST_LIMIT, || {
        let topic = "ci-resume";
        let group = "ci-resume-group";
        new_topic(topic, PARTITIONS);
        produce(topic, 0, 1_200);
        let tps: Vec<TopicPartition> = (0..PARTITIONS).map(|p| tp(topic, p)).collect();

        // Java reads 300 records, commits exactly those and closes.
        let mut java = JavaPeer::start("resume");
        java.group_consume(group, topic, "range", 300, 5_000);
        assert_eq!(java.expect_ok(Duration::from_secs(60)), "300");
        let (first, java_commits) = java.with(|s| (s.recs.clone(), s.commits.clone()));
        assert_eq!(first.len(), 300);
        assert_eq!(java_commits, next_offsets(&first), "Java's commits");

        // kafkac sees those commits, resumes exactly there, reads 300, commits, closes.
        let c = Consumer::new(&consumer_config(&[
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("partition.assignment.strategy", "range"),
            ("enable.auto.commit", "false"),
        ]))
        .unwrap();
        let seen = committed_offsets(&c, &tps);
        assert_eq!(seen, java_commits, "what kafkac sees committed");
        c.subscribe(&[topic]).unwrap();
        let mut second = Vec::new();
        let deadline = Instant::now() + T;
        while second.len() < 300 && Instant::now() < deadline {
            for e in c.poll_batch(300 - second.len(), Duration::from_millis(100)) {
                match e {
                    Event::Message(m) => second.push(Rec {
                        partition: m.partition(),
                        offset: m.offset(),
                        value: value_of(&m),
                        at: Instant::now(),
                    }),
                    Event::Error { error, .. } => panic!("kafkac: {error}"),
                }
            }
        }
        assert_eq!(second.len(), 300, "kafkac read");
        check_resumes("kafkac after Java", &second, &java_commits);
        c.commit(None, false).unwrap();
        let mut kafkac_commits = java_commits.clone();
        kafkac_commits.extend(next_offsets(&second));
        let seen = committed_offsets(&c, &tps);
        assert_eq!(seen, kafkac_commits, "kafkac's commits");
        c.close(Duration::from_secs(10)).unwrap();

        // Java resumes exactly at kafkac's commits and reads the rest.
        java.group_consume(group, topic, "range", 0, 3_000);
        assert_eq!(java.expect_ok(Duration::from_secs(60)), "600");
        let third = java.with(|s| s.recs.clone());
        check_resumes("Java after kafkac", &third, &kafkac_commits);
        check_exactly_once(
            &[
                ("java", &first),
                ("kafkac", &second),
                ("java again", &third),
            ],
            1_200,
        );
    })
}

// ---------------------------------------------------------------------------
// A Java member killed
// ---------------------------------------------------------------------------

/// A kafkac producer sending "<i>" for i = 0, 1, 2, ... about every millisecond until
/// stopped; how many it sent (all delivered).
fn produce_until(topic: &str, stop: Arc<AtomicBool>) -> JoinHandle<usize> {
    let topic = topic.to_string();
    thread::spawn(move || {
        let mut c = Config::new();
        c.set("bootstrap.servers", bootstrap()).unwrap();
        c.set("linger.ms", "5").unwrap();
        let p = Producer::new(&c).unwrap();
        let mut i = 0usize;
        while !stop.load(Ordering::Acquire) {
            let v = i.to_string();
            p.send_blocking(
                &Out {
                    topic: &topic,
                    partition: PARTITION_ANY,
                    key: Some(v.as_bytes()),
                    value: Some(v.as_bytes()),
                    opaque: i,
                    ..Default::default()
                },
                T,
            )
            .unwrap_or_else(|e| panic!("send {i}: {e}"));
            i += 1;
            p.poll(Duration::ZERO, |r| {
                assert!(r.error.is_none(), "{:?}", r.error)
            });
            thread::sleep(Duration::from_millis(1));
        }
        p.flush(T, |r| assert!(r.error.is_none(), "{:?}", r.error))
            .unwrap_or_else(|e| panic!("flush: {e}"));
        p.close(T);
        i
    })
}

/// A Java member (the group's leader: it joins first and owns the whole topic) and two
/// kafkac members share a topic fed continuously; the Java JVM is killed with SIGKILL.
/// The kafkac members own every partition within session.timeout.ms plus a rebalance,
/// nothing is lost, and only records after the Java member's last commit are read
/// twice.
fn killed_java_member(strategy: &str) {
    let topic = format!("ci-kill-{strategy}");
    let group = format!("ci-kill-group-{strategy}");
    new_topic(&topic, PARTITIONS);
    let stop = Arc::new(AtomicBool::new(false));
    let producer = produce_until(&topic, stop.clone());
    let mut java = JavaPeer::start(&format!("kill-{strategy}"));
    // Commits at most once a second: the records after its last commit are read again.
    java.group_consume_committing(&group, &topic, strategy, 0, 120_000, "sync:1000");
    wait_for(T, "the Java member to own the topic", || {
        java.assigned().len() == PARTITIONS as usize
    });
    let k: Vec<KafkacMember> = (0..2)
        .map(|_| KafkacMember::start(&group, &topic, strategy))
        .collect();
    let all = |k: &[KafkacMember], java: &JavaPeer| {
        k.iter()
            .map(|m| m.assigned())
            .chain([java.assigned()])
            .collect::<Vec<_>>()
    };
    wait_for(T, "three members to split the topic", || {
        split(&all(&k, &java))
    });
    let split_at = Instant::now();
    let owned = java.assigned();
    wait_for(T, "the Java member to read its partitions", || {
        java.with(|s| s.recs.iter().filter(|r| r.at > split_at).count() >= 100)
    });
    let pid = java.pid();
    java.kill();
    let (java_recs, java_commits) = java.with(|s| (s.recs.clone(), s.commits.clone()));
    let moved = wait_for(
        Duration::from_millis(SESSION_MS) + T,
        "the kafkac members to own the topic",
        || split(&k.iter().map(|m| m.assigned()).collect::<Vec<_>>()),
    );
    eprintln!(
        "{strategy}: Java member (pid {pid}) owned {owned:?} when killed; the kafkac members \
         owned every partition {} ms later (session.timeout.ms {SESSION_MS}): {:?}",
        moved.as_millis(),
        k.iter().map(|m| m.assigned()).collect::<Vec<_>>()
    );
    let n = moved_in_time_then_stop(moved, &stop, producer);
    let twice = check_reads_after_kill("java", &java_recs, &k, n, &owned, &java_commits);
    eprintln!(
        "{strategy}: {n} records, {} read by the Java member before the kill, {} read twice \
         (after its last commits {java_commits:?})",
        java_recs.len(),
        twice
    );
    drop(k);
}

/// Checks that a killed member's partitions moved within session.timeout.ms plus a
/// rebalance (`moved` after the kill), then stops the producer a second later: how many
/// records it sent.
fn moved_in_time_then_stop(
    moved: Duration,
    stop: &AtomicBool,
    producer: JoinHandle<usize>,
) -> usize {
    assert!(
        moved < Duration::from_millis(SESSION_MS + 6_000),
        "partitions moved {moved:?} after the kill"
    );
    thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Release);
    producer.join().expect("producer thread")
}

/// Waits until the killed member (`who`, the records it read, the partitions it owned
/// and its last commits) and the surviving kafkac members have read all `n` records
/// between them, then checks that each record read twice is one of the killed member's
/// partitions at or after its last commit, read once by it and once by a survivor.
/// Returns how many were read twice.
fn check_reads_after_kill(
    who: &str,
    killed: &[Rec],
    k: &[KafkacMember],
    n: usize,
    owned: &[i32],
    commits: &BTreeMap<i32, i64>,
) -> usize {
    let distinct = |survivors: &[Vec<Rec>]| {
        let mut v: BTreeSet<&str> = killed.iter().map(|r| r.value.as_str()).collect();
        v.extend(survivors.iter().flatten().map(|r| r.value.as_str()));
        v.len()
    };
    wait_for(T, "every record", || {
        distinct(&k.iter().map(|m| m.got()).collect::<Vec<_>>()) >= n
    });
    thread::sleep(Duration::from_millis(500));
    let survivors: Vec<Vec<Rec>> = k.iter().map(|m| m.got()).collect();
    // Per value: who read it, from which partition and offset.
    let mut reads: HashMap<&str, Vec<(String, i32, i64)>> = HashMap::new();
    for r in killed {
        reads
            .entry(r.value.as_str())
            .or_default()
            .push((who.to_string(), r.partition, r.offset));
    }
    for (i, recs) in survivors.iter().enumerate() {
        for r in recs {
            reads.entry(r.value.as_str()).or_default().push((
                format!("kafkac-{i}"),
                r.partition,
                r.offset,
            ));
        }
    }
    assert_eq!(reads.len(), n, "distinct records read, of {n} produced");
    let twice: Vec<_> = reads.iter().filter(|(_, w)| w.len() > 1).collect();
    for (v, w) in &twice {
        let (_, p, o) = w[0];
        let by_killed = w.iter().filter(|x| x.0 == who).count();
        let after_commit = o >= commits.get(&p).copied().unwrap_or(0);
        assert!(
            w.len() == 2 && by_killed == 1 && after_commit && owned.contains(&p),
            "record {v} ({p}:{o}) read {w:?}; {who}'s last commits {commits:?}"
        );
    }
    twice.len()
}

#[test]
fn a_killed_java_member_s_partitions_go_to_the_kafkac_members_range() {
    with_timeout(TEST_LIMIT, || killed_java_member("range"));
}

#[test]
fn a_killed_java_member_s_partitions_go_to_the_kafkac_members_cooperative_sticky() {
    with_timeout(TEST_LIMIT, || killed_java_member("cooperative-sticky"));
}

// ---------------------------------------------------------------------------
// A kafkac member killed
// ---------------------------------------------------------------------------

/// The topic of the kafkac kill test: 4 partitions for each of 3 members.
const KILL_PARTITIONS: i32 = 12;

/// `examples-c/consumer`, built once for this binary.
fn consumer_example() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = clib::bin_dir().join("consumer_interop_consumer");
        let src = clib::manifest_dir().join("examples-c/consumer.c");
        let flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"];
        clib::compile(&clib::cc(), &src, &flags, Some(clib::Link::Static), &out)
            .unwrap_or_else(|e| panic!("{e}"));
        out
    })
}

/// A kafkac member in a process of its own: `examples-c/consumer` (auto-commit every
/// second), its stdout line-buffered so that every record it was given is read here
/// before it polls again (and so before auto-commit can count it). Killed with SIGKILL
/// by `kill` and when dropped.
struct ChildMember {
    child: Child,
    recs: Arc<Mutex<Vec<Rec>>>,
    reader: Option<JoinHandle<()>>,
}

impl ChildMember {
    fn start(group: &str, topic: &str) -> ChildMember {
        let session = format!("session.timeout.ms={SESSION_MS}");
        let mut child = Command::new("stdbuf")
            .arg("-oL")
            .arg(consumer_example())
            .args([bootstrap(), group, topic])
            .args(["-X", &session, "-X", "heartbeat.interval.ms=500"])
            .args([
                "-X",
                "auto.offset.reset=earliest",
                "-X",
                "auto.commit.interval.ms=1000",
            ])
            .args([
                "-X",
                "partition.assignment.strategy=range",
                "-X",
                "retry.backoff.ms=50",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("stdbuf (coreutils) running the consumer example: {e}"));
        let out = child.stdout.take().expect("piped stdout");
        let recs = Arc::new(Mutex::new(Vec::new()));
        let seen = recs.clone();
        // The default format: "<partition> <offset> <key> <value>".
        let reader = thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let f: Vec<&str> = line.split(' ').collect();
                assert_eq!(f.len(), 4, "a record line: {line:?}");
                seen.lock().unwrap().push(Rec {
                    partition: f[0].parse().expect("a partition"),
                    offset: f[1].parse().expect("an offset"),
                    value: f[3].to_string(),
                    at: Instant::now(),
                });
            }
        });
        ChildMember {
            child,
            recs,
            reader: Some(reader),
        }
    }

    fn recs(&self) -> Vec<Rec> {
        self.recs.lock().unwrap().clone()
    }

    /// SIGKILL, then reap, then read what it had printed.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(t) = self.reader.take() {
            t.join().expect("the record reader");
        }
    }
}

impl Drop for ChildMember {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three kafkac members over 12 partitions, one a process of its own: each gets 4. The
/// process is killed with SIGKILL while records flow; the two others own every
/// partition within session.timeout.ms plus a rebalance, no record is lost, and the
/// records read twice are exactly records of the killed member's partitions at or
/// after its last commit (read once by it, once by a survivor). They are counted.
#[test]
fn a_killed_kafkac_member_s_partitions_go_to_the_others() {
    with_timeout(TEST_LIMIT, || {
        let topic = "ci-kill-kafkac";
        let group = "ci-kill-kafkac-group";
        new_topic(topic, KILL_PARTITIONS);
        consumer_example();
        let stop = Arc::new(AtomicBool::new(false));
        let producer = produce_until(topic, stop.clone());
        let mut child = ChildMember::start(group, topic);
        wait_for(T, "the process member to read", || !child.recs().is_empty());
        let k: Vec<KafkacMember> = (0..2)
            .map(|_| KafkacMember::start(group, topic, "range"))
            .collect();
        let four_each = |k: &[KafkacMember]| {
            let a: Vec<Vec<i32>> = k.iter().map(|m| m.assigned()).collect();
            let all: BTreeSet<i32> = a.iter().flatten().copied().collect();
            a.iter().all(|x| x.len() == 4) && all.len() == 8
        };
        wait_for(T, "the in-process members to own 4 partitions each", || {
            four_each(&k)
        });
        let theirs: BTreeSet<i32> = k.iter().flat_map(|m| m.assigned()).collect();
        let owned: Vec<i32> = (0..KILL_PARTITIONS)
            .filter(|p| !theirs.contains(p))
            .collect();
        assert_eq!(owned.len(), 4, "the process member's share");
        let split_at = Instant::now();
        wait_for(T, "the process member to read its 4 partitions", || {
            let got: BTreeSet<i32> = child
                .recs()
                .iter()
                .filter(|r| r.at > split_at)
                .map(|r| r.partition)
                .collect();
            got.len() == 4
        });
        child.kill();
        let killed_at = Instant::now();
        let child_recs = child.recs();
        // Its last commits, read before its session ends (nobody else owns its partitions
        // until then).
        let probe = Consumer::new(&consumer_config(&[("group.id", group)])).unwrap();
        let tps: Vec<TopicPartition> = owned.iter().map(|&p| tp(topic, p)).collect();
        let commits = committed_offsets(&probe, &tps);
        assert!(
            killed_at.elapsed() < Duration::from_millis(SESSION_MS),
            "the commits were read after the session could end"
        );
        drop(probe);
        let moved = wait_for(
            Duration::from_millis(SESSION_MS) + T,
            "the two others to own every partition",
            || {
                let a: Vec<Vec<i32>> = k.iter().map(|m| m.assigned()).collect();
                split_of(&a, KILL_PARTITIONS)
            },
        );
        let n = moved_in_time_then_stop(moved, &stop, producer);
        let twice = check_reads_after_kill("process", &child_recs, &k, n, &owned, &commits);
        eprintln!(
            "kafkac member killed: owned {owned:?}; the two others owned every partition {} ms \
             after the kill (session.timeout.ms {SESSION_MS}); {n} records, {} read by it, {} \
             read twice (at or after its last commits {commits:?})",
            moved.as_millis(),
            child_recs.len(),
            twice
        );
        drop(k);
    })
}

// ---------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------

/// Runs `produce-tx` (see Peer.java) on partition 0 of `topic`; the records in send
/// order.
fn produce_tx(topic: &str, ids: &str, plans: &str) -> Vec<Rec> {
    let mut java = JavaPeer::start("tx");
    java.send(&format!("produce-tx {} {topic} {ids} {plans}", bootstrap()));
    let n = java.expect_ok(Duration::from_secs(90));
    let recs = java.with(|s| s.recs.clone());
    assert_eq!(n, recs.len().to_string());
    recs
}

/// Whether a record's value names a committed transaction (`<id>/<t>/c/<i>`).
fn committed_value(v: &str) -> bool {
    v.split('/').nth(2) == Some("c")
}

/// Reads partition 0 of `topic` from the start to its end with a kafkac consumer (no
/// group) with `settings`: the values in order, with their offsets.
fn read_all(topic: &str, settings: &[(&str, &str)]) -> Vec<(i64, String)> {
    let end = client(bootstrap())
        .list_offsets(topic, 0, OffsetSpec::Latest, T)
        .unwrap()
        .offset;
    let mut s = vec![("enable.partition.eof", "true")];
    s.extend_from_slice(settings);
    let c = Consumer::new(&consumer_config(&s)).unwrap();
    c.assign(&[(tp(topic, 0), Some(-2))]).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + T;
    'read: loop {
        assert!(Instant::now() < deadline, "no end of partition at {end}");
        for e in c.poll_batch(500, Duration::from_millis(100)) {
            match e {
                Event::Message(m) => got.push((m.offset(), value_of(&m))),
                Event::Error { error, offset, .. } if error.code == local::PARTITION_EOF => {
                    if offset >= end {
                        assert_eq!(offset, end, "end of partition");
                        break 'read;
                    }
                }
                Event::Error { error, .. } => panic!("kafkac: {error}"),
            }
        }
    }
    // Nothing more comes after the end.
    for e in c.poll_batch(10, Duration::from_millis(300)) {
        if let Event::Message(m) = e {
            panic!("record {} after the end at {end}", m.offset());
        }
    }
    c.close(Duration::from_secs(5)).unwrap();
    got
}

/// Reads `topic` read_committed (the default, and set explicitly) and read_uncommitted
/// and compares with what the transactional producers sent.
fn check_isolation(topic: &str, sent: &[Rec]) {
    let mut all: Vec<(i64, String)> = sent.iter().map(|r| (r.offset, r.value.clone())).collect();
    all.sort();
    let committed: Vec<(i64, String)> = all
        .iter()
        .filter(|(_, v)| committed_value(v))
        .cloned()
        .collect();
    assert!(committed.len() < all.len() && !committed.is_empty());
    let got = read_all(topic, &[]);
    assert_eq!(got, committed, "read_committed by default");
    let got = read_all(topic, &[("isolation.level", "read_committed")]);
    assert_eq!(got, committed, "read_committed");
    let got = read_all(topic, &[("isolation.level", "read_uncommitted")]);
    assert_eq!(got, all, "read_uncommitted");
    eprintln!(
        "{topic}: {} records in {} transactions, {} committed",
        all.len(),
        sent.iter()
            .map(|r| r.value.rsplit_once('/').unwrap().0)
            .collect::<BTreeSet<_>>()
            .len(),
        committed.len(),
    );
}

#[test]
fn read_committed_reads_exactly_the_committed_transactions_of_a_java_producer() {
    with_timeout(TEST_LIMIT, || {
        let topic = "ci-tx-one";
        new_topic(topic, 1);
        let sent = produce_tx(topic, "ci-tx-one-id", "c5,a3,c2,a1,a4,c1,c3");
        assert_eq!(sent.len(), 19);
        check_isolation(topic, &sent);
    })
}

#[test]
fn read_committed_with_two_transactional_producers_overlapping_in_one_partition() {
    with_timeout(TEST_LIMIT, || {
        let topic = "ci-tx-two";
        new_topic(topic, 1);
        let sent = produce_tx(topic, "ci-tx-a,ci-tx-b", "c4,a3,c2,a5,c1/a3,c5,a2,c3,a1");
        assert_eq!(sent.len(), 29);
        // The transactions overlap: records of an aborted transaction lie between
        // records of a committed one of the other producer, and the reverse.
        let mut spans: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for r in &sent {
            let t = r.value.rsplit_once('/').unwrap().0;
            let e = spans.entry(t).or_insert((r.offset, r.offset));
            e.0 = e.0.min(r.offset);
            e.1 = e.1.max(r.offset);
        }
        let inside = |outcome_of_span: bool| {
            sent.iter().any(|r| {
                spans.iter().any(|(t, (lo, hi))| {
                    committed_value(&format!("{t}/")) == outcome_of_span
                        && committed_value(&r.value) != outcome_of_span
                        && r.offset > *lo
                        && r.offset < *hi
                })
            })
        };
        assert!(
            inside(true),
            "no aborted record inside a committed transaction"
        );
        assert!(
            inside(false),
            "no committed record inside an aborted transaction"
        );
        check_isolation(topic, &sent);
    })
}

// ---------------------------------------------------------------------------
// Offsets without a subscription
// ---------------------------------------------------------------------------

/// A consumer that has neither subscribed nor been assigned anything yet commits
/// offsets and reads committed ones (as an application does to decide where to start,
/// like the kafkac member above that resumes from a Java member's commits): both are
/// answered although the consumer has fetched no metadata yet.
#[test]
fn commit_and_committed_are_answered_before_any_subscription() {
    with_timeout(TEST_LIMIT, || {
        let topic = "ci-early-offsets";
        new_topic(topic, 2);
        let group = [("group.id", "ci-early-offsets-group")];
        let t0 = tp(topic, 0);
        let t1 = tp(topic, 1);
        let limit = Duration::from_secs(10);
        let a = Consumer::new(&consumer_config(&group)).unwrap();
        let started = Instant::now();
        let none = a.committed(&[t0.clone(), t1.clone()], limit).unwrap();
        assert_eq!(none, [(t0.clone(), -1), (t1.clone(), -1)]);
        a.commit(
            Some(&[CommitOffset {
                tp: t0.clone(),
                offset: 7,
                leader_epoch: -1,
                metadata: None,
            }]),
            false,
        )
        .unwrap();
        a.close(Duration::from_secs(5)).unwrap();
        let b = Consumer::new(&consumer_config(&group)).unwrap();
        let got = b.committed(&[t0.clone(), t1.clone()], limit).unwrap();
        assert_eq!(got, [(t0, 7), (t1, -1)]);
        b.close(Duration::from_secs(5)).unwrap();
        eprintln!("answered in {:?}", started.elapsed());
    })
}

// ---------------------------------------------------------------------------
// The KIP-848 consumer protocol
// ---------------------------------------------------------------------------

/// A Java member on group.protocol=consumer creates the group (a consumer-protocol
/// group); a kafkac member on the classic protocol joins it (Kafka 4 converts classic
/// members: the broker's assignor assigns, the classic member gets its assignment in a
/// SyncGroup answer).
fn consumer_protocol_group_with_a_classic_kafkac_member(strategy: &str) {
    let topic = format!("ci-848-{strategy}");
    let group = format!("ci-848-group-{strategy}");
    new_topic(&topic, PARTITIONS);
    produce(&topic, 0, 600);
    let mut java = JavaPeer::start(&format!("848-{strategy}"));
    java.send(&format!(
        "group-consume {} {group} {topic} - consumer 0 8000 sync",
        bootstrap()
    ));
    wait_for(T, "the Java member to own the topic", || {
        java.assigned().len() == PARTITIONS as usize
    });
    wait_for(T, "the Java member to read the first records", || {
        java.with(|s| s.recs.len()) >= 600
    });
    let mut k = KafkacMember::start(&group, &topic, strategy);
    let took = wait_for(T, "the two members to split the topic", || {
        split(&[k.assigned(), java.assigned()])
    });
    eprintln!(
        "{strategy}: kafkac (classic) {:?}, Java (consumer) {:?} {took:?} after kafkac subscribed",
        k.assigned(),
        java.assigned()
    );
    produce(&topic, 600, 600);
    wait_for(T, "every record", || {
        k.got().len() + java.with(|s| s.recs.len()) >= 1_200
    });
    let n = java.expect_ok(Duration::from_secs(60));
    eprintln!("{strategy}: Java member read {n} records");
    wait_for(T, "kafkac to own the topic after Java left", || {
        k.assigned().len() == PARTITIONS as usize
    });
    produce(&topic, 1_200, 300);
    wait_for(T, "the last records", || {
        k.got().len() + java.with(|s| s.recs.len()) >= 1_500
    });
    thread::sleep(Duration::from_millis(500));
    k.close();
    let java_recs = java.with(|s| s.recs.clone());
    let kafkac_recs = k.got();
    check_exactly_once(&[("java", &java_recs), ("kafkac", &kafkac_recs)], 1_500);
}

#[test]
fn a_classic_kafkac_member_joins_a_consumer_protocol_group_range() {
    with_timeout(TEST_LIMIT, || {
        consumer_protocol_group_with_a_classic_kafkac_member("range")
    });
}

#[test]
fn a_classic_kafkac_member_joins_a_consumer_protocol_group_cooperative_sticky() {
    with_timeout(TEST_LIMIT, || {
        consumer_protocol_group_with_a_classic_kafkac_member("cooperative-sticky")
    });
}
