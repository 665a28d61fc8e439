//! KIP-951: a Produce or Fetch answer with NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH
//! names the partition's new leader (`CurrentLeader`) and, in Produce v10+, its address
//! (`NodeEndpoints`). The client moves the leader in its metadata snapshot and retries
//! there without a Metadata request, unless the hint is older than what it holds or names
//! a broker it cannot reach.
//!
//! Two fake brokers on loopback with hand-written answers (tests/fake), ids 1 and 2.
//! Metadata first says broker 1 leads partition 0 of each topic ("t", and "u" in one test)
//! at epoch 5; broker 1 answers every Produce and Fetch with an error and the configured
//! hint, and from then on the Metadata answers (of either broker) say broker 2 leads at
//! epoch 6. Broker 2 answers Produce and Fetch with success.

mod common;
mod fake;

use common::with_timeout;
use fake::{APIS_PRODUCE_V11, API_VERSIONS, FETCH, METADATA, PRODUCE};
use kafkac::record::{Compression, RecordIn};
use kafkac::Client;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the fake cluster does.
#[derive(Clone)]
struct Scenario {
    /// The brokers Metadata lists before the leader moves (after: both).
    brokers_before: Vec<i32>,
    /// The topics, and how broker 1 answers for each.
    topics: Vec<TopicAnswer>,
    /// The brokers whose address broker 1 sends with a Produce error (`NodeEndpoints`).
    endpoints: Vec<i32>,
}

/// How broker 1 answers Produce ("t" only) and Fetch for one topic.
#[derive(Clone, Copy)]
struct TopicAnswer {
    topic: &'static str,
    error_code: i16,
    /// The leader and epoch it names (`CurrentLeader`).
    hint: Option<(i32, i32)>,
}

impl Scenario {
    /// Topic "t" only.
    fn one(
        brokers_before: &[i32],
        error_code: i16,
        hint: Option<(i32, i32)>,
        endpoints: &[i32],
    ) -> Self {
        Scenario {
            brokers_before: brokers_before.to_vec(),
            topics: vec![TopicAnswer {
                topic: "t",
                error_code,
                hint,
            }],
            endpoints: endpoints.to_vec(),
        }
    }

    fn names(&self) -> Vec<&'static str> {
        self.topics.iter().map(|t| t.topic).collect()
    }
}

struct State {
    scenario: Scenario,
    ports: [u16; 2],
    /// Set once broker 1 has said it no longer leads: Metadata names broker 2.
    moved: AtomicBool,
    /// Every request: (broker id, api key, api version).
    requests: Mutex<Vec<(i32, i16, i16)>>,
    /// The topics of every Metadata request (`None`: all).
    metadata_asked: Mutex<Vec<Option<Vec<String>>>>,
}

impl State {
    fn port(&self, id: i32) -> u16 {
        self.ports[(id - 1) as usize]
    }

    fn count(&self, broker: i32, api_key: i16) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.0 == broker && r.1 == api_key)
            .count()
    }
}

/// Starts brokers 1 and 2; returns the shared state (broker 1's port bootstraps).
fn fake_cluster(scenario: Scenario) -> Arc<State> {
    let listeners = [
        TcpListener::bind("127.0.0.1:0").unwrap(),
        TcpListener::bind("127.0.0.1:0").unwrap(),
    ];
    let ports = [
        listeners[0].local_addr().unwrap().port(),
        listeners[1].local_addr().unwrap().port(),
    ];
    let state = Arc::new(State {
        scenario,
        ports,
        moved: AtomicBool::new(false),
        requests: Mutex::new(Vec::new()),
        metadata_asked: Mutex::new(Vec::new()),
    });
    for (i, l) in listeners.into_iter().enumerate() {
        let state = state.clone();
        thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(s) = conn else { return };
                let state = state.clone();
                thread::spawn(move || serve(s, i as i32 + 1, &state));
            }
        });
    }
    state
}

