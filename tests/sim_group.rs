//! Deterministic simulation of classic consumer group membership
//! (`kafkac::consumer::group::Group`): up to six members, joining, leaving, crashing and
//! restarting over time, driven as the consumer's driver drives them, against a simulated
//! group coordinator that keeps Apache Kafka's classic group rules, over a simulated
//! network with faults. Every random choice comes from the seed; a seed replays exactly.
//!
//! ```sh
//! cargo test --release --test sim_group -- --nocapture                 # the default run
//! SIM_SEED=1234 cargo test --release --test sim_group -- --nocapture sim_group_seeds
//! SIM_TRACE=1 SIM_SEED=1234 ...                                         # every event of one seed
//! SIM_SEEDS=100000 SIM_KEEP_GOING=1 ...                                 # more seeds, list all failures
//! SIM_PLANT=stale-commit|ignore-lost ...                                # run with a planted bug
//! ```
//!
//! The default run (10,000 seeds on up to 4 threads) must finish within `RUN_LIMIT` (60 s,
//! release build).
//!
//! # What is simulated
//!
//! * **Clock**: milliseconds from a base `Instant`; nothing sleeps.
//! * **Driver** (as `src/consumer/driver.rs` does it): after anything happens to a member,
//!   `poll` until it returns nothing; `Send` goes over the network (FindCoordinator to a
//!   random broker), `NeedMetadata` is answered at once with the partition counts, events
//!   go to the application; the member is polled again at `next_timer()`. A request with
//!   no answer fails after the request timeout (JoinGroup: `max.poll.interval.ms` + 2 s,
//!   as the coordinator may hold it for the rebalance timeout), and the connection is then
//!   closed: every request in flight on it fails with a transport error.
//! * **Application**: every 100–400 ms it polls (`app_polled`) and "consumes" (a
//!   per-partition offset moves on for each partition it owns), and now and then commits
//!   what it consumed or asks for the committed offsets. Revoked: it may commit the
//!   revoked partitions in the callback, then calls `revoke_done` after a delay of at most
//!   `CALLBACK_MAX`. Lost: it stops consuming at once and calls `revoke_done` after a delay.
//!   Stalls: now and then it stops polling, sometimes for longer than
//!   `max.poll.interval.ms`. A fatal error (FENCED) stops the member.
//! * **Network**: one connection per member and broker, FIFO each way with a random delay;
//!   faults lose requests or answers, reset connections (requests in flight fail; what
//!   the broker already read is still processed, its answer dropped: zombies), and make a
//!   broker silent for a while (it reads nothing; what queued is processed later).
//!   Kafka reads a connection's next request only once the previous one is answered: a
//!   JoinGroup held by the coordinator holds the connection too.
//! * **Coordinator moves**: the old coordinator answers its held JoinGroup/SyncGroup
//!   requests NOT_COORDINATOR and NOT_COORDINATOR to everything after; for a gap
//!   FindCoordinator answers COORDINATOR_NOT_AVAILABLE; the new coordinator answers
//!   COORDINATOR_LOAD_IN_PROGRESS while it loads, then has the group as last written to
//!   `__consumer_offsets` (see "persisted" below) with every session timer restarted.
//!
//! # The coordinator's rules (Kafka 4.x `GroupMetadataManager` / `ClassicGroup`)
//!
//! States Empty, PreparingRebalance, CompletingRebalance, Stable; a generation id.
//!
//! * **JoinGroup**, no member id, no instance id: a member id is made, kept pending, and
//!   the answer is MEMBER_ID_REQUIRED with it (v4+). With an instance id not known: a
//!   new static member, added at once. With a known instance id: the static member is
//!   replaced by a new member id (the old id's held JoinGroup/SyncGroup get
//!   FENCED_INSTANCE_ID, its later requests too); in Stable with unchanged protocol
//!   metadata the answer is the current generation (the leader's with
//!   `skip_assignment`), else a rebalance.
//! * JoinGroup with a pending member id: it becomes a member; a rebalance. An unknown
//!   member id: UNKNOWN_MEMBER_ID (a static instance id mapped to another member id:
//!   FENCED_INSTANCE_ID). A known member: PreparingRebalance → held until the join
//!   completes; CompletingRebalance → same metadata: the current join answer again, else a
//!   rebalance; Stable → the leader, or changed metadata: a rebalance, else the current
//!   join answer (no rebalance); Empty: UNKNOWN_MEMBER_ID.
//! * **Rebalance** (PreparingRebalance): held SyncGroups answered REBALANCE_IN_PROGRESS;
//!   the join completes when every member and no pending member waits, or at the
//!   deadline (the largest rebalance timeout; from Empty, `group.initial.rebalance.delay`,
//!   which does not complete early). At completion dynamic members that did not rejoin
//!   are removed (static ones stay); no members: Empty with the next generation;
//!   else the next generation, the protocol voted, the leader kept if still a member; the
//!   held JoinGroups are answered (the leader's with every member's metadata); members
//!   that do not send SyncGroup within the rebalance timeout are removed (and a rebalance).
//! * **SyncGroup**: unknown member UNKNOWN_MEMBER_ID, fenced static FENCED_INSTANCE_ID,
//!   other generation ILLEGAL_GENERATION; Empty UNKNOWN_MEMBER_ID; PreparingRebalance
//!   REBALANCE_IN_PROGRESS; CompletingRebalance: held until the leader's SyncGroup, whose
//!   assignments are stored (persisted), the group Stable and every held SyncGroup
//!   answered; Stable: the member's assignment.
//! * **Heartbeat**: Empty UNKNOWN_MEMBER_ID; unknown member, fenced, other generation as
//!   SyncGroup; PreparingRebalance REBALANCE_IN_PROGRESS; else NONE. Each restarts the
//!   member's session timer; a member whose timer runs out (not while its JoinGroup or
//!   SyncGroup is held) is removed: a rebalance (Stable, CompletingRebalance) or the join
//!   re-checked (PreparingRebalance).
//! * **OffsetCommit** (`ClassicGroup.validateOffsetCommit`): generation < 0 to an Empty
//!   group: accepted (a simple consumer); otherwise the member must be known (else
//!   UNKNOWN_MEMBER_ID, or FENCED_INSTANCE_ID) and the generation current (else
//!   ILLEGAL_GENERATION); CompletingRebalance: REBALANCE_IN_PROGRESS. Accepted in Stable
//!   and PreparingRebalance (the revoke callback's commit before the rejoin).
//! * **OffsetFetch**: the committed offsets (-1: none). **LeaveGroup**: each member named
//!   is removed (static: fenced if its id is not the one mapped), as a session expiry.
//! * **Persisted**: the group is written when a leader's SyncGroup completes, when a join
//!   completes with no members, and when a static member is replaced in Stable; a new
//!   coordinator loads that (Stable with its members, or Empty). Offsets are written when
//!   accepted.
//!
//! # Invariants, checked at every step
//!
//! *Owned*: member `c` owns partition `p` from the moment the application is handed
//! `Assigned` containing `p` until it is handed `Lost` containing `p` or calls
//! `revoke_done` for a `Revoked` containing `p` — and only while the coordinator counts
//! `c` among the group's members. The first half is what the application sees and acts on
//! (it consumes only then); the second leaves out a zombie the coordinator has already
//! removed, whose partitions the classic protocol lets it reassign (the zombie cannot
//! commit, 1., and stops within a bound, 3.). Both halves are known to the simulator at
//! every step, so it is checkable.
//!
//! 1. A commit the coordinator accepts is current by Kafka's rule, restated independently
//!    of the coordinator's code (generation = the group's, member known, state Stable or
//!    PreparingRebalance; or generation -1 to an Empty group), and no other member owns
//!    one of its partitions under a newer generation. On the member side, every partition
//!    of an OffsetCommit sent with a generation was owned by the member when the
//!    application committed it and still is, or was revoked cleanly (callback done) with no
//!    assignment or loss since — the revoke callback's commit.
//! 2. No partition is owned by two members in the same generation window (each owned
//!    partition carries the generation of the SyncGroup that last gave or confirmed it:
//!    cooperative members keep partitions across generations, so every `Assigned` moves
//!    all their owned partitions to its generation); cooperative: never by two dynamic
//!    members at the same time at all. A static member that misses a rebalance stays in
//!    the group with its old subscription (Kafka removes only dynamic members at the join
//!    deadline), so its partitions can be given to another member of the next generation
//!    while it still owns them under the old one, until its next heartbeat: Kafka's rule,
//!    not a client bug, so pairs with a static member are checked per window only.
//! 3. A member that owns partitions has had a successful answer from the coordinator
//!    (Heartbeat, JoinGroup or SyncGroup without error) within `session.timeout.ms` +
//!    `contact_slack` (= JoinGroup request timeout + `CALLBACK_MAX` + 2 × the largest
//!    network delay + `retry.backoff.max.ms`), or has a JoinGroup/SyncGroup held by the
//!    coordinator right now: a member out of contact emits Lost within that bound.
//! 4. Faults, stalls and membership changes stop at `faults_end`; by the end of the quiet
//!    period (`2 × session.timeout.ms + 3 × max.poll.interval.ms + 5 s` after it) the
//!    coordinator is Stable (not loading), its members are exactly the live members, each
//!    live member is stable in the coordinator's generation with no revocation pending,
//!    and every partition of every subscribed topic is owned by exactly one live member
//!    subscribed to it.
//! 5. Every request gets at most one answer (`on_response` once per id, and only for ids
//!    the member sent), and the group never panics (a panic fails the seed).
//!
//! # The consumer protocol (KIP-848): every third seed (seed % 3 == 2)
//!
//! Members run `GroupProtocol::Consumer`; the coordinator keeps Kafka 4.x's `ConsumerGroup`
//! rules (`GroupMetadataManager.consumerGroupHeartbeat`, `CurrentAssignmentBuilder`):
//!
//! * A **group epoch**, bumped when a member joins, leaves, is removed or changes its
//!   subscription; a **target assignment** recomputed (assignor `uniform`: round robin, or
//!   `range`: contiguous ranges, by the members' `group.remote.assignor`) when the group
//!   epoch is ahead of the assignment epoch.
//! * **Member epochs**: a join (epoch 0) creates the member; each heartbeat reconciles it
//!   towards its target: partitions no longer in it are revoked first (UNREVOKED_PARTITIONS,
//!   epoch unchanged) until a heartbeat lists owned partitions without them; then the
//!   member moves to the target epoch and gets the target's partitions that no other
//!   member holds (assigned or being revoked): the others wait (UNRELEASED_PARTITIONS).
//! * A heartbeat with an epoch above the member's, or below it unless it is the previous
//!   epoch with owned partitions a subset of the assignment: FENCED_MEMBER_EPOCH. An
//!   unknown member: UNKNOWN_MEMBER_ID. A static join whose instance id belongs to an
//!   active member: UNRELEASED_INSTANCE_ID; to one that left with -2: it takes over that
//!   member's assignment. A static heartbeat of a replaced member: FENCED_INSTANCE_ID.
//! * Session timeout (the coordinator's: Kafka's 45 s default, or scaled down to 3–15 s):
//!   the member is removed. Rebalance timeout: a member asked to revoke that has not
//!   acknowledged within its rebalance timeout is removed. Leave -1: removed; -2 (static):
//!   kept with its assignment until its session runs out.
//! * **OffsetCommit** (`ConsumerGroup.validateOffsetCommit`): epoch < 0 to a group with no
//!   members: accepted; unknown member: UNKNOWN_MEMBER_ID; any epoch other than the
//!   member's current one: STALE_MEMBER_EPOCH. **OffsetFetch** with a member id and epoch:
//!   the same check. Every change is written at once, so a new coordinator has it all
//!   (timers restart).
//!
//! Invariants, restated: 1. an accepted commit carries the member's current epoch, and no
//! other member owns any of its partitions; member side as above. 2. Strict: no partition
//! owned by two members the coordinator counts, at any time. 3. A member out of contact
//! stops owning within max(session, 45 s: the client's own bound, it cannot learn the
//! coordinator's) + `contact_slack`. 4. At the end every member is STABLE at the target
//! epoch, owns exactly its assignment, the members are the live processes, and every
//! subscribed partition has one owner. 5. As above.
//!
//! `sim_group_checker_catches_planted_bugs` plants a coordinator that accepts commits of
//! stale generations and unknown members (`stale-commit`), and an application that keeps
//! consuming partitions it was told are Lost (`ignore-lost`), and asserts the checks
//! report them.

mod common;

use bytes::Bytes;
use common::sim::{
    assert_replays, catch_panic, run_seeds, Record, Rng, Runner, Scenario, Schedule, Tally,
};
use common::with_timeout;
use kafkac::consumer::assignor::{select_protocol, Assignor, TopicPartition};
use kafkac::consumer::group::{
    Action, CommitOffset, Group, GroupEvent, GroupProtocol, GroupRequest, GroupResponse,
    GroupSettings, Target,
};
use kafkac::error::Error;
use kafkac::protocol::messages::*;
use kafkac::protocol::Uuid;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const DEFAULT_SEEDS: u64 = 10_000;
const RUN_LIMIT: Duration = Duration::from_secs(60);
const MAX_EVENTS: u64 = 2_000_000;
/// Polls of one member at one instant before it counts as stuck.
const MAX_POLLS_AT_ONCE: u32 = 10_000;
/// The longest the simulated application takes in a rebalance callback.
const CALLBACK_MAX: u64 = 150;
const GROUP: &str = "sim-group";

const NONE: i16 = 0;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const REBALANCE_IN_PROGRESS: i16 = 27;
const MEMBER_ID_REQUIRED: i16 = 79;
const FENCED_INSTANCE_ID: i16 = 82;
const FENCED_MEMBER_EPOCH: i16 = 110;
const UNRELEASED_INSTANCE_ID: i16 = 111;
const STALE_MEMBER_EPOCH: i16 = 113;
/// How long a consumer-protocol member keeps its partitions without a heartbeat answer
/// (the client's own bound: Kafka's `group.consumer.session.timeout.ms` default).
const CG_CLIENT_SESSION: u64 = 45_000;

// ----- PRNG -------------------------------------------------------------------------------

