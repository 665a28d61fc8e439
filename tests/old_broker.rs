//! A broker that speaks what Kafka 0.10 speaks: ApiVersions v0 only (it answers v3 with
//! UNSUPPORTED_VERSION in the v0 layout, as Kafka does), Produce v0–v2, Fetch v0–v3,
//! Metadata v0–v2, ListOffsets v0 (as 0.10.0). The client must negotiate down and write legacy
//! message sets (magic 1), and refuse what that format cannot carry.
//!
//! Requests are parsed and answers written by hand (tests/fake), not with kafkac's codecs;
//! the message sets the client produces are checked here byte by byte against the
//! protocol guide's legacy message format, decompressed with flate2, snap and lz4_flex.

mod common;
mod fake;

use common::with_timeout;
use fake::{Cursor, Frame, API_VERSIONS, FETCH, LIST_OFFSETS, METADATA, PRODUCE};
use kafkac::client::OffsetSpec;
use kafkac::error::local;
use kafkac::record::{Compression, RecordHeaderIn, RecordIn};
use kafkac::{Client, Config};
use parking_lot::Mutex;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);
/// Bound on each test's running time.
const LIMIT: Duration = Duration::from_secs(60);

/// What Kafka 0.10.0 answers to ApiVersions v0: (api_key, min_version, max_version).
const OLD_APIS: &[(i16, i16, i16)] = &[
    (PRODUCE, 0, 2),
    (FETCH, 0, 3),
    (LIST_OFFSETS, 0, 0),
    (METADATA, 0, 2),
    (API_VERSIONS, 0, 0),
];