fn serve(mut s: TcpStream, id: i32, state: &State) {
    let sc = &state.scenario;
    while let Some(req) = fake::read_request(&mut s) {
        let (cid, v) = (req.correlation_id, req.api_version);
        state.requests.lock().unwrap().push((id, req.api_key, v));
        let frame = match req.api_key {
            API_VERSIONS if v > 3 => fake::api_versions_response(cid, 0, 35, APIS_PRODUCE_V11),
            API_VERSIONS => fake::api_versions_response(cid, v, 0, APIS_PRODUCE_V11),
            METADATA => {
                let (ids, leader, epoch) = if state.moved.load(Ordering::SeqCst) {
                    (vec![1, 2], 2, 6)
                } else {
                    (sc.brokers_before.clone(), 1, 5)
                };
                let brokers: Vec<(i32, u16)> = ids.iter().map(|&b| (b, state.port(b))).collect();
                let asked = fake::metadata_request_topics(&req.body, v);
                let topics: Vec<&str> = match &asked {
                    Some(names) => names.iter().map(String::as_str).collect(),
                    None => sc.names(),
                };
                let frame = fake::metadata_response_of(cid, v, &brokers, &topics, leader, epoch);
                state.metadata_asked.lock().unwrap().push(asked);
                frame
            }
            PRODUCE if id == 1 => {
                assert_eq!(v, 11, "Produce version");
                state.moved.store(true, Ordering::SeqCst);
                let endpoints: Vec<(i32, u16)> =
                    sc.endpoints.iter().map(|&b| (b, state.port(b))).collect();
                let t = sc.topics[0];
                fake::produce_response(cid, v, "t", t.error_code, -1, t.hint, &endpoints)
            }
            PRODUCE => fake::produce_response(cid, v, "t", 0, 42, None, &[]),
            FETCH if id == 1 => {
                assert_eq!(v, 12, "Fetch version");
                state.moved.store(true, Ordering::SeqCst);
                let parts: Vec<fake::FetchPart<'_>> = sc
                    .topics
                    .iter()
                    .map(|t| fake::FetchPart {
                        topic: t.topic,
                        error_code: t.error_code,
                        current_leader: t.hint,
                        records: &[],
                    })
                    .collect();
                fake::fetch_response_of(cid, v, &parts)
            }
            FETCH => {
                let batch = fake::record_batch(0, 1_700_000_000_000, &[b"hello"], false);
                let parts: Vec<fake::FetchPart<'_>> = sc
                    .names()
                    .into_iter()
                    .map(|topic| fake::FetchPart {
                        topic,
                        error_code: 0,
                        current_leader: None,
                        records: &batch,
                    })
                    .collect();
                fake::fetch_response_of(cid, v, &parts)
            }
            k => panic!("unexpected request {k}"),
        };
        if s.write_all(&frame).is_err() {
            return;
        }
    }
}

/// A client of the fake cluster that already holds the metadata of its topics (broker 1
/// leads at epoch 5).
fn client(state: &State) -> Client {
    let c = common::client::client_with(&format!("127.0.0.1:{}", state.port(1)), &[]);
    let names: Vec<String> = state
        .scenario
        .names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let md = c.metadata(Some(&names), Duration::from_secs(10)).unwrap();
    assert_eq!(md.topics.len(), names.len());
    for t in &md.topics {
        let p = &t.partitions[0];
        assert_eq!((p.leader, p.leader_epoch), (1, 5));
    }
    c
}

fn metadata_requests(c: &Client) -> u64 {
    c.cluster()
        .stats()
        .metadata_requests
        .load(Ordering::Relaxed)
}

fn leader_hints(c: &Client) -> u64 {
    c.cluster().stats().leader_hints.load(Ordering::Relaxed)
}

/// The snapshot's (leader, epoch) of "t"/0.
fn held_leader(c: &Client) -> (i32, i32) {
    held_leader_of(c, "t")
}

fn held_leader_of(c: &Client, topic: &str) -> (i32, i32) {
    let snap = c.cluster().snapshot();
    let p = snap.topic(topic).unwrap().partition(0).unwrap().clone();
    (p.leader, p.leader_epoch)
}

fn produce(c: &Client) -> kafkac::Result<i64> {
    let rec = RecordIn {
        key: None,
        value: Some(b"v"),
        headers: &[],
        timestamp: None,
    };
    c.produce(
        "t",
        0,
        &[rec],
        -1,
        Compression::None,
        Duration::from_secs(10),
    )
}

fn fetch(c: &Client) -> kafkac::Result<kafkac::client::FetchResult> {
    c.fetch(
        "t",
        0,
        0,
        1 << 20,
        Duration::from_millis(100),
        Duration::from_secs(10),
    )
}

#[test]
fn produce_retry_goes_to_the_named_leader_without_a_metadata_request() {
    with_timeout(Duration::from_secs(30), || {
        // Broker 2 is not in the metadata: only NodeEndpoints says where it is.
        let state = fake_cluster(Scenario::one(&[1], 6, Some((2, 6)), &[2]));
        let c = client(&state);
        let before = metadata_requests(&c);
        assert_eq!(produce(&c).unwrap(), 42);
        assert_eq!(metadata_requests(&c), before, "no Metadata request");
        assert_eq!(state.count(1, PRODUCE), 1);
        assert_eq!(state.count(2, PRODUCE), 1);
        assert_eq!(state.count(1, METADATA) + state.count(2, METADATA), 1);
        assert_eq!(leader_hints(&c), 1);
        assert_eq!(held_leader(&c), (2, 6));
        // Later calls go straight to broker 2.
        assert_eq!(produce(&c).unwrap(), 42);
        assert_eq!(state.count(1, PRODUCE), 1);
        assert_eq!(state.count(2, PRODUCE), 2);
        assert_eq!(metadata_requests(&c), before);
    })
}

