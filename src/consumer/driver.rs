//! The consumer's thread (`kc-cons`): drives the group membership ([`Group`]) and the
//! prefetcher ([`Fetcher`]), both sans-I/O, through the I/O core. It sends what they ask
//! for on the right connection (the coordinator's own connection for the group, the
//! fetch connection for fetches), feeds the answers back from one completion queue,
//! refreshes metadata, runs auto-commit, and moves fetched records and events to the
//! application's queue. The application wakes it through the same completion queue.

use super::assignor::{PartitionCounts, TopicPartition};
use super::fetcher::{FetchAction, FetchEvent, FetchRequestKind, FetchResponseKind, Fetcher};
use super::group::{Action, CommitOffset, Group, GroupEvent, GroupRequest, GroupResponse, Target};
use super::handle::{Event, Item, RebalanceKind, Shared, WAKE};
use crate::client::Client;
use crate::cluster::{Cluster, Purpose};
use crate::error::{local, Error, Result};
use crate::net::Connection;
use crate::protocol::messages::*;
use crate::protocol::Request;
use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest the driver sleeps with nothing due.
const IDLE_WAIT: Duration = Duration::from_millis(200);

/// Longest one blocking call (a connection set-up, a metadata refresh) may take: it is
/// tried again later.
const SLOW_CALL: Duration = Duration::from_secs(2);

/// A one-shot answer to a caller that waits.
pub(crate) struct Reply<T>(Arc<(Mutex<Option<T>>, Condvar)>);

impl<T> Clone for Reply<T> {
    fn clone(&self) -> Self {
        Reply(self.0.clone())
    }
}

impl<T> Reply<T> {
    pub fn new() -> Reply<T> {
        Reply(Arc::new((Mutex::new(None), Condvar::new())))
    }
    pub fn set(&self, v: T) {
        *self.0 .0.lock() = Some(v);
        self.0 .1.notify_all();
    }
    pub fn wait(&self, timeout: Duration) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut g = self.0 .0.lock();
        while g.is_none() {
            if self.0 .1.wait_until(&mut g, deadline).timed_out() {
                break;
            }
        }
        g.take()
    }
}

/// What the application asks of the driver.
pub(crate) enum Cmd {
    Subscribe(Vec<String>),
    Unsubscribe,
    Assign(Vec<(TopicPartition, Option<i64>)>),
    Commit {
        offsets: Vec<CommitOffset>,
        reply: Option<Reply<Result<()>>>,
    },
    Committed {
        tps: Vec<TopicPartition>,
        reply: Reply<Result<Vec<(TopicPartition, i64, i32)>>>,
    },
    Seek(TopicPartition, i64),
    Pause(Vec<TopicPartition>),
    Resume(Vec<TopicPartition>),
    RevokeDone,
    Close,
}

/// Who waits for a group answer.
enum GroupWaiter {
    Commit(Option<Reply<Result<()>>>, Vec<CommitOffset>),
    /// Committed offsets to start the assigned partitions from.
    Positions,
    Committed(Reply<Result<Vec<(TopicPartition, i64, i32)>>>),
}

enum Sent {
    Group { id: u64, kind: GroupKind },
    Fetch { id: u64, kind: FetchKind },
}

#[derive(Clone, Copy)]
enum GroupKind {
    FindCoordinator,
    Join,
    Sync,
    Heartbeat,
    Leave,
    Commit,
    FetchOffsets,
    ConsumerHeartbeat,
}

#[derive(Clone, Copy)]
enum FetchKind {
    Fetch,
    ListOffsets,
}

struct InFlight {
    conn: Arc<Connection>,
    version: i16,
    sent: Sent,
}

