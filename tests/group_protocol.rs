//! The group consumer's wire messages against Apache Kafka 4.3 (one KRaft node on
//! loopback), sent as typed requests on the client's coordinator connection:
//!
//! * a classic group, once at the newest versions both sides speak and once at old
//!   non-flexible ones: FindCoordinator, JoinGroup (MEMBER_ID_REQUIRED, then the rejoin
//!   with the id) carrying a consumer subscription, SyncGroup as leader with a consumer
//!   assignment, Heartbeat, OffsetCommit and OffsetFetch of two partitions, LeaveGroup;
//! * a KIP-848 consumer group: ConsumerGroupHeartbeat joins, heartbeats until the
//!   coordinator assigns the subscribed topic's partitions, and leaves.

mod common;

use common::client::create_topic;
use common::kafka;
use common::with_timeout;
use kafkac::cluster::Purpose;
use kafkac::net::Connection;
use kafkac::protocol::messages::*;
use kafkac::protocol::{api_key, Request};
use kafkac::Client;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Timeout of one request, and of waiting for a condition.
const T: Duration = Duration::from_secs(20);
/// Limit for one test (includes starting the shared broker).
const LIMIT: Duration = Duration::from_secs(150);

const NONE: i16 = 0;
const UNKNOWN_MEMBER_ID: i16 = 25;
const MEMBER_ID_REQUIRED: i16 = 79;
/// Retriable while the group coordinator starts (`__consumer_offsets` being created).
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;

fn deadline() -> Instant {
    Instant::now() + T
}

/// Creates `name` and waits until its partitions have a leader.
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

/// Sends `req` at `version` (`None`: the newest both sides speak) and returns the
/// version used and the answer.
fn call<R: Request>(conn: &Connection, req: &R, version: Option<i16>) -> (i16, R::Response) {
    let v = version.unwrap_or_else(|| conn.version_of::<R>().unwrap());
    let resp = conn
        .request_at(req, v, deadline())
        .unwrap_or_else(|e| panic!("{} v{v}: {e}", api_key::name(R::API_KEY)));
    (v, resp)
}

/// [`call`], again while the coordinator loads the group's state: FindCoordinator may
/// name a coordinator whose `__consumer_offsets` partition is still loading, which
/// answers COORDINATOR_LOAD_IN_PROGRESS or, until it has taken the partition on,
/// NOT_COORDINATOR (with one node, no other broker can coordinate).
fn call_when_loaded<R: Request>(
    conn: &Connection,
    req: &R,
    version: Option<i16>,
    error_code: impl Fn(&R::Response) -> i16,
) -> (i16, R::Response) {
    let limit = deadline();
    loop {
        let (v, resp) = call(conn, req, version);
        match error_code(&resp) {
            COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR
                if Instant::now() < limit =>
            {
                thread::sleep(Duration::from_millis(100));
            }
            _ => return (v, resp),
        }
    }
}

/// Finds the coordinator of `group` (retrying while it starts) and returns the
/// FindCoordinator version used and the coordinator connection.
fn coordinator(c: &Client, group: &str, version: Option<i16>) -> (i16, Arc<Connection>) {
    let k = kafka::shared();
    let any = c.cluster().any_broker(deadline()).unwrap();
    let req = FindCoordinatorRequest::single(coordinator_key_type::GROUP, group);
    let limit = deadline();
    let found = loop {
        let (v, resp) = call(&any, &req, version);
        let found = resp
            .coordinator_for(group)
            .expect("an answer for the group");
        if v >= 4 {
            assert_eq!(resp.coordinators.len(), 1, "v{v}: one answer per key");
        }
        match found.error_code {
            NONE => break (v, found),
            COORDINATOR_NOT_AVAILABLE | COORDINATOR_LOAD_IN_PROGRESS | NOT_COORDINATOR
                if Instant::now() < limit =>
            {
                thread::sleep(Duration::from_millis(100));
            }
            e => panic!("FindCoordinator v{v}: error {e}: {:?}", found.error_message),
        }
    };
    let (v, found) = found;
    assert_eq!(found.key, group);
    assert_eq!(found.node_id, 1);
    assert_eq!(found.host, "127.0.0.1");
    assert_eq!(found.port, i32::from(k.nodes[0].port));
    let conn = c
        .cluster()
        .broker_for(found.node_id, Purpose::Coordinator, deadline())
        .unwrap();
    (v, conn)
}

/// Versions of one run of the classic flow; `None`: the newest both sides speak.
#[derive(Clone, Copy, Default)]
struct Versions {
    find: Option<i16>,
    join: Option<i16>,
    sync: Option<i16>,
    heartbeat: Option<i16>,
    commit: Option<i16>,
    fetch: Option<i16>,
    leave: Option<i16>,
}

