//! EndTxn (key 26), versions 0–5: a transactional producer asks its coordinator to commit
//! or abort the transaction. Flexible from v3. v5 is transaction protocol v2 (KIP-890):
//! the coordinator bumps the producer epoch at every end and answers with the producer id
//! and the new epoch.

use crate::protocol::{api_key, Request};
use crate::wire_struct;

wire_struct! {
    pub struct EndTxnRequest {
        pub transactional_id: String [0..=32767],
        pub producer_id: i64 [0..=32767],
        pub producer_epoch: i16 [0..=32767],
        /// True to commit, false to abort.
        pub committed: bool [0..=32767],
    }
}

wire_struct! {
    pub struct EndTxnResponse {
        pub throttle_time_ms: i32 [0..=32767],
        pub error_code: i16 [0..=32767],
        /// v5+: the producer id.
        pub producer_id: i64 [5..=32767] = -1,
        /// v5+: the producer's epoch after the end (bumped).
        pub producer_epoch: i16 [5..=32767] = -1,
    }
}

impl Request for EndTxnRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::END_TXN;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;
    const FLEXIBLE_MIN: i16 = 3;
    type Response = EndTxnResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    fn request() -> EndTxnRequest {
        EndTxnRequest {
            transactional_id: "tx".into(),
            producer_id: 5,
            producer_epoch: 1,
            committed: true,
            ..Default::default()
        }
    }

    #[test]
    fn request_v2_known_bytes() {
        let frame = encode_request(&request(), 2, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 27, // size
            0, 26, 0, 2, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 26, v2, correlation 7, "kc"
            0, 2, b't', b'x', // transactional id
            0, 0, 0, 0, 0, 0, 0, 5, // producer id
            0, 1, // epoch
            1, // commit
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v5_known_bytes() {
        let frame = encode_request(&request(), 5, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 28, // size
            0, 26, 0, 5, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            3, b't', b'x', // transactional id
            0, 0, 0, 0, 0, 0, 0, 5, // producer id
            0, 1, // epoch
            1, // commit
            0, // tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v5_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, 0, // correlation id, header tags
            0, 0, 0, 0, // throttle
            0, 0, // no error
            0, 0, 0, 0, 0, 0, 0, 5, // producer id
            0, 2, // new epoch
            0, // tags
        ]);
        let (_, resp) = decode_response::<EndTxnRequest>(&body, 5).unwrap();
        crate::protocol::testing::assert_reencodes::<EndTxnRequest>(&body, 5);
        assert_eq!(
            (resp.error_code, resp.producer_id, resp.producer_epoch),
            (0, 5, 2)
        );
        // Before v5 the answer has no id: -1.
        let body = Bytes::from_static(&[0, 0, 0, 7, 0, 0, 0, 0, 0, 90]);
        let (_, resp) = decode_response::<EndTxnRequest>(&body, 2).unwrap();
        assert_eq!(
            (resp.error_code, resp.producer_id, resp.producer_epoch),
            (90, -1, -1)
        );
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<EndTxnRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<EndTxnRequest>(8);
    }
}
