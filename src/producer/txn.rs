//! The transactional producer's state machine, sans I/O: it says which request comes
//! next ([`Step`]) and takes the answers. The application's calls drive it
//! ([`super::Producer::init_transactions`] and the rest); the sender thread asks it which
//! partitions to add (transaction protocol v1) and tells it when a batch failed. The
//! deterministic simulator drives the same machine against a simulated coordinator.
//!
//! # States
//! `Uninitialized` → (init) `Initializing` → `Ready` → (begin) `InTransaction` →
//! (commit) `Committing` → `Ready`, or (abort) `Aborting` → `Ready`. An error the
//! transaction cannot survive makes it `AbortableError` (only abort leaves it); an error
//! the producer cannot survive makes it `FatalError` (only free leaves it).
//!
//! # Errors
//! | class | what the application does | answers |
//! | --- | --- | --- |
//! | retriable | calls again: the call continues where it stopped | the call's own timeout (the operation stays in progress) |
//! | abortable | aborts, rewinds its input, begins again | a message of the transaction failed; TRANSACTION_ABORTABLE (120); TxnOffsetCommit's UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS; GROUP_AUTHORIZATION_FAILED, TOPIC_AUTHORIZATION_FAILED; UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_ID_MAPPING |
//! | fatal | frees the producer | PRODUCER_FENCED (90), INVALID_PRODUCER_EPOCH (47), TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53), CLUSTER_AUTHORIZATION_FAILED (31), INVALID_TXN_STATE (48), UNSUPPORTED_VERSION (35), and anything not classified |
//!
//! Inside a call, the coordinator's passing troubles (NOT_COORDINATOR,
//! COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS, a
//! lost connection or answer) are retried after a back-off, the coordinator looked up
//! again where it may have moved.
//!
//! # Protocol versions
//! With `transaction.version` 2 finalised by the cluster (KIP-890), partitions join the
//! transaction on Produce (v12) and the group's offsets on TxnOffsetCommit (v5); EndTxn
//! (v5) bumps the epoch at every end and answers with it, so sequences restart at 0.
//! Otherwise (v1) partitions are added with AddPartitionsToTxn before their first batch
//! is sent, the group with AddOffsetsToTxn; the epoch stays, and after an abort that
//! left a gap in a partition's sequences the epoch is bumped with InitProducerId (KIP-360).

use super::state::Pid;
use crate::error::{local, Error};
use std::collections::{BTreeSet, HashSet};

/// What a transaction needs of a consumer to commit its offsets: the group, and the
/// member's generation (KIP-447: the coordinator refuses offsets of a member that is no
/// longer in the group). A generation of -1 and an empty member id skip that check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadata {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// One offset to commit in a transaction: the next record to consume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The leader epoch of the last record consumed, or -1.
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// How the last transaction ended, as far as the producer can know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Committed,
    Aborted,
    /// The commit was sent, its answer lost, and the producer was fenced before it could
    /// ask again: the coordinator may have committed it. Readers of the output decide.
    Unknown,
}

/// The transaction states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    Uninitialized,
    Initializing,
    Ready,
    InTransaction,
    Committing,
    Aborting,
    AbortableError,
    FatalError,
}

/// What the application does about an error of a transactional call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The call was used in the wrong state (or with a bad argument): nothing changed.
    Usage,
    /// Call again: the operation continues where it stopped.
    Retriable,
    /// Abort the transaction, rewind the input, begin again.
    Abortable,
    /// The producer is unusable: free it.
    Fatal,
}

/// An error of a transactional call, with its class.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnError {
    pub class: ErrorClass,
    pub error: Error,
}

impl TxnError {
    pub fn new(class: ErrorClass, error: Error) -> TxnError {
        TxnError { class, error }
    }

    fn usage(msg: impl Into<String>) -> TxnError {
        TxnError::new(ErrorClass::Usage, Error::new(local::STATE, msg))
    }

    pub fn is_retriable(&self) -> bool {
        self.class == ErrorClass::Retriable
    }

    pub fn is_abortable(&self) -> bool {
        self.class == ErrorClass::Abortable
    }

    pub fn is_fatal(&self) -> bool {
        self.class == ErrorClass::Fatal
    }
}

impl std::fmt::Display for TxnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.class, self.error)
    }
}

/// The requests of the transactional calls, for error messages and classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    FindCoordinator,
    InitProducerId,
    AddPartitions,
    AddOffsets,
    FindGroupCoordinator,
    TxnOffsetCommit,
    EndTxn,
}

/// How an answer's error code is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// Success.
    Ok,
    /// Retry after a back-off.
    Retry,
    /// Look the coordinator up again, then retry.
    Rediscover,
    Abortable,
    Fatal,
}

/// The handling of error `code` in the answer to `api`.
pub fn classify(api: Api, code: i16) -> Handling {
    match code {
        0 => Handling::Ok,
        // NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE.
        15 | 16 => Handling::Rediscover,
        // COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS, REQUEST_TIMED_OUT,
        // NETWORK_EXCEPTION.
        14 | 51 | 7 | 13 => Handling::Retry,
        // UNKNOWN_TOPIC_OR_PARTITION while adding a partition: metadata may be behind.
        3 if api == Api::AddPartitions => Handling::Retry,
        // TxnOffsetCommit's UNSTABLE_OFFSET_COMMIT is a passing state.
        88 if api == Api::TxnOffsetCommit => Handling::Retry,
        // PRODUCER_FENCED, INVALID_PRODUCER_EPOCH, TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        // CLUSTER_AUTHORIZATION_FAILED, INVALID_TXN_STATE, UNSUPPORTED_VERSION,
        // UNSUPPORTED_FOR_MESSAGE_FORMAT.
        90 | 47 | 53 | 31 | 48 | 35 | 43 => Handling::Fatal,
        // TRANSACTION_ABORTABLE, UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_ID_MAPPING,
        // TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED.
        120 | 59 | 49 | 29 | 30 => Handling::Abortable,
        // The consumer's generation is gone: its offsets must not be committed.
        // UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID,
        // REBALANCE_IN_PROGRESS.
        25 | 22 | 82 | 27 if api == Api::TxnOffsetCommit => Handling::Abortable,
        // UNKNOWN_TOPIC_OR_PARTITION, INVALID_COMMIT_OFFSET_SIZE, OFFSET_METADATA_TOO_LARGE:
        // the offsets cannot be committed.
        3 | 28 | 12 if api == Api::TxnOffsetCommit => Handling::Abortable,
        _ => Handling::Fatal,
    }
}

