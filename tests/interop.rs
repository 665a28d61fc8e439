//! Interoperability with independent Kafka clients, in both directions and with every
//! compression codec:
//!
//! * what kafkac produces, the other client reads back exactly, and
//! * what the other client produces, kafkac reads back exactly
//!
//! (keys, values and headers byte for byte, null versus empty keys, values and header
//! values, timestamps).
//!
//! Against Tansu (one broker for the whole binary): confluent-kafka (librdkafka 2.16)
//! and kafka-python, driven by `tests/interop/clients.py`. Against librdkafka's mock
//! cluster: kcat (librdkafka 2.0.2), which can't talk to Tansu.
//!
//! Every topic is used for one (client, direction, codec) only, so the records of a run
//! start at offset 0. Besides the records themselves, each run checks on the wire (raw
//! Fetch through kafkac's connection layer) that every batch carries the codec under
//! test, so a codec a producer silently skipped can't pass unnoticed.
//!
//! Each test collects the result of every codec and fails at the end with all the
//! mismatches; `cargo test --test interop -- --nocapture` shows the per-codec timings.

mod common;

use common::{MockCluster, Tansu};
use kafkac::client::NewTopic;
use kafkac::cluster::Cluster;
use kafkac::protocol::messages::{FetchPartition, FetchRequest, FetchTopic};
use kafkac::record::{Compression, RecordHeaderIn, RecordIn, TimestampType};
use kafkac::{Client, Config};
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const T: Duration = Duration::from_secs(20);
/// Limit for one whole test (five codecs, one broker).
const TEST_LIMIT: Duration = Duration::from_secs(150);
/// Limit for one run of a reference client.
const TOOL_LIMIT: Duration = Duration::from_secs(60);

const CODECS: [(&str, Compression); 5] = [
    ("none", Compression::None),
    ("gzip", Compression::Gzip),
    ("snappy", Compression::Snappy),
    ("lz4", Compression::Lz4),
    ("zstd", Compression::Zstd),
];

// ---------------------------------------------------------------------------
// Brokers and kafkac clients
// ---------------------------------------------------------------------------

/// One Tansu for the whole test binary (it dies with the process).
fn tansu() -> &'static str {
    static B: OnceLock<String> = OnceLock::new();
    B.get_or_init(|| Box::leak(Box::new(Tansu::start())).bootstrap.clone())
}

/// One three-broker mock cluster for the whole test binary.
fn mock() -> &'static Mutex<MockCluster> {
    static M: OnceLock<Mutex<MockCluster>> = OnceLock::new();
    M.get_or_init(|| Mutex::new(MockCluster::start(3)))
}

fn mock_bootstrap() -> String {
    mock()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .bootstrap
        .clone()
}

fn client(bootstrap: &str) -> Client {
    let mut c = Config::new();
    c.set("bootstrap.servers", bootstrap).unwrap();
    c.set("retry.backoff.ms", "50").unwrap();
    c.set("check.crcs", "true").unwrap();
    Client::new(&c).unwrap()
}

/// Fails the test unless `tool` can be started (`tool args...`), naming the tool and
/// scripts/install-deps.sh: a missing reference client is a failure, not a skip.
fn require_tool(tool: &str, args: &[&str]) {
    if let Err(e) = Command::new(tool).args(args).output() {
        panic!("{tool} is needed by this test but can't be run ({e}); install it with scripts/install-deps.sh");
    }
}

fn require_python() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    require_tool(&python, &["--version"]);
}

/// The topic's high watermark must be `n`: each topic holds the records of one run
/// only, so more means something was written twice. (From a Fetch at offset `n`, since
/// Tansu 0.6.0 answers ListOffsets "latest" with the last batch's base offset + 1.)
fn check_end_offset(c: &Client, topic: &str, n: usize) -> Result<(), String> {
    let f = c
        .fetch(topic, 0, n as i64, 1 << 20, Duration::from_millis(10), T)
        .map_err(|e| format!("fetch {topic} at offset {n}, its expected end: {e}"))?;
    if f.high_watermark != n as i64 || !f.records.is_empty() {
        return Err(format!(
            "{topic} ends at offset {}, want {n}",
            f.high_watermark
        ));
    }
    Ok(())
}

