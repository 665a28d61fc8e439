//! Records for the tests that produce and read back: owned records as produced ([`Rec`])
//! and as read ([`Got`]), the record sets, a bounded read loop ([`Reader`]), comparison
//! with readable mismatches ([`compare`]), and the one-line text form the other clients'
//! drivers and the test vectors use ([`record_line`]).

use kafkac::record::{Compression, RecordHeaderIn, RecordIn, RecordRef, TimestampType};
use kafkac::Client;
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Every codec, with the name the other clients (and Kafka's `compression.type`) use for it.
pub const CODECS: [(&str, Compression); 5] = [
    ("none", Compression::None),
    ("gzip", Compression::Gzip),
    ("snappy", Compression::Snappy),
    ("lz4", Compression::Lz4),
    ("zstd", Compression::Zstd),
];

/// [`CODECS`] without the names.
pub fn compressions() -> [Compression; 5] {
    CODECS.map(|(_, c)| c)
}

/// The wall clock in milliseconds since the epoch, as a producer stamps records.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ---------------------------------------------------------------------------
// Records as produced and as read
// ---------------------------------------------------------------------------

/// A record header: name and value (`None`: a null value).
pub type Header = (Vec<u8>, Option<Vec<u8>>);

/// An owned record, as produced; `timestamp: None` lets the producer pick "now".
#[derive(Debug, Clone, PartialEq)]
pub struct Rec {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<Header>,
    pub timestamp: Option<i64>,
}

impl Rec {
    /// A record without headers.
    pub fn new(key: Option<Vec<u8>>, value: Option<Vec<u8>>, timestamp: Option<i64>) -> Rec {
        Rec {
            key,
            value,
            headers: vec![],
            timestamp,
        }
    }
}

/// A record as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Got {
    pub offset: i64,
    pub timestamp_type: TimestampType,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<Header>,
    /// The producer id of the record's batch; `None` where the reader doesn't report it
    /// (the other clients' output).
    pub producer_id: Option<i64>,
}

impl Got {
    /// An owned copy of a record kafkac decoded.
    pub fn of(r: &RecordRef) -> Got {
        Got {
            offset: r.offset,
            timestamp_type: r.timestamp_type,
            timestamp: r.timestamp,
            key: r.key.map(<[u8]>::to_vec),
            value: r.value.map(<[u8]>::to_vec),
            headers: headers_of(r),
            producer_id: Some(r.producer_id),
        }
    }
}

/// The headers of a decoded record, owned.
pub fn headers_of(r: &RecordRef) -> Vec<Header> {
    r.headers()
        .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
        .collect()
}

/// `Some` of the bytes of `s`.
pub fn b(s: impl AsRef<[u8]>) -> Option<Vec<u8>> {
    Some(s.as_ref().to_vec())
}

/// A header named `k`.
pub fn h(k: &str, v: Option<&[u8]>) -> Header {
    (k.as_bytes().to_vec(), v.map(<[u8]>::to_vec))
}

/// A record to produce without headers or timestamp (the producer stamps it).
pub fn record<'a>(key: Option<&'a [u8]>, value: Option<&'a [u8]>) -> RecordIn<'a> {
    RecordIn {
        key,
        value,
        headers: &[],
        timestamp: None,
    }
}

/// The headers of each record of `set`, borrowed, for [`record_ins`].
pub fn header_ins(set: &[Rec]) -> Vec<Vec<RecordHeaderIn<'_>>> {
    set.iter()
        .map(|r| {
            r.headers
                .iter()
                .map(|(k, v)| RecordHeaderIn {
                    key: k,
                    value: v.as_deref(),
                })
                .collect()
        })
        .collect()
}

/// `set` as kafkac's producer and encoder take it; `headers` is [`header_ins`] of `set`.
pub fn record_ins<'a>(set: &'a [Rec], headers: &'a [Vec<RecordHeaderIn<'a>>]) -> Vec<RecordIn<'a>> {
    set.iter()
        .zip(headers)
        .map(|(r, hs)| RecordIn {
            key: r.key.as_deref(),
            value: r.value.as_deref(),
            headers: hs,
            timestamp: r.timestamp,
        })
        .collect()
}

