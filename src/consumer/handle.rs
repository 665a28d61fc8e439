//! The application's side of the consumer: [`Consumer`], the queue of fetched records
//! and events that [`Consumer::poll`] serves, and the messages it hands out.
//!
//! Offsets. For each partition the queue tracks two offsets:
//! * `handed`: after the last record [`Consumer::poll`] returned (Java's position);
//! * `stored`: what the next commit sends. With `enable.auto.offset.store` (the default)
//!   it is `handed` as of the start of the latest poll, i.e. after the records the
//!   application has polled past (a poll means the records of the poll before it were
//!   processed: Java's rule for auto-commit); without it, only what
//!   [`Consumer::store_offset`] stored.
//!
//! Auto-commit commits `stored`, so it is at-least-once by default: never a record merely
//! prefetched, or handed out by the latest poll and possibly not processed yet.
//! librdkafka instead stores an offset when it hands the message out.
//! [`Consumer::commit`] with no offsets commits `handed` with automatic storing (Java's
//! `commitSync()`: everything returned so far) and `stored` without it.

use super::assignor::TopicPartition;
use super::driver::{self, Cmd, Reply};
use super::fetcher::{Chunk, Queued};
use super::group::CommitOffset;
use super::ConsumerSettings;
use crate::client::Client;
use crate::config::Config;
use crate::error::{local, Error, Result};
use crate::net::events::CompletionQueue;
use crate::record::{RecordRef, TimestampType};
use parking_lot::{Condvar, Mutex};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Completion tag that only wakes the driver.
pub(crate) const WAKE: u64 = u64::MAX;

/// What a rebalance does to the assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceKind {
    /// Partitions added.
    Assign,
    /// Partitions taken away cleanly: their offsets may still be committed.
    Revoke,
    /// Partitions lost (fenced, session lost): their offsets must not be committed.
    Lost,
}

/// The application's rebalance callback: called inside [`Consumer::poll`] (or
/// [`Consumer::close`]) on the application's thread, before the change takes effect
/// for fetching (Assign: before the first record of the partitions is handed out;
/// Revoke: before the consumer commits and lets the partitions go). The consumer applies
/// the change itself afterwards; the callback may commit, seek or store offsets, or take
/// the change over with [`Consumer::assign`].
pub type RebalanceFn = Box<dyn FnMut(&Consumer, RebalanceKind, &[TopicPartition]) + Send>;

/// The result of an asynchronous commit: called inside [`Consumer::poll`].
pub type CommitFn = Box<dyn FnMut(&Consumer, &Result<()>, &[CommitOffset]) + Send>;

/// One fetched record, kept alive (with the fetch buffer it comes from, which counts
/// against `queued.max.messages.kbytes`) until dropped.
pub struct Message {
    chunk: Arc<Chunk>,
    idx: usize,
}

impl Message {
    fn rec(&self) -> RecordRef<'_> {
        self.chunk
            .records
            .get(self.idx)
            .expect("index checked when the message was made")
    }
    pub fn topic(&self) -> &str {
        &self.chunk.tp.topic
    }
    pub fn partition(&self) -> i32 {
        self.chunk.tp.partition
    }
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.chunk.tp
    }
    pub fn offset(&self) -> i64 {
        self.rec().offset
    }
    pub fn timestamp(&self) -> i64 {
        self.rec().timestamp
    }
    pub fn timestamp_type(&self) -> TimestampType {
        self.rec().timestamp_type
    }
    pub fn key(&self) -> Option<&[u8]> {
        self.rec().key
    }
    pub fn value(&self) -> Option<&[u8]> {
        self.rec().value
    }
    /// The record's headers in order, as (key, value) pairs.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> + '_ {
        self.rec().headers()
    }
    pub fn header_count(&self) -> usize {
        self.rec().header_count()
    }
    /// The leader epoch of the batch (-1 unknown).
    pub fn leader_epoch(&self) -> i32 {
        self.rec().partition_leader_epoch
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Message({}/{}@{})",
            self.topic(),
            self.partition(),
            self.offset()
        )
    }
}

