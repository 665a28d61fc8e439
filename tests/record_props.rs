//! Round trips (property tests) and hostile input for the record layer.

mod common;

use bytes::Bytes;
use common::records::{compressions, header_ins, headers_of, record_ins, Rec};
use kafkac::protocol::DecodeErrorKind;
use kafkac::record::{
    encode_batch, encode_legacy_message_set, BatchOptions, Compression, DecodeLimits, RecordIn,
    RecordSet, TimestampType,
};
use proptest::prelude::*;

fn bytes_opt(max: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Vec::new())),
        4 => proptest::collection::vec(any::<u8>(), 0..max).prop_map(Some),
    ]
}

fn owned() -> impl Strategy<Value = Rec> {
    let header = (proptest::collection::vec(any::<u8>(), 0..12), bytes_opt(16));
    (
        bytes_opt(40),
        bytes_opt(300),
        proptest::collection::vec(header, 0..4),
        prop_oneof![
            Just(None),
            (0i64..2_000_000_000_000).prop_map(Some),
            any::<i64>().prop_map(Some)
        ],
    )
        .prop_map(|(key, value, headers, timestamp)| Rec {
            key,
            value,
            headers,
            timestamp,
        })
}

fn codec() -> impl Strategy<Value = Compression> {
    proptest::sample::select(compressions().to_vec())
}

fn options() -> impl Strategy<Value = BatchOptions> {
    (
        codec(),
        any::<i64>(),
        any::<i32>(),
        prop_oneof![Just(-1i64), any::<i64>()],
        any::<i16>(),
        any::<i32>(),
        any::<bool>(),
        any::<bool>(),
        any::<i64>(),
    )
        .prop_map(
            |(compression, base_offset, ple, producer_id, epoch, seq, txn, lat, now)| {
                BatchOptions {
                    base_offset,
                    partition_leader_epoch: ple,
                    compression,
                    compression_level: None,
                    producer_id,
                    producer_epoch: epoch,
                    base_sequence: seq,
                    transactional: txn,
                    log_append_time: lat,
                    now_ms: now,
                }
            },
        )
}

fn encode(recs: &[Rec], opts: &BatchOptions, out: &mut Vec<u8>) {
    let hs = header_ins(recs);
    encode_batch(&record_ins(recs, &hs), opts, out).unwrap();
}

fn decode(bytes: Vec<u8>) -> RecordSet {
    RecordSet::decode(Bytes::from(bytes), &DecodeLimits::default()).unwrap()
}

