//! ConsumerGroupHeartbeat (key 68), versions 0–1: the KIP-848 consumer group protocol, in
//! which the coordinator assigns partitions and one heartbeat both joins, keeps alive and
//! leaves. Flexible in every version.
//!
//! A member joins with `member_epoch` 0 ([`member_epoch::JOIN`]), then heartbeats with
//! the epoch of each answer; an answer with an `assignment` replaces the member's
//! partitions (named by topic id), which it acknowledges by listing them in
//! `topic_partitions` of a later heartbeat. It leaves with [`member_epoch::LEAVE`] (-1)
//! (a static member that will return, -2). Fields that did not change since the last
//! heartbeat are sent as `None`. From v1 the member makes its own `member_id` (a random
//! UUID, KIP-1082) and may subscribe by regular expression.
//!
//! `assignment` is a nullable structure, written as a one-byte marker (-1 for null, 1
//! before the value) as Kafka does. Kafka 4.x brokers accept v0–1.

use crate::protocol::{api_key, DecodeError, Reader, Request, Uuid, Wire, Writer};
use crate::wire_struct;

/// Special values of [`ConsumerGroupHeartbeatRequest::member_epoch`].
pub mod member_epoch {
    /// Joins the group.
    pub const JOIN: i32 = 0;
    /// Leaves the group.
    pub const LEAVE: i32 = -1;
    /// A static member leaves and will rejoin with the same instance id.
    pub const LEAVE_STATIC: i32 = -2;
}

wire_struct! {
    pub struct ConsumerGroupHeartbeatRequest {
        pub group_id: String [0..=32767],
        /// Empty on a v0 join (the coordinator makes one); from v1 made by the member.
        pub member_id: String [0..=32767],
        /// The current epoch, or one of [`member_epoch`].
        pub member_epoch: i32 [0..=32767],
        /// The static member's `group.instance.id`, or `None`.
        pub instance_id: Option<String> [0..=32767],
        /// The member's rack, or `None`.
        pub rack_id: Option<String> [0..=32767],
        /// How long the coordinator waits for the member to revoke partitions; -1 if
        /// unchanged.
        pub rebalance_timeout_ms: i32 [0..=32767] = -1,
        /// The subscribed topics, or `None` if unchanged.
        pub subscribed_topic_names: Option<Vec<String>> [0..=32767],
        /// v1+: the subscription as a regular expression, or `None` if unchanged.
        pub subscribed_topic_regex: Option<String> [1..=32767],
        /// The server-side assignor ("uniform", "range"), or `None`.
        pub server_assignor: Option<String> [0..=32767],
        /// The partitions the member owns, or `None` if unchanged.
        pub topic_partitions: Option<Vec<ConsumerGroupHeartbeatTopicPartitions>> [0..=32767],
    }
}

wire_struct! {
    /// Kafka's `TopicPartitions` of the ConsumerGroupHeartbeat request and response.
    pub struct ConsumerGroupHeartbeatTopicPartitions {
        pub topic_id: Uuid [0..=32767],
        pub partitions: Vec<i32> [0..=32767],
    }
}

wire_struct! {
    pub struct ConsumerGroupHeartbeatResponse {
        pub throttle_time_ms: i32 [0..=32767],
        pub error_code: i16 [0..=32767],
        pub error_message: Option<String> [0..=32767],
        /// The member id (v0: made by the coordinator on a join).
        pub member_id: Option<String> [0..=32767],
        pub member_epoch: i32 [0..=32767],
        /// How often to heartbeat.
        pub heartbeat_interval_ms: i32 [0..=32767],
        /// The member's new assignment, or `None` if unchanged.
        pub assignment: Option<ConsumerGroupHeartbeatAssignment> [0..=32767],
    }
}

wire_struct! {
    /// Kafka's `Assignment` of the ConsumerGroupHeartbeat response.
    pub struct ConsumerGroupHeartbeatAssignment {
        /// The partitions the member may consume now.
        pub topic_partitions: Vec<ConsumerGroupHeartbeatTopicPartitions> [0..=32767],
    }
}

/// A nullable structure: an int8 marker, -1 for null, else 1 followed by the structure.
impl Wire for Option<ConsumerGroupHeartbeatAssignment> {
    fn read(r: &mut Reader<'_>, flexible: bool, version: i16) -> Result<Self, DecodeError> {
        if r.i8()? < 0 {
            return Ok(None);
        }
        Ok(Some(ConsumerGroupHeartbeatAssignment::read(
            r, flexible, version,
        )?))
    }

    fn write(&self, w: &mut Writer, flexible: bool, version: i16) {
        match self {
            None => w.i8(-1),
            Some(a) => {
                w.i8(1);
                a.write(w, flexible, version);
            }
        }
    }
}

impl Request for ConsumerGroupHeartbeatRequest {
    fn throttle_time_ms(resp: &Self::Response) -> i32 {
        resp.throttle_time_ms
    }

