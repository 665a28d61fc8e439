//! Writers for RecordBatch v2 and the legacy MessageSet v0/v1.

use super::compression::{self, lz4_compress};
use super::{legacy, v2, Compression};
use crate::protocol::{DecodeError, Segments};
use bytes::Bytes;

/// One record header to encode. Kafka defines the key as a UTF-8 string; it is written
/// as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeaderIn<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

/// One record to encode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordIn<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [RecordHeaderIn<'a>],
    /// Creation time in milliseconds; `None` takes [`BatchOptions::now_ms`].
    pub timestamp: Option<i64>,
}

/// The header fields of a v2 batch.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// 0 in produce requests; the broker assigns offsets.
    pub base_offset: i64,
    /// -1 in produce requests; the broker assigns it.
    pub partition_leader_epoch: i32,
    pub compression: Compression,
    /// gzip 0-9 (default 6), zstd (default 3); snappy and lz4 have no levels.
    pub compression_level: Option<i32>,
    /// -1 without an idempotent or transactional producer.
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 without idempotence.
    pub base_sequence: i32,
    pub transactional: bool,
    /// Marks the batch LogAppendTime: its max timestamp (`now_ms`) is every record's time.
    pub log_append_time: bool,
    /// The time of records without one, and the append time with `log_append_time`.
    pub now_ms: i64,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            base_offset: 0,
            partition_leader_epoch: -1,
            compression: Compression::None,
            compression_level: None,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            log_append_time: false,
            now_ms: 0,
        }
    }
}

#[inline]
fn zigzag32(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

#[inline]
fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Encoded size of an unsigned varint.
#[inline]
fn uvarint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[inline]
fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    // Byte by byte: varints here are one to three bytes, for which a copy call costs
    // more than the pushes.
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Room for a record's length varint (at most 5 bytes: lengths are `i32`) in front of
/// the fields [`BatchBuilder::append_within`] encodes on the stack.
const HEAD_ROOM: usize = 5;

/// Writes an unsigned varint into `buf` at `at`; returns where it ends.
#[inline]
fn put_uvarint_at(buf: &mut [u8], mut at: usize, mut v: u64) -> usize {
    while v >= 0x80 {
        buf[at] = (v as u8) | 0x80;
        v >>= 7;
        at += 1;
    }
    buf[at] = v as u8;
    at + 1
}

/// Size of a varint-length-prefixed nullable byte string.
#[inline]
fn var_bytes_len(b: Option<&[u8]>) -> usize {
    match b {
        None => 1,
        Some(b) => uvarint_len(zigzag32(b.len() as i32)) + b.len(),
    }
}

#[inline]
fn put_var_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => out.push(1), // zigzag(-1)
        Some(b) => {
            put_uvarint(out, zigzag32(b.len() as i32));
            out.extend_from_slice(b);
        }
    }
}

/// Size of a record's body: everything after its length varint.
#[inline]
fn record_body_len(r: &RecordIn<'_>, offset_delta: i32, ts_delta: i64) -> usize {
    1 // attributes
        + uvarint_len(zigzag64(ts_delta))
        + uvarint_len(zigzag32(offset_delta))
        + var_bytes_len(r.key)
        + var_bytes_len(r.value)
        + headers_len(r.headers)
}

