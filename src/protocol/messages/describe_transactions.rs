//! DescribeTransactions (key 65), version 0 (flexible): the state of transactional ids at
//! their coordinator (KIP-664). The transactional producer asks it, on protocol v2, whether
//! the transaction it just ended is complete (its markers written) before the next
//! transaction's first Produce, which the partition leader would otherwise hold back and
//! retry on its own back-off.

use crate::protocol::{api_key, Request};
use crate::wire_struct;

wire_struct! {
    pub struct DescribeTransactionsRequest {
        pub transactional_ids: Vec<String> [0..=32767],
    }
}

wire_struct! {
    pub struct DescribeTransactionsResponse {
        pub throttle_time_ms: i32 [0..=32767],
        pub transaction_states: Vec<TransactionState> [0..=32767],
    }
}

wire_struct! {
    pub struct TransactionState {
        pub error_code: i16 [0..=32767],
        pub transactional_id: String [0..=32767],
        /// Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort,
        /// Dead or PrepareEpochFence.
        pub transaction_state: String [0..=32767],
        pub transaction_timeout_ms: i32 [0..=32767],
        pub transaction_start_time_ms: i64 [0..=32767],
        pub producer_id: i64 [0..=32767],
        pub producer_epoch: i16 [0..=32767],
        pub topics: Vec<TopicData> [0..=32767],
    }
}

wire_struct! {
    pub struct TopicData {
        pub topic: String [0..=32767],
        pub partitions: Vec<i32> [0..=32767],
    }
}

impl Request for DescribeTransactionsRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::DESCRIBE_TRANSACTIONS;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 0;
    const FLEXIBLE_MIN: i16 = 0;
    type Response = DescribeTransactionsResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    #[test]
    fn request_v0_known_bytes() {
        let req = DescribeTransactionsRequest {
            transactional_ids: vec!["tx".into()],
            ..Default::default()
        };
        let frame = encode_request(&req, 0, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 18, // size
            0, 65, 0, 0, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // key 65, v0, correlation 7, "kc", tags
            2, 3, b't', b'x', // 1 id "tx"
            0, // tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v0_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, 0, // correlation id, header tags
            0, 0, 0, 0, // throttle
            2, // 1 state
            0, 0, // error
            3, b't', b'x', // id
            15, b'C', b'o', b'm', b'p', b'l', b'e', b't', b'e', b'C', b'o', b'm', b'm', b'i', b't',
            0, 0, 0xea, 0x60, // timeout 60000
            0, 0, 0, 0, 0, 0, 0, 9, // start time
            0, 0, 0, 0, 0, 0, 0, 5, // producer id
            0, 3, // epoch
            2, 2, b't', 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, // topic "t", partitions 0 and 1, tags
            0, // state tags
            0, // tags
        ]);
        let (_, resp) = decode_response::<DescribeTransactionsRequest>(&body, 0).unwrap();
        crate::protocol::testing::assert_reencodes::<DescribeTransactionsRequest>(&body, 0);
        let s = &resp.transaction_states[0];
        assert_eq!(s.transactional_id, "tx");
        assert_eq!(s.transaction_state, "CompleteCommit");
        assert_eq!(s.transaction_timeout_ms, 60000);
        assert_eq!((s.producer_id, s.producer_epoch), (5, 3));
        assert_eq!(s.topics[0].partitions, vec![0, 1]);
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<DescribeTransactionsRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<DescribeTransactionsRequest>(8);
    }
}
