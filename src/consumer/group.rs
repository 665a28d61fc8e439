//! Membership of a classic consumer group (the JoinGroup/SyncGroup protocol), with the
//! semantics of the Java client's `ConsumerCoordinator` and librdkafka's config names:
//! finding the coordinator, joining, the leader's assignment, heartbeats, eager and
//! cooperative rebalances, commits and committed-offset fetches, leaving.
//!
//! Sans-I/O: nothing here touches a socket, a clock or a thread. The driver sends what
//! [`Group::poll`] asks for, hands the answers to [`Group::on_response`], serves the
//! events to the application, and calls `poll` again after every call (and at
//! [`Group::next_timer`] at the latest). Every request has an id; an answer to an id the
//! group no longer waits for (abandoned, or from before a reset) is ignored.
//!
//! # Phases
//! `Unjoined` (no subscription: a simple consumer, commits as generation -1 and member
//! "") → `NeedJoin` → `Joining` (JoinGroup in flight) → `AwaitMetadata` (the leader
//! waits for partition counts) → `Syncing` (SyncGroup in flight) → `Stable`. Off the main
//! path: `PollExpired` (left after `max.poll.interval.ms`, rejoins on the next
//! application poll), `Leaving`/`LeaveSent` (close or unsubscribe), `Closed`, `Fatal`.
//!
//! A JoinGroup waits until the coordinator is known, the back-off is over, every
//! Revoked/Lost event was answered with [`Group::revoke_done`], and no commit is in
//! flight (so a commit made while revoking reaches the coordinator with the generation
//! it belongs to before the member rejoins or leaves).
//!
//! # Rebalance protocol
//! As Java decides it: cooperative when every configured assignor supports it (today:
//! only `cooperative-sticky` configured), else eager — also when the coordinator picks
//! `cooperative-sticky` from a list that has `range` too (the first step of the upgrade
//! path). Eager: before every JoinGroup, Revoked(all owned). Cooperative: the owned
//! partitions are kept (and announced in the subscription) across the join; after the
//! SyncGroup, Revoked(owned − assigned) and Assigned(assigned − owned), and once the
//! revocation is answered the member rejoins once more, so the revoked partitions can be
//! given out.
//!
//! # What each answer leads to
//! "Coordinator errors" are NOT_COORDINATOR (16), COORDINATOR_NOT_AVAILABLE (15) and
//! COORDINATOR_LOAD_IN_PROGRESS (14). "Rediscover" means: forget the coordinator (only if
//! the answer came from the one still known) and send FindCoordinator again. Back-offs
//! start at `retry.backoff.ms` and double up to `retry.backoff.max.ms`, reset on success.
//!
//! | request | answer | what happens |
//! | --- | --- | --- |
//! | FindCoordinator (key type 0, to any broker) | found | the coordinator is its node |
//! | FindCoordinator | retriable error, transport error | back off, ask again |
//! | FindCoordinator | other error (GROUP_AUTHORIZATION_FAILED, …) | Error event; queued commits and fetches fail with it; back off, ask again |
//! | any coordinator request | 15, 16, transport error | rediscover; the request is redone as its row says |
//! | any coordinator request | 14 | same coordinator; back off; redone |
//! | JoinGroup | none | member id, generation and protocol taken; leader: NeedMetadata for topics of unknown partition count, then the assignment; SyncGroup |
//! | JoinGroup | MEMBER_ID_REQUIRED (79) | join again at once with the member id given |
//! | JoinGroup | UNKNOWN_MEMBER_ID (25), ILLEGAL_GENERATION (22) | Lost(owned) if any; member id and generation reset; join again at once |
//! | JoinGroup | REBALANCE_IN_PROGRESS (27), other retriable | join again after a back-off |
//! | JoinGroup, SyncGroup, Heartbeat, OffsetCommit | FENCED_INSTANCE_ID (82) | Lost(owned) if any; Error (local FENCED), fatal; the group stops |
//! | JoinGroup | INVALID_SESSION_TIMEOUT, GROUP_AUTHORIZATION_FAILED, INCONSISTENT_GROUP_PROTOCOL, any other | Error event; join again after a back-off |
//! | JoinGroup | a protocol not offered | Error event; join again after a back-off |
//! | JoinGroup (leader) | a member's subscription does not decode | Error event naming it; the member is assigned nothing |
//! | SyncGroup | none | the assignment (empty bytes: nothing); eager: Assigned(all); cooperative: Revoked(owned − assigned) then Assigned(assigned − owned), and a rejoin after revoke_done if anything was revoked |
//! | SyncGroup | assignment does not decode | Error event; rejoin (eager: after revoking) |
//! | SyncGroup | REBALANCE_IN_PROGRESS | join again at once |
//! | SyncGroup | UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION | Lost(owned); reset (member id too for 25); join again |
//! | SyncGroup | other | Error event; join again after a back-off |
//! | Heartbeat (every `heartbeat.interval.ms` while stable or while revoking) | none | contact: the session clock restarts |
//! | Heartbeat | REBALANCE_IN_PROGRESS | rejoin (eager: Revoked(all) first) |
//! | Heartbeat | UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION | Lost(owned); reset; join again (ignored if the generation changed since it was sent) |
//! | Heartbeat | other | Error event; next heartbeat as usual |
//! | (no heartbeat answered for `session.timeout.ms`, while stable, or while a member with an assignment waits to send its JoinGroup) | | Lost(owned); generation reset (member id kept), rediscover, keep trying to join |
//! | (no `app_polled` for `max.poll.interval.ms` while in the group) | | LeaveGroup (static members too), Lost(owned), Error (MAX_POLL_EXCEEDED); member id reset; the next `app_polled` rejoins |
//! | OffsetCommit (grouped by topic; generation, member and instance id in a group) | none for a partition | done |
//! | OffsetCommit | 14, 15, 16, REQUEST_TIMED_OUT, other retriable, transport error | those partitions sent again (after rediscovery or a back-off) until the commit's deadline (`default.api.timeout.ms`, 60 s, see [`Group::set_op_timeout`]), then failed |
//! | OffsetCommit | REBALANCE_IN_PROGRESS | failed ("commit again after the rebalance"); rejoin |
//! | OffsetCommit | ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID | failed ("the group rebalanced"); Lost(owned), reset, join again |
//! | OffsetCommit | OFFSET_METADATA_TOO_LARGE, TOPIC/GROUP_AUTHORIZATION_FAILED, other | failed, naming the partition |
//! | OffsetFetch (require_stable) | UNSTABLE_OFFSET_COMMIT (88), 14, retriable | asked again after a back-off, until the deadline |
//! | OffsetFetch | 15, 16, transport error | rediscover, asked again until the deadline |
//! | OffsetFetch | other (group or partition) | failed, naming the partition |
//! | LeaveGroup | anything | ignored: close or unsubscribe completes |
//!
//! Commits: a commit in a group names only partitions the member owns (including those
//! being revoked, until `revoke_done`); others are dropped, and the commit fails with
//! local STATE naming them (the rest is committed). A commit made for one assignment
//! goes with that assignment's generation: a commit made while revoking (the rebalance
//! callback commits, then calls `revoke_done`) is sent before the JoinGroup or the
//! LeaveGroup, which wait for it. A commit made while a JoinGroup or SyncGroup is in
//! flight waits; once the new assignment is applied, its partitions are checked again,
//! so it is never sent as the new generation's for a partition the member no longer
//! owns.
//!
//! close(): Revoked(owned), then after revoke_done and once the commits made meanwhile are
//! answered, LeaveGroup (not for a static member, whose partitions wait for it for the
//! session timeout), then closed. A close that cannot finish (coordinator unreachable) is
//! bounded by the driver, which then calls [`Group::close_now`].
//!
//! # The consumer protocol (KIP-848, `group.protocol=consumer`)
//! The coordinator assigns; one request, ConsumerGroupHeartbeat, joins, keeps alive,
//! acknowledges and leaves, as the Java client's `ConsumerMembershipManager` does it.
//! Coordinator discovery, commits, committed-offset fetches, the events and close are the
//! ones above; commits carry the member epoch (OffsetCommit v9+) and the member id, and
//! committed-offset fetches the member id and epoch (OffsetFetch v9+). The code is in
//! `group/consumer_protocol.rs`.
//!
//! | request | answer | what happens |
//! | --- | --- | --- |
//! | (subscribed; no revocation unanswered) | | join: epoch 0, the member id the client made (a random UUID; v1; the driver sends it empty at v0 and the coordinator's is taken), the subscribed topic names (sorted), rebalance timeout = `max.poll.interval.ms`, `group.remote.assignor`, `client.rack`, `group.instance.id`, owned partitions [] |
//! | ConsumerGroupHeartbeat | none | member id (if given) and epoch taken; next heartbeat after the answer's `heartbeat_interval_ms`; an assignment in it is the new target |
//! | (every heartbeat after the first full one) | | fields unchanged since the last one sent as null; after an error or a rejoin everything is sent again |
//! | (a target) | | topic ids resolved to names ([`Group::set_topic_ids`]); unresolved ids wait and ask NeedMetadata (the subscription; again each `retry.backoff.max.ms`); Revoked(owned − target) first; after `revoke_done` and once the commits made meanwhile are answered, Assigned(target − owned) (also empty: the reconciliation is complete); then a heartbeat at once lists the owned partitions (the acknowledgement) |
//! | (a new target while reconciling) | | taken once the reconciliation in progress completes |
//! | ConsumerGroupHeartbeat | FENCED_MEMBER_EPOCH (110), UNKNOWN_MEMBER_ID (25) | Lost(owned); after `revoke_done` join again with epoch 0 and the same member id |
//! | ConsumerGroupHeartbeat | UNRELEASED_INSTANCE_ID (111), FENCED_INSTANCE_ID (82), GROUP_MAX_SIZE_REACHED (81), UNSUPPORTED_ASSIGNOR (112), INVALID_REQUEST (42), GROUP_AUTHORIZATION_FAILED (30), UNSUPPORTED_VERSION (35), any other non-retriable | Error, fatal (Java's `handleFatalFailure` for each); Lost(owned); the group stops |
//! | ConsumerGroupHeartbeat | 15, 16, transport error | rediscover; the heartbeat (or join) is sent again in full |
//! | ConsumerGroupHeartbeat | 14, other retriable | back off; sent again in full |
//! | (no heartbeat answered for 45 s, Kafka's `group.consumer.session.timeout.ms` default) | | rediscover; Lost(owned); join again with epoch 0 |
//! | (no `app_polled` for `max.poll.interval.ms` while in the group) | | leave (epoch -1; a static member -2), Lost(owned), Error (MAX_POLL_EXCEEDED); the next `app_polled` joins again |
//! | OffsetCommit | STALE_MEMBER_EPOCH (113) | those partitions sent again after the next heartbeat answer (with its epoch), until the deadline |
//! | OffsetFetch | STALE_MEMBER_EPOCH (113) | asked again after a back-off, until the deadline |
//! | (close, unsubscribe) | | Revoked(owned); after `revoke_done` and the commits made meanwhile, a leave (epoch -1; a static member -2; none if never joined), then closed (or unjoined) once it is answered or fails |
//! | ConsumerGroupHeartbeat (leave) | anything | ignored: close or unsubscribe completes |

mod consumer_protocol;

use super::assignor::{Assignor, Member, PartitionCounts, TopicPartition};
use crate::error::{local, Error, Result};
use crate::protocol::error_codes;
use crate::protocol::messages::*;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Kafka error codes this module acts on.
mod code {
    pub const NONE: i16 = 0;
    pub const REQUEST_TIMED_OUT: i16 = 7;
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const NOT_COORDINATOR: i16 = 16;
    pub const ILLEGAL_GENERATION: i16 = 22;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    pub const FENCED_INSTANCE_ID: i16 = 82;
    pub const UNSTABLE_OFFSET_COMMIT: i16 = 88;
}

/// Java's `default.api.timeout.ms`: how long a commit or offset fetch is retried.
const DEFAULT_OP_TIMEOUT: Duration = Duration::from_secs(60);

/// The group's settings, under librdkafka's names.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    /// `group.id`
    pub group_id: String,
    /// `group.instance.id` (static membership)
    pub instance_id: Option<String>,
    /// `session.timeout.ms` (45000)
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (3000)
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms` (300000), also the JoinGroup rebalance timeout
    pub max_poll_interval: Duration,
    /// `partition.assignment.strategy`, in preference order; empty means `range`
    pub assignors: Vec<Assignor>,
    /// `retry.backoff.ms`
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`
    pub retry_backoff_max: Duration,
    /// `client.rack`, sent in the subscription (v3)
    pub rack: Option<String>,
    /// `group.protocol`: classic (JoinGroup/SyncGroup) or consumer (KIP-848)
    pub protocol: GroupProtocol,
    /// `group.remote.assignor` (consumer protocol): the broker-side assignor, `None` to
    /// let the broker choose
    pub remote_assignor: Option<String>,
}

/// Which membership protocol a [`Group`] speaks (`group.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupProtocol {
    /// JoinGroup/SyncGroup/Heartbeat; a member assigns.
    #[default]
    Classic,
    /// KIP-848 ConsumerGroupHeartbeat; the coordinator assigns.
    Consumer,
}

impl GroupSettings {
    /// The defaults of the Java client for `group_id` (assignors: range, then
    /// cooperative-sticky).
    pub fn new(group_id: impl Into<String>) -> Self {
        GroupSettings {
            group_id: group_id.into(),
            instance_id: None,
            session_timeout: Duration::from_millis(45_000),
            heartbeat_interval: Duration::from_millis(3_000),
            max_poll_interval: Duration::from_millis(300_000),
            assignors: vec![Assignor::Range, Assignor::CooperativeSticky],
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1_000),
            rack: None,
            protocol: GroupProtocol::Classic,
            remote_assignor: None,
        }
    }
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Any broker (FindCoordinator).
    AnyBroker,
    /// The group coordinator, by node id.
    Coordinator(i32),
}

/// A request to send.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum GroupRequest {
    FindCoordinator(FindCoordinatorRequest),
    Join(JoinGroupRequest),
    Sync(SyncGroupRequest),
    Heartbeat(HeartbeatRequest),
    Leave(LeaveGroupRequest),
    Commit(OffsetCommitRequest),
    FetchOffsets(OffsetFetchRequest),
    /// KIP-848: join, heartbeat and leave in one request.
    ConsumerHeartbeat(ConsumerGroupHeartbeatRequest),
}

/// The answer to a [`GroupRequest`], of the same kind.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum GroupResponse {
    FindCoordinator(FindCoordinatorResponse),
    Join(JoinGroupResponse),
    Sync(SyncGroupResponse),
    Heartbeat(HeartbeatResponse),
    Leave(LeaveGroupResponse),
    Commit(OffsetCommitResponse),
    FetchOffsets(OffsetFetchResponse),
    ConsumerHeartbeat(ConsumerGroupHeartbeatResponse),
}

