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

use common::batches::{batches, check_codecs};
use common::client::create_topic;
use common::records::{
    big_value, compare, every_codec, full_set, h, mixed_value, now_ms, parse_got, produce,
    record_line, Got, Header, Reader, Rec,
};
use common::{MockCluster, Tansu};
use kafkac::record::TimestampType;
use kafkac::Client;
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
/// Limit for one whole test (five codecs, one broker).
const TEST_LIMIT: Duration = Duration::from_secs(150);
/// Limit for one run of a reference client.
const TOOL_LIMIT: Duration = Duration::from_secs(60);
/// Reading records back with kafkac.
const READ: Reader = Reader {
    timeout: T,
    high_watermark_covers: false,
};

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
    common::client::client_with(bootstrap, &[("check.crcs", "true")])
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
    create_topic(c, name, 1, 1, &[], T);
}

fn create_mock_topic(name: &str) {
    mock()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .create_topic(name, 1, 3);
}

// ---------------------------------------------------------------------------
// The records (tests/common/records.rs has the full set)
// ---------------------------------------------------------------------------

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

/// Whether every batch of `topic`/0 holding an offset in `from..to` carries codec `name`
/// on the wire.
fn check_wire_codecs(
    c: &Client,
    topic: &str,
    from: i64,
    to: i64,
    name: &str,
) -> Result<String, String> {
    check_codecs(&batches(c, topic, 0, from, to, T), name)
}

// ---------------------------------------------------------------------------
// Running the other clients
// ---------------------------------------------------------------------------

/// Writes `set` to `records.txt` in `dir`, one [`record_line`] each, as
/// `tests/interop/clients.py` reads it; its path.
fn write_records_file(dir: &Path, set: &[Rec]) -> String {
    let mut out = String::new();
    for r in set {
        out.push_str(&record_line(r));
        out.push('\n');
    }
    let path = dir.join("records.txt");
    std::fs::write(&path, out).unwrap();
    path.display().to_string()
}

/// The records `tests/interop/clients.py` printed as it consumed them.
fn parse_consumed(out: &str) -> Result<Vec<Got>, String> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_got)
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
            let base = produce(&c, &topic, 0, &set, codec, T);
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
            compare(&set, &parse_consumed(&out)?, base, (before, after))?;
            check_wire_codecs(&c, &topic, base, base + set.len() as i64, name)
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
            let got = READ.fetch_n(&c, &topic, 0, base, set.len());
            compare(&set, &got, base, (before, after))?;
            check_wire_codecs(&c, &topic, base, base + set.len() as i64, name)
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
fn kcat_printable((k, v): &Header) -> bool {
    let plain = |b: &[u8]| !b.iter().any(|c| matches!(c, b',' | b'=' | b'\n' | 0));
    plain(k)
        && match v {
            None => true,
            Some(v) => plain(v) && v.as_slice() != b"NULL",
        }
}

fn kcat_headers_line(headers: &[Header]) -> Vec<u8> {
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
            let base = produce(&c, &topic, 0, &set, codec, T);
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
                    timestamp_type: TimestampType::CreateTime,
                    timestamp: g.timestamp,
                    key: g.key,
                    value: g.value,
                    headers: vec![(g.headers, None)],
                    producer_id: None,
                })
                .collect();
            compare(&want, &got, base, (before, after))?;
            check_wire_codecs(&c, &topic, base, base + set.len() as i64, name)
        });
    });
}

/// What one kcat producer run sends: kcat takes one set of headers for all messages
/// (`-H`) and treats an empty key or value either as empty or, with `-Z`, as null.
struct KcatRun {
    null_empty: bool,
    headers: Vec<Header>,
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
                let got = READ.fetch_n(&c, &topic, 0, 0, want.len());
                compare(&want, &got, 0, (before, after)).map_err(|e| format!("run {i}: {e}"))?;
                notes.push(check_wire_codecs(&c, &topic, 0, want.len() as i64, name)?);
            }
            Ok(notes.join(" "))
        });
    });
}
