//! Reading a `records` field: v2 batches and legacy messages into one flat [`RecordSet`].

use super::compression::decompress_magic;
use super::{legacy, v2, Compression};
use crate::protocol::{DecodeError, DecodeErrorKind, Reader};
use bytes::Bytes;
use std::fmt;

/// What a record's timestamp means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// Set by the producer.
    CreateTime,
    /// Set by the broker when it appended the batch.
    LogAppendTime,
    /// Magic 0 messages carry no timestamp (it reads as -1).
    NoTimestamp,
}

/// Bounds and checks applied by [`RecordSet::decode`].
#[derive(Debug, Clone)]
pub struct DecodeLimits {
    /// Most bytes that decompression may produce in one decode, over all compressed
    /// batches of the input together (default 64 MiB). This bounds the memory a decode
    /// can take beyond its input: more is a [`DecodeErrorKind::Compression`] error.
    pub max_decompressed: usize,
    /// Check batch and message CRCs (default true). A mismatch is an error.
    pub verify_crc: bool,
    /// Leave out the records of control batches (transaction markers) (default true).
    /// Their offsets still count towards [`RecordSet::next_offset`].
    pub skip_control: bool,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_decompressed: 64 << 20,
            verify_crc: true,
            skip_control: true,
        }
    }
}

/// A byte range of one of the set's buffers; `len == NULL` is a null value.
#[derive(Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    const NULL_LEN: u32 = u32::MAX;
    const NULL: Span = Span {
        start: 0,
        len: Span::NULL_LEN,
    };

    #[inline]
    fn get(self, buf: &[u8]) -> Option<&[u8]> {
        if self.len == Span::NULL_LEN {
            None
        } else {
            let start = self.start as usize;
            Some(&buf[start..start + self.len as usize])
        }
    }
}

#[derive(Clone, Copy)]
struct Hdr {
    key: Span,
    value: Span,
}

const TS_CREATE: u8 = 0;
const TS_APPEND: u8 = 1;
const TS_NONE: u8 = 2;
const TS_MASK: u8 = 0x03;
const FLAG_CONTROL: u8 = 0x04;
const FLAG_TRANSACTIONAL: u8 = 0x08;

/// One decoded record, stored compactly; `buf` indexes [`RecordSet::bufs`].
#[derive(Clone, Copy)]
struct Rec {
    offset: i64,
    timestamp: i64,
    producer_id: i64,
    key: Span,
    value: Span,
    hdr_start: u32,
    hdr_count: u32,
    leader_epoch: i32,
    buf: u32,
    magic: i8,
    flags: u8,
}

/// A decoded records field (any mix of v2 batches and legacy v0/v1 message sets). Owns
/// the input (a zero-copy `Bytes`) and any decompressed buffers; records are views into
/// them.
pub struct RecordSet {
    /// Buffer 0 is the input; the others hold decompressed batches.
    bufs: Vec<Bytes>,
    recs: Vec<Rec>,
    hdrs: Vec<Hdr>,
    truncated: bool,
    next_offset: Option<i64>,
}

/// One record of a [`RecordSet`].
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// The record belongs to a control batch (a transaction marker); only seen with
    /// [`DecodeLimits::skip_control`] off.
    pub is_control: bool,
    /// The batch's transactional attribute.
    pub is_transactional: bool,
    /// -1 for legacy messages and batches without a producer id.
    pub producer_id: i64,
    /// The batch's partition leader epoch; -1 for legacy messages.
    pub partition_leader_epoch: i32,
    pub magic: i8,
    headers: Headers<'a>,
}

#[derive(Clone, Copy)]
struct Headers<'a> {
    buf: &'a [u8],
    list: &'a [Hdr],
}

impl fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.list
                    .iter()
                    .map(|h| (h.key.get(self.buf).unwrap_or(&[]), h.value.get(self.buf))),
            )
            .finish()
    }
}

impl<'a> RecordRef<'a> {
    /// The record's headers in order, as (key, value) pairs.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a {
        let buf = self.headers.buf;
        self.headers
            .list
            .iter()
            .map(move |h| (h.key.get(buf).unwrap_or(&[]), h.value.get(buf)))
    }

    pub fn header_count(&self) -> usize {
        self.headers.list.len()
    }
}

