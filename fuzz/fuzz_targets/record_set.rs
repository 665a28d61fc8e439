//! Decodes arbitrary bytes as a record set (RecordBatch v2 or legacy MessageSet v0/v1, any
//! codec), the records field of a Fetch response, and touches every record and header.
//!
//! Each input is decoded twice: with the default limits (CRC checked), and with CRC
//! verification off so that mutations past the checksum reach the record parser.
#![no_main]

use bytes::Bytes;
use kafkac::record::{DecodeLimits, RecordSet};
use libfuzzer_sys::fuzz_target;

fn touch(set: &RecordSet) -> u64 {
    let mut acc = 0u64;
    let n = set.len();
    for i in 0..n {
        let rec = set.get(i).expect("index below len");
        acc = acc.wrapping_add(rec.offset as u64 ^ rec.timestamp as u64);
        for b in rec.key.into_iter().chain(rec.value) {
            acc = acc.wrapping_add(b.iter().map(|&x| x as u64).sum::<u64>());
        }
        let mut headers = 0;
        for (k, v) in rec.headers() {
            headers += 1;
            acc = acc.wrapping_add(k.iter().map(|&x| x as u64).sum::<u64>());
            if let Some(v) = v {
                acc = acc.wrapping_add(v.iter().map(|&x| x as u64).sum::<u64>());
            }
        }
        assert_eq!(headers, rec.header_count(), "header count");
    }
    assert!(set.get(n).is_none());
    assert_eq!(set.iter().count(), n, "iter and len disagree");
    assert_eq!(set.is_empty(), n == 0);
    acc
}

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);
    for verify_crc in [true, false] {
        let limits = DecodeLimits {
            max_decompressed: 1 << 20,
            verify_crc,
            ..Default::default()
        };
        if let Ok(set) = RecordSet::decode(input.clone(), &limits) {
            std::hint::black_box(touch(&set));
        }
    }
});
