//! The KIP-848 consumer group protocol (`group.protocol=consumer`) of [`Group`]: joining,
//! heartbeating and reconciling the coordinator's assignment with ConsumerGroupHeartbeat,
//! as the Java client's `ConsumerMembershipManager` does. Coordinator discovery, commits,
//! committed-offset fetches, revocations and close are [`Group`]'s own; the rules are in
//! its table. The member epoch is kept in `Group::generation` (-1 while not a member), so
//! commits carry it as `generation_id_or_member_epoch`.

use super::*;
use crate::protocol::Uuid;

pub(super) const STALE_MEMBER_EPOCH: i16 = 113;
const FENCED_MEMBER_EPOCH: i16 = 110;

/// How long the member waits for a heartbeat answer before it counts its partitions lost:
/// Kafka's `group.consumer.session.timeout.ms` default (the broker decides the real one).
const SESSION_TIMEOUT: Duration = Duration::from_secs(45);

/// The heartbeat interval until the coordinator gives one (Kafka's
/// `group.consumer.heartbeat.interval.ms` default).
const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// What the last heartbeats sent, so that unchanged fields go as null.
#[derive(Debug, Default)]
struct SentFields {
    rebalance_timeout: Option<i32>,
    subscription: Option<Vec<String>>,
    assignor: Option<String>,
    /// The local assignment version acknowledged.
    local: Option<u64>,
}

/// The consumer protocol's part of a [`Group`].
#[derive(Debug)]
pub(super) struct State {
    /// The member id this client made (v1); kept across rejoins.
    client_member_id: String,
    interval: Duration,
    /// `None`: the next heartbeat sends every field.
    sent: Option<SentFields>,
    /// The coordinator's newest assignment, by topic id.
    target: Option<Vec<(Uuid, Vec<i32>)>>,
    /// The target (or the topic names) changed since the last reconciliation.
    target_new: bool,
    /// Partitions to assign once the revocation of this reconciliation is done.
    pending_assign: Option<Vec<TopicPartition>>,
    topic_ids: HashMap<Uuid, String>,
    /// Some target topic ids have no name yet.
    unresolved: bool,
    need_md_at: Option<Instant>,
    /// Counts the reconciled assignments; a change is acknowledged once.
    local_epoch: u64,
    /// Heartbeat at once (an acknowledgement, a subscription change).
    hb_now: bool,
    /// Commits answered STALE_MEMBER_EPOCH, sent again after the next heartbeat answer.
    stale_commits: Vec<u64>,
}

impl State {
    pub(super) fn new() -> State {
        State {
            client_member_id: random_member_id(),
            interval: DEFAULT_HEARTBEAT_INTERVAL,
            sent: None,
            target: None,
            target_new: false,
            pending_assign: None,
            topic_ids: HashMap::new(),
            unresolved: false,
            need_md_at: None,
            local_epoch: 0,
            hb_now: false,
            stale_commits: Vec::new(),
        }
    }

    /// Forgets the membership's assignment state (fenced, left, rejoining).
    fn reset(&mut self) {
        self.sent = None;
        self.target = None;
        self.target_new = false;
        self.pending_assign = None;
        self.unresolved = false;
        self.hb_now = false;
    }
}