/// What the driver of a call does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// FindCoordinator for the transactional id; answer with
    /// [`Txn::on_coordinator`] or [`Txn::on_failure`].
    FindCoordinator,
    /// InitProducerId with the transactional id and `pid` (NONE at first, the current
    /// one to bump the epoch); answer with [`Txn::on_init`].
    InitProducerId { pid: Pid },
    /// Wait until no message of the transaction is queued or in flight (commit: send
    /// everything now; abort with `purge`: drop what is queued first, each message
    /// reported as purged), and until no AddPartitionsToTxn is in flight; then
    /// [`Txn::on_messages_settled`].
    WaitMessages { purge: bool },
    /// AddOffsetsToTxn for `group`; answer with [`Txn::on_answer`].
    AddOffsets { pid: Pid, group: String },
    /// FindCoordinator for `group`; answer with [`Txn::on_group_coordinator`].
    FindGroupCoordinator { group: String },
    /// TxnOffsetCommit of the offsets given to the call; answer with [`Txn::on_answer`].
    TxnOffsetCommit { pid: Pid, group: String },
    /// EndTxn; answer with [`Txn::on_end`].
    EndTxn { pid: Pid, commit: bool },
    /// A retriable failure: wait the back-off, then ask again.
    Backoff,
    /// The call is over.
    Done(Result<(), TxnError>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    FindCoordinator,
    InitPid,
    WaitMessages,
    AddOffsets,
    FindGroupCoordinator,
    TxnOffsetCommit,
    EndTxn,
    /// v1, after an abort that left a sequence gap: InitProducerId with the current id.
    BumpEpoch,
}

/// The operation in progress (kept across calls that time out).
#[derive(Debug, Clone, PartialEq, Eq)]
enum OpKind {
    Init,
    Commit,
    Abort,
    Offsets { group: String },
}

#[derive(Debug, Clone)]
struct Op {
    kind: OpKind,
    phase: Phase,
    /// The phase to go on with once the coordinator is found again.
    resume: Phase,
    /// EndTxn was sent at least once: the outcome may be decided.
    end_sent: bool,
    /// An EndTxn got no answer: the coordinator may have ended the transaction.
    end_lost: bool,
    /// A retriable failure waits its back-off before the next step.
    backoff: bool,
    /// The result, once decided (handed out by the next step).
    done: Option<Result<(), TxnError>>,
}

/// The transactional state of one producer.
#[derive(Debug)]
pub struct Txn {
    pub id: String,
    pub state: TxnState,
    op: Option<Op>,
    /// The transaction coordinator's broker id, once found.
    pub coordinator: Option<i32>,
    /// The group coordinator of the offsets being sent.
    pub group_coordinator: Option<i32>,
    pub pid: Pid,
    /// Transaction protocol v2 (KIP-890).
    pub v2: bool,
    /// v1: partitions in the transaction (added by AddPartitionsToTxn).
    added: HashSet<(String, i32)>,
    /// v1: partitions with batches waiting to be added.
    wanted: BTreeSet<(String, i32)>,
    /// v1: partitions in an AddPartitionsToTxn request now.
    adding: BTreeSet<(String, i32)>,
    /// v1: the last AddPartitionsToTxn was the transaction's first and was answered
    /// CONCURRENT_TRANSACTIONS: the previous transaction is still being completed.
    previous_completing: bool,
    /// v2: the last transaction ended, and its coordinator has not yet said that its
    /// markers are written: the next transaction's first batch waits for that (a
    /// partition leader would hold a Produce of the next transaction back on its own,
    /// longer, back-off).
    confirm_previous: bool,
    /// v2: a batch waits for [`confirm_previous`](Self::confirm_pending) to clear.
    confirm_wanted: bool,
    /// v1: the groups whose offsets joined the transaction.
    groups: HashSet<String>,
    /// Something of the transaction may have reached a broker: EndTxn is needed.
    pub touched: bool,
    /// v1: the epoch must be bumped before the next transaction (a sequence gap).
    pub bump_needed: bool,
    /// The error that made the state abortable or fatal.
    error: Option<TxnError>,
    /// Counters: transactions committed and aborted.
    pub committed: u64,
    pub aborted: u64,
    /// How the last transaction ended (None before the first end).
    pub outcome: Option<Outcome>,
}

impl Txn {
    pub fn new(id: &str) -> Txn {
        Txn {
            id: id.to_owned(),
            state: TxnState::Uninitialized,
            op: None,
            coordinator: None,
            group_coordinator: None,
            pid: Pid::NONE,
            v2: false,
            added: HashSet::new(),
            wanted: BTreeSet::new(),
            adding: BTreeSet::new(),
            previous_completing: false,
            confirm_previous: false,
            confirm_wanted: false,
            groups: HashSet::new(),
            touched: false,
            bump_needed: false,
            error: None,
            committed: 0,
            aborted: 0,
            outcome: None,
        }
    }

    /// The error of the abortable or fatal state.
    pub fn error(&self) -> Option<&TxnError> {
        self.error.as_ref()
    }

    /// Whether messages may be sent now (sends outside a transaction are refused).
    pub fn check_send(&self) -> Result<(), Error> {
        match self.state {
            TxnState::InTransaction => Ok(()),
            TxnState::AbortableError | TxnState::FatalError => {
                let e = self.error.as_ref().map(|e| e.error.clone());
                Err(e.unwrap_or_else(|| Error::new(local::STATE, "transaction failed")))
            }
            s => Err(Error::new(
                local::STATE,
                format!(
                    "transactional producer: messages can only be sent inside a transaction \
                     (kc_producer_begin_transaction); the state is {s:?}"
                ),
            )),
        }
    }

