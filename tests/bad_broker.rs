//! A misbehaving broker on loopback: after a correct ApiVersions handshake it answers
//! with an oversize frame, a wrong correlation id, a truncated response, a malformed body,
//! a corrupt record batch, a decompression bomb, or nothing at all. Each must come back
//! as a clear error with the right code, quickly, and leave the process unharmed.
//!
//! Requests are parsed and answers, record batches and message sets written by hand
//! (tests/fake), not with kafkac's codecs.

mod common;
mod fake;

use common::with_timeout;
use fake::{Cursor, APIS, API_VERSIONS, FETCH, METADATA};
use kafkac::error::local;
use kafkac::{Client, Config};
use std::io::Write;
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Misbehave {
    OversizeFrame,
    WrongCorrelationId,
    Truncated,
    GarbageBody,
    CorruptBatch,
    GzipBomb,
    Silent,
    /// Silent on the first connection only; later connections answer.
    SilentOnFirstConnection,
    /// Not misbehaviour: holds each Fetch for its whole max_wait_ms before answering,
    /// as a broker does when no data arrives.
    LongPollFetch,
    /// Not misbehaviour: answers Fetch with legacy message sets (magic 0 and 1, a
    /// gzip-compressed v1 wrapper), as brokers before 0.11 do.
    LegacyMessageSets,
}

fn metadata(cid: i32, version: i16, port: u16) -> Vec<u8> {
    fake::metadata_response(cid, version, 1, port, "t")
}

fn fetch(cid: i32, version: i16, records: &[u8]) -> Vec<u8> {
    fake::fetch_response(cid, version, "t", 10, records)
}

/// A valid uncompressed batch at offset 5 holding one record with `value`.
fn valid_batch(value: &[u8]) -> Vec<u8> {
    fake::record_batch(5, 1, &[value], false)
}

/// The legacy message sets a broker before 0.11 may serve: magic 0 messages at offsets 5
/// and 6, a magic 1 message at 7, and a gzip-compressed magic 1 wrapper of three messages
/// at relative offsets 0-2 that carries the absolute offset of the last, 10 (so they are
/// 8, 9, 10). Every message has key "key"; magic 1 ones have timestamp 1_600_000_000_000.
fn legacy_message_sets() -> Vec<u8> {
    const TS: i64 = 1_600_000_000_000;
    let key = Some(&b"key"[..]);
    let mut sets = Vec::new();
    fake::legacy_message(&mut sets, 5, 0, 0, -1, key, Some(b"m0-a"));
    fake::legacy_message(&mut sets, 6, 0, 0, -1, key, Some(b"m0-b"));
    fake::legacy_message(&mut sets, 7, 1, 0, TS, key, Some(b"m1-a"));
    let mut inner = Vec::new();
    for (rel, v) in [b"gz-a", b"gz-b", b"gz-c"].iter().enumerate() {
        fake::legacy_message(&mut inner, rel as i64, 1, 0, TS, key, Some(&v[..]));
    }
    let gz = fake::gzip(&inner);
    // The wrapper: codec gzip, create time, timestamp the greatest inner one, null key.
    fake::legacy_message(&mut sets, 10, 1, fake::CODEC_GZIP, TS, None, Some(&gz));
    sets
}