/// Produces `set` with kafkac, as one batch to `topic`/`partition` (acks=all); returns
/// its base offset.
pub fn produce(
    c: &Client,
    topic: &str,
    partition: i32,
    set: &[Rec],
    codec: Compression,
    timeout: Duration,
) -> i64 {
    let headers = header_ins(set);
    c.produce(
        topic,
        partition,
        &record_ins(set, &headers),
        -1,
        codec,
        timeout,
    )
    .unwrap_or_else(|e| panic!("kafkac produce to {topic}/{partition}: {e}"))
}

// ---------------------------------------------------------------------------
// The interop record set
// ---------------------------------------------------------------------------

/// Compressible, so that every codec really shrinks the batch (librdkafka sends a batch
/// uncompressed when compression doesn't pay).
pub fn big_value() -> Vec<u8> {
    (0..600)
        .map(|i| format!("kafkac interop record line {i:04} -- "))
        .collect::<String>()
        .into_bytes()
}

/// About 200 KB: text, then 80 KB of pseudo-random bytes, then text again. Spans
/// several codec blocks (LZ4 frames: 64 KiB blocks, xerial snappy: 32 KiB), some of
/// them incompressible (stored as-is in an LZ4 frame), while the whole still
/// compresses.
pub fn mixed_value() -> Vec<u8> {
    let text = |n: usize| big_value().into_iter().cycle().take(n);
    let mut x: u32 = 0x1234_5678;
    let noise = std::iter::repeat_with(move || {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (x >> 24) as u8
    })
    .take(80_000);
    text(100_000).chain(noise).chain(text(20_000)).collect()
}

/// Everything a record can carry, for the interop tests. Timestamps are explicit (and
/// not in order: the batch encodes negative deltas), except one left to the producer;
/// one (2027) is more than an hour ahead of the clock, which Apache Kafka 4 refuses
/// unless the topic allows it (`message.timestamp.after.max.ms`).
pub fn full_set() -> Vec<Rec> {
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
        Rec::new(None, b("null key"), Some(base - 1_000)),
        Rec::new(b("null value"), None, Some(base + 5_000)),
        Rec::new(b(""), b(""), Some(1)),
        Rec::new(b(""), b("empty key"), Some(base + 2)),
        Rec::new(b("empty value"), b(""), Some(base + 3)),
        Rec {
            key: None,
            value: None,
            headers: vec![h("tombstone", Some(b"yes"))],
            timestamp: Some(1_800_000_000_000),
        },
        Rec::new(b("producer's clock"), b("no explicit timestamp"), None),
    ];
    let mut many = Rec::new(b("big"), Some(big_value()), Some(base + 4));
    many.headers = (0..20)
        .map(|i| {
            h(
                &format!("header-{i}"),
                Some(format!("value-{i}").as_bytes()),
            )
        })
        .collect();
    v.push(many);
    v.push(Rec::new(b("mixed"), Some(mixed_value()), Some(base + 6)));
    v
}

// ---------------------------------------------------------------------------
// The text form: tests/interop/clients.py, tests/java/Peer.java, tests/vectors
// ---------------------------------------------------------------------------

