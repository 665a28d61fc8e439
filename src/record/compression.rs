//! The record codecs: none, gzip, snappy, lz4 and zstd, as Kafka frames them.
//!
//! Decompression is always bounded: every codec writes into a buffer that may grow to at
//! most a caller-given number of bytes, checked while the data is produced, so a small
//! "bomb" cannot expand into gigabytes before the check runs.
//!
//! Framing details:
//! - gzip: a gzip stream (several concatenated members are accepted on read).
//! - snappy: written in the xerial block framing of snappy-java, the framing the Java
//!   client writes (`\x82SNAPPY\x00`, version 1, compatible version 1, then
//!   `[i32 BE length, raw snappy block]*` of at most 32 KiB of input each); read either
//!   that framing or a single raw snappy block.
//! - lz4: the LZ4 frame format with independent 64 KiB blocks and no checksums, as
//!   Kafka's `Lz4BlockOutputStream` writes it. Kafka before 0.10 (message format 0)
//!   computed the frame descriptor checksum over the magic number too (KAFKA-3160);
//!   for magic 0 that checksum is ignored on read and written the broken way.
//! - zstd: one or more zstd frames.

use super::Compression;
use crate::protocol::{DecodeError, DecodeErrorKind};
use std::io::{self, Read, Write};

fn compression_error(codec: Compression, e: impl std::fmt::Display) -> DecodeError {
    DecodeError::new(
        DecodeErrorKind::Compression(format!("{}: {e}", codec.name())),
        0,
    )
}

fn limit_error(codec: Compression, limit: usize) -> DecodeError {
    DecodeError::new(
        DecodeErrorKind::Compression(format!(
            "{} output exceeds the limit of {limit} bytes",
            codec.name()
        )),
        0,
    )
}

/// Whether `e`, from decompressing with `codec` within `limit` bytes, says the output
/// would exceed the limit (rather than that the data is corrupt).
pub(crate) fn is_limit_error(e: &DecodeError, codec: Compression, limit: usize) -> bool {
    *e == limit_error(codec, limit)
}

/// Compresses `data` with `codec` and appends the result to `out`. `level` is the
/// codec's level where it has one (gzip 0-9, zstd); `None` takes the codec's default.
pub fn compress(
    codec: Compression,
    level: Option<i32>,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    match codec {
        Compression::None => {
            out.extend_from_slice(data);
            Ok(())
        }
        Compression::Gzip => {
            let level = level.map_or(6, |l| l.clamp(0, 9) as u32);
            let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::new(level));
            enc.write_all(data)
                .and_then(|_| enc.try_finish())
                .map_err(|e| compression_error(codec, e))
        }
        Compression::Snappy => snappy_xerial_compress(data, out),
        Compression::Lz4 => lz4_compress(data, false, out),
        Compression::Zstd => {
            let level = level.unwrap_or(3);
            let mut enc = zstd::stream::write::Encoder::new(out, level)
                .map_err(|e| compression_error(codec, e))?;
            enc.set_pledged_src_size(Some(data.len() as u64))
                .and_then(|_| enc.include_contentsize(true))
                .and_then(|_| enc.write_all(data))
                .and_then(|_| enc.finish().map(drop))
                .map_err(|e| compression_error(codec, e))
        }
    }
}

/// Decompresses `data` and appends the result to `out`, failing with
/// [`DecodeErrorKind::Compression`] if the output would exceed `limit` bytes.
pub fn decompress(
    codec: Compression,
    data: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    decompress_magic(codec, data, 2, limit, out)
}

/// [`decompress`] for a given message format: magic 0 relaxes the LZ4 frame checksum.
pub(crate) fn decompress_magic(
    codec: Compression,
    data: &[u8],
    magic: i8,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    match codec {
        Compression::None => {
            if data.len() > limit {
                return Err(limit_error(codec, limit));
            }
            out.extend_from_slice(data);
            Ok(())
        }
        Compression::Gzip => {
            read_bounded(codec, flate2::read::MultiGzDecoder::new(data), limit, out)
        }
        Compression::Snappy => snappy_decompress(data, limit, out),
        Compression::Lz4 => {
            if magic == 0 {
                let (header, rest) = lz4_fixed_header(data)?;
                let reader = io::Cursor::new(header).chain(rest);
                read_bounded(
                    codec,
                    lz4_flex::frame::FrameDecoder::new(reader),
                    limit,
                    out,
                )
            } else {
                read_bounded(codec, lz4_flex::frame::FrameDecoder::new(data), limit, out)
            }
        }
        Compression::Zstd => {
            if let Some(done) = zstd_one_shot(data, limit, out) {
                return done;
            }
            let mut dec = zstd::stream::read::Decoder::with_buffer(data)
                .map_err(|e| compression_error(codec, e))?;
            // A frame declares the window its decoder must allocate. Allow twice the
            // output limit, at least 2^23 (what levels up to 19 use on streams of unknown
            // size) and at most the library's default of 2^27.
            let log = (usize::BITS - limit.max(1).leading_zeros() + 1).clamp(23, 27);
            dec.window_log_max(log)
                .map_err(|e| compression_error(codec, e))?;
            read_bounded(codec, dec, limit, out)
        }
    }
}

