//! Record batches written by confluent-kafka (librdkafka 2.16), captured from a broker by
//! `examples/capture_confluent.rs` into `tests/vectors/confluent_v2_<codec>.bin`, for
//! the records of `tests/vectors/confluent_records.txt`. They decode to exactly those
//! records, and the uncompressed one is byte for byte what our encoder writes.

mod common;

use bytes::Bytes;
use common::records::{header_ins, headers_of, parse_record_line, record_ins, Rec, CODECS};
use kafkac::record::{encode_batch, BatchOptions, DecodeLimits, RecordSet};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// The records of `confluent_records.txt`, one [`common::records::record_line`] each,
/// every one with a timestamp.
fn expected() -> Vec<Rec> {
    std::fs::read_to_string(dir().join("confluent_records.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let r = parse_record_line(l).unwrap_or_else(|e| panic!("{e}"));
            assert!(r.timestamp.is_some(), "no timestamp in {l:?}");
            r
        })
        .collect()
}

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
            assert_eq!(Some(r.timestamp), w.timestamp, "{name} timestamp {i}");
            assert_eq!(r.key, w.key.as_deref(), "{name} key {i}");
            assert_eq!(r.value, w.value.as_deref(), "{name} value {i}");
            assert_eq!(headers_of(&r), w.headers, "{name} headers {i}");
        }
    }
}

#[test]
fn uncompressed_confluent_batch_matches_our_encoding() {
    let raw = std::fs::read(dir().join("confluent_v2_none.bin")).unwrap();
    let want = expected();
    let headers = header_ins(&want);
    let records = record_ins(&want, &headers);
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
