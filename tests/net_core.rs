//! The I/O core's timers and limits against a fake broker on loopback (hand-written
//! answers, tests/fake): throttling (KIP-219), idle connections, reconnect back-off, and
//! the per-connection in-flight limit.

mod common;
mod fake;

use common::with_timeout;
use fake::{APIS, API_VERSIONS, METADATA};
use kafkac::{Client, Config};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What the fake broker saw: every request's (connection number, api key, arrival time).
#[derive(Default)]
struct Seen {
    requests: Mutex<Vec<(usize, i16, Instant)>>,
    connections: AtomicUsize,
    /// Most Metadata requests unanswered at once on one connection.
    max_unanswered: AtomicUsize,
}

/// A broker that answers ApiVersions and Metadata; `throttle_ms` goes into every
/// Metadata answer, and each Metadata answer is held for `hold`.
fn broker(throttle_ms: i32, hold: Duration) -> (u16, Arc<Seen>) {
    broker_advertising(None, throttle_ms, hold)
}

/// Like [`broker`], but its Metadata answers place broker 1 (the leader of everything)
/// at `advertise` instead of at its own port.
fn broker_advertising(
    advertise: Option<u16>,
    throttle_ms: i32,
    hold: Duration,
) -> (u16, Arc<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let advertised = advertise.unwrap_or(port);
    let seen = Arc::new(Seen::default());
    let seen2 = seen.clone();
    thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(s) = conn else { return };
            let n = seen2.connections.fetch_add(1, Ordering::SeqCst);
            let seen = seen2.clone();
            thread::spawn(move || serve(s, n, advertised, throttle_ms, hold, &seen));
        }
    });
    (port, seen)
}

fn serve(mut s: TcpStream, n: usize, port: u16, throttle_ms: i32, hold: Duration, seen: &Seen) {
    // Requests are read on their own thread so that how many wait unanswered is known.
    let (tx, rx) = std::sync::mpsc::channel();
    let mut reader = s.try_clone().unwrap();
    let pending = Arc::new(AtomicUsize::new(0));
    let pending2 = pending.clone();
    thread::spawn(move || {
        while let Some(req) = fake::read_request(&mut reader) {
            pending2.fetch_add(1, Ordering::SeqCst);
            if tx.send((req, Instant::now())).is_err() {
                return;
            }
        }
    });
    for (req, at) in rx {
        seen.requests.lock().unwrap().push((n, req.api_key, at));
        let (cid, v) = (req.correlation_id, req.api_version);
        let frame = match req.api_key {
            API_VERSIONS if v > 3 => fake::api_versions_response(cid, 0, 35, APIS),
            API_VERSIONS => fake::api_versions_response(cid, v, 0, APIS),
            METADATA => {
                seen.max_unanswered
                    .fetch_max(pending.load(Ordering::SeqCst), Ordering::SeqCst);
                thread::sleep(hold);
                let mut f = fake::metadata_response(cid, v, 1, port, "t");
                // throttle_time_ms is the first field of the body (v3+), after the
                // correlation id and, in flexible versions (v9+), the header's tag buffer.
                let at = if v >= 9 { 9 } else { 8 };
                assert!(v >= 3, "Metadata v{v} has no throttle_time_ms");
                f[at..at + 4].copy_from_slice(&throttle_ms.to_be_bytes());
                f
            }
            k => panic!("unexpected request {k}"),
        };
        pending.fetch_sub(1, Ordering::SeqCst);
        if s.write_all(&frame).is_err() {
            return;
        }
    }
}

fn client(port: u16, extra: &[(&str, &str)]) -> Client {
    let mut c = Config::new();
    c.set("bootstrap.servers", &format!("127.0.0.1:{port}"))
        .unwrap();
    for (k, v) in extra {
        c.set(k, v).unwrap();
    }
    Client::new(&c).unwrap()
}

fn metadata_arrivals(seen: &Seen) -> Vec<(usize, Instant)> {
    seen.requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.1 == METADATA)
        .map(|r| (r.0, r.2))
        .collect()
}

