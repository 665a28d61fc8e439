//! CreateTopics (key 19), versions 0–7: create topics, optionally with a manual replica
//! assignment and configs. Flexible from v5; v5+ responses describe the created topic, v7+
//! with its id. The response's tagged `TopicConfigErrorCode` (tag 0) stays in
//! `tagged_fields`.

use crate::protocol::{api_key, Request, Uuid};
use crate::wire_struct;

wire_struct! {
    pub struct CreateTopicsRequest {
        pub topics: Vec<CreatableTopic> [0..=32767],
        pub timeout_ms: i32 [0..=32767] = 60_000,
        /// Check that the topics could be created, but create nothing.
        pub validate_only: bool [1..=32767],
    }
}

wire_struct! {
    pub struct CreatableTopic {
        pub name: String [0..=32767],
        /// -1 with a manual assignment, or (v4+) for the broker default.
        pub num_partitions: i32 [0..=32767],
        /// -1 with a manual assignment, or (v4+) for the broker default.
        pub replication_factor: i16 [0..=32767],
        /// The manual assignment, or empty for automatic assignment.
        pub assignments: Vec<CreatableReplicaAssignment> [0..=32767],
        pub configs: Vec<CreatableTopicConfig> [0..=32767],
    }
}

wire_struct! {
    pub struct CreatableReplicaAssignment {
        pub partition_index: i32 [0..=32767],
        pub broker_ids: Vec<i32> [0..=32767],
    }
}

wire_struct! {
    pub struct CreatableTopicConfig {
        pub name: String [0..=32767],
        pub value: Option<String> [0..=32767],
    }
}

wire_struct! {
    pub struct CreateTopicsResponse {
        pub throttle_time_ms: i32 [2..=32767],
        pub topics: Vec<CreatableTopicResult> [0..=32767],
    }
}

wire_struct! {
    pub struct CreatableTopicResult {
        pub name: String [0..=32767],
        pub topic_id: Uuid [7..=32767],
        pub error_code: i16 [0..=32767],
        pub error_message: Option<String> [1..=32767],
        pub num_partitions: i32 [5..=32767] = -1,
        pub replication_factor: i16 [5..=32767] = -1,
        pub configs: Option<Vec<CreatableTopicConfigs>> [5..=32767],
    }
}

wire_struct! {
    /// One config of a created topic (v5+).
    pub struct CreatableTopicConfigs {
        pub name: String [5..=32767],
        pub value: Option<String> [5..=32767],
        pub read_only: bool [5..=32767],
        pub config_source: i8 [5..=32767] = -1,
        pub is_sensitive: bool [5..=32767],
    }
}

impl Request for CreateTopicsRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::CREATE_TOPICS;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 7;
    const FLEXIBLE_MIN: i16 = 5;
    type Response = CreateTopicsResponse;

    fn server_wait(&self) -> std::time::Duration {
        crate::protocol::millis(self.timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    #[test]
    fn request_v0_known_bytes() {
        let req = CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "t".into(),
                num_partitions: 3,
                replication_factor: 1,
                configs: vec![CreatableTopicConfig {
                    name: "c".into(),
                    value: Some("v".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let frame = encode_request(&req, 0, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 43, // size
            0, 19, 0, 0, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 19, v0, correlation 7, "kc"
            0, 0, 0, 1, 0, 1, b't', // topics: "t"
            0, 0, 0, 3, 0, 1, // 3 partitions, replication factor 1
            0, 0, 0, 0, // assignments []
            0, 0, 0, 1, 0, 1, b'c', 0, 1, b'v', // configs: c=v
            0, 0, 0xea, 0x60, // timeout 60000
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v5_known_bytes() {
        let req = CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "t".into(),
                num_partitions: -1,
                replication_factor: -1,
                assignments: vec![CreatableReplicaAssignment {
                    partition_index: 0,
                    broker_ids: vec![1, 2],
                    ..Default::default()
                }],
                configs: vec![CreatableTopicConfig {
                    name: "c".into(),
                    value: None,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            validate_only: true,
            ..Default::default()
        };
        let frame = encode_request(&req, 5, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 49, // size
            0, 19, 0, 5, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            2, 2, b't', // topics: "t"
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // partitions -1, replication factor -1
            2, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, // assignments: 0 -> [1, 2]
            2, 2, b'c', 0, 0, // configs: c=null
            0, // topic tags
            0, 0, 0xea, 0x60, 1, 0, // timeout 60000, validate only, request tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v1_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 1, // correlation id
            0, 0, 0, 2, // topics: 2
            0, 1, b'a', 0, 0, 0xff, 0xff, // "a", error 0, message null
            0, 1, b'b', 0, 36, 0, 3, b'd', b'u', b'p', // "b", TOPIC_ALREADY_EXISTS, "dup"
        ]);
        let (cid, resp) = decode_response::<CreateTopicsRequest>(&body, 1).unwrap();
        crate::protocol::testing::assert_reencodes::<CreateTopicsRequest>(&body, 1);
        assert_eq!(cid, 1);
        assert_eq!(resp.topics.len(), 2);
        assert_eq!(resp.topics[0].name, "a");
        assert_eq!(resp.topics[0].error_message, None);
        assert_eq!(resp.topics[1].error_code, 36);
        assert_eq!(resp.topics[1].error_message.as_deref(), Some("dup"));
        assert_eq!(resp.topics[1].num_partitions, -1);
        assert_eq!(resp.topics[1].replication_factor, -1);
        assert_eq!(resp.topics[1].configs, None);
    }

    #[test]
    fn response_v7_known_bytes_with_tagged_field() {
        let mut body = vec![0, 0, 0, 2, 0, 0, 0, 0, 0, 2, 2, b't'];
        body.extend(1..=16u8); // topic id
        #[rustfmt::skip]
        let rest: &[u8] = &[
            0, 0, 0, // error 0, message null
            0, 0, 0, 3, 0, 1, // 3 partitions, replication factor 1
            2, 2, b'c', 2, b'v', 0, 5, 0, 0, // configs: c=v, writable, source 5, not sensitive
            1, 0, 2, 0, 40, // TopicConfigErrorCode (tag 0) = 40
            0, // response tags
        ];
        body.extend_from_slice(rest);
        let body = Bytes::from(body);
        let (cid, resp) = decode_response::<CreateTopicsRequest>(&body, 7).unwrap();
        crate::protocol::testing::assert_reencodes::<CreateTopicsRequest>(&body, 7);
        assert_eq!(cid, 2);
        let t = &resp.topics[0];
        assert_eq!(t.name, "t");
        assert_eq!(t.topic_id.0[0], 1);
        assert_eq!(t.topic_id.0[15], 16);
        assert_eq!((t.num_partitions, t.replication_factor), (3, 1));
        let c = &t.configs.as_ref().unwrap()[0];
        assert_eq!((c.name.as_str(), c.value.as_deref()), ("c", Some("v")));
        assert_eq!(c.config_source, 5);
        assert!(!c.read_only && !c.is_sensitive);
        assert_eq!(t.tagged_fields.0.len(), 1);
        assert_eq!(t.tagged_fields.0[0].tag, 0);
        assert_eq!(&t.tagged_fields.0[0].data[..], &[0, 40]);
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<CreateTopicsRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<CreateTopicsRequest>(8);
    }
}
