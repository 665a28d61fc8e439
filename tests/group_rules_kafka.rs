//! The classic group rules `tests/sim_group.rs`'s simulated coordinator keeps, checked once
//! against Apache Kafka 4.x (one KRaft node on loopback) with typed requests on the
//! client's coordinator connections:
//!
//! * an OffsetCommit with a stale generation is refused ILLEGAL_GENERATION;
//! * while a rebalance is in progress a Heartbeat is answered REBALANCE_IN_PROGRESS, and an
//!   OffsetCommit of the current generation is still accepted (the revoke callback's
//!   commit before the rejoin);
//! * a second static member with the same group.instance.id gets a new member id, and the
//!   first member's requests are answered FENCED_INSTANCE_ID.

mod common;

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

const T: Duration = Duration::from_secs(20);
const LIMIT: Duration = Duration::from_secs(150);

const NONE: i16 = 0;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const ILLEGAL_GENERATION: i16 = 22;
const REBALANCE_IN_PROGRESS: i16 = 27;
const MEMBER_ID_REQUIRED: i16 = 79;
const FENCED_INSTANCE_ID: i16 = 82;

fn call<R: Request>(conn: &Connection, req: &R) -> R::Response {
    conn.request(req, Instant::now() + T)
        .unwrap_or_else(|e| panic!("{}: {e}", api_key::name(R::API_KEY)))
        .1
}

/// A client and its connection to `group`'s coordinator (waiting while it starts).
fn coordinator(group: &str) -> (Client, Arc<Connection>) {
    let c = common::client::client(&kafka::shared().bootstrap);
    let any = c.cluster().any_broker(Instant::now() + T).unwrap();
    let req = FindCoordinatorRequest::single(coordinator_key_type::GROUP, group);
    let limit = Instant::now() + T;
    let node = loop {
        let found = call(&any, &req).coordinator_for(group).expect("an answer");
        match found.error_code {
            NONE => break found.node_id,
            COORDINATOR_NOT_AVAILABLE | COORDINATOR_LOAD_IN_PROGRESS | NOT_COORDINATOR
                if Instant::now() < limit =>
            {
                thread::sleep(Duration::from_millis(100))
            }
            e => panic!("FindCoordinator: {e}"),
        }
    };
    let topic = format!("{group}-topic");
    if c.metadata(Some(std::slice::from_ref(&topic)), T)
        .unwrap()
        .topics[0]
        .error_code
        != NONE
    {
        common::client::create_topic(&c, &topic, 1, 1, &[], T);
    }
    let conn = c
        .cluster()
        .broker_for(node, Purpose::Coordinator, Instant::now() + T)
        .unwrap();
    (c, conn)
}

