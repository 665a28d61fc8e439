//! KIP-951: a Produce or Fetch answer with NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH
//! names the partition's new leader (`CurrentLeader`) and, in Produce v10+, its address
//! (`NodeEndpoints`). The client moves the leader in its metadata snapshot and retries
//! there without a Metadata request, unless the hint is older than what it holds or names
//! a broker it cannot reach.
//!
//! Two fake brokers on loopback with hand-written answers (tests/fake), ids 1 and 2.
//! Metadata first says broker 1 leads partition 0 of "t" at epoch 5; broker 1 answers
//! every Produce and Fetch with an error and the configured hint, and from then on the
//! Metadata answers (of either broker) say broker 2 leads at epoch 6. Broker 2 answers
//! Produce and Fetch with success.

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
    /// The error broker 1 answers Produce and Fetch with.
    error_code: i16,
    /// The leader and epoch broker 1 names with it.
    hint: Option<(i32, i32)>,
    /// The brokers whose address broker 1 sends with a Produce error (`NodeEndpoints`).
    endpoints: Vec<i32>,
}

struct State {
    scenario: Scenario,
    ports: [u16; 2],
    /// Set once broker 1 has said it no longer leads: Metadata names broker 2.
    moved: AtomicBool,
    /// Every request: (broker id, api key, api version).
    requests: Mutex<Vec<(i32, i16, i16)>>,
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
                fake::metadata_response_of(cid, v, &brokers, "t", leader, epoch)
            }
            PRODUCE if id == 1 => {
                assert_eq!(v, 11, "Produce version");
                state.moved.store(true, Ordering::SeqCst);
                let endpoints: Vec<(i32, u16)> =
                    sc.endpoints.iter().map(|&b| (b, state.port(b))).collect();
                fake::produce_response(cid, v, "t", sc.error_code, -1, sc.hint, &endpoints)
            }
            PRODUCE => fake::produce_response(cid, v, "t", 0, 42, None, &[]),
            FETCH if id == 1 => {
                assert_eq!(v, 12, "Fetch version");
                state.moved.store(true, Ordering::SeqCst);
                fake::fetch_error_response(cid, v, "t", sc.error_code, sc.hint)
            }
            FETCH => {
                let batch = fake::record_batch(0, 1_700_000_000_000, &[b"hello"], false);
                fake::fetch_response(cid, v, "t", 1, &batch)
            }
            k => panic!("unexpected request {k}"),
        };
        if s.write_all(&frame).is_err() {
            return;
        }
    }
}

/// A client of the fake cluster that already holds the metadata of "t" (broker 1 leads
/// at epoch 5).
fn client(state: &State) -> Client {
    let c = common::client::client_with(&format!("127.0.0.1:{}", state.port(1)), &[]);
    let md = c
        .metadata(Some(&["t".to_owned()]), Duration::from_secs(10))
        .unwrap();
    let p = &md.topics[0].partitions[0];
    assert_eq!((p.leader, p.leader_epoch), (1, 5));
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
    let snap = c.cluster().snapshot();
    let p = snap.topic("t").unwrap().partition(0).unwrap().clone();
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
        let state = fake_cluster(Scenario {
            brokers_before: vec![1],
            error_code: 6,
            hint: Some((2, 6)),
            endpoints: vec![2],
        });
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
        let state = fake_cluster(Scenario {
            brokers_before: vec![1],
            error_code: 6,
            hint: Some((2, 4)),
            endpoints: vec![2],
        });
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
        let state = fake_cluster(Scenario {
            brokers_before: vec![1],
            error_code: 6,
            hint: Some((2, 6)),
            endpoints: vec![],
        });
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
        let state = fake_cluster(Scenario {
            brokers_before: vec![1, 2],
            error_code: 74,
            hint: Some((2, 6)),
            endpoints: vec![],
        });
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
        let state = fake_cluster(Scenario {
            brokers_before: vec![1, 2],
            error_code: 6,
            hint: Some((2, 4)),
            endpoints: vec![],
        });
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
