//! Random values for round-trip property tests of protocol messages.

use super::primitives::{Segments, Uuid};
use bytes::Bytes;

/// A small deterministic generator (xorshift64*), seeded by the property-test runner.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

/// A type whose random values are valid at a given version.
pub trait Random {
    fn random(rng: &mut Rng, version: i16) -> Self;
}

macro_rules! random_int {
    ($($t:ty),*) => {$(
        impl Random for $t {
            fn random(rng: &mut Rng, _: i16) -> Self { rng.next_u64() as $t }
        }
    )*};
}
random_int!(i8, i16, u16, i32, u32, i64);

impl Random for bool {
    fn random(rng: &mut Rng, _: i16) -> Self {
        rng.chance(2)
    }
}

impl Random for f64 {
    fn random(rng: &mut Rng, _: i16) -> Self {
        (rng.next_u64() % 1_000_000) as f64 / 7.0
    }
}

impl Random for Uuid {
    fn random(rng: &mut Rng, _: i16) -> Self {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        b[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
        Uuid(b)
    }
}

impl Random for String {
    fn random(rng: &mut Rng, _: i16) -> Self {
        let n = rng.below(12) as usize;
        let alphabet = "abcdefghijklmnopqrstuvwxyz._-é0123456789";
        let chars: Vec<char> = alphabet.chars().collect();
        (0..n)
            .map(|_| chars[rng.below(chars.len() as u64) as usize])
            .collect()
    }
}

impl Random for Bytes {
    fn random(rng: &mut Rng, _: i16) -> Self {
        let n = rng.below(40) as usize;
        Bytes::from((0..n).map(|_| rng.next_u64() as u8).collect::<Vec<u8>>())
    }
}

impl Random for Segments {
    /// Random bytes in up to three segments.
    fn random(rng: &mut Rng, version: i16) -> Self {
        let parts = 1 + rng.below(3) as usize;
        Segments::new((0..parts).map(|_| Bytes::random(rng, version)).collect())
    }
}

impl<T: Random> Random for Option<T> {
    fn random(rng: &mut Rng, version: i16) -> Self {
        if rng.chance(4) {
            None
        } else {
            Some(T::random(rng, version))
        }
    }
}

impl<T: Random> Random for Vec<T> {
    fn random(rng: &mut Rng, version: i16) -> Self {
        let n = rng.below(4) as usize;
        (0..n).map(|_| T::random(rng, version)).collect()
    }
}

/// Round-trips random values of a request and its response through every version of the
/// request's range: encode, decode, compare, and encode again to the same bytes.
pub fn round_trip_all_versions<R>(seeds: u64)
where
    R: super::Request + Random + PartialEq,
    R::Response: Random + PartialEq,
{
    for version in R::MIN_VERSION..=R::MAX_VERSION {
        let flexible = R::is_flexible(version);
        for seed in 0..seeds {
            let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9) ^ version as u64);
            round_trip_one(&R::random(&mut rng, version), flexible, version);
            round_trip_one(&R::Response::random(&mut rng, version), flexible, version);
        }
    }
}

fn round_trip_one<T: super::Wire + PartialEq + std::fmt::Debug>(
    v: &T,
    flexible: bool,
    version: i16,
) {
    let mut w = super::Writer::new();
    v.write(&mut w, flexible, version);
    let mut r = super::Reader::new(&w.buf);
    let back = T::read(&mut r, flexible, version)
        .unwrap_or_else(|e| panic!("v{version}: decode failed: {e}\nvalue: {v:?}"));
    assert!(
        r.is_empty(),
        "v{version}: {} bytes left over",
        r.remaining()
    );
    assert_eq!(&back, v, "v{version}: round trip changed the value");
    let mut w2 = super::Writer::new();
    back.write(&mut w2, flexible, version);
    assert_eq!(w.buf, w2.buf, "v{version}: re-encoding differs");
}

/// Hostile input: for every version of `R`, encodes a few random responses and checks that
/// every strict prefix of each fails to decode (an error, never a panic), and that random
/// garbage never panics the decoder.
pub fn truncated_responses_fail<R>(seeds: u64)
where
    R: super::Request,
    R::Response: Random,
{
    for version in R::MIN_VERSION..=R::MAX_VERSION {
        let flexible = R::is_flexible(version);
        for seed in 0..seeds {
            let mut rng = Rng::new(seed.wrapping_mul(0x51_7cc1_b727_220a) ^ version as u64);
            let resp = R::Response::random(&mut rng, version);
            let mut w = super::Writer::new();
            super::Wire::write(&resp, &mut w, flexible, version);
            for len in 0..w.buf.len() {
                let mut r = super::Reader::new(&w.buf[..len]);
                assert!(
                    <R::Response as super::Wire>::read(&mut r, flexible, version).is_err(),
                    "v{version}: a {len}-byte prefix of a {}-byte response decoded",
                    w.buf.len()
                );
            }
            let garbage: Vec<u8> = (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect();
            let _ = <R::Response as super::Wire>::read(
                &mut super::Reader::new(&garbage),
                flexible,
                version,
            );
        }
    }
}

/// Checks that a response body decoded with `frame::decode_response` re-encodes to exactly
/// the same bytes: every byte was consumed and nothing was lost (tagged fields included).
/// The body must carry an empty header tag section when the header has one.
pub fn assert_reencodes<R: super::Request>(body: &Bytes, version: i16)
where
    R::Response: PartialEq,
{
    let (cid, resp) = super::frame::decode_response::<R>(body, version).expect("decodes");
    let frame = super::frame::encode_response::<R>(&resp, version, cid);
    assert_eq!(&frame[4..], &body[..], "v{version}: re-encoding differs");
}