/// Mixed into the seed for the scenario's [`Rng`].
const SEED_MIX: u64 = 0x6A09_E667_F3BC_C908;

// ----- coverage ---------------------------------------------------------------------------

hits!(
    // Faults.
    RequestLost,
    AnswerLost,
    ConnReset,
    RequestTimeout,
    SilentBroker,
    ZombieProcessed,
    CoordinatorMove,
    Stall,
    StallPastMaxPoll,
    Crash,
    StaticRestart,
    DuplicateInstance,
    Close,
    SubscriptionChange,
    // Coordinator answers and transitions.
    NotCoordinator,
    LoadInProgress,
    CoordinatorNotAvailable,
    MemberIdRequired,
    Rebalance,
    InitialDelay,
    JoinCompleted,
    JoinDeadlineRemoved,
    EmptyGeneration,
    JoinAnswerReplayed,
    SyncLeader,
    SyncRebalanceInProgress,
    PendingSyncExpired,
    SessionExpired,
    HeartbeatRebalance,
    IllegalGeneration,
    UnknownMember,
    FencedInstance,
    StaticReplaced,
    StaticRejoinNoRebalance,
    CommitAccepted,
    CommitIllegalGeneration,
    CommitUnknownMember,
    CommitRebalanceInProgress,
    OffsetFetch,
    Leave,
    // Member side.
    Eager,
    Cooperative,
    Assigned,
    Revoked,
    Lost,
    CommitInCallback,
    Fatal,
    MaxPollExceeded,
    // The consumer protocol (KIP-848).
    Kip848,
    CgJoin,
    CgLeave,
    TargetComputed,
    ReconcileRevoke,
    UnreleasedWait,
    FencedEpoch,
    PreviousEpochAccepted,
    CgUnknownMember,
    CgSessionExpired,
    RebalanceTimeoutFenced,
    StaticLeaveKept,
    StaticTakeover,
    UnreleasedInstance,
    StaleCommit,
    StaleFetch,
    SlowCallback,
    TopicIdsLate,
);

// ----- plan -------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plant {
    None,
    /// The coordinator accepts a commit whatever its generation and member.
    StaleCommit,
    /// The application keeps consuming a partition after it is told it is Lost.
    IgnoreLost,
}

impl Plant {
    fn from_env() -> Plant {
        match std::env::var("SIM_PLANT").unwrap_or_default().as_str() {
            "" | "0" | "none" => Plant::None,
            "stale-commit" | "1" => Plant::StaleCommit,
            "ignore-lost" => Plant::IgnoreLost,
            v => panic!("SIM_PLANT={v}: one of stale-commit, ignore-lost"),
        }
    }
}

#[derive(Debug, Clone)]
enum Change {
    /// A new member (a slot's first or next process).
    Start {
        slot: usize,
    },
    /// The member closes (revoke, commit, leave unless static).
    Close {
        slot: usize,
    },
    /// The process dies: nothing more is sent or answered.
    Crash {
        slot: usize,
    },
    /// A second process with the same instance id starts while the first runs.
    Duplicate {
        slot: usize,
    },
    Subscribe {
        slot: usize,
        topics: Vec<String>,
    },
    Stall {
        slot: usize,
        ms: u64,
    },
    Reset {
        slot: usize,
    },
    Silent {
        node: i32,
        ms: u64,
    },
    Move {
        node: i32,
        gap: u64,
        load: u64,
    },
}

#[derive(Debug, Clone)]
struct Plan {
    assignors: Vec<Assignor>,
    topics: Vec<(String, i32)>,
    nodes: i32,
    session: u64,
    heartbeat: u64,
    max_poll: u64,
    request_timeout: u64,
    initial_delay: u64,
    net_max: u64,
    p_drop: f64,
    p_drop_answer: f64,
    slots: Vec<SlotPlan>,
    changes: Vec<(u64, Change)>,
    faults_end: u64,
    end: u64,
    /// The group speaks the consumer protocol (KIP-848): `session` and `heartbeat` are
    /// then the coordinator's.
    cg: Option<CgPlan>,
}

#[derive(Debug, Clone)]
struct CgPlan {
    /// The coordinator's assignor: the one the members name, else its default (uniform).
    assignor: &'static str,
    /// `group.remote.assignor` of the members.
    remote: Option<String>,
    /// The members know the topic ids from the start (else they ask for metadata).
    ids_at_start: bool,
    /// How often a revocation callback outlasts the rebalance timeout.
    p_slow_callback: f64,
}

#[derive(Debug, Clone)]
struct SlotPlan {
    instance: Option<String>,
    topics: Vec<String>,
}

fn gen_plan(rng: &mut Rng, kip848: bool) -> Plan {
    let assignors = match rng.below(5) {
        0 => vec![Assignor::Range],
        1 => vec![Assignor::RoundRobin],
        2 => vec![Assignor::Range, Assignor::CooperativeSticky],
        _ => vec![Assignor::CooperativeSticky],
    };
    let mut topics = vec![("t0".to_string(), rng.range(1, 8) as i32)];
    if rng.chance(0.5) {
        topics.push(("t1".to_string(), rng.range(1, 5) as i32));
    }
    let session = rng.range(6, 20) * 100;
    let heartbeat = session / rng.range(3, 5);
    let max_poll = rng.range(8, 30) * 100;
    let net_max = rng.range(1, 30);
    let n_slots = rng.range(1, 6) as usize;
    let statics = rng.chance(0.4);
    let slots: Vec<SlotPlan> = (0..n_slots)
        .map(|i| SlotPlan {
            instance: (statics && rng.chance(0.6)).then(|| format!("inst-{i}")),
            topics: if topics.len() > 1 && rng.chance(0.3) {
                vec!["t0".into(), "t1".into()]
            } else if topics.len() > 1 && rng.chance(0.2) {
                vec!["t1".into()]
            } else {
                vec!["t0".into()]
            },
        })
        .collect();
    let faults_end = rng.range(4, 12) * 1000;
    let quiet = 2 * session + 3 * max_poll + 5000;
    let faulty = rng.chance(0.85);
    let mut changes = Vec::new();
    for s in 0..n_slots {
        let at = if rng.chance(0.6) {
            0
        } else {
            rng.below(faults_end)
        };
        changes.push((at, Change::Start { slot: s }));
    }
    let n_changes = if faulty { rng.range(0, 10) } else { 0 };
    let all_topics: Vec<String> = topics.iter().map(|t| t.0.clone()).collect();
    for _ in 0..n_changes {
        let at = rng.below(faults_end);
        let slot = rng.below(n_slots as u64) as usize;
        let c = match rng.below(12) {
            0 => Change::Close { slot },
            1 => Change::Crash { slot },
            2 => Change::Start { slot },
            3 => Change::Duplicate { slot },
            4 => {
                let mut t: Vec<String> = all_topics
                    .iter()
                    .filter(|_| rng.chance(0.6))
                    .cloned()
                    .collect();
                if t.is_empty() {
                    t.push("t0".into());
                }
                Change::Subscribe { slot, topics: t }
            }
            5 | 6 => Change::Stall {
                slot,
                ms: if rng.chance(0.5) {
                    rng.range(max_poll + 100, max_poll * 2)
                } else {
                    rng.range(100, max_poll / 2)
                },
            },
            7 | 8 => Change::Reset { slot },
            9 => Change::Silent {
                node: rng.range(1, 3) as i32,
                ms: rng.range(200, session),
            },
            _ => Change::Move {
                node: rng.range(1, 3) as i32,
                gap: rng.range(0, 300),
                load: rng.range(0, 500),
            },
        };
        changes.push((at, c));
    }
    // A member that is alive at the end: the last slot starts again if it is down.
    changes.push((faults_end, Change::Start { slot: 0 }));
    changes.sort_by_key(|c| c.0);
    let mut plan = Plan {
        assignors,
        topics,
        nodes: 3,
        session,
        heartbeat,
        max_poll,
        request_timeout: session * rng.range(5, 9) / 10,
        initial_delay: rng.below(4) * 100,
        net_max,
        p_drop: if faulty {
            rng.rate(0.5, 0.0, 0.05)
        } else {
            0.0
        },
        p_drop_answer: if faulty {
            rng.rate(0.5, 0.0, 0.05)
        } else {
            0.0
        },
        slots,
        changes,
        faults_end,
        end: faults_end + quiet,
        cg: None,
    };
    if kip848 {
        // The coordinator's session timeout: Kafka's default, or scaled down.
        plan.session = if rng.chance(0.5) {
            45_000
        } else {
            rng.range(3, 15) * 1000
        };
        // Kafka refuses a group.consumer.heartbeat.interval.ms that is not below the
        // session timeout; at a third of it a member misses two before it is expired.
        plan.heartbeat = (rng.range(3, 30) * 100).min(plan.session / 3);
        plan.request_timeout = rng.range(15, 50) * 100;
        let remote = match rng.below(3) {
            0 => None,
            1 => Some("uniform".to_string()),
            _ => Some("range".to_string()),
        };
        plan.cg = Some(CgPlan {
            assignor: if remote.as_deref() == Some("range") {
                "range"
            } else {
                "uniform"
            },
            remote,
            ids_at_start: rng.chance(0.7),
            p_slow_callback: rng.rate(0.3, 0.02, 0.2),
        });
        let quiet = 2 * plan.session.max(CG_CLIENT_SESSION) + 3 * plan.max_poll + 5000;
        plan.end = faults_end + quiet;
    }
    plan
}

// ----- events -----------------------------------------------------------------------------

#[derive(Debug)]
enum Ev {
    Change(usize),
    Wake(usize),
    AppTick(usize),
    CallbackDone(usize),
    ReqArrive(u64),
    AnswerArrive(u64),
    ReqTimeout(usize, u64),
    ConnKick(usize, i32, u64),
    CoordTimer,
    LoadDone,
}

// ----- members ----------------------------------------------------------------------------

/// One process: a `Group`, its driver and its application.
struct Client {
    g: Group,
    _slot: usize,
    instance: Option<String>,
    topics: Vec<String>,
    alive: bool,
    closing: bool,
    fatal: bool,
    /// Connection epoch per node (index node).
    conn: Vec<u64>,
    /// Group request id → network request.
    inflight: HashMap<u64, u64>,
    answered: HashSet<u64>,
    sent: HashSet<u64>,
    wake_at: Option<u64>,
    // Application.
    owned: BTreeMap<TopicPartition, i32>,
    recently_revoked: BTreeSet<TopicPartition>,
    /// Revoked (false) or Lost (true) events not yet answered with revoke_done.
    callbacks: VecDeque<(bool, Vec<TopicPartition>)>,
    callback_at: u64,
    consumed: BTreeMap<TopicPartition, i64>,
    stall_until: u64,
    /// The generation of the last SyncGroup answered without error.
    sync_gen: i32,
    last_contact: u64,
    /// Commit op id → partitions the application owned when it committed.
    commits: HashMap<u64, BTreeSet<TopicPartition>>,
    ticks: u64,
    /// Consumer protocol: the member id the client made (random: traces show `c<n>-id`).
    mid: Option<String>,
}

/// A request on the network.
struct NetReq {
    client: usize,
    id: u64,
    node: i32,
    epoch: u64,
    req: GroupRequest,
    answer: Option<GroupResponse>,
    processed: bool,
}

// ----- coordinator ------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Empty,
    Preparing,
    Completing,
    Stable,
}

#[derive(Clone, Debug)]
struct CMember {
    client: usize,
    instance: Option<String>,
    protocols: Vec<(String, Bytes)>,
    session: u64,
    rebalance: u64,
    awaiting_join: Option<u64>,
    awaiting_sync: Option<u64>,
    assignment: Bytes,
    hb_deadline: u64,
}

#[derive(Clone, Debug)]
struct Snapshot {
    generation: i32,
    protocol: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, CMember>,
    statics: BTreeMap<String, String>,
}

struct Coord {
    node: i32,
    /// FindCoordinator answers COORDINATOR_NOT_AVAILABLE before this.
    gap_until: u64,
    loading_until: u64,
    state: St,
    generation: i32,
    protocol: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, CMember>,
    pending: BTreeMap<String, u64>,
    statics: BTreeMap<String, String>,
    join_deadline: Option<u64>,
    initial_phase: bool,
    sync_deadline: Option<u64>,
    pending_sync: BTreeSet<String>,
    snapshot: Snapshot,
    offsets: BTreeMap<TopicPartition, i64>,
    next_member: u64,
    timer_at: Option<u64>,
    /// The consumer protocol's group.
    cg: Cg,
}

/// A consumer-protocol member's reconciliation state (Kafka's `MemberState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MSt {
    Stable,
    UnrevokedPartitions,
    UnreleasedPartitions,
}

#[derive(Clone, Debug)]
struct CgMember {
    /// The member id as the client made it.
    real: String,
    client: usize,
    instance: Option<String>,
    topics: Vec<String>,
    rebalance: u64,
    epoch: i32,
    prev_epoch: i32,
    state: MSt,
    assigned: BTreeSet<TopicPartition>,
    revoking: BTreeSet<TopicPartition>,
    session_deadline: u64,
    revoke_deadline: Option<u64>,
}

/// A consumer-protocol group; members are keyed by their client's alias (`c<n>`), so that
/// the order of the assignor's input does not depend on the random member ids. Every
/// change is written to the log at once, so a new coordinator has all of it.
#[derive(Default)]
struct Cg {
    group_epoch: i32,
    assign_epoch: i32,
    target: BTreeMap<String, BTreeSet<TopicPartition>>,
    members: BTreeMap<String, CgMember>,
    statics: BTreeMap<String, String>,
}

/// What the coordinator does with a request.
enum Reply {
    Now(GroupResponse),
    Held,
}

// ----- the simulation ---------------------------------------------------------------------

