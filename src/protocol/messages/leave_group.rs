//! LeaveGroup (key 13), versions 0–5: members leave a classic group, which rebalances
//! at once instead of after their session timeout. Flexible from v4.
//!
//! v0–2 name one `member_id`; v3+ (KIP-345) take a batch of `members`, each with its
//! `group_instance_id` (so an operator can remove static members), and answer per member;
//! v5 adds a reason per member (KIP-800). [`LeaveGroupRequest::single`] fills both forms.
//! Kafka 4.x brokers accept v0–5.

use crate::protocol::{api_key, Request};
use crate::wire_struct;

wire_struct! {
    pub struct LeaveGroupRequest {
        pub group_id: String [0..=32767],
        /// v0–2: the member leaving.
        pub member_id: String [0..=2],
        /// v3+: the members leaving.
        pub members: Vec<LeaveGroupMember> [3..=32767],
    }
}

wire_struct! {
    /// Kafka's `MemberIdentity` of the LeaveGroup request (v3+).
    pub struct LeaveGroupMember {
        pub member_id: String [3..=32767],
        pub group_instance_id: Option<String> [3..=32767],
        /// v5+: why the member leaves.
        pub reason: Option<String> [5..=32767],
    }
}

wire_struct! {
    pub struct LeaveGroupResponse {
        pub throttle_time_ms: i32 [1..=32767],
        pub error_code: i16 [0..=32767],
        /// v3+: one answer per member.
        pub members: Vec<LeaveGroupMemberResponse> [3..=32767],
    }
}

wire_struct! {
    /// Kafka's `MemberResponse` of the LeaveGroup response (v3+).
    pub struct LeaveGroupMemberResponse {
        pub member_id: String [3..=32767],
        pub group_instance_id: Option<String> [3..=32767],
        pub error_code: i16 [3..=32767],
    }
}

impl LeaveGroupRequest {
    /// One member leaving `group_id`, in the form of every version.
    pub fn single(
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        reason: Option<&str>,
    ) -> Self {
        LeaveGroupRequest {
            group_id: group_id.to_owned(),
            member_id: member_id.to_owned(),
            members: vec![LeaveGroupMember {
                member_id: member_id.to_owned(),
                group_instance_id: group_instance_id.map(str::to_owned),
                reason: reason.map(str::to_owned),
                ..Default::default()
            }],
            ..Default::default()
        }
    }
}

impl Request for LeaveGroupRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::LEAVE_GROUP;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;
    const FLEXIBLE_MIN: i16 = 4;
    type Response = LeaveGroupResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    #[test]
    fn request_v2_known_bytes() {
        let req = LeaveGroupRequest::single("g", "m", None, Some("bye"));
        let frame = encode_request(&req, 2, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 18, // size
            0, 13, 0, 2, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 13, v2, correlation 7, "kc"
            0, 1, b'g', // group "g"
            0, 1, b'm', // member "m"
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v3_known_bytes() {
        let req = LeaveGroupRequest::single("g", "m", Some("i"), Some("bye"));
        let frame = encode_request(&req, 3, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 25, // size
            0, 13, 0, 3, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 13, v3, correlation 7, "kc"
            0, 1, b'g', // group "g"
            0, 0, 0, 1, // members: 1
            0, 1, b'm', // member "m"
            0, 1, b'i', // group instance id "i"
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v5_known_bytes() {
        let req = LeaveGroupRequest::single("g", "m", None, Some("bye"));
        let frame = encode_request(&req, 5, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 25, // size
            0, 13, 0, 5, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            2, b'g', // group "g"
            2, // members: 1
            2, b'm', // member "m"
            0, // group instance id: null
            4, b'b', b'y', b'e', // reason "bye"
            0, // member tags
            0, // tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v4_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, 0, // correlation id, header tags
            0, 0, 0, 0, 0, 0, // throttle 0, error 0
            2, // members: 1
            2, b'm', 0, 0, 25, 0, // "m", instance id null, error 25 (UNKNOWN_MEMBER_ID), tags
            0, // tags
        ]);
        let (_, resp) = decode_response::<LeaveGroupRequest>(&body, 4).unwrap();
        crate::protocol::testing::assert_reencodes::<LeaveGroupRequest>(&body, 4);
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.members[0].member_id, "m");
        assert_eq!(resp.members[0].error_code, 25);
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<LeaveGroupRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<LeaveGroupRequest>(8);
    }
}
