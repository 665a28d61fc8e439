//! SaslAuthenticate (key 36), versions 0–2: one SASL token each way. v1 adds the session
//! lifetime the broker grants (KIP-368: re-authenticate before it ends; 0 when the broker
//! sets no `connections.max.reauth.ms`). Flexible from v2.

use crate::protocol::{api_key, Request};
use crate::wire_struct;
use bytes::Bytes;

wire_struct! {
    pub struct SaslAuthenticateRequest {
        /// The mechanism's token.
        pub auth_bytes: Bytes [0..=32767],
    }
}

wire_struct! {
    pub struct SaslAuthenticateResponse {
        pub error_code: i16 [0..=32767],
        pub error_message: Option<String> [0..=32767],
        /// The broker's token.
        pub auth_bytes: Bytes [0..=32767],
        /// v1+: how long the authenticated session lasts, in milliseconds; 0: for ever.
        pub session_lifetime_ms: i64 [1..=32767],
    }
}

impl Request for SaslAuthenticateRequest {
    const API_KEY: i16 = api_key::SASL_AUTHENTICATE;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 2;
    const FLEXIBLE_MIN: i16 = 2;
    type Response = SaslAuthenticateResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};

    fn request() -> SaslAuthenticateRequest {
        SaslAuthenticateRequest {
            auth_bytes: Bytes::from_static(b"\0u\0p"),
            ..Default::default()
        }
    }

    #[test]
    fn request_v0_known_bytes() {
        let frame = encode_request(&request(), 0, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 20, // size
            0, 36, 0, 0, 0, 0, 0, 7, 0, 2, b'k', b'c', // key 36, v0, correlation 7, "kc"
            0, 0, 0, 4, 0, b'u', 0, b'p', // auth bytes
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v2_known_bytes() {
        let frame = encode_request(&request(), 2, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 19, // size
            0, 36, 0, 2, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // header v2
            5, 0, b'u', 0, b'p', // compact bytes
            0, // tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v1_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, // correlation id
            0, 58, // SASL_AUTHENTICATION_FAILED
            0, 3, b'b', b'a', b'd', // error message
            0, 0, 0, 1, b'x', // auth bytes
            0, 0, 0, 0, 0, 0, 0x0b, 0xb8, // session lifetime 3000 ms
        ]);
        let (_, resp) = decode_response::<SaslAuthenticateRequest>(&body, 1).unwrap();
        crate::protocol::testing::assert_reencodes::<SaslAuthenticateRequest>(&body, 1);
        assert_eq!(resp.error_code, 58);
        assert_eq!(resp.error_message.as_deref(), Some("bad"));
        assert_eq!(&resp.auth_bytes[..], b"x");
        assert_eq!(resp.session_lifetime_ms, 3000);
    }

    #[test]
    fn response_v2_known_bytes() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, 0, // correlation id, header tags
            0, 0, // no error
            0, // null error message
            3, b'o', b'k', // compact auth bytes
            0, 0, 0, 0, 0, 0, 0, 0, // no lifetime
            0, // tags
        ]);
        let (_, resp) = decode_response::<SaslAuthenticateRequest>(&body, 2).unwrap();
        crate::protocol::testing::assert_reencodes::<SaslAuthenticateRequest>(&body, 2);
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.error_message, None);
        assert_eq!(&resp.auth_bytes[..], b"ok");
        assert_eq!(resp.session_lifetime_ms, 0);
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<SaslAuthenticateRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<SaslAuthenticateRequest>(8);
    }
}