/// Serves one connection at a time until the test ends; misbehaves on `on_api`.
fn serve(mode: Misbehave, on_api: i16) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for (n, conn) in l.incoming().enumerate() {
            let Ok(mut s) = conn else { return };
            thread::spawn(move || {
                while let Some(req) = fake::read_request(&mut s) {
                    let (k, v, cid) = (req.api_key, req.api_version, req.correlation_id);
                    if k == on_api {
                        let frame = match mode {
                            Misbehave::OversizeFrame => 0x7fff_0000i32.to_be_bytes().to_vec(),
                            Misbehave::WrongCorrelationId => metadata(cid + 1000, v, port),
                            Misbehave::Truncated => {
                                let mut f = 100i32.to_be_bytes().to_vec();
                                f.extend_from_slice(&cid.to_be_bytes());
                                f.extend_from_slice(&[0; 6]);
                                let _ = s.write_all(&f);
                                return; // closes the socket mid-response
                            }
                            Misbehave::GarbageBody => {
                                let mut f = 12i32.to_be_bytes().to_vec();
                                f.extend_from_slice(&cid.to_be_bytes());
                                f.extend_from_slice(&[0xff; 8]);
                                f
                            }
                            Misbehave::CorruptBatch => {
                                let mut b = valid_batch(b"hello");
                                let last = b.len() - 1;
                                b[last] ^= 0x55; // flips a byte the CRC covers
                                fetch(cid, v, &b)
                            }
                            Misbehave::GzipBomb => {
                                let zeros = vec![0u8; 8 << 20];
                                let b = fake::record_batch(5, 1, &[&zeros], true);
                                assert!(b.len() < 64 << 10, "bomb should be small: {}", b.len());
                                fetch(cid, v, &b)
                            }
                            Misbehave::Silent => continue,
                            Misbehave::SilentOnFirstConnection if n == 0 => continue,
                            Misbehave::SilentOnFirstConnection => metadata(cid, v, port),
                            Misbehave::LongPollFetch => {
                                // Fetch request v4-v12 begins with these two fields.
                                let mut body = Cursor::new(&req.body);
                                body.i32(); // replica_id
                                let max_wait_ms = body.i32(); // max_wait_ms
                                thread::sleep(Duration::from_millis(max_wait_ms as u64));
                                fetch(cid, v, &valid_batch(b"late"))
                            }
                            Misbehave::LegacyMessageSets => fetch(cid, v, &legacy_message_sets()),
                        };
                        if s.write_all(&frame).is_err() {
                            return;
                        }
                        continue;
                    }
                    let frame = match k {
                        API_VERSIONS => fake::api_versions_response(cid, v, 0, APIS),
                        METADATA => metadata(cid, v, port),
                        _ => return,
                    };
                    if s.write_all(&frame).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn client(port: u16, extra: &[(&str, &str)]) -> Client {
    let mut c = Config::new();
    c.set("bootstrap.servers", &format!("127.0.0.1:{port}"))
        .unwrap();
    c.set("retry.backoff.ms", "20").unwrap();
    for (k, v) in extra {
        c.set(k, v).unwrap();
    }
    Client::new(&c).unwrap()
}

const T: Duration = Duration::from_secs(3);
/// Bound on each test's running time.
const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn oversize_frame_is_refused_before_allocation() {
    with_timeout(LIMIT, || {
        let port = serve(Misbehave::OversizeFrame, METADATA);
        let started = Instant::now();
        let e = client(port, &[]).metadata(None, T).unwrap_err();
        assert_eq!(e.code, local::FRAME_TOO_LARGE, "{e}");
        assert!(
            e.message.contains("2147418112") && e.message.contains("receive.message.max.bytes"),
            "{e}"
        );
        assert!(started.elapsed() < T, "gave up promptly");
    });
}

#[test]
fn wrong_correlation_id_is_a_protocol_error() {
    with_timeout(LIMIT, || {
        let port = serve(Misbehave::WrongCorrelationId, METADATA);
        let e = client(port, &[]).metadata(None, T).unwrap_err();
        assert_eq!(e.code, local::PROTOCOL, "{e}");
        assert!(e.message.contains("correlation id"), "{e}");
        assert!(
            e.message.contains(&format!("127.0.0.1:{port}")),
            "names the broker: {e}"
        );
    });
}

#[test]
fn truncated_response_is_a_transport_error_within_the_timeout() {
    with_timeout(LIMIT, || {
        let port = serve(Misbehave::Truncated, METADATA);
        let started = Instant::now();
        let e = client(port, &[])
            .metadata(None, Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(e.code, local::TRANSPORT, "{e}");
        assert!(e.message.contains("middle of a response"), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    });
}

#[test]
fn malformed_body_is_a_protocol_error_naming_the_request() {
    with_timeout(LIMIT, || {
        let port = serve(Misbehave::GarbageBody, METADATA);
        let e = client(port, &[]).metadata(None, T).unwrap_err();
        assert_eq!(e.code, local::PROTOCOL, "{e}");
        assert!(e.message.contains("malformed Metadata"), "{e}");
    });
}

#[test]
fn corrupt_batch_is_bad_msg_naming_partition_and_offset() {
    with_timeout(LIMIT, || {
        let port = serve(Misbehave::CorruptBatch, FETCH);
        let r = client(port, &[]).fetch("t", 0, 5, 1 << 20, Duration::from_millis(10), T);
        let e = r.err().expect("corrupt batch must fail");
        assert_eq!(e.code, local::BAD_MSG, "{e}");
        assert!(
            e.message.contains("t/0") && e.message.contains("CRC"),
            "{e}"
        );
        assert!(
            e.message.contains("offset 5"),
            "names the batch offset: {e}"
        );
    });
}

#[test]
fn decompression_bomb_is_refused() {
    with_timeout(LIMIT, || {
        let port = serve(Misbehave::GzipBomb, FETCH);
        let c = client(port, &[("fetch.max.decompressed.bytes", "1048576")]);
        let r = c.fetch("t", 0, 5, 1 << 20, Duration::from_millis(10), T);
        let e = r.err().expect("bomb must fail");
        assert_eq!(e.code, local::BAD_COMPRESSION, "{e}");
        assert!(e.message.contains("1048576"), "names the limit: {e}");
    });
}

#[test]
fn silent_broker_times_out_without_hanging() {
    with_timeout(LIMIT, || {
        let port = serve(Misbehave::Silent, METADATA);
        let c = client(port, &[("socket.timeout.ms", "300")]);
        let started = Instant::now();
        let e = c.metadata(None, Duration::from_millis(800)).unwrap_err();
        assert_eq!(e.code, local::TIMED_OUT, "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    });
}

#[test]
fn unreachable_bootstrap_fails_within_the_timeout() {
    with_timeout(LIMIT, || {
        // A port nothing listens on: connection refused, retried until the deadline.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = client(port, &[]);
        let started = Instant::now();
        let e = c.metadata(None, Duration::from_millis(700)).unwrap_err();
        assert!(
            e.code == local::ALL_BROKERS_DOWN
                || e.code == local::TIMED_OUT
                || e.code == local::TRANSPORT,
            "{e}"
        );
        assert!(e.message.contains(&format!("127.0.0.1:{port}")), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    });
}

#[test]
fn legacy_message_sets_decode_through_fetch() {
    with_timeout(LIMIT, || {
        let port = serve(Misbehave::LegacyMessageSets, FETCH);
        let f = client(port, &[])
            .fetch("t", 0, 5, 1 << 20, Duration::from_millis(10), T)
            .unwrap();
        let got: Vec<(i64, Vec<u8>)> = f
            .records
            .iter()
            .map(|r| (r.offset, r.value.unwrap().to_vec()))
            .collect();
        let want: Vec<(i64, Vec<u8>)> = [
            (5, "m0-a"),
            (6, "m0-b"),
            (7, "m1-a"),
            (8, "gz-a"),
            (9, "gz-b"),
            (10, "gz-c"),
        ]
        .iter()
        .map(|(o, v)| (*o, v.as_bytes().to_vec()))
        .collect();
        assert_eq!(got, want);
        let r = f.records.get(2).unwrap();
        assert_eq!(
            (r.magic, r.timestamp, r.key),
            (1, 1_600_000_000_000, Some(&b"key"[..]))
        );
        assert_eq!(f.records.get(0).unwrap().magic, 0);
    });
}

#[test]
fn a_broker_that_stops_answering_is_left_even_when_callers_time_out_first() {
    with_timeout(LIMIT, || {
        // Every call gives up (200 ms) before socket.timeout.ms (300 ms) can expire for its
        // own request; the connection must still be recognised as stuck once its oldest
        // request is overdue, closed, and replaced by one that answers.
        let port = serve(Misbehave::SilentOnFirstConnection, METADATA);
        let c = client(port, &[("socket.timeout.ms", "300")]);
        let started = Instant::now();
        let first = c.metadata(None, Duration::from_millis(200)).unwrap_err();
        assert_eq!(first.code, local::TIMED_OUT, "{first}");
        let mut calls = 1;
        let md = loop {
            calls += 1;
            match c.metadata(None, Duration::from_millis(200)) {
                Ok(md) => break md,
                Err(e) => assert!(calls < 6, "still failing after {calls} calls: {e}"),
            }
        };
        assert_eq!(md.brokers.len(), 1);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    });
}

#[test]
fn a_long_poll_fetch_is_not_mistaken_for_a_stuck_broker() {
    with_timeout(LIMIT, || {
        // The broker may hold a fetch for max_wait (1 s), longer than socket.timeout.ms
        // (300 ms): that is not a broker that stopped answering.
        let port = serve(Misbehave::LongPollFetch, FETCH);
        let c = client(port, &[("socket.timeout.ms", "300")]);
        let started = Instant::now();
        let f = c
            .fetch("t", 0, 5, 1 << 20, Duration::from_millis(1000), T)
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(1000));
        assert_eq!(f.records.get(0).unwrap().value, Some(&b"late"[..]));
    });
}