    /// Whether batches may go to brokers now.
    pub fn may_send(&self) -> bool {
        matches!(self.state, TxnState::InTransaction | TxnState::Committing)
    }

    fn start(&mut self, kind: OpKind, phase: Phase) {
        self.op = Some(Op {
            kind,
            phase,
            resume: phase,
            end_sent: false,
            end_lost: false,
            backoff: false,
            done: None,
        });
    }

    fn fatal_error(&self) -> Result<(), TxnError> {
        match &self.error {
            Some(e) if self.state == TxnState::FatalError => Err(e.clone()),
            _ => Ok(()),
        }
    }

    /// init_transactions: starts (or resumes) getting the producer id.
    pub fn begin_init(&mut self) -> Result<(), TxnError> {
        self.fatal_error()?;
        match self.state {
            TxnState::Uninitialized => {
                self.state = TxnState::Initializing;
                self.start(OpKind::Init, Phase::FindCoordinator);
                Ok(())
            }
            TxnState::Initializing => Ok(()),
            s => Err(TxnError::usage(format!(
                "init_transactions was already called (the state is {s:?})"
            ))),
        }
    }

    /// begin_transaction.
    pub fn begin(&mut self) -> Result<(), TxnError> {
        self.fatal_error()?;
        match self.state {
            TxnState::Ready => {
                self.state = TxnState::InTransaction;
                self.touched = false;
                Ok(())
            }
            TxnState::AbortableError => Err(self.error.clone().unwrap_or_else(|| {
                TxnError::usage("the transaction failed: abort it before beginning another")
            })),
            s => Err(TxnError::usage(format!(
                "begin_transaction needs a producer ready for a transaction (the state is {s:?})"
            ))),
        }
    }

    /// send_offsets_to_transaction: starts (or resumes) committing `group`'s offsets in
    /// the transaction.
    pub fn begin_offsets(&mut self, group: &str) -> Result<(), TxnError> {
        self.fatal_error()?;
        if let Some(op) = &self.op {
            if op.kind
                == (OpKind::Offsets {
                    group: group.into(),
                })
            {
                return Ok(());
            }
        }
        match self.state {
            TxnState::InTransaction if self.op.is_none() => {
                let phase = if self.v2 || self.groups.contains(group) {
                    Phase::FindGroupCoordinator
                } else {
                    Phase::AddOffsets
                };
                self.start(
                    OpKind::Offsets {
                        group: group.into(),
                    },
                    phase,
                );
                Ok(())
            }
            TxnState::AbortableError => Err(self.error.clone().expect("abortable has an error")),
            s => Err(TxnError::usage(format!(
                "send_offsets_to_transaction needs a transaction in progress and no other \
                 operation in progress (the state is {s:?})"
            ))),
        }
    }

    /// commit_transaction: starts (or resumes) the commit.
    pub fn begin_commit(&mut self) -> Result<(), TxnError> {
        self.fatal_error()?;
        match self.state {
            TxnState::InTransaction if self.op.is_none() => {
                self.state = TxnState::Committing;
                self.start(OpKind::Commit, Phase::WaitMessages);
                Ok(())
            }
            TxnState::Committing => Ok(()),
            TxnState::AbortableError => Err(self.error.clone().expect("abortable has an error")),
            s => Err(TxnError::usage(format!(
                "commit_transaction needs a transaction in progress and no other operation \
                 in progress (the state is {s:?})"
            ))),
        }
    }

    /// abort_transaction: starts (or resumes) the abort.
    pub fn begin_abort(&mut self) -> Result<(), TxnError> {
        self.fatal_error()?;
        match self.state {
            TxnState::InTransaction | TxnState::AbortableError => {
                self.state = TxnState::Aborting;
                self.start(OpKind::Abort, Phase::WaitMessages);
                Ok(())
            }
            TxnState::Aborting => Ok(()),
            TxnState::Committing if !self.op.as_ref().is_some_and(|o| o.end_sent) => {
                // The commit has not asked the coordinator yet: it becomes an abort.
                self.state = TxnState::Aborting;
                self.start(OpKind::Abort, Phase::WaitMessages);
                Ok(())
            }
            TxnState::Committing => Err(TxnError::new(
                ErrorClass::Retriable,
                Error::new(
                    local::STATE,
                    "the commit was already sent to the transaction coordinator: call \
                     commit_transaction again to learn its outcome",
                ),
            )),
            s => Err(TxnError::usage(format!(
                "abort_transaction needs a transaction (the state is {s:?})"
            ))),
        }
    }

    /// The next step of the operation in progress (`Done` when none is).
    pub fn next_step(&mut self) -> Step {
        if let Some(e) = self.fatal_error().err() {
            self.op = None;
            return Step::Done(Err(e));
        }
        let pid = self.pid;
        let v2 = self.v2;
        let touched = self.touched;
        let bump = self.bump_needed;
        let coordinator_known = self.coordinator.is_some();
        let Some(op) = self.op.as_mut() else {
            return Step::Done(Ok(()));
        };
        if let Some(r) = op.done.take() {
            self.op = None;
            return Step::Done(r);
        }
        if op.backoff {
            op.backoff = false;
            return Step::Backoff;
        }
        let needs_coordinator = matches!(
            op.phase,
            Phase::InitPid | Phase::AddOffsets | Phase::EndTxn | Phase::BumpEpoch
        );
        if needs_coordinator && !coordinator_known {
            op.resume = op.phase;
            op.phase = Phase::FindCoordinator;
        }
        match op.phase {
            Phase::FindCoordinator => Step::FindCoordinator,
            Phase::InitPid => Step::InitProducerId { pid: Pid::NONE },
            Phase::BumpEpoch => Step::InitProducerId { pid },
            Phase::WaitMessages => Step::WaitMessages {
                purge: op.kind == OpKind::Abort,
            },
            Phase::AddOffsets => match &op.kind {
                OpKind::Offsets { group } => Step::AddOffsets {
                    pid,
                    group: group.clone(),
                },
                _ => unreachable!("AddOffsets belongs to send_offsets"),
            },
            Phase::FindGroupCoordinator => match &op.kind {
                OpKind::Offsets { group } => Step::FindGroupCoordinator {
                    group: group.clone(),
                },
                _ => unreachable!("the group coordinator belongs to send_offsets"),
            },
            Phase::TxnOffsetCommit => match &op.kind {
                OpKind::Offsets { group } => Step::TxnOffsetCommit {
                    pid,
                    group: group.clone(),
                },
                _ => unreachable!("TxnOffsetCommit belongs to send_offsets"),
            },
            Phase::EndTxn => {
                let commit = op.kind == OpKind::Commit;
                if !touched {
                    // Nothing reached a broker: there is nothing for the coordinator to end.
                    self.finish_end(commit, None);
                    return self.next_step();
                }
                if !commit && !v2 && bump {
                    // EndTxn first, the bump after it (below, in finish_end).
                }
                op.end_sent = true;
                Step::EndTxn { pid, commit }
            }
        }
    }

