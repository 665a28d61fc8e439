//! A misbehaving broker on loopback: after a correct ApiVersions handshake it answers
//! with an oversize frame, a wrong correlation id, a truncated response, a malformed body,
//! a corrupt record batch, a decompression bomb, or nothing at all. Each must come back
//! as a clear error with the right code, quickly, and leave the process unharmed.

mod fake;

use bytes::Bytes;
use kafkac::error::local;
use kafkac::protocol::frame::{decode_request_body, encode_response, RequestHeader};
use kafkac::protocol::messages::*;
use kafkac::protocol::{api_key, Reader, Request};
use kafkac::record::{
    encode_batch, encode_legacy_message_set, BatchOptions, Compression, RecordIn,
};
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

fn api_versions() -> ApiVersionsResponse {
    let range = |k: i16, min: i16, max: i16| ApiVersion {
        api_key: k,
        min_version: min,
        max_version: max,
        ..Default::default()
    };
    ApiVersionsResponse {
        error_code: 0,
        api_keys: vec![
            range(api_key::PRODUCE, 3, 9),
            range(api_key::FETCH, 4, 12),
            range(api_key::LIST_OFFSETS, 1, 7),
            range(api_key::METADATA, 1, 12),
            range(api_key::API_VERSIONS, 0, 3),
        ],
        ..Default::default()
    }
}

fn metadata(port: u16) -> MetadataResponse {
    fake::one_broker_metadata(1, port, "t")
}

