//! ListOffsets (key 2), versions 0–7: the offset of a partition at a timestamp, or the
//! earliest (-2) / latest (-1) / max-timestamp (-3, v7+) offset. Flexible from v6.
//!
//! v0 asks for up to `max_num_offsets` offsets and answers with `old_style_offsets`; v1+
//! answers with a single `timestamp`/`offset` pair.

use crate::protocol::{api_key, Request};
use crate::wire_struct;

/// Special timestamps of [`ListOffsetsPartition::timestamp`].
pub mod list_offsets_timestamp {
    pub const LATEST: i64 = -1;
    pub const EARLIEST: i64 = -2;
    /// v7+: the offset of the record with the largest timestamp.
    pub const MAX_TIMESTAMP: i64 = -3;
}

wire_struct! {
    pub struct ListOffsetsRequest {
        /// The requesting broker's id, or -1 for a consumer.
        pub replica_id: i32 [0..=32767] = -1,
        /// 0: read uncommitted, 1: read committed.
        pub isolation_level: i8 [2..=32767],
        pub topics: Vec<ListOffsetsTopic> [0..=32767],
    }
}

wire_struct! {
    pub struct ListOffsetsTopic {
        pub name: String [0..=32767],
        pub partitions: Vec<ListOffsetsPartition> [0..=32767],
    }
}

wire_struct! {
    pub struct ListOffsetsPartition {
        pub partition_index: i32 [0..=32767],
        pub current_leader_epoch: i32 [4..=32767] = -1,
        /// A timestamp in milliseconds, or one of [`list_offsets_timestamp`].
        pub timestamp: i64 [0..=32767],
        pub max_num_offsets: i32 [0..=0] = 1,
    }
}

wire_struct! {
    pub struct ListOffsetsResponse {
        pub throttle_time_ms: i32 [2..=32767],
        pub topics: Vec<ListOffsetsTopicResponse> [0..=32767],
    }
}

wire_struct! {
    pub struct ListOffsetsTopicResponse {
        pub name: String [0..=32767],
        pub partitions: Vec<ListOffsetsPartitionResponse> [0..=32767],
    }
}

wire_struct! {
    pub struct ListOffsetsPartitionResponse {
        pub partition_index: i32 [0..=32767],
        pub error_code: i16 [0..=32767],
        /// v0 only: the offsets found.
        pub old_style_offsets: Vec<i64> [0..=0],
        pub timestamp: i64 [1..=32767] = -1,
        pub offset: i64 [1..=32767] = -1,
        pub leader_epoch: i32 [4..=32767] = -1,
    }
}

impl Request for ListOffsetsRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::LIST_OFFSETS;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 7;
    const FLEXIBLE_MIN: i16 = 6;
    type Response = ListOffsetsResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    fn request(timestamp: i64) -> ListOffsetsRequest {
        ListOffsetsRequest {
            isolation_level: 1,
            topics: vec![ListOffsetsTopic {
                name: "t".into(),
                partitions: vec![ListOffsetsPartition {
                    partition_index: 0,
                    timestamp,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn request_v0_known_bytes() {
        let frame = encode_request(&request(list_offsets_timestamp::EARLIEST), 0, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 43, // size
            0, 2, 0, 0, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 2, v0, correlation 7, "kc"
            0xff, 0xff, 0xff, 0xff, // replica id -1
            0, 0, 0, 1, 0, 1, b't', // topics: "t"
            0, 0, 0, 1, 0, 0, 0, 0, // partitions: 0
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, // timestamp -2 (earliest)
            0, 0, 0, 1, // max num offsets 1
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v7_known_bytes() {
        let frame = encode_request(&request(list_offsets_timestamp::LATEST), 7, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 41, // size
            0, 2, 0, 7, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            0xff, 0xff, 0xff, 0xff, 1, // replica id -1, read committed
            2, 2, b't', // topics: "t"
            2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // partitions: 0, current leader epoch -1
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // timestamp -1 (latest)
            0, 0, 0, // partition, topic and request tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v0_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 1, // correlation id
            0, 0, 0, 1, 0, 1, b't', // topics: "t"
            0, 0, 0, 1, 0, 0, 0, 0, 0, 0, // partitions: 0, error 0
            0, 0, 0, 2, // old style offsets: 2
            0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0, // 100, 0
        ]);
        let (cid, resp) = decode_response::<ListOffsetsRequest>(&body, 0).unwrap();
        crate::protocol::testing::assert_reencodes::<ListOffsetsRequest>(&body, 0);
        assert_eq!(cid, 1);
        let p = &resp.topics[0].partitions[0];
        assert_eq!(resp.topics[0].name, "t");
        assert_eq!(p.old_style_offsets, [100, 0]);
        assert_eq!((p.timestamp, p.offset, p.leader_epoch), (-1, -1, -1));
    }

    #[test]
    fn response_v6_known_bytes_with_unknown_tag() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 2, 0, // correlation id, header tags
            0, 0, 0, 0, // throttle 0
            2, 2, b't', // topics: "t"
            2, 0, 0, 0, 3, 0, 0, // partitions: 3, error 0
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // timestamp -1
            0, 0, 0, 0, 0, 0, 0, 42, // offset 42
            0, 0, 0, 4, 0, // leader epoch 4, partition tags
            0, // topic tags
            1, 7, 1, 1, // one unknown tagged field: tag 7, 1 byte
        ]);
        let (cid, resp) = decode_response::<ListOffsetsRequest>(&body, 6).unwrap();
        crate::protocol::testing::assert_reencodes::<ListOffsetsRequest>(&body, 6);
        assert_eq!(cid, 2);
        let p = &resp.topics[0].partitions[0];
        assert_eq!(p.partition_index, 3);
        assert!(p.old_style_offsets.is_empty());
        assert_eq!((p.timestamp, p.offset, p.leader_epoch), (-1, 42, 4));
        assert_eq!(resp.tagged_fields.0.len(), 1);
        assert_eq!(resp.tagged_fields.0[0].tag, 7);
        assert_eq!(&resp.tagged_fields.0[0].data[..], &[1]);
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<ListOffsetsRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<ListOffsetsRequest>(8);
    }
}