/// What [`Consumer::poll`] returns.
#[derive(Debug)]
pub enum Event {
    Message(Message),
    /// An error the application should know of: a partition's (with it), the group's,
    /// or the end of a partition (`local::PARTITION_EOF`, with `enable.partition.eof`).
    /// `fatal`: the consumer cannot go on (close it).
    Error {
        error: Error,
        tp: Option<TopicPartition>,
        offset: i64,
        fatal: bool,
    },
}

/// A partition as the application side sees it.
#[derive(Debug, Clone)]
pub(crate) struct PartView {
    /// Bumped by every seek and (re)assignment: chunks fetched before are dropped.
    pub seq: u64,
    pub paused: bool,
    /// Next offset poll hands out (-1 unknown), with the epoch of the record before it.
    pub handed: (i64, i32),
    pub stored: (i64, i32),
    /// `stored` as of the last commit that succeeded or was sent.
    pub committed: i64,
}

impl PartView {
    fn new(seq: u64) -> PartView {
        PartView {
            seq,
            paused: false,
            handed: (-1, -1),
            stored: (-1, -1),
            committed: -1,
        }
    }
}

pub(crate) enum Item {
    Records {
        chunk: Arc<Chunk>,
        next: usize,
        seq: u64,
        /// Counts the chunk as waiting ahead of the application (the fetcher's prefetch
        /// target) until its first records are handed out, or its partition is found
        /// paused.
        queued: Option<Queued>,
    },
    Event(Event),
    Rebalance(RebalanceKind, Vec<TopicPartition>),
    CommitResult(Result<()>, Vec<CommitOffset>),
}

/// The queue between the driver and the application.
#[derive(Default)]
pub(crate) struct AppQueue {
    pub items: VecDeque<Item>,
    pub parts: HashMap<TopicPartition, PartView>,
    pub next_seq: u64,
    /// The driver has stopped (closed, or its thread ended).
    pub stopped: bool,
    /// A fatal error: every later call fails with it.
    pub fatal: Option<Error>,
}

impl AppQueue {
    /// A new view for `tp` (assigned, or seeked: earlier chunks no longer count).
    pub fn reset_part(&mut self, tp: &TopicPartition) -> u64 {
        self.next_seq += 1;
        let seq = self.next_seq;
        let paused = self.parts.get(tp).is_some_and(|p| p.paused);
        let mut v = PartView::new(seq);
        v.paused = paused;
        self.parts.insert(tp.clone(), v);
        seq
    }

    /// Stores what was handed out, for the next commit.
    pub fn store_handed(&mut self) {
        for p in self.parts.values_mut() {
            if p.handed.0 >= 0 {
                p.stored = p.handed;
            }
        }
    }

    /// The offsets to commit: `stored` where it moved past the last commit.
    pub fn to_commit(&self) -> Vec<CommitOffset> {
        let mut v: Vec<CommitOffset> = self
            .parts
            .iter()
            .filter(|(_, p)| p.stored.0 >= 0 && p.stored.0 != p.committed)
            .map(|(tp, p)| CommitOffset {
                tp: tp.clone(),
                offset: p.stored.0,
                leader_epoch: p.stored.1,
                metadata: None,
            })
            .collect();
        v.sort_by(|a, b| a.tp.cmp(&b.tp));
        v
    }
}

pub(crate) struct Shared {
    pub settings: ConsumerSettings,
    pub cq: Arc<CompletionQueue>,
    pub wake_pending: AtomicBool,
    pub cmds: Mutex<VecDeque<Cmd>>,
    pub app: Mutex<AppQueue>,
    pub app_cv: Condvar,
    /// When the application last polled, in ms since `base`.
    pub polled_ms: AtomicU64,
    pub base: Instant,
    pub stop: AtomicBool,
    /// (generation or member epoch, member id) while in a stable group, as the driver
    /// last saw it: what a transaction's offsets carry (KIP-447).
    pub generation: Mutex<Option<(i32, String)>>,
    /// Fetch requests sent, per broker id.
    pub fetches: Mutex<BTreeMap<i32, u64>>,
}

impl Shared {
    pub fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            self.cq.push(WAKE, Err(Error::new(local::FAIL, "wake")));
        }
    }

    pub fn command(&self, c: Cmd) {
        self.cmds.lock().push_back(c);
        self.wake();
    }
}

