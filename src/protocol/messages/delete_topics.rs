//! DeleteTopics (key 20), versions 0–6: delete topics. Flexible from v4.
//!
//! Versions 0–5 name the topics in `topic_names`; v6 lists them in `topics`, each by name
//! or by topic id.

use crate::protocol::{api_key, Request, Uuid};
use crate::wire_struct;

wire_struct! {
    pub struct DeleteTopicsRequest {
        /// v6+: the topics to delete, each by name or id.
        pub topics: Vec<DeleteTopicState> [6..=32767],
        /// v0–5: the names of the topics to delete.
        pub topic_names: Vec<String> [0..=5],
        pub timeout_ms: i32 [0..=32767],
    }
}

wire_struct! {
    pub struct DeleteTopicState {
        /// The topic name, or `None` to delete by `topic_id`.
        pub name: Option<String> [6..=32767],
        pub topic_id: Uuid [6..=32767],
    }
}

wire_struct! {
    pub struct DeleteTopicsResponse {
        pub throttle_time_ms: i32 [1..=32767],
        pub responses: Vec<DeletableTopicResult> [0..=32767],
    }
}

wire_struct! {
    pub struct DeletableTopicResult {
        /// The topic name; `None` only in v6+ for a topic deleted by an unknown id.
        pub name: Option<String> [0..=32767] = Some(String::new()),
        pub topic_id: Uuid [6..=32767],
        pub error_code: i16 [0..=32767],
        pub error_message: Option<String> [5..=32767],
    }
}

impl Request for DeleteTopicsRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::DELETE_TOPICS;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 6;
    const FLEXIBLE_MIN: i16 = 4;
    type Response = DeleteTopicsResponse;

    fn server_wait(&self) -> std::time::Duration {
        crate::protocol::millis(self.timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    fn by_names() -> DeleteTopicsRequest {
        DeleteTopicsRequest {
            topic_names: vec!["a".into(), "b".into()],
            timeout_ms: 30_000,
            ..Default::default()
        }
    }

    fn uuid() -> Uuid {
        let mut b = [0u8; 16];
        for (i, x) in b.iter_mut().enumerate() {
            *x = i as u8 + 1;
        }
        Uuid(b)
    }

    #[test]
    fn request_v1_known_bytes() {
        let frame = encode_request(&by_names(), 1, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 26, // size
            0, 20, 0, 1, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 20, v1, correlation 7, "kc"
            0, 0, 0, 2, 0, 1, b'a', 0, 1, b'b', // topic names
            0, 0, 0x75, 0x30, // timeout 30000
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v4_known_bytes() {
        let frame = encode_request(&by_names(), 4, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 23, // size
            0, 20, 0, 4, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            3, 2, b'a', 2, b'b', // topic names (compact)
            0, 0, 0x75, 0x30, 0, // timeout 30000, request tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v6_known_bytes() {
        let req = DeleteTopicsRequest {
            topics: vec![
                DeleteTopicState {
                    name: Some("a".into()),
                    ..Default::default()
                },
                DeleteTopicState {
                    name: None,
                    topic_id: uuid(),
                    ..Default::default()
                },
            ],
            // Not encoded in v6.
            topic_names: vec!["ignored".into()],
            timeout_ms: 30_000,
            ..Default::default()
        };
        let frame = encode_request(&req, 6, 7, Some("kc"));
        let mut want = vec![0, 0, 0, 56, 0, 20, 0, 6, 0, 0, 0, 7, 0, 2, b'k', b'c', 0];
        want.extend_from_slice(&[3, 2, b'a']); // topics: 2; "a"
        want.extend_from_slice(&[0; 16]); // nil topic id
        want.extend_from_slice(&[0, 0]); // tags; name null
        want.extend(1..=16u8); // topic id
        want.extend_from_slice(&[0, 0, 0, 0x75, 0x30, 0]); // tags, timeout, request tags
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v1_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 1, // correlation id
            0, 0, 0, 5, // throttle 5
            0, 0, 0, 1, 0, 1, b'a', 0, 0, // responses: "a", error 0
        ]);
        let (cid, resp) = decode_response::<DeleteTopicsRequest>(&body, 1).unwrap();
        crate::protocol::testing::assert_reencodes::<DeleteTopicsRequest>(&body, 1);
        assert_eq!(cid, 1);
        assert_eq!(resp.throttle_time_ms, 5);
        assert_eq!(resp.responses[0].name.as_deref(), Some("a"));
        assert_eq!(resp.responses[0].error_code, 0);
        assert_eq!(resp.responses[0].error_message, None);
    }

    #[test]
    fn response_v6_known_bytes_with_unknown_tag() {
        let mut body = vec![0, 0, 0, 2, 0, 0, 0, 0, 0, 3, 0]; // header, throttle, 2 results, null name
        body.extend(1..=16u8); // topic id
        body.extend_from_slice(&[0, 100, 0, 0]); // UNKNOWN_TOPIC_ID, message null, tags
        body.extend_from_slice(&[2, b'b']);
        body.extend_from_slice(&[0; 16]);
        body.extend_from_slice(&[0, 0, 0, 1, 9, 0]); // error 0, message null, tag 9 (empty)
        body.push(0); // response tags
        let body = Bytes::from(body);
        let (cid, resp) = decode_response::<DeleteTopicsRequest>(&body, 6).unwrap();
        crate::protocol::testing::assert_reencodes::<DeleteTopicsRequest>(&body, 6);
        assert_eq!(cid, 2);
        let r = &resp.responses;
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].name, None);
        assert_eq!(r[0].topic_id, uuid());
        assert_eq!(r[0].error_code, 100);
        assert_eq!(r[1].name.as_deref(), Some("b"));
        assert_eq!(r[1].tagged_fields.0.len(), 1);
        assert_eq!(r[1].tagged_fields.0[0].tag, 9);
        assert!(r[1].tagged_fields.0[0].data.is_empty());
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<DeleteTopicsRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<DeleteTopicsRequest>(8);
    }
}
