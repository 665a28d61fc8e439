//! Record batches as they are on the wire: the headers of a partition's batches, read
//! with a raw Fetch through kafkac's connection layer, so nothing is decompressed or
//! interpreted. The interop tests check with them that every batch carries the codec
//! under test, so a codec a producer silently skipped can't pass unnoticed.

use super::records::CODECS;
use kafkac::cluster::Cluster;
use kafkac::protocol::messages::{FetchPartition, FetchRequest, FetchTopic};
use kafkac::Client;
use std::time::{Duration, Instant};

/// A RecordBatch v2 header as it is on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Batch {
    pub base_offset: i64,
    pub last_offset: i64,
    /// attributes & 7
    pub codec: i16,
    pub transactional: bool,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub count: i32,
}

/// The header of every record batch of `topic`/`partition` that holds an offset in
/// `from..to`; every one must be a RecordBatch v2. Fails after `timeout`.
pub fn batches(
    c: &Client,
    topic: &str,
    partition: i32,
    from: i64,
    to: i64,
    timeout: Duration,
) -> Vec<Batch> {
    let cluster = c.cluster();
    let deadline = Cluster::deadline(timeout);
    let leader = cluster.leader(topic, partition, false, deadline).unwrap();
    let conn = cluster.broker(leader, deadline).unwrap();
    let mut out = Vec::new();
    let mut offset = from;
    while offset < to {
        assert!(Instant::now() < deadline, "raw fetch of {topic} timed out");
        let req = FetchRequest {
            replica_id: -1,
            max_wait_ms: 100,
            min_bytes: 1,
            max_bytes: 8 << 20,
            isolation_level: 0,
            session_id: 0,
            session_epoch: -1,
            topics: vec![FetchTopic {
                topic: topic.into(),
                partitions: vec![FetchPartition {
                    partition,
                    fetch_offset: offset,
                    partition_max_bytes: 8 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let (_, resp) = conn.request(&req, deadline).unwrap();
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "raw fetch of {topic} at {offset}");
        let data = p.records.clone().unwrap_or_default();
        let mut pos = 0;
        // baseOffset i64, batchLength i32, partitionLeaderEpoch i32, magic i8, crc u32,
        // attributes i16, lastOffsetDelta i32, baseTimestamp i64, maxTimestamp i64,
        // producerId i64, producerEpoch i16, baseSequence i32, recordCount i32
        while pos + 61 <= data.len() {
            let be = |at: usize, n: usize| {
                data[pos + at..pos + at + n]
                    .iter()
                    .fold(0i64, |acc, &x| (acc << 8) | i64::from(x))
            };
            let base = be(0, 8);
            let len = be(8, 4) as usize;
            if pos + 12 + len > data.len() {
                break; // partial batch at the end
            }
            assert_eq!(
                data[pos + 16],
                2,
                "{topic}: batch at {base} is not RecordBatch v2"
            );
            let attributes = be(21, 2) as i16;
            let last = base + be(23, 4);
            if last >= offset && base < to {
                out.push(Batch {
                    base_offset: base,
                    last_offset: last,
                    codec: attributes & 7,
                    transactional: attributes & 0x10 != 0,
                    producer_id: be(43, 8),
                    producer_epoch: be(51, 2) as i16,
                    base_sequence: be(53, 4) as i32,
                    count: be(57, 4) as i32,
                });
            }
            offset = offset.max(last + 1);
            pos += 12 + len;
        }
    }
    out
}

/// The attributes codec of the codec named `name` in [`CODECS`].
pub fn codec_id(name: &str) -> i16 {
    CODECS.iter().position(|(n, _)| *n == name).unwrap() as i16
}

/// There are batches and every one carries codec `name`; `Ok` is a note saying how many.
pub fn check_codecs(batches: &[Batch], name: &str) -> Result<String, String> {
    let want = codec_id(name);
    let codecs: Vec<i16> = batches.iter().map(|b| b.codec).collect();
    if codecs.is_empty() || codecs.iter().any(|&c| c != want) {
        return Err(format!(
            "batches on the wire have codecs {codecs:?}, want {want} ({name}) for all"
        ));
    }
    Ok(format!("({} batch(es) {name} on the wire)", codecs.len()))
}