/// A group consumer (or a consumer of manually assigned partitions). Thread-safe: every
/// method may be called from any thread; callbacks run on the thread that polls.
pub struct Consumer {
    pub(crate) shared: Arc<Shared>,
    client: Arc<Client>,
    driver: Mutex<Option<JoinHandle<()>>>,
    rebalance: Mutex<Option<RebalanceFn>>,
    on_commit: Mutex<Option<CommitFn>>,
    /// Set while a thread runs a callback (a callback's own poll serves nothing).
    in_callback: AtomicBool,
    /// The rebalance whose callback runs now, and the thread running it: an `assign`
    /// made from that callback takes the change over (see [`Consumer::assign`]).
    in_rebalance: Mutex<Option<(std::thread::ThreadId, RebalanceKind, Vec<TopicPartition>)>>,
    /// Set by `close`: commits made while closing end by then.
    close_deadline: Mutex<Option<Instant>>,
}

impl Consumer {
    /// The client the consumer's connections belong to.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A consumer from `config` (`bootstrap.servers`, `group.id` to subscribe or commit,
    /// and the consumer's properties). Brokers are contacted in the background.
    pub fn new(config: &Config) -> Result<Consumer> {
        let settings = ConsumerSettings::from_config(config)?;
        let client = Arc::new(Client::new(config)?);
        let shared = Arc::new(Shared {
            settings,
            cq: Arc::new(CompletionQueue::new()),
            wake_pending: AtomicBool::new(false),
            cmds: Mutex::new(VecDeque::new()),
            app: Mutex::new(AppQueue::default()),
            app_cv: Condvar::new(),
            polled_ms: AtomicU64::new(0),
            base: Instant::now(),
            stop: AtomicBool::new(false),
            generation: Mutex::new(None),
            fetches: Mutex::new(BTreeMap::new()),
        });
        let s = shared.clone();
        let c = client.clone();
        let handle = std::thread::Builder::new()
            .name("kc-cons".into())
            .spawn(move || driver::run(s, c))
            .map_err(|e| {
                Error::new(
                    local::FAIL,
                    format!("cannot start the consumer thread: {e}"),
                )
            })?;
        Ok(Consumer {
            shared,
            client,
            driver: Mutex::new(Some(handle)),
            rebalance: Mutex::new(None),
            on_commit: Mutex::new(None),
            in_callback: AtomicBool::new(false),
            in_rebalance: Mutex::new(None),
            close_deadline: Mutex::new(None),
        })
    }

    pub fn settings(&self) -> &ConsumerSettings {
        &self.shared.settings
    }

    /// Whether the consumer has stopped (closed, or its thread ended): polls then
    /// return nothing at once and other calls fail with `local::DESTROY`.
    pub fn is_closed(&self) -> bool {
        self.shared.app.lock().stopped
    }

    /// Sets the rebalance callback (see [`RebalanceFn`]).
    pub fn set_rebalance_callback(&self, f: Option<RebalanceFn>) {
        *self.rebalance.lock() = f;
    }

    /// Sets the callback for the results of asynchronous commits (auto-commit included).
    pub fn set_commit_callback(&self, f: Option<CommitFn>) {
        *self.on_commit.lock() = f;
    }

    fn check_open(&self) -> Result<()> {
        let app = self.shared.app.lock();
        if let Some(e) = &app.fatal {
            return Err(Error::new(
                local::FATAL,
                format!("the consumer hit a fatal error: {}", e.message),
            ));
        }
        if app.stopped {
            return Err(Error::new(local::DESTROY, "the consumer is closed"));
        }
        Ok(())
    }

    fn need_group(&self, what: &str) -> Result<()> {
        if self.shared.settings.group_id.is_empty() {
            return Err(Error::new(
                local::INVALID_ARG,
                format!("{what} needs a group.id"),
            ));
        }
        Ok(())
    }

