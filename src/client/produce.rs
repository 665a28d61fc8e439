//! Produce: one batch of records to one partition, at the leader.

use super::Client;
use crate::cluster::Cluster;
use crate::error::{local, Error, Result};
use crate::protocol::messages::{PartitionProduceData, ProduceRequest, TopicProduceData};
use crate::record::{encode_batch, BatchOptions, Compression, RecordIn};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Client {
    /// Produces `records` as one batch to `topic`/`partition` and returns the offset the
    /// broker assigned to the first record (-1 with `acks` 0, which waits for nothing).
    /// `acks`: 0, 1 or -1 (all in-sync replicas).
    pub fn produce(
        &self,
        topic: &str,
        partition: i32,
        records: &[RecordIn<'_>],
        acks: i16,
        compression: Compression,
        timeout: Duration,
    ) -> Result<i64> {
        if records.is_empty() {
            return Err(Error::invalid_arg("produce needs at least one record"));
        }
        if !matches!(acks, -1..=1) {
            return Err(Error::invalid_arg(format!(
                "acks must be 0, 1 or -1, not {acks}"
            )));
        }
        let settings = &self.cluster().settings;
        let opts = BatchOptions {
            compression,
            compression_level: (settings.compression_level >= 0)
                .then_some(settings.compression_level),
            now_ms: now_ms(),
            ..Default::default()
        };
        let mut batch = Vec::with_capacity(records.len() * 32 + 128);
        encode_batch(records, &opts, &mut batch).map_err(|e| {
            Error::new(
                local::BAD_COMPRESSION,
                format!("{topic}/{partition}: encoding the batch failed: {e}"),
            )
        })?;
        if batch.len() > settings.message_max_bytes {
            return Err(Error::new(
                10,
                format!(
                    "{topic}/{partition}: batch of {} bytes exceeds message.max.bytes ({})",
                    batch.len(),
                    settings.message_max_bytes
                ),
            ));
        }
        let batch = bytes::Bytes::from(batch);
        let timeout_ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let req = ProduceRequest {
            transactional_id: None,
            acks,
            timeout_ms,
            topic_data: vec![TopicProduceData {
                name: topic.to_owned(),
                partition_data: vec![PartitionProduceData {
                    index: partition,
                    records: Some(batch),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let cluster = self.cluster();
        let deadline = Cluster::deadline(timeout);
        cluster.retry(deadline, |attempt| {
            let leader = cluster.leader(topic, partition, attempt > 0, deadline)?;
            let conn = cluster.broker(leader, deadline)?;
            let ctx = || format!("Produce to {topic}/{partition} on {}", conn.name);
            if acks == 0 {
                conn.request_no_response(&req)
                    .map_err(|e| e.context(ctx()))?;
                return Ok(-1);
            }
            let (_, resp) = conn.request(&req, deadline).map_err(|e| e.context(ctx()))?;
            let p = resp
                .responses
                .iter()
                .filter(|t| t.name == topic)
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == partition)
                .ok_or_else(|| {
                    Error::protocol(format!("{}: partition missing from the response", ctx()))
                })?;
            if p.error_code != 0 {
                let err =
                    Error::kafka_with_message(p.error_code, p.error_message.as_deref(), ctx());
                if err.needs_metadata_refresh() {
                    cluster.invalidate(topic);
                }
                return Err(err);
            }
            Ok(p.base_offset)
        })
    }
}
