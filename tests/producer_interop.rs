//! What kafkac's asynchronous producer sends, the reference clients read back exactly:
//! the Apache Kafka Java client (kafka-clients 4.3.1, `tests/java/Peer.java`) and
//! confluent-kafka (librdkafka 2.16, `tests/interop/clients.py`), for every compression
//! codec, against Apache Kafka 4.3.1 (one node for the whole binary).
//!
//! Each codec gets its own topic of three partitions. The producer sends, in one run,
//! the full interop set (`tests/common/records.rs`: null and empty keys, values and
//! header values, binary and UTF-8 bytes, explicit timestamps out of order, one left to
//! the producer, values up to 200 KB) to each partition by number, interleaved with
//! generated records whose partition the partitioner picks (keyed, null-keyed and
//! empty-keyed, with and without headers), in small batches so that several are in flight
//! per partition. Then:
//!
//! * every message has exactly one delivery report: delivered, persisted, the partition
//!   it asked for (or, for a key, the same partition as the key's other records), the
//!   timestamp it was sent with, and offsets 0, 1, 2, ... in send order per partition;
//! * each partition holds exactly those records (its end offset is their count);
//! * the reference client reads each partition from offset 0 and gets every record
//!   byte for byte at the offset its report named, with the timestamp the report gave;
//! * on the wire (raw Fetch) every batch carries the codec, the producer's id and epoch,
//!   and sequence numbers from 0 without a gap.
//!
//! A missing `java`/`javac` or confluent-kafka fails the test (scripts/install-deps.sh
//! installs them). Every run of a reference client is bounded in time.
//! `cargo test --release --test producer_interop -- --nocapture` shows per-codec timings.

mod common;

use common::batches::{batches, check_codecs, Batch};
use common::client::{client_with, create_topic};
use common::kafka;
use common::records::{
    b, compare, every_codec, full_set, h, header_ins, now_ms, parse_got, Got, Rec,
};
use kafkac::client::OffsetSpec;
use kafkac::producer::{Message, Persisted, Producer, Report, PARTITION_ANY};
use kafkac::record::RecordHeaderIn;
use kafkac::{Client, Config};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// Timeout of one kafkac call, and of the producer's flush.
const T: Duration = Duration::from_secs(30);
/// Limit for one whole test (five codecs; includes starting the broker and compiling
/// the Java peer when the test is the first to need them).
const TEST_LIMIT: Duration = Duration::from_secs(240);
/// Partitions of each topic.
const PARTITIONS: i32 = 3;
/// Generated records besides the full set sent to each partition.
const GENERATED: usize = 600;
/// Limit for one run of the Java peer (every partition of one topic).
const JAVA_LIMIT: Duration = Duration::from_secs(90);
/// How long the peer works on one command before it answers `err timed out`.
const PEER_DEADLINE_MS: u64 = 30_000;
/// Limit for one run of clients.py (one partition).
const PYTHON_LIMIT: Duration = Duration::from_secs(60);
/// Limit for `javac`.
const JAVAC_LIMIT: Duration = Duration::from_secs(120);
/// JVM flags for the peer: small heap, one GC thread, C1 only.
const PEER_JVM_OPTS: &[&str] = &[
    "-Xms32m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
    // Like the broker JVMs, so scripts can find any JVM the suite left behind.
    "-Dkafkac.test.node=java-peer",
    "-Dlog4j2.level=WARN",
];

// ---------------------------------------------------------------------------
// Broker, clients, topics
// ---------------------------------------------------------------------------

fn bootstrap() -> &'static str {
    &kafka::shared().bootstrap
}

fn admin() -> Client {
    client_with(bootstrap(), &[("check.crcs", "true")])
}

