//! The memory a fetch may take: `fetch.max.decompressed.bytes` bounds the decompressed
//! bytes *and* the decoded record index of one fetch call, over all the partitions of the
//! call together. A fake broker on loopback serves hand-written answers: 9 million empty
//! records (about 90 MB of records, legal, and 360 MB of index if nothing stopped it),
//! uncompressed and compressed with each codec, decompression bombs, and several partitions
//! whose answers fit the budget one by one but not together.
//!
//! Record batches are written here field by field from the protocol guide's "Message
//! Format" (and tests/fake for the answers around them), not with kafkac's encoder; the
//! codecs are the crates kafkac depends on (flate2, snap, lz4_flex, zstd), the checksum
//! the `crc32c` crate.
//!
//! Peak memory is measured in a child process (this test binary run again with one
//! ignored test selected, `child_fetch`), so that the fake broker's own buffers, in the
//! parent, do not count: the child reads its VmHWM from /proc/self/status after the fetch.

mod common;
mod fake;

use common::with_timeout;
use fake::{Frame, API_VERSIONS, FETCH, METADATA};
use kafkac::client::FetchRequestSpec;
use kafkac::error::local;
use kafkac::{Client, Config};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Bound on each test's running time.
const LIMIT: Duration = Duration::from_secs(240);
/// Timeout of one fetch call.
const T: Duration = Duration::from_secs(60);
/// Longest a child process may run.
const CHILD_LIMIT: Duration = Duration::from_secs(120);

/// The default of `fetch.max.decompressed.bytes`.
const DEFAULT_BUDGET: usize = 104_857_600;
/// The number of records of the big answer.
const MANY: usize = 9_000_000;
/// A budget the big answer fits in with every codec: its 90 MB of decompressed records
/// plus an index of a few tens of bytes a record.
const BIG_BUDGET: usize = 448 << 20;
/// What a process may hold beyond the budget and the response frame (which
/// `receive.message.max.bytes` bounds, not the budget): the program, its threads' stacks,
/// allocator slack, the decoder's transient buffers.
const OVERHEAD: usize = 64 << 20;

/// The attributes' codec ids (bits 0-2).
const NONE: i16 = 0;
const GZIP: i16 = 1;
const SNAPPY: i16 = 2;
const LZ4: i16 = 3;
const ZSTD: i16 = 4;

const CODECS: [(i16, &str); 5] = [
    (NONE, "none"),
    (GZIP, "gzip"),
    (SNAPPY, "snappy"),
    (LZ4, "lz4"),
    (ZSTD, "zstd"),
];

// ---------------------------------------------------------------------------------------
// Record batches, written by hand

/// The records of a v2 batch: `count` records with a null key, a null value, no headers,
/// timestamp delta 0 and offset delta i. Each takes 7 to 10 bytes.
fn empty_records(count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(count * 10);
    let mut body = Vec::with_capacity(16);
    for i in 0..count {
        body.clear();
        body.push(0); // attributes: int8, unused
        fake::varint(&mut body, 0); // timestampDelta: varlong
        fake::varint(&mut body, i as i64); // offsetDelta: varint
        fake::varint(&mut body, -1); // keyLength: varint, -1 for null
        fake::varint(&mut body, -1); // valueLength: varint, -1 for null
        fake::varint(&mut body, 0); // headers count: varint
        fake::varint(&mut out, body.len() as i64); // length: varint
        out.extend_from_slice(&body);
    }
    out
}

/// The records of a v2 batch holding one record whose value is `value_len` zero bytes.
fn zeros_record(value_len: usize) -> Vec<u8> {
    let mut body = vec![0]; // attributes
    fake::varint(&mut body, 0); // timestampDelta
    fake::varint(&mut body, 0); // offsetDelta
    fake::varint(&mut body, -1); // keyLength: null
    fake::varint(&mut body, value_len as i64); // valueLength
    body.resize(body.len() + value_len, 0); // value
    fake::varint(&mut body, 0); // headers count
    let mut out = Vec::new();
    fake::varint(&mut out, body.len() as i64); // length
    out.extend_from_slice(&body);
    out
}

