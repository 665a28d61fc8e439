//! JoinGroup (key 11), versions 0–9: join a classic consumer group, or rejoin it for a
//! rebalance. Flexible from v6.
//!
//! From v4 a new member's first join (with an empty `member_id`) is refused with
//! MEMBER_ID_REQUIRED (79), whose answer carries the member id to join with again. The
//! leader's answer lists every member with its protocol metadata (for a consumer, a
//! [`ConsumerProtocolSubscription`](super::ConsumerProtocolSubscription)). From v9 the
//! coordinator may tell a static leader that rejoins without changes to skip the
//! assignment (`skip_assignment`, KIP-814): the group's assignment stands.
//!
//! The broker holds a JoinGroup until the group's members have rejoined, at most the
//! rebalance timeout: [`Request::server_wait`] says so. Kafka 4.x brokers accept v0–9.

use crate::protocol::{api_key, Request};
use crate::wire_struct;
use bytes::Bytes;

wire_struct! {
    pub struct JoinGroupRequest {
        pub group_id: String [0..=32767],
        /// Without a heartbeat for this long the coordinator drops the member.
        pub session_timeout_ms: i32 [0..=32767],
        /// v1+: how long the coordinator waits for each member to rejoin; v0 uses the
        /// session timeout.
        pub rebalance_timeout_ms: i32 [1..=32767] = -1,
        /// Empty for a new member.
        pub member_id: String [0..=32767],
        /// v5+: the static member's `group.instance.id`, or `None`.
        pub group_instance_id: Option<String> [5..=32767],
        /// "consumer" for a consumer group.
        pub protocol_type: String [0..=32767],
        /// The protocols (assignors) this member supports, in order of preference.
        pub protocols: Vec<JoinGroupRequestProtocol> [0..=32767],
        /// v8+: why the member (re)joins (KIP-800).
        pub reason: Option<String> [8..=32767],
    }
}

wire_struct! {
    pub struct JoinGroupRequestProtocol {
        /// The protocol (assignor) name, e.g. "range".
        pub name: String [0..=32767],
        /// The protocol's metadata: for a consumer, a subscription.
        pub metadata: Bytes [0..=32767],
    }
}

wire_struct! {
    pub struct JoinGroupResponse {
        pub throttle_time_ms: i32 [2..=32767],
        pub error_code: i16 [0..=32767],
        pub generation_id: i32 [0..=32767] = -1,
        /// v7+: the group's protocol type (KIP-559).
        pub protocol_type: Option<String> [7..=32767],
        /// The protocol the coordinator chose; may be `None` from v7.
        pub protocol_name: Option<String> [0..=32767] = Some(String::new()),
        /// The leader's member id.
        pub leader: String [0..=32767],
        /// v9+: the leader must not run the assignment.
        pub skip_assignment: bool [9..=32767],
        /// This member's id.
        pub member_id: String [0..=32767],
        /// The members with their metadata: filled in the leader's answer only.
        pub members: Vec<JoinGroupResponseMember> [0..=32767],
    }
}

wire_struct! {
    pub struct JoinGroupResponseMember {
        pub member_id: String [0..=32767],
        /// v5+.
        pub group_instance_id: Option<String> [5..=32767],
        pub metadata: Bytes [0..=32767],
    }
}

impl Request for JoinGroupRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::JOIN_GROUP;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 9;
    const FLEXIBLE_MIN: i16 = 6;
    type Response = JoinGroupResponse;

    /// The rebalance timeout (the session timeout if none is set): the coordinator
    /// answers once the members have rejoined or this time has passed.
    fn server_wait(&self) -> std::time::Duration {
        let ms = if self.rebalance_timeout_ms >= 0 {
            self.rebalance_timeout_ms
        } else {
            self.session_timeout_ms
        };
        crate::protocol::millis(ms)
    }

    fn size_hint(&self) -> usize {
        64 + self
            .protocols
            .iter()
            .map(|p| p.name.len() + p.metadata.len() + 8)
            .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};

    fn request() -> JoinGroupRequest {
        JoinGroupRequest {
            group_id: "g".into(),
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: 300_000,
            member_id: "m".into(),
            protocol_type: "consumer".into(),
            protocols: vec![JoinGroupRequestProtocol {
                name: "range".into(),
                metadata: Bytes::from_static(&[0, 0, 0, 0]),
                ..Default::default()
            }],
            reason: Some("r".into()),
            ..Default::default()
        }
    }

    #[test]
    fn request_v1_known_bytes() {
        let frame = encode_request(&request(), 1, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 55, // size
            0, 11, 0, 1, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 11, v1, correlation 7, "kc"
            0, 1, b'g', // group "g"
            0, 0, 0xaf, 0xc8, // session timeout 45000
            0, 4, 0x93, 0xe0, // rebalance timeout 300000
            0, 1, b'm', // member "m"
            0, 8, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r', // protocol type "consumer"
            0, 0, 0, 1, // protocols: 1
            0, 5, b'r', b'a', b'n', b'g', b'e', // "range"
            0, 0, 0, 4, 0, 0, 0, 0, // metadata: 4 bytes
            // no group instance id (v5+), no reason (v8+)
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v8_known_bytes() {
        let frame = encode_request(&request(), 8, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 51, // size
            0, 11, 0, 8, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            2, b'g', // group "g"
            0, 0, 0xaf, 0xc8, // session timeout 45000
            0, 4, 0x93, 0xe0, // rebalance timeout 300000
            2, b'm', // member "m"
            0, // group instance id: null
            9, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r', // protocol type "consumer"
            2, // protocols: 1
            6, b'r', b'a', b'n', b'g', b'e', // "range"
            5, 0, 0, 0, 0, 0, // metadata: 4 bytes, protocol tags
            2, b'r', // reason "r"
            0, // tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v9_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, 0, // correlation id, header tags
            0, 0, 0, 0, // throttle 0
            0, 0, // error 0
            0, 0, 0, 3, // generation 3
            9, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r', // protocol type "consumer"
            6, b'r', b'a', b'n', b'g', b'e', // protocol name "range"
            2, b'a', // leader "a"
            0, // skip assignment: false
            2, b'a', // member id "a"
            2, // members: 1
            2, b'a', 0, 3, 0, 1, 0, // "a", instance id null, metadata [0, 1], tags
            0, // tags
        ]);
        let (cid, resp) = decode_response::<JoinGroupRequest>(&body, 9).unwrap();
        crate::protocol::testing::assert_reencodes::<JoinGroupRequest>(&body, 9);
        assert_eq!(cid, 7);
        assert_eq!((resp.error_code, resp.generation_id), (0, 3));
        assert_eq!(resp.protocol_type.as_deref(), Some("consumer"));
        assert_eq!(resp.protocol_name.as_deref(), Some("range"));
        assert_eq!((resp.leader.as_str(), resp.member_id.as_str()), ("a", "a"));
        assert!(!resp.skip_assignment);
        assert_eq!(resp.members[0].group_instance_id, None);
        assert_eq!(&resp.members[0].metadata[..], &[0, 1]);
    }

    #[test]
    fn server_wait_is_the_rebalance_timeout() {
        let req = request();
        assert_eq!(req.server_wait().as_millis(), 300_000);
        let v0 = JoinGroupRequest {
            rebalance_timeout_ms: -1,
            ..req
        };
        assert_eq!(v0.server_wait().as_millis(), 45_000);
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<JoinGroupRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<JoinGroupRequest>(8);
    }
}