/// A random version-4 UUID written as Kafka writes one (URL-safe base64, no padding), as
/// the Java client makes its member id. The randomness is std's per-process hash keys
/// mixed with the time.
fn random_member_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut b = [0u8; 16];
    for (i, chunk) in b.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &x in &b {
        acc = (acc << 8) | u32::from(x);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(char::from(A[((acc >> bits) & 63) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(A[((acc << (6 - bits)) & 63) as usize]));
    }
    out
}

impl Group {
    pub(super) fn consumer_protocol(&self) -> bool {
        self.s.protocol == GroupProtocol::Consumer
    }

    /// Topic ids and their names (from metadata): the coordinator names the assigned
    /// topics by id. Ids are added, never forgotten.
    pub fn set_topic_ids(&mut self, ids: &HashMap<Uuid, String>) {
        let mut added = false;
        for (id, name) in ids {
            if self.kip848.topic_ids.get(id) != Some(name) {
                self.kip848.topic_ids.insert(*id, name.clone());
                added = true;
            }
        }
        if added && self.kip848.unresolved {
            self.kip848.target_new = true;
        }
    }

    /// The member id the coordinator knows this member by (consumer protocol: made by
    /// the client, unless a v0 coordinator made one).
    pub fn member_id(&self) -> &str {
        if self.member_id.is_empty() && self.consumer_protocol() {
            &self.kip848.client_member_id
        } else {
            &self.member_id
        }
    }

    fn leave_epoch(&self) -> i32 {
        if self.s.instance_id.is_some() {
            member_epoch::LEAVE_STATIC
        } else {
            member_epoch::LEAVE
        }
    }

    /// The subscription changed (it is not empty).
    pub(super) fn cg_subscribed(&mut self) {
        match self.phase {
            Phase::Unjoined => {
                self.phase = Phase::NeedJoin;
                self.join_at = None;
                self.last_app_poll = None;
            }
            // The next heartbeat carries it (the coordinator then assigns anew).
            _ => self.kip848.hb_now = true,
        }
    }

    /// A heartbeat goes while the member has an epoch: in the group, or revoking before
    /// the leave.
    fn cg_heartbeating(&self) -> bool {
        self.generation > 0 && matches!(self.phase, Phase::Stable | Phase::Leaving)
    }

    pub(super) fn cg_leave_wanted(&self) -> bool {
        self.generation > 0 || self.hb_in_flight
    }

    pub(super) fn cg_next_timer(&self) -> Option<Instant> {
        let mut t: Vec<Instant> = Vec::new();
        if self.coordinator.is_none() && self.find_in_flight.is_none() && self.needs_coordinator() {
            t.extend(self.find_at);
        }
        if self.phase == Phase::NeedJoin && self.revocations.is_empty() {
            t.extend(self.join_at);
        }
        if self.cg_heartbeating() && !self.hb_in_flight {
            if self.kip848.hb_now {
                t.extend(self.last_contact);
            }
            t.extend(self.hb_at);
        }
        if self.cg_heartbeating() {
            t.extend(self.last_contact.map(|c| c + SESSION_TIMEOUT));
        }
        if self.poll_clock_runs() {
            t.extend(self.last_app_poll.map(|p| p + self.s.max_poll_interval));
        }
        if self.kip848.unresolved {
            t.extend(self.kip848.need_md_at);
        }
        for c in self.commits.iter().filter(|c| !c.in_flight) {
            t.push(c.deadline);
            t.extend(c.retry_at);
        }
        for f in self.fetches.iter().filter(|f| !f.in_flight) {
            t.push(f.deadline);
            t.extend(f.retry_at);
        }
        t.into_iter().min()
    }

    pub(super) fn cg_poll(&mut self, now: Instant) {
        self.expire_ops(now);
        self.cg_check_max_poll(now);
        self.cg_check_session(now);
        self.maybe_find(now);
        self.cg_reconcile(now);
        if let Some(node) = self.coordinator {
            // Commits and fetches before the heartbeat: they carry the epoch the
            // coordinator has now, which an acknowledgement may move on.
            self.send_commits(now, node);
            self.send_fetches(now, node);
        }
        self.cg_maybe_leave();
        if let Some(node) = self.coordinator {
            self.cg_maybe_heartbeat(now, node);
        }
    }

    /// The heartbeat to send with `epoch`: every field when joining or after an error,
    /// else only those that changed.
    fn cg_request(&mut self, epoch: i32) -> ConsumerGroupHeartbeatRequest {
        let full = epoch == member_epoch::JOIN || self.kip848.sent.is_none();
        let mut sent = if full {
            SentFields::default()
        } else {
            self.kip848.sent.take().unwrap_or_default()
        };
        let mut req = ConsumerGroupHeartbeatRequest {
            group_id: self.s.group_id.clone(),
            member_id: self.member_id().to_owned(),
            member_epoch: epoch,
            instance_id: self.s.instance_id.clone(),
            ..Default::default()
        };
        let rt = ms(self.s.max_poll_interval);
        if sent.rebalance_timeout != Some(rt) {
            req.rebalance_timeout_ms = rt;
            sent.rebalance_timeout = Some(rt);
        }
        if sent.subscription.as_ref() != Some(&self.subscription) {
            req.subscribed_topic_names = Some(self.subscription.clone());
            sent.subscription = Some(self.subscription.clone());
        }
        if full {
            req.rack_id = self.s.rack.clone();
        }
        if let Some(a) = &self.s.remote_assignor {
            if sent.assignor.as_ref() != Some(a) {
                req.server_assignor = Some(a.clone());
                sent.assignor = Some(a.clone());
            }
        }
        if sent.local != Some(self.kip848.local_epoch) {
            req.topic_partitions = Some(self.owned_by_id());
            sent.local = Some(self.kip848.local_epoch);
        }
        self.kip848.sent = Some(sent);
        req
    }

    /// The owned partitions by topic id (topics sorted by id).
    fn owned_by_id(&self) -> Vec<ConsumerGroupHeartbeatTopicPartitions> {
        let by_name: HashMap<&str, Uuid> = self
            .kip848
            .topic_ids
            .iter()
            .map(|(id, n)| (n.as_str(), *id))
            .collect();
        let mut m: BTreeMap<Uuid, BTreeSet<i32>> = BTreeMap::new();
        for tp in &self.owned {
            if let Some(id) = by_name.get(tp.topic.as_str()) {
                m.entry(*id).or_default().insert(tp.partition);
            }
        }
        m.into_iter()
            .map(|(topic_id, ps)| ConsumerGroupHeartbeatTopicPartitions {
                topic_id,
                partitions: ps.into_iter().collect(),
                ..Default::default()
            })
            .collect()
    }

    fn cg_maybe_heartbeat(&mut self, now: Instant, node: i32) {
        if self.hb_in_flight {
            return;
        }
        if self.phase == Phase::NeedJoin {
            if !self.revocations.is_empty() || self.join_at.is_some_and(|at| now < at) {
                return;
            }
            self.kip848.reset();
            self.generation = -1;
            let req = self.cg_request(member_epoch::JOIN);
            self.send(
                Target::Coordinator(node),
                GroupRequest::ConsumerHeartbeat(req),
                Sent::ConsumerHeartbeat { leave: None },
            );
            self.hb_in_flight = true;
            self.phase = Phase::Joining;
            return;
        }
        if !self.cg_heartbeating() {
            return;
        }
        if !self.kip848.hb_now && self.hb_at.is_some_and(|at| now < at) {
            return;
        }
        let req = self.cg_request(self.generation);
        self.send(
            Target::Coordinator(node),
            GroupRequest::ConsumerHeartbeat(req),
            Sent::ConsumerHeartbeat { leave: None },
        );
        self.kip848.hb_now = false;
        self.hb_in_flight = true;
        self.hb_at = Some(now + self.kip848.interval);
    }

    pub(super) fn cg_on_response(
        &mut self,
        node: i32,
        leave: Option<bool>,
        r: Result<GroupResponse>,
        now: Instant,
    ) {
        if let Some(closing) = leave {
            if closing && self.phase == Phase::LeaveSent {
                self.left();
            }
            return;
        }
        self.hb_in_flight = false;
        match r {
            Ok(GroupResponse::ConsumerHeartbeat(resp)) => self.cg_on_heartbeat(node, resp, now),
            r => {
                self.transport_failed(node, r.err());
                self.cg_retry(None, now);
            }
        }
    }

    /// A heartbeat (or join) failed without ending the membership: sent again in full,
    /// after `delay` (`None`: once the coordinator is known).
    fn cg_retry(&mut self, delay: Option<Duration>, now: Instant) {
        self.kip848.sent = None;
        let at = delay.map_or(now, |d| now + d);
        if self.phase == Phase::Joining {
            self.phase = Phase::NeedJoin;
            self.join_at = Some(at);
        } else {
            self.hb_at = Some(at);
        }
    }

    fn cg_on_heartbeat(&mut self, node: i32, resp: ConsumerGroupHeartbeatResponse, now: Instant) {
        match resp.error_code {
            code::NONE => {}
            FENCED_MEMBER_EPOCH | code::UNKNOWN_MEMBER_ID => return self.cg_fenced(),
            code::COORDINATOR_NOT_AVAILABLE | code::NOT_COORDINATOR => {
                self.forget_coordinator(node);
                return self.cg_retry(None, now);
            }
            c if c == code::COORDINATOR_LOAD_IN_PROGRESS || error_codes::is_retriable(c) => {
                let d = self.hb_backoff.next();
                return self.cg_retry(Some(d), now);
            }
            c => {
                let e = Error::kafka_with_message(
                    c,
                    resp.error_message.as_deref(),
                    format!("ConsumerGroupHeartbeat of group {}", self.s.group_id),
                );
                return self.fatal(e);
            }
        }
        if !matches!(self.phase, Phase::Joining | Phase::Stable | Phase::Leaving) {
            return;
        }
        if let Some(id) = resp.member_id.filter(|id| !id.is_empty()) {
            self.member_id = id;
        }
        if resp.member_epoch > 0 {
            self.generation = resp.member_epoch;
        }
        if resp.heartbeat_interval_ms > 0 {
            self.kip848.interval = Duration::from_millis(resp.heartbeat_interval_ms as u64);
        }
        self.last_contact = Some(now);
        self.hb_at = Some(now + self.kip848.interval);
        self.hb_backoff.reset();
        if self.phase == Phase::Joining {
            self.join_backoff.reset();
            self.phase = Phase::Stable;
        }
        if self.phase == Phase::Stable {
            if let Some(a) = resp.assignment {
                self.kip848.target = Some(
                    a.topic_partitions
                        .into_iter()
                        .map(|t| (t.topic_id, t.partitions))
                        .collect(),
                );
                self.kip848.target_new = true;
            }
        }
        // Commits refused with the old epoch go again with this one.
        for id in std::mem::take(&mut self.kip848.stale_commits) {
            if let Some(c) = self.commits.iter_mut().find(|c| c.id == id) {
                c.retry_at = None;
            }
        }
    }

    /// Commit `i` was answered STALE_MEMBER_EPOCH: it waits for the next heartbeat
    /// answer (its deadline still holds).
    pub(super) fn cg_commit_after_heartbeat(&mut self, i: usize) {
        let c = &mut self.commits[i];
        c.retry_at = Some(c.deadline);
        let id = c.id;
        self.kip848.stale_commits.push(id);
        self.kip848.hb_now = true;
    }

    /// Drops the heartbeat in flight (its answer is ignored).
    fn cg_abandon_heartbeat(&mut self) {
        self.inflight
            .retain(|_, f| !matches!(f.what, Sent::ConsumerHeartbeat { leave: None }));
        self.hb_in_flight = false;
    }

    /// FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID, session lost: Lost(owned), join again with
    /// epoch 0 (after `revoke_done`).
    fn cg_fenced(&mut self) {
        if !matches!(
            self.phase,
            Phase::NeedJoin | Phase::Joining | Phase::Stable | Phase::Leaving
        ) {
            return;
        }
        self.cg_abandon_heartbeat();
        self.kip848.reset();
        self.lose_all();
        self.generation = -1;
        if self.phase != Phase::Leaving {
            self.phase = Phase::NeedJoin;
            self.join_at = None;
        }
    }

    fn cg_check_session(&mut self, now: Instant) {
        if !self.cg_heartbeating() {
            return;
        }
        let last = *self.last_contact.get_or_insert(now);
        if now < last + SESSION_TIMEOUT {
            return;
        }
        if let Some(node) = self.coordinator {
            self.forget_coordinator(node);
        }
        self.cg_fenced();
    }

    fn cg_check_max_poll(&mut self, now: Instant) {
        if !self.poll_clock_runs() {
            return;
        }
        let last = *self.last_app_poll.get_or_insert(now);
        if now < last + self.s.max_poll_interval {
            return;
        }
        self.cg_abandon_heartbeat();
        if let (true, Some(node)) = (self.generation > 0, self.coordinator) {
            let req = ConsumerGroupHeartbeatRequest {
                group_id: self.s.group_id.clone(),
                member_id: self.member_id().to_owned(),
                member_epoch: self.leave_epoch(),
                instance_id: self.s.instance_id.clone(),
                ..Default::default()
            };
            self.send(
                Target::Coordinator(node),
                GroupRequest::ConsumerHeartbeat(req),
                Sent::ConsumerHeartbeat { leave: Some(false) },
            );
        }
        self.kip848.reset();
        self.lose_all();
        self.error(
            Error::new(
                local::MAX_POLL_EXCEEDED,
                format!(
                    "group {}: the application did not poll within max.poll.interval.ms ({} ms): left the group, partitions lost; the next poll rejoins",
                    self.s.group_id,
                    self.s.max_poll_interval.as_millis()
                ),
            ),
            false,
        );
        self.generation = -1;
        self.phase = Phase::PollExpired;
    }

    /// Close or unsubscribe: once the revocation is answered, the commits made meanwhile
    /// are answered and no heartbeat is in flight, the leave.
    fn cg_maybe_leave(&mut self) {
        if self.phase != Phase::Leaving
            || !self.revocations.is_empty()
            || !self.commits.is_empty()
            || self.hb_in_flight
        {
            return;
        }
        self.kip848.reset();
        if self.generation <= 0 {
            return self.left();
        }
        let Some(node) = self.coordinator else {
            return; // found first; the driver bounds a close that cannot finish
        };
        let req = ConsumerGroupHeartbeatRequest {
            group_id: self.s.group_id.clone(),
            member_id: self.member_id().to_owned(),
            member_epoch: self.leave_epoch(),
            instance_id: self.s.instance_id.clone(),
            ..Default::default()
        };
        self.send(
            Target::Coordinator(node),
            GroupRequest::ConsumerHeartbeat(req),
            Sent::ConsumerHeartbeat {
                leave: Some(true),
            },
        );
        self.phase = Phase::LeaveSent;
    }

    /// Moves the owned partitions towards the target: Revoked(owned − target) first, then
    /// (after `revoke_done` and the commits made meanwhile) Assigned(target − owned), then
    /// the acknowledgement.
    fn cg_reconcile(&mut self, now: Instant) {
        if self.phase != Phase::Stable {
            return;
        }
        if self.kip848.pending_assign.is_some() {
            if !self.revocations.is_empty()
                || self
                    .commits
                    .iter()
                    .any(|c| c.in_flight || self.commit_sendable(c))
            {
                return;
            }
            let added = self.kip848.pending_assign.take().unwrap_or_default();
            self.cg_assign(added);
        }
        if !self.revocations.is_empty() {
            return;
        }
        if self.kip848.unresolved && !self.kip848.need_md_at.is_some_and(|at| now < at) {
            self.kip848.need_md_at = Some(now + self.s.retry_backoff_max);
            self.out.push(Action::NeedMetadata(self.subscription.clone()));
        }
        if !self.kip848.target_new {
            return;
        }
        self.kip848.target_new = false;
        let Some(target) = &self.kip848.target else {
            return;
        };
        let mut want: BTreeSet<TopicPartition> = BTreeSet::new();
        let mut unresolved = false;
        for (id, parts) in target {
            match self.kip848.topic_ids.get(id) {
                Some(name) => want.extend(parts.iter().map(|&p| TopicPartition::new(name, p))),
                None => unresolved = true,
            }
        }
        if unresolved && !self.kip848.unresolved {
            self.kip848.need_md_at = Some(now + self.s.retry_backoff_max);
            self.out.push(Action::NeedMetadata(self.subscription.clone()));
        }
        self.kip848.unresolved = unresolved;
        let owned: BTreeSet<TopicPartition> = self.owned.iter().cloned().collect();
        let revoked: Vec<TopicPartition> = owned.difference(&want).cloned().collect();
        let added: Vec<TopicPartition> = want.difference(&owned).cloned().collect();
        if revoked.is_empty() && added.is_empty() {
            // Nothing moves; the coordinator still hears that this target is reached.
            self.kip848.local_epoch += 1;
            self.kip848.hb_now = true;
            return;
        }
        if revoked.is_empty() {
            return self.cg_assign(added);
        }
        self.revoke(revoked);
        self.kip848.pending_assign = Some(added);
    }

    fn cg_assign(&mut self, added: Vec<TopicPartition>) {
        let mut owned: BTreeSet<TopicPartition> = self.owned.iter().cloned().collect();
        owned.extend(added.iter().cloned());
        self.owned = owned.into_iter().collect();
        self.assign_epoch += 1;
        self.event(GroupEvent::Assigned(added));
        self.kip848.local_epoch += 1;
        self.kip848.hb_now = true;
    }
}