fn fetch_response(records: Vec<u8>) -> FetchResponse {
    FetchResponse {
        responses: vec![FetchableTopicResponse {
            topic: "t".into(),
            partitions: vec![FetchPartitionData {
                partition_index: 0,
                high_watermark: 10,
                records: Some(Bytes::from(records)),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn valid_batch(compression: Compression, value: &[u8]) -> Vec<u8> {
    let rec = [RecordIn {
        key: None,
        value: Some(value),
        headers: &[],
        timestamp: Some(1),
    }];
    let mut out = Vec::new();
    let opts = BatchOptions {
        base_offset: 5,
        compression,
        now_ms: 1,
        ..Default::default()
    };
    encode_batch(&rec, &opts, &mut out).unwrap();
    out
}

/// Serves one connection at a time until the test ends; misbehaves on `on_api`.
fn serve(mode: Misbehave, on_api: i16) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for (n, conn) in l.incoming().enumerate() {
            let Ok(mut s) = conn else { return };
            thread::spawn(move || {
                while let Some(body) = fake::read_frame(&mut s) {
                    let mut r = Reader::new(&body);
                    let h = RequestHeader::read_fixed(&mut r).unwrap();
                    let (k, v, cid) = (h.api_key, h.api_version, h.correlation_id);
                    if k == on_api {
                        let frame = match mode {
                            Misbehave::OversizeFrame => 0x7fff_0000i32.to_be_bytes().to_vec(),
                            Misbehave::WrongCorrelationId => {
                                encode_response::<MetadataRequest>(&metadata(port), v, cid + 1000)
                            }
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
                                let mut b = valid_batch(Compression::None, b"hello");
                                let last = b.len() - 1;
                                b[last] ^= 0x55; // flips a byte the CRC covers
                                encode_response::<FetchRequest>(&fetch_response(b), v, cid)
                            }
                            Misbehave::GzipBomb => {
                                let zeros = vec![0u8; 8 << 20];
                                let b = valid_batch(Compression::Gzip, &zeros);
                                assert!(b.len() < 64 << 10, "bomb should be small: {}", b.len());
                                encode_response::<FetchRequest>(&fetch_response(b), v, cid)
                            }
                            Misbehave::Silent => continue,
                            Misbehave::SilentOnFirstConnection if n == 0 => continue,
                            Misbehave::SilentOnFirstConnection => {
                                encode_response::<MetadataRequest>(&metadata(port), v, cid)
                            }
                            Misbehave::LongPollFetch => {
                                let mut h = h.clone();
                                if FetchRequest::request_header_version(v) >= 2 {
                                    h.read_tagged(&mut r).unwrap();
                                }
                                let req = decode_request_body::<FetchRequest>(&mut r, v).unwrap();
                                thread::sleep(Duration::from_millis(req.max_wait_ms as u64));
                                let b = valid_batch(Compression::None, b"late");
                                encode_response::<FetchRequest>(&fetch_response(b), v, cid)
                            }
                            Misbehave::LegacyMessageSets => {
                                let recs = |vals: &[&'static [u8]]| -> Vec<RecordIn<'static>> {
                                    vals.iter()
                                        .map(|v| RecordIn {
                                            key: Some(b"key"),
                                            value: Some(v),
                                            headers: &[],
                                            timestamp: Some(1_600_000_000_000),
                                        })
                                        .collect()
                                };
                                let mut sets = Vec::new();
                                encode_legacy_message_set(
                                    &recs(&[b"m0-a", b"m0-b"]),
                                    0,
                                    Compression::None,
                                    5,
                                    0,
                                    &mut sets,
                                )
                                .unwrap();
                                encode_legacy_message_set(
                                    &recs(&[b"m1-a"]),
                                    1,
                                    Compression::None,
                                    7,
                                    0,
                                    &mut sets,
                                )
                                .unwrap();
                                encode_legacy_message_set(
                                    &recs(&[b"gz-a", b"gz-b", b"gz-c"]),
                                    1,
                                    Compression::Gzip,
                                    8,
                                    0,
                                    &mut sets,
                                )
                                .unwrap();
                                encode_response::<FetchRequest>(&fetch_response(sets), v, cid)
                            }
                        };
                        if s.write_all(&frame).is_err() {
                            return;
                        }
                        continue;
                    }
                    let frame = match k {
                        api_key::API_VERSIONS => {
                            encode_response::<ApiVersionsRequest>(&api_versions(), v, cid)
                        }
                        api_key::METADATA => {
                            encode_response::<MetadataRequest>(&metadata(port), v, cid)
                        }
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

#[test]
fn oversize_frame_is_refused_before_allocation() {
    let port = serve(Misbehave::OversizeFrame, api_key::METADATA);
    let started = Instant::now();
    let e = client(port, &[]).metadata(None, T).unwrap_err();
    assert_eq!(e.code, local::FRAME_TOO_LARGE, "{e}");
    assert!(
        e.message.contains("2147418112") && e.message.contains("receive.message.max.bytes"),
        "{e}"
    );
    assert!(started.elapsed() < T, "gave up promptly");
}

#[test]
fn wrong_correlation_id_is_a_protocol_error() {
    let port = serve(Misbehave::WrongCorrelationId, api_key::METADATA);
    let e = client(port, &[]).metadata(None, T).unwrap_err();
    assert_eq!(e.code, local::PROTOCOL, "{e}");
    assert!(e.message.contains("correlation id"), "{e}");
    assert!(
        e.message.contains(&format!("127.0.0.1:{port}")),
        "names the broker: {e}"
    );
}

#[test]
fn truncated_response_is_a_transport_error_within_the_timeout() {
    let port = serve(Misbehave::Truncated, api_key::METADATA);
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
}

#[test]
fn malformed_body_is_a_protocol_error_naming_the_request() {
    let port = serve(Misbehave::GarbageBody, api_key::METADATA);
    let e = client(port, &[]).metadata(None, T).unwrap_err();
    assert_eq!(e.code, local::PROTOCOL, "{e}");
    assert!(e.message.contains("malformed Metadata"), "{e}");
}

#[test]
fn corrupt_batch_is_bad_msg_naming_partition_and_offset() {
    let port = serve(Misbehave::CorruptBatch, api_key::FETCH);
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
}

#[test]
fn decompression_bomb_is_refused() {
    let port = serve(Misbehave::GzipBomb, api_key::FETCH);
    let c = client(port, &[("fetch.max.decompressed.bytes", "1048576")]);
    let r = c.fetch("t", 0, 5, 1 << 20, Duration::from_millis(10), T);
    let e = r.err().expect("bomb must fail");
    assert_eq!(e.code, local::BAD_COMPRESSION, "{e}");
    assert!(e.message.contains("1048576"), "names the limit: {e}");
}

#[test]
fn silent_broker_times_out_without_hanging() {
    let port = serve(Misbehave::Silent, api_key::METADATA);
    let c = client(port, &[("request.timeout.ms", "300")]);
    let started = Instant::now();
    let e = c.metadata(None, Duration::from_millis(800)).unwrap_err();
    assert_eq!(e.code, local::TIMED_OUT, "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn unreachable_bootstrap_fails_within_the_timeout() {
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
}

#[test]
fn legacy_message_sets_decode_through_fetch() {
    let port = serve(Misbehave::LegacyMessageSets, api_key::FETCH);
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
}

#[test]
fn a_broker_that_stops_answering_is_left_even_when_callers_time_out_first() {
    // Every call gives up (200 ms) before request.timeout.ms (300 ms) can expire for its
    // own request; the connection must still be recognised as stuck once its oldest
    // request is overdue, closed, and replaced by one that answers.
    let port = serve(Misbehave::SilentOnFirstConnection, api_key::METADATA);
    let c = client(port, &[("request.timeout.ms", "300")]);
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
}

#[test]
fn a_long_poll_fetch_is_not_mistaken_for_a_stuck_broker() {
    // The broker may hold a fetch for max_wait (1 s), longer than request.timeout.ms
    // (300 ms): that is not a broker that stopped answering.
    let port = serve(Misbehave::LongPollFetch, api_key::FETCH);
    let c = client(port, &[("request.timeout.ms", "300")]);
    let started = Instant::now();
    let f = c
        .fetch("t", 0, 5, 1 << 20, Duration::from_millis(1000), T)
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(1000));
    assert_eq!(f.records.get(0).unwrap().value, Some(&b"late"[..]));
}