/// One member's life in a classic group of its own, at `vs`.
fn classic_group(group: &str, topic: &str, vs: Versions) {
    let c = common::client::client(&kafka::shared().bootstrap);
    create(&c, topic, 2);
    let (fcv, conn) = coordinator(&c, group, vs.find);

    // JoinGroup: a new member's first join is refused with the id to use.
    let subscription = ConsumerProtocolSubscription {
        topics: vec![topic.to_string()],
        user_data: Some(b"ud".to_vec().into()),
        owned_partitions: vec![],
        generation_id: -1,
        rack_id: Some("rack-a".into()),
        ..Default::default()
    };
    let metadata = encode_subscription(&subscription, SUBSCRIPTION_MAX_VERSION);
    let mut join = JoinGroupRequest {
        group_id: group.into(),
        session_timeout_ms: 30_000,
        rebalance_timeout_ms: 10_000,
        member_id: String::new(),
        protocol_type: CONSUMER_PROTOCOL_TYPE.into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: metadata.clone(),
            ..Default::default()
        }],
        reason: Some("test join".into()),
        ..Default::default()
    };
    let (jv, first) = call_when_loaded(&conn, &join, vs.join, |r| r.error_code);
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED, "JoinGroup v{jv}");
    assert!(
        !first.member_id.is_empty(),
        "the refusal carries the member id"
    );
    assert_eq!(first.generation_id, -1);
    join.member_id = first.member_id.clone();
    let (_, joined) = call(&conn, &join, Some(jv));
    assert_eq!(joined.error_code, NONE, "JoinGroup v{jv} rejoin");
    let member = joined.member_id.clone();
    assert_eq!(member, first.member_id);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader, member, "the only member leads");
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    if jv >= 7 {
        assert_eq!(
            joined.protocol_type.as_deref(),
            Some(CONSUMER_PROTOCOL_TYPE)
        );
    }
    assert!(!joined.skip_assignment);
    assert_eq!(joined.members.len(), 1);
    assert_eq!(joined.members[0].member_id, member);
    assert_eq!(joined.members[0].group_instance_id, None);
    // The leader reads its members' subscriptions back.
    let (sv, sub) = decode_subscription(&joined.members[0].metadata).unwrap();
    assert_eq!((sv, &sub), (SUBSCRIPTION_MAX_VERSION, &subscription));

    // SyncGroup as leader: both partitions to the one member.
    let assignment = ConsumerProtocolAssignment {
        assigned_partitions: vec![ConsumerProtocolTopicPartition {
            topic: topic.into(),
            partitions: vec![0, 1],
            ..Default::default()
        }],
        user_data: None,
        ..Default::default()
    };
    let sync = SyncGroupRequest {
        group_id: group.into(),
        generation_id: joined.generation_id,
        member_id: member.clone(),
        protocol_type: Some(CONSUMER_PROTOCOL_TYPE.into()),
        protocol_name: joined.protocol_name.clone(),
        assignments: vec![SyncGroupRequestAssignment {
            member_id: member.clone(),
            assignment: encode_assignment(&assignment, ASSIGNMENT_MAX_VERSION),
            ..Default::default()
        }],
        ..Default::default()
    };
    let (syv, synced) = call(&conn, &sync, vs.sync);
    assert_eq!(synced.error_code, NONE, "SyncGroup v{syv}");
    if syv >= 5 {
        assert_eq!(
            synced.protocol_type.as_deref(),
            Some(CONSUMER_PROTOCOL_TYPE)
        );
        assert_eq!(synced.protocol_name.as_deref(), Some("range"));
    }
    let (av, got) = decode_assignment(&synced.assignment).unwrap();
    assert_eq!((av, got), (ASSIGNMENT_MAX_VERSION, assignment));

    // Heartbeat: a stable group.
    let hb = HeartbeatRequest {
        group_id: group.into(),
        generation_id: joined.generation_id,
        member_id: member.clone(),
        ..Default::default()
    };
    let (hv, beat) = call(&conn, &hb, vs.heartbeat);
    assert_eq!(beat.error_code, NONE, "Heartbeat v{hv}");

    // OffsetCommit of both partitions, as the member of this generation.
    let part = |p: i32, offset: i64, epoch: i32| OffsetCommitRequestPartition {
        partition_index: p,
        committed_offset: offset,
        committed_leader_epoch: epoch,
        committed_metadata: Some(format!("meta-{p}")),
        ..Default::default()
    };
    let commit = OffsetCommitRequest {
        group_id: group.into(),
        generation_id_or_member_epoch: joined.generation_id,
        member_id: member.clone(),
        topics: vec![OffsetCommitRequestTopic {
            name: topic.into(),
            partitions: vec![part(0, 5, 0), part(1, 7, -1)],
            ..Default::default()
        }],
        ..Default::default()
    };
    let (cv, committed) = call(&conn, &commit, vs.commit);
    assert_eq!(committed.topics.len(), 1, "OffsetCommit v{cv}");
    assert_eq!(committed.topics[0].name, topic);
    let mut errors: Vec<(i32, i16)> = committed.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.error_code))
        .collect();
    errors.sort();
    assert_eq!(errors, [(0, NONE), (1, NONE)], "OffsetCommit v{cv}");

    // OffsetFetch returns them.
    let fetch = OffsetFetchRequest::single(
        group,
        Some(vec![OffsetFetchRequestTopic {
            name: topic.into(),
            partition_indexes: vec![0, 1],
            ..Default::default()
        }]),
    );
    let (fv, fetched) = call(&conn, &fetch, vs.fetch);
    if fv >= 8 {
        assert_eq!(fetched.groups.len(), 1, "OffsetFetch v{fv}");
    }
    let (group_error, topics) = fetched.group(group).expect("an answer for the group");
    assert_eq!(group_error, NONE, "OffsetFetch v{fv}");
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].name, topic);
    let mut offsets: Vec<_> = topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.committed_offset,
                p.committed_leader_epoch,
                p.metadata.clone(),
                p.error_code,
            )
        })
        .collect();
    offsets.sort();
    // The leader epoch is stored from OffsetCommit v6 and returned from OffsetFetch v5.
    let epoch0 = if cv >= 6 && fv >= 5 { 0 } else { -1 };
    assert_eq!(
        offsets,
        [
            (0, 5, epoch0, Some("meta-0".to_string()), NONE),
            (1, 7, -1, Some("meta-1".to_string()), NONE),
        ],
        "OffsetFetch v{fv} after OffsetCommit v{cv}"
    );

    // LeaveGroup, after which the coordinator no longer knows the member.
    let leave = LeaveGroupRequest::single(group, &member, None, Some("test done"));
    let (lv, left) = call(&conn, &leave, vs.leave);
    assert_eq!(left.error_code, NONE, "LeaveGroup v{lv}");
    if lv >= 3 {
        assert_eq!(left.members.len(), 1);
        assert_eq!(left.members[0].member_id, member);
        assert_eq!(left.members[0].group_instance_id, None);
        assert_eq!(left.members[0].error_code, NONE);
    }
    let (_, beat) = call(&conn, &hb, vs.heartbeat);
    assert_eq!(
        beat.error_code, UNKNOWN_MEMBER_ID,
        "Heartbeat after leaving"
    );
    println!(
        "classic group at FindCoordinator v{fcv} JoinGroup v{jv} SyncGroup v{syv} \
         Heartbeat v{hv} OffsetCommit v{cv} OffsetFetch v{fv} LeaveGroup v{lv}: ok"
    );
}