impl fmt::Debug for RecordSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordSet")
            .field("len", &self.recs.len())
            .field("truncated", &self.truncated)
            .field("next_offset", &self.next_offset)
            .finish_non_exhaustive()
    }
}

impl RecordSet {
    /// Decodes a records field. Whole batches before a partial one at the end are kept
    /// and [`truncated`](Self::truncated) is set; anything malformed is an error.
    pub fn decode(input: Bytes, limits: &DecodeLimits) -> Result<RecordSet, DecodeError> {
        if input.len() >= u32::MAX as usize {
            return Err(DecodeError::new(
                DecodeErrorKind::LengthTooLarge {
                    len: input.len() as u64,
                    limit: u32::MAX as u64 - 1,
                },
                0,
            ));
        }
        let mut d = Decoder {
            limits,
            budget: limits.max_decompressed,
            recs: Vec::new(),
            hdrs: Vec::new(),
            bufs: vec![input.clone()],
            next_offset: None,
        };
        let truncated = d.run(&input)?;
        Ok(RecordSet {
            bufs: d.bufs,
            recs: d.recs,
            hdrs: d.hdrs,
            truncated,
            next_offset: d.next_offset,
        })
    }

    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<RecordRef<'_>> {
        self.recs.get(i).map(|r| self.view(r))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = RecordRef<'_>> + DoubleEndedIterator + '_ {
        self.recs.iter().map(move |r| self.view(r))
    }

    /// Drops the records before `offset`. A broker answers a fetch with whole batches, so
    /// the first batch may start before the offset asked for.
    pub fn drop_before(&mut self, offset: i64) {
        let first = self.recs.iter().position(|r| r.offset >= offset);
        self.recs.drain(..first.unwrap_or(self.recs.len()));
    }

    /// True when the input ended in a partial batch (the broker cut at max bytes); whole
    /// batches before it are decoded.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Offset after the last decoded batch (last_offset_delta+base+1 for v2), so a
    /// consumer can continue past a batch whose records were all control/skipped. None if
    /// no batch.
    pub fn next_offset(&self) -> Option<i64> {
        self.next_offset
    }

    #[inline]
    fn view(&self, r: &Rec) -> RecordRef<'_> {
        let buf: &[u8] = &self.bufs[r.buf as usize];
        let hdr_start = r.hdr_start as usize;
        RecordRef {
            offset: r.offset,
            timestamp: r.timestamp,
            timestamp_type: match r.flags & TS_MASK {
                TS_CREATE => TimestampType::CreateTime,
                TS_APPEND => TimestampType::LogAppendTime,
                _ => TimestampType::NoTimestamp,
            },
            key: r.key.get(buf),
            value: r.value.get(buf),
            is_control: r.flags & FLAG_CONTROL != 0,
            is_transactional: r.flags & FLAG_TRANSACTIONAL != 0,
            producer_id: r.producer_id,
            partition_leader_epoch: r.leader_epoch,
            magic: r.magic,
            headers: Headers {
                buf,
                list: &self.hdrs[hdr_start..hdr_start + r.hdr_count as usize],
            },
        }
    }
}

/// What every record of one v2 batch shares.
struct BatchInfo {
    base_offset: i64,
    base_timestamp: i64,
    /// The batch's max timestamp when it is LogAppendTime.
    append_time: Option<i64>,
    producer_id: i64,
    leader_epoch: i32,
    flags: u8,
    buf: u32,
}

struct Decoder<'l> {
    limits: &'l DecodeLimits,
    /// Decompressed bytes still allowed.
    budget: usize,
    recs: Vec<Rec>,
    hdrs: Vec<Hdr>,
    bufs: Vec<Bytes>,
    next_offset: Option<i64>,
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// A reader over `buf[..end]` positioned at `start`, so positions are buffer offsets.
fn reader_at(buf: &[u8], start: usize, end: usize) -> Result<Reader<'_>, DecodeError> {
    let mut r = Reader::new(&buf[..end]);
    r.take(start)?;
    Ok(r)
}

fn span(start: usize, len: usize) -> Span {
    // Buffers are shorter than u32::MAX (checked), so neither conversion truncates.
    Span {
        start: start as u32,
        len: len as u32,
    }
}

/// A varint-length-prefixed nullable byte string.
#[inline]
fn var_bytes(r: &mut Reader<'_>) -> Result<Span, DecodeError> {
    let at = r.position();
    let n = r.varint()?;
    nullable_span(r, n, at)
}

