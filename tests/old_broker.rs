//! A broker that speaks what Kafka 0.10 speaks: ApiVersions v0 only (it answers v3 with
//! UNSUPPORTED_VERSION in the v0 layout, as Kafka does), Produce v0–v2, Fetch v0–v3,
//! Metadata v0–v2, ListOffsets v0 (as 0.10.0). The client must negotiate down and write legacy
//! message sets (magic 1), and refuse what that format cannot carry.

mod fake;

use bytes::Bytes;
use kafkac::client::OffsetSpec;
use kafkac::error::local;
use kafkac::protocol::frame::{decode_request_body, encode_response, RequestHeader};
use kafkac::protocol::messages::*;
use kafkac::protocol::{api_key, Reader};
use kafkac::record::{Compression, RecordHeaderIn, RecordIn};
use kafkac::{Client, Config};
use parking_lot::Mutex;
use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

fn versions(error_code: i16) -> ApiVersionsResponse {
    let range = |k: i16, max: i16| ApiVersion {
        api_key: k,
        min_version: 0,
        max_version: max,
        ..Default::default()
    };
    ApiVersionsResponse {
        error_code,
        api_keys: vec![
            range(api_key::PRODUCE, 2),
            range(api_key::FETCH, 3),
            range(api_key::LIST_OFFSETS, 0),
            range(api_key::METADATA, 2),
            range(api_key::API_VERSIONS, 0),
        ],
        ..Default::default()
    }
}

struct Old {
    port: u16,
    /// (api key, version) of every request received.
    seen: Arc<Mutex<Vec<(i16, i16)>>>,
}

