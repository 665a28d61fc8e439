//! FindCoordinator (key 10), versions 0–6: which broker coordinates a consumer group or a
//! transactional id. Flexible from v3.
//!
//! v0–3 ask for one `key` and answer with one coordinator at the top level; v4+ (KIP-699)
//! batch the keys in `coordinator_keys` and answer with one entry per key in
//! `coordinators`. [`FindCoordinatorRequest::single`] fills both forms, so the request
//! suits whichever version the connection picks, and
//! [`FindCoordinatorResponse::coordinator_for`] reads the answer of either form.
//!
//! Kafka 4.x brokers accept v0–6 (v5 adds the TRANSACTION_ABORTABLE error, v6 share
//! group keys).

use crate::protocol::{api_key, Request};
use crate::wire_struct;

/// Values of [`FindCoordinatorRequest::key_type`].
pub mod coordinator_key_type {
    /// A consumer group id.
    pub const GROUP: i8 = 0;
    /// A transactional id.
    pub const TRANSACTION: i8 = 1;
    /// A share group partition, "groupId:topicId:partition" (v6+, KIP-932).
    pub const SHARE: i8 = 2;
}

wire_struct! {
    pub struct FindCoordinatorRequest {
        /// v0–3: the coordinator key (a group id or transactional id).
        pub key: String [0..=3],
        /// v1+: one of [`coordinator_key_type`]; v0 only knows groups.
        pub key_type: i8 [1..=32767],
        /// v4+: the coordinator keys.
        pub coordinator_keys: Vec<String> [4..=32767],
    }
}

wire_struct! {
    pub struct FindCoordinatorResponse {
        pub throttle_time_ms: i32 [1..=32767],
        /// v0–3.
        pub error_code: i16 [0..=3],
        /// v1–3.
        pub error_message: Option<String> [1..=3],
        /// v0–3: the coordinator's broker id.
        pub node_id: i32 [0..=3],
        /// v0–3.
        pub host: String [0..=3],
        /// v0–3.
        pub port: i32 [0..=3],
        /// v4+: one result per key asked for.
        pub coordinators: Vec<Coordinator> [4..=32767],
    }
}

wire_struct! {
    /// One key's coordinator (v4+).
    pub struct Coordinator {
        pub key: String [4..=32767],
        pub node_id: i32 [4..=32767],
        pub host: String [4..=32767],
        pub port: i32 [4..=32767],
        pub error_code: i16 [4..=32767],
        pub error_message: Option<String> [4..=32767],
    }
}

impl FindCoordinatorRequest {
    /// A request for the coordinator of one `key` of `key_type`, in the form of every
    /// version (`key` for v0–3, `coordinator_keys` for v4+).
    pub fn single(key_type: i8, key: &str) -> Self {
        FindCoordinatorRequest {
            key: key.to_owned(),
            key_type,
            coordinator_keys: vec![key.to_owned()],
            ..Default::default()
        }
    }
}

impl FindCoordinatorResponse {
    /// The coordinator of `key`: its entry in `coordinators` (v4+), or the top-level
    /// answer when `coordinators` is empty (v0–3, which answer for the one key asked).
    pub fn coordinator_for(&self, key: &str) -> Option<Coordinator> {
        if self.coordinators.is_empty() {
            return Some(Coordinator {
                key: key.to_owned(),
                node_id: self.node_id,
                host: self.host.clone(),
                port: self.port,
                error_code: self.error_code,
                error_message: self.error_message.clone(),
                ..Default::default()
            });
        }
        self.coordinators.iter().find(|c| c.key == key).cloned()
    }
}

impl Request for FindCoordinatorRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::FIND_COORDINATOR;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 6;
    const FLEXIBLE_MIN: i16 = 3;
    type Response = FindCoordinatorResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    #[test]
    fn request_v1_known_bytes() {
        let req = FindCoordinatorRequest::single(coordinator_key_type::TRANSACTION, "g1");
        let frame = encode_request(&req, 1, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 17, // size
            0, 10, 0, 1, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 10, v1, correlation 7, "kc"
            0, 2, b'g', b'1', // key "g1"
            1, // key type: transaction
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v4_known_bytes() {
        let req = FindCoordinatorRequest::single(coordinator_key_type::GROUP, "g1");
        let frame = encode_request(&req, 4, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 19, // size
            0, 10, 0, 4, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            0, // key type: group (no `key` from v4)
            2, 3, b'g', b'1', // coordinator keys: ["g1"] (compact)
            0, // tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v2_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, // correlation id
            0, 0, 0, 0, // throttle 0
            0, 0, // error 0
            0xff, 0xff, // error message: null
            0, 0, 0, 1, // node 1
            0, 1, b'h', // host "h"
            0, 0, 0x23, 0x84, // port 9092
        ]);
        let (cid, resp) = decode_response::<FindCoordinatorRequest>(&body, 2).unwrap();
        crate::protocol::testing::assert_reencodes::<FindCoordinatorRequest>(&body, 2);
        assert_eq!(cid, 7);
        let c = resp.coordinator_for("g").unwrap();
        assert_eq!((c.key.as_str(), c.node_id, c.port), ("g", 1, 9092));
        assert_eq!((c.host.as_str(), c.error_code), ("h", 0));
    }

    #[test]
    fn response_v4_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, 0, // correlation id, header tags
            0, 0, 0, 0, // throttle 0
            3, // coordinators: 2
            2, b'a', 0, 0, 0, 1, 2, b'h', 0, 0, 0x23, 0x84, // "a": node 1, "h", 9092
            0, 0, 0, 0, // error 0, message null, tags
            2, b'b', 0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff, // "b": node -1, "", -1
            0, 15, 2, b'x', 0, // error 15 (COORDINATOR_NOT_AVAILABLE), "x", tags
            0, // tags
        ]);
        let (_, resp) = decode_response::<FindCoordinatorRequest>(&body, 4).unwrap();
        crate::protocol::testing::assert_reencodes::<FindCoordinatorRequest>(&body, 4);
        let a = resp.coordinator_for("a").unwrap();
        assert_eq!(
            (a.node_id, a.host.as_str(), a.port, a.error_code),
            (1, "h", 9092, 0)
        );
        let b = resp.coordinator_for("b").unwrap();
        assert_eq!((b.node_id, b.error_code), (-1, 15));
        assert_eq!(b.error_message.as_deref(), Some("x"));
        assert_eq!(resp.coordinator_for("c"), None);
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<FindCoordinatorRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<FindCoordinatorRequest>(8);
    }
}
