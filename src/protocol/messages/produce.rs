//! Produce (key 0), versions 0–12: write records to partition leaders. Flexible from v9.
//! `records` is opaque here: record batches (message format v2) from v3 on, legacy
//! message sets (v1 for Produce v2, v0 for v0/v1) before, for brokers older than 0.11.
//! v12 has v11's layout: it tells the broker that a transactional producer speaks
//! transaction protocol v2 (KIP-890), whose partitions join the transaction on Produce.
//!
//! The v10+ tagged fields `CurrentLeader` (partition, tag 0) and `NodeEndpoints` (response,
//! tag 0) are kept raw in `tagged_fields`, so answers re-encode byte for byte; they are
//! decoded on demand by [`PartitionProduceResponse::current_leader`] and
//! [`ProduceResponse::node_endpoints`] (KIP-951: with NOT_LEADER_OR_FOLLOWER or
//! FENCED_LEADER_EPOCH the broker names the new leader and its address).

use crate::protocol::primitives::SHARED_MIN;
use crate::protocol::{api_key, Request, Segments};
use crate::wire_struct;
use bytes::Bytes;

wire_struct! {
    pub struct ProduceRequest {
        /// The transactional id, or `None` for a non-transactional producer.
        pub transactional_id: Option<String> [3..=32767],
        /// 0: no acknowledgement, 1: the leader's, -1: the full in-sync replica set's.
        pub acks: i16 [0..=32767],
        pub timeout_ms: i32 [0..=32767],
        pub topic_data: Vec<TopicProduceData> [0..=32767],
    }
}

wire_struct! {
    pub struct TopicProduceData {
        pub name: String [0..=32767],
        pub partition_data: Vec<PartitionProduceData> [0..=32767],
    }
}

wire_struct! {
    pub struct PartitionProduceData {
        /// The partition index.
        pub index: i32 [0..=32767],
        /// Encoded record batches.
        pub records: Option<Segments> [0..=32767],
    }
}

wire_struct! {
    pub struct ProduceResponse {
        pub responses: Vec<TopicProduceResponse> [0..=32767],
        pub throttle_time_ms: i32 [1..=32767],
    }
}

wire_struct! {
    pub struct TopicProduceResponse {
        pub name: String [0..=32767],
        pub partition_responses: Vec<PartitionProduceResponse> [0..=32767],
    }
}

wire_struct! {
    pub struct PartitionProduceResponse {
        /// The partition index.
        pub index: i32 [0..=32767],
        pub error_code: i16 [0..=32767],
        pub base_offset: i64 [0..=32767],
        /// The broker's append time when the topic uses LogAppendTime, else -1.
        pub log_append_time_ms: i64 [2..=32767] = -1,
        pub log_start_offset: i64 [5..=32767] = -1,
        pub record_errors: Vec<BatchIndexAndErrorMessage> [8..=32767],
        pub error_message: Option<String> [8..=32767],
    }
}

wire_struct! {
    /// A record that made the broker drop its batch.
    pub struct BatchIndexAndErrorMessage {
        pub batch_index: i32 [8..=32767],
        pub batch_index_error_message: Option<String> [8..=32767],
    }
}

/// Tag of `CurrentLeader` in a partition's answer (v10+).
pub const PRODUCE_CURRENT_LEADER_TAG: u32 = 0;
/// Tag of `NodeEndpoints` in the response (v10+).
pub const PRODUCE_NODE_ENDPOINTS_TAG: u32 = 0;

wire_struct! {
    /// Kafka's `LeaderIdAndEpoch`: the leader a broker knows of a partition (KIP-951), a
    /// tagged field of Produce (v10+) and Fetch (v12+) answers. Only encoded in flexible
    /// versions.
    pub struct LeaderIdAndEpoch {
        /// The leader's broker id, or -1 if unknown.
        pub leader_id: i32 [0..=32767] = -1,
        /// The leader epoch, or -1 if unknown.
        pub leader_epoch: i32 [0..=32767] = -1,
    }
}

wire_struct! {
    /// Kafka's `NodeEndpoint`: a broker's address, for the leaders named by
    /// `CurrentLeader` (KIP-951). Only encoded in flexible versions.
    pub struct NodeEndpoint {
        pub node_id: i32 [0..=32767],
        pub host: String [0..=32767],
        pub port: i32 [0..=32767],
        pub rack: Option<String> [0..=32767],
    }
}

impl LeaderIdAndEpoch {
    /// Whether both the leader and its epoch are known.
    pub fn is_known(&self) -> bool {
        self.leader_id >= 0 && self.leader_epoch >= 0
    }
}