struct Driver<'a> {
    shared: &'a Shared,
    cluster: &'a Cluster,
    group: Option<Group>,
    fetcher: Fetcher,
    reqs: HashMap<u64, InFlight>,
    next_tag: u64,
    waiters: HashMap<u64, GroupWaiter>,
    /// The subscription as given (names and `^` patterns).
    subscription: Vec<String>,
    /// The topic names it resolves to now.
    resolved: Vec<String>,
    /// Topics whose metadata is wanted (subscribed, assigned, asked for).
    wanted: Vec<String>,
    metadata_due: Option<Instant>,
    snapshot_seen: usize,
    auto_commit_at: Option<Instant>,
    closing: bool,
    /// The application's last poll as seen (ms since `Shared::base`).
    polled_seen: u64,
    /// The partitions the fetcher has.
    assigned: std::collections::BTreeSet<TopicPartition>,
    /// Topics reported missing (until they appear).
    missing: std::collections::BTreeSet<String>,
    /// Partitions the application placed with seek since they were assigned.
    seeked: std::collections::BTreeSet<TopicPartition>,
}

pub(crate) fn run(shared: Arc<Shared>, client: Arc<Client>) {
    let cluster = client.cluster();
    let s = &shared.settings;
    // Weak: messages the application holds keep the budget alive, and must not keep the
    // consumer's queue (which may hold their chunks) alive with it.
    let budget_shared = Arc::downgrade(&shared);
    let budget = Arc::new(super::fetcher::Budget::new(
        s.fetch.budget_bytes,
        Box::new(move || {
            if let Some(s) = budget_shared.upgrade() {
                s.wake();
            }
        }),
    ));
    let mut d = Driver {
        shared: &shared,
        cluster,
        group: (!s.group_id.is_empty()).then(|| Group::new(s.group.clone())),
        fetcher: Fetcher::new(s.fetch.clone(), budget),
        reqs: HashMap::new(),
        next_tag: 0,
        waiters: HashMap::new(),
        subscription: Vec::new(),
        resolved: Vec::new(),
        wanted: Vec::new(),
        metadata_due: None,
        snapshot_seen: 0,
        auto_commit_at: None,
        closing: false,
        polled_seen: 0,
        assigned: Default::default(),
        missing: Default::default(),
        seeked: Default::default(),
    };
    d.run();
    let mut app = shared.app.lock();
    app.stopped = true;
    shared.app_cv.notify_all();
}

