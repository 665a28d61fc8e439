//! AddOffsetsToTxn (key 25), versions 0–4: a transactional producer (transaction protocol
//! v1) tells its transaction coordinator that the transaction will commit a group's
//! offsets. Flexible from v3; v4 adds TRANSACTION_ABORTABLE.

use crate::protocol::{api_key, Request};
use crate::wire_struct;

wire_struct! {
    pub struct AddOffsetsToTxnRequest {
        pub transactional_id: String [0..=32767],
        pub producer_id: i64 [0..=32767],
        pub producer_epoch: i16 [0..=32767],
        pub group_id: String [0..=32767],
    }
}

wire_struct! {
    pub struct AddOffsetsToTxnResponse {
        pub throttle_time_ms: i32 [0..=32767],
        pub error_code: i16 [0..=32767],
    }
}

impl Request for AddOffsetsToTxnRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::ADD_OFFSETS_TO_TXN;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 4;
    const FLEXIBLE_MIN: i16 = 3;
    type Response = AddOffsetsToTxnResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    fn request() -> AddOffsetsToTxnRequest {
        AddOffsetsToTxnRequest {
            transactional_id: "tx".into(),
            producer_id: 5,
            producer_epoch: 1,
            group_id: "g".into(),
            ..Default::default()
        }
    }

    #[test]
    fn request_v2_known_bytes() {
        let frame = encode_request(&request(), 2, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 29, // size
            0, 25, 0, 2, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 25, v2, correlation 7, "kc"
            0, 2, b't', b'x', // transactional id
            0, 0, 0, 0, 0, 0, 0, 5, // producer id
            0, 1, // epoch
            0, 1, b'g', // group
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v4_known_bytes() {
        let frame = encode_request(&request(), 4, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 29, // size
            0, 25, 0, 4, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            3, b't', b'x', // transactional id
            0, 0, 0, 0, 0, 0, 0, 5, // producer id
            0, 1, // epoch
            2, b'g', // group
            0, // tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v4_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, 0, // correlation id, header tags
            0, 0, 0, 3, // throttle 3
            0, 51, // CONCURRENT_TRANSACTIONS
            0, // tags
        ]);
        let (_, resp) = decode_response::<AddOffsetsToTxnRequest>(&body, 4).unwrap();
        crate::protocol::testing::assert_reencodes::<AddOffsetsToTxnRequest>(&body, 4);
        assert_eq!((resp.throttle_time_ms, resp.error_code), (3, 51));
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<AddOffsetsToTxnRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<AddOffsetsToTxnRequest>(8);
    }
}
