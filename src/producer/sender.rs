//! The sender thread: closes lingered batches, asks for metadata, gets the producer id,
//! sends one Produce request per leader with every ready partition, and turns the
//! answers into delivery reports. It waits on the completion queue its requests answer
//! to; the application wakes it through the same queue.

use super::state::{Batch, PartitionAnswer, Pid, PidState};
use super::{purge, Persisted, Shared, WAKE};
use crate::client::Client;
use crate::cluster::{Cluster, Purpose};
use crate::error::{local, Error, Result};
use crate::net::Connection;
use crate::protocol::messages::{
    coordinator_key_type, AddPartitionsToTxnRequest, AddPartitionsToTxnTopic,
    DescribeTransactionsRequest, FindCoordinatorRequest, InitProducerIdRequest,
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A Produce request in flight.
struct InFlight {
    conn: Arc<Connection>,
    /// The broker it went to.
    leader: i32,
    version: i16,
    batches: Vec<Batch>,
    /// acks=0: no answer comes; the completion says the request is written.
    unanswered: bool,
}

/// The longest back-off after the first AddPartitionsToTxn of a transaction is refused
/// with CONCURRENT_TRANSACTIONS (the previous transaction's markers are being written),
/// as the Java client waits; the back-offs before it are shorter (from
/// [`PREVIOUS_FIRST_BACKOFF`], doubling).
const ADD_PARTITIONS_SOON: Duration = Duration::from_millis(20);

/// The first back-off of the AddPartitionsToTxn (v1) or DescribeTransactions (v2) asked
/// while the previous transaction is being completed; it doubles up to
/// [`ADD_PARTITIONS_SOON`]. Writing the markers takes a few milliseconds.
const PREVIOUS_FIRST_BACKOFF: Duration = Duration::from_millis(1);

/// Longest a transaction's first batch waits (v2) for its coordinator to say the last
/// transaction is complete; then it goes, and the partition leader checks itself.
const CONFIRM_BUDGET: Duration = Duration::from_millis(200);

/// The wait before asking again whether the previous transaction is complete:
/// [`PREVIOUS_FIRST_BACKOFF`], doubling up to [`ADD_PARTITIONS_SOON`] (shared by the v1
/// AddPartitionsToTxn retry and the v2 DescribeTransactions question).
struct SoonBackoff(Duration);

impl SoonBackoff {
    fn new() -> SoonBackoff {
        SoonBackoff(PREVIOUS_FIRST_BACKOFF)
    }

    /// The next wait; the one after is twice as long, up to the maximum.
    fn next(&mut self) -> Duration {
        let w = self.0;
        self.0 = (w * 2).min(ADD_PARTITIONS_SOON);
        w
    }

    fn reset(&mut self) {
        self.0 = PREVIOUS_FIRST_BACKOFF;
    }
}

/// The most a transaction's first batch waits before its first DescribeTransactions.
const CONFIRM_FIRST_MAX: Duration = Duration::from_millis(5);

/// The wait before the first question of the next transaction's wait (v2), from this
/// one's: `first` was the wait, `asks` questions were needed, the last answer came
/// `took` after the batch started waiting. One question: the answer may have been ready
/// sooner, so the wait shrinks by a sixteenth. More: the wait moves half way to `took`
/// (at most [`CONFIRM_FIRST_MAX`]). So most waits ask once, and a wait rarely lasts
/// much past the markers.
fn next_first_wait(first: Duration, asks: u32, took: Duration) -> Duration {
    if asks <= 1 {
        first - first / 16
    } else {
        let took = took.min(CONFIRM_FIRST_MAX);
        (first + took.saturating_sub(first) / 2).min(CONFIRM_FIRST_MAX)
    }
}

/// Whether the producer is transactional and its transaction state satisfies `f`.
fn txn_is(shared: &Shared, f: impl FnOnce(&super::txn::Txn) -> bool) -> bool {
    shared.state.lock().txn.as_ref().is_some_and(f)
}

/// Longest the sender sleeps with nothing due (it re-checks then).
const IDLE_WAIT: Duration = Duration::from_millis(500);

/// Longest the sender waits in one blocking call (a connection set-up, a metadata
/// refresh, InitProducerId): the call is tried again later.
const SLOW_CALL: Duration = Duration::from_secs(5);

pub(crate) fn run(shared: Arc<Shared>, client: Arc<Client>) {
    let cluster = client.cluster();
    let s = &shared.settings;
    let mut reqs: HashMap<u64, InFlight> = HashMap::new();
    let mut next_tag: u64 = 0;
    let mut pid_retry_at = Instant::now();
    let mut pid_backoff = s.retry_backoff;
    let mut add_retry_at = Instant::now();
    let mut soon_backoff = SoonBackoff::new();
    // v2: when the wait for the last transaction's completion began, the next question.
    let mut confirm_since: Option<Instant> = None;
    let mut confirm_at = Instant::now();
    let mut confirm_backoff = SoonBackoff::new();
    // How long after a batch starts waiting its first question goes, learned from the
    // waits before it, and how many questions the current wait has asked.
    let mut confirm_first = Duration::ZERO;
    let mut confirm_asks = 0u32;
    let mut space_seen = 0u64;
    loop {
        let now = Instant::now();
        let snap = cluster.snapshot();
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
            st.counters.sender_rounds += 1;
            let t = st.tick(s, &snap, now, pid_retry_at, |l| {
                reqs.values().filter(|r| r.leader == l).count()
            });
            // Waiters for reports (poll, flush, a commit) are only woken when there are
            // some: on every round they woke for nothing, three times a transaction.
            if !st.reports.is_empty() {
                shared.reports_cv.notify_all();
            }
            // Sends waiting for queue space, only when space was freed (or the producer
            // turned fatal) since the last round.
            if st.space_events != space_seen {
                space_seen = st.space_events;
                shared.space_cv.notify_all();
            }
            (t.send, t.refresh, t.init_pid.then_some(st.pid))
        };

        if let Some(current) = pid_action {
            match init_producer_id(cluster, current) {
                Ok(pid) => {
                    let mut st = shared.state.lock();
                    st.set_pid(pid);
                    st.counters.producer_ids += 1;
                    pid_backoff = s.retry_backoff;
                }
                Err(e) if e.code == local::DESTROY => break,
                // A broker that refused the client's authentication may accept it later
                // (credentials changed on either side): tried again after the back-off,
                // not fatal; the messages' own time-out bounds the wait.
                Err(e)
                    if e.is_retriable()
                        || e.code == local::TIMED_OUT
                        || e.code == local::AUTHENTICATION =>
                {
                    if e.code == local::AUTHENTICATION {
                        shared.state.lock().refused = Some(e);
                    }
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

        for (leader, requests) in send {
            for batches in requests {
                send_to(&shared, cluster, leader, batches, &mut reqs, &mut next_tag);
            }
        }

        // Transaction protocol v1: partitions join the transaction before their batches go.
        if let Some(soon) = (Instant::now() >= add_retry_at)
            .then(|| add_partitions(&shared, cluster))
            .flatten()
        {
            let wait = if soon {
                soon_backoff.next().min(s.retry_backoff)
            } else {
                soon_backoff.reset();
                s.retry_backoff
            };
            add_retry_at = Instant::now() + wait;
        }

        // Transaction protocol v2: the first batch after an EndTxn waits until the
        // coordinator has written the last transaction's markers.
        let confirming = txn_is(&shared, |t| t.confirm_pending());
        if !confirming {
            confirm_since = None;
        } else {
            let since = match confirm_since {
                Some(since) => since,
                None => {
                    // A new wait: its first question goes once the markers of the last
                    // transactions were written, not at once (and answered "still
                    // completing"), which cost a second round trip in most transactions.
                    let now = Instant::now();
                    confirm_asks = 0;
                    confirm_at = now + confirm_first;
                    *confirm_since.insert(now)
                }
            };
            if Instant::now() >= confirm_at {
                if since.elapsed() >= CONFIRM_BUDGET {
                    if let Some(t) = shared.state.lock().txn.as_mut() {
                        t.on_previous_state(None);
                    }
                    continue;
                }
                confirm_asks += 1;
                if confirm_previous(&shared, cluster) {
                    confirm_at = Instant::now() + confirm_backoff.next();
                } else {
                    confirm_first = next_first_wait(confirm_first, confirm_asks, since.elapsed());
                    confirm_backoff.reset();
                    confirm_since = None;
                    continue;
                }
            }
        }

        if !refresh.is_empty() {
            let deadline = Instant::now() + cluster.settings.socket_timeout.min(SLOW_CALL);
            let asked = Instant::now();
            match cluster.refresh_topics(&refresh, asked, deadline) {
                Err(e) if e.code == local::DESTROY => break,
                Err(e) => {
                    if matches!(e.code, local::AUTHENTICATION | local::SSL | 33) {
                        shared.state.lock().refused = Some(e);
                    }
                }
                Ok(_) => shared.state.lock().refused = None,
            }
            continue;
        }

        // Wait for an answer, a wake-up, or the next timer.
        let next = {
            let mut st = shared.state.lock();
            st.note_full_leaders(full_leaders(&reqs, s.max_in_flight));
            st.next_timer(s)
        };
        let now = Instant::now();
        let mut until = next.unwrap_or(now + IDLE_WAIT).min(now + IDLE_WAIT);
        if pid_action_pending(&shared) {
            until = until.min(pid_retry_at.max(now));
        }
        if txn_is(&shared, |t| t.adding_pending()) {
            until = until.min(add_retry_at.max(now));
        }
        if confirming {
            until = until.min(confirm_at.max(now));
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

/// The leaders with `max_in_flight` (or more) Produce requests in flight.
fn full_leaders(reqs: &HashMap<u64, InFlight>, max_in_flight: usize) -> Vec<i32> {
    let mut counts: Vec<(i32, usize)> = Vec::new();
    for r in reqs.values() {
        match counts.iter_mut().find(|(l, _)| *l == r.leader) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.leader, 1)),
        }
    }
    counts
        .into_iter()
        .filter(|&(_, n)| n >= max_in_flight)
        .map(|(l, _)| l)
        .collect()
}

/// Adds the partitions waiting to join the transaction (protocol v1) with one
/// AddPartitionsToTxn request. Returns whether to back off before the next attempt:
/// `Some(true)` when the previous transaction is still being completed (a short
/// back-off), `Some(false)` otherwise, `None` for no back-off.
fn add_partitions(shared: &Shared, cluster: &Cluster) -> Option<bool> {
    let (want, coordinator, pid) = {
        let mut st = shared.state.lock();
        let pid = st.pid;
        let txn = st.txn.as_mut()?;
        if !txn.adding_pending() {
            return None;
        }
        (txn.partitions_to_add(), txn.coordinator, pid)
    };
    let id = shared.settings.transactional_id.as_deref()?;
    let deadline = Instant::now() + cluster.settings.socket_timeout.min(SLOW_CALL);
    let Some(node) = coordinator else {
        // The coordinator moved: look it up again (the calls do the same).
        match find_coordinator(cluster, coordinator_key_type::TRANSACTION, id, deadline) {
            Ok((0, node)) => {
                if let Some(t) = shared.state.lock().txn.as_mut() {
                    t.coordinator = Some(node);
                }
                return None;
            }
            _ => return Some(txn_is(shared, |t| t.previous_still_completing())),
        }
    };
    if want.is_empty() {
        return None;
    }
    let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
    for (t, p) in &want {
        match topics.iter_mut().find(|x| &x.name == t) {
            Some(x) => x.partitions.push(*p),
            None => topics.push(AddPartitionsToTxnTopic {
                name: t.clone(),
                partitions: vec![*p],
                ..Default::default()
            }),
        }
    }
    let req = AddPartitionsToTxnRequest::single(id, pid.id, pid.epoch, topics);
    let result = coordinator_conn(cluster, node, deadline).and_then(|conn| {
        let v = conn
            .version_of::<AddPartitionsToTxnRequest>()?
            .min(AddPartitionsToTxnRequest::CLIENT_MAX_VERSION);
        let resp = conn.request_at(&req, v, deadline)?;
        Ok(resp
            .partition_results()
            .into_iter()
            .map(|(t, p, c)| (t.to_owned(), p, c))
            .collect())
    });
    let mut st = shared.state.lock();
    let backoff = st
        .txn
        .as_mut()
        .is_some_and(|t| t.on_partitions_added(result));
    let soon = st
        .txn
        .as_ref()
        .is_some_and(|t| t.previous_still_completing());
    // An abortable or fatal answer: what waits to be sent will not be.
    if let Some(t) = st.txn.as_ref() {
        if !t.may_send() {
            if let Some(e) = t.error().map(|e| e.error.clone()) {
                if t.error().is_some_and(|e| e.is_fatal()) {
                    st.set_fatal(e);
                } else {
                    st.fail_queued_with(e);
                }
            }
        }
    }
    drop(st);
    shared.wake();
    shared.reports_cv.notify_all();
    backoff.then_some(soon)
}

/// v2: asks the transaction coordinator (DescribeTransactions) whether the last
/// transaction is complete. Returns whether to ask again later (its markers are still
/// being written); otherwise the transaction's batches may go.
fn confirm_previous(shared: &Shared, cluster: &Cluster) -> bool {
    let coordinator = shared.state.lock().txn.as_ref().and_then(|t| t.coordinator);
    let Some(id) = shared.settings.transactional_id.as_deref() else {
        return false;
    };
    let deadline = Instant::now() + cluster.settings.socket_timeout.min(SLOW_CALL);
    let state = coordinator.and_then(|node| {
        let conn = coordinator_conn(cluster, node, deadline).ok()?;
        let v = conn.version_of::<DescribeTransactionsRequest>().ok()?;
        let req = DescribeTransactionsRequest {
            transactional_ids: vec![id.to_owned()],
            ..Default::default()
        };
        let resp = conn.request_at(&req, v, deadline).ok()?;
        resp.transaction_states
            .into_iter()
            .find(|t| t.transactional_id == id && t.error_code == 0)
            .map(|t| t.transaction_state)
    });
    let again = shared
        .state
        .lock()
        .txn
        .as_mut()
        .is_some_and(|t| t.on_previous_state(state.as_deref()));
    if !again {
        shared.wake();
    }
    again
}

/// FindCoordinator for `key` of `key_type`, asked of any broker: the answer's error code
/// and the coordinator's broker id.
pub(crate) fn find_coordinator(
    cluster: &Cluster,
    key_type: i8,
    key: &str,
    deadline: Instant,
) -> Result<(i16, i32)> {
    let conn = cluster.any_broker(deadline)?;
    let v = conn.version_of::<FindCoordinatorRequest>()?;
    let req = FindCoordinatorRequest::single(key_type, key);
    let resp = conn.request_at(&req, v, deadline)?;
    let c = resp
        .coordinator_for(key)
        .ok_or_else(|| Error::protocol(format!("FindCoordinator: no answer for '{key}'")))?;
    Ok((c.error_code, c.node_id))
}

/// The connection to coordinator `node`, asking for the cluster's brokers first when the
/// metadata does not list it yet.
pub(crate) fn coordinator_conn(
    cluster: &Cluster,
    node: i32,
    deadline: Instant,
) -> Result<Arc<Connection>> {
    if !cluster.knows_broker(node) {
        cluster.refresh_topics(&[], Instant::now(), deadline)?;
    }
    cluster.broker(node, deadline)
}

/// Whether the sender itself will ask for a producer id once `pid_retry_at` passes (an
/// idempotent producer with nothing in flight; a transactional one gets its id from
/// init_transactions, on the application's thread, and answers wake the sender anyway).
fn pid_action_pending(shared: &Shared) -> bool {
    let st = shared.state.lock();
    st.pid_state == PidState::NeedInit && st.txn.is_none() && st.in_flight() == 0
}

/// Gets a producer id and epoch from any broker. Errors that retrying cannot fix
/// (authorisation, a broker too old for idempotence) come back as they are, to become
/// the producer's fatal error.
fn init_producer_id(cluster: &Cluster, _current: Pid) -> Result<Pid> {
    // Bounded so that message time-outs and closing are served while a cluster is slow.
    let deadline = Instant::now() + cluster.settings.socket_timeout.min(SLOW_CALL);
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
    let deadline = Instant::now() + cluster.settings.connect_timeout.min(SLOW_CALL);
    // A leader in its reconnect back-off is not waited for here: the other brokers'
    // batches go meanwhile, and these wait in their queues until the back-off ends.
    if let Some(at) = cluster.reconnect_at(leader, Purpose::Produce) {
        shared.state.lock().unsend(batches, at);
        return;
    }
    let conn = match cluster.broker(leader, deadline) {
        Ok(c) => c,
        Err(e) => return requeue_all(shared, cluster, batches, e, false),
    };
    // A transactional producer on protocol v1 stays below Produce v12, which would tell
    // the broker to add partitions implicitly (protocol v2).
    let txn_v1 = txn_is(shared, |t| !t.v2);
    let version = match conn.version_of::<ProduceRequest>() {
        Ok(v) if v >= 3 && txn_v1 => v.min(11),
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
        transactional_id: s.transactional_id.clone(),
        acks: s.acks,
        timeout_ms,
        topic_data: by_topic,
        ..Default::default()
    };
    *next_tag += 1;
    let tag = *next_tag;
    let unanswered = s.acks == 0;
    let sent = if unanswered {
        conn.send_unanswered_to_queue(&req, version, &shared.cq, tag)
    } else {
        conn.send_to_queue(&req, version, &shared.cq, tag)
    };
    match sent {
        Ok(()) => {
            shared.state.lock().counters.requests += 1;
            reqs.insert(
                tag,
                InFlight {
                    conn,
                    leader,
                    version,
                    batches,
                    unanswered,
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
    if r.unanswered {
        // acks=0: the request is written (its records are reported with no offset),
        // or the connection failed before it was all written.
        match result {
            Ok(_) => {
                let mut st = shared.state.lock();
                for b in r.batches {
                    st.sent_unacknowledged(b);
                }
            }
            Err(e) => {
                let e = e.context(format!("Produce to {}", r.conn.name));
                requeue_all(shared, cluster, r.batches, e, false);
            }
        }
        return;
    }
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
        let ctx = format!(
            "Produce to {}/{} on {}",
            name.name, b.partition, r.conn.name
        );
        let answer = PartitionAnswer {
            error_code: p.error_code,
            error_message: p.error_message.as_deref(),
            base_offset: p.base_offset,
            log_append_time: p.log_append_time_ms,
        };
        // A leader named in the answer (KIP-951) goes into the snapshot at once;
        // otherwise the topic's metadata is marked stale, which holds its batches until
        // a refresh.
        if st.on_answer(s, b, &answer, &ctx, now)
            && !crate::client::produce::apply_leader_hint(cluster, &name.name, p, &resp)
        {
            cluster.invalidate(&name.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first question's wait grows toward the time the markers took when one
    /// question was not enough, shrinks slowly when it was, and stays within its bound.
    #[test]
    fn the_first_questions_wait_follows_the_markers() {
        let ms = Duration::from_millis;
        assert_eq!(next_first_wait(Duration::ZERO, 1, ms(3)), Duration::ZERO);
        assert_eq!(next_first_wait(Duration::ZERO, 2, ms(2)), ms(1));
        assert_eq!(
            next_first_wait(ms(1), 3, ms(2)),
            Duration::from_micros(1500)
        );
        assert_eq!(next_first_wait(ms(1600), 1, ms(2)), ms(1500));
        // A slow coordinator does not make the next wait longer than the bound.
        assert_eq!(
            next_first_wait(ms(4), 2, ms(200)),
            Duration::from_micros(4500)
        );
        let mut w = ms(4);
        for _ in 0..10 {
            w = next_first_wait(w, 2, ms(200));
        }
        assert!(w <= CONFIRM_FIRST_MAX && w > ms(4));
        // Converges on a coordinator that takes 2 ms: waits near it.
        let mut w = Duration::ZERO;
        for _ in 0..50 {
            let asks = if w >= ms(2) { 1 } else { 2 };
            let took = if asks == 1 { w } else { ms(2) + ms(1) };
            w = next_first_wait(w, asks, took);
        }
        assert!(w > ms(1) && w < ms(3), "{w:?}");
    }
}