struct Sim {
    _seed: u64,
    plant: Plant,
    plant_fired: bool,
    rng: Rng,
    plan: Plan,
    base: Instant,
    now: u64,
    queue: Schedule<Ev>,
    clients: Vec<Client>,
    /// The current process of each slot.
    slot_client: Vec<Option<usize>>,
    reqs: HashMap<u64, NetReq>,
    next_req: u64,
    /// (client, node, epoch) → requests read, in order; whether one is being held.
    broker_queue: HashMap<(usize, i32, u64), (VecDeque<u64>, bool)>,
    /// Last arrival time per (client, node, direction), for FIFO delivery.
    fifo: HashMap<(usize, i32, bool), u64>,
    silent_until: Vec<u64>,
    c: Coord,
    violation: Option<String>,
    counts: BTreeMap<String, i32>,
    max_overhang: i64,
    rec: Record,
    /// Consumer protocol: member id → the alias of the client that made it.
    aliases: HashMap<String, String>,
}

fn tp(t: &str, p: i32) -> TopicPartition {
    TopicPartition::new(t, p)
}

fn err_of(r: &GroupResponse) -> i16 {
    match r {
        GroupResponse::FindCoordinator(x) => x.error_code,
        GroupResponse::Join(x) => x.error_code,
        GroupResponse::Sync(x) => x.error_code,
        GroupResponse::Heartbeat(x) => x.error_code,
        GroupResponse::Leave(x) => x.error_code,
        GroupResponse::Commit(x) => x
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .find(|c| *c != 0)
            .unwrap_or(0),
        GroupResponse::FetchOffsets(x) => x.groups.first().map_or(0, |g| g.error_code),
        // The simulated group is classic: its members never send this.
        GroupResponse::ConsumerHeartbeat(x) => x.error_code,
    }
}

fn kind_of(r: &GroupRequest) -> &'static str {
    match r {
        GroupRequest::FindCoordinator(_) => "FindCoordinator",
        GroupRequest::Join(_) => "JoinGroup",
        GroupRequest::Sync(_) => "SyncGroup",
        GroupRequest::Heartbeat(_) => "Heartbeat",
        GroupRequest::Leave(_) => "LeaveGroup",
        GroupRequest::Commit(_) => "OffsetCommit",
        GroupRequest::FetchOffsets(_) => "OffsetFetch",
        GroupRequest::ConsumerHeartbeat(_) => "ConsumerGroupHeartbeat",
    }
}

/// An error answer of the same kind as `req`.
fn error_answer(req: &GroupRequest, code: i16) -> GroupResponse {
    match req {
        GroupRequest::FindCoordinator(_) => {
            GroupResponse::FindCoordinator(FindCoordinatorResponse {
                error_code: code,
                node_id: -1,
                ..Default::default()
            })
        }
        GroupRequest::Join(_) => GroupResponse::Join(JoinGroupResponse {
            error_code: code,
            ..Default::default()
        }),
        GroupRequest::Sync(_) => GroupResponse::Sync(SyncGroupResponse {
            error_code: code,
            ..Default::default()
        }),
        GroupRequest::Heartbeat(_) => GroupResponse::Heartbeat(HeartbeatResponse {
            error_code: code,
            ..Default::default()
        }),
        GroupRequest::Leave(_) => GroupResponse::Leave(LeaveGroupResponse {
            error_code: code,
            ..Default::default()
        }),
        GroupRequest::Commit(c) => GroupResponse::Commit(commit_answer(c, code)),
        GroupRequest::FetchOffsets(_) => GroupResponse::FetchOffsets(OffsetFetchResponse {
            error_code: code,
            groups: vec![OffsetFetchResponseGroup {
                group_id: GROUP.into(),
                error_code: code,
                ..Default::default()
            }],
            ..Default::default()
        }),
        GroupRequest::ConsumerHeartbeat(_) => {
            GroupResponse::ConsumerHeartbeat(ConsumerGroupHeartbeatResponse {
                error_code: code,
                ..Default::default()
            })
        }
    }
}

