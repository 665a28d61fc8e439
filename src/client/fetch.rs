//! Fetch: records from one or several partitions, each asked of its leader; requests to
//! different brokers are in flight at the same time.
//!
//! Memory: `fetch.max.decompressed.bytes` is one budget for a whole call
//! ([`Client::fetch`] or [`Client::fetch_many`]), shared by all its partitions. It bounds
//! what the decoded records hold beyond the response buffers they borrow from: the
//! decompressed bytes of compressed batches plus the record index (see
//! [`RecordSet::charged_bytes`]), checked before the memory is taken. (Each response
//! buffer is bounded by `receive.message.max.bytes`.) Partitions are decoded in the order
//! their answers are read: one broker's after another's, each broker's in the order of
//! `specs`, retried partitions after the others. A partition whose records do not fit in
//! what the partitions decoded before it left gets an error and takes nothing from the
//! budget: `KC_ERR__BAD_COMPRESSION` (`local::BAD_COMPRESSION`) if the budget ran out on a
//! compressed batch (its decompressed bytes or the index of its records), `KC_ERR__BAD_MSG`
//! (`local::BAD_MSG`) if on the index of an uncompressed one; the message names the
//! partition, the budget and the property to raise. The partitions decoded before it keep
//! their records, and those after it are decoded within what is left, so a call returns
//! what fits rather than nothing; a caller can fetch the refused partitions again (in a
//! call of their own, they have the whole budget).

use super::routing::PartitionOp;
use super::Client;
use crate::cluster::{Cluster, Purpose};
use crate::error::{local, Error, Result};
use crate::protocol::messages::{FetchPartition, FetchRequest, FetchResponse, FetchTopic};
use crate::protocol::DecodeErrorKind;
use crate::record::{DecodeBudget, DecodeLimits, RecordSet};
use std::cell::RefCell;
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
    /// `fetch.max.decompressed.bytes`, shared by every partition of the call.
    budget: RefCell<DecodeBudget>,
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

    fn leader_hint(resp: &FetchResponse, s: &FetchRequestSpec) -> Option<(i32, i32)> {
        resp.responses
            .iter()
            .filter(|t| t.topic == s.topic)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == s.partition)?
            .current_leader()
            .filter(|l| l.is_known())
            .map(|l| (l.leader_id, l.leader_epoch))
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
        let mut budget = self.budget.borrow_mut();
        let input = p.records.take().unwrap_or_default();
        let mut records =
            RecordSet::decode_within(input, &self.limits, &mut budget).map_err(|e| {
                let code = match e.kind {
                    DecodeErrorKind::Compression(_) => local::BAD_COMPRESSION,
                    _ => local::BAD_MSG,
                };
                if budget.refused() {
                    let before = match budget.used() {
                        0 => String::new(),
                        n => format!(", {n} of them taken by the partitions decoded before it"),
                    };
                    Error::new(
                        code,
                        format!(
                            "{ctx}: {e}; the fetch call's memory budget is {} bytes{before} \
                             (fetch.max.decompressed.bytes: the decompressed records plus the \
                             record index, over all partitions of one call): raise \
                             fetch.max.decompressed.bytes to accept this answer",
                            budget.limit()
                        ),
                    )
                } else {
                    Error::new(code, format!("{ctx}: {e}"))
                }
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
    /// `max_wait` for data to arrive. The decoded records may hold at most
    /// `fetch.max.decompressed.bytes` beyond the response (decompressed bytes plus the record
    /// index); more is `local::BAD_COMPRESSION` (compressed data) or `local::BAD_MSG`.
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
    /// Results come back in the order of `specs`. All partitions share one memory budget,
    /// `fetch.max.decompressed.bytes`: a partition whose records do not fit in what the
    /// ones decoded before it left gets an error, the others keep theirs (see the module
    /// documentation).
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
            budget: RefCell::new(DecodeBudget::new(settings.max_decompressed)),
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