impl PartitionProduceResponse {
    /// The `CurrentLeader` tagged field (v10+), if the broker sent one and it decodes.
    pub fn current_leader(&self) -> Option<LeaderIdAndEpoch> {
        self.tagged_fields
            .decode(PRODUCE_CURRENT_LEADER_TAG, 10)
            .and_then(Result::ok)
    }

    /// Sets the `CurrentLeader` tagged field (v10+).
    pub fn set_current_leader(&mut self, leader: &LeaderIdAndEpoch) {
        self.tagged_fields
            .set(PRODUCE_CURRENT_LEADER_TAG, leader, 10);
    }
}

impl ProduceResponse {
    /// The `NodeEndpoints` tagged field (v10+): empty when absent or when it does not
    /// decode.
    pub fn node_endpoints(&self) -> Vec<NodeEndpoint> {
        self.tagged_fields
            .decode(PRODUCE_NODE_ENDPOINTS_TAG, 10)
            .and_then(Result::ok)
            .unwrap_or_default()
    }

    /// Sets the `NodeEndpoints` tagged field (v10+).
    pub fn set_node_endpoints(&mut self, endpoints: &[NodeEndpoint]) {
        self.tagged_fields
            .set(PRODUCE_NODE_ENDPOINTS_TAG, &endpoints.to_vec(), 10);
    }
}

