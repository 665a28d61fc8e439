//! The error every layer above the codecs returns: a numeric code (Kafka's wire numbers,
//! or a negative local code) and a message naming what failed.

use crate::protocol::error_codes;
use std::fmt;

/// Local (client-side) error codes. Negative, never reused. Where librdkafka has an error
/// of the same meaning, the number is the same.
pub mod local {
    /// A record batch or message failed validation (CRC, structure).
    pub const BAD_MSG: i32 = -199;
    /// Decompression failed or exceeded its limit.
    pub const BAD_COMPRESSION: i32 = -198;
    /// The client is being destroyed.
    pub const DESTROY: i32 = -197;
    /// A generic local failure.
    pub const FAIL: i32 = -196;
    /// A connection failed, broke or could not be established.
    pub const TRANSPORT: i32 = -195;
    /// A host name could not be resolved.
    pub const RESOLVE: i32 = -193;
    /// TLS failed: the broker's certificate (not trusted, another host's, expired), a
    /// refused handshake, or a TLS client on a plaintext listener.
    pub const SSL: i32 = -181;
    /// SASL authentication failed: wrong user name or password, a SCRAM exchange the
    /// client could not verify, or a SASL client on a listener that takes no SASL.
    pub const AUTHENTICATION: i32 = -169;
    /// The topic is not known to the cluster.
    pub const UNKNOWN_TOPIC: i32 = -188;
    /// No broker could be reached.
    pub const ALL_BROKERS_DOWN: i32 = -187;
    /// An argument was invalid.
    pub const INVALID_ARG: i32 = -186;
    /// The operation did not complete within its timeout.
    pub const TIMED_OUT: i32 = -185;
    /// The partition does not exist in the topic.
    pub const UNKNOWN_PARTITION: i32 = -190;
    /// The broker and the client share no version of a required API.
    pub const UNSUPPORTED_FEATURE: i32 = -165;
    /// Nothing there: no event waiting, no such entry.
    pub const NOENT: i32 = -156;
    /// A message was not delivered within `message.timeout.ms`.
    pub const MSG_TIMED_OUT: i32 = -192;
    /// The producer's queue is full (`queue.buffering.max.messages`/`.kbytes`, or too
    /// many delivery reports wait to be served).
    pub const QUEUE_FULL: i32 = -184;
    /// A queued message was purged before it was sent.
    pub const PURGE_QUEUE: i32 = -152;
    /// A message in flight was purged; the broker may still write it.
    pub const PURGE_INFLIGHT: i32 = -151;
    /// The producer hit a fatal error and accepts nothing more.
    pub const FATAL: i32 = -150;
    /// Reached the end of a partition (`enable.partition.eof`).
    pub const PARTITION_EOF: i32 = -191;
    /// No offset to start from (no committed offset and `auto.offset.reset=error`).
    pub const NO_OFFSET: i32 = -168;
    /// The position was reset by `auto.offset.reset=error` rules: out of range, and the policy is to fail.
    pub const AUTO_OFFSET_RESET: i32 = -140;
    /// The application did not poll within `max.poll.interval.ms`: the consumer left its group (it rejoins on the next poll).
    pub const MAX_POLL_EXCEEDED: i32 = -147;
    /// The group assignment was lost (the member was fenced or lost contact): the partitions were not revoked cleanly, so their offsets must not be committed.
    pub const ASSIGNMENT_LOST: i32 = -142;
    /// A rebalance revokes partitions (a rebalance event).
    pub const REVOKE_PARTITIONS: i32 = -174;
    /// A rebalance assigns partitions (a rebalance event).
    pub const ASSIGN_PARTITIONS: i32 = -175;
    /// The call is not valid in the client's current state (for example a commit while not in a group).
    pub const STATE: i32 = -172;
    /// This member was fenced by a newer instance with the same `group.instance.id`.
    pub const FENCED: i32 = -144;
    /// A required pointer argument was NULL.
    pub const NULL_ARG: i32 = -1001;
    /// An internal panic was caught at the C boundary.
    pub const PANIC: i32 = -1002;
    /// A broker's response violated the protocol (bad framing, correlation id, encoding).
    pub const PROTOCOL: i32 = -1003;
    /// A response frame exceeded `receive.message.max.bytes`.
    pub const FRAME_TOO_LARGE: i32 = -1004;
    /// A configuration property name is not known.
    pub const UNKNOWN_CONFIG: i32 = -1005;
    /// A configuration property has an invalid value.
    pub const INVALID_CONFIG: i32 = -1006;
    /// A caller-supplied buffer is too small.
    pub const BUFFER_TOO_SMALL: i32 = -1007;

