//! Pieces shared by the test brokers written in Rust (`tests/bad_broker.rs`,
//! `tests/old_broker.rs`): reading a request, and writing answers and record sets.
//!
//! None of it uses kafkac's own codecs. Requests are parsed, and answers and record sets
//! written, field by field from the Kafka protocol guide (<https://kafka.apache.org/protocol>,
//! and "Message Format" in the documentation for record batches and legacy message sets)
//! and the message schemas of apache/kafka
//! (`clients/src/main/resources/common/message/*.json`), so that a bug kafkac's encoder
//! and decoder share cannot cancel itself out in these tests. The checksums come from the
//! `crc32c` (CRC-32C, record batches) and `crc32fast` (CRC-32, legacy messages) crates.
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpStream;

// API keys (protocol guide, "Api Keys").
pub const PRODUCE: i16 = 0;
pub const FETCH: i16 = 1;
pub const LIST_OFFSETS: i16 = 2;
pub const METADATA: i16 = 3;
pub const API_VERSIONS: i16 = 18;

/// What the fake brokers of `tests/bad_broker.rs` and `tests/net_core.rs` answer to
/// ApiVersions: (api_key, min_version, max_version).
pub const APIS: &[(i16, i16, i16)] = &[
    (PRODUCE, 3, 9),
    (FETCH, 4, 12),
    (LIST_OFFSETS, 1, 7),
    (METADATA, 1, 12),
    (API_VERSIONS, 0, 3),
];

/// Whether `version` of `api_key` is flexible ("flexibleVersions" of its request schema):
/// then the request header is v2 (with tagged fields) and compact types are used.
pub fn flexible(api_key: i16, version: i16) -> bool {
    match api_key {
        PRODUCE => version >= 9,
        FETCH => version >= 12,
        LIST_OFFSETS => version >= 6,
        METADATA => version >= 9,
        API_VERSIONS => version >= 3,
        _ => false,
    }
}

/// Reads one size-prefixed request frame; `None` when the client has gone.
pub fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

/// A request: its header fields, and the body that follows the header.
pub struct Request {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
    pub body: Vec<u8>,
}

/// Reads one request and parses its header; `None` when the client has gone.
pub fn read_request(s: &mut TcpStream) -> Option<Request> {
    let frame = read_frame(s)?;
    let mut c = Cursor::new(&frame);
    // Request header v1, or v2 for a flexible version.
    let api_key = c.i16(); // request_api_key
    let api_version = c.i16(); // request_api_version
    let correlation_id = c.i32(); // correlation_id
    let client_id = c.nullable_string(); // client_id: INT16-length string in every version
    if flexible(api_key, api_version) {
        c.skip_tagged_fields(); // header v2: TAG_BUFFER
    }
    Some(Request {
        api_key,
        api_version,
        correlation_id,
        client_id,
        body: c.rest().to_vec(),
    })
}

/// Reads the protocol's primitive types (protocol guide, "Protocol Primitive Types") from
/// a buffer; panics, naming the position, on bytes that do not fit.
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(
            n <= self.remaining(),
            "{n} bytes wanted at {} of a {}-byte buffer",
            self.pos,
            self.buf.len()
        );
        let b = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        b
    }

    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.remaining())
    }

    pub fn i8(&mut self) -> i8 {
        self.take(1)[0] as i8
    }

    pub fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }

    pub fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }

    pub fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }

    /// UNSIGNED_VARINT: 7 bits a byte, least significant group first.
    pub fn unsigned_varint(&mut self) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return v;
            }
        }
        panic!("varint longer than 10 bytes at {}", self.pos);
    }

    /// STRING: INT16 length N, then N bytes of UTF-8.
    pub fn string(&mut self) -> String {
        let n = self.i16();
        assert!(n >= 0, "null STRING at {}", self.pos - 2);
        String::from_utf8(self.take(n as usize).to_vec()).unwrap()
    }

    /// NULLABLE_STRING: as STRING, or length -1 for null.
    pub fn nullable_string(&mut self) -> Option<String> {
        let n = self.i16();
        if n == -1 {
            return None;
        }
        assert!(n >= 0, "STRING length {n} at {}", self.pos - 2);
        Some(String::from_utf8(self.take(n as usize).to_vec()).unwrap())
    }

    /// NULLABLE_BYTES: INT32 length N, then N bytes; -1 for null.
    pub fn nullable_bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.i32();
        if n == -1 {
            return None;
        }
        assert!(n >= 0, "BYTES length {n} at {}", self.pos - 4);
        Some(self.take(n as usize))
    }

    /// ARRAY: INT32 count N (-1 for null), then N elements; returns N.
    pub fn array_len(&mut self) -> i32 {
        self.i32()
    }

    /// TAG_BUFFER: UNSIGNED_VARINT count, then per field its tag, its size and its bytes.
    pub fn skip_tagged_fields(&mut self) {
        for _ in 0..self.unsigned_varint() {
            self.unsigned_varint(); // tag
            let size = self.unsigned_varint() as usize;
            self.take(size);
        }
    }
}

