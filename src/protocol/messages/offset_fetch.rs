//! OffsetFetch (key 9), versions 0–9: read a group's committed offsets. Flexible from v6.
//!
//! v0–7 ask for one group (`group_id`, `topics`); from v2 `topics: None` asks for every
//! partition the group committed, and the answer has a group-level `error_code`; v5 adds
//! the leader epoch to each offset; v7 `require_stable` (wait out pending transactional
//! commits: UNSTABLE_OFFSET_COMMIT). v8+ (KIP-709) batch `groups`, each answered in the
//! response's `groups`; v9 adds the KIP-848 member id and epoch.
//! [`OffsetFetchRequest::single`] fills both forms and [`OffsetFetchResponse::group`]
//! reads either.
//!
//! Kafka's `OffsetFetchRequestTopics` / `OffsetFetchResponseTopics` /
//! `OffsetFetchResponsePartitions` of v8+ have the same fields as the v0–7 structures,
//! so one type serves both.
//!
//! Kafka 4.x brokers accept v1–10 (v0, which read ZooKeeper, was removed in 4.0,
//! KIP-896; v10 names topics by id and is not implemented here).

use crate::protocol::{api_key, Request};
use crate::wire_struct;

wire_struct! {
    pub struct OffsetFetchRequest {
        /// v0–7.
        pub group_id: String [0..=7],
        /// v0–7: the partitions to read; `None` (v2+) for every partition.
        pub topics: Option<Vec<OffsetFetchRequestTopic>> [0..=7] = Some(Vec::new()),
        /// v8+: the groups to read.
        pub groups: Vec<OffsetFetchRequestGroup> [8..=32767],
        /// v7+: answer UNSTABLE_OFFSET_COMMIT for partitions with pending transactional
        /// commits instead of their last stable offset.
        pub require_stable: bool [7..=32767],
    }
}

wire_struct! {
    pub struct OffsetFetchRequestTopic {
        pub name: String [0..=32767],
        pub partition_indexes: Vec<i32> [0..=32767],
    }
}

wire_struct! {
    pub struct OffsetFetchRequestGroup {
        pub group_id: String [8..=32767],
        /// v9+: the KIP-848 member id, or `None`.
        pub member_id: Option<String> [9..=32767],
        /// v9+: the KIP-848 member epoch, or -1.
        pub member_epoch: i32 [9..=32767] = -1,
        /// `None` for every partition.
        pub topics: Option<Vec<OffsetFetchRequestTopic>> [8..=32767],
    }
}

wire_struct! {
    pub struct OffsetFetchResponse {
        pub throttle_time_ms: i32 [3..=32767],
        /// v0–7.
        pub topics: Vec<OffsetFetchResponseTopic> [0..=7],
        /// v2–7: the group-level error.
        pub error_code: i16 [2..=7],
        /// v8+: one answer per group.
        pub groups: Vec<OffsetFetchResponseGroup> [8..=32767],
    }
}

wire_struct! {
    pub struct OffsetFetchResponseTopic {
        pub name: String [0..=32767],
        pub partitions: Vec<OffsetFetchResponsePartition> [0..=32767],
    }
}

wire_struct! {
    pub struct OffsetFetchResponsePartition {
        pub partition_index: i32 [0..=32767],
        /// The committed offset, or -1 if none.
        pub committed_offset: i64 [0..=32767] = -1,
        /// v5+: the leader epoch stored with the offset, or -1.
        pub committed_leader_epoch: i32 [5..=32767] = -1,
        pub metadata: Option<String> [0..=32767],
        pub error_code: i16 [0..=32767],
    }
}

wire_struct! {
    pub struct OffsetFetchResponseGroup {
        pub group_id: String [8..=32767],
        pub topics: Vec<OffsetFetchResponseTopic> [8..=32767],
        /// The group-level error.
        pub error_code: i16 [8..=32767],
    }
}

impl OffsetFetchRequest {
    /// The offsets of one group (`topics: None` for every partition it committed), in the
    /// form of every version. v0–1 cannot ask for every partition: there `None` is sent
    /// as the null array, which those versions do not define.
    pub fn single(group_id: &str, topics: Option<Vec<OffsetFetchRequestTopic>>) -> Self {
        OffsetFetchRequest {
            group_id: group_id.to_owned(),
            topics: topics.clone(),
            groups: vec![OffsetFetchRequestGroup {
                group_id: group_id.to_owned(),
                topics,
                ..Default::default()
            }],
            ..Default::default()
        }
    }
}

