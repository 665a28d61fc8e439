//! Known byte vectors: hand-derived batches and messages, and files written by
//! kafka-python (tests/vectors/gen_kafka_python.py).

use bytes::Bytes;
use kafkac::record::{
    encode_batch, encode_legacy_message_set, BatchOptions, Compression, DecodeLimits,
    RecordHeaderIn, RecordIn, RecordSet, TimestampType,
};
use std::io::Write;

fn decode(bytes: &[u8]) -> RecordSet {
    RecordSet::decode(Bytes::copy_from_slice(bytes), &DecodeLimits::default()).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

type Headers = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn headers_of(r: &kafkac::record::RecordRef<'_>) -> Headers {
    r.headers()
        .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Hand-derived vectors

/// Two records: (key null, value "v", header h=x, t=1000) and (key "k", value "", t=1002).
const TINY_V2: &str = "
    0000000000000000  00000045  ffffffff  02  32d3d040  0000  00000001
    00000000000003e8  00000000000003ea  ffffffffffffffff  ffff  ffffffff  00000002
    16 00 00 00 01 02 76 02 02 68 02 78
    0e 00 04 02 02 6b 00 00";

#[test]
fn tiny_v2_batch_byte_for_byte() {
    let headers = [RecordHeaderIn {
        key: b"h",
        value: Some(b"x"),
    }];
    let records = [
        RecordIn {
            key: None,
            value: Some(b"v"),
            headers: &headers,
            timestamp: Some(1000),
        },
        RecordIn {
            key: Some(b"k"),
            value: Some(b""),
            headers: &[],
            timestamp: None,
        },
    ];
    let opts = BatchOptions {
        now_ms: 1002,
        ..BatchOptions::default()
    };
    let mut out = vec![0xaa];
    encode_batch(&records, &opts, &mut out).unwrap();
    assert_eq!(out[0], 0xaa, "appends");
    assert_eq!(out[1..], hex(TINY_V2));

    let set = decode(&hex(TINY_V2));
    assert_eq!(set.len(), 2);
    assert!(!set.truncated());
    assert_eq!(set.next_offset(), Some(2));
    let r0 = set.get(0).unwrap();
    assert_eq!(
        (r0.offset, r0.timestamp, r0.key, r0.value),
        (0, 1000, None, Some(&b"v"[..]))
    );
    assert_eq!(r0.timestamp_type, TimestampType::CreateTime);
    assert_eq!(r0.header_count(), 1);
    assert_eq!(headers_of(&r0), vec![(b"h".to_vec(), Some(b"x".to_vec()))]);
    assert_eq!((r0.magic, r0.producer_id, r0.is_control), (2, -1, false));
    let r1 = set.get(1).unwrap();
    assert_eq!(
        (r1.offset, r1.timestamp, r1.key, r1.value),
        (1, 1002, Some(&b"k"[..]), Some(&b""[..]))
    );
    assert_eq!(r1.header_count(), 0);
    assert!(set.get(2).is_none());
}

const V0_MESSAGE: &str = "0000000000000005 00000014 a4cdab3a 00 00 00000001 6b 00000005 68656c6c6f";
const V1_MESSAGE: &str =
    "0000000000000006 00000018 59323274 01 00 0000011f71fb04cb ffffffff 00000002 6869";

#[test]
fn legacy_messages_byte_for_byte() {
    let mut out = Vec::new();
    let rec = RecordIn {
        key: Some(b"k"),
        value: Some(b"hello"),
        ..RecordIn::default()
    };
    encode_legacy_message_set(&[rec], 0, Compression::None, 5, 99, &mut out).unwrap();
    assert_eq!(out, hex(V0_MESSAGE));
    let rec = RecordIn {
        key: None,
        value: Some(b"hi"),
        headers: &[],
        timestamp: Some(1_234_567_890_123),
    };
    let mut out = Vec::new();
    encode_legacy_message_set(&[rec], 1, Compression::None, 6, 99, &mut out).unwrap();
    assert_eq!(out, hex(V1_MESSAGE));

    let mut both = hex(V0_MESSAGE);
    both.extend(hex(V1_MESSAGE));
    let set = decode(&both);
    assert_eq!(set.len(), 2);
    let r = set.get(0).unwrap();
    assert_eq!(
        (r.offset, r.timestamp, r.timestamp_type, r.magic),
        (5, -1, TimestampType::NoTimestamp, 0)
    );
    assert_eq!((r.key, r.value), (Some(&b"k"[..]), Some(&b"hello"[..])));
    let r = set.get(1).unwrap();
    assert_eq!(
        (r.offset, r.timestamp, r.timestamp_type, r.magic),
        (6, 1_234_567_890_123, TimestampType::CreateTime, 1)
    );
    assert_eq!((r.key, r.value), (None, Some(&b"hi"[..])));
    assert_eq!(set.next_offset(), Some(7));
}

/// A legacy message written field by field.
fn message(
    offset: i64,
    magic: i8,
    attributes: i8,
    ts: i64,
    key: Option<&[u8]>,
    value: &[u8],
) -> Vec<u8> {
    let mut body = vec![magic as u8, attributes as u8];
    if magic == 1 {
        body.extend(ts.to_be_bytes());
    }
    match key {
        None => body.extend((-1i32).to_be_bytes()),
        Some(k) => {
            body.extend((k.len() as i32).to_be_bytes());
            body.extend(k);
        }
    }
    body.extend((value.len() as i32).to_be_bytes());
    body.extend(value);
    let mut m = offset.to_be_bytes().to_vec();
    m.extend((body.len() as i32 + 4).to_be_bytes());
    m.extend(crc32fast::hash(&body).to_be_bytes());
    m.extend(body);
    m
}

#[test]
fn nested_gzip_v1_wrapper_resolves_relative_offsets() {
    let mut inner = Vec::new();
    for (rel, value) in [b"a", b"b", b"c"].iter().enumerate() {
        inner.extend(message(
            rel as i64,
            1,
            0,
            500 + rel as i64,
            None,
            &value[..],
        ));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&inner).unwrap();
    let compressed = gz.finish().unwrap();

    // CreateTime wrapper at offset 102: inner offsets 0..2 become 100..102.
    let set = decode(&message(102, 1, 1, 777, None, &compressed));
    let got: Vec<_> = set
        .iter()
        .map(|r| (r.offset, r.timestamp, r.timestamp_type, r.value.unwrap()[0]))
        .collect();
    assert_eq!(
        got,
        [
            (100, 500, TimestampType::CreateTime, b'a'),
            (101, 501, TimestampType::CreateTime, b'b'),
            (102, 502, TimestampType::CreateTime, b'c'),
        ]
    );
    assert_eq!(set.next_offset(), Some(103));

    // LogAppendTime wrapper (attributes bit 3): every record takes the wrapper's time.
    let set = decode(&message(102, 1, 1 | 8, 777, None, &compressed));
    assert!(set
        .iter()
        .all(|r| r.timestamp == 777 && r.timestamp_type == TimestampType::LogAppendTime));

    // A wrapper offset below the last inner offset is corrupt, except 0 (old producers).
    assert!(RecordSet::decode(
        Bytes::from(message(1, 1, 1, 777, None, &compressed)),
        &DecodeLimits::default()
    )
    .is_err());
    let set = decode(&message(0, 1, 1, 777, None, &compressed));
    assert_eq!(set.iter().map(|r| r.offset).collect::<Vec<_>>(), [0, 1, 2]);

    // v0 inner offsets are absolute.
    let mut inner = Vec::new();
    for off in [40, 41] {
        inner.extend(message(off, 0, 0, -1, Some(b"k"), b"v"));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&inner).unwrap();
    let set = decode(&message(41, 0, 1, -1, None, &gz.finish().unwrap()));
    assert_eq!(set.iter().map(|r| r.offset).collect::<Vec<_>>(), [40, 41]);
    assert!(set
        .iter()
        .all(|r| r.timestamp_type == TimestampType::NoTimestamp));
}

#[test]
fn legacy_writer_compressed_wrappers() {
    let recs: Vec<RecordIn<'_>> = (0..3)
        .map(|i| RecordIn {
            key: Some(b"key"),
            value: Some(if i == 1 {
                &b""[..]
            } else {
                &b"value value value"[..]
            }),
            headers: &[],
            timestamp: Some(1000 + i),
        })
        .collect();
    for magic in [0i8, 1] {
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
            let mut out = Vec::new();
            encode_legacy_message_set(&recs, magic, codec, 100, 0, &mut out).unwrap();
            // One wrapper message carrying the last offset.
            assert_eq!(i64::from_be_bytes(out[..8].try_into().unwrap()), 102);
            assert_eq!(out[17] & 7, codec as u8);
            let set = decode(&out);
            let got: Vec<_> = set
                .iter()
                .map(|r| (r.offset, r.timestamp, r.magic))
                .collect();
            let ts = |t: i64| if magic == 0 { -1 } else { t };
            assert_eq!(
                got,
                [
                    (100, ts(1000), magic),
                    (101, ts(1001), magic),
                    (102, ts(1002), magic)
                ],
                "magic {magic} {codec:?}"
            );
            assert_eq!(set.get(1).unwrap().value, Some(&b""[..]));
        }
    }
    let mut out = Vec::new();
    assert!(encode_legacy_message_set(&recs, 1, Compression::Zstd, 0, 0, &mut out).is_err());
    assert!(encode_legacy_message_set(&recs, 2, Compression::None, 0, 0, &mut out).is_err());
    assert!(encode_legacy_message_set(&[], 1, Compression::None, 0, 0, &mut out).is_err());
    assert!(out.is_empty());
}

// ---------------------------------------------------------------------------------------
// kafka-python vectors

const BASE_TS: i64 = 1_700_000_000_000;

struct Expected {
    offset: i64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Headers,
}

/// RECORDS of gen_kafka_python.py.
fn expected() -> Vec<Expected> {
    let h = |k: &str, v: Option<&[u8]>| (k.as_bytes().to_vec(), v.map(<[u8]>::to_vec));
    let mut v0 = b"value-0 ".to_vec();
    v0.extend(b"abcdefgh".repeat(32));
    vec![
        Expected {
            offset: 0,
            timestamp: BASE_TS,
            key: Some(b"key-0".to_vec()),
            value: Some(v0),
            headers: vec![h("h1", Some(b"v1")), h("h-null", None)],
        },
        Expected {
            offset: 1,
            timestamp: BASE_TS + 1,
            key: None,
            value: Some(Vec::new()),
            headers: vec![],
        },
        Expected {
            offset: 2,
            timestamp: BASE_TS + 7,
            key: Some(Vec::new()),
            value: None,
            headers: vec![h("", Some(b""))],
        },
        Expected {
            offset: 3,
            timestamp: BASE_TS - 3,
            key: Some(b"key-3".to_vec()),
            value: Some(b"kafkac ".repeat(50)),
            headers: vec![h("trace", Some(b"\x00\x01\x02"))],
        },
    ]
}

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn check(set: &RecordSet, magic: i8, name: &str) {
    let exp = expected();
    assert_eq!(set.len(), exp.len(), "{name}");
    assert!(!set.truncated(), "{name}");
    assert_eq!(set.next_offset(), Some(4), "{name}");
    for (r, e) in set.iter().zip(&exp) {
        assert_eq!(r.offset, e.offset, "{name}");
        assert_eq!(r.magic, magic, "{name}");
        assert_eq!(r.key, e.key.as_deref(), "{name} key at {}", e.offset);
        assert_eq!(r.value, e.value.as_deref(), "{name} value at {}", e.offset);
        if magic == 0 {
            assert_eq!(
                (r.timestamp, r.timestamp_type),
                (-1, TimestampType::NoTimestamp),
                "{name}"
            );
        } else {
            assert_eq!(
                (r.timestamp, r.timestamp_type),
                (e.timestamp, TimestampType::CreateTime),
                "{name}"
            );
        }
        if magic == 2 {
            assert_eq!(headers_of(&r), e.headers, "{name} headers at {}", e.offset);
        } else {
            assert_eq!(r.header_count(), 0);
        }
    }
}

#[test]
fn kafka_python_v2_every_codec() {
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let name = format!("v2_{codec}.bin");
        let bytes = vector(&name);
        assert_eq!(
            Compression::from_attributes(i16::from_be_bytes([bytes[21], bytes[22]])).unwrap(),
            Compression::from_name(codec).unwrap()
        );
        let set = decode(&bytes);
        check(&set, 2, &name);
        assert!(set
            .iter()
            .all(|r| r.producer_id == -1 && !r.is_transactional));
    }
}