/// Writes the protocol's primitive types into a response frame.
pub struct Frame(Vec<u8>);

impl Frame {
    /// Starts a response for `correlation_id`: response header v0 (the correlation id), or
    /// v1 (the correlation id and an empty TAG_BUFFER) when `header_v1`, which flexible
    /// versions use, ApiVersions excepted.
    pub fn response(correlation_id: i32, header_v1: bool) -> Frame {
        let mut f = Frame(vec![0; 4]); // size, filled in by `finish`
        f.i32(correlation_id); // correlation_id
        if header_v1 {
            f.tagged_fields(); // TAG_BUFFER: none
        }
        f
    }

    /// The frame: INT32 size of what follows, then the header and body.
    pub fn finish(mut self) -> Vec<u8> {
        let size = (self.0.len() - 4) as i32;
        self.0[..4].copy_from_slice(&size.to_be_bytes());
        self.0
    }

    pub fn raw(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }

    pub fn i8(&mut self, v: i8) {
        self.0.push(v as u8);
    }

    pub fn bool(&mut self, v: bool) {
        self.0.push(u8::from(v));
    }

    pub fn i16(&mut self, v: i16) {
        self.raw(&v.to_be_bytes());
    }

    pub fn i32(&mut self, v: i32) {
        self.raw(&v.to_be_bytes());
    }

    pub fn i64(&mut self, v: i64) {
        self.raw(&v.to_be_bytes());
    }

    pub fn unsigned_varint(&mut self, v: u64) {
        unsigned_varint(&mut self.0, v);
    }

    /// An empty TAG_BUFFER.
    pub fn tagged_fields(&mut self) {
        self.unsigned_varint(0);
    }

    /// STRING (INT16 length), or COMPACT_STRING (UNSIGNED_VARINT length + 1) if `compact`.
    pub fn string(&mut self, compact: bool, s: &str) {
        if compact {
            self.unsigned_varint(s.len() as u64 + 1);
        } else {
            self.i16(s.len() as i16);
        }
        self.raw(s.as_bytes());
    }

    /// NULLABLE_STRING (length -1 for null), or COMPACT_NULLABLE_STRING (0 for null).
    pub fn nullable_string(&mut self, compact: bool, s: Option<&str>) {
        match s {
            Some(s) => self.string(compact, s),
            None if compact => self.unsigned_varint(0),
            None => self.i16(-1),
        }
    }

    /// BYTES (INT32 length), or COMPACT_BYTES (UNSIGNED_VARINT length + 1) if `compact`.
    /// RECORDS are written the same way.
    pub fn bytes(&mut self, compact: bool, b: &[u8]) {
        if compact {
            self.unsigned_varint(b.len() as u64 + 1);
        } else {
            self.i32(b.len() as i32);
        }
        self.raw(b);
    }

    /// The count of an ARRAY (INT32), or of a COMPACT_ARRAY (UNSIGNED_VARINT count + 1).
    pub fn array(&mut self, compact: bool, n: usize) {
        if compact {
            self.unsigned_varint(n as u64 + 1);
        } else {
            self.i32(n as i32);
        }
    }

    /// A null ARRAY (count -1), or a null COMPACT_ARRAY (0).
    pub fn null_array(&mut self, compact: bool) {
        if compact {
            self.unsigned_varint(0);
        } else {
            self.i32(-1);
        }
    }
}

