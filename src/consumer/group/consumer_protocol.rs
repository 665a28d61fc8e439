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
        // While some target topic ids have no name, the owned partitions are not sent: the
        // member may still take partitions of that target once they resolve, and a list
        // without them would tell the coordinator they are released.
        if sent.local != Some(self.kip848.local_epoch) && (full || !self.kip848.unresolved) {
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
            if self.member_id.is_empty() {
                self.member_id = self.kip848.client_member_id.clone();
            }
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
            Sent::ConsumerHeartbeat { leave: Some(true) },
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
        if self.kip848.unresolved && self.kip848.need_md_at.is_none_or(|at| now >= at) {
            self.kip848.need_md_at = Some(now + self.s.retry_backoff_max);
            self.out
                .push(Action::NeedMetadata(self.subscription.clone()));
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
            self.out
                .push(Action::NeedMetadata(self.subscription.clone()));
        }
        self.kip848.unresolved = unresolved;
        let owned: BTreeSet<TopicPartition> = self.owned.iter().cloned().collect();
        let revoked: Vec<TopicPartition> = owned.difference(&want).cloned().collect();
        let added: Vec<TopicPartition> = want.difference(&owned).cloned().collect();
        if revoked.is_empty() && added.is_empty() {
            // Nothing moves; the coordinator still hears that this target is reached (not
            // while part of it waits for topic ids).
            if !unresolved {
                self.kip848.local_epoch += 1;
                self.kip848.hb_now = true;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    const G: &str = "g";
    const NODE: i32 = 1;

    fn settings() -> GroupSettings {
        GroupSettings {
            max_poll_interval: Duration::from_secs(60),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            rack: Some("r1".into()),
            protocol: GroupProtocol::Consumer,
            remote_assignor: Some("uniform".into()),
            ..GroupSettings::new(G)
        }
    }

    fn uuid(n: u8) -> Uuid {
        Uuid([n; 16])
    }

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    fn tps(t: &str, ps: &[i32]) -> Vec<TopicPartition> {
        ps.iter().map(|&p| tp(t, p)).collect()
    }

    fn ids() -> HashMap<Uuid, String> {
        [(uuid(1), "t".to_string()), (uuid(2), "u".to_string())].into()
    }

    fn hb_ok(epoch: i32, assignment: Option<&[(u8, &[i32])]>) -> GroupResponse {
        GroupResponse::ConsumerHeartbeat(ConsumerGroupHeartbeatResponse {
            member_epoch: epoch,
            heartbeat_interval_ms: 1000,
            assignment: assignment.map(|a| ConsumerGroupHeartbeatAssignment {
                topic_partitions: a
                    .iter()
                    .map(|(id, ps)| ConsumerGroupHeartbeatTopicPartitions {
                        topic_id: uuid(*id),
                        partitions: ps.to_vec(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn hb_err(c: i16) -> GroupResponse {
        GroupResponse::ConsumerHeartbeat(ConsumerGroupHeartbeatResponse {
            error_code: c,
            error_message: Some("no".into()),
            ..Default::default()
        })
    }

    fn commit_resp(t: &str, ps: &[(i32, i16)]) -> GroupResponse {
        GroupResponse::Commit(OffsetCommitResponse {
            topics: vec![OffsetCommitResponseTopic {
                name: t.into(),
                partitions: ps
                    .iter()
                    .map(|&(p, c)| OffsetCommitResponsePartition {
                        partition_index: p,
                        error_code: c,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    fn off(t: &str, p: i32, offset: i64) -> CommitOffset {
        CommitOffset {
            tp: tp(t, p),
            offset,
            leader_epoch: -1,
            metadata: None,
        }
    }

    struct H {
        g: Group,
        now: Instant,
    }

    impl H {
        fn new(s: GroupSettings) -> H {
            let mut g = Group::new(s);
            g.set_topic_ids(&ids());
            g.subscribe(vec!["u".into(), "t".into()]);
            H {
                g,
                now: Instant::now(),
            }
        }

        fn advance(&mut self, d: Duration) {
            self.now += d;
        }

        fn step(&mut self) -> (Vec<(u64, Target, GroupRequest)>, Vec<GroupEvent>, usize) {
            let (mut s, mut e, mut m) = (Vec::new(), Vec::new(), 0);
            for a in self.g.poll(self.now) {
                match a {
                    Action::Send { id, to, req } => s.push((id, to, req)),
                    Action::Event(ev) => e.push(ev),
                    Action::NeedMetadata(_) => m += 1,
                }
            }
            (s, e, m)
        }

        fn events(&mut self) -> Vec<GroupEvent> {
            let (s, e, _) = self.step();
            assert!(s.is_empty(), "{s:#?}");
            e
        }

        fn answer(&mut self, id: u64, r: GroupResponse) {
            self.g.on_response(id, Ok(r), self.now);
        }

        fn find(&mut self) {
            let (s, _, _) = self.step();
            assert_eq!(s.len(), 1, "{s:#?}");
            assert!(matches!(s[0].2, GroupRequest::FindCoordinator(_)));
            let found = GroupResponse::FindCoordinator(FindCoordinatorResponse {
                node_id: NODE,
                host: "h".into(),
                port: 9092,
                ..Default::default()
            });
            self.answer(s[0].0, found);
        }

        /// Expects exactly one heartbeat (and no other request) from the next poll.
        fn expect_hb(&mut self) -> (u64, ConsumerGroupHeartbeatRequest, Vec<GroupEvent>) {
            let (s, e, _) = self.step();
            assert_eq!(s.len(), 1, "one request expected: {s:#?}");
            let (id, to, req) = s.into_iter().next().unwrap();
            assert_eq!(to, Target::Coordinator(NODE));
            let GroupRequest::ConsumerHeartbeat(r) = req else {
                panic!("ConsumerGroupHeartbeat expected: {req:?}")
            };
            (id, r, e)
        }

        /// Joins at epoch 1 and is assigned `t` 0 and 1.
        fn join(&mut self) -> ConsumerGroupHeartbeatRequest {
            self.find();
            let (id, join, _) = self.expect_hb();
            self.answer(id, hb_ok(1, Some(&[(1, &[0, 1])])));
            // Assigned, and the acknowledgement at once.
            let (id, ack, e) = self.expect_hb();
            assert_eq!(e, [GroupEvent::Assigned(tps("t", &[0, 1]))]);
            assert_eq!(ack.topic_partitions.as_ref().unwrap()[0].partitions, [0, 1]);
            self.answer(id, hb_ok(1, None));
            join
        }
    }

    fn is_full(r: &ConsumerGroupHeartbeatRequest) -> bool {
        r.subscribed_topic_names.is_some()
            && r.rebalance_timeout_ms > 0
            && r.topic_partitions.is_some()
            && r.server_assignor.is_some()
    }

    #[test]
    fn join_sends_every_field_with_epoch_0_and_a_client_made_member_id() {
        let mut h = H::new(GroupSettings {
            instance_id: Some("i1".into()),
            ..settings()
        });
        h.find();
        let (_, r, _) = h.expect_hb();
        assert_eq!(r.group_id, G);
        assert_eq!(r.member_epoch, 0);
        assert_eq!(r.member_id.len(), 22, "a UUID as Kafka writes one");
        assert_eq!(r.member_id, h.g.member_id());
        assert_eq!(r.subscribed_topic_names, Some(vec!["t".into(), "u".into()]));
        assert_eq!(r.rebalance_timeout_ms, 60_000);
        assert_eq!(r.server_assignor.as_deref(), Some("uniform"));
        assert_eq!(r.rack_id.as_deref(), Some("r1"));
        assert_eq!(r.instance_id.as_deref(), Some("i1"));
        assert_eq!(r.topic_partitions, Some(vec![]));
        // Another member makes another id.
        assert_ne!(Group::new(settings()).member_id(), h.g.member_id());
    }

    #[test]
    fn heartbeats_follow_the_interval_and_send_unchanged_fields_as_null() {
        let mut h = H::new(settings());
        let join = h.join();
        // Nothing due before the interval (1000 ms from the answer).
        h.advance(Duration::from_millis(900));
        let (s, _, _) = h.step();
        assert!(s.is_empty(), "{s:#?}");
        h.advance(Duration::from_millis(100));
        let (id, r, _) = h.expect_hb();
        assert_eq!(
            (r.member_epoch, r.member_id.as_str()),
            (1, join.member_id.as_str())
        );
        assert_eq!(r.subscribed_topic_names, None);
        assert_eq!(r.rebalance_timeout_ms, -1);
        assert_eq!(
            (r.server_assignor, r.rack_id, r.topic_partitions),
            (None, None, None)
        );
        assert_eq!(r.instance_id, None);
        assert_eq!(h.g.generation(), Some((1, join.member_id.clone())));
        // The epoch moves with the answers.
        h.answer(id, hb_ok(4, None));
        h.advance(Duration::from_secs(1));
        let (id, r, _) = h.expect_hb();
        assert_eq!(r.member_epoch, 4);
        // After an error everything is sent again.
        h.answer(id, hb_err(code::COORDINATOR_LOAD_IN_PROGRESS));
        h.advance(Duration::from_millis(100));
        let (_, r, _) = h.expect_hb();
        assert_eq!(r.member_epoch, 4);
        assert!(is_full(&r), "{r:?}");
    }

    #[test]
    fn a_subscription_change_is_sent_at_once() {
        let mut h = H::new(settings());
        h.join();
        h.g.subscribe(vec!["t".into()]);
        let (_, r, _) = h.expect_hb();
        assert_eq!(r.subscribed_topic_names, Some(vec!["t".into()]));
        assert_eq!(r.topic_partitions, None);
    }

    #[test]
    fn unresolved_topic_ids_wait_for_metadata() {
        let mut h = H::new(settings());
        h.find();
        let (id, _, _) = h.expect_hb();
        h.answer(id, hb_ok(1, Some(&[(1, &[0]), (9, &[0, 1])])));
        let (s, e, md) = h.step();
        // The known topic is assigned; the unknown one waits and asks for metadata.
        assert_eq!(e, [GroupEvent::Assigned(tps("t", &[0]))]);
        assert_eq!(md, 1);
        assert_eq!(s.len(), 1, "the heartbeat after what is reconciled");
        let GroupRequest::ConsumerHeartbeat(r) = &s[0].2 else {
            panic!("{s:#?}")
        };
        assert_eq!(r.topic_partitions, None, "not while ids are unresolved");
        h.g.on_response(s[0].0, Ok(hb_ok(1, None)), h.now);
        // Asked again after retry.backoff.max.ms (with the heartbeat then due).
        h.advance(Duration::from_millis(1000));
        let (s, _, md) = h.step();
        assert_eq!(md, 1);
        assert_eq!(s.len(), 1, "{s:#?}");
        h.g.on_response(s[0].0, Ok(hb_ok(1, None)), h.now);
        h.g.set_topic_ids(&[(uuid(9), "v".to_string())].into());
        let (id, r, e) = h.expect_hb();
        assert_eq!(e, [GroupEvent::Assigned(tps("v", &[0, 1]))]);
        let acked: Vec<(Uuid, Vec<i32>)> = r
            .topic_partitions
            .unwrap()
            .into_iter()
            .map(|t| (t.topic_id, t.partitions))
            .collect();
        assert_eq!(acked, [(uuid(1), vec![0]), (uuid(9), vec![0, 1])]);
        h.answer(id, hb_ok(2, None));
        assert_eq!(h.g.assignment(), [tp("t", 0), tp("v", 0), tp("v", 1)]);
    }

    #[test]
    fn a_target_of_unresolved_topics_only_is_not_acknowledged_until_they_resolve() {
        // An acknowledgement listing nothing would tell the coordinator that the target's
        // partitions are free to give elsewhere, while the member takes them once their
        // ids resolve.
        let mut h = H::new(settings());
        h.find();
        let (id, _, _) = h.expect_hb();
        h.answer(id, hb_ok(1, Some(&[(9, &[0, 1])])));
        let (s, e, md) = h.step();
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(md, 1);
        assert!(
            s.is_empty(),
            "nothing reconciled, nothing acknowledged: {s:#?}"
        );
        h.advance(Duration::from_secs(1));
        let (id, r, _) = h.expect_hb();
        assert_eq!(r.topic_partitions, None);
        h.answer(id, hb_ok(1, None));
        h.g.set_topic_ids(&[(uuid(9), "v".to_string())].into());
        let (_, r, e) = h.expect_hb();
        assert_eq!(e, [GroupEvent::Assigned(tps("v", &[0, 1]))]);
        let acked: Vec<(Uuid, Vec<i32>)> = r
            .topic_partitions
            .unwrap()
            .into_iter()
            .map(|t| (t.topic_id, t.partitions))
            .collect();
        assert_eq!(acked, [(uuid(9), vec![0, 1])]);
    }

    #[test]
    fn a_new_target_revokes_first_then_assigns_after_revoke_done_and_the_commit() {
        let mut h = H::new(settings());
        h.join();
        h.advance(Duration::from_secs(1));
        let (id, _, _) = h.expect_hb();
        // t-1 goes, u-0 comes.
        h.answer(id, hb_ok(2, Some(&[(1, &[0]), (2, &[0])])));
        let e = h.events();
        assert_eq!(e, [GroupEvent::Revoked(vec![tp("t", 1)])]);
        // Still owned (and committable) until revoke_done; nothing assigned yet.
        assert_eq!(h.g.assignment(), [tp("t", 0), tp("t", 1)]);
        let c = h.g.commit(vec![off("t", 1, 10)], h.now);
        h.g.revoke_done(h.now);
        let (s, e, _) = h.step();
        assert!(
            e.is_empty(),
            "assigned only once the commit is answered: {e:?}"
        );
        assert_eq!(s.len(), 1, "{s:#?}");
        let GroupRequest::Commit(cr) = &s[0].2 else {
            panic!("{s:#?}")
        };
        assert_eq!(cr.generation_id_or_member_epoch, 2, "the member epoch");
        assert_eq!(cr.member_id, h.g.member_id());
        assert!(h.events().is_empty());
        h.answer(s[0].0, commit_resp("t", &[(1, 0)]));
        let (id, r, e) = h.expect_hb();
        assert_eq!(
            e,
            [
                GroupEvent::CommitDone {
                    id: c,
                    result: Ok(())
                },
                GroupEvent::Assigned(vec![tp("u", 0)])
            ]
        );
        // The acknowledgement lists what is owned now.
        let acked: Vec<(Uuid, Vec<i32>)> = r
            .topic_partitions
            .unwrap()
            .into_iter()
            .map(|t| (t.topic_id, t.partitions))
            .collect();
        assert_eq!(acked, [(uuid(1), vec![0]), (uuid(2), vec![0])]);
        h.answer(id, hb_ok(2, None));
        assert_eq!(h.g.assignment(), [tp("t", 0), tp("u", 0)]);
    }

    #[test]
    fn a_new_target_while_reconciling_is_taken_once_the_reconciliation_completes() {
        let mut h = H::new(settings());
        h.join();
        h.advance(Duration::from_secs(1));
        let (id, _, _) = h.expect_hb();
        // t-1 goes, u-0 comes; before the revocation is answered, u-1 comes too.
        h.answer(id, hb_ok(2, Some(&[(1, &[0]), (2, &[0])])));
        assert_eq!(h.events(), [GroupEvent::Revoked(vec![tp("t", 1)])]);
        h.advance(Duration::from_secs(1));
        let (id, r, _) = h.expect_hb();
        assert_eq!(r.topic_partitions, None, "nothing to acknowledge yet");
        h.answer(id, hb_ok(3, Some(&[(1, &[0]), (2, &[0, 1])])));
        assert!(h.events().is_empty(), "waits for the revocation");
        h.g.revoke_done(h.now);
        let (_, r, e) = h.expect_hb();
        assert_eq!(
            e,
            [
                GroupEvent::Assigned(vec![tp("u", 0)]),
                GroupEvent::Assigned(vec![tp("u", 1)])
            ]
        );
        assert_eq!(r.topic_partitions.unwrap().len(), 2);
        assert_eq!(h.g.assignment(), [tp("t", 0), tp("u", 0), tp("u", 1)]);
    }

    #[test]
    fn a_target_that_only_revokes_ends_with_an_empty_assigned() {
        let mut h = H::new(settings());
        h.join();
        h.advance(Duration::from_secs(1));
        let (id, _, _) = h.expect_hb();
        h.answer(id, hb_ok(2, Some(&[])));
        assert_eq!(h.events(), [GroupEvent::Revoked(tps("t", &[0, 1]))]);
        h.g.revoke_done(h.now);
        let (_, r, e) = h.expect_hb();
        assert_eq!(e, [GroupEvent::Assigned(vec![])]);
        assert_eq!(r.topic_partitions, Some(vec![]));
    }

    #[test]
    fn fenced_or_unknown_member_loses_and_rejoins_with_epoch_0_and_the_same_id() {
        for c in [FENCED_MEMBER_EPOCH, code::UNKNOWN_MEMBER_ID] {
            let mut h = H::new(settings());
            let join = h.join();
            h.advance(Duration::from_secs(1));
            let (id, _, _) = h.expect_hb();
            h.answer(id, hb_err(c));
            assert_eq!(h.events(), [GroupEvent::Lost(tps("t", &[0, 1]))]);
            assert!(h.g.assignment().is_empty());
            // The join waits for the application.
            h.g.revoke_done(h.now);
            let (_, r, _) = h.expect_hb();
            assert_eq!(r.member_epoch, 0);
            assert_eq!(r.member_id, join.member_id);
            assert!(is_full(&r));
            assert_eq!(r.topic_partitions, Some(vec![]));
        }
    }

    #[test]
    fn fatal_heartbeat_errors_stop_the_group() {
        for c in [111, 81, 112, 42, 30, 82] {
            let mut h = H::new(settings());
            h.join();
            h.advance(Duration::from_secs(1));
            let (id, _, _) = h.expect_hb();
            h.answer(id, hb_err(c));
            let e = h.events();
            assert_eq!(e[0], GroupEvent::Lost(tps("t", &[0, 1])), "{c}");
            let GroupEvent::Error { error, fatal } = &e[1] else {
                panic!("{c}: {e:?}")
            };
            assert!(*fatal, "{c}");
            assert_eq!(error.code, i32::from(c));
            // Nothing more is sent; commits fail.
            h.g.revoke_done(h.now);
            h.advance(Duration::from_secs(5));
            let id = h.g.commit(vec![off("t", 0, 1)], h.now);
            let e = h.events();
            assert!(
                matches!(&e[..], [GroupEvent::CommitDone { id: i, result: Err(_) }] if *i == id),
                "{c}: {e:?}"
            );
        }
    }

    #[test]
    fn coordinator_errors_rediscover_and_load_in_progress_backs_off() {
        let mut h = H::new(settings());
        h.join();
        h.advance(Duration::from_secs(1));
        let (id, _, _) = h.expect_hb();
        h.answer(id, hb_err(code::NOT_COORDINATOR));
        assert_eq!(h.g.coordinator(), None);
        h.find();
        let (id, r, _) = h.expect_hb();
        assert!(is_full(&r), "sent again in full: {r:?}");
        assert_eq!(r.member_epoch, 1);
        assert_eq!(r.topic_partitions.unwrap()[0].partitions, [0, 1]);
        h.answer(id, hb_err(code::COORDINATOR_LOAD_IN_PROGRESS));
        assert_eq!(h.g.coordinator(), Some(NODE));
        let (s, _, _) = h.step();
        assert!(s.is_empty(), "backs off: {s:#?}");
        h.advance(Duration::from_millis(100));
        h.expect_hb();
        // A join answered COORDINATOR_LOAD_IN_PROGRESS is sent again after a back-off.
        let mut h = H::new(settings());
        h.find();
        let (id, _, _) = h.expect_hb();
        h.answer(id, hb_err(code::COORDINATOR_LOAD_IN_PROGRESS));
        let (s, _, _) = h.step();
        assert!(s.is_empty(), "{s:#?}");
        h.advance(Duration::from_millis(100));
        let (_, r, _) = h.expect_hb();
        assert_eq!(r.member_epoch, 0);
        // A transport error: rediscover.
        let mut h = H::new(settings());
        h.join();
        h.advance(Duration::from_secs(1));
        let (id, _, _) = h.expect_hb();
        h.g.on_response(id, Err(Error::transport("reset")), h.now);
        assert_eq!(h.g.coordinator(), None);
    }

    #[test]
    fn no_answer_for_the_session_loses_the_partitions_and_rejoins() {
        let mut h = H::new(settings());
        h.join();
        h.advance(Duration::from_secs(1));
        let (_, _, _) = h.expect_hb(); // never answered
        h.advance(SESSION_TIMEOUT);
        let (s, e, _) = h.step();
        assert_eq!(e, [GroupEvent::Lost(tps("t", &[0, 1]))]);
        assert!(
            matches!(s[..], [(_, _, GroupRequest::FindCoordinator(_))]),
            "{s:#?}"
        );
        h.answer(
            s[0].0,
            GroupResponse::FindCoordinator(FindCoordinatorResponse {
                node_id: NODE,
                ..Default::default()
            }),
        );
        h.g.revoke_done(h.now);
        let (_, r, _) = h.expect_hb();
        assert_eq!(r.member_epoch, 0);
    }

    #[test]
    fn max_poll_exceeded_leaves_loses_reports_and_rejoins_on_the_next_poll() {
        for (instance, epoch) in [(None, -1), (Some("i1"), -2)] {
            let mut h = H::new(GroupSettings {
                instance_id: instance.map(Into::into),
                ..settings()
            });
            h.g.app_polled(h.now);
            let join = h.join();
            // Heartbeats go on meanwhile.
            let mut id = None;
            for _ in 0..59 {
                h.advance(Duration::from_secs(1));
                let (s, _, _) = h.step();
                for (i, _, _) in s {
                    h.answer(i, hb_ok(1, None));
                    id = Some(i);
                }
            }
            assert!(id.is_some());
            h.advance(Duration::from_secs(1));
            let (s, e, _) = h.step();
            assert_eq!(s.len(), 1, "{s:#?}");
            let GroupRequest::ConsumerHeartbeat(leave) = &s[0].2 else {
                panic!("{s:#?}")
            };
            assert_eq!(leave.member_epoch, epoch);
            assert_eq!(leave.member_id, join.member_id);
            assert_eq!(e[0], GroupEvent::Lost(tps("t", &[0, 1])));
            assert!(matches!(
                &e[1],
                GroupEvent::Error { error, fatal: false } if error.code == local::MAX_POLL_EXCEEDED
            ));
            h.answer(s[0].0, hb_ok(-1, None));
            h.g.revoke_done(h.now);
            h.advance(Duration::from_secs(10));
            let (s, _, _) = h.step();
            assert!(s.is_empty(), "nothing until the application polls: {s:#?}");
            h.g.app_polled(h.now);
            let (_, r, _) = h.expect_hb();
            assert_eq!((r.member_epoch, r.member_id), (0, join.member_id));
        }
    }

    #[test]
    fn close_revokes_then_leaves_then_closes() {
        for (instance, epoch) in [(None, -1), (Some("i1"), -2)] {
            let mut h = H::new(GroupSettings {
                instance_id: instance.map(Into::into),
                ..settings()
            });
            h.join();
            h.g.close(h.now);
            assert_eq!(h.events(), [GroupEvent::Revoked(tps("t", &[0, 1]))]);
            // Heartbeats go on while the application revokes.
            h.advance(Duration::from_secs(1));
            let (id, _, _) = h.expect_hb();
            h.answer(id, hb_ok(1, None));
            h.g.revoke_done(h.now);
            let (id, r, _) = h.expect_hb();
            assert_eq!(r.member_epoch, epoch);
            assert!(!h.g.is_closed());
            h.answer(id, hb_ok(epoch, None));
            assert!(h.g.is_closed());
        }
    }

    #[test]
    fn close_before_the_join_is_answered_leaves_with_the_epoch_given() {
        let mut h = H::new(settings());
        h.find();
        let (id, _, _) = h.expect_hb();
        h.g.close(h.now);
        let (s, _, _) = h.step();
        assert!(
            s.is_empty(),
            "the leave waits for the join's answer: {s:#?}"
        );
        h.answer(id, hb_ok(3, Some(&[(1, &[0])])));
        let (id, r, e) = h.expect_hb();
        assert!(e.is_empty(), "nothing assigned while leaving: {e:?}");
        assert_eq!(r.member_epoch, -1);
        h.answer(id, hb_err(code::UNKNOWN_MEMBER_ID));
        assert!(h.g.is_closed());
    }

    #[test]
    fn a_v0_coordinator_gives_the_member_id() {
        let mut h = H::new(settings());
        h.find();
        let (id, _, _) = h.expect_hb();
        let GroupResponse::ConsumerHeartbeat(mut resp) = hb_ok(1, None) else {
            unreachable!()
        };
        resp.member_id = Some("from-the-coordinator".into());
        h.answer(id, GroupResponse::ConsumerHeartbeat(resp));
        assert_eq!(h.g.member_id(), "from-the-coordinator");
        h.advance(Duration::from_secs(1));
        let (_, r, _) = h.expect_hb();
        assert_eq!(r.member_id, "from-the-coordinator");
    }

    #[test]
    fn a_commit_sent_again_after_the_member_epoch_moved_on_drops_the_revoked_partitions() {
        let mut h = H::new(settings());
        h.join();
        h.advance(Duration::from_secs(1));
        let (id, _, _) = h.expect_hb();
        h.answer(id, hb_ok(1, Some(&[(1, &[0])])));
        assert_eq!(h.events(), [GroupEvent::Revoked(tps("t", &[1]))]);
        h.g.commit(vec![off("t", 0, 5), off("t", 1, 10)], h.now);
        let (s, _, _) = h.step();
        assert!(matches!(s[..], [(_, _, GroupRequest::Commit(_))]), "{s:#?}");
        let commit = s[0].0;
        h.g.revoke_done(h.now);
        // The coordinator moves the member on (t-1 released) while the commit is out.
        h.advance(Duration::from_secs(1));
        let (id, _, _) = h.expect_hb();
        h.answer(id, hb_ok(2, None));
        h.g.on_response(commit, Err(Error::transport("reset")), h.now);
        h.find();
        let (s, _, _) = h.step();
        let Some(GroupRequest::Commit(cr)) = s
            .iter()
            .map(|x| &x.2)
            .find(|r| matches!(r, GroupRequest::Commit(_)))
        else {
            panic!("{s:#?}")
        };
        assert_eq!(cr.generation_id_or_member_epoch, 2);
        let sent: Vec<i32> = cr.topics[0]
            .partitions
            .iter()
            .map(|p| p.partition_index)
            .collect();
        assert_eq!(sent, [0], "t-1 is another member's at epoch 2");
    }

    #[test]
    fn a_stale_member_epoch_commit_is_sent_again_after_the_next_heartbeat_answer() {
        let mut h = H::new(settings());
        h.join();
        let c = h.g.commit(vec![off("t", 0, 5)], h.now);
        let (s, _, _) = h.step();
        assert_eq!(s.len(), 1, "{s:#?}");
        h.answer(s[0].0, commit_resp("t", &[(0, STALE_MEMBER_EPOCH)]));
        // A heartbeat at once brings the epoch; the commit waits for it.
        let (id, _, e) = h.expect_hb();
        assert!(e.is_empty(), "{e:?}");
        h.answer(id, hb_ok(7, None));
        let (s, _, _) = h.step();
        let GroupRequest::Commit(cr) = &s[0].2 else {
            panic!("{s:#?}")
        };
        assert_eq!(cr.generation_id_or_member_epoch, 7);
        h.answer(s[0].0, commit_resp("t", &[(0, 0)]));
        assert_eq!(
            h.events(),
            [GroupEvent::CommitDone {
                id: c,
                result: Ok(())
            }]
        );
    }

    #[test]
    fn committed_offsets_are_fetched_with_the_member_id_and_epoch() {
        let mut h = H::new(settings());
        h.join();
        let f = h.g.fetch_committed(vec![tp("t", 0)], h.now);
        let (s, _, _) = h.step();
        let GroupRequest::FetchOffsets(r) = &s[0].2 else {
            panic!("{s:#?}")
        };
        assert_eq!(r.groups[0].member_id.as_deref(), Some(h.g.member_id()));
        assert_eq!(r.groups[0].member_epoch, 1);
        assert!(r.require_stable);
        // STALE_MEMBER_EPOCH: asked again after a back-off.
        h.answer(
            s[0].0,
            GroupResponse::FetchOffsets(OffsetFetchResponse {
                error_code: STALE_MEMBER_EPOCH,
                ..Default::default()
            }),
        );
        assert!(h.events().is_empty());
        h.advance(Duration::from_millis(100));
        let (s, _, _) = h.step();
        assert!(
            s.iter()
                .any(|(_, _, r)| matches!(r, GroupRequest::FetchOffsets(_))),
            "{s:#?}"
        );
        let _ = f;
    }
}