    fn set_fatal(&mut self, mut e: Error) -> TxnError {
        if matches!(
            self.state,
            TxnState::InTransaction
                | TxnState::Committing
                | TxnState::Aborting
                | TxnState::AbortableError
        ) {
            let lost_commit = self
                .op
                .as_ref()
                .is_some_and(|o| o.kind == OpKind::Commit && o.end_lost);
            self.outcome = Some(if lost_commit {
                e.message.push_str(
                    " (an earlier commit request went unanswered: the coordinator may have \
                     committed the transaction before this producer was fenced; the outcome \
                     is unknown)",
                );
                Outcome::Unknown
            } else {
                Outcome::Aborted
            });
        }
        let te = TxnError::new(ErrorClass::Fatal, e);
        self.state = TxnState::FatalError;
        self.error = Some(te.clone());
        self.op = None;
        te
    }

    fn set_abortable(&mut self, e: Error) -> TxnError {
        let te = TxnError::new(ErrorClass::Abortable, e);
        if self.state != TxnState::FatalError {
            self.state = TxnState::AbortableError;
            self.error = Some(te.clone());
        }
        te
    }

    /// Ends the operation with `r` at its next step.
    fn conclude(&mut self, r: Result<(), TxnError>) {
        if let Some(op) = self.op.as_mut() {
            op.done = Some(r);
        }
    }

    /// The producer hit a fatal error outside the transactional calls (a Produce answer
    /// said the producer was fenced, for example).
    pub fn producer_fatal(&mut self, e: &Error) {
        if self.state != TxnState::FatalError {
            let e = Error::new(e.code, e.message.clone());
            self.set_fatal(e);
        }
    }

    /// A message of the transaction failed for good: the transaction cannot commit.
    pub fn message_failed(&mut self, e: &Error) {
        if matches!(self.state, TxnState::InTransaction | TxnState::Committing) {
            let e = Error::new(
                e.code,
                format!(
                    "a message of the transaction failed, so the transaction must be \
                     aborted: {}",
                    e.message
                ),
            );
            self.set_abortable(e);
            if let Some(op) = self.op.as_mut() {
                if op.kind == OpKind::Commit {
                    let err = self.error.clone().expect("just set");
                    self.op = None;
                    // The commit ends here with the abortable error.
                    self.op = Some(Op {
                        kind: OpKind::Commit,
                        phase: Phase::WaitMessages,
                        resume: Phase::WaitMessages,
                        end_sent: false,
                        end_lost: false,
                        backoff: false,
                        done: Some(Err(err)),
                    });
                }
            }
        }
    }

    /// A batch of partition (topic, partition) is about to be sent: whether it may go
    /// (v1: only once the partition is in the transaction; until then it is wanted).
    pub fn partition_ready(&mut self, topic: &str, partition: i32) -> bool {
        if !self.may_send() {
            return false;
        }
        if self.v2 {
            if self.confirm_previous {
                self.confirm_wanted = true;
                return false;
            }
            self.touched = true;
            return true;
        }
        let key = (topic.to_owned(), partition);
        if self.added.contains(&key) {
            return true;
        }
        if !self.adding.contains(&key) {
            self.wanted.insert(key);
        }
        false
    }

    /// v1: the partitions to add now (moved to "adding"), or none.
    pub fn partitions_to_add(&mut self) -> Vec<(String, i32)> {
        if self.v2 || !self.may_send() || !self.adding.is_empty() || self.coordinator.is_none() {
            return Vec::new();
        }
        let w: Vec<(String, i32)> = std::mem::take(&mut self.wanted).into_iter().collect();
        self.adding.extend(w.iter().cloned());
        // From now on the coordinator may have the transaction, whatever happens to the
        // answer: ending it takes an EndTxn.
        self.touched |= !w.is_empty();
        w
    }

    /// v1: the answer to AddPartitionsToTxn (`Err`: no answer). Each partition's code.
    /// Returns whether to back off before trying the failed ones again.
    pub fn on_partitions_added(&mut self, result: Result<Vec<(String, i32, i16)>, Error>) -> bool {
        let adding = std::mem::take(&mut self.adding);
        self.touched = true;
        self.previous_completing = false;
        let results = match result {
            Ok(r) => r,
            Err(e) => {
                if e.code != local::TIMED_OUT {
                    self.coordinator = None;
                }
                self.wanted.extend(adding);
                return true;
            }
        };
        let mut backoff = false;
        for (topic, p, code) in results {
            let key = (topic, p);
            if !adding.contains(&key) {
                continue;
            }
            let ctx = || Error::kafka(code, format!("AddPartitionsToTxn for {}/{}", key.0, key.1));
            match classify(Api::AddPartitions, code) {
                Handling::Ok => {
                    self.added.insert(key);
                }
                // OPERATION_NOT_ATTEMPTED: another partition of the request failed.
                _ if code == 55 => {
                    self.wanted.insert(key);
                }
                Handling::Retry => {
                    // CONCURRENT_TRANSACTIONS before anything joined this transaction:
                    // the coordinator is still writing the last one's markers.
                    self.previous_completing |= code == 51 && self.added.is_empty();
                    self.wanted.insert(key);
                    backoff = true;
                }
                Handling::Rediscover => {
                    self.coordinator = None;
                    self.wanted.insert(key);
                    backoff = true;
                }
                Handling::Abortable => {
                    self.set_abortable(ctx());
                }
                Handling::Fatal => {
                    self.set_fatal(ctx());
                }
            }
        }
        // Partitions asked for and missing from the answer are asked for again.
        for key in adding {
            if !self.added.contains(&key) && self.state == TxnState::InTransaction {
                self.wanted.insert(key);
            }
        }
        backoff
    }

