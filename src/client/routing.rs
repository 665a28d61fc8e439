//! Requests about several partitions, each served by its leader: the partitions are
//! grouped by leader, one request per leader is written, all are in flight at once, and
//! the answers are joined back in the caller's order. Partitions that fail with a
//! retriable error are routed again (after a metadata refresh and a backoff) until they
//! succeed or the deadline passes. When an answer names a partition's new leader (KIP-951:
//! `CurrentLeader` with NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH), the leader is
//! applied to the metadata snapshot and the retry goes there: a topic whose every retried
//! partition got such a hint is not refreshed.

use super::produce::may_name_leader;
use super::Client;
use crate::cluster::{BrokerMeta, Cluster, LeaderHint, Purpose};
use crate::error::{local, Error, Result};
use crate::protocol::{api_key, Request};
use std::collections::BTreeMap;
use std::time::Instant;

/// One kind of per-partition request.
pub(crate) trait PartitionOp {
    /// What the caller asks about one partition.
    type Spec;
    /// What comes back for one partition.
    type Out;
    type Req: Request;

    /// Which of a broker's connections the requests go on.
    const PURPOSE: Purpose = Purpose::Produce;

    fn topic_partition(spec: &Self::Spec) -> (&str, i32);

    /// The request for `specs` (all led by one broker) at `version`.
    fn build(&self, specs: &[&Self::Spec], version: i16) -> Self::Req;

    /// A top-level error code of the response, if the API has one.
    fn response_error(_resp: &<Self::Req as Request>::Response) -> i16 {
        0
    }

    /// The leader the response names for `spec` as (leader id, leader epoch), for APIs
    /// whose answers can (KIP-951 `CurrentLeader`). Asked after `take` failed with
    /// NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH.
    fn leader_hint(
        _resp: &<Self::Req as Request>::Response,
        _spec: &Self::Spec,
    ) -> Option<(i32, i32)> {
        None
    }

    /// The addresses of the leaders the response names (KIP-951 `NodeEndpoints`).
    fn node_endpoints(_resp: &<Self::Req as Request>::Response) -> Vec<BrokerMeta> {
        Vec::new()
    }

    /// Takes the answer for `spec` out of the response. A Kafka error code becomes an
    /// `Error` (retried when retriable); `ctx` names the partition and broker.
    fn take(
        &self,
        resp: &mut <Self::Req as Request>::Response,
        spec: &Self::Spec,
        version: i16,
        ctx: &str,
    ) -> Result<Self::Out>;
}

/// Records a failure for spec `i`, or queues it for another round when retriable.
fn settle<T>(
    i: usize,
    e: Error,
    retry: &mut Vec<(usize, Error)>,
    results: &mut [Option<Result<T>>],
) {
    if e.is_retriable() {
        retry.push((i, e));
    } else {
        results[i] = Some(Err(e));
    }
}

