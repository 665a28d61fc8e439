//! The sender thread: closes lingered batches, asks for metadata, gets the producer id,
//! sends one Produce request per leader with every ready partition, and turns the
//! answers into delivery reports. It waits on the completion queue its requests answer
//! to; the application wakes it through the same queue.

use super::state::{Batch, Pid, PidState};
use super::{purge, Persisted, Shared, WAKE};
use crate::client::Client;
use crate::cluster::Cluster;
use crate::error::{local, Error, Result};
use crate::net::Connection;
use crate::protocol::messages::{
    InitProducerIdRequest, PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A Produce request in flight.
struct InFlight {
    conn: Arc<Connection>,
    version: i16,
    batches: Vec<Batch>,
}

/// Longest the sender sleeps with nothing due (it re-checks then).
const IDLE_WAIT: Duration = Duration::from_millis(500);

pub(crate) fn run(shared: Arc<Shared>, client: Arc<Client>) {
    let cluster = client.cluster();
    let s = &shared.settings;
    let mut reqs: HashMap<u64, InFlight> = HashMap::new();
    let mut next_tag: u64 = 0;
    let mut pid_retry_at = Instant::now();
    let mut pid_backoff = s.retry_backoff;
    loop {
        let now = Instant::now();
        let snap = cluster.snapshot();
        let mut needs = Vec::new();
        let (send, refresh, pid_action) = {
            let mut st = shared.state.lock();
            if st.closing {
                break;
            }
            if st.purge_requested & purge::INFLIGHT != 0 {
                let e = Error::new(
                    local::PURGE_INFLIGHT,
                    "message purged while in flight (the broker may still write it)",
                );
                for (_, r) in reqs.drain() {
                    for b in r.batches {
                        st.failed(b, e.clone(), Persisted::Possibly);
                    }
                }
                st.need_bump();
            }
            st.purge_requested = 0;
            st.learn(s, &snap, now);
            st.expire(now);
            st.close_lingered(s, now);
            let pid_action = match st.pid_state {
                PidState::NeedInit if now >= pid_retry_at && st.in_flight() == 0 => Some(st.pid),
                PidState::NeedBump if st.in_flight() == 0 => {
                    if st.pid.epoch < i16::MAX - 1 && st.pid.id >= 0 {
                        let pid = Pid {
                            id: st.pid.id,
                            epoch: st.pid.epoch + 1,
                        };
                        st.set_pid(pid);
                        st.counters.epoch_bumps += 1;
                        None
                    } else {
                        st.pid_state = PidState::NeedInit;
                        Some(st.pid)
                    }
                }
                _ => None,
            };
            let send = if pid_action.is_some() || st.fatal.is_some() {
                HashMap::new()
            } else {
                st.collect(
                    s,
                    now,
                    |topic, p| {
                        let e = snap.topic(topic)?;
                        let l = e.partition(p)?.leader;
                        (l >= 0).then_some(l)
                    },
                    &mut needs,
                )
            };
            let refresh = st.topics_to_refresh(now, &needs);
            if !refresh.is_empty() {
                st.refreshed(&refresh, now, s.retry_backoff_max);
            }
            (send, refresh, pid_action)
        };
        shared.reports_cv.notify_all();
        shared.space_cv.notify_all();

        if let Some(current) = pid_action {
            match init_producer_id(cluster, current) {
                Ok(pid) => {
                    let mut st = shared.state.lock();
                    st.set_pid(pid);
                    st.counters.producer_ids += 1;
                    pid_backoff = s.retry_backoff;
                }
                Err(e) if e.code == local::DESTROY => break,
                Err(e) if e.is_retriable() || e.code == local::TIMED_OUT => {
                    pid_retry_at = Instant::now() + pid_backoff;
                    pid_backoff = (pid_backoff * 2).min(s.retry_backoff_max);
                }
                Err(e) => {
                    shared.state.lock().set_fatal(e);
                    shared.reports_cv.notify_all();
                }
            }
            continue;
        }

        for (leader, batches) in send {
            // Kafka takes one batch per partition per request (Produce v3+): a
            // partition's second batch goes in the next request on the connection.
            for round in one_batch_per_partition(batches) {
                send_to(&shared, cluster, leader, round, &mut reqs, &mut next_tag);
            }
        }

        if !refresh.is_empty() {
            let deadline =
                Instant::now() + cluster.settings.socket_timeout.min(Duration::from_secs(5));
            let asked = Instant::now();
            if let Err(e) = cluster.refresh_topics(&refresh, asked, deadline) {
                if e.code == local::DESTROY {
                    break;
                }
            }
            continue;
        }

        // Wait for an answer, a wake-up, or the next timer.
        let next = shared.state.lock().next_timer();
        let now = Instant::now();
        let mut until = next.unwrap_or(now + IDLE_WAIT).min(now + IDLE_WAIT);
        if pid_action_pending(&shared) {
            until = until.min(pid_retry_at.max(now));
        }
        let mut got = shared.cq.pop(until);
        while let Some((tag, result)) = got {
            if tag == WAKE {
                shared.wake_pending.store(false, Ordering::Release);
            } else if let Some(r) = reqs.remove(&tag) {
                on_answer(&shared, cluster, r, result);
            }
            got = shared.cq.pop(Instant::now());
        }
    }
}

/// Splits `batches` (in sequence order within each partition) into requests that hold
/// at most one batch of each partition, the k-th batch of a partition in the k-th.
fn one_batch_per_partition(batches: Vec<Batch>) -> Vec<Vec<Batch>> {
    let mut rounds: Vec<Vec<Batch>> = Vec::new();
    let mut seen: HashMap<(usize, i32), usize> = HashMap::new();
    for b in batches {
        let k = seen.entry((b.topic, b.partition)).or_insert(0);
        if rounds.len() <= *k {
            rounds.push(Vec::new());
        }
        rounds[*k].push(b);
        *k += 1;
    }
    rounds
}

fn pid_action_pending(shared: &Shared) -> bool {
    shared.state.lock().pid_state == PidState::NeedInit
}

/// Gets a producer id and epoch from any broker. Errors that retrying cannot fix
/// (authorisation, a broker too old for idempotence) come back as they are, to become
/// the producer's fatal error.
fn init_producer_id(cluster: &Cluster, _current: Pid) -> Result<Pid> {
    let deadline = Instant::now() + cluster.settings.socket_timeout;
    let conn = cluster.any_broker(deadline)?;
    let version = conn.version_of::<InitProducerIdRequest>().map_err(|e| {
        Error::new(
            e.code,
            format!(
                "{}: the broker does not support idempotent producers (InitProducerId, \
                 Kafka 0.11 or later); set enable.idempotence=false: {}",
                conn.name, e.message
            ),
        )
    })?;
    let req = InitProducerIdRequest {
        transactional_id: None,
        transaction_timeout_ms: 60_000,
        ..Default::default()
    };
    let resp = conn.request_at(&req, version, deadline)?;
    if resp.error_code != 0 {
        let e = Error::kafka(resp.error_code, format!("InitProducerId on {}", conn.name));
        return Err(e);
    }
    Ok(Pid {
        id: resp.producer_id,
        epoch: resp.producer_epoch,
    })
}

/// Sends `batches` to broker `leader` as one Produce request.
fn send_to(
    shared: &Shared,
    cluster: &Cluster,
    leader: i32,
    batches: Vec<Batch>,
    reqs: &mut HashMap<u64, InFlight>,
    next_tag: &mut u64,
) {
    let s = &shared.settings;
    let deadline = Instant::now() + cluster.settings.connect_timeout.min(Duration::from_secs(5));
    let conn = match cluster.broker(leader, deadline) {
        Ok(c) => c,
        Err(e) => return requeue_all(shared, cluster, batches, e, false),
    };
    let version = match conn.version_of::<ProduceRequest>() {
        Ok(v) if v >= 3 => v,
        Ok(v) => {
            let e = Error::new(
                local::UNSUPPORTED_FEATURE,
                format!(
                    "{}: the broker only accepts Produce v{v} (before Kafka 0.11); this \
                     producer writes message format v2 (Produce v3 or later)",
                    conn.name
                ),
            );
            return fail_all(shared, batches, e);
        }
        Err(e) => return fail_all(shared, batches, e),
    };
    let mut by_topic: Vec<TopicProduceData> = Vec::new();
    let names: Vec<String> = {
        let st = shared.state.lock();
        batches
            .iter()
            .map(|b| st.topics[b.topic].name.name.clone())
            .collect()
    };
    for (b, name) in batches.iter().zip(&names) {
        let pd = PartitionProduceData {
            index: b.partition,
            records: Some(b.data.clone()),
            ..Default::default()
        };
        match by_topic.iter_mut().find(|t| &t.name == name) {
            Some(t) => t.partition_data.push(pd),
            None => by_topic.push(TopicProduceData {
                name: name.clone(),
                partition_data: vec![pd],
                ..Default::default()
            }),
        }
    }
    let timeout_ms = s.request_timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
    let req = ProduceRequest {
        transactional_id: None,
        acks: s.acks,
        timeout_ms,
        topic_data: by_topic,
        ..Default::default()
    };
    if s.acks == 0 {
        match conn.request_no_response_at(&req, version, deadline) {
            Ok(()) => {
                let mut st = shared.state.lock();
                st.counters.requests += 1;
                for b in batches {
                    st.sent_unacknowledged(b);
                }
            }
            Err(e) => requeue_all(shared, cluster, batches, e, false),
        }
        return;
    }
    *next_tag += 1;
    let tag = *next_tag;
    match conn.send_to_queue(&req, version, &shared.cq, tag) {
        Ok(()) => {
            shared.state.lock().counters.requests += 1;
            reqs.insert(
                tag,
                InFlight {
                    conn,
                    version,
                    batches,
                },
            );
        }
        Err(e) => requeue_all(shared, cluster, batches, e, false),
    }
}

fn fail_all(shared: &Shared, batches: Vec<Batch>, e: Error) {
    let mut st = shared.state.lock();
    if shared.settings.idempotence {
        st.set_fatal(e.clone());
    }
    for b in batches {
        st.failed(b, e.clone(), Persisted::Not);
    }
}

fn requeue_all(shared: &Shared, cluster: &Cluster, batches: Vec<Batch>, e: Error, written: bool) {
    let now = Instant::now();
    let mut st = shared.state.lock();
    for b in batches {
        cluster.invalidate(&st.topics[b.topic].name.name);
        st.retry(&shared.settings, b, e.clone(), written, now);
    }
}

/// Handles a Produce answer (or its failure).
fn on_answer(shared: &Shared, cluster: &Cluster, r: InFlight, result: Result<bytes::Bytes>) {
    let resp = result.and_then(|body| r.conn.decode_body::<ProduceRequest>(&body, r.version));
    let resp: ProduceResponse = match resp {
        Ok(resp) => resp,
        Err(e) => {
            // No answer: the request may have been written.
            let e = e.context(format!("Produce to {}", r.conn.name));
            return requeue_all(shared, cluster, r.batches, e, true);
        }
    };
    let now = Instant::now();
    let s = &shared.settings;
    let mut st = shared.state.lock();
    for b in r.batches {
        let name = st.topics[b.topic].name.clone();
        let p = resp
            .responses
            .iter()
            .filter(|t| t.name == name.name)
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == b.partition);
        let Some(p) = p else {
            let e = Error::protocol(format!(
                "Produce to {}: {}/{} missing from the answer",
                r.conn.name, name.name, b.partition
            ));
            st.retry(s, b, e, true, now);
            continue;
        };
        let ctx = || {
            format!(
                "Produce to {}/{} on {}",
                name.name, b.partition, r.conn.name
            )
        };
        match p.error_code {
            0 => st.delivered(b, p.base_offset, p.log_append_time_ms),
            // The broker has this batch from an earlier try.
            46 => st.delivered(b, -1, -1),
            45 | 59 => {
                let err =
                    Error::kafka_with_message(p.error_code, p.error_message.as_deref(), ctx());
                // OUT_OF_ORDER after an earlier batch of the partition failed: that
                // batch's retry closes the gap. Otherwise the broker lost our state
                // (or an acknowledgement was lost): recover with a new epoch.
                let draining = st.topics[b.topic].parts[b.partition as usize].draining;
                if p.error_code == 59 || !draining {
                    st.need_bump();
                }
                st.retry(s, b, err, false, now);
            }
            47 | 90 | 31 | 53 => {
                let err =
                    Error::kafka_with_message(p.error_code, p.error_message.as_deref(), ctx());
                st.failed(b, err.clone(), Persisted::Not);
                st.set_fatal(err);
            }
            code => {
                let err = Error::kafka_with_message(code, p.error_message.as_deref(), ctx());
                if err.needs_metadata_refresh() {
                    cluster.invalidate(&name.name);
                }
                if err.is_retriable() {
                    st.retry(s, b, err, false, now);
                } else {
                    st.failed(b, err, Persisted::Not);
                }
            }
        }
    }
}