impl Driver<'_> {
    fn run(&mut self) {
        loop {
            if self.shared.stop.load(Ordering::Acquire) {
                return;
            }
            let now = Instant::now();
            let cmds: Vec<Cmd> = self.shared.cmds.lock().drain(..).collect();
            for c in cmds {
                self.command(c, now);
            }
            if self.closing && self.group.as_ref().is_none_or(Group::is_closed) {
                return;
            }
            let polled = self.shared.polled_ms.load(Ordering::Acquire);
            if polled != self.polled_seen {
                self.polled_seen = polled;
                if let Some(g) = &mut self.group {
                    g.app_polled(now);
                }
            }
            self.metadata(now);
            if let Some(g) = &mut self.group {
                let actions = g.poll(now);
                for a in actions {
                    self.group_action(a, now);
                }
            }
            if let Some(g) = &self.group {
                let generation = g.generation();
                let mut seen = self.shared.generation.lock();
                if *seen != generation {
                    *seen = generation;
                }
            }
            let actions = self.fetcher.poll(now);
            for a in actions {
                self.fetch_action(a, now);
            }
            self.auto_commit(now);

            let mut until = now + IDLE_WAIT;
            for t in [
                self.group.as_ref().and_then(Group::next_timer),
                self.fetcher.next_timer(),
                self.auto_commit_at,
                self.metadata_due,
            ]
            .into_iter()
            .flatten()
            {
                until = until.min(t);
            }
            let mut got = self.shared.cq.pop(until.max(now));
            while let Some((tag, result)) = got {
                if tag == WAKE {
                    self.shared.wake_pending.store(false, Ordering::Release);
                } else if let Some(r) = self.reqs.remove(&tag) {
                    self.answer(r, result);
                }
                got = self.shared.cq.pop(Instant::now());
            }
        }
    }

    fn command(&mut self, c: Cmd, now: Instant) {
        match c {
            Cmd::Subscribe(topics) => {
                self.subscription = topics;
                self.resolve_subscription();
                self.metadata_due = Some(now);
            }
            Cmd::Unsubscribe => {
                self.subscription.clear();
                self.resolved.clear();
                if let Some(g) = &mut self.group {
                    g.unsubscribe();
                }
            }
            Cmd::Assign(parts) => {
                let tps: Vec<TopicPartition> = parts.iter().map(|(tp, _)| tp.clone()).collect();
                let old: Vec<TopicPartition> = self.fetcher_assigned();
                self.unassign(&old);
                self.assign(&tps);
                let mut need_committed = Vec::new();
                for (tp, off) in &parts {
                    self.seeked.remove(tp);
                    match off {
                        Some(o) if *o >= 0 => self.fetcher.set_position(tp, *o, -1),
                        Some(-2) => self.fetcher.seek_to(tp, true),
                        Some(_) => self.fetcher.seek_to(tp, false),
                        None if self.group.is_some() => need_committed.push(tp.clone()),
                        None => self.fetcher.set_position(tp, -1, -1),
                    }
                }
                for tp in &tps {
                    self.want(&tp.topic, now);
                }
                if !need_committed.is_empty() {
                    if let Some(g) = &mut self.group {
                        let id = g.fetch_committed(need_committed, now);
                        self.waiters.insert(id, GroupWaiter::Positions);
                    }
                }
            }
            Cmd::Commit { offsets, reply } => match &mut self.group {
                Some(g) => {
                    let id = g.commit(offsets.clone(), now);
                    self.waiters.insert(id, GroupWaiter::Commit(reply, offsets));
                }
                None => {
                    let e = Error::new(local::STATE, "commit needs a group.id");
                    self.commit_result(reply, offsets, Err(e));
                }
            },
            Cmd::Committed { tps, reply } => match &mut self.group {
                Some(g) => {
                    let id = g.fetch_committed(tps, now);
                    self.waiters.insert(id, GroupWaiter::Committed(reply));
                }
                None => reply.set(Err(Error::new(local::STATE, "committed needs a group.id"))),
            },
            Cmd::Seek(tp, offset) => {
                match offset {
                    o if o >= 0 => self.fetcher.set_position(&tp, o, -1),
                    -2 => self.fetcher.seek_to(&tp, true),
                    _ => self.fetcher.seek_to(&tp, false),
                }
                // The application placed it (often in its assign callback): the committed
                // offset, when it comes, does not move it back.
                self.seeked.insert(tp);
            }
            Cmd::Pause(tps) => self.fetcher.pause(&tps),
            Cmd::Resume(tps) => self.fetcher.resume(&tps),
            Cmd::RevokeDone => {
                // The application let the partitions go (its view is updated): stop
                // fetching whatever it no longer has.
                let keep: Vec<TopicPartition> =
                    self.shared.app.lock().parts.keys().cloned().collect();
                let gone: Vec<TopicPartition> = self
                    .fetcher_assigned()
                    .into_iter()
                    .filter(|tp| !keep.contains(tp))
                    .collect();
                self.unassign(&gone);
                if let Some(g) = &mut self.group {
                    g.revoke_done(now);
                }
            }
            Cmd::Close => {
                self.closing = true;
                if let Some(g) = &mut self.group {
                    g.close(now);
                }
            }
        }
    }
}