fn check_batch(set: &RecordSet, first: usize, recs: &[Rec], opts: &BatchOptions) {
    for (i, want) in recs.iter().enumerate() {
        let r = set.get(first + i).unwrap();
        assert_eq!(r.offset, opts.base_offset.wrapping_add(i as i64));
        let ts = if opts.log_append_time {
            opts.now_ms
        } else {
            want.timestamp.unwrap_or(opts.now_ms)
        };
        assert_eq!(r.timestamp, ts);
        let tt = if opts.log_append_time {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        };
        assert_eq!(r.timestamp_type, tt);
        assert_eq!(r.key, want.key.as_deref());
        assert_eq!(r.value, want.value.as_deref());
        assert_eq!(headers_of(&r), want.headers);
        assert_eq!(r.header_count(), want.headers.len());
        assert_eq!(r.producer_id, opts.producer_id);
        assert_eq!(r.partition_leader_epoch, opts.partition_leader_epoch);
        assert_eq!(r.is_transactional, opts.transactional);
        assert!(!r.is_control);
        assert_eq!(r.magic, 2);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn v2_round_trip(recs in proptest::collection::vec(owned(), 1..20), opts in options()) {
        let mut out = Vec::new();
        encode(&recs, &opts, &mut out);
        let set = decode(out);
        prop_assert_eq!(set.len(), recs.len());
        prop_assert!(!set.truncated());
        prop_assert_eq!(
            set.next_offset(),
            Some(opts.base_offset.wrapping_add(recs.len() as i64))
        );
        check_batch(&set, 0, &recs, &opts);
    }

    #[test]
    fn concatenated_batches_with_a_truncated_tail(
        batches in proptest::collection::vec(
            (proptest::collection::vec(owned(), 1..6), codec()), 1..5),
        tail in (proptest::collection::vec(owned(), 1..4), codec()),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut out = Vec::new();
        let mut base = 1000i64;
        let mut all = Vec::new();
        for (recs, compression) in &batches {
            let opts = BatchOptions { base_offset: base, compression: *compression, now_ms: 7, ..BatchOptions::default() };
            encode(recs, &opts, &mut out);
            all.push((recs.clone(), opts));
            base += recs.len() as i64;
        }
        let whole = out.len();
        let opts = BatchOptions { base_offset: base, compression: tail.1, ..BatchOptions::default() };
        let mut t = Vec::new();
        encode(&tail.0, &opts, &mut t);
        let cut = cut.index(t.len() - 1) + 1; // 1..len: a proper, non-empty prefix
        out.extend_from_slice(&t[..t.len() - cut]);
        let truncated = out.len() > whole;
        let set = decode(out);
        prop_assert_eq!(set.truncated(), truncated);
        prop_assert_eq!(set.next_offset(), Some(base));
        let mut first = 0;
        for (recs, opts) in &all {
            check_batch(&set, first, recs, opts);
            first += recs.len();
        }
        prop_assert_eq!(set.len(), first);
    }

    #[test]
    fn legacy_round_trip(
        recs in proptest::collection::vec(owned(), 1..12),
        magic in 0i8..2,
        codec in proptest::sample::select(vec![Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4]),
        base in 0i64..1 << 40,
        now in any::<i64>(),
    ) {
        let hs = header_ins(&recs);
        let mut out = Vec::new();
        encode_legacy_message_set(&record_ins(&recs, &hs), magic, codec, base, now, &mut out).unwrap();
        let set = decode(out);
        prop_assert_eq!(set.len(), recs.len());
        prop_assert_eq!(set.next_offset(), Some(base + recs.len() as i64));
        for (i, (r, want)) in set.iter().zip(&recs).enumerate() {
            prop_assert_eq!(r.offset, base + i as i64);
            prop_assert_eq!(r.key, want.key.as_deref());
            prop_assert_eq!(r.value, want.value.as_deref());
            prop_assert_eq!(r.header_count(), 0);
            prop_assert_eq!(r.magic, magic);
            if magic == 0 {
                prop_assert_eq!((r.timestamp, r.timestamp_type), (-1, TimestampType::NoTimestamp));
            } else {
                prop_assert_eq!((r.timestamp, r.timestamp_type), (want.timestamp.unwrap_or(now), TimestampType::CreateTime));
            }
        }
    }

    /// Any bytes: an error or a record set, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = RecordSet::decode(Bytes::from(bytes), &DecodeLimits::default());
    }

    /// Valid batches with bytes changed and CRC checks off, so the damage reaches the
    /// record parsers and codecs.
    #[test]
    fn mutated_batches_never_panic(
        recs in proptest::collection::vec(owned(), 1..6),
        compression in codec(),
        legacy in proptest::option::of(0i8..2),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut out = Vec::new();
        match legacy {
            None => encode(&recs, &BatchOptions { compression, ..BatchOptions::default() }, &mut out),
            Some(magic) => {
                let hs = header_ins(&recs);
                let c = if compression == Compression::Zstd { Compression::Gzip } else { compression };
                encode_legacy_message_set(&record_ins(&recs, &hs), magic, c, 0, 0, &mut out).unwrap();
            }
        }
        for (at, byte) in edits {
            let i = at.index(out.len());
            out[i] = byte;
        }
        let limits = DecodeLimits { verify_crc: false, max_decompressed: 1 << 20, ..DecodeLimits::default() };
        let _ = RecordSet::decode(Bytes::from(out), &limits);
    }
}

