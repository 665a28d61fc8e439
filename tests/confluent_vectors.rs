//! Record batches written by confluent-kafka (librdkafka 2.16), captured from a broker by
//! `examples/capture_confluent.rs` into `tests/vectors/confluent_v2_<codec>.bin`, for
//! the records of `tests/vectors/confluent_records.txt`. They decode to exactly those
//! records, and the uncompressed one is byte for byte what our encoder writes.

use bytes::Bytes;
use kafkac::record::{
    encode_batch, BatchOptions, Compression, DecodeLimits, RecordHeaderIn, RecordIn, RecordSet,
};
use std::path::PathBuf;

type Header = (Vec<u8>, Option<Vec<u8>>);

struct Expected {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn unhex(f: &str) -> Option<Vec<u8>> {
    if f == "-" {
        return None;
    }
    let h = f.strip_prefix(':').expect("byte field");
    Some(
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect(),
    )
}

fn expected() -> Vec<Expected> {
    std::fs::read_to_string(dir().join("confluent_records.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Expected {
                timestamp: f[0].parse().unwrap(),
                key: unhex(f[1]),
                value: unhex(f[2]),
                headers: f[3..]
                    .chunks(2)
                    .map(|h| (unhex(h[0]).unwrap(), unhex(h[1])))
                    .collect(),
            }
        })
        .collect()
}

const CODECS: [(&str, Compression); 5] = [
    ("none", Compression::None),
    ("gzip", Compression::Gzip),
    ("snappy", Compression::Snappy),
    ("lz4", Compression::Lz4),
    ("zstd", Compression::Zstd),
];

#[test]
fn confluent_batches_decode_exactly() {
    let want = expected();
    assert!(!want.is_empty(), "no records in confluent_records.txt");
    for (name, codec) in CODECS {
        let raw = std::fs::read(dir().join(format!("confluent_v2_{name}.bin"))).unwrap();
        // Attributes (bytes 21-22 of the batch header) carry the codec librdkafka used.
        assert_eq!(
            i16::from_be_bytes([raw[21], raw[22]]) & 7,
            codec as i16,
            "{name}"
        );
        let set = RecordSet::decode(Bytes::from(raw), &DecodeLimits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(set.len(), want.len(), "{name}");
        assert!(!set.truncated(), "{name}");
        for (i, (r, w)) in set.iter().zip(&want).enumerate() {
            assert_eq!(r.offset, i as i64, "{name} offset");
            assert_eq!(r.timestamp, w.timestamp, "{name} timestamp {i}");
            assert_eq!(r.key, w.key.as_deref(), "{name} key {i}");
            assert_eq!(r.value, w.value.as_deref(), "{name} value {i}");
            let headers: Vec<Header> = r
                .headers()
                .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                .collect();
            assert_eq!(headers, w.headers, "{name} headers {i}");
        }
    }
}

#[test]
fn uncompressed_confluent_batch_matches_our_encoding() {
    let raw = std::fs::read(dir().join("confluent_v2_none.bin")).unwrap();
    let want = expected();
    let headers: Vec<Vec<RecordHeaderIn>> = want
        .iter()
        .map(|w| {
            w.headers
                .iter()
                .map(|(k, v)| RecordHeaderIn {
                    key: k,
                    value: v.as_deref(),
                })
                .collect()
        })
        .collect();
    let records: Vec<RecordIn> = want
        .iter()
        .zip(&headers)
        .map(|(w, h)| RecordIn {
            key: w.key.as_deref(),
            value: w.value.as_deref(),
            headers: h,
            timestamp: Some(w.timestamp),
        })
        .collect();
    // Fields the broker or the producer set that are not the records' own: take them
    // from the captured header (partition leader epoch at 12..16).
    let opts = BatchOptions {
        partition_leader_epoch: i32::from_be_bytes(raw[12..16].try_into().unwrap()),
        ..Default::default()
    };
    let mut ours = Vec::new();
    encode_batch(&records, &opts, &mut ours).unwrap();
    assert_eq!(ours, raw);
}