    /// Subscribes to `topics` (names; a name starting with `^` is a regular
    /// expression), replacing any earlier subscription or assignment.
    pub fn subscribe(&self, topics: &[&str]) -> Result<()> {
        self.check_open()?;
        self.need_group("subscribe")?;
        if topics.is_empty() {
            return Err(Error::invalid_arg("subscribe: no topics"));
        }
        let mut names = Vec::new();
        for t in topics {
            if t.is_empty() {
                return Err(Error::invalid_arg("subscribe: an empty topic name"));
            }
            if let Some(re) = t.strip_prefix('^') {
                regex::Regex::new(&format!("^{re}")).map_err(|e| {
                    Error::invalid_arg(format!("subscribe: invalid pattern '{t}': {e}"))
                })?;
            }
            names.push((*t).to_owned());
        }
        names.sort();
        names.dedup();
        self.shared.command(Cmd::Subscribe(names));
        Ok(())
    }

    pub fn unsubscribe(&self) -> Result<()> {
        self.check_open()?;
        self.shared.command(Cmd::Unsubscribe);
        Ok(())
    }

    /// Consumes exactly these partitions, without group membership (commits still go
    /// to `group.id`'s coordinator when one is set). `offset` `None`: the committed
    /// offset, else `auto.offset.reset`; negative: -2 earliest, -1 latest.
    ///
    /// Called from the rebalance callback (on its thread), it takes that rebalance over
    /// instead (librdkafka's `assign`/`incremental_assign` from its callback):
    /// - Assign: `parts` says which of the partitions the rebalance adds are consumed
    ///   and from where (an offset starts there, `None` at the committed offset); those
    ///   it leaves out stay assigned to the member but paused (until
    ///   [`resume`](Self::resume)). A partition the rebalance does not add is refused.
    /// - Revoke and Lost: the consumer lets the partitions go itself; an empty list, or
    ///   one of the rebalance's own partitions, is accepted and changes nothing; a
    ///   partition the rebalance does not take away is refused.
    pub fn assign(&self, parts: &[(TopicPartition, Option<i64>)]) -> Result<()> {
        self.check_open()?;
        let current = self
            .in_rebalance
            .lock()
            .clone()
            .filter(|(thread, ..)| *thread == std::thread::current().id());
        if let Some((_, kind, tps)) = current {
            return self.take_over(kind, &tps, parts);
        }
        {
            let mut app = self.shared.app.lock();
            let keep: Vec<TopicPartition> = parts.iter().map(|(tp, _)| tp.clone()).collect();
            app.parts.retain(|tp, _| keep.contains(tp));
            for tp in &keep {
                app.reset_part(tp);
            }
        }
        self.shared.command(Cmd::Assign(parts.to_vec()));
        Ok(())
    }

    /// `assign` from the rebalance callback (see [`assign`](Self::assign)).
    fn take_over(
        &self,
        kind: RebalanceKind,
        tps: &[TopicPartition],
        parts: &[(TopicPartition, Option<i64>)],
    ) -> Result<()> {
        if let Some((tp, _)) = parts.iter().find(|(tp, _)| !tps.contains(tp)) {
            let what = match kind {
                RebalanceKind::Assign => "assigns",
                RebalanceKind::Revoke => "revokes",
                RebalanceKind::Lost => "loses",
            };
            return Err(Error::invalid_arg(format!(
                "assign from the rebalance callback: {}/{} is not among the partitions this \
                 rebalance {what}",
                tp.topic, tp.partition
            )));
        }
        if kind != RebalanceKind::Assign {
            // The consumer lets them go after the callback, as without the call.
            return Ok(());
        }
        for (tp, start) in parts {
            if let Some(o) = start {
                self.seek(tp, *o)?;
            }
        }
        let left_out: Vec<TopicPartition> = tps
            .iter()
            .filter(|tp| !parts.iter().any(|(p, _)| p == *tp))
            .cloned()
            .collect();
        if !left_out.is_empty() {
            self.pause(&left_out)?;
        }
        Ok(())
    }

    /// (generation or member epoch, member id) while the consumer is in a stable group:
    /// what a transactional producer sends with the group's offsets, so that the group
    /// coordinator refuses them from a member that is no longer in the group.
    pub fn group_generation(&self) -> Option<(i32, String)> {
        self.shared.generation.lock().clone()
    }

    /// How many Fetch requests the consumer has sent to each broker (by broker id): with
    /// `client.rack`, fetches go to the replica the leader prefers (KIP-392).
    pub fn fetch_requests(&self) -> BTreeMap<i32, u64> {
        self.shared.fetches.lock().clone()
    }