    /// v1: whether the back-off [`on_partitions_added`](Self::on_partitions_added) asked
    /// for is the short one: the transaction's first partitions were refused with
    /// CONCURRENT_TRANSACTIONS because the previous transaction is still being completed,
    /// which takes milliseconds (the Java client retries after 20 ms, not
    /// `retry.backoff.ms`).
    pub fn previous_still_completing(&self) -> bool {
        self.previous_completing
    }

    /// v2: whether a batch waits until the coordinator says the last transaction is
    /// complete (the sender asks it with DescribeTransactions).
    pub fn confirm_pending(&self) -> bool {
        self.v2 && self.confirm_previous && self.confirm_wanted && self.may_send()
    }

    /// v2: the coordinator's answer about the last transaction: its state
    /// (`Some("CompleteCommit")`, …), or `None` when there is no usable answer (an
    /// error, a broker without DescribeTransactions, the wait's budget spent), after
    /// which batches go without waiting (the partition leader then checks with the
    /// coordinator itself). Returns whether to ask again (the markers are still being
    /// written).
    pub fn on_previous_state(&mut self, state: Option<&str>) -> bool {
        let completing = matches!(
            state,
            Some("PrepareCommit" | "PrepareAbort" | "PrepareEpochFence")
        );
        if !completing {
            self.confirm_previous = false;
            self.confirm_wanted = false;
        }
        completing
    }

    /// v1: the partitions of the AddPartitionsToTxn request in flight.
    pub fn adding_now(&self) -> Vec<(String, i32)> {
        self.adding.iter().cloned().collect()
    }

    /// Whether partitions wait to be added (the sender should look again soon).
    pub fn adding_pending(&self) -> bool {
        !self.v2 && self.may_send() && (!self.wanted.is_empty() || !self.adding.is_empty())
    }

    /// The request of the current step got no answer (a lost connection, no broker, the
    /// call's deadline): retried; the coordinator is looked up again unless it was the
    /// deadline.
    pub fn on_failure(&mut self, e: &Error) {
        if e.code != local::TIMED_OUT {
            if let Some(op) = &self.op {
                if op.phase == Phase::FindGroupCoordinator || op.phase == Phase::TxnOffsetCommit {
                    self.group_coordinator = None;
                    if let Some(op) = self.op.as_mut() {
                        op.phase = Phase::FindGroupCoordinator;
                    }
                } else {
                    self.coordinator = None;
                }
            }
        }
        if let Some(op) = self.op.as_mut() {
            op.backoff = true;
            if op.phase == Phase::EndTxn && op.end_sent {
                op.end_lost = true;
            }
        }
    }

    /// The answer to FindCoordinator for the transactional id.
    pub fn on_coordinator(&mut self, code: i16, node: i32) {
        let Some(op) = self.op.as_mut() else { return };
        if code == 0 && node >= 0 {
            self.coordinator = Some(node);
            op.phase = if op.resume == Phase::FindCoordinator {
                Phase::InitPid
            } else {
                op.resume
            };
            return;
        }
        match classify(Api::FindCoordinator, code) {
            Handling::Ok | Handling::Retry | Handling::Rediscover => op.backoff = true,
            Handling::Abortable | Handling::Fatal => {
                let e = Error::kafka(code, format!("FindCoordinator for '{}'", self.id));
                let te = self.fail_with(e);
                self.conclude(Err(te));
            }
        }
    }

    /// The answer to FindCoordinator for the group of send_offsets.
    pub fn on_group_coordinator(&mut self, code: i16, node: i32) {
        let Some(op) = self.op.as_mut() else { return };
        if code == 0 && node >= 0 {
            self.group_coordinator = Some(node);
            op.phase = Phase::TxnOffsetCommit;
            return;
        }
        match classify(Api::FindGroupCoordinator, code) {
            Handling::Ok | Handling::Retry | Handling::Rediscover => op.backoff = true,
            Handling::Abortable | Handling::Fatal => {
                let e = Error::kafka(code, "FindCoordinator for the group");
                let te = self.set_abortable(e);
                self.conclude(Err(te));
            }
        }
    }

    /// Fatal in an init or an end; abortable inside a transaction's other calls.
    fn fail_with(&mut self, e: Error) -> TxnError {
        self.set_fatal(e)
    }

    /// The answer to InitProducerId (first, or to bump the epoch).
    pub fn on_init(&mut self, code: i16, pid: Pid, v2: bool) {
        let Some(op) = self.op.as_ref() else { return };
        let bumping = op.phase == Phase::BumpEpoch;
        match classify(Api::InitProducerId, code) {
            Handling::Ok => {
                self.pid = pid;
                self.bump_needed = false;
                if !bumping {
                    self.v2 = v2;
                }
                self.state = TxnState::Ready;
                self.conclude(Ok(()));
            }
            Handling::Retry => self.op.as_mut().expect("op").backoff = true,
            Handling::Rediscover => {
                self.coordinator = None;
                self.op.as_mut().expect("op").backoff = true;
            }
            Handling::Abortable | Handling::Fatal => {
                let e = Error::kafka(
                    code,
                    format!("InitProducerId for transactional id '{}'", self.id),
                );
                let te = self.set_fatal(e);
                // set_fatal dropped the operation: the next step reports the error.
                let _ = te;
            }
        }
    }