/// An i32-length-prefixed nullable byte string.
fn bytes32(r: &mut Reader<'_>) -> Result<Span, DecodeError> {
    let at = r.position();
    let n = r.i32()?;
    nullable_span(r, n, at)
}

/// The `n` bytes after a length prefix read at `at`: -1 is null, other negatives are errors.
#[inline]
fn nullable_span(r: &mut Reader<'_>, n: i32, at: usize) -> Result<Span, DecodeError> {
    if n == -1 {
        return Ok(Span::NULL);
    }
    if n < 0 {
        return Err(DecodeError::new(
            DecodeErrorKind::NegativeLength(n.into()),
            at,
        ));
    }
    let start = r.position();
    r.take(n as usize)?;
    Ok(span(start, n as usize))
}

/// The fields of one legacy message.
struct LegacyMessage {
    crc: u32,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Span,
    value: Span,
}

/// Reads the message in `buf[start..end]` (from its crc to its end).
fn legacy_message(buf: &[u8], start: usize, end: usize) -> Result<LegacyMessage, DecodeError> {
    let mut r = reader_at(buf, start, end)?;
    let crc = r.u32()?;
    let magic = r.i8()?;
    let attributes = r.i8()?;
    let timestamp = if magic == 1 { r.i64()? } else { -1 };
    let key = bytes32(&mut r).map_err(|e| e.in_field("key"))?;
    let value = bytes32(&mut r).map_err(|e| e.in_field("value"))?;
    if !r.is_empty() {
        return Err(DecodeError::invalid(
            format!("{} bytes follow the message value", r.remaining()),
            r.position(),
        ));
    }
    Ok(LegacyMessage {
        crc,
        magic,
        attributes,
        timestamp,
        key,
        value,
    })
}

fn crc_error(base_offset: i64, expected: u32, computed: u32, at: usize) -> DecodeError {
    DecodeError::new(
        DecodeErrorKind::Crc {
            base_offset,
            expected,
            computed,
        },
        at,
    )
    .in_field("crc")
}

fn min_legacy_size(magic: i8) -> usize {
    if magic == 0 {
        legacy::OVERHEAD_V0
    } else {
        legacy::OVERHEAD_V1
    }
}