impl Request for ProduceRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::PRODUCE;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 12;
    const FLEXIBLE_MIN: i16 = 9;
    type Response = ProduceResponse;

    fn server_wait(&self) -> std::time::Duration {
        // With acks other than 0 the leader waits up to timeout_ms for the replicas.
        if self.acks == 0 {
            std::time::Duration::ZERO
        } else {
            crate::protocol::millis(self.timeout_ms)
        }
    }

    fn size_hint(&self) -> usize {
        // Batches of SHARED_MIN bytes or more are not copied into the frame (see
        // `encode_request_frame`), so they take no room in its buffer.
        let records: usize = self
            .topic_data
            .iter()
            .flat_map(|t| t.partition_data.iter())
            .map(|p| match &p.records {
                None => 16,
                Some(r) => {
                    let copied: usize = r
                        .parts()
                        .iter()
                        .filter(|s| s.len() < SHARED_MIN)
                        .map(Bytes::len)
                        .sum();
                    copied + 16
                }
            })
            .sum();
        let names: usize = self.topic_data.iter().map(|t| t.name.len() + 8).sum();
        64 + records + names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request, encode_request_frame};

    fn request() -> ProduceRequest {
        ProduceRequest {
            transactional_id: None,
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                name: "t".into(),
                partition_data: vec![PartitionProduceData {
                    index: 2,
                    records: Some(Bytes::from_static(&[1, 2, 3]).into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn request_v3_known_bytes() {
        let frame = encode_request(&request(), 3, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 42, // size
            0, 0, 0, 3, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 0, v3, correlation 7, "kc"
            0xff, 0xff, // transactional id null
            0xff, 0xff, // acks -1
            0, 0, 0x75, 0x30, // timeout 30000
            0, 0, 0, 1, 0, 1, b't', // topics: "t"
            0, 0, 0, 1, 0, 0, 0, 2, // partitions: index 2
            0, 0, 0, 3, 1, 2, 3, // records (3 bytes)
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v9_known_bytes() {
        let mut req = request();
        req.transactional_id = Some("tx".into());
        let frame = encode_request(&req, 9, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 37, // size
            0, 0, 0, 9, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            3, b't', b'x', // transactional id "tx" (compact)
            0xff, 0xff, // acks -1
            0, 0, 0x75, 0x30, // timeout 30000
            2, 2, b't', // topics: "t"
            2, 0, 0, 0, 2, // partitions: index 2
            4, 1, 2, 3, // records (compact, 3 bytes)
            0, 0, 0, // partition, topic and request tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v8_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 1, // correlation id
            0, 0, 0, 1, 0, 1, b't', // responses: "t"
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, 0, 0, // index 0, error 0
            0, 0, 0, 0, 0, 0, 0, 42, // base offset 42
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log append time -1
            0, 0, 0, 0, 0, 0, 0, 7, // log start offset 7
            0, 0, 0, 1, 0, 0, 0, 3, 0, 3, b'b', b'a', b'd', // record errors: [3, "bad"]
            0xff, 0xff, // error message null
            0, 0, 0, 100, // throttle 100
        ]);
        let (cid, resp) = decode_response::<ProduceRequest>(&body, 8).unwrap();
        crate::protocol::testing::assert_reencodes::<ProduceRequest>(&body, 8);
        assert_eq!(cid, 1);
        assert_eq!(resp.throttle_time_ms, 100);
        assert_eq!(resp.responses[0].name, "t");
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!((p.index, p.error_code, p.base_offset), (0, 0, 42));
        assert_eq!(p.log_append_time_ms, -1);
        assert_eq!(p.log_start_offset, 7);
        assert_eq!(p.record_errors.len(), 1);
        assert_eq!(p.record_errors[0].batch_index, 3);
        assert_eq!(
            p.record_errors[0].batch_index_error_message.as_deref(),
            Some("bad")
        );
        assert_eq!(p.error_message, None);
    }

    #[test]
    fn response_v10_known_bytes_with_tagged_fields() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 2, 0, // correlation id, header tags
            2, 2, b't', // responses: "t"
            2, // partitions: 1
            0, 0, 0, 1, 0, 6, // index 1, NOT_LEADER_OR_FOLLOWER
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // base offset -1
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log append time -1
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log start offset -1
            1, 0, // record errors [], error message null
            1, 0, 9, 0, 0, 0, 2, 0, 0, 0, 7, 0, // CurrentLeader (tag 0): leader 2, epoch 7
            0, // topic tags
            0, 0, 0, 0, // throttle 0
            1, 0, 13, 2, 0, 0, 0, 2, 2, b'h', 0, 0, 0x23, 0x84, 0, 0, // NodeEndpoints (tag 0)
        ]);
        let (cid, resp) = decode_response::<ProduceRequest>(&body, 10).unwrap();
        crate::protocol::testing::assert_reencodes::<ProduceRequest>(&body, 10);
        assert_eq!(cid, 2);
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!((p.index, p.error_code, p.base_offset), (1, 6, -1));
        assert!(p.record_errors.is_empty());
        assert_eq!(p.tagged_fields.0.len(), 1);
        assert_eq!(p.tagged_fields.0[0].tag, 0);
        assert_eq!(&p.tagged_fields.0[0].data[..], &[0, 0, 0, 2, 0, 0, 0, 7, 0]);
        assert_eq!(resp.tagged_fields.0.len(), 1);
        assert_eq!(resp.tagged_fields.0[0].data.len(), 13);
        assert_eq!(
            p.current_leader(),
            Some(LeaderIdAndEpoch {
                leader_id: 2,
                leader_epoch: 7,
                ..Default::default()
            })
        );
        assert_eq!(
            resp.node_endpoints(),
            vec![NodeEndpoint {
                node_id: 2,
                host: "h".into(),
                port: 9092,
                rack: None,
                ..Default::default()
            }]
        );
    }

    #[test]
    fn leader_hints_are_absent_bad_or_set() {
        let mut resp = ProduceResponse {
            responses: vec![TopicProduceResponse {
                name: "t".into(),
                partition_responses: vec![PartitionProduceResponse {
                    index: 0,
                    error_code: 6,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            resp.responses[0].partition_responses[0].current_leader(),
            None
        );
        assert!(resp.node_endpoints().is_empty());
        // A tag 0 that does not hold a LeaderIdAndEpoch is no hint.
        resp.responses[0].partition_responses[0].tagged_fields =
            crate::protocol::TaggedFields(vec![crate::protocol::TaggedField {
                tag: 0,
                data: Bytes::from_static(&[0, 0, 0, 2]),
            }]);
        assert_eq!(
            resp.responses[0].partition_responses[0].current_leader(),
            None
        );
        let leader = LeaderIdAndEpoch {
            leader_id: 3,
            leader_epoch: 9,
            ..Default::default()
        };
        resp.responses[0].partition_responses[0].set_current_leader(&leader);
        let endpoints = vec![NodeEndpoint {
            node_id: 3,
            host: "b3".into(),
            port: 9093,
            rack: Some("r".into()),
            ..Default::default()
        }];
        resp.set_node_endpoints(&endpoints);
        for version in [10, 11] {
            let mut w = crate::protocol::Writer::new();
            crate::protocol::Wire::write(&resp, &mut w, true, version);
            let back = <ProduceResponse as crate::protocol::Wire>::read(
                &mut crate::protocol::Reader::new(&w.buf),
                true,
                version,
            )
            .unwrap();
            assert_eq!(back, resp);
            let p = &back.responses[0].partition_responses[0];
            assert_eq!(p.current_leader(), Some(leader.clone()));
            assert!(p.current_leader().unwrap().is_known());
            assert_eq!(back.node_endpoints(), endpoints);
        }
    }

    /// A frame that shares its large batches has the very bytes of the frame that copies
    /// them, in every version, flexible or not; only batches of `SHARED_MIN` bytes or more
    /// are shared, from the caller's memory.
    #[test]
    fn frame_with_shared_batches_has_the_same_bytes() {
        let big = Bytes::from((0..100_000u32).map(|i| (i * 31) as u8).collect::<Vec<_>>());
        let at_min = Bytes::from(vec![5u8; SHARED_MIN]);
        let below = Bytes::from(vec![6u8; SHARED_MIN - 1]);
        let part = |index, records: Option<Bytes>| PartitionProduceData {
            index,
            records: records.map(Segments::from),
            ..Default::default()
        };
        let req = ProduceRequest {
            transactional_id: Some("tx".into()),
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![
                TopicProduceData {
                    name: "a".into(),
                    partition_data: vec![
                        part(0, Some(big.clone())),
                        part(1, Some(Bytes::from_static(&[9; 100]))),
                        part(2, None),
                        part(3, Some(at_min.clone())),
                    ],
                    ..Default::default()
                },
                TopicProduceData {
                    name: "b".into(),
                    partition_data: vec![part(0, Some(below)), part(1, Some(big.clone()))],
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        for version in ProduceRequest::MIN_VERSION..=ProduceRequest::MAX_VERSION {
            let want = encode_request(&req, version, 7, Some("kc"));
            // A reused buffer, with bytes of its own: cleared first.
            let frame = encode_request_frame(&req, version, 7, Some("kc"), vec![1; 300]);
            assert_eq!(frame.len(), want.len(), "v{version}");
            assert_eq!(frame.to_vec(), want, "v{version}");
            let size = i32::from_be_bytes(want[..4].try_into().unwrap()) as usize;
            assert_eq!(size + 4, frame.len(), "v{version}: size prefix");
            // Owned, big, owned, at_min, owned, big, owned.
            assert_eq!(frame.parts(), 7, "v{version}");
            assert!(frame.part(0).len() >= 12, "v{version}: header split");
            assert_eq!(frame.part(1).as_ptr(), big.as_ptr());
            assert_eq!(frame.part(3).as_ptr(), at_min.as_ptr());
            assert_eq!(frame.part(5).as_ptr(), big.as_ptr());
            let owned = frame.clone().into_buf();
            assert_eq!(owned.len(), want.len() - 2 * big.len() - at_min.len());
            // The correlation id is stamped in the first part.
            let mut stamped = frame.clone();
            assert!(stamped.set_correlation_id(0x0102_0304));
            assert_eq!(&stamped.to_vec()[8..12], &[1, 2, 3, 4]);
        }
    }

    /// A batch in segments (a record set whose large values are the application's own
    /// buffers) is written as one field: the same bytes as the batch in one buffer, with
    /// its large segments shared and its small ones copied.
    #[test]
    fn segmented_batch_is_one_field() {
        let big = Bytes::from(vec![3u8; SHARED_MIN + 5]);
        let small = Bytes::from_static(&[1, 2, 3]);
        let segs = Segments::new(vec![
            small.clone(),
            big.clone(),
            Bytes::new(),
            small.clone(),
            big.clone(),
        ]);
        assert_eq!(segs.parts().len(), 4, "empty segments are dropped");
        let whole = segs.to_bytes();
        assert_eq!(whole.len(), 2 * big.len() + 6);
        assert_eq!(segs, Segments::from(whole.clone()));
        let req = |records: Segments| ProduceRequest {
            acks: -1,
            timeout_ms: 1000,
            topic_data: vec![TopicProduceData {
                name: "t".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(records),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        for version in [3, 8, 9, 11] {
            let want = encode_request(&req(Segments::from(whole.clone())), version, 1, None);
            assert_eq!(encode_request(&req(segs.clone()), version, 1, None), want);
            let frame = encode_request_frame(&req(segs.clone()), version, 1, None, Vec::new());
            assert_eq!(frame.to_vec(), want, "v{version}");
            // Owned (header, small), big, owned (small), big, owned (the rest).
            assert_eq!(frame.parts(), 5, "v{version}");
            assert_eq!(frame.part(1).as_ptr(), big.as_ptr());
            assert_eq!(frame.part(2), &small[..]);
            assert_eq!(frame.part(3).as_ptr(), big.as_ptr());
        }
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<ProduceRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<ProduceRequest>(8);
    }
}