    /// Every message of the transaction is acknowledged or failed (and, for an abort,
    /// what was queued is purged). Returns false while an AddPartitionsToTxn is still in
    /// flight: its answer is waited for (the step stays `WaitMessages`), since the
    /// transaction may have begun on the coordinator with it, and an EndTxn must not
    /// overtake it.
    pub fn on_messages_settled(&mut self) -> bool {
        let Some(op) = self.op.as_mut() else {
            return true;
        };
        if !self.adding.is_empty() {
            return false;
        }
        if op.phase == Phase::WaitMessages {
            op.phase = Phase::EndTxn;
        }
        true
    }

    /// v1: whether the coordinator said that something joined the transaction (a
    /// partition or a group was added). When it did not, `touched` may come only from an
    /// AddPartitionsToTxn whose answer never came, and an abort's EndTxn answered
    /// INVALID_TXN_STATE means that request never reached it: there is nothing to end.
    fn joined(&self) -> bool {
        !self.added.is_empty() || !self.groups.is_empty()
    }

    /// The answer to AddOffsetsToTxn or TxnOffsetCommit (the first partition error, or 0).
    pub fn on_answer(&mut self, code: i16) {
        let Some(op) = self.op.as_mut() else { return };
        let phase = op.phase;
        let api = if phase == Phase::AddOffsets {
            Api::AddOffsets
        } else {
            Api::TxnOffsetCommit
        };
        match classify(api, code) {
            Handling::Ok => {
                if phase == Phase::AddOffsets {
                    if let OpKind::Offsets { group } = &op.kind {
                        self.groups.insert(group.clone());
                    }
                    self.touched = true;
                    op.phase = Phase::FindGroupCoordinator;
                } else {
                    self.touched = true;
                    self.conclude(Ok(()));
                }
            }
            Handling::Retry => op.backoff = true,
            Handling::Rediscover => {
                if phase == Phase::AddOffsets {
                    self.coordinator = None;
                } else {
                    self.group_coordinator = None;
                    op.phase = Phase::FindGroupCoordinator;
                }
                op.backoff = true;
            }
            Handling::Abortable => {
                let e = Error::kafka(code, format!("{api:?} for transactional id '{}'", self.id));
                // A group that joined (v2: the TxnOffsetCommit may have been written)
                // makes the transaction need an end.
                self.touched = true;
                let te = self.set_abortable(e);
                self.conclude(Err(te));
            }
            Handling::Fatal => {
                let e = Error::kafka(code, format!("{api:?} for transactional id '{}'", self.id));
                self.set_fatal(e);
            }
        }
    }

    /// The answer to EndTxn (`pid`: v5's new producer id and epoch, NONE before v5).
    pub fn on_end(&mut self, code: i16, pid: Pid) {
        let Some(op) = self.op.as_mut() else { return };
        let commit = op.kind == OpKind::Commit;
        match classify(Api::EndTxn, code) {
            Handling::Ok => self.finish_end(commit, Some(pid)),
            Handling::Retry => op.backoff = true,
            Handling::Rediscover => {
                self.coordinator = None;
                op.backoff = true;
            }
            // v1: nothing is known to have joined the transaction; the only request that
            // might have begun it (an AddPartitionsToTxn) went unanswered, and the
            // coordinator has no transaction in progress: nothing was in it.
            Handling::Fatal if code == 48 && !commit && !self.v2 && !self.joined() => {
                self.finish_end(false, None)
            }
            Handling::Abortable if commit => {
                let e = Error::kafka(code, format!("EndTxn (commit) for '{}'", self.id));
                let te = self.set_abortable(e);
                self.op = None;
                self.start(OpKind::Commit, Phase::WaitMessages);
                self.conclude(Err(te));
            }
            Handling::Abortable | Handling::Fatal => {
                let what = if commit { "commit" } else { "abort" };
                let mut e = Error::kafka(code, format!("EndTxn ({what}) for '{}'", self.id));
                if matches!(code, 47 | 90) {
                    e.message.push_str(
                        ": the transaction was aborted (a newer producer with the same \
                         transactional.id fenced this one, or the coordinator aborted the \
                         transaction when it outlived transaction.timeout.ms)",
                    );
                } else if code == 48 && commit {
                    // Protocol v2 answers so when the coordinator aborted the transaction
                    // on its timeout and bumped the epoch.
                    e.message.push_str(
                        ": the transaction was aborted, not committed (the coordinator \
                         aborted it when it outlived transaction.timeout.ms)",
                    );
                }
                self.set_fatal(e);
            }
        }
    }

    fn finish_end(&mut self, commit: bool, pid: Option<Pid>) {
        let bumped = pid.filter(|p| p.id >= 0 && p.epoch >= 0);
        if let Some(p) = bumped {
            // v2: the coordinator bumped the epoch.
            self.pid = p;
            self.bump_needed = false;
        }
        // v2: an EndTxn went (something of the transaction reached a broker), so the
        // coordinator now writes its markers.
        self.confirm_previous = self.v2 && self.touched;
        self.confirm_wanted = false;
        self.added.clear();
        self.wanted.clear();
        self.adding.clear();
        self.groups.clear();
        self.touched = false;
        self.error = None;
        if commit {
            self.committed += 1;
            self.outcome = Some(Outcome::Committed);
        } else {
            self.aborted += 1;
            self.outcome = Some(Outcome::Aborted);
        }
        if self.bump_needed && bumped.is_none() {
            // A sequence gap (v1, or v2 without an EndTxn) is closed by a new epoch
            // before the next transaction.
            if let Some(op) = self.op.as_mut() {
                op.phase = Phase::BumpEpoch;
                op.end_sent = false;
            }
            return;
        }
        self.state = TxnState::Ready;
        self.conclude(Ok(()));
    }

