//! Writes the seed corpora of the fuzz targets under `fuzz/` (see scripts/fuzz-smoke.sh):
//!
//! ```text
//! cargo run --example fuzz_seeds -- fuzz/seeds
//! ```
//!
//! * `protocol_responses/`: for every API and version, an encoded response (and request)
//!   body, prefixed with the two selector bytes the target reads (API index, version).
//! * `record_set/`: record batches v2 of every codec, with headers, control and
//!   transactional variants, and legacy message sets v0/v1.
//!
//! The output is deterministic; the files are small and committed.

use bytes::Bytes;
use kafkac::protocol::frame::{decode_response, encode_response};
use kafkac::protocol::messages::*;
use kafkac::protocol::{Request, TaggedField, TaggedFields, Uuid, Writer};
use kafkac::record::{
    encode_batch, encode_legacy_message_set, BatchOptions, Compression, DecodeLimits,
    RecordHeaderIn, RecordIn, RecordSet,
};
use std::path::{Path, PathBuf};

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn codec_name(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    check(dir, name, bytes);
    std::fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
}

/// Checks that a seed is valid: record sets decode (with records), responses decode.
fn check(dir: &Path, name: &str, bytes: &[u8]) {
    if dir.ends_with("record_set") {
        let set = RecordSet::decode(Bytes::copy_from_slice(bytes), &DecodeLimits::default())
            .unwrap_or_else(|e| panic!("seed {name} does not decode: {e}"));
        assert!(
            !set.is_empty() || name.contains("control"),
            "seed {name} holds no records"
        );
    } else if name.ends_with("-response") {
        assert!(
            decode_any_response(bytes[0], bytes[1], &bytes[2..]),
            "seed {name} does not decode"
        );
    }
}

fn decode_as<R: Request>(selector: u8, body: &[u8]) -> bool {
    let version = R::MIN_VERSION + selector as i16;
    decode_response::<R>(&Bytes::copy_from_slice(body), version).is_ok()
}

fn decode_any_response(api: u8, version: u8, body: &[u8]) -> bool {
    match api {
        0 => decode_as::<ApiVersionsRequest>(version, body),
        1 => decode_as::<MetadataRequest>(version, body),
        2 => decode_as::<ProduceRequest>(version, body),
        3 => decode_as::<FetchRequest>(version, body),
        4 => decode_as::<ListOffsetsRequest>(version, body),
        5 => decode_as::<CreateTopicsRequest>(version, body),
        6 => decode_as::<DeleteTopicsRequest>(version, body),
        _ => decode_as::<DescribeTransactionsRequest>(version, body),
    }
}

/// A few records with keys, values, nulls and headers.
fn sample_batch(opts: &BatchOptions) -> Vec<u8> {
    let headers = [
        RecordHeaderIn {
            key: b"trace",
            value: Some(b"abc123"),
        },
        RecordHeaderIn {
            key: b"empty",
            value: None,
        },
    ];
    let values: Vec<String> = (0..6)
        .map(|i| format!("value {i} {}", "x".repeat(i * 7)))
        .collect();
    let mut records: Vec<RecordIn<'_>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| RecordIn {
            key: if i % 3 == 2 { None } else { Some(b"key") },
            value: Some(v.as_bytes()),
            headers: if i % 2 == 0 { &headers } else { &[] },
            timestamp: Some(1_700_000_000_000 + i as i64),
        })
        .collect();
    records.push(RecordIn {
        key: Some(b"tombstone"),
        value: None,
        headers: &[],
        timestamp: None,
    });
    let mut out = Vec::new();
    encode_batch(&records, opts, &mut out).expect("encode batch");
    out
}

fn legacy_set(magic: i8, compression: Compression) -> Vec<u8> {
    let records: Vec<RecordIn<'_>> = [&b"first"[..], b"second", b"third"]
        .iter()
        .enumerate()
        .map(|(i, v)| RecordIn {
            key: if i == 1 { None } else { Some(b"k") },
            value: Some(v),
            headers: &[],
            timestamp: Some(1_700_000_000_000 + i as i64),
        })
        .collect();
    let mut out = Vec::new();
    encode_legacy_message_set(
        &records,
        magic,
        compression,
        10,
        1_700_000_000_000,
        &mut out,
    )
    .expect("encode legacy message set");
    out
}

