//! Kafka's wire protocol as pure codecs: no sockets, clocks or threads.
//!
//! Each API lives in one module under [`messages`], declared with [`wire_struct!`]: a field
//! carries the version range in which it is present, and the same declaration yields the
//! encoder and the decoder for every version in the API's range. Unknown tagged fields are
//! kept, so responses from newer brokers decode.

pub mod error;
pub mod error_codes;
pub mod frame;
pub mod messages;
pub mod primitives;
#[cfg(test)]
pub(crate) mod testing;

pub use error::{DecodeError, DecodeErrorKind};
pub use primitives::{Reader, Segments, TaggedField, TaggedFields, Uuid, Wire, Writer};

/// A millisecond field of a request as a duration (negative counts as zero).
pub(crate) fn millis(ms: i32) -> std::time::Duration {
    std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// API keys of the requests this crate implements.
pub mod api_key {
    pub const PRODUCE: i16 = 0;
    pub const FETCH: i16 = 1;
    pub const LIST_OFFSETS: i16 = 2;
    pub const METADATA: i16 = 3;
    pub const OFFSET_COMMIT: i16 = 8;
    pub const OFFSET_FETCH: i16 = 9;
    pub const FIND_COORDINATOR: i16 = 10;
    pub const JOIN_GROUP: i16 = 11;
    pub const HEARTBEAT: i16 = 12;
    pub const LEAVE_GROUP: i16 = 13;
    pub const SYNC_GROUP: i16 = 14;
    pub const SASL_HANDSHAKE: i16 = 17;
    pub const API_VERSIONS: i16 = 18;
    pub const CREATE_TOPICS: i16 = 19;
    pub const DELETE_TOPICS: i16 = 20;
    pub const INIT_PRODUCER_ID: i16 = 22;
    pub const ADD_PARTITIONS_TO_TXN: i16 = 24;
    pub const ADD_OFFSETS_TO_TXN: i16 = 25;
    pub const END_TXN: i16 = 26;
    pub const TXN_OFFSET_COMMIT: i16 = 28;
    pub const SASL_AUTHENTICATE: i16 = 36;
    pub const DESCRIBE_TRANSACTIONS: i16 = 65;
    pub const CONSUMER_GROUP_HEARTBEAT: i16 = 68;

    /// The name Kafka gives an API key, for messages.
    pub fn name(key: i16) -> &'static str {
        match key {
            PRODUCE => "Produce",
            FETCH => "Fetch",
            LIST_OFFSETS => "ListOffsets",
            METADATA => "Metadata",
            OFFSET_COMMIT => "OffsetCommit",
            OFFSET_FETCH => "OffsetFetch",
            FIND_COORDINATOR => "FindCoordinator",
            JOIN_GROUP => "JoinGroup",
            HEARTBEAT => "Heartbeat",
            LEAVE_GROUP => "LeaveGroup",
            SYNC_GROUP => "SyncGroup",
            SASL_HANDSHAKE => "SaslHandshake",
            API_VERSIONS => "ApiVersions",
            CREATE_TOPICS => "CreateTopics",
            DELETE_TOPICS => "DeleteTopics",
            INIT_PRODUCER_ID => "InitProducerId",
            ADD_PARTITIONS_TO_TXN => "AddPartitionsToTxn",
            ADD_OFFSETS_TO_TXN => "AddOffsetsToTxn",
            END_TXN => "EndTxn",
            TXN_OFFSET_COMMIT => "TxnOffsetCommit",
            SASL_AUTHENTICATE => "SaslAuthenticate",
            DESCRIBE_TRANSACTIONS => "DescribeTransactions",
            CONSUMER_GROUP_HEARTBEAT => "ConsumerGroupHeartbeat",
            _ => "Unknown",
        }
    }
}

