//! SaslHandshake (key 17), version 1: the client names the SASL mechanism it will use;
//! the broker answers with an error (UNSUPPORTED_SASL_MECHANISM, 33) and the mechanisms
//! it enables. v1 (Kafka 1.0 and later) is followed by SaslAuthenticate requests; v0's raw
//! tokens are not implemented. Never flexible.

use crate::protocol::{api_key, Request};
use crate::wire_struct;

wire_struct! {
    pub struct SaslHandshakeRequest {
        /// PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, ...
        pub mechanism: String [0..=32767],
    }
}

wire_struct! {
    pub struct SaslHandshakeResponse {
        pub error_code: i16 [0..=32767],
        /// The mechanisms the broker enables on this listener.
        pub mechanisms: Vec<String> [0..=32767],
    }
}

impl Request for SaslHandshakeRequest {
    const API_KEY: i16 = api_key::SASL_HANDSHAKE;
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 1;
    const FLEXIBLE_MIN: i16 = i16::MAX;
    type Response = SaslHandshakeResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    #[test]
    fn request_v1_known_bytes() {
        let req = SaslHandshakeRequest {
            mechanism: "PLAIN".into(),
            ..Default::default()
        };
        let frame = encode_request(&req, 1, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 19, // size
            0, 17, 0, 1, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 17, v1, correlation 7, "kc"
            0, 5, b'P', b'L', b'A', b'I', b'N', // mechanism
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v1_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, // correlation id
            0, 33, // UNSUPPORTED_SASL_MECHANISM
            0, 0, 0, 2, // two mechanisms
            0, 5, b'P', b'L', b'A', b'I', b'N',
            0, 13, b'S', b'C', b'R', b'A', b'M', b'-', b'S', b'H', b'A', b'-', b'5', b'1', b'2',
        ]);
        let (cid, resp) = decode_response::<SaslHandshakeRequest>(&body, 1).unwrap();
        crate::protocol::testing::assert_reencodes::<SaslHandshakeRequest>(&body, 1);
        assert_eq!(cid, 7);
        assert_eq!(resp.error_code, 33);
        assert_eq!(resp.mechanisms, vec!["PLAIN", "SCRAM-SHA-512"]);
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<SaslHandshakeRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<SaslHandshakeRequest>(8);
    }
}