/// One offset to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOffset {
    pub tp: TopicPartition,
    /// The offset of the next record to consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record, -1 if unknown.
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// What the application (through the driver) must hear.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupEvent {
    /// Partitions to start consuming (cooperative: only the added ones; eager: the whole
    /// new assignment). Also sent empty: the rebalance is complete.
    Assigned(Vec<TopicPartition>),
    /// Partitions to stop consuming; the driver serves this to the application (rebalance
    /// callback, where it may commit them) and then calls [`Group::revoke_done`]. Before
    /// that the group does not rejoin (eager) or leave.
    Revoked(Vec<TopicPartition>),
    /// Partitions lost without a clean revoke (fenced, session lost, generation gone):
    /// offsets must not be committed for them. Also needs [`Group::revoke_done`].
    Lost(Vec<TopicPartition>),
    /// The result of [`Group::commit`] number `id`.
    CommitDone { id: u64, result: Result<()> },
    /// The committed offsets asked for with [`Group::fetch_committed`] number `id`
    /// (offset -1: none committed), in the order asked, or the error.
    Committed {
        id: u64,
        result: Result<Vec<(TopicPartition, i64, i32)>>,
    },
    /// An error the application should see; `fatal` when the consumer cannot go on.
    Error { error: Error, fatal: bool },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send `req` to `to`; hand its answer (or failure) to [`Group::on_response`] with `id`.
    Send {
        id: u64,
        to: Target,
        req: GroupRequest,
    },
    /// Serve this to the application.
    Event(GroupEvent),
    /// The leader needs partition counts for these topics: call
    /// [`Group::set_partition_counts`] (a topic that does not exist: count 0).
    NeedMetadata(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Unjoined,
    NeedJoin,
    Joining,
    AwaitMetadata,
    Syncing,
    Stable,
    PollExpired,
    Leaving,
    LeaveSent,
    Closed,
    Fatal,
}

/// What a request in flight was.
#[derive(Debug)]
enum Sent {
    Find,
    Join,
    Sync,
    Heartbeat {
        generation: i32,
    },
    /// `closing`: the leave of close/unsubscribe (else the max.poll.interval leave).
    Leave {
        closing: bool,
    },
    Commit {
        commit: u64,
        generation: i32,
    },
    Fetch {
        fetch: u64,
    },
    /// KIP-848 heartbeat; `leave`: `Some(closing)` for a leave (as in `Leave`).
    ConsumerHeartbeat {
        leave: Option<bool>,
    },
}

#[derive(Debug)]
struct InFlight {
    /// The coordinator it went to (`None`: any broker).
    node: Option<i32>,
    what: Sent,
}

/// Doubles from `base` up to `max`; no jitter (sans-I/O, replayable).
#[derive(Debug)]
struct Backoff {
    base: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max: max.max(base),
            next: base,
        }
    }
    fn next(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }
    fn reset(&mut self) {
        self.next = self.base;
    }
}

#[derive(Debug)]
struct PendingCommit {
    id: u64,
    /// Offsets still to commit.
    offsets: Vec<CommitOffset>,
    /// Partitions that failed, with the code and why.
    failed: Vec<(TopicPartition, i32, String)>,
    deadline: Instant,
    retry_at: Option<Instant>,
    in_flight: bool,
    /// The assignment it was checked against (`Group::assign_epoch`).
    epoch: u64,
    /// The generation (member epoch) it was checked under.
    generation: i32,
}

#[derive(Debug)]
struct PendingFetch {
    id: u64,
    tps: Vec<TopicPartition>,
    deadline: Instant,
    retry_at: Option<Instant>,
    in_flight: bool,
}

/// What a successful JoinGroup told this member.
#[derive(Debug)]
struct Joined {
    protocol: Assignor,
    /// The members and their subscriptions, when this member leads and assigns.
    members: Option<Vec<Member>>,
    need_metadata_sent: bool,
}

/// A revocation or loss the application has not answered yet.
#[derive(Debug)]
struct Revocation {
    lost: bool,
    partitions: Vec<TopicPartition>,
}

/// The classic group membership of one consumer.
#[derive(Debug)]
pub struct Group {
    s: GroupSettings,
    subscription: Vec<String>,
    phase: Phase,
    /// After a leave (close, unsubscribe): closed rather than unjoined.
    closing: bool,
    coordinator: Option<i32>,
    find_in_flight: Option<u64>,
    find_at: Option<Instant>,
    find_backoff: Backoff,
    member_id: String,
    generation: i32,
    join_at: Option<Instant>,
    join_backoff: Backoff,
    joined: Option<Joined>,
    /// Another rebalance is wanted once the one in flight completes.
    rejoin_after: bool,
    /// Rejoin once the revocations are answered (cooperative).
    rejoin_after_revoke: bool,
    /// The leader's view at its last assignment: topic → partition count.
    assigned_counts: Option<PartitionCounts>,
    counts: PartitionCounts,
    owned: Vec<TopicPartition>,
    /// Counts the assignments (a SyncGroup applied, partitions lost, the group left): a
    /// commit is checked against the owned partitions again when this has moved on.
    assign_epoch: u64,
    revocations: VecDeque<Revocation>,
    hb_at: Option<Instant>,
    hb_in_flight: bool,
    hb_backoff: Backoff,
    /// The last contact that proves the membership (sync, heartbeat answer).
    last_contact: Option<Instant>,
    last_app_poll: Option<Instant>,
    commits: Vec<PendingCommit>,
    fetches: Vec<PendingFetch>,
    op_backoff: Backoff,
    op_timeout: Duration,
    inflight: HashMap<u64, InFlight>,
    next_id: u64,
    next_op: u64,
    out: Vec<Action>,
    /// The KIP-848 membership's own state (unused by the classic protocol).
    kip848: consumer_protocol::State,
}

fn ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

fn by_topic<'a>(
    tps: impl IntoIterator<Item = &'a TopicPartition>,
) -> Vec<ConsumerProtocolTopicPartition> {
    let mut m: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    for tp in tps {
        m.entry(tp.topic.as_str()).or_default().insert(tp.partition);
    }
    m.into_iter()
        .map(|(t, ps)| ConsumerProtocolTopicPartition {
            topic: t.to_owned(),
            partitions: ps.into_iter().collect(),
            ..Default::default()
        })
        .collect()
}

fn flatten(tps: &[ConsumerProtocolTopicPartition]) -> Vec<TopicPartition> {
    let set: BTreeSet<TopicPartition> = tps
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|&p| TopicPartition::new(&t.topic, p))
        })
        .collect();
    set.into_iter().collect()
}