    const API_KEY: i16 = api_key::CONSUMER_GROUP_HEARTBEAT;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 1;
    const FLEXIBLE_MIN: i16 = 0;
    type Response = ConsumerGroupHeartbeatResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{decode_response, encode_request};
    use bytes::Bytes;

    fn join() -> ConsumerGroupHeartbeatRequest {
        ConsumerGroupHeartbeatRequest {
            group_id: "g".into(),
            member_id: "m".into(),
            member_epoch: member_epoch::JOIN,
            rebalance_timeout_ms: 300_000,
            subscribed_topic_names: Some(vec!["t".into()]),
            topic_partitions: Some(vec![]),
            ..Default::default()
        }
    }

    #[test]
    fn request_v0_known_bytes() {
        let frame = encode_request(&join(), 0, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 33, // size
            0, 68, 0, 0, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // key 68, v0, header v2
            2, b'g', // group "g"
            2, b'm', // member "m"
            0, 0, 0, 0, // member epoch 0 (join)
            0, 0, // instance id, rack id: null
            0, 4, 0x93, 0xe0, // rebalance timeout 300000
            2, 2, b't', // subscribed topics ["t"]
            0, // server assignor: null
            1, // owned partitions: []
            0, // tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn request_v1_known_bytes() {
        let leave = ConsumerGroupHeartbeatRequest {
            group_id: "g".into(),
            member_id: "m".into(),
            member_epoch: member_epoch::LEAVE,
            subscribed_topic_regex: Some("t.*".into()),
            ..Default::default()
        };
        let frame = encode_request(&leave, 1, 7, Some("kc"));
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 35, // size
            0, 68, 0, 1, 0, 0, 0, 7, 0, 2, b'k', b'c', 0, // key 68, v1, header v2
            2, b'g', // group "g"
            2, b'm', // member "m"
            0xff, 0xff, 0xff, 0xff, // member epoch -1 (leave)
            0, 0, // instance id, rack id: null
            0xff, 0xff, 0xff, 0xff, // rebalance timeout -1 (unchanged)
            0, // subscribed topics: null
            4, b't', b'.', b'*', // subscribed regex "t.*" (v1+)
            0, // server assignor: null
            0, // owned partitions: null
            0, // tags
        ];
        assert_eq!(frame, want);
    }

    #[test]
    fn response_v1_known_bytes_with_assignment() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, 0, // correlation id, header tags
            0, 0, 0, 0, 0, 0, // throttle 0, error 0
            0, // error message: null
            2, b'm', // member id "m"
            0, 0, 0, 2, // member epoch 2
            0, 0, 0x13, 0x88, // heartbeat interval 5000
            1, // assignment: present
            2, // topic partitions: 1
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, // topic id
            3, 0, 0, 0, 0, 0, 0, 0, 1, 0, // partitions [0, 1], tags
            0, // assignment tags
            0, // tags
        ]);
        let (_, resp) = decode_response::<ConsumerGroupHeartbeatRequest>(&body, 1).unwrap();
        crate::protocol::testing::assert_reencodes::<ConsumerGroupHeartbeatRequest>(&body, 1);
        assert_eq!(resp.member_id.as_deref(), Some("m"));
        assert_eq!((resp.member_epoch, resp.heartbeat_interval_ms), (2, 5000));
        let a = resp.assignment.unwrap();
        assert_eq!(a.topic_partitions[0].topic_id.0[0], 1);
        assert_eq!(a.topic_partitions[0].partitions, [0, 1]);
    }

    #[test]
    fn response_v0_known_bytes_without_assignment() {
        #[rustfmt::skip]
        let body = Bytes::from_static(&[
            0, 0, 0, 7, 0, // correlation id, header tags
            0, 0, 0, 0, 0, 22, // throttle 0, error 22 (ILLEGAL_GENERATION)
            2, b'x', // error message "x"
            0, // member id: null
            0, 0, 0, 3, 0, 0, 0x13, 0x88, // member epoch 3, heartbeat interval 5000
            0xff, // assignment: null
            0, // tags
        ]);
        let (_, resp) = decode_response::<ConsumerGroupHeartbeatRequest>(&body, 0).unwrap();
        crate::protocol::testing::assert_reencodes::<ConsumerGroupHeartbeatRequest>(&body, 0);
        assert_eq!(resp.error_code, 22);
        assert_eq!(resp.error_message.as_deref(), Some("x"));
        assert_eq!((resp.member_id, resp.assignment), (None, None));
    }

    #[test]
    fn round_trip_every_version() {
        crate::protocol::testing::round_trip_all_versions::<ConsumerGroupHeartbeatRequest>(200);
    }

    #[test]
    fn truncated_responses_are_errors() {
        crate::protocol::testing::truncated_responses_fail::<ConsumerGroupHeartbeatRequest>(8);
    }
}