/// A byte field: `-` for null, else `:` and the bytes in hex.
pub fn field(b: Option<&[u8]>) -> String {
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

/// The bytes of a [`field`].
pub fn unfield(s: &str) -> Result<Option<Vec<u8>>, String> {
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

/// A record to produce as one line (without the newline): timestamp (`-`: none), key,
/// value, then name and value of each header, all but the timestamp as [`field`]s.
pub fn record_line(r: &Rec) -> String {
    let ts = r.timestamp.map_or("-".to_string(), |t| t.to_string());
    let mut out = format!(
        "{ts} {} {}",
        field(r.key.as_deref()),
        field(r.value.as_deref())
    );
    for (k, v) in &r.headers {
        write!(out, " {} {}", field(Some(k)), field(v.as_deref())).unwrap();
    }
    out
}

fn parse_headers(f: &[&str]) -> Result<Vec<Header>, String> {
    f.chunks(2)
        .map(|p| Ok((unfield(p[0])?.ok_or("null header name")?, unfield(p[1])?)))
        .collect()
}

fn bad_line(line: &str) -> String {
    format!("bad record line {:?}", &line[..line.len().min(200)])
}

/// The record of a [`record_line`].
pub fn parse_record_line(line: &str) -> Result<Rec, String> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 3 || f.len().is_multiple_of(2) {
        return Err(bad_line(line));
    }
    Ok(Rec {
        timestamp: match f[0] {
            "-" => None,
            t => Some(t.parse().map_err(|e| format!("{t:?}: {e}"))?),
        },
        key: unfield(f[1])?,
        value: unfield(f[2])?,
        headers: parse_headers(&f[3..])?,
    })
}

/// A record as the other clients' drivers print what they read: offset, timestamp type
/// (0 create time, 1 log append time, -1 none), timestamp, key, value, then name and value
/// of each header, all but the numbers as [`field`]s.
pub fn parse_got(line: &str) -> Result<Got, String> {
    let f: Vec<&str> = line.split(' ').collect();
    if f.len() < 5 || f.len().is_multiple_of(2) {
        return Err(bad_line(line));
    }
    let num = |s: &str| s.parse::<i64>().map_err(|e| format!("{s:?}: {e}"));
    Ok(Got {
        offset: num(f[0])?,
        timestamp_type: match num(f[1])? {
            0 => TimestampType::CreateTime,
            1 => TimestampType::LogAppendTime,
            -1 => TimestampType::NoTimestamp,
            t => return Err(format!("timestamp type {t} in {}", bad_line(line))),
        },
        timestamp: num(f[2])?,
        key: unfield(f[3])?,
        value: unfield(f[4])?,
        headers: parse_headers(&f[5..])?,
        producer_id: None,
    })
}

// ---------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------

/// Bytes for a mismatch message: text, shortened past 48 bytes.
pub fn show(b: &Option<Vec<u8>>) -> String {
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

/// Compares what was read with what was produced, record by record: as many records,
/// offsets from `base` on, keys, values and headers exactly, create-time timestamps; a
/// record produced without a timestamp must carry one within `clock` (the producer's run).
pub fn compare(want: &[Rec], got: &[Got], base: i64, clock: (i64, i64)) -> Result<(), String> {
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
        if g.timestamp_type != TimestampType::CreateTime {
            e(
                "timestamp type",
                format!("{:?}", TimestampType::CreateTime),
                format!("{:?}", g.timestamp_type),
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

/// Runs `one` for every codec (name and codec), catching failures, then fails with all of
/// them; `one`'s `Ok` is a note for the per-codec line on stderr.
pub fn every_codec(label: &str, one: impl Fn(&str, Compression) -> Result<String, String>) {
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

// ---------------------------------------------------------------------------
// Reading back
// ---------------------------------------------------------------------------

/// How the tests of one broker read records back with kafkac.
#[derive(Debug, Clone, Copy)]
pub struct Reader {
    /// Limit for one read, and the timeout of each client call in it.
    pub timeout: Duration,
    /// Whether every fetch answer's high watermark must already cover all the records
    /// asked for. The Tansu tests check this (what Tansu acknowledged is readable at
    /// once); the others only wait for the records.
    pub high_watermark_covers: bool,
}

impl Reader {
    /// Fetches `topic`/`partition` from offset `from` on until `n` records are in hand
    /// (all that the fetches returned, so possibly more); fails after `timeout`. Every
    /// answer must start at the offset asked for (kafkac drops the records of a batch
    /// before it).
    pub fn fetch_n(
        &self,
        c: &Client,
        topic: &str,
        partition: i32,
        from: i64,
        n: usize,
    ) -> Vec<Got> {
        let deadline = Instant::now() + self.timeout;
        let mut got: Vec<Got> = Vec::new();
        let mut next = from;
        while got.len() < n {
            assert!(
                Instant::now() < deadline,
                "{topic}/{partition}: read only {} of {n} records from offset {from} within {:?}",
                got.len(),
                self.timeout
            );
            let f = c
                .fetch(
                    topic,
                    partition,
                    next,
                    4 << 20,
                    Duration::from_millis(100),
                    self.timeout,
                )
                .unwrap_or_else(|e| panic!("fetch {topic}/{partition} at {next}: {e}"));
            if self.high_watermark_covers {
                assert!(
                    f.high_watermark >= from + n as i64,
                    "high watermark {} of {topic}/{partition}, want at least {}",
                    f.high_watermark,
                    from + n as i64
                );
            }
            for r in f.records.iter() {
                assert!(
                    r.offset >= next,
                    "{topic}/{partition}: fetch from {next} returned offset {}",
                    r.offset
                );
                got.push(Got::of(&r));
            }
            next = got.last().map_or(next, |g| g.offset + 1);
        }
        got
    }

    /// Produces 202 records in one batch with `codec` (keys and values null, empty and
    /// not, headers with null and empty values, explicit timestamps and two left to the
    /// client) and reads exactly those back: offsets, keys, values, headers, create-time
    /// timestamps.
    pub fn round_trip(&self, c: &Client, topic: &str, partition: i32, codec: Compression) {
        let hdr = [
            RecordHeaderIn {
                key: b"h1",
                value: Some(b"v1"),
            },
            RecordHeaderIn {
                key: b"null-header",
                value: None,
            },
            RecordHeaderIn {
                key: b"empty-header",
                value: Some(b""),
            },
        ];
        let values: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("value-{i}-{}", "x".repeat(i % 50)).into_bytes())
            .collect();
        let mut recs: Vec<RecordIn> = values
            .iter()
            .enumerate()
            .map(|(i, v)| RecordIn {
                key: Some(v.as_slice()).filter(|_| i % 3 != 0),
                value: Some(v.as_slice()),
                headers: if i % 2 == 0 { &hdr } else { &[] },
                timestamp: Some(1_700_000_000_000 + i as i64),
            })
            .collect();
        recs.push(record(Some(b""), None));
        recs.push(record(None, Some(b"")));
        let before = now_ms();
        let base = c
            .produce(topic, partition, &recs, -1, codec, self.timeout)
            .unwrap_or_else(|e| panic!("{codec:?} produce to {topic}/{partition}: {e}"));
        let after = now_ms();
        let got = self.fetch_n(c, topic, partition, base, recs.len());
        assert_eq!(got.len(), recs.len(), "{codec:?} records read");
        for (i, (r, g)) in recs.iter().zip(&got).enumerate() {
            assert_eq!(g.offset, base + i as i64, "{codec:?} offset");
            assert_eq!(g.key.as_deref(), r.key, "{codec:?} key {i}");
            assert_eq!(g.value.as_deref(), r.value, "{codec:?} value {i}");
            let want: Vec<Header> = r
                .headers
                .iter()
                .map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec)))
                .collect();
            assert_eq!(g.headers, want, "{codec:?} headers {i}");
            assert_eq!(
                g.timestamp_type,
                TimestampType::CreateTime,
                "{codec:?} timestamp type {i}"
            );
            match r.timestamp {
                Some(ts) => assert_eq!(g.timestamp, ts, "{codec:?} timestamp {i}"),
                // No timestamp given: the client stamps the send time.
                None => assert!(
                    (before..=after).contains(&g.timestamp),
                    "{codec:?} timestamp {i}: {} not within {before}..={after}",
                    g.timestamp
                ),
            }
        }
    }
}