#[test]
fn a_throttled_connection_sends_nothing_until_the_throttle_ends() {
    with_timeout(Duration::from_secs(30), || {
        let (port, seen) = broker(600, Duration::ZERO);
        let c = client(port, &[]);
        let t = Duration::from_secs(10);
        // The first call goes through the bootstrap connection and learns broker 1's id;
        // later calls use the connection to broker 1.
        c.metadata(None, t).unwrap();
        c.metadata(None, t).unwrap();
        let answered = Instant::now();
        // That answer asked for 600 ms of quiet: the next request waits in the client.
        c.metadata(None, t).unwrap();
        let done = Instant::now();
        let arrivals = metadata_arrivals(&seen);
        assert_eq!(arrivals.len(), 3);
        assert_eq!(arrivals[1].0, arrivals[2].0, "same connection");
        let gap = arrivals[2].1 - arrivals[1].1;
        assert!(
            arrivals[2].1 >= answered + Duration::from_millis(550),
            "next request arrived {:?} after the throttled answer (gap {gap:?})",
            arrivals[2].1.saturating_duration_since(answered)
        );
        println!(
            "throttle 600 ms: next request {gap:?} later, call took {:?}",
            done - answered
        );
        let conn = c.cluster().any_broker(Instant::now() + t).unwrap();
        // (The last answer's throttle may still be on its way to the I/O thread.)
        assert!(conn.counters().throttled >= 1, "{:?}", conn.counters());
        // Each throttle is an event for the application.
        let ev = c.cluster().events().pop().expect("a throttle event");
        assert!(
            ev.message.contains("throttled by the broker for 600 ms"),
            "{ev:?}"
        );
    })
}

#[test]
fn an_idle_connection_is_closed_and_reopened_on_next_use() {
    with_timeout(Duration::from_secs(30), || {
        let (port, seen) = broker(0, Duration::ZERO);
        let c = client(port, &[("connections.max.idle.ms", "300")]);
        let t = Duration::from_secs(10);
        // The bootstrap connection, then the connection to broker 1 (see above).
        c.metadata(None, t).unwrap();
        c.metadata(None, t).unwrap();
        assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
        let conn = c.cluster().any_broker(Instant::now() + t).unwrap();
        // A busy connection stays open: requests 100 ms apart never leave it idle 300 ms.
        for _ in 0..6 {
            thread::sleep(Duration::from_millis(100));
            c.metadata(None, t).unwrap();
        }
        assert!(!conn.is_broken());
        assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
        // Quiet for longer than the limit: the loop closes it, and the next call opens
        // a new one.
        common::wait_until(Duration::from_secs(5), "idle connection closed", || {
            conn.is_broken()
        });
        c.metadata(None, t).unwrap();
        assert_eq!(seen.connections.load(Ordering::SeqCst), 3);
        let arrivals = metadata_arrivals(&seen);
        assert_eq!(
            arrivals.last().unwrap().0,
            2,
            "the last request went on a new connection"
        );
    })
}

#[test]
fn reconnect_back_off_doubles_between_failed_attempts() {
    with_timeout(Duration::from_secs(60), || {
        // Broker 1, the leader, accepts connections and closes them at once: every
        // attempt to connect to it fails, and the attempts are timed where it accepts.
        let dead = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_port = dead.local_addr().unwrap().port();
        let accepts = Arc::new(Mutex::new(Vec::new()));
        let accepts2 = accepts.clone();
        thread::spawn(move || {
            for conn in dead.incoming() {
                accepts2.lock().unwrap().push(Instant::now());
                drop(conn);
            }
        });
        // The bootstrap broker answers metadata that puts broker 1 there.
        let (port, _seen) = broker_advertising(Some(dead_port), 0, Duration::ZERO);
        let c = client(
            port,
            &[
                ("retry.backoff.ms", "10"),
                ("retry.backoff.max.ms", "10"),
                ("reconnect.backoff.ms", "200"),
                ("reconnect.backoff.max.ms", "800"),
            ],
        );
        let e = c
            .list_offsets(
                "t",
                0,
                kafkac::client::OffsetSpec::Latest,
                Duration::from_millis(2500),
            )
            .unwrap_err();
        assert!(e.message.contains("(broker 1)"), "{e}");
        let at = accepts.lock().unwrap().clone();
        let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
        println!(
            "{} attempts to the failing leader in 2.5 s, gaps {gaps:?}",
            at.len()
        );
        // Without a reconnect back-off the 10 ms retry back-off would allow ~100 attempts.
        // With it: 200, 400, 800, 800 ms apart (less up to 20% jitter) fit in 2.5 s.
        assert!(
            (2..=6).contains(&at.len()),
            "{} attempts: {gaps:?}",
            at.len()
        );
        assert!(gaps[0] >= Duration::from_millis(150), "{gaps:?}");
        if gaps.len() >= 2 {
            assert!(gaps[1] >= Duration::from_millis(300), "{gaps:?}");
        }
    })
}

