//! Fetch: records from one or several partitions, each asked of its leader; requests to
//! different brokers are in flight at the same time.

use super::routing::PartitionOp;
use super::Client;
use crate::cluster::{Cluster, Purpose};
use crate::error::{local, Error, Result};
use crate::protocol::messages::{FetchPartition, FetchRequest, FetchResponse, FetchTopic};
use crate::protocol::DecodeErrorKind;
use crate::record::{DecodeLimits, RecordSet};
use std::time::Duration;

/// One partition to fetch from.
#[derive(Debug, Clone)]
pub struct FetchRequestSpec {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub max_bytes: i32,
}

/// What a fetch returned for one partition: the records from the offset asked for on (a
/// broker sends whole batches; records before that offset are dropped). They borrow from
/// the response buffer, which this value owns.
pub struct FetchResult {
    pub topic: String,
    pub partition: i32,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    /// -1 when the broker's version of Fetch does not carry it.
    pub log_start_offset: i64,
    pub records: RecordSet,
}

struct FetchOp {
    max_wait: Duration,
    limits: DecodeLimits,
}

impl PartitionOp for FetchOp {
    type Spec = FetchRequestSpec;
    type Out = FetchResult;
    type Req = FetchRequest;
    const PURPOSE: Purpose = Purpose::Fetch;

    fn topic_partition(s: &FetchRequestSpec) -> (&str, i32) {
        (&s.topic, s.partition)
    }

    fn build(&self, specs: &[&FetchRequestSpec], _version: i16) -> FetchRequest {
        let mut topics: Vec<FetchTopic> = Vec::new();
        let mut total: i64 = 0;
        for s in specs {
            total += i64::from(s.max_bytes);
            let part = FetchPartition {
                partition: s.partition,
                fetch_offset: s.offset,
                partition_max_bytes: s.max_bytes,
                ..Default::default()
            };
            match topics.iter_mut().find(|t| t.topic == s.topic) {
                Some(t) => t.partitions.push(part),
                None => topics.push(FetchTopic {
                    topic: s.topic.clone(),
                    partitions: vec![part],
                    ..Default::default()
                }),
            }
        }
        FetchRequest {
            replica_id: -1,
            max_wait_ms: self.max_wait.as_millis().min(i32::MAX as u128) as i32,
            min_bytes: 1,
            max_bytes: total.min(i64::from(i32::MAX)) as i32,
            isolation_level: 0,
            session_id: 0,
            session_epoch: -1,
            topics,
            ..Default::default()
        }
    }

    fn response_error(resp: &FetchResponse) -> i16 {
        resp.error_code
    }

    fn take(
        &self,
        resp: &mut FetchResponse,
        s: &FetchRequestSpec,
        _version: i16,
        ctx: &str,
    ) -> Result<FetchResult> {
        let ctx = format!("{ctx} at offset {}", s.offset);
        let p = resp
            .responses
            .iter_mut()
            .filter(|t| t.topic == s.topic)
            .flat_map(|t| t.partitions.iter_mut())
            .find(|p| p.partition_index == s.partition)
            .ok_or_else(|| {
                Error::protocol(format!("{ctx}: partition missing from the response"))
            })?;
        if p.error_code != 0 {
            return Err(Error::kafka(p.error_code, &ctx));
        }
        let mut records = RecordSet::decode(p.records.take().unwrap_or_default(), &self.limits)
            .map_err(|e| {
                let code = match e.kind {
                    DecodeErrorKind::Compression(_) => local::BAD_COMPRESSION,
                    _ => local::BAD_MSG,
                };
                Error::new(code, format!("{ctx}: {e}"))
            })?;
        records.drop_before(s.offset);
        Ok(FetchResult {
            topic: s.topic.clone(),
            partition: s.partition,
            high_watermark: p.high_watermark,
            last_stable_offset: p.last_stable_offset,
            log_start_offset: p.log_start_offset,
            records,
        })
    }
}

impl Client {
    /// Fetches from one partition starting at `offset`: up to `max_bytes`, waiting up to
    /// `max_wait` for data to arrive.
    pub fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: i32,
        max_wait: Duration,
        timeout: Duration,
    ) -> Result<FetchResult> {
        let spec = FetchRequestSpec {
            topic: topic.to_owned(),
            partition,
            offset,
            max_bytes,
        };
        self.fetch_many(&[spec], max_wait, timeout)
            .pop()
            .expect("one result per spec")
    }

    /// Fetches from several partitions: one request per leader, all in flight at once.
    /// Results come back in the order of `specs`.
    pub fn fetch_many(
        &self,
        specs: &[FetchRequestSpec],
        max_wait: Duration,
        timeout: Duration,
    ) -> Vec<Result<FetchResult>> {
        let settings = &self.cluster().settings;
        let op = FetchOp {
            max_wait,
            limits: DecodeLimits {
                max_decompressed: settings.max_decompressed,
                verify_crc: settings.check_crcs,
                ..Default::default()
            },
        };
        let known = specs
            .iter()
            .map(|s| {
                (s.max_bytes <= 0 || s.offset < 0).then(|| {
                    Err(Error::invalid_arg(format!(
                        "{}/{}: fetch needs an offset >= 0 and max_bytes > 0 (got {} and {})",
                        s.topic, s.partition, s.offset, s.max_bytes
                    )))
                })
            })
            .collect();
        self.route(&op, specs, known, Cluster::deadline(timeout + max_wait))
    }
}
