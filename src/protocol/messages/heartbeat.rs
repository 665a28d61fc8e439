//! Heartbeat (key 12), versions 0–4: a classic group member tells the coordinator it is
//! alive; the answer says whether the group is rebalancing (REBALANCE_IN_PROGRESS, 27).
//! Flexible from v4. Kafka 4.x brokers accept v0–4.

use crate::protocol::{api_key, Request};
use crate::wire_struct;

wire_struct! {
    pub struct HeartbeatRequest {
        pub group_id: String [0..=32767],
        pub generation_id: i32 [0..=32767],
        pub member_id: String [0..=32767],
        /// v3+: the static member's `group.instance.id`, or `None`.
        pub group_instance_id: Option<String> [3..=32767],
    }
}

wire_struct! {
    pub struct HeartbeatResponse {
        pub throttle_time_ms: i32 [1..=32767],
        pub error_code: i16 [0..=32767],
    }
}

impl Request for HeartbeatRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::HEARTBEAT;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 4;
    const FLEXIBLE_MIN: i16 = 4;
    type Response = HeartbeatResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    fn request() -> HeartbeatRequest {
        HeartbeatRequest {
            group_id: "g".into(),
            generation_id: 2,
            member_id: "m".into(),
            group_instance_id: Some("i".into()),
            ..Default::default()
        }
    }

    #[test]
    fn request_v3_known_bytes() {
        let frame = encode_request(&request(), 3, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 25, // size
            0, 12, 0, 3, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 12, v3, correlation 7, "kc"
            0, 1, b'g', // group "g"
            0, 0, 0, 2, // generation 2
            0, 1, b'm', // member "m"
            0, 1, b'i', // group instance id "i"
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v4_known_bytes() {
        let frame = encode_request(&request(), 4, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 24, // size
            0, 12, 0, 4, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            2, b'g', // group "g"
            0, 0, 0, 2, // generation 2
            2, b'm', // member "m"
            2, b'i', // group instance id "i"
            0, // tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v4_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, 0, // correlation id, header tags
            0, 0, 0, 5, // throttle 5
            0, 27, // error 27 (REBALANCE_IN_PROGRESS)
            0, // tags
        ]);
        let (_, resp) = decode_response::<HeartbeatRequest>(&body, 4).unwrap();
        crate::protocol::testing::assert_reencodes::<HeartbeatRequest>(&body, 4);
        assert_eq!((resp.throttle_time_ms, resp.error_code), (5, 27));
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<HeartbeatRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<HeartbeatRequest>(8);
    }
}