    /// (code, name, description) for every local code.
    pub const TABLE: &[(i32, &str, &str)] = &[
        (BAD_MSG, "_BAD_MSG", "Local: bad message format"),
        (
            BAD_COMPRESSION,
            "_BAD_COMPRESSION",
            "Local: invalid or oversized compressed data",
        ),
        (DESTROY, "_DESTROY", "Local: client is being destroyed"),
        (FAIL, "_FAIL", "Local: failure"),
        (TRANSPORT, "_TRANSPORT", "Local: broker transport failure"),
        (RESOLVE, "_RESOLVE", "Local: host resolution failure"),
        (SSL, "_SSL", "Local: SSL error"),
        (
            AUTHENTICATION,
            "_AUTHENTICATION",
            "Local: authentication failure",
        ),
        (UNKNOWN_TOPIC, "_UNKNOWN_TOPIC", "Local: unknown topic"),
        (
            ALL_BROKERS_DOWN,
            "_ALL_BROKERS_DOWN",
            "Local: all brokers are down",
        ),
        (INVALID_ARG, "_INVALID_ARG", "Local: invalid argument"),
        (TIMED_OUT, "_TIMED_OUT", "Local: timed out"),
        (
            UNKNOWN_PARTITION,
            "_UNKNOWN_PARTITION",
            "Local: unknown partition",
        ),
        (
            UNSUPPORTED_FEATURE,
            "_UNSUPPORTED_FEATURE",
            "Local: no API version in common with the broker",
        ),
        (NOENT, "_NOENT", "Local: no such entry"),
        (MSG_TIMED_OUT, "_MSG_TIMED_OUT", "Local: message timed out"),
        (QUEUE_FULL, "_QUEUE_FULL", "Local: queue full"),
        (PURGE_QUEUE, "_PURGE_QUEUE", "Local: purged in queue"),
        (PURGE_INFLIGHT, "_PURGE_INFLIGHT", "Local: purged in flight"),
        (FATAL, "_FATAL", "Local: fatal error"),
        (
            PARTITION_EOF,
            "_PARTITION_EOF",
            "Local: broker: no more messages",
        ),
        (NO_OFFSET, "_NO_OFFSET", "Local: no offset stored"),
        (
            AUTO_OFFSET_RESET,
            "_AUTO_OFFSET_RESET",
            "Local: no offset to automatically reset to",
        ),
        (
            MAX_POLL_EXCEEDED,
            "_MAX_POLL_EXCEEDED",
            "Local: maximum application poll interval exceeded",
        ),
        (
            ASSIGNMENT_LOST,
            "_ASSIGNMENT_LOST",
            "Local: assignment lost",
        ),
        (
            REVOKE_PARTITIONS,
            "_REVOKE_PARTITIONS",
            "Local: revoke partitions",
        ),
        (
            ASSIGN_PARTITIONS,
            "_ASSIGN_PARTITIONS",
            "Local: assign partitions",
        ),
        (STATE, "_STATE", "Local: erroneous state"),
        (
            FENCED,
            "_FENCED",
            "Local: this instance has been fenced by a newer instance",
        ),
        (
            NULL_ARG,
            "_NULL_ARG",
            "Local: required pointer argument is NULL",
        ),
        (PANIC, "_PANIC", "Local: internal error (panic caught)"),
        (
            PROTOCOL,
            "_PROTOCOL",
            "Local: broker response violates the protocol",
        ),
        (
            FRAME_TOO_LARGE,
            "_FRAME_TOO_LARGE",
            "Local: response larger than receive.message.max.bytes",
        ),
        (
            UNKNOWN_CONFIG,
            "_UNKNOWN_CONFIG",
            "Local: unknown configuration property",
        ),
        (
            INVALID_CONFIG,
            "_INVALID_CONFIG",
            "Local: invalid configuration value",
        ),
        (
            BUFFER_TOO_SMALL,
            "_BUFFER_TOO_SMALL",
            "Local: buffer too small",
        ),
    ];
}