// ---------------------------------------------------------------------------------------
// Hostile input

fn sample() -> Vec<Rec> {
    (0..5)
        .map(|i| Rec {
            key: (i != 2).then(|| format!("key{i}").into_bytes()),
            value: Some(format!("value {i} value {i} value {i}").into_bytes()),
            headers: vec![(b"h".to_vec(), Some(vec![i as u8]))],
            timestamp: Some(1000 + i as i64),
        })
        .collect()
}

fn decode_err(bytes: Vec<u8>) -> DecodeErrorKind {
    RecordSet::decode(Bytes::from(bytes), &DecodeLimits::default())
        .unwrap_err()
        .kind
}

#[test]
fn crc_mismatch_names_the_batch() {
    for compression in compressions() {
        let opts = BatchOptions {
            base_offset: 4242,
            compression,
            ..BatchOptions::default()
        };
        let mut out = Vec::new();
        encode(&sample(), &opts, &mut out);
        let stored = u32::from_be_bytes(out[17..21].try_into().unwrap());
        let last = out.len() - 1;
        out[last] ^= 0x40;
        match decode_err(out.clone()) {
            DecodeErrorKind::Crc {
                base_offset,
                expected,
                computed,
            } => {
                assert_eq!(base_offset, 4242);
                assert_eq!(expected, stored);
                assert_ne!(computed, stored);
            }
            other => panic!("{compression:?}: {other:?}"),
        }
        let e = RecordSet::decode(Bytes::from(out.clone()), &DecodeLimits::default()).unwrap_err();
        assert!(e.to_string().contains("4242"), "{e}");
        // Without verification an uncompressed batch decodes, the flipped byte included.
        if compression == Compression::None {
            let limits = DecodeLimits {
                verify_crc: false,
                ..DecodeLimits::default()
            };
            assert_eq!(
                RecordSet::decode(Bytes::from(out), &limits).unwrap().len(),
                5
            );
        }
    }
    // Legacy: the CRC-32 of a message.
    let mut out = Vec::new();
    let s = sample();
    let hs = header_ins(&s);
    encode_legacy_message_set(&record_ins(&s, &hs), 1, Compression::None, 77, 0, &mut out).unwrap();
    out[30] ^= 1;
    assert!(matches!(
        decode_err(out),
        DecodeErrorKind::Crc {
            base_offset: 77,
            ..
        }
    ));
}

#[test]
fn every_prefix_is_truncated_or_an_error() {
    let s = sample();
    let hs = header_ins(&s);
    let recs = record_ins(&s, &hs);
    let mut inputs = Vec::new();
    for compression in compressions() {
        let mut out = Vec::new();
        encode_batch(
            &recs,
            &BatchOptions {
                compression,
                ..BatchOptions::default()
            },
            &mut out,
        )
        .unwrap();
        inputs.push(out);
    }
    for magic in [0, 1] {
        for c in [Compression::None, Compression::Gzip, Compression::Lz4] {
            let mut out = Vec::new();
            encode_legacy_message_set(&recs, magic, c, 0, 0, &mut out).unwrap();
            inputs.push(out);
        }
    }
    for input in inputs {
        // Where each top-level batch or message ends.
        let mut ends = vec![0];
        while *ends.last().unwrap() < input.len() {
            let at = *ends.last().unwrap();
            let size = i32::from_be_bytes(input[at + 8..at + 12].try_into().unwrap());
            ends.push(at + 12 + size as usize);
        }
        for len in 0..input.len() {
            let set = RecordSet::decode(
                Bytes::copy_from_slice(&input[..len]),
                &DecodeLimits::default(),
            )
            .unwrap();
            assert_eq!(set.truncated(), !ends.contains(&len));
            let whole = ends.iter().filter(|&&e| e > 0 && e <= len).count();
            if input[16] == 2 || input[17] & 7 != 0 {
                assert_eq!(set.len(), 0);
            } else {
                // Uncompressed legacy: one record per message; whole ones before the cut stay.
                assert_eq!(set.len(), whole);
            }
        }
    }
}