impl Driver<'_> {
    fn fetcher_assigned(&self) -> Vec<TopicPartition> {
        self.assigned.iter().cloned().collect()
    }

    fn assign(&mut self, tps: &[TopicPartition]) {
        self.fetcher.assign(tps);
        self.assigned.extend(tps.iter().cloned());
    }

    fn unassign(&mut self, tps: &[TopicPartition]) {
        self.fetcher.unassign(tps);
        for tp in tps {
            self.assigned.remove(tp);
        }
    }

    /// Adds `topic` to the topics whose metadata is kept fresh.
    fn want(&mut self, topic: &str, now: Instant) {
        if !self.wanted.iter().any(|t| t == topic) {
            self.wanted.push(topic.to_owned());
            self.metadata_due = Some(now);
        }
    }

    /// The subscription's names, with each `^` pattern matched against the topics the
    /// cluster has (internal topics left out).
    fn resolve_subscription(&mut self) {
        let snap = self.cluster.snapshot();
        let mut names: Vec<String> = Vec::new();
        for t in &self.subscription {
            match t.strip_prefix('^') {
                None => names.push(t.clone()),
                Some(p) => {
                    if let Ok(re) = regex::Regex::new(&format!("^{p}")) {
                        for n in snap.names() {
                            let internal = snap.topic(&n).is_some_and(|e| e.meta.is_internal);
                            if !internal && re.is_match(&n) {
                                names.push(n);
                            }
                        }
                    }
                }
            }
        }
        names.sort();
        names.dedup();
        if names != self.resolved {
            self.resolved = names.clone();
            if let Some(g) = &mut self.group {
                g.subscribe(names.clone());
            }
        }
        for n in names {
            if !self.wanted.contains(&n) {
                self.wanted.push(n);
            }
        }
    }

    /// Refreshes metadata when due, and hands the snapshot to the fetcher (leaders) and
    /// the group (partition counts).
    fn metadata(&mut self, now: Instant) {
        let mut fetched = false;
        if self.metadata_due.is_some_and(|t| t <= now) {
            self.metadata_due = Some(now + self.shared.settings.metadata_refresh);
            let deadline = Instant::now() + SLOW_CALL;
            let mut failed = false;
            // Patterns are matched against every topic; then the topics wanted are asked
            // for by name, so that one the cluster lacks is answered for (and counted as
            // having no partitions) rather than left out.
            if self.subscription.iter().any(|t| t.starts_with('^')) {
                failed |= self.cluster.fetch_metadata(None, deadline).is_err();
                self.resolve_subscription();
            }
            if !self.wanted.is_empty() {
                match self.cluster.fetch_metadata(Some(&self.wanted), deadline) {
                    Ok(md) => {
                        self.report_missing_topics(&md);
                        fetched = true;
                    }
                    Err(_) => failed = true,
                }
            }
            if failed {
                // Tried again soon.
                self.metadata_due = Some(Instant::now() + self.shared.settings.retry_backoff);
            }
        }
        let snap = self.cluster.snapshot();
        let key = Arc::as_ptr(&snap) as usize;
        if key != self.snapshot_seen || fetched {
            self.snapshot_seen = key;
            self.fetcher.set_leaders(&snap);
            if let Some(g) = &mut self.group {
                let mut counts = PartitionCounts::new();
                for t in &self.wanted {
                    if self.missing.contains(t) {
                        counts.insert(t.clone(), 0);
                    } else if let Some(e) = snap.topic(t) {
                        if e.meta.error_code == 0 && !e.meta.partitions.is_empty() {
                            counts.insert(t.clone(), e.meta.partitions.len() as i32);
                        }
                    }
                }
                g.set_partition_counts(&counts);
                // The consumer protocol's assignments name topics by id.
                let ids: HashMap<crate::protocol::Uuid, String> = self
                    .wanted
                    .iter()
                    .filter_map(|t| snap.topic(t).map(|e| (e.meta.topic_id, t.clone())))
                    .filter(|(id, _)| *id != crate::protocol::Uuid::default())
                    .collect();
                g.set_topic_ids(&ids);
            }
        }
    }

    /// An error event, once, for each subscribed (or assigned) topic the cluster does not
    /// have or does not let this client read; again if it reappears and goes.
    fn report_missing_topics(&mut self, md: &crate::cluster::Metadata) {
        let mut events = Vec::new();
        for t in &md.topics {
            let wanted = self.resolved.contains(&t.name)
                || self.assigned.iter().any(|tp| tp.topic == t.name);
            if !wanted {
                continue;
            }
            if t.error_code == 0 {
                self.missing.remove(&t.name);
                continue;
            }
            if !self.missing.insert(t.name.clone()) {
                continue;
            }
            let mut e = Error::kafka(
                t.error_code,
                format!("subscribed topic not available: {}", t.name),
            );
            if t.error_code == 3 {
                e.code = local::UNKNOWN_TOPIC;
            }
            events.push(e);
        }
        for error in events {
            self.to_app(Item::Event(Event::Error {
                error,
                tp: None,
                offset: -1,
                fatal: false,
            }));
        }
    }

    fn group_action(&mut self, a: Action, now: Instant) {
        match a {
            Action::Send { id, to, req } => self.send_group(id, to, req, now),
            Action::NeedMetadata(topics) => {
                for t in topics {
                    self.want(&t, now);
                }
                self.metadata_due = Some(now);
            }
            Action::Event(e) => self.group_event(e, now),
        }
    }

    fn group_event(&mut self, e: GroupEvent, now: Instant) {
        match e {
            GroupEvent::Assigned(tps) => {
                {
                    let mut app = self.shared.app.lock();
                    for tp in &tps {
                        app.reset_part(tp);
                    }
                    app.items
                        .push_back(Item::Rebalance(RebalanceKind::Assign, tps.clone()));
                }
                self.shared.app_cv.notify_all();
                self.assign(&tps);
                for tp in &tps {
                    self.seeked.remove(tp);
                    self.want(&tp.topic, now);
                }
                if let Some(g) = &mut self.group {
                    let id = g.fetch_committed(tps, now);
                    self.waiters.insert(id, GroupWaiter::Positions);
                }
            }
            GroupEvent::Revoked(tps) => self.to_app(Item::Rebalance(RebalanceKind::Revoke, tps)),
            GroupEvent::Lost(tps) => self.to_app(Item::Rebalance(RebalanceKind::Lost, tps)),
            GroupEvent::CommitDone { id, result } => {
                if let Some(GroupWaiter::Commit(reply, offsets)) = self.waiters.remove(&id) {
                    self.commit_result(reply, offsets, result)
                }
            }
            GroupEvent::Committed { id, result } => match self.waiters.remove(&id) {
                Some(GroupWaiter::Positions) => match result {
                    Ok(list) => {
                        for (tp, offset, epoch) in list {
                            if self.assigned.contains(&tp) && !self.seeked.contains(&tp) {
                                self.fetcher.set_position(&tp, offset, epoch);
                            }
                        }
                    }
                    Err(error) => self.to_app(Item::Event(Event::Error {
                        error,
                        tp: None,
                        offset: -1,
                        fatal: false,
                    })),
                },
                Some(GroupWaiter::Committed(reply)) => reply.set(result),
                _ => {}
            },
            GroupEvent::Error { error, fatal } => {
                if fatal {
                    self.shared.app.lock().fatal = Some(error.clone());
                }
                self.to_app(Item::Event(Event::Error {
                    error,
                    tp: None,
                    offset: -1,
                    fatal,
                }));
            }
        }
    }

    fn to_app(&self, item: Item) {
        self.shared.app.lock().items.push_back(item);
        self.shared.app_cv.notify_all();
    }

    /// An explicit commit's result to its waiter, or an asynchronous one's to the
    /// application's commit callback.
    fn commit_result(
        &self,
        reply: Option<Reply<Result<()>>>,
        offsets: Vec<CommitOffset>,
        result: Result<()>,
    ) {
        if result.is_err() {
            // Committed again next time.
            let mut app = self.shared.app.lock();
            for o in &offsets {
                if let Some(p) = app.parts.get_mut(&o.tp) {
                    if p.committed == o.offset {
                        p.committed = -1;
                    }
                }
            }
        }
        match reply {
            Some(r) => r.set(result),
            None => self.to_app(Item::CommitResult(result, offsets)),
        }
    }

    fn auto_commit(&mut self, now: Instant) {
        let s = &self.shared.settings;
        if !s.auto_commit || self.group.is_none() {
            return;
        }
        match self.auto_commit_at {
            None => self.auto_commit_at = Some(now + s.auto_commit_interval),
            Some(t) if t <= now => {
                self.auto_commit_at = Some(now + s.auto_commit_interval);
                let offsets = {
                    let mut app = self.shared.app.lock();
                    let v = app.to_commit();
                    for o in &v {
                        if let Some(p) = app.parts.get_mut(&o.tp) {
                            p.committed = o.offset;
                        }
                    }
                    v
                };
                if !offsets.is_empty() {
                    if let Some(g) = &mut self.group {
                        let id = g.commit(offsets.clone(), now);
                        self.waiters.insert(id, GroupWaiter::Commit(None, offsets));
                    }
                }
            }
            Some(_) => {}
        }
    }

    fn fetch_action(&mut self, a: FetchAction, now: Instant) {
        match a {
            FetchAction::Send { id, broker, req } => self.send_fetch(id, broker, req, now),
            FetchAction::NeedMetadata(topics) => {
                for t in &topics {
                    self.cluster.invalidate(t);
                    self.want(t, now);
                }
                self.metadata_due = Some(now);
            }
            FetchAction::Deliver(chunk) => {
                let mut app = self.shared.app.lock();
                let Some(seq) = app.parts.get(&chunk.tp).map(|p| p.seq) else {
                    return;
                };
                let queued = Some(chunk.queue());
                app.items.push_back(Item::Records {
                    chunk: Arc::new(chunk),
                    next: 0,
                    seq,
                    queued,
                });
                drop(app);
                self.shared.app_cv.notify_all();
            }
            FetchAction::Event(e) => {
                let ev = match e {
                    FetchEvent::Eof { tp, offset } => Event::Error {
                        error: Error::new(
                            local::PARTITION_EOF,
                            format!(
                                "{}/{}: reached the end of the partition at offset {offset}",
                                tp.topic, tp.partition
                            ),
                        ),
                        tp: Some(tp),
                        offset,
                        fatal: false,
                    },
                    FetchEvent::Error { tp, error } => Event::Error {
                        error,
                        tp,
                        offset: -1,
                        fatal: false,
                    },
                    FetchEvent::Reset { .. } => return,
                };
                self.to_app(Item::Event(ev));
            }
        }
    }

    fn next_tag(&mut self) -> u64 {
        self.next_tag += 1;
        self.next_tag
    }

    fn send_group(&mut self, id: u64, to: Target, req: GroupRequest, now: Instant) {
        let deadline = Instant::now() + SLOW_CALL;
        let conn = match to {
            Target::AnyBroker => self.cluster.any_broker(deadline),
            Target::Coordinator(node) => {
                let mut c = self
                    .cluster
                    .broker_for(node, Purpose::Coordinator, deadline);
                // A coordinator the metadata does not list yet (nothing fetched so far, or
                // a broker that just joined): the brokers are asked for, once.
                if c.is_err() && !self.cluster.knows_broker(node) {
                    let _ = self.cluster.fetch_metadata(Some(&[]), deadline);
                    c = self
                        .cluster
                        .broker_for(node, Purpose::Coordinator, deadline);
                }
                c
            }
        };
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                if let Some(g) = &mut self.group {
                    g.on_response(id, Err(e), now);
                }
                return;
            }
        };
        let tag = self.next_tag();
        let sent = match req {
            GroupRequest::FindCoordinator(r) => {
                self.queue(&conn, &r, tag, GroupKind::FindCoordinator)
            }
            GroupRequest::Join(r) => self.queue(&conn, &r, tag, GroupKind::Join),
            GroupRequest::Sync(r) => self.queue(&conn, &r, tag, GroupKind::Sync),
            GroupRequest::Heartbeat(r) => self.queue(&conn, &r, tag, GroupKind::Heartbeat),
            GroupRequest::Leave(r) => self.queue(&conn, &r, tag, GroupKind::Leave),
            GroupRequest::Commit(r) => self.queue(&conn, &r, tag, GroupKind::Commit),
            GroupRequest::FetchOffsets(r) => self.queue(&conn, &r, tag, GroupKind::FetchOffsets),
            GroupRequest::ConsumerHeartbeat(mut r) => {
                // v0: the coordinator makes the member id on a join.
                let v0 = conn.version_of::<ConsumerGroupHeartbeatRequest>().ok() == Some(0);
                if v0 && r.member_epoch == member_epoch::JOIN {
                    r.member_id.clear();
                }
                self.queue(&conn, &r, tag, GroupKind::ConsumerHeartbeat)
            }
        };
        match sent {
            Ok((version, kind)) => {
                self.reqs.insert(
                    tag,
                    InFlight {
                        conn,
                        version,
                        sent: Sent::Group { id, kind },
                    },
                );
            }
            Err(e) => {
                if let Some(g) = &mut self.group {
                    g.on_response(id, Err(e), now);
                }
            }
        }
    }

    fn queue<R: Request, K>(
        &self,
        conn: &Arc<Connection>,
        req: &R,
        tag: u64,
        kind: K,
    ) -> Result<(i16, K)> {
        let version = conn.version_of::<R>()?;
        conn.send_to_queue(req, version, &self.shared.cq, tag)?;
        Ok((version, kind))
    }

    fn send_fetch(&mut self, id: u64, broker: i32, req: FetchRequestKind, now: Instant) {
        let deadline = Instant::now() + SLOW_CALL;
        let purpose = match req {
            FetchRequestKind::Fetch(_) => Purpose::Fetch,
            FetchRequestKind::ListOffsets(_) => Purpose::Produce,
        };
        let conn = match self.cluster.reconnect_at(broker, purpose) {
            Some(at) => Err(Error::transport(format!(
                "broker {broker}: in reconnect back-off for {} ms more",
                at.saturating_duration_since(Instant::now()).as_millis()
            ))),
            None => self.cluster.broker_for(broker, purpose, deadline),
        };
        let conn = match conn {
            Ok(c) => c,
            Err(e) => return self.fetcher.on_response(id, Err(e), 0, now),
        };
        let tag = self.next_tag();
        let sent = match req {
            FetchRequestKind::Fetch(r) => self.queue(&conn, &r, tag, FetchKind::Fetch),
            FetchRequestKind::ListOffsets(r) => self.queue(&conn, &r, tag, FetchKind::ListOffsets),
        };
        match sent {
            Ok((version, kind)) => {
                if matches!(kind, FetchKind::Fetch) {
                    *self.shared.fetches.lock().entry(broker).or_default() += 1;
                }
                self.reqs.insert(
                    tag,
                    InFlight {
                        conn,
                        version,
                        sent: Sent::Fetch { id, kind },
                    },
                );
            }
            Err(e) => self.fetcher.on_response(id, Err(e), 0, now),
        }
    }

    /// An answer (or the failure of a request) from the completion queue.
    fn answer(&mut self, r: InFlight, result: Result<Bytes>) {
        let now = Instant::now();
        let conn = &r.conn;
        let v = r.version;
        match r.sent {
            Sent::Group { id, kind } => {
                let resp = result.and_then(|body| decode_group(conn, &body, v, kind));
                if let Some(g) = &mut self.group {
                    g.on_response(id, resp, now);
                }
            }
            Sent::Fetch { id, kind } => {
                let resp = result.and_then(|body| match kind {
                    FetchKind::Fetch => conn
                        .decode_body::<FetchRequest>(&body, v)
                        .map(FetchResponseKind::Fetch),
                    FetchKind::ListOffsets => conn
                        .decode_body::<ListOffsetsRequest>(&body, v)
                        .map(FetchResponseKind::ListOffsets),
                });
                self.fetcher.on_response(id, resp, v, now);
            }
        }
    }
}

