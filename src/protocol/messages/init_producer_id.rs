//! InitProducerId (key 22), versions 0–5: get a producer id and epoch for an idempotent
//! or transactional producer. Flexible from v2. From v3 a producer that already has an
//! id sends it with its epoch, and the broker bumps the epoch (KIP-360).

use crate::protocol::{api_key, Request};
use crate::wire_struct;

wire_struct! {
    pub struct InitProducerIdRequest {
        /// `None` for an idempotent producer without transactions.
        pub transactional_id: Option<String> [0..=32767],
        pub transaction_timeout_ms: i32 [0..=32767],
        /// v3+: the current id, or -1.
        pub producer_id: i64 [3..=32767] = -1,
        /// v3+: the current epoch, or -1.
        pub producer_epoch: i16 [3..=32767] = -1,
    }
}

wire_struct! {
    pub struct InitProducerIdResponse {
        pub throttle_time_ms: i32 [0..=32767],
        pub error_code: i16 [0..=32767],
        pub producer_id: i64 [0..=32767] = -1,
        pub producer_epoch: i16 [0..=32767],
    }
}

impl Request for InitProducerIdRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::INIT_PRODUCER_ID;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;
    const FLEXIBLE_MIN: i16 = 2;
    type Response = InitProducerIdResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::encode_request;

    #[test]
    fn request_v1_known_bytes() {
        let req = InitProducerIdRequest {
            transaction_timeout_ms: 60_000,
            ..Default::default()
        };
        let frame = encode_request(&req, 1, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 18, // size
            0, 22, 0, 1, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 22, v1, correlation 7, "kc"
            0xff, 0xff, // transactional id: null
            0, 0, 0xea, 0x60, // transaction timeout 60000
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v4_known_bytes() {
        let req = InitProducerIdRequest {
            transaction_timeout_ms: 60_000,
            producer_id: 5,
            producer_epoch: 2,
            ..Default::default()
        };
        let frame = encode_request(&req, 4, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 29, // size
            0, 22, 0, 4, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            0, // transactional id: null (compact)
            0, 0, 0xea, 0x60, // transaction timeout 60000
            0, 0, 0, 0, 0, 0, 0, 5, // producer id
            0, 2, // epoch
            0, // tags
        ];
        assert_eq!(frame, want);
    }
}
