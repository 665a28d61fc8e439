//! Fetch (key 1), versions 0–12: read record batches from partitions. Flexible from v12.
//!
//! v12 is the last version that names topics; v13+ uses topic ids and is not implemented.
//! Decoded with [`Reader::shared`](crate::protocol::Reader::shared) (as
//! [`decode_response`](crate::protocol::frame::decode_response) does), `records` borrows
//! from the response buffer without copying.
//!
//! Tagged-only fields stay raw in `tagged_fields`: the request's `ClusterId` (tag 0), and
//! the partition's `DivergingEpoch` (tag 0), `CurrentLeader` (tag 1) and `SnapshotId`
//! (tag 2). `CurrentLeader` is decoded on demand by
//! [`FetchPartitionData::current_leader`] (KIP-951: with NOT_LEADER_OR_FOLLOWER or
//! FENCED_LEADER_EPOCH the broker names the new leader; its address, `NodeEndpoints`, only
//! comes from v16, which this crate does not speak).

use super::produce::LeaderIdAndEpoch;
use crate::protocol::{api_key, Request};
use crate::wire_struct;
use bytes::Bytes;

wire_struct! {
    pub struct FetchRequest {
        /// The follower's broker id, or -1 for a consumer.
        pub replica_id: i32 [0..=14] = -1,
        pub max_wait_ms: i32 [0..=32767],
        pub min_bytes: i32 [0..=32767],
        pub max_bytes: i32 [3..=32767] = i32::MAX,
        /// 0: read uncommitted, 1: read committed.
        pub isolation_level: i8 [4..=32767],
        /// The fetch session id (0 for none).
        pub session_id: i32 [7..=32767],
        /// The fetch session epoch (-1 for a full fetch without a session).
        pub session_epoch: i32 [7..=32767] = -1,
        pub topics: Vec<FetchTopic> [0..=32767],
        /// Partitions to remove from an incremental fetch session.
        pub forgotten_topics_data: Vec<ForgottenTopic> [7..=32767],
        pub rack_id: String [11..=32767],
    }
}

wire_struct! {
    pub struct FetchTopic {
        /// The topic name.
        pub topic: String [0..=12],
        pub partitions: Vec<FetchPartition> [0..=32767],
    }
}

wire_struct! {
    pub struct FetchPartition {
        /// The partition index.
        pub partition: i32 [0..=32767],
        pub current_leader_epoch: i32 [9..=32767] = -1,
        pub fetch_offset: i64 [0..=32767],
        /// The epoch of the last fetched record, or -1.
        pub last_fetched_epoch: i32 [12..=32767] = -1,
        /// Only meaningful for followers.
        pub log_start_offset: i64 [5..=32767] = -1,
        pub partition_max_bytes: i32 [0..=32767],
    }
}

wire_struct! {
    pub struct ForgottenTopic {
        /// The topic name.
        pub topic: String [7..=12],
        /// The partition indexes to forget.
        pub partitions: Vec<i32> [7..=32767],
    }
}

wire_struct! {
    pub struct FetchResponse {
        pub throttle_time_ms: i32 [1..=32767],
        pub error_code: i16 [7..=32767],
        pub session_id: i32 [7..=32767],
        pub responses: Vec<FetchableTopicResponse> [0..=32767],
    }
}

wire_struct! {
    pub struct FetchableTopicResponse {
        /// The topic name.
        pub topic: String [0..=12],
        pub partitions: Vec<FetchPartitionData> [0..=32767],
    }
}

wire_struct! {
    /// Kafka's `PartitionData` of the Fetch response.
    pub struct FetchPartitionData {
        pub partition_index: i32 [0..=32767],
        pub error_code: i16 [0..=32767],
        pub high_watermark: i64 [0..=32767],
        pub last_stable_offset: i64 [4..=32767] = -1,
        pub log_start_offset: i64 [5..=32767] = -1,
        pub aborted_transactions: Option<Vec<FetchAbortedTransaction>> [4..=32767],
        pub preferred_read_replica: i32 [11..=32767] = -1,
        /// Encoded record batches; the last one may be partial.
        pub records: Option<Bytes> [0..=32767],
    }
}