/// Starts the broker; it keeps the message set of the last Produce and serves it on Fetch.
fn start() -> Old {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log: Arc<Mutex<Bytes>> = Arc::new(Mutex::new(Bytes::new()));
    let seen2 = seen.clone();
    thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { return };
            let (seen, log) = (seen2.clone(), log.clone());
            thread::spawn(move || {
                while let Some(body) = fake::read_frame(&mut s) {
                    let mut r = Reader::new(&body);
                    let h = RequestHeader::read_fixed(&mut r).unwrap();
                    let (k, v, cid) = (h.api_key, h.api_version, h.correlation_id);
                    seen.lock().push((k, v));
                    let frame = match k {
                        // Kafka answers an ApiVersions version it does not know with
                        // UNSUPPORTED_VERSION, in the v0 layout.
                        api_key::API_VERSIONS if v > 0 => {
                            encode_response::<ApiVersionsRequest>(&versions(35), 0, cid)
                        }
                        api_key::API_VERSIONS => {
                            encode_response::<ApiVersionsRequest>(&versions(0), 0, cid)
                        }
                        api_key::METADATA => {
                            assert!(v <= 2, "Metadata v{v} is newer than this broker");
                            let md = fake::one_broker_metadata(0, port, "old");
                            encode_response::<MetadataRequest>(&md, v, cid)
                        }
                        api_key::PRODUCE => {
                            assert!(v <= 2, "Produce v{v} is newer than this broker");
                            let req = decode_request_body::<ProduceRequest>(&mut r, v).unwrap();
                            let p = &req.topic_data[0].partition_data[0];
                            *log.lock() = p.records.clone().unwrap();
                            let resp = ProduceResponse {
                                responses: vec![TopicProduceResponse {
                                    name: "old".into(),
                                    partition_responses: vec![PartitionProduceResponse {
                                        index: 0,
                                        base_offset: 0,
                                        ..Default::default()
                                    }],
                                    ..Default::default()
                                }],
                                ..Default::default()
                            };
                            encode_response::<ProduceRequest>(&resp, v, cid)
                        }
                        api_key::FETCH => {
                            assert!(v <= 3, "Fetch v{v} is newer than this broker");
                            let resp = FetchResponse {
                                responses: vec![FetchableTopicResponse {
                                    topic: "old".into(),
                                    partitions: vec![FetchPartitionData {
                                        partition_index: 0,
                                        high_watermark: 3,
                                        records: Some(log.lock().clone()),
                                        ..Default::default()
                                    }],
                                    ..Default::default()
                                }],
                                ..Default::default()
                            };
                            encode_response::<FetchRequest>(&resp, v, cid)
                        }
                        api_key::LIST_OFFSETS => {
                            assert_eq!(v, 0, "ListOffsets v{v} is newer than this broker");
                            let req = decode_request_body::<ListOffsetsRequest>(&mut r, v).unwrap();
                            let p = &req.topics[0].partitions[0];
                            assert_eq!(p.max_num_offsets, 1);
                            let offset = if p.timestamp == -2 { 0 } else { 3 };
                            let resp = ListOffsetsResponse {
                                topics: vec![ListOffsetsTopicResponse {
                                    name: "old".into(),
                                    partitions: vec![ListOffsetsPartitionResponse {
                                        partition_index: 0,
                                        old_style_offsets: vec![offset],
                                        ..Default::default()
                                    }],
                                    ..Default::default()
                                }],
                                ..Default::default()
                            };
                            encode_response::<ListOffsetsRequest>(&resp, v, cid)
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
    Old { port, seen }
}

fn client(port: u16) -> Client {
    let mut c = Config::new();
    c.set("bootstrap.servers", &format!("127.0.0.1:{port}"))
        .unwrap();
    Client::new(&c).unwrap()
}

#[test]
fn negotiates_down_and_writes_legacy_message_sets() {
    let old = start();
    let c = client(old.port);
    let recs = [
        RecordIn {
            key: Some(b"k1"),
            value: Some(b"first"),
            headers: &[],
            timestamp: Some(1_500_000_000_000),
        },
        RecordIn {
            key: None,
            value: Some(b""),
            headers: &[],
            timestamp: Some(1_500_000_000_001),
        },
        RecordIn {
            key: Some(b""),
            value: None,
            headers: &[],
            timestamp: Some(1_500_000_000_002),
        },
    ];
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
    ] {
        assert_eq!(
            c.produce("old", 0, &recs, -1, codec, T).unwrap(),
            0,
            "{codec:?}"
        );
        // What reached the broker is a magic-1 message set holding the records.
        let f = c
            .fetch("old", 0, 0, 1 << 20, Duration::from_millis(10), T)
            .unwrap();
        let got: Vec<_> = f
            .records
            .iter()
            .map(|r| (r.magic, r.offset, r.timestamp, r.key, r.value))
            .collect();
        let want: Vec<_> = recs
            .iter()
            .enumerate()
            .map(|(i, r)| (1i8, i as i64, r.timestamp.unwrap(), r.key, r.value))
            .collect();
        assert_eq!(got, want, "{codec:?}");
    }
    let earliest = c.list_offsets("old", 0, OffsetSpec::Earliest, T).unwrap();
    let latest = c.list_offsets("old", 0, OffsetSpec::Latest, T).unwrap();
    assert_eq!((earliest.offset, latest.offset), (0, 3));
    let e = c
        .list_offsets("old", 0, OffsetSpec::Timestamp(1_500_000_000_000), T)
        .unwrap_err();
    assert_eq!(e.code, local::UNSUPPORTED_FEATURE, "{e}");
    assert!(e.message.contains("by timestamp"), "{e}");
    let seen = old.seen.lock().clone();
    assert!(seen.contains(&(api_key::LIST_OFFSETS, 0)), "{seen:?}");
    assert_eq!(
        &seen[..2],
        &[(api_key::API_VERSIONS, 3), (api_key::API_VERSIONS, 0)]
    );
    assert!(seen.contains(&(api_key::PRODUCE, 2)), "{seen:?}");
    assert!(seen.contains(&(api_key::FETCH, 3)), "{seen:?}");
    assert!(seen.contains(&(api_key::METADATA, 2)), "{seen:?}");
}

#[test]
fn refuses_what_the_old_format_cannot_carry() {
    let old = start();
    let c = client(old.port);
    let h = [RecordHeaderIn {
        key: b"trace",
        value: Some(b"1"),
    }];
    let with_header = [RecordIn {
        key: None,
        value: Some(b"v"),
        headers: &h,
        timestamp: None,
    }];
    let e = c
        .produce("old", 0, &with_header, -1, Compression::None, T)
        .unwrap_err();
    assert_eq!(e.code, local::UNSUPPORTED_FEATURE, "{e}");
    assert!(
        e.message.contains("headers") && e.message.contains("old/0"),
        "{e}"
    );
    let plain = [RecordIn {
        key: None,
        value: Some(b"v"),
        headers: &[],
        timestamp: None,
    }];
    let e = c
        .produce("old", 0, &plain, -1, Compression::Zstd, T)
        .unwrap_err();
    assert_eq!(e.code, local::UNSUPPORTED_FEATURE, "{e}");
    assert!(e.message.contains("zstd"), "{e}");
    // Nothing was sent for either.
    assert!(!old.seen.lock().iter().any(|(k, _)| *k == api_key::PRODUCE));
}