#[test]
fn kafka_python_legacy_every_codec() {
    for magic in [0, 1] {
        for codec in ["none", "gzip", "snappy", "lz4"] {
            let name = format!("v{magic}_{codec}.bin");
            check(&decode(&vector(&name)), magic, &name);
        }
    }
}

#[test]
fn kafka_python_vectors_concatenated() {
    let names = [
        "v0_none.bin",
        "v2_zstd.bin",
        "v1_snappy.bin",
        "v0_lz4.bin",
        "v2_gzip.bin",
    ];
    let all: Vec<u8> = names.iter().flat_map(|n| vector(n)).collect();
    let set = decode(&all);
    assert_eq!(set.len(), 4 * names.len());
    assert_eq!(
        set.iter().map(|r| r.magic).collect::<Vec<_>>(),
        [[0; 4], [2; 4], [1; 4], [0; 4], [2; 4]].concat()
    );
}

fn expected_inputs(exp: &[Expected]) -> Vec<(Vec<RecordHeaderIn<'_>>, &Expected)> {
    exp.iter()
        .map(|e| {
            let hs = e
                .headers
                .iter()
                .map(|(k, v)| RecordHeaderIn {
                    key: k,
                    value: v.as_deref(),
                })
                .collect();
            (hs, e)
        })
        .collect()
}

