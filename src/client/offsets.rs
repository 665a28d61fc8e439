//! ListOffsets: the earliest, latest, or first offset at a timestamp, asked of each
//! partition's leader.

use super::routing::PartitionOp;
use super::Client;
use crate::cluster::Cluster;
use crate::error::{local, Error, Result};
use crate::protocol::messages::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopic,
};
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

/// One partition's offset to look up.
#[derive(Debug, Clone)]
pub struct OffsetQuery {
    pub topic: String,
    pub partition: i32,
    pub spec: OffsetSpec,
}

/// An offset and the timestamp of the record there (-1 when unknown or not applicable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetResult {
    pub offset: i64,
    pub timestamp: i64,
}

struct ListOffsetsOp;

impl PartitionOp for ListOffsetsOp {
    type Spec = OffsetQuery;
    type Out = OffsetResult;
    type Req = ListOffsetsRequest;

    fn topic_partition(q: &OffsetQuery) -> (&str, i32) {
        (&q.topic, q.partition)
    }

    fn build(&self, queries: &[&OffsetQuery], _version: i16) -> ListOffsetsRequest {
        let mut topics: Vec<ListOffsetsTopic> = Vec::new();
        for q in queries {
            let part = ListOffsetsPartition {
                partition_index: q.partition,
                timestamp: q.spec.wire(),
                max_num_offsets: 1,
                ..Default::default()
            };
            match topics.iter_mut().find(|t| t.name == q.topic) {
                Some(t) => t.partitions.push(part),
                None => topics.push(ListOffsetsTopic {
                    name: q.topic.clone(),
                    partitions: vec![part],
                    ..Default::default()
                }),
            }
        }
        ListOffsetsRequest {
            replica_id: -1,
            isolation_level: 0,
            topics,
            ..Default::default()
        }
    }

    fn take(
        &self,
        resp: &mut ListOffsetsResponse,
        q: &OffsetQuery,
        version: i16,
        ctx: &str,
    ) -> Result<OffsetResult> {
        let p = resp
            .topics
            .iter()
            .filter(|t| t.name == q.topic)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == q.partition)
            .ok_or_else(|| {
                Error::protocol(format!("{ctx}: partition missing from the response"))
            })?;
        if p.error_code != 0 {
            return Err(Error::kafka(p.error_code, ctx));
        }
        Ok(if version == 0 {
            if let OffsetSpec::Timestamp(_) = q.spec {
                // v0 brokers (before 0.10.1) answer with the start of the log segment
                // before the time, not the first record at or after it.
                return Err(Error::new(
                    local::UNSUPPORTED_FEATURE,
                    format!("{ctx}: the broker only speaks ListOffsets v0, which cannot look offsets up by timestamp"),
                ));
            }
            // v0 answers with an array of offsets (we ask for one).
            OffsetResult {
                offset: p.old_style_offsets.first().copied().unwrap_or(-1),
                timestamp: -1,
            }
        } else {
            OffsetResult {
                offset: p.offset,
                timestamp: p.timestamp,
            }
        })
    }
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
        let q = OffsetQuery {
            topic: topic.to_owned(),
            partition,
            spec,
        };
        self.list_offsets_many(&[q], timeout)
            .pop()
            .expect("one result per query")
    }

    /// Looks up offsets of several partitions: one request per leader, all in flight at
    /// once. Results come back in the order of `queries`.
    pub fn list_offsets_many(
        &self,
        queries: &[OffsetQuery],
        timeout: Duration,
    ) -> Vec<Result<OffsetResult>> {
        let known = queries
            .iter()
            .map(|q| match q.spec {
                OffsetSpec::Timestamp(t) if t < 0 => Some(Err(Error::invalid_arg(format!(
                    "{}/{}: offset lookup timestamp must be >= 0, not {t}",
                    q.topic, q.partition
                )))),
                _ => None,
            })
            .collect();
        self.route(&ListOffsetsOp, queries, known, Cluster::deadline(timeout))
    }
}