fn create_tansu_topic(c: &Client, name: &str) {
    let r = c
        .create_topics(
            &[NewTopic {
                name: name.into(),
                num_partitions: 1,
                replication_factor: 1,
                configs: vec![],
            }],
            T,
        )
        .unwrap();
    assert!(r[0].error.is_none(), "create {name}: {:?}", r[0].error);
}

fn create_mock_topic(name: &str) {
    mock()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .create_topic(name, 1, 3);
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ---------------------------------------------------------------------------
// The records
// ---------------------------------------------------------------------------

/// An owned record, as produced; `timestamp: None` lets the producer pick "now".
#[derive(Debug, Clone, PartialEq)]
struct Rec {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    timestamp: Option<i64>,
}

/// A record as read back.
#[derive(Debug, Clone, PartialEq)]
struct Got {
    offset: i64,
    /// 0 create time, 1 log append time, -1 unknown.
    timestamp_type: i32,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

fn b(s: impl AsRef<[u8]>) -> Option<Vec<u8>> {
    Some(s.as_ref().to_vec())
}

fn h(k: &str, v: Option<&[u8]>) -> (Vec<u8>, Option<Vec<u8>>) {
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

/// Compressible, so that every codec really shrinks the batch (librdkafka sends a batch
/// uncompressed when compression doesn't pay).
fn big_value() -> Vec<u8> {
    (0..600)
        .map(|i| format!("kafkac interop record line {i:04} -- "))
        .collect::<String>()
        .into_bytes()
}

/// About 200 KB: text, then 80 KB of pseudo-random bytes, then text again. Spans
/// several codec blocks (LZ4 frames: 64 KiB blocks, xerial snappy: 32 KiB), some of
/// them incompressible (stored as-is in an LZ4 frame), while the whole still
/// compresses.
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

/// Everything a record can carry. Timestamps are explicit (and not in order: the
/// batch encodes negative deltas), except one left to the producer.
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

/// What kafka-python's producer can send: its `send()` rejects a null header value
/// ("headers must be (str, bytes) tuples") and a record with neither key nor value.
fn kafka_python_producible(set: Vec<Rec>) -> Vec<Rec> {
    set.into_iter()
        .filter(|r| r.key.is_some() || r.value.is_some())
        .map(|mut r| {
            r.headers.retain(|(_, v)| v.is_some());
            r
        })
        .collect()
}

/// Produces `set` with kafkac, as one batch to partition 0; returns its base offset.
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

/// Reads `count` records from offset `from` with kafkac.
fn fetch_kafkac(c: &Client, topic: &str, from: i64, count: usize) -> Vec<Got> {
    let deadline = Instant::now() + T;
    let mut got = Vec::new();
    let mut offset = from;
    while got.len() < count {
        assert!(
            Instant::now() < deadline,
            "kafkac read {} of {count} records of {topic} within {T:?}",
            got.len()
        );
        let f = c
            .fetch(topic, 0, offset, 4 << 20, Duration::from_millis(200), T)
            .unwrap_or_else(|e| panic!("kafkac fetch {topic} at {offset}: {e}"));
        for r in f.records.iter().filter(|r| r.offset >= offset) {
            got.push(Got {
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
            });
        }
        offset = got.last().map_or(offset, |g| g.offset + 1);
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

/// Compares what was read with what was produced, record by record: offsets from
/// `base` on, keys, values and headers exactly, create-time timestamps; a record
/// produced without a timestamp must carry one within `clock` (the producer's run).
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
            let fmt = |hs: &[(Vec<u8>, Option<Vec<u8>>)]| {
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
// The codec on the wire
// ---------------------------------------------------------------------------

/// The compression codec (attributes & 7) of every record batch of `topic`/0 that holds
/// an offset in `from..to`, read with a raw Fetch so nothing is decompressed.
fn batch_codecs(c: &Client, topic: &str, from: i64, to: i64) -> Vec<i16> {
    let cluster = c.cluster();
    let deadline = Cluster::deadline(T);
    let leader = cluster.leader(topic, 0, false, deadline).unwrap();
    let conn = cluster.broker(leader, deadline).unwrap();
    let mut codecs = Vec::new();
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
                    partition: 0,
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
        // attributes i16, lastOffsetDelta i32, ...
        while pos + 27 <= data.len() {
            let be = |at: usize, n: usize| {
                data[pos + at..pos + at + n]
                    .iter()
                    .fold(0i64, |acc, &x| (acc << 8) | i64::from(x))
            };
            let base = be(0, 8);
            let len = be(8, 4) as usize;
            assert_eq!(
                data[pos + 16],
                2,
                "{topic}: batch at {base} is not RecordBatch v2"
            );
            let attributes = be(21, 2) as i16;
            let last = base + be(23, 4);
            if pos + 12 + len > data.len() {
                break; // partial batch at the end
            }
            if last >= offset && base < to {
                codecs.push(attributes & 7);
            }
            offset = offset.max(last + 1);
            pos += 12 + len;
        }
    }
    codecs
}

fn codec_id(name: &str) -> i16 {
    CODECS.iter().position(|(n, _)| *n == name).unwrap() as i16
}

// ---------------------------------------------------------------------------
// Running the other clients
// ---------------------------------------------------------------------------

/// The record-file line format of `tests/interop/clients.py`: `-` for null, else `:`
/// and the bytes in hex.
fn field(b: &Option<Vec<u8>>) -> String {
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

fn unfield(s: &str) -> Option<Vec<u8>> {
    if s == "-" {
        return None;
    }
    let hex = s
        .strip_prefix(':')
        .unwrap_or_else(|| panic!("bad field {s:?}"));
    Some(
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect(),
    )
}

fn write_records_file(dir: &Path, set: &[Rec]) -> String {
    let mut out = String::new();
    for r in set {
        let ts = r.timestamp.map_or("-".to_string(), |t| t.to_string());
        write!(out, "{ts} {} {}", field(&r.key), field(&r.value)).unwrap();
        for (k, v) in &r.headers {
            write!(out, " {} {}", field(&Some(k.clone())), field(v)).unwrap();
        }
        out.push('\n');
    }
    let path = dir.join("records.txt");
    std::fs::write(&path, out).unwrap();
    path.display().to_string()
}

fn parse_consumed(out: &str) -> Vec<Got> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert!(f.len() >= 5 && f.len() % 2 == 1, "bad record line {l:?}");
            Got {
                offset: f[0].parse().unwrap(),
                timestamp_type: f[1].parse().unwrap(),
                timestamp: f[2].parse().unwrap(),
                key: unfield(f[3]),
                value: unfield(f[4]),
                headers: f[5..]
                    .chunks(2)
                    .map(|p| (unfield(p[0]).expect("header name"), unfield(p[1])))
                    .collect(),
            }
        })
        .collect()
}

/// Runs `cmd` with stdin closed, bounded by `limit`; its stdout, or an error with its
/// stderr.
fn run_command(cmd: Command, limit: Duration) -> Result<Vec<u8>, String> {
    let what = format!("{cmd:?}");
    let done = common::run_bounded(cmd, None, limit).map_err(|e| format!("spawn {what}: {e}"))?;
    match done.status {
        Some(st) if st.success() => Ok(done.stdout),
        Some(st) => Err(format!("{what} failed ({st}):\n{}", done.stderr_text())),
        None => Err(format!(
            "{what} timed out after {limit:?}:\n{}",
            done.stderr_text()
        )),
    }
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
        match r {
            Ok(Ok(note)) => eprintln!("interop {label} {name}: ok in {ms} ms {note}"),
            Ok(Err(e)) => {
                eprintln!("interop {label} {name}: FAILED in {ms} ms");
                failures.push(format!("{name}: {e}"));
            }
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                eprintln!("interop {label} {name}: FAILED in {ms} ms");
                failures.push(format!("{name}: {msg}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{label}: {} of {} codecs failed:\n{}",
        failures.len(),
        CODECS.len(),
        failures.join("\n")
    );
}

fn check_codecs(codecs: &[i16], name: &str) -> Result<String, String> {
    let want = codec_id(name);
    if codecs.is_empty() || codecs.iter().any(|&c| c != want) {
        return Err(format!(
            "batches on the wire have codecs {codecs:?}, want {want} ({name}) for all"
        ));
    }
    Ok(format!("({} batch(es) {name} on the wire)", codecs.len()))
}

/// kafkac produces the full set; `tool` (clients.py) reads it back.
fn kafkac_to_python(tool: &str) {
    let tool = tool.to_string();
    common::with_timeout(TEST_LIMIT, move || {
        require_python();
        let c = client(tansu());
        let set = full_set();
        every_codec(&format!("kafkac -> {tool}"), |name, codec| {
            let topic = format!("to-{tool}-{name}");
            create_tansu_topic(&c, &topic);
            let before = now_ms();
            let base = produce_kafkac(&c, &topic, &set, codec);
            let after = now_ms();
            if base != 0 {
                return Err(format!(
                    "kafkac produce to new topic {topic} returned offset {base}"
                ));
            }
            check_end_offset(&c, &topic, set.len())?;
            let out = common::run_python_timeout(
                "clients.py",
                &[
                    &tool,
                    "consume",
                    tansu(),
                    &topic,
                    "0",
                    &base.to_string(),
                    &set.len().to_string(),
                ],
                TOOL_LIMIT,
            );
            compare(&set, &parse_consumed(&out), base, (before, after))?;
            check_codecs(
                &batch_codecs(&c, &topic, base, base + set.len() as i64),
                name,
            )
        });
    });
}

/// `tool` (clients.py) produces `set`; kafkac reads it back.
fn python_to_kafkac(tool: &str, set: Vec<Rec>) {
    let tool = tool.to_string();
    common::with_timeout(TEST_LIMIT, move || {
        require_python();
        let c = client(tansu());
        let dir = common::scratch_dir(&format!("interop-{tool}"));
        let file = write_records_file(&dir, &set);
        every_codec(&format!("{tool} -> kafkac"), |name, _| {
            let topic = format!("from-{tool}-{name}");
            create_tansu_topic(&c, &topic);
            let before = now_ms();
            let out = common::run_python_timeout(
                "clients.py",
                &[&tool, "produce", tansu(), &topic, "0", name, &file],
                TOOL_LIMIT,
            );
            let after = now_ms();
            let offsets: Vec<i64> = out
                .trim()
                .strip_prefix("offsets ")
                .ok_or_else(|| format!("{tool} produce printed {out:?}"))?
                .split(' ')
                .map(|o| o.parse().map_err(|e| format!("{tool} offset {o:?}: {e}")))
                .collect::<Result<_, _>>()?;
            // A new topic: the records are at 0..n.
            let base = 0;
            let want: Vec<i64> = (0..set.len() as i64).collect();
            if offsets != want {
                return Err(format!(
                    "{tool} reported offsets {offsets:?}, want {want:?}"
                ));
            }
            check_end_offset(&c, &topic, set.len())?;
            let got = fetch_kafkac(&c, &topic, base, set.len());
            compare(&set, &got, base, (before, after))?;
            check_codecs(
                &batch_codecs(&c, &topic, base, base + set.len() as i64),
                name,
            )
        });
    });
}

#[test]
fn confluent_kafka_reads_what_kafkac_produces() {
    kafkac_to_python("confluent");
}

#[test]
fn kafkac_reads_what_confluent_kafka_produces() {
    python_to_kafkac("confluent", full_set());
}

#[test]
fn kafka_python_reads_what_kafkac_produces() {
    kafkac_to_python("kafka-python");
}

#[test]
fn kafkac_reads_what_kafka_python_produces() {
    python_to_kafkac("kafka-python", kafka_python_producible(full_set()));
}

// ---------------------------------------------------------------------------
// kcat (librdkafka 2.0.2) against the mock cluster
// ---------------------------------------------------------------------------

const KCAT_LIMIT: Duration = Duration::from_secs(30);
/// kcat's message and key delimiters for producing: byte strings no record here holds.
const KCAT_MSG_DELIM: &str = "\n~~kafkac-interop-message~~\n";
const KCAT_KEY_DELIM: &str = "\n~~kafkac-interop-key~~\n";
/// One record per kcat output item: offset, timestamp, key length and value length
/// (-1 for null) on one line, then the raw key and value and a newline, then the
/// headers (`name=value,...`, `NULL` for a null value) on one line.
const KCAT_FORMAT: &str = "%o %T %K %S\n%k%s\n%h\n";

/// Whether kcat's `%h` shows a header unambiguously: it prints `name=value` pairs
/// joined by commas, the value with `%.*s` (so up to its first NUL), and `NULL` for a
/// null value.
fn kcat_printable((k, v): &(Vec<u8>, Option<Vec<u8>>)) -> bool {
    let plain = |b: &[u8]| !b.iter().any(|c| matches!(c, b',' | b'=' | b'\n' | 0));
    plain(k)
        && match v {
            None => true,
            Some(v) => plain(v) && v.as_slice() != b"NULL",
        }
}

fn kcat_headers_line(headers: &[(Vec<u8>, Option<Vec<u8>>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (k, v)) in headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(k);
        out.push(b'=');
        out.extend_from_slice(v.as_deref().unwrap_or(b"NULL"));
    }
    out
}

/// A record as kcat shows it: everything but the headers, which come as one line.
struct KcatRecord {
    offset: i64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<u8>,
}

fn parse_kcat(mut out: &[u8]) -> Result<Vec<KcatRecord>, String> {
    let mut recs = Vec::new();
    let line = |out: &mut &[u8]| -> Result<Vec<u8>, String> {
        let nl = out
            .iter()
            .position(|&c| c == b'\n')
            .ok_or("kcat output ends without a newline")?;
        let l = out[..nl].to_vec();
        *out = &out[nl + 1..];
        Ok(l)
    };
    let bytes = |out: &mut &[u8], len: i64| -> Result<Option<Vec<u8>>, String> {
        if len < 0 {
            return Ok(None);
        }
        let len = len as usize;
        if out.len() < len {
            return Err("kcat output ends inside a record".into());
        }
        let v = out[..len].to_vec();
        *out = &out[len..];
        Ok(Some(v))
    };
    while !out.is_empty() {
        let head = String::from_utf8(line(&mut out)?).map_err(|e| e.to_string())?;
        let n: Vec<i64> = head
            .split(' ')
            .map(|x| x.parse().map_err(|_| format!("bad kcat line {head:?}")))
            .collect::<Result<_, _>>()?;
        if n.len() != 4 {
            return Err(format!("bad kcat line {head:?}"));
        }
        let key = bytes(&mut out, n[2])?;
        let value = bytes(&mut out, n[3])?;
        if line(&mut out)? != b"" {
            return Err("kcat record not followed by a newline".into());
        }
        let headers = line(&mut out)?;
        recs.push(KcatRecord {
            offset: n[0],
            timestamp: n[1],
            key,
            value,
            headers,
        });
    }
    Ok(recs)
}

fn kcat(bootstrap: &str, args: &[&str]) -> Result<Vec<u8>, String> {
    let mut cmd = Command::new("kcat");
    cmd.args(["-b", bootstrap, "-m", "10"]).args(args);
    run_command(cmd, KCAT_LIMIT)
}

#[test]
fn kcat_reads_what_kafkac_produces() {
    common::with_timeout(TEST_LIMIT, || {
        require_tool("kcat", &["-V"]);
        let bootstrap = mock_bootstrap();
        let c = client(&bootstrap);
        let mut set = full_set();
        for r in &mut set {
            r.headers.retain(kcat_printable);
        }
        every_codec("kafkac -> kcat", |name, codec| {
            let topic = format!("to-kcat-{name}");
            create_mock_topic(&topic);
            let before = now_ms();
            let base = produce_kafkac(&c, &topic, &set, codec);
            let after = now_ms();
            if base != 0 {
                return Err(format!(
                    "kafkac produce to new topic {topic} returned offset {base}"
                ));
            }
            check_end_offset(&c, &topic, set.len())?;
            let out = kcat(
                &bootstrap,
                &[
                    "-C",
                    "-q",
                    "-X",
                    "check.crcs=true",
                    "-e",
                    "-t",
                    &topic,
                    "-p",
                    "0",
                    "-o",
                    &base.to_string(),
                    "-c",
                    &set.len().to_string(),
                    "-f",
                    KCAT_FORMAT,
                ],
            )?;
            let got = parse_kcat(&out)?;
            // Compare through the common path: kcat's header line stands in for the
            // headers on both sides.
            let want: Vec<Rec> = set
                .iter()
                .map(|r| Rec {
                    headers: vec![(kcat_headers_line(&r.headers), None)],
                    ..r.clone()
                })
                .collect();
            let got: Vec<Got> = got
                .into_iter()
                .map(|g| Got {
                    offset: g.offset,
                    // kcat's format has no timestamp type: this only lets compare() run.
                    timestamp_type: 0,
                    timestamp: g.timestamp,
                    key: g.key,
                    value: g.value,
                    headers: vec![(g.headers, None)],
                })
                .collect();
            compare(&want, &got, base, (before, after))?;
            check_codecs(
                &batch_codecs(&c, &topic, base, base + set.len() as i64),
                name,
            )
        });
    });
}

/// What one kcat producer run sends: kcat takes one set of headers for all messages
/// (`-H`) and treats an empty key or value either as empty or, with `-Z`, as null.
struct KcatRun {
    null_empty: bool,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// (key, value) per message; a null key is sent as a message without key delimiter.
    messages: Vec<(Option<Vec<u8>>, Vec<u8>)>,
}

impl KcatRun {
    fn input(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, (k, v)) in self.messages.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(KCAT_MSG_DELIM.as_bytes());
            }
            if let Some(k) = k {
                out.extend_from_slice(k);
                out.extend_from_slice(KCAT_KEY_DELIM.as_bytes());
            }
            out.extend_from_slice(v);
        }
        out
    }

    fn expected(&self) -> Vec<Rec> {
        let null = |b: &[u8]| (!(self.null_empty && b.is_empty())).then(|| b.to_vec());
        self.messages
            .iter()
            .map(|(k, v)| Rec {
                key: k.as_deref().and_then(null),
                value: null(v),
                headers: self.headers.clone(),
                timestamp: None,
            })
            .collect()
    }

    fn args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if self.null_empty {
            a.push("-Z".to_string());
        }
        for (k, v) in &self.headers {
            let k = String::from_utf8(k.clone()).unwrap();
            a.push("-H".into());
            a.push(match v {
                Some(v) => format!("{k}={}", String::from_utf8(v.clone()).unwrap()),
                None => k,
            });
        }
        a
    }
}

fn kcat_runs() -> Vec<KcatRun> {
    let all: Vec<u8> = (0..=255u8).collect();
    let rev: Vec<u8> = (0..=255u8).rev().collect();
    let s = |x: &str| x.as_bytes().to_vec();
    vec![
        KcatRun {
            null_empty: false,
            headers: vec![
                h("h1", Some(b"v1")),
                h("null-header", None),
                h("empty-header", Some(b"")),
                h("dup", Some(b"first")),
                h("dup", Some(b"second")),
                h("ünï-ключ-😀", Some("ç✓ 日本語".as_bytes())),
            ],
            messages: vec![
                (Some(all), rev),
                (Some(s("ключ-😀")), s("значение ✓ 日本語")),
                (None, s("null key")),
                (Some(vec![]), s("empty key")),
                (Some(s("empty value")), vec![]),
                (Some(vec![]), vec![]),
                (Some(s("big")), big_value()),
                (Some(s("mixed")), mixed_value()),
            ],
        },
        KcatRun {
            null_empty: true,
            headers: vec![],
            messages: vec![
                (Some(s("null value")), vec![]),
                (Some(vec![]), s("null key")),
                (Some(vec![]), vec![]),
                (Some(s("k")), s("v")),
                (Some(s("big")), big_value()),
            ],
        },
    ]
}

#[test]
fn kafkac_reads_what_kcat_produces() {
    common::with_timeout(TEST_LIMIT, || {
        require_tool("kcat", &["-V"]);
        let bootstrap = mock_bootstrap();
        let c = client(&bootstrap);
        let dir = common::scratch_dir("interop-kcat");
        let runs = kcat_runs();
        for (i, run) in runs.iter().enumerate() {
            std::fs::write(dir.join(format!("run{i}.bin")), run.input()).unwrap();
        }
        every_codec("kcat -> kafkac", |name, _| {
            let mut notes = Vec::new();
            for (i, run) in runs.iter().enumerate() {
                let topic = format!("from-kcat-{name}-{i}");
                create_mock_topic(&topic);
                let file = dir.join(format!("run{i}.bin")).display().to_string();
                let mut args: Vec<String> = [
                    "-P",
                    "-t",
                    &topic,
                    "-p",
                    "0",
                    "-z",
                    name,
                    "-D",
                    KCAT_MSG_DELIM,
                    "-K",
                    KCAT_KEY_DELIM,
                    "-X",
                    "acks=all",
                    "-X",
                    "linger.ms=100",
                    "-l",
                    &file,
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                args.extend(run.args());
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let before = now_ms();
                kcat(&bootstrap, &args)?;
                let after = now_ms();
                let want = run.expected();
                check_end_offset(&c, &topic, want.len()).map_err(|e| format!("run {i}: {e}"))?;
                let got = fetch_kafkac(&c, &topic, 0, want.len());
                compare(&want, &got, 0, (before, after)).map_err(|e| format!("run {i}: {e}"))?;
                notes.push(check_codecs(
                    &batch_codecs(&c, &topic, 0, want.len() as i64),
                    name,
                )?);
            }
            Ok(notes.join(" "))
        });
    });
}
