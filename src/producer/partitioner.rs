//! The producer's built-in partitioners: librdkafka's seven, under librdkafka's names
//! (the `partitioner` property), with librdkafka's results bit for bit.
//!
//! | name                | key with bytes                  | empty key      | NULL key       |
//! |---------------------|---------------------------------|----------------|----------------|
//! | `random`            | random                          | random         | random         |
//! | `consistent`        | crc32(key) % n                  | 0              | 0              |
//! | `consistent_random` | crc32(key) % n                  | random         | random         |
//! | `murmur2`           | (murmur2(key) & 0x7fffffff) % n | as murmur2("") | as murmur2("") |
//! | `murmur2_random`    | (murmur2(key) & 0x7fffffff) % n | as murmur2("") | random         |
//! | `fnv1a`             | fnv1a(key) % n                  | as fnv1a("")   | as fnv1a("")   |
//! | `fnv1a_random`      | fnv1a(key) % n                  | as fnv1a("")   | random         |
//!
//! Besides `random`, only `consistent_random` (librdkafka's default) gives an empty key a
//! random partition. `consistent`, `murmur2` and `fnv1a` hash a NULL key as no bytes (the
//! CRC-32 of no bytes is 0). `murmur2_random` is the Java producer's default partitioner for every key
//! the Java producer hashes (Java hashes empty keys too; NULL keys it never hashes).
//!
//! "Random" above is what the partitioner function itself returns. In the producer, most
//! of those random choices are *sticky* instead ([`Partitioner::is_sticky`]): one
//! partition, drawn at random, takes every such record of the topic until
//! `sticky.partitioning.linger.ms` has passed, as in librdkafka's
//! `rd_kafka_msg_sticky_partition`. The random draw itself belongs to the caller, who
//! knows which partitions have a leader.

use crate::error::{local, Error};
use std::fmt;
use std::str::FromStr;

/// The partition a record waits in while its topic has no partitions yet (librdkafka's
/// `RD_KAFKA_PARTITION_UA`).
pub const UNASSIGNED: i32 = -1;

/// A built-in partitioner, named as librdkafka's `partitioner` property names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Partitioner {
    /// `consistent_random`, the default: CRC-32 of the key; empty and NULL keys random.
    #[default]
    ConsistentRandom,
    /// `consistent`: CRC-32 of the key; empty and NULL keys go to partition 0.
    Consistent,
    /// `random`: every record random, whatever its key.
    Random,
    /// `murmur2`: the Java client's murmur2 of the key; a NULL key hashes as no bytes.
    Murmur2,
    /// `murmur2_random`: the Java client's murmur2 of the key; NULL keys random.
    Murmur2Random,
    /// `fnv1a`: FNV-1a of the key, as Sarama's hash partitioner; a NULL key hashes as
    /// no bytes.
    Fnv1a,
    /// `fnv1a_random`: FNV-1a of the key; NULL keys random.
    Fnv1aRandom,
}

impl Partitioner {
    /// Every partitioner, in the order librdkafka documents them.
    pub const ALL: [Partitioner; 7] = [
        Partitioner::Random,
        Partitioner::Consistent,
        Partitioner::ConsistentRandom,
        Partitioner::Murmur2,
        Partitioner::Murmur2Random,
        Partitioner::Fnv1a,
        Partitioner::Fnv1aRandom,
    ];