impl Client {
    /// Runs `op` for `specs` until each has an answer or the deadline passes; results
    /// come back in the order of `specs`. `pre` holds answers already known (invalid
    /// arguments) for some specs.
    pub(crate) fn route<O: PartitionOp>(
        &self,
        op: &O,
        specs: &[O::Spec],
        mut results: Vec<Option<Result<O::Out>>>,
        deadline: Instant,
    ) -> Vec<Result<O::Out>> {
        let cluster = self.cluster();
        let name = api_key::name(O::Req::API_KEY);
        let mut todo: Vec<usize> = (0..specs.len()).filter(|&i| results[i].is_none()).collect();
        let mut backoff = cluster.backoff();
        let mut attempt = 0u32;
        let mut round_started = Instant::now();
        // Specs whose last answer named their new leader, now in the snapshot.
        let mut hinted = vec![false; specs.len()];
        // The error of each spec's previous round, when it is being retried.
        let mut last_error: BTreeMap<usize, Error> = BTreeMap::new();
        while !todo.is_empty() {
            let mut retry = Vec::new();
            if attempt > 0 {
                // One Metadata request per round, for every topic still to do except those
                // whose retried partitions all know their new leader, then the partitions
                // are grouped by leader again.
                let mut topics: Vec<String> = todo
                    .iter()
                    .filter(|&&i| !hinted[i])
                    .map(|&i| O::topic_partition(&specs[i]).0.to_owned())
                    .collect();
                topics.sort_unstable();
                topics.dedup();
                if !topics.is_empty() {
                    if let Err(e) = cluster.refresh_topics(&topics, round_started, deadline) {
                        // A refresh cut short by the deadline says less than the failure
                        // that made it necessary: that one is reported.
                        let cut_short = e.code == local::TIMED_OUT && Instant::now() >= deadline;
                        for &i in &todo {
                            let why = match last_error.get(&i) {
                                Some(prev) if cut_short => prev.clone(),
                                _ => e.clone(),
                            };
                            settle(i, why, &mut retry, &mut results);
                        }
                        todo.clear();
                    }
                }
                hinted.fill(false);
            }
            let mut by_leader: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
            for &i in &todo {
                let (topic, partition) = O::topic_partition(&specs[i]);
                match cluster.leader(topic, partition, false, deadline) {
                    Ok(l) => by_leader.entry(l).or_default().push(i),
                    Err(e) => settle(i, e, &mut retry, &mut results),
                }
            }
            // Write every request first, then collect every answer.
            let mut pending = Vec::new();
            for (leader, idx) in by_leader {
                let sent = cluster
                    .broker_for(leader, O::PURPOSE, deadline)
                    .and_then(|conn| {
                        let v = conn.version_of::<O::Req>()?;
                        let group: Vec<&O::Spec> = idx.iter().map(|&i| &specs[i]).collect();
                        Ok((conn.start(&op.build(&group, v), v, deadline)?, v))
                    });
                pending.push((idx, sent));
            }
            for (idx, sent) in pending {
                let answer = sent.and_then(|(p, v)| {
                    let broker = p.connection().name.clone();
                    match p.wait(deadline) {
                        Ok(r) => Ok((r, v, broker)),
                        Err(e) => Err(e.context(format!("{name} from {broker}"))),
                    }
                });
                let (mut resp, version, broker) = match answer {
                    Ok(a) => a,
                    Err(e) => {
                        for i in idx {
                            settle(i, e.clone(), &mut retry, &mut results);
                        }
                        continue;
                    }
                };
                let top = O::response_error(&resp);
                if top != 0 {
                    let e = Error::kafka(top, format!("{name} v{version} from {broker}"));
                    for i in idx {
                        settle(i, e.clone(), &mut retry, &mut results);
                    }
                    continue;
                }
                let mut hints: Vec<(usize, LeaderHint)> = Vec::new();
                for i in idx {
                    let (topic, partition) = O::topic_partition(&specs[i]);
                    let ctx = format!("{name} {topic}/{partition} from {broker}");
                    match op.take(&mut resp, &specs[i], version, &ctx) {
                        Ok(out) => results[i] = Some(Ok(out)),
                        Err(e) => {
                            if e.needs_metadata_refresh() {
                                let hint = (e.is_retriable() && may_name_leader(e.code))
                                    .then(|| O::leader_hint(&resp, &specs[i]))
                                    .flatten();
                                match hint {
                                    Some((leader, leader_epoch)) => hints.push((
                                        i,
                                        LeaderHint {
                                            topic: topic.to_owned(),
                                            partition,
                                            leader,
                                            leader_epoch,
                                        },
                                    )),
                                    None => cluster.invalidate(topic),
                                }
                            }
                            settle(i, e, &mut retry, &mut results);
                        }
                    }
                }
                if !hints.is_empty() {
                    // One new snapshot for all the leaders this answer names.
                    let all: Vec<LeaderHint> = hints.iter().map(|(_, h)| h.clone()).collect();
                    let usable = cluster.apply_leader_hints(&all, &O::node_endpoints(&resp));
                    for ((i, h), ok) in hints.into_iter().zip(usable) {
                        if ok {
                            hinted[i] = true;
                        } else {
                            cluster.invalidate(&h.topic);
                        }
                    }
                }
            }
            if retry.is_empty() {
                break;
            }
            if !backoff.sleep_before(deadline) {
                let closed = cluster.is_closing();
                for (i, e) in retry {
                    results[i] = Some(Err(if closed {
                        Cluster::closed_error()
                    } else {
                        e.gave_up(attempt + 1)
                    }));
                }
                break;
            }
            attempt += 1;
            round_started = Instant::now();
            todo = retry.iter().map(|&(i, _)| i).collect();
            last_error = retry.into_iter().collect();
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(Error::new(local::FAIL, format!("{name}: no answer"))))
            })
            .collect()
    }
}