/// One message of a produced message set, as the broker read it: offsets of compressed
/// messages made absolute (wrapper offset - last relative offset + relative offset).
#[derive(Debug, Clone, PartialEq)]
struct Message {
    offset: i64,
    magic: i8,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

/// A produced message set as the broker read it: the codec of its top-level messages and
/// the messages they hold.
#[derive(Debug, Clone, PartialEq)]
struct Produced {
    codec: u8,
    messages: Vec<Message>,
}

/// One legacy message: offset, message_size, then crc, magic, attributes, timestamp
/// (magic 1), key and value. Checks the size and the CRC-32 (magic to the end); returns
/// the attributes and the message.
fn read_message(c: &mut Cursor<'_>) -> Result<(u8, Message), String> {
    if c.remaining() < 12 {
        return Err(format!("{} bytes after the last message", c.remaining()));
    }
    let offset = c.i64(); // offset
    let size = c.i32(); // message_size
    if size < 14 || size as usize > c.remaining() {
        return Err(format!(
            "message at offset {offset}: size {size} does not fit"
        ));
    }
    let mut m = Cursor::new(c.take(size as usize));
    let crc = m.i32() as u32; // crc
    let covered = m.rest();
    let computed = crc32fast::hash(covered);
    if crc != computed {
        return Err(format!(
            "message at offset {offset}: crc {crc:#x}, computed {computed:#x}"
        ));
    }
    let mut m = Cursor::new(covered);
    let magic = m.i8(); // magic
    let attributes = m.i8() as u8; // attributes
    let timestamp = if magic >= 1 { m.i64() } else { -1 }; // timestamp (magic 1)
    let key = m.nullable_bytes().map(<[u8]>::to_vec); // key
    let value = m.nullable_bytes().map(<[u8]>::to_vec); // value
    if m.remaining() != 0 {
        return Err(format!(
            "message at offset {offset}: {} bytes after the value",
            m.remaining()
        ));
    }
    Ok((
        attributes,
        Message {
            offset,
            magic,
            timestamp,
            key,
            value,
        },
    ))
}

/// The inner message set of a compressed message, decompressed.
fn decompress(codec: u8, data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match codec {
        fake::CODEC_GZIP => {
            flate2::read::MultiGzDecoder::new(data)
                .read_to_end(&mut out)
                .map_err(|e| format!("gzip: {e}"))?;
        }
        fake::CODEC_SNAPPY => {
            // snappy-java's xerial framing, as the Java client writes it: magic, version,
            // compatible version, then [INT32 length, raw snappy block]*.
            let mut c = Cursor::new(data);
            if c.remaining() < 16 || c.take(8) != b"\x82SNAPPY\x00" {
                return Err("snappy: no xerial header".into());
            }
            let (version, compatible) = (c.i32(), c.i32());
            if (version, compatible) != (1, 1) {
                return Err(format!("snappy: xerial version {version}/{compatible}"));
            }
            while c.remaining() > 0 {
                let n = c.i32();
                if n < 0 || n as usize > c.remaining() {
                    return Err(format!("snappy: block length {n}"));
                }
                let block = snap::raw::Decoder::new()
                    .decompress_vec(c.take(n as usize))
                    .map_err(|e| format!("snappy: {e}"))?;
                out.extend_from_slice(&block);
            }
        }
        fake::CODEC_LZ4 => {
            // The LZ4 frame format, header checksum included (right from magic 1 on).
            lz4_flex::frame::FrameDecoder::new(data)
                .read_to_end(&mut out)
                .map_err(|e| format!("lz4: {e}"))?;
        }
        _ => return Err(format!("codec {codec}")),
    }
    Ok(out)
}

/// Reads a produced message set as a 0.10 broker would: magic 1 messages with create-time
/// timestamps; a compressed one wraps uncompressed messages at relative offsets 0, 1, …,
/// carries the offset of the last and, as timestamp, their greatest.
fn read_message_set(set: &[u8]) -> Result<Produced, String> {
    let mut c = Cursor::new(set);
    let mut codec = None;
    let mut messages = Vec::new();
    while c.remaining() > 0 {
        let (attributes, wrapper) = read_message(&mut c)?;
        let offset = wrapper.offset;
        if wrapper.magic != 1 || attributes & 0x08 != 0 {
            return Err(format!(
                "message at {offset}: magic {}, attributes {attributes:#x}",
                wrapper.magic
            ));
        }
        let this = attributes & 0x07;
        if *codec.get_or_insert(this) != this {
            return Err(format!("codecs {codec:?} and {this} in one message set"));
        }
        if this == fake::CODEC_NONE {
            messages.push(wrapper);
            continue;
        }
        let value = wrapper.value.as_deref();
        let inner = decompress(this, value.ok_or("compressed message with a null value")?)?;
        let mut ic = Cursor::new(&inner);
        let mut held = Vec::new();
        while ic.remaining() > 0 {
            let (attributes, m) = read_message(&mut ic)?;
            if m.magic != 1 || attributes != 0 || m.offset != held.len() as i64 {
                return Err(format!(
                    "inner message {}: relative offset {}, magic {}, attributes {attributes:#x}",
                    held.len(),
                    m.offset,
                    m.magic
                ));
            }
            held.push(m);
        }
        let Some(max_ts) = held.iter().map(|m| m.timestamp).max() else {
            return Err(format!("compressed message at {offset} holds no messages"));
        };
        let last = held.len() as i64 - 1;
        if offset < last {
            return Err(format!(
                "wrapper offset {offset} for {} inner messages",
                held.len()
            ));
        }
        if wrapper.timestamp != max_ts {
            return Err(format!(
                "wrapper timestamp {}, inner maximum {max_ts}",
                wrapper.timestamp
            ));
        }
        for mut m in held {
            m.offset += offset - last;
            messages.push(m);
        }
    }
    Ok(Produced {
        codec: codec.ok_or("empty message set")?,
        messages,
    })
}

struct Old {
    port: u16,
    /// (api key, version) of every request received.
    seen: Arc<Mutex<Vec<(i16, i16)>>>,
    /// The message set of every Produce, as read by the broker.
    produced: Arc<Mutex<Vec<Result<Produced, String>>>>,
    /// The timeout_ms of every Produce: how long the leader may wait for replicas.
    ack_timeouts: Arc<Mutex<Vec<i32>>>,
}

/// Starts the broker; it keeps the message set of the last Produce and serves it on Fetch.
fn start() -> Old {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let produced = Arc::new(Mutex::new(Vec::new()));
    let log: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(Vec::new()));
    let ack_timeouts = Arc::new(Mutex::new(Vec::new()));
    let (seen2, produced2, acks2) = (seen.clone(), produced.clone(), ack_timeouts.clone());
    thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { return };
            let (seen, produced, log) = (seen2.clone(), produced2.clone(), log.clone());
            let ack_timeouts = acks2.clone();
            thread::spawn(move || {
                while let Some(req) = fake::read_request(&mut s) {
                    let (k, v, cid) = (req.api_key, req.api_version, req.correlation_id);
                    seen.lock().push((k, v));
                    let mut body = Cursor::new(&req.body);
                    let frame = match k {
                        // Kafka answers an ApiVersions version it does not know with
                        // UNSUPPORTED_VERSION (35), in the v0 layout.
                        API_VERSIONS if v > 0 => fake::api_versions_response(cid, 0, 35, OLD_APIS),
                        API_VERSIONS => fake::api_versions_response(cid, 0, 0, OLD_APIS),
                        METADATA => {
                            assert!(v <= 2, "Metadata v{v} is newer than this broker");
                            fake::metadata_response(cid, v, 0, port, "old")
                        }
                        PRODUCE => {
                            assert!(v <= 2, "Produce v{v} is newer than this broker");
                            // Produce request v0-v2.
                            assert_eq!(body.i16(), -1); // acks: all in-sync replicas
                            ack_timeouts.lock().push(body.i32()); // timeout_ms
                            assert_eq!(body.array_len(), 1); // topic_data
                            assert_eq!(body.string(), "old"); // name
                            assert_eq!(body.array_len(), 1); // partition_data
                            assert_eq!(body.i32(), 0); // index
                            let records = body.nullable_bytes().expect("records"); // records
                            assert_eq!(body.remaining(), 0, "bytes after the Produce request");
                            produced.lock().push(read_message_set(records));
                            *log.lock() = records.to_vec();
                            // Produce response v0-v2.
                            let mut f = Frame::response(cid, false);
                            f.array(false, 1); // responses
                            f.string(false, "old"); // name
                            f.array(false, 1); // partition_responses
                            f.i32(0); // index
                            f.i16(0); // error_code
                            f.i64(0); // base_offset
                            if v >= 2 {
                                f.i64(-1); // log_append_time_ms: CreateTime topic
                            }
                            if v >= 1 {
                                f.i32(0); // throttle_time_ms
                            }
                            f.finish()
                        }
                        FETCH => {
                            assert!(v <= 3, "Fetch v{v} is newer than this broker");
                            fake::fetch_response(cid, v, "old", 3, &log.lock())
                        }
                        LIST_OFFSETS => {
                            assert_eq!(v, 0, "ListOffsets v{v} is newer than this broker");
                            // ListOffsets request v0.
                            assert_eq!(body.i32(), -1); // replica_id: a consumer
                            assert_eq!(body.array_len(), 1); // topics
                            assert_eq!(body.string(), "old"); // name
                            assert_eq!(body.array_len(), 1); // partitions
                            assert_eq!(body.i32(), 0); // partition_index
                            let timestamp = body.i64(); // timestamp: -2 earliest, -1 latest
                            assert_eq!(body.i32(), 1); // max_num_offsets
                            assert_eq!(body.remaining(), 0, "bytes after the ListOffsets request");
                            let offset = if timestamp == -2 { 0 } else { 3 };
                            // ListOffsets response v0.
                            let mut f = Frame::response(cid, false);
                            f.array(false, 1); // topics
                            f.string(false, "old"); // name
                            f.array(false, 1); // partitions
                            f.i32(0); // partition_index
                            f.i16(0); // error_code
                            f.array(false, 1); // old_style_offsets
                            f.i64(offset); //   [0]
                            f.finish()
                        }
                        _ => return,
                    };
                    if s.write_all(&frame).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Old {
        port,
        seen,
        produced,
        ack_timeouts,
    }
}

fn client(port: u16) -> Client {
    let mut c = Config::new();
    c.set("bootstrap.servers", &format!("127.0.0.1:{port}"))
        .unwrap();
    c.set("request.timeout.ms", "4321").unwrap();
    Client::new(&c).unwrap()
}

#[test]
fn negotiates_down_and_writes_legacy_message_sets() {
    with_timeout(LIMIT, || {
        let old = start();
        let c = client(old.port);
        let recs = [
            RecordIn {
                key: Some(b"k1"),
                value: Some(b"first"),
                headers: &[],
                timestamp: Some(1_500_000_000_000),
            },
            RecordIn {
                key: None,
                value: Some(b""),
                headers: &[],
                timestamp: Some(1_500_000_000_001),
            },
            RecordIn {
                key: Some(b""),
                value: None,
                headers: &[],
                timestamp: Some(1_500_000_000_002),
            },
        ];
        for (codec, id) in [
            (Compression::None, fake::CODEC_NONE),
            (Compression::Gzip, fake::CODEC_GZIP),
            (Compression::Snappy, fake::CODEC_SNAPPY),
            (Compression::Lz4, fake::CODEC_LZ4),
        ] {
            assert_eq!(
                c.produce("old", 0, &recs, -1, codec, T).unwrap(),
                0,
                "{codec:?}"
            );
            // What reached the broker is a magic-1 message set holding the records,
            // offsets 0, 1, 2 once the broker has assigned them.
            let want: Vec<Message> = recs
                .iter()
                .enumerate()
                .map(|(i, r)| Message {
                    offset: i as i64,
                    magic: 1,
                    timestamp: r.timestamp.unwrap(),
                    key: r.key.map(<[u8]>::to_vec),
                    value: r.value.map(<[u8]>::to_vec),
                })
                .collect();
            let produced = old.produced.lock().last().cloned().expect("a Produce");
            assert_eq!(
                produced,
                Ok(Produced {
                    codec: id,
                    messages: want
                }),
                "{codec:?}"
            );
            // And the client reads it back.
            let f = c
                .fetch("old", 0, 0, 1 << 20, Duration::from_millis(10), T)
                .unwrap();
            let got: Vec<_> = f
                .records
                .iter()
                .map(|r| (r.magic, r.offset, r.timestamp, r.key, r.value))
                .collect();
            let want: Vec<_> = recs
                .iter()
                .enumerate()
                .map(|(i, r)| (1i8, i as i64, r.timestamp.unwrap(), r.key, r.value))
                .collect();
            assert_eq!(got, want, "{codec:?}");
        }
        let earliest = c.list_offsets("old", 0, OffsetSpec::Earliest, T).unwrap();
        let latest = c.list_offsets("old", 0, OffsetSpec::Latest, T).unwrap();
        assert_eq!((earliest.offset, latest.offset), (0, 3));
        let e = c
            .list_offsets("old", 0, OffsetSpec::Timestamp(1_500_000_000_000), T)
            .unwrap_err();
        assert_eq!(e.code, local::UNSUPPORTED_FEATURE, "{e}");
        assert!(e.message.contains("by timestamp"), "{e}");
        // Each Produce gave the leader request.timeout.ms to wait for its replicas (the
        // call's own timeout was longer).
        assert_eq!(*old.ack_timeouts.lock(), [4321; 4]);
        // A call with less time left than request.timeout.ms sends what remains.
        c.produce(
            "old",
            0,
            &recs,
            -1,
            Compression::None,
            Duration::from_millis(2000),
        )
        .unwrap();
        let last = *old.ack_timeouts.lock().last().unwrap();
        assert!((1..=2000).contains(&last), "timeout_ms {last}");
        let seen = old.seen.lock().clone();
        assert!(seen.contains(&(LIST_OFFSETS, 0)), "{seen:?}");
        assert_eq!(&seen[..2], &[(API_VERSIONS, 3), (API_VERSIONS, 0)]);
        assert!(seen.contains(&(PRODUCE, 2)), "{seen:?}");
        assert!(seen.contains(&(FETCH, 3)), "{seen:?}");
        assert!(seen.contains(&(METADATA, 2)), "{seen:?}");
    });
}

#[test]
fn refuses_what_the_old_format_cannot_carry() {
    with_timeout(LIMIT, || {
        let old = start();
        let c = client(old.port);
        let h = [RecordHeaderIn {
            key: b"trace",
            value: Some(b"1"),
        }];
        let with_header = [RecordIn {
            key: None,
            value: Some(b"v"),
            headers: &h,
            timestamp: None,
        }];
        let e = c
            .produce("old", 0, &with_header, -1, Compression::None, T)
            .unwrap_err();
        assert_eq!(e.code, local::UNSUPPORTED_FEATURE, "{e}");
        assert!(
            e.message.contains("headers") && e.message.contains("old/0"),
            "{e}"
        );
        let plain = [RecordIn {
            key: None,
            value: Some(b"v"),
            headers: &[],
            timestamp: None,
        }];
        let e = c
            .produce("old", 0, &plain, -1, Compression::Zstd, T)
            .unwrap_err();
        assert_eq!(e.code, local::UNSUPPORTED_FEATURE, "{e}");
        assert!(e.message.contains("zstd"), "{e}");
        // Nothing was sent for either.
        assert!(!old.seen.lock().iter().any(|(k, _)| *k == PRODUCE));
        assert!(old.produced.lock().is_empty());
    });
}