/// `data` compressed as Kafka frames each codec.
fn compress(codec: i16, data: &[u8]) -> Vec<u8> {
    match codec {
        NONE => data.to_vec(),
        GZIP => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        SNAPPY => {
            // snappy-java's xerial framing: magic, version 1, compatible version 1, then
            // [INT32 BE length, raw snappy block] for every 32 KiB of input.
            let mut out = b"\x82SNAPPY\x00".to_vec();
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut enc = snap::raw::Encoder::new();
            for chunk in data.chunks(32 << 10) {
                let block = enc.compress_vec(chunk).unwrap();
                out.extend_from_slice(&(block.len() as i32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            out
        }
        LZ4 => {
            // An LZ4 frame (independent 64 KiB blocks, lz4_flex's defaults).
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        ZSTD => zstd::bulk::compress(data, 1).unwrap(),
        _ => unreachable!("codec {codec}"),
    }
}

/// A RecordBatch (magic 2) at offset 0 with `count` records whose (possibly compressed)
/// bytes are `records`, codec `codec`, CreateTime, no producer.
fn batch(count: usize, codec: i16, records: &[u8]) -> Vec<u8> {
    const TS: i64 = 1_700_000_000_000;
    // What the CRC covers: attributes to the end of the batch.
    let mut tail = Vec::with_capacity(records.len() + 64);
    tail.extend_from_slice(&codec.to_be_bytes()); // attributes
    tail.extend_from_slice(&(count as i32 - 1).to_be_bytes()); // lastOffsetDelta
    tail.extend_from_slice(&TS.to_be_bytes()); // baseTimestamp
    tail.extend_from_slice(&TS.to_be_bytes()); // maxTimestamp
    tail.extend_from_slice(&(-1i64).to_be_bytes()); // producerId: none
    tail.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch: none
    tail.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence: none
    tail.extend_from_slice(&(count as i32).to_be_bytes()); // recordsCount
    tail.extend_from_slice(records); // records
    let mut b = Vec::with_capacity(tail.len() + 32);
    b.extend_from_slice(&0i64.to_be_bytes()); // baseOffset
    let batch_length = 4 + 1 + 4 + tail.len(); // partitionLeaderEpoch, magic, crc, the rest
    b.extend_from_slice(&(batch_length as i32).to_be_bytes()); // batchLength
    b.extend_from_slice(&0i32.to_be_bytes()); // partitionLeaderEpoch
    b.push(2); // magic
    b.extend_from_slice(&crc32c::crc32c(&tail).to_be_bytes()); // crc: CRC-32C
    b.extend_from_slice(&tail);
    b
}

/// The 9 million empty records, uncompressed (shared by the tests of this binary).
fn many_empty_records() -> &'static [u8] {
    static R: OnceLock<Vec<u8>> = OnceLock::new();
    R.get_or_init(|| empty_records(MANY))
}

// ---------------------------------------------------------------------------------------
// The fake broker

/// What the broker answers to ApiVersions: (api_key, min_version, max_version).
const APIS: &[(i16, i16, i16)] = &[(FETCH, 4, 12), (METADATA, 1, 12), (API_VERSIONS, 0, 3)];

/// Metadata response (key 3), v1-v12: one broker (node 1 at 127.0.0.1:`port`) leading
/// every partition of `topic`, partitions 0 to `partitions` - 1. The layout of
/// `fake::metadata_response`, with more than one partition.
fn metadata_response(cid: i32, version: i16, port: u16, topic: &str, partitions: usize) -> Vec<u8> {
    assert!((1..=12).contains(&version), "Metadata v{version}");
    let flex = version >= 9;
    let mut f = Frame::response(cid, flex);
    if version >= 3 {
        f.i32(0); // throttle_time_ms
    }
    f.array(flex, 1); // brokers
    f.i32(1); // node_id
    f.string(flex, "127.0.0.1"); // host
    f.i32(i32::from(port)); // port
    f.nullable_string(flex, None); // rack
    if flex {
        f.tagged_fields();
    }
    if version >= 2 {
        f.nullable_string(flex, None); // cluster_id
    }
    f.i32(1); // controller_id
    f.array(flex, 1); // topics
    f.i16(0); // error_code
    if version >= 12 {
        f.nullable_string(flex, Some(topic)); // name
    } else {
        f.string(flex, topic); // name
    }
    if version >= 10 {
        f.raw(&fake::TOPIC_ID); // topic_id
    }
    f.bool(false); // is_internal
    f.array(flex, partitions); // partitions
    for p in 0..partitions {
        f.i16(0); // error_code
        f.i32(p as i32); // partition_index
        f.i32(1); // leader_id
        if version >= 7 {
            f.i32(0); // leader_epoch
        }
        f.array(flex, 1); // replica_nodes
        f.i32(1);
        f.array(flex, 1); // isr_nodes
        f.i32(1);
        if version >= 5 {
            f.array(flex, 0); // offline_replicas
        }
        if flex {
            f.tagged_fields(); // partition's TAG_BUFFER
        }
    }
    if version >= 8 {
        f.i32(i32::MIN); // topic_authorized_operations
    }
    if flex {
        f.tagged_fields(); // topic's TAG_BUFFER
    }
    if (8..=10).contains(&version) {
        f.i32(i32::MIN); // cluster_authorized_operations
    }
    if flex {
        f.tagged_fields();
    }
    f.finish()
}

/// Fetch response (key 1), v4-v12: partition i of `topic` with `records[i]` (the RECORDS
/// field as is), for every i. The layout of `fake::fetch_response`, with more than one
/// partition.
fn fetch_response(cid: i32, version: i16, topic: &str, records: &[Vec<u8>]) -> Vec<u8> {
    assert!((4..=12).contains(&version), "Fetch v{version}");
    let flex = version >= 12;
    let mut f = Frame::response(cid, flex);
    f.i32(0); // throttle_time_ms
    if version >= 7 {
        f.i16(0); // error_code
        f.i32(0); // session_id
    }
    f.array(flex, 1); // responses
    f.string(flex, topic); // topic
    f.array(flex, records.len()); // partitions
    for (p, r) in records.iter().enumerate() {
        f.i32(p as i32); // partition_index
        f.i16(0); // error_code
        f.i64(MANY as i64); // high_watermark
        f.i64(-1); // last_stable_offset
        if version >= 5 {
            f.i64(-1); // log_start_offset
        }
        f.null_array(flex); // aborted_transactions
        if version >= 11 {
            f.i32(-1); // preferred_read_replica
        }
        f.bytes(flex, r); // records
        if flex {
            f.tagged_fields(); // partition's TAG_BUFFER
        }
    }
    if flex {
        f.tagged_fields(); // topic's TAG_BUFFER
        f.tagged_fields(); // TAG_BUFFER
    }
    f.finish()
}

/// Serves topic "t" whose partition i holds `records[i]` until the test binary ends;
/// every Fetch is answered with every partition. Returns the port.
fn serve(records: Vec<Vec<u8>>) -> u16 {
    let records = Arc::new(records);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { return };
            let records = records.clone();
            thread::spawn(move || {
                while let Some(req) = fake::read_request(&mut s) {
                    let (v, cid) = (req.api_version, req.correlation_id);
                    let frame = match req.api_key {
                        API_VERSIONS => fake::api_versions_response(cid, v, 0, APIS),
                        METADATA => metadata_response(cid, v, port, "t", records.len()),
                        FETCH => fetch_response(cid, v, "t", &records),
                        _ => return,
                    };
                    if s.write_all(&frame).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn client(port: u16, budget: usize) -> Client {
    let mut c = Config::new();
    c.set("bootstrap.servers", &format!("127.0.0.1:{port}"))
        .unwrap();
    c.set("fetch.max.decompressed.bytes", &budget.to_string())
        .unwrap();
    Client::new(&c).unwrap()
}

// ---------------------------------------------------------------------------------------
// The child process

const CHILD_ENV: &str = "KAFKAC_FETCH_MEMORY_CHILD";

/// The peak resident set size of this process so far (VmHWM), in bytes.
fn peak_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in kB");
    kib * 1024
}

/// Run in a child process by [`run_child`] (does nothing otherwise): fetches partition 0
/// of "t" from offset 0 with the budget given, checks the records are the empty ones the
/// broker serves, and prints one line saying how it went and the process's peak RSS.
#[test]
#[ignore = "run by the other tests of this file, in a child process"]
fn child_fetch() {
    let Ok(arg) = std::env::var(CHILD_ENV) else {
        return;
    };
    with_timeout(CHILD_LIMIT, move || {
        let mut it = arg.split(' ').map(|s| s.parse::<usize>().unwrap());
        let (port, budget) = (it.next().unwrap() as u16, it.next().unwrap());
        let before = peak_rss();
        let r = client(port, budget).fetch("t", 0, 0, i32::MAX, Duration::from_millis(10), T);
        let peak = peak_rss();
        match r {
            Ok(f) => {
                let n = f.records.len();
                for (i, rec) in f.records.iter().enumerate() {
                    assert_eq!(rec.offset, i as i64);
                    assert_eq!((rec.key, rec.value, rec.header_count()), (None, None, 0));
                }
                println!(
                    "FETCH_MEMORY ok {n} {before} {peak} {} {:?}",
                    f.records.charged_bytes(),
                    f.records.next_offset()
                );
            }
            Err(e) => println!("FETCH_MEMORY err {} {before} {peak} {}", e.code, e.message),
        }
    })
}

/// What a child fetch reported.
#[derive(Debug)]
struct ChildFetch {
    /// `Ok(record count)` or `Err((code, message))`.
    result: Result<usize, (i32, String)>,
    /// What the records were charged (`RecordSet::charged_bytes`), when they came.
    charged: usize,
    /// Peak RSS before the fetch (the test harness and the library loaded).
    rss_before: usize,
    /// Peak RSS after it.
    rss_peak: usize,
}

/// Runs [`child_fetch`] in a child process against the broker at `port` with `budget`.
fn run_child(port: u16, budget: usize) -> ChildFetch {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args([
            "child_fetch",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{port} {budget}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child test");
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let reader = thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(|l| l.ok())
            .collect::<Vec<_>>()
    });
    let err_reader = thread::spawn(move || {
        BufReader::new(err)
            .lines()
            .map_while(|l| l.ok())
            .collect::<Vec<_>>()
    });
    let deadline = Instant::now() + CHILD_LIMIT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child fetch still running after {CHILD_LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let lines = reader.join().unwrap();
    let errs = err_reader.join().unwrap();
    assert!(
        status.success(),
        "child fetch failed ({status}):\n{}\n{}",
        lines.join("\n"),
        errs.join("\n")
    );
    // libtest writes "test child_fetch ... " before the test's own output, on its line.
    let line = lines
        .iter()
        .find_map(|l| {
            l.find("FETCH_MEMORY ")
                .map(|at| &l[at + "FETCH_MEMORY ".len()..])
        })
        .unwrap_or_else(|| panic!("no report from the child:\n{}", lines.join("\n")));
    let mut f = line.splitn(5, ' ');
    let kind = f.next().unwrap();
    let a: i64 = f.next().unwrap().parse().unwrap();
    let rss_before = f.next().unwrap().parse().unwrap();
    let rss_peak = f.next().unwrap().parse().unwrap();
    let rest = f.next().unwrap_or_default().to_owned();
    let mut charged_bytes = 0;
    let result = match kind {
        "ok" => {
            let (charged, next) = rest.split_once(' ').expect("charged and next offset");
            assert_eq!(next, format!("Some({MANY})"), "next offset");
            charged_bytes = charged.parse().unwrap();
            Ok(a as usize)
        }
        _ => Err((a as i32, rest)),
    };
    ChildFetch {
        result,
        charged: charged_bytes,
        rss_before,
        rss_peak,
    }
}

fn mib(n: usize) -> String {
    format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
}

/// Asserts the child's peak RSS stayed within `allowed` (what `name` says) plus the
/// response frame plus [`OVERHEAD`].
fn assert_rss_within(what: &str, run: &ChildFetch, name: &str, allowed: usize, frame: usize) {
    let bound = allowed + frame + OVERHEAD;
    eprintln!(
        "{what}: peak RSS {} (before the fetch {}), bound {} = {name} {} + frame {} + {}",
        mib(run.rss_peak),
        mib(run.rss_before),
        mib(bound),
        mib(allowed),
        mib(frame),
        mib(OVERHEAD)
    );
    assert!(
        run.rss_peak <= bound,
        "{what}: peak RSS {} exceeds {name} {} + frame {} + {}",
        mib(run.rss_peak),
        mib(allowed),
        mib(frame),
        mib(OVERHEAD)
    );
}

/// Checks a refusal: the code, and a message naming the partition, the budget and the
/// property to raise.
fn assert_refused(what: &str, run: &ChildFetch, code: i32, budget: usize) {
    let (got, message) = run
        .result
        .as_ref()
        .err()
        .unwrap_or_else(|| panic!("{what}: the fetch should have been refused: {run:?}"));
    eprintln!("{what}: refused: {message}");
    assert_eq!(*got, code, "{what}: {message}");
    for part in ["t/0", &budget.to_string(), "fetch.max.decompressed.bytes"] {
        assert!(message.contains(part), "{what}: names {part}: {message}");
    }
}

/// The 9 million empty records with `codec`: refused under the default budget (before
/// the index is allocated, so the process stays small), decoded exactly under a budget
/// large enough; the peak RSS stays within budget + frame + overhead in both.
fn many_empty_records_with(codec: i16, name: &'static str) {
    with_timeout(LIMIT, move || {
        let records = many_empty_records();
        let b = batch(MANY, codec, &compress(codec, records));
        let frame = b.len();
        eprintln!(
            "{name}: {} of records, {} on the wire",
            mib(records.len()),
            mib(frame)
        );
        let port = serve(vec![b]);

        let refused = run_child(port, DEFAULT_BUDGET);
        let code = if codec == NONE {
            local::BAD_MSG
        } else {
            local::BAD_COMPRESSION
        };
        assert_refused(name, &refused, code, DEFAULT_BUDGET);
        assert_rss_within(name, &refused, "budget", DEFAULT_BUDGET, frame);

        let ok = run_child(port, BIG_BUDGET);
        assert_eq!(ok.result, Ok(MANY), "{name}: {ok:?}");
        assert_rss_within(name, &ok, "budget", BIG_BUDGET, frame);
        // What the budget charged is what the process holds: its peak is that plus the
        // frame plus the fixed overhead. (The index is at least 9 million entries of 32
        // bytes or more.)
        assert!(
            ok.charged >= MANY * 32 && ok.charged <= BIG_BUDGET,
            "{ok:?}"
        );
        assert_rss_within(name, &ok, "charged", ok.charged, frame);
    })
}

#[test]
fn many_empty_records_uncompressed() {
    many_empty_records_with(NONE, "none");
}

#[test]
fn many_empty_records_gzip() {
    many_empty_records_with(GZIP, "gzip");
}

#[test]
fn many_empty_records_snappy() {
    many_empty_records_with(SNAPPY, "snappy");
}

#[test]
fn many_empty_records_lz4() {
    many_empty_records_with(LZ4, "lz4");
}

#[test]
fn many_empty_records_zstd() {
    many_empty_records_with(ZSTD, "zstd");
}

/// A record of 128 MiB of zeros, compressed with each codec, against a budget of 8 MiB:
/// refused, and the process never holds the 128 MiB.
#[test]
fn decompression_bombs_stay_within_the_budget() {
    with_timeout(LIMIT, || {
        const BUDGET: usize = 8 << 20;
        let record = zeros_record(128 << 20);
        for (codec, name) in &CODECS[1..] {
            let b = batch(1, *codec, &compress(*codec, &record));
            let frame = b.len();
            assert!(frame < 16 << 20, "{name}: the bomb is {}", mib(frame));
            let port = serve(vec![b]);
            let run = run_child(port, BUDGET);
            assert_refused(name, &run, local::BAD_COMPRESSION, BUDGET);
            assert_rss_within(name, &run, "budget", BUDGET, frame);
        }
    })
}

// ---------------------------------------------------------------------------------------
// One budget for all partitions of a call

/// Partitions 0, 1 and 2 of "t" hold batches costing X, 2X and X of the budget
/// (`records(n)` gives the batch of a partition of size n). Under a budget of 2.5X a
/// fetch_many of the three decodes partition 0, refuses partition 1 (X + 2X is over), and
/// still decodes partition 2 in what partition 1 did not take (X + X fits); each partition
/// alone fits in a call of its own.
fn budget_shared_by_partitions(records: impl Fn(usize) -> (usize, Vec<u8>), code: i32) {
    let (n, p0) = records(1);
    let (n1, p1) = records(2);
    let port = serve(vec![p0, p1, records(1).1]);
    let fetch_alone = |c: &Client, partition: i32| {
        c.fetch("t", partition, 0, 1 << 20, Duration::from_millis(10), T)
            .unwrap()
    };
    let big = client(port, DEFAULT_BUDGET);
    let x = fetch_alone(&big, 0).records.charged_bytes();
    let x1 = fetch_alone(&big, 1).records.charged_bytes();
    assert_eq!(fetch_alone(&big, 2).records.charged_bytes(), x);
    assert!(x > 0 && x1 > x, "{x} {x1}");
    let budget = x + x + (x1 - x) / 2;
    assert!(x + x1 > budget && x1 <= budget, "{x} {x1} {budget}");

    let c = client(port, budget);
    let specs: Vec<FetchRequestSpec> = (0..3)
        .map(|partition| FetchRequestSpec {
            topic: "t".into(),
            partition,
            offset: 0,
            max_bytes: 1 << 20,
        })
        .collect();
    let mut r = c
        .fetch_many(&specs, Duration::from_millis(10), T)
        .into_iter();
    let (r0, r1, r2) = (r.next().unwrap(), r.next().unwrap(), r.next().unwrap());
    assert_eq!(r0.unwrap().records.len(), n);
    let e = r1
        .err()
        .expect("partition 1 does not fit after partition 0");
    eprintln!("partition 1 refused: {e}");
    assert_eq!(e.code, code, "{e}");
    for part in ["t/1", &budget.to_string(), "fetch.max.decompressed.bytes"] {
        assert!(e.message.contains(part), "names {part}: {e}");
    }
    assert_eq!(r2.unwrap().records.len(), n);

    // The budget is per call: the same client fetches each partition on its own.
    assert_eq!(fetch_alone(&c, 0).records.len(), n);
    assert_eq!(fetch_alone(&c, 1).records.len(), n1);
    assert_eq!(fetch_alone(&c, 2).records.len(), n);
    // And a budget below X refuses partition 0 alone.
    let small = client(port, x - 1);
    let e = small
        .fetch("t", 0, 0, 1 << 20, Duration::from_millis(10), T)
        .err()
        .expect("over the budget");
    assert_eq!(e.code, code, "{e}");
}

#[test]
fn fetch_many_shares_the_budget_of_decompressed_bytes() {
    with_timeout(LIMIT, || {
        // One record of n * 256 KiB zeros, gzip-compressed.
        let records = |n: usize| {
            let r = zeros_record(n * (256 << 10));
            (1, batch(1, GZIP, &compress(GZIP, &r)))
        };
        budget_shared_by_partitions(records, local::BAD_COMPRESSION);
    })
}

#[test]
fn fetch_many_shares_the_budget_of_the_record_index() {
    with_timeout(LIMIT, || {
        // n * 20000 empty records, uncompressed: their index, not their bytes, is what
        // the budget counts.
        let records = |n: usize| {
            let count = n * 20_000;
            (count, batch(count, NONE, &empty_records(count)))
        };
        budget_shared_by_partitions(records, local::BAD_MSG);
    })
}