fn zeros_batch(compression: Compression, size: usize) -> Vec<u8> {
    let zeros = vec![0u8; size];
    let mut out = Vec::new();
    let rec = RecordIn {
        value: Some(&zeros),
        ..RecordIn::default()
    };
    encode_batch(
        &[rec],
        &BatchOptions {
            compression,
            ..BatchOptions::default()
        },
        &mut out,
    )
    .unwrap();
    out
}

fn assert_limit_error(kind: DecodeErrorKind, what: &str) {
    match kind {
        DecodeErrorKind::Compression(m) => assert!(m.contains("exceeds the limit"), "{what}: {m}"),
        other => panic!("{what}: {other:?}"),
    }
}

#[test]
fn decompression_bombs_are_stopped_at_the_limit() {
    let limits = DecodeLimits {
        max_decompressed: 1 << 20,
        ..DecodeLimits::default()
    };
    for compression in &compressions()[1..] {
        let bomb = zeros_batch(*compression, 8 << 20);
        assert!(
            bomb.len() < 1 << 20,
            "{compression:?}: {} bytes",
            bomb.len()
        );
        let e = RecordSet::decode(Bytes::from(bomb), &limits).unwrap_err();
        assert_limit_error(e.kind, compression.name());
    }
    // Legacy wrappers.
    let zeros = vec![0u8; 4 << 20];
    let rec = RecordIn {
        value: Some(&zeros),
        ..RecordIn::default()
    };
    for magic in [0, 1] {
        for c in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
            let mut out = Vec::new();
            encode_legacy_message_set(&[rec], magic, c, 0, 0, &mut out).unwrap();
            let e = RecordSet::decode(Bytes::from(out), &limits).unwrap_err();
            assert_limit_error(e.kind, c.name());
        }
    }
    // The limit covers all batches of one decode together.
    let mut two = zeros_batch(Compression::Zstd, 600 << 10);
    two.extend(zeros_batch(Compression::Zstd, 600 << 10));
    assert_eq!(
        RecordSet::decode(Bytes::from(two.clone()), &DecodeLimits::default())
            .unwrap()
            .len(),
        2
    );
    assert_limit_error(
        RecordSet::decode(Bytes::from(two), &limits)
            .unwrap_err()
            .kind,
        "two",
    );
}

/// A v2 batch around hand-written record bytes, with a correct CRC.
fn raw_batch(records: &[u8], count: i32, attributes: i16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(0i64.to_be_bytes());
    b.extend(((49 + records.len()) as i32).to_be_bytes());
    b.extend((-1i32).to_be_bytes());
    b.push(2);
    b.extend([0; 4]);
    b.extend(attributes.to_be_bytes());
    b.extend((count - 1).max(0).to_be_bytes());
    b.extend(0i64.to_be_bytes());
    b.extend(0i64.to_be_bytes());
    b.extend((-1i64).to_be_bytes());
    b.extend((-1i16).to_be_bytes());
    b.extend((-1i32).to_be_bytes());
    b.extend(count.to_be_bytes());
    b.extend(records);
    fix_crc(&mut b);
    b
}