#[test]
fn in_flight_requests_per_connection_are_limited() {
    with_timeout(Duration::from_secs(30), || {
        // Each answer is held 100 ms; eight threads ask at once on one connection.
        let (port, seen) = broker(0, Duration::from_millis(100));
        let run = |limit: &str| {
            let c = Arc::new(client(
                port,
                &[("max.in.flight.requests.per.connection", limit)],
            ));
            c.metadata(None, Duration::from_secs(10)).unwrap();
            seen.max_unanswered.store(0, Ordering::SeqCst);
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let c = c.clone();
                    thread::spawn(move || c.metadata(None, Duration::from_secs(20)).unwrap())
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            seen.max_unanswered.load(Ordering::SeqCst)
        };
        assert_eq!(run("1"), 1, "limit 1: one request at a time");
        let two = run("2");
        assert!(two <= 2, "limit 2: {two} unanswered at once");
        let many = run("100");
        assert!(
            many > 2,
            "no limit: requests pipeline ({many} unanswered at once)"
        );
    })
}

#[test]
fn when_no_known_broker_answers_the_client_rebootstraps_unless_told_not_to() {
    with_timeout(Duration::from_secs(30), || {
        // The bootstrap broker's metadata places broker 1, the only known broker, on a
        // port where nothing listens.
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (port, seen) = broker_advertising(Some(closed), 0, Duration::ZERO);
        let t = Duration::from_secs(5);
        for (strategy, ok) in [("rebootstrap", true), ("none", false)] {
            let c = client(port, &[("metadata.recovery.strategy", strategy)]);
            c.metadata(None, t).unwrap();
            let before = metadata_arrivals(&seen).len();
            let r = c.metadata(None, Duration::from_millis(1500));
            match (ok, r) {
                (true, Ok(md)) => {
                    assert_eq!(md.brokers[0].port, i32::from(closed));
                    assert_eq!(metadata_arrivals(&seen).len(), before + 1);
                }
                (false, Err(e)) => {
                    assert_eq!(e.code, kafkac::error::local::ALL_BROKERS_DOWN, "{e}");
                    // The failed connection to broker 1 was reported as an event.
                    let mut evs = Vec::new();
                    while let Some(ev) = c.cluster().events().pop() {
                        evs.push(ev);
                    }
                    assert!(
                        evs.iter()
                            .any(|ev| ev.code == kafkac::error::local::TRANSPORT
                                && ev.message.contains("(broker 1)")),
                        "{evs:?}"
                    );
                    assert!(e.message.contains("metadata.recovery.strategy=none"), "{e}");
                    assert_eq!(metadata_arrivals(&seen).len(), before);
                }
                (_, r) => panic!("{strategy}: {:?}", r.map(|_| ())),
            }
        }
    })
}

#[test]
fn answers_arrive_on_a_completion_queue_in_order() {
    with_timeout(Duration::from_secs(30), || {
        use kafkac::net::events::CompletionQueue;
        use kafkac::protocol::messages::MetadataRequest;
        let (port, seen) = broker(0, Duration::from_millis(5));
        let c = client(port, &[]);
        let deadline = Instant::now() + Duration::from_secs(10);
        let conn = c.cluster().any_broker(deadline).unwrap();
        let v = conn.version_of::<MetadataRequest>().unwrap();
        let q = Arc::new(CompletionQueue::new());
        let req = MetadataRequest {
            topics: Some(Vec::new()),
            ..Default::default()
        };
        // Twenty requests in flight at once from one thread; nobody blocks per request.
        for tag in 100..120 {
            conn.send_to_queue(&req, v, &q, tag).unwrap();
        }
        let mut tags = Vec::new();
        while tags.len() < 20 {
            let (tag, body) = q.pop(deadline).expect("a completion before the deadline");
            let md = conn
                .decode_body::<MetadataRequest>(&body.unwrap(), v)
                .unwrap();
            assert_eq!(md.brokers[0].port, i32::from(port));
            tags.push(tag);
        }
        assert_eq!(tags, (100..120).collect::<Vec<u64>>());
        assert!(q.is_empty());
        assert_eq!(metadata_arrivals(&seen).len(), 20);
    })
}
