//! The transactional producer's state machine (`kafkac::producer::Txn`) in a
//! deterministic simulation: an application runs transactions through it against a
//! simulated transaction coordinator that follows Kafka's rules (producer epochs,
//! fencing, EndTxn retries, protocol v1 with AddPartitionsToTxn and AddOffsetsToTxn,
//! protocol v2 with implicit partitions and an epoch bump at every end), with faults:
//!
//! * the coordinator moves to another broker (NOT_COORDINATOR until the client looks it
//!   up again), is not available, or is loading;
//! * requests are lost before the coordinator sees them, and answers after it acted;
//! * CONCURRENT_TRANSACTIONS;
//! * the coordinator aborts a transaction that outlived its timeout, and fences the
//!   producer (bumps the epoch);
//! * a second instance with the same transactional id starts and fences the first;
//! * messages fail (the transaction must abort);
//! * v1: the application aborts while the sender's AddPartitionsToTxn is in flight (it
//!   reaches the coordinator during the abort);
//! * the application's calls run out of time and are called again (resumed), sometimes
//!   after a pause long enough for the coordinator's timeout.
//!
//! What must hold for every seed: every transaction the application began ends, and the
//! application is told how: committed (the coordinator committed it: its records and
//! offsets are visible), aborted (the coordinator never committed it), or, only when a
//! commit request went unanswered and the producer was then fenced, unknown. No call
//! sequence leaves the application stuck: abort, or for a fatal error giving up the
//! producer, always ends the transaction. A producer ends fatal only when the
//! coordinator changed its epoch behind its back (another instance, or a transaction
//! past its timeout).
//!
//! `SIM_SEEDS`, `SIM_SEED`, `SIM_TRACE`, `SIM_KEEP_GOING`: see `tests/common/sim.rs`.

mod common;

use common::sim::{assert_replays, catch_panic, run_seeds, Record, Rng, Runner, Scenario, Tally};
use common::with_timeout;
use kafkac::error::{local, Error};
use kafkac::producer::state::Pid;
use kafkac::producer::txn::{Outcome, Step, Txn, TxnError, TxnState};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

const DEFAULT_SEEDS: u64 = 100_000;
const RUN_LIMIT: Duration = Duration::from_secs(240);
/// The coordinator aborts a transaction open longer than this (simulated ms).
const TXN_TIMEOUT: u64 = 2_000;
/// A scenario that takes more steps than this is stuck.
const MAX_STEPS: u64 = 20_000;

