//! ListOffsets: the earliest, latest, or first offset at a timestamp, asked of the leader.

use super::Client;
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::protocol::messages::{ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic};
use std::time::Duration;

/// Which offset to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The offset the next record will get (the high watermark).
    Latest,
    /// The first offset whose timestamp is at or after this time (ms since the epoch).
    Timestamp(i64),
}

impl OffsetSpec {
    fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// An offset and the timestamp of the record there (-1 when unknown or not applicable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetResult {
    pub offset: i64,
    pub timestamp: i64,
}

impl Client {
    /// Looks up an offset of `topic`/`partition`. For a timestamp later than every record
    /// the offset is -1.
    pub fn list_offsets(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
        timeout: Duration,
    ) -> Result<OffsetResult> {
        if let OffsetSpec::Timestamp(t) = spec {
            if t < 0 {
                return Err(Error::invalid_arg(format!(
                    "offset lookup timestamp must be >= 0, not {t}"
                )));
            }
        }
        let cluster = self.cluster();
        let deadline = Cluster::deadline(timeout);
        let req = ListOffsetsRequest {
            replica_id: -1,
            isolation_level: 0,
            topics: vec![ListOffsetsTopic {
                name: topic.to_owned(),
                partitions: vec![ListOffsetsPartition {
                    partition_index: partition,
                    timestamp: spec.wire(),
                    max_num_offsets: 1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        cluster.retry(deadline, |attempt| {
            let leader = cluster.leader(topic, partition, attempt > 0, deadline)?;
            let conn = cluster.broker(leader, deadline)?;
            let ctx = || format!("ListOffsets {topic}/{partition} on {}", conn.name);
            let (version, resp) = conn.request(&req, deadline).map_err(|e| e.context(ctx()))?;
            let p = resp
                .topics
                .iter()
                .filter(|t| t.name == topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == partition)
                .ok_or_else(|| {
                    Error::protocol(format!("{}: partition missing from the response", ctx()))
                })?;
            if p.error_code != 0 {
                let e = Error::kafka(p.error_code, ctx());
                if e.needs_metadata_refresh() {
                    cluster.invalidate(topic);
                }
                return Err(e);
            }
            if version == 0 {
                return Ok(OffsetResult {
                    offset: p.old_style_offsets.first().copied().unwrap_or(-1),
                    timestamp: -1,
                });
            }
            Ok(OffsetResult {
                offset: p.offset,
                timestamp: p.timestamp,
            })
        })
    }
}