fn list(tps: &[TopicPartition]) -> String {
    tps.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_coordinator_error(c: i16) -> bool {
    matches!(
        c,
        code::COORDINATOR_LOAD_IN_PROGRESS
            | code::COORDINATOR_NOT_AVAILABLE
            | code::NOT_COORDINATOR
    )
}

impl Group {
    pub fn new(settings: GroupSettings) -> Group {
        let mut s = settings;
        if s.assignors.is_empty() {
            s.assignors = vec![Assignor::Range];
        }
        let b = |s: &GroupSettings| Backoff::new(s.retry_backoff, s.retry_backoff_max);
        Group {
            find_backoff: b(&s),
            join_backoff: b(&s),
            hb_backoff: b(&s),
            op_backoff: b(&s),
            s,
            subscription: Vec::new(),
            phase: Phase::Unjoined,
            closing: false,
            coordinator: None,
            find_in_flight: None,
            find_at: None,
            member_id: String::new(),
            generation: -1,
            join_at: None,
            joined: None,
            rejoin_after: false,
            rejoin_after_revoke: false,
            assigned_counts: None,
            counts: PartitionCounts::new(),
            owned: Vec::new(),
            assign_epoch: 0,
            revocations: VecDeque::new(),
            hb_at: None,
            hb_in_flight: false,
            last_contact: None,
            last_app_poll: None,
            commits: Vec::new(),
            fetches: Vec::new(),
            op_timeout: DEFAULT_OP_TIMEOUT,
            inflight: HashMap::new(),
            next_id: 1,
            next_op: 1,
            out: Vec::new(),
            kip848: consumer_protocol::State::new(),
        }
    }

    /// How long a commit or committed-offset fetch is retried (default 60 s, Java's
    /// `default.api.timeout.ms`).
    pub fn set_op_timeout(&mut self, timeout: Duration) {
        self.op_timeout = timeout;
    }

    // -----------------------------------------------------------------------
    // Calls from the driver
    // -----------------------------------------------------------------------

    /// Subscribes to exactly `topics` (an empty list unsubscribes); a change triggers a
    /// (re)join.
    pub fn subscribe(&mut self, topics: Vec<String>) {
        let set: BTreeSet<String> = topics.into_iter().collect();
        let topics: Vec<String> = set.into_iter().collect();
        if topics.is_empty() {
            self.unsubscribe();
            return;
        }
        if topics == self.subscription {
            return;
        }
        self.subscription = topics;
        if self.consumer_protocol() {
            return self.cg_subscribed();
        }
        match self.phase {
            Phase::Unjoined => {
                self.phase = Phase::NeedJoin;
                self.join_at = None;
                self.last_app_poll = None;
            }
            Phase::Stable | Phase::NeedJoin if !self.eager() => {
                // Cooperative: partitions of topics no longer subscribed are revoked now.
                let gone: Vec<TopicPartition> = self
                    .owned
                    .iter()
                    .filter(|tp| self.subscription.binary_search(&tp.topic).is_err())
                    .filter(|tp| !self.revoking(tp))
                    .cloned()
                    .collect();
                if !gone.is_empty() {
                    self.revoke(gone);
                }
                self.request_rejoin();
            }
            _ => self.request_rejoin(),
        }
    }

    /// Unsubscribes: Revoked(all owned), then (after `revoke_done`) LeaveGroup, except
    /// for a static member.
    pub fn unsubscribe(&mut self) {
        self.subscription.clear();
        match self.phase {
            Phase::Unjoined | Phase::Closed | Phase::Fatal | Phase::Leaving | Phase::LeaveSent => {}
            Phase::PollExpired => self.phase = Phase::Unjoined,
            _ => self.start_leaving(),
        }
    }

    /// Partition counts of topics (for the leader: every member's topics). For the leader
    /// of a stable group, a changed count of an assigned topic triggers a rejoin.
    pub fn set_partition_counts(&mut self, counts: &PartitionCounts) {
        for (t, n) in counts {
            self.counts.insert(t.clone(), *n);
        }
        if self.phase != Phase::Stable {
            return;
        }
        let changed = self.assigned_counts.as_ref().is_some_and(|a| {
            a.iter()
                .any(|(t, n)| self.counts.get(t).is_some_and(|now| now != n))
        });
        if changed {
            self.assigned_counts = None;
            self.request_rejoin();
        }
    }

    /// The application called poll: the max.poll.interval clock restarts; after a
    /// MAX_POLL_EXCEEDED leave, the member rejoins.
    pub fn app_polled(&mut self, now: Instant) {
        self.last_app_poll = Some(now);
        if self.phase == Phase::PollExpired && !self.subscription.is_empty() {
            self.phase = Phase::NeedJoin;
            self.join_at = None;
        }
    }

    /// The application finished handling the oldest Revoked or Lost event.
    pub fn revoke_done(&mut self, _now: Instant) {
        let Some(r) = self.revocations.pop_front() else {
            return;
        };
        if !r.lost {
            self.owned.retain(|tp| !r.partitions.contains(tp));
        }
        if self.revocations.is_empty() && self.rejoin_after_revoke {
            self.rejoin_after_revoke = false;
            self.request_rejoin();
        }
    }

    /// Commits `offsets`; the result comes as `CommitDone` with the returned id.
    pub fn commit(&mut self, offsets: Vec<CommitOffset>, now: Instant) -> u64 {
        let id = self.next_op();
        if offsets.is_empty() {
            self.event(GroupEvent::CommitDone { id, result: Ok(()) });
            return id;
        }
        if let Some(e) = self.unusable() {
            self.event(GroupEvent::CommitDone { id, result: Err(e) });
            return id;
        }
        let mut c = PendingCommit {
            id,
            offsets,
            failed: Vec::new(),
            deadline: now + self.op_timeout,
            retry_at: None,
            in_flight: false,
            epoch: self.assign_epoch,
            generation: self.generation,
        };
        self.drop_unowned(&mut c);
        if c.offsets.is_empty() {
            self.finish_commit(c);
        } else {
            self.commits.push(c);
        }
        id
    }

    /// Reads the committed offsets of `tps` (OffsetFetch with require_stable); the result
    /// comes as `Committed` with the returned id.
    pub fn fetch_committed(&mut self, tps: Vec<TopicPartition>, now: Instant) -> u64 {
        let id = self.next_op();
        if tps.is_empty() {
            self.event(GroupEvent::Committed {
                id,
                result: Ok(Vec::new()),
            });
            return id;
        }
        if let Some(e) = self.unusable() {
            self.event(GroupEvent::Committed { id, result: Err(e) });
            return id;
        }
        self.fetches.push(PendingFetch {
            id,
            tps,
            deadline: now + self.op_timeout,
            retry_at: None,
            in_flight: false,
        });
        id
    }

    /// Closes: Revoked(owned) first, LeaveGroup after `revoke_done` (not for a static
    /// member), then [`Group::is_closed`].
    pub fn close(&mut self, _now: Instant) {
        match self.phase {
            Phase::Closed => {}
            Phase::Fatal => self.finish_closed(),
            Phase::Leaving | Phase::LeaveSent => self.closing = true,
            _ => {
                self.closing = true;
                self.start_leaving();
            }
        }
    }

    /// Closes at once, without waiting for anything: what is pending fails with local
    /// DESTROY. For a driver whose close timed out.
    pub fn close_now(&mut self) {
        self.closing = true;
        self.finish_closed();
    }

    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The partitions owned now (sorted), including those being revoked.
    pub fn assignment(&self) -> &[TopicPartition] {
        &self.owned
    }

    /// (generation id, member id) while in a stable group.
    pub fn generation(&self) -> Option<(i32, String)> {
        (self.phase == Phase::Stable && self.generation >= 0)
            .then(|| (self.generation, self.member_id.clone()))
    }

    pub fn coordinator(&self) -> Option<i32> {
        self.coordinator
    }

    /// When [`Group::poll`] must run next even if nothing arrives (it may be in the past:
    /// run it now).
    pub fn next_timer(&self) -> Option<Instant> {
        if self.phase == Phase::Closed {
            return None;
        }
        if self.consumer_protocol() {
            return self.cg_next_timer();
        }
        let mut t: Vec<Instant> = Vec::new();
        if self.coordinator.is_none() && self.find_in_flight.is_none() && self.needs_coordinator() {
            t.extend(self.find_at);
        }
        if self.phase == Phase::NeedJoin {
            t.extend(self.join_at);
        }
        if self.heartbeating() && !self.hb_in_flight {
            t.extend(self.hb_at);
        }
        if self.session_watched() {
            t.extend(self.last_contact.map(|c| c + self.s.session_timeout));
        }
        if self.poll_clock_runs() {
            t.extend(self.last_app_poll.map(|p| p + self.s.max_poll_interval));
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

    /// Everything due now: events to serve and requests to send.
    pub fn poll(&mut self, now: Instant) -> Vec<Action> {
        if self.phase != Phase::Closed && self.consumer_protocol() {
            self.cg_poll(now);
        } else if self.phase != Phase::Closed {
            self.expire_ops(now);
            self.check_max_poll(now);
            self.check_session(now);
            self.maybe_find(now);
            if let Some(node) = self.coordinator {
                self.maybe_join(now, node);
                self.maybe_sync(node);
                self.maybe_heartbeat(now, node);
                self.send_commits(now, node);
                self.send_fetches(now, node);
            }
            self.maybe_leave();
        }
        std::mem::take(&mut self.out)
    }

    /// The answer to request `id`, or why there is none (transport failure, timeout).
    pub fn on_response(&mut self, id: u64, r: Result<GroupResponse>, now: Instant) {
        let Some(f) = self.inflight.remove(&id) else {
            return;
        };
        let node = f.node.unwrap_or(-1);
        match (f.what, r) {
            (Sent::Find, r) => {
                self.find_in_flight = None;
                match r {
                    Ok(GroupResponse::FindCoordinator(resp)) => self.on_find(resp, now),
                    Ok(_) => self.find_failed(now, None),
                    Err(e) => self.find_failed(now, Some(e)),
                }
            }
            (Sent::Join, Ok(GroupResponse::Join(resp))) => self.on_join(node, resp, now),
            (Sent::Join, r) => {
                self.transport_failed(node, r.err());
                self.rejoin_now(None, now);
            }
            (Sent::Sync, Ok(GroupResponse::Sync(resp))) => self.on_sync(node, resp, now),
            (Sent::Sync, r) => {
                self.transport_failed(node, r.err());
                self.rejoin_now(None, now);
            }
            (Sent::Heartbeat { generation }, r) => {
                self.hb_in_flight = false;
                match r {
                    Ok(GroupResponse::Heartbeat(resp)) => {
                        self.on_heartbeat(node, generation, resp, now)
                    }
                    r => self.transport_failed(node, r.err()),
                }
            }
            (Sent::Leave { closing }, _) => {
                if closing && self.phase == Phase::LeaveSent {
                    self.left();
                }
            }
            (Sent::Commit { commit, generation }, r) => {
                let Some(i) = self.commits.iter().position(|c| c.id == commit) else {
                    return;
                };
                self.commits[i].in_flight = false;
                match r {
                    Ok(GroupResponse::Commit(resp)) => {
                        self.on_commit(i, node, generation, resp, now)
                    }
                    r => {
                        self.transport_failed(node, r.err());
                        self.commits[i].retry_at = None;
                    }
                }
            }
            (Sent::Fetch { fetch }, r) => {
                let Some(i) = self.fetches.iter().position(|f| f.id == fetch) else {
                    return;
                };
                self.fetches[i].in_flight = false;
                match r {
                    Ok(GroupResponse::FetchOffsets(resp)) => self.on_fetch(i, node, resp, now),
                    r => {
                        self.transport_failed(node, r.err());
                        self.fetches[i].retry_at = None;
                    }
                }
            }
            (Sent::ConsumerHeartbeat { leave }, r) => self.cg_on_response(node, leave, r, now),
        }
    }

    // -----------------------------------------------------------------------
    // State
    // -----------------------------------------------------------------------

    fn next_op(&mut self) -> u64 {
        let id = self.next_op;
        self.next_op += 1;
        id
    }

    fn event(&mut self, e: GroupEvent) {
        self.out.push(Action::Event(e));
    }

    fn error(&mut self, error: Error, fatal: bool) {
        self.event(GroupEvent::Error { error, fatal });
    }

    fn send(&mut self, to: Target, req: GroupRequest, what: Sent) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let node = match to {
            Target::AnyBroker => None,
            Target::Coordinator(n) => Some(n),
        };
        self.inflight.insert(id, InFlight { node, what });
        self.out.push(Action::Send { id, to, req });
        id
    }

    fn eager(&self) -> bool {
        !self.s.assignors.iter().all(|a| a.supports_cooperative())
    }

    fn in_group(&self) -> bool {
        !matches!(self.phase, Phase::Unjoined)
    }

    fn revoking(&self, tp: &TopicPartition) -> bool {
        self.revocations
            .iter()
            .any(|r| !r.lost && r.partitions.contains(tp))
    }

    /// Why nothing can be done any more, if so.
    fn unusable(&self) -> Option<Error> {
        match self.phase {
            Phase::Closed => Some(Error::new(local::DESTROY, "the consumer group is closed")),
            Phase::Fatal => Some(Error::new(
                local::FATAL,
                "the consumer hit a fatal error (fenced by a newer instance)",
            )),
            _ => None,
        }
    }

    fn needs_coordinator(&self) -> bool {
        let member = matches!(
            self.phase,
            Phase::NeedJoin
                | Phase::Joining
                | Phase::AwaitMetadata
                | Phase::Syncing
                | Phase::Stable
        );
        let leave = self.phase == Phase::Leaving && self.leave_wanted();
        member || leave || !self.commits.is_empty() || !self.fetches.is_empty()
    }

    fn leave_wanted(&self) -> bool {
        if self.consumer_protocol() {
            return self.cg_leave_wanted();
        }
        !self.member_id.is_empty() && self.s.instance_id.is_none()
    }

    /// Heartbeats go while the generation is current: stable, or answering a revocation
    /// before the next join or the leave.
    fn heartbeating(&self) -> bool {
        self.generation >= 0
            && (self.phase == Phase::Stable
                || (matches!(self.phase, Phase::NeedJoin | Phase::Leaving)
                    && !self.revocations.is_empty()))
    }

    fn poll_clock_runs(&self) -> bool {
        matches!(
            self.phase,
            Phase::NeedJoin
                | Phase::Joining
                | Phase::AwaitMetadata
                | Phase::Syncing
                | Phase::Stable
        )
    }

    /// Whether commit `c` may be sent now. Before a JoinGroup, the commits made for the
    /// assignment being given up still go, with its generation (the coordinator accepts
    /// them until the rebalance completes); the JoinGroup waits for them.
    fn commit_sendable(&self, c: &PendingCommit) -> bool {
        match self.phase {
            Phase::Unjoined | Phase::Stable | Phase::Leaving | Phase::PollExpired => true,
            Phase::NeedJoin => c.epoch == self.assign_epoch && self.generation >= 0,
            _ => false,
        }
    }

    /// Announces the revocation of `partitions` (still owned until `revoke_done`).
    fn revoke(&mut self, partitions: Vec<TopicPartition>) {
        self.revocations.push_back(Revocation {
            lost: false,
            partitions: partitions.clone(),
        });
        self.event(GroupEvent::Revoked(partitions));
    }

    /// Drops every owned partition as lost.
    fn lose_all(&mut self) {
        self.assign_epoch += 1;
        if self.owned.is_empty() {
            return;
        }
        let lost = std::mem::take(&mut self.owned);
        self.revocations.push_back(Revocation {
            lost: true,
            partitions: lost.clone(),
        });
        self.event(GroupEvent::Lost(lost));
    }

    /// A rebalance is wanted: now (eager: after Revoked(all)), or after the one in flight.
    fn request_rejoin(&mut self) {
        match self.phase {
            Phase::Joining | Phase::AwaitMetadata | Phase::Syncing => self.rejoin_after = true,
            Phase::Stable | Phase::NeedJoin => {
                if self.eager() {
                    let rest: Vec<TopicPartition> = self
                        .owned
                        .iter()
                        .filter(|tp| !self.revoking(tp))
                        .cloned()
                        .collect();
                    if !rest.is_empty() {
                        self.revoke(rest);
                    }
                }
                if self.phase == Phase::Stable {
                    self.join_at = None;
                }
                self.phase = Phase::NeedJoin;
            }
            _ => {}
        }
    }

    /// A JoinGroup or SyncGroup failed: join again after `delay` (nothing to revoke:
    /// eager members revoked before joining, cooperative ones keep their partitions).
    fn rejoin_now(&mut self, delay: Option<Duration>, now: Instant) {
        if !matches!(
            self.phase,
            Phase::Joining | Phase::AwaitMetadata | Phase::Syncing | Phase::NeedJoin
        ) {
            return;
        }
        self.phase = Phase::NeedJoin;
        self.rejoin_after = false;
        self.joined = None;
        self.join_at = delay.map(|d| now + d);
    }

    /// The generation is gone (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, session lost):
    /// Lost(owned), reset, join again.
    fn reset_generation(&mut self, reset_member: bool, now: Instant) {
        self.lose_all();
        self.generation = -1;
        self.assigned_counts = None;
        if reset_member {
            self.member_id.clear();
        }
        self.abandon_rebalance();
        if matches!(
            self.phase,
            Phase::NeedJoin
                | Phase::Joining
                | Phase::AwaitMetadata
                | Phase::Syncing
                | Phase::Stable
        ) {
            self.phase = Phase::NeedJoin;
            self.join_at = Some(now);
        }
    }

    /// Forgets a JoinGroup or SyncGroup in flight: its answer will be ignored.
    fn abandon_rebalance(&mut self) {
        self.inflight
            .retain(|_, f| !matches!(f.what, Sent::Join | Sent::Sync));
        self.joined = None;
        self.rejoin_after = false;
    }

    fn fatal(&mut self, error: Error) {
        self.lose_all();
        self.abandon_rebalance();
        self.error(error.clone(), true);
        self.phase = Phase::Fatal;
        self.fail_ops(&error);
        self.inflight.clear();
        self.find_in_flight = None;
    }

    fn fenced(&mut self, what: &str) {
        let id = self.s.instance_id.clone().unwrap_or_default();
        self.fatal(Error::new(
            local::FENCED,
            format!(
                "group {}: {what}: FENCED_INSTANCE_ID: another consumer with group.instance.id {id:?} joined; this one stops",
                self.s.group_id
            ),
        ));
    }

    fn fail_ops(&mut self, e: &Error) {
        for c in std::mem::take(&mut self.commits) {
            self.event(GroupEvent::CommitDone {
                id: c.id,
                result: Err(e.clone()),
            });
        }
        for f in std::mem::take(&mut self.fetches) {
            self.event(GroupEvent::Committed {
                id: f.id,
                result: Err(e.clone()),
            });
        }
    }

    /// Close or unsubscribe: revoke, abandon any rebalance, then leave (see `maybe_leave`).
    fn start_leaving(&mut self) {
        self.abandon_rebalance();
        let rest: Vec<TopicPartition> = self
            .owned
            .iter()
            .filter(|tp| !self.revoking(tp))
            .cloned()
            .collect();
        if !rest.is_empty() {
            self.revoke(rest);
        }
        self.rejoin_after_revoke = false;
        self.phase = Phase::Leaving;
    }

    /// The leave of close/unsubscribe is done (or not needed).
    fn left(&mut self) {
        self.assign_epoch += 1;
        self.member_id.clear();
        self.generation = -1;
        self.assigned_counts = None;
        self.hb_at = None;
        if self.closing {
            self.finish_closed();
        } else if self.subscription.is_empty() {
            self.phase = Phase::Unjoined;
        } else {
            self.phase = Phase::NeedJoin;
            self.join_at = None;
        }
    }

    fn finish_closed(&mut self) {
        self.fail_ops(&Error::new(local::DESTROY, "the consumer group is closed"));
        self.inflight.clear();
        self.find_in_flight = None;
        self.phase = Phase::Closed;
    }

    fn forget_coordinator(&mut self, node: i32) {
        if self.coordinator == Some(node) {
            self.coordinator = None;
            self.find_at = None;
        }
    }

    fn transport_failed(&mut self, node: i32, _e: Option<Error>) {
        self.forget_coordinator(node);
    }

    // -----------------------------------------------------------------------
    // Timers
    // -----------------------------------------------------------------------

    fn expire_ops(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.commits.len() {
            let c = &self.commits[i];
            if !c.in_flight && now >= c.deadline {
                let mut c = self.commits.remove(i);
                let why = format!("not committed within {} ms", self.op_timeout.as_millis());
                for o in std::mem::take(&mut c.offsets) {
                    c.failed.push((o.tp, local::TIMED_OUT, why.clone()));
                }
                self.finish_commit(c);
            } else {
                i += 1;
            }
        }
        let mut i = 0;
        while i < self.fetches.len() {
            let f = &self.fetches[i];
            if !f.in_flight && now >= f.deadline {
                let f = self.fetches.remove(i);
                let e = Error::timed_out(format!(
                    "group {}: committed offsets of {} not fetched within {} ms",
                    self.s.group_id,
                    list(&f.tps),
                    self.op_timeout.as_millis()
                ));
                self.event(GroupEvent::Committed {
                    id: f.id,
                    result: Err(e),
                });
            } else {
                i += 1;
            }
        }
    }

    fn check_max_poll(&mut self, now: Instant) {
        if !self.poll_clock_runs() {
            return;
        }
        let last = *self.last_app_poll.get_or_insert(now);
        if now < last + self.s.max_poll_interval {
            return;
        }
        self.abandon_rebalance();
        if let (false, Some(node)) = (self.member_id.is_empty(), self.coordinator) {
            let req = LeaveGroupRequest::single(
                &self.s.group_id,
                &self.member_id,
                self.s.instance_id.as_deref(),
                Some("consumer poll timeout has expired"),
            );
            self.send(
                Target::Coordinator(node),
                GroupRequest::Leave(req),
                Sent::Leave { closing: false },
            );
        }
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
        self.member_id.clear();
        self.generation = -1;
        self.assigned_counts = None;
        self.phase = Phase::PollExpired;
    }

    /// Whether the session clock is watched: while heartbeating, and while a member that
    /// still holds its assignment waits to send its JoinGroup (no heartbeat goes then, so
    /// the coordinator's clock runs too). Not during a revocation callback, nor while a
    /// JoinGroup or SyncGroup is in flight (the coordinator keeps such a member).
    fn session_watched(&self) -> bool {
        self.revocations.is_empty()
            && (self.heartbeating() || (self.generation >= 0 && self.phase == Phase::NeedJoin))
    }

    fn check_session(&mut self, now: Instant) {
        if !self.session_watched() {
            return;
        }
        let last = *self.last_contact.get_or_insert(now);
        if now < last + self.s.session_timeout {
            return;
        }
        if let Some(node) = self.coordinator {
            self.forget_coordinator(node);
        }
        // No heartbeat answered within session.timeout.ms: the coordinator may have
        // given the partitions to others already.
        self.reset_generation(false, now);
    }

    // -----------------------------------------------------------------------
    // FindCoordinator
    // -----------------------------------------------------------------------

    fn maybe_find(&mut self, now: Instant) {
        if self.coordinator.is_some() || self.find_in_flight.is_some() || !self.needs_coordinator()
        {
            return;
        }
        if self.find_at.is_some_and(|at| now < at) {
            return;
        }
        let req = FindCoordinatorRequest::single(coordinator_key_type::GROUP, &self.s.group_id);
        let id = self.send(
            Target::AnyBroker,
            GroupRequest::FindCoordinator(req),
            Sent::Find,
        );
        self.find_in_flight = Some(id);
    }

    fn on_find(&mut self, resp: FindCoordinatorResponse, now: Instant) {
        let Some(c) = resp.coordinator_for(&self.s.group_id) else {
            return self.find_failed(now, None);
        };
        if c.error_code == code::NONE && c.node_id >= 0 {
            self.coordinator = Some(c.node_id);
            self.find_backoff.reset();
            self.find_at = None;
            return;
        }
        if c.error_code == code::NONE || error_codes::is_retriable(c.error_code) {
            return self.find_failed(now, None);
        }
        let e = Error::kafka_with_message(
            c.error_code,
            c.error_message.as_deref(),
            format!("FindCoordinator for group {}", self.s.group_id),
        );
        self.error(e.clone(), false);
        let queued = |inf: bool| !inf;
        let (fail_c, keep_c): (Vec<_>, Vec<_>) = std::mem::take(&mut self.commits)
            .into_iter()
            .partition(|c| queued(c.in_flight));
        self.commits = keep_c;
        for c in fail_c {
            self.event(GroupEvent::CommitDone {
                id: c.id,
                result: Err(e.clone()),
            });
        }
        let (fail_f, keep_f): (Vec<_>, Vec<_>) = std::mem::take(&mut self.fetches)
            .into_iter()
            .partition(|f| queued(f.in_flight));
        self.fetches = keep_f;
        for f in fail_f {
            self.event(GroupEvent::Committed {
                id: f.id,
                result: Err(e.clone()),
            });
        }
        self.find_failed(now, None);
    }

    fn find_failed(&mut self, now: Instant, _e: Option<Error>) {
        self.find_at = Some(now + self.find_backoff.next());
    }

    // -----------------------------------------------------------------------
    // JoinGroup
    // -----------------------------------------------------------------------

    fn maybe_join(&mut self, now: Instant, node: i32) {
        if self.phase != Phase::NeedJoin
            || !self.revocations.is_empty()
            || self.join_at.is_some_and(|at| now < at)
            || self
                .commits
                .iter()
                .any(|c| c.in_flight || self.commit_sendable(c))
        {
            return;
        }
        let protocols = self
            .s
            .assignors
            .iter()
            .map(|&a| JoinGroupRequestProtocol {
                name: a.name().into(),
                metadata: self.subscription_bytes(a),
                ..Default::default()
            })
            .collect();
        let req = JoinGroupRequest {
            group_id: self.s.group_id.clone(),
            session_timeout_ms: ms(self.s.session_timeout),
            rebalance_timeout_ms: ms(self.s.max_poll_interval),
            member_id: self.member_id.clone(),
            group_instance_id: self.s.instance_id.clone(),
            protocol_type: CONSUMER_PROTOCOL_TYPE.into(),
            protocols,
            reason: Some("joining the group".into()),
            ..Default::default()
        };
        self.send(
            Target::Coordinator(node),
            GroupRequest::Join(req),
            Sent::Join,
        );
        self.phase = Phase::Joining;
        self.rejoin_after = false;
    }

    /// ConsumerProtocolSubscription v3 as Java 4.x writes it: topics sorted, the owned
    /// partitions, their generation, the rack; cooperative-sticky's user data is the
    /// generation (an i32).
    fn subscription_bytes(&self, a: Assignor) -> Bytes {
        let user_data = (a == Assignor::CooperativeSticky)
            .then(|| Bytes::copy_from_slice(&self.generation.to_be_bytes()));
        let sub = ConsumerProtocolSubscription {
            topics: self.subscription.clone(),
            user_data,
            owned_partitions: by_topic(&self.owned),
            generation_id: self.generation,
            rack_id: self.s.rack.clone(),
            ..Default::default()
        };
        encode_subscription(&sub, SUBSCRIPTION_MAX_VERSION)
    }

    fn on_join(&mut self, node: i32, resp: JoinGroupResponse, now: Instant) {
        if self.phase != Phase::Joining {
            return;
        }
        match resp.error_code {
            code::NONE => {}
            code::MEMBER_ID_REQUIRED => {
                self.member_id = resp.member_id.clone();
                return self.rejoin_now(None, now);
            }
            code::UNKNOWN_MEMBER_ID | code::ILLEGAL_GENERATION => {
                self.phase = Phase::NeedJoin;
                return self.reset_generation(resp.error_code == code::UNKNOWN_MEMBER_ID, now);
            }
            code::FENCED_INSTANCE_ID => return self.fenced("JoinGroup"),
            code::COORDINATOR_LOAD_IN_PROGRESS => {
                let d = self.join_backoff.next();
                return self.rejoin_now(Some(d), now);
            }
            code::COORDINATOR_NOT_AVAILABLE | code::NOT_COORDINATOR => {
                self.forget_coordinator(node);
                return self.rejoin_now(None, now);
            }
            c if c == code::REBALANCE_IN_PROGRESS || error_codes::is_retriable(c) => {
                let d = self.join_backoff.next();
                return self.rejoin_now(Some(d), now);
            }
            c => {
                let e = Error::kafka(c, format!("JoinGroup of group {}", self.s.group_id));
                self.error(e, false);
                let d = self.join_backoff.next();
                return self.rejoin_now(Some(d), now);
            }
        }
        let name = resp.protocol_name.clone().unwrap_or_default();
        let Some(protocol) = self.s.assignors.iter().copied().find(|a| a.name() == name) else {
            self.error(
                Error::protocol(format!(
                    "group {}: the coordinator chose protocol {name:?}, not one this member offered",
                    self.s.group_id
                )),
                false,
            );
            let d = self.join_backoff.next();
            return self.rejoin_now(Some(d), now);
        };
        self.join_backoff.reset();
        self.member_id = resp.member_id.clone();
        self.generation = resp.generation_id;
        let leads = resp.leader == resp.member_id && !resp.skip_assignment;
        let members = leads.then(|| self.read_members(&resp));
        self.joined = Some(Joined {
            protocol,
            members,
            need_metadata_sent: false,
        });
        self.phase = Phase::AwaitMetadata;
    }

    fn read_members(&mut self, resp: &JoinGroupResponse) -> Vec<Member> {
        let mut out = Vec::new();
        for m in &resp.members {
            match decode_subscription(&m.metadata) {
                Ok((_, s)) => out.push(Member {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    topics: s.topics,
                    owned_partitions: flatten(&s.owned_partitions),
                    generation: (s.generation_id >= 0).then_some(s.generation_id),
                    rack: s.rack_id,
                }),
                Err(e) => {
                    self.error(
                        Error::protocol(format!(
                            "group {}: member {}'s subscription does not decode ({e}): it is assigned nothing",
                            self.s.group_id, m.member_id
                        )),
                        false,
                    );
                    out.push(Member::new(m.member_id.clone(), Vec::<String>::new()));
                }
            }
        }
        out
    }

    // -----------------------------------------------------------------------
    // SyncGroup
    // -----------------------------------------------------------------------

    fn maybe_sync(&mut self, node: i32) {
        if self.phase != Phase::AwaitMetadata {
            return;
        }
        let Some(j) = self.joined.as_mut() else {
            self.phase = Phase::NeedJoin;
            return;
        };
        let protocol = j.protocol;
        let mut assignments = Vec::new();
        if let Some(members) = &j.members {
            let topics: BTreeSet<&String> = members.iter().flat_map(|m| m.topics.iter()).collect();
            let missing: Vec<String> = topics
                .iter()
                .filter(|t| !self.counts.contains_key(**t))
                .map(|t| (*t).clone())
                .collect();
            if !missing.is_empty() {
                if !j.need_metadata_sent {
                    j.need_metadata_sent = true;
                    self.out.push(Action::NeedMetadata(missing));
                }
                return;
            }
            let counts: PartitionCounts = topics
                .iter()
                .map(|t| ((*t).clone(), self.counts[*t]))
                .collect();
            let assignment = protocol.assign(members, &counts);
            for m in members {
                let parts = assignment.get(&m.member_id).cloned().unwrap_or_default();
                let a = ConsumerProtocolAssignment {
                    assigned_partitions: by_topic(&parts),
                    user_data: None,
                    ..Default::default()
                };
                assignments.push(SyncGroupRequestAssignment {
                    member_id: m.member_id.clone(),
                    assignment: encode_assignment(&a, ASSIGNMENT_MAX_VERSION),
                    ..Default::default()
                });
            }
            self.assigned_counts = Some(counts);
        } else {
            self.assigned_counts = None;
        }
        let req = SyncGroupRequest {
            group_id: self.s.group_id.clone(),
            generation_id: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: self.s.instance_id.clone(),
            protocol_type: Some(CONSUMER_PROTOCOL_TYPE.into()),
            protocol_name: Some(protocol.name().into()),
            assignments,
            ..Default::default()
        };
        self.send(
            Target::Coordinator(node),
            GroupRequest::Sync(req),
            Sent::Sync,
        );
        self.phase = Phase::Syncing;
    }

    fn on_sync(&mut self, node: i32, resp: SyncGroupResponse, now: Instant) {
        if self.phase != Phase::Syncing {
            return;
        }
        match resp.error_code {
            code::NONE => {}
            code::REBALANCE_IN_PROGRESS => return self.rejoin_now(None, now),
            code::UNKNOWN_MEMBER_ID | code::ILLEGAL_GENERATION => {
                return self.reset_generation(resp.error_code == code::UNKNOWN_MEMBER_ID, now)
            }
            code::FENCED_INSTANCE_ID => return self.fenced("SyncGroup"),
            code::COORDINATOR_LOAD_IN_PROGRESS => {
                let d = self.join_backoff.next();
                return self.rejoin_now(Some(d), now);
            }
            code::COORDINATOR_NOT_AVAILABLE | code::NOT_COORDINATOR => {
                self.forget_coordinator(node);
                return self.rejoin_now(None, now);
            }
            c => {
                if !error_codes::is_retriable(c) {
                    let e = Error::kafka(c, format!("SyncGroup of group {}", self.s.group_id));
                    self.error(e, false);
                }
                let d = self.join_backoff.next();
                return self.rejoin_now(Some(d), now);
            }
        }
        let assigned: BTreeSet<TopicPartition> = if resp.assignment.is_empty() {
            BTreeSet::new()
        } else {
            match decode_assignment(&resp.assignment) {
                Ok((_, a)) => flatten(&a.assigned_partitions).into_iter().collect(),
                Err(e) => {
                    self.error(
                        Error::protocol(format!(
                            "group {}: the assignment of generation {} does not decode: {e}",
                            self.s.group_id, self.generation
                        )),
                        false,
                    );
                    self.enter_stable(now);
                    return self.request_rejoin();
                }
            }
        };
        self.join_backoff.reset();
        self.assign_epoch += 1;
        if self.eager() {
            // Everything was revoked before the join.
            self.owned = assigned.iter().cloned().collect();
            self.event(GroupEvent::Assigned(self.owned.clone()));
        } else {
            let owned: BTreeSet<TopicPartition> = self.owned.iter().cloned().collect();
            let revoked: Vec<TopicPartition> = owned.difference(&assigned).cloned().collect();
            let added: Vec<TopicPartition> = assigned.difference(&owned).cloned().collect();
            if !revoked.is_empty() {
                self.revoke(revoked);
                self.rejoin_after_revoke = true;
            }
            self.owned = owned.union(&assigned).cloned().collect();
            self.event(GroupEvent::Assigned(added));
        }
        self.enter_stable(now);
        if std::mem::take(&mut self.rejoin_after) {
            self.request_rejoin();
        }
    }

    fn enter_stable(&mut self, now: Instant) {
        self.phase = Phase::Stable;
        self.joined = None;
        self.last_contact = Some(now);
        self.hb_at = Some(now + self.s.heartbeat_interval);
        self.hb_backoff.reset();
    }

    // -----------------------------------------------------------------------
    // Heartbeat
    // -----------------------------------------------------------------------

    fn maybe_heartbeat(&mut self, now: Instant, node: i32) {
        if !self.heartbeating() || self.hb_in_flight {
            return;
        }
        if self.hb_at.is_some_and(|at| now < at) {
            return;
        }
        let req = HeartbeatRequest {
            group_id: self.s.group_id.clone(),
            generation_id: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: self.s.instance_id.clone(),
            ..Default::default()
        };
        let generation = self.generation;
        self.send(
            Target::Coordinator(node),
            GroupRequest::Heartbeat(req),
            Sent::Heartbeat { generation },
        );
        self.hb_in_flight = true;
        self.hb_at = Some(now + self.s.heartbeat_interval);
    }

    fn on_heartbeat(&mut self, node: i32, generation: i32, resp: HeartbeatResponse, now: Instant) {
        let current = generation == self.generation && self.heartbeating();
        match resp.error_code {
            code::NONE => {
                self.last_contact = Some(now);
                self.hb_backoff.reset();
            }
            code::REBALANCE_IN_PROGRESS => {
                self.last_contact = Some(now);
                if current {
                    self.request_rejoin();
                }
            }
            code::UNKNOWN_MEMBER_ID | code::ILLEGAL_GENERATION => {
                if current {
                    self.reset_generation(resp.error_code == code::UNKNOWN_MEMBER_ID, now);
                }
            }
            code::FENCED_INSTANCE_ID => {
                if current {
                    self.fenced("Heartbeat");
                }
            }
            code::COORDINATOR_LOAD_IN_PROGRESS => {
                self.hb_at = Some(now + self.hb_backoff.next());
            }
            code::COORDINATOR_NOT_AVAILABLE | code::NOT_COORDINATOR => {
                self.forget_coordinator(node);
                self.hb_at = Some(now);
            }
            c => {
                if !error_codes::is_retriable(c) {
                    let e = Error::kafka(c, format!("Heartbeat of group {}", self.s.group_id));
                    self.error(e, false);
                }
            }
        }
    }

    // -----------------------------------------------------------------------
    // LeaveGroup
    // -----------------------------------------------------------------------

    fn maybe_leave(&mut self) {
        if self.phase != Phase::Leaving || !self.revocations.is_empty() || !self.commits.is_empty()
        {
            return;
        }
        if !self.leave_wanted() {
            return self.left();
        }
        let Some(node) = self.coordinator else {
            return; // found first; the driver bounds a close that cannot finish
        };
        let req = LeaveGroupRequest::single(
            &self.s.group_id,
            &self.member_id,
            self.s.instance_id.as_deref(),
            Some(if self.closing {
                "the consumer is being closed"
            } else {
                "the consumer unsubscribed"
            }),
        );
        self.send(
            Target::Coordinator(node),
            GroupRequest::Leave(req),
            Sent::Leave { closing: true },
        );
        self.phase = Phase::LeaveSent;
    }

    // -----------------------------------------------------------------------
    // Commits
    // -----------------------------------------------------------------------

    /// In a group, moves the offsets of partitions not owned to the failures.
    fn drop_unowned(&self, c: &mut PendingCommit) {
        c.epoch = self.assign_epoch;
        c.generation = self.generation;
        if !self.in_group() {
            return;
        }
        let (keep, drop): (Vec<_>, Vec<_>) = std::mem::take(&mut c.offsets)
            .into_iter()
            .partition(|o| self.owned.contains(&o.tp));
        c.offsets = keep;
        for o in drop {
            c.failed.push((
                o.tp,
                local::STATE,
                "not assigned to this member (never committed for another generation)".into(),
            ));
        }
    }

    fn finish_commit(&mut self, c: PendingCommit) {
        let result = if c.failed.is_empty() {
            Ok(())
        } else {
            let code = c.failed[0].1;
            let what: Vec<String> = c
                .failed
                .iter()
                .map(|(tp, _, why)| format!("{tp}: {why}"))
                .collect();
            Err(Error::new(
                code,
                format!(
                    "group {}: commit failed for {} partition(s): {}",
                    self.s.group_id,
                    c.failed.len(),
                    what.join("; ")
                ),
            ))
        };
        self.event(GroupEvent::CommitDone { id: c.id, result });
    }

    fn send_commits(&mut self, now: Instant, node: i32) {
        let mut i = 0;
        while i < self.commits.len() {
            let c = &self.commits[i];
            if c.in_flight || c.retry_at.is_some_and(|at| now < at) || !self.commit_sendable(c) {
                i += 1;
                continue;
            }
            let mut c = self.commits.remove(i);
            if c.epoch != self.assign_epoch
                || (self.consumer_protocol() && c.generation != self.generation)
            {
                // A rebalance completed since (consumer protocol: the member epoch moved
                // on, so the coordinator has heard that revoked partitions are released):
                // only what is still owned goes.
                self.drop_unowned(&mut c);
            }
            if c.offsets.is_empty() {
                self.finish_commit(c);
                continue;
            }
            let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
            for o in &c.offsets {
                topics
                    .entry(o.tp.topic.as_str())
                    .or_default()
                    .push(OffsetCommitRequestPartition {
                        partition_index: o.tp.partition,
                        committed_offset: o.offset,
                        committed_leader_epoch: o.leader_epoch,
                        committed_metadata: o.metadata.clone(),
                        ..Default::default()
                    });
            }
            let in_group = self.in_group();
            let req = OffsetCommitRequest {
                group_id: self.s.group_id.clone(),
                generation_id_or_member_epoch: if in_group { self.generation } else { -1 },
                member_id: if in_group {
                    self.member_id.clone()
                } else {
                    String::new()
                },
                group_instance_id: if in_group {
                    self.s.instance_id.clone()
                } else {
                    None
                },
                topics: topics
                    .into_iter()
                    .map(|(t, partitions)| OffsetCommitRequestTopic {
                        name: t.to_owned(),
                        partitions,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            let generation = self.generation;
            self.send(
                Target::Coordinator(node),
                GroupRequest::Commit(req),
                Sent::Commit {
                    commit: c.id,
                    generation,
                },
            );
            c.in_flight = true;
            self.commits.insert(i, c);
            i += 1;
        }
    }

    fn on_commit(
        &mut self,
        i: usize,
        node: i32,
        generation: i32,
        resp: OffsetCommitResponse,
        now: Instant,
    ) {
        let mut codes: HashMap<TopicPartition, i16> = HashMap::new();
        for t in &resp.topics {
            for p in &t.partitions {
                codes.insert(
                    TopicPartition::new(&t.name, p.partition_index),
                    p.error_code,
                );
            }
        }
        let current = generation == self.generation;
        let mut retry = Vec::new();
        let (mut rejoin, mut reset, mut fenced, mut backoff) = (false, None, false, false);
        let mut stale = false;
        let offsets = std::mem::take(&mut self.commits[i].offsets);
        for o in offsets {
            let c = codes.get(&o.tp).copied();
            let why = |c: i16| -> String {
                let n = error_codes::name(c);
                match c {
                    code::REBALANCE_IN_PROGRESS => format!(
                        "{n} ({c}): the group is rebalancing; commit again after the rebalance"
                    ),
                    code::ILLEGAL_GENERATION | code::UNKNOWN_MEMBER_ID => format!(
                        "{n} ({c}): the group rebalanced and generation {generation} is gone; the partition may be assigned to another member"
                    ),
                    _ => format!("{n} ({c})"),
                }
            };
            match c {
                Some(code::NONE) => {}
                None => self.commits[i].failed.push((
                    o.tp,
                    local::PROTOCOL,
                    "no answer for the partition".into(),
                )),
                Some(code::COORDINATOR_LOAD_IN_PROGRESS) => {
                    backoff = true;
                    retry.push(o);
                }
                Some(code::COORDINATOR_NOT_AVAILABLE | code::NOT_COORDINATOR) => {
                    self.forget_coordinator(node);
                    retry.push(o);
                }
                Some(code::REBALANCE_IN_PROGRESS) => {
                    rejoin = true;
                    self.commits[i].failed.push((
                        o.tp,
                        i32::from(code::REBALANCE_IN_PROGRESS),
                        why(27),
                    ));
                }
                Some(c @ (code::ILLEGAL_GENERATION | code::UNKNOWN_MEMBER_ID)) => {
                    reset = Some(c == code::UNKNOWN_MEMBER_ID);
                    self.commits[i].failed.push((o.tp, i32::from(c), why(c)));
                }
                Some(code::FENCED_INSTANCE_ID) => {
                    fenced = true;
                    self.commits[i].failed.push((
                        o.tp,
                        local::FENCED,
                        why(code::FENCED_INSTANCE_ID),
                    ));
                }
                Some(consumer_protocol::STALE_MEMBER_EPOCH) if self.consumer_protocol() => {
                    stale = true;
                    retry.push(o);
                }
                Some(c) if c == code::REQUEST_TIMED_OUT || error_codes::is_retriable(c) => {
                    backoff = true;
                    retry.push(o);
                }
                Some(c) => self.commits[i].failed.push((o.tp, i32::from(c), why(c))),
            }
        }
        if retry.is_empty() {
            let c = self.commits.remove(i);
            self.finish_commit(c);
        } else {
            let retry_at = backoff.then(|| now + self.op_backoff.next());
            let c = &mut self.commits[i];
            c.offsets = retry;
            c.retry_at = retry_at;
            if stale {
                self.cg_commit_after_heartbeat(i);
            }
        }
        if fenced {
            return self.fenced("OffsetCommit");
        }
        if let (Some(reset_member), true) = (reset, current) {
            self.reset_generation(reset_member, now);
        } else if rejoin && current {
            self.request_rejoin();
        }
    }

    // -----------------------------------------------------------------------
    // Committed offsets
    // -----------------------------------------------------------------------

    fn send_fetches(&mut self, now: Instant, node: i32) {
        for f in &mut self.fetches {
            if f.in_flight || f.retry_at.is_some_and(|at| now < at) {
                continue;
            }
            let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for tp in &f.tps {
                topics
                    .entry(tp.topic.as_str())
                    .or_default()
                    .push(tp.partition);
            }
            let topics = topics
                .into_iter()
                .map(|(t, partition_indexes)| OffsetFetchRequestTopic {
                    name: t.to_owned(),
                    partition_indexes,
                    ..Default::default()
                })
                .collect();
            let mut req = OffsetFetchRequest::single(&self.s.group_id, Some(topics));
            req.require_stable = true;
            if self.s.protocol == GroupProtocol::Consumer && self.generation > 0 {
                // v9+: the member's id and epoch (a consumer group checks them).
                if let Some(g) = req.groups.first_mut() {
                    g.member_id = Some(self.member_id.clone());
                    g.member_epoch = self.generation;
                }
            }
            f.in_flight = true;
            let fetch = f.id;
            let id = self.next_id;
            self.next_id += 1;
            self.inflight.insert(
                id,
                InFlight {
                    node: Some(node),
                    what: Sent::Fetch { fetch },
                },
            );
            self.out.push(Action::Send {
                id,
                to: Target::Coordinator(node),
                req: GroupRequest::FetchOffsets(req),
            });
        }
    }

    fn on_fetch(&mut self, i: usize, node: i32, resp: OffsetFetchResponse, now: Instant) {
        let group = self.s.group_id.clone();
        let Some((group_error, topics)) = resp.group(&group) else {
            let f = self.fetches.remove(i);
            let e = Error::protocol(format!("OffsetFetch: no answer for group {group}"));
            return self.event(GroupEvent::Committed {
                id: f.id,
                result: Err(e),
            });
        };
        let mut got: HashMap<TopicPartition, (i64, i32, i16)> = HashMap::new();
        for t in topics {
            for p in &t.partitions {
                got.insert(
                    TopicPartition::new(&t.name, p.partition_index),
                    (p.committed_offset, p.committed_leader_epoch, p.error_code),
                );
            }
        }
        let mut worst = group_error;
        if worst == code::NONE {
            worst = got
                .values()
                .map(|v| v.2)
                .find(|&c| {
                    c != code::NONE
                        && (is_coordinator_error(c)
                            || c == code::UNSTABLE_OFFSET_COMMIT
                            || error_codes::is_retriable(c))
                })
                .unwrap_or(code::NONE);
        }
        match worst {
            code::NONE => {}
            code::COORDINATOR_NOT_AVAILABLE | code::NOT_COORDINATOR => {
                self.forget_coordinator(node);
                self.fetches[i].retry_at = None;
                return;
            }
            c if c == code::UNSTABLE_OFFSET_COMMIT
                || c == consumer_protocol::STALE_MEMBER_EPOCH
                || error_codes::is_retriable(c) =>
            {
                self.fetches[i].retry_at = Some(now + self.op_backoff.next());
                return;
            }
            c => {
                let f = self.fetches.remove(i);
                let e = Error::kafka(c, format!("OffsetFetch of group {group}"));
                return self.event(GroupEvent::Committed {
                    id: f.id,
                    result: Err(e),
                });
            }
        }
        let f = self.fetches.remove(i);
        let mut out = Vec::new();
        let mut failed = Vec::new();
        for tp in f.tps {
            match got.get(&tp) {
                Some(&(_, _, c)) if c != code::NONE => failed.push((tp, c)),
                Some(&(o, e, _)) => out.push((tp, o, e)),
                None => out.push((tp, -1, -1)),
            }
        }
        let result = if let Some(&(_, c)) = failed.first() {
            let what: Vec<String> = failed
                .iter()
                .map(|(tp, c)| format!("{tp}: {} ({c})", error_codes::name(*c)))
                .collect();
            Err(Error::new(
                i32::from(c),
                format!(
                    "group {group}: committed offsets not fetched for {}",
                    what.join("; ")
                ),
            ))
        } else {
            Ok(out)
        };
        self.op_backoff.reset();
        self.event(GroupEvent::Committed { id: f.id, result });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: &str = "g";

    fn settings(assignors: &[Assignor]) -> GroupSettings {
        GroupSettings {
            session_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(1),
            max_poll_interval: Duration::from_secs(60),
            assignors: assignors.to_vec(),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            rack: Some("r1".into()),
            ..GroupSettings::new(G)
        }
    }

    type Out = (u64, Target, GroupRequest);

    struct H {
        g: Group,
        now: Instant,
    }

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
        list.iter().map(|(t, p)| tp(t, *p)).collect()
    }

    fn off(t: &str, p: i32, offset: i64) -> CommitOffset {
        CommitOffset {
            tp: tp(t, p),
            offset,
            leader_epoch: 3,
            metadata: None,
        }
    }

    impl H {
        fn new(assignors: &[Assignor]) -> H {
            H::with(settings(assignors))
        }

        fn with(s: GroupSettings) -> H {
            H {
                g: Group::new(s),
                now: Instant::now(),
            }
        }

        fn advance(&mut self, d: Duration) {
            self.now += d;
        }

        /// Polls: the requests, the events and the NeedMetadata lists.
        fn step(&mut self) -> (Vec<Out>, Vec<GroupEvent>, Vec<Vec<String>>) {
            let (mut sends, mut events, mut meta) = (Vec::new(), Vec::new(), Vec::new());
            for a in self.g.poll(self.now) {
                match a {
                    Action::Send { id, to, req } => sends.push((id, to, req)),
                    Action::Event(e) => events.push(e),
                    Action::NeedMetadata(t) => meta.push(t),
                }
            }
            (sends, events, meta)
        }

        /// Polls and expects exactly one request and no event.
        fn one(&mut self) -> Out {
            let (mut s, e, m) = self.step();
            assert!(e.is_empty() && m.is_empty(), "unexpected {e:?} {m:?}");
            assert_eq!(s.len(), 1, "one request expected: {s:#?}");
            s.remove(0)
        }

        fn events(&mut self) -> Vec<GroupEvent> {
            let (s, e, _) = self.step();
            assert!(s.is_empty(), "no request expected: {s:#?}");
            e
        }

        fn quiet(&mut self) {
            let (s, e, m) = self.step();
            assert!(
                s.is_empty() && e.is_empty() && m.is_empty(),
                "{s:#?} {e:?} {m:?}"
            );
        }

        fn answer(&mut self, id: u64, r: GroupResponse) {
            self.g.on_response(id, Ok(r), self.now);
        }

        fn fail(&mut self, id: u64) {
            self.g
                .on_response(id, Err(Error::transport("connection reset")), self.now);
        }

        /// Expects a FindCoordinator and answers it with `node`.
        fn find(&mut self, node: i32) {
            let (id, to, req) = self.one();
            assert_eq!(to, Target::AnyBroker);
            let GroupRequest::FindCoordinator(r) = req else {
                panic!("FindCoordinator expected: {req:?}")
            };
            assert_eq!((r.key_type, r.key.as_str()), (0, G));
            assert_eq!(r.coordinator_keys, [G]);
            self.answer(id, found(node));
            assert_eq!(self.g.coordinator(), Some(node));
        }

        fn expect_join(&mut self, node: i32) -> (u64, JoinGroupRequest) {
            let (id, to, req) = self.one();
            assert_eq!(to, Target::Coordinator(node));
            let GroupRequest::Join(j) = req else {
                panic!("JoinGroup expected: {req:?}")
            };
            (id, j)
        }

        fn expect_sync(&mut self, node: i32) -> (u64, SyncGroupRequest) {
            let (id, to, req) = self.one();
            assert_eq!(to, Target::Coordinator(node));
            let GroupRequest::Sync(s) = req else {
                panic!("SyncGroup expected: {req:?}")
            };
            (id, s)
        }

        fn expect_heartbeat(&mut self) -> (u64, HeartbeatRequest) {
            let (id, _, req) = self.one();
            let GroupRequest::Heartbeat(h) = req else {
                panic!("Heartbeat expected: {req:?}")
            };
            (id, h)
        }

        fn expect_commit(&mut self, node: i32) -> (u64, OffsetCommitRequest) {
            let (id, to, req) = self.one();
            assert_eq!(to, Target::Coordinator(node));
            let GroupRequest::Commit(c) = req else {
                panic!("OffsetCommit expected: {req:?}")
            };
            (id, c)
        }

        /// Joins as the only member (first join answered MEMBER_ID_REQUIRED), generation
        /// `gen`, with `partitions` of topic "t" assigned to it by the leader (us).
        fn join_alone(&mut self, partitions: i32) {
            self.g.subscribe(vec!["t".into()]);
            self.find(1);
            let (id, j) = self.expect_join(1);
            assert_eq!(j.member_id, "");
            self.answer(id, join_err(code::MEMBER_ID_REQUIRED, "m1"));
            let (id, j) = self.expect_join(1);
            assert_eq!(j.member_id, "m1");
            let meta = j.protocols[0].metadata.clone();
            let name = j.protocols[0].name.clone();
            self.answer(id, joined(1, "m1", "m1", &name, vec![("m1", meta)]));
            let (s, e, m) = self.step();
            assert!(s.is_empty() && e.is_empty());
            assert_eq!(m, [vec!["t".to_string()]]);
            self.g
                .set_partition_counts(&[("t".to_string(), partitions)].into_iter().collect());
            let (id, sync) = self.expect_sync(1);
            assert_eq!(sync.assignments.len(), 1);
            let a = sync.assignments[0].assignment.clone();
            self.answer(id, sync_raw(a));
            let e = self.events();
            let all: Vec<_> = (0..partitions).map(|p| tp("t", p)).collect();
            assert_eq!(e, [GroupEvent::Assigned(all.clone())]);
            assert_eq!(self.g.assignment(), &all[..]);
            assert_eq!(self.g.generation(), Some((1, "m1".to_string())));
        }
    }

    fn found(node: i32) -> GroupResponse {
        GroupResponse::FindCoordinator(FindCoordinatorResponse {
            node_id: node,
            host: "h".into(),
            port: 9092,
            ..Default::default()
        })
    }

    fn find_err(c: i16) -> GroupResponse {
        GroupResponse::FindCoordinator(FindCoordinatorResponse {
            error_code: c,
            node_id: -1,
            ..Default::default()
        })
    }

    fn join_err(c: i16, member: &str) -> GroupResponse {
        GroupResponse::Join(JoinGroupResponse {
            error_code: c,
            member_id: member.into(),
            ..Default::default()
        })
    }

    fn joined(
        generation: i32,
        member: &str,
        leader: &str,
        protocol: &str,
        members: Vec<(&str, Bytes)>,
    ) -> GroupResponse {
        GroupResponse::Join(JoinGroupResponse {
            generation_id: generation,
            protocol_type: Some("consumer".into()),
            protocol_name: Some(protocol.into()),
            leader: leader.into(),
            member_id: member.into(),
            members: members
                .into_iter()
                .map(|(m, metadata)| JoinGroupResponseMember {
                    member_id: m.into(),
                    metadata,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
    }

    fn sub_meta(topics: &[&str]) -> Bytes {
        encode_subscription(
            &ConsumerProtocolSubscription {
                topics: topics.iter().map(|t| t.to_string()).collect(),
                ..Default::default()
            },
            3,
        )
    }

    fn assignment_bytes(list: &[(&str, i32)]) -> Bytes {
        encode_assignment(
            &ConsumerProtocolAssignment {
                assigned_partitions: by_topic(&tps(list)),
                ..Default::default()
            },
            3,
        )
    }

    fn sync_raw(assignment: Bytes) -> GroupResponse {
        GroupResponse::Sync(SyncGroupResponse {
            assignment,
            ..Default::default()
        })
    }

    fn sync_ok(list: &[(&str, i32)]) -> GroupResponse {
        sync_raw(assignment_bytes(list))
    }

    fn sync_err(c: i16) -> GroupResponse {
        GroupResponse::Sync(SyncGroupResponse {
            error_code: c,
            ..Default::default()
        })
    }

    fn hb(c: i16) -> GroupResponse {
        GroupResponse::Heartbeat(HeartbeatResponse {
            error_code: c,
            ..Default::default()
        })
    }

    fn commit_resp(list: &[(&str, i32, i16)]) -> GroupResponse {
        let mut topics: BTreeMap<&str, Vec<OffsetCommitResponsePartition>> = BTreeMap::new();
        for (t, p, c) in list {
            topics
                .entry(t)
                .or_default()
                .push(OffsetCommitResponsePartition {
                    partition_index: *p,
                    error_code: *c,
                    ..Default::default()
                });
        }
        GroupResponse::Commit(OffsetCommitResponse {
            topics: topics
                .into_iter()
                .map(|(t, partitions)| OffsetCommitResponseTopic {
                    name: t.into(),
                    partitions,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
    }

    fn commit_ok(e: &GroupEvent) -> bool {
        matches!(e, GroupEvent::CommitDone { result: Ok(()), .. })
    }

    fn commit_err(e: &GroupEvent) -> Error {
        match e {
            GroupEvent::CommitDone { result: Err(e), .. } => e.clone(),
            e => panic!("a failed commit expected: {e:?}"),
        }
    }

    // ---------------------------------------------------------------------
    // Full flows
    // ---------------------------------------------------------------------

    #[test]
    fn eager_leader_full_flow() {
        let mut h = H::new(&[Assignor::Range, Assignor::CooperativeSticky]);
        h.g.subscribe(vec!["u".into(), "t".into(), "t".into()]);
        h.find(1);
        let (id, j) = h.expect_join(1);
        assert_eq!(j.group_id, G);
        assert_eq!(j.protocol_type, "consumer");
        assert_eq!(
            (j.session_timeout_ms, j.rebalance_timeout_ms),
            (10_000, 60_000)
        );
        let names: Vec<&str> = j.protocols.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["range", "cooperative-sticky"]);
        let (v, sub) = decode_subscription(&j.protocols[0].metadata).unwrap();
        assert_eq!(v, 3);
        assert_eq!(sub.topics, ["t", "u"], "sorted, once each");
        assert_eq!(
            (sub.generation_id, sub.rack_id.as_deref()),
            (-1, Some("r1"))
        );
        assert_eq!(sub.user_data, None);
        let (_, sticky) = decode_subscription(&j.protocols[1].metadata).unwrap();
        assert_eq!(
            sticky.user_data.as_deref(),
            Some(&(-1i32).to_be_bytes()[..])
        );
        // Only one JoinGroup in flight.
        h.quiet();
        h.answer(id, join_err(code::MEMBER_ID_REQUIRED, "m1"));
        let (id, j) = h.expect_join(1);
        assert_eq!(j.member_id, "m1");
        let mine = j.protocols[0].metadata.clone();
        h.answer(
            id,
            joined(
                4,
                "m1",
                "m1",
                "range",
                vec![("m1", mine), ("m2", sub_meta(&["t"]))],
            ),
        );
        let (s, e, m) = h.step();
        assert!(s.is_empty() && e.is_empty());
        assert_eq!(m, [vec!["t".to_string(), "u".to_string()]]);
        h.quiet(); // asked once
        h.g.set_partition_counts(&[("t".into(), 4)].into_iter().collect());
        h.quiet(); // "u" still unknown
        h.g.set_partition_counts(&[("u".into(), 1)].into_iter().collect());
        let (id, sync) = h.expect_sync(1);
        assert_eq!((sync.generation_id, sync.member_id.as_str()), (4, "m1"));
        assert_eq!(sync.protocol_name.as_deref(), Some("range"));
        assert_eq!(sync.protocol_type.as_deref(), Some("consumer"));
        let got: BTreeMap<String, Vec<TopicPartition>> = sync
            .assignments
            .iter()
            .map(|a| {
                let (_, x) = decode_assignment(&a.assignment).unwrap();
                (a.member_id.clone(), flatten(&x.assigned_partitions))
            })
            .collect();
        assert_eq!(got["m1"], tps(&[("t", 0), ("t", 1), ("u", 0)]));
        assert_eq!(got["m2"], tps(&[("t", 2), ("t", 3)]));
        assert_eq!(h.g.generation(), None, "not stable yet");
        h.answer(id, sync_ok(&[("t", 0), ("t", 1), ("u", 0)]));
        assert_eq!(
            h.events(),
            [GroupEvent::Assigned(tps(&[("t", 0), ("t", 1), ("u", 0)]))]
        );
        assert_eq!(h.g.generation(), Some((4, "m1".into())));

        // Heartbeats every interval, one in flight.
        h.quiet();
        h.advance(Duration::from_secs(1));
        let (hid, beat) = h.expect_heartbeat();
        assert_eq!((beat.generation_id, beat.member_id.as_str()), (4, "m1"));
        h.advance(Duration::from_secs(1));
        h.quiet(); // the first is unanswered
        h.answer(hid, hb(code::NONE));
        let (hid, _) = h.expect_heartbeat();

        // A rebalance: eager revokes everything before rejoining.
        h.answer(hid, hb(code::REBALANCE_IN_PROGRESS));
        let e = h.events();
        assert_eq!(
            e,
            [GroupEvent::Revoked(tps(&[("t", 0), ("t", 1), ("u", 0)]))]
        );
        h.quiet(); // no JoinGroup before revoke_done
                   // Meanwhile the member commits what it consumed, as generation 4.
        h.g.commit(vec![off("t", 0, 10)], h.now);
        let (cid, c) = h.expect_commit(1);
        assert_eq!(c.generation_id_or_member_epoch, 4);
        h.g.revoke_done(h.now);
        h.quiet(); // the commit is in flight: the join waits for it
        h.answer(cid, commit_resp(&[("t", 0, 0)]));
        let (s, e, _) = h.step();
        assert!(commit_ok(&e[0]));
        assert_eq!(s.len(), 1);
        let GroupRequest::Join(j) = &s[0].2 else {
            panic!("{s:?}")
        };
        assert_eq!(j.member_id, "m1");
        let (_, sub) = decode_subscription(&j.protocols[0].metadata).unwrap();
        assert!(
            sub.owned_partitions.is_empty(),
            "eager owns nothing when joining"
        );
        assert!(h.g.assignment().is_empty());
    }

    #[test]
    fn eager_follower_flow() {
        let mut h = H::new(&[Assignor::RoundRobin]);
        h.g.subscribe(vec!["t".into()]);
        h.find(7);
        let (id, _) = h.expect_join(7);
        h.answer(id, joined(2, "m2", "m1", "roundrobin", vec![]));
        let (id, sync) = h.expect_sync(7);
        assert!(sync.assignments.is_empty(), "followers send no assignments");
        assert_eq!(sync.protocol_name.as_deref(), Some("roundrobin"));
        h.answer(id, sync_ok(&[("t", 1), ("t", 3)]));
        assert_eq!(
            h.events(),
            [GroupEvent::Assigned(tps(&[("t", 1), ("t", 3)]))]
        );
        assert_eq!(h.g.generation(), Some((2, "m2".into())));
        // A follower ignores partition count changes.
        h.g.set_partition_counts(&[("t".into(), 8)].into_iter().collect());
        h.quiet();
    }

    #[test]
    fn cooperative_incremental_assign_and_revoke_with_the_second_rejoin() {
        let mut h = H::new(&[Assignor::CooperativeSticky]);
        h.join_alone(4);
        // A second member joins: the coordinator asks for a rebalance.
        h.advance(Duration::from_secs(1));
        let (hid, _) = h.expect_heartbeat();
        h.answer(hid, hb(code::REBALANCE_IN_PROGRESS));
        // Cooperative: nothing revoked before the join; owned partitions announced.
        let (id, j) = h.expect_join(1);
        let (_, sub) = decode_subscription(&j.protocols[0].metadata).unwrap();
        assert_eq!(
            flatten(&sub.owned_partitions),
            tps(&[("t", 0), ("t", 1), ("t", 2), ("t", 3)])
        );
        assert_eq!(sub.generation_id, 1);
        assert_eq!(sub.user_data.as_deref(), Some(&1i32.to_be_bytes()[..]));
        assert_eq!(h.g.assignment().len(), 4, "kept across the join");
        let mine = j.protocols[0].metadata.clone();
        h.answer(
            id,
            joined(
                2,
                "m1",
                "m1",
                "cooperative-sticky",
                vec![("m1", mine), ("m2", sub_meta(&["t"]))],
            ),
        );
        let (id, sync) = h.expect_sync(1);
        let got: BTreeMap<String, Vec<TopicPartition>> = sync
            .assignments
            .iter()
            .map(|a| {
                let (_, x) = decode_assignment(&a.assignment).unwrap();
                (a.member_id.clone(), flatten(&x.assigned_partitions))
            })
            .collect();
        // The moving partitions are withheld from m2 in this round.
        assert_eq!(got["m1"].len(), 2);
        assert!(got["m2"].is_empty());
        let kept = got["m1"].clone();
        h.answer(id, sync_raw(sync.assignments[0].assignment.clone()));
        let gone: Vec<TopicPartition> = (0..4)
            .map(|p| tp("t", p))
            .filter(|x| !kept.contains(x))
            .collect();
        assert_eq!(
            h.events(),
            [
                GroupEvent::Revoked(gone.clone()),
                GroupEvent::Assigned(vec![])
            ]
        );
        // The revoked partitions may still be committed until revoke_done.
        h.g.commit(vec![off("t", gone[0].partition, 5)], h.now);
        let (cid, _) = h.expect_commit(1);
        h.answer(cid, commit_resp(&[("t", gone[0].partition, 0)]));
        assert!(commit_ok(&h.events()[0]));
        h.g.revoke_done(h.now);
        assert_eq!(h.g.assignment(), &kept[..]);
        // Then the member rejoins once more so that they can be given out.
        let (_, j) = h.expect_join(1);
        let (_, sub) = decode_subscription(&j.protocols[0].metadata).unwrap();
        assert_eq!(flatten(&sub.owned_partitions), kept);
    }

    #[test]
    fn cooperative_sync_adds_only_new_partitions() {
        let mut h = H::new(&[Assignor::CooperativeSticky]);
        h.join_alone(2);
        h.g.set_partition_counts(&[("t".into(), 3)].into_iter().collect());
        // The leader saw the partition count change: rejoin, keeping its partitions.
        let (id, j) = h.expect_join(1);
        let meta = j.protocols[0].metadata.clone();
        h.answer(
            id,
            joined(2, "m1", "m1", "cooperative-sticky", vec![("m1", meta)]),
        );
        let (id, _) = h.expect_sync(1);
        h.answer(id, sync_ok(&[("t", 0), ("t", 1), ("t", 2)]));
        assert_eq!(h.events(), [GroupEvent::Assigned(tps(&[("t", 2)]))]);
        assert_eq!(h.g.assignment().len(), 3);
    }

    // ---------------------------------------------------------------------
    // FindCoordinator
    // ---------------------------------------------------------------------

    #[test]
    fn find_coordinator_backs_off_on_retriable_and_transport_errors() {
        let mut h = H::new(&[Assignor::Range]);
        h.g.subscribe(vec!["t".into()]);
        let (id, _, _) = h.one();
        h.quiet(); // deduplicated
        h.answer(id, find_err(code::COORDINATOR_NOT_AVAILABLE));
        h.quiet();
        assert_eq!(h.g.next_timer(), Some(h.now + Duration::from_millis(100)));
        h.advance(Duration::from_millis(100));
        let (id, _, _) = h.one();
        h.fail(id);
        h.advance(Duration::from_millis(199));
        h.quiet();
        h.advance(Duration::from_millis(1));
        h.find(3);
        let (_, j) = h.expect_join(3);
        assert_eq!(j.group_id, G);
    }

    #[test]
    fn find_coordinator_authorization_failure_is_an_error_event() {
        let mut h = H::new(&[Assignor::Range]);
        let c = h.g.commit(vec![off("t", 0, 1)], h.now);
        let (id, _, _) = h.one();
        h.answer(id, find_err(30));
        let e = h.events();
        assert!(
            matches!(&e[0], GroupEvent::Error { error, fatal: false } if error.code == 30),
            "{e:?}"
        );
        assert!(
            matches!(&e[1], GroupEvent::CommitDone { id, result: Err(x) } if *id == c && x.code == 30)
        );
    }

    #[test]
    fn unknown_and_stale_ids_are_ignored() {
        let mut h = H::new(&[Assignor::Range]);
        h.g.subscribe(vec!["t".into()]);
        let (id, _, _) = h.one();
        h.answer(id + 100, found(5));
        assert_eq!(h.g.coordinator(), None);
        h.answer(id, found(1));
        h.answer(id, found(9)); // answered already
        assert_eq!(h.g.coordinator(), Some(1));
    }

    // ---------------------------------------------------------------------
    // JoinGroup errors
    // ---------------------------------------------------------------------

    #[test]
    fn join_unknown_member_id_resets_and_rejoins_at_once() {
        let mut h = H::new(&[Assignor::Range]);
        h.g.subscribe(vec!["t".into()]);
        h.find(1);
        let (id, _) = h.expect_join(1);
        h.answer(id, join_err(code::MEMBER_ID_REQUIRED, "m1"));
        let (id, j) = h.expect_join(1);
        assert_eq!(j.member_id, "m1");
        h.answer(id, join_err(code::UNKNOWN_MEMBER_ID, ""));
        let (_, j) = h.expect_join(1);
        assert_eq!(j.member_id, "");
    }

    #[test]
    fn join_rebalance_in_progress_rejoins_after_a_backoff() {
        let mut h = H::new(&[Assignor::Range]);
        h.g.subscribe(vec!["t".into()]);
        h.find(1);
        let (id, _) = h.expect_join(1);
        h.answer(id, join_err(code::REBALANCE_IN_PROGRESS, ""));
        h.quiet();
        h.advance(Duration::from_millis(100));
        h.expect_join(1);
    }

    #[test]
    fn join_coordinator_errors() {
        let mut h = H::new(&[Assignor::Range]);
        h.g.subscribe(vec!["t".into()]);
        h.find(1);
        // Loading: the same coordinator, after a back-off.
        let (id, _) = h.expect_join(1);
        h.answer(id, join_err(code::COORDINATOR_LOAD_IN_PROGRESS, ""));
        assert_eq!(h.g.coordinator(), Some(1));
        h.quiet();
        h.advance(Duration::from_millis(100));
        // Not the coordinator: rediscover, join the new one.
        let (id, _) = h.expect_join(1);
        h.answer(id, join_err(code::NOT_COORDINATOR, ""));
        assert_eq!(h.g.coordinator(), None);
        h.find(2);
        let (id, _) = h.expect_join(2);
        // A broken connection: rediscover too.
        h.fail(id);
        assert_eq!(h.g.coordinator(), None);
        h.find(2);
        h.expect_join(2);
    }

    #[test]
    fn join_fenced_instance_is_fatal() {
        let mut s = settings(&[Assignor::Range]);
        s.instance_id = Some("i1".into());
        let mut h = H::with(s);
        h.g.subscribe(vec!["t".into()]);
        h.find(1);
        let (id, j) = h.expect_join(1);
        assert_eq!(j.group_instance_id.as_deref(), Some("i1"));
        h.answer(id, join_err(code::FENCED_INSTANCE_ID, ""));
        let e = h.events();
        assert!(
            matches!(&e[..], [GroupEvent::Error { error, fatal: true }] if error.code == local::FENCED),
            "{e:?}"
        );
        h.advance(Duration::from_secs(100));
        h.quiet();
        let c = h.g.commit(vec![off("t", 0, 1)], h.now);
        assert!(
            matches!(&h.events()[..], [GroupEvent::CommitDone { id, result: Err(_) }] if *id == c)
        );
        h.g.close(h.now);
        assert!(h.g.is_closed());
    }

    #[test]
    fn join_other_errors_are_reported_and_retried() {
        let mut h = H::new(&[Assignor::Range]);
        h.g.subscribe(vec!["t".into()]);
        h.find(1);
        let (id, _) = h.expect_join(1);
        h.answer(id, join_err(26, "")); // INVALID_SESSION_TIMEOUT
        let e = h.events();
        assert!(matches!(&e[..], [GroupEvent::Error { error, fatal: false }] if error.code == 26));
        h.advance(Duration::from_millis(100));
        let (id, _) = h.expect_join(1);
        // A protocol this member did not offer.
        h.answer(id, joined(1, "m1", "m1", "roundrobin", vec![]));
        let e = h.events();
        assert!(
            matches!(&e[..], [GroupEvent::Error { error, fatal: false }] if error.code == local::PROTOCOL)
        );
        h.advance(Duration::from_millis(200));
        h.expect_join(1);
    }

    #[test]
    fn leader_with_a_malformed_subscription_assigns_that_member_nothing() {
        let mut h = H::new(&[Assignor::Range]);
        h.g.subscribe(vec!["t".into()]);
        h.find(1);
        let (id, j) = h.expect_join(1);
        let mine = j.protocols[0].metadata.clone();
        h.answer(
            id,
            joined(
                1,
                "m1",
                "m1",
                "range",
                vec![("m1", mine), ("bad", Bytes::from_static(&[0, 3, 0xff]))],
            ),
        );
        let (s, e, m) = h.step();
        assert!(s.is_empty());
        assert!(
            matches!(&e[..], [GroupEvent::Error { error, .. }] if error.message.contains("bad"))
        );
        assert_eq!(m, [vec!["t".to_string()]]);
        h.g.set_partition_counts(&[("t".into(), 2)].into_iter().collect());
        let (_, sync) = h.expect_sync(1);
        let bad = sync
            .assignments
            .iter()
            .find(|a| a.member_id == "bad")
            .unwrap();
        let (_, a) = decode_assignment(&bad.assignment).unwrap();
        assert!(a.assigned_partitions.is_empty());
    }

    // ---------------------------------------------------------------------
    // SyncGroup errors
    // ---------------------------------------------------------------------

    /// Stable cooperative member owning t-0..3 at generation 1; then a rebalance, with
    /// the JoinGroup answered: returns the SyncGroup's id.
    fn cooperative_at_sync(h: &mut H) -> u64 {
        h.join_alone(4);
        h.advance(Duration::from_secs(1));
        let (hid, _) = h.expect_heartbeat();
        h.answer(hid, hb(code::REBALANCE_IN_PROGRESS));
        let (id, _) = h.expect_join(1);
        h.answer(id, joined(2, "m1", "m2", "cooperative-sticky", vec![]));
        h.expect_sync(1).0
    }

    #[test]
    fn sync_rebalance_in_progress_rejoins_at_once() {
        let mut h = H::new(&[Assignor::CooperativeSticky]);
        let id = cooperative_at_sync(&mut h);
        h.answer(id, sync_err(code::REBALANCE_IN_PROGRESS));
        let (_, j) = h.expect_join(1);
        assert_eq!(j.member_id, "m1");
        assert_eq!(h.g.assignment().len(), 4, "nothing lost");
    }

    #[test]
    fn sync_unknown_member_or_illegal_generation_loses_the_partitions() {
        for (c, member) in [
            (code::UNKNOWN_MEMBER_ID, ""),
            (code::ILLEGAL_GENERATION, "m1"),
        ] {
            let mut h = H::new(&[Assignor::CooperativeSticky]);
            let id = cooperative_at_sync(&mut h);
            h.answer(id, sync_err(c));
            let e = h.events();
            assert_eq!(
                e,
                [GroupEvent::Lost(tps(&[
                    ("t", 0),
                    ("t", 1),
                    ("t", 2),
                    ("t", 3)
                ]))]
            );
            assert!(h.g.assignment().is_empty());
            // Lost partitions cannot be committed.
            h.g.commit(vec![off("t", 0, 1)], h.now);
            let e = h.events();
            assert_eq!(commit_err(&e[0]).code, local::STATE);
            h.quiet(); // no join before revoke_done
            h.g.revoke_done(h.now);
            let (_, j) = h.expect_join(1);
            assert_eq!(j.member_id, member);
            let (_, sub) = decode_subscription(&j.protocols[0].metadata).unwrap();
            assert!(sub.owned_partitions.is_empty());
            assert_eq!(sub.generation_id, -1);
        }
    }

    #[test]
    fn sync_fenced_is_fatal() {
        let mut h = H::new(&[Assignor::CooperativeSticky]);
        let id = cooperative_at_sync(&mut h);
        h.answer(id, sync_err(code::FENCED_INSTANCE_ID));
        let e = h.events();
        assert!(matches!(&e[0], GroupEvent::Lost(p) if p.len() == 4));
        assert!(matches!(&e[1], GroupEvent::Error { fatal: true, .. }));
    }

    #[test]
    fn malformed_assignment_is_an_error_event_and_a_rejoin() {
        let mut h = H::new(&[Assignor::Range]);
        h.g.subscribe(vec!["t".into()]);
        h.find(1);
        let (id, _) = h.expect_join(1);
        h.answer(id, joined(1, "m2", "m1", "range", vec![]));
        let (id, _) = h.expect_sync(1);
        h.answer(id, sync_raw(Bytes::from_static(&[0, 3, 0, 0, 0, 9, 0])));
        let (s, e, _) = h.step();
        assert!(
            matches!(&e[..], [GroupEvent::Error { error, fatal: false }] if error.code == local::PROTOCOL)
        );
        assert!(matches!(&s[..], [(_, _, GroupRequest::Join(_))]), "{s:?}");
        // An empty assignment (the leader left this member out) is no error.
        let mut h = H::new(&[Assignor::Range]);
        h.g.subscribe(vec!["t".into()]);
        h.find(1);
        let (id, _) = h.expect_join(1);
        h.answer(id, joined(1, "m2", "m1", "range", vec![]));
        let (id, _) = h.expect_sync(1);
        h.answer(id, sync_raw(Bytes::new()));
        assert_eq!(h.events(), [GroupEvent::Assigned(vec![])]);
    }

    // ---------------------------------------------------------------------
    // Heartbeat
    // ---------------------------------------------------------------------

    #[test]
    fn heartbeat_unknown_member_loses_and_rejoins() {
        let mut h = H::new(&[Assignor::Range]);
        h.join_alone(2);
        h.advance(Duration::from_secs(1));
        let (id, _) = h.expect_heartbeat();
        h.answer(id, hb(code::UNKNOWN_MEMBER_ID));
        assert_eq!(h.events(), [GroupEvent::Lost(tps(&[("t", 0), ("t", 1)]))]);
        h.g.revoke_done(h.now);
        let (_, j) = h.expect_join(1);
        assert_eq!(j.member_id, "");
    }

    #[test]
    fn heartbeat_illegal_generation_keeps_the_member_id() {
        let mut h = H::new(&[Assignor::Range]);
        h.join_alone(2);
        h.advance(Duration::from_secs(1));
        let (id, _) = h.expect_heartbeat();
        h.answer(id, hb(code::ILLEGAL_GENERATION));
        assert!(matches!(&h.events()[..], [GroupEvent::Lost(_)]));
        h.g.revoke_done(h.now);
        let (_, j) = h.expect_join(1);
        assert_eq!(j.member_id, "m1");
    }

    #[test]
    fn heartbeat_fenced_is_fatal() {
        let mut h = H::new(&[Assignor::Range]);
        h.join_alone(2);
        h.advance(Duration::from_secs(1));
        let (id, _) = h.expect_heartbeat();
        h.answer(id, hb(code::FENCED_INSTANCE_ID));
        let e = h.events();
        assert!(
            matches!(
                &e[..],
                [GroupEvent::Lost(_), GroupEvent::Error { fatal: true, .. }]
            ),
            "{e:?}"
        );
    }

    #[test]
    fn heartbeat_coordinator_errors() {
        let mut h = H::new(&[Assignor::Range]);
        h.join_alone(2);
        h.advance(Duration::from_secs(1));
        let (id, _) = h.expect_heartbeat();
        h.answer(id, hb(code::COORDINATOR_LOAD_IN_PROGRESS));
        h.quiet();
        h.advance(Duration::from_millis(100));
        let (id, _) = h.expect_heartbeat();
        h.answer(id, hb(code::NOT_COORDINATOR));
        h.find(2);
        let (id, to, _) = h.one();
        assert_eq!(to, Target::Coordinator(2));
        h.fail(id);
        assert_eq!(h.g.coordinator(), None);
        assert_eq!(h.g.assignment().len(), 2, "still a member");
    }

    #[test]
    fn no_heartbeat_for_the_session_timeout_loses_the_partitions() {
        let mut h = H::new(&[Assignor::Range]);
        h.join_alone(2);
        h.advance(Duration::from_secs(1));
        let (id, _) = h.expect_heartbeat();
        h.fail(id); // the coordinator is unreachable from now on
        let mut lost = Vec::new();
        for _ in 0..200 {
            h.advance(Duration::from_millis(100));
            let (s, e, _) = h.step();
            for (id, _, _) in s {
                h.fail(id);
            }
            if !e.is_empty() {
                lost = e;
                break;
            }
        }
        assert_eq!(lost, [GroupEvent::Lost(tps(&[("t", 0), ("t", 1)]))]);
        assert!(h.now >= h.g.last_contact.unwrap() + Duration::from_secs(10));
        assert_eq!(h.g.generation(), None);
        h.g.revoke_done(h.now);
        // It keeps trying to rejoin.
        h.advance(Duration::from_secs(1));
        h.find(1);
        let (_, j) = h.expect_join(1);
        assert_eq!(j.member_id, "m1");
    }

    #[test]
    fn stale_heartbeat_answers_are_ignored() {
        let mut h = H::new(&[Assignor::CooperativeSticky]);
        h.join_alone(2);
        h.advance(Duration::from_secs(1));
        let (old, _) = h.expect_heartbeat();
        h.g.set_partition_counts(&[("t".into(), 3)].into_iter().collect());
        h.expect_join(1);
        h.answer(old, hb(code::ILLEGAL_GENERATION));
        h.quiet();
        assert_eq!(h.g.assignment().len(), 2);
    }

    // ---------------------------------------------------------------------
    // max.poll.interval.ms
    // ---------------------------------------------------------------------

    #[test]
    fn max_poll_exceeded_leaves_loses_errors_and_rejoins_on_app_poll() {
        let mut s = settings(&[Assignor::Range]);
        s.instance_id = Some("i1".into());
        let mut h = H::with(s);
        h.g.app_polled(h.now);
        h.join_alone(2);
        for _ in 0..59 {
            h.advance(Duration::from_secs(1));
            let (id, _) = h.expect_heartbeat();
            h.answer(id, hb(0));
        }
        h.advance(Duration::from_secs(1));
        let (s, e, _) = h.step();
        let leave = s
            .iter()
            .find_map(|(_, _, r)| match r {
                GroupRequest::Leave(l) => Some(l.clone()),
                _ => None,
            })
            .expect("a LeaveGroup, static member or not");
        assert_eq!(leave.members[0].member_id, "m1");
        assert_eq!(leave.members[0].group_instance_id.as_deref(), Some("i1"));
        assert_eq!(e[0], GroupEvent::Lost(tps(&[("t", 0), ("t", 1)])));
        assert!(
            matches!(&e[1], GroupEvent::Error { error, fatal: false } if error.code == local::MAX_POLL_EXCEEDED)
        );
        h.g.revoke_done(h.now);
        h.advance(Duration::from_secs(5));
        h.quiet(); // out of the group until the application polls
        h.g.app_polled(h.now);
        let (_, j) = h.expect_join(1);
        assert_eq!(j.member_id, "");
    }

    // ---------------------------------------------------------------------
    // Commits
    // ---------------------------------------------------------------------

    #[test]
    fn commit_fields_in_a_group_and_without_one() {
        let mut s = settings(&[Assignor::Range]);
        s.instance_id = Some("i1".into());
        let mut h = H::with(s);
        // Without a subscription: generation -1, member "".
        let c = h.g.commit(vec![off("t", 5, 1)], h.now);
        h.find(1);
        let (id, req) = h.expect_commit(1);
        assert_eq!(
            (req.generation_id_or_member_epoch, req.member_id.as_str()),
            (-1, "")
        );
        assert_eq!(req.group_instance_id, None);
        h.answer(id, commit_resp(&[("t", 5, 0)]));
        assert_eq!(
            h.events(),
            [GroupEvent::CommitDone {
                id: c,
                result: Ok(())
            }]
        );
        // Empty: done at once.
        let c = h.g.commit(vec![], h.now);
        assert_eq!(
            h.events(),
            [GroupEvent::CommitDone {
                id: c,
                result: Ok(())
            }]
        );

        h.g.subscribe(vec!["t".into(), "u".into()]);
        let (_, j) = h.expect_join(1);
        assert_eq!(j.group_instance_id.as_deref(), Some("i1"));
    }

    #[test]
    fn commit_grouped_by_topic_with_generation_member_and_epoch() {
        let mut h = H::new(&[Assignor::Range]);
        h.join_alone(3);
        h.g.commit(vec![off("t", 2, 20), off("t", 0, 7)], h.now);
        let (_, req) = h.expect_commit(1);
        assert_eq!(
            (req.generation_id_or_member_epoch, req.member_id.as_str()),
            (1, "m1")
        );
        assert_eq!(req.topics.len(), 1);
        let p = &req.topics[0].partitions;
        assert_eq!(
            (
                p[0].partition_index,
                p[0].committed_offset,
                p[0].committed_leader_epoch
            ),
            (2, 20, 3)
        );
        assert_eq!((p[1].partition_index, p[1].committed_offset), (0, 7));
    }

    #[test]
    fn commit_queued_during_a_rebalance_is_sent_once_stable() {
        let mut h = H::new(&[Assignor::CooperativeSticky]);
        h.join_alone(2);
        h.g.set_partition_counts(&[("t".into(), 3)].into_iter().collect());
        let (id, j) = h.expect_join(1);
        let c = h.g.commit(vec![off("t", 1, 9)], h.now);
        h.quiet(); // held while joining
        let meta = j.protocols[0].metadata.clone();
        h.answer(
            id,
            joined(2, "m1", "m1", "cooperative-sticky", vec![("m1", meta)]),
        );
        let (sid, _) = h.expect_sync(1); // still held while syncing
        h.answer(sid, sync_ok(&[("t", 0), ("t", 1), ("t", 2)]));
        let (s, e, _) = h.step();
        assert_eq!(e, [GroupEvent::Assigned(tps(&[("t", 2)]))]);
        let [(cid, _, GroupRequest::Commit(req))] = &s[..] else {
            panic!("{s:?}")
        };
        assert_eq!(
            req.generation_id_or_member_epoch, 2,
            "sent as the new generation"
        );
        h.answer(*cid, commit_resp(&[("t", 1, 0)]));
        assert_eq!(
            h.events(),
            [GroupEvent::CommitDone {
                id: c,
                result: Ok(())
            }]
        );
    }

    #[test]
    fn commit_in_the_revoke_callback_goes_before_the_join_with_the_old_generation() {
        let mut h = H::new(&[Assignor::Range]);
        h.join_alone(2);
        h.g.subscribe(vec!["t".into(), "u".into()]);
        assert!(matches!(&h.events()[..], [GroupEvent::Revoked(_)]));
        // The callback commits and returns at once, before any poll.
        let c = h.g.commit(vec![off("t", 0, 4), off("t", 1, 5)], h.now);
        h.g.revoke_done(h.now);
        assert!(h.g.assignment().is_empty());
        let (id, req) = h.expect_commit(1);
        assert_eq!(req.generation_id_or_member_epoch, 1);
        assert_eq!(req.topics[0].partitions.len(), 2);
        h.quiet(); // the JoinGroup waits for it
        h.answer(id, commit_resp(&[("t", 0, 0), ("t", 1, 0)]));
        let (s, e, _) = h.step();
        assert_eq!(
            e,
            [GroupEvent::CommitDone {
                id: c,
                result: Ok(())
            }]
        );
        assert!(matches!(&s[..], [(_, _, GroupRequest::Join(_))]), "{s:?}");
    }

    #[test]
    fn commit_of_an_unowned_partition_is_refused() {
        let mut h = H::new(&[Assignor::Range]);
        h.join_alone(2);
        let c = h.g.commit(vec![off("t", 0, 1), off("t", 9, 1)], h.now);
        let (id, req) = h.expect_commit(1);
        assert_eq!(req.topics[0].partitions.len(), 1, "t-9 dropped");
        h.answer(id, commit_resp(&[("t", 0, 0)]));
        let e = h.events();
        let err = commit_err(&e[0]);
        assert_eq!(err.code, local::STATE);
        assert!(err.message.contains("t-9"), "{err}");
        assert!(matches!(e[0], GroupEvent::CommitDone { id, .. } if id == c));
        // Only unowned: failed without a request.
        h.g.commit(vec![off("u", 0, 1)], h.now);
        assert_eq!(commit_err(&h.events()[0]).code, local::STATE);
    }

    #[test]
    fn commit_partition_errors() {
        // REBALANCE_IN_PROGRESS: failed, and a rejoin (eager: revoke first).
        let mut h = H::new(&[Assignor::Range]);
        h.join_alone(2);
        h.g.commit(vec![off("t", 0, 1)], h.now);
        let (id, _) = h.expect_commit(1);
        h.answer(id, commit_resp(&[("t", 0, code::REBALANCE_IN_PROGRESS)]));
        let e = h.events();
        let err = commit_err(&e[0]);
        assert_eq!(err.code, 27);
        assert!(err.message.contains("after the rebalance"), "{err}");
        assert_eq!(e[1], GroupEvent::Revoked(tps(&[("t", 0), ("t", 1)])));

        // ILLEGAL_GENERATION: failed, lost, rejoin.
        let mut h = H::new(&[Assignor::Range]);
        h.join_alone(2);
        h.g.commit(vec![off("t", 0, 1)], h.now);
        let (id, _) = h.expect_commit(1);
        h.answer(id, commit_resp(&[("t", 0, code::ILLEGAL_GENERATION)]));
        let e = h.events();
        assert_eq!(commit_err(&e[0]).code, 22);
        assert_eq!(e[1], GroupEvent::Lost(tps(&[("t", 0), ("t", 1)])));
        h.g.revoke_done(h.now);
        h.expect_join(1);

        // Metadata too large, authorization: failed, naming the partition.
        let mut h = H::new(&[Assignor::Range]);
        h.join_alone(2);
        h.g.commit(vec![off("t", 0, 1), off("t", 1, 1)], h.now);
        let (id, _) = h.expect_commit(1);
        h.answer(id, commit_resp(&[("t", 0, 12), ("t", 1, 29)]));
        let err = commit_err(&h.events()[0]);
        assert_eq!(err.code, 12);
        assert!(
            err.message.contains("t-0: OFFSET_METADATA_TOO_LARGE"),
            "{err}"
        );
        assert!(
            err.message.contains("t-1: TOPIC_AUTHORIZATION_FAILED"),
            "{err}"
        );
        assert_eq!(h.g.generation(), Some((1, "m1".into())), "no rebalance");
    }

    #[test]
    fn coordinator_moves_during_a_commit_and_it_is_resent_to_the_new_one() {
        let mut h = H::new(&[Assignor::Range]);
        h.join_alone(2);
        let c = h.g.commit(vec![off("t", 0, 1), off("t", 1, 2)], h.now);
        let (id, _) = h.expect_commit(1);
        h.answer(
            id,
            commit_resp(&[("t", 0, 0), ("t", 1, code::NOT_COORDINATOR)]),
        );
        assert_eq!(h.g.coordinator(), None);
        h.find(2);
        let (s, _, _) = h.step();
        let (id, req) = s
            .into_iter()
            .find_map(|(id, to, r)| match r {
                GroupRequest::Commit(c) => {
                    assert_eq!(to, Target::Coordinator(2));
                    Some((id, c))
                }
                _ => None,
            })
            .expect("the commit again");
        assert_eq!(req.topics[0].partitions.len(), 1, "only what failed");
        assert_eq!(req.topics[0].partitions[0].partition_index, 1);
        h.answer(id, commit_resp(&[("t", 1, 0)]));
        let e = h.events();
        assert!(
            e.contains(&GroupEvent::CommitDone {
                id: c,
                result: Ok(())
            }),
            "{e:?}"
        );
    }

    #[test]
    fn commit_transport_error_rediscover_and_deadline() {
        let mut h = H::new(&[Assignor::Range]);
        h.g.set_op_timeout(Duration::from_secs(2));
        let c = h.g.commit(vec![off("t", 0, 1)], h.now);
        h.find(1);
        let (id, _) = h.expect_commit(1);
        h.fail(id);
        assert_eq!(h.g.coordinator(), None);
        let (fid, _, _) = h.one();
        h.answer(fid, find_err(code::COORDINATOR_NOT_AVAILABLE));
        h.advance(Duration::from_secs(2));
        let (s, e, _) = h.step();
        assert!(s.is_empty() || matches!(s[0].2, GroupRequest::FindCoordinator(_)));
        let err = match &e[..] {
            [GroupEvent::CommitDone {
                id,
                result: Err(err),
            }] if *id == c => err.clone(),
            e => panic!("{e:?}"),
        };
        assert_eq!(err.code, local::TIMED_OUT);
    }

    // ---------------------------------------------------------------------
    // Committed offsets
    // ---------------------------------------------------------------------

    fn fetch_resp(list: &[(&str, i32, i64, i16)]) -> GroupResponse {
        let mut topics: BTreeMap<&str, Vec<OffsetFetchResponsePartition>> = BTreeMap::new();
        for (t, p, o, c) in list {
            topics
                .entry(t)
                .or_default()
                .push(OffsetFetchResponsePartition {
                    partition_index: *p,
                    committed_offset: *o,
                    committed_leader_epoch: 2,
                    error_code: *c,
                    ..Default::default()
                });
        }
        GroupResponse::FetchOffsets(OffsetFetchResponse {
            topics: topics
                .into_iter()
                .map(|(t, partitions)| OffsetFetchResponseTopic {
                    name: t.into(),
                    partitions,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
    }

    #[test]
    fn fetch_committed_retries_unstable_and_rediscovers() {
        let mut h = H::new(&[Assignor::Range]);
        let f = h.g.fetch_committed(tps(&[("t", 0), ("t", 1)]), h.now);
        h.find(1);
        let (id, _, req) = h.one();
        let GroupRequest::FetchOffsets(req) = req else {
            panic!()
        };
        assert!(req.require_stable);
        assert_eq!(req.groups[0].group_id, G);
        h.answer(
            id,
            fetch_resp(&[("t", 0, 5, 0), ("t", 1, -1, code::UNSTABLE_OFFSET_COMMIT)]),
        );
        h.quiet();
        h.advance(Duration::from_millis(100));
        let (id, _, _) = h.one();
        h.answer(id, fetch_resp(&[("t", 0, 5, code::NOT_COORDINATOR)]));
        h.find(4);
        let (id, to, _) = h.one();
        assert_eq!(to, Target::Coordinator(4));
        h.answer(id, fetch_resp(&[("t", 0, 5, 0)]));
        assert_eq!(
            h.events(),
            [GroupEvent::Committed {
                id: f,
                result: Ok(vec![(tp("t", 0), 5, 2), (tp("t", 1), -1, -1)])
            }]
        );
    }

    // ---------------------------------------------------------------------
    // close
    // ---------------------------------------------------------------------

    #[test]
    fn close_revokes_commits_leaves_then_closes() {
        let mut h = H::new(&[Assignor::Range]);
        h.join_alone(2);
        h.g.close(h.now);
        assert_eq!(
            h.events(),
            [GroupEvent::Revoked(tps(&[("t", 0), ("t", 1)]))]
        );
        h.g.commit(vec![off("t", 0, 3)], h.now);
        let (cid, _) = h.expect_commit(1);
        h.g.revoke_done(h.now);
        h.quiet(); // the commit goes first
        h.answer(cid, commit_resp(&[("t", 0, 0)]));
        let (s, e, _) = h.step();
        assert!(commit_ok(&e[0]));
        let [(lid, _, GroupRequest::Leave(l))] = &s[..] else {
            panic!("{s:?}")
        };
        assert_eq!(l.members[0].member_id, "m1");
        assert_eq!(l.member_id, "m1");
        assert!(!h.g.is_closed());
        h.answer(*lid, GroupResponse::Leave(LeaveGroupResponse::default()));
        assert!(h.g.is_closed());
        h.quiet();
        assert_eq!(h.g.next_timer(), None);
    }

    #[test]
    fn close_of_a_static_member_does_not_leave() {
        let mut s = settings(&[Assignor::Range]);
        s.instance_id = Some("i1".into());
        let mut h = H::with(s);
        h.join_alone(2);
        h.g.close(h.now);
        assert!(matches!(&h.events()[..], [GroupEvent::Revoked(_)]));
        h.g.revoke_done(h.now);
        h.quiet();
        assert!(h.g.is_closed());
    }

    #[test]
    fn close_without_a_coordinator_ends_with_close_now() {
        let mut h = H::new(&[Assignor::Range]);
        h.join_alone(2);
        h.advance(Duration::from_secs(1));
        let (id, _) = h.expect_heartbeat();
        h.fail(id);
        h.g.close(h.now);
        let _ = h.step();
        h.g.revoke_done(h.now);
        let f = h.g.fetch_committed(tps(&[("t", 0)]), h.now);
        for _ in 0..10 {
            h.advance(Duration::from_secs(1));
            let (s, _, _) = h.step();
            for (id, _, _) in s {
                h.fail(id);
            }
        }
        assert!(!h.g.is_closed(), "waits for the coordinator to leave");
        h.g.close_now();
        assert!(h.g.is_closed());
        let e = h.events();
        assert!(
            matches!(&e[..], [GroupEvent::Committed { id, result: Err(x) }] if *id == f && x.code == local::DESTROY),
            "{e:?}"
        );
    }

    #[test]
    fn unsubscribe_revokes_and_leaves_then_subscribe_joins_again() {
        let mut h = H::new(&[Assignor::Range]);
        h.join_alone(2);
        h.g.unsubscribe();
        assert!(matches!(&h.events()[..], [GroupEvent::Revoked(_)]));
        h.g.revoke_done(h.now);
        let (id, _, req) = h.one();
        assert!(matches!(req, GroupRequest::Leave(_)));
        h.answer(id, GroupResponse::Leave(LeaveGroupResponse::default()));
        assert!(!h.g.is_closed());
        assert_eq!(h.g.generation(), None);
        h.g.subscribe(vec!["t".into()]);
        let (_, j) = h.expect_join(1);
        assert_eq!(j.member_id, "");
    }

    #[test]
    fn subscription_change_rejoins() {
        let mut h = H::new(&[Assignor::Range]);
        h.join_alone(2);
        h.g.subscribe(vec!["t".into()]);
        h.quiet(); // unchanged
        h.g.subscribe(vec!["t".into(), "u".into()]);
        assert!(matches!(&h.events()[..], [GroupEvent::Revoked(_)]));
        h.g.revoke_done(h.now);
        let (_, j) = h.expect_join(1);
        let (_, sub) = decode_subscription(&j.protocols[0].metadata).unwrap();
        assert_eq!(sub.topics, ["t", "u"]);
    }
}