thread_local! {
    /// Each thread's zstd context for one-shot decoding, made on first use and reused:
    /// making one per batch costs an allocation of about 160 KiB and its page faults.
    static ZSTD_DCTX: std::cell::RefCell<Option<zstd::zstd_safe::DCtx<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Decodes `data` in one pass straight into an empty `out` when it is a single zstd frame
/// that declares its size, within `limit`: one buffer of that size (from the pool of
/// released ones, or new), no zeroing, and no window buffer or copy through it (which the stream decoder needs for
/// output that arrives in steps). zstd checks that the output has the declared size.
/// `None` when the data is not such a frame (or `out` is not empty): the stream decoder
/// takes it, and reports what is wrong with it.
fn zstd_one_shot(data: &[u8], limit: usize, out: &mut Vec<u8>) -> Option<Result<(), DecodeError>> {
    use zstd::zstd_safe;
    if !out.is_empty() {
        return None;
    }
    let size = usize::try_from(zstd_safe::get_frame_content_size(data).ok()??).ok()?;
    if size > limit || zstd_safe::find_frame_compressed_size(data).ok()? != data.len() {
        return None;
    }
    ZSTD_DCTX.with(|cell| {
        let mut cell = cell.try_borrow_mut().ok()?;
        if cell.is_none() {
            *cell = Some(zstd_safe::DCtx::try_create()?);
        }
        let dctx = cell.as_mut()?;
        if out.capacity() == 0 {
            *out = super::pool::take_fit(size);
        } else {
            out.reserve_exact(size);
        }
        Some(match dctx.decompress(out, data) {
            Ok(n) if n == size => Ok(()),
            Ok(n) => {
                out.clear();
                Err(compression_error(
                    Compression::Zstd,
                    format!("the frame declares {size} bytes but holds {n}"),
                ))
            }
            Err(code) => {
                out.clear();
                Err(compression_error(
                    Compression::Zstd,
                    zstd_safe::get_error_name(code),
                ))
            }
        })
    })
}

/// Reads `reader` to its end into `out`, at most `limit` bytes. `out` grows by doubling
/// but never reserves past the limit, and each read goes into a zeroed step of at most
/// 64 KiB after what was produced (`read_to_end` may zero, and so make resident, as much
/// spare capacity again as it has read).
fn read_bounded(
    codec: Compression,
    mut reader: impl Read,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let start = out.len();
    // One byte past the limit tells an output of exactly `limit` bytes from a longer one.
    let most = limit.saturating_add(1);
    loop {
        let produced = out.len() - start;
        let step = produced.clamp(4 << 10, 64 << 10).min(most - produced);
        if out.capacity() - out.len() < step {
            out.reserve_exact(produced.max(step).min(most - produced));
        }
        let at = out.len();
        out.resize(at + step, 0);
        match reader.read(&mut out[at..]) {
            Ok(0) => {
                out.truncate(at);
                return Ok(());
            }
            Ok(n) => out.truncate(at + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => out.truncate(at),
            Err(e) => {
                out.truncate(start);
                return Err(compression_error(codec, e));
            }
        }
        if out.len() - start > limit {
            out.truncate(start);
            return Err(limit_error(codec, limit));
        }
    }
}

// ---------------------------------------------------------------------------------------
// snappy

const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;
const XERIAL_BLOCK: usize = 32 * 1024;

fn snappy_xerial_compress(data: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    out.extend_from_slice(XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut enc = snap::raw::Encoder::new();
    for chunk in data.chunks(XERIAL_BLOCK) {
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        let max = snap::raw::max_compress_len(chunk.len());
        out.resize(at + 4 + max, 0);
        let n = enc
            .compress(chunk, &mut out[at + 4..])
            .map_err(|e| compression_error(Compression::Snappy, e))?;
        out.truncate(at + 4 + n);
        out[at..at + 4].copy_from_slice(&(n as i32).to_be_bytes());
    }
    Ok(())
}

/// Decompresses one raw snappy block, appending to `out` within `limit` total bytes
/// appended since `start`.
fn snappy_raw_block(
    block: &[u8],
    start: usize,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let codec = Compression::Snappy;
    let n = snap::raw::decompress_len(block).map_err(|e| compression_error(codec, e))?;
    let used = out.len() - start;
    if n > limit - used {
        return Err(limit_error(codec, limit));
    }
    let at = out.len();
    out.resize(at + n, 0);
    match snap::raw::Decoder::new().decompress(block, &mut out[at..]) {
        Ok(written) if written == n => Ok(()),
        Ok(written) => Err(compression_error(
            codec,
            format!("block decoded to {written} bytes, its header says {n}"),
        )),
        Err(e) => Err(compression_error(codec, e)),
    }
}

fn snappy_decompress(data: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let codec = Compression::Snappy;
    let start = out.len();
    let result = if data.len() >= XERIAL_HEADER_LEN && data.starts_with(XERIAL_MAGIC) {
        // The version and compatible-version fields are not checked: some producers
        // write them in the wrong byte order, and there is only one block format.
        let mut rest = &data[XERIAL_HEADER_LEN..];
        let mut result = Ok(());
        while !rest.is_empty() {
            if rest.len() < 4 {
                result = Err(compression_error(codec, "xerial block length is cut short"));
                break;
            }
            // snappy-java reads concatenated streams: a new header where a length is due.
            if rest.len() >= XERIAL_HEADER_LEN && rest.starts_with(XERIAL_MAGIC) {
                rest = &rest[XERIAL_HEADER_LEN..];
                continue;
            }
            let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
            rest = &rest[4..];
            if len < 0 || len as usize > rest.len() {
                result = Err(compression_error(
                    codec,
                    format!(
                        "xerial block length {len} does not fit the {} bytes that remain",
                        rest.len()
                    ),
                ));
                break;
            }
            let (block, tail) = rest.split_at(len as usize);
            rest = tail;
            if let Err(e) = snappy_raw_block(block, start, limit, out) {
                result = Err(e);
                break;
            }
        }
        result
    } else {
        snappy_raw_block(data, start, limit, out)
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
}

// ---------------------------------------------------------------------------------------
// lz4

const LZ4_MAGIC: u32 = 0x184D_2204;
const LZ4_FLG: u8 = 0x60; // version 01, independent blocks, no checksums, no content size
const LZ4_BD: u8 = 0x40; // 64 KiB maximum block size
const LZ4_BLOCK: usize = 64 * 1024;
const LZ4_UNCOMPRESSED: u32 = 0x8000_0000;

/// Writes one LZ4 frame as Kafka's `Lz4BlockOutputStream` does. With
/// `broken_checksum`, the descriptor checksum also covers the magic number, as Kafka
/// before 0.10 computed it (for message format 0).
pub(crate) fn lz4_compress(
    data: &[u8],
    broken_checksum: bool,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let frame_start = out.len();
    out.extend_from_slice(&LZ4_MAGIC.to_le_bytes());
    out.push(LZ4_FLG);
    out.push(LZ4_BD);
    let covered = if broken_checksum {
        &out[frame_start..]
    } else {
        &out[frame_start + 4..]
    };
    let hc = (xxh32(covered, 0) >> 8) as u8;
    out.push(hc);
    for chunk in data.chunks(LZ4_BLOCK) {
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        out.resize(
            at + 4 + lz4_flex::block::get_maximum_output_size(chunk.len()),
            0,
        );
        let n = lz4_flex::block::compress_into(chunk, &mut out[at + 4..])
            .map_err(|e| compression_error(Compression::Lz4, e))?;
        if n >= chunk.len() {
            // Incompressible: store the block as is, flagged by the high bit.
            out.truncate(at + 4);
            out.extend_from_slice(chunk);
            out[at..at + 4].copy_from_slice(&(chunk.len() as u32 | LZ4_UNCOMPRESSED).to_le_bytes());
        } else {
            out.truncate(at + 4 + n);
            out[at..at + 4].copy_from_slice(&(n as u32).to_le_bytes());
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes()); // end mark
    Ok(())
}

/// Splits an LZ4 frame into its header, with the descriptor checksum recomputed, and
/// the rest: Kafka ignores that checksum for magic 0, where it was written wrongly.
fn lz4_fixed_header(data: &[u8]) -> Result<(Vec<u8>, &[u8]), DecodeError> {
    let codec = Compression::Lz4;
    if data.len() < 7 {
        return Err(compression_error(codec, "frame header is cut short"));
    }
    let flg = data[4];
    let len = 7 + if flg & 0x08 != 0 { 8 } else { 0 } + if flg & 0x01 != 0 { 4 } else { 0 };
    if data.len() < len {
        return Err(compression_error(codec, "frame header is cut short"));
    }
    let mut header = data[..len].to_vec();
    header[len - 1] = (xxh32(&data[4..len - 1], 0) >> 8) as u8;
    Ok((header, &data[len..]))
}

const P1: u32 = 0x9E37_79B1;
const P2: u32 = 0x85EB_CA77;
const P3: u32 = 0xC2B2_AE3D;
const P4: u32 = 0x27D4_EB2F;
const P5: u32 = 0x1656_67B1;

#[inline]
fn xxh32_round(acc: u32, lane: u32) -> u32 {
    acc.wrapping_add(lane.wrapping_mul(P2))
        .rotate_left(13)
        .wrapping_mul(P1)
}

#[inline]
fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// XXH32, the hash of LZ4 frame checksums.
pub(crate) fn xxh32(data: &[u8], seed: u32) -> u32 {
    let mut rest = data;
    let mut h = if data.len() >= 16 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        while rest.len() >= 16 {
            for (i, acc) in v.iter_mut().enumerate() {
                *acc = xxh32_round(*acc, le32(&rest[i * 4..]));
            }
            rest = &rest[16..];
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(data.len() as u32);
    while rest.len() >= 4 {
        h = h
            .wrapping_add(le32(rest).wrapping_mul(P3))
            .rotate_left(17)
            .wrapping_mul(P4);
        rest = &rest[4..];
    }
    for &b in rest {
        h = h
            .wrapping_add(u32::from(b).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^= h >> 16;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    #[test]
    fn xxh32_known_vectors() {
        assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
        assert_eq!(xxh32(b"abc", 0), 0x32D1_53FF);
        assert_eq!(
            xxh32(b"0123456789abcdefghijklmnopqrstuvwxyz", 0),
            0x9AA3_8E7E
        );
    }

    #[test]
    fn round_trip_every_codec() {
        let inputs: [Vec<u8>; 4] = [
            Vec::new(),
            b"hello".to_vec(),
            (0..200_000u32).map(|i| (i % 251) as u8).collect(),
            (0..100_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ];
        for codec in ALL {
            for data in &inputs {
                let mut c = Vec::new();
                compress(codec, None, data, &mut c).unwrap();
                let mut d = vec![7u8];
                decompress(codec, &c, data.len(), &mut d).unwrap();
                assert_eq!(&d[1..], &data[..], "{codec:?}");
                if !data.is_empty() {
                    let mut d = vec![7u8];
                    let e = decompress(codec, &c, data.len() - 1, &mut d).unwrap_err();
                    assert!(
                        matches!(e.kind, DecodeErrorKind::Compression(ref m) if m.contains("exceeds the limit")),
                        "{codec:?}: {e}"
                    );
                    assert_eq!(d, [7u8], "{codec:?}: output left behind");
                }
            }
        }
    }

    #[test]
    fn lz4_frame_is_readable_by_the_reference_decoder_and_matches_kafka_header() {
        let data = b"kafka kafka kafka kafka kafka kafka kafka".repeat(5000);
        let mut c = Vec::new();
        lz4_compress(&data, false, &mut c).unwrap();
        assert_eq!(&c[..6], &[0x04, 0x22, 0x4d, 0x18, 0x60, 0x40]);
        let mut d = Vec::new();
        lz4_flex::frame::FrameDecoder::new(&c[..])
            .read_to_end(&mut d)
            .unwrap();
        assert_eq!(d, data);
    }

    #[test]
    fn lz4_broken_header_checksum_only_for_magic_0() {
        let data = b"old lz4 old lz4 old lz4".repeat(10);
        let mut c = Vec::new();
        lz4_compress(&data, true, &mut c).unwrap();
        let mut d = Vec::new();
        decompress_magic(Compression::Lz4, &c, 0, 1 << 20, &mut d).unwrap();
        assert_eq!(d, data);
        let mut d = Vec::new();
        assert!(decompress_magic(Compression::Lz4, &c, 1, 1 << 20, &mut d).is_err());
    }

    #[test]
    fn snappy_raw_and_xerial_are_both_read() {
        let data = b"snappy snappy snappy".repeat(5000);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        let mut d = Vec::new();
        decompress(Compression::Snappy, &raw, data.len(), &mut d).unwrap();
        assert_eq!(d, data);

        let mut x = Vec::new();
        compress(Compression::Snappy, None, &data, &mut x).unwrap();
        assert_eq!(&x[..16], b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01");
        // Two concatenated xerial streams read as one.
        let mut two = x.clone();
        two.extend_from_slice(&x);
        let mut d = Vec::new();
        decompress(Compression::Snappy, &two, 2 * data.len(), &mut d).unwrap();
        assert_eq!(d.len(), 2 * data.len());
    }

    #[test]
    fn snappy_hostile_lengths() {
        // A raw block whose varint header claims 4 GiB.
        let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        let mut d = Vec::new();
        assert!(decompress(Compression::Snappy, &bomb, 1 << 20, &mut d).is_err());
        assert!(d.capacity() < 1 << 20);
        // A xerial block length beyond the input, and a negative one.
        for len in [1000i32, -5] {
            let mut x = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
            x.extend_from_slice(&len.to_be_bytes());
            x.extend_from_slice(b"abc");
            assert!(decompress(Compression::Snappy, &x, 1 << 20, &mut d).is_err());
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        for n in 0..2000usize {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = n % 97;
            let bytes: Vec<u8> = (0..len).map(|i| (seed >> (i % 56)) as u8).collect();
            for codec in ALL {
                let mut d = Vec::new();
                let _ = decompress(codec, &bytes, 1 << 16, &mut d);
                let _ = decompress_magic(codec, &bytes, 0, 1 << 16, &mut d);
            }
        }
    }

    /// A zstd frame with its size in the header (as this crate and librdkafka write them)
    /// goes the one-pass way; the stream decoder takes every other case. Both give the
    /// same bytes and the same errors.
    #[test]
    fn zstd_one_pass_and_stream_agree() {
        let data = b"zstd one pass, zstd one pass ".repeat(4000);
        let mut framed = Vec::new();
        compress(Compression::Zstd, None, &data, &mut framed).unwrap();
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&framed).ok(),
            Some(Some(data.len() as u64))
        );
        let unsized_frame = zstd::stream::encode_all(&data[..], 3).unwrap();
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&unsized_frame).ok(),
            Some(None)
        );
        for input in [&framed, &unsized_frame] {
            let mut out = Vec::new();
            decompress(Compression::Zstd, input, data.len(), &mut out).unwrap();
            assert_eq!(out, data);
            // One pass takes a buffer of the declared size (at most slack() more, from the
            // pool).
            if input == &framed {
                let cap = out.capacity();
                let most = data.len() + crate::record::pool::slack(data.len());
                assert!(cap >= data.len() && cap <= most);
            }
            // Appending to what `out` holds (the stream decoder does that).
            let mut out = b"head".to_vec();
            decompress(Compression::Zstd, input, data.len(), &mut out).unwrap();
            assert_eq!(&out[..4], b"head");
            assert_eq!(&out[4..], &data[..]);
            // One byte short of the limit: the same error either way.
            let mut out = Vec::new();
            let e = decompress(Compression::Zstd, input, data.len() - 1, &mut out).unwrap_err();
            assert!(
                is_limit_error(&e, Compression::Zstd, data.len() - 1),
                "{e:?}"
            );
            assert!(out.is_empty());
        }
        // Two frames back to back: both are read.
        let two = [framed.clone(), framed.clone()].concat();
        let mut out = Vec::new();
        decompress(Compression::Zstd, &two, 2 * data.len(), &mut out).unwrap();
        assert_eq!(out, [data.clone(), data.clone()].concat());
        // A frame whose header declares one byte more than it holds (the size field is
        // 4 bytes, little-endian, in the header's first 14): an error, never a short or
        // padded output.
        let field = (data.len() as u32).to_le_bytes();
        let at = framed[..14]
            .windows(4)
            .position(|w| w == field)
            .expect("the size field");
        let mut lying = framed.clone();
        lying[at..at + 4].copy_from_slice(&(data.len() as u32 + 1).to_le_bytes());
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&lying).ok(),
            Some(Some(data.len() as u64 + 1))
        );
        let mut out = Vec::new();
        let e = decompress(Compression::Zstd, &lying, 1 << 20, &mut out).unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::Compression(_)), "{e:?}");
        assert!(out.is_empty());
    }
}