fn fix_crc(b: &mut [u8]) {
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn absurd_lengths_are_errors() {
    // Batch lengths: negative, zero, below the smallest message, below the v2 header.
    for size in [-1i32, i32::MIN, 0, 13, 20, 48] {
        let mut b = raw_batch(&[], 0, 0);
        b[8..12].copy_from_slice(&size.to_be_bytes());
        b.truncate((12 + size.max(0)) as usize);
        b.resize(b.len().max(17), 0);
        b[16] = 2;
        assert!(
            RecordSet::decode(Bytes::from(b), &DecodeLimits::default()).is_err(),
            "{size}"
        );
    }
    // A good record: length 6, attributes, ts delta, offset delta, key -1, value -1, 0 headers.
    let good = [0x0c, 0, 0, 0, 1, 1, 0];
    assert_eq!(decode(raw_batch(&good, 1, 0)).len(), 1);
    // Record count: negative, far beyond the bytes, one more than present.
    for count in [-1, i32::MAX, 2] {
        assert!(
            RecordSet::decode(
                Bytes::from(raw_batch(&good, count, 0)),
                &DecodeLimits::default()
            )
            .is_err(),
            "{count}"
        );
    }
    // Keys and values with negative lengths other than -1.
    let bad_key = [0x0c, 0, 0, 0, 3, 1, 0]; // key length -2
    assert_eq!(
        decode_err(raw_batch(&bad_key, 1, 0)),
        DecodeErrorKind::NegativeLength(-2)
    );
    let bad_value = [0x0c, 0, 0, 0, 1, 9, 0]; // value length -5
    assert_eq!(
        decode_err(raw_batch(&bad_value, 1, 0)),
        DecodeErrorKind::NegativeLength(-5)
    );
    // A key longer than the record.
    let long_key = [0x0c, 0, 0, 0, 0x7e, 1, 0];
    assert!(RecordSet::decode(
        Bytes::from(raw_batch(&long_key, 1, 0)),
        &DecodeLimits::default()
    )
    .is_err());
    // A null header key, a negative header count, a huge header count.
    let null_hkey = [0x10, 0, 0, 0, 1, 1, 2, 1, 1];
    assert_eq!(
        decode_err(raw_batch(&null_hkey, 1, 0)),
        DecodeErrorKind::UnexpectedNull
    );
    let neg_headers = [0x0c, 0, 0, 0, 1, 1, 3];
    assert_eq!(
        decode_err(raw_batch(&neg_headers, 1, 0)),
        DecodeErrorKind::NegativeLength(-2)
    );
    let many_headers = [0x14, 0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f];
    assert!(RecordSet::decode(
        Bytes::from(raw_batch(&many_headers, 1, 0)),
        &DecodeLimits::default()
    )
    .is_err());
    // Record length: negative, longer than the batch, shorter than its fields.
    for first in [0x01u8, 0x7e, 0x0a] {
        let mut r = good;
        r[0] = first;
        assert!(
            RecordSet::decode(Bytes::from(raw_batch(&r, 1, 0)), &DecodeLimits::default()).is_err(),
            "{first}"
        );
    }
    // Bytes left after the last record.
    let mut extra = good.to_vec();
    extra.push(0);
    assert!(RecordSet::decode(
        Bytes::from(raw_batch(&extra, 1, 0)),
        &DecodeLimits::default()
    )
    .is_err());
    // An unknown codec and an unknown magic.
    assert!(matches!(
        decode_err(raw_batch(&good, 1, 5)),
        DecodeErrorKind::Compression(_)
    ));
    let mut m3 = raw_batch(&good, 1, 0);
    m3[16] = 3;
    assert!(matches!(decode_err(m3), DecodeErrorKind::Invalid(_)));
    // Compressed garbage.
    for c in 1..5 {
        assert!(matches!(
            decode_err(raw_batch(&[1, 2, 3, 4, 5, 6, 7, 8], 1, c)),
            DecodeErrorKind::Compression(_)
        ));
    }
}

#[test]
fn legacy_hostile_lengths() {
    // message(offset 0): crc, magic 1, attributes 0, timestamp, key len, value len.
    let build = |key_len: i32, value: &[u8], value_len: i32| {
        let mut body = vec![1u8, 0];
        body.extend(0i64.to_be_bytes());
        body.extend(key_len.to_be_bytes());
        body.extend(value_len.to_be_bytes());
        body.extend(value);
        let mut m = 0i64.to_be_bytes().to_vec();
        m.extend((body.len() as i32 + 4).to_be_bytes());
        m.extend(crc32fast::hash(&body).to_be_bytes());
        m.extend(body);
        m
    };
    assert_eq!(decode(build(-1, b"ab", 2)).len(), 1);
    assert_eq!(
        decode_err(build(-2, b"ab", 2)),
        DecodeErrorKind::NegativeLength(-2)
    );
    assert_eq!(
        decode_err(build(-1, b"ab", -7)),
        DecodeErrorKind::NegativeLength(-7)
    );
    assert!(matches!(
        decode_err(build(-1, b"ab", 1000)),
        DecodeErrorKind::UnexpectedEof { .. }
    ));
    assert!(matches!(
        decode_err(build(-1, b"ab", 1)),
        DecodeErrorKind::Invalid(_)
    ));
    // A compressed wrapper with a null value.
    let mut m = build(-1, b"", -1);
    m[17] = 1;
    let crc = crc32fast::hash(&m[16..]);
    m[12..16].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(decode_err(m), DecodeErrorKind::Invalid(_)));
}