/// Size of a record's headers: their count and each key and value.
#[inline]
fn headers_len(headers: &[RecordHeaderIn<'_>]) -> usize {
    let mut n = uvarint_len(zigzag32(headers.len() as i32));
    for h in headers {
        n += var_bytes_len(Some(h.key)) + var_bytes_len(h.value);
    }
    n
}

/// Appends a record up to its value's bytes: length (`body`), attributes, timestamp and
/// offset deltas, the key, and the value's length (`None`: a null value).
#[inline]
fn put_prefix(
    out: &mut Vec<u8>,
    body: usize,
    ts_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value_len: Option<usize>,
) {
    put_uvarint(out, zigzag32(body as i32));
    out.push(0); // attributes: unused
    put_uvarint(out, zigzag64(ts_delta));
    put_uvarint(out, zigzag32(offset_delta));
    put_var_bytes(out, key);
    match value_len {
        None => out.push(1), // zigzag(-1)
        Some(n) => put_uvarint(out, zigzag32(n as i32)),
    }
}

/// A record's headers, after its value.
#[inline]
fn put_headers(out: &mut Vec<u8>, headers: &[RecordHeaderIn<'_>]) {
    if headers.is_empty() {
        out.push(0);
        return;
    }
    put_uvarint(out, zigzag32(headers.len() as i32));
    for h in headers {
        put_var_bytes(out, Some(h.key));
        put_var_bytes(out, h.value);
    }
}

/// Writes `records`; `bodies[i]` is record i's body length (`record_body_len`).
fn write_records(
    records: &[RecordIn<'_>],
    bodies: &[u32],
    base_ts: i64,
    now_ms: i64,
    out: &mut Vec<u8>,
) {
    for (i, (r, &body)) in records.iter().zip(bodies).enumerate() {
        let ts_delta = r.timestamp.unwrap_or(now_ms).wrapping_sub(base_ts);
        put_prefix(
            out,
            body as usize,
            ts_delta,
            i as i32,
            r.key,
            r.value.map(<[u8]>::len),
        );
        if let Some(v) = r.value {
            out.extend_from_slice(v);
        }
        put_headers(out, r.headers);
    }
}

#[inline]
fn put_at(out: &mut [u8], at: usize, bytes: &[u8]) {
    out[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Appends one RecordBatch v2 (magic 2) holding `records` to `out`. Err only if
/// compression fails or records is empty. An `out` with no capacity, for a batch without
/// compression, becomes a buffer of the batch's size from the pool of released ones
/// (give it back with `pool::into_bytes` or `pool::give`).
pub fn encode_batch(
    records: &[RecordIn<'_>],
    opts: &BatchOptions,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    if records.is_empty() {
        return Err(DecodeError::invalid(
            "a record batch needs at least one record",
            0,
        ));
    }
    if records.len() > i32::MAX as usize {
        return Err(DecodeError::invalid("too many records for one batch", 0));
    }
    let start = out.len();
    let base_ts = records[0].timestamp.unwrap_or(opts.now_ms);
    let mut max_ts = i64::MIN;
    let mut body_size = 0usize;
    // Each body's length, computed once for the size and the writing both (a record is
    // smaller than 2 GiB: the batch as a whole is checked below).
    let mut bodies = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let ts = r.timestamp.unwrap_or(opts.now_ms);
        max_ts = max_ts.max(ts);
        let body = record_body_len(r, i as i32, ts.wrapping_sub(base_ts));
        bodies.push(body as u32);
        body_size += uvarint_len(zigzag32(body as i32)) + body;
    }
    if opts.log_append_time {
        max_ts = opts.now_ms;
    }

    if opts.compression == Compression::None {
        if out.capacity() == 0 {
            // A buffer of this size that an earlier batch released, if there is one (a new
            // one of 100 KiB is a page fault per 4 KiB written).
            *out = super::pool::take_fit(v2::HEADER_LEN + body_size);
        } else {
            out.reserve(v2::HEADER_LEN + body_size);
        }
        out.resize(start + v2::HEADER_LEN, 0);
        write_records(records, &bodies, base_ts, opts.now_ms, out);
    } else {
        let mut raw = Vec::with_capacity(body_size);
        write_records(records, &bodies, base_ts, opts.now_ms, &mut raw);
        out.resize(start + v2::HEADER_LEN, 0);
        if let Err(e) = compression::compress(opts.compression, opts.compression_level, &raw, out) {
            out.truncate(start);
            return Err(e);
        }
    }

    let batch_len = out.len() - start - v2::LOG_OVERHEAD;
    if batch_len > i32::MAX as usize {
        out.truncate(start);
        return Err(DecodeError::invalid("record batch larger than 2 GiB", 0));
    }
    let mut attributes = opts.compression as i16;
    if opts.log_append_time {
        attributes |= v2::TIMESTAMP_TYPE_BIT;
    }
    if opts.transactional {
        attributes |= v2::TRANSACTIONAL_BIT;
    }
    let h = &mut out[start..];
    put_at(h, 0, &opts.base_offset.to_be_bytes());
    put_at(h, 8, &(batch_len as i32).to_be_bytes());
    put_at(h, 12, &opts.partition_leader_epoch.to_be_bytes());
    h[v2::MAGIC_OFFSET] = 2;
    put_at(h, v2::ATTRIBUTES_OFFSET, &attributes.to_be_bytes());
    put_at(h, 23, &((records.len() - 1) as i32).to_be_bytes());
    put_at(h, 27, &base_ts.to_be_bytes());
    put_at(h, 35, &max_ts.to_be_bytes());
    put_at(h, 43, &opts.producer_id.to_be_bytes());
    put_at(h, 51, &opts.producer_epoch.to_be_bytes());
    put_at(h, 53, &opts.base_sequence.to_be_bytes());
    put_at(h, 57, &(records.len() as i32).to_be_bytes());
    let crc = crc32c::crc32c(&h[v2::ATTRIBUTES_OFFSET..]);
    put_at(h, v2::CRC_OFFSET, &crc.to_be_bytes());
    Ok(())
}

/// Appends one legacy message (offset, size, crc, magic, attributes, [timestamp], key,
/// value) to `out`.
fn write_message(
    out: &mut Vec<u8>,
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let start = out.len();
    let size = if magic == 0 {
        legacy::OVERHEAD_V0
    } else {
        legacy::OVERHEAD_V1
    } + key.map_or(0, <[u8]>::len)
        + value.map_or(0, <[u8]>::len);
    out.reserve(12 + size);
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&(size as i32).to_be_bytes());
    out.extend_from_slice(&[0; 4]); // crc, below
    out.push(magic as u8);
    out.push(attributes as u8);
    if magic == 1 {
        out.extend_from_slice(&timestamp.to_be_bytes());
    }
    for field in [key, value] {
        match field {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                out.extend_from_slice(b);
            }
        }
    }
    let crc = crc32fast::hash(&out[start + 16..]);
    put_at(out, start + 12, &crc.to_be_bytes());
}

/// Legacy MessageSet v0/v1 writer (magic 0 or 1), with optional compression wrapper.
///
/// Record `i` gets offset `base_offset + i`. Compressed, the records form the value of
/// one wrapper message whose offset is the last record's: for magic 1 the inner offsets
/// are relative (0, 1, ...) and the wrapper's timestamp is the greatest record time; for
/// magic 0 the inner offsets are absolute and LZ4 is written with the old, wrong frame
/// checksum those brokers expect. Headers cannot be expressed and are dropped, as the
/// broker does when it converts down. Magic 0 has no timestamps. zstd needs magic 2.
pub fn encode_legacy_message_set(
    records: &[RecordIn<'_>],
    magic: i8,
    compression: Compression,
    base_offset: i64,
    now_ms: i64,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    if magic != 0 && magic != 1 {
        return Err(DecodeError::invalid(
            format!("legacy message sets have magic 0 or 1, not {magic}"),
            0,
        ));
    }
    if records.is_empty() {
        return Err(DecodeError::invalid(
            "a message set needs at least one record",
            0,
        ));
    }
    if compression == Compression::Zstd {
        return Err(DecodeError::invalid(
            "zstd needs message format 2 (magic 2)",
            0,
        ));
    }
    let ts_of = |r: &RecordIn<'_>| {
        if magic == 0 {
            -1
        } else {
            r.timestamp.unwrap_or(now_ms)
        }
    };
    if compression == Compression::None {
        for (i, r) in records.iter().enumerate() {
            let offset = base_offset.wrapping_add(i as i64);
            write_message(out, offset, magic, 0, ts_of(r), r.key, r.value);
        }
        return Ok(());
    }
    let mut inner = Vec::new();
    let mut max_ts = -1i64;
    for (i, r) in records.iter().enumerate() {
        let offset = if magic == 1 {
            i as i64
        } else {
            base_offset.wrapping_add(i as i64)
        };
        max_ts = max_ts.max(ts_of(r));
        write_message(&mut inner, offset, magic, 0, ts_of(r), r.key, r.value);
    }
    let mut compressed = Vec::new();
    if compression == Compression::Lz4 {
        lz4_compress(&inner, magic == 0, &mut compressed)?;
    } else {
        compression::compress(compression, None, &inner, &mut compressed)?;
    }
    let last = base_offset.wrapping_add(records.len() as i64 - 1);
    write_message(
        out,
        last,
        magic,
        compression as i8,
        max_ts,
        None,
        Some(&compressed),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_sizes_match_the_writer() {
        for v in [0u64, 1, 127, 128, 16383, 16384, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_uvarint(&mut out, v);
            assert_eq!(out.len(), uvarint_len(v), "{v}");
            let mut r = crate::protocol::Reader::new(&out);
            assert_eq!(r.uvarlong().unwrap(), v);
        }
    }
}

/// Builds one RecordBatch v2 a record at a time, as a producer fills a partition's
/// batch: each record is encoded (the caller's bytes copied once) when it is appended,
/// and the header, compression and CRC are written by [`finish`](Self::finish). A
/// finished batch can be stamped again with another producer id, epoch and base
/// sequence ([`restamp`]) without being rebuilt or compressed again.
#[derive(Debug)]
pub struct BatchBuilder {
    /// Header space, then the uncompressed records (less the shared values).
    buf: Vec<u8>,
    /// Values kept by reference, `(at, value)`: `value` goes before `buf[at..]`.
    shared: Vec<(usize, Bytes)>,
    shared_len: usize,
    count: i32,
    base_ts: i64,
    max_ts: i64,
}

impl BatchBuilder {
    /// An empty batch; `capacity` is a hint for the records' bytes.
    pub fn new(capacity: usize) -> BatchBuilder {
        BatchBuilder::with_buffer(Vec::new(), capacity)
    }

    /// An empty batch written into `buf` (its contents dropped, its memory used again:
    /// pages already touched do not fault again).
    pub fn with_buffer(mut buf: Vec<u8>, capacity: usize) -> BatchBuilder {
        buf.clear();
        buf.reserve(v2::HEADER_LEN + capacity);
        buf.resize(v2::HEADER_LEN, 0);
        BatchBuilder {
            buf,
            shared: Vec::new(),
            shared_len: 0,
            count: 0,
            base_ts: 0,
            max_ts: i64::MIN,
        }
    }

    pub fn count(&self) -> i32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes of the batch so far, uncompressed, header included.
    pub fn size(&self) -> usize {
        self.buf.len() + self.shared_len
    }

    /// What appending `r` with time `ts` would add to [`size`](Self::size).
    pub fn record_size(&self, r: &RecordIn<'_>, ts: i64) -> usize {
        let base = if self.count == 0 { ts } else { self.base_ts };
        let body = record_body_len(r, self.count, ts.wrapping_sub(base));
        uvarint_len(zigzag32(body as i32)) + body
    }

    /// What `r` takes as the first record of a batch (what [`record_size`] says for an
    /// empty builder), without building one.
    ///
    /// [`record_size`]: Self::record_size
    pub fn first_record_size(r: &RecordIn<'_>) -> usize {
        let body = record_body_len(r, 0, 0);
        uvarint_len(zigzag32(body as i32)) + body
    }

    /// Appends `r`, stamped `ts` (ms). Returns the bytes added.
    pub fn append(&mut self, r: &RecordIn<'_>, ts: i64) -> usize {
        let before = self.size();
        self.record_start(r, ts);
        if let Some(v) = r.value {
            self.buf.extend_from_slice(v);
        }
        self.record_end(r);
        self.size() - before
    }

    /// Appends `r` (as [`append`](Self::append), or as
    /// [`append_shared`](Self::append_shared) with `shared` as its value) unless the batch
    /// holds records already and this one would take its size past `limit`: then nothing
    /// is appended and `false` comes back. The record's size is computed once, for the
    /// check and the encoding both.
    pub fn append_within(
        &mut self,
        r: &RecordIn<'_>,
        ts: i64,
        limit: usize,
        shared: Option<&Bytes>,
    ) -> bool {
        let base = if self.count == 0 { ts } else { self.base_ts };
        let value = shared.map(|v| &v[..]).or(r.value);
        // The record's fields up to its key (and its value's length too when there are no
        // key bytes between them) are encoded on the stack behind room for the length,
        // which is known once they are, and go into the buffer in one copy.
        let mut head = [0u8; HEAD_ROOM + 31];
        let mut at = HEAD_ROOM + 1; // attributes: unused, 0
        at = put_uvarint_at(&mut head, at, zigzag64(ts.wrapping_sub(base)));
        at = put_uvarint_at(&mut head, at, zigzag32(self.count));
        let key = r.key.unwrap_or_default();
        at = put_uvarint_at(&mut head, at, r.key.map_or(1, |k| zigzag32(k.len() as i32)));
        let value_len = value.map_or(1, |v| zigzag32(v.len() as i32));
        let mut tail = [0u8; 5];
        let mut tail_len = 0;
        if key.is_empty() {
            at = put_uvarint_at(&mut head, at, value_len);
        } else {
            tail_len = put_uvarint_at(&mut tail, 0, value_len);
        }
        let value_bytes = value.map_or(0, <[u8]>::len);
        let body = at - HEAD_ROOM + key.len() + tail_len + value_bytes + headers_len(r.headers);
        let body_varint = zigzag32(body as i32);
        let from = HEAD_ROOM - uvarint_len(body_varint);
        if self.count > 0 && self.size() + (HEAD_ROOM - from) + body > limit {
            return false;
        }
        put_uvarint_at(&mut head, from, body_varint);
        self.note_time(ts);
        self.buf.extend_from_slice(&head[from..at]);
        if !key.is_empty() {
            self.buf.extend_from_slice(key);
            self.buf.extend_from_slice(&tail[..tail_len]);
        }
        match shared {
            Some(v) => {
                self.shared_len += v.len();
                self.shared.push((self.buf.len(), v.clone()));
            }
            None => {
                if let Some(v) = r.value {
                    self.buf.extend_from_slice(v);
                }
            }
        }
        self.record_end(r);
        true
    }

    /// As [`append`](Self::append) with `value` as the record's value (`r.value` is
    /// not read), kept by reference instead of copied: the batch is then finished with
    /// [`finish_segments`](Self::finish_segments), and uncompressed, `value` goes to the
    /// broker from where it is.
    pub fn append_shared(&mut self, r: &RecordIn<'_>, ts: i64, value: Bytes) -> usize {
        let before = self.size();
        let with_value = RecordIn {
            value: Some(&value[..]),
            ..*r
        };
        self.record_start(&with_value, ts);
        self.shared_len += value.len();
        self.shared.push((self.buf.len(), value));
        self.record_end(r);
        self.size() - before
    }

    /// A record up to its value's bytes.
    fn record_start(&mut self, r: &RecordIn<'_>, ts: i64) {
        let base = if self.count == 0 { ts } else { self.base_ts };
        let body = record_body_len(r, self.count, ts.wrapping_sub(base));
        self.record_start_sized(r, ts, body);
    }

    /// [`record_start`](Self::record_start) with the body's length known.
    fn record_start_sized(&mut self, r: &RecordIn<'_>, ts: i64, body: usize) {
        self.note_time(ts);
        let ts_delta = ts.wrapping_sub(self.base_ts);
        put_prefix(
            &mut self.buf,
            body,
            ts_delta,
            self.count,
            r.key,
            r.value.map(<[u8]>::len),
        );
    }

    /// Takes a record's time `ts` into the batch's: the first record's is the base.
    fn note_time(&mut self, ts: i64) {
        if self.count == 0 {
            self.base_ts = ts;
        }
        self.max_ts = self.max_ts.max(ts);
    }

    /// A record's headers, after its value.
    fn record_end(&mut self, r: &RecordIn<'_>) {
        put_headers(&mut self.buf, r.headers);
        self.count += 1;
    }

    /// The finished batch in one buffer: header from `opts` (its `now_ms` and
    /// `log_append_time` are not used: record times were given to
    /// [`append`](Self::append)), records compressed with `opts.compression`. Values
    /// kept by reference are copied in. Err if compression fails or the batch is empty.
    pub fn finish(mut self, opts: &BatchOptions) -> Result<Vec<u8>, DecodeError> {
        self.splice_shared();
        // One segment: the buffer itself, so no copy.
        self.finish_segments(opts)
            .map(|s| Vec::from(s.into_bytes()))
    }

    /// The finished batch (as [`finish`](Self::finish)) in segments: uncompressed,
    /// values appended with [`append_shared`](Self::append_shared) are segments of their
    /// own, not copied; compressed, they are read by the compressor. The CRC covers
    /// them either way.
    pub fn finish_segments(mut self, opts: &BatchOptions) -> Result<Segments, DecodeError> {
        if self.count == 0 {
            return Err(DecodeError::invalid(
                "a record batch needs at least one record",
                0,
            ));
        }
        if opts.compression != Compression::None {
            self.splice_shared();
        }
        let mut out = if opts.compression == Compression::None {
            std::mem::take(&mut self.buf)
        } else {
            let raw = &self.buf[v2::HEADER_LEN..];
            let mut out = Vec::with_capacity(v2::HEADER_LEN + raw.len() / 2 + 64);
            out.resize(v2::HEADER_LEN, 0);
            compression::compress(opts.compression, opts.compression_level, raw, &mut out)?;
            out
        };
        let batch_len = out.len() + self.shared_len - v2::LOG_OVERHEAD;
        if batch_len > i32::MAX as usize {
            return Err(DecodeError::invalid("record batch larger than 2 GiB", 0));
        }
        let mut attributes = opts.compression as i16;
        if opts.transactional {
            attributes |= v2::TRANSACTIONAL_BIT;
        }
        let h = &mut out[..];
        put_at(h, 0, &opts.base_offset.to_be_bytes());
        put_at(h, 8, &(batch_len as i32).to_be_bytes());
        put_at(h, 12, &opts.partition_leader_epoch.to_be_bytes());
        h[v2::MAGIC_OFFSET] = 2;
        put_at(h, v2::ATTRIBUTES_OFFSET, &attributes.to_be_bytes());
        put_at(h, 23, &(self.count - 1).to_be_bytes());
        put_at(h, 27, &self.base_ts.to_be_bytes());
        put_at(h, 35, &self.max_ts.to_be_bytes());
        put_at(h, 57, &self.count.to_be_bytes());
        if self.shared.is_empty() {
            restamp(h, opts.producer_id, opts.producer_epoch, opts.base_sequence);
            return Ok(Segments::from(out));
        }
        let owned = Bytes::from(out);
        let mut parts = Vec::with_capacity(2 * self.shared.len() + 1);
        let mut from = 0;
        for (at, value) in self.shared.drain(..) {
            parts.push(owned.slice(from..at));
            parts.push(value);
            from = at;
        }
        parts.push(owned.slice(from..));
        Ok(restamp_segments(
            &Segments::new(parts),
            opts.producer_id,
            opts.producer_epoch,
            opts.base_sequence,
        ))
    }

    /// Copies the values kept by reference into `buf`, where they belong.
    fn splice_shared(&mut self) {
        if self.shared.is_empty() {
            return;
        }
        let mut buf = Vec::with_capacity(self.buf.len() + self.shared_len);
        let mut from = 0;
        for (at, value) in self.shared.drain(..) {
            buf.extend_from_slice(&self.buf[from..at]);
            buf.extend_from_slice(&value);
            from = at;
        }
        buf.extend_from_slice(&self.buf[from..]);
        self.buf = buf;
        self.shared_len = 0;
    }
}

/// [`restamp`] of a batch in segments: a new first segment (the header is in it) and
/// the others shared; the CRC is computed across them.
pub fn restamp_segments(
    batch: &Segments,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Segments {
    let parts = batch.parts();
    match parts {
        [first, ..] if first.len() >= v2::HEADER_LEN => {
            let mut head = first.to_vec();
            put_at(&mut head, 43, &producer_id.to_be_bytes());
            put_at(&mut head, 51, &producer_epoch.to_be_bytes());
            put_at(&mut head, 53, &base_sequence.to_be_bytes());
            let mut crc = crc32c::crc32c(&head[v2::ATTRIBUTES_OFFSET..]);
            for p in &parts[1..] {
                crc = crc32c::crc32c_append(crc, p);
            }
            put_at(&mut head, v2::CRC_OFFSET, &crc.to_be_bytes());
            let mut out = Vec::with_capacity(parts.len());
            out.push(Bytes::from(head));
            out.extend(parts[1..].iter().cloned());
            Segments::new(out)
        }
        // Not a batch this builder made (the header is split or missing): restamped in
        // one buffer.
        _ => {
            let mut v = Vec::from(batch.to_bytes());
            restamp(&mut v, producer_id, producer_epoch, base_sequence);
            Segments::from(v)
        }
    }
}

/// Writes producer id, epoch and base sequence into a finished v2 batch and recomputes
/// its CRC (the records, compressed or not, are untouched). `batch` must be one whole
/// batch as [`BatchBuilder::finish`] or [`encode_batch`] made it.
pub fn restamp(batch: &mut [u8], producer_id: i64, producer_epoch: i16, base_sequence: i32) {
    if batch.len() < v2::HEADER_LEN {
        return;
    }
    put_at(batch, 43, &producer_id.to_be_bytes());
    put_at(batch, 51, &producer_epoch.to_be_bytes());
    put_at(batch, 53, &base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&batch[v2::ATTRIBUTES_OFFSET..]);
    put_at(batch, v2::CRC_OFFSET, &crc.to_be_bytes());
}

#[cfg(test)]
mod builder_tests {
    use super::*;

    type Rec = (Option<Vec<u8>>, Option<Vec<u8>>, i64);

    fn recs() -> Vec<Rec> {
        (0..50)
            .map(|i: i64| {
                let key = (i % 3 != 0).then(|| format!("k{i}").into_bytes());
                let value = (i % 7 != 0).then(|| vec![i as u8; (i * 13 % 200) as usize]);
                (key, value, 1_700_000_000_000 + (i * 37) % 11 - 5)
            })
            .collect()
    }

    #[test]
    fn builder_matches_encode_batch_for_every_codec() {
        let rs = recs();
        let hdrs = [RecordHeaderIn {
            key: b"h",
            value: Some(b"v"),
        }];
        let ins: Vec<RecordIn<'_>> = rs
            .iter()
            .enumerate()
            .map(|(i, (k, v, ts))| RecordIn {
                key: k.as_deref(),
                value: v.as_deref(),
                headers: if i % 5 == 0 { &hdrs } else { &[] },
                timestamp: Some(*ts),
            })
            .collect();
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let opts = BatchOptions {
                compression: c,
                producer_id: 77,
                producer_epoch: 3,
                base_sequence: 1000,
                ..Default::default()
            };
            let mut want = Vec::new();
            encode_batch(&ins, &opts, &mut want).unwrap();
            let mut b = BatchBuilder::new(0);
            let mut size = b.size();
            for r in &ins {
                let ts = r.timestamp.unwrap();
                let predicted = b.record_size(r, ts);
                if b.is_empty() {
                    assert_eq!(BatchBuilder::first_record_size(r), predicted);
                }
                assert_eq!(b.append(r, ts), predicted);
                size += predicted;
                assert_eq!(b.size(), size);
            }
            assert_eq!(b.count(), ins.len() as i32);
            let got = b.finish(&opts).unwrap();
            assert_eq!(got, want, "{c:?}");
        }
    }

    #[test]
    fn restamp_equals_encoding_with_the_new_identity() {
        let r = [RecordIn {
            key: Some(b"k"),
            value: Some(b"value"),
            headers: &[],
            timestamp: Some(5),
        }];
        let mut a = Vec::new();
        encode_batch(
            &r,
            &BatchOptions {
                producer_id: 1,
                producer_epoch: 0,
                base_sequence: 0,
                compression: Compression::Lz4,
                ..Default::default()
            },
            &mut a,
        )
        .unwrap();
        let mut b = Vec::new();
        encode_batch(
            &r,
            &BatchOptions {
                producer_id: 9,
                producer_epoch: 4,
                base_sequence: 321,
                compression: Compression::Lz4,
                ..Default::default()
            },
            &mut b,
        )
        .unwrap();
        assert_ne!(a, b);
        restamp(&mut a, 9, 4, 321);
        assert_eq!(a, b);
    }

    /// Values kept by reference make the very batch that copying them makes: in segments
    /// (the large values shared, not copied) when uncompressed, in one buffer when
    /// compressed; restamping the segments gives the bytes of restamping the buffer; and
    /// the batch decodes with a valid CRC.
    #[test]
    fn shared_values_make_the_same_batch() {
        let values: Vec<Bytes> = (0..6)
            .map(|i| Bytes::from(vec![i as u8 + 1; [70_000, 3, 0, 100_000, 1, 65_536][i]]))
            .collect();
        let hdrs = [RecordHeaderIn {
            key: b"h",
            value: Some(b"v"),
        }];
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let opts = BatchOptions {
                compression: c,
                producer_id: 5,
                producer_epoch: 1,
                base_sequence: 7,
                ..Default::default()
            };
            let mut copied = BatchBuilder::new(0);
            let mut shared = BatchBuilder::new(0);
            for (i, v) in values.iter().enumerate() {
                let r = RecordIn {
                    key: (i % 2 == 0).then_some(&b"key"[..]),
                    value: Some(v),
                    headers: if i == 3 { &hdrs } else { &[] },
                    timestamp: None,
                };
                let ts = 1_700_000_000_000 + i as i64;
                let want = copied.append(&r, ts);
                // Only the large ones by reference, as the producer does.
                let got = if v.len() > 1000 {
                    let no_value = RecordIn { value: None, ..r };
                    shared.append_shared(&no_value, ts, v.clone())
                } else {
                    shared.append(&r, ts)
                };
                assert_eq!(got, want, "{c:?} record {i}");
                assert_eq!(shared.size(), copied.size());
            }
            let want = copied.finish(&opts).unwrap();
            let segs = shared.finish_segments(&opts).unwrap();
            assert_eq!(&segs.to_bytes()[..], &want[..], "{c:?}");
            if c == Compression::None {
                // Header and small records, 70000, …, 100000, …, 65536, the rest.
                assert_eq!(segs.parts().len(), 7);
                for (part, v) in [(1, 0), (3, 3), (5, 5)] {
                    assert_eq!(segs.parts()[part].as_ptr(), values[v].as_ptr());
                }
            } else {
                assert_eq!(segs.parts().len(), 1);
            }
            let again = restamp_segments(&segs, 99, 3, 1234);
            let mut flat = want.clone();
            restamp(&mut flat, 99, 3, 1234);
            assert_eq!(&again.to_bytes()[..], &flat[..], "{c:?}: restamped");
            assert_eq!(again.parts().len(), segs.parts().len());
            let set = crate::record::RecordSet::decode(
                again.to_bytes(),
                &crate::record::DecodeLimits::default(),
            )
            .unwrap();
            assert_eq!(set.len(), values.len());
            for (rec, v) in set.iter().zip(&values) {
                assert_eq!(rec.value, Some(&v[..]));
            }
        }
    }

    /// `append_within` encodes as `append` (and `append_shared`) do, refuses a record that
    /// would take a batch holding records past the limit, and always takes the first.
    #[test]
    fn append_within_checks_the_limit_and_encodes_as_append() {
        let big = Bytes::from(vec![7u8; 5000]);
        let recs: Vec<RecordIn<'_>> = (0..20)
            .map(|i| RecordIn {
                key: (i % 2 == 0).then_some(&b"key"[..]),
                value: Some(&b"value of some length"[..]),
                headers: &[],
                timestamp: None,
            })
            .collect();
        let mut want = BatchBuilder::new(0);
        let mut got = BatchBuilder::new(0);
        for (i, r) in recs.iter().enumerate() {
            let ts = 1_700_000_000_000 + i as i64;
            want.append(r, ts);
            assert!(got.append_within(r, ts, usize::MAX, None));
            assert_eq!(got.size(), want.size());
        }
        want.append_shared(&recs[0], 5, big.clone());
        assert!(got.append_within(&recs[0], 5, usize::MAX, Some(&big)));
        let opts = BatchOptions::default();
        assert_eq!(got.finish(&opts).unwrap(), want.finish(&opts).unwrap());

        let mut b = BatchBuilder::new(0);
        // The first record goes in whatever the limit.
        assert!(b.append_within(&recs[0], 1, 10, Some(&big)));
        let size = b.size();
        assert!(
            !b.append_within(&recs[1], 1, size + 10, None),
            "over the limit"
        );
        assert_eq!(b.size(), size, "nothing appended");
        assert!(b.append_within(&recs[1], 1, size + 100, None));
        assert_eq!(b.count(), 2);
    }

    /// `append_within` writes the bytes `append` does for records of every shape: null,
    /// empty and long keys and values (one- to three-byte lengths), headers, timestamps
    /// before and long after the first, and offset deltas past one varint byte.
    #[test]
    fn append_within_encodes_every_record_shape_as_append() {
        let long = vec![9u8; 200];
        let longer = vec![3u8; 20_000];
        let keys: [Option<&[u8]>; 4] = [None, Some(b""), Some(b"k"), Some(&long)];
        let values: [Option<&[u8]>; 5] = [None, Some(b""), Some(b"v"), Some(&long), Some(&longer)];
        let h1 = [RecordHeaderIn {
            key: b"h",
            value: Some(b"x"),
        }];
        let h2 = [
            RecordHeaderIn {
                key: b"a",
                value: None,
            },
            RecordHeaderIn {
                key: b"bb",
                value: Some(&long),
            },
        ];
        let headers: [&[RecordHeaderIn<'_>]; 3] = [&[], &h1, &h2];
        let times = [0i64, -5, 1, 1 << 40, -(1 << 50)];
        let mut want = BatchBuilder::new(0);
        let mut got = BatchBuilder::new(0);
        let mut n = 0;
        for key in keys.iter().chain(&keys).copied() {
            for value in values {
                for hs in headers {
                    let r = RecordIn {
                        key,
                        value,
                        headers: hs,
                        timestamp: None,
                    };
                    let ts = 1_700_000_000_000 + times[n % times.len()];
                    n += 1;
                    want.append(&r, ts);
                    assert!(got.append_within(&r, ts, usize::MAX, None));
                    assert_eq!(got.size(), want.size(), "record {n}");
                }
            }
        }
        assert!(n > 64, "offset deltas past one varint byte");
        let opts = BatchOptions::default();
        assert_eq!(got.finish(&opts).unwrap(), want.finish(&opts).unwrap());
    }

    #[test]
    fn empty_builder_refuses_to_finish() {
        assert!(BatchBuilder::new(10)
            .finish(&BatchOptions::default())
            .is_err());
    }
}
