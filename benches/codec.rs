//! Record-batch codec throughput: `cargo bench --bench codec`.
//!
//! One RecordBatch v2 of 10,000 records (9-byte keys, 100-byte values, no headers; about
//! 1.1 MB uncompressed) is encoded and decoded with every codec. Decoding is
//! `RecordSet::decode` (CRC-32C checked) plus a pass over every record that reads its key
//! and value. MB/s is always the uncompressed batch size (1 MB = 10^6 bytes) per second,
//! so the codecs compare directly. Also measured: CRC-32C (`crc32c`, the checksum of v2
//! batches) and CRC-32 (`crc32fast`, the one of legacy messages) over 1 MiB.
//!
//! Each figure is the median of several samples, each at least `BENCH_SAMPLE_MS`
//! milliseconds (default 200) after a warm-up; `BENCH_SAMPLES` sets the count (default 7).
//!
//! Arguments name the codecs to run (`none`, `gzip`, `snappy`, `lz4`, `zstd`) and `crc`
//! for the checksums, e.g. `cargo bench --bench codec -- none crc`; default all.
//!
//! Values are pseudo-random text over a 32-letter alphabet with repeated words, so they
//! compress to roughly half, like typical JSON or log lines rather than best or worst case.
//! `BENCH_DATA=producer` takes instead the keyless payloads of the producer benchmark's
//! codec runs (`bench/producer_bench.c`, text payloads), so that a codec's own cost (its
//! ns/record minus none's) can be set against what it adds to the producer's CPU.

use bytes::Bytes;
use kafkac::record::{encode_batch, BatchOptions, Compression, DecodeLimits, RecordIn, RecordSet};
use std::hint::black_box;
use std::time::{Duration, Instant};

const RECORDS: usize = 10_000;
const VALUE_LEN: usize = 100;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Keys `key-00000`..; values of words drawn from a small vocabulary of random words.
fn dataset() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let alphabet = b"abcdefghijklmnopqrstuvwxyz012345";
    let vocabulary: Vec<Vec<u8>> = (0..512)
        .map(|_| {
            let len = 2 + (rng.next() % 9) as usize;
            (0..len)
                .map(|_| alphabet[(rng.next() % 32) as usize])
                .collect()
        })
        .collect();
    let keys = (0..RECORDS)
        .map(|i| format!("key-{i:05}").into_bytes())
        .collect();
    let values = (0..RECORDS)
        .map(|_| {
            let mut v = Vec::with_capacity(VALUE_LEN + 16);
            while v.len() < VALUE_LEN {
                if rng.next().is_multiple_of(4) {
                    // A random run: the part that does not compress.
                    v.extend((0..6).map(|_| alphabet[(rng.next() % 32) as usize]));
                } else {
                    v.extend_from_slice(&vocabulary[(rng.next() % 512) as usize]);
                }
                v.push(b' ');
            }
            v.truncate(VALUE_LEN);
            v
        })
        .collect();
    (keys, values)
}

/// `BENCH_DATA=producer`: the payloads of `bench/producer_bench.c -p text` (keyless
/// 100-byte slices of a 4 MiB text of words from a vocabulary of 256, drawn with the same
/// 32-bit xorshift), so the codec's own cost can be set against the producer benchmark's
/// client CPU with and without it.
fn producer_dataset() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    const TEXT_BYTES: usize = 4 << 20;
    let mut xs: u32 = 2_463_534_242;
    let mut next = move || {
        xs ^= xs << 13;
        xs ^= xs >> 17;
        xs ^= xs << 5;
        xs
    };
    let letters = b"abcdefghijklmnopqrstuvwxyz";
    let words: Vec<Vec<u8>> = (0..256)
        .map(|_| {
            let len = 2 + (next() % 8) as usize;
            (0..len).map(|_| letters[(next() % 26) as usize]).collect()
        })
        .collect();
    let n = TEXT_BYTES + VALUE_LEN;
    let mut text = Vec::with_capacity(n + 16);
    while text.len() < n {
        text.extend_from_slice(&words[(next() % 256) as usize]);
        text.push(b' ');
    }
    text.truncate(n);
    let values = (0..RECORDS)
        .map(|i| {
            let at = (i * VALUE_LEN) % (n - VALUE_LEN);
            text[at..at + VALUE_LEN].to_vec()
        })
        .collect();
    (vec![Vec::new(); RECORDS], values)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median seconds per call of `f`: a warm-up, then samples of at least `sample` each.
fn measure(samples: usize, sample: Duration, mut f: impl FnMut()) -> f64 {
    // Warm-up, and a first estimate of the iterations per sample.
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < sample / 2 || n < 3 {
        f();
        n += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / n as f64;
    let iters = ((sample.as_secs_f64() / per_call).ceil() as u64).max(1);
    let mut results: Vec<f64> = (0..samples)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_secs_f64() / iters as f64
        })
        .collect();
    results.sort_by(|a, b| a.partial_cmp(b).unwrap());
    results[results.len() / 2]
}

