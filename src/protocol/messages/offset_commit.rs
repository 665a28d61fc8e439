//! OffsetCommit (key 8), versions 0–9: store a group's committed offsets. Flexible from v8.
//!
//! The versions differ in their quirks: v0 names only the group (no generation or
//! member); v1 adds them and a per-partition `commit_timestamp`; v2–4 replace that with a
//! request-wide `retention_time_ms` (-1: the broker's `offsets.retention.minutes`); v5
//! drops retention; v6 adds each partition's leader epoch; v7 the static member's
//! instance id. v9 is the first that a KIP-848 consumer group accepts
//! (`generation_id_or_member_epoch` is then the member epoch).
//!
//! Kafka 4.x brokers accept v2–10 (v0–1 were removed in 4.0, KIP-896; v10 names topics
//! by id and is not implemented here).

use crate::protocol::{api_key, Request};
use crate::wire_struct;

wire_struct! {
    pub struct OffsetCommitRequest {
        pub group_id: String [0..=32767],
        /// v1+: the classic group's generation, or the KIP-848 member epoch; -1 to commit
        /// as no member (a consumer that assigns its partitions itself).
        pub generation_id_or_member_epoch: i32 [1..=32767] = -1,
        /// v1+: empty to commit as no member.
        pub member_id: String [1..=32767],
        /// v7+: the static member's `group.instance.id`, or `None`.
        pub group_instance_id: Option<String> [7..=32767],
        /// v2–4: how long to keep the offsets, or -1 for the broker's setting.
        pub retention_time_ms: i64 [2..=4] = -1,
        pub topics: Vec<OffsetCommitRequestTopic> [0..=32767],
    }
}

wire_struct! {
    pub struct OffsetCommitRequestTopic {
        pub name: String [0..=32767],
        pub partitions: Vec<OffsetCommitRequestPartition> [0..=32767],
    }
}

wire_struct! {
    pub struct OffsetCommitRequestPartition {
        pub partition_index: i32 [0..=32767],
        /// The offset of the next record to consume.
        pub committed_offset: i64 [0..=32767],
        /// v6+: the leader epoch of the last consumed record, or -1.
        pub committed_leader_epoch: i32 [6..=32767] = -1,
        /// v1 only: the commit's timestamp, or -1 for the broker's time.
        pub commit_timestamp: i64 [1..=1] = -1,
        /// Metadata stored with the offset.
        pub committed_metadata: Option<String> [0..=32767],
    }
}

wire_struct! {
    pub struct OffsetCommitResponse {
        pub throttle_time_ms: i32 [3..=32767],
        pub topics: Vec<OffsetCommitResponseTopic> [0..=32767],
    }
}

wire_struct! {
    pub struct OffsetCommitResponseTopic {
        pub name: String [0..=32767],
        pub partitions: Vec<OffsetCommitResponsePartition> [0..=32767],
    }
}

wire_struct! {
    pub struct OffsetCommitResponsePartition {
        pub partition_index: i32 [0..=32767],
        pub error_code: i16 [0..=32767],
    }
}

impl Request for OffsetCommitRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::OFFSET_COMMIT;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 9;
    const FLEXIBLE_MIN: i16 = 8;
    type Response = OffsetCommitResponse;

    fn size_hint(&self) -> usize {
        64 + self
            .topics
            .iter()
            .map(|t| t.name.len() + 8 + t.partitions.len() * 24)
            .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    fn request() -> OffsetCommitRequest {
        OffsetCommitRequest {
            group_id: "g".into(),
            generation_id_or_member_epoch: 3,
            member_id: "m".into(),
            retention_time_ms: 1000,
            topics: vec![OffsetCommitRequestTopic {
                name: "t".into(),
                partitions: vec![OffsetCommitRequestPartition {
                    partition_index: 1,
                    committed_offset: 42,
                    committed_leader_epoch: 5,
                    commit_timestamp: 7,
                    committed_metadata: Some("x".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn request_v0_known_bytes() {
        let frame = encode_request(&request(), 0, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 41, // size
            0, 8, 0, 0, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 8, v0, correlation 7, "kc"
            0, 1, b'g', // group "g" (no generation or member in v0)
            0, 0, 0, 1, 0, 1, b't', // topics: "t"
            0, 0, 0, 1, 0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, 0, 0, 0, 42, // committed offset 42
            0, 1, b'x', // metadata "x"
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v1_known_bytes() {
        let frame = encode_request(&request(), 1, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 56, // size
            0, 8, 0, 1, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 8, v1, correlation 7, "kc"
            0, 1, b'g', // group "g"
            0, 0, 0, 3, // generation 3
            0, 1, b'm', // member "m"
            0, 0, 0, 1, 0, 1, b't', // topics: "t"
            0, 0, 0, 1, 0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, 0, 0, 0, 42, // committed offset 42
            0, 0, 0, 0, 0, 0, 0, 7, // commit timestamp 7 (v1 only)
            0, 1, b'x', // metadata "x"
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v2_known_bytes() {
        let frame = encode_request(&request(), 2, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 56, // size
            0, 8, 0, 2, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 8, v2, correlation 7, "kc"
            0, 1, b'g', // group "g"
            0, 0, 0, 3, // generation 3
            0, 1, b'm', // member "m"
            0, 0, 0, 0, 0, 0, 0x03, 0xe8, // retention 1000 (v2-4)
            0, 0, 0, 1, 0, 1, b't', // topics: "t"
            0, 0, 0, 1, 0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, 0, 0, 0, 42, // committed offset 42 (no timestamp from v2)
            0, 1, b'x', // metadata "x"
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v8_known_bytes() {
        let frame = encode_request(&request(), 8, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 47, // size
            0, 8, 0, 8, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            2, b'g', // group "g"
            0, 0, 0, 3, // generation 3
            2, b'm', // member "m"
            0, // group instance id: null (v7+)
            2, 2, b't', // topics: "t"
            2, 0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, 0, 0, 0, 42, // committed offset 42
            0, 0, 0, 5, // leader epoch 5 (v6+)
            2, b'x', // metadata "x"
            0, 0, 0, // partition, topic and request tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v8_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, 0, // correlation id, header tags
            0, 0, 0, 0, // throttle 0
            2, 2, b't', // topics: "t"
            3, 0, 0, 0, 0, 0, 0, 0, // partitions: 0, error 0, tags
            0, 0, 0, 1, 0, 22, 0, // 1, error 22 (ILLEGAL_GENERATION), tags
            0, 0, // topic and response tags
        ]);
        let (_, resp) = decode_response::<OffsetCommitRequest>(&body, 8).unwrap();
        crate::protocol::testing::assert_reencodes::<OffsetCommitRequest>(&body, 8);
        let p = &resp.topics[0].partitions;
        assert_eq!((p[0].partition_index, p[0].error_code), (0, 0));
        assert_eq!((p[1].partition_index, p[1].error_code), (1, 22));
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<OffsetCommitRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<OffsetCommitRequest>(8);
    }
}
