//! The consumer's embedded protocol: the bytes a consumer puts in a JoinGroup protocol's
//! `metadata` ([`ConsumerProtocolSubscription`]) and the leader puts in each SyncGroup
//! `assignment` ([`ConsumerProtocolAssignment`]), for groups of protocol type
//! [`CONSUMER_PROTOCOL_TYPE`]. Each is an i16 version followed by the structure in that
//! version, never flexible. Versions 0–3:
//!
//! * subscription: `topics` and `user_data`; v1 adds `owned_partitions` (cooperative
//!   rebalancing, KIP-429); v2 `generation_id` (KIP-792); v3 `rack_id` (KIP-881);
//! * assignment: `assigned_partitions` and `user_data` in every version (its version
//!   follows the subscription's).
//!
//! Other members may run newer clients. As Kafka's own client does, a version above 3 is
//! read by its known prefix, as version 3, and the bytes after it are ignored: new
//! versions only append fields. The decoders return the version the sender wrote.

use crate::protocol::{DecodeError, DecodeErrorKind, Reader, Wire, Writer};
use crate::wire_struct;
use bytes::Bytes;

/// The protocol type of a consumer group's JoinGroup and SyncGroup.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";
/// The newest [`ConsumerProtocolSubscription`] version implemented.
pub const SUBSCRIPTION_MAX_VERSION: i16 = 3;
/// The newest [`ConsumerProtocolAssignment`] version implemented.
pub const ASSIGNMENT_MAX_VERSION: i16 = 3;

wire_struct! {
    pub struct ConsumerProtocolSubscription {
        /// The topics the member subscribes to.
        pub topics: Vec<String> [0..=32767],
        /// Data for the assignor.
        pub user_data: Option<Bytes> [0..=32767],
        /// v1+: the partitions the member owns.
        pub owned_partitions: Vec<ConsumerProtocolTopicPartition> [1..=32767],
        /// v2+: the generation of the owned partitions, or -1.
        pub generation_id: i32 [2..=32767] = -1,
        /// v3+: the member's rack, or `None`.
        pub rack_id: Option<String> [3..=32767],
    }
}

wire_struct! {
    pub struct ConsumerProtocolAssignment {
        /// The partitions assigned to the member.
        pub assigned_partitions: Vec<ConsumerProtocolTopicPartition> [0..=32767],
        /// Data from the assignor.
        pub user_data: Option<Bytes> [0..=32767],
    }
}

wire_struct! {
    /// Kafka's `TopicPartition` of the consumer protocol: a topic and partitions of it.
    pub struct ConsumerProtocolTopicPartition {
        pub topic: String [0..=32767],
        pub partitions: Vec<i32> [0..=32767],
    }
}

/// Encodes `s` as `version` (0 to 3; a higher version is written as 3), with its
/// version prefix: a JoinGroup protocol's metadata.
pub fn encode_subscription(s: &ConsumerProtocolSubscription, version: i16) -> Bytes {
    encode(s, version.clamp(0, SUBSCRIPTION_MAX_VERSION))
}

/// Decodes a subscription and the version its sender wrote. A version above 3 is read as
/// 3 (its known prefix); a negative version is an error. `user_data` borrows from `buf`.
pub fn decode_subscription(
    buf: &Bytes,
) -> Result<(i16, ConsumerProtocolSubscription), DecodeError> {
    decode(buf, SUBSCRIPTION_MAX_VERSION)
}

/// Encodes `a` as `version` (0 to 3; a higher version is written as 3), with its version
/// prefix: a SyncGroup assignment.
pub fn encode_assignment(a: &ConsumerProtocolAssignment, version: i16) -> Bytes {
    encode(a, version.clamp(0, ASSIGNMENT_MAX_VERSION))
}

/// Decodes an assignment and the version its sender wrote. A version above 3 is read as
/// 3 (its known prefix); a negative version is an error, and so is an empty buffer (the
/// coordinator's answer to a member the leader assigned nothing, not even an empty
/// assignment). `user_data` borrows from `buf`.
pub fn decode_assignment(buf: &Bytes) -> Result<(i16, ConsumerProtocolAssignment), DecodeError> {
    decode(buf, ASSIGNMENT_MAX_VERSION)
}

fn encode<T: Wire>(value: &T, version: i16) -> Bytes {
    let mut w = Writer::with_capacity(64);
    w.i16(version);
    value.write(&mut w, false, version);
    Bytes::from(w.into_inner())
}