fn record_seeds(dir: &Path) -> Vec<u8> {
    let base = BatchOptions {
        base_offset: 100,
        now_ms: 1_700_000_000_000,
        ..Default::default()
    };
    for c in CODECS {
        let opts = BatchOptions {
            compression: c,
            ..base.clone()
        };
        write(dir, &format!("v2-{}", codec_name(c)), &sample_batch(&opts));
    }
    let txn = BatchOptions {
        producer_id: 7,
        producer_epoch: 1,
        base_sequence: 0,
        transactional: true,
        log_append_time: true,
        ..base.clone()
    };
    write(dir, "v2-transactional", &sample_batch(&txn));

    // A control batch (an abort marker: key version 0, type 0), CRC recomputed.
    let mut control = sample_batch(&txn);
    control[22] |= 0x20;
    let crc = crc32c::crc32c(&control[21..]);
    control[17..21].copy_from_slice(&crc.to_be_bytes());
    write(dir, "v2-control", &control);

    // Two batches back to back, the second cut short (as at the end of a fetch).
    let mut two = sample_batch(&base);
    let second = sample_batch(&BatchOptions {
        base_offset: 107,
        compression: Compression::Lz4,
        ..base.clone()
    });
    two.extend_from_slice(&second[..second.len() - 5]);
    write(dir, "v2-two-partial", &two);

    for magic in [0i8, 1] {
        for c in &CODECS[..4] {
            write(
                dir,
                &format!("legacy-v{magic}-{}", codec_name(*c)),
                &legacy_set(magic, *c),
            );
        }
    }
    sample_batch(&base)
}

/// Writes `selector ++ body` for one API at every version: the response body (correlation
/// id, header, response) and the request body.
fn api_seeds<R: Request>(dir: &Path, index: u8, resp: &R::Response, req: &R) {
    let name = kafkac::protocol::api_key::name(R::API_KEY);
    for version in R::MIN_VERSION..=R::MAX_VERSION {
        let selector = [index, (version - R::MIN_VERSION) as u8];

        let frame = encode_response::<R>(resp, version, 0x0102_0304);
        let mut seed = selector.to_vec();
        seed.extend_from_slice(&frame[4..]);
        write(dir, &format!("{name}-v{version}-response"), &seed);

        let mut w = Writer::new();
        req.write(&mut w, R::is_flexible(version), version);
        let mut seed = selector.to_vec();
        seed.extend_from_slice(&w.into_inner());
        write(dir, &format!("{name}-v{version}-request"), &seed);
    }
}

fn tags() -> TaggedFields {
    TaggedFields(vec![TaggedField {
        tag: 0,
        data: Bytes::from_static(&[0, 0, 0, 2, 0, 0, 0, 7, 0]),
    }])
}