fn decode_group(conn: &Connection, body: &Bytes, v: i16, kind: GroupKind) -> Result<GroupResponse> {
    Ok(match kind {
        GroupKind::FindCoordinator => {
            GroupResponse::FindCoordinator(conn.decode_body::<FindCoordinatorRequest>(body, v)?)
        }
        GroupKind::Join => GroupResponse::Join(conn.decode_body::<JoinGroupRequest>(body, v)?),
        GroupKind::Sync => GroupResponse::Sync(conn.decode_body::<SyncGroupRequest>(body, v)?),
        GroupKind::Heartbeat => {
            GroupResponse::Heartbeat(conn.decode_body::<HeartbeatRequest>(body, v)?)
        }
        GroupKind::Leave => GroupResponse::Leave(conn.decode_body::<LeaveGroupRequest>(body, v)?),
        GroupKind::Commit => {
            GroupResponse::Commit(conn.decode_body::<OffsetCommitRequest>(body, v)?)
        }
        GroupKind::FetchOffsets => {
            GroupResponse::FetchOffsets(conn.decode_body::<OffsetFetchRequest>(body, v)?)
        }
        GroupKind::ConsumerHeartbeat => GroupResponse::ConsumerHeartbeat(
            conn.decode_body::<ConsumerGroupHeartbeatRequest>(body, v)?,
        ),
    })
}