    /// The partitions assigned now.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        let mut v: Vec<TopicPartition> = self.shared.app.lock().parts.keys().cloned().collect();
        v.sort();
        v
    }

    /// Waits up to `timeout` for the next message or event. Rebalance and commit
    /// callbacks run inside. `None`: nothing within the timeout.
    pub fn poll(&self, timeout: Duration) -> Option<Event> {
        self.poll_batch(1, timeout).pop()
    }

    /// Up to `max` messages and events, waiting up to `timeout` for the first.
    pub fn poll_batch(&self, max: usize, timeout: Duration) -> Vec<Event> {
        let deadline = Instant::now() + timeout;
        let ms = self.shared.base.elapsed().as_millis() as u64;
        self.shared.polled_ms.store(ms.max(1), Ordering::Release);
        let mut out = Vec::new();
        let mut app = self.shared.app.lock();
        // The records handed out before this poll count as processed.
        if self.shared.settings.auto_offset_store {
            app.store_handed();
        }
        loop {
            while out.len() < max {
                let room = max - out.len();
                match take_next(&mut app, &mut out, room) {
                    Taken::Handed => {}
                    Taken::Event(e) => out.push(e),
                    // A rebalance after records this poll hands out waits for the next
                    // poll: by then those records count as processed, so a revocation
                    // commits them (served now, they would be handed out after their
                    // partition's commit, and read again by its next owner).
                    Taken::Callback(item @ Item::Rebalance(..)) if !out.is_empty() => {
                        app.items.push_front(item);
                        break;
                    }
                    Taken::Callback(item) => {
                        drop(app);
                        self.serve(item);
                        app = self.shared.app.lock();
                    }
                    Taken::Nothing => break,
                }
            }
            if !out.is_empty() || app.stopped {
                return out;
            }
            if self
                .shared
                .app_cv
                .wait_until(&mut app, deadline)
                .timed_out()
            {
                return out;
            }
        }
    }

    /// Runs a callback item on this thread: a rebalance (then the consumer commits what
    /// the application stored for revoked partitions, and lets them go), or an
    /// asynchronous commit's result.
    fn serve(&self, item: Item) {
        match item {
            Item::Rebalance(kind, tps) => {
                if !self.in_callback.swap(true, Ordering::AcqRel) {
                    *self.in_rebalance.lock() =
                        Some((std::thread::current().id(), kind, tps.clone()));
                    if let Some(f) = self.rebalance.lock().as_mut() {
                        f(self, kind, &tps);
                    }
                    *self.in_rebalance.lock() = None;
                    self.in_callback.store(false, Ordering::Release);
                }
                if kind == RebalanceKind::Revoke && self.shared.settings.auto_commit {
                    let offsets: Vec<CommitOffset> = {
                        let app = self.shared.app.lock();
                        app.to_commit()
                            .into_iter()
                            .filter(|c| tps.contains(&c.tp))
                            .collect()
                    };
                    if !offsets.is_empty() {
                        let _ = self.commit_offsets(offsets, false);
                    }
                }
                if kind != RebalanceKind::Assign {
                    let mut app = self.shared.app.lock();
                    for tp in &tps {
                        app.parts.remove(tp);
                    }
                    drop(app);
                    self.shared.command(Cmd::RevokeDone);
                }
            }
            Item::CommitResult(r, offsets) => {
                if !self.in_callback.swap(true, Ordering::AcqRel) {
                    if let Some(f) = self.on_commit.lock().as_mut() {
                        f(self, &r, &offsets);
                    }
                    self.in_callback.store(false, Ordering::Release);
                }
            }
            Item::Records { .. } | Item::Event(_) => {}
        }
    }

    /// Commits `offsets` (the next offset to consume, per partition), or with `None`
    /// what [`Consumer::poll`] has handed out (see the module doc). `asynchronous`:
    /// returns at once; the result goes to the commit callback.
    pub fn commit(&self, offsets: Option<&[CommitOffset]>, asynchronous: bool) -> Result<()> {
        self.check_open()?;
        self.need_group("commit")?;
        let offsets = match offsets {
            Some(o) => o.to_vec(),
            None => {
                let mut app = self.shared.app.lock();
                if self.shared.settings.auto_offset_store {
                    app.store_handed();
                }
                app.to_commit()
            }
        };
        self.commit_offsets(offsets, asynchronous)
    }

    fn commit_offsets(&self, offsets: Vec<CommitOffset>, asynchronous: bool) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        {
            let mut app = self.shared.app.lock();
            for o in &offsets {
                if let Some(p) = app.parts.get_mut(&o.tp) {
                    p.committed = o.offset;
                }
            }
        }
        if asynchronous {
            self.shared.command(Cmd::Commit {
                offsets,
                reply: None,
            });
            return Ok(());
        }
        let reply = Reply::new();
        self.shared.command(Cmd::Commit {
            offsets,
            reply: Some(reply.clone()),
        });
        let mut limit = self.shared.settings.commit_timeout;
        if let Some(d) = *self.close_deadline.lock() {
            limit = limit.min(d.saturating_duration_since(Instant::now()));
        }
        reply.wait(limit).unwrap_or_else(|| {
            Err(Error::timed_out(format!(
                "commit: no answer within {} ms",
                limit.as_millis()
            )))
        })
    }

    /// Stores `offset` (the next offset to consume) for the next commit.
    pub fn store_offset(&self, tp: &TopicPartition, offset: i64, leader_epoch: i32) -> Result<()> {
        self.check_open()?;
        let mut app = self.shared.app.lock();
        match app.parts.get_mut(tp) {
            Some(p) => {
                p.stored = (offset, leader_epoch);
                Ok(())
            }
            None => Err(Error::new(
                local::UNKNOWN_PARTITION,
                format!(
                    "store_offset: {}/{} is not assigned to this consumer",
                    tp.topic, tp.partition
                ),
            )),
        }
    }

    /// The committed offsets of `tps` (-1: none), asked of the group coordinator.
    pub fn committed(
        &self,
        tps: &[TopicPartition],
        timeout: Duration,
    ) -> Result<Vec<(TopicPartition, i64)>> {
        self.check_open()?;
        self.need_group("committed")?;
        let reply = Reply::new();
        self.shared.command(Cmd::Committed {
            tps: tps.to_vec(),
            reply: reply.clone(),
        });
        reply
            .wait(timeout)
            .unwrap_or_else(|| {
                Err(Error::timed_out(format!(
                    "committed: no answer within {} ms",
                    timeout.as_millis()
                )))
            })
            .map(|v| v.into_iter().map(|(tp, o, _)| (tp, o)).collect())
    }

    /// The next offset poll hands out for `tp` (-1 unknown), if it is assigned.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.shared.app.lock().parts.get(tp).map(|p| p.handed.0)
    }

    /// Moves `tp`'s position to `offset` (-2 earliest, -1 latest): records fetched
    /// before are dropped.
    pub fn seek(&self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.check_open()?;
        {
            let mut app = self.shared.app.lock();
            if !app.parts.contains_key(tp) {
                return Err(Error::new(
                    local::UNKNOWN_PARTITION,
                    format!(
                        "seek: {}/{} is not assigned to this consumer",
                        tp.topic, tp.partition
                    ),
                ));
            }
            app.reset_part(tp);
            if offset >= 0 {
                if let Some(p) = app.parts.get_mut(tp) {
                    p.handed = (offset, -1);
                }
            }
        }
        self.shared.command(Cmd::Seek(tp.clone(), offset));
        Ok(())
    }

    /// Stops handing out (and fetching) records of `tps` until [`resume`](Self::resume).
    pub fn pause(&self, tps: &[TopicPartition]) -> Result<()> {
        self.set_paused(tps, true)
    }

    pub fn resume(&self, tps: &[TopicPartition]) -> Result<()> {
        self.set_paused(tps, false)
    }

    fn set_paused(&self, tps: &[TopicPartition], paused: bool) -> Result<()> {
        self.check_open()?;
        {
            let mut app = self.shared.app.lock();
            for tp in tps {
                if let Some(p) = app.parts.get_mut(tp) {
                    p.paused = paused;
                }
            }
        }
        self.shared.command(if paused {
            Cmd::Pause(tps.to_vec())
        } else {
            Cmd::Resume(tps.to_vec())
        });
        self.shared.app_cv.notify_all();
        Ok(())
    }

    /// Leaves the group cleanly within `timeout`: the revoke callback runs, the offsets
    /// stored are committed (with auto-commit), a LeaveGroup goes out (not for a static
    /// member), and the consumer stops. Returns within `timeout` plus 100 ms even with
    /// the cluster down (what is not done by then is dropped). Later calls fail with
    /// `local::DESTROY`.
    pub fn close(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        {
            let app = self.shared.app.lock();
            if app.stopped && self.driver.lock().is_none() {
                return Ok(());
            }
        }
        // What the application was given counts as processed: it is closing. With
        // auto-commit, that is committed first (within the bound).
        let offsets = {
            let mut app = self.shared.app.lock();
            if self.shared.settings.auto_offset_store {
                app.store_handed();
            }
            app.to_commit()
        };
        *self.close_deadline.lock() = Some(deadline);
        if self.shared.settings.auto_commit && !self.shared.settings.group_id.is_empty() {
            let _ = self.commit_offsets(offsets, false);
        }
        self.shared.command(Cmd::Close);
        // Serve the revoke (and commit results) while the driver leaves the group.
        loop {
            let mut app = self.shared.app.lock();
            if app.stopped {
                break;
            }
            let next = take_callback(&mut app);
            match next {
                Some(item) => {
                    drop(app);
                    self.serve(item);
                }
                None => {
                    if self
                        .shared
                        .app_cv
                        .wait_until(&mut app, deadline)
                        .timed_out()
                    {
                        break;
                    }
                }
            }
        }
        self.stop_driver(deadline + Duration::from_millis(100));
        Ok(())
    }

    /// Stops the driver thread, waiting for it until `deadline` at most.
    fn stop_driver(&self, deadline: Instant) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake();
        self.client.cluster().close();
        let handle = self.driver.lock().take();
        if let Some(h) = handle {
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
        let mut app = self.shared.app.lock();
        app.stopped = true;
        app.items.clear();
        self.shared.app_cv.notify_all();
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let t = self.shared.settings.close_timeout;
        let _ = self.close(t);
    }
}