fn codec_name(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}

fn main() {
    let samples = env_u64("BENCH_SAMPLES", 7).max(1) as usize;
    let sample = Duration::from_millis(env_u64("BENCH_SAMPLE_MS", 200).max(1));

    // cargo passes `--bench`; other arguments select what runs.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected = |name: &str| filter.is_empty() || filter.iter().any(|f| f == name);

    let producer_data = std::env::var("BENCH_DATA").as_deref() == Ok("producer");
    let (keys, values) = if producer_data {
        producer_dataset()
    } else {
        dataset()
    };
    let records: Vec<RecordIn<'_>> = keys
        .iter()
        .zip(&values)
        .enumerate()
        .map(|(i, (k, v))| RecordIn {
            key: (!producer_data).then_some(&k[..]),
            value: Some(v),
            headers: &[],
            timestamp: Some(1_700_000_000_000 + i as i64),
        })
        .collect();
    let payload: usize = keys.iter().chain(&values).map(Vec::len).sum();

    let mut plain = Vec::new();
    encode_batch(&records, &BatchOptions::default(), &mut plain).expect("encode");
    let batch_len = plain.len();
    let mb = batch_len as f64 / 1e6;
    let limits = DecodeLimits {
        max_decompressed: 64 << 20,
        verify_crc: true,
        ..Default::default()
    };

    println!(
        "RecordBatch v2: {RECORDS} records, {}-byte keys, {VALUE_LEN}-byte values; \
         {payload} payload bytes, {batch_len} bytes uncompressed",
        keys[0].len()
    );
    println!("MB/s = uncompressed batch bytes (10^6) per second; median of {samples} samples\n");
    println!(
        "{:<8} {:>10} {:>7} {:>12} {:>10} {:>12} {:>10}",
        "codec", "size (B)", "ratio", "encode MB/s", "ns/record", "decode MB/s", "ns/record"
    );

    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        if !selected(codec_name(codec)) {
            continue;
        }
        let opts = BatchOptions {
            compression: codec,
            now_ms: 1_700_000_000_000,
            ..Default::default()
        };
        let mut out = Vec::with_capacity(batch_len + 1024);
        let enc = measure(samples, sample, || {
            out.clear();
            encode_batch(black_box(&records), &opts, &mut out).expect("encode");
            black_box(&out);
        });
        let encoded = Bytes::from(out);

        // Check once that the batch carries the codec (attributes, bytes 21-22) and
        // decodes to what was encoded.
        {
            let attributes = i16::from_be_bytes([encoded[21], encoded[22]]);
            assert_eq!(attributes & 7, codec as i16, "{}", codec_name(codec));
            let set = RecordSet::decode(encoded.clone(), &limits).expect("decode");
            assert_eq!(set.len(), RECORDS);
            for (i, rec) in set.iter().enumerate() {
                assert_eq!(rec.key, (!producer_data).then_some(&keys[i][..]));
                assert_eq!(rec.value, Some(&values[i][..]));
            }
        }

        let dec = measure(samples, sample, || {
            let set = RecordSet::decode(black_box(encoded.clone()), &limits).expect("decode");
            let mut acc = 0usize;
            for rec in set.iter() {
                let k = rec.key.unwrap_or_default();
                let v = rec.value.unwrap_or_default();
                acc += k.len() + v.len() + v.first().copied().unwrap_or(0) as usize;
                acc ^= k.last().copied().unwrap_or(0) as usize;
            }
            black_box(acc);
        });

        println!(
            "{:<8} {:>10} {:>7.3} {:>12.0} {:>10.1} {:>12.0} {:>10.1}",
            codec_name(codec),
            encoded.len(),
            encoded.len() as f64 / batch_len as f64,
            mb / enc,
            enc * 1e9 / RECORDS as f64,
            mb / dec,
            dec * 1e9 / RECORDS as f64,
        );
    }

    if !selected("crc") {
        return;
    }
    let data: Vec<u8> = (0..1usize << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    // The check values of both CRCs, so the figures are of the right functions.
    assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    assert_eq!(crc32fast::hash(b"123456789"), 0xcbf4_3926);
    println!("\n{:<24} {:>10}", "checksum over 1 MiB", "MB/s");
    let c = measure(samples, sample, || {
        black_box(crc32c::crc32c(black_box(&data)));
    });
    println!(
        "{:<24} {:>10.0}",
        "CRC-32C (crc32c)",
        data.len() as f64 / 1e6 / c
    );
    let c = measure(samples, sample, || {
        black_box(crc32fast::hash(black_box(&data)));
    });
    println!(
        "{:<24} {:>10.0}",
        "CRC-32 (crc32fast)",
        data.len() as f64 / 1e6 / c
    );
}