impl OffsetFetchResponse {
    /// The group-level error and the topics answered for `group_id`: its entry in
    /// `groups` (v8+), or the top-level answer when `groups` is empty (v0–7, which
    /// answer for the one group asked).
    pub fn group(&self, group_id: &str) -> Option<(i16, &[OffsetFetchResponseTopic])> {
        if self.groups.is_empty() {
            return Some((self.error_code, &self.topics));
        }
        self.groups
            .iter()
            .find(|g| g.group_id == group_id)
            .map(|g| (g.error_code, &g.topics[..]))
    }
}

impl Request for OffsetFetchRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::OFFSET_FETCH;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 9;
    const FLEXIBLE_MIN: i16 = 6;
    type Response = OffsetFetchResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    fn request() -> OffsetFetchRequest {
        let mut req = OffsetFetchRequest::single(
            "g",
            Some(vec![OffsetFetchRequestTopic {
                name: "t".into(),
                partition_indexes: vec![0, 1],
                ..Default::default()
            }]),
        );
        req.require_stable = true;
        req
    }

    #[test]
    fn request_v1_known_bytes() {
        let frame = encode_request(&request(), 1, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 34, // size
            0, 9, 0, 1, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 9, v1, correlation 7, "kc"
            0, 1, b'g', // group "g"
            0, 0, 0, 1, 0, 1, b't', // topics: "t"
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, // partitions [0, 1]
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v2_every_partition_known_bytes() {
        let frame = encode_request(&OffsetFetchRequest::single("g", None), 2, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 19, // size
            0, 9, 0, 2, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 9, v2, correlation 7, "kc"
            0, 1, b'g', // group "g"
            0xff, 0xff, 0xff, 0xff, // topics: null (every partition)
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v7_known_bytes() {
        let frame = encode_request(&request(), 7, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 30, // size
            0, 9, 0, 7, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            2, b'g', // group "g"
            2, 2, b't', // topics: "t"
            3, 0, 0, 0, 0, 0, 0, 0, 1, // partitions [0, 1]
            0, // topic tags
            1, // require stable
            0, // tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v9_known_bytes() {
        let frame = encode_request(&request(), 9, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 37, // size
            0, 9, 0, 9, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            2, // groups: 1
            2, b'g', // group "g"
            0, // member id: null
            0xff, 0xff, 0xff, 0xff, // member epoch -1
            2, 2, b't', // topics: "t"
            3, 0, 0, 0, 0, 0, 0, 0, 1, // partitions [0, 1]
            0, 0, // topic and group tags
            1, // require stable
            0, // tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v1_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, // correlation id
            0, 0, 0, 1, 0, 1, b't', // topics: "t"
            0, 0, 0, 1, 0, 0, 0, 0, // partitions: 0
            0, 0, 0, 0, 0, 0, 0, 9, // committed offset 9
            0, 0, // metadata ""
            0, 0, // error 0
        ]);
        let (_, resp) = decode_response::<OffsetFetchRequest>(&body, 1).unwrap();
        crate::protocol::testing::assert_reencodes::<OffsetFetchRequest>(&body, 1);
        let (error, topics) = resp.group("g").unwrap();
        assert_eq!(error, 0);
        let p = &topics[0].partitions[0];
        assert_eq!((p.partition_index, p.committed_offset), (0, 9));
        assert_eq!(
            p.committed_leader_epoch, -1,
            "absent before v5: schema default"
        );
        assert_eq!(p.metadata.as_deref(), Some(""));
    }

    #[test]
    fn response_v8_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, 0, // correlation id, header tags
            0, 0, 0, 0, // throttle 0
            2, 2, b'g', // groups: "g"
            2, 2, b't', // topics: "t"
            2, 0, 0, 0, 1, // partitions: 1
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // committed offset -1 (none)
            0xff, 0xff, 0xff, 0xff, // leader epoch -1
            0, 0, 0, 0, // metadata null, error 0, partition tags
            0, // topic tags
            0, 0, 0, // group error 0, group tags
            0, // tags
        ]);
        let (_, resp) = decode_response::<OffsetFetchRequest>(&body, 8).unwrap();
        crate::protocol::testing::assert_reencodes::<OffsetFetchRequest>(&body, 8);
        assert!(resp.group("h").is_none());
        let (error, topics) = resp.group("g").unwrap();
        assert_eq!(error, 0);
        let p = &topics[0].partitions[0];
        assert_eq!((p.partition_index, p.committed_offset), (1, -1));
        assert_eq!(p.metadata, None);
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<OffsetFetchRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<OffsetFetchRequest>(8);
    }
}
