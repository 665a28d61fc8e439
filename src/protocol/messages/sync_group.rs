//! SyncGroup (key 14), versions 0–5: after a JoinGroup, the leader sends every member's
//! assignment and each member receives its own. Flexible from v4.
//!
//! Followers send no assignments. For a consumer group an assignment is a
//! [`ConsumerProtocolAssignment`](super::ConsumerProtocolAssignment). From v5 the member
//! names the protocol type and name it joined with, and the coordinator refuses the
//! request if they differ from the group's (KIP-559). Kafka 4.x brokers accept v0–5.

use crate::protocol::{api_key, Request};
use crate::wire_struct;
use bytes::Bytes;

wire_struct! {
    pub struct SyncGroupRequest {
        pub group_id: String [0..=32767],
        pub generation_id: i32 [0..=32767],
        pub member_id: String [0..=32767],
        /// v3+: the static member's `group.instance.id`, or `None`.
        pub group_instance_id: Option<String> [3..=32767],
        /// v5+: the protocol type the member joined with ("consumer").
        pub protocol_type: Option<String> [5..=32767],
        /// v5+: the protocol the JoinGroup answer chose.
        pub protocol_name: Option<String> [5..=32767],
        /// The leader's assignment of every member; empty from followers.
        pub assignments: Vec<SyncGroupRequestAssignment> [0..=32767],
    }
}

wire_struct! {
    pub struct SyncGroupRequestAssignment {
        pub member_id: String [0..=32767],
        pub assignment: Bytes [0..=32767],
    }
}

wire_struct! {
    pub struct SyncGroupResponse {
        pub throttle_time_ms: i32 [1..=32767],
        pub error_code: i16 [0..=32767],
        /// v5+.
        pub protocol_type: Option<String> [5..=32767],
        /// v5+.
        pub protocol_name: Option<String> [5..=32767],
        /// This member's assignment.
        pub assignment: Bytes [0..=32767],
    }
}

impl Request for SyncGroupRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::SYNC_GROUP;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;
    const FLEXIBLE_MIN: i16 = 4;
    type Response = SyncGroupResponse;

    fn size_hint(&self) -> usize {
        64 + self
            .assignments
            .iter()
            .map(|a| a.member_id.len() + a.assignment.len() + 8)
            .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};

    fn request() -> SyncGroupRequest {
        SyncGroupRequest {
            group_id: "g".into(),
            generation_id: 1,
            member_id: "m".into(),
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: vec![SyncGroupRequestAssignment {
                member_id: "m".into(),
                assignment: Bytes::from_static(&[0, 3]),
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
            0, 0, 0, 37, // size
            0, 14, 0, 3, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 14, v3, correlation 7, "kc"
            0, 1, b'g', // group "g"
            0, 0, 0, 1, // generation 1
            0, 1, b'm', // member "m"
            0xff, 0xff, // group instance id: null
            // no protocol type or name before v5
            0, 0, 0, 1, // assignments: 1
            0, 1, b'm', // member "m"
            0, 0, 0, 2, 0, 3, // assignment: 2 bytes
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v5_known_bytes() {
        let frame = encode_request(&request(), 5, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 45, // size
            0, 14, 0, 5, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            2, b'g', // group "g"
            0, 0, 0, 1, // generation 1
            2, b'm', // member "m"
            0, // group instance id: null
            9, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r', // protocol type "consumer"
            6, b'r', b'a', b'n', b'g', b'e', // protocol name "range"
            2, // assignments: 1
            2, b'm', 3, 0, 3, 0, // member "m", assignment: 2 bytes, tags
            0, // tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v0_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, // correlation id
            0, 27, // error 27 (REBALANCE_IN_PROGRESS)
            0, 0, 0, 0, // assignment: empty
        ]);
        let (_, resp) = decode_response::<SyncGroupRequest>(&body, 0).unwrap();
        crate::protocol::testing::assert_reencodes::<SyncGroupRequest>(&body, 0);
        assert_eq!(resp.error_code, 27);
        assert!(resp.assignment.is_empty());
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<SyncGroupRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<SyncGroupRequest>(8);
    }
}