fn decode<T: Wire>(buf: &Bytes, max_version: i16) -> Result<(i16, T), DecodeError> {
    let mut r = Reader::shared(buf);
    let version = r.i16().map_err(|e| e.in_field("version"))?;
    if version < 0 {
        return Err(DecodeError::new(
            DecodeErrorKind::Invalid(format!("consumer protocol version {version}")),
            0,
        )
        .in_field("version"));
    }
    // Like Kafka's client, bytes after the known fields are ignored (newer versions
    // append fields).
    let value = T::read(&mut r, false, version.min(max_version))?;
    Ok((version, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::{Random, Rng};

    fn tp(topic: &str, partitions: &[i32]) -> ConsumerProtocolTopicPartition {
        ConsumerProtocolTopicPartition {
            topic: topic.into(),
            partitions: partitions.to_vec(),
            ..Default::default()
        }
    }

    fn subscription() -> ConsumerProtocolSubscription {
        ConsumerProtocolSubscription {
            topics: vec!["t".into()],
            user_data: Some(Bytes::from_static(&[9])),
            owned_partitions: vec![tp("t", &[1])],
            generation_id: 4,
            rack_id: Some("r".into()),
            ..Default::default()
        }
    }

    #[test]
    fn subscription_v0_known_bytes() {
        let b = encode_subscription(&subscription(), 0);
        #[rustfmt::skip]
        let want = [
            0, 0, // version 0
            0, 0, 0, 1, 0, 1, b't', // topics ["t"]
            0, 0, 0, 1, 9, // user data [9]
        ];
        assert_eq!(&b[..], &want);
        let (v, back) = decode_subscription(&b).unwrap();
        assert_eq!(v, 0);
        assert_eq!(back.owned_partitions, [], "absent in v0");
        assert_eq!((back.generation_id, back.rack_id), (-1, None));
    }

    #[test]
    fn subscription_v3_known_bytes() {
        let b = encode_subscription(&subscription(), 3);
        #[rustfmt::skip]
        let want = [
            0, 3, // version 3
            0, 0, 0, 1, 0, 1, b't', // topics ["t"]
            0, 0, 0, 1, 9, // user data [9]
            0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 1, // owned partitions: "t" [1]
            0, 0, 0, 4, // generation 4
            0, 1, b'r', // rack "r"
        ];
        assert_eq!(&b[..], &want);
        assert_eq!(decode_subscription(&b).unwrap(), (3, subscription()));
    }

    #[test]
    fn assignment_v0_and_v3_known_bytes() {
        let a = ConsumerProtocolAssignment {
            assigned_partitions: vec![tp("t", &[0, 1])],
            user_data: None,
            ..Default::default()
        };
        for version in [0, 3] {
            let b = encode_assignment(&a, version);
            #[rustfmt::skip]
            let want = [
                0, version as u8, // version
                0, 0, 0, 1, 0, 1, b't', // assigned partitions: "t"
                0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, // [0, 1]
                0xff, 0xff, 0xff, 0xff, // user data: null
            ];
            assert_eq!(&b[..], &want);
            assert_eq!(decode_assignment(&b).unwrap(), (version, a.clone()));
        }
    }

    #[test]
    fn newer_versions_are_read_by_their_known_prefix() {
        let mut b = encode_subscription(&subscription(), 3).to_vec();
        b[1] = 5; // a version 5 ...
        b.extend_from_slice(&[0, 0, 0, 7, 1, 2]); // ... with fields appended
        let (v, s) = decode_subscription(&Bytes::from(b)).unwrap();
        assert_eq!((v, s), (5, subscription()));

        let a = ConsumerProtocolAssignment {
            assigned_partitions: vec![tp("t", &[2])],
            user_data: Some(Bytes::from_static(b"u")),
            ..Default::default()
        };
        let mut b = encode_assignment(&a, 3).to_vec();
        b[1] = 4;
        b.push(0xee);
        assert_eq!(decode_assignment(&Bytes::from(b)).unwrap(), (4, a));

        // A version above 3 is written as 3.
        assert_eq!(&encode_subscription(&subscription(), 9)[..2], &[0, 3]);
    }

    #[test]
    fn negative_versions_and_short_input_are_errors() {
        let b = Bytes::from_static(&[0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        let e = decode_assignment(&b).unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::Invalid(_)), "{e:?}");
        assert_eq!(e.field, "version");
        assert!(decode_assignment(&Bytes::new()).is_err());
        let full = encode_subscription(&subscription(), 3);
        for len in 0..full.len() {
            assert!(
                decode_subscription(&full.slice(..len)).is_err(),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn user_data_borrows_from_the_buffer() {
        let b = encode_subscription(&subscription(), 1);
        let (_, s) = decode_subscription(&b).unwrap();
        let user_data = s.user_data.unwrap();
        assert_eq!(user_data.as_ptr(), b[13..].as_ptr());
    }

    #[test]
    fn round_trip_every_version() {
        for version in 0..=SUBSCRIPTION_MAX_VERSION {
            for seed in 0..200u64 {
                let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9) ^ version as u64);
                let s = ConsumerProtocolSubscription::random(&mut rng, version);
                let b = encode_subscription(&s, version);
                assert_eq!(decode_subscription(&b).unwrap(), (version, s), "v{version}");
                let a = ConsumerProtocolAssignment::random(&mut rng, version);
                let b = encode_assignment(&a, version);
                assert_eq!(decode_assignment(&b).unwrap(), (version, a), "v{version}");
            }
        }
    }
}