wire_struct! {
    /// Kafka's `AbortedTransaction` of the Fetch response.
    pub struct FetchAbortedTransaction {
        pub producer_id: i64 [4..=32767],
        pub first_offset: i64 [4..=32767],
    }
}

/// Tag of `CurrentLeader` in a partition's answer (v12+).
pub const FETCH_CURRENT_LEADER_TAG: u32 = 1;

impl FetchPartitionData {
    /// The `CurrentLeader` tagged field (v12+), if the broker sent one and it decodes.
    pub fn current_leader(&self) -> Option<LeaderIdAndEpoch> {
        self.tagged_fields
            .decode(FETCH_CURRENT_LEADER_TAG, 12)
            .and_then(Result::ok)
    }

    /// Sets the `CurrentLeader` tagged field (v12+).
    pub fn set_current_leader(&mut self, leader: &LeaderIdAndEpoch) {
        self.tagged_fields.set(FETCH_CURRENT_LEADER_TAG, leader, 12);
    }
}

impl Request for FetchRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::FETCH;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 12;
    const FLEXIBLE_MIN: i16 = 12;
    type Response = FetchResponse;

    fn server_wait(&self) -> std::time::Duration {
        crate::protocol::millis(self.max_wait_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};

    #[test]
    fn request_v4_known_bytes() {
        let req = FetchRequest {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 1 << 20,
            isolation_level: 1,
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
            ..Default::default()
        };
        let frame = encode_request(&req, 4, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 56, // size
            0, 1, 0, 4, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 1, v4, correlation 7, "kc"
            0xff, 0xff, 0xff, 0xff, // replica id -1
            0, 0, 1, 0xf4, // max wait 500
            0, 0, 0, 1, // min bytes 1
            0, 0x10, 0, 0, // max bytes 1 MiB
            1, // read committed
            0, 0, 0, 1, 0, 1, b't', // topics: "t"
            0, 0, 0, 1, 0, 0, 0, 0, // partitions: 0
            0, 0, 0, 0, 0, 0, 0, 100, // fetch offset 100
            0, 0x10, 0, 0, // partition max bytes 1 MiB
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v12_known_bytes() {
        let req = FetchRequest {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 1 << 20,
            topics: vec![FetchTopic {
                topic: "t".into(),
                partitions: vec![FetchPartition {
                    partition: 1,
                    current_leader_epoch: 5,
                    fetch_offset: 100,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let frame = encode_request(&req, 12, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 79, // size
            0, 1, 0, 12, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            0xff, 0xff, 0xff, 0xff, // replica id -1
            0, 0, 1, 0xf4, 0, 0, 0, 1, 0, 0x10, 0, 0, // max wait, min bytes, max bytes
            0, // read uncommitted
            0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // session id 0, epoch -1
            2, 2, b't', // topics: "t"
            2, 0, 0, 0, 1, 0, 0, 0, 5, // partitions: 1, current leader epoch 5
            0, 0, 0, 0, 0, 0, 0, 100, // fetch offset 100
            0xff, 0xff, 0xff, 0xff, // last fetched epoch -1
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log start offset -1
            0, 0x10, 0, 0, 0, // partition max bytes, partition tags
            0, // topic tags
            1, 1, 0, // forgotten topics [], rack id "", request tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v4_known_bytes_records_are_zero_copy() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 3, // correlation id
            0, 0, 0, 0, // throttle 0
            0, 0, 0, 1, 0, 1, b't', // responses: "t"
            0, 0, 0, 1, 0, 0, 0, 0, 0, 0, // partitions: 0, error 0
            0, 0, 0, 0, 0, 0, 0, 10, // high watermark 10
            0, 0, 0, 0, 0, 0, 0, 8, // last stable offset 8
            0, 0, 0, 1, // aborted transactions: 1
            0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 3, // producer 5, first offset 3
            0, 0, 0, 5, 0xa, 0xb, 0xc, 0xd, 0xe, // records (5 bytes)
        ]);
        let (cid, resp) = decode_response::<FetchRequest>(&body, 4).unwrap();
        crate::protocol::testing::assert_reencodes::<FetchRequest>(&body, 4);
        assert_eq!(cid, 3);
        assert_eq!(resp.session_id, 0);
        let t = &resp.responses[0];
        assert_eq!(t.topic, "t");
        let p = &t.partitions[0];
        assert_eq!((p.partition_index, p.error_code), (0, 0));
        assert_eq!((p.high_watermark, p.last_stable_offset), (10, 8));
        assert_eq!(p.log_start_offset, -1, "absent before v5: schema default");
        assert_eq!(p.preferred_read_replica, -1);
        let aborted = p.aborted_transactions.as_ref().unwrap();
        assert_eq!((aborted[0].producer_id, aborted[0].first_offset), (5, 3));
        let records = p.records.as_ref().unwrap();
        assert_eq!(&records[..], &[0xa, 0xb, 0xc, 0xd, 0xe]);
        assert_eq!(records.as_ptr(), body[body.len() - 5..].as_ptr());
    }

    #[test]
    fn response_v12_known_bytes_with_tagged_fields() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 4, 0, // correlation id, header tags
            0, 0, 0, 0, 0, 0, 0, 0, 0, 42, // throttle 0, error 0, session 42
            2, 2, b't', // responses: "t"
            2, 0, 0, 0, 1, 0, 0, // partitions: 1, error 0
            0, 0, 0, 0, 0, 0, 0, 10, // high watermark 10
            0, 0, 0, 0, 0, 0, 0, 10, // last stable offset 10
            0, 0, 0, 0, 0, 0, 0, 2, // log start offset 2
            0, // aborted transactions null
            0xff, 0xff, 0xff, 0xff, // preferred read replica -1
            4, 1, 2, 3, // records (compact, 3 bytes)
            1, 1, 9, 0, 0, 0, 2, 0, 0, 0, 7, 0, // CurrentLeader (tag 1): leader 2, epoch 7
            0, 0, // topic and response tags
        ]);
        let (cid, resp) = decode_response::<FetchRequest>(&body, 12).unwrap();
        crate::protocol::testing::assert_reencodes::<FetchRequest>(&body, 12);
        assert_eq!(cid, 4);
        assert_eq!((resp.error_code, resp.session_id), (0, 42));
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.partition_index, 1);
        assert_eq!(p.log_start_offset, 2);
        assert_eq!(p.aborted_transactions, None);
        assert_eq!(p.preferred_read_replica, -1);
        let records = p.records.as_ref().unwrap();
        assert_eq!(&records[..], &[1, 2, 3]);
        let at = body.len() - 17;
        assert_eq!(records.as_ptr(), body[at..].as_ptr());
        assert_eq!(p.tagged_fields.0.len(), 1);
        assert_eq!(p.tagged_fields.0[0].tag, 1);
        assert_eq!(&p.tagged_fields.0[0].data[..], &[0, 0, 0, 2, 0, 0, 0, 7, 0]);
        let leader = p.current_leader().unwrap();
        assert_eq!((leader.leader_id, leader.leader_epoch), (2, 7));
    }

    #[test]
    fn current_leader_is_set_among_other_tags() {
        let mut p = FetchPartitionData {
            error_code: 74,
            tagged_fields: crate::protocol::TaggedFields(vec![crate::protocol::TaggedField {
                tag: 2,
                data: Bytes::from_static(&[1, 2, 3]),
            }]),
            ..Default::default()
        };
        assert_eq!(p.current_leader(), None);
        p.set_current_leader(&LeaderIdAndEpoch {
            leader_id: 4,
            leader_epoch: 11,
            ..Default::default()
        });
        let tags: Vec<u32> = p.tagged_fields.0.iter().map(|f| f.tag).collect();
        assert_eq!(tags, [1, 2]);
        let mut w = crate::protocol::Writer::new();
        crate::protocol::Wire::write(&p, &mut w, true, 12);
        let back = <FetchPartitionData as crate::protocol::Wire>::read(
            &mut crate::protocol::Reader::new(&w.buf),
            true,
            12,
        )
        .unwrap();
        assert_eq!(back, p);
        let leader = back.current_leader().unwrap();
        assert_eq!((leader.leader_id, leader.leader_epoch), (4, 11));
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<FetchRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<FetchRequest>(8);
    }
}
