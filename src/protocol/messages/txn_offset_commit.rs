//! TxnOffsetCommit (key 28), versions 0–5: a transactional producer commits a consumer
//! group's offsets as part of its transaction, to the group's coordinator. Flexible from
//! v3; v3 adds the member's generation, id and instance id (KIP-447: the coordinator fences
//! a zombie member); v5 is transaction protocol v2 (the group joins the transaction
//! implicitly, without AddOffsetsToTxn).

use crate::protocol::{api_key, Request};
use crate::wire_struct;

wire_struct! {
    pub struct TxnOffsetCommitRequest {
        pub transactional_id: String [0..=32767],
        pub group_id: String [0..=32767],
        pub producer_id: i64 [0..=32767],
        pub producer_epoch: i16 [0..=32767],
        /// v3+: the member's generation, or -1.
        pub generation_id: i32 [3..=32767] = -1,
        /// v3+: the member id, or empty.
        pub member_id: String [3..=32767],
        /// v3+: the static member's `group.instance.id`.
        pub group_instance_id: Option<String> [3..=32767],
        pub topics: Vec<TxnOffsetCommitRequestTopic> [0..=32767],
    }
}

wire_struct! {
    pub struct TxnOffsetCommitRequestTopic {
        pub name: String [0..=32767],
        pub partitions: Vec<TxnOffsetCommitRequestPartition> [0..=32767],
    }
}

wire_struct! {
    pub struct TxnOffsetCommitRequestPartition {
        pub partition_index: i32 [0..=32767],
        pub committed_offset: i64 [0..=32767],
        /// v2+: the leader epoch of the last record consumed, or -1.
        pub committed_leader_epoch: i32 [2..=32767] = -1,
        pub committed_metadata: Option<String> [0..=32767],
    }
}

wire_struct! {
    pub struct TxnOffsetCommitResponse {
        pub throttle_time_ms: i32 [0..=32767],
        pub topics: Vec<TxnOffsetCommitResponseTopic> [0..=32767],
    }
}

wire_struct! {
    pub struct TxnOffsetCommitResponseTopic {
        pub name: String [0..=32767],
        pub partitions: Vec<TxnOffsetCommitResponsePartition> [0..=32767],
    }
}

wire_struct! {
    pub struct TxnOffsetCommitResponsePartition {
        pub partition_index: i32 [0..=32767],
        pub error_code: i16 [0..=32767],
    }
}

impl TxnOffsetCommitResponse {
    /// The first partition error of the answer, with its topic and partition.
    pub fn first_error(&self) -> Option<(&str, i32, i16)> {
        self.topics.iter().find_map(|t| {
            t.partitions
                .iter()
                .find(|p| p.error_code != 0)
                .map(|p| (t.name.as_str(), p.partition_index, p.error_code))
        })
    }
}

impl Request for TxnOffsetCommitRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::TXN_OFFSET_COMMIT;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;
    const FLEXIBLE_MIN: i16 = 3;
    type Response = TxnOffsetCommitResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    fn request() -> TxnOffsetCommitRequest {
        TxnOffsetCommitRequest {
            transactional_id: "tx".into(),
            group_id: "g".into(),
            producer_id: 5,
            producer_epoch: 1,
            generation_id: 3,
            member_id: "m".into(),
            group_instance_id: None,
            topics: vec![TxnOffsetCommitRequestTopic {
                name: "t".into(),
                partitions: vec![TxnOffsetCommitRequestPartition {
                    partition_index: 1,
                    committed_offset: 42,
                    committed_leader_epoch: 4,
                    committed_metadata: None,
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
            0, 0, 0, 54, // size
            0, 28, 0, 0, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 28, v0, correlation 7, "kc"
            0, 2, b't', b'x', // transactional id
            0, 1, b'g', // group
            0, 0, 0, 0, 0, 0, 0, 5, // producer id
            0, 1, // epoch
            0, 0, 0, 1, 0, 1, b't', // 1 topic "t"
            0, 0, 0, 1, // 1 partition
            0, 0, 0, 1, // partition 1
            0, 0, 0, 0, 0, 0, 0, 42, // offset
            0xff, 0xff, // metadata null
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v5_known_bytes() {
        let frame = encode_request(&request(), 5, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 59, // size
            0, 28, 0, 5, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            3, b't', b'x', // transactional id
            2, b'g', // group
            0, 0, 0, 0, 0, 0, 0, 5, // producer id
            0, 1, // epoch
            0, 0, 0, 3, // generation
            2, b'm', // member id
            0, // group instance id null
            2, 2, b't', // 1 topic "t"
            2, // 1 partition
            0, 0, 0, 1, // partition 1
            0, 0, 0, 0, 0, 0, 0, 42, // offset
            0, 0, 0, 4, // leader epoch
            0, // metadata null
            0, // partition tags
            0, // topic tags
            0, // tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v3_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, 0, // correlation id, header tags
            0, 0, 0, 0, // throttle
            2, 2, b't', // 1 topic "t"
            2, 0, 0, 0, 1, 0, 22, 0, // partition 1, ILLEGAL_GENERATION
            0, // topic tags
            0, // tags
        ]);
        let (_, resp) = decode_response::<TxnOffsetCommitRequest>(&body, 3).unwrap();
        crate::protocol::testing::assert_reencodes::<TxnOffsetCommitRequest>(&body, 3);
        assert_eq!(resp.first_error(), Some(("t", 1, 22)));
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<TxnOffsetCommitRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<TxnOffsetCommitRequest>(8);
    }
}