    /// The value of the `partitioner` property that selects this partitioner.
    pub fn name(self) -> &'static str {
        match self {
            Partitioner::ConsistentRandom => "consistent_random",
            Partitioner::Consistent => "consistent",
            Partitioner::Random => "random",
            Partitioner::Murmur2 => "murmur2",
            Partitioner::Murmur2Random => "murmur2_random",
            Partitioner::Fnv1a => "fnv1a",
            Partitioner::Fnv1aRandom => "fnv1a_random",
        }
    }

    /// The partition the key hashes to among `partition_count`, or `None` when this
    /// partitioner picks at random for this key (the "random" cells of the table in the
    /// module documentation). `key` is `None` for a NULL key; `Some(&[])` is an empty key.
    ///
    /// A topic without partitions (`partition_count < 1`) gives [`UNASSIGNED`].
    pub fn key_partition(self, key: Option<&[u8]>, partition_count: i32) -> Option<i32> {
        if partition_count < 1 {
            return Some(UNASSIGNED);
        }
        // librdkafka computes `uint32_t % int32_t`, an unsigned remainder; with a
        // positive count that is the remainder of the two as u32.
        let of = |hash: u32| Some((hash % partition_count as u32) as i32);
        let bytes = key.unwrap_or_default();
        match self {
            Partitioner::Random => None,
            Partitioner::Consistent => of(crc32(bytes)),
            Partitioner::ConsistentRandom if bytes.is_empty() => None,
            Partitioner::ConsistentRandom => of(crc32(bytes)),
            Partitioner::Murmur2Random | Partitioner::Fnv1aRandom if key.is_none() => None,
            Partitioner::Murmur2 | Partitioner::Murmur2Random => of(murmur2(bytes) & 0x7fff_ffff),
            Partitioner::Fnv1a | Partitioner::Fnv1aRandom => of(fnv1a(bytes)),
        }
    }

    /// What librdkafka's partitioner function of this name returns
    /// (`rd_kafka_msg_partitioner_<name>`): [`key_partition`](Self::key_partition), or
    /// `random()` where that is `None`. `random` returns a partition in
    /// `0..partition_count`; librdkafka draws uniformly, and draws once more when the
    /// first draw has no leader.
    ///
    /// A topic without partitions (`partition_count < 1`) gives [`UNASSIGNED`] and does
    /// not call `random`.
    pub fn partition(
        self,
        key: Option<&[u8]>,
        partition_count: i32,
        random: impl FnOnce() -> i32,
    ) -> i32 {
        self.key_partition(key, partition_count)
            .unwrap_or_else(random)
    }

    /// Whether a record with this key goes to the topic's sticky partition rather than
    /// through [`partition`](Self::partition), as librdkafka's `rd_kafka_msg_partitioner`
    /// decides. True exactly when `sticky_linger_ms > 0` and
    ///
    /// * the key is NULL and the partitioner is `random`, `consistent_random`,
    ///   `murmur2_random` or `fnv1a_random`, or
    /// * the key is empty and the partitioner is `consistent_random`.
    ///
    /// Not sticky, although [`key_partition`](Self::key_partition) is `None` for them:
    /// every record of the `random` partitioner that has a key (empty or not), which is
    /// drawn anew per record; and, with `sticky.partitioning.linger.ms` 0, every random
    /// case. NULL keys with `consistent`, `murmur2` and `fnv1a` hash as no bytes and are
    /// never sticky.
    ///
    /// The sticky partition is drawn like [`partition`](Self::partition)'s `random`, and
    /// drawn again once `sticky_linger_ms` has passed since the last draw, or at once
    /// when the current one has no leader.
    pub fn is_sticky(self, key: Option<&[u8]>, sticky_linger_ms: u64) -> bool {
        if sticky_linger_ms == 0 {
            return false;
        }
        match (self, key) {
            (Partitioner::Consistent | Partitioner::Murmur2 | Partitioner::Fnv1a, _) => false,
            (_, None) => true,
            (Partitioner::ConsistentRandom, Some(k)) => k.is_empty(),
            (_, Some(_)) => false,
        }
    }
}

impl fmt::Display for Partitioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Partitioner {
    type Err = Error;

    /// Parses a `partitioner` property value; exact names only, as librdkafka.
    fn from_str(s: &str) -> Result<Self, Error> {
        Partitioner::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Partitioner::ALL.iter().map(|p| p.name()).collect();
                Error::new(
                    local::INVALID_CONFIG,
                    format!(
                        "invalid value '{s}' for configuration property 'partitioner': \
                         expected one of {}",
                        names.join(", ")
                    ),
                )
            })
    }
}

/// MurmurHash2 (32 bits, seed 0x9747b28c, little-endian words) as the Java client's
/// `Utils.murmur2` and librdkafka's `rd_murmur2` compute it. Java's int is this value's
/// bits; its partitioner takes `(hash & 0x7fffffff) % partitions`.
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Both implementations mix in the length as 32 bits.
    let mut h = SEED ^ data.len() as u32;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        let mut k = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u32::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