/// A request body: its API key, the versions implemented, the first flexible version and
/// the response type.
pub trait Request: Wire + std::fmt::Debug + Send + 'static {
    const API_KEY: i16;
    const MIN_VERSION: i16;
    const MAX_VERSION: i16;
    /// First flexible version (compact encodings, tagged fields); `i16::MAX` if none.
    const FLEXIBLE_MIN: i16;
    type Response: Wire + std::fmt::Debug + Send + 'static;

    fn is_flexible(version: i16) -> bool {
        version >= Self::FLEXIBLE_MIN
    }

    /// How long the broker may hold this request before answering (a fetch's maximum
    /// wait, a produce's or topic operation's timeout): time the client must not take for
    /// a broker that stopped answering.
    fn server_wait(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// The `throttle_time_ms` of an answer, for APIs whose answers carry one (KIP-219).
    fn throttle_time_ms(_resp: &Self::Response) -> i32 {
        0
    }

    /// About how many bytes the encoded request takes, so the frame is allocated once.
    fn size_hint(&self) -> usize {
        64
    }

    /// Request header version: 2 for flexible versions, 1 otherwise.
    fn request_header_version(version: i16) -> i16 {
        if Self::is_flexible(version) {
            2
        } else {
            1
        }
    }

    /// Response header version: 1 (with tagged fields) for flexible versions, 0 otherwise.
    /// ApiVersions overrides this: its response header is always v0.
    fn response_header_version(version: i16) -> i16 {
        if Self::is_flexible(version) {
            1
        } else {
            0
        }
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __wire_default {
    () => {
        Default::default()
    };
    ($e:expr) => {
        $e
    };
}

/// Declares a protocol structure. Each field names the versions it is present in,
/// `[min..=max]` (use `32767` for "every later version"), and optionally its value when
/// absent (`= expr`, otherwise `Default::default()`). A `tagged_fields` member is added
/// that keeps the tagged fields of flexible versions.
#[macro_export]
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty [$min:literal ..= $max:literal] $(= $default:expr)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// Tagged fields of flexible versions, kept as raw bytes.
            pub tagged_fields: $crate::protocol::TaggedFields,
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    $( $field: $crate::__wire_default!($($default)?), )*
                    tagged_fields: Default::default(),
                }
            }
        }

        impl $crate::protocol::Wire for $name {
            #[allow(unused_comparisons, unused_mut, clippy::manual_range_contains, clippy::double_comparisons)]
            fn read(
                r: &mut $crate::protocol::Reader<'_>,
                flexible: bool,
                version: i16,
            ) -> Result<Self, $crate::protocol::DecodeError> {
                let mut s = Self::default();
                $(
                    if version >= $min && version <= $max {
                        s.$field = <$ty as $crate::protocol::Wire>::read(r, flexible, version)
                            .map_err(|e| e.in_field(stringify!($field)))?;
                    }
                )*
                if flexible {
                    s.tagged_fields = $crate::protocol::TaggedFields::read(r)
                        .map_err(|e| e.in_field("tagged_fields"))?;
                }
                Ok(s)
            }

            #[allow(unused_comparisons, clippy::manual_range_contains, clippy::double_comparisons)]
            fn write(&self, w: &mut $crate::protocol::Writer, flexible: bool, version: i16) {
                $(
                    if version >= $min && version <= $max {
                        $crate::protocol::Wire::write(&self.$field, w, flexible, version);
                    }
                )*
                if flexible {
                    self.tagged_fields.write(w);
                }
            }
        }

        #[cfg(test)]
        impl $crate::protocol::testing::Random for $name {
            #[allow(unused_comparisons, unused_mut, clippy::manual_range_contains, clippy::double_comparisons)]
            fn random(rng: &mut $crate::protocol::testing::Rng, version: i16) -> Self {
                let mut s = Self::default();
                $(
                    if version >= $min && version <= $max {
                        s.$field = <$ty as $crate::protocol::testing::Random>::random(rng, version);
                    }
                )*
                s
            }
        }
    };
}