    /// v2 is in use when the coordinator offers EndTxn v5 and the cluster finalised
    /// `transaction.version` 2 or more.
    pub fn protocol_v2(transaction_version: i16, end_txn_max: Option<i16>) -> bool {
        transaction_version >= 2 && end_txn_max.is_some_and(|v| v >= 5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(v2: bool) -> Txn {
        let mut t = Txn::new("tx");
        t.begin_init().unwrap();
        assert_eq!(t.next_step(), Step::FindCoordinator);
        t.on_coordinator(0, 1);
        assert_eq!(t.next_step(), Step::InitProducerId { pid: Pid::NONE });
        t.on_init(0, Pid { id: 7, epoch: 0 }, v2);
        assert_eq!(t.next_step(), Step::Done(Ok(())));
        assert_eq!(t.state, TxnState::Ready);
        t
    }

    #[test]
    fn commit_v2_takes_the_bumped_epoch() {
        let mut t = ready(true);
        t.begin().unwrap();
        assert!(t.partition_ready("t", 0));
        t.begin_commit().unwrap();
        assert_eq!(t.next_step(), Step::WaitMessages { purge: false });
        t.on_messages_settled();
        let pid = Pid { id: 7, epoch: 0 };
        assert_eq!(t.next_step(), Step::EndTxn { pid, commit: true });
        t.on_end(0, Pid { id: 7, epoch: 1 });
        assert_eq!(t.next_step(), Step::Done(Ok(())));
        assert_eq!((t.state, t.pid.epoch, t.committed), (TxnState::Ready, 1, 1));
    }

    /// v2: after a commit, the next transaction's first batch waits until the coordinator
    /// says the last one is complete; a transaction that sent nothing leaves nothing to
    /// wait for, and no usable answer lets the batches go.
    #[test]
    fn v2_first_batch_after_an_end_waits_for_the_previous_to_complete() {
        let mut t = ready(true);
        t.begin().unwrap();
        assert!(!t.confirm_pending());
        assert!(t.partition_ready("t", 0));
        t.begin_commit().unwrap();
        t.next_step();
        t.on_messages_settled();
        t.next_step();
        t.on_end(0, Pid { id: 7, epoch: 1 });
        assert_eq!(t.next_step(), Step::Done(Ok(())));

        t.begin().unwrap();
        assert!(!t.confirm_pending(), "asked only once a batch waits");
        assert!(!t.partition_ready("t", 0));
        assert!(t.confirm_pending());
        assert!(t.on_previous_state(Some("PrepareCommit")));
        assert!(!t.partition_ready("t", 0));
        assert!(!t.on_previous_state(Some("CompleteCommit")));
        assert!(!t.confirm_pending());
        assert!(t.partition_ready("t", 1));

        // An abort that sent something: the same wait; no answer ends it.
        t.begin_abort().unwrap();
        t.next_step();
        t.on_messages_settled();
        t.next_step();
        t.on_end(0, Pid { id: 7, epoch: 2 });
        assert_eq!(t.next_step(), Step::Done(Ok(())));
        t.begin().unwrap();
        assert!(!t.partition_ready("t", 0));
        assert!(!t.on_previous_state(None));
        assert!(t.partition_ready("t", 0));

        // A commit of a transaction that sent nothing sends no EndTxn: no wait after it.
        t.begin_commit().unwrap();
        t.next_step();
        t.on_messages_settled();
        t.next_step();
        t.on_end(0, Pid { id: 7, epoch: 3 });
        t.next_step();
        t.begin().unwrap();
        t.begin_commit().unwrap();
        t.next_step();
        t.on_messages_settled();
        assert_eq!(t.next_step(), Step::Done(Ok(())));
        t.begin().unwrap();
        assert!(t.partition_ready("t", 0));
    }

    /// v1: an abort that starts while an AddPartitionsToTxn is in flight waits for its
    /// answer, then ends the transaction the request began on the coordinator (ending
    /// nothing, then bumping the epoch, would find it in progress: the coordinator
    /// fences the producer).
    #[test]
    fn v1_abort_waits_for_the_add_in_flight_and_ends_what_it_began() {
        let mut t = ready(false);
        t.begin().unwrap();
        assert!(!t.partition_ready("t", 0));
        assert_eq!(t.partitions_to_add(), vec![("t".to_string(), 0)]);
        t.begin_abort().unwrap();
        t.bump_needed = true;
        assert_eq!(t.next_step(), Step::WaitMessages { purge: true });
        assert!(!t.on_messages_settled());
        assert_eq!(t.next_step(), Step::WaitMessages { purge: true });
        // The sender starts no other request meanwhile.
        assert!(t.partitions_to_add().is_empty());
        t.on_partitions_added(Ok(vec![("t".into(), 0, 0)]));
        assert!(t.on_messages_settled());
        let pid = Pid { id: 7, epoch: 0 };
        assert_eq!(t.next_step(), Step::EndTxn { pid, commit: false });
        t.on_end(0, Pid::NONE);
        assert_eq!(t.next_step(), Step::InitProducerId { pid });
        t.on_init(0, Pid { id: 7, epoch: 1 }, false);
        assert_eq!(t.next_step(), Step::Done(Ok(())));
        assert_eq!(t.outcome, Some(Outcome::Aborted));
    }

    /// v1: an AddPartitionsToTxn whose answer never came may have begun the
    /// transaction, so an abort ends it; INVALID_TXN_STATE then says the request never
    /// arrived (nothing to end), and the abort succeeds. A commit, or a transaction the
    /// coordinator confirmed, takes the same answer as fatal.
    #[test]
    fn v1_abort_after_an_unanswered_add_takes_invalid_txn_state_as_nothing_to_end() {
        let lost = || Err(Error::timed_out("no answer in time"));
        let mut t = ready(false);
        t.begin().unwrap();
        t.partition_ready("t", 0);
        t.partitions_to_add();
        t.on_partitions_added(lost());
        t.begin_abort().unwrap();
        assert_eq!(t.next_step(), Step::WaitMessages { purge: true });
        assert!(t.on_messages_settled());
        let pid = Pid { id: 7, epoch: 0 };
        assert_eq!(t.next_step(), Step::EndTxn { pid, commit: false });
        t.on_end(48, Pid::NONE);
        assert_eq!(t.next_step(), Step::Done(Ok(())));
        assert_eq!(t.state, TxnState::Ready);
        assert_eq!(t.outcome, Some(Outcome::Aborted));

        // The same answer after a partition joined: fatal.
        t.begin().unwrap();
        t.partition_ready("t", 0);
        t.partitions_to_add();
        t.on_partitions_added(Ok(vec![("t".into(), 0, 0)]));
        t.begin_abort().unwrap();
        t.next_step();
        t.on_messages_settled();
        assert_eq!(t.next_step(), Step::EndTxn { pid, commit: false });
        t.on_end(48, Pid::NONE);
        let Step::Done(Err(e)) = t.next_step() else {
            panic!("INVALID_TXN_STATE after a partition joined must fail the abort");
        };
        assert!(e.is_fatal() && e.error.code == 48, "{e:?}");
    }

    /// v1 never waits that way: AddPartitionsToTxn tells the same.
    #[test]
    fn v1_never_waits_for_describe_transactions() {
        let mut t = ready(false);
        t.begin().unwrap();
        t.partition_ready("t", 0);
        t.partitions_to_add();
        t.on_partitions_added(Ok(vec![("t".into(), 0, 0)]));
        t.begin_commit().unwrap();
        t.next_step();
        t.on_messages_settled();
        t.next_step();
        t.on_end(0, Pid::NONE);
        assert_eq!(t.next_step(), Step::Done(Ok(())));
        t.begin().unwrap();
        assert!(!t.partition_ready("t", 0));
        assert!(!t.confirm_pending());
        assert_eq!(t.partitions_to_add(), vec![("t".to_string(), 0)]);
    }

    #[test]
    fn v1_adds_partitions_before_sending() {
        let mut t = ready(false);
        t.begin().unwrap();
        assert!(!t.partition_ready("t", 0));
        assert_eq!(t.partitions_to_add(), vec![("t".to_string(), 0)]);
        assert!(!t.partition_ready("t", 0));
        assert!(!t.on_partitions_added(Ok(vec![("t".into(), 0, 0)])));
        assert!(t.partition_ready("t", 0));
    }

    /// CONCURRENT_TRANSACTIONS on a transaction's first AddPartitionsToTxn asks for the
    /// short back-off; once a partition has joined, a refusal gets the usual one.
    #[test]
    fn v1_concurrent_transactions_on_the_first_add_retries_soon() {
        let mut t = ready(false);
        t.begin().unwrap();
        t.partition_ready("t", 0);
        t.partitions_to_add();
        assert!(t.on_partitions_added(Ok(vec![("t".into(), 0, 51)])));
        assert!(t.previous_still_completing());
        assert_eq!(t.partitions_to_add(), vec![("t".to_string(), 0)]);
        assert!(!t.on_partitions_added(Ok(vec![("t".into(), 0, 0)])));
        assert!(!t.previous_still_completing());
        t.partition_ready("t", 1);
        t.partitions_to_add();
        assert!(t.on_partitions_added(Ok(vec![("t".into(), 1, 51)])));
        assert!(
            !t.previous_still_completing(),
            "t/0 is in: not the first add"
        );
        t.partitions_to_add();
        // COORDINATOR_LOAD_IN_PROGRESS is not the previous transaction completing.
        let mut u = ready(false);
        u.begin().unwrap();
        u.partition_ready("t", 0);
        u.partitions_to_add();
        assert!(u.on_partitions_added(Ok(vec![("t".into(), 0, 14)])));
        assert!(!u.previous_still_completing());
    }

    #[test]
    fn fenced_end_is_fatal_and_says_aborted() {
        let mut t = ready(true);
        t.begin().unwrap();
        t.partition_ready("t", 0);
        t.begin_commit().unwrap();
        t.next_step();
        t.on_messages_settled();
        t.next_step();
        t.on_end(90, Pid::NONE);
        let Step::Done(Err(e)) = t.next_step() else {
            panic!("expected an error")
        };
        assert!(e.is_fatal());
        assert!(e.error.message.contains("aborted"), "{}", e.error.message);
        assert_eq!(t.state, TxnState::FatalError);
        assert!(t.begin_abort().unwrap_err().is_fatal());
    }

    #[test]
    fn a_failed_message_makes_commit_abortable_then_abort_recovers() {
        let mut t = ready(false);
        t.begin().unwrap();
        t.message_failed(&Error::new(local::MSG_TIMED_OUT, "late"));
        assert!(t.begin_commit().unwrap_err().is_abortable());
        t.begin_abort().unwrap();
        assert_eq!(t.next_step(), Step::WaitMessages { purge: true });
        t.on_messages_settled();
        // Nothing reached a broker: no EndTxn.
        assert_eq!(t.next_step(), Step::Done(Ok(())));
        assert_eq!(t.state, TxnState::Ready);
    }

    #[test]
    fn coordinator_moves_are_followed() {
        let mut t = ready(true);
        t.begin().unwrap();
        t.partition_ready("t", 0);
        t.begin_abort().unwrap();
        t.next_step();
        t.on_messages_settled();
        assert!(matches!(t.next_step(), Step::EndTxn { commit: false, .. }));
        t.on_end(16, Pid::NONE);
        assert_eq!(t.next_step(), Step::Backoff);
        assert_eq!(t.next_step(), Step::FindCoordinator);
        t.on_coordinator(0, 2);
        assert!(matches!(t.next_step(), Step::EndTxn { commit: false, .. }));
        t.on_end(0, Pid { id: 7, epoch: 1 });
        assert_eq!(t.next_step(), Step::Done(Ok(())));
        assert_eq!(t.aborted, 1);
    }

    #[test]
    fn wrong_state_calls_are_usage_errors() {
        let mut t = Txn::new("tx");
        assert_eq!(t.begin().unwrap_err().class, ErrorClass::Usage);
        let mut t = ready(true);
        assert_eq!(t.begin_commit().unwrap_err().class, ErrorClass::Usage);
        assert_eq!(t.begin_init().unwrap_err().error.code, local::STATE);
        assert!(t.check_send().is_err());
    }

    #[test]
    fn unknown_codes_are_fatal() {
        assert_eq!(classify(Api::EndTxn, 9999), Handling::Fatal);
        assert_eq!(classify(Api::EndTxn, 51), Handling::Retry);
        assert_eq!(classify(Api::TxnOffsetCommit, 22), Handling::Abortable);
        assert_eq!(classify(Api::EndTxn, 22), Handling::Fatal);
    }
}