#[test]
fn produce_hint_with_an_older_epoch_is_ignored_and_metadata_refreshed() {
    with_timeout(Duration::from_secs(30), || {
        let state = fake_cluster(Scenario::one(&[1], 6, Some((2, 4)), &[2]));
        let c = client(&state);
        let before = metadata_requests(&c);
        assert_eq!(produce(&c).unwrap(), 42);
        assert_eq!(metadata_requests(&c), before + 1, "one Metadata refresh");
        assert_eq!(leader_hints(&c), 0);
        assert_eq!(held_leader(&c), (2, 6), "from the Metadata answer");
        assert_eq!(state.count(1, PRODUCE), 1);
        assert_eq!(state.count(2, PRODUCE), 1);
    })
}

#[test]
fn produce_hint_naming_a_broker_of_unknown_address_refreshes_metadata() {
    with_timeout(Duration::from_secs(30), || {
        // The newer leader, but neither the metadata nor the answer says where it is.
        let state = fake_cluster(Scenario::one(&[1], 6, Some((2, 6)), &[]));
        let c = client(&state);
        let before = metadata_requests(&c);
        assert_eq!(produce(&c).unwrap(), 42);
        assert_eq!(metadata_requests(&c), before + 1, "one Metadata refresh");
        assert_eq!(leader_hints(&c), 0);
        assert_eq!(held_leader(&c), (2, 6));
    })
}

#[test]
fn fetch_retry_goes_to_the_named_leader_without_a_metadata_request() {
    with_timeout(Duration::from_secs(30), || {
        // Fetch v12 names the leader but not its address: broker 2 is in the metadata.
        let state = fake_cluster(Scenario::one(&[1, 2], 74, Some((2, 6)), &[]));
        let c = client(&state);
        let before = metadata_requests(&c);
        let r = fetch(&c).unwrap();
        let values: Vec<&[u8]> = r.records.iter().filter_map(|rec| rec.value).collect();
        assert_eq!(values, [b"hello"]);
        assert_eq!(metadata_requests(&c), before, "no Metadata request");
        assert_eq!(state.count(1, FETCH), 1);
        assert_eq!(state.count(2, FETCH), 1);
        assert_eq!(leader_hints(&c), 1);
        assert_eq!(held_leader(&c), (2, 6));
    })
}

#[test]
fn fetch_hint_with_an_older_epoch_is_ignored_and_metadata_refreshed() {
    with_timeout(Duration::from_secs(30), || {
        let state = fake_cluster(Scenario::one(&[1, 2], 6, Some((2, 4)), &[]));
        let c = client(&state);
        let before = metadata_requests(&c);
        let r = fetch(&c).unwrap();
        assert_eq!(r.records.len(), 1);
        assert_eq!(metadata_requests(&c), before + 1, "one Metadata refresh");
        assert_eq!(leader_hints(&c), 0);
        assert_eq!(held_leader(&c), (2, 6));
        assert_eq!(state.count(1, FETCH), 1);
        assert_eq!(state.count(2, FETCH), 1);
    })
}

#[test]
fn a_retry_round_refreshes_only_the_topics_without_a_usable_hint() {
    with_timeout(Duration::from_secs(30), || {
        // One fetch of "t" and "u", both led by broker 1: it names the new leader of "t"
        // only. The retry round asks Metadata for "u" alone, then both go to broker 2.
        let state = fake_cluster(Scenario {
            brokers_before: vec![1, 2],
            topics: vec![
                TopicAnswer {
                    topic: "t",
                    error_code: 74,
                    hint: Some((2, 6)),
                },
                TopicAnswer {
                    topic: "u",
                    error_code: 6,
                    hint: None,
                },
            ],
            endpoints: vec![],
        });
        let c = client(&state);
        let before = metadata_requests(&c);
        let specs: Vec<kafkac::client::FetchRequestSpec> = ["t", "u"]
            .iter()
            .map(|t| kafkac::client::FetchRequestSpec {
                topic: (*t).to_owned(),
                partition: 0,
                offset: 0,
                max_bytes: 1 << 20,
            })
            .collect();
        let results = c.fetch_many(&specs, Duration::from_millis(100), Duration::from_secs(10));
        for r in results {
            let r = r.unwrap();
            let values: Vec<&[u8]> = r.records.iter().filter_map(|rec| rec.value).collect();
            assert_eq!(values, [b"hello"], "{}", r.topic);
        }
        assert_eq!(metadata_requests(&c), before + 1, "one Metadata refresh");
        let asked = state.metadata_asked.lock().unwrap().clone();
        assert_eq!(
            asked.last().unwrap().as_deref(),
            Some(&["u".to_owned()][..])
        );
        assert_eq!(leader_hints(&c), 1);
        assert_eq!(held_leader_of(&c, "t"), (2, 6));
        assert_eq!(held_leader_of(&c, "u"), (2, 6));
        assert_eq!(state.count(1, FETCH), 1);
        assert_eq!(state.count(2, FETCH), 1, "one request for both partitions");
    })
}
