//! ApiVersions (key 18), versions 0–3: which API versions a broker supports.
//! Flexible from v3. The response header is always v0, even in flexible versions.
//!
//! In v3 the response's tagged field 2 (`FinalizedFeatures`, KIP-584) lists the features
//! the cluster has finalised, such as `transaction.version` (2: transaction protocol v2,
//! KIP-890); [`ApiVersionsResponse::finalized_features`] reads it.

use crate::protocol::{api_key, Request};
use crate::wire_struct;

wire_struct! {
    pub struct ApiVersionsRequest {
        pub client_software_name: String [3..=32767],
        pub client_software_version: String [3..=32767],
    }
}

wire_struct! {
    pub struct ApiVersionsResponse {
        pub error_code: i16 [0..=32767],
        pub api_keys: Vec<ApiVersion> [0..=32767],
        pub throttle_time_ms: i32 [1..=32767],
    }
}

wire_struct! {
    /// The version range a broker supports for one API.
    pub struct ApiVersion {
        pub api_key: i16 [0..=32767],
        pub min_version: i16 [0..=32767],
        pub max_version: i16 [0..=32767],
    }
}

wire_struct! {
    /// A feature the cluster has finalised, and its version range (tagged field 2 of the
    /// v3+ response).
    pub struct FinalizedFeature {
        pub name: String [3..=32767],
        pub max_version_level: i16 [3..=32767],
        pub min_version_level: i16 [3..=32767],
    }
}

/// The tag of `FinalizedFeatures` in a v3+ response.
const FINALIZED_FEATURES_TAG: u32 = 2;

impl ApiVersionsResponse {
    /// The finalised features (empty before v3, or when the broker sent none; a
    /// malformed field counts as none).
    pub fn finalized_features(&self) -> Vec<FinalizedFeature> {
        let Some(f) = self
            .tagged_fields
            .0
            .iter()
            .find(|f| f.tag == FINALIZED_FEATURES_TAG)
        else {
            return Vec::new();
        };
        let mut r = crate::protocol::Reader::new(&f.data);
        <Vec<FinalizedFeature> as crate::protocol::Wire>::read(&mut r, true, 3).unwrap_or_default()
    }

    /// The finalised maximum level of feature `name`, if the cluster finalised it.
    pub fn finalized_level(&self, name: &str) -> Option<i16> {
        self.finalized_features()
            .into_iter()
            .find(|f| f.name == name)
            .map(|f| f.max_version_level)
    }
}

impl Request for ApiVersionsRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::API_VERSIONS;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 3;
    const FLEXIBLE_MIN: i16 = 3;
    type Response = ApiVersionsResponse;

    fn response_header_version(_version: i16) -> i16 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    #[test]
    fn request_v0_known_bytes() {
        let frame = encode_request(&ApiVersionsRequest::default(), 0, 7, Some("kc"));
        // size, key 18, version 0, correlation 7, client id "kc", empty body.
        assert_eq!(
            frame,
            [0, 0, 0, 12, 0, 18, 0, 0, 0, 0, 0, 7, 0, 2, b'k', b'c']
        );
    }

    #[test]
    fn request_v3_known_bytes() {
        let req = ApiVersionsRequest {
            client_software_name: "kafkac".into(),
            client_software_version: "1.0".into(),
            ..Default::default()
        };
        let frame = encode_request(&req, 3, 1, None);
        let mut want = vec![0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0];
        want.extend_from_slice(&[
            7, b'k', b'a', b'f', b'k', b'a', b'c', 4, b'1', b'.', b'0', 0,
        ]);
        assert_eq!(&frame[4..], &want[..]);
        assert_eq!(frame[..4], (want.len() as i32).to_be_bytes());
    }

    #[test]
    fn response_v3_known_bytes_with_unknown_tag() {
        // correlation 1 | error 0 | 1 api (compact len 2): key 0 min 0 max 9, no tags |
        // throttle 0 | one tagged field: tag 3, 1 byte 0x01 (ZkMigrationReady).
        let body = Bytes::from_static(&[
            0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 1, 3, 1, 1,
        ]);
        let (cid, resp) = decode_response::<ApiVersionsRequest>(&body, 3).unwrap();
        assert_eq!(cid, 1);
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.api_keys.len(), 1);
        assert_eq!(resp.api_keys[0].max_version, 9);
        assert_eq!(resp.tagged_fields.0.len(), 1);
        assert_eq!(resp.tagged_fields.0[0].tag, 3);
    }

    #[test]
    fn finalized_features_known_bytes() {
        // correlation 1 | error 0 | 0 apis | throttle 0 | 2 tagged fields:
        // tag 1 (epoch, 8 bytes) and tag 2: 1 feature "transaction.version" max 2 min 0.
        let mut body = vec![
            0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 2, 1, 8, 0, 0, 0, 0, 0, 0, 0, 9,
        ];
        let mut feature = vec![2, 20];
        feature.extend_from_slice(b"transaction.version");
        feature.extend_from_slice(&[0, 2, 0, 0, 0]);
        body.push(2);
        body.push(feature.len() as u8);
        body.extend_from_slice(&feature);
        let (_, resp) = decode_response::<ApiVersionsRequest>(&Bytes::from(body), 3).unwrap();
        assert_eq!(resp.finalized_level("transaction.version"), Some(2));
        assert_eq!(resp.finalized_level("kraft.version"), None);
        // No tagged fields: no features.
        let (_, resp) = decode_response::<ApiVersionsRequest>(
            &Bytes::from_static(&[0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0]),
            3,
        )
        .unwrap();
        assert!(resp.finalized_features().is_empty());
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<ApiVersionsRequest>(200);
    }
}
