//! Produce: one batch of records to one partition, at the leader.

use super::Client;
use crate::cluster::{BrokerMeta, Cluster, LeaderHint};
use crate::error::{local, Error, Result};
use crate::protocol::messages::{
    NodeEndpoint, PartitionProduceData, PartitionProduceResponse, ProduceRequest, ProduceResponse,
    TopicProduceData,
};
use crate::record::{encode_batch, encode_legacy_message_set, BatchOptions, Compression, RecordIn};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Whether an error code is one with which a broker may name the new leader (KIP-951).
pub(crate) fn may_name_leader(code: i32) -> bool {
    // NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH.
    matches!(code, 6 | 74)
}

/// Applies the leader a Produce answer names for `topic`/`p.index` with
/// NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH (`CurrentLeader`, with the addresses of
/// `NodeEndpoints`); whether a retry can go to it without a Metadata request.
pub(crate) fn apply_leader_hint(
    cluster: &Cluster,
    topic: &str,
    p: &PartitionProduceResponse,
    resp: &ProduceResponse,
) -> bool {
    if !may_name_leader(i32::from(p.error_code)) {
        return false;
    }
    let Some(leader) = p.current_leader().filter(|l| l.is_known()) else {
        return false;
    };
    let hint = LeaderHint {
        topic: topic.to_owned(),
        partition: p.index,
        leader: leader.leader_id,
        leader_epoch: leader.leader_epoch,
    };
    let endpoints = endpoints_meta(resp.node_endpoints());
    cluster.apply_leader_hints(&[hint], &endpoints)[0]
}

/// `NodeEndpoints` as brokers of the cluster.
pub(crate) fn endpoints_meta(endpoints: Vec<NodeEndpoint>) -> Vec<BrokerMeta> {
    endpoints
        .into_iter()
        .map(|e| BrokerMeta {
            id: e.node_id,
            host: e.host,
            port: e.port,
            rack: e.rack,
        })
        .collect()
}

impl Client {
    /// Encodes the records as one batch in message format `magic` (2, or legacy 1 or 0
    /// for brokers older than Kafka 0.11), within `message.max.bytes`.
    fn encode_records(
        &self,
        topic: &str,
        partition: i32,
        records: &[RecordIn<'_>],
        compression: Compression,
        magic: i8,
        broker: &str,
    ) -> Result<bytes::Bytes> {
        let settings = &self.cluster().settings;
        let now = now_ms();
        // Empty: a v2 batch without compression takes a buffer of its size from those
        // released by earlier ones (see `encode_batch`), and gives it back once sent.
        let mut batch = Vec::new();
        let encoded = if magic == 2 {
            let opts = BatchOptions {
                compression,
                compression_level: (settings.compression_level >= 0)
                    .then_some(settings.compression_level),
                now_ms: now,
                ..Default::default()
            };
            encode_batch(records, &opts, &mut batch)
        } else {
            let unsupported = |what: &str| {
                Error::new(
                    local::UNSUPPORTED_FEATURE,
                    format!(
                        "{topic}/{partition}: broker {broker} only accepts message format v{magic} (Kafka before 0.11), which cannot carry {what}"
                    ),
                )
            };
            if records.iter().any(|r| !r.headers.is_empty()) {
                return Err(unsupported("record headers"));
            }
            if compression == Compression::Zstd {
                return Err(unsupported("zstd compression"));
            }
            encode_legacy_message_set(records, magic, compression, 0, now, &mut batch)
        };
        encoded.map_err(|e| {
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
        Ok(crate::record::pool::into_bytes(batch))
    }

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
        let ack_timeout = self.cluster().settings.request_timeout;
        // The records are encoded once per message format the leaders ask for: v2 for
        // Produce v3+, legacy v1 for Produce v2 and v0 for Produce v0/v1 (Kafka 0.10).
        let mut encoded: [Option<bytes::Bytes>; 3] = [None, None, None];
        let mut request_for =
            |version: i16, broker: &str, timeout_ms: i32| -> Result<ProduceRequest> {
                let magic = match version {
                    0 | 1 => 0,
                    2 => 1,
                    _ => 2,
                };
                let batch = match &encoded[magic] {
                    Some(b) => b.clone(),
                    None => {
                        let b = self.encode_records(
                            topic,
                            partition,
                            records,
                            compression,
                            magic as i8,
                            broker,
                        )?;
                        encoded[magic] = Some(b.clone());
                        b
                    }
                };
                Ok(ProduceRequest {
                    transactional_id: None,
                    acks,
                    timeout_ms,
                    topic_data: vec![TopicProduceData {
                        name: topic.to_owned(),
                        partition_data: vec![PartitionProduceData {
                            index: partition,
                            records: Some(batch.into()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            };
        let cluster = self.cluster();
        let deadline = Cluster::deadline(timeout);
        // Set when the last answer named the new leader (KIP-951) and the snapshot now
        // has it: the retry goes there without a Metadata request.
        let mut hinted = false;
        cluster.retry(deadline, |attempt| {
            let refresh = attempt > 0 && !std::mem::take(&mut hinted);
            let leader = cluster.leader(topic, partition, refresh, deadline)?;
            let conn = cluster.broker(leader, deadline)?;
            let ctx = || format!("Produce to {topic}/{partition} on {}", conn.name);
            let version = conn.version_of::<ProduceRequest>()?;
            // The broker may wait for replicas up to request.timeout.ms, but never longer
            // than what remains of this call: a retry sends the time that is left.
            let remaining = deadline.saturating_duration_since(std::time::Instant::now());
            let timeout_ms = ack_timeout
                .min(remaining)
                .as_millis()
                .clamp(1, i32::MAX as u128) as i32;
            let req = request_for(version, &conn.name, timeout_ms)?;
            if acks == 0 {
                conn.request_no_response_at(&req, version, deadline)
                    .map_err(|e| e.context(ctx()))?;
                return Ok(-1);
            }
            let resp = conn
                .request_at(&req, version, deadline)
                .map_err(|e| e.context(ctx()))?;
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
                    hinted = apply_leader_hint(cluster, topic, p, &resp);
                    if !hinted {
                        cluster.invalidate(topic);
                    }
                }
                return Err(err);
            }
            Ok(p.base_offset)
        })
    }
}
