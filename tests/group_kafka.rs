//! The classic group membership machine (`kafkac::consumer::group::Group`) against Apache
//! Kafka 4.x (one KRaft node on loopback), driven by a minimal blocking driver on one
//! thread: two members of one group on a 4-partition topic, each with its own client
//! (a coordinator connection answers its requests in order, so a member waiting in
//! JoinGroup must not hold up the other's).
//!
//! * range: both join and get 2 partitions each, both commit, one closes (revoke, commit,
//!   LeaveGroup) and the other gets all 4 and reads back every committed offset;
//! * cooperative-sticky: the same, and the survivor's own 2 partitions are never revoked
//!   while it takes over the other 2.

mod common;

use common::client::create_topic;
use common::kafka;
use common::with_timeout;
use kafkac::cluster::Purpose;
use kafkac::consumer::assignor::{Assignor, TopicPartition};
use kafkac::consumer::group::{
    Action, CommitOffset, Group, GroupEvent, GroupRequest, GroupResponse, GroupSettings, Target,
};
use kafkac::net::events::CompletionQueue;
use kafkac::net::Connection;
use kafkac::protocol::messages::*;
use kafkac::protocol::Request;
use kafkac::{Client, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Timeout of one request or connection, and of metadata calls.
const T: Duration = Duration::from_secs(20);
/// Limit for one test (includes starting the shared broker).
const LIMIT: Duration = Duration::from_secs(150);
/// Limit for one phase of a test (joined, taken over, closed).
const PHASE: Duration = Duration::from_secs(40);

/// Committed offsets as `Committed` gives them: partition, offset, leader epoch.
type Offsets = Vec<(TopicPartition, i64, i32)>;

#[derive(Clone, Copy)]
enum Kind {
    Find,
    Join,
    Sync,
    Heartbeat,
    Leave,
    Commit,
    Fetch,
}

/// A request in flight: whose, its id in that member's machine, and how to decode it.
struct InFlight {
    member: usize,
    id: u64,
    conn: Arc<Connection>,
    version: i16,
    kind: Kind,
}

struct Member {
    name: &'static str,
    client: Client,
    g: Group,
    /// What the member consumes, as the events say.
    consuming: BTreeSet<TopicPartition>,
    /// Every Revoked event, in order.
    revoked: Vec<Vec<TopicPartition>>,
    lost: Vec<Vec<TopicPartition>>,
    commits: HashMap<u64, Option<Result<()>>>,
    fetched: HashMap<u64, Option<Result<Offsets>>>,
    errors: Vec<String>,
    /// The offsets it commits when partitions are revoked: partition → offset.
    offsets: BTreeMap<TopicPartition, i64>,
}

struct Driver {
    members: Vec<Member>,
    q: Arc<CompletionQueue>,
    inflight: HashMap<u64, InFlight>,
    next_tag: u64,
}

fn submit<R: Request>(
    conn: &Connection,
    req: &R,
    q: &Arc<CompletionQueue>,
    tag: u64,
) -> Result<i16> {
    let v = conn.version_of::<R>()?;
    conn.send_to_queue(req, v, q, tag)?;
    Ok(v)
}

fn decode(f: &InFlight, body: &bytes::Bytes) -> Result<GroupResponse> {
    let (c, v) = (&f.conn, f.version);
    Ok(match f.kind {
        Kind::Find => {
            GroupResponse::FindCoordinator(c.decode_body::<FindCoordinatorRequest>(body, v)?)
        }
        Kind::Join => GroupResponse::Join(c.decode_body::<JoinGroupRequest>(body, v)?),
        Kind::Sync => GroupResponse::Sync(c.decode_body::<SyncGroupRequest>(body, v)?),
        Kind::Heartbeat => GroupResponse::Heartbeat(c.decode_body::<HeartbeatRequest>(body, v)?),
        Kind::Leave => GroupResponse::Leave(c.decode_body::<LeaveGroupRequest>(body, v)?),
        Kind::Commit => GroupResponse::Commit(c.decode_body::<OffsetCommitRequest>(body, v)?),
        Kind::Fetch => GroupResponse::FetchOffsets(c.decode_body::<OffsetFetchRequest>(body, v)?),
    })
}

impl Driver {
    fn new(bootstrap: &str, group: &str, topic: &str, assignor: Assignor) -> Driver {
        let settings = GroupSettings {
            session_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_millis(500),
            max_poll_interval: Duration::from_secs(30),
            assignors: vec![assignor],
            retry_backoff: Duration::from_millis(50),
            retry_backoff_max: Duration::from_millis(500),
            ..GroupSettings::new(group)
        };
        let members = ["a", "b"]
            .into_iter()
            .map(|name| {
                let mut g = Group::new(settings.clone());
                g.subscribe(vec![topic.to_string()]);
                Member {
                    name,
                    client: common::client::client(bootstrap),
                    g,
                    consuming: BTreeSet::new(),
                    revoked: Vec::new(),
                    lost: Vec::new(),
                    commits: HashMap::new(),
                    fetched: HashMap::new(),
                    errors: Vec::new(),
                    offsets: BTreeMap::new(),
                }
            })
            .collect();
        Driver {
            members,
            q: Arc::new(CompletionQueue::new()),
            inflight: HashMap::new(),
            next_tag: 1,
        }
    }

    /// Sends one request of member `m`; a failure to connect or send is its answer.
    fn send(&mut self, m: usize, id: u64, to: Target, req: GroupRequest) {
        let deadline = Instant::now() + T;
        let cluster = self.members[m].client.cluster();
        let conn = match to {
            Target::AnyBroker => cluster.any_broker(deadline),
            Target::Coordinator(node) => cluster
                .broker_for(node, Purpose::Coordinator, deadline)
                .or_else(|_| {
                    // A broker the client has not seen in metadata yet.
                    self.members[m].client.metadata(None, T)?;
                    cluster.broker_for(node, Purpose::Coordinator, deadline)
                }),
        };
        let tag = self.next_tag;
        self.next_tag += 1;
        let sent = conn.and_then(|conn| {
            let q = &self.q;
            let (v, kind) = match &req {
                GroupRequest::FindCoordinator(r) => (submit(&conn, r, q, tag)?, Kind::Find),
                GroupRequest::Join(r) => (submit(&conn, r, q, tag)?, Kind::Join),
                GroupRequest::Sync(r) => (submit(&conn, r, q, tag)?, Kind::Sync),
                GroupRequest::Heartbeat(r) => (submit(&conn, r, q, tag)?, Kind::Heartbeat),
                GroupRequest::Leave(r) => (submit(&conn, r, q, tag)?, Kind::Leave),
                GroupRequest::Commit(r) => (submit(&conn, r, q, tag)?, Kind::Commit),
                GroupRequest::FetchOffsets(r) => (submit(&conn, r, q, tag)?, Kind::Fetch),
                GroupRequest::ConsumerHeartbeat(_) => {
                    unreachable!("the classic groups of this test never send it")
                }
            };
            Ok((conn, v, kind))
        });
        match sent {
            Ok((conn, version, kind)) => {
                self.inflight.insert(
                    tag,
                    InFlight {
                        member: m,
                        id,
                        conn,
                        version,
                        kind,
                    },
                );
            }
            Err(e) => self.members[m].g.on_response(id, Err(e), Instant::now()),
        }
    }

    /// One round for member `m`: it polls (the application polls too), its actions are
    /// carried out. Returns whether anything happened.
    fn poll_member(&mut self, m: usize) -> bool {
        let now = Instant::now();
        let actions = {
            let me = &mut self.members[m];
            me.g.app_polled(now);
            me.g.poll(now)
        };
        let busy = !actions.is_empty();
        for a in actions {
            match a {
                Action::Send { id, to, req } => self.send(m, id, to, req),
                Action::NeedMetadata(topics) => {
                    let me = &mut self.members[m];
                    let md = me.client.metadata(Some(&topics), T).expect("metadata");
                    let counts = md
                        .topics
                        .iter()
                        .map(|t| {
                            let n = if t.error_code == 0 {
                                t.partitions.len() as i32
                            } else {
                                0
                            };
                            (t.name.clone(), n)
                        })
                        .collect();
                    me.g.set_partition_counts(&counts);
                }
                Action::Event(e) => self.event(m, e),
            }
        }
        busy
    }

    fn event(&mut self, m: usize, e: GroupEvent) {
        let me = &mut self.members[m];
        let now = Instant::now();
        println!("{}: {e:?}", me.name);
        match e {
            GroupEvent::Assigned(tps) => me.consuming.extend(tps),
            GroupEvent::Revoked(tps) => {
                // The rebalance callback: commit what was consumed, then let go.
                // One more than last time, so that a read-back proves this commit.
                let mut offsets = Vec::new();
                for tp in &tps {
                    if let Some(o) = me.offsets.get_mut(tp) {
                        *o += 1;
                        offsets.push(CommitOffset {
                            tp: tp.clone(),
                            offset: *o,
                            leader_epoch: 0,
                            metadata: Some(format!("{} on revoke", me.name)),
                        });
                    }
                }
                let id = me.g.commit(offsets, now);
                me.commits.insert(id, None);
                for tp in &tps {
                    me.consuming.remove(tp);
                }
                me.revoked.push(tps);
                me.g.revoke_done(now);
            }
            GroupEvent::Lost(tps) => {
                for tp in &tps {
                    me.consuming.remove(tp);
                }
                me.lost.push(tps);
                me.g.revoke_done(now);
            }
            GroupEvent::CommitDone { id, result } => {
                me.commits.insert(id, Some(result));
            }
            GroupEvent::Committed { id, result } => {
                me.fetched.insert(id, Some(result));
            }
            GroupEvent::Error { error, fatal } => {
                assert!(!fatal, "{}: fatal {error}", me.name);
                me.errors.push(error.to_string());
            }
        }
    }

    /// Drives every member until `done` holds, or fails after `PHASE`.
    fn run_until(&mut self, what: &str, done: impl Fn(&Driver) -> bool) {
        let limit = Instant::now() + PHASE;
        loop {
            // Poll until nothing more happens at once.
            while (0..self.members.len()).fold(false, |any, m| self.poll_member(m) | any) {}
            if done(self) {
                return;
            }
            assert!(Instant::now() < limit, "{what}: not within {PHASE:?}");
            let timer = self
                .members
                .iter()
                .filter_map(|m| m.g.next_timer())
                .min()
                .unwrap_or(limit);
            let wait = timer
                .min(Instant::now() + Duration::from_millis(100))
                .max(Instant::now());
            if let Some((tag, r)) = self.q.pop(wait) {
                let Some(f) = self.inflight.remove(&tag) else {
                    continue;
                };
                let r = r.and_then(|body| decode(&f, &body));
                self.members[f.member]
                    .g
                    .on_response(f.id, r, Instant::now());
            }
        }
    }

    fn stable(&self, m: usize) -> bool {
        let me = &self.members[m];
        me.g.generation().is_some()
            && me.consuming.iter().eq(me.g.assignment().iter())
            && me.commits.values().all(Option::is_some)
    }

    fn owns(&self, m: usize) -> Vec<TopicPartition> {
        self.members[m].consuming.iter().cloned().collect()
    }

    /// Member `m` commits offset `100 + partition` for each partition it consumes, and
    /// waits for the result.
    fn commit_all(&mut self, m: usize) {
        let now = Instant::now();
        let me = &mut self.members[m];
        let offsets: Vec<CommitOffset> = me
            .consuming
            .iter()
            .map(|tp| CommitOffset {
                tp: tp.clone(),
                offset: 100 + i64::from(tp.partition),
                leader_epoch: 0,
                metadata: None,
            })
            .collect();
        for o in &offsets {
            me.offsets.insert(o.tp.clone(), o.offset);
        }
        let id = me.g.commit(offsets, now);
        me.commits.insert(id, None);
        self.run_until("commit", |d| d.members[m].commits[&id].is_some());
        let r = self.members[m].commits[&id].clone().unwrap();
        assert!(r.is_ok(), "{}: commit: {r:?}", self.members[m].name);
    }
}

fn create(c: &Client, name: &str, partitions: i32) {
    create_topic(c, name, partitions, 1, &[], T);
    common::wait_until(T, &format!("leaders for {name}"), || {
        c.metadata(Some(&[name.to_string()]), T)
            .map(|md| {
                md.topics[0].error_code == 0
                    && md.topics[0].partitions.len() == partitions as usize
                    && md.topics[0].partitions.iter().all(|p| p.leader >= 0)
            })
            .unwrap_or(false)
    });
}

/// Two members share the topic's 4 partitions, commit, `a` closes, `b` takes all 4.
/// Returns `b`'s partitions before the takeover, how many Revoked events `b` had then,
/// and the driver.
fn two_members_then_one(
    group: &str,
    topic: &str,
    assignor: Assignor,
) -> (Vec<TopicPartition>, usize, Driver) {
    let bootstrap = kafka::shared().bootstrap.clone();
    let c = common::client::client(&bootstrap);
    create(&c, topic, 4);
    let mut d = Driver::new(&bootstrap, group, topic, assignor);

    d.run_until("both members own 2 partitions", |d| {
        (0..2).all(|m| d.stable(m) && d.members[m].consuming.len() == 2)
            && d.members[0].g.generation().map(|g| g.0) == d.members[1].g.generation().map(|g| g.0)
    });
    let (a, b) = (d.owns(0), d.owns(1));
    let all: BTreeSet<_> = a.iter().chain(b.iter()).cloned().collect();
    assert_eq!(all.len(), 4, "a {a:?} b {b:?}");
    println!(
        "{assignor}: a owns {a:?}, b owns {b:?} in generation {:?}",
        d.members[0].g.generation()
    );
    d.commit_all(0);
    d.commit_all(1);
    let b_before = b.clone();
    let revoked_before = d.members[1].revoked.len();

    d.members[0].g.close(Instant::now());
    d.run_until("a closed, b owns all 4", |d| {
        d.members[0].g.is_closed() && d.stable(1) && d.members[1].consuming.len() == 4
    });
    assert!(d.members[0].consuming.is_empty());
    assert!(d.members.iter().all(|m| m.lost.is_empty()), "nothing lost");
    for (m, r) in d
        .members
        .iter()
        .flat_map(|m| m.commits.values().map(move |r| (m.name, r)))
    {
        assert!(matches!(r, Some(Ok(()))), "{m}: a commit failed: {r:?}");
    }

    // b reads back what each last committed (on a revoke: one more).
    let tps: Vec<TopicPartition> = (0..4).map(|p| TopicPartition::new(topic, p)).collect();
    let id = d.members[1].g.fetch_committed(tps.clone(), Instant::now());
    d.members[1].fetched.insert(id, None);
    d.run_until("committed offsets", |d| d.members[1].fetched[&id].is_some());
    let got = d.members[1].fetched[&id].clone().unwrap().expect("fetched");
    let want: Vec<(TopicPartition, i64, i32)> = tps
        .iter()
        .map(|tp| {
            let by = if a.contains(tp) { 0 } else { 1 };
            (tp.clone(), d.members[by].offsets[tp], 0)
        })
        .collect();
    assert_eq!(got, want);
    assert!(
        want.iter()
            .any(|(tp, o, _)| *o == 101 + i64::from(tp.partition)),
        "a's commit on close was stored"
    );
    (b_before, revoked_before, d)
}

#[test]
fn range_two_members_share_then_the_survivor_takes_all() {
    with_timeout(LIMIT, || {
        let (b_before, n, mut d) =
            two_members_then_one("gk-range", "gk-range-topic", Assignor::Range);
        // Eager: b gave up its partitions during the rebalance and got all 4 back.
        assert_eq!(d.members[1].revoked[n..], [b_before]);
        d.members[1].g.close(Instant::now());
        d.run_until("b closed", |d| d.members[1].g.is_closed());
        assert!(d.members[1].errors.is_empty(), "{:?}", d.members[1].errors);
    })
}

#[test]
fn cooperative_survivor_keeps_its_partitions() {
    with_timeout(LIMIT, || {
        let (b_before, n, mut d) =
            two_members_then_one("gk-coop", "gk-coop-topic", Assignor::CooperativeSticky);
        assert_eq!(
            d.members[1].revoked.len(),
            n,
            "b revoked nothing on the takeover"
        );
        for r in &d.members[1].revoked[n..] {
            for tp in r {
                assert!(!b_before.contains(tp), "b's own {tp} was revoked: {r:?}");
            }
        }
        d.members[1].g.close(Instant::now());
        d.run_until("b closed", |d| d.members[1].g.is_closed());
        assert_eq!(
            d.members[1].revoked.last().map(Vec::len),
            Some(4),
            "close revokes all"
        );
        assert!(d.members[1].errors.is_empty(), "{:?}", d.members[1].errors);
    })
}
