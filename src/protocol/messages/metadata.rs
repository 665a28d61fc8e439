//! Metadata (key 3), versions 0–12: the brokers, the controller, and each topic's
//! partitions with their leaders and replicas. Flexible from v9.
//!
//! In v0 an empty `topics` array asks for every topic; from v1 `None` asks for every topic
//! and an empty array for none. Topic ids appear from v10 (usable as a query from v12).

use crate::protocol::{api_key, Request, Uuid};
use crate::wire_struct;

wire_struct! {
    pub struct MetadataRequest {
        /// The topics to describe; `None` (v1+) means every topic.
        pub topics: Option<Vec<MetadataRequestTopic>> [0..=32767] = Some(Vec::new()),
        /// Whether the broker may auto-create requested topics that do not exist.
        pub allow_auto_topic_creation: bool [4..=32767] = true,
        pub include_cluster_authorized_operations: bool [8..=10],
        pub include_topic_authorized_operations: bool [8..=32767],
    }
}

wire_struct! {
    pub struct MetadataRequestTopic {
        pub topic_id: Uuid [10..=32767],
        /// The topic name; `None` (v10+) when the topic is queried by id.
        pub name: Option<String> [0..=32767] = Some(String::new()),
    }
}

wire_struct! {
    pub struct MetadataResponse {
        pub throttle_time_ms: i32 [3..=32767],
        pub brokers: Vec<MetadataResponseBroker> [0..=32767],
        pub cluster_id: Option<String> [2..=32767],
        /// The controller's broker id, or -1.
        pub controller_id: i32 [1..=32767] = -1,
        pub topics: Vec<MetadataResponseTopic> [0..=32767],
        pub cluster_authorized_operations: i32 [8..=10] = i32::MIN,
    }
}

wire_struct! {
    /// One broker of the cluster.
    pub struct MetadataResponseBroker {
        pub node_id: i32 [0..=32767],
        pub host: String [0..=32767],
        pub port: i32 [0..=32767],
        pub rack: Option<String> [1..=32767],
    }
}

wire_struct! {
    pub struct MetadataResponseTopic {
        pub error_code: i16 [0..=32767],
        /// The topic name; `None` only in v12+ for a topic queried by an unknown id.
        pub name: Option<String> [0..=32767] = Some(String::new()),
        pub topic_id: Uuid [10..=32767],
        pub is_internal: bool [1..=32767],
        pub partitions: Vec<MetadataResponsePartition> [0..=32767],
        pub topic_authorized_operations: i32 [8..=32767] = i32::MIN,
    }
}

wire_struct! {
    pub struct MetadataResponsePartition {
        pub error_code: i16 [0..=32767],
        pub partition_index: i32 [0..=32767],
        pub leader_id: i32 [0..=32767],
        pub leader_epoch: i32 [7..=32767] = -1,
        pub replica_nodes: Vec<i32> [0..=32767],
        pub isr_nodes: Vec<i32> [0..=32767],
        pub offline_replicas: Vec<i32> [5..=32767],
    }
}