#[test]
fn kafka_4_accepts_the_versions_the_module_docs_state() {
    with_timeout(LIMIT, || {
        let c = common::client::client(&kafka::shared().bootstrap);
        let conn = c.cluster().any_broker(deadline()).unwrap();
        let ranges: Vec<(i16, Option<(i16, i16)>)> = [
            api_key::OFFSET_COMMIT,
            api_key::OFFSET_FETCH,
            api_key::FIND_COORDINATOR,
            api_key::JOIN_GROUP,
            api_key::HEARTBEAT,
            api_key::LEAVE_GROUP,
            api_key::SYNC_GROUP,
            api_key::CONSUMER_GROUP_HEARTBEAT,
        ]
        .iter()
        .map(|&k| (k, conn.versions().range(k)))
        .collect();
        for (k, r) in &ranges {
            println!("{}: {r:?}", api_key::name(*k));
        }
        assert_eq!(
            ranges.iter().map(|(_, r)| r.unwrap()).collect::<Vec<_>>(),
            [
                (2, 10),
                (1, 10),
                (0, 6),
                (0, 9),
                (0, 4),
                (0, 5),
                (0, 5),
                (0, 1)
            ]
        );
    })
}

#[test]
fn classic_group_at_the_newest_versions() {
    with_timeout(LIMIT, || {
        classic_group("gp-newest", "gp-newest-topic", Versions::default())
    })
}

