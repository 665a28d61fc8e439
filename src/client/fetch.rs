//! Fetch: records from one or several partitions, each asked of its leader; requests to
//! different brokers are in flight at the same time.

use super::Client;
use crate::cluster::Cluster;
use crate::error::{local, Error, Result};
use crate::protocol::messages::{FetchPartition, FetchRequest, FetchTopic};
use crate::protocol::DecodeErrorKind;
use crate::record::{DecodeLimits, RecordSet};
use std::collections::BTreeMap;
use std::time::Duration;

/// One partition to fetch from.
#[derive(Debug, Clone)]
pub struct FetchRequestSpec {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub max_bytes: i32,
}

/// What a fetch returned for one partition. The records borrow from the response buffer,
/// which this value owns.
pub struct FetchResult {
    pub topic: String,
    pub partition: i32,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    /// -1 when the broker's version of Fetch does not carry it.
    pub log_start_offset: i64,
    pub records: RecordSet,
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
        let cluster = self.cluster();
        let deadline = Cluster::deadline(timeout + max_wait);
        let mut results: Vec<Option<Result<FetchResult>>> = specs.iter().map(|_| None).collect();
        let mut todo: Vec<usize> = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            if s.max_bytes <= 0 || s.offset < 0 {
                results[i] = Some(Err(Error::invalid_arg(format!(
                    "{}/{}: fetch needs an offset >= 0 and max_bytes > 0 (got {} and {})",
                    s.topic, s.partition, s.offset, s.max_bytes
                ))));
            } else {
                todo.push(i);
            }
        }
        let mut attempt = 0u32;
        let mut backoff = crate::cluster::Backoff::new(
            cluster.settings.retry_backoff,
            cluster.settings.retry_backoff_max,
        );
        while !todo.is_empty() {
            let mut retry = Vec::new();
            // Group by leader.
            let mut by_leader: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
            for &i in &todo {
                let s = &specs[i];
                match cluster.leader(&s.topic, s.partition, attempt > 0, deadline) {
                    Ok(l) => by_leader.entry(l).or_default().push(i),
                    Err(e) => fail(i, e, &mut retry, &mut results),
                }
            }
            // Send every request, then collect every answer.
            let mut pending = Vec::new();
            for (leader, idx) in by_leader {
                let sent = cluster.broker(leader, deadline).and_then(|conn| {
                    let v = conn.version_of::<FetchRequest>()?;
                    let req = build_request(specs, &idx, max_wait, v);
                    Ok((conn.start(&req, v)?, v))
                });
                match sent {
                    Ok(p) => pending.push((idx, Ok(p))),
                    Err(e) => pending.push((idx, Err(e))),
                }
            }
            for (idx, p) in pending {
                let resp = p.and_then(|(p, v)| {
                    let name = p.connection().name.clone();
                    p.wait(deadline)
                        .map(|r| (r, v, name.clone()))
                        .map_err(|e| e.context(format!("Fetch from {name}")))
                });
                match resp {
                    Err(e) => {
                        for i in idx {
                            fail(i, e.clone(), &mut retry, &mut results);
                        }
                    }
                    Ok((resp, version, broker)) => {
                        let limits = DecodeLimits {
                            max_decompressed: cluster.settings.max_decompressed,
                            verify_crc: cluster.settings.check_crcs,
                            ..Default::default()
                        };
                        if resp.error_code != 0 {
                            let e = Error::kafka(
                                resp.error_code,
                                format!("Fetch v{version} from {broker}"),
                            );
                            for i in idx {
                                fail(i, e.clone(), &mut retry, &mut results);
                            }
                            continue;
                        }
                        let mut parts = resp
                            .responses
                            .into_iter()
                            .flat_map(|t| {
                                let topic = t.topic;
                                t.partitions.into_iter().map(move |p| (topic.clone(), p))
                            })
                            .collect::<Vec<_>>();
                        for i in idx {
                            let s = &specs[i];
                            let ctx = format!(
                                "Fetch {}/{} at offset {} from {broker}",
                                s.topic, s.partition, s.offset
                            );
                            let Some(pos) = parts.iter().position(|(t, p)| {
                                *t == s.topic && p.partition_index == s.partition
                            }) else {
                                results[i] = Some(Err(Error::protocol(format!(
                                    "{ctx}: partition missing from the response"
                                ))));
                                continue;
                            };
                            let (_, p) = parts.swap_remove(pos);
                            if p.error_code != 0 {
                                let e = Error::kafka(p.error_code, &ctx);
                                if e.needs_metadata_refresh() {
                                    cluster.invalidate(&s.topic);
                                }
                                fail(i, e, &mut retry, &mut results);
                                continue;
                            }
                            let data = p.records.unwrap_or_default();
                            let records = RecordSet::decode(data, &limits).map_err(|e| {
                                let code = match e.kind {
                                    DecodeErrorKind::Compression(_) => local::BAD_COMPRESSION,
                                    _ => local::BAD_MSG,
                                };
                                Error::new(code, format!("{ctx}: {e}"))
                            });
                            results[i] = Some(records.map(|records| FetchResult {
                                topic: s.topic.clone(),
                                partition: s.partition,
                                high_watermark: p.high_watermark,
                                last_stable_offset: p.last_stable_offset,
                                log_start_offset: p.log_start_offset,
                                records,
                            }));
                        }
                    }
                }
            }
            if retry.is_empty() {
                break;
            }
            let wait = backoff.next_delay();
            if std::time::Instant::now() + wait >= deadline {
                for (i, e) in retry {
                    results[i] = Some(Err(Error::new(
                        e.code,
                        format!(
                            "{} (gave up after {} attempts: timeout)",
                            e.message,
                            attempt + 1
                        ),
                    )));
                }
                break;
            }
            std::thread::sleep(wait);
            attempt += 1;
            todo = retry.into_iter().map(|(i, _)| i).collect();
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::new(local::FAIL, "fetch produced no result"))))
            .collect()
    }
}

/// Queues spec `i` for another attempt when `e` is retriable, else records the failure.
fn fail(
    i: usize,
    e: Error,
    retry: &mut Vec<(usize, Error)>,
    results: &mut [Option<Result<FetchResult>>],
) {
    if e.is_retriable() {
        retry.push((i, e));
    } else {
        results[i] = Some(Err(e));
    }
}

fn build_request(
    specs: &[FetchRequestSpec],
    idx: &[usize],
    max_wait: Duration,
    version: i16,
) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    let mut total: i64 = 0;
    for &i in idx {
        let s = &specs[i];
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
    let _ = version;
    FetchRequest {
        replica_id: -1,
        max_wait_ms: max_wait.as_millis().min(i32::MAX as u128) as i32,
        min_bytes: 1,
        max_bytes: total.min(i64::from(i32::MAX)) as i32,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics,
        ..Default::default()
    }
}