#[test]
fn control_batches_are_skipped_but_counted() {
    let key = [0u8, 0, 0, 1]; // version 0, type 1: commit
    let rec = RecordIn {
        key: Some(&key),
        value: Some(&[0, 0, 0, 0, 0, 0]),
        ..RecordIn::default()
    };
    let opts = BatchOptions {
        base_offset: 50,
        producer_id: 9,
        producer_epoch: 0,
        transactional: true,
        ..BatchOptions::default()
    };
    let mut b = Vec::new();
    encode_batch(&[rec], &opts, &mut b).unwrap();
    b[22] |= 0x20; // control
    fix_crc(&mut b);
    let set = decode(b.clone());
    assert!(set.is_empty());
    assert_eq!(set.next_offset(), Some(51));
    let limits = DecodeLimits {
        skip_control: false,
        ..DecodeLimits::default()
    };
    let set = RecordSet::decode(Bytes::from(b), &limits).unwrap();
    let r = set.get(0).unwrap();
    assert!(r.is_control && r.is_transactional);
    assert_eq!((r.offset, r.producer_id, r.key), (50, 9, Some(&key[..])));
}

#[test]
fn empty_batch_advances_next_offset() {
    // Compaction can leave a batch with no records; its offsets still count.
    let mut b = raw_batch(&[], 0, 0);
    b[0..8].copy_from_slice(&10i64.to_be_bytes());
    b[23..27].copy_from_slice(&4i32.to_be_bytes());
    fix_crc(&mut b);
    let set = decode(b);
    assert!(set.is_empty());
    assert_eq!(set.next_offset(), Some(15));
    assert_eq!(decode(Vec::new()).next_offset(), None);
}

#[test]
fn record_sets_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<RecordSet>();
}

#[test]
fn empty_input_and_errors_from_encode() {
    let set = decode(Vec::new());
    assert!(set.is_empty() && !set.truncated());
    let mut out = vec![1, 2, 3];
    assert!(encode_batch(&[], &BatchOptions::default(), &mut out).is_err());
    assert_eq!(out, [1, 2, 3]);
}

#[test]
fn compression_levels_are_accepted() {
    for (compression, level) in [
        (Compression::Gzip, 1),
        (Compression::Gzip, 9),
        (Compression::Gzip, 42),
        (Compression::Zstd, 1),
        (Compression::Zstd, 19),
        (Compression::Lz4, 9),
    ] {
        let opts = BatchOptions {
            compression,
            compression_level: Some(level),
            ..BatchOptions::default()
        };
        let mut out = Vec::new();
        encode(&sample(), &opts, &mut out);
        assert_eq!(decode(out).len(), 5);
    }
}