/// UNSIGNED_VARINT: 7 bits a byte, least significant group first, high bit set on every
/// byte but the last.
pub fn unsigned_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// VARINT / VARLONG: zigzag (0, -1, 1, -2… as 0, 1, 2, 3…), then as UNSIGNED_VARINT.
pub fn varint(out: &mut Vec<u8>, v: i64) {
    unsigned_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// ApiVersions response (key 18), v0–v3, listing `apis` as (key, min, max).
pub fn api_versions_response(
    correlation_id: i32,
    version: i16,
    error_code: i16,
    apis: &[(i16, i16, i16)],
) -> Vec<u8> {
    assert!((0..=3).contains(&version), "ApiVersions v{version}");
    let flex = version >= 3;
    // ApiVersions keeps response header v0 in flexible versions too: a client must be
    // able to read the answer before it knows which versions the broker speaks.
    let mut f = Frame::response(correlation_id, false);
    f.i16(error_code); // error_code
    f.array(flex, apis.len()); // api_keys
    for &(key, min, max) in apis {
        f.i16(key); // api_key
        f.i16(min); // min_version
        f.i16(max); // max_version
        if flex {
            f.tagged_fields(); // TAG_BUFFER
        }
    }
    if version >= 1 {
        f.i32(0); // throttle_time_ms
    }
    if flex {
        f.tagged_fields(); // TAG_BUFFER: no supported or finalized features
    }
    f.finish()
}

/// The topic id the metadata answers give (Metadata v10+): any non-zero UUID.
pub const TOPIC_ID: [u8; 16] = *b"kafkac-fake-topc";

/// Metadata response (key 3), v0–v12: a cluster of one broker (`node_id` at
/// 127.0.0.1:`port`, also the controller) holding `topic` with one partition it leads.
pub fn metadata_response(
    correlation_id: i32,
    version: i16,
    node_id: i32,
    port: u16,
    topic: &str,
) -> Vec<u8> {
    metadata_response_of(
        correlation_id,
        version,
        &[(node_id, port)],
        &[topic],
        node_id,
        0,
    )
}

/// Fetch response (key 1), v0–v12: partition 0 of `topic` with `records` (the
/// RECORDS field: record batches or a legacy message set, as is).
pub fn fetch_response(
    correlation_id: i32,
    version: i16,
    topic: &str,
    high_watermark: i64,
    records: &[u8],
) -> Vec<u8> {
    assert!((0..=12).contains(&version), "Fetch v{version}");
    let flex = version >= 12;
    let mut f = Frame::response(correlation_id, flex);
    if version >= 1 {
        f.i32(0); // throttle_time_ms
    }
    if version >= 7 {
        f.i16(0); // error_code
        f.i32(0); // session_id: no fetch session
    }
    f.array(flex, 1); // responses
    f.string(flex, topic); // topic
    f.array(flex, 1); // partitions
    f.i32(0); // partition_index
    f.i16(0); // error_code
    f.i64(high_watermark); // high_watermark
    if version >= 4 {
        f.i64(-1); // last_stable_offset: unknown
    }
    if version >= 5 {
        f.i64(-1); // log_start_offset: unknown
    }
    if version >= 4 {
        f.null_array(flex); // aborted_transactions: null
    }
    if version >= 11 {
        f.i32(-1); // preferred_read_replica: none
    }
    f.bytes(flex, records); // records
    if flex {
        f.tagged_fields(); // partition's TAG_BUFFER (no diverging epoch, leader, snapshot)
        f.tagged_fields(); // topic's TAG_BUFFER
        f.tagged_fields(); // TAG_BUFFER
    }
    f.finish()
}

/// The compression codec ids of the attributes of batches and messages (bits 0–2).
pub const CODEC_NONE: u8 = 0;
pub const CODEC_GZIP: u8 = 1;
pub const CODEC_SNAPPY: u8 = 2;
pub const CODEC_LZ4: u8 = 3;

/// A gzip stream of `data` (flate2, not kafkac).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A RecordBatch (magic 2) at `base_offset` holding one record per value, each with a
/// null key, no headers and timestamp `timestamp`; its records gzip-compressed if `gzip`.
pub fn record_batch(base_offset: i64, timestamp: i64, values: &[&[u8]], gzip: bool) -> Vec<u8> {
    let mut records = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let mut r = Vec::new();
        r.push(0); // attributes: int8, unused
        varint(&mut r, 0); // timestampDelta: varlong
        varint(&mut r, i as i64); // offsetDelta: varint
        varint(&mut r, -1); // keyLength: varint, -1 for a null key
        varint(&mut r, value.len() as i64); // valueLength: varint
        r.extend_from_slice(value); // value
        varint(&mut r, 0); // headers count: varint
        varint(&mut records, r.len() as i64); // length: varint
        records.extend_from_slice(&r);
    }
    let (codec, records) = if gzip {
        // With compression, what follows recordsCount is the compressed records.
        (CODEC_GZIP, self::gzip(&records))
    } else {
        (CODEC_NONE, records)
    };
    // What the CRC covers: attributes to the end of the batch.
    let mut tail = Vec::new();
    tail.extend_from_slice(&i16::from(codec).to_be_bytes()); // attributes: codec, CreateTime
    tail.extend_from_slice(&(values.len() as i32 - 1).to_be_bytes()); // lastOffsetDelta
    tail.extend_from_slice(&timestamp.to_be_bytes()); // baseTimestamp
    tail.extend_from_slice(&timestamp.to_be_bytes()); // maxTimestamp
    tail.extend_from_slice(&(-1i64).to_be_bytes()); // producerId: none
    tail.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch: none
    tail.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence: none
    tail.extend_from_slice(&(values.len() as i32).to_be_bytes()); // recordsCount
    tail.extend_from_slice(&records); // records
    let mut b = Vec::new();
    b.extend_from_slice(&base_offset.to_be_bytes()); // baseOffset
    let batch_length = 4 + 1 + 4 + tail.len(); // partitionLeaderEpoch, magic, crc, the rest
    b.extend_from_slice(&(batch_length as i32).to_be_bytes()); // batchLength
    b.extend_from_slice(&0i32.to_be_bytes()); // partitionLeaderEpoch
    b.push(2); // magic
    b.extend_from_slice(&crc32c::crc32c(&tail).to_be_bytes()); // crc: CRC-32C
    b.extend_from_slice(&tail);
    b
}

