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

use common::batches::{batches, check_codecs, Batch};
use common::client::create_topic;
use common::kafka;
use common::records::{
    b, compare, every_codec, field, full_set, now_ms, parse_got, produce, record_line, show, Got,
    Reader, Rec,
};
use kafkac::client::OffsetSpec;
use kafkac::Client;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

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
        if mtime(&dir.join("Peer.class")).is_none_or(|c| c < src_time) {
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
    common::client::client_with(bootstrap(), &[("check.crcs", "true")])
}

/// Reading records back with kafkac.
const READ: Reader = Reader {
    timeout: T,
    high_watermark_covers: false,
};

/// Creates `name` with `partitions` partitions. Kafka refuses record timestamps more
/// than an hour ahead of its clock by default (`message.timestamp.after.max.ms`, 3600000
/// since Kafka 4.0); the topics here take any timestamp, so the record set can carry one
/// far in the future.
fn create(c: &Client, name: &str, partitions: i32) {
    let any_time = i64::MAX.to_string();
    create_topic(
        c,
        name,
        partitions,
        1,
        &[("message.timestamp.after.max.ms", &any_time)],
        T,
    );
}

// ---------------------------------------------------------------------------
// Batches on the wire (tests/common/batches.rs reads them)
// ---------------------------------------------------------------------------

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

/// The peer's `produce` command with its record lines.
fn produce_request(topic: &str, partition: Option<i32>, codec: &str, set: &[Rec]) -> String {
    let p = partition.map_or("-".to_string(), |p| p.to_string());
    let mut out = format!(
        "produce {} {topic} {p} {codec} {}\n",
        bootstrap(),
        set.len()
    );
    for r in set {
        out.push_str(&record_line(r));
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

/// A `rec` line of the peer: `rec ` and a record as [`parse_got`] reads it.
fn parse_rec(line: &str) -> Result<Got, String> {
    line.strip_prefix("rec ")
        .ok_or_else(|| format!("bad record line {:?}", &line[..line.len().min(200)]))
        .and_then(parse_got)
}

/// Java's `Utils.murmur2` of each key.
fn java_murmur2(keys: &[Vec<u8>]) -> Vec<i32> {
    per_key("murmur2", keys, "hash")
}

/// The Java default partitioner's partition for each key with `n` partitions.
fn java_partition_for(n: i32, keys: &[Vec<u8>]) -> Vec<i32> {
    per_key(&format!("partition-for {n}"), keys, "partition")
}

/// The peer's answer to `command` with `keys`: one number (a `what`) per key.
fn per_key(command: &str, keys: &[Vec<u8>], what: &str) -> Vec<i32> {
    let req: String = keys
        .iter()
        .map(|k| format!(" {}", field(Some(k))))
        .collect();
    let r = peer()
        .call(&format!("{command}{req}\n"))
        .unwrap_or_else(|e| panic!("Java {command}: {e}"));
    let v: Vec<i32> =
        r.ok.split(' ')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .unwrap_or_else(|e| panic!("{what} answer {s:?}: {e}"))
            })
            .collect();
    assert_eq!(v.len(), keys.len(), "one {what} per key");
    v
}

// ---------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------

#[test]
fn java_consumer_reads_what_kafkac_produces() {
    common::with_timeout(TEST_LIMIT, || {
        let c = client();
        let set = full_set();
        every_codec("kafkac -> java", |name, codec| {
            let topic = format!("kafkac-to-java-{name}");
            create(&c, &topic, 1);
            let before = now_ms();
            let base = produce(&c, &topic, 0, &set, codec, T);
            let after = now_ms();
            let got = consume_java(&topic, 0, base, set.len())?;
            compare(&set, &got, base, (before, after))?;
            check_codecs(
                &batches(&c, &topic, 0, base, base + set.len() as i64, T),
                name,
            )
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
            create(&c, &topic, 1);
            let before = now_ms();
            let placed = produce_java(&topic, Some(0), name, &set)?;
            let after = now_ms();
            let want: Vec<(i32, i64)> = (0..set.len() as i64).map(|o| (0, o)).collect();
            if placed != want {
                return Err(format!("Java reported {placed:?}, want {want:?}"));
            }
            let got = READ.fetch_n(&c, &topic, 0, 0, set.len());
            compare(&set, &got, 0, (before, after))?;
            let bs = batches(&c, &topic, 0, 0, set.len() as i64, T);
            check_codecs(&bs, name)?;
            let pid = check_idempotent(&bs)?;
            // kafkac's decoded records carry the same producer id as the raw batches.
            let pids: Vec<Option<i64>> = got.iter().map(|g| g.producer_id).collect();
            if pids.iter().any(|&p| p != Some(pid)) {
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
        create(&c, topic, PARTITIONS);
        let mut keys: Vec<Vec<u8>> = (0..60).map(|i| format!("key-{i}").into_bytes()).collect();
        keys.extend(MURMUR2_VECTORS.iter().map(|(k, _)| k.to_vec()));
        let set: Vec<Rec> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                Rec::new(
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
            let got = READ.fetch_n(&c, topic, p, 0, w.len());
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
        create(&c, topic, 1);
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
