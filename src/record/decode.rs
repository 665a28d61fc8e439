//! Reading a `records` field: v2 batches and legacy messages into one flat [`RecordSet`].

use super::compression::{decompress_magic, is_limit_error};
use super::{legacy, v2, Compression};
use crate::protocol::{DecodeError, DecodeErrorKind, Reader};
use bytes::Bytes;
use std::fmt;
use std::mem::size_of;

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
    /// Most bytes of memory one decode may take beyond its input (default 64 MiB): the
    /// decompressed records of every compressed batch, plus the index of decoded records
    /// (40 bytes a record, 16 a header, 24 a batch, 32 a decompressed buffer; see
    /// [`RecordSet::charged_bytes`]). The budget is checked before memory is taken. More
    /// is an error: [`DecodeErrorKind::Compression`] when a compressed batch or message
    /// set (its decompressed bytes, or the index of its records) does not fit,
    /// [`DecodeErrorKind::Invalid`] when the index of an uncompressed one does not.
    /// [`RecordSet::decode_within`] takes a [`DecodeBudget`] instead, which several
    /// decodes may share.
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

/// One decoded record, stored compactly (40 bytes): what its batch shares is in
/// [`RecordSet::batches`], and its headers are `hdrs[hdr_start..]` up to the next record's
/// `hdr_start` (or the end, for the last record).
#[derive(Clone, Copy)]
struct Rec {
    offset: i64,
    timestamp: i64,
    key: Span,
    value: Span,
    hdr_start: u32,
    /// Index into [`RecordSet::batches`].
    batch: u32,
}

/// What the records of one batch (or of consecutive batches and messages alike in it)
/// share; `buf` is 0 for the input, `k` for `bufs[k - 1]`.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Batch {
    producer_id: i64,
    leader_epoch: i32,
    buf: u32,
    magic: i8,
    flags: u8,
}

// The sizes the budget charges; a change here is a change of what a record costs.
const _: () = assert!(size_of::<Rec>() == 40);
const _: () = assert!(size_of::<Hdr>() == 16);
const _: () = assert!(size_of::<Batch>() == 24);

/// How much memory decodes may take beyond their input: the decompressed records plus the
/// record index (see [`RecordSet::charged_bytes`]). One budget can be shared by several
/// decodes (all partitions of one fetch): each takes what its set holds, and a decode that
/// does not fit in what is left fails and takes nothing.
#[derive(Debug, Clone)]
pub struct DecodeBudget {
    limit: usize,
    used: usize,
    refused: bool,
}

impl DecodeBudget {
    pub fn new(limit: usize) -> Self {
        DecodeBudget {
            limit,
            used: 0,
            refused: false,
        }
    }

    /// The whole budget.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// What the record sets decoded within it hold.
    pub fn used(&self) -> usize {
        self.used
    }

    pub fn remaining(&self) -> usize {
        self.limit.saturating_sub(self.used)
    }

    /// Whether the last [`RecordSet::decode_within`] with this budget failed because the
    /// budget ran out (rather than because the input is malformed).
    pub fn refused(&self) -> bool {
        self.refused
    }
}

/// A decoded records field (any mix of v2 batches and legacy v0/v1 message sets). Owns
/// the input (a zero-copy `Bytes`) and any decompressed buffers; records are views into
/// them.
pub struct RecordSet {
    input: Bytes,
    /// Decompressed batches and message sets.
    bufs: Vec<Bytes>,
    recs: Vec<Rec>,
    hdrs: Vec<Hdr>,
    batches: Vec<Batch>,
    truncated: bool,
    next_offset: Option<i64>,
    charged: usize,
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
            .field("charged_bytes", &self.charged)
            .finish_non_exhaustive()
    }
}

impl RecordSet {
    /// Decodes a records field. Whole batches before a partial one at the end are kept
    /// and [`truncated`](Self::truncated) is set; anything malformed is an error, and so is
    /// a set that needs more than [`DecodeLimits::max_decompressed`] bytes of memory.
    pub fn decode(input: Bytes, limits: &DecodeLimits) -> Result<RecordSet, DecodeError> {
        RecordSet::decode_within(
            input,
            limits,
            &mut DecodeBudget::new(limits.max_decompressed),
        )
    }