enum Taken {
    /// Records were added to the poll's output.
    Handed,
    Event(Event),
    Callback(Item),
    Nothing,
}

/// The next thing `poll` hands out or serves, skipping records of partitions no longer
/// assigned (or seeked since) and leaving those of paused partitions queued.
fn take_next(app: &mut AppQueue, out: &mut Vec<Event>, room: usize) -> Taken {
    let mut i = 0;
    while i < app.items.len() {
        let action = match &app.items[i] {
            Item::Records {
                chunk, seq, next, ..
            } => match app.parts.get_mut(&chunk.tp) {
                Some(p) if p.seq == *seq && !p.paused && *next < chunk.records.len() => {
                    if !out.is_empty()
                        && *next == 0
                        && !app
                            .items
                            .iter()
                            .skip(i + 1)
                            .any(|it| matches!(it, Item::Records { .. }))
                    {
                        // The last chunk queued starts in the next poll, not in this
                        // one: starting it lets the fetcher ask for more, and the answer
                        // should find the records of this poll released (else the
                        // previous chunk, this one and the answer are held at once).
                        return Taken::Nothing;
                    }
                    // A run of the chunk's records, with one lookup of their partition.
                    let Item::Records {
                        chunk,
                        next,
                        queued,
                        ..
                    } = &mut app.items[i]
                    else {
                        unreachable!("matched above")
                    };
                    *queued = None;
                    let end = chunk.records.len().min(*next + room.max(1));
                    for idx in *next..end {
                        out.push(Event::Message(Message {
                            chunk: chunk.clone(),
                            idx,
                        }));
                    }
                    *next = end;
                    let last = chunk.records.get(end - 1).expect("end is past a record");
                    p.handed = (last.offset + 1, last.partition_leader_epoch);
                    if end >= chunk.records.len() {
                        app.items.remove(i);
                    }
                    return Taken::Handed;
                }
                Some(p) if p.seq == *seq && p.paused => 1,
                _ => 2,
            },
            Item::Event(_) | Item::Rebalance(..) | Item::CommitResult(..) => 3,
        };
        match action {
            1 => {
                if let Item::Records { queued, .. } = &mut app.items[i] {
                    *queued = None;
                }
                i += 1;
            }
            2 => {
                app.items.remove(i);
            }
            _ => {
                let item = app.items.remove(i).expect("index in range");
                return match item {
                    Item::Event(e) => Taken::Event(e),
                    other => Taken::Callback(other),
                };
            }
        }
    }
    Taken::Nothing
}