/// Appends one entry of a legacy message set (magic 0 or 1) to `out`: offset, size and
/// the message (crc, magic, attributes, timestamp from magic 1, key, value). The CRC is
/// the CRC-32 of everything from magic to the end of the message.
pub fn legacy_message(
    out: &mut Vec<u8>,
    offset: i64,
    magic: i8,
    attributes: u8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let mut m = Vec::new();
    m.push(magic as u8); // magic
    m.push(attributes); // attributes: bits 0-2 codec, bit 3 timestamp type (magic 1)
    if magic >= 1 {
        m.extend_from_slice(&timestamp.to_be_bytes()); // timestamp
    }
    for field in [key, value] {
        match field {
            Some(b) => {
                m.extend_from_slice(&(b.len() as i32).to_be_bytes()); // length
                m.extend_from_slice(b);
            }
            None => m.extend_from_slice(&(-1i32).to_be_bytes()), // null
        }
    }
    out.extend_from_slice(&offset.to_be_bytes()); // offset
    out.extend_from_slice(&(m.len() as i32 + 4).to_be_bytes()); // message_size: crc + rest
    out.extend_from_slice(&crc32fast::hash(&m).to_be_bytes()); // crc: CRC-32
    out.extend_from_slice(&m);
}

/// Like [`APIS`], with Produce up to v11, whose answers name the new leader of a partition
/// (KIP-951, Produce v10+).
pub const APIS_PRODUCE_V11: &[(i16, i16, i16)] = &[
    (PRODUCE, 3, 11),
    (FETCH, 4, 12),
    (LIST_OFFSETS, 1, 7),
    (METADATA, 1, 12),
    (API_VERSIONS, 0, 3),
];