#[test]
fn our_encoder_matches_kafka_python_uncompressed() {
    let exp = expected();
    let hs = expected_inputs(&exp);
    let recs: Vec<RecordIn<'_>> = hs
        .iter()
        .map(|(h, e)| RecordIn {
            key: e.key.as_deref(),
            value: e.value.as_deref(),
            headers: h,
            timestamp: Some(e.timestamp),
        })
        .collect();
    let cases = [
        ("v2_none.bin", -1, -1, -1, false),
        ("v2_none_idempotent.bin", 1234, 5, 42, false),
        ("v2_none_transactional.bin", 1234, 5, 42, true),
    ];
    for (name, producer_id, producer_epoch, base_sequence, transactional) in cases {
        // kafka-python writes partition leader epoch 0 where the Java client writes -1.
        let opts = BatchOptions {
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch,
            base_sequence,
            transactional,
            ..BatchOptions::default()
        };
        let mut out = Vec::new();
        encode_batch(&recs, &opts, &mut out).unwrap();
        assert_eq!(out, vector(name), "{name}");
        let set = decode(&out);
        assert!(set
            .iter()
            .all(|r| r.producer_id == producer_id && r.is_transactional == transactional));
    }
    for magic in [0i8, 1] {
        let mut out = Vec::new();
        encode_legacy_message_set(&recs, magic, Compression::None, 0, 0, &mut out).unwrap();
        assert_eq!(out, vector(&format!("v{magic}_none.bin")), "magic {magic}");
    }
}

#[test]
fn uncompressed_decode_is_zero_copy() {
    let input = Bytes::from(vector("v2_none.bin"));
    let range = input.as_ptr_range();
    let set = RecordSet::decode(input.clone(), &DecodeLimits::default()).unwrap();
    assert_eq!(set.len(), 4);
    let inside = |s: &[u8]| range.contains(&s.as_ptr()) && s.as_ptr_range().end <= range.end;
    for r in set.iter() {
        for s in [r.key, r.value]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
        {
            assert!(inside(s));
        }
        for (k, v) in r.headers() {
            for s in [Some(k), v].into_iter().flatten().filter(|s| !s.is_empty()) {
                assert!(inside(s));
            }
        }
    }
    let legacy = Bytes::from(vector("v1_none.bin"));
    let range = legacy.as_ptr_range();
    let set = RecordSet::decode(legacy.clone(), &DecodeLimits::default()).unwrap();
    let v = set.get(0).unwrap().value.unwrap();
    assert!(range.contains(&v.as_ptr()));
}