fn join_req(group: &str, member: &str, instance: Option<&str>) -> JoinGroupRequest {
    let sub = ConsumerProtocolSubscription {
        topics: vec!["rules-topic".into()],
        generation_id: -1,
        ..Default::default()
    };
    JoinGroupRequest {
        group_id: group.into(),
        session_timeout_ms: 30_000,
        rebalance_timeout_ms: 10_000,
        member_id: member.into(),
        group_instance_id: instance.map(str::to_string),
        protocol_type: CONSUMER_PROTOCOL_TYPE.into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: encode_subscription(&sub, SUBSCRIPTION_MAX_VERSION),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// JoinGroup, again while the coordinator loads.
fn join(conn: &Connection, req: &JoinGroupRequest) -> JoinGroupResponse {
    let limit = Instant::now() + T;
    loop {
        let r = call(conn, req);
        match r.error_code {
            COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR
                if Instant::now() < limit =>
            {
                thread::sleep(Duration::from_millis(100))
            }
            _ => return r,
        }
    }
}

/// A dynamic member joins alone and syncs as leader: (member id, generation).
fn join_alone(conn: &Connection, group: &str) -> (String, i32) {
    let first = join(conn, &join_req(group, "", None));
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    let joined = join(conn, &join_req(group, &first.member_id, None));
    assert_eq!(joined.error_code, NONE);
    let sync = call(
        conn,
        &sync_req(group, &joined.member_id, joined.generation_id, None),
    );
    assert_eq!(sync.error_code, NONE);
    (joined.member_id, joined.generation_id)
}

fn sync_req(
    group: &str,
    member: &str,
    generation: i32,
    instance: Option<&str>,
) -> SyncGroupRequest {
    SyncGroupRequest {
        group_id: group.into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: instance.map(str::to_string),
        protocol_type: Some(CONSUMER_PROTOCOL_TYPE.into()),
        protocol_name: Some("range".into()),
        assignments: vec![SyncGroupRequestAssignment {
            member_id: member.into(),
            assignment: Default::default(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn heartbeat(
    conn: &Connection,
    group: &str,
    member: &str,
    generation: i32,
    instance: Option<&str>,
) -> i16 {
    call(
        conn,
        &HeartbeatRequest {
            group_id: group.into(),
            generation_id: generation,
            member_id: member.into(),
            group_instance_id: instance.map(str::to_string),
            ..Default::default()
        },
    )
    .error_code
}

fn commit(conn: &Connection, group: &str, member: &str, generation: i32) -> i16 {
    let r = call(
        conn,
        &OffsetCommitRequest {
            group_id: group.into(),
            generation_id_or_member_epoch: generation,
            member_id: member.into(),
            topics: vec![OffsetCommitRequestTopic {
                name: format!("{group}-topic"),
                partitions: vec![OffsetCommitRequestPartition {
                    partition_index: 0,
                    committed_offset: 1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        },
    );
    r.topics[0].partitions[0].error_code
}

#[test]
fn kafka_refuses_a_commit_of_a_stale_generation() {
    with_timeout(LIMIT, || {
        let group = "rules-stale";
        let (_c, conn) = coordinator(group);
        let (member, generation) = join_alone(&conn, group);
        assert_eq!(commit(&conn, group, &member, generation), NONE);
        assert_eq!(
            commit(&conn, group, &member, generation - 1),
            ILLEGAL_GENERATION
        );
        assert_eq!(
            heartbeat(&conn, group, &member, generation + 1, None),
            ILLEGAL_GENERATION
        );
    })
}

#[test]
fn kafka_answers_rebalance_in_progress_and_takes_the_current_generations_commit() {
    with_timeout(LIMIT, || {
        let group = "rules-rebalance";
        let (_a, conn_a) = coordinator(group);
        let (member_a, generation) = join_alone(&conn_a, group);
        // A second member joins on its own connection: its JoinGroup is held until the
        // first rejoins, so it runs on a thread.
        let b = thread::spawn(move || {
            let (_b, conn_b) = coordinator(group);
            let first = join(&conn_b, &join_req(group, "", None));
            assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
            join(&conn_b, &join_req(group, &first.member_id, None))
        });
        let limit = Instant::now() + T;
        loop {
            let code = heartbeat(&conn_a, group, &member_a, generation, None);
            if code == REBALANCE_IN_PROGRESS {
                break;
            }
            assert_eq!(code, NONE);
            assert!(Instant::now() < limit, "no rebalance started");
            thread::sleep(Duration::from_millis(100));
        }
        // PreparingRebalance: the old generation's commit is still accepted.
        assert_eq!(commit(&conn_a, group, &member_a, generation), NONE);
        let rejoined = join(&conn_a, &join_req(group, &member_a, None));
        assert_eq!(rejoined.error_code, NONE);
        assert_eq!(rejoined.generation_id, generation + 1);
        let joined_b = b.join().unwrap();
        assert_eq!(joined_b.error_code, NONE);
        // CompletingRebalance: a commit of the new generation waits for the sync.
        assert_eq!(
            commit(&conn_a, group, &member_a, rejoined.generation_id),
            REBALANCE_IN_PROGRESS
        );
    })
}

#[test]
fn kafka_fences_a_static_member_replaced_by_a_new_instance() {
    with_timeout(LIMIT, || {
        let group = "rules-static";
        let (_c, conn) = coordinator(group);
        let inst = Some("rules-instance");
        // A static member joins without MEMBER_ID_REQUIRED.
        let first = join(&conn, &join_req(group, "", inst));
        assert_eq!(first.error_code, NONE);
        let sync = call(
            &conn,
            &sync_req(group, &first.member_id, first.generation_id, inst),
        );
        assert_eq!(sync.error_code, NONE);
        // A second process with the same instance id.
        let (_c2, conn2) = coordinator(group);
        let second = join(&conn2, &join_req(group, "", inst));
        assert_eq!(second.error_code, NONE);
        assert_ne!(second.member_id, first.member_id);
        assert_eq!(
            heartbeat(&conn, group, &first.member_id, first.generation_id, inst),
            FENCED_INSTANCE_ID
        );
    })
}