/// A failure: the code and a message naming the broker, topic, partition and request
/// where they are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: i32,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// An error carrying a Kafka error code returned by a broker.
    pub fn kafka(code: i16, context: impl fmt::Display) -> Self {
        let desc = error_codes::lookup(code)
            .map(|e| e.name)
            .unwrap_or("UNKNOWN_ERROR_CODE");
        Error::new(
            i32::from(code),
            format!("{context}: broker returned {desc} ({code})"),
        )
    }

    /// Like [`Error::kafka`], adding the broker's own error message when it sent one.
    pub fn kafka_with_message(
        code: i16,
        message: Option<&str>,
        context: impl fmt::Display,
    ) -> Self {
        let e = Error::kafka(code, context);
        match message {
            Some(m) if !m.is_empty() => e.context(m),
            _ => e,
        }
    }

    pub fn transport(msg: impl Into<String>) -> Self {
        Error::new(local::TRANSPORT, msg)
    }

    pub fn timed_out(msg: impl Into<String>) -> Self {
        Error::new(local::TIMED_OUT, msg)
    }

    pub fn invalid_arg(msg: impl Into<String>) -> Self {
        Error::new(local::INVALID_ARG, msg)
    }

    pub fn protocol(msg: impl Into<String>) -> Self {
        Error::new(local::PROTOCOL, msg)
    }

    /// Whether retrying the operation may succeed: retriable Kafka errors and transport
    /// failures (including a connection closed because the broker stopped answering).
    /// `TIMED_OUT` is not: it means the caller's own deadline has passed.
    pub fn is_retriable(&self) -> bool {
        match self.code {
            local::TRANSPORT | local::ALL_BROKERS_DOWN | local::RESOLVE => true,
            c if c > 0 && c <= i32::from(i16::MAX) => error_codes::is_retriable(c as i16),
            _ => false,
        }
    }

    /// Whether the error means our view of partition leadership may be stale:
    /// UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER,
    /// NETWORK_EXCEPTION, KAFKA_STORAGE_ERROR, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH,
    /// UNKNOWN_TOPIC_ID, and losing the broker.
    pub fn needs_metadata_refresh(&self) -> bool {
        matches!(
            self.code,
            3 | 5 | 6 | 13 | 56 | 74 | 75 | 100 | local::TRANSPORT | local::ALL_BROKERS_DOWN
        )
    }

    /// The error a retry loop returns when its deadline comes before another attempt.
    pub fn gave_up(self, attempts: u32) -> Self {
        Error::new(
            self.code,
            format!(
                "{} (gave up after {attempts} attempts: timeout)",
                self.message
            ),
        )
    }

    /// Adds context in front of the message.
    pub fn context(mut self, ctx: impl fmt::Display) -> Self {
        self.message = format!("{ctx}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", name(self.code), self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// The symbolic name of a code: `_TIMED_OUT` style for local codes, Kafka's name
/// (`OFFSET_OUT_OF_RANGE`) for broker codes, "NO_ERROR" for 0, `_UNKNOWN` otherwise.
pub fn name(code: i32) -> &'static str {
    if code == 0 {
        return "NO_ERROR";
    }
    if let Some((_, n, _)) = local::TABLE.iter().find(|(c, _, _)| *c == code) {
        return n;
    }
    match i16::try_from(code).ok().and_then(error_codes::lookup) {
        Some(e) => e.name,
        None => "_UNKNOWN",
    }
}

/// A human description of a code.
pub fn description(code: i32) -> &'static str {
    if code == 0 {
        return "Success";
    }
    if let Some((_, _, d)) = local::TABLE.iter().find(|(c, _, _)| *c == code) {
        return d;
    }
    match i16::try_from(code).ok().and_then(error_codes::lookup) {
        Some(e) => e.description,
        None => "Unknown error code",
    }
}