impl Decoder<'_> {
    /// Decodes every whole batch of `data`; returns whether a partial one ended it.
    fn run(&mut self, data: &[u8]) -> Result<bool, DecodeError> {
        let mut pos = 0;
        while pos < data.len() {
            let rem = data.len() - pos;
            if rem < v2::LOG_OVERHEAD {
                return Ok(true);
            }
            let size = be_i32(data, pos + 8);
            if size < legacy::OVERHEAD_V0 as i32 {
                return Err(DecodeError::invalid(
                    format!("batch length {size} is below the smallest message"),
                    pos + 8,
                )
                .in_field("batch_length"));
            }
            let end = pos + v2::LOG_OVERHEAD + size as usize;
            if end > data.len() {
                return Ok(true);
            }
            match data[pos + v2::MAGIC_OFFSET] as i8 {
                2 => self.v2_batch(data, pos, end)?,
                m @ (0 | 1) => self.legacy_entry(data, pos, end, m)?,
                m => {
                    return Err(DecodeError::invalid(
                        format!("unknown record format (magic {m})"),
                        pos + v2::MAGIC_OFFSET,
                    )
                    .in_field("magic"))
                }
            }
            pos = end;
        }
        Ok(false)
    }

    /// Takes a decompressed buffer's bytes out of the budget.
    fn decompress(
        &mut self,
        codec: Compression,
        data: &[u8],
        magic: i8,
        at: usize,
    ) -> Result<Vec<u8>, DecodeError> {
        let limit = self.budget.min(u32::MAX as usize - 1);
        let mut out = Vec::new();
        decompress_magic(codec, data, magic, limit, &mut out).map_err(|mut e| {
            e.offset = at;
            e.in_field("records")
        })?;
        self.budget -= out.len();
        Ok(out)
    }

    fn v2_batch(&mut self, data: &[u8], pos: usize, end: usize) -> Result<(), DecodeError> {
        let b = &data[pos..end];
        if b.len() < v2::HEADER_LEN {
            return Err(DecodeError::invalid(
                format!(
                    "record batch length {} is below its {}-byte header",
                    b.len() - v2::LOG_OVERHEAD,
                    v2::HEADER_LEN - v2::LOG_OVERHEAD
                ),
                pos + 8,
            )
            .in_field("batch_length"));
        }
        let base_offset = be_i64(b, 0);
        let leader_epoch = be_i32(b, 12);
        let crc = be_i32(b, v2::CRC_OFFSET) as u32;
        let attributes = i16::from_be_bytes([b[21], b[22]]);
        let last_offset_delta = be_i32(b, 23);
        let base_timestamp = be_i64(b, 27);
        let max_timestamp = be_i64(b, 35);
        let producer_id = be_i64(b, 43);
        let count = be_i32(b, 57);

        if self.limits.verify_crc {
            let computed = crc32c::crc32c(&b[v2::ATTRIBUTES_OFFSET..]);
            if computed != crc {
                return Err(crc_error(base_offset, crc, computed, pos + v2::CRC_OFFSET));
            }
        }
        let codec = Compression::from_attributes(attributes).map_err(|mut e| {
            e.offset = pos + v2::ATTRIBUTES_OFFSET;
            e.in_field("attributes")
        })?;
        let control = attributes & v2::CONTROL_BIT != 0;
        self.next_offset = Some(
            base_offset
                .wrapping_add(last_offset_delta.into())
                .wrapping_add(1),
        );
        if count < 0 {
            return Err(
                DecodeError::new(DecodeErrorKind::NegativeLength(count.into()), pos + 57)
                    .in_field("record_count"),
            );
        }
        if control && self.limits.skip_control {
            return Ok(());
        }
        let mut flags = if attributes & v2::TIMESTAMP_TYPE_BIT != 0 {
            TS_APPEND
        } else {
            TS_CREATE
        };
        if control {
            flags |= FLAG_CONTROL;
        }
        if attributes & v2::TRANSACTIONAL_BIT != 0 {
            flags |= FLAG_TRANSACTIONAL;
        }
        let mut info = BatchInfo {
            base_offset,
            base_timestamp,
            append_time: (flags & TS_MASK == TS_APPEND).then_some(max_timestamp),
            producer_id,
            leader_epoch,
            flags,
            buf: 0,
        };
        let records_at = pos + v2::HEADER_LEN;
        if codec == Compression::None {
            self.v2_records(data, records_at, end, count as usize, &info)
        } else if count == 0 {
            Ok(())
        } else {
            let raw = self.decompress(codec, &data[records_at..end], 2, records_at)?;
            info.buf = self.bufs.len() as u32;
            self.v2_records(&raw, 0, raw.len(), count as usize, &info)?;
            self.bufs.push(Bytes::from(raw));
            Ok(())
        }
    }

    /// Reads `count` records filling exactly `buf[start..end]`.
    fn v2_records(
        &mut self,
        buf: &[u8],
        start: usize,
        end: usize,
        count: usize,
        info: &BatchInfo,
    ) -> Result<(), DecodeError> {
        // The smallest record takes 7 bytes: length, attributes, timestamp and offset
        // deltas, key and value lengths, header count.
        let most = (end - start) / 7;
        if count > most {
            return Err(DecodeError::new(
                DecodeErrorKind::LengthTooLarge {
                    len: count as u64,
                    limit: most as u64,
                },
                start,
            )
            .in_field("record_count"));
        }
        self.recs.reserve(count);
        let mut r = reader_at(buf, start, end)?;
        for _ in 0..count {
            let at = r.position();
            let len = r.varint().map_err(|e| e.in_field("record_length"))?;
            if len < 0 {
                return Err(
                    DecodeError::new(DecodeErrorKind::NegativeLength(len.into()), at)
                        .in_field("record_length"),
                );
            }
            let body_at = r.position();
            let body_end = body_at + r.check_len(len as usize)?;
            let rec = self
                .v2_record(buf, body_at, body_end, info)
                .map_err(|e| e.in_field("record"))?;
            self.recs.push(rec);
            r.take(len as usize)?;
        }
        if !r.is_empty() {
            return Err(DecodeError::invalid(
                format!(
                    "{} bytes follow the last of the batch's {count} records",
                    r.remaining()
                ),
                r.position(),
            ));
        }
        Ok(())
    }

    #[inline]
    fn v2_record(
        &mut self,
        buf: &[u8],
        start: usize,
        end: usize,
        info: &BatchInfo,
    ) -> Result<Rec, DecodeError> {
        let mut r = reader_at(buf, start, end)?;
        let _attributes = r.i8()?;
        let ts_delta = r.varlong()?;
        let offset_delta = r.varint()?;
        let key = var_bytes(&mut r).map_err(|e| e.in_field("key"))?;
        let value = var_bytes(&mut r).map_err(|e| e.in_field("value"))?;
        let at = r.position();
        let n = r.varint()?;
        if n < 0 {
            return Err(
                DecodeError::new(DecodeErrorKind::NegativeLength(n.into()), at)
                    .in_field("header_count"),
            );
        }
        // A header takes at least 2 bytes.
        let n = n as usize;
        if n > r.remaining() / 2 {
            return Err(DecodeError::new(
                DecodeErrorKind::LengthTooLarge {
                    len: n as u64,
                    limit: (r.remaining() / 2) as u64,
                },
                at,
            )
            .in_field("header_count"));
        }
        let hdr_start = u32::try_from(self.hdrs.len())
            .map_err(|_| DecodeError::invalid("too many headers", at))?;
        for _ in 0..n {
            let key = var_bytes(&mut r).map_err(|e| e.in_field("header_key"))?;
            if key.len == Span::NULL_LEN {
                return Err(
                    DecodeError::new(DecodeErrorKind::UnexpectedNull, r.position() - 1)
                        .in_field("header_key"),
                );
            }
            let value = var_bytes(&mut r).map_err(|e| e.in_field("header_value"))?;
            self.hdrs.push(Hdr { key, value });
        }
        if !r.is_empty() {
            return Err(DecodeError::invalid(
                format!(
                    "record length {} leaves {} bytes after its fields",
                    end - start,
                    r.remaining()
                ),
                r.position(),
            ));
        }
        Ok(Rec {
            offset: info.base_offset.wrapping_add(offset_delta.into()),
            timestamp: info
                .append_time
                .unwrap_or_else(|| info.base_timestamp.wrapping_add(ts_delta)),
            producer_id: info.producer_id,
            key,
            value,
            hdr_start,
            hdr_count: n as u32,
            leader_epoch: info.leader_epoch,
            buf: info.buf,
            magic: 2,
            flags: info.flags,
        })
    }

    /// One top-level legacy message in `data[pos..end]`: a plain one, or a compressed
    /// wrapper whose value is a message set.
    fn legacy_entry(
        &mut self,
        data: &[u8],
        pos: usize,
        end: usize,
        magic: i8,
    ) -> Result<(), DecodeError> {
        let offset = be_i64(data, pos);
        if end - pos - v2::LOG_OVERHEAD < min_legacy_size(magic) {
            return Err(DecodeError::invalid(
                format!(
                    "message length {} is below the magic {magic} minimum",
                    end - pos - v2::LOG_OVERHEAD
                ),
                pos + 8,
            )
            .in_field("message_size"));
        }
        let msg = legacy_message(data, pos + v2::LOG_OVERHEAD, end)?;
        if self.limits.verify_crc {
            let computed = crc32fast::hash(&data[pos + v2::MAGIC_OFFSET..end]);
            if computed != msg.crc {
                return Err(crc_error(offset, msg.crc, computed, pos + v2::LOG_OVERHEAD));
            }
        }
        let codec = Compression::from_attributes(msg.attributes.into()).map_err(|mut e| {
            e.offset = pos + 17;
            e.in_field("attributes")
        })?;
        let ts_flags = if magic == 0 {
            TS_NONE
        } else if msg.attributes & legacy::TIMESTAMP_TYPE_BIT != 0 {
            TS_APPEND
        } else {
            TS_CREATE
        };
        self.next_offset = Some(offset.wrapping_add(1));
        if codec == Compression::None {
            self.recs
                .push(legacy_rec(offset, &msg, ts_flags, msg.timestamp, 0));
            return Ok(());
        }
        if codec == Compression::Zstd {
            return Err(
                DecodeError::invalid(format!("zstd in a magic {magic} message"), pos + 17)
                    .in_field("attributes"),
            );
        }
        let Some(value) = msg.value.get(data) else {
            return Err(DecodeError::invalid(
                "compressed message with a null value",
                pos + v2::LOG_OVERHEAD,
            )
            .in_field("value"));
        };
        let at = msg.value.start as usize;
        let raw = self.decompress(codec, value, magic, at)?;
        let buf = self.bufs.len() as u32;
        let first = self.recs.len();
        self.inner_messages(&raw, buf, magic, ts_flags, msg.timestamp)?;
        if self.recs.len() == first {
            return Err(DecodeError::invalid(
                "compressed message set holds no messages",
                at,
            ));
        }
        if magic == 1 {
            // Inner offsets are relative; the wrapper carries the last one's absolute
            // offset (or 0 from some old producers, where the inner ones are kept).
            let last_inner = self.recs[self.recs.len() - 1].offset;
            let base = if offset == 0 {
                0
            } else if offset < last_inner {
                return Err(DecodeError::invalid(
                    format!("wrapper offset {offset} is below its last inner offset {last_inner}"),
                    pos,
                ));
            } else {
                offset - last_inner
            };
            for r in &mut self.recs[first..] {
                r.offset = r.offset.wrapping_add(base);
            }
        }
        // The wrapper's offset is the last inner one's, except where a producer left it 0.
        let last = self.recs[self.recs.len() - 1].offset.max(offset);
        self.next_offset = Some(last.wrapping_add(1));
        self.bufs.push(Bytes::from(raw));
        Ok(())
    }

    /// The messages of a decompressed wrapper value. They must all be whole and
    /// uncompressed.
    fn inner_messages(
        &mut self,
        raw: &[u8],
        buf: u32,
        wrapper_magic: i8,
        wrapper_ts_flags: u8,
        wrapper_ts: i64,
    ) -> Result<(), DecodeError> {
        self.recs
            .reserve(raw.len() / (v2::LOG_OVERHEAD + legacy::OVERHEAD_V1));
        let mut pos = 0;
        while pos < raw.len() {
            let rem = raw.len() - pos;
            if rem < v2::LOG_OVERHEAD + legacy::OVERHEAD_V0 {
                return Err(DecodeError::invalid(
                    "inner message set ends in a partial message",
                    pos,
                ));
            }
            let offset = be_i64(raw, pos);
            let size = be_i32(raw, pos + 8);
            let magic = raw[pos + v2::MAGIC_OFFSET] as i8;
            if magic != 0 && magic != 1 {
                return Err(DecodeError::invalid(
                    format!("inner message with magic {magic}"),
                    pos + v2::MAGIC_OFFSET,
                ));
            }
            if size < 0
                || (size as usize) < min_legacy_size(magic)
                || size as usize > rem - v2::LOG_OVERHEAD
            {
                return Err(DecodeError::invalid(
                    format!("inner message length {size} does not fit"),
                    pos + 8,
                ));
            }
            let end = pos + v2::LOG_OVERHEAD + size as usize;
            let msg = legacy_message(raw, pos + v2::LOG_OVERHEAD, end)?;
            if self.limits.verify_crc {
                let computed = crc32fast::hash(&raw[pos + v2::MAGIC_OFFSET..end]);
                if computed != msg.crc {
                    return Err(crc_error(offset, msg.crc, computed, pos + v2::LOG_OVERHEAD));
                }
            }
            if msg.attributes & 0x07 != 0 {
                return Err(DecodeError::invalid(
                    "inner messages must not be compressed",
                    pos + 17,
                ));
            }
            let (flags, timestamp) = if magic == 0 {
                (TS_NONE, -1)
            } else if wrapper_magic == 0 {
                let own = if msg.attributes & legacy::TIMESTAMP_TYPE_BIT != 0 {
                    TS_APPEND
                } else {
                    TS_CREATE
                };
                (own, msg.timestamp)
            } else if wrapper_ts_flags == TS_APPEND {
                (TS_APPEND, wrapper_ts)
            } else {
                (TS_CREATE, msg.timestamp)
            };
            self.recs
                .push(legacy_rec(offset, &msg, flags, timestamp, buf));
            pos = end;
        }
        Ok(())
    }
}

fn legacy_rec(offset: i64, msg: &LegacyMessage, flags: u8, timestamp: i64, buf: u32) -> Rec {
    Rec {
        offset,
        timestamp,
        producer_id: -1,
        key: msg.key,
        value: msg.value,
        hdr_start: 0,
        hdr_count: 0,
        leader_epoch: -1,
        buf,
        magic: msg.magic,
        flags,
    }
}