/// Metadata response (key 3), v0–v12: a cluster of `brokers` (id, port on 127.0.0.1),
/// the first one the controller, holding `topics`, each with one partition led by
/// `leader` at `leader_epoch` (sent from v7) and replicated on every broker.
pub fn metadata_response_of(
    correlation_id: i32,
    version: i16,
    brokers: &[(i32, u16)],
    topics: &[&str],
    leader: i32,
    leader_epoch: i32,
) -> Vec<u8> {
    assert!((0..=12).contains(&version), "Metadata v{version}");
    let flex = version >= 9;
    let mut f = Frame::response(correlation_id, flex);
    if version >= 3 {
        f.i32(0); // throttle_time_ms
    }
    f.array(flex, brokers.len()); // brokers
    for &(id, port) in brokers {
        f.i32(id); // node_id
        f.string(flex, "127.0.0.1"); // host
        f.i32(i32::from(port)); // port
        if version >= 1 {
            f.nullable_string(flex, None); // rack: none
        }
        if flex {
            f.tagged_fields(); // broker's TAG_BUFFER
        }
    }
    if version >= 2 {
        f.nullable_string(flex, None); // cluster_id: none
    }
    if version >= 1 {
        f.i32(brokers[0].0); // controller_id
    }
    f.array(flex, topics.len()); // topics
    for (i, topic) in topics.iter().enumerate() {
        f.i16(0); // error_code
        if version >= 12 {
            f.nullable_string(flex, Some(topic)); // name (nullable from v12)
        } else {
            f.string(flex, topic); // name
        }
        if version >= 10 {
            let mut id = TOPIC_ID;
            id[15] = id[15].wrapping_add(i as u8); // one id per topic
            f.raw(&id); // topic_id: UUID
        }
        if version >= 1 {
            f.bool(false); // is_internal
        }
        f.array(flex, 1); // partitions
        f.i16(0); // error_code
        f.i32(0); // partition_index
        f.i32(leader); // leader_id
        if version >= 7 {
            f.i32(leader_epoch); // leader_epoch
        }
        for _ in 0..2 {
            f.array(flex, brokers.len()); // replica_nodes, then isr_nodes
            for &(id, _) in brokers {
                f.i32(id);
            }
        }
        if version >= 5 {
            f.array(flex, 0); // offline_replicas: none
        }
        if flex {
            f.tagged_fields(); // partition's TAG_BUFFER
        }
        if version >= 8 {
            f.i32(i32::MIN); // topic_authorized_operations: not asked for
        }
        if flex {
            f.tagged_fields(); // topic's TAG_BUFFER
        }
    }
    if (8..=10).contains(&version) {
        f.i32(i32::MIN); // cluster_authorized_operations: not asked for
    }
    if flex {
        f.tagged_fields(); // TAG_BUFFER
    }
    f.finish()
}

/// The topic names a Metadata request (key 3, v1–v12) asks for: `None` for every topic
/// (a null array), names of topics asked by id (v10+) as empty strings.
pub fn metadata_request_topics(body: &[u8], version: i16) -> Option<Vec<String>> {
    assert!((1..=12).contains(&version), "Metadata v{version}");
    let flex = version >= 9;
    let mut c = Cursor::new(body);
    let n: i64 = if flex {
        c.unsigned_varint() as i64 - 1 // COMPACT_ARRAY: count + 1, 0 for null
    } else {
        i64::from(c.array_len()) // ARRAY: -1 for null
    };
    if n < 0 {
        return None;
    }
    let mut names = Vec::new();
    for _ in 0..n {
        if version >= 10 {
            c.take(16); // topic_id: UUID
        }
        let name = if flex {
            // COMPACT_(NULLABLE_)STRING: length + 1, 0 for null (v10+).
            match c.unsigned_varint() {
                0 => String::new(),
                len => String::from_utf8(c.take(len as usize - 1).to_vec()).unwrap(),
            }
        } else {
            c.string() // name: STRING
        };
        if flex {
            c.skip_tagged_fields(); // topic's TAG_BUFFER
        }
        names.push(name);
    }
    Some(names)
}

/// The bytes of a `LeaderIdAndEpoch` tagged field's value: LeaderId, LeaderEpoch (INT32
/// each) and the structure's own empty TAG_BUFFER.
fn leader_id_and_epoch(leader: i32, epoch: i32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&leader.to_be_bytes()); // LeaderId
    v.extend_from_slice(&epoch.to_be_bytes()); // LeaderEpoch
    v.push(0); // TAG_BUFFER
    v
}

/// A TAG_BUFFER holding `fields` as (tag, value bytes), tags in ascending order.
fn tag_buffer(f: &mut Frame, fields: &[(u64, Vec<u8>)]) {
    f.unsigned_varint(fields.len() as u64); // number of tagged fields
    for (tag, data) in fields {
        f.unsigned_varint(*tag); // tag
        f.unsigned_varint(data.len() as u64); // size
        f.raw(data); // value
    }
}