/// A producer as an application would configure one for `codec`: small batches (so
/// several are in flight per partition), a generous message timeout.
fn producer(codec: &str) -> Producer {
    let mut c = Config::new();
    for (k, v) in [
        ("bootstrap.servers", bootstrap()),
        ("compression.type", codec),
        ("linger.ms", "5"),
        ("batch.num.messages", "40"),
        ("message.timeout.ms", "60000"),
        ("retry.backoff.ms", "50"),
    ] {
        c.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    Producer::new(&c).unwrap_or_else(|e| panic!("producer: {e}"))
}

/// A topic of [`PARTITIONS`] that takes any timestamp (the full set holds one in 2027,
/// which Kafka refuses by default as more than an hour ahead of its clock).
fn create(c: &Client, name: &str) {
    let any_time = i64::MAX.to_string();
    create_topic(
        c,
        name,
        PARTITIONS,
        1,
        &[("message.timestamp.after.max.ms", &any_time)],
        T,
    );
}

// ---------------------------------------------------------------------------
// What the producer sends
// ---------------------------------------------------------------------------

/// One message: the partition asked for ([`PARTITION_ANY`]: the partitioner's choice)
/// and the record.
struct Out {
    partition: i32,
    rec: Rec,
}

/// Generated record `i`: a key from a small set (every 7th null, every 11th empty),
/// a value that is sometimes null or empty, headers on every third, an explicit
/// timestamp except on every 13th.
fn generated(i: usize) -> Rec {
    let key = match i {
        _ if i % 7 == 3 => None,
        _ if i % 11 == 5 => b(""),
        _ => b(format!("key-{}", i % 23)),
    };
    let value = match i {
        _ if i % 17 == 4 => None,
        _ if i % 19 == 6 => b(""),
        _ => b(format!("value-{i}-{}", "v".repeat(i % 97))),
    };
    let headers = if i.is_multiple_of(3) {
        vec![
            h("seq", Some(i.to_string().as_bytes())),
            h("null", None),
            h("empty", Some(b"")),
        ]
    } else {
        vec![]
    };
    let timestamp =
        (!i.is_multiple_of(13)).then(|| 1_650_000_000_000 + (i as i64 * 7919) % 100_000);
    Rec {
        key,
        value,
        headers,
        timestamp,
    }
}

/// The messages of one run, in send order: the full set to each partition by number,
/// each followed by a third of the generated records.
fn messages() -> Vec<Out> {
    let mut out = Vec::new();
    let per = GENERATED / PARTITIONS as usize;
    for p in 0..PARTITIONS {
        out.extend(full_set().into_iter().map(|rec| Out { partition: p, rec }));
        out.extend((p as usize * per..(p as usize + 1) * per).map(|i| Out {
            partition: PARTITION_ANY,
            rec: generated(i),
        }));
    }
    out
}

/// What one run left in a topic: per partition, the records in send order with the
/// timestamps their reports gave, at offsets 0, 1, 2, ...; and the producer's id.
struct Sent {
    topic: String,
    by_partition: Vec<Vec<Rec>>,
    producer: (i64, i16),
    clock: (i64, i64),
    note: String,
}

/// Sends [`messages`] with `codec` to a new topic `topic`, serves every report and
/// checks them (see the module documentation).
fn produce_all(c: &Client, topic: &str, codec: &str) -> Result<Sent, String> {
    create(c, topic);
    let msgs = messages();
    let headers = msgs
        .iter()
        .map(|m| header_ins(std::slice::from_ref(&m.rec)).remove(0))
        .collect::<Vec<Vec<RecordHeaderIn>>>();
    let p = producer(codec);
    let mut reports: Vec<Report> = Vec::with_capacity(msgs.len());
    let before = now_ms();
    for (i, (m, hs)) in msgs.iter().zip(&headers).enumerate() {
        let msg = Message {
            topic,
            partition: m.partition,
            key: m.rec.key.as_deref(),
            value: m.rec.value.as_deref(),
            headers: hs,
            timestamp: m.rec.timestamp,
            opaque: i,
        };
        p.send_blocking(&msg, T)
            .map_err(|e| format!("send {i}: {e}"))?;
        p.poll(Duration::ZERO, |r| reports.push(r.clone()));
    }
    p.flush(T, |r| reports.push(r.clone()))
        .map_err(|e| format!("flush: {e}"))?;
    let after = now_ms();
    let counters = p.counters();
    let producer_id = p.producer_id();
    let dropped = p.close(T);
    if dropped != 0 {
        return Err(format!("close dropped {dropped} messages"));
    }

    // One report per message, each delivered.
    let mut by_msg: Vec<Option<&Report>> = vec![None; msgs.len()];
    for r in &reports {
        let slot = by_msg
            .get_mut(r.opaque)
            .ok_or_else(|| format!("report for unknown message {}", r.opaque))?;
        if slot.is_some() {
            return Err(format!("two reports for message {}", r.opaque));
        }
        *slot = Some(r);
    }
    let mut by_partition: Vec<Vec<Rec>> = vec![Vec::new(); PARTITIONS as usize];
    let mut key_partition: HashMap<Vec<u8>, i32> = HashMap::new();
    for (i, (m, r)) in msgs.iter().zip(&by_msg).enumerate() {
        let r = r.ok_or_else(|| format!("message {i} has no report"))?;
        if let Some(e) = &r.error {
            return Err(format!("message {i} failed: {e}"));
        }
        let bad = |what: String| Err(format!("message {i}'s report: {what}"));
        if r.status != Persisted::Persisted {
            return bad(format!("status {:?}", r.status));
        }
        if r.topic.name != topic {
            return bad(format!("topic {:?}", r.topic.name));
        }
        if !(0..PARTITIONS).contains(&r.partition)
            || (m.partition != PARTITION_ANY && r.partition != m.partition)
        {
            return bad(format!("partition {} (asked {})", r.partition, m.partition));
        }
        match m.rec.timestamp {
            Some(ts) if r.timestamp != ts => return bad(format!("timestamp {}", r.timestamp)),
            None if !(before..=after).contains(&r.timestamp) => {
                return bad(format!(
                    "timestamp {} not within {before}..={after}",
                    r.timestamp
                ))
            }
            _ => {}
        }
        // A key has one partition (null and empty keys have none).
        if let Some(k) = m.rec.key.as_ref().filter(|k| !k.is_empty()) {
            if m.partition == PARTITION_ANY {
                let first = *key_partition.entry(k.clone()).or_insert(r.partition);
                if first != r.partition {
                    return bad(format!(
                        "key {:?} in partition {}, earlier in {first}",
                        String::from_utf8_lossy(k),
                        r.partition
                    ));
                }
            }
        }
        let slot = &mut by_partition[r.partition as usize];
        if r.offset != slot.len() as i64 {
            return bad(format!(
                "offset {} in partition {}, want {} (send order in a new topic)",
                r.offset,
                r.partition,
                slot.len()
            ));
        }
        // What the log must hold: the record with the timestamp the report names.
        let mut want = m.rec.clone();
        want.timestamp = Some(r.timestamp);
        slot.push(want);
    }
    // Nothing else in the partitions.
    for (p, want) in by_partition.iter().enumerate() {
        let end = c
            .list_offsets(topic, p as i32, OffsetSpec::Latest, T)
            .map_err(|e| format!("end offset of {topic}/{p}: {e}"))?;
        if end.offset != want.len() as i64 {
            return Err(format!(
                "{topic}/{p} ends at {}, {} records were delivered to it",
                end.offset,
                want.len()
            ));
        }
    }
    let sizes: Vec<usize> = by_partition.iter().map(Vec::len).collect();
    Ok(Sent {
        topic: topic.to_string(),
        by_partition,
        producer: producer_id,
        clock: (before, after),
        note: format!(
            "(records per partition {sizes:?}; {} batches in {} requests)",
            counters.batches, counters.requests
        ),
    })
}

/// Every batch of every partition on the wire: codec `name`, the producer's id and
/// epoch, not transactional, sequence numbers from 0 without a gap.
fn check_wire(c: &Client, sent: &Sent, name: &str) -> Result<(), String> {
    let (pid, epoch) = sent.producer;
    if pid < 0 || epoch < 0 {
        return Err(format!("producer id {pid} epoch {epoch}: not idempotent"));
    }
    for (p, want) in sent.by_partition.iter().enumerate() {
        let bs: Vec<Batch> = batches(c, &sent.topic, p as i32, 0, want.len() as i64, T);
        check_codecs(&bs, name).map_err(|e| format!("partition {p}: {e}"))?;
        let mut next_seq = 0i64;
        for b in &bs {
            let what = format!("partition {p}: batch at offset {}", b.base_offset);
            if (b.producer_id, b.producer_epoch) != (pid, epoch) || b.transactional {
                return Err(format!(
                    "{what}: producer {}/{} (transactional {}), want {pid}/{epoch}",
                    b.producer_id, b.producer_epoch, b.transactional
                ));
            }
            if i64::from(b.base_sequence) != next_seq {
                return Err(format!(
                    "{what}: base sequence {}, want {next_seq}",
                    b.base_sequence
                ));
            }
            next_seq += i64::from(b.count);
        }
    }
    Ok(())
}

/// Compares what a reference client read from each partition with what was sent.
fn compare_all(sent: &Sent, got: &[Vec<Got>]) -> Result<(), String> {
    for (p, (want, got)) in sent.by_partition.iter().zip(got).enumerate() {
        compare(want, got, 0, sent.clock).map_err(|e| format!("partition {p}:\n  {e}"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The Java consumer (tests/java/Peer.java)
// ---------------------------------------------------------------------------

/// Compiles `tests/java/Peer.java` into `target/testbin/java-producer-interop` (again
/// when the source is newer than the class) and returns that directory. A missing
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
    let dir = testbin.join("java-producer-interop");
    let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let src_time = mtime(&src).ok_or_else(|| format!("no {}", src.display()))?;
    if mtime(&dir.join("Peer.class")).is_some_and(|c| c >= src_time) {
        return Ok(dir);
    }
    // Compiled into a private directory and moved into place, so a half-written class
    // directory is never used.
    let tmp = testbin.join(format!("java-producer-interop.{}.tmp", std::process::id()));
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

/// Reads every partition of `sent`'s topic from offset 0 with the Java consumer: one
/// JVM, one `consume` command per partition, then `quit`.
fn consume_java(sent: &Sent) -> Result<Vec<Vec<Got>>, String> {
    let classes = peer_classes();
    let mut script = String::new();
    for (p, want) in sent.by_partition.iter().enumerate() {
        script.push_str(&format!(
            "consume {} {} {p} 0 {}\n",
            bootstrap(),
            sent.topic,
            want.len()
        ));
    }
    script.push_str("quit\n");
    let mut cmd = Command::new("java");
    cmd.args(PEER_JVM_OPTS)
        .arg(format!("-Dkafkac.peer.deadline.ms={PEER_DEADLINE_MS}"))
        .arg("-cp")
        .arg(format!("{}:{}", classes.display(), kafka::classpath()))
        .arg("Peer");
    let done = common::run_bounded(cmd, Some(script.into_bytes()), JAVA_LIMIT)
        .map_err(|e| format!("cannot run java (a JDK is required): {e}"))?;
    let stdout = String::from_utf8_lossy(&done.stdout).into_owned();
    let tail = |s: &str| s[s.len().saturating_sub(4000)..].to_string();
    let why = || {
        format!(
            "Java peer ({:?} after {:?}); stderr:\n{}",
            done.status,
            done.took,
            tail(&done.stderr_text())
        )
    };
    if done.status.map(|s| s.success()) != Some(true) {
        return Err(why());
    }
    // Each command's data lines, then its `ok`/`err` line; `quit` answers `ok bye`.
    let mut out = Vec::new();
    let mut recs = Vec::new();
    for line in stdout.lines() {
        if let Some(r) = line.strip_prefix("rec ") {
            recs.push(parse_got(r)?);
        } else if line == "ok bye" {
            break;
        } else if line.starts_with("ok") {
            out.push(std::mem::take(&mut recs));
        } else if let Some(e) = line.strip_prefix("err ") {
            return Err(format!(
                "Java consume of partition {}: {e}; {}",
                out.len(),
                why()
            ));
        } else {
            let shown: String = line.chars().take(200).collect();
            return Err(format!(
                "line outside the peer's protocol {shown:?}; {}",
                why()
            ));
        }
    }
    if out.len() != sent.by_partition.len() {
        return Err(format!(
            "Java peer answered {} of {} consume commands; {}",
            out.len(),
            sent.by_partition.len(),
            why()
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// confluent-kafka (tests/interop/clients.py)
// ---------------------------------------------------------------------------

/// Reads every partition of `sent`'s topic from offset 0 with confluent-kafka's
/// consumer (one bounded run of clients.py per partition).
fn consume_confluent(sent: &Sent) -> Result<Vec<Vec<Got>>, String> {
    let mut out = Vec::new();
    for (p, want) in sent.by_partition.iter().enumerate() {
        let stdout = common::run_python_timeout(
            "clients.py",
            &[
                "confluent",
                "consume",
                bootstrap(),
                &sent.topic,
                &p.to_string(),
                "0",
                &want.len().to_string(),
            ],
            PYTHON_LIMIT,
        );
        let got = stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(parse_got)
            .collect::<Result<Vec<Got>, String>>()?;
        out.push(got);
    }
    Ok(out)
}

/// Fails unless python3 and confluent-kafka can be imported: a missing reference client
/// is a failure, not a skip.
fn require_confluent() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.arg("-c").arg("import confluent_kafka");
    let done = common::run_bounded(cmd, None, PYTHON_LIMIT)
        .unwrap_or_else(|e| panic!("{python} is needed by this test but can't be run ({e})"));
    assert!(
        done.status.is_some_and(|s| s.success()),
        "confluent-kafka is needed by this test ({}); install it with scripts/install-deps.sh",
        done.stderr_text().trim()
    );
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[test]
fn java_consumer_reads_what_the_producer_sends_with_every_codec() {
    common::with_timeout(TEST_LIMIT, || {
        peer_classes();
        let c = admin();
        every_codec("producer -> java", |name, _| {
            let sent = produce_all(&c, &format!("producer-to-java-{name}"), name)?;
            check_wire(&c, &sent, name)?;
            compare_all(&sent, &consume_java(&sent)?)?;
            Ok(sent.note)
        });
    });
}

#[test]
fn confluent_kafka_reads_what_the_producer_sends_with_every_codec() {
    common::with_timeout(TEST_LIMIT, || {
        require_confluent();
        let c = admin();
        every_codec("producer -> confluent", |name, _| {
            let sent = produce_all(&c, &format!("producer-to-confluent-{name}"), name)?;
            check_wire(&c, &sent, name)?;
            compare_all(&sent, &consume_confluent(&sent)?)?;
            Ok(sent.note)
        });
    });
}