/// FNV-1a (32 bits) made non-negative as librdkafka's `rd_fnv1a` does, to match Sarama's
/// hash partitioner: the hash read as an i32, negated when negative (so 0x80000000 stays
/// 0x80000000).
pub fn fnv1a(data: &[u8]) -> u32 {
    const PRIME: u32 = 0x0100_0193;
    const OFFSET: u32 = 0x811c_9dc5;
    let h = data
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u32::from(b)).wrapping_mul(PRIME)) as i32;
    h.wrapping_abs() as u32
}

/// CRC-32 (IEEE, zlib's `crc32`), the hash of the `consistent` partitioners.
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: &[u8] = b"1234";
    const LONG: &[u8] = b"PreAmbleWillBeRemoved,ThePrePartThatIs";

    /// librdkafka's unit test keys (rdmurmur2.c, rdfnv1a.c): whole strings and strings
    /// less their first 1-3 bytes (unaligned there), then the empty key.
    fn rdkafka_keys() -> Vec<&'static [u8]> {
        vec![
            b"kafka",
            b"giberish123456789",
            SHORT,
            &SHORT[1..],
            &SHORT[2..],
            &SHORT[3..],
            LONG,
            &LONG[1..],
            &LONG[2..],
            &LONG[3..],
            b"",
        ]
    }

    #[test]
    fn murmur2_matches_librdkafka_unit_test() {
        let want: [u32; 11] = [
            0xd067cf64, 0x8f552b0c, 0x9fc97b14, 0xe7c009ca, 0x873930da, 0x5a4b5ca1, 0x78424f1c,
            0x4a62b377, 0xe0e4e09e, 0x62b8b43f, 0x106e08d9,
        ];
        for (key, want) in rdkafka_keys().into_iter().zip(want) {
            assert_eq!(
                murmur2(key),
                want,
                "murmur2({:?})",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn murmur2_matches_kafka_utils_test() {
        // apache/kafka clients/.../common/utils/UtilsTest.java, testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (key, want) in cases {
            assert_eq!(
                murmur2(key) as i32,
                want,
                "{:?}",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn fnv1a_matches_librdkafka_unit_test() {
        let want: [u32; 11] = [
            0x0d33c4e1, 0x77a58295, 0x023bdd03, 0x2dea3cd2, 0x740fa83e, 0x310ca263, 0x65cbd69c,
            0x6e49c79a, 0x69eed356, 0x6abcc023, 0x7ee3623b,
        ];
        for (key, want) in rdkafka_keys().into_iter().zip(want) {
            assert_eq!(
                fnv1a(key),
                want,
                "fnv1a({:?})",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn fnv1a_of_the_most_negative_hash_stays_as_rdkafka_leaves_it() {
        // The raw FNV-1a of this key is 0x80000000: rd_fnv1a negates a negative i32, and
        // i32::MIN negates to itself.
        let key = [0xe7, 0xa3, 0x00, 0x6e, 0x79];
        assert_eq!(fnv1a(&key), 0x8000_0000);
        // An unsigned remainder, as librdkafka's `uint32_t % int32_t`.
        assert_eq!(
            Partitioner::Fnv1a.key_partition(Some(&key), 3),
            Some((0x8000_0000u32 % 3) as i32)
        );
    }

    #[test]
    fn crc32_is_zlib_crc32() {
        // The values librdkafka's tests/0048-partitioner.c expects.
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"23456"), 0xb1b451d7);
        assert_eq!(
            crc32(b"this is another string with more length to it perhaps"),
            0xb0150df7
        );
        assert_eq!(crc32(b"hejsan"), 0xd077037e);
    }

    /// librdkafka's tests/0048-partitioner.c: keys NULL, "", "23456", a long string and
    /// "hejsan", 7 and 17 partitions; -1 marks a random partition.
    #[test]
    fn partitions_match_librdkafka_test_0048() {
        let keys: [Option<&[u8]>; 5] = [
            None,
            Some(b""),
            Some(b"23456"),
            Some(b"this is another string with more length to it perhaps"),
            Some(b"hejsan"),
        ];
        const R: i64 = -1;
        let table: [(Partitioner, [i64; 5]); 7] = [
            (Partitioner::Random, [R, R, R, R, R]),
            (
                Partitioner::Consistent,
                [0, 0, 0xb1b451d7, 0xb0150df7, 0xd077037e],
            ),
            (
                Partitioner::ConsistentRandom,
                [R, R, 0xb1b451d7, 0xb0150df7, 0xd077037e],
            ),
            (
                Partitioner::Murmur2,
                [0x106e08d9, 0x106e08d9, 0x058d780f, 0x4f7703da, 0x5ec19395],
            ),
            (
                Partitioner::Murmur2Random,
                [R, 0x106e08d9, 0x058d780f, 0x4f7703da, 0x5ec19395],
            ),
            (
                Partitioner::Fnv1a,
                [0x7ee3623b, 0x7ee3623b, 0x27e6f469, 0x155e3e5f, 0x17b1e27a],
            ),
            (
                Partitioner::Fnv1aRandom,
                [R, 0x7ee3623b, 0x27e6f469, 0x155e3e5f, 0x17b1e27a],
            ),
        ];
        for n in [7, 17] {
            for (p, hashes) in table {
                for (key, hash) in keys.iter().zip(hashes) {
                    let want = (hash >= 0).then(|| (hash % i64::from(n)) as i32);
                    assert_eq!(p.key_partition(*key, n), want, "{p} {key:?} of {n}");
                }
            }
        }
    }

    #[test]
    fn partition_calls_random_only_for_random_cases() {
        for p in Partitioner::ALL {
            for key in [None, Some(&b""[..]), Some(&b"k"[..])] {
                let mut called = false;
                let got = p.partition(key, 5, || {
                    called = true;
                    4
                });
                match p.key_partition(key, 5) {
                    Some(want) => assert!(!called && got == want, "{p} {key:?}"),
                    None => assert!(called && got == 4, "{p} {key:?}"),
                }
            }
        }
    }

    #[test]
    fn one_partition_and_no_partitions() {
        for p in Partitioner::ALL {
            for key in [None, Some(&b""[..]), Some(&b"key"[..])] {
                assert!(matches!(p.key_partition(key, 1), Some(0) | None));
                assert_eq!(p.key_partition(key, 0), Some(UNASSIGNED));
                assert_eq!(p.key_partition(key, -3), Some(UNASSIGNED));
                let got = p.partition(key, 0, || panic!("random drawn without partitions"));
                assert_eq!(got, UNASSIGNED);
            }
        }
    }

    #[test]
    fn keys_with_high_hash_bits_use_unsigned_remainders() {
        // CRC-32 of "hejsan" is 0xd077037e: as i32 it is negative.
        let n = 7;
        assert_eq!(
            Partitioner::Consistent.key_partition(Some(b"hejsan"), n),
            Some((0xd077037eu32 % 7) as i32)
        );
    }

    #[test]
    fn sticky_cases_are_librdkafkas() {
        use Partitioner::*;
        let null = None;
        let empty = Some(&b""[..]);
        let key = Some(&b"k"[..]);
        let sticky = |p: Partitioner, k| p.is_sticky(k, 10);
        for p in [Random, ConsistentRandom, Murmur2Random, Fnv1aRandom] {
            assert!(sticky(p, null), "{p} NULL");
            assert!(!sticky(p, key), "{p} key");
            assert!(!p.is_sticky(null, 0), "{p} NULL, linger 0");
        }
        assert!(sticky(ConsistentRandom, empty));
        for p in [Random, Murmur2Random, Fnv1aRandom] {
            assert!(!sticky(p, empty), "{p} empty");
        }
        for p in [Consistent, Murmur2, Fnv1a] {
            for k in [null, empty, key] {
                assert!(!sticky(p, k), "{p} {k:?}");
            }
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_valid_ones() {
        for p in Partitioner::ALL {
            assert_eq!(p.name().parse::<Partitioner>(), Ok(p));
            assert_eq!(p.to_string(), p.name());
        }
        assert_eq!(Partitioner::default(), Partitioner::ConsistentRandom);
        for bad in ["", "Murmur2", "murmur2 ", "default", "sticky"] {
            let e = bad.parse::<Partitioner>().unwrap_err();
            assert_eq!(e.code, local::INVALID_CONFIG);
            assert!(e.message.contains(&format!("'{bad}'")), "{}", e.message);
            for p in Partitioner::ALL {
                assert!(e.message.contains(p.name()), "{}", e.message);
            }
        }
    }
}