/// Produce response (key 0), v3–v11, for partition 0 of `topic`: `error_code` and
/// `base_offset`; from v10 `current_leader` (LeaderId, LeaderEpoch) as the partition's
/// tagged field 0 (`CurrentLeader`) and `endpoints` (NodeId, port on 127.0.0.1) as the
/// response's tagged field 0 (`NodeEndpoints`), each only when given (KIP-951).
pub fn produce_response(
    correlation_id: i32,
    version: i16,
    topic: &str,
    error_code: i16,
    base_offset: i64,
    current_leader: Option<(i32, i32)>,
    endpoints: &[(i32, u16)],
) -> Vec<u8> {
    assert!((3..=11).contains(&version), "Produce v{version}");
    assert!(
        version >= 10 || (current_leader.is_none() && endpoints.is_empty()),
        "no leader hints before Produce v10"
    );
    let flex = version >= 9;
    let mut f = Frame::response(correlation_id, flex);
    f.array(flex, 1); // responses
    f.string(flex, topic); // name
    f.array(flex, 1); // partition_responses
    f.i32(0); // index
    f.i16(error_code); // error_code
    f.i64(base_offset); // base_offset
    f.i64(-1); // log_append_time_ms: CreateTime
    if version >= 5 {
        f.i64(-1); // log_start_offset: unknown
    }
    if version >= 8 {
        f.array(flex, 0); // record_errors: none
        f.nullable_string(flex, None); // error_message: none
    }
    if flex {
        let fields: Vec<(u64, Vec<u8>)> = current_leader
            .map(|(l, e)| (0, leader_id_and_epoch(l, e))) // CurrentLeader: tag 0
            .into_iter()
            .collect();
        tag_buffer(&mut f, &fields); // partition's TAG_BUFFER
        f.tagged_fields(); // topic's TAG_BUFFER
    }
    f.i32(0); // throttle_time_ms
    if flex {
        let mut fields = Vec::new();
        if !endpoints.is_empty() {
            // NodeEndpoints (tag 0): COMPACT_ARRAY of NodeId, Host, Port, Rack, TAG_BUFFER.
            let mut e = Frame(Vec::new());
            e.array(true, endpoints.len());
            for &(id, port) in endpoints {
                e.i32(id); // NodeId
                e.string(true, "127.0.0.1"); // Host
                e.i32(i32::from(port)); // Port
                e.nullable_string(true, None); // Rack: none
                e.tagged_fields(); // TAG_BUFFER
            }
            fields.push((0, e.0));
        }
        tag_buffer(&mut f, &fields); // TAG_BUFFER
    }
    f.finish()
}

/// One partition of a [`fetch_response_of`]: partition 0 of `topic`, its error code, the
/// leader it names (LeaderId, LeaderEpoch) as tagged field 1 (`CurrentLeader`, KIP-951,
/// v12+) when given, and its records.
pub struct FetchPart<'a> {
    pub topic: &'a str,
    pub error_code: i16,
    pub current_leader: Option<(i32, i32)>,
    pub records: &'a [u8],
}

/// Fetch response (key 1), v4–v12, with `parts` (one topic each, partition 0). The high
/// watermark is 1 for a partition with records, -1 (unknown) for one with an error.
pub fn fetch_response_of(correlation_id: i32, version: i16, parts: &[FetchPart<'_>]) -> Vec<u8> {
    assert!((4..=12).contains(&version), "Fetch v{version}");
    let flex = version >= 12;
    let mut f = Frame::response(correlation_id, flex);
    f.i32(0); // throttle_time_ms
    if version >= 7 {
        f.i16(0); // error_code
        f.i32(0); // session_id: no fetch session
    }
    f.array(flex, parts.len()); // responses
    for p in parts {
        assert!(
            flex || p.current_leader.is_none(),
            "no leader hints before Fetch v12"
        );
        f.string(flex, p.topic); // topic
        f.array(flex, 1); // partitions
        f.i32(0); // partition_index
        f.i16(p.error_code); // error_code
        let hw = if p.error_code == 0 { 1 } else { -1 };
        f.i64(hw); // high_watermark
        f.i64(-1); // last_stable_offset: unknown
        if version >= 5 {
            f.i64(-1); // log_start_offset: unknown
        }
        f.null_array(flex); // aborted_transactions: null
        if version >= 11 {
            f.i32(-1); // preferred_read_replica: none
        }
        f.bytes(flex, p.records); // records
        if flex {
            let fields: Vec<(u64, Vec<u8>)> = p
                .current_leader
                .map(|(l, e)| (1, leader_id_and_epoch(l, e))) // CurrentLeader: tag 1
                .into_iter()
                .collect();
            tag_buffer(&mut f, &fields); // partition's TAG_BUFFER
            f.tagged_fields(); // topic's TAG_BUFFER
        }
    }
    if flex {
        f.tagged_fields(); // TAG_BUFFER
    }
    f.finish()
}
