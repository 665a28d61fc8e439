//! Interoperability with the Apache Kafka Java client (kafka-clients 4.3.1), the
//! reference implementation, against Apache Kafka 4.3.1 (one node for the whole binary):
//!
//! * what kafkac produces, the Java consumer reads back exactly, and
//! * what the Java producer sends with its default settings (idempotent, batched), kafkac
//!   fetches exactly
//!
//! for every compression codec (keys, values and headers byte for byte, null versus empty
//! keys, values and header values, timestamps). On the wire (raw Fetch, nothing
//! decompressed) every batch must carry the codec under test, and the Java producer's
//! batches must carry a producer id, epoch and consecutive sequence numbers.
//!
//! The Java side is `tests/java/Peer.java`: one JVM for the whole binary, compiled with
//! `javac` on first use into `target/testbin/java` and driven over stdin/stdout (protocol
//! at the top of Peer.java). Every exchange is bounded in time; a JVM that doesn't answer
//! fails the test with its stderr (`target/test-logs/java-peer-*.log`).
//!
//! The Java default partitioner's choice for keyed records (murmur2) is checked against a
//! port of murmur2 written here, as the reference for a kafkac partitioner.
//!
//! `cargo test --release --test interop_java -- --nocapture` shows per-codec timings.

mod common;

use common::kafka;
use kafkac::client::{NewTopic, OffsetSpec};
use kafkac::cluster::Cluster;
use kafkac::protocol::messages::{FetchPartition, FetchRequest, FetchTopic};
use kafkac::record::{Compression, RecordHeaderIn, RecordIn, TimestampType};
use kafkac::{Client, Config};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Timeout of one kafkac call.
const T: Duration = Duration::from_secs(20);
/// Limit for one whole test (includes starting the cluster, compiling and starting the
/// JVM when the test is the first to need them).
const TEST_LIMIT: Duration = Duration::from_secs(240);
/// How long the peer works on one command before it answers `err timed out`.
const PEER_DEADLINE_MS: u64 = 30_000;
/// How long we wait for the peer's answer to a command: its own deadline and a margin.
const PEER_REPLY_LIMIT: Duration = Duration::from_millis(PEER_DEADLINE_MS + 20_000);
/// Limit for `javac`.
const JAVAC_LIMIT: Duration = Duration::from_secs(120);
/// Limit for the JVM to start and answer `ping`.
const PEER_START_LIMIT: Duration = Duration::from_secs(60);
/// JVM flags for the peer: small heap, one GC thread, C1 only.
const PEER_JVM_OPTS: &[&str] = &[
    "-Xms32m",
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Xss512k",
    "-Djava.awt.headless=true",
    // Like the broker JVMs, so scripts can find any JVM the suite left behind.
    "-Dkafkac.test.node=java-peer",
    // The Java client's own logging (to stderr): warnings and errors.
    "-Dlog4j2.level=WARN",
];

const CODECS: [(&str, Compression); 5] = [
    ("none", Compression::None),
    ("gzip", Compression::Gzip),
    ("snappy", Compression::Snappy),
    ("lz4", Compression::Lz4),
    ("zstd", Compression::Zstd),
];

fn unique() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

// ---------------------------------------------------------------------------
// The Java peer
// ---------------------------------------------------------------------------

/// Compiles `tests/java/Peer.java` into `target/testbin/java` (once per test binary;
/// again when the source is newer than the class) and returns that directory. A missing
/// `javac` or a compile error fails the test.
fn peer_classes() -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(compile_peer)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn compile_peer() -> Result<PathBuf, String> {
    let src = common::manifest_dir().join("tests/java/Peer.java");
    let testbin = common::target_dir().join("testbin");
    let dir = testbin.join("java");
    let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let src_time = mtime(&src).ok_or_else(|| format!("no {}", src.display()))?;
    if mtime(&dir.join("Peer.class")).is_some_and(|c| c >= src_time) {
        return Ok(dir);
    }
    // Compile into a private directory, then swap it into place, so a half-written
    // class directory is never used.
    let tmp = testbin.join(format!("java.{}.{}.tmp", std::process::id(), unique()));
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
    let old = testbin.join(format!("java.{}.{}.old", std::process::id(), unique()));
    let _ = fs::rename(&dir, &old);
    let moved = fs::rename(&tmp, &dir);
    let _ = fs::remove_dir_all(&old);
    if let Err(e) = moved {
        // Another test binary may have put a fresh copy there meanwhile.
        let _ = fs::remove_dir_all(&tmp);
        if !mtime(&dir.join("Peer.class")).is_some_and(|c| c >= src_time) {
            return Err(format!("move classes to {}: {e}", dir.display()));
        }
    }
    Ok(dir)
}

/// A successful answer: the data lines (`rec ...`) and what followed `ok`.
#[derive(Debug)]
struct Reply {
    data: Vec<String>,
    ok: String,
}

/// One JVM running `Peer`, spawned through [`common::spawn_guarded`] (it dies with the
/// test binary). Stdin is written by a thread of its own and stdout read by another, so
/// every exchange is bounded by a channel timeout.
struct Peer {
    child: Child,
    input: Option<Sender<Vec<u8>>>,
    lines: Receiver<String>,
    log: PathBuf,
    /// Set once an exchange failed at the transport level: the stream is out of step.
    broken: Option<String>,
}

