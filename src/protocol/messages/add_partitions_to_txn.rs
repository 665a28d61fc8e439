//! AddPartitionsToTxn (key 24), versions 0–5: a transactional producer (transaction
//! protocol v1) adds partitions to its transaction before it writes to them. Flexible from
//! v3. v0–3 carry one transaction at the top level; v4+ batch several in `transactions`
//! (with `verify_only`), a form Kafka keeps for brokers: clients send v3 at most (see
//! [`AddPartitionsToTxnRequest::CLIENT_MAX_VERSION`]). v5 adds TRANSACTION_ABORTABLE.

use crate::protocol::{api_key, Request};
use crate::wire_struct;

wire_struct! {
    pub struct AddPartitionsToTxnRequest {
        /// v4+: the transactions.
        pub transactions: Vec<AddPartitionsToTxnTransaction> [4..=32767],
        /// v0–3: the transactional id.
        pub v3_and_below_transactional_id: String [0..=3],
        /// v0–3: the producer id.
        pub v3_and_below_producer_id: i64 [0..=3],
        /// v0–3: the producer epoch.
        pub v3_and_below_producer_epoch: i16 [0..=3],
        /// v0–3: the partitions to add.
        pub v3_and_below_topics: Vec<AddPartitionsToTxnTopic> [0..=3],
    }
}

wire_struct! {
    /// One transaction of a v4+ request.
    pub struct AddPartitionsToTxnTransaction {
        pub transactional_id: String [4..=32767],
        pub producer_id: i64 [4..=32767],
        pub producer_epoch: i16 [4..=32767],
        /// Only check that the partitions are in the transaction.
        pub verify_only: bool [4..=32767],
        pub topics: Vec<AddPartitionsToTxnTopic> [4..=32767],
    }
}

wire_struct! {
    pub struct AddPartitionsToTxnTopic {
        pub name: String [0..=32767],
        pub partitions: Vec<i32> [0..=32767],
    }
}

wire_struct! {
    pub struct AddPartitionsToTxnResponse {
        pub throttle_time_ms: i32 [0..=32767],
        /// v4+: an error for the whole request.
        pub error_code: i16 [4..=32767],
        /// v4+: the results by transaction.
        pub results_by_transaction: Vec<AddPartitionsToTxnResult> [4..=32767],
        /// v0–3: the results by topic.
        pub results_by_topic_v3_and_below: Vec<AddPartitionsToTxnTopicResult> [0..=3],
    }
}

wire_struct! {
    pub struct AddPartitionsToTxnResult {
        pub transactional_id: String [4..=32767],
        pub topic_results: Vec<AddPartitionsToTxnTopicResult> [4..=32767],
    }
}

wire_struct! {
    pub struct AddPartitionsToTxnTopicResult {
        pub name: String [0..=32767],
        pub results_by_partition: Vec<AddPartitionsToTxnPartitionResult> [0..=32767],
    }
}

wire_struct! {
    pub struct AddPartitionsToTxnPartitionResult {
        pub partition_index: i32 [0..=32767],
        pub partition_error_code: i16 [0..=32767],
    }
}

impl AddPartitionsToTxnRequest {
    /// The highest version a client sends: v4+ is the brokers' batched form.
    pub const CLIENT_MAX_VERSION: i16 = 3;

    /// A client's request (v0–3 form) for one transaction.
    pub fn single(
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        topics: Vec<AddPartitionsToTxnTopic>,
    ) -> Self {
        AddPartitionsToTxnRequest {
            v3_and_below_transactional_id: transactional_id.to_owned(),
            v3_and_below_producer_id: producer_id,
            v3_and_below_producer_epoch: producer_epoch,
            v3_and_below_topics: topics,
            ..Default::default()
        }
    }
}

impl AddPartitionsToTxnResponse {
    /// Every partition's result, whichever form the answer has: (topic, partition, error).
    pub fn partition_results(&self) -> Vec<(&str, i32, i16)> {
        self.results_by_topic_v3_and_below
            .iter()
            .chain(
                self.results_by_transaction
                    .iter()
                    .flat_map(|t| t.topic_results.iter()),
            )
            .flat_map(|t| {
                t.results_by_partition
                    .iter()
                    .map(move |p| (t.name.as_str(), p.partition_index, p.partition_error_code))
            })
            .collect()
    }
}

impl Request for AddPartitionsToTxnRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::ADD_PARTITIONS_TO_TXN;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;
    const FLEXIBLE_MIN: i16 = 3;
    type Response = AddPartitionsToTxnResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    fn topics() -> Vec<AddPartitionsToTxnTopic> {
        vec![AddPartitionsToTxnTopic {
            name: "t".into(),
            partitions: vec![0, 2],
            ..Default::default()
        }]
    }

    #[test]
    fn request_v2_known_bytes() {
        let req = AddPartitionsToTxnRequest::single("tx", 5, 1, topics());
        let frame = encode_request(&req, 2, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 45, // size
            0, 24, 0, 2, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 24, v2, correlation 7, "kc"
            0, 2, b't', b'x', // transactional id
            0, 0, 0, 0, 0, 0, 0, 5, // producer id
            0, 1, // epoch
            0, 0, 0, 1, // 1 topic
            0, 1, b't', // "t"
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, // partitions [0, 2]
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v3_known_bytes() {
        let req = AddPartitionsToTxnRequest::single("tx", 5, 1, topics());
        let frame = encode_request(&req, 3, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 40, // size
            0, 24, 0, 3, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            3, b't', b'x', // transactional id (compact)
            0, 0, 0, 0, 0, 0, 0, 5, // producer id
            0, 1, // epoch
            2, // 1 topic
            2, b't', // "t"
            3, 0, 0, 0, 0, 0, 0, 0, 2, // partitions [0, 2]
            0, // topic tags
            0, // tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v4_known_bytes() {
        let req = AddPartitionsToTxnRequest {
            transactions: vec![AddPartitionsToTxnTransaction {
                transactional_id: "tx".into(),
                producer_id: 5,
                producer_epoch: 1,
                verify_only: true,
                topics: topics(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let frame = encode_request(&req, 4, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 43, // size
            0, 24, 0, 4, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            2, // 1 transaction
            3, b't', b'x', // transactional id
            0, 0, 0, 0, 0, 0, 0, 5, // producer id
            0, 1, // epoch
            1, // verify only
            2, 2, b't', 3, 0, 0, 0, 0, 0, 0, 0, 2, 0, // topics
            0, // transaction tags
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
            2, // 1 topic
            2, b't', // "t"
            3, // 2 partitions
            0, 0, 0, 0, 0, 0, 0, // partition 0, no error, tags
            0, 0, 0, 2, 0, 53, 0, // partition 2, TRANSACTIONAL_ID_AUTHORIZATION_FAILED
            0, // topic tags
            0, // tags
        ]);
        let (_, resp) = decode_response::<AddPartitionsToTxnRequest>(&body, 3).unwrap();
        crate::protocol::testing::assert_reencodes::<AddPartitionsToTxnRequest>(&body, 3);
        assert_eq!(resp.partition_results(), vec![("t", 0, 0), ("t", 2, 53)]);
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<AddPartitionsToTxnRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<AddPartitionsToTxnRequest>(8);
    }
}
