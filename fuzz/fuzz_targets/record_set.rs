//! Decodes arbitrary bytes as a record set (RecordBatch v2 or legacy MessageSet v0/v1, any
//! codec), the records field of a Fetch response, and touches every record and header.
//!
//! Each input is decoded twice: as a consumer does (CRCs checked, control batches skipped),
//! and with CRC checks off and control records kept, so that mutations past the checksum
//! reach the record parser.
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
    // As a consumer decodes, then without the CRC check and with control records kept.
    for (verify_crc, skip_control) in [(true, true), (false, false)] {
        let limits = DecodeLimits {
            max_decompressed: 1 << 20,
            verify_crc,
            skip_control,
        };
        if let Ok(set) = RecordSet::decode(input.clone(), &limits) {
            std::hint::black_box(touch(&set));
        }
    }
});