/// The next callback item (rebalance or commit result), for `close`; records and
/// events are dropped meanwhile.
fn take_callback(app: &mut AppQueue) -> Option<Item> {
    while let Some(item) = app.items.pop_front() {
        if matches!(item, Item::Rebalance(..) | Item::CommitResult(..)) {
            return Some(item);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::fetcher::Budget;
    use crate::record::{encode_batch, BatchOptions, DecodeLimits, RecordIn, RecordSet};
    use bytes::Bytes;

    fn chunk(budget: &Arc<Budget>, tp: &TopicPartition, base: i64, n: usize) -> Arc<Chunk> {
        let recs = vec![
            RecordIn {
                key: None,
                value: Some(b"v"),
                headers: &[],
                timestamp: Some(1),
            };
            n
        ];
        let mut out = Vec::new();
        let opts = BatchOptions {
            base_offset: base,
            ..BatchOptions::default()
        };
        encode_batch(&recs, &opts, &mut out).unwrap();
        let records = RecordSet::decode(Bytes::from(out), &DecodeLimits::default()).unwrap();
        Arc::new(Chunk {
            tp: tp.clone(),
            records,
            high_watermark: base + n as i64,
            charge: budget.charge(100),
            raw: 0,
        })
    }

    /// Queues `chunk` for the application, as the driver does.
    fn queue(app: &mut AppQueue, chunk: Arc<Chunk>) {
        let queued = Some(chunk.queue());
        app.items.push_back(Item::Records {
            chunk,
            next: 0,
            seq: 1,
            queued,
        });
    }

    /// What `poll_batch` would hand out with `max` room: the offsets.
    fn poll(app: &mut AppQueue, max: usize) -> Vec<i64> {
        let mut out = Vec::new();
        while out.len() < max {
            let room = max - out.len();
            match take_next(app, &mut out, room) {
                Taken::Handed => {}
                Taken::Nothing => break,
                _ => panic!("only records are queued"),
            }
        }
        out.iter()
            .map(|e| match e {
                Event::Message(m) => m.chunk.records.get(m.idx).unwrap().offset,
                _ => panic!("only records are queued"),
            })
            .collect()
    }

    /// Starting the last chunk queued lets the fetcher ask for more. A poll that holds
    /// records already leaves it to the next poll, so that the answer does not arrive
    /// while the application still holds the previous chunk (three answers in memory
    /// instead of two).
    #[test]
    fn a_poll_with_records_leaves_the_last_chunk_queued_to_the_next_poll() {
        let budget = Arc::new(Budget::new(1 << 20, Box::new(|| {})));
        let tp = TopicPartition {
            topic: "t".into(),
            partition: 0,
        };
        let mut app = AppQueue::default();
        app.parts.insert(tp.clone(), PartView::new(1));
        for base in [0, 5, 10] {
            queue(&mut app, chunk(&budget, &tp, base, 5));
        }
        assert_eq!(budget.queued(), 300);
        // The second chunk is not the last: a poll goes on into it.
        assert_eq!(poll(&mut app, 8), (0..8).collect::<Vec<_>>());
        assert_eq!(budget.queued(), 100);
        // The rest of the second; the last waits, still counted as queued.
        assert_eq!(poll(&mut app, 8), [8, 9]);
        assert_eq!(budget.queued(), 100);
        // A poll that starts empty takes it.
        assert_eq!(poll(&mut app, 8), (10..15).collect::<Vec<_>>());
        assert_eq!(budget.queued(), 0);
        assert!(app.items.is_empty());
        // One chunk, polled from empty: handed out as before.
        queue(&mut app, chunk(&budget, &tp, 15, 3));
        assert_eq!(poll(&mut app, 8), [15, 16, 17]);
    }
}
