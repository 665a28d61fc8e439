//! Kafka's error codes as data: one table, indexed by `code + 1` (codes are dense from -1).
//!
//! Names follow the broker's `Errors` enumeration; `retriable` says whether the Java client
//! treats the error as retriable (its exception extends `RetriableException`). A client may
//! still decide differently for a particular request, e.g. refresh metadata before retrying.

/// One Kafka error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KafkaErrorInfo {
    pub code: i16,
    /// Upper snake case, as in the protocol guide: `"OFFSET_OUT_OF_RANGE"`.
    pub name: &'static str,
    /// Whether the same request may succeed if sent again later.
    pub retriable: bool,
    /// A short human-readable explanation.
    pub description: &'static str,
}

const fn e(
    code: i16,
    name: &'static str,
    retriable: bool,
    description: &'static str,
) -> KafkaErrorInfo {
    KafkaErrorInfo {
        code,
        name,
        retriable,
        description,
    }
}

const R: bool = true;
const N: bool = false;

/// Every known error code, sorted by code, from -1 (`UNKNOWN_SERVER_ERROR`) to the newest.
/// `ERROR_CODES[(code + 1) as usize].code == code` for every entry.
#[rustfmt::skip]
pub static ERROR_CODES: &[KafkaErrorInfo] = &[
    e(-1, "UNKNOWN_SERVER_ERROR", N, "The broker hit an unexpected error while handling the request."),
    e(0, "NONE", N, "No error."),
    e(1, "OFFSET_OUT_OF_RANGE", N, "The requested offset is outside the range of offsets the broker holds for the partition."),
    e(2, "CORRUPT_MESSAGE", R, "A message failed its checksum, has an invalid size, or is otherwise corrupt."),
    e(3, "UNKNOWN_TOPIC_OR_PARTITION", R, "The broker does not host this topic or partition."),
    e(4, "INVALID_FETCH_SIZE", N, "The requested fetch size is not valid."),
    e(5, "LEADER_NOT_AVAILABLE", R, "The partition has no leader right now, for instance during a leader election."),
    e(6, "NOT_LEADER_OR_FOLLOWER", R, "The broker is not the leader (or not a replica) of the partition; refresh metadata."),
    e(7, "REQUEST_TIMED_OUT", R, "The request did not complete within its timeout."),
    e(8, "BROKER_NOT_AVAILABLE", N, "The broker is not available."),
    e(9, "REPLICA_NOT_AVAILABLE", R, "A replica of the partition is not available."),
    e(10, "MESSAGE_TOO_LARGE", N, "A message is larger than the broker or topic allows."),
    e(11, "STALE_CONTROLLER_EPOCH", N, "The request came from a controller that is no longer current."),
    e(12, "OFFSET_METADATA_TOO_LARGE", N, "The metadata attached to an offset commit is too large."),
    e(13, "NETWORK_EXCEPTION", R, "The connection closed before a response arrived."),
    e(14, "COORDINATOR_LOAD_IN_PROGRESS", R, "The coordinator is still loading its state."),
    e(15, "COORDINATOR_NOT_AVAILABLE", R, "The coordinator is not available."),
    e(16, "NOT_COORDINATOR", R, "This broker is not the coordinator for the group or transaction."),
    e(17, "INVALID_TOPIC_EXCEPTION", N, "The topic name is not valid, or the operation is not allowed on it."),
    e(18, "RECORD_LIST_TOO_LARGE", N, "A record batch is larger than the log segment size."),
    e(19, "NOT_ENOUGH_REPLICAS", R, "Fewer replicas are in sync than the topic requires; nothing was written."),
    e(20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", R, "The records were written, but to fewer in-sync replicas than required."),
    e(21, "INVALID_REQUIRED_ACKS", N, "The acks value of the produce request is not valid."),
    e(22, "ILLEGAL_GENERATION", N, "The group generation id is not the current one."),
    e(23, "INCONSISTENT_GROUP_PROTOCOL", N, "The member's protocols do not match those of the group."),
    e(24, "INVALID_GROUP_ID", N, "The group id is not valid."),
    e(25, "UNKNOWN_MEMBER_ID", N, "The coordinator does not know this group member."),
    e(26, "INVALID_SESSION_TIMEOUT", N, "The session timeout is outside the range the broker allows."),
    e(27, "REBALANCE_IN_PROGRESS", N, "The group is rebalancing; the member must rejoin."),
    e(28, "INVALID_COMMIT_OFFSET_SIZE", N, "The size of the offset commit data is not valid."),
    e(29, "TOPIC_AUTHORIZATION_FAILED", N, "The client is not authorized to access the topic."),
    e(30, "GROUP_AUTHORIZATION_FAILED", N, "The client is not authorized to access the group."),
    e(31, "CLUSTER_AUTHORIZATION_FAILED", N, "The client is not authorized for this cluster operation."),
    e(32, "INVALID_TIMESTAMP", N, "A message timestamp is outside the accepted range."),
    e(33, "UNSUPPORTED_SASL_MECHANISM", N, "The broker does not support the requested SASL mechanism."),
    e(34, "ILLEGAL_SASL_STATE", N, "The request is not valid in the current SASL state."),
    e(35, "UNSUPPORTED_VERSION", N, "The broker does not support this API version."),
    e(36, "TOPIC_ALREADY_EXISTS", N, "A topic with this name already exists."),
    e(37, "INVALID_PARTITIONS", N, "The number of partitions is not valid."),
    e(38, "INVALID_REPLICATION_FACTOR", N, "The replication factor is below 1 or above the number of brokers."),
    e(39, "INVALID_REPLICA_ASSIGNMENT", N, "The replica assignment is not valid."),
    e(40, "INVALID_CONFIG", N, "The configuration is not valid."),
    e(41, "NOT_CONTROLLER", R, "This broker is not the active controller."),
    e(42, "INVALID_REQUEST", N, "The request is malformed or inconsistent; see the broker log."),
    e(43, "UNSUPPORTED_FOR_MESSAGE_FORMAT", N, "The topic's message format version does not support this request."),
    e(44, "POLICY_VIOLATION", N, "The request breaks a policy configured on the broker."),
    e(45, "OUT_OF_ORDER_SEQUENCE_NUMBER", N, "The broker received a producer sequence number out of order."),
    e(46, "DUPLICATE_SEQUENCE_NUMBER", N, "The broker already received a batch with this sequence number."),
    e(47, "INVALID_PRODUCER_EPOCH", N, "The producer epoch is older than the current one for this producer id."),
    e(48, "INVALID_TXN_STATE", N, "The operation is not valid in the transaction's current state."),
    e(49, "INVALID_PRODUCER_ID_MAPPING", N, "The producer id does not match the transactional id."),
    e(50, "INVALID_TRANSACTION_TIMEOUT", N, "The transaction timeout exceeds the broker's maximum."),
    e(51, "CONCURRENT_TRANSACTIONS", R, "Another transaction for this producer is still being completed."),
    e(52, "TRANSACTION_COORDINATOR_FENCED", N, "A newer transaction coordinator has taken over this transactional id."),
    e(53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", N, "The client is not authorized to use this transactional id."),
    e(54, "SECURITY_DISABLED", N, "Security features are disabled on the broker."),
    e(55, "OPERATION_NOT_ATTEMPTED", N, "The broker did not attempt the operation because a related one failed."),
    e(56, "KAFKA_STORAGE_ERROR", R, "The broker's log directory for the partition is offline."),
    e(57, "LOG_DIR_NOT_FOUND", N, "The requested log directory does not exist in the broker's configuration."),
    e(58, "SASL_AUTHENTICATION_FAILED", N, "SASL authentication failed."),
    e(59, "UNKNOWN_PRODUCER_ID", N, "The broker holds no state for this producer id."),
    e(60, "REASSIGNMENT_IN_PROGRESS", N, "A partition reassignment is already in progress."),
    e(61, "DELEGATION_TOKEN_AUTH_DISABLED", N, "Delegation token authentication is disabled."),
    e(62, "DELEGATION_TOKEN_NOT_FOUND", N, "The delegation token was not found."),
    e(63, "DELEGATION_TOKEN_OWNER_MISMATCH", N, "The principal does not own the delegation token."),
    e(64, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", N, "Delegation token requests are not allowed on this connection's authentication."),
    e(65, "DELEGATION_TOKEN_AUTHORIZATION_FAILED", N, "The client is not authorized for this delegation token operation."),
    e(66, "DELEGATION_TOKEN_EXPIRED", N, "The delegation token has expired."),
    e(67, "INVALID_PRINCIPAL_TYPE", N, "The principal type is not supported."),
    e(68, "NON_EMPTY_GROUP", N, "The group still has members."),
    e(69, "GROUP_ID_NOT_FOUND", N, "The group id does not exist."),
    e(70, "FETCH_SESSION_ID_NOT_FOUND", R, "The broker does not know the fetch session id."),
    e(71, "INVALID_FETCH_SESSION_EPOCH", R, "The fetch session epoch is not the expected one."),
    e(72, "LISTENER_NOT_FOUND", R, "The leader has no endpoint for the listener the request arrived on."),
    e(73, "TOPIC_DELETION_DISABLED", N, "Topic deletion is disabled on the broker."),
    e(74, "FENCED_LEADER_EPOCH", R, "The request's leader epoch is older than the broker's."),
    e(75, "UNKNOWN_LEADER_EPOCH", R, "The request's leader epoch is newer than the broker knows."),
    e(76, "UNSUPPORTED_COMPRESSION_TYPE", N, "The broker cannot serve this compression type to the requester's version."),
    e(77, "STALE_BROKER_EPOCH", N, "The broker epoch in the request is out of date."),
    e(78, "OFFSET_NOT_AVAILABLE", R, "The leader's high watermark has not caught up yet, so the offset is not available."),
    e(79, "MEMBER_ID_REQUIRED", N, "The group member must rejoin with the member id the coordinator assigned."),
    e(80, "PREFERRED_LEADER_NOT_AVAILABLE", R, "The preferred leader is not available."),
    e(81, "GROUP_MAX_SIZE_REACHED", N, "The group has reached its maximum size."),
    e(82, "FENCED_INSTANCE_ID", N, "Another member with the same group instance id has replaced this one."),
    e(83, "ELIGIBLE_LEADERS_NOT_AVAILABLE", R, "No replica eligible for leadership is available."),
    e(84, "ELECTION_NOT_NEEDED", R, "The leader election is not needed."),
    e(85, "NO_REASSIGNMENT_IN_PROGRESS", N, "No partition reassignment is in progress."),
    e(86, "GROUP_SUBSCRIBED_TO_TOPIC", N, "Offsets cannot be deleted while the group is subscribed to the topic."),
    e(87, "INVALID_RECORD", N, "A record failed the broker's validation."),
    e(88, "UNSTABLE_OFFSET_COMMIT", R, "The partition has pending transactional offset commits."),
    e(89, "THROTTLING_QUOTA_EXCEEDED", R, "The request exceeded a throttling quota."),
    e(90, "PRODUCER_FENCED", N, "A newer producer with the same transactional id has fenced this one."),
    e(91, "RESOURCE_NOT_FOUND", N, "The referenced resource does not exist."),
    e(92, "DUPLICATE_RESOURCE", N, "The request names the same resource more than once."),
    e(93, "UNACCEPTABLE_CREDENTIAL", N, "The credential does not meet the broker's requirements."),
    e(94, "INCONSISTENT_VOTER_SET", N, "The voter set in the request does not match the receiver's."),
    e(95, "INVALID_UPDATE_VERSION", N, "The update version is not valid."),
    e(96, "FEATURE_UPDATE_FAILED", N, "The feature update could not be applied."),
    e(97, "PRINCIPAL_DESERIALIZATION_FAILURE", N, "The broker could not deserialize the forwarded principal."),
    e(98, "SNAPSHOT_NOT_FOUND", N, "The requested metadata snapshot does not exist."),
    e(99, "POSITION_OUT_OF_RANGE", N, "The requested position is outside the snapshot."),
    e(100, "UNKNOWN_TOPIC_ID", R, "The broker does not host a topic with this id."),
    e(101, "DUPLICATE_BROKER_REGISTRATION", N, "Another broker is already registered with this id."),
    e(102, "BROKER_ID_NOT_REGISTERED", N, "The broker id is not registered."),
    e(103, "INCONSISTENT_TOPIC_ID", R, "The topic id in the request differs from the one in the log."),
    e(104, "INCONSISTENT_CLUSTER_ID", N, "The cluster id in the request does not match this cluster's."),
    e(105, "TRANSACTIONAL_ID_NOT_FOUND", N, "The transactional id does not exist."),
    e(106, "FETCH_SESSION_TOPIC_ID_ERROR", R, "The fetch session's topic ids are inconsistent."),
    e(107, "INELIGIBLE_REPLICA", N, "The replica is not eligible to join the in-sync replica set."),
    e(108, "NEW_LEADER_ELECTED", N, "A new leader was elected while the request was pending."),
    e(109, "OFFSET_MOVED_TO_TIERED_STORAGE", N, "The requested offset now lives in tiered storage."),
    e(110, "FENCED_MEMBER_EPOCH", N, "The member epoch was fenced; the member must rejoin without its partitions."),
    e(111, "UNRELEASED_INSTANCE_ID", N, "Another member still uses this group instance id."),
    e(112, "UNSUPPORTED_ASSIGNOR", N, "The group does not support the assignor or its version range."),
    e(113, "STALE_MEMBER_EPOCH", N, "The member epoch is out of date; retry after the next heartbeat."),
    e(114, "MISMATCHED_ENDPOINT_TYPE", N, "The request reached an endpoint of the wrong type."),
    e(115, "UNSUPPORTED_ENDPOINT_TYPE", N, "This endpoint type is not supported."),
    e(116, "UNKNOWN_CONTROLLER_ID", N, "The controller id is not known."),
    e(117, "UNKNOWN_SUBSCRIPTION_ID", N, "The telemetry subscription id is unknown or out of date."),
    e(118, "TELEMETRY_TOO_LARGE", N, "The telemetry push is larger than the broker accepts."),
    e(119, "INVALID_REGISTRATION", N, "The controller rejected the broker registration."),
    e(120, "TRANSACTION_ABORTABLE", N, "The transaction hit an error; abort it to continue with this transactional id."),
    e(121, "INVALID_RECORD_STATE", N, "The record's delivery state does not allow the acknowledgement."),
    e(122, "SHARE_SESSION_NOT_FOUND", R, "The share session does not exist."),
    e(123, "INVALID_SHARE_SESSION_EPOCH", R, "The share session epoch is not the expected one."),
    e(124, "FENCED_STATE_EPOCH", N, "The share group state epoch does not match the share coordinator's."),
    e(125, "INVALID_VOTER_KEY", N, "The voter key does not match the receiving replica's key."),
    e(126, "DUPLICATE_VOTER", N, "The voter is already in the voter set."),
    e(127, "VOTER_NOT_FOUND", N, "The voter is not in the voter set."),
    e(128, "INVALID_REGULAR_EXPRESSION", N, "The regular expression is not valid."),
    e(129, "REBOOTSTRAP_REQUIRED", N, "The client's metadata is stale; it must bootstrap again."),
    e(130, "STREAMS_INVALID_TOPOLOGY", N, "The streams topology is not valid."),
    e(131, "STREAMS_INVALID_TOPOLOGY_EPOCH", N, "The streams topology epoch is not valid."),
    e(132, "STREAMS_TOPOLOGY_FENCED", N, "The streams topology epoch is out of date."),
    e(133, "SHARE_SESSION_LIMIT_REACHED", R, "The broker has reached its limit of share sessions."),
];

/// The entry for `code`, or `None` for a code this table does not know.
pub fn lookup(code: i16) -> Option<&'static KafkaErrorInfo> {
    let index = usize::try_from(i32::from(code) + 1).ok()?;
    ERROR_CODES.get(index)
}

/// Whether `code` is retriable. Unknown codes are not.
pub fn is_retriable(code: i16) -> bool {
    lookup(code).is_some_and(|e| e.retriable)
}

/// The upper-snake-case name of `code`, or `"UNKNOWN"` for a code this table does not know.
pub fn name(code: i16) -> &'static str {
    lookup(code).map_or("UNKNOWN", |e| e.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn table_is_dense_and_sorted() {
        assert_eq!(ERROR_CODES[0].code, -1);
        for (i, e) in ERROR_CODES.iter().enumerate() {
            assert_eq!(i32::from(e.code) + 1, i as i32, "{} out of place", e.name);
            assert!(!e.description.is_empty(), "{} has no description", e.name);
        }
        assert!(ERROR_CODES.len() >= 135);
    }

    #[test]
    fn names_are_unique_upper_snake() {
        let mut seen = HashSet::new();
        for e in ERROR_CODES {
            assert!(seen.insert(e.name), "duplicate {}", e.name);
            assert!(e
                .name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
        }
    }

    #[test]
    fn known_entries() {
        let check = |code: i16, name: &str, retriable: bool| {
            let e = lookup(code).unwrap();
            assert_eq!(e.code, code);
            assert_eq!(e.name, name);
            assert_eq!(e.retriable, retriable, "{name}");
            assert_eq!(is_retriable(code), retriable);
        };
        check(-1, "UNKNOWN_SERVER_ERROR", false);
        check(0, "NONE", false);
        check(1, "OFFSET_OUT_OF_RANGE", false);
        check(2, "CORRUPT_MESSAGE", true);
        check(3, "UNKNOWN_TOPIC_OR_PARTITION", true);
        check(6, "NOT_LEADER_OR_FOLLOWER", true);
        check(7, "REQUEST_TIMED_OUT", true);
        check(35, "UNSUPPORTED_VERSION", false);
        check(36, "TOPIC_ALREADY_EXISTS", false);
        check(74, "FENCED_LEADER_EPOCH", true);
        check(90, "PRODUCER_FENCED", false);
        check(100, "UNKNOWN_TOPIC_ID", true);
    }

    #[test]
    fn unknown_codes() {
        assert!(lookup(-2).is_none());
        assert!(lookup(i16::MIN).is_none());
        assert!(lookup(i16::MAX).is_none());
        assert!(!is_retriable(i16::MAX));
        assert_eq!(name(-2), "UNKNOWN");
        assert_eq!(name(3), "UNKNOWN_TOPIC_OR_PARTITION");
    }
}