impl Request for MetadataRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::METADATA;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 12;
    const FLEXIBLE_MIN: i16 = 9;
    type Response = MetadataResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    fn uuid(first: u8) -> Uuid {
        let mut b = [0u8; 16];
        for (i, x) in b.iter_mut().enumerate() {
            *x = first + i as u8;
        }
        Uuid(b)
    }

    #[test]
    fn request_v1_known_bytes() {
        let req = MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                name: Some("t".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let frame = encode_request(&req, 1, 7, Some("kc"));
        // size | key 3 | v1 | correlation 7 | client id "kc" | topics: [ "t" ].
        let want = [
            0, 0, 0, 19, 0, 3, 0, 1, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, 0, 0, 1, 0, 1, b't',
        ];
        assert_eq!(frame, want);

        // v1 with every topic: a null array.
        let all = MetadataRequest {
            topics: None,
            ..Default::default()
        };
        let frame = encode_request(&all, 1, 7, Some("kc"));
        assert_eq!(&frame[16..], &[0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn request_v12_known_bytes() {
        let req = MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                topic_id: uuid(1),
                name: Some("t".into()),
                ..Default::default()
            }]),
            allow_auto_topic_creation: true,
            include_topic_authorized_operations: false,
            ..Default::default()
        };
        let frame = encode_request(&req, 12, 2, Some("kc"));
        // Header v2: key 3 | v12 | correlation 2 | client id (classic) | no tags.
        let mut want = vec![0, 3, 0, 12, 0, 0, 0, 2, 0, 2, b'k', b'c', 0];
        // topics (compact, 1 element): topic id | name (compact "t") | no tags.
        want.push(2);
        want.extend(1..=16u8);
        want.extend_from_slice(&[2, b't', 0]);
        // allow_auto_topic_creation | include_topic_authorized_operations | no tags.
        want.extend_from_slice(&[1, 0, 0]);
        assert_eq!(&frame[4..], &want[..]);
        assert_eq!(frame[..4], (want.len() as i32).to_be_bytes());
    }

    #[test]
    fn response_v1_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 5, // correlation id
            0, 0, 0, 1, // brokers: 1
            0, 0, 0, 1, 0, 1, b'h', 0, 0, 0x23, 0x84, 0xff, 0xff, // node 1, "h", 9092, rack null
            0, 0, 0, 1, // controller id 1
            0, 0, 0, 1, // topics: 1
            0, 0, 0, 1, b't', 0, // error 0, "t", not internal
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // error 0, partition 0, leader 1
            0, 0, 0, 1, 0, 0, 0, 1, // replicas [1]
            0, 0, 0, 1, 0, 0, 0, 1, // isr [1]
        ]);
        let (cid, resp) = decode_response::<MetadataRequest>(&body, 1).unwrap();
        crate::protocol::testing::assert_reencodes::<MetadataRequest>(&body, 1);
        assert_eq!(cid, 5);
        assert_eq!(resp.throttle_time_ms, 0);
        assert_eq!(resp.brokers.len(), 1);
        let b = &resp.brokers[0];
        assert_eq!((b.node_id, b.host.as_str(), b.port), (1, "h", 9092));
        assert_eq!(b.rack, None);
        assert_eq!(resp.cluster_id, None);
        assert_eq!(resp.controller_id, 1);
        let t = &resp.topics[0];
        assert_eq!(t.name.as_deref(), Some("t"));
        assert!(!t.is_internal);
        assert_eq!(t.topic_authorized_operations, i32::MIN);
        let p = &t.partitions[0];
        assert_eq!((p.partition_index, p.leader_id), (0, 1));
        assert_eq!(p.leader_epoch, -1, "absent before v7: schema default");
        assert_eq!(p.replica_nodes, [1]);
        assert_eq!(p.isr_nodes, [1]);
        assert!(p.offline_replicas.is_empty());
        assert_eq!(resp.cluster_authorized_operations, i32::MIN);
    }

    #[test]
    fn response_v12_known_bytes_with_unknown_tag() {
        #[rustfmt::skip]
        let mut body = vec![
            0, 0, 0, 9, 0, // correlation id, header tags
            0, 0, 0, 10, // throttle 10
            2,  // brokers: 1
            0, 0, 0, 1, 2, b'h', 0, 0, 0x23, 0x84, 0, 0, // node 1, "h", 9092, rack null, tags
            4, b'a', b'b', b'c', // cluster id "abc"
            0, 0, 0, 1, // controller 1
            2, // topics: 1
            0, 3, 2, b't', // error 3, "t"
        ];
        body.extend(1..=16u8); // topic id
        #[rustfmt::skip]
        let rest: &[u8] = &[
            0, // not internal
            2, // partitions: 1
            0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 5, // error 0, partition 2, leader 1, epoch 5
            2, 0, 0, 0, 1, // replicas [1]
            2, 0, 0, 0, 1, // isr [1]
            1, // offline replicas []
            0, // partition tags
            0, 0, 0x0d, 0xf8, // topic authorized operations
            0, // topic tags
            1, 5, 2, 0xab, 0xcd, // one unknown tagged field: tag 5, 2 bytes
        ];
        body.extend_from_slice(rest);
        let body = Bytes::from(body);
        let (cid, resp) = decode_response::<MetadataRequest>(&body, 12).unwrap();
        crate::protocol::testing::assert_reencodes::<MetadataRequest>(&body, 12);
        assert_eq!(cid, 9);
        assert_eq!(resp.throttle_time_ms, 10);
        assert_eq!(resp.brokers[0].host, "h");
        assert_eq!(resp.cluster_id.as_deref(), Some("abc"));
        assert_eq!(resp.controller_id, 1);
        let t = &resp.topics[0];
        assert_eq!(t.error_code, 3);
        assert_eq!(t.topic_id, uuid(1));
        assert_eq!(t.topic_authorized_operations, 0x0df8);
        let p = &t.partitions[0];
        assert_eq!((p.partition_index, p.leader_id, p.leader_epoch), (2, 1, 5));
        assert!(p.offline_replicas.is_empty());
        assert_eq!(
            resp.cluster_authorized_operations,
            i32::MIN,
            "absent from v11"
        );
        assert_eq!(resp.tagged_fields.0.len(), 1);
        assert_eq!(resp.tagged_fields.0[0].tag, 5);
        assert_eq!(&resp.tagged_fields.0[0].data[..], &[0xab, 0xcd]);
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<MetadataRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<MetadataRequest>(8);
    }
}