impl Peer {
    fn start() -> Peer {
        let classes = peer_classes();
        let log =
            common::log_dir().join(format!("java-peer-{}-{}.log", std::process::id(), unique()));
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
        let mut stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>();
        thread::Builder::new()
            .name("java-peer-writer".into())
            .spawn(move || {
                for buf in in_rx {
                    if stdin.write_all(&buf).and_then(|_| stdin.flush()).is_err() {
                        break;
                    }
                }
                // Dropping stdin here closes it: end of input ends the JVM.
            })
            .expect("spawn writer thread");
        let (out_tx, lines) = mpsc::channel();
        thread::Builder::new()
            .name("java-peer-reader".into())
            .spawn(move || {
                for line in BufReader::with_capacity(1 << 16, stdout).lines() {
                    let Ok(l) = line else { break };
                    if out_tx.send(l).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn reader thread");
        let mut p = Peer {
            child,
            input: Some(in_tx),
            lines,
            log,
            broken: None,
        };
        let started = Instant::now();
        let r = p.exchange("ping\n", PEER_START_LIMIT);
        match r {
            Ok(r) => eprintln!(
                "java peer up in {} ms: {}",
                started.elapsed().as_millis(),
                r.ok
            ),
            Err(e) => panic!("java peer answered ping with err {e}"),
        }
        p
    }

    fn stderr_tail(&self) -> String {
        let mut buf = Vec::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_end(&mut buf);
        }
        let start = buf.len().saturating_sub(8000);
        String::from_utf8_lossy(&buf[start..]).into_owned()
    }

    fn fail(&mut self, what: String) -> ! {
        let status = self.child.try_wait();
        let msg = format!(
            "java peer: {what} (process: {status:?}); stderr {}:\n{}",
            self.log.display(),
            self.stderr_tail()
        );
        self.broken = Some(msg.clone());
        panic!("{msg}");
    }

    /// Sends `request` (one command, and for `produce` its record lines, each line
    /// ending in a newline) and waits up to `limit` for its terminating line.
    /// `Err(message)` is the peer's `err <message>`; anything else going wrong (no
    /// answer in time, the JVM gone, a line outside the protocol) panics.
    fn exchange(&mut self, request: &str, limit: Duration) -> Result<Reply, String> {
        if let Some(b) = &self.broken {
            panic!("java peer unusable after an earlier failure: {b}");
        }
        let command: String = request
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(120)
            .collect();
        let sent = self
            .input
            .as_ref()
            .map(|tx| tx.send(request.as_bytes().to_vec()).is_ok())
            .unwrap_or(false);
        if !sent {
            self.fail(format!("stdin closed before {command:?}"));
        }
        let deadline = Instant::now() + limit;
        let mut data = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(l) => l,
                Err(RecvTimeoutError::Timeout) => {
                    self.fail(format!("no answer to {command:?} within {limit:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail(format!("stdout closed while waiting for {command:?}"))
                }
            };
            if let Some(rest) = line.strip_prefix("ok") {
                if rest.is_empty() || rest.starts_with(' ') {
                    return Ok(Reply {
                        data,
                        ok: rest.trim_start().to_string(),
                    });
                }
            }
            if let Some(e) = line.strip_prefix("err ") {
                return Err(e.to_string());
            }
            if line.starts_with("rec ") {
                data.push(line);
                continue;
            }
            let shown: String = line.chars().take(300).collect();
            self.fail(format!(
                "line outside the protocol after {command:?}: {shown:?}"
            ));
        }
    }

    fn call(&mut self, request: &str) -> Result<Reply, String> {
        self.exchange(request, PEER_REPLY_LIMIT)
    }

    /// Sends `quit` and waits for the JVM to exit; its exit status.
    fn quit(mut self) -> std::process::ExitStatus {
        let r = self.exchange("quit\n", PEER_START_LIMIT);
        assert_eq!(r.map(|r| r.ok), Ok("bye".to_string()), "answer to quit");
        self.input = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            if Instant::now() >= deadline {
                self.fail("still running 10 s after quit".into());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The binary's shared peer (commands are serialised; it dies with the process).
fn peer() -> MutexGuard<'static, Peer> {
    static P: OnceLock<Mutex<Peer>> = OnceLock::new();
    P.get_or_init(|| Mutex::new(Peer::start()))
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Broker and kafkac clients
// ---------------------------------------------------------------------------

fn bootstrap() -> &'static str {
    &kafka::shared().bootstrap
}

fn client() -> Client {
    let mut c = Config::new();
    c.set("bootstrap.servers", bootstrap()).unwrap();
    c.set("retry.backoff.ms", "50").unwrap();
    c.set("check.crcs", "true").unwrap();
    Client::new(&c).unwrap()
}

/// Creates `name` with `partitions` partitions. Kafka refuses record timestamps more
/// than an hour ahead of its clock by default (`message.timestamp.after.max.ms`, 3600000
/// since Kafka 4.0); the topics here take any timestamp, so the record set can carry one
/// far in the future.
fn create_topic(c: &Client, name: &str, partitions: i32) {
    let r = c
        .create_topics(
            &[NewTopic {
                name: name.into(),
                num_partitions: partitions,
                replication_factor: 1,
                configs: vec![(
                    "message.timestamp.after.max.ms".into(),
                    Some(i64::MAX.to_string()),
                )],
            }],
            T,
        )
        .unwrap_or_else(|e| panic!("create {name}: {e}"));
    assert!(r[0].error.is_none(), "create {name}: {:?}", r[0].error);
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ---------------------------------------------------------------------------
// The records (the set tests/interop.rs uses)
// ---------------------------------------------------------------------------

type Header = (Vec<u8>, Option<Vec<u8>>);

/// An owned record, as produced; `timestamp: None` lets the producer pick "now".
#[derive(Debug, Clone, PartialEq)]
struct Rec {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
    timestamp: Option<i64>,
}

/// A record as read back.
#[derive(Debug, Clone, PartialEq)]
struct Got {
    offset: i64,
    /// 0 create time, 1 log append time, -1 none.
    timestamp_type: i32,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
}

fn b(s: impl AsRef<[u8]>) -> Option<Vec<u8>> {
    Some(s.as_ref().to_vec())
}

fn h(k: &str, v: Option<&[u8]>) -> Header {
    (k.as_bytes().to_vec(), v.map(<[u8]>::to_vec))
}

fn rec(key: Option<Vec<u8>>, value: Option<Vec<u8>>, ts: Option<i64>) -> Rec {
    Rec {
        key,
        value,
        headers: vec![],
        timestamp: ts,
    }
}

/// Compressible, so that every codec really shrinks the batch.
fn big_value() -> Vec<u8> {
    (0..600)
        .map(|i| format!("kafkac interop record line {i:04} -- "))
        .collect::<String>()
        .into_bytes()
}

/// About 200 KB: text, then 80 KB of pseudo-random bytes, then text again. Spans several
/// codec blocks (LZ4 frames: 64 KiB blocks, xerial snappy: 32 KiB), some of them
/// incompressible, while the whole still compresses.
fn mixed_value() -> Vec<u8> {
    let text = |n: usize| big_value().into_iter().cycle().take(n);
    let mut x: u32 = 0x1234_5678;
    let noise = std::iter::repeat_with(move || {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (x >> 24) as u8
    })
    .take(80_000);
    text(100_000).chain(noise).chain(text(20_000)).collect()
}

/// Everything a record can carry. Timestamps are explicit (and not in order: the batch
/// encodes negative deltas), except one left to the producer.
fn full_set() -> Vec<Rec> {
    let all: Vec<u8> = (0..=255u8).collect();
    let rev: Vec<u8> = (0..=255u8).rev().collect();
    let base = 1_700_000_000_000;
    let mut v = vec![
        Rec {
            key: Some(all.clone()),
            value: Some(rev),
            headers: vec![
                h("h1", Some(b"v1")),
                h("null-header", None),
                h("empty-header", Some(b"")),
                h("binary-header", Some(&all)),
                h("dup", Some(b"first")),
                h("dup", Some(b"second")),
                h("ünï-ключ-😀", Some("ç✓ 日本語".as_bytes())),
            ],
            timestamp: Some(base),
        },
        Rec {
            key: b("ключ-😀"),
            value: b("значение ✓ 日本語 \u{0} \u{10ffff}"),
            headers: vec![h("only", Some(b"one"))],
            timestamp: Some(base + 1),
        },
        rec(None, b("null key"), Some(base - 1_000)),
        rec(b("null value"), None, Some(base + 5_000)),
        rec(b(""), b(""), Some(1)),
        rec(b(""), b("empty key"), Some(base + 2)),
        rec(b("empty value"), b(""), Some(base + 3)),
        Rec {
            key: None,
            value: None,
            headers: vec![h("tombstone", Some(b"yes"))],
            timestamp: Some(1_800_000_000_000),
        },
        rec(b("producer's clock"), b("no explicit timestamp"), None),
    ];
    let mut many = rec(b("big"), Some(big_value()), Some(base + 4));
    many.headers = (0..20)
        .map(|i| {
            h(
                &format!("header-{i}"),
                Some(format!("value-{i}").as_bytes()),
            )
        })
        .collect();
    v.push(many);
    v.push(rec(b("mixed"), Some(mixed_value()), Some(base + 6)));
    v
}

/// Produces `set` with kafkac, as one batch to `topic`/0; returns its base offset.
fn produce_kafkac(c: &Client, topic: &str, set: &[Rec], codec: Compression) -> i64 {
    let headers: Vec<Vec<RecordHeaderIn>> = set
        .iter()
        .map(|r| {
            r.headers
                .iter()
                .map(|(k, v)| RecordHeaderIn {
                    key: k,
                    value: v.as_deref(),
                })
                .collect()
        })
        .collect();
    let recs: Vec<RecordIn> = set
        .iter()
        .zip(&headers)
        .map(|(r, hs)| RecordIn {
            key: r.key.as_deref(),
            value: r.value.as_deref(),
            headers: hs,
            timestamp: r.timestamp,
        })
        .collect();
    c.produce(topic, 0, &recs, -1, codec, T)
        .unwrap_or_else(|e| panic!("kafkac produce to {topic}: {e}"))
}

/// Reads `count` records of `topic`/`partition` from offset `from` with kafkac; each
/// with the producer id kafkac reports for its batch.
fn fetch_kafkac(
    c: &Client,
    topic: &str,
    partition: i32,
    from: i64,
    count: usize,
) -> Vec<(Got, i64)> {
    let deadline = Instant::now() + T;
    let mut got = Vec::new();
    let mut offset = from;
    while got.len() < count {
        assert!(
            Instant::now() < deadline,
            "kafkac read {} of {count} records of {topic}/{partition} within {T:?}",
            got.len()
        );
        let f = c
            .fetch(
                topic,
                partition,
                offset,
                4 << 20,
                Duration::from_millis(200),
                T,
            )
            .unwrap_or_else(|e| panic!("kafkac fetch {topic}/{partition} at {offset}: {e}"));
        for r in f.records.iter().filter(|r| r.offset >= offset) {
            got.push((
                Got {
                    offset: r.offset,
                    timestamp_type: match r.timestamp_type {
                        TimestampType::CreateTime => 0,
                        TimestampType::LogAppendTime => 1,
                        TimestampType::NoTimestamp => -1,
                    },
                    timestamp: r.timestamp,
                    key: r.key.map(<[u8]>::to_vec),
                    value: r.value.map(<[u8]>::to_vec),
                    headers: r
                        .headers()
                        .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                        .collect(),
                },
                r.producer_id,
            ));
        }
        offset = got.last().map_or(offset, |g| g.0.offset + 1);
    }
    got.truncate(count);
    got
}

// ---------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------

fn show(b: &Option<Vec<u8>>) -> String {
    match b {
        None => "null".into(),
        Some(v) if v.len() > 48 => format!(
            "{:?}... ({} bytes)",
            String::from_utf8_lossy(&v[..48]),
            v.len()
        ),
        Some(v) => format!("{:?}", String::from_utf8_lossy(v)),
    }
}

/// Compares what was read with what was produced, record by record: offsets from `base`
/// on, keys, values and headers exactly, create-time timestamps; a record produced
/// without a timestamp must carry one within `clock` (the producer's run).
fn compare(want: &[Rec], got: &[Got], base: i64, clock: (i64, i64)) -> Result<(), String> {
    let mut errs = Vec::new();
    if want.len() != got.len() {
        errs.push(format!(
            "{} records read, {} produced",
            got.len(),
            want.len()
        ));
    }
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        let mut e = |what: &str, w: String, g: String| {
            errs.push(format!("record {i} {what}: want {w}, got {g}"));
        };
        if g.offset != base + i as i64 {
            e(
                "offset",
                (base + i as i64).to_string(),
                g.offset.to_string(),
            );
        }
        if g.key != w.key {
            e("key", show(&w.key), show(&g.key));
        }
        if g.value != w.value {
            e("value", show(&w.value), show(&g.value));
        }
        if g.headers != w.headers {
            let fmt = |hs: &[Header]| {
                hs.iter()
                    .map(|(k, v)| format!("{}={}", String::from_utf8_lossy(k), show(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            e("headers", fmt(&w.headers), fmt(&g.headers));
        }
        if g.timestamp_type != 0 {
            e(
                "timestamp type",
                "0 (create time)".into(),
                g.timestamp_type.to_string(),
            );
        }
        match w.timestamp {
            Some(ts) if g.timestamp != ts => {
                e("timestamp", ts.to_string(), g.timestamp.to_string())
            }
            None if !(clock.0..=clock.1).contains(&g.timestamp) => e(
                "timestamp",
                format!("within {}..={}", clock.0, clock.1),
                g.timestamp.to_string(),
            ),
            _ => {}
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("\n  "))
    }
}

// ---------------------------------------------------------------------------
// Batches on the wire
// ---------------------------------------------------------------------------

/// A RecordBatch v2 header as it is on the wire.
#[derive(Debug, Clone, Copy)]
struct Batch {
    base_offset: i64,
    last_offset: i64,
    /// attributes & 7
    codec: i16,
    transactional: bool,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    count: i32,
}

/// The header of every record batch of `topic`/`partition` that holds an offset in
/// `from..to`, read with a raw Fetch through kafkac's connection layer, so nothing is
/// decompressed or interpreted.
fn batches(c: &Client, topic: &str, partition: i32, from: i64, to: i64) -> Vec<Batch> {
    let cluster = c.cluster();
    let deadline = Cluster::deadline(T);
    let leader = cluster.leader(topic, partition, false, deadline).unwrap();
    let conn = cluster.broker(leader, deadline).unwrap();
    let mut out = Vec::new();
    let mut offset = from;
    while offset < to {
        assert!(Instant::now() < deadline, "raw fetch of {topic} timed out");
        let req = FetchRequest {
            replica_id: -1,
            max_wait_ms: 100,
            min_bytes: 1,
            max_bytes: 8 << 20,
            isolation_level: 0,
            session_id: 0,
            session_epoch: -1,
            topics: vec![FetchTopic {
                topic: topic.into(),
                partitions: vec![FetchPartition {
                    partition,
                    fetch_offset: offset,
                    partition_max_bytes: 8 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let (_, resp) = conn.request(&req, deadline).unwrap();
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "raw fetch of {topic} at {offset}");
        let data = p.records.clone().unwrap_or_default();
        let mut pos = 0;
        // baseOffset i64, batchLength i32, partitionLeaderEpoch i32, magic i8, crc u32,
        // attributes i16, lastOffsetDelta i32, baseTimestamp i64, maxTimestamp i64,
        // producerId i64, producerEpoch i16, baseSequence i32, recordCount i32
        while pos + 61 <= data.len() {
            let be = |at: usize, n: usize| {
                data[pos + at..pos + at + n]
                    .iter()
                    .fold(0i64, |acc, &x| (acc << 8) | i64::from(x))
            };
            let base = be(0, 8);
            let len = be(8, 4) as usize;
            if pos + 12 + len > data.len() {
                break; // partial batch at the end
            }
            assert_eq!(
                data[pos + 16],
                2,
                "{topic}: batch at {base} is not RecordBatch v2"
            );
            let attributes = be(21, 2) as i16;
            let last = base + be(23, 4);
            if last >= offset && base < to {
                out.push(Batch {
                    base_offset: base,
                    last_offset: last,
                    codec: attributes & 7,
                    transactional: attributes & 0x10 != 0,
                    producer_id: be(43, 8),
                    producer_epoch: be(51, 2) as i16,
                    base_sequence: be(53, 4) as i32,
                    count: be(57, 4) as i32,
                });
            }
            offset = offset.max(last + 1);
            pos += 12 + len;
        }
    }
    out
}

fn codec_id(name: &str) -> i16 {
    CODECS.iter().position(|(n, _)| *n == name).unwrap() as i16
}

fn check_codecs(batches: &[Batch], name: &str) -> Result<(), String> {
    let want = codec_id(name);
    let codecs: Vec<i16> = batches.iter().map(|b| b.codec).collect();
    if codecs.is_empty() || codecs.iter().any(|&c| c != want) {
        return Err(format!(
            "batches on the wire have codecs {codecs:?}, want {want} ({name}) for all"
        ));
    }
    Ok(())
}

/// What an idempotent producer's batches must show: one producer id (>= 0) and epoch
/// (>= 0), not transactional, and sequence numbers that start at 0 (a new producer) and
/// continue from batch to batch without a gap.
fn check_idempotent(batches: &[Batch]) -> Result<i64, String> {
    let first = batches.first().ok_or("no batches")?;
    let mut next_seq = 0i64;
    for b in batches {
        let what = format!("batch at offset {}", b.base_offset);
        if b.producer_id < 0 || b.producer_epoch < 0 {
            return Err(format!(
                "{what}: producer id {} epoch {}: not idempotent",
                b.producer_id, b.producer_epoch
            ));
        }
        if b.producer_id != first.producer_id || b.producer_epoch != first.producer_epoch {
            return Err(format!(
                "{what}: producer {}/{}, the first batch had {}/{}",
                b.producer_id, b.producer_epoch, first.producer_id, first.producer_epoch
            ));
        }
        if b.transactional {
            return Err(format!("{what}: transactional"));
        }
        if i64::from(b.base_sequence) != next_seq {
            return Err(format!(
                "{what}: base sequence {}, want {next_seq}",
                b.base_sequence
            ));
        }
        if i64::from(b.count) != b.last_offset - b.base_offset + 1 {
            return Err(format!(
                "{what}: {} records for offsets {}..={}",
                b.count, b.base_offset, b.last_offset
            ));
        }
        next_seq += i64::from(b.count);
    }
    Ok(first.producer_id)
}

// ---------------------------------------------------------------------------
// Peer commands
// ---------------------------------------------------------------------------

/// `-` for null, else `:` and the bytes in hex (tests/interop/clients.py's fields).
fn field(b: Option<&[u8]>) -> String {
    match b {
        None => "-".into(),
        Some(v) => {
            let mut s = String::with_capacity(1 + 2 * v.len());
            s.push(':');
            for x in v {
                write!(s, "{x:02x}").unwrap();
            }
            s
        }
    }
}

fn unfield(s: &str) -> Result<Option<Vec<u8>>, String> {
    if s == "-" {
        return Ok(None);
    }
    let hex = s
        .strip_prefix(':')
        .filter(|h| h.len() % 2 == 0)
        .ok_or_else(|| format!("bad field {s:?}"))?;
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| format!("{s:?}: {e}")))
        .collect::<Result<Vec<u8>, String>>()
        .map(Some)
}

/// The peer's `produce` command with its record lines.
fn produce_request(topic: &str, partition: Option<i32>, codec: &str, set: &[Rec]) -> String {
    let p = partition.map_or("-".to_string(), |p| p.to_string());
    let mut out = format!(
        "produce {} {topic} {p} {codec} {}\n",
        bootstrap(),
        set.len()
    );
    for r in set {
        let ts = r.timestamp.map_or("-".to_string(), |t| t.to_string());
        write!(
            out,
            "{ts} {} {}",
            field(r.key.as_deref()),
            field(r.value.as_deref())
        )
        .unwrap();
        for (k, v) in &r.headers {
            write!(out, " {} {}", field(Some(k)), field(v.as_deref())).unwrap();
        }
        out.push('\n');
    }
    out
}

/// Produces `set` with the Java producer; the (partition, offset) of every record.
fn produce_java(
    topic: &str,
    partition: Option<i32>,
    codec: &str,
    set: &[Rec],
) -> Result<Vec<(i32, i64)>, String> {
    let r = peer()
        .call(&produce_request(topic, partition, codec, set))
        .map_err(|e| format!("Java produce to {topic}: {e}"))?;
    let placed =
        r.ok.split(' ')
            .filter(|s| !s.is_empty())
            .map(|po| {
                let (p, o) = po.split_once(':')?;
                Some((p.parse().ok()?, o.parse().ok()?))
            })
            .collect::<Option<Vec<(i32, i64)>>>()
            .ok_or_else(|| format!("Java produce: bad answer {:?}", r.ok))?;
    if placed.len() != set.len() {
        return Err(format!(
            "Java produce answered {} placements for {} records",
            placed.len(),
            set.len()
        ));
    }
    Ok(placed)
}

/// Reads `count` records with the Java consumer.
fn consume_java(
    topic: &str,
    partition: i32,
    offset: i64,
    count: usize,
) -> Result<Vec<Got>, String> {
    let r = peer()
        .call(&format!(
            "consume {} {topic} {partition} {offset} {count}\n",
            bootstrap()
        ))
        .map_err(|e| format!("Java consume {topic}/{partition}: {e}"))?;
    if r.ok != count.to_string() || r.data.len() != count {
        return Err(format!(
            "Java consume answered ok {:?} with {} records, asked for {count}",
            r.ok,
            r.data.len()
        ));
    }
    r.data.iter().map(|l| parse_rec(l)).collect()
}

fn parse_rec(line: &str) -> Result<Got, String> {
    let f: Vec<&str> = line.split(' ').collect();
    if f.len() < 6 || f.len() % 2 != 0 || f[0] != "rec" {
        return Err(format!(
            "bad record line {:?}",
            &line[..line.len().min(200)]
        ));
    }
    let num = |s: &str| s.parse::<i64>().map_err(|e| format!("{s:?}: {e}"));
    Ok(Got {
        offset: num(f[1])?,
        timestamp_type: num(f[2])? as i32,
        timestamp: num(f[3])?,
        key: unfield(f[4])?,
        value: unfield(f[5])?,
        headers: f[6..]
            .chunks(2)
            .map(|p| Ok((unfield(p[0])?.ok_or("null header name")?, unfield(p[1])?)))
            .collect::<Result<_, String>>()?,
    })
}

/// Java's `Utils.murmur2` of each key.
fn java_murmur2(keys: &[Vec<u8>]) -> Vec<i32> {
    let req: String = keys
        .iter()
        .map(|k| format!(" {}", field(Some(k))))
        .collect();
    let r = peer()
        .call(&format!("murmur2{req}\n"))
        .unwrap_or_else(|e| panic!("Java murmur2: {e}"));
    let v: Vec<i32> =
        r.ok.split(' ')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .unwrap_or_else(|e| panic!("murmur2 answer {s:?}: {e}"))
            })
            .collect();
    assert_eq!(v.len(), keys.len(), "one hash per key");
    v
}

/// The Java default partitioner's partition for each key with `n` partitions.
fn java_partition_for(n: i32, keys: &[Vec<u8>]) -> Vec<i32> {
    let req: String = keys
        .iter()
        .map(|k| format!(" {}", field(Some(k))))
        .collect();
    let r = peer()
        .call(&format!("partition-for {n}{req}\n"))
        .unwrap_or_else(|e| panic!("Java partition-for {n}: {e}"));
    let v: Vec<i32> =
        r.ok.split(' ')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .unwrap_or_else(|e| panic!("partition answer {s:?}: {e}"))
            })
            .collect();
    assert_eq!(v.len(), keys.len(), "one partition per key");
    v
}

// ---------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------

/// Runs `one` for every codec, catching failures, then fails with all of them.
fn every_codec(label: &str, one: impl Fn(&str, Compression) -> Result<String, String>) {
    let mut failures = Vec::new();
    for (name, codec) in CODECS {
        let started = Instant::now();
        let r = panic::catch_unwind(AssertUnwindSafe(|| one(name, codec)));
        let ms = started.elapsed().as_millis();
        let err = match r {
            Ok(Ok(note)) => {
                eprintln!("interop {label} {name}: ok in {ms} ms {note}");
                continue;
            }
            Ok(Err(e)) => e,
            Err(p) => p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into()),
        };
        eprintln!("interop {label} {name}: FAILED in {ms} ms");
        failures.push(format!("{name}: {err}"));
    }
    assert!(
        failures.is_empty(),
        "{label}: {} of {} codecs failed:\n{}",
        failures.len(),
        CODECS.len(),
        failures.join("\n")
    );
}

#[test]
fn java_consumer_reads_what_kafkac_produces() {
    common::with_timeout(TEST_LIMIT, || {
        let c = client();
        let set = full_set();
        every_codec("kafkac -> java", |name, codec| {
            let topic = format!("kafkac-to-java-{name}");
            create_topic(&c, &topic, 1);
            let before = now_ms();
            let base = produce_kafkac(&c, &topic, &set, codec);
            let after = now_ms();
            let got = consume_java(&topic, 0, base, set.len())?;
            compare(&set, &got, base, (before, after))?;
            let bs = batches(&c, &topic, 0, base, base + set.len() as i64);
            check_codecs(&bs, name)?;
            Ok(format!("({} batch(es) {name} on the wire)", bs.len()))
        });
    });
}

#[test]
fn kafkac_reads_what_the_java_producer_sends() {
    common::with_timeout(TEST_LIMIT, || {
        let c = client();
        let set = full_set();
        every_codec("java -> kafkac", |name, _| {
            let topic = format!("java-to-kafkac-{name}");
            create_topic(&c, &topic, 1);
            let before = now_ms();
            let placed = produce_java(&topic, Some(0), name, &set)?;
            let after = now_ms();
            let want: Vec<(i32, i64)> = (0..set.len() as i64).map(|o| (0, o)).collect();
            if placed != want {
                return Err(format!("Java reported {placed:?}, want {want:?}"));
            }
            let got = fetch_kafkac(&c, &topic, 0, 0, set.len());
            let (recs, pids): (Vec<Got>, Vec<i64>) = got.into_iter().unzip();
            compare(&set, &recs, 0, (before, after))?;
            let bs = batches(&c, &topic, 0, 0, set.len() as i64);
            check_codecs(&bs, name)?;
            let pid = check_idempotent(&bs)?;
            // kafkac's decoded records carry the same producer id as the raw batches.
            if pids.iter().any(|&p| p != pid) {
                return Err(format!(
                    "kafkac reports producer ids {pids:?}, the batches carry {pid}"
                ));
            }
            let sizes: Vec<i32> = bs.iter().map(|b| b.count).collect();
            Ok(format!(
                "({} batch(es) {name} on the wire, records per batch {sizes:?}, producer id {pid})",
                bs.len()
            ))
        });
    });
}

// ---------------------------------------------------------------------------
// The default partitioner: murmur2
// ---------------------------------------------------------------------------

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`): MurmurHash2, 32 bits,
/// seed 0x9747b28c, little-endian 4-byte blocks, then the 1-3 tail bytes; as a signed
/// 32-bit value, like Java's `int`.
fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut blocks = data.chunks_exact(4);
    for k in &mut blocks {
        let mut k = u32::from_le_bytes([k[0], k[1], k[2], k[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        if tail.len() == 3 {
            h ^= u32::from(tail[2]) << 16;
        }
        if tail.len() >= 2 {
            h ^= u32::from(tail[1]) << 8;
        }
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The Java producer's partition for a keyed record: `toPositive(murmur2(key)) % n`,
/// where `toPositive` clears the sign bit (it is not `abs`).
fn partition_for(key: &[u8], partitions: i32) -> i32 {
    assert!(partitions > 0);
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// Values of Java's `Utils.murmur2`, computed with kafka-clients 4.3.1 (the first six
/// are also in Kafka's own UtilsTest).
const MURMUR2_VECTORS: &[(&[u8], i32)] = &[
    (b"21", -973_932_308),
    (b"foobar", -790_332_482),
    (b"a-little-bit-long-string", -985_981_536),
    (b"a-little-bit-longer-string", -1_486_304_829),
    (
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
        -58_897_971,
    ),
    (b"abc", 479_470_107),
    (b"", 275_646_681),
    (b"\xff", -311_467_685),
    (b"\xff\xff", -1_642_832_928),
    (b"\xff\xff\xff", 1_548_199_422),
    (b"\xff\xff\xff\xff", 644_171_429),
    (b"\x00", 375_494_588),
    (b"\x00\x00", 595_382_058),
    (b"\x00\x00\x00", 1_013_532_917),
    (b"\x00\x00\x00\x00", 850_957_120),
    (b"\x00\x00\x00\x00\x00", 263_274_959),
    (b"\x80\x81\x82\x83\x84\x85\x86\x87", -1_608_452_407),
    (b"kafkac", 586_804_452),
    (b"key", -1_079_937_367),
];

/// Partitions Java's default partitioner picks with 1000 partitions (kafka-clients
/// 4.3.1).
const PARTITION_VECTORS: &[(&[u8], i32)] = &[(b"kafkac", 452), (b"\xff", 963), (b"key", 281)];

#[test]
fn murmur2_port_matches_known_java_vectors() {
    for (key, want) in MURMUR2_VECTORS {
        assert_eq!(murmur2(key), *want, "murmur2({key:?})");
    }
    for (key, want) in PARTITION_VECTORS {
        assert_eq!(
            partition_for(key, 1000),
            *want,
            "partition of {key:?} of 1000"
        );
    }
}

/// Keys of every length from 0 to 40 (each tail length, high and low bytes), text keys,
/// and the known vectors.
fn spread_of_keys() -> Vec<Vec<u8>> {
    let mut x: u64 = 0x0123_4567_89ab_cdef;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    };
    let mut keys: Vec<Vec<u8>> = MURMUR2_VECTORS.iter().map(|(k, _)| k.to_vec()).collect();
    for len in 0..=40 {
        for _ in 0..4 {
            keys.push((0..len).map(|_| rnd()).collect());
        }
        keys.push(vec![0x80 | len as u8; len]);
    }
    keys.extend((0..200).map(|i| format!("key-{i}").into_bytes()));
    keys.extend((0..50).map(|i| format!("user:{:08}", i * 7919).into_bytes()));
    keys.push("ключ-😀 日本語".as_bytes().to_vec());
    keys.push(vec![0u8; 100]);
    keys.push((0..=255u8).collect());
    keys
}

#[test]
fn java_default_partitioner_is_murmur2_of_the_key() {
    common::with_timeout(TEST_LIMIT, || {
        let keys = spread_of_keys();
        let java = java_murmur2(&keys);
        let mismatches: Vec<String> = keys
            .iter()
            .zip(&java)
            .filter(|(k, j)| murmur2(k) != **j)
            .map(|(k, j)| format!("{}: Java {j}, port {}", field(Some(k)), murmur2(k)))
            .collect();
        assert!(
            mismatches.is_empty(),
            "murmur2 of {} of {} keys differs:\n{}",
            mismatches.len(),
            keys.len(),
            mismatches.join("\n")
        );
        // The sign bit is set for part of the keys, so toPositive matters below.
        let negative = java.iter().filter(|&&h| h < 0).count();
        assert!(
            negative > keys.len() / 4 && negative < keys.len() * 3 / 4,
            "{negative} of {} hashes negative",
            keys.len()
        );
        for n in [1, 2, 3, 5, 6, 7, 10, 12, 16, 50, 100, 1000, 4099, i32::MAX] {
            let java = java_partition_for(n, &keys);
            for (k, j) in keys.iter().zip(&java) {
                assert_eq!(
                    *j,
                    partition_for(k, n),
                    "partition of {} with {n} partitions",
                    field(Some(k))
                );
                assert!((0..n).contains(j), "{j} is not a partition of {n}");
            }
            // The keys spread over the partitions.
            let used: BTreeSet<i32> = java.iter().copied().collect();
            let want = (n as usize).min(keys.len() / 4);
            assert!(
                used.len() * 4 >= want * 3,
                "{} of {n} partitions used by {} keys",
                used.len(),
                keys.len()
            );
        }
        // A null key has no fixed partition (the sticky partitioner picks one).
        let e = peer().call("partition-for 3 :00 -\n").unwrap_err();
        assert!(e.contains("null"), "{e}");
    });
}

#[test]
fn java_producer_puts_keyed_records_where_murmur2_says() {
    common::with_timeout(TEST_LIMIT, || {
        const PARTITIONS: i32 = 6;
        let c = client();
        let topic = "java-keyed-6";
        create_topic(&c, topic, PARTITIONS);
        let mut keys: Vec<Vec<u8>> = (0..60).map(|i| format!("key-{i}").into_bytes()).collect();
        keys.extend(MURMUR2_VECTORS.iter().map(|(k, _)| k.to_vec()));
        let set: Vec<Rec> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                rec(
                    Some(k.clone()),
                    b(format!("value-{i}")),
                    Some(1_000 + i as i64),
                )
            })
            .collect();
        let placed = produce_java(topic, None, "none", &set).unwrap_or_else(|e| panic!("{e}"));
        // Where each record should be, in produce order per partition.
        let mut want: Vec<Vec<Rec>> = vec![Vec::new(); PARTITIONS as usize];
        for (i, (r, (p, o))) in set.iter().zip(&placed).enumerate() {
            let expect = partition_for(r.key.as_deref().unwrap(), PARTITIONS);
            assert_eq!(
                *p,
                expect,
                "record {i} (key {}) went to partition {p}",
                show(&r.key)
            );
            let slot = &mut want[*p as usize];
            assert_eq!(
                *o,
                slot.len() as i64,
                "record {i}'s offset in partition {p}"
            );
            slot.push(r.clone());
        }
        let used = want.iter().filter(|w| !w.is_empty()).count();
        assert!(used >= 5, "{used} of {PARTITIONS} partitions used");
        // And the broker holds exactly that, partition by partition.
        for (p, w) in want.iter().enumerate() {
            let p = p as i32;
            let end = c.list_offsets(topic, p, OffsetSpec::Latest, T).unwrap();
            assert_eq!(end.offset, w.len() as i64, "end of partition {p}");
            if w.is_empty() {
                continue;
            }
            let got: Vec<Got> = fetch_kafkac(&c, topic, p, 0, w.len())
                .into_iter()
                .map(|g| g.0)
                .collect();
            if let Err(e) = compare(w, &got, 0, (0, 0)) {
                panic!("partition {p}: {e}");
            }
        }
    });
}

#[test]
fn java_peer_reports_errors_and_keeps_answering() {
    common::with_timeout(TEST_LIMIT, || {
        let c = client();
        let topic = "java-peer-errors";
        create_topic(&c, topic, 1);
        {
            let mut p = peer();
            let e = p.call("no-such-command 1 2\n").unwrap_err();
            assert!(e.contains("unknown command"), "{e}");
            // The record line after a refused produce is read, not taken for a command.
            let e = p
                .call(&format!(
                    "produce {} {topic} 0 brotli 1\n- :00 :01\n",
                    bootstrap()
                ))
                .unwrap_err();
            assert!(e.contains("brotli"), "{e}");
            let e = p
                .call(&format!(
                    "produce {} {topic} 0 none 1\n- :0 :01\n",
                    bootstrap()
                ))
                .unwrap_err();
            assert!(e.contains("bad byte field"), "{e}");
            let e = p.call("partition-for 0 :00\n").unwrap_err();
            assert!(e.contains("partitions"), "{e}");
            // An error of the Java client itself: an offset past the end of the log
            // with auto.offset.reset=none.
            let e = p
                .call(&format!("consume {} {topic} 0 5 1\n", bootstrap()))
                .unwrap_err();
            assert!(e.contains("OffsetOutOfRange"), "{e}");
            let r = p.call("ping\n").unwrap();
            assert!(r.ok.contains("kafka-clients=4.3.1"), "{}", r.ok);
        }
        // Nothing was written by the refused produces.
        let end = c.list_offsets(topic, 0, OffsetSpec::Latest, T).unwrap();
        assert_eq!(end.offset, 0, "records in {topic}");
        // `quit` ends the JVM cleanly (its own JVM, not the shared one).
        let own = Peer::start();
        let st = own.quit();
        assert!(st.success(), "Peer exited with {st}");
    });
}