    /// [`decode`](Self::decode) within what is left of `budget` (instead of
    /// [`DecodeLimits::max_decompressed`]): on success the set's
    /// [`charged_bytes`](Self::charged_bytes) are taken from it; on failure nothing is, and
    /// [`DecodeBudget::refused`] tells whether the budget was what ran out.
    pub fn decode_within(
        input: Bytes,
        limits: &DecodeLimits,
        budget: &mut DecodeBudget,
    ) -> Result<RecordSet, DecodeError> {
        budget.refused = false;
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
            allowance: budget.remaining(),
            decompressed: 0,
            recs: Vec::new(),
            recs_promised: 0,
            hdrs: Vec::new(),
            batches: Vec::new(),
            bufs: Vec::new(),
            next_offset: None,
            refused: false,
        };
        let truncated = match d.run(&input) {
            Ok(t) => t,
            Err(e) => {
                budget.refused = d.refused;
                return Err(e);
            }
        };
        // Give back what growth reserved and the records did not fill.
        d.compact();
        let charged = d.used();
        budget.used += charged;
        Ok(RecordSet {
            input,
            bufs: d.bufs,
            recs: d.recs,
            hdrs: d.hdrs,
            batches: d.batches,
            truncated,
            next_offset: d.next_offset,
            charged,
        })
    }

    /// The memory the set holds beyond its input, as its budget counts it: decompressed
    /// bytes, 40 bytes per record, 16 per header, 24 per batch of distinct producer,
    /// epoch, buffer and attributes, and 32 per decompressed buffer.
    pub fn charged_bytes(&self) -> usize {
        self.charged
    }

    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<RecordRef<'_>> {
        (i < self.recs.len()).then(|| self.view(i))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = RecordRef<'_>> + DoubleEndedIterator + '_ {
        (0..self.recs.len()).map(move |i| self.view(i))
    }

    /// Drops the records before `offset`. A broker answers a fetch with whole batches, so
    /// the first batch may start before the offset asked for.
    pub fn drop_before(&mut self, offset: i64) {
        let first = self.recs.iter().position(|r| r.offset >= offset);
        self.recs.drain(..first.unwrap_or(self.recs.len()));
    }

    /// Keeps the records for which `keep` is true, in order, with their headers (a
    /// consumer reading committed data drops aborted transactions and control records
    /// this way). The memory stays held by the set: [`charged_bytes`](Self::charged_bytes)
    /// does not change, and [`next_offset`](Self::next_offset) still counts every batch.
    pub fn retain(&mut self, mut keep: impl FnMut(&RecordRef<'_>) -> bool) {
        let kept: Vec<bool> = (0..self.recs.len()).map(|i| keep(&self.view(i))).collect();
        let (mut w, mut hw) = (0, 0);
        for (i, &k) in kept.iter().enumerate() {
            // Record i's headers end where record i + 1's begin; i + 1 is read before any
            // write reaches it (w <= i).
            let start = self.recs[i].hdr_start as usize;
            let end = self
                .recs
                .get(i + 1)
                .map_or(self.hdrs.len(), |n| n.hdr_start as usize);
            if k {
                let mut r = self.recs[i];
                self.hdrs.copy_within(start..end, hw);
                r.hdr_start = hw as u32;
                hw += end - start;
                self.recs[w] = r;
                w += 1;
            }
        }
        self.recs.truncate(w);
        self.hdrs.truncate(hw);
    }

    /// Whether any record belongs to a control batch (a transaction marker).
    pub fn has_control(&self) -> bool {
        self.batches.iter().any(|b| b.flags & FLAG_CONTROL != 0)
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

    /// Record `i` (below `len`).
    #[inline]
    fn view(&self, i: usize) -> RecordRef<'_> {
        let r = &self.recs[i];
        let b = &self.batches[r.batch as usize];
        let buf: &[u8] = match b.buf {
            0 => &self.input,
            k => &self.bufs[k as usize - 1],
        };
        let hdr_end = self
            .recs
            .get(i + 1)
            .map_or(self.hdrs.len(), |next| next.hdr_start as usize);
        RecordRef {
            offset: r.offset,
            timestamp: r.timestamp,
            timestamp_type: match b.flags & TS_MASK {
                TS_CREATE => TimestampType::CreateTime,
                TS_APPEND => TimestampType::LogAppendTime,
                _ => TimestampType::NoTimestamp,
            },
            key: r.key.get(buf),
            value: r.value.get(buf),
            is_control: b.flags & FLAG_CONTROL != 0,
            is_transactional: b.flags & FLAG_TRANSACTIONAL != 0,
            producer_id: b.producer_id,
            partition_leader_epoch: b.leader_epoch,
            magic: b.magic,
            headers: Headers {
                buf,
                list: &self.hdrs[r.hdr_start as usize..hdr_end],
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
    /// The batch's codec: which error a budget refusal gives.
    codec: Compression,
    /// Where the batch starts in the input, for budget errors.
    at: usize,
    /// Index into `batches` (set once the batch has records).
    batch: u32,
}

/// Growth of an index vector beyond the budget: the bytes it needed, and the bytes left.
struct Short {
    need: usize,
    left: usize,
}

/// Smallest growth of an index vector, in elements.
const MIN_GROWTH: usize = 16;

struct Decoder<'l> {
    limits: &'l DecodeLimits,
    /// Bytes this decode may hold: what its budget had left when it began.
    allowance: usize,
    /// Bytes of the decompressed buffers.
    decompressed: usize,
    recs: Vec<Rec>,
    /// How many records the batch being read declares, counted against the budget
    /// before they are read.
    recs_promised: usize,
    hdrs: Vec<Hdr>,
    batches: Vec<Batch>,
    bufs: Vec<Bytes>,
    next_offset: Option<i64>,
    /// The decode failed because `allowance` ran out.
    refused: bool,
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

impl<'l> Decoder<'l> {
    /// What the set holds beyond its input: decompressed bytes and the index entries,
    /// counted by length (and for records by what the current batch declares): capacity
    /// reserved ahead and not written is not resident, and the index vectors give theirs
    /// back when the decode ends.
    fn used(&self) -> usize {
        self.decompressed
            + self.recs.len().max(self.recs_promised) * size_of::<Rec>()
            + self.hdrs.len() * size_of::<Hdr>()
            + self.batches.len() * size_of::<Batch>()
            + self.bufs.len() * size_of::<Bytes>()
    }

    fn remaining(&self) -> usize {
        self.allowance.saturating_sub(self.used())
    }

    /// Makes room for `more` elements in the vector `pick` selects if the budget covers
    /// them, before allocating anything: it grows by doubling (amortised), but never
    /// beyond what the budget has left.
    fn grow<T>(&mut self, pick: fn(&mut Self) -> &mut Vec<T>, more: usize) -> Result<(), Short> {
        let size = size_of::<T>();
        let remaining = self.remaining();
        let need_bytes = more.saturating_mul(size);
        if need_bytes > remaining {
            return Err(Short {
                need: need_bytes,
                left: remaining,
            });
        }
        let v = pick(self);
        let (len, cap) = (v.len(), v.capacity());
        if cap - len < more {
            let target = (len + more)
                .max(cap.saturating_mul(2))
                .max(len + MIN_GROWTH)
                .min(len + remaining / size);
            v.reserve_exact(target - len);
        }
        Ok(())
    }

    /// The error for a budget that could not cover `what` in a batch or message set
    /// compressed with `codec`.
    fn over_budget(
        &mut self,
        codec: Compression,
        what: String,
        short: Short,
        at: usize,
    ) -> DecodeError {
        self.refused = true;
        let msg = format!(
            "{what} ({} bytes) does not fit in what is left of the memory budget ({} of {} \
             bytes; decompressed records and the record index count against it)",
            short.need, short.left, self.allowance
        );
        let kind = if codec == Compression::None {
            DecodeErrorKind::Invalid(format!("memory budget exceeded: {msg}"))
        } else {
            DecodeErrorKind::Compression(format!(
                "{} data expands beyond the memory budget: {msg}",
                codec.name()
            ))
        };
        DecodeError::new(kind, at).in_field("records")
    }

    /// Room for `count` more records; they count against the budget until they are read.
    fn grow_recs(
        &mut self,
        count: usize,
        codec: Compression,
        at: usize,
    ) -> Result<(), DecodeError> {
        self.grow(|d| &mut d.recs, count)
            .map_err(|s| self.over_budget(codec, format!("the index of {count} records"), s, at))?;
        self.recs_promised = self.recs.len() + count;
        Ok(())
    }

    /// The index in `batches` of an entry equal to `b`: the last one if it is, or a new
    /// one.
    fn batch_entry(&mut self, b: Batch, codec: Compression, at: usize) -> Result<u32, DecodeError> {
        if let Some(last) = self.batches.last() {
            if *last == b {
                return Ok(self.batches.len() as u32 - 1);
            }
        }
        let i = u32::try_from(self.batches.len())
            .map_err(|_| DecodeError::invalid("too many batches", at))?;
        self.grow(|d| &mut d.batches, 1)
            .map_err(|s| self.over_budget(codec, "the index entry of a batch".to_owned(), s, at))?;
        self.batches.push(b);
        Ok(i)
    }

    /// Gives back the capacity the index vectors reserved ahead.
    fn compact(&mut self) {
        self.recs.shrink_to_fit();
        self.hdrs.shrink_to_fit();
        self.batches.shrink_to_fit();
        self.bufs.shrink_to_fit();
    }

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

    /// Decompresses a batch or message set within the budget and keeps the buffer;
    /// returns it and its `buf` index.
    fn decompress(
        &mut self,
        codec: Compression,
        data: &[u8],
        magic: i8,
        at: usize,
    ) -> Result<(Bytes, u32), DecodeError> {
        let buf = u32::try_from(self.bufs.len() + 1)
            .map_err(|_| DecodeError::invalid("too many compressed batches", at))?;
        let remaining = self.remaining();
        let limit = remaining.min(u32::MAX as usize - 1);
        let mut out = Vec::new();
        if let Err(mut e) = decompress_magic(codec, data, magic, limit, &mut out) {
            super::pool::give(out);
            // (A buffer of 4 GiB or more is refused whatever the budget.)
            self.refused = limit == remaining && is_limit_error(&e, codec, limit);
            e.offset = at;
            return Err(e.in_field("records"));
        }
        // Counted by length: capacity the codec reserved ahead of its output and did not
        // write is not resident (a buffer from the pool has at most 64 KiB more than its
        // output, see `pool::take_fit`). Shrinking it would cost a reallocation per batch.
        self.decompressed += out.len();
        self.grow(|d| &mut d.bufs, 1).map_err(|s| {
            self.over_budget(
                codec,
                "the entry of a decompressed buffer".to_owned(),
                s,
                at,
            )
        })?;
        let out = super::pool::into_bytes(out);
        self.bufs.push(out.clone());
        Ok((out, buf))
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
            codec,
            at: pos,
            batch: 0,
        };
        let mut shared = Batch {
            producer_id,
            leader_epoch,
            buf: 0,
            magic: 2,
            flags,
        };
        let records_at = pos + v2::HEADER_LEN;
        if codec == Compression::None {
            if count > 0 {
                info.batch = self.batch_entry(shared, codec, pos)?;
            }
            self.v2_records(data, records_at, end, count as usize, &info)
        } else if count == 0 {
            Ok(())
        } else {
            let (raw, buf) = self.decompress(codec, &data[records_at..end], 2, records_at)?;
            shared.buf = buf;
            info.batch = self.batch_entry(shared, codec, pos)?;
            self.v2_records(&raw, 0, raw.len(), count as usize, &info)
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
        self.grow_recs(count, info.codec, info.at)?;
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
        let hdr_start = self.hdr_start(at)?;
        if n > 0 {
            self.grow(|d| &mut d.hdrs, n).map_err(|s| {
                self.over_budget(info.codec, format!("the index of {n} headers"), s, info.at)
            })?;
        }
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
            key,
            value,
            hdr_start,
            batch: info.batch,
        })
    }

    /// Where the next record's headers start in `hdrs`.
    fn hdr_start(&self, at: usize) -> Result<u32, DecodeError> {
        u32::try_from(self.hdrs.len()).map_err(|_| DecodeError::invalid("too many headers", at))
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
            self.legacy_rec(offset, &msg, ts_flags, msg.timestamp, 0, codec, pos)?;
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
        let (raw, buf) = self.decompress(codec, value, magic, at)?;
        let first = self.recs.len();
        self.inner_messages(&raw, buf, codec, magic, ts_flags, msg.timestamp)?;
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
        Ok(())
    }

    /// The messages of a decompressed wrapper value. They must all be whole and
    /// uncompressed.
    fn inner_messages(
        &mut self,
        raw: &[u8],
        buf: u32,
        codec: Compression,
        wrapper_magic: i8,
        wrapper_ts_flags: u8,
        wrapper_ts: i64,
    ) -> Result<(), DecodeError> {
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
            self.legacy_rec(offset, &msg, flags, timestamp, buf, codec, pos)?;
            pos = end;
        }
        Ok(())
    }

    /// Appends a legacy message's record: no headers, no producer, no leader epoch.
    #[allow(clippy::too_many_arguments)]
    fn legacy_rec(
        &mut self,
        offset: i64,
        msg: &LegacyMessage,
        flags: u8,
        timestamp: i64,
        buf: u32,
        codec: Compression,
        at: usize,
    ) -> Result<(), DecodeError> {
        let shared = Batch {
            producer_id: -1,
            leader_epoch: -1,
            buf,
            magic: msg.magic,
            flags,
        };
        let batch = self.batch_entry(shared, codec, at)?;
        let hdr_start = self.hdr_start(at)?;
        self.grow_recs(1, codec, at)?;
        self.recs.push(Rec {
            offset,
            timestamp,
            key: msg.key,
            value: msg.value,
            hdr_start,
            batch,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{
        encode_batch, encode_legacy_message_set, BatchOptions, RecordHeaderIn, RecordIn,
    };

    fn batch(
        n: usize,
        compression: Compression,
        value: &[u8],
        headers: &[RecordHeaderIn<'_>],
    ) -> Vec<u8> {
        let recs = vec![
            RecordIn {
                key: None,
                value: Some(value),
                headers,
                timestamp: Some(1),
            };
            n
        ];
        let opts = BatchOptions {
            compression,
            ..BatchOptions::default()
        };
        let mut out = Vec::new();
        encode_batch(&recs, &opts, &mut out).unwrap();
        out
    }

    fn limits(max: usize) -> DecodeLimits {
        DecodeLimits {
            max_decompressed: max,
            ..DecodeLimits::default()
        }
    }

    #[test]
    fn the_index_is_charged_per_record_header_batch_and_buffer() {
        let h = [RecordHeaderIn {
            key: b"k",
            value: None,
        }; 3];
        let set = RecordSet::decode(
            Bytes::from(batch(100, Compression::None, b"v", &h)),
            &limits(1 << 20),
        )
        .unwrap();
        assert_eq!(set.charged_bytes(), 100 * 40 + 300 * 16 + 24);
        assert_eq!(set.get(99).unwrap().header_count(), 3);

        // Two uncompressed batches alike share their batch entry.
        let mut two = batch(10, Compression::None, b"v", &[]);
        two.extend(batch(10, Compression::None, b"v", &[]));
        let set = RecordSet::decode(Bytes::from(two), &limits(1 << 20)).unwrap();
        assert_eq!(set.charged_bytes(), 20 * 40 + 24);

        // A compressed batch: its decompressed bytes, its buffer's entry and its own batch
        // entry.
        let b = batch(50, Compression::Zstd, b"value", &[]);
        let set = RecordSet::decode(Bytes::from(b.clone()), &limits(1 << 20)).unwrap();
        let mut raw = Vec::new();
        let records = &b[v2::HEADER_LEN..];
        crate::record::compression::decompress(Compression::Zstd, records, 1 << 20, &mut raw)
            .unwrap();
        assert_eq!(set.charged_bytes(), raw.len() + 32 + 50 * 40 + 24);
        assert!(set.iter().all(|r| r.value == Some(&b"value"[..])));
    }

    #[test]
    fn the_index_of_an_uncompressed_batch_counts_against_the_budget() {
        let b = Bytes::from(batch(100_000, Compression::None, b"", &[]));
        let e = RecordSet::decode(b.clone(), &limits(100_000 * 40 - 1)).unwrap_err();
        match &e.kind {
            DecodeErrorKind::Invalid(m) => {
                assert!(
                    m.contains("memory budget exceeded") && m.contains("100000 records"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        let mut budget = DecodeBudget::new(100_000 * 40 - 1);
        assert!(RecordSet::decode_within(b.clone(), &limits(0), &mut budget).is_err());
        assert!(budget.refused());
        assert_eq!(budget.used(), 0);
        let set = RecordSet::decode(b, &limits(100_000 * 40 + 24)).unwrap();
        assert_eq!(set.len(), 100_000);
    }

    #[test]
    fn headers_count_against_the_budget() {
        let h = [RecordHeaderIn {
            key: b"",
            value: None,
        }; 1000];
        let b = Bytes::from(batch(10, Compression::None, b"", &h));
        let fits = 10 * 40 + 10_000 * 16 + 24;
        assert_eq!(
            RecordSet::decode(b.clone(), &limits(fits))
                .unwrap()
                .charged_bytes(),
            fits
        );
        let e = RecordSet::decode(b, &limits(fits - 1)).unwrap_err();
        assert!(e.to_string().contains("1000 headers"), "{e}");
    }

    #[test]
    fn the_index_of_a_compressed_batch_is_a_compression_error() {
        // 100000 empty records compress to little and decompress to about 1 MB; their
        // index is 4 MB.
        let b = Bytes::from(batch(100_000, Compression::Lz4, b"", &[]));
        let e = RecordSet::decode(b.clone(), &limits(2 << 20)).unwrap_err();
        match &e.kind {
            DecodeErrorKind::Compression(m) => {
                assert!(
                    m.contains("lz4 data expands beyond the memory budget"),
                    "{m}"
                );
                assert!(m.contains("100000 records"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            RecordSet::decode(b, &limits(8 << 20)).unwrap().len(),
            100_000
        );
    }

    #[test]
    fn a_budget_is_shared_and_a_refused_decode_takes_nothing() {
        let small = Bytes::from(batch(1000, Compression::Gzip, b"abc", &[]));
        let one = RecordSet::decode(small.clone(), &limits(1 << 20))
            .unwrap()
            .charged_bytes();
        let mut budget = DecodeBudget::new(2 * one + one / 2);
        let a = RecordSet::decode_within(small.clone(), &limits(0), &mut budget).unwrap();
        assert_eq!((budget.used(), budget.refused()), (one, false));
        let b = RecordSet::decode_within(small.clone(), &limits(0), &mut budget).unwrap();
        assert_eq!(budget.used(), 2 * one);
        let e = RecordSet::decode_within(small.clone(), &limits(0), &mut budget).unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::Compression(_)), "{e}");
        assert!(budget.refused());
        assert_eq!(budget.used(), 2 * one);
        // A malformed input is not a refusal.
        let mut bad = small.to_vec();
        bad[20] ^= 1;
        assert!(RecordSet::decode_within(Bytes::from(bad), &limits(0), &mut budget).is_err());
        assert!(!budget.refused());
        // Something smaller still fits in what is left.
        let tiny = Bytes::from(batch(1, Compression::None, b"", &[]));
        RecordSet::decode_within(tiny, &limits(0), &mut budget).unwrap();
        assert_eq!(budget.used(), 2 * one + 40 + 24);
        assert_eq!((a.len(), b.len()), (1000, 1000));
    }

    #[test]
    fn legacy_message_sets_are_charged_too() {
        let recs = vec![
            RecordIn {
                key: None,
                value: Some(b"legacy"),
                headers: &[],
                timestamp: Some(5),
            };
            200
        ];
        for magic in [0, 1] {
            let mut plain = Vec::new();
            encode_legacy_message_set(&recs, magic, Compression::None, 0, 0, &mut plain).unwrap();
            let set = RecordSet::decode(Bytes::from(plain), &limits(1 << 20)).unwrap();
            // Plain messages alike share one batch entry.
            assert_eq!(set.charged_bytes(), 200 * 40 + 24, "magic {magic}");

            let mut gz = Vec::new();
            encode_legacy_message_set(&recs, magic, Compression::Gzip, 0, 0, &mut gz).unwrap();
            let set = RecordSet::decode(Bytes::from(gz.clone()), &limits(1 << 20)).unwrap();
            let charged = set.charged_bytes();
            assert!(
                charged > 200 * (40 + 26) + 32 + 24,
                "magic {magic}: {charged}"
            );
            assert!(RecordSet::decode(Bytes::from(gz.clone()), &limits(charged)).is_ok());
            let mut budget = DecodeBudget::new(charged - 1);
            assert!(RecordSet::decode_within(Bytes::from(gz), &limits(0), &mut budget).is_err());
            assert!(budget.refused(), "magic {magic}");
        }
    }

    #[test]
    fn retain_keeps_the_chosen_records_with_their_headers() {
        let h1 = [RecordHeaderIn {
            key: b"a",
            value: Some(b"1"),
        }];
        let h2 = [
            RecordHeaderIn {
                key: b"b",
                value: None,
            },
            RecordHeaderIn {
                key: b"c",
                value: Some(b"3"),
            },
        ];
        let recs: Vec<RecordIn<'_>> = (0..6)
            .map(|i| RecordIn {
                key: None,
                value: Some(&b"012345"[i..=i]),
                headers: match i % 3 {
                    0 => &h1[..],
                    1 => &[],
                    _ => &h2[..],
                },
                timestamp: Some(1),
            })
            .collect();
        let mut out = Vec::new();
        encode_batch(&recs, &BatchOptions::default(), &mut out).unwrap();
        let mut set = RecordSet::decode(Bytes::from(out), &DecodeLimits::default()).unwrap();
        let charged = set.charged_bytes();
        set.drop_before(1);
        set.retain(|r| r.offset != 2 && r.offset != 4);
        let got: Vec<(i64, Vec<u8>, Vec<Vec<u8>>)> = set
            .iter()
            .map(|r| {
                (
                    r.offset,
                    r.value.unwrap().to_vec(),
                    r.headers().map(|(k, _)| k.to_vec()).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (1, b"1".to_vec(), vec![]),
                (3, b"3".to_vec(), vec![b"a".to_vec()]),
                (5, b"5".to_vec(), vec![b"b".to_vec(), b"c".to_vec()]),
            ]
        );
        assert_eq!(set.charged_bytes(), charged);
        assert_eq!(set.next_offset(), Some(6));
        set.retain(|_| false);
        assert!(set.is_empty());
        assert_eq!(set.next_offset(), Some(6));
    }

    #[test]
    fn records_after_drop_before_keep_their_headers() {
        let h = [RecordHeaderIn {
            key: b"a",
            value: Some(b"1"),
        }];
        let mut b = batch(3, Compression::None, b"x", &h);
        let mut second = batch(2, Compression::None, b"y", &[]);
        second[..8].copy_from_slice(&3i64.to_be_bytes()); // base offset, outside the CRC
        b.extend(second);
        let mut set = RecordSet::decode(Bytes::from(b), &DecodeLimits::default()).unwrap();
        let got: Vec<(i64, usize)> = set.iter().map(|r| (r.offset, r.header_count())).collect();
        assert_eq!(got, [(0, 1), (1, 1), (2, 1), (3, 0), (4, 0)]);
        set.drop_before(2);
        let got: Vec<(i64, usize)> = set.iter().map(|r| (r.offset, r.header_count())).collect();
        assert_eq!(got, [(2, 1), (3, 0), (4, 0)]);
        let r = set.get(0).unwrap();
        assert_eq!(
            r.headers().collect::<Vec<_>>(),
            [(&b"a"[..], Some(&b"1"[..]))]
        );
        assert_eq!(set.iter().next_back().unwrap().value, Some(&b"y"[..]));
        assert!(set.get(3).is_none());
    }
}