hits!(
    Committed,
    Aborted,
    AbortableRecovered,
    Fenced,
    BrokerTimeout,
    CoordinatorMoved,
    LostRequest,
    LostAnswer,
    Concurrent,
    Loading,
    CallTimedOutResumed,
    MessageFailed,
    OffsetsCommitted,
    EpochBumpV1,
    EndRetriedAfterLostAnswer,
    AbortDuringAdd,
    UnknownOutcome,
    PreviousConfirmed,
    PreviousStillCompleting,
    V1,
    V2,
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CoordState {
    Empty,
    Ongoing,
    CompleteCommit,
    CompleteAbort,
}

/// The simulated transaction coordinator (and the partitions' logs, as far as
/// visibility goes).
struct Coordinator {
    node: i32,
    pid: i64,
    epoch: i16,
    /// The epoch before the last bump made by an EndTxn (v2 retries).
    last_end_epoch: Option<i16>,
    /// The epoch before the last bump made by an InitProducerId (its retries).
    last_init_epoch: Option<i16>,
    /// The epoch was changed behind the producer's back (another instance, a
    /// transaction past its timeout): a fatal error is the producer's due.
    fenced: bool,
    state: CoordState,
    started: u64,
    /// The client transactions whose records or offsets the ongoing transaction holds.
    tags: BTreeSet<usize>,
    /// v1: partitions and groups in the ongoing transaction.
    parts: BTreeSet<(String, i32)>,
    groups: BTreeSet<String>,
    /// Client transactions committed and aborted by the coordinator.
    committed: BTreeSet<usize>,
    aborted: BTreeSet<usize>,
    /// The last abort came from the timeout (v2 answers INVALID_TXN_STATE then).
    timed_out: bool,
    v2: bool,
}

impl Coordinator {
    fn end_ongoing(&mut self, commit: bool) {
        if self.state == CoordState::Ongoing {
            let tags = std::mem::take(&mut self.tags);
            if commit {
                self.committed.extend(tags);
            } else {
                self.aborted.extend(tags);
            }
        }
        self.parts.clear();
        self.groups.clear();
        self.state = if commit {
            CoordState::CompleteCommit
        } else {
            CoordState::CompleteAbort
        };
    }

    /// InitProducerId (NONE: a new instance; else a bump by the same one), as Kafka's
    /// coordinator answers it.
    fn init(&mut self, pid: Pid) -> (i16, Pid) {
        let cur = Pid {
            id: self.pid,
            epoch: self.epoch,
        };
        if pid != Pid::NONE {
            if pid.epoch != self.epoch {
                // A retry of a bump whose answer was lost gets the epoch it made.
                if self.last_init_epoch == Some(pid.epoch) && self.state != CoordState::Ongoing {
                    return (0, cur);
                }
                return (90, Pid::NONE);
            }
            if self.state == CoordState::Ongoing {
                // A bump while a transaction is in progress fences it: the coordinator
                // aborts it with a new epoch and answers CONCURRENT_TRANSACTIONS; the
                // retry, with the old epoch, is fenced.
                self.end_ongoing(false);
                self.epoch += 1;
                self.last_init_epoch = None;
                self.last_end_epoch = None;
                return (51, Pid::NONE);
            }
        }
        self.end_ongoing(false);
        self.last_init_epoch = (pid != Pid::NONE).then_some(self.epoch);
        self.epoch += 1;
        self.last_end_epoch = None;
        self.timed_out = false;
        (
            0,
            Pid {
                id: self.pid,
                epoch: self.epoch,
            },
        )
    }

    fn check_epoch(&self, pid: Pid) -> Result<(), i16> {
        if pid.epoch != self.epoch {
            return Err(if self.v2 { 47 } else { 90 });
        }
        Ok(())
    }

    fn join(&mut self, now: u64, tag: usize) {
        if self.state != CoordState::Ongoing {
            self.state = CoordState::Ongoing;
            self.started = now;
        }
        self.tags.insert(tag);
    }

    fn end(&mut self, pid: Pid, commit: bool) -> (i16, Pid) {
        let result = if commit {
            CoordState::CompleteCommit
        } else {
            CoordState::CompleteAbort
        };
        let cur = Pid {
            id: self.pid,
            epoch: self.epoch,
        };
        if pid.epoch != self.epoch {
            // v2: a retry of the end that bumped the epoch.
            if self.v2 && self.last_end_epoch == Some(pid.epoch) && self.state == result {
                return (0, cur);
            }
            if self.v2 && self.timed_out && pid.epoch + 1 == self.epoch {
                return (48, Pid::NONE);
            }
            return (if self.v2 { 47 } else { 90 }, Pid::NONE);
        }
        match self.state {
            CoordState::Ongoing => {
                self.end_ongoing(commit);
                if self.v2 {
                    self.last_end_epoch = Some(self.epoch);
                    self.epoch += 1;
                    return (
                        0,
                        Pid {
                            id: self.pid,
                            epoch: self.epoch,
                        },
                    );
                }
                // Before EndTxn v5 the answer carries no producer id.
                (0, Pid::NONE)
            }
            s if s == result && !self.v2 => (0, Pid::NONE),
            // v2: an abort with the current epoch and no transaction in progress bumps
            // the epoch (the producer cannot know whether a Produce began one).
            _ if self.v2 && !commit => {
                self.end_ongoing(false);
                self.last_end_epoch = Some(self.epoch);
                self.epoch += 1;
                (
                    0,
                    Pid {
                        id: self.pid,
                        epoch: self.epoch,
                    },
                )
            }
            _ => (48, Pid::NONE),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Told {
    Committed,
    Aborted,
    Unknown,
}

struct Plan {
    v2: bool,
    txns: usize,
    p_lost_req: f64,
    p_lost_ans: f64,
    p_move: f64,
    p_concurrent: f64,
    p_msg_fail: f64,
    p_fence: f64,
    p_pause: f64,
    /// Steps a call may take before it times out.
    call_budget: u64,
}

struct Sim {
    plan: Plan,
    rng: Rng,
    now: u64,
    steps: u64,
    coord: Coordinator,
    /// The broker the coordinator moved from (answers NOT_COORDINATOR).
    txn: Txn,
    /// What the application was told, per transaction it began.
    told: Vec<Option<Told>>,
    /// Client transactions that wrote records (or offsets).
    wrote: BTreeSet<usize>,
    fenced_by_other: bool,
    /// v1: an AddPartitionsToTxn sent before an abort began, not yet arrived.
    add_in_flight: Option<(Pid, Vec<(String, i32)>)>,
    /// An EndTxn was applied and its answer lost.
    end_lost: bool,
    /// A planted bug: a fatal error in a transaction is taken for a commit.
    plant: bool,
    rec: Record,
}

impl Sim {
    fn hit(&mut self, h: Hit) {
        self.rec.hits[h as usize] += 1;
    }

    fn log(&mut self, s: impl FnOnce() -> String) {
        self.rec.events += 1;
        if let Some(t) = self.rec.trace.as_mut() {
            let _ = writeln!(t, "[{:>6}] {}", self.now, s());
        }
    }

    /// Time passes; the coordinator aborts a transaction past its timeout and fences the
    /// producer; now and then another instance fences this one.
    fn tick(&mut self, ms: u64) {
        self.now += ms;
        if self.coord.state == CoordState::Ongoing && self.now - self.coord.started > TXN_TIMEOUT {
            self.coord.end_ongoing(false);
            self.coord.epoch += 1;
            self.coord.timed_out = true;
            self.coord.fenced = true;
            self.coord.last_end_epoch = None;
            self.coord.last_init_epoch = None;
            self.hit(Hit::BrokerTimeout);
            self.log(|| "coordinator: transaction timed out, aborted, epoch bumped".into());
        }
        if !self.fenced_by_other && self.rng.chance(self.plan.p_fence) {
            self.fenced_by_other = true;
            self.coord.init(Pid::NONE);
            self.coord.fenced = true;
            self.hit(Hit::Fenced);
            self.log(|| "another instance: InitProducerId (fences this one)".into());
        }
        if self.rng.chance(self.plan.p_move) {
            self.coord.node = 1 + ((self.coord.node as u64 + self.rng.below(2)) % 3) as i32;
            self.hit(Hit::CoordinatorMoved);
            let node = self.coord.node;
            self.log(|| format!("coordinator moved to broker {node}"));
        }
    }

    /// Time passes: `base` ms and up to `spread` more.
    fn pass(&mut self, base: u64, spread: u64) {
        let ms = base + self.rng.below(spread);
        self.tick(ms);
    }

    /// A request to the transaction coordinator at `node`: `Err` when no answer came
    /// (the request lost, or its answer after `f` ran).
    fn request<T>(
        &mut self,
        node: Option<i32>,
        f: impl FnOnce(&mut Coordinator) -> T,
    ) -> Result<Result<T, i16>, Error> {
        self.pass(1, 20);
        if self.rng.chance(self.plan.p_lost_req) {
            self.hit(Hit::LostRequest);
            return Err(Error::new(local::TRANSPORT, "request lost"));
        }
        if node != Some(self.coord.node) {
            return Ok(Err(16));
        }
        if self.rng.chance(self.plan.p_concurrent) {
            self.hit(Hit::Concurrent);
            return Ok(Err(if self.rng.chance(0.5) { 51 } else { 14 }));
        }
        let r = f(&mut self.coord);
        if self.rng.chance(self.plan.p_lost_ans) {
            self.hit(Hit::LostAnswer);
            return Err(Error::new(local::TRANSPORT, "answer lost"));
        }
        Ok(Ok(r))
    }

    /// The sender's AddPartitionsToTxn for `want`, made with `pid`, reaches the
    /// coordinator (or is lost), and its answer the producer.
    fn add_partitions(&mut self, tag: usize, pid: Pid, want: Vec<(String, i32)>) {
        let node = self.txn.coordinator;
        let now = self.now;
        let r = self.request(node, |c| {
            if let Err(code) = c.check_epoch(pid) {
                return want.iter().map(|(t, p)| (t.clone(), *p, code)).collect();
            }
            c.join(now, tag);
            for w in &want {
                c.parts.insert(w.clone());
            }
            want.iter().map(|(t, p)| (t.clone(), *p, 0)).collect()
        });
        let r = match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(code)) => Ok(self
                .txn
                .adding_now()
                .into_iter()
                .map(|(t, p)| (t, p, code))
                .collect()),
            Err(e) => Err(e),
        };
        self.txn.on_partitions_added(r);
    }

    /// Sends one batch of transaction `tag` to partition `p` (the sender's part).
    fn produce(&mut self, tag: usize, p: i32) -> Result<(), ()> {
        let topic = "out";
        if self.txn.check_send().is_err() {
            return Err(());
        }
        for _ in 0..50 {
            if self.txn.partition_ready(topic, p) {
                break;
            }
            // v2: after an EndTxn, DescribeTransactions until the coordinator says the last
            // transaction is complete (an error or no answer: the batch goes anyway).
            if self.txn.confirm_pending() {
                let node = self.txn.coordinator;
                let r = self.request(node, |c| match c.state {
                    CoordState::Empty => "Empty",
                    CoordState::Ongoing => "Ongoing",
                    CoordState::CompleteCommit => "CompleteCommit",
                    CoordState::CompleteAbort => "CompleteAbort",
                });
                let state = match r {
                    Ok(Ok(s)) => Some(s),
                    // The markers still being written.
                    Ok(Err(51)) => Some("PrepareCommit"),
                    _ => None,
                };
                if self.txn.on_previous_state(state) {
                    self.hit(Hit::PreviousStillCompleting);
                } else if state.is_some() {
                    self.hit(Hit::PreviousConfirmed);
                }
                continue;
            }
            // v1: AddPartitionsToTxn first.
            if self.txn.coordinator.is_none() {
                let (code, node) = self.find_coordinator();
                if code == 0 {
                    self.txn.coordinator = Some(node);
                }
                continue;
            }
            let want = self.txn.partitions_to_add();
            if want.is_empty() {
                continue;
            }
            let pid = self.txn.pid;
            self.add_partitions(tag, pid, want);
            if !self.txn.may_send() {
                return Err(());
            }
        }
        if !self.txn.partition_ready(topic, p) {
            return Err(());
        }
        self.pass(1, 10);
        if self.rng.chance(self.plan.p_msg_fail) {
            self.hit(Hit::MessageFailed);
            self.log(|| format!("batch of txn {tag} to {p} failed"));
            self.txn
                .message_failed(&Error::new(local::MSG_TIMED_OUT, "message timed out"));
            // Its sequence numbers leave a gap: the producer needs a new epoch.
            self.txn.bump_needed = true;
            return Err(());
        }
        // The partition leader checks the epoch (and, v1, that the partition is in the
        // transaction: KIP-890 part 1).
        let c = &mut self.coord;
        if self.txn.pid.epoch != c.epoch {
            let e = Error::new(90, "PRODUCER_FENCED on Produce");
            self.log(|| "produce: fenced".into());
            self.txn.producer_fatal(&e);
            return Err(());
        }
        let in_txn = c.state == CoordState::Ongoing && c.parts.contains(&(topic.into(), p));
        if !c.v2 && !in_txn {
            self.txn
                .message_failed(&Error::new(48, "INVALID_TXN_STATE on Produce"));
            return Err(());
        }
        let now = self.now;
        c.join(now, tag);
        self.wrote.insert(tag);
        self.log(|| format!("produce: txn {tag} wrote to partition {p}"));
        Ok(())
    }

    fn find_coordinator(&mut self) -> (i16, i32) {
        self.pass(1, 10);
        if self.rng.chance(self.plan.p_concurrent) {
            self.hit(Hit::Loading);
            return (15, -1);
        }
        (0, self.coord.node)
    }

    /// Drives the operation in progress for up to the call's budget of steps. `tag`: the
    /// application's transaction.
    fn drive(&mut self, tag: usize, pending: &mut Vec<i32>) -> Result<(), TxnError> {
        let mut budget = self.plan.call_budget;
        loop {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                panic!(
                    "stuck: more than {MAX_STEPS} steps (state {:?})",
                    self.txn.state
                );
            }
            // The AddPartitionsToTxn in flight since before an abort arrives, sooner or
            // later.
            if self.add_in_flight.is_some() && self.rng.chance(0.5) {
                let (pid, want) = self.add_in_flight.take().expect("checked");
                self.log(|| format!("the AddPartitionsToTxn in flight arrives: {want:?}"));
                self.add_partitions(tag, pid, want);
            }
            let step = self.txn.next_step();
            self.log(|| format!("step {step:?}"));
            if let Step::Done(r) = step {
                return r;
            }
            if budget == 0 {
                return Err(TxnError::new(
                    kafkac::producer::ErrorClass::Retriable,
                    Error::timed_out("call timed out"),
                ));
            }
            budget -= 1;
            match step {
                Step::Done(_) => unreachable!(),
                Step::Backoff => self.pass(10, 100),
                Step::FindCoordinator => {
                    if self.rng.chance(self.plan.p_lost_req) {
                        self.txn
                            .on_failure(&Error::new(local::TRANSPORT, "no broker"));
                    } else {
                        let (code, node) = self.find_coordinator();
                        self.txn.on_coordinator(code, node);
                    }
                }
                Step::FindGroupCoordinator { .. } => {
                    self.pass(1, 10);
                    self.txn.on_group_coordinator(0, 1);
                }
                Step::InitProducerId { pid } => {
                    let bump = pid != Pid::NONE;
                    let node = self.txn.coordinator;
                    let v2 = self.plan.v2;
                    match self.request(node, |c| c.init(pid)) {
                        Ok(Ok((code, new))) => {
                            if bump && code == 0 {
                                self.hit(Hit::EpochBumpV1);
                            }
                            self.txn.on_init(code, new, v2)
                        }
                        Ok(Err(code)) => self.txn.on_init(code, Pid::NONE, v2),
                        Err(e) => self.txn.on_failure(&e),
                    }
                }
                Step::WaitMessages { purge } => {
                    if purge {
                        pending.clear();
                    }
                    while let Some(p) = pending.pop() {
                        if self.produce(tag, p).is_err() {
                            pending.clear();
                        }
                    }
                    self.txn.on_messages_settled();
                }
                Step::AddOffsets { pid, group } => {
                    let node = self.txn.coordinator;
                    let now = self.now;
                    let r = self.request(node, |c| {
                        c.check_epoch(pid).map(|()| {
                            c.join(now, tag);
                            c.groups.insert(group.clone());
                        })
                    });
                    match r {
                        Ok(Ok(Ok(()))) => self.txn.on_answer(0),
                        Ok(Ok(Err(code))) | Ok(Err(code)) => self.txn.on_answer(code),
                        Err(e) => self.txn.on_failure(&e),
                    }
                }
                Step::TxnOffsetCommit { pid, group } => {
                    self.pass(1, 10);
                    let c = &mut self.coord;
                    let code = if pid.epoch != c.epoch {
                        47
                    } else if !(c.v2 || c.state == CoordState::Ongoing && c.groups.contains(&group))
                    {
                        48
                    } else {
                        let now = self.now;
                        c.join(now, tag);
                        self.wrote.insert(tag);
                        0
                    };
                    self.txn.on_answer(code);
                }
                Step::EndTxn { pid, commit } => {
                    let node = self.txn.coordinator;
                    match self.request(node, |c| c.end(pid, commit)) {
                        Ok(Ok((code, new))) => {
                            if code == 0 && self.end_lost {
                                self.hit(Hit::EndRetriedAfterLostAnswer);
                            }
                            self.end_lost = false;
                            self.txn.on_end(code, new)
                        }
                        Ok(Err(code)) => self.txn.on_end(code, Pid::NONE),
                        Err(e) => {
                            self.end_lost |= e.message == "answer lost";
                            self.txn.on_failure(&e)
                        }
                    }
                }
            }
        }
    }

    /// Calls an operation until it is not retriable (resuming it), the application
    /// pausing between calls now and then.
    fn call(
        &mut self,
        tag: usize,
        pending: &mut Vec<i32>,
        start: impl Fn(&mut Txn) -> Result<(), TxnError>,
    ) -> Result<(), TxnError> {
        loop {
            start(&mut self.txn)?;
            match self.drive(tag, pending) {
                Err(e) if e.is_retriable() => {
                    self.hit(Hit::CallTimedOutResumed);
                    if self.rng.chance(self.plan.p_pause) {
                        self.pass(TXN_TIMEOUT / 2, TXN_TIMEOUT);
                    }
                }
                r => return r,
            }
        }
    }

    fn run(&mut self) -> Result<(), String> {
        let mut none = Vec::new();
        if let Err(e) = self.call(usize::MAX, &mut none, Txn::begin_init) {
            if e.is_fatal() && self.coord.fenced {
                return Ok(());
            }
            return Err(format!("init failed, not for a fence: {e}"));
        }
        for tag in 0..self.plan.txns {
            if self.txn.begin().is_err() {
                break;
            }
            self.told.push(None);
            self.log(|| format!("app: begin txn {tag}"));
            let mut pending: Vec<i32> = Vec::new();
            let n = self.rng.below(6);
            for _ in 0..n {
                pending.push(self.rng.below(3) as i32);
                // The sender sends some batches before the commit.
                if self.rng.chance(0.5) {
                    let p = pending.pop().expect("pushed");
                    let _ = self.produce(tag, p);
                }
            }
            let mut ok = true;
            if self.rng.chance(0.4) {
                let r = self.call(tag, &mut pending, |t| t.begin_offsets("g"));
                match r {
                    Ok(()) => self.hit(Hit::OffsetsCommitted),
                    Err(e) if e.is_fatal() => {
                        self.conclude(tag)?;
                        return Ok(());
                    }
                    Err(_) => ok = false,
                }
            }
            let commit = ok && self.rng.chance(0.8);
            let r = if commit {
                self.call(tag, &mut pending, Txn::begin_commit)
            } else {
                Err(TxnError::new(
                    kafkac::producer::ErrorClass::Abortable,
                    Error::new(local::STATE, "the application aborts"),
                ))
            };
            match r {
                Ok(()) => {
                    self.told[tag] = Some(Told::Committed);
                    self.hit(Hit::Committed);
                }
                Err(e) if e.is_fatal() => {
                    self.conclude(tag)?;
                    return Ok(());
                }
                Err(e) => {
                    if e.is_abortable() && commit {
                        self.hit(Hit::AbortableRecovered);
                    }
                    // v1: the sender has just sent the AddPartitionsToTxn of a partition
                    // when the application aborts.
                    if !self.plan.v2
                        && self.txn.may_send()
                        && self.txn.coordinator.is_some()
                        && !pending.is_empty()
                        && self.rng.chance(0.3)
                    {
                        self.txn.partition_ready("out", pending[0]);
                        let want = self.txn.partitions_to_add();
                        if !want.is_empty() {
                            self.hit(Hit::AbortDuringAdd);
                            self.log(|| format!("sender: AddPartitionsToTxn {want:?} in flight"));
                            self.add_in_flight = Some((self.txn.pid, want));
                        }
                    }
                    match self.call(tag, &mut pending, Txn::begin_abort) {
                        Ok(()) => {
                            self.told[tag] = Some(Told::Aborted);
                            self.hit(Hit::Aborted);
                        }
                        Err(e) if e.is_fatal() => {
                            self.conclude(tag)?;
                            return Ok(());
                        }
                        Err(e) => return Err(format!("abort failed, not fatal: {e}")),
                    }
                }
            }
            if self.txn.state != TxnState::Ready {
                return Err(format!("after the end the state is {:?}", self.txn.state));
            }
        }
        Ok(())
    }

    /// The producer hit a fatal error in transaction `tag`: it is told how the
    /// transaction ended.
    fn conclude(&mut self, tag: usize) -> Result<(), String> {
        let told = match self.txn.outcome {
            Some(Outcome::Unknown) => {
                self.hit(Hit::UnknownOutcome);
                Told::Unknown
            }
            Some(Outcome::Committed) if self.txn.state != TxnState::FatalError => Told::Committed,
            _ if self.plant => Told::Committed,
            _ => Told::Aborted,
        };
        if self.txn.state != TxnState::FatalError {
            return Err(format!("fatal error but state {:?}", self.txn.state));
        }
        if !self.coord.fenced {
            return Err(format!(
                "fatal error though nothing fenced the producer: {:?}",
                self.txn.error()
            ));
        }
        if let Some(t) = self.told.get_mut(tag) {
            *t = Some(told);
        }
        Ok(())
    }

    fn check(&self) -> Result<(), String> {
        for (tag, told) in self.told.iter().enumerate() {
            let committed = self.coord.committed.contains(&tag);
            match told {
                None => return Err(format!("transaction {tag} never ended")),
                Some(Told::Committed) if !committed && self.wrote.contains(&tag) => {
                    return Err(format!("transaction {tag}: told committed, not committed"))
                }
                Some(Told::Aborted) if committed => {
                    return Err(format!("transaction {tag}: told aborted, but committed"))
                }
                _ => {}
            }
            if self.coord.committed.contains(&tag) && self.coord.aborted.contains(&tag) {
                return Err(format!("transaction {tag} both committed and aborted"));
            }
        }
        Ok(())
    }
}

fn run_seed(seed: u64, trace: bool) -> (Result<(), String>, Sim) {
    run_seed_with(seed, trace, false)
}

fn run_seed_with(seed: u64, trace: bool, plant: bool) -> (Result<(), String>, Sim) {
    let mut rng = Rng::new(seed, 0x7478_6e5f_7369_6d21);
    let v2 = rng.chance(0.5);
    let faulty = rng.chance(0.8);
    let f = |rng: &mut Rng, hi: f64| if faulty { rng.unit() * hi } else { 0.0 };
    let plan = Plan {
        v2,
        txns: rng.range(1, 8) as usize,
        p_lost_req: f(&mut rng, 0.1),
        p_lost_ans: f(&mut rng, 0.1),
        p_move: f(&mut rng, 0.02),
        p_concurrent: f(&mut rng, 0.1),
        p_msg_fail: f(&mut rng, 0.05),
        p_fence: f(&mut rng, 0.004),
        p_pause: f(&mut rng, 0.3),
        call_budget: rng.range(3, 40),
    };
    let coord = Coordinator {
        node: 1,
        pid: 1000,
        epoch: 0,
        last_end_epoch: None,
        last_init_epoch: None,
        fenced: false,
        state: CoordState::Empty,
        started: 0,
        tags: BTreeSet::new(),
        parts: BTreeSet::new(),
        groups: BTreeSet::new(),
        committed: BTreeSet::new(),
        aborted: BTreeSet::new(),
        timed_out: false,
        v2,
    };
    let mut sim = Sim {
        plan,
        rng,
        now: 0,
        steps: 0,
        coord,
        txn: Txn::new("tx"),
        told: Vec::new(),
        wrote: BTreeSet::new(),
        fenced_by_other: false,
        add_in_flight: None,
        end_lost: false,
        plant,
        rec: Record::new(N_HITS, trace),
    };
    sim.hit(if v2 { Hit::V2 } else { Hit::V1 });
    let r = catch_panic(|| {
        sim.run()?;
        if sim.txn.state == TxnState::Ready || sim.txn.state == TxnState::FatalError {
            Ok(())
        } else {
            Err(format!("ended in state {:?}", sim.txn.state))
        }
    })
    .and_then(|()| sim.check());
    (r, sim)
}

#[derive(Default)]
struct Totals {
    committed: u64,
    aborted: u64,
    unknown: u64,
    fatal: u64,
}

impl Tally for Totals {
    type Sim = Sim;
    fn add(&mut self, _seed: u64, s: &Sim) {
        for t in s.told.iter().flatten() {
            match t {
                Told::Committed => self.committed += 1,
                Told::Aborted => self.aborted += 1,
                Told::Unknown => self.unknown += 1,
            }
        }
        self.fatal += u64::from(s.txn.state == TxnState::FatalError);
    }
    fn merge(&mut self, o: Totals) {
        self.committed += o.committed;
        self.aborted += o.aborted;
        self.unknown += o.unknown;
        self.fatal += o.fatal;
    }
}

impl Scenario for Sim {
    type Totals = Totals;
    fn describe(&self) -> String {
        let p = &self.plan;
        format!(
            "plan: protocol v{}, {} transactions, lost requests {:.3} answers {:.3}, moves \
             {:.3}, concurrent {:.3}, message failures {:.3}, fence {:.4}, pauses {:.2}, call \
             budget {}",
            if p.v2 { 2 } else { 1 },
            p.txns,
            p.p_lost_req,
            p.p_lost_ans,
            p.p_move,
            p.p_concurrent,
            p.p_msg_fail,
            p.p_fence,
            p.p_pause,
            p.call_budget
        )
    }
    fn show_plan(&self) -> String {
        self.describe()
    }
    fn record(&self) -> &Record {
        &self.rec
    }
}

fn replay_hint(seed: u64) -> String {
    format!(
        "replay: SIM_TRACE=1 SIM_SEED={seed} cargo test --release --test sim_txn -- \
         --nocapture sim_txn_seeds"
    )
}

#[test]
fn sim_txn_seeds() {
    let runner = Runner::new(DEFAULT_SEEDS, 4, RUN_LIMIT, replay_hint);
    let Some(ran) = run_seeds(&runner, run_seed) else {
        return;
    };
    let t = &ran.sums.totals;
    println!(
        "sim_txn: {}; transactions told committed {}, aborted {}, unknown {}; producers \
         ending fatal {}",
        ran.summary(),
        t.committed,
        t.aborted,
        t.unknown,
        t.fatal
    );
    ran.print_coverage(Hit::ALL, 28);
    ran.finish(Hit::ALL, true);
}

#[test]
fn sim_txn_replays_exactly() {
    with_timeout(Duration::from_secs(30), || {
        assert_replays(&[1, 77, 4242], run_seed);
    });
}

#[test]
fn sim_txn_checker_catches_a_planted_bug() {
    with_timeout(Duration::from_secs(60), || {
        let caught = (0..20_000u64)
            .filter(|&seed| run_seed_with(seed, false, true).0.is_err())
            .count();
        assert!(caught > 0, "a fatal error told as a commit went unnoticed");
        println!("planted bug caught by {caught} of 20000 seeds");
    });
}