fn protocol_seeds(dir: &Path, records: Bytes) {
    let topic_id = Uuid([7; 16]);

    api_seeds::<ApiVersionsRequest>(
        dir,
        0,
        &ApiVersionsResponse {
            api_keys: [(0, 3, 11), (1, 0, 12), (3, 0, 12), (18, 0, 3)]
                .iter()
                .map(|&(api_key, min_version, max_version)| ApiVersion {
                    api_key,
                    min_version,
                    max_version,
                    ..Default::default()
                })
                .collect(),
            throttle_time_ms: 5,
            ..Default::default()
        },
        &ApiVersionsRequest {
            client_software_name: "kafkac".into(),
            client_software_version: "0.1.0".into(),
            ..Default::default()
        },
    );

    api_seeds::<MetadataRequest>(
        dir,
        1,
        &MetadataResponse {
            brokers: vec![
                MetadataResponseBroker {
                    node_id: 1,
                    host: "b1".into(),
                    port: 9092,
                    rack: Some("r1".into()),
                    ..Default::default()
                },
                MetadataResponseBroker {
                    node_id: 2,
                    host: "b2".into(),
                    port: 9093,
                    ..Default::default()
                },
            ],
            cluster_id: Some("cluster".into()),
            controller_id: 1,
            topics: vec![MetadataResponseTopic {
                name: Some("t".into()),
                topic_id,
                partitions: (0..2)
                    .map(|i| MetadataResponsePartition {
                        partition_index: i,
                        leader_id: 1 + i,
                        leader_epoch: 3,
                        replica_nodes: vec![1, 2],
                        isr_nodes: vec![1 + i],
                        offline_replicas: vec![],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        },
        &MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                name: Some("t".into()),
                ..Default::default()
            }]),
            ..Default::default()
        },
    );

    api_seeds::<ProduceRequest>(
        dir,
        2,
        &ProduceResponse {
            responses: vec![TopicProduceResponse {
                name: "t".into(),
                partition_responses: vec![PartitionProduceResponse {
                    index: 0,
                    error_code: 0,
                    base_offset: 42,
                    record_errors: vec![BatchIndexAndErrorMessage {
                        batch_index: 1,
                        batch_index_error_message: Some("bad".into()),
                        ..Default::default()
                    }],
                    error_message: Some("oops".into()),
                    tagged_fields: tags(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            throttle_time_ms: 1,
            ..Default::default()
        },
        &ProduceRequest {
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                name: "t".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(records.clone().into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        },
    );

    api_seeds::<FetchRequest>(
        dir,
        3,
        &FetchResponse {
            session_id: 9,
            responses: vec![FetchableTopicResponse {
                topic: "t".into(),
                partitions: vec![FetchPartitionData {
                    partition_index: 0,
                    high_watermark: 107,
                    last_stable_offset: 107,
                    log_start_offset: 0,
                    aborted_transactions: Some(vec![FetchAbortedTransaction {
                        producer_id: 7,
                        first_offset: 100,
                        ..Default::default()
                    }]),
                    records: Some(records),
                    tagged_fields: tags(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        },
        &FetchRequest {
            max_wait_ms: 500,
            min_bytes: 1,
            topics: vec![FetchTopic {
                topic: "t".into(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: 100,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            forgotten_topics_data: vec![ForgottenTopic {
                topic: "old".into(),
                partitions: vec![1, 2],
                ..Default::default()
            }],
            rack_id: "r1".into(),
            ..Default::default()
        },
    );

    api_seeds::<ListOffsetsRequest>(
        dir,
        4,
        &ListOffsetsResponse {
            topics: vec![ListOffsetsTopicResponse {
                name: "t".into(),
                partitions: vec![ListOffsetsPartitionResponse {
                    partition_index: 0,
                    old_style_offsets: vec![107, 0],
                    timestamp: 1_700_000_000_000,
                    offset: 107,
                    leader_epoch: 3,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        },
        &ListOffsetsRequest {
            topics: vec![ListOffsetsTopic {
                name: "t".into(),
                partitions: vec![ListOffsetsPartition {
                    partition_index: 0,
                    timestamp: list_offsets_timestamp::LATEST,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        },
    );

    api_seeds::<CreateTopicsRequest>(
        dir,
        5,
        &CreateTopicsResponse {
            topics: vec![CreatableTopicResult {
                name: "t".into(),
                topic_id,
                error_message: Some("exists".into()),
                num_partitions: 3,
                replication_factor: 1,
                configs: Some(vec![CreatableTopicConfigs {
                    name: "cleanup.policy".into(),
                    value: Some("delete".into()),
                    config_source: 5,
                    ..Default::default()
                }]),
                ..Default::default()
            }],
            ..Default::default()
        },
        &CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "t".into(),
                num_partitions: -1,
                replication_factor: -1,
                assignments: vec![CreatableReplicaAssignment {
                    partition_index: 0,
                    broker_ids: vec![1, 2],
                    ..Default::default()
                }],
                configs: vec![CreatableTopicConfig {
                    name: "retention.ms".into(),
                    value: Some("1000".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        },
    );

    api_seeds::<DeleteTopicsRequest>(
        dir,
        6,
        &DeleteTopicsResponse {
            responses: vec![DeletableTopicResult {
                name: Some("t".into()),
                topic_id,
                error_code: 3,
                error_message: Some("unknown".into()),
                ..Default::default()
            }],
            ..Default::default()
        },
        &DeleteTopicsRequest {
            topics: vec![DeleteTopicState {
                name: None,
                topic_id,
                ..Default::default()
            }],
            topic_names: vec!["t".into()],
            timeout_ms: 1000,
            ..Default::default()
        },
    );

    api_seeds::<DescribeTransactionsRequest>(
        dir,
        7,
        &DescribeTransactionsResponse {
            transaction_states: vec![TransactionState {
                transactional_id: "tx".into(),
                transaction_state: "CompleteCommit".into(),
                transaction_timeout_ms: 60000,
                transaction_start_time_ms: -1,
                producer_id: 7,
                producer_epoch: 2,
                topics: vec![TopicData {
                    topic: "t".into(),
                    partitions: vec![0, 1],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        },
        &DescribeTransactionsRequest {
            transactional_ids: vec!["tx".into()],
            ..Default::default()
        },
    );
}

fn main() {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/seeds".into()),
    );
    let records_dir = root.join("record_set");
    let protocol_dir = root.join("protocol_responses");
    for dir in [&records_dir, &protocol_dir] {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    let batch = record_seeds(&records_dir);
    protocol_seeds(&protocol_dir, Bytes::from(batch));
    println!("seeds written under {}", root.display());
}