fn commit_answer(c: &OffsetCommitRequest, code: i16) -> OffsetCommitResponse {
    OffsetCommitResponse {
        topics: c
            .topics
            .iter()
            .map(|t| OffsetCommitResponseTopic {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| OffsetCommitResponsePartition {
                        partition_index: p.partition_index,
                        error_code: code,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

impl Sim {
    fn new(seed: u64, plant: Plant, trace: bool) -> Sim {
        let mut rng = Rng::new(seed, SEED_MIX);
        let plan = gen_plan(&mut rng, seed % 3 == 2);
        let snapshot = Snapshot {
            generation: 0,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            statics: BTreeMap::new(),
        };
        let mut s = Sim {
            _seed: seed,
            plant,
            plant_fired: false,
            rng,
            base: Instant::now(),
            now: 0,
            queue: Schedule::new(),
            clients: Vec::new(),
            slot_client: vec![None; plan.slots.len()],
            reqs: HashMap::new(),
            next_req: 1,
            broker_queue: HashMap::new(),
            fifo: HashMap::new(),
            silent_until: vec![0; plan.nodes as usize + 1],
            c: Coord {
                node: 1,
                gap_until: 0,
                loading_until: 0,
                state: St::Empty,
                generation: 0,
                protocol: None,
                leader: None,
                members: BTreeMap::new(),
                pending: BTreeMap::new(),
                statics: BTreeMap::new(),
                join_deadline: None,
                initial_phase: false,
                sync_deadline: None,
                pending_sync: BTreeSet::new(),
                snapshot,
                offsets: BTreeMap::new(),
                next_member: 1,
                timer_at: None,
                cg: Cg::default(),
            },
            violation: None,
            counts: plan.topics.iter().cloned().collect(),
            max_overhang: i64::MIN,
            plan,
            rec: Record::new(N_HITS, trace),
            aliases: HashMap::new(),
        };
        let eager = !s.plan.assignors.iter().all(|a| a.supports_cooperative());
        s.hit(if s.plan.cg.is_some() {
            Hit::Kip848
        } else if eager {
            Hit::Eager
        } else {
            Hit::Cooperative
        });
        s
    }

    fn hit(&mut self, h: Hit) {
        self.rec.hits[h as usize] += 1;
    }

    fn log(&mut self, f: impl FnOnce() -> String) {
        if self.rec.trace.is_none() {
            return;
        }
        let mut line = f();
        // Client-made member ids are random: the trace names them by client.
        for (c, k) in self.clients.iter().enumerate() {
            if let Some(id) = &k.mid {
                line = line.replace(id.as_str(), &format!("c{c}-id"));
            }
        }
        if let Some(t) = &mut self.rec.trace {
            let _ = writeln!(t, "{:>7} {line}", self.now);
        }
    }

    fn fail(&mut self, msg: String) {
        self.log(|| format!("VIOLATION: {msg}"));
        if self.violation.is_none() {
            self.violation = Some(format!("at {} ms: {msg}", self.now));
        }
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.queue.push(at.max(self.now), ev);
    }

    fn inst(&self) -> Instant {
        self.base + Duration::from_millis(self.now)
    }

    fn contact_slack(&self) -> u64 {
        self.join_timeout() + CALLBACK_MAX + 2 * self.plan.net_max + 1000
    }

    fn join_timeout(&self) -> u64 {
        self.plan.max_poll + 2000
    }

    fn run(&mut self) -> Result<(), String> {
        for i in 0..self.plan.changes.len() {
            let at = self.plan.changes[i].0;
            self.push(at, Ev::Change(i));
        }
        let end = self.plan.end;
        while let Some(s) = self.queue.pop() {
            if s.at > end {
                break;
            }
            self.now = s.at;
            self.rec.events += 1;
            if self.rec.events > MAX_EVENTS {
                return Err(format!("more than {MAX_EVENTS} events"));
            }
            self.dispatch(s.ev);
            self.check_step();
            if let Some(v) = &self.violation {
                return Err(v.clone());
            }
        }
        self.now = end;
        self.check_end();
        match &self.violation {
            Some(v) => Err(v.clone()),
            None => Ok(()),
        }
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Change(i) => self.change(i),
            Ev::Wake(c) => {
                if self.clients[c].wake_at == Some(self.now) {
                    self.clients[c].wake_at = None;
                    self.drive(c);
                }
            }
            Ev::AppTick(c) => self.app_tick(c),
            Ev::CallbackDone(c) => self.callback_done(c),
            Ev::ReqArrive(r) => self.req_arrive(r),
            Ev::AnswerArrive(r) => self.answer_arrive(r),
            Ev::ReqTimeout(c, id) => self.req_timeout(c, id),
            Ev::ConnKick(c, node, epoch) => self.broker_take((c, node, epoch)),
            Ev::CoordTimer => {
                if self.c.timer_at == Some(self.now) {
                    self.c.timer_at = None;
                    self.coord_timers();
                }
            }
            Ev::LoadDone => {
                if self.now >= self.c.loading_until {
                    let now = self.now;
                    for m in self.c.members.values_mut() {
                        m.hb_deadline = now + m.session;
                    }
                    let session = self.plan.session;
                    for m in self.c.cg.members.values_mut() {
                        m.session_deadline = now + session;
                        if m.revoke_deadline.is_some() {
                            m.revoke_deadline = Some(now + m.rebalance);
                        }
                    }
                    self.coord_schedule();
                }
            }
        }
    }

    // ----- membership changes and faults ---------------------------------------------------

    fn live(&self, c: usize) -> bool {
        let k = &self.clients[c];
        k.alive && !k.fatal
    }

    fn change(&mut self, i: usize) {
        let (_, ch) = self.plan.changes[i].clone();
        self.log(|| format!("plan: {ch:?}"));
        match ch {
            Change::Start { slot } => {
                if let Some(c) = self.slot_client[slot] {
                    if self.live(c) && !self.clients[c].closing {
                        return;
                    }
                    if self.live(c) {
                        // Still closing: start again once it is done.
                        self.push(self.now + 500, Ev::Change(i));
                        return;
                    }
                    if self.clients[c].instance.is_some() {
                        self.hit(Hit::StaticRestart);
                    }
                }
                self.start_client(slot);
            }
            Change::Close { slot } => {
                if let Some(c) = self.slot_client[slot].filter(|c| self.live(*c)) {
                    self.hit(Hit::Close);
                    self.clients[c].closing = true;
                    let now = self.inst();
                    self.clients[c].g.close(now);
                    self.drive(c);
                }
            }
            Change::Crash { slot } => {
                if let Some(c) = self.slot_client[slot].filter(|c| self.live(*c)) {
                    self.hit(Hit::Crash);
                    self.kill(c);
                }
            }
            Change::Duplicate { slot } => {
                if self.plan.slots[slot].instance.is_some() {
                    if let Some(c) = self.slot_client[slot].filter(|c| self.live(*c)) {
                        if !self.clients[c].closing {
                            self.hit(Hit::DuplicateInstance);
                            self.start_client(slot);
                        }
                    }
                }
            }
            Change::Subscribe { slot, topics } => {
                if let Some(c) = self.slot_client[slot].filter(|c| self.live(*c)) {
                    if !self.clients[c].closing && self.clients[c].topics != topics {
                        self.hit(Hit::SubscriptionChange);
                        self.clients[c].topics = topics.clone();
                        self.clients[c].g.subscribe(topics);
                        self.drive(c);
                    }
                }
            }
            Change::Stall { slot, ms } => {
                if let Some(c) = self.slot_client[slot].filter(|c| self.live(*c)) {
                    self.hit(Hit::Stall);
                    if ms > self.plan.max_poll {
                        self.hit(Hit::StallPastMaxPoll);
                    }
                    let until = self.now + ms;
                    self.clients[c].stall_until = until;
                }
            }
            Change::Reset { slot } => {
                if let Some(c) = self.slot_client[slot].filter(|c| self.live(*c)) {
                    let node = self.c.node;
                    self.hit(Hit::ConnReset);
                    self.close_conn(c, node, "connection reset by peer");
                }
            }
            Change::Silent { node, ms } => {
                self.hit(Hit::SilentBroker);
                self.silent_until[node as usize] = self.now + ms;
            }
            Change::Move { node, gap, load } => self.coord_move(node, gap, load),
        }
    }

    fn start_client(&mut self, slot: usize) {
        let sp = self.plan.slots[slot].clone();
        let mut s = GroupSettings::new(GROUP);
        s.instance_id = sp.instance.clone();
        s.session_timeout = Duration::from_millis(self.plan.session);
        s.heartbeat_interval = Duration::from_millis(self.plan.heartbeat);
        s.max_poll_interval = Duration::from_millis(self.plan.max_poll);
        s.assignors = self.plan.assignors.clone();
        s.retry_backoff = Duration::from_millis(50);
        s.retry_backoff_max = Duration::from_millis(500);
        if let Some(cg) = &self.plan.cg {
            s.protocol = GroupProtocol::Consumer;
            s.remote_assignor = cg.remote.clone();
        }
        let mut g = Group::new(s);
        g.set_op_timeout(Duration::from_millis(5000));
        let c = self.clients.len();
        let mid = self
            .plan
            .cg
            .as_ref()
            .map(|cg| cg.ids_at_start)
            .map(|at_start| {
                if at_start {
                    g.set_topic_ids(&self.topic_ids());
                }
                let id = g.member_id().to_string();
                self.aliases.insert(id.clone(), format!("c{c}"));
                id
            });
        g.subscribe(sp.topics.clone());
        self.clients.push(Client {
            g,
            _slot: slot,
            instance: sp.instance,
            topics: sp.topics,
            alive: true,
            closing: false,
            fatal: false,
            conn: vec![0; self.plan.nodes as usize + 1],
            inflight: HashMap::new(),
            answered: HashSet::new(),
            sent: HashSet::new(),
            wake_at: None,
            owned: BTreeMap::new(),
            recently_revoked: BTreeSet::new(),
            callbacks: VecDeque::new(),
            callback_at: 0,
            consumed: BTreeMap::new(),
            stall_until: 0,
            sync_gen: -1,
            last_contact: self.now,
            commits: HashMap::new(),
            ticks: 0,
            mid,
        });
        self.slot_client[slot] = Some(c);
        self.log(|| format!("c{c}: starts in slot {slot}"));
        let at = self.now + self.rng.range(0, 200);
        self.push(at, Ev::AppTick(c));
        self.drive(c);
    }

    /// The process is gone: it sends and answers nothing; what it owned is no longer
    /// consumed.
    fn kill(&mut self, c: usize) {
        self.log(|| format!("c{c}: process ends"));
        let k = &mut self.clients[c];
        k.alive = false;
        k.owned.clear();
        k.callbacks.clear();
        k.wake_at = None;
    }

    // ----- driver --------------------------------------------------------------------------

    fn drive(&mut self, c: usize) {
        if !self.live(c) {
            return;
        }
        let mut rounds = 0;
        loop {
            let now = self.inst();
            let actions = self.clients[c].g.poll(now);
            if actions.is_empty() {
                break;
            }
            rounds += 1;
            if rounds > MAX_POLLS_AT_ONCE {
                self.fail(format!("c{c}: poll keeps returning actions at one instant"));
                return;
            }
            for a in actions {
                self.action(c, a);
                if !self.live(c) {
                    return;
                }
            }
        }
        if self.clients[c].g.is_closed() {
            self.log(|| format!("c{c}: closed"));
            self.kill(c);
            return;
        }
        if let Some(t) = self.clients[c].g.next_timer() {
            let at = (t.saturating_duration_since(self.base).as_millis() as u64).max(self.now);
            // Instants between milliseconds: wake at the next whole one.
            let at = if self.base + Duration::from_millis(at) < t {
                at + 1
            } else {
                at
            };
            let at = if at == self.now { at + 1 } else { at };
            if self.clients[c]
                .wake_at
                .is_none_or(|w| w > at || w < self.now)
            {
                self.clients[c].wake_at = Some(at);
                self.push(at, Ev::Wake(c));
            }
        }
    }

    fn action(&mut self, c: usize, a: Action) {
        match a {
            Action::Send { id, to, req } => self.send(c, id, to, req),
            Action::NeedMetadata(topics) => {
                let counts = topics
                    .iter()
                    .map(|t| (t.clone(), self.counts.get(t).copied().unwrap_or(0)))
                    .collect();
                self.clients[c].g.set_partition_counts(&counts);
                if self.plan.cg.is_some() {
                    self.hit(Hit::TopicIdsLate);
                    let ids = self.topic_ids();
                    self.clients[c].g.set_topic_ids(&ids);
                }
            }
            Action::Event(e) => self.app_event(c, e),
        }
    }

    fn send(&mut self, c: usize, id: u64, to: Target, req: GroupRequest) {
        if !self.clients[c].sent.insert(id) {
            self.fail(format!("c{c}: request id {id} sent twice"));
        }
        if let GroupRequest::Commit(cr) = &req {
            self.check_commit_sent(c, cr);
        }
        let node = match to {
            Target::AnyBroker => self.rng.range(1, self.plan.nodes as u64) as i32,
            Target::Coordinator(n) => n,
        };
        let r = self.next_req;
        self.next_req += 1;
        let epoch = self.clients[c].conn[node as usize];
        self.log(|| format!("c{c} -> n{node} #{id} {}: {req:?}", kind_of(&req)));
        let timeout = if matches!(req, GroupRequest::Join(_)) {
            self.join_timeout()
        } else {
            self.plan.request_timeout
        };
        self.reqs.insert(
            r,
            NetReq {
                client: c,
                id,
                node,
                epoch,
                req,
                answer: None,
                processed: false,
            },
        );
        self.clients[c].inflight.insert(id, r);
        self.push(self.now + timeout, Ev::ReqTimeout(c, id));
        if self.now < self.plan.faults_end && self.rng.chance(self.plan.p_drop) {
            self.hit(Hit::RequestLost);
            self.log(|| format!("c{c} #{id}: request lost"));
            return;
        }
        let at = self.fifo_at(c, node, true);
        self.push(at, Ev::ReqArrive(r));
    }

    fn fifo_at(&mut self, c: usize, node: i32, up: bool) -> u64 {
        let d = self.rng.range(1, self.plan.net_max);
        let last = self.fifo.entry((c, node, up)).or_insert(0);
        let at = (self.now + d).max(*last);
        *last = at;
        at
    }

    /// The client closes its connection to `node` (timeout, reset): every request on it
    /// fails.
    fn close_conn(&mut self, c: usize, node: i32, why: &str) {
        self.clients[c].conn[node as usize] += 1;
        let mut ids: Vec<(u64, u64)> = self.clients[c]
            .inflight
            .iter()
            .filter(|(_, r)| self.reqs.get(r).is_some_and(|q| q.node == node))
            .map(|(id, r)| (*id, *r))
            .collect();
        ids.sort();
        for (id, _) in ids {
            self.clients[c].inflight.remove(&id);
            self.log(|| format!("c{c} #{id}: fails ({why})"));
            self.deliver(c, id, Err(Error::transport(why.to_string())));
        }
        self.drive(c);
    }

    fn req_timeout(&mut self, c: usize, id: u64) {
        if !self.live(c) || !self.clients[c].inflight.contains_key(&id) {
            return;
        }
        self.hit(Hit::RequestTimeout);
        let node = self.reqs[&self.clients[c].inflight[&id]].node;
        self.close_conn(c, node, "request timed out");
    }

    /// Hands an answer (or failure) to the group: invariant 5 is checked here.
    fn deliver(&mut self, c: usize, id: u64, r: kafkac::Result<GroupResponse>) {
        if !self.clients[c].sent.contains(&id) {
            self.fail(format!("c{c}: an answer for request {id}, never sent"));
        }
        if !self.clients[c].answered.insert(id) {
            self.fail(format!("c{c}: a second answer for request {id}"));
        }
        let now = self.inst();
        self.clients[c].g.on_response(id, r, now);
    }

    fn answer_arrive(&mut self, r: u64) {
        let Some(q) = self.reqs.get(&r) else { return };
        let c = q.client;
        let (id, node, epoch) = (q.id, q.node, q.epoch);
        if !self.live(c) || self.clients[c].conn[node as usize] != epoch {
            self.hit(Hit::ZombieProcessed);
            self.reqs.remove(&r);
            return;
        }
        if self.clients[c].inflight.remove(&id).is_none() {
            self.reqs.remove(&r);
            return;
        }
        let q = self.reqs.remove(&r).expect("request");
        let resp = q.answer.expect("answered");
        self.log(|| format!("c{c} <- n{node} #{id} {}: {resp:?}", kind_of(&q.req)));
        let good = err_of(&resp) == NONE;
        match (&resp, good) {
            (GroupResponse::Heartbeat(_) | GroupResponse::Join(_), true) => {
                self.clients[c].last_contact = self.now
            }
            (GroupResponse::Heartbeat(h), false) if h.error_code == REBALANCE_IN_PROGRESS => {
                self.clients[c].last_contact = self.now
            }
            (GroupResponse::ConsumerHeartbeat(_), true) => self.clients[c].last_contact = self.now,
            (GroupResponse::Sync(_), true) => {
                self.clients[c].last_contact = self.now;
                if let GroupRequest::Sync(s) = &q.req {
                    self.clients[c].sync_gen = s.generation_id;
                }
            }
            _ => {}
        }
        self.deliver(c, id, Ok(resp));
        self.drive(c);
    }

    // ----- application ---------------------------------------------------------------------

    fn app_event(&mut self, c: usize, e: GroupEvent) {
        self.log(|| format!("c{c} event {e:?}"));
        match e {
            GroupEvent::Assigned(tps) => {
                if !tps.is_empty() {
                    self.hit(Hit::Assigned);
                }
                let gen = if self.plan.cg.is_some() {
                    self.clients[c].g.generation().map_or(-1, |g| g.0)
                } else {
                    self.clients[c].sync_gen
                };
                let k = &mut self.clients[c];
                k.recently_revoked.clear();
                // Everything still owned is confirmed in this generation (cooperative
                // keeps partitions across generations).
                for g in k.owned.values_mut() {
                    *g = gen;
                }
                for p in tps {
                    k.consumed
                        .entry(p.clone())
                        .or_insert_with(|| self.c.offsets.get(&p).copied().unwrap_or(0));
                    k.owned.insert(p, gen);
                }
                self.check_owners();
            }
            GroupEvent::Revoked(tps) => {
                self.hit(Hit::Revoked);
                if self.rng.chance(0.6) && !self.clients[c].closing {
                    self.hit(Hit::CommitInCallback);
                    self.commit(c, Some(&tps));
                } else if self.clients[c].closing {
                    self.commit(c, Some(&tps));
                }
                self.queue_callback(c, false, tps);
            }
            GroupEvent::Lost(tps) => {
                self.hit(Hit::Lost);
                let k = &mut self.clients[c];
                k.recently_revoked.clear();
                if self.plant == Plant::IgnoreLost {
                    self.plant_fired = true;
                } else {
                    for p in &tps {
                        k.owned.remove(p);
                    }
                }
                self.queue_callback(c, true, tps);
            }
            GroupEvent::CommitDone { id, .. } => {
                self.clients[c].commits.remove(&id);
            }
            GroupEvent::Committed { .. } => {}
            GroupEvent::Error { error, fatal } => {
                if error.code == kafkac::error::local::MAX_POLL_EXCEEDED {
                    self.hit(Hit::MaxPollExceeded);
                }
                if fatal {
                    self.hit(Hit::Fatal);
                    if !self.clients[c].owned.is_empty() && self.plant == Plant::None {
                        let o = self.clients[c].owned.clone();
                        self.fail(format!("c{c}: fatal while owning {o:?}"));
                    }
                    self.clients[c].fatal = true;
                    self.kill(c);
                }
            }
        }
    }

    fn queue_callback(&mut self, c: usize, lost: bool, tps: Vec<TopicPartition>) {
        let p_slow = self.plan.cg.as_ref().map_or(0.0, |cg| cg.p_slow_callback);
        let d = if !lost && !tps.is_empty() && self.rng.chance(p_slow) {
            // Outlasts the rebalance timeout (max.poll.interval.ms).
            self.hit(Hit::SlowCallback);
            self.rng
                .range(self.plan.max_poll + 100, 2 * self.plan.max_poll)
        } else {
            self.rng.range(0, CALLBACK_MAX)
        };
        let k = &mut self.clients[c];
        let at = (self.now + d).max(k.callback_at);
        k.callback_at = at;
        k.callbacks.push_back((lost, tps));
        self.push(at, Ev::CallbackDone(c));
    }

    fn callback_done(&mut self, c: usize) {
        if !self.live(c) {
            return;
        }
        let Some((lost, tps)) = self.clients[c].callbacks.pop_front() else {
            return;
        };
        self.log(|| {
            format!(
                "c{c}: revoke_done ({})",
                if lost { "lost" } else { "revoked" }
            )
        });
        if !lost {
            let k = &mut self.clients[c];
            for p in tps {
                k.owned.remove(&p);
                k.recently_revoked.insert(p);
            }
        }
        let now = self.inst();
        self.clients[c].g.revoke_done(now);
        self.drive(c);
    }

    /// Commits what was consumed of `only` (or of everything owned).
    fn commit(&mut self, c: usize, only: Option<&[TopicPartition]>) {
        let k = &self.clients[c];
        let tps: Vec<TopicPartition> = match only {
            Some(t) => t
                .iter()
                .filter(|p| k.owned.contains_key(p))
                .cloned()
                .collect(),
            None => k.owned.keys().cloned().collect(),
        };
        if tps.is_empty() {
            return;
        }
        let offsets: Vec<CommitOffset> = tps
            .iter()
            .map(|p| CommitOffset {
                tp: p.clone(),
                offset: k.consumed.get(p).copied().unwrap_or(0),
                leader_epoch: -1,
                metadata: None,
            })
            .collect();
        let now = self.inst();
        let owned: BTreeSet<TopicPartition> = tps.into_iter().collect();
        let id = self.clients[c].g.commit(offsets, now);
        self.clients[c].commits.insert(id, owned);
    }

    fn app_tick(&mut self, c: usize) {
        if !self.live(c) {
            return;
        }
        let next = self.now + self.rng.range(100, 400);
        self.push(next, Ev::AppTick(c));
        if self.now < self.clients[c].stall_until {
            return;
        }
        let now = self.inst();
        self.clients[c].ticks += 1;
        self.clients[c].g.app_polled(now);
        let owned: Vec<TopicPartition> = self.clients[c].owned.keys().cloned().collect();
        for p in owned {
            let n = self.rng.range(1, 10) as i64;
            *self.clients[c].consumed.entry(p).or_insert(0) += n;
        }
        if !self.clients[c].closing {
            if self.rng.chance(0.3) {
                self.commit(c, None);
            }
            if self.rng.chance(0.03) {
                let tps: Vec<TopicPartition> = self.clients[c].owned.keys().cloned().collect();
                self.clients[c].g.fetch_committed(tps, now);
            }
        }
        self.drive(c);
    }

    // ----- checks --------------------------------------------------------------------------

    /// Invariant 1, member side.
    fn check_commit_sent(&mut self, c: usize, req: &OffsetCommitRequest) {
        if req.generation_id_or_member_epoch < 0 {
            return;
        }
        let mut bad = Vec::new();
        let k = &self.clients[c];
        for t in &req.topics {
            for p in &t.partitions {
                let x = tp(&t.name, p.partition_index);
                let committed_owned = k.commits.values().any(|s| s.contains(&x));
                let ok = committed_owned
                    && (k.owned.contains_key(&x) || k.recently_revoked.contains(&x));
                if !ok {
                    bad.push(x);
                }
            }
        }
        if let Some(x) = bad.first() {
            let msg = format!(
                "c{c}: OffsetCommit (generation {}) names {x}, not owned by the member",
                req.generation_id_or_member_epoch
            );
            self.fail(msg);
        }
    }

    /// The member ids the coordinator counts, by client.
    fn member_clients(&self) -> BTreeSet<usize> {
        self.c
            .members
            .values()
            .map(|m| m.client)
            .chain(self.c.cg.members.values().map(|m| m.client))
            .collect()
    }

    /// Invariant 2.
    fn check_owners(&mut self) {
        let members = self.member_clients();
        let cooperative = self.plan.assignors.iter().all(|a| a.supports_cooperative());
        let strict = self.plan.cg.is_some();
        let mut by_tp: BTreeMap<&TopicPartition, Vec<(usize, i32, bool)>> = BTreeMap::new();
        let mut bad = None;
        for (c, k) in self.clients.iter().enumerate() {
            if !k.alive || !members.contains(&c) {
                continue;
            }
            for (p, g) in &k.owned {
                let owners = by_tp.entry(p).or_default();
                for &(o, og, ostatic) in owners.iter() {
                    let both_dynamic = !ostatic && k.instance.is_none();
                    if strict || og == *g || (cooperative && both_dynamic) {
                        bad = Some(format!(
                            "{p} owned by c{o} (generation {og}) and c{c} (generation {g}) at once"
                        ));
                    }
                }
                owners.push((c, *g, k.instance.is_some()));
            }
        }
        if let Some(b) = bad {
            self.fail(b);
        }
    }

    fn check_step(&mut self) {
        self.check_owners();
        // Invariant 3.
        let bound = if self.plan.cg.is_some() {
            self.plan.session.max(CG_CLIENT_SESSION) + self.contact_slack()
        } else {
            self.plan.session + self.contact_slack()
        };
        let held: BTreeSet<usize> = self
            .c
            .members
            .values()
            .filter(|m| m.awaiting_join.is_some() || m.awaiting_sync.is_some())
            .map(|m| m.client)
            .collect();
        for c in 0..self.clients.len() {
            let k = &self.clients[c];
            if !k.alive || k.owned.is_empty() || held.contains(&c) {
                continue;
            }
            let since = self.now - k.last_contact.min(self.now);
            let over = since as i64 - self.plan.session as i64;
            if over > self.max_overhang {
                self.max_overhang = over;
            }
            if since > bound {
                let o: Vec<String> = k.owned.keys().map(ToString::to_string).collect();
                self.fail(format!(
                    "c{c} still owns {o:?} {since} ms after its last contact with the coordinator \
                     (bound {bound} ms)"
                ));
                return;
            }
        }
    }

    /// Invariant 4.
    fn check_end(&mut self) {
        let live: BTreeSet<usize> = (0..self.clients.len())
            .filter(|c| self.live(*c) && !self.clients[*c].closing)
            .collect();
        if self.plan.cg.is_some() {
            return self.cg_check_end(live);
        }
        let members = self.member_clients();
        if self.c.state != St::Stable || self.now < self.c.loading_until {
            let s = self.c.state;
            return self.fail(format!("not stable at the end: {s:?}"));
        }
        if members != live {
            return self.fail(format!(
                "members at the end {members:?}, live members {live:?}"
            ));
        }
        let mut owner: BTreeMap<TopicPartition, usize> = BTreeMap::new();
        for &c in &live {
            let k = &self.clients[c];
            let Some((gen, _)) = k.g.generation() else {
                return self.fail(format!("c{c} not stable at the end"));
            };
            if gen != self.c.generation {
                let g = self.c.generation;
                return self.fail(format!("c{c} in generation {gen}, the group in {g}"));
            }
            if !k.callbacks.is_empty() {
                return self.fail(format!("c{c} still in a rebalance callback at the end"));
            }
            for p in k.owned.keys() {
                if !k.topics.contains(&p.topic) {
                    return self.fail(format!("c{c} owns {p}, not subscribed"));
                }
                if let Some(o) = owner.insert(p.clone(), c) {
                    return self.fail(format!("{p} owned by c{o} and c{c} at the end"));
                }
            }
        }
        let subscribed: BTreeSet<&String> = live
            .iter()
            .flat_map(|c| self.clients[*c].topics.iter())
            .collect();
        for (t, n) in &self.plan.topics {
            if !subscribed.contains(t) {
                continue;
            }
            for p in 0..*n {
                if !owner.contains_key(&tp(t, p)) {
                    let msg = format!("{t}-{p} owned by no live member at the end");
                    return self.fail(msg);
                }
            }
        }
    }

    // ----- broker side ---------------------------------------------------------------------

    fn req_arrive(&mut self, r: u64) {
        let Some(q) = self.reqs.get(&r) else { return };
        let key = (q.client, q.node, q.epoch);
        self.broker_queue.entry(key).or_default().0.push_back(r);
        self.broker_take(key);
    }

    /// Kafka reads a connection's next request once the previous one is answered.
    fn broker_take(&mut self, key: (usize, i32, u64)) {
        loop {
            let node = key.1;
            let Some((q, busy)) = self.broker_queue.get_mut(&key) else {
                return;
            };
            if *busy || q.is_empty() {
                return;
            }
            let silent = self.silent_until[node as usize];
            if self.now < silent {
                self.push(silent, Ev::ConnKick(key.0, key.1, key.2));
                return;
            }
            let r = q.pop_front().expect("queued");
            let Some(req) = self.reqs.get(&r).map(|q| q.req.clone()) else {
                continue;
            };
            self.reqs.get_mut(&r).expect("req").processed = true;
            match self.handle(r, node, key.0, &req) {
                Reply::Now(a) => self.answer(r, a),
                Reply::Held => {
                    // Held unless answered at once (a leader's SyncGroup, a join that
                    // completed with it).
                    if self.reqs.get(&r).is_some_and(|q| q.answer.is_none()) {
                        self.broker_queue.get_mut(&key).expect("conn").1 = true;
                        return;
                    }
                }
            }
        }
    }

    /// Sends the answer to request `r` back (and frees its connection).
    fn answer(&mut self, r: u64, a: GroupResponse) {
        let Some(q) = self.reqs.get_mut(&r) else {
            return;
        };
        q.answer = Some(a);
        let key = (q.client, q.node, q.epoch);
        let (c, node) = (q.client, q.node);
        if let Some(b) = self.broker_queue.get_mut(&key) {
            b.1 = false;
        }
        if self.now < self.plan.faults_end && self.rng.chance(self.plan.p_drop_answer) {
            self.hit(Hit::AnswerLost);
            self.log(|| format!("answer to c{c} lost"));
        } else {
            let at = self.fifo_at(c, node, false);
            self.push(at, Ev::AnswerArrive(r));
        }
        self.push(self.now, Ev::ConnKick(key.0, key.1, key.2));
    }

    fn handle(&mut self, r: u64, node: i32, client: usize, req: &GroupRequest) -> Reply {
        if let GroupRequest::FindCoordinator(_) = req {
            if self.now < self.c.gap_until {
                self.hit(Hit::CoordinatorNotAvailable);
                return Reply::Now(error_answer(req, COORDINATOR_NOT_AVAILABLE));
            }
            let n = self.c.node;
            return Reply::Now(GroupResponse::FindCoordinator(FindCoordinatorResponse {
                node_id: n,
                host: format!("b{n}"),
                port: 9092,
                coordinators: vec![Coordinator {
                    key: GROUP.into(),
                    node_id: n,
                    host: format!("b{n}"),
                    port: 9092,
                    ..Default::default()
                }],
                ..Default::default()
            }));
        }
        if node != self.c.node || self.now < self.c.gap_until {
            self.hit(Hit::NotCoordinator);
            return Reply::Now(error_answer(req, NOT_COORDINATOR));
        }
        if self.now < self.c.loading_until {
            self.hit(Hit::LoadInProgress);
            return Reply::Now(error_answer(req, COORDINATOR_LOAD_IN_PROGRESS));
        }
        let reply = match req {
            GroupRequest::Join(j) => self.join(r, client, j),
            GroupRequest::Sync(s) => self.sync(r, s),
            GroupRequest::Heartbeat(h) => Reply::Now(GroupResponse::Heartbeat(HeartbeatResponse {
                error_code: self.heartbeat(h),
                ..Default::default()
            })),
            GroupRequest::Leave(l) => Reply::Now(GroupResponse::Leave(self.leave(l))),
            GroupRequest::Commit(c) if self.plan.cg.is_some() => {
                Reply::Now(GroupResponse::Commit(self.cg_offset_commit(client, c)))
            }
            GroupRequest::Commit(c) => {
                Reply::Now(GroupResponse::Commit(self.offset_commit(client, c)))
            }
            GroupRequest::FetchOffsets(f) => match self.cg_validate_fetch(f) {
                NONE => Reply::Now(self.offset_fetch(f)),
                e => Reply::Now(error_answer(req, e)),
            },
            GroupRequest::ConsumerHeartbeat(h) if self.plan.cg.is_some() => {
                Reply::Now(self.cg_heartbeat(client, h))
            }
            // A classic group: GROUP_ID_NOT_FOUND (no member sends this).
            GroupRequest::ConsumerHeartbeat(_) => Reply::Now(error_answer(req, 69)),
            GroupRequest::FindCoordinator(_) => unreachable!(),
        };
        self.coord_schedule();
        reply
    }

    fn new_member_id(&mut self, client: usize) -> String {
        let n = self.c.next_member;
        self.c.next_member += 1;
        format!("c{client}-m{n}")
    }

    /// FENCED_INSTANCE_ID / UNKNOWN_MEMBER_ID, or None if `member` is a current member.
    fn validate_member(&self, member: &str, instance: Option<&str>) -> Option<i16> {
        if let Some(i) = instance {
            match self.c.statics.get(i) {
                None => return Some(UNKNOWN_MEMBER_ID),
                Some(m) if m != member => return Some(FENCED_INSTANCE_ID),
                _ => {}
            }
        }
        (!self.c.members.contains_key(member)).then_some(UNKNOWN_MEMBER_ID)
    }

    fn note_error(&mut self, code: i16) {
        match code {
            ILLEGAL_GENERATION => self.hit(Hit::IllegalGeneration),
            UNKNOWN_MEMBER_ID => self.hit(Hit::UnknownMember),
            FENCED_INSTANCE_ID => self.hit(Hit::FencedInstance),
            _ => {}
        }
    }

    fn protocols(j: &JoinGroupRequest) -> Vec<(String, Bytes)> {
        j.protocols
            .iter()
            .map(|p| (p.name.clone(), p.metadata.clone()))
            .collect()
    }

    fn join(&mut self, r: u64, client: usize, j: &JoinGroupRequest) -> Reply {
        let protocols = Self::protocols(j);
        let now = self.now;
        let new_member = |client, j: &JoinGroupRequest, protocols| CMember {
            client,
            instance: j.group_instance_id.clone(),
            protocols,
            session: j.session_timeout_ms as u64,
            rebalance: j.rebalance_timeout_ms as u64,
            awaiting_join: Some(r),
            awaiting_sync: None,
            assignment: Bytes::new(),
            hb_deadline: now + j.session_timeout_ms as u64,
        };
        if j.member_id.is_empty() {
            let Some(inst) = j.group_instance_id.clone() else {
                let id = self.new_member_id(client);
                self.c
                    .pending
                    .insert(id.clone(), now + j.session_timeout_ms as u64);
                self.hit(Hit::MemberIdRequired);
                return Reply::Now(GroupResponse::Join(JoinGroupResponse {
                    error_code: MEMBER_ID_REQUIRED,
                    member_id: id,
                    ..Default::default()
                }));
            };
            let id = self.new_member_id(client);
            let Some(old) = self.c.statics.get(&inst).cloned() else {
                // A new static member.
                self.c.statics.insert(inst, id.clone());
                self.c.members.insert(id, new_member(client, j, protocols));
                self.rebalance_or_complete();
                return Reply::Held;
            };
            // A known instance id: the static member is replaced; the old id is fenced.
            self.hit(Hit::StaticReplaced);
            let mut m = self.c.members.remove(&old).expect("static member");
            for held in [m.awaiting_join.take(), m.awaiting_sync.take()]
                .into_iter()
                .flatten()
            {
                let req = self.reqs.get(&held).map(|q| q.req.clone());
                if let Some(req) = req {
                    self.answer(held, error_answer(&req, FENCED_INSTANCE_ID));
                }
            }
            let same = m.protocols == protocols;
            m.client = client;
            m.protocols = protocols;
            m.hb_deadline = now + m.session;
            self.c.statics.insert(inst, id.clone());
            if self.c.leader.as_deref() == Some(old.as_str()) {
                self.c.leader = Some(id.clone());
            }
            if self.c.pending_sync.remove(&old) {
                self.c.pending_sync.insert(id.clone());
            }
            if self.c.state == St::Stable && same {
                self.hit(Hit::StaticRejoinNoRebalance);
                self.c.members.insert(id.clone(), m);
                self.persist();
                let leader = self.c.leader.clone().unwrap_or_default();
                return Reply::Now(GroupResponse::Join(JoinGroupResponse {
                    generation_id: self.c.generation,
                    protocol_type: Some(CONSUMER_PROTOCOL_TYPE.into()),
                    protocol_name: self.c.protocol.clone(),
                    skip_assignment: leader == id,
                    members: if leader == id {
                        self.member_list()
                    } else {
                        vec![]
                    },
                    leader,
                    member_id: id,
                    ..Default::default()
                }));
            }
            m.awaiting_join = Some(r);
            self.c.members.insert(id, m);
            self.rebalance_or_complete();
            return Reply::Held;
        }
        let id = j.member_id.clone();
        if self.c.pending.remove(&id).is_some() {
            self.c.members.insert(id, new_member(client, j, protocols));
            self.rebalance_or_complete();
            return Reply::Held;
        }
        if let Some(e) = self.validate_member(&id, j.group_instance_id.as_deref()) {
            self.note_error(e);
            return Reply::Now(error_answer(&GroupRequest::Join(j.clone()), e));
        }
        let is_leader = self.c.leader.as_deref() == Some(id.as_str());
        let m = self.c.members.get_mut(&id).expect("member");
        let same = m.protocols == protocols;
        match self.c.state {
            St::Empty => Reply::Now(error_answer(
                &GroupRequest::Join(j.clone()),
                UNKNOWN_MEMBER_ID,
            )),
            St::Preparing => {
                m.protocols = protocols;
                m.awaiting_join = Some(r);
                self.maybe_complete_join();
                Reply::Held
            }
            St::Completing | St::Stable
                if same && (self.c.state == St::Completing || !is_leader) =>
            {
                self.hit(Hit::JoinAnswerReplayed);
                Reply::Now(GroupResponse::Join(self.join_answer(&id)))
            }
            St::Completing | St::Stable => {
                m.protocols = protocols;
                m.awaiting_join = Some(r);
                self.prepare_rebalance();
                Reply::Held
            }
        }
    }

    fn member_list(&self) -> Vec<JoinGroupResponseMember> {
        let p = self.c.protocol.clone().unwrap_or_default();
        self.c
            .members
            .iter()
            .map(|(id, m)| JoinGroupResponseMember {
                member_id: id.clone(),
                group_instance_id: m.instance.clone(),
                metadata: m
                    .protocols
                    .iter()
                    .find(|x| x.0 == p)
                    .map(|x| x.1.clone())
                    .unwrap_or_default(),
                ..Default::default()
            })
            .collect()
    }

    fn join_answer(&self, id: &str) -> JoinGroupResponse {
        let leader = self.c.leader.clone().unwrap_or_default();
        JoinGroupResponse {
            generation_id: self.c.generation,
            protocol_type: Some(CONSUMER_PROTOCOL_TYPE.into()),
            protocol_name: self.c.protocol.clone(),
            members: if leader == id {
                self.member_list()
            } else {
                vec![]
            },
            leader,
            member_id: id.to_string(),
            ..Default::default()
        }
    }

    fn rebalance_or_complete(&mut self) {
        match self.c.state {
            St::Preparing => self.maybe_complete_join(),
            _ => self.prepare_rebalance(),
        }
    }

    fn prepare_rebalance(&mut self) {
        self.hit(Hit::Rebalance);
        if self.c.state == St::Completing {
            let held: Vec<u64> = self
                .c
                .members
                .values_mut()
                .filter_map(|m| m.awaiting_sync.take())
                .collect();
            for h in held {
                self.hit(Hit::SyncRebalanceInProgress);
                self.answer(
                    h,
                    GroupResponse::Sync(SyncGroupResponse {
                        error_code: REBALANCE_IN_PROGRESS,
                        ..Default::default()
                    }),
                );
            }
        }
        let was_empty = self.c.state == St::Empty;
        self.c.state = St::Preparing;
        self.c.sync_deadline = None;
        self.c.pending_sync.clear();
        let max_rebalance = self
            .c
            .members
            .values()
            .map(|m| m.rebalance)
            .max()
            .unwrap_or(0);
        if was_empty && self.plan.initial_delay > 0 {
            self.hit(Hit::InitialDelay);
            self.c.initial_phase = true;
            self.c.join_deadline = Some(self.now + self.plan.initial_delay.min(max_rebalance));
        } else {
            self.c.initial_phase = false;
            self.c.join_deadline = Some(self.now + max_rebalance);
            self.maybe_complete_join();
        }
    }

    fn maybe_complete_join(&mut self) {
        if self.c.state == St::Preparing
            && !self.c.initial_phase
            && self.c.pending.is_empty()
            && self.c.members.values().all(|m| m.awaiting_join.is_some())
        {
            self.complete_join();
        }
    }

    fn complete_join(&mut self) {
        // Dynamic members that did not rejoin are removed; static ones stay.
        let gone: Vec<String> = self
            .c
            .members
            .iter()
            .filter(|(_, m)| m.awaiting_join.is_none() && m.instance.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            self.hit(Hit::JoinDeadlineRemoved);
            self.log(|| format!("coordinator: {id} did not rejoin in time: removed"));
            self.c.members.remove(&id);
        }
        self.c.join_deadline = None;
        self.c.initial_phase = false;
        self.c.generation += 1;
        if self.c.members.is_empty() {
            self.hit(Hit::EmptyGeneration);
            self.c.state = St::Empty;
            self.c.protocol = None;
            self.c.leader = None;
            self.persist();
            return;
        }
        self.hit(Hit::JoinCompleted);
        let lists: Vec<Vec<String>> = self
            .c
            .members
            .values()
            .map(|m| m.protocols.iter().map(|p| p.0.clone()).collect())
            .collect();
        self.c.protocol = select_protocol(&lists).map(str::to_string);
        if !self
            .c
            .leader
            .as_ref()
            .is_some_and(|l| self.c.members.contains_key(l))
        {
            self.c.leader = self
                .c
                .members
                .iter()
                .find(|(_, m)| m.awaiting_join.is_some())
                .or_else(|| self.c.members.iter().next())
                .map(|(id, _)| id.clone());
        }
        self.c.state = St::Completing;
        let max_rebalance = self
            .c
            .members
            .values()
            .map(|m| m.rebalance)
            .max()
            .unwrap_or(0);
        self.c.sync_deadline = Some(self.now + max_rebalance);
        self.c.pending_sync = self.c.members.keys().cloned().collect();
        self.log(|| "coordinator: join complete".to_string());
        let ids: Vec<String> = self.c.members.keys().cloned().collect();
        for id in ids {
            let now = self.now;
            let m = self.c.members.get_mut(&id).expect("member");
            m.hb_deadline = now + m.session;
            m.assignment = Bytes::new();
            if let Some(h) = m.awaiting_join.take() {
                let a = self.join_answer(&id);
                self.answer(h, GroupResponse::Join(a));
            }
        }
    }

    fn persist(&mut self) {
        self.c.snapshot = Snapshot {
            generation: self.c.generation,
            protocol: self.c.protocol.clone(),
            leader: self.c.leader.clone(),
            members: self
                .c
                .members
                .iter()
                .map(|(id, m)| {
                    let mut m = m.clone();
                    m.awaiting_join = None;
                    m.awaiting_sync = None;
                    (id.clone(), m)
                })
                .collect(),
            statics: self.c.statics.clone(),
        };
    }

    fn sync(&mut self, r: u64, s: &SyncGroupRequest) -> Reply {
        let err = |code| {
            Reply::Now(GroupResponse::Sync(SyncGroupResponse {
                error_code: code,
                ..Default::default()
            }))
        };
        if let Some(e) = self.validate_member(&s.member_id, s.group_instance_id.as_deref()) {
            self.note_error(e);
            return err(e);
        }
        if s.generation_id != self.c.generation {
            self.note_error(ILLEGAL_GENERATION);
            return err(ILLEGAL_GENERATION);
        }
        let now = self.now;
        match self.c.state {
            St::Empty => err(UNKNOWN_MEMBER_ID),
            St::Preparing => {
                self.hit(Hit::SyncRebalanceInProgress);
                err(REBALANCE_IN_PROGRESS)
            }
            St::Stable => {
                self.c.pending_sync.remove(&s.member_id);
                let m = self.c.members.get_mut(&s.member_id).expect("member");
                m.hb_deadline = now + m.session;
                Reply::Now(GroupResponse::Sync(SyncGroupResponse {
                    protocol_type: Some(CONSUMER_PROTOCOL_TYPE.into()),
                    protocol_name: self.c.protocol.clone(),
                    assignment: m.assignment.clone(),
                    ..Default::default()
                }))
            }
            St::Completing => {
                self.c.pending_sync.remove(&s.member_id);
                let m = self.c.members.get_mut(&s.member_id).expect("member");
                m.hb_deadline = now + m.session;
                m.awaiting_sync = Some(r);
                if self.c.leader.as_deref() != Some(s.member_id.as_str()) {
                    return Reply::Held;
                }
                self.hit(Hit::SyncLeader);
                let given: HashMap<&str, &Bytes> = s
                    .assignments
                    .iter()
                    .map(|a| (a.member_id.as_str(), &a.assignment))
                    .collect();
                for (id, m) in self.c.members.iter_mut() {
                    m.assignment = given
                        .get(id.as_str())
                        .map(|b| (*b).clone())
                        .unwrap_or_default();
                }
                self.c.state = St::Stable;
                self.persist();
                let held: Vec<(u64, Bytes)> = self
                    .c
                    .members
                    .values_mut()
                    .filter_map(|m| m.awaiting_sync.take().map(|h| (h, m.assignment.clone())))
                    .collect();
                for (h, a) in held {
                    self.answer(
                        h,
                        GroupResponse::Sync(SyncGroupResponse {
                            protocol_type: Some(CONSUMER_PROTOCOL_TYPE.into()),
                            protocol_name: self.c.protocol.clone(),
                            assignment: a,
                            ..Default::default()
                        }),
                    );
                }
                Reply::Held // answered above, as one of the held
            }
        }
    }

    fn heartbeat(&mut self, h: &HeartbeatRequest) -> i16 {
        if self.c.state == St::Empty {
            self.note_error(UNKNOWN_MEMBER_ID);
            return UNKNOWN_MEMBER_ID;
        }
        if let Some(e) = self.validate_member(&h.member_id, h.group_instance_id.as_deref()) {
            self.note_error(e);
            return e;
        }
        if h.generation_id != self.c.generation {
            self.note_error(ILLEGAL_GENERATION);
            return ILLEGAL_GENERATION;
        }
        let now = self.now;
        let m = self.c.members.get_mut(&h.member_id).expect("member");
        m.hb_deadline = now + m.session;
        if self.c.state == St::Preparing {
            self.hit(Hit::HeartbeatRebalance);
            REBALANCE_IN_PROGRESS
        } else {
            NONE
        }
    }

    fn leave(&mut self, l: &LeaveGroupRequest) -> LeaveGroupResponse {
        self.hit(Hit::Leave);
        let mut out = Vec::new();
        for m in &l.members {
            let code = match (&m.group_instance_id, m.member_id.as_str()) {
                (Some(i), id)
                    if self.c.statics.get(i).is_some_and(|x| x != id) && !id.is_empty() =>
                {
                    FENCED_INSTANCE_ID
                }
                (Some(i), _) if self.c.statics.contains_key(i) => {
                    let id = self.c.statics[i].clone();
                    self.remove_member(&id, "left");
                    NONE
                }
                (_, id) if self.c.members.contains_key(id) => {
                    self.remove_member(id, "left");
                    NONE
                }
                (_, id) if self.c.pending.remove(id).is_some() => {
                    self.maybe_complete_join();
                    NONE
                }
                _ => UNKNOWN_MEMBER_ID,
            };
            out.push(LeaveGroupMemberResponse {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                error_code: code,
                ..Default::default()
            });
        }
        LeaveGroupResponse {
            members: out,
            ..Default::default()
        }
    }

    fn remove_member(&mut self, id: &str, why: &str) {
        let Some(mut m) = self.c.members.remove(id) else {
            return;
        };
        self.log(|| format!("coordinator: {id} removed ({why})"));
        if let Some(i) = &m.instance {
            if self.c.statics.get(i).is_some_and(|x| x == id) {
                self.c.statics.remove(i);
            }
        }
        for h in [m.awaiting_join.take(), m.awaiting_sync.take()]
            .into_iter()
            .flatten()
        {
            let req = self.reqs.get(&h).map(|q| q.req.clone());
            if let Some(req) = req {
                self.answer(h, error_answer(&req, UNKNOWN_MEMBER_ID));
            }
        }
        self.c.pending_sync.remove(id);
        if self.c.leader.as_deref() == Some(id) {
            self.c.leader = None;
        }
        match self.c.state {
            St::Stable | St::Completing => self.prepare_rebalance(),
            St::Preparing => self.maybe_complete_join(),
            St::Empty => {}
        }
    }

    /// OffsetCommit as `ClassicGroup.validateOffsetCommit` decides; invariant 1 checks
    /// every acceptance.
    fn offset_commit(&mut self, client: usize, c: &OffsetCommitRequest) -> OffsetCommitResponse {
        let g = c.generation_id_or_member_epoch;
        let st = self.c.state;
        let mut code = NONE;
        if !(g < 0 && st == St::Empty) {
            if g >= 0 || !c.member_id.is_empty() || c.group_instance_id.is_some() {
                if let Some(e) = self.validate_member(&c.member_id, c.group_instance_id.as_deref())
                {
                    code = e;
                } else if g != self.c.generation {
                    code = ILLEGAL_GENERATION;
                }
            } else if st != St::Empty {
                code = UNKNOWN_MEMBER_ID;
            }
            if code == NONE && st == St::Completing {
                code = REBALANCE_IN_PROGRESS;
            }
        }
        if self.plant == Plant::StaleCommit && code != NONE && code != REBALANCE_IN_PROGRESS {
            self.plant_fired = true;
            code = NONE;
        }
        match code {
            NONE => self.hit(Hit::CommitAccepted),
            ILLEGAL_GENERATION => self.hit(Hit::CommitIllegalGeneration),
            UNKNOWN_MEMBER_ID => self.hit(Hit::CommitUnknownMember),
            REBALANCE_IN_PROGRESS => self.hit(Hit::CommitRebalanceInProgress),
            e => self.note_error(e),
        }
        if code == NONE {
            self.check_accepted(client, c);
            for t in &c.topics {
                for p in &t.partitions {
                    self.c
                        .offsets
                        .insert(tp(&t.name, p.partition_index), p.committed_offset);
                }
            }
        }
        commit_answer(c, code)
    }

    /// Invariant 1, coordinator side: Kafka's rule restated, and no newer owner.
    fn check_accepted(&mut self, client: usize, c: &OffsetCommitRequest) {
        let g = c.generation_id_or_member_epoch;
        let current = (g < 0 && c.member_id.is_empty() && self.c.state == St::Empty)
            || (g == self.c.generation
                && self.c.members.contains_key(&c.member_id)
                && matches!(self.c.state, St::Stable | St::Preparing));
        if !current {
            let (gen, st) = (self.c.generation, self.c.state);
            return self.fail(format!(
                "coordinator accepted a commit from c{client} ({}, generation {g}) while the \
                 group is in generation {gen}, {st:?}",
                c.member_id
            ));
        }
        let members = self.member_clients();
        for t in &c.topics {
            for p in &t.partitions {
                let x = tp(&t.name, p.partition_index);
                for (o, k) in self.clients.iter().enumerate() {
                    if o != client && k.alive && members.contains(&o) {
                        if let Some(&og) = k.owned.get(&x) {
                            if og > g {
                                let msg = format!(
                                    "commit of {x} from c{client} (generation {g}) accepted \
                                     while c{o} owns it in generation {og}"
                                );
                                return self.fail(msg);
                            }
                        }
                    }
                }
            }
        }
    }

    fn offset_fetch(&mut self, f: &OffsetFetchRequest) -> GroupResponse {
        self.hit(Hit::OffsetFetch);
        let topics = f
            .groups
            .first()
            .and_then(|g| g.topics.clone())
            .or_else(|| f.topics.clone())
            .unwrap_or_default();
        let topics = topics
            .into_iter()
            .map(|t| OffsetFetchResponseTopic {
                partitions: t
                    .partition_indexes
                    .iter()
                    .map(|&p| OffsetFetchResponsePartition {
                        partition_index: p,
                        committed_offset: self
                            .c
                            .offsets
                            .get(&tp(&t.name, p))
                            .copied()
                            .unwrap_or(-1),
                        ..Default::default()
                    })
                    .collect(),
                name: t.name,
                ..Default::default()
            })
            .collect::<Vec<_>>();
        GroupResponse::FetchOffsets(OffsetFetchResponse {
            topics: topics.clone(),
            groups: vec![OffsetFetchResponseGroup {
                group_id: GROUP.into(),
                topics,
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    // ----- coordinator timers and moves ----------------------------------------------------

    fn coord_schedule(&mut self) {
        let mut t: Vec<u64> = self
            .c
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.awaiting_sync.is_none())
            .map(|m| m.hb_deadline)
            .collect();
        t.extend(self.c.pending.values().copied());
        for m in self.c.cg.members.values() {
            t.push(m.session_deadline);
            t.extend(m.revoke_deadline);
        }
        if self.c.state == St::Preparing {
            t.extend(self.c.join_deadline);
        }
        if !self.c.pending_sync.is_empty() {
            t.extend(self.c.sync_deadline);
        }
        if let Some(at) = t.into_iter().min() {
            let at = at.max(self.c.loading_until).max(self.now + 1);
            if self.c.timer_at.is_none_or(|x| x > at || x < self.now) {
                self.c.timer_at = Some(at);
                self.push(at, Ev::CoordTimer);
            }
        }
    }

    fn coord_timers(&mut self) {
        let now = self.now;
        if now < self.c.loading_until {
            return self.coord_schedule();
        }
        let expired: Vec<String> = self
            .c
            .members
            .iter()
            .filter(|(_, m)| {
                m.hb_deadline <= now && m.awaiting_join.is_none() && m.awaiting_sync.is_none()
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.hit(Hit::SessionExpired);
            self.remove_member(&id, "session expired");
        }
        self.cg_timers();
        let pend: Vec<String> = self
            .c
            .pending
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in pend {
            self.c.pending.remove(&id);
            self.maybe_complete_join();
        }
        if self.c.state == St::Preparing && self.c.join_deadline.is_some_and(|d| d <= now) {
            if self.c.initial_phase {
                self.c.initial_phase = false;
            }
            self.complete_join();
        }
        if matches!(self.c.state, St::Completing | St::Stable)
            && self.c.sync_deadline.is_some_and(|d| d <= now)
        {
            self.c.sync_deadline = None;
            let late: Vec<String> = self.c.pending_sync.iter().cloned().collect();
            self.c.pending_sync.clear();
            for id in late {
                self.hit(Hit::PendingSyncExpired);
                self.remove_member(&id, "no SyncGroup within the rebalance timeout");
            }
        }
        self.coord_schedule();
    }

    fn coord_move(&mut self, node: i32, gap: u64, load: u64) {
        self.hit(Hit::CoordinatorMove);
        let old = self.c.node;
        self.log(|| format!("coordinator moves from n{old} to n{node}"));
        // The old coordinator answers what it holds NOT_COORDINATOR.
        let held: Vec<u64> = self
            .c
            .members
            .values_mut()
            .flat_map(|m| [m.awaiting_join.take(), m.awaiting_sync.take()])
            .flatten()
            .collect();
        for h in held {
            let req = self.reqs.get(&h).map(|q| q.req.clone());
            if let Some(req) = req {
                self.answer(h, error_answer(&req, NOT_COORDINATOR));
            }
        }
        let s = self.c.snapshot.clone();
        self.c.node = node;
        self.c.gap_until = self.now + gap;
        self.c.loading_until = self.now + gap + load;
        self.c.generation = s.generation;
        self.c.protocol = s.protocol;
        self.c.leader = s.leader;
        self.c.members = s.members;
        self.c.statics = s.statics;
        self.c.pending.clear();
        self.c.join_deadline = None;
        self.c.initial_phase = false;
        self.c.sync_deadline = None;
        self.c.pending_sync.clear();
        self.c.state = if self.c.members.is_empty() {
            St::Empty
        } else {
            St::Stable
        };
        let at = self.c.loading_until;
        self.push(at, Ev::LoadDone);
    }
}

// ----- the consumer protocol's coordinator (KIP-848) -------------------------------------

fn owns_revoked(
    owned: Option<&BTreeSet<TopicPartition>>,
    revoking: &BTreeSet<TopicPartition>,
) -> bool {
    owned.is_none_or(|o| !o.is_disjoint(revoking))
}

impl Sim {
    /// Topic ids as the brokers' metadata gives them.
    fn topic_ids(&self) -> HashMap<Uuid, String> {
        self.plan
            .topics
            .iter()
            .enumerate()
            .map(|(i, (t, _))| (Uuid([i as u8 + 1; 16]), t.clone()))
            .collect()
    }

    fn topic_id(&self, name: &str) -> Uuid {
        let i = self
            .plan
            .topics
            .iter()
            .position(|t| t.0 == name)
            .expect("topic");
        Uuid([i as u8 + 1; 16])
    }

    fn tps_of(&self, v: &[ConsumerGroupHeartbeatTopicPartitions]) -> BTreeSet<TopicPartition> {
        let ids = self.topic_ids();
        v.iter()
            .filter_map(|t| ids.get(&t.topic_id).map(|n| (n, &t.partitions)))
            .flat_map(|(n, ps)| ps.iter().map(move |p| tp(n, *p)))
            .collect()
    }

    fn by_id(&self, tps: &BTreeSet<TopicPartition>) -> Vec<ConsumerGroupHeartbeatTopicPartitions> {
        let mut m: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
        for p in tps {
            m.entry(self.topic_id(&p.topic))
                .or_default()
                .push(p.partition);
        }
        m.into_iter()
            .map(
                |(topic_id, partitions)| ConsumerGroupHeartbeatTopicPartitions {
                    topic_id,
                    partitions,
                    ..Default::default()
                },
            )
            .collect()
    }

    /// The coordinator's key for a member id.
    fn alias(&self, id: &str) -> String {
        self.aliases
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    fn cg_error(&mut self, code: i16) -> GroupResponse {
        match code {
            FENCED_MEMBER_EPOCH => self.hit(Hit::FencedEpoch),
            UNKNOWN_MEMBER_ID => self.hit(Hit::CgUnknownMember),
            UNRELEASED_INSTANCE_ID => self.hit(Hit::UnreleasedInstance),
            FENCED_INSTANCE_ID => self.hit(Hit::FencedInstance),
            _ => {}
        }
        GroupResponse::ConsumerHeartbeat(ConsumerGroupHeartbeatResponse {
            error_code: code,
            ..Default::default()
        })
    }

    /// ConsumerGroupHeartbeat as `GroupMetadataManager.consumerGroupHeartbeat` decides.
    fn cg_heartbeat(&mut self, client: usize, h: &ConsumerGroupHeartbeatRequest) -> GroupResponse {
        let alias = self.alias(&h.member_id);
        let e = h.member_epoch;
        if e < 0 {
            return self.cg_leave(&alias, h);
        }
        let owned = h.topic_partitions.as_ref().map(|v| self.tps_of(v));
        let now = self.now;
        if e == 0 {
            if let Some(inst) = &h.instance_id {
                if let Some(old) = self.c.cg.statics.get(inst).cloned() {
                    if old != alias {
                        if self.c.cg.members[&old].epoch != member_epoch::LEAVE_STATIC {
                            return self.cg_error(UNRELEASED_INSTANCE_ID);
                        }
                        // The new member takes over the assignment of the one that left.
                        self.hit(Hit::StaticTakeover);
                        self.log(|| format!("coordinator: {alias} replaces static {old}"));
                        let mut m = self.c.cg.members.remove(&old).expect("static");
                        m.real = h.member_id.clone();
                        m.client = client;
                        m.epoch = 0;
                        m.prev_epoch = 0;
                        m.state = MSt::Stable;
                        if let Some(t) = self.c.cg.target.remove(&old) {
                            self.c.cg.target.insert(alias.clone(), t);
                        }
                        self.c.cg.members.insert(alias.clone(), m);
                        self.c.cg.statics.insert(inst.clone(), alias.clone());
                    }
                }
            }
            if !self.c.cg.members.contains_key(&alias) {
                self.hit(Hit::CgJoin);
                self.log(|| format!("coordinator: {alias} joins"));
                self.c.cg.members.insert(
                    alias.clone(),
                    CgMember {
                        real: h.member_id.clone(),
                        client,
                        instance: h.instance_id.clone(),
                        topics: Vec::new(),
                        rebalance: 0,
                        epoch: 0,
                        prev_epoch: 0,
                        state: MSt::Stable,
                        assigned: BTreeSet::new(),
                        revoking: BTreeSet::new(),
                        session_deadline: now + self.plan.session,
                        revoke_deadline: None,
                    },
                );
                if let Some(i) = &h.instance_id {
                    self.c.cg.statics.insert(i.clone(), alias.clone());
                }
                self.c.cg.group_epoch += 1;
            }
        } else {
            if let Some(inst) = &h.instance_id {
                match self.c.cg.statics.get(inst) {
                    None => return self.cg_error(UNKNOWN_MEMBER_ID),
                    Some(x) if *x != alias => return self.cg_error(FENCED_INSTANCE_ID),
                    _ => {}
                }
            }
            if !self.c.cg.members.contains_key(&alias) {
                return self.cg_error(UNKNOWN_MEMBER_ID);
            }
        }
        // `throwIfConsumerGroupMemberEpochIsInvalid`.
        let m = &self.c.cg.members[&alias];
        if e > m.epoch
            || (e < m.epoch
                && (e != m.prev_epoch || !owned.as_ref().is_some_and(|o| o.is_subset(&m.assigned))))
        {
            return self.cg_error(FENCED_MEMBER_EPOCH);
        }
        if e < m.epoch {
            self.hit(Hit::PreviousEpochAccepted);
        }
        let session = self.plan.session;
        let m = self.c.cg.members.get_mut(&alias).expect("member");
        m.session_deadline = now + session;
        m.client = client;
        if h.rebalance_timeout_ms > 0 {
            m.rebalance = h.rebalance_timeout_ms as u64;
        }
        let mut bump = false;
        if let Some(t) = &h.subscribed_topic_names {
            if *t != m.topics {
                m.topics = t.clone();
                bump = true;
            }
        }
        let before = m.assigned.clone();
        if bump {
            self.c.cg.group_epoch += 1;
        }
        self.cg_maybe_assign();
        self.cg_reconcile(&alias, owned.as_ref());
        let m = &self.c.cg.members[&alias];
        let full = e == 0
            || (h.rebalance_timeout_ms != -1
                && h.subscribed_topic_names.is_some()
                && h.topic_partitions.is_some());
        let assignment = (full || before != m.assigned).then(|| ConsumerGroupHeartbeatAssignment {
            topic_partitions: self.by_id(&m.assigned),
            ..Default::default()
        });
        GroupResponse::ConsumerHeartbeat(ConsumerGroupHeartbeatResponse {
            member_id: Some(m.real.clone()),
            member_epoch: m.epoch,
            heartbeat_interval_ms: self.plan.heartbeat as i32,
            assignment,
            ..Default::default()
        })
    }

    fn cg_leave(&mut self, alias: &str, h: &ConsumerGroupHeartbeatRequest) -> GroupResponse {
        if let Some(inst) = &h.instance_id {
            if self.c.cg.statics.get(inst).is_some_and(|x| x != alias) {
                return self.cg_error(FENCED_INSTANCE_ID);
            }
        }
        let Some(m) = self.c.cg.members.get_mut(alias) else {
            return self.cg_error(UNKNOWN_MEMBER_ID);
        };
        if h.member_epoch == member_epoch::LEAVE_STATIC && m.instance.is_some() {
            // Kept, with its assignment, until its session runs out or it is replaced.
            m.prev_epoch = m.epoch;
            m.epoch = member_epoch::LEAVE_STATIC;
            m.revoke_deadline = None;
            self.hit(Hit::StaticLeaveKept);
            self.log(|| format!("coordinator: static {alias} left (kept)"));
        } else {
            self.hit(Hit::CgLeave);
            self.cg_remove(alias, "left");
        }
        GroupResponse::ConsumerHeartbeat(ConsumerGroupHeartbeatResponse {
            member_id: Some(h.member_id.clone()),
            member_epoch: h.member_epoch,
            ..Default::default()
        })
    }

    fn cg_remove(&mut self, alias: &str, why: &str) {
        let Some(m) = self.c.cg.members.remove(alias) else {
            return;
        };
        self.log(|| format!("coordinator: {alias} removed ({why})"));
        if let Some(i) = &m.instance {
            if self.c.cg.statics.get(i).is_some_and(|x| x == alias) {
                self.c.cg.statics.remove(i);
            }
        }
        self.c.cg.target.remove(alias);
        self.c.cg.group_epoch += 1;
    }

    /// A new target assignment when the group epoch moved on.
    fn cg_maybe_assign(&mut self) {
        if self.c.cg.group_epoch <= self.c.cg.assign_epoch {
            return;
        }
        self.hit(Hit::TargetComputed);
        let range = self.plan.cg.as_ref().is_some_and(|c| c.assignor == "range");
        let members = &self.c.cg.members;
        let mut out: BTreeMap<String, BTreeSet<TopicPartition>> = members
            .keys()
            .map(|k| (k.clone(), BTreeSet::new()))
            .collect();
        let mut next = 0usize;
        for (t, n) in &self.plan.topics {
            let subs: Vec<&String> = members
                .iter()
                .filter(|(_, m)| m.topics.contains(t))
                .map(|(k, _)| k)
                .collect();
            if subs.is_empty() {
                continue;
            }
            let (n, k) = (*n as usize, subs.len());
            for p in 0..n {
                let i = if range {
                    // Contiguous ranges, the first n % k one longer.
                    let (per, extra) = (n / k, n % k);
                    if p < extra * (per + 1) {
                        p / (per + 1)
                    } else {
                        extra + (p - extra * (per + 1)) / per
                    }
                } else {
                    next += 1;
                    (next - 1) % k
                };
                out.get_mut(subs[i])
                    .expect("member")
                    .insert(tp(t, p as i32));
            }
        }
        self.c.cg.target = out;
        self.c.cg.assign_epoch = self.c.cg.group_epoch;
        let (e, t) = (self.c.cg.assign_epoch, self.c.cg.target.clone());
        self.log(|| format!("coordinator: target of epoch {e}: {t:?}"));
    }

    /// `CurrentAssignmentBuilder`: moves the member towards its target, revoking first;
    /// a partition is given once no other member holds it (assigned or being revoked).
    fn cg_reconcile(&mut self, alias: &str, owned: Option<&BTreeSet<TopicPartition>>) {
        let target_epoch = self.c.cg.assign_epoch;
        let m = self.c.cg.members[alias].clone();
        let go = match m.state {
            MSt::Stable => m.epoch != target_epoch,
            MSt::UnrevokedPartitions => !owns_revoked(owned, &m.revoking),
            MSt::UnreleasedPartitions => true,
        };
        if !go || m.epoch < 0 {
            return;
        }
        let target: BTreeSet<TopicPartition> = self
            .c
            .cg
            .target
            .get(alias)
            .into_iter()
            .flatten()
            .filter(|p| m.topics.contains(&p.topic))
            .cloned()
            .collect();
        let keep: BTreeSet<TopicPartition> = m.assigned.intersection(&target).cloned().collect();
        let revoke: BTreeSet<TopicPartition> = m.assigned.difference(&keep).cloned().collect();
        let held: BTreeSet<&TopicPartition> = self
            .c
            .cg
            .members
            .iter()
            .filter(|(k, _)| k.as_str() != alias)
            .flat_map(|(_, o)| o.assigned.iter().chain(o.revoking.iter()))
            .collect();
        let mut add = BTreeSet::new();
        let mut unreleased = false;
        for p in target.difference(&keep) {
            if held.contains(p) && !m.revoking.contains(p) {
                unreleased = true;
            } else {
                add.insert(p.clone());
            }
        }
        let mut n = m.clone();
        n.prev_epoch = m.epoch;
        if !revoke.is_empty() && owns_revoked(owned, &revoke) {
            self.hit(Hit::ReconcileRevoke);
            n.state = MSt::UnrevokedPartitions;
            n.assigned = keep;
            n.revoking = revoke;
        } else {
            n.assigned = keep.union(&add).cloned().collect();
            n.revoking.clear();
            n.epoch = target_epoch;
            n.state = if unreleased {
                self.hit(Hit::UnreleasedWait);
                MSt::UnreleasedPartitions
            } else {
                MSt::Stable
            };
        }
        // The rebalance timeout runs from the request to revoke.
        if n.state != MSt::UnrevokedPartitions {
            n.revoke_deadline = None;
        } else if m.state != MSt::UnrevokedPartitions || m.epoch != n.epoch {
            n.revoke_deadline = Some(self.now + n.rebalance);
        }
        self.c.cg.members.insert(alias.to_string(), n);
    }

    fn cg_timers(&mut self) {
        let now = self.now;
        let expired: Vec<String> = self
            .c
            .cg
            .members
            .iter()
            .filter(|(_, m)| m.session_deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            self.hit(Hit::CgSessionExpired);
            self.cg_remove(&k, "session expired");
        }
        let late: Vec<String> = self
            .c
            .cg
            .members
            .iter()
            .filter(|(_, m)| m.revoke_deadline.is_some_and(|d| d <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in late {
            self.hit(Hit::RebalanceTimeoutFenced);
            self.cg_remove(&k, "did not revoke within the rebalance timeout");
        }
        self.cg_maybe_assign();
    }

    /// OffsetCommit as `ConsumerGroup.validateOffsetCommit` decides.
    fn cg_offset_commit(&mut self, client: usize, c: &OffsetCommitRequest) -> OffsetCommitResponse {
        let e = c.generation_id_or_member_epoch;
        let alias = self.alias(&c.member_id);
        let mut code = if e < 0 && self.c.cg.members.is_empty() {
            NONE
        } else {
            match self.c.cg.members.get(&alias) {
                None => UNKNOWN_MEMBER_ID,
                Some(m) if m.epoch != e => STALE_MEMBER_EPOCH,
                Some(_) => NONE,
            }
        };
        if self.plant == Plant::StaleCommit && code != NONE {
            self.plant_fired = true;
            code = NONE;
        }
        match code {
            NONE => self.hit(Hit::CommitAccepted),
            UNKNOWN_MEMBER_ID => self.hit(Hit::CommitUnknownMember),
            _ => self.hit(Hit::StaleCommit),
        }
        if code == NONE {
            self.cg_check_accepted(client, c);
            for t in &c.topics {
                for p in &t.partitions {
                    self.c
                        .offsets
                        .insert(tp(&t.name, p.partition_index), p.committed_offset);
                }
            }
        }
        commit_answer(c, code)
    }

    /// Invariant 1 (consumer protocol), coordinator side: the member's current epoch, and
    /// no other member owns one of the partitions.
    fn cg_check_accepted(&mut self, client: usize, c: &OffsetCommitRequest) {
        let e = c.generation_id_or_member_epoch;
        let alias = self.alias(&c.member_id);
        let current = (e < 0 && self.c.cg.members.is_empty())
            || self.c.cg.members.get(&alias).is_some_and(|m| m.epoch == e);
        if !current {
            let now_e = self.c.cg.members.get(&alias).map(|m| m.epoch);
            return self.fail(format!(
                "coordinator accepted a commit from c{client} with epoch {e}; the member's \
                 epoch is {now_e:?}"
            ));
        }
        let members = self.member_clients();
        for t in &c.topics {
            for p in &t.partitions {
                let x = tp(&t.name, p.partition_index);
                for (o, k) in self.clients.iter().enumerate() {
                    if o != client && k.alive && members.contains(&o) && k.owned.contains_key(&x) {
                        let msg = format!(
                            "commit of {x} from c{client} (epoch {e}) accepted while c{o} owns it"
                        );
                        return self.fail(msg);
                    }
                }
            }
        }
    }

    /// OffsetFetch with a member id and epoch (consumer protocol): the member must be
    /// known and the epoch its current one.
    fn cg_validate_fetch(&mut self, f: &OffsetFetchRequest) -> i16 {
        if self.plan.cg.is_none() {
            return NONE;
        }
        let Some(g) = f.groups.first() else {
            return NONE;
        };
        let Some(id) = g.member_id.as_deref().filter(|_| g.member_epoch >= 0) else {
            return NONE;
        };
        let code = match self.c.cg.members.get(&self.alias(id)) {
            None => UNKNOWN_MEMBER_ID,
            Some(m) if m.epoch != g.member_epoch => STALE_MEMBER_EPOCH,
            Some(_) => NONE,
        };
        if code == STALE_MEMBER_EPOCH {
            self.hit(Hit::StaleFetch);
        }
        code
    }

    /// Invariant 4 (consumer protocol).
    fn cg_check_end(&mut self, live: BTreeSet<usize>) {
        let cg = &self.c.cg;
        let members = self.member_clients();
        if members != live {
            return self.fail(format!(
                "members at the end {members:?}, live members {live:?}"
            ));
        }
        if cg.assign_epoch != cg.group_epoch {
            return self.fail("no target for the last group epoch at the end".into());
        }
        let mut owner: BTreeMap<TopicPartition, usize> = BTreeMap::new();
        for (alias, m) in &cg.members {
            let c = m.client;
            let k = &self.clients[c];
            if m.state != MSt::Stable || m.epoch != cg.assign_epoch {
                let (st, e, a) = (m.state, m.epoch, cg.assign_epoch);
                return self.fail(format!(
                    "{alias} (c{c}) {st:?} in epoch {e}, the target's {a}, at the end"
                ));
            }
            if k.g.generation().map(|g| g.0) != Some(m.epoch) {
                let g = k.g.generation();
                let e = m.epoch;
                return self.fail(format!("c{c} at {g:?}, the coordinator's epoch {e}"));
            }
            if !k.callbacks.is_empty() {
                return self.fail(format!("c{c} still in a rebalance callback at the end"));
            }
            let owned: BTreeSet<TopicPartition> = k.owned.keys().cloned().collect();
            if owned != m.assigned {
                let a = m.assigned.clone();
                return self.fail(format!("c{c} owns {owned:?}, assigned {a:?}"));
            }
            for p in &owned {
                if !k.topics.contains(&p.topic) {
                    return self.fail(format!("c{c} owns {p}, not subscribed"));
                }
                if let Some(o) = owner.insert(p.clone(), c) {
                    return self.fail(format!("{p} owned by c{o} and c{c} at the end"));
                }
            }
        }
        let subscribed: BTreeSet<&String> = live
            .iter()
            .flat_map(|c| self.clients[*c].topics.iter())
            .collect();
        for (t, n) in &self.plan.topics {
            if !subscribed.contains(t) {
                continue;
            }
            for p in 0..*n {
                if !owner.contains_key(&tp(t, p)) {
                    let msg = format!("{t}-{p} owned by no live member at the end");
                    return self.fail(msg);
                }
            }
        }
    }
}

// ----- running seeds ----------------------------------------------------------------------

#[derive(Debug)]
struct Totals {
    sim_ms: u64,
    clients: u64,
    max_overhang: i64,
}

impl Default for Totals {
    fn default() -> Totals {
        Totals {
            sim_ms: 0,
            clients: 0,
            max_overhang: i64::MIN,
        }
    }
}

impl Tally for Totals {
    type Sim = Sim;

    fn add(&mut self, _seed: u64, s: &Sim) {
        self.sim_ms += s.now;
        self.clients += s.clients.len() as u64;
        self.max_overhang = self.max_overhang.max(s.max_overhang);
    }
    fn merge(&mut self, o: Totals) {
        self.sim_ms += o.sim_ms;
        self.clients += o.clients;
        self.max_overhang = self.max_overhang.max(o.max_overhang);
    }
}

fn run_seed(seed: u64, plant: Plant, trace: bool) -> (Result<(), String>, Sim) {
    let mut sim = Sim::new(seed, plant, trace);
    let res = catch_panic(|| sim.run());
    (res, sim)
}

fn replay_hint(seed: u64) -> String {
    format!(
        "replay: SIM_TRACE=1 SIM_SEED={seed} cargo test --release --test sim_group -- \
         --nocapture sim_group_seeds"
    )
}

impl Scenario for Sim {
    type Totals = Totals;

    fn describe(&self) -> String {
        let p = &self.plan;
        format!(
            "plan: assignors {:?}, topics {:?}, slots {:?}, session {} ms, heartbeat {} ms, \
         max.poll {} ms, request timeout {} ms, initial delay {} ms, net ≤{} ms, drop {:.3}/{:.3}, \
         faults end {} ms, end {} ms, {} changes",
            p.assignors.iter().map(|a| a.name()).collect::<Vec<_>>(),
            p.topics,
            p.slots
                .iter()
                .map(|s| (&s.instance, &s.topics))
                .collect::<Vec<_>>(),
            p.session,
            p.heartbeat,
            p.max_poll,
            p.request_timeout,
            p.initial_delay,
            p.net_max,
            p.p_drop,
            p.p_drop_answer,
            p.faults_end,
            p.end,
            p.changes.len(),
        )
    }

    fn show_plan(&self) -> String {
        format!("{}\n{:#?}", self.describe(), self.plan)
    }

    fn record(&self) -> &Record {
        &self.rec
    }
}

/// The seeded scenarios: `SIM_SEED=<n>` runs one (`SIM_TRACE=1` prints it), `SIM_SEEDS=<n>`
/// sets how many (default 10,000); `SIM_KEEP_GOING=1` lists every failing seed.
#[test]
fn sim_group_seeds() {
    let plant = Plant::from_env();
    let runner = Runner::new(DEFAULT_SEEDS, 4, RUN_LIMIT, replay_hint);
    let Some(ran) = run_seeds(&runner, move |seed, trace| run_seed(seed, plant, trace)) else {
        return;
    };
    let totals = &ran.sums.totals;
    println!(
        "sim_group: {}, {} member processes, {:.0} s simulated; the longest an owner went \
         without contact beyond session.timeout.ms: {} ms",
        ran.summary(),
        totals.clients,
        totals.sim_ms as f64 / 1e3,
        totals.max_overhang,
    );
    ran.print_coverage(Hit::ALL, 28);
    ran.finish(Hit::ALL, plant == Plant::None);
}

/// A seed replays exactly: the same events, the same trace.
#[test]
fn sim_group_replays_exactly() {
    with_timeout(Duration::from_secs(30), || {
        assert_replays(&[1, 77, 4242], |seed, trace| {
            run_seed(seed, Plant::None, trace)
        });
    });
}

/// The checks bite: with a bug planted, seeds fail.
#[test]
fn sim_group_checker_catches_planted_bugs() {
    with_timeout(Duration::from_secs(60), || {
        for (plant, seeds) in [(Plant::StaleCommit, 800u64), (Plant::IgnoreLost, 800)] {
            let (mut fired, mut caught) = (0u64, 0u64);
            for seed in 0..seeds {
                let (res, sim) = run_seed(seed, plant, false);
                if !sim.plant_fired {
                    continue;
                }
                if run_seed(seed, Plant::None, false).0.is_err() {
                    continue;
                }
                fired += 1;
                if let Err(msg) = res {
                    assert!(!msg.starts_with("panic"), "{plant:?} seed {seed}: {msg}");
                    caught += 1;
                }
            }
            println!("planted {plant:?}: fired on {fired} of {seeds} seeds, reported on {caught}");
            assert!(caught >= 5, "{plant:?} reported on only {caught} seeds");
        }
    });
}

/// Seeds beyond the default range that once failed, run every time.
/// * 19297: a member whose heartbeat timed out waited for its commits before rejoining,
///   with its partitions, well past session.timeout.ms without contact.
#[test]
fn sim_group_seeds_that_once_failed() {
    with_timeout(Duration::from_secs(60), || {
        for seed in [19297u64] {
            if let Err(msg) = run_seed(seed, Plant::None, false).0 {
                panic!("seed {seed}: {msg}");
            }
        }
    });
}