#[test]
fn classic_group_at_old_non_flexible_versions() {
    with_timeout(LIMIT, || {
        let vs = Versions {
            find: Some(2),
            join: Some(5),
            sync: Some(3),
            heartbeat: Some(3),
            commit: Some(2),
            fetch: Some(1),
            leave: Some(3),
        };
        classic_group("gp-old", "gp-old-topic", vs)
    })
}

#[test]
fn consumer_group_heartbeat_joins_gets_an_assignment_and_leaves() {
    with_timeout(LIMIT, || {
        let group = "gp-848";
        let topic = "gp-848-topic";
        let c = common::client::client(&kafka::shared().bootstrap);
        create(&c, topic, 3);
        let md = c.metadata(Some(&[topic.to_string()]), T).unwrap();
        let topic_id = md.topics[0].topic_id;
        let (_, conn) = coordinator(&c, group, None);

        // v1+: the member makes its own id.
        let member_id = format!(
            "kc-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let join = ConsumerGroupHeartbeatRequest {
            group_id: group.into(),
            member_id: member_id.clone(),
            member_epoch: member_epoch::JOIN,
            rebalance_timeout_ms: 10_000,
            subscribed_topic_names: Some(vec![topic.into()]),
            topic_partitions: Some(vec![]),
            ..Default::default()
        };
        let (v, mut resp) = call_when_loaded(&conn, &join, None, |r| r.error_code);
        assert_eq!(v, 1);
        assert_eq!(resp.error_code, NONE, "join: {:?}", resp.error_message);
        assert_eq!(resp.member_id.as_deref(), Some(member_id.as_str()));
        assert!(resp.member_epoch >= 1, "epoch {}", resp.member_epoch);
        assert!(resp.heartbeat_interval_ms > 0);

        // Heartbeat (fields unchanged: None) until the topic's three partitions are
        // ours, acknowledging each assignment received.
        let mut owned: Vec<ConsumerGroupHeartbeatTopicPartitions> = Vec::new();
        let mut beats = 1;
        let limit = deadline();
        loop {
            assert_eq!(resp.error_code, NONE, "heartbeat: {:?}", resp.error_message);
            if let Some(a) = resp.assignment.take() {
                owned = a.topic_partitions;
            }
            let mut mine: Vec<i32> = owned
                .iter()
                .filter(|tp| tp.topic_id == topic_id)
                .flat_map(|tp| tp.partitions.iter().copied())
                .collect();
            mine.sort();
            if mine == [0, 1, 2] {
                assert_eq!(owned.len(), 1, "only the subscribed topic");
                break;
            }
            assert!(
                Instant::now() < limit,
                "no assignment after {beats} heartbeats"
            );
            thread::sleep(Duration::from_millis(200));
            let beat = ConsumerGroupHeartbeatRequest {
                group_id: group.into(),
                member_id: member_id.clone(),
                member_epoch: resp.member_epoch,
                topic_partitions: Some(owned.clone()),
                ..Default::default()
            };
            resp = call(&conn, &beat, Some(v)).1;
            beats += 1;
        }
        println!(
            "KIP-848: partitions 0-2 assigned after {beats} heartbeat(s), epoch {}",
            resp.member_epoch
        );

        // A heartbeat that acknowledges the assignment keeps the epoch.
        let beat = ConsumerGroupHeartbeatRequest {
            group_id: group.into(),
            member_id: member_id.clone(),
            member_epoch: resp.member_epoch,
            topic_partitions: Some(owned.clone()),
            ..Default::default()
        };
        let (_, steady) = call(&conn, &beat, Some(v));
        assert_eq!(steady.error_code, NONE);
        assert_eq!(steady.member_epoch, resp.member_epoch);

        // Leave: the coordinator answers with epoch -1.
        let leave = ConsumerGroupHeartbeatRequest {
            group_id: group.into(),
            member_id: member_id.clone(),
            member_epoch: member_epoch::LEAVE,
            ..Default::default()
        };
        let (_, left) = call(&conn, &leave, Some(v));
        assert_eq!(left.error_code, NONE, "leave: {:?}", left.error_message);
        assert_eq!(left.member_epoch, member_epoch::LEAVE);
        assert_eq!(left.member_id.as_deref(), Some(member_id.as_str()));

        // The member is gone: its old epoch is refused.
        let again = ConsumerGroupHeartbeatRequest {
            member_epoch: steady.member_epoch,
            ..leave
        };
        let (_, stale) = call(&conn, &again, Some(v));
        assert_eq!(
            stale.error_code, UNKNOWN_MEMBER_ID,
            "heartbeat after leaving"
        );
    })
}
