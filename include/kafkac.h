/*
 * kafkac: an Apache Kafka client with a C API.
 *
 * Conventions:
 *  - Every fallible function returns kc_err_t: KC_OK (0) on success, a Kafka error
 *    code (KC_ERR_<NAME>, Kafka's wire numbers) or a local error (KC_ERR__<NAME>,
 *    negative). kc_err_name() and kc_err_str() describe any code; kc_last_error() copies
 *    the detail of the last failure on the calling thread (which broker, topic,
 *    partition and request).
 *  - Out-parameters are written only on success (one exception: kc_conf_get reports
 *    the length a value needs with KC_ERR__BUFFER_TOO_SMALL).
 *  - Handles are opaque. Each has a _new (or is returned by a call) and a _free that
 *    accepts NULL; freeing twice is undefined behaviour.
 *  - Ownership is stated on each function: "The caller owns the result", "Borrowed for
 *    the duration of the call", "Valid until ..._free is called".
 *  - Buffers are (pointer, length). A NULL pointer with length 0 is a null key/value; a
 *    non-NULL pointer with length 0 is an empty one.
 *  - No function unwinds or aborts on internal errors: they return KC_ERR__PANIC.
 *  - Each function's comment lists the codes it returns; kc_client_t's explains when
 *    the network calls return KC_ERR__TIMED_OUT, KC_ERR__ALL_BROKERS_DOWN and
 *    KC_ERR__TRANSPORT.
 *  - A kc_client_t may be used from many threads at once, and freed while other
 *    threads are inside calls on it (they return KC_ERR__DESTROY); a call that starts
 *    after its _free has been called is a use after free.
 *
 * Versions: the shared library's SONAME is libkafkac.so.<major>. Within a major version
 * functions, constants, enum values and error codes are only added; struct layouts and
 * function signatures never change. A newer library may return an error code this
 * header does not name: kc_err_name() and kc_err_str() of the library know it.
 *
 * Link: -lkafkac (and, for the static library, -lpthread -ldl -lm).
 */

#ifndef KAFKAC_H
#define KAFKAC_H

/* Generated from the Rust sources by cbindgen (build.rs); do not edit. */

#include <stddef.h>
#include <stdint.h>

/* Kafka error codes at their wire numbers (broker errors). */
#define KC_ERR_UNKNOWN_SERVER_ERROR -1
#define KC_ERR_OFFSET_OUT_OF_RANGE 1
#define KC_ERR_CORRUPT_MESSAGE 2
#define KC_ERR_UNKNOWN_TOPIC_OR_PARTITION 3
#define KC_ERR_INVALID_FETCH_SIZE 4
#define KC_ERR_LEADER_NOT_AVAILABLE 5
#define KC_ERR_NOT_LEADER_OR_FOLLOWER 6
#define KC_ERR_REQUEST_TIMED_OUT 7
#define KC_ERR_BROKER_NOT_AVAILABLE 8
#define KC_ERR_REPLICA_NOT_AVAILABLE 9
#define KC_ERR_MESSAGE_TOO_LARGE 10
#define KC_ERR_STALE_CONTROLLER_EPOCH 11
#define KC_ERR_OFFSET_METADATA_TOO_LARGE 12
#define KC_ERR_NETWORK_EXCEPTION 13
#define KC_ERR_COORDINATOR_LOAD_IN_PROGRESS 14
#define KC_ERR_COORDINATOR_NOT_AVAILABLE 15
#define KC_ERR_NOT_COORDINATOR 16
#define KC_ERR_INVALID_TOPIC_EXCEPTION 17
#define KC_ERR_RECORD_LIST_TOO_LARGE 18
#define KC_ERR_NOT_ENOUGH_REPLICAS 19
#define KC_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND 20
#define KC_ERR_INVALID_REQUIRED_ACKS 21
#define KC_ERR_ILLEGAL_GENERATION 22
#define KC_ERR_INCONSISTENT_GROUP_PROTOCOL 23
#define KC_ERR_INVALID_GROUP_ID 24
#define KC_ERR_UNKNOWN_MEMBER_ID 25
#define KC_ERR_INVALID_SESSION_TIMEOUT 26
#define KC_ERR_REBALANCE_IN_PROGRESS 27
#define KC_ERR_INVALID_COMMIT_OFFSET_SIZE 28
#define KC_ERR_TOPIC_AUTHORIZATION_FAILED 29
#define KC_ERR_GROUP_AUTHORIZATION_FAILED 30
#define KC_ERR_CLUSTER_AUTHORIZATION_FAILED 31
#define KC_ERR_INVALID_TIMESTAMP 32
#define KC_ERR_UNSUPPORTED_SASL_MECHANISM 33
#define KC_ERR_ILLEGAL_SASL_STATE 34
#define KC_ERR_UNSUPPORTED_VERSION 35
#define KC_ERR_TOPIC_ALREADY_EXISTS 36
#define KC_ERR_INVALID_PARTITIONS 37
#define KC_ERR_INVALID_REPLICATION_FACTOR 38
#define KC_ERR_INVALID_REPLICA_ASSIGNMENT 39
#define KC_ERR_INVALID_CONFIG 40
#define KC_ERR_NOT_CONTROLLER 41
#define KC_ERR_INVALID_REQUEST 42
#define KC_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT 43
#define KC_ERR_POLICY_VIOLATION 44
#define KC_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER 45
#define KC_ERR_DUPLICATE_SEQUENCE_NUMBER 46
#define KC_ERR_INVALID_PRODUCER_EPOCH 47
#define KC_ERR_INVALID_TXN_STATE 48
#define KC_ERR_INVALID_PRODUCER_ID_MAPPING 49
#define KC_ERR_INVALID_TRANSACTION_TIMEOUT 50
#define KC_ERR_CONCURRENT_TRANSACTIONS 51
#define KC_ERR_TRANSACTION_COORDINATOR_FENCED 52
#define KC_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED 53
#define KC_ERR_SECURITY_DISABLED 54
#define KC_ERR_OPERATION_NOT_ATTEMPTED 55
#define KC_ERR_KAFKA_STORAGE_ERROR 56
#define KC_ERR_LOG_DIR_NOT_FOUND 57
#define KC_ERR_SASL_AUTHENTICATION_FAILED 58
#define KC_ERR_UNKNOWN_PRODUCER_ID 59
#define KC_ERR_REASSIGNMENT_IN_PROGRESS 60
#define KC_ERR_DELEGATION_TOKEN_AUTH_DISABLED 61
#define KC_ERR_DELEGATION_TOKEN_NOT_FOUND 62
#define KC_ERR_DELEGATION_TOKEN_OWNER_MISMATCH 63
#define KC_ERR_DELEGATION_TOKEN_REQUEST_NOT_ALLOWED 64
#define KC_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED 65
#define KC_ERR_DELEGATION_TOKEN_EXPIRED 66
#define KC_ERR_INVALID_PRINCIPAL_TYPE 67
#define KC_ERR_NON_EMPTY_GROUP 68
#define KC_ERR_GROUP_ID_NOT_FOUND 69
#define KC_ERR_FETCH_SESSION_ID_NOT_FOUND 70
#define KC_ERR_INVALID_FETCH_SESSION_EPOCH 71
#define KC_ERR_LISTENER_NOT_FOUND 72
#define KC_ERR_TOPIC_DELETION_DISABLED 73
#define KC_ERR_FENCED_LEADER_EPOCH 74
#define KC_ERR_UNKNOWN_LEADER_EPOCH 75
#define KC_ERR_UNSUPPORTED_COMPRESSION_TYPE 76
#define KC_ERR_STALE_BROKER_EPOCH 77
#define KC_ERR_OFFSET_NOT_AVAILABLE 78
#define KC_ERR_MEMBER_ID_REQUIRED 79
#define KC_ERR_PREFERRED_LEADER_NOT_AVAILABLE 80
#define KC_ERR_GROUP_MAX_SIZE_REACHED 81
#define KC_ERR_FENCED_INSTANCE_ID 82
#define KC_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE 83
#define KC_ERR_ELECTION_NOT_NEEDED 84
#define KC_ERR_NO_REASSIGNMENT_IN_PROGRESS 85
#define KC_ERR_GROUP_SUBSCRIBED_TO_TOPIC 86
#define KC_ERR_INVALID_RECORD 87
#define KC_ERR_UNSTABLE_OFFSET_COMMIT 88
#define KC_ERR_THROTTLING_QUOTA_EXCEEDED 89
#define KC_ERR_PRODUCER_FENCED 90
#define KC_ERR_RESOURCE_NOT_FOUND 91
#define KC_ERR_DUPLICATE_RESOURCE 92
#define KC_ERR_UNACCEPTABLE_CREDENTIAL 93
#define KC_ERR_INCONSISTENT_VOTER_SET 94
#define KC_ERR_INVALID_UPDATE_VERSION 95
#define KC_ERR_FEATURE_UPDATE_FAILED 96
#define KC_ERR_PRINCIPAL_DESERIALIZATION_FAILURE 97
#define KC_ERR_SNAPSHOT_NOT_FOUND 98
#define KC_ERR_POSITION_OUT_OF_RANGE 99
#define KC_ERR_UNKNOWN_TOPIC_ID 100
#define KC_ERR_DUPLICATE_BROKER_REGISTRATION 101
#define KC_ERR_BROKER_ID_NOT_REGISTERED 102
#define KC_ERR_INCONSISTENT_TOPIC_ID 103
#define KC_ERR_INCONSISTENT_CLUSTER_ID 104
#define KC_ERR_TRANSACTIONAL_ID_NOT_FOUND 105
#define KC_ERR_FETCH_SESSION_TOPIC_ID_ERROR 106
#define KC_ERR_INELIGIBLE_REPLICA 107
#define KC_ERR_NEW_LEADER_ELECTED 108
#define KC_ERR_OFFSET_MOVED_TO_TIERED_STORAGE 109
#define KC_ERR_FENCED_MEMBER_EPOCH 110
#define KC_ERR_UNRELEASED_INSTANCE_ID 111
#define KC_ERR_UNSUPPORTED_ASSIGNOR 112
#define KC_ERR_STALE_MEMBER_EPOCH 113
#define KC_ERR_MISMATCHED_ENDPOINT_TYPE 114
#define KC_ERR_UNSUPPORTED_ENDPOINT_TYPE 115
#define KC_ERR_UNKNOWN_CONTROLLER_ID 116
#define KC_ERR_UNKNOWN_SUBSCRIPTION_ID 117
#define KC_ERR_TELEMETRY_TOO_LARGE 118
#define KC_ERR_INVALID_REGISTRATION 119
#define KC_ERR_TRANSACTION_ABORTABLE 120
#define KC_ERR_INVALID_RECORD_STATE 121
#define KC_ERR_SHARE_SESSION_NOT_FOUND 122
#define KC_ERR_INVALID_SHARE_SESSION_EPOCH 123
#define KC_ERR_FENCED_STATE_EPOCH 124
#define KC_ERR_INVALID_VOTER_KEY 125
#define KC_ERR_DUPLICATE_VOTER 126
#define KC_ERR_VOTER_NOT_FOUND 127
#define KC_ERR_INVALID_REGULAR_EXPRESSION 128
#define KC_ERR_REBOOTSTRAP_REQUIRED 129
#define KC_ERR_STREAMS_INVALID_TOPOLOGY 130
#define KC_ERR_STREAMS_INVALID_TOPOLOGY_EPOCH 131
#define KC_ERR_STREAMS_TOPOLOGY_FENCED 132
#define KC_ERR_SHARE_SESSION_LIMIT_REACHED 133


// Use the client's `acks` property.
#define KC_ACKS_DEFAULT -2

// `kc_client_list_offsets`: the earliest offset (log start).
#define KC_OFFSET_EARLIEST -2

// `kc_client_list_offsets`: the latest offset (the offset the next record will get).
#define KC_OFFSET_LATEST -1

// `kc_topic_partition_t.offset`: the start of the partition's log (librdkafka's
// `RD_KAFKA_OFFSET_BEGINNING`).
#define KC_OFFSET_BEGINNING -2

// `kc_topic_partition_t.offset`: the end of the partition's log, i.e. only records
// written from now on (`RD_KAFKA_OFFSET_END`).
#define KC_OFFSET_END -1

// `kc_topic_partition_t.offset` for `kc_consumer_assign`: the group's committed offset,
// else where `auto.offset.reset` says (`RD_KAFKA_OFFSET_STORED`).
#define KC_OFFSET_STORED -1000

// `kc_topic_partition_t.offset`: no offset (nothing committed, or not known yet)
// (`RD_KAFKA_OFFSET_INVALID`).
#define KC_OFFSET_INVALID -1001

// Version of this header, major part: the version a program is compiled against
// (`kc_version()` and `kc_version_num()` give the library loaded at run time). The
// major version is the ABI version and the number in the shared library's SONAME
// (`libkafkac.so.0`): a program runs with any library of the same major version, of
// the same or a later minor version.
#define KC_VERSION_MAJOR 0

// Version of this header, minor part: grows when functions, constants or error codes
// are added.
#define KC_VERSION_MINOR 1

// Version of this header, patch part: fixes only.
#define KC_VERSION_PATCH 0

// Timestamp types of `kc_record_view_t`.
#define KC_TIMESTAMP_NOT_AVAILABLE 0

#define KC_TIMESTAMP_CREATE_TIME 1

#define KC_TIMESTAMP_LOG_APPEND_TIME 2

// The partitioner chooses the partition (librdkafka's `RD_KAFKA_PARTITION_UA`).
#define KC_PARTITION_UA -1

// `kc_delivery_report_t.status`: the message was never written (it failed before it
// was sent, or the broker refused it).
#define KC_PERSISTED_NOT 0

// `kc_delivery_report_t.status`: the message was sent but no acknowledgement came (a
// lost connection, a timeout, `acks=0`): it may be in the log.
#define KC_PERSISTED_POSSIBLY 1

// `kc_delivery_report_t.status`: the broker acknowledged the message.
#define KC_PERSISTED 2

// `kc_producer_purge`: messages queued in the producer, not sent yet.
#define KC_PURGE_F_QUEUE 1

// `kc_producer_purge`: messages in requests sent and not answered (their answers are
// ignored; the broker may still write them).
#define KC_PURGE_F_INFLIGHT 2

// `kc_producer_send_flags`: the record's value is handed over to the producer instead
// of copied (librdkafka's `RD_KAFKA_MSG_F_FREE`). A value larger than
// `message.copy.max.bytes` (default 65535) going into an uncompressed batch is written
// to the broker from the application's buffer, with no copy.
#define KC_MSG_F_FREE 1

// A client connected to one Kafka cluster.
//
// Thread-safe: one `kc_client_t` may be used from many threads at once; their requests
// share the broker connections. `kc_client_free` may be called while other threads are
// inside calls on it (see there); a call that starts after `kc_client_free` has been
// called is a use after free.
//
// Errors of the calls that talk to brokers (`kc_client_metadata`, `_produce`,
// `_fetch`, `_list_offsets`, `_create_topic`, `_delete_topic`). A call's deadline is
// its `timeout_ms` from its start (a fetch adds `max_wait_ms`); a negative timeout is
// a year. A failure that may pass (a lost connection, a broker down, a leader that
// moved, Kafka's retriable codes) is retried: the call refreshes metadata and waits
// `retry.backoff.ms` (doubling up to `retry.backoff.max.ms`) before the next attempt.
// When the next wait would end less than 100 ms before the deadline (an attempt begun
// then could only time out), the call gives up and returns the error of its last
// attempt (`kc_last_error` adds "gave up after N attempts"), so such an error can come
// back up to one back-off plus 100 ms before `timeout_ms` has passed.
//  - `KC_ERR__TIMED_OUT`: the deadline passed while the call was waiting: for a
//    broker's answer, for a connection being opened (connect and ApiVersions), or for
//    a connection attempt or metadata refresh of another thread that it shares. Not
//    retried; when it ends a retry, `kc_last_error` names the error of the attempt
//    before. A broker that accepts connections and never answers gives this, unless
//    `socket.connection.setup.timeout.ms` (set-up) or `socket.timeout.ms` (past the
//    time the broker may hold the request) ends the connection first: then it counts
//    as a failed or lost connection, below.
//  - `KC_ERR__ALL_BROKERS_DOWN`: the call needed metadata (the first call does, a
//    retry refreshes it, and topic administration asks it for the controller) and no
//    broker could be connected: every known broker (skipping those in their reconnect
//    back-off) and then, unless `metadata.recovery.strategy` is `none`, every bootstrap
//    address refused, failed to set up, or did not resolve. Retried; returned when
//    retries ran out (or `KC_ERR__TIMED_OUT` if the deadline passed during those
//    attempts).
//  - `KC_ERR__TRANSPORT`: the connection to the partition's leader could not be
//    opened (refused, reset, set-up longer than `socket.connection.setup.timeout.ms`),
//    or the connection a request was sent on (to the leader, or to the broker picked
//    for metadata or administration) was closed or lost with the request in flight (by
//    the broker, by a network error, or by this client when the answer was more than
//    `socket.timeout.ms` late). Retried; returned when retries ran out. After a failed
//    attempt the leader is not tried again before its reconnect back-off
//    (`reconnect.backoff.ms`, doubling up to `reconnect.backoff.max.ms`) ends; a call
//    whose deadline comes first gets that attempt's error (`KC_ERR__TRANSPORT`, or
//    whatever ended it) without waiting.
//  - `KC_ERR__RESOLVE`: the host name of a partition's leader did not resolve
//    (retried). Bootstrap names that do not resolve count as unreachable
//    (`KC_ERR__ALL_BROKERS_DOWN`).
//  - `KC_ERR__DESTROY`: `kc_client_free` was called while the call was in progress.
//  - `KC_ERR__PROTOCOL` (a broker's answer violates the protocol),
//    `KC_ERR__FRAME_TOO_LARGE` (an answer larger than `receive.message.max.bytes`),
//    `KC_ERR__UNSUPPORTED_FEATURE` (the broker speaks no version of the request this
//    library does): not retried.
//  - Kafka's codes (`KC_ERR_<NAME>`) as the broker gave them: retriable ones
//    (`KC_ERR_NOT_LEADER_OR_FOLLOWER`, `KC_ERR_LEADER_NOT_AVAILABLE`,
//    `KC_ERR_UNKNOWN_TOPIC_OR_PARTITION`, `KC_ERR_REQUEST_TIMED_OUT`, …) once retries
//    ran out, others at once (a topic's own error in topic administration: at once).
//
// Every call on a client returns `KC_ERR__NULL_ARG` for a NULL required pointer,
// `KC_ERR__INVALID_ARG` for a bad argument value (and a string that is not UTF-8), and
// `KC_ERR__PANIC` for an internal error.
typedef struct kc_client_t kc_client_t;

// A set of configuration properties (librdkafka's names: `bootstrap.servers`,
// `client.id`, `request.timeout.ms`, …).
//
// Not thread-safe: use one `kc_conf_t` from one thread at a time.
typedef struct kc_conf_t kc_conf_t;

// A group consumer (or a consumer of partitions the application assigns).
//
// Thread-safe: every call may be made from any thread; callbacks run on the thread
// that calls `kc_consumer_poll`, `_poll_batch` or `_close`. `kc_consumer_free` may be
// called while other threads are inside calls on it: a poll returns NULL (or 0) with
// `kc_last_error` saying `KC_ERR__DESTROY` within 50 ms, other calls return
// `KC_ERR__DESTROY` (a synchronous commit or `kc_consumer_committed` already waiting
// for the broker waits for its own timeout); a call that starts after it is a use
// after free.
typedef struct kc_consumer_t kc_consumer_t;

// The records fetched from one partition. It owns the response buffer: the record views
// point into it. Immutable: may be read from several threads at once.
typedef struct kc_fetch_result_t kc_fetch_result_t;

// A consumer's group and membership, for `kc_producer_send_offsets_to_transaction`.
// The caller owns it; free it with `kc_group_metadata_free`. May be used from any
// thread.
typedef struct kc_group_metadata_t kc_group_metadata_t;

// One record, or one error event, handed out by `kc_consumer_poll`.
//
// Valid until `kc_message_free`, also after the consumer is freed: it keeps alive the
// fetch buffer it comes from (which counts against `queued.max.messages.kbytes` until
// every message of it is freed, so holding many messages slows fetching). The
// pointers its accessors return are valid until it is freed. Read-only: it may be read
// from several threads at once.
typedef struct kc_message_t kc_message_t;

// A metadata snapshot. Immutable: may be read from several threads at once.
typedef struct kc_metadata_t kc_metadata_t;

// Where the token refresh callback puts the token it got: pass it to
// `kc_oauthbearer_set_token` or `kc_oauthbearer_set_token_failure`. Owned by the
// client, producer or consumer whose callback received it: valid until that handle is
// freed. Thread-safe.
typedef struct kc_oauthbearer_t kc_oauthbearer_t;

// An asynchronous producer.
//
// Thread-safe: `kc_producer_send` and the other calls may be made from many threads at
// once; callbacks run on whichever thread calls `kc_producer_poll`/`_flush`/`_close`.
// `kc_producer_free` may be called while other threads are inside calls on it (they
// return `KC_ERR__DESTROY`); a call that starts after it is a use after free.
typedef struct kc_producer_t kc_producer_t;

// An error code: 0 is success, Kafka's error codes keep their wire numbers (the
// `KC_ERR_<NAME>` macros), local errors are negative (`KC_ERR__<NAME>`).
typedef int32_t kc_err_t;

// A record header: `key` is `key_len` bytes (not NUL-terminated); `value` is
// `value_len` bytes, or NULL (with `value_len` 0) for a null value.
typedef struct kc_header_t {
  const char *key;
  size_t key_len;
  const uint8_t *value;
  size_t value_len;
} kc_header_t;

// A record to produce. `key`/`value`: NULL (with length 0) is a null key/value; a
// non-NULL pointer with length 0 is an empty one. `timestamp`: milliseconds since the
// epoch, or 0 for "now". All pointers are borrowed for the duration of the call.
typedef struct kc_record_t {
  const uint8_t *key;
  size_t key_len;
  const uint8_t *value;
  size_t value_len;
  const struct kc_header_t *headers;
  size_t header_cnt;
  int64_t timestamp;
} kc_record_t;

// Compression codecs for `kc_client_produce`.
typedef int32_t kc_compression_t;

// A partition of a topic, with an offset, as the consumer takes and gives them.
//
// Arrays of it passed in are allocated by the caller and borrowed for the duration of
// the call (`topic` too). Arrays handed out are allocated by the library where the
// function says so (free them with `kc_topic_partitions_free`); those given to a
// callback are valid during the callback only.
typedef struct kc_topic_partition_t {
  // The topic (NUL-terminated).
  const char *topic;
  int32_t partition;
  // An offset (the next record to consume) or a `KC_OFFSET_*` value, as each
  // function says.
  int64_t offset;
  // The leader epoch of the record before `offset`, -1 when unknown.
  int32_t leader_epoch;
  // Per-partition result, where a function says it fills it; else ignored.
  kc_err_t err;
} kc_topic_partition_t;

// A rebalance callback: the group's assignment changes. `kind` is
// `KC_ERR__ASSIGN_PARTITIONS` (partitions added), `KC_ERR__REVOKE_PARTITIONS`
// (partitions taken away cleanly: their offsets may still be committed) or
// `KC_ERR__ASSIGNMENT_LOST` (partitions lost, the member having been fenced or out of
// touch: their offsets must not be committed, another member may own them already).
// `parts` holds `cnt` partitions (their `offset` is `KC_OFFSET_INVALID`), valid
// during the call only. `cb_opaque` is the one set with `kc_conf_set_opaque`.
//
// The consumer applies the change itself once the callback returns (there is no
// assign call to make, unlike librdkafka, where a callback that does not call assign
// leaves the consumer consuming nothing), unless the callback takes it over with
// `kc_consumer_assign` (see there): for added partitions, the list it passes says which
// are consumed and from which offset, the others staying assigned but paused. For
// added partitions it runs before their first record is handed out; for revoked ones
// before the consumer commits (with `enable.auto.commit`) what was consumed and lets
// them go. It may call `kc_consumer_assign`, `_commit`, `_store_offset`, `_seek`,
// `_pause`, `_resume`, `_position`, `_committed`; it must not free the consumer.
//
// Runs only inside `kc_consumer_poll`, `_poll_batch`, `_close` (and `_free`, when the
// consumer was not closed: calls on the consumer made from it then work as during
// `_close`), on the thread that made that call.
typedef void (*kc_rebalance_cb_t)(struct kc_consumer_t *c, kc_err_t kind, const struct kc_topic_partition_t *parts, size_t cnt, void *cb_opaque);

// An offset commit callback: the result of an asynchronous commit
// (`kc_consumer_commit` with `async`, and the automatic commits of
// `enable.auto.commit`). `err` is `KC_OK` or why the commit failed (then the offsets
// are committed again by the next commit); `offsets` holds the `cnt` offsets sent,
// each with `err` set to the same code, valid during the call only. `cb_opaque` is the
// one set with `kc_conf_set_opaque`. Runs under the same rules as `kc_rebalance_cb_t`.
// Synchronous commits return their result instead.
typedef void (*kc_offset_commit_cb_t)(struct kc_consumer_t *c, kc_err_t err, const struct kc_topic_partition_t *offsets, size_t cnt, void *cb_opaque);

// A fetched record. `key`/`value` are NULL for a null key/value and non-NULL (possibly
// with length 0) otherwise. Borrowed: valid until `kc_fetch_result_free` is called on
// the result it came from.
typedef struct kc_record_view_t {
  int64_t offset;
  int64_t timestamp;
  // A `KC_TIMESTAMP_*` value.
  int32_t timestamp_type;
  const uint8_t *key;
  size_t key_len;
  const uint8_t *value;
  size_t value_len;
  size_t header_cnt;
} kc_record_view_t;

// A fetched record header: `key` is `key_len` bytes, not NUL-terminated; `value` is
// NULL for a null value. Valid until `kc_fetch_result_free` on its result.
typedef struct kc_header_view_t {
  const char *key;
  size_t key_len;
  const uint8_t *value;
  size_t value_len;
} kc_header_view_t;

// One broker. Strings are owned by the metadata: valid until `kc_metadata_free` is
// called on it. `rack` is NULL when the broker has none.
typedef struct kc_broker_t {
  int32_t id;
  const char *host;
  int32_t port;
  const char *rack;
} kc_broker_t;

// One topic. `name` is owned by the metadata: valid until `kc_metadata_free`.
typedef struct kc_topic_t {
  const char *name;
  // The topic's error (e.g. `KC_ERR_UNKNOWN_TOPIC_OR_PARTITION`), or KC_OK.
  kc_err_t err;
  size_t partition_cnt;
  int32_t is_internal;
} kc_topic_t;

// One partition. The arrays are owned by the metadata: valid until `kc_metadata_free`.
typedef struct kc_partition_t {
  int32_t id;
  kc_err_t err;
  // Leader broker id, -1 if none.
  int32_t leader;
  int32_t leader_epoch;
  const int32_t *replicas;
  size_t replica_cnt;
  const int32_t *isrs;
  size_t isr_cnt;
} kc_partition_t;

// The OAUTHBEARER token refresh callback: get a token (from an identity provider, a
// file, ...) and hand it over with `kc_oauthbearer_set_token(ob, ...)`, or say why
// there is none with `kc_oauthbearer_set_token_failure(ob, ...)`. `ob` is valid until
// the handle is freed. `oauthbearer_config` is the value of `sasl.oauthbearer.config`
// ("" when it is not set; never NULL), valid during the call only. `cb_opaque` is the
// one set with `kc_conf_set_opaque`.
//
// When it is called (librdkafka's rules): when the handle starts (a first token is
// needed before any connection can authenticate), again at 80 % of the lifetime of the
// token it set, and 10 s after it reported a failure or returned having set neither a
// token nor a failure. A token may also be set later, from any thread, with
// `kc_oauthbearer_set_token` on the same `ob` or the handle's
// `kc_*_oauthbearer_set_token`; each token set reschedules the next call.
//
// Where it runs: on the application's thread, inside `kc_producer_poll`,
// `kc_producer_flush`, `kc_consumer_poll`, `kc_consumer_poll_batch` and
// `kc_client_event_poll` (a low-level client that does not call `kc_client_event_poll`
// regularly should enable background callbacks instead); or, after
// `kc_*_sasl_background_callbacks_enable`, only on the handle's background thread. It
// never runs on two threads at once. It must not free the handle. Connections that need
// a token before one is set fail with `KC_ERR__AUTHENTICATION` and are retried after
// their reconnect back-off; messages wait (within `message.timeout.ms`).
typedef void (*kc_oauthbearer_token_refresh_cb_t)(struct kc_oauthbearer_t *ob, const char *oauthbearer_config, void *cb_opaque);

// The outcome of one message, handed to the delivery report callbacks. Every pointer
// in it is valid only during the callback. The library allocates it and hands it out
// by pointer only; a later minor version may add fields at its end (never allocate one
// or index an array of them).
typedef struct kc_delivery_report_t {
  // The topic (NUL-terminated).
  const char *topic;
  int32_t partition;
  // The offset the broker gave the message; -1 when it failed, with `acks=0`, or when
  // a retry was recognised by the broker as a duplicate (which does not say where).
  int64_t offset;
  // The message's timestamp (ms since the epoch), or the broker's time for topics
  // with `message.timestamp.type=LogAppendTime`.
  int64_t timestamp;
  // `KC_OK` when delivered; else why not (see `kc_producer_send`).
  kc_err_t err;
  // NULL when delivered; else a description naming the topic, and the partition and
  // broker where known.
  const char *errstr;
  // `KC_PERSISTED_NOT`, `KC_PERSISTED_POSSIBLY` or `KC_PERSISTED`.
  int32_t status;
  // The `opaque` given to `kc_producer_send`.
  void *opaque;
} kc_delivery_report_t;

// A delivery report callback, one report per call. `cb_opaque` is the one set with
// `kc_conf_set_opaque`. Runs on the thread calling `kc_producer_poll`,
// `kc_producer_flush` or `kc_producer_close`, never on an internal thread. It may call
// `kc_producer_send`; it must not free the producer.
typedef void (*kc_dr_msg_cb_t)(struct kc_producer_t *producer, const struct kc_delivery_report_t *report, void *cb_opaque);

// A delivery report callback taking many reports per call (in order), for throughput:
// `reports` is an array of `count` pointers (not of structs, so that
// `kc_delivery_report_t` may grow at its end in a later minor version). Same rules as
// `kc_dr_msg_cb_t`.
typedef void (*kc_dr_batch_cb_t)(struct kc_producer_t *producer, const struct kc_delivery_report_t *const *reports, size_t count, void *cb_opaque);

// An error callback: called once with the producer's fatal error (after which every
// send fails with `KC_ERR__FATAL`). Runs inside `kc_producer_poll`/`_flush`.
typedef void (*kc_error_cb_t)(struct kc_producer_t *producer, kc_err_t err, const char *reason, void *cb_opaque);

// A partitioner callback: returns the partition (in `0..partition_cnt`) for a message
// sent with `KC_PARTITION_UA`; any other value fails that send with
// `KC_ERR__UNKNOWN_PARTITION`. `key` is NULL for a NULL key. Called on the thread that
// calls `kc_producer_send` (or on the producer's thread, for messages sent before their
// topic's partitions were known), while the producer is locked: it must not call the
// producer, and should be quick.
typedef int32_t (*kc_partitioner_cb_t)(const char *topic, const void *key, size_t key_len, int32_t partition_cnt, void *cb_opaque);

// Frees a value handed over with `KC_MSG_F_FREE`: `payload` and `len` are the record's
// `value` and `value_len`, `cb_opaque` the one set with `kc_conf_set_opaque`. Called
// exactly once per value handed over, when the producer no longer needs the bytes: on
// the sending thread before the send returns when the value was copied (small values,
// compressed batches), else on an internal thread (the producer's or an I/O thread)
// after the broker acknowledged the message or it failed, which may be before its
// delivery report is served. The one callback that may run on an internal thread: it
// must not call the producer, and should be quick. Without one, the C library's
// `free()` is called.
typedef void (*kc_free_cb_t)(void *payload, size_t len, void *cb_opaque);

// Use the client's `compression.type` property.
#define KC_COMPRESSION_DEFAULT -1

#define KC_COMPRESSION_NONE 0

#define KC_COMPRESSION_GZIP 1

#define KC_COMPRESSION_SNAPPY 2

#define KC_COMPRESSION_LZ4 3

#define KC_COMPRESSION_ZSTD 4

// Success.
#define KC_OK 0

// A record batch or message failed validation (CRC mismatch, bad structure).
#define KC_ERR__BAD_MSG -199

// Compressed data was invalid or expanded beyond its limit.
#define KC_ERR__BAD_COMPRESSION -198

// The client is being destroyed.
#define KC_ERR__DESTROY -197

// A generic local failure.
#define KC_ERR__FAIL -196

// A broker connection failed or broke.
#define KC_ERR__TRANSPORT -195

// A host name could not be resolved.
#define KC_ERR__RESOLVE -193

// TLS failed: the broker's certificate is not trusted, is another host's or has
// expired, the handshake was refused (a client certificate required), or the broker's
// listener does not speak TLS. The message names the broker and the cause.
#define KC_ERR__SSL -181

// SASL authentication failed: wrong user name or password, unknown user, a SCRAM
// exchange the client could not verify, or a SASL client on a listener that takes no
// SASL (librdkafka's `_AUTHENTICATION`). The message names the broker, the mechanism
// and the user, never the password. A mechanism the broker does not enable is Kafka's
// UNSUPPORTED_SASL_MECHANISM (33) instead, with the broker's enabled list.
#define KC_ERR__AUTHENTICATION -169

// The partition does not exist.
#define KC_ERR__UNKNOWN_PARTITION -190

// The topic does not exist.
#define KC_ERR__UNKNOWN_TOPIC -188

// No broker could be reached.
#define KC_ERR__ALL_BROKERS_DOWN -187

// An argument was invalid.
#define KC_ERR__INVALID_ARG -186

// The operation did not complete within its timeout.
#define KC_ERR__TIMED_OUT -185

// The broker and this library share no version of a required API.
#define KC_ERR__UNSUPPORTED_FEATURE -165

// Nothing there (for example, no event waiting).
#define KC_ERR__NOENT -156

// A message was not delivered within `message.timeout.ms`.
#define KC_ERR__MSG_TIMED_OUT -192

// The producer's queue is full.
#define KC_ERR__QUEUE_FULL -184

// A queued message was purged before it was sent.
#define KC_ERR__PURGE_QUEUE -152

// A message in flight was purged; the broker may still write it.
#define KC_ERR__PURGE_INFLIGHT -151

// The producer hit a fatal error (`kc_producer_fatal_error` says which).
#define KC_ERR__FATAL -150

// Reached the end of a partition (`enable.partition.eof`).
#define KC_ERR__PARTITION_EOF -191

// No offset to start from (no committed offset and `auto.offset.reset=error`).
#define KC_ERR__NO_OFFSET -168

// The position was reset by `auto.offset.reset=error` rules: out of range, and the policy is to fail.
#define KC_ERR__AUTO_OFFSET_RESET -140

// The application did not poll within `max.poll.interval.ms`: the consumer left its group (it rejoins on the next poll).
#define KC_ERR__MAX_POLL_EXCEEDED -147

// The group assignment was lost (the member was fenced or lost contact): the partitions were not revoked cleanly, so their offsets must not be committed.
#define KC_ERR__ASSIGNMENT_LOST -142

// A rebalance revokes partitions (a rebalance event).
#define KC_ERR__REVOKE_PARTITIONS -174

// A rebalance assigns partitions (a rebalance event).
#define KC_ERR__ASSIGN_PARTITIONS -175

// The call is not valid in the client's current state (for example a commit while not in a group).
#define KC_ERR__STATE -172

// This member was fenced by a newer instance with the same `group.instance.id`.
#define KC_ERR__FENCED -144

// A required pointer argument was NULL.
#define KC_ERR__NULL_ARG -1001

// An internal error was caught at the library boundary.
#define KC_ERR__PANIC -1002

// A broker's response violated the protocol.
#define KC_ERR__PROTOCOL -1003

// A response exceeded `receive.message.max.bytes`.
#define KC_ERR__FRAME_TOO_LARGE -1004

// Unknown configuration property.
#define KC_ERR__UNKNOWN_CONFIG -1005

// Invalid configuration value.
#define KC_ERR__INVALID_CONFIG -1006

// A caller-supplied buffer was too small.
#define KC_ERR__BUFFER_TOO_SMALL -1007

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

// Creates a client from a configuration (which must set `bootstrap.servers`). `conf` is
// borrowed for the duration of the call (the client keeps a copy); the caller still
// owns it. No connection is opened until the first request; the client's I/O threads
// (`io.threads`) start here.
// On success `*clientp` receives the client; the caller owns it: free it with
// `kc_client_free`.
//
// Errors: `KC_ERR__NULL_ARG` (`conf`, `clientp`), `KC_ERR__INVALID_CONFIG`
// (`bootstrap.servers` missing, `api.version.request` false, an OAUTHBEARER token
// refresh callback with `enable.sasl.oauthbearer.unsecure.jwt=true`), `KC_ERR__FAIL`
// (an I/O thread could not be started), `KC_ERR__PANIC`.
//
// # Safety
// `conf` must be a live handle and `clientp` a valid pointer.
kc_err_t kc_client_new(const struct kc_conf_t *conf, struct kc_client_t **clientp);

// Frees the client: marks it closing, closes its connections and joins its I/O threads,
// waits until every call other threads are making on it has returned, then frees it.
// When it returns, no call on the client is running and none of its threads is left.
// NULL is a no-op.
//
// Calls in progress on other threads when it begins return `KC_ERR__DESTROY` (a call
// that had already succeeded, or failed with a Kafka or argument error, returns that).
// Every such call is woken at once: one waiting for a broker's answer (a fetch in its
// long poll, a request to a broker that does not answer), one opening a connection, and
// one sleeping between retries or waiting out a broker's reconnect back-off. Name
// resolution (`getaddrinfo`) cannot be interrupted: a call inside it returns when the
// lookup does, and `kc_client_free` waits for it.
// Results already obtained from the client (metadata, fetch results) stay valid.
//
// A call on the client that starts after `kc_client_free` has been called, and freeing
// twice, are undefined behaviour (use after free).
//
// # Safety
// `client` must be NULL or a live handle; no call on it may start after this one.
void kc_client_free(struct kc_client_t *client);

// Copies the detail of the last failure of any call on this client (from any thread)
// into `buf`, as `kc_last_error` does. Returns the message length; 0 if none or if
// `client` is NULL. Fails in no other way.
//
// # Safety
// `client` must be NULL or a live handle; `buf` NULL or `len` writable bytes.
size_t kc_client_last_error(const struct kc_client_t *client, char *buf, size_t len);

// A descriptor that is readable while the client has events waiting (see
// `kc_client_event_poll`), for an application's own event loop (`poll`, `epoll`,
// `select`, libuv): events are raised on the client's I/O threads, and the application
// serves them on its own thread. The descriptor belongs to the client: wait on it, never
// read, write or close it; it is valid until `kc_client_free`. Returns -1 if `client` is
// NULL (or, should the system refuse one, when the client has no descriptor). Fails in
// no other way. Thread-safe.
//
// # Safety
// `client` must be NULL or a live handle.
int kc_client_event_fd(const struct kc_client_t *client);

// Runs the OAUTHBEARER token refresh callback on this thread first when it is due
// (unless background callbacks are enabled: see
// `kc_client_sasl_background_callbacks_enable`). Then takes the client's oldest event:
// a connection lost to a fault (a broker refusing
// connections, closing them, or no longer answering) or a broker's throttle. On success
// `*severity` gets its syslog level (3 error, 4 warning, 5 notice, 6 info), `*code` an
// error code (`KC_ERR__TRANSPORT`, `KC_ERR__TIMED_OUT`, ...; 0 for a plain log line), and
// the message is copied into `buf` (NUL-terminated, cut to `len - 1` bytes; `buf` may be
// NULL with `len` 0 to drop it). At most 1024 events wait; older ones are dropped first.
// Thread-safe; each event is taken once.
//
// Errors: `KC_ERR__NOENT` (no event waiting; nothing written), `KC_ERR__NULL_ARG`
// (`client`, `severity`, `code`), `KC_ERR__PANIC`.
//
// # Safety
// `client` must be NULL or a live handle; `severity` and `code` valid pointers; `buf`
// NULL or `len` writable bytes.
kc_err_t kc_client_event_poll(const struct kc_client_t *client, int *severity, kc_err_t *code, char *buf, size_t len);

// Produces `record_cnt` records as one batch to `topic`/`partition`, at the partition's
// leader, and waits for the acknowledgement. `acks`: 0 (none; `*base_offsetp` gets -1),
// 1 (leader), -1 (all in-sync replicas) or `KC_ACKS_DEFAULT`. `compression`: a
// `KC_COMPRESSION_*` value. Retriable errors (leader moved, broker down, the broker's
// REQUEST_TIMED_OUT, a lost connection) are retried within `timeout_ms`; other errors
// come back with their Kafka code. Without idempotence, a retry after the batch reached
// the broker but its acknowledgement was lost writes the records twice (as other Kafka
// clients without idempotence do). With `acks` 0, `KC_OK` means the request was queued
// on a connection to the leader; nothing says it arrived.
// On success `*base_offsetp` (which may be NULL) receives the offset of the first record.
// All arguments are borrowed for the duration of the call.
//
// Errors: the network errors described at `kc_client_t` (`KC_ERR__TIMED_OUT`,
// `KC_ERR__ALL_BROKERS_DOWN`, `KC_ERR__TRANSPORT`, `KC_ERR__RESOLVE`,
// `KC_ERR__DESTROY`, `KC_ERR__PROTOCOL`, `KC_ERR__FRAME_TOO_LARGE`), and:
//  - `KC_ERR_UNKNOWN_TOPIC_OR_PARTITION`: the topic does not exist. Retried (a topic
//    created a moment ago is not known to every broker at once), so it comes back only
//    near the end of `timeout_ms`.
//  - `KC_ERR__UNKNOWN_PARTITION`: the topic exists but not the partition (at once).
//  - `KC_ERR__UNKNOWN_TOPIC`: the broker's metadata answer left the topic out.
//  - the leader's answer: `KC_ERR_NOT_ENOUGH_REPLICAS`, `KC_ERR_REQUEST_TIMED_OUT`
//    (the in-sync replicas did not confirm within `request.timeout.ms`),
//    `KC_ERR_NOT_LEADER_OR_FOLLOWER`, … retried; `KC_ERR_MESSAGE_TOO_LARGE`,
//    `KC_ERR_RECORD_LIST_TOO_LARGE`, `KC_ERR_INVALID_RECORD`,
//    `KC_ERR_TOPIC_AUTHORIZATION_FAILED`, … at once.
//  - `KC_ERR_MESSAGE_TOO_LARGE` also before sending, when the encoded batch is larger
//    than `message.max.bytes`; `KC_ERR__BAD_COMPRESSION` when compressing fails.
//  - `KC_ERR__UNSUPPORTED_FEATURE`: the leader speaks no Produce version this library
//    does, or only message formats v0/v1 (Kafka before 0.11) and the records have
//    headers or the codec is zstd.
//  - `KC_ERR__NULL_ARG` (`client`, `topic`, `records`, a header key),
//    `KC_ERR__INVALID_ARG` (`record_cnt` 0, `acks`, `compression`, a NULL buffer with a
//    length, NULL `headers` with a count), `KC_ERR__PANIC`.
//
// # Safety
// `client` must be a live handle, `topic` a NUL-terminated string, `records` point to
// `record_cnt` records whose buffers are valid as described on `kc_record_t`.
kc_err_t kc_client_produce(struct kc_client_t *client, const char *topic, int32_t partition, const struct kc_record_t *records, size_t record_cnt, int32_t acks, kc_compression_t compression, int32_t timeout_ms, int64_t *base_offsetp);

// Looks up an offset of `topic`/`partition` at its leader: `KC_OFFSET_EARLIEST`,
// `KC_OFFSET_LATEST`, or a timestamp in ms (>= 0) for the first offset whose record
// timestamp is at or after it (-1 if there is none). On success `*offsetp` receives it.
//
// Errors: the network errors described at `kc_client_t` (`KC_ERR__TIMED_OUT`,
// `KC_ERR__ALL_BROKERS_DOWN`, `KC_ERR__TRANSPORT`, `KC_ERR__RESOLVE`,
// `KC_ERR__DESTROY`, `KC_ERR__PROTOCOL`, `KC_ERR__FRAME_TOO_LARGE`), and:
//  - `KC_ERR_UNKNOWN_TOPIC_OR_PARTITION`: the topic does not exist (retried: it comes
//    back near the end of `timeout_ms`); `KC_ERR__UNKNOWN_PARTITION`: the partition
//    does not exist (at once); `KC_ERR__UNKNOWN_TOPIC`: the broker's metadata answer
//    left the topic out.
//  - the leader's answer for the partition (`KC_ERR_NOT_LEADER_OR_FOLLOWER`, … retried;
//    `KC_ERR_TOPIC_AUTHORIZATION_FAILED`, … at once).
//  - `KC_ERR__UNSUPPORTED_FEATURE`: the leader speaks no ListOffsets version this
//    library does, or only v0 (Kafka before 0.10.1) and `what` is a timestamp.
//  - `KC_ERR__NULL_ARG` (`client`, `topic`, `offsetp`), `KC_ERR__INVALID_ARG` (`what`
//    below -2), `KC_ERR__PANIC`.
//
// # Safety
// `client` must be a live handle, `topic` a NUL-terminated string, `offsetp` valid.
kc_err_t kc_client_list_offsets(struct kc_client_t *client, const char *topic, int32_t partition, int64_t what, int32_t timeout_ms, int64_t *offsetp);

// Creates a topic with `partitions` partitions (-1: broker default) and
// `replication_factor` replicas (-1: broker default). `configs` holds `config_cnt`
// pairs as a flat array `name0, value0, name1, value1, …`; it may be NULL when
// `config_cnt` is 0. Every value must be a string: a NULL value is sent as Kafka's null,
// which Apache Kafka refuses with `KC_ERR_INVALID_CONFIG` ("Null value not supported
// for topic configs") and creates nothing; leave a property out to get its default.
// All arguments are borrowed for the duration of the call.
//
// Errors: the network errors described at `kc_client_t` (`KC_ERR__TIMED_OUT`,
// `KC_ERR__ALL_BROKERS_DOWN`, `KC_ERR__TRANSPORT`, `KC_ERR__DESTROY`,
// `KC_ERR__PROTOCOL`, `KC_ERR__FRAME_TOO_LARGE`, `KC_ERR__UNSUPPORTED_FEATURE`), and
// the topic's own error as the controller gave it, at once (not retried; only
// `KC_ERR_NOT_CONTROLLER` is, at the new controller): `KC_ERR_TOPIC_ALREADY_EXISTS`,
// `KC_ERR_INVALID_PARTITIONS`, `KC_ERR_INVALID_REPLICATION_FACTOR`,
// `KC_ERR_INVALID_CONFIG`, `KC_ERR_INVALID_TOPIC_EXCEPTION` (a bad name),
// `KC_ERR_POLICY_VIOLATION`, `KC_ERR_TOPIC_AUTHORIZATION_FAILED`,
// …; `KC_ERR__NULL_ARG` (`client`, `topic`, `configs` with a count, a config name),
// `KC_ERR__INVALID_ARG` (an empty name, `replication_factor` out of range),
// `KC_ERR__PANIC`.
//
// # Safety
// `client` must be a live handle, `topic` a NUL-terminated string, `configs` NULL or
// `2 * config_cnt` string pointers.
kc_err_t kc_client_create_topic(struct kc_client_t *client, const char *topic, int32_t partitions, int32_t replication_factor, const char *const *configs, size_t config_cnt, int32_t timeout_ms);

// Deletes a topic.
//
// Errors: the network errors described at `kc_client_t` (`KC_ERR__TIMED_OUT`,
// `KC_ERR__ALL_BROKERS_DOWN`, `KC_ERR__TRANSPORT`, `KC_ERR__DESTROY`,
// `KC_ERR__PROTOCOL`, `KC_ERR__FRAME_TOO_LARGE`, `KC_ERR__UNSUPPORTED_FEATURE`), and
// the topic's own error as the controller gave it, at once (not retried; only
// `KC_ERR_NOT_CONTROLLER` is): `KC_ERR_UNKNOWN_TOPIC_OR_PARTITION` (no such topic),
// `KC_ERR_TOPIC_DELETION_DISABLED`, `KC_ERR_TOPIC_AUTHORIZATION_FAILED`, …;
// `KC_ERR__NULL_ARG` (`client`, `topic`),
// `KC_ERR__INVALID_ARG`, `KC_ERR__PANIC`.
//
// # Safety
// `client` must be a live handle and `topic` a NUL-terminated string.
kc_err_t kc_client_delete_topic(struct kc_client_t *client, const char *topic, int32_t timeout_ms);

// Runs the client's SASL callbacks (the OAUTHBEARER token refresh callback,
// `kc_conf_set_oauthbearer_token_refresh_cb`) on a background thread of the client
// from now on, instead of inside `kc_client_event_poll` (librdkafka's
// `rd_kafka_sasl_background_callbacks_enable`): for an application that never polls.
// A refresh already due runs at once on that thread. Calling it again does nothing.
// `kc_client_free` stops the thread: an idle thread is woken and joined at once; a
// callback running at that moment is waited for up to 10 s, after which the thread is
// left to end on its own when the callback returns (the callback then still holds its
// `ob` and `cb_opaque`, so what `cb_opaque` points to must outlive it). Thread-safe.
//
// Errors: `KC_ERR__STATE` (the client has no token refresh callback: none was set, or
// it does not authenticate with `sasl.mechanism=OAUTHBEARER`), `KC_ERR__FAIL` (the
// thread could not be started), `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY`,
// `KC_ERR__PANIC`.
//
// # Safety
// `client` must be NULL or a live handle.
kc_err_t kc_client_sasl_background_callbacks_enable(const struct kc_client_t *client);

// Creates an empty configuration.
// The caller owns the result; free it with `kc_conf_free`. NULL only after an internal
// error (`kc_last_error` then says `KC_ERR__PANIC`).
struct kc_conf_t *kc_conf_new(void);

// Copies a configuration.
// The caller owns the result; free it with `kc_conf_free`. NULL if `conf` is NULL
// (`kc_last_error` then says `KC_ERR__NULL_ARG`) or after an internal error
// (`KC_ERR__PANIC`).
//
// # Safety
// `conf` must be NULL or a live handle from `kc_conf_new`/`kc_conf_dup`.
struct kc_conf_t *kc_conf_dup(const struct kc_conf_t *conf);

// Frees a configuration. NULL is a no-op; freeing twice is undefined behaviour.
//
// # Safety
// `conf` must be NULL or a live handle that is not used afterwards.
void kc_conf_free(struct kc_conf_t *conf);

// Sets property `name` to `value`. `name` and `value` are borrowed for the duration of
// the call.
//
// Errors: `KC_ERR__UNKNOWN_CONFIG` (no such property), `KC_ERR__INVALID_CONFIG` (a
// value the property does not take; `kc_last_error` names both), `KC_ERR__NULL_ARG`
// (`conf`, `name`, `value`), `KC_ERR__INVALID_ARG` (a string that is not UTF-8),
// `KC_ERR__PANIC`.
//
// # Safety
// `conf` must be a live handle; `name` and `value` NUL-terminated strings.
kc_err_t kc_conf_set(struct kc_conf_t *conf, const char *name, const char *value);

// Reads property `name` (the value set, or its default) into `buf` as a NUL-terminated
// string. `*lenp` is the size of `buf` on entry and the length of the value (without
// the NUL) on return. If the value does not fit, nothing is written to `buf`, `*lenp`
// says how long it is, and the result is `KC_ERR__BUFFER_TOO_SMALL` (the one failure
// that writes an out-parameter).
//
// Errors: `KC_ERR__BUFFER_TOO_SMALL` (above), `KC_ERR__UNKNOWN_CONFIG` (no such
// property), `KC_ERR__NULL_ARG` (`conf`, `name`, `lenp`), `KC_ERR__INVALID_ARG` (a
// name that is not UTF-8), `KC_ERR__PANIC`.
//
// # Safety
// `conf` must be a live handle, `name` a NUL-terminated string, `lenp` a valid pointer,
// `buf` NULL or `*lenp` writable bytes.
kc_err_t kc_conf_get(const struct kc_conf_t *conf, const char *name, char *buf, size_t *lenp);

// Sets the consumer's rebalance callback (see `kc_rebalance_cb_t`); NULL removes it.
//
// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
//
// # Safety
// `conf` must be a live handle not used by another thread during the call.
kc_err_t kc_conf_set_rebalance_cb(struct kc_conf_t *conf, kc_rebalance_cb_t cb);

// Sets the consumer's offset commit callback (see `kc_offset_commit_cb_t`); NULL
// removes it.
//
// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
//
// # Safety
// `conf` must be a live handle not used by another thread during the call.
kc_err_t kc_conf_set_offset_commit_cb(struct kc_conf_t *conf, kc_offset_commit_cb_t cb);

// Creates a consumer from a configuration (`bootstrap.servers`; `group.id` to
// subscribe or commit; the consumer's properties with librdkafka's names:
// `auto.offset.reset`, `enable.auto.commit`, `enable.auto.offset.store`,
// `enable.partition.eof`, `session.timeout.ms`, `max.poll.interval.ms`,
// `partition.assignment.strategy`, `queued.max.messages.kbytes`, …). `conf` is borrowed
// (the consumer keeps a copy, callbacks included). Brokers are contacted in the
// background. On success `*consumerp` receives the consumer; the caller owns it and
// frees it with `kc_consumer_free`.
//
// Errors: `KC_ERR__NULL_ARG` (`conf`, `consumerp`), `KC_ERR__INVALID_CONFIG` (a
// property that cannot be used, named with its value; an OAUTHBEARER token refresh
// callback with `enable.sasl.oauthbearer.unsecure.jwt=true`), `KC_ERR__UNSUPPORTED_FEATURE`
// (`group.protocol=consumer`), `KC_ERR__FAIL` (a thread could not be started),
// `KC_ERR__PANIC`.
//
// # Safety
// `conf` must be a live handle and `consumerp` a valid pointer.
kc_err_t kc_consumer_new(const struct kc_conf_t *conf, struct kc_consumer_t **consumerp);

// Subscribes to `cnt` topics (`topics`: NUL-terminated names; one starting with `^`
// is a regular expression matched against every topic's name), replacing any earlier
// subscription or assignment. The group assigns partitions in the background; the
// rebalance callback and the records come through `kc_consumer_poll`. `topics` is
// borrowed for the duration of the call.
//
// Errors: `KC_ERR__INVALID_ARG` (no `group.id`; no topics; an empty name; an invalid
// regular expression, named), `KC_ERR__NULL_ARG` (`consumer`, `topics`, a topic),
// `KC_ERR__DESTROY` (closed or being freed), `KC_ERR__FATAL`, `KC_ERR__PANIC`.
//
// # Safety
// `consumer` must be a live handle, `topics` NULL or `cnt` NUL-terminated strings.
kc_err_t kc_consumer_subscribe(struct kc_consumer_t *consumer, const char *const *topics, size_t cnt);

// Leaves the subscription (and the group: the revoke callback runs in a later poll).
//
// Errors: `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY`, `KC_ERR__FATAL`, `KC_ERR__PANIC`.
//
// # Safety
// `consumer` must be a live handle.
kc_err_t kc_consumer_unsubscribe(struct kc_consumer_t *consumer);

// Consumes exactly the `cnt` partitions of `parts`, without group membership
// (replacing any subscription or earlier assignment; `cnt` 0 stops consuming).
// Each `offset` says where to start: >= 0, `KC_OFFSET_BEGINNING`, `KC_OFFSET_END`,
// or `KC_OFFSET_STORED` (the group's committed offset, else `auto.offset.reset`;
// `KC_OFFSET_INVALID` is taken the same way). `leader_epoch` and `err` are ignored.
// Commits still go to `group.id`'s coordinator when one is set. `parts` is borrowed
// for the duration of the call.
//
// Called from the rebalance callback (on the polling thread), it takes that
// rebalance over instead, as librdkafka's `assign`/`incremental_assign` from its
// callback: for `KC_ERR__ASSIGN_PARTITIONS`, `parts` lists which of the added
// partitions are consumed and from where (`offset` as above: `KC_OFFSET_INVALID` or
// `KC_OFFSET_STORED` for the committed offset); the added partitions it leaves out stay
// assigned to the member, paused until `kc_consumer_resume`. For
// `KC_ERR__REVOKE_PARTITIONS` and `KC_ERR__ASSIGNMENT_LOST` the consumer lets the
// partitions go itself: `cnt` 0 (librdkafka's `assign(NULL)`) or some of those
// partitions is accepted and changes nothing. The group membership stays either way.
//
// Errors: `KC_ERR__INVALID_ARG` (an empty topic, a negative partition, another
// negative offset, a partition listed twice; from the rebalance callback, a partition
// that rebalance does not assign, revoke or lose), `KC_ERR__NULL_ARG` (`consumer`,
// `parts` with `cnt` > 0, a topic), `KC_ERR__DESTROY`, `KC_ERR__FATAL`,
// `KC_ERR__PANIC`.
//
// # Safety
// `consumer` must be a live handle, `parts` NULL or `cnt` valid entries.
kc_err_t kc_consumer_assign(struct kc_consumer_t *consumer, const struct kc_topic_partition_t *parts, size_t cnt);

// The partitions assigned now (by the group or by `kc_consumer_assign`), sorted by
// topic and partition, with `offset` `KC_OFFSET_INVALID`. On success `*partsp`
// receives a library-allocated array of `*cntp` entries (NULL when there are none);
// the caller owns it and frees it with `kc_topic_partitions_free(*partsp, *cntp)`.
//
// Errors: `KC_ERR__NULL_ARG` (`consumer`, `partsp`, `cntp`), `KC_ERR__DESTROY`,
// `KC_ERR__PANIC`.
//
// # Safety
// `consumer` must be a live handle, `partsp` and `cntp` valid pointers.
kc_err_t kc_consumer_assignment(struct kc_consumer_t *consumer, struct kc_topic_partition_t **partsp, size_t *cntp);

// Frees an array the library allocated (`kc_consumer_assignment`) and its strings.
// `cnt` must be the count handed out with it. NULL is a no-op. An array this library
// did not hand out, or a wrong `cnt`, is detected and left alone (`kc_last_error`
// then says `KC_ERR__INVALID_ARG`); freeing twice is detected the same way unless the
// memory was handed out again meanwhile.
//
// # Safety
// `parts` must be NULL or an array from `kc_consumer_assignment`, not used afterwards.
void kc_topic_partitions_free(struct kc_topic_partition_t *parts, size_t cnt);

// Waits up to `timeout_ms` (0: don't wait; negative: a year) for the next record or
// event, running the rebalance and offset commit callbacks due meanwhile on this
// thread, and the OAUTHBEARER token refresh callback when it is due (unless
// `kc_consumer_sasl_background_callbacks_enable` was called). A poll also marks the
// records handed out by the polls before it as processed: with
// `enable.auto.offset.store` (the default) their offsets are stored for the next
// commit (automatic with `enable.auto.commit`); a record returned by the latest poll
// is not committed by auto-commit until the next poll (at-least-once).
//
// Returns a message (a record, or an event whose `kc_message_err` is not `KC_OK`:
// `KC_ERR__PARTITION_EOF` with `enable.partition.eof`, a partition's or the group's
// error, a fatal error); the caller owns it and frees it with `kc_message_free`.
// Returns NULL when nothing came in time (`kc_last_error_code()` is then `KC_OK`), or
// on an error that `kc_last_error` describes: `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY`
// (closed, or freed during the call), `KC_ERR__PANIC`.
//
// # Safety
// `consumer` must be a live handle.
struct kc_message_t *kc_consumer_poll(struct kc_consumer_t *consumer, int32_t timeout_ms);

// As `kc_consumer_poll`, for up to `max` messages at once: waits up to `timeout_ms`
// for the first, then takes what is ready without waiting. Writes them to
// `msgs[0..n]` and returns `n`; the caller owns each and frees it with
// `kc_message_free`. Returns 0 at once when `max` is 0; 0 when nothing came in time
// (`kc_last_error_code()` `KC_OK`) or on an error (`KC_ERR__NULL_ARG` for `consumer`,
// or `msgs` with `max` > 0; `KC_ERR__DESTROY`; `KC_ERR__PANIC`).
//
// # Safety
// `consumer` must be a live handle, `msgs` NULL or room for `max` pointers.
size_t kc_consumer_poll_batch(struct kc_consumer_t *consumer, int32_t timeout_ms, struct kc_message_t **msgs, size_t max);

// `KC_OK` for a record; else the event's code (`KC_ERR__PARTITION_EOF`, a Kafka error
// of a partition or of the group, `KC_ERR__FATAL`-class errors with
// `kc_message_is_fatal`). NULL gives `KC_ERR__NULL_ARG` (and sets the last error).
//
// # Safety
// `m` must be NULL or a live message.
kc_err_t kc_message_err(const struct kc_message_t *m);

// The event's description (naming the topic and partition where there is one), or
// NULL for a record (and for NULL, which sets the last error). Valid until
// `kc_message_free`.
//
// # Safety
// `m` must be NULL or a live message.
const char *kc_message_errstr(const struct kc_message_t *m);

// 1 when the event is fatal (the consumer cannot go on: close and free it), else 0
// (also for NULL, which sets the last error).
//
// # Safety
// `m` must be NULL or a live message.
int kc_message_is_fatal(const struct kc_message_t *m);

// The record's topic (NUL-terminated), or the event's; NULL for an event of no
// partition (a group error) and for NULL (which sets the last error). Valid until
// `kc_message_free`.
//
// # Safety
// `m` must be NULL or a live message.
const char *kc_message_topic(const struct kc_message_t *m);

// The record's partition, or the event's; -1 for an event of no partition and for
// NULL (which sets the last error).
//
// # Safety
// `m` must be NULL or a live message.
int32_t kc_message_partition(const struct kc_message_t *m);

// The record's offset; for an event, the offset it concerns (the end offset for
// `KC_ERR__PARTITION_EOF`) or -1; -1 for NULL (which sets the last error).
//
// # Safety
// `m` must be NULL or a live message.
int64_t kc_message_offset(const struct kc_message_t *m);

// The record's timestamp (ms since the epoch), -1 when it has none (events, NULL —
// which sets the last error). `*tstype` (`tstype` may be NULL) receives a
// `KC_TIMESTAMP_*` value.
//
// # Safety
// `m` must be NULL or a live message, `tstype` NULL or valid.
int64_t kc_message_timestamp(const struct kc_message_t *m, int32_t *tstype);

// The leader epoch of the record's batch, -1 when unknown (events, NULL — which sets
// the last error).
//
// # Safety
// `m` must be NULL or a live message.
int32_t kc_message_leader_epoch(const struct kc_message_t *m);

// The record's key: NULL for a null key (and for events, and for NULL — which sets the
// last error); an empty key is non-NULL with `*lenp` 0. `*lenp` (`lenp` may be NULL)
// receives its length. Valid until `kc_message_free`.
//
// # Safety
// `m` must be NULL or a live message, `lenp` NULL or valid.
const void *kc_message_key(const struct kc_message_t *m, size_t *lenp);

// The record's value, as `kc_message_key` gives the key.
//
// # Safety
// `m` must be NULL or a live message, `lenp` NULL or valid.
const void *kc_message_value(const struct kc_message_t *m, size_t *lenp);

// How many headers the record has (0 for events, and for NULL — which sets the last
// error).
//
// # Safety
// `m` must be NULL or a live message.
size_t kc_message_header_cnt(const struct kc_message_t *m);

// Header `i` (0 ≤ `i` < `kc_message_header_cnt`) of the record, in order: `*keyp`
// receives its key (`*key_lenp` bytes, not NUL-terminated), `*valuep` its value (NULL
// for a null value, non-NULL for an empty one) and `*value_lenp` the value's length.
// Valid until `kc_message_free`.
//
// Errors: `KC_ERR__INVALID_ARG` (`i` out of range; an event has no headers),
// `KC_ERR__NULL_ARG` (any pointer), `KC_ERR__PANIC`.
//
// # Safety
// `m` must be a live message, the out-pointers valid.
kc_err_t kc_message_header(const struct kc_message_t *m, size_t i, const char **keyp, size_t *key_lenp, const void **valuep, size_t *value_lenp);

// Frees a message (and with the last message of a fetch buffer, the buffer: its room
// in `queued.max.messages.kbytes` is given back). May be called after the consumer
// was freed, and from any thread. The freeing thread keeps the message's own 48 bytes
// for its next polls (at most 4096 messages' worth per thread, freed when the thread
// ends). NULL is a no-op; freeing twice is undefined behaviour.
//
// # Safety
// `m` must be NULL or a message from `kc_consumer_poll`/`_poll_batch`, not used
// afterwards.
void kc_message_free(struct kc_message_t *m);

// Commits offsets to the group: `offsets` (`cnt` entries: `offset` the next record to
// consume, >= 0, with its `leader_epoch` or -1) or, when `offsets` is NULL, what the
// polls handed out so far (with `enable.auto.offset.store=false`: what was stored with
// `kc_consumer_store_offset`). `async` 0: waits for the broker's answer (at most
// `socket.timeout.ms`, or what is left of a close) and returns it; non-zero: returns at
// once, and the result goes to the offset commit callback in a later poll. Never
// commit the partitions of a `KC_ERR__ASSIGNMENT_LOST` rebalance. `offsets` is
// borrowed for the duration of the call. Nothing to commit is `KC_OK`.
//
// Errors: `KC_ERR__INVALID_ARG` (no `group.id`; an empty topic, a negative partition
// or offset), `KC_ERR__NULL_ARG` (`consumer`, a topic), `KC_ERR__TIMED_OUT`, the
// broker's error (e.g. `KC_ERR_REBALANCE_IN_PROGRESS`, `KC_ERR_ILLEGAL_GENERATION`),
// `KC_ERR__DESTROY`, `KC_ERR__FATAL`, `KC_ERR__PANIC`.
//
// # Safety
// `consumer` must be a live handle, `offsets` NULL or `cnt` valid entries.
kc_err_t kc_consumer_commit(struct kc_consumer_t *consumer, const struct kc_topic_partition_t *offsets, size_t cnt, int async);

// Stores `offset` (the next record to consume, >= 0) of an assigned partition for the
// next commit (explicit or automatic): for `enable.auto.offset.store=false`, to commit
// only what the application has processed. `topic` is borrowed for the call.
//
// Errors: `KC_ERR__UNKNOWN_PARTITION` (not assigned to this consumer),
// `KC_ERR__INVALID_ARG` (an empty topic, a negative partition or offset),
// `KC_ERR__NULL_ARG` (`consumer`, `topic`), `KC_ERR__DESTROY`, `KC_ERR__FATAL`,
// `KC_ERR__PANIC`.
//
// # Safety
// `consumer` must be a live handle, `topic` a NUL-terminated string.
kc_err_t kc_consumer_store_offset(struct kc_consumer_t *consumer, const char *topic, int32_t partition, int64_t offset);

// Asks the group's coordinator for the committed offsets of the `cnt` partitions in
// `parts` (any partitions, assigned or not), waiting up to `timeout_ms`. On success
// fills each entry's `offset` (`KC_OFFSET_INVALID`: nothing committed),
// `leader_epoch` (-1) and `err` (`KC_OK`); on failure writes nothing.
//
// Errors: `KC_ERR__INVALID_ARG` (no `group.id`; an empty topic, a negative
// partition), `KC_ERR__TIMED_OUT`, the coordinator's error, `KC_ERR__NULL_ARG`
// (`consumer`, `parts` with `cnt` > 0, a topic), `KC_ERR__DESTROY`, `KC_ERR__FATAL`,
// `KC_ERR__PANIC`.
//
// # Safety
// `consumer` must be a live handle, `parts` NULL or `cnt` valid, writable entries.
kc_err_t kc_consumer_committed(struct kc_consumer_t *consumer, struct kc_topic_partition_t *parts, size_t cnt, int32_t timeout_ms);

// The position of each of the `cnt` partitions in `parts`: the offset of the next
// record a poll hands out. Fills each entry's `offset` (`KC_OFFSET_INVALID` when not
// known yet, before the first record or a seek) and `err` (`KC_OK`, or
// `KC_ERR__UNKNOWN_PARTITION` for a partition not assigned to this consumer).
//
// Errors: `KC_ERR__INVALID_ARG` (an empty topic, a negative partition),
// `KC_ERR__NULL_ARG` (`consumer`, `parts` with `cnt` > 0, a topic), `KC_ERR__DESTROY`,
// `KC_ERR__PANIC`.
//
// # Safety
// `consumer` must be a live handle, `parts` NULL or `cnt` valid, writable entries.
kc_err_t kc_consumer_position(struct kc_consumer_t *consumer, struct kc_topic_partition_t *parts, size_t cnt);

// Moves an assigned partition's position to `offset` (>= 0, `KC_OFFSET_BEGINNING` or
// `KC_OFFSET_END`): records fetched before are dropped, the next poll hands out
// records from there. `topic` is borrowed for the call.
//
// Errors: `KC_ERR__UNKNOWN_PARTITION` (not assigned to this consumer),
// `KC_ERR__INVALID_ARG` (another negative offset, an empty topic, a negative
// partition), `KC_ERR__NULL_ARG` (`consumer`, `topic`), `KC_ERR__DESTROY`,
// `KC_ERR__FATAL`, `KC_ERR__PANIC`.
//
// # Safety
// `consumer` must be a live handle, `topic` a NUL-terminated string.
kc_err_t kc_consumer_seek(struct kc_consumer_t *consumer, const char *topic, int32_t partition, int64_t offset);

// Stops handing out and fetching records of the `cnt` partitions in `parts` until
// `kc_consumer_resume` (their records already fetched stay queued). Partitions not
// assigned are ignored; a rebalance that assigns a partition again starts it unpaused.
// Only `topic` and `partition` are read; `parts` is borrowed for the call.
//
// Errors: `KC_ERR__INVALID_ARG` (an empty topic, a negative partition),
// `KC_ERR__NULL_ARG` (`consumer`, `parts` with `cnt` > 0, a topic), `KC_ERR__DESTROY`,
// `KC_ERR__FATAL`, `KC_ERR__PANIC`.
//
// # Safety
// `consumer` must be a live handle, `parts` NULL or `cnt` valid entries.
kc_err_t kc_consumer_pause(struct kc_consumer_t *consumer, const struct kc_topic_partition_t *parts, size_t cnt);

// Undoes `kc_consumer_pause` for the `cnt` partitions in `parts`.
//
// Errors: as `kc_consumer_pause`.
//
// # Safety
// `consumer` must be a live handle, `parts` NULL or `cnt` valid entries.
kc_err_t kc_consumer_resume(struct kc_consumer_t *consumer, const struct kc_topic_partition_t *parts, size_t cnt);

// Leaves the group cleanly: the revoke callback runs on this thread, what the polls
// handed out is committed (with `enable.auto.commit`; offset commit callbacks due run
// too), a LeaveGroup is sent (not for a static member, `group.instance.id`), and the
// consumer's thread and connections stop. Bounded: returns within `timeout_ms` plus
// 100 ms even with the cluster unreachable (what is not done by then is dropped; a
// negative timeout is a year). Messages not freed yet stay valid. Afterwards polls
// return NULL and other calls `KC_ERR__DESTROY`; closing again is `KC_OK`. The handle
// must still be freed.
//
// Errors: `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY` (being freed), `KC_ERR__PANIC`.
//
// # Safety
// `consumer` must be a live handle.
kc_err_t kc_consumer_close(struct kc_consumer_t *consumer, int32_t timeout_ms);

// Frees the consumer, closing it first if `kc_consumer_close` was not called (bounded
// by 10 s; its callbacks run on this thread, and calls on the consumer from them work).
// Calls in progress on other threads return `KC_ERR__DESTROY` (a poll within 50 ms).
// Messages not freed yet stay valid: free them with `kc_message_free`, before or after.
// NULL is a no-op; freeing twice, or from inside a callback, is undefined behaviour.
//
// # Safety
// `consumer` must be NULL or a live handle; no call on it may start after this one.
void kc_consumer_free(struct kc_consumer_t *consumer);

// `kc_client_sasl_background_callbacks_enable` for a consumer: its token refresh
// callback runs on a background thread instead of inside `kc_consumer_poll` and
// `_poll_batch`. Stopped by `kc_consumer_free`, with the same bound. Same errors.
//
// # Safety
// `consumer` must be NULL or a live handle.
kc_err_t kc_consumer_sasl_background_callbacks_enable(struct kc_consumer_t *consumer);

// The symbolic name of an error code without the `KC_ERR_` prefix (e.g.
// "OFFSET_OUT_OF_RANGE", "_TIMED_OUT"). An unknown code gives "_UNKNOWN".
// The string is static: never free it.
const char *kc_err_name(kc_err_t err);

// A human-readable description of an error code. An unknown code gives
// "Unknown error code". The string is static: never free it.
const char *kc_err_str(kc_err_t err);

// The code of the last failed call made on this thread (KC_OK after a call that
// succeeded). Calls that return no `kc_err_t` (counts, accessors by value, `_free`)
// leave it alone, except after an internal error (`KC_ERR__PANIC`) or where their
// comment says so.
kc_err_t kc_last_error_code(void);

// Copies the detail of the last failed call made on this thread (which broker, topic,
// partition and request, and what the broker said) into `buf` as a NUL-terminated
// string, truncated to `len` bytes. Returns the length of the whole message (without
// the NUL), so a caller can size the buffer; 0 after a call that succeeded.
// `buf` may be NULL when `len` is 0.
//
// # Safety
// `buf` must be NULL or point to `len` writable bytes.
size_t kc_last_error(char *buf, size_t len);

// The version of the library loaded at run time as a string, e.g. "0.1.0" (the header's
// is `KC_VERSION_MAJOR`.`KC_VERSION_MINOR`.`KC_VERSION_PATCH`). Static: never free it.
const char *kc_version(void);

// The version of the library loaded at run time as a number:
// (major << 16) | (minor << 8) | patch. A program that needs the functions of the
// header it was compiled with checks
// `kc_version_num() >= ((KC_VERSION_MAJOR << 16) | (KC_VERSION_MINOR << 8))`
// (the SONAME already guarantees the same major version).
uint32_t kc_version_num(void);

// Fetches records of `topic`/`partition` from its leader, starting at `offset`: up to
// about `max_bytes` (a broker returns at least one whole batch), waiting up to
// `max_wait_ms` for data. The first record returned is the one at `offset` (or the next
// one that exists); continue from `kc_fetch_result_next_offset`. At the end of the log
// the broker answers after `max_wait_ms` with no records: a success. Retriable errors
// are retried until the deadline, `timeout_ms` + `max_wait_ms` from the start. On
// success `*resultp` receives the result; the caller owns it: free it with
// `kc_fetch_result_free`.
//
// Errors: the network errors described at `kc_client_t` (`KC_ERR__TIMED_OUT`,
// `KC_ERR__ALL_BROKERS_DOWN`, `KC_ERR__TRANSPORT`, `KC_ERR__RESOLVE`,
// `KC_ERR__DESTROY`, `KC_ERR__PROTOCOL`, `KC_ERR__FRAME_TOO_LARGE`,
// `KC_ERR__UNSUPPORTED_FEATURE`), and:
//  - `KC_ERR_OFFSET_OUT_OF_RANGE`: `offset` is outside the log (at once).
//  - `KC_ERR_UNKNOWN_TOPIC_OR_PARTITION`: the topic does not exist (retried: it comes
//    back near the deadline); `KC_ERR__UNKNOWN_PARTITION`: the partition does not exist
//    (at once); `KC_ERR__UNKNOWN_TOPIC`: the broker's metadata answer left the topic out.
//  - the leader's other answers for the partition (`KC_ERR_NOT_LEADER_OR_FOLLOWER`, …
//    retried; `KC_ERR_TOPIC_AUTHORIZATION_FAILED`, … at once).
//  - `KC_ERR__BAD_MSG`: a record batch failed its CRC or is malformed, or the index of
//    its records would exceed the call's memory budget; `KC_ERR__BAD_COMPRESSION`:
//    compressed data is invalid, or its decompressed bytes plus the index of its
//    records would exceed the budget. The budget is `fetch.max.decompressed.bytes`, for
//    the whole call (decompressed bytes and the decoded record index together). Not
//    retried.
//  - `KC_ERR__NULL_ARG` (`client`, `topic`, `resultp`), `KC_ERR__INVALID_ARG`
//    (`offset` < 0, `max_bytes` <= 0, `max_wait_ms` < 0), `KC_ERR__PANIC`.
//
// # Safety
// `client` must be a live handle, `topic` a NUL-terminated string, `resultp` valid.
kc_err_t kc_client_fetch(struct kc_client_t *client, const char *topic, int32_t partition, int64_t offset, int32_t max_bytes, int32_t max_wait_ms, int32_t timeout_ms, struct kc_fetch_result_t **resultp);

// Frees a fetch result and the records it holds. NULL is a no-op; freeing twice is
// undefined behaviour. The result does not depend on its client: it may be freed after
// the client.
//
// # Safety
// `result` must be NULL or a live handle not used afterwards.
void kc_fetch_result_free(struct kc_fetch_result_t *result);

// Number of records (0 if `result` is NULL).
//
// # Safety
// `result` must be NULL or a live handle.
size_t kc_fetch_result_record_count(const struct kc_fetch_result_t *result);

// The partition's high watermark: the offset the next record will get (-1 if `result`
// is NULL).
//
// # Safety
// `result` must be NULL or a live handle.
int64_t kc_fetch_result_high_watermark(const struct kc_fetch_result_t *result);

// The partition's log start offset; -1 if the broker did not say or `result` is NULL.
//
// # Safety
// `result` must be NULL or a live handle.
int64_t kc_fetch_result_log_start_offset(const struct kc_fetch_result_t *result);

// The last stable offset; -1 if the broker did not say or `result` is NULL.
//
// # Safety
// `result` must be NULL or a live handle.
int64_t kc_fetch_result_last_stable_offset(const struct kc_fetch_result_t *result);

// The offset to fetch from next: after the last batch returned (past the last record
// when a batch ended in control records), or -1 when nothing was returned or `result`
// is NULL.
//
// # Safety
// `result` must be NULL or a live handle.
int64_t kc_fetch_result_next_offset(const struct kc_fetch_result_t *result);

// Fills `*out` with record `i` (0 ≤ i < `kc_fetch_result_record_count`).
//
// Errors: `KC_ERR__NULL_ARG` (`result`, `out`), `KC_ERR__INVALID_ARG` (`i` out of
// range), `KC_ERR__PANIC`.
//
// # Safety
// `result` must be a live handle and `out` valid.
kc_err_t kc_fetch_result_record(const struct kc_fetch_result_t *result, size_t i, struct kc_record_view_t *out);

// Fills `*out` with header `j` of record `i` (0 ≤ j < the record's `header_cnt`).
//
// Errors: `KC_ERR__NULL_ARG` (`result`, `out`), `KC_ERR__INVALID_ARG` (`i` or `j` out
// of range), `KC_ERR__PANIC`.
//
// # Safety
// `result` must be a live handle and `out` valid.
kc_err_t kc_fetch_result_header(const struct kc_fetch_result_t *result, size_t i, size_t j, struct kc_header_view_t *out);

// Fetches metadata: for `topic_cnt` topics named in `topics`, or for every topic when
// `topics` is NULL and `topic_cnt` is 0. A topic that does not exist is reported with
// its error in `kc_metadata_topic`, not as a failure of the call. On success `*mdp`
// receives the snapshot; the caller owns it: free it with `kc_metadata_free`.
//
// Errors: the network errors described at `kc_client_t`: `KC_ERR__ALL_BROKERS_DOWN` (no
// known broker and no bootstrap address could be connected), `KC_ERR__TRANSPORT` (the
// connection was lost while the request was in flight), `KC_ERR__TIMED_OUT`,
// `KC_ERR__DESTROY`, `KC_ERR__PROTOCOL`, `KC_ERR__FRAME_TOO_LARGE`,
// `KC_ERR__UNSUPPORTED_FEATURE`; `KC_ERR__NULL_ARG` (`client`, `mdp`, `topics` with a
// count, a topic name), `KC_ERR__INVALID_ARG` (a name that is not UTF-8),
// `KC_ERR__PANIC`.
//
// # Safety
// `client` must be a live handle; `topics` NULL or `topic_cnt` NUL-terminated strings;
// `mdp` valid.
kc_err_t kc_client_metadata(struct kc_client_t *client, const char *const *topics, size_t topic_cnt, int32_t timeout_ms, struct kc_metadata_t **mdp);

// Frees a metadata snapshot. NULL is a no-op; freeing twice is undefined behaviour. The
// snapshot does not depend on its client: it may be freed after the client.
//
// # Safety
// `md` must be NULL or a live handle not used afterwards.
void kc_metadata_free(struct kc_metadata_t *md);

// Number of brokers (0 if `md` is NULL).
//
// # Safety
// `md` must be NULL or a live handle.
size_t kc_metadata_broker_count(const struct kc_metadata_t *md);

// Number of topics (0 if `md` is NULL).
//
// # Safety
// `md` must be NULL or a live handle.
size_t kc_metadata_topic_count(const struct kc_metadata_t *md);

// The controller broker id, -1 if unknown or `md` is NULL.
//
// # Safety
// `md` must be NULL or a live handle.
int32_t kc_metadata_controller_id(const struct kc_metadata_t *md);

// The cluster id, or NULL if the broker did not send one. Valid until `kc_metadata_free`.
//
// # Safety
// `md` must be NULL or a live handle.
const char *kc_metadata_cluster_id(const struct kc_metadata_t *md);

// Fills `*out` with broker `i` (0 ≤ i < `kc_metadata_broker_count`).
//
// Errors: `KC_ERR__NULL_ARG` (`md`, `out`), `KC_ERR__INVALID_ARG` (`i` out of range),
// `KC_ERR__PANIC`.
//
// # Safety
// `md` must be a live handle and `out` valid.
kc_err_t kc_metadata_broker(const struct kc_metadata_t *md, size_t i, struct kc_broker_t *out);

// Fills `*out` with topic `i` (0 ≤ i < `kc_metadata_topic_count`); topics are sorted by
// name.
//
// Errors: `KC_ERR__NULL_ARG` (`md`, `out`), `KC_ERR__INVALID_ARG` (`i` out of range),
// `KC_ERR__PANIC`.
//
// # Safety
// `md` must be a live handle and `out` valid.
kc_err_t kc_metadata_topic(const struct kc_metadata_t *md, size_t i, struct kc_topic_t *out);

// Fills `*out` with partition `j` of topic `i`; partitions are sorted by id.
//
// Errors: `KC_ERR__NULL_ARG` (`md`, `out`), `KC_ERR__INVALID_ARG` (`i` or `j` out of
// range), `KC_ERR__PANIC`.
//
// # Safety
// `md` must be a live handle and `out` valid.
kc_err_t kc_metadata_partition(const struct kc_metadata_t *md, size_t i, size_t j, struct kc_partition_t *out);

// Sets the OAUTHBEARER token every connection of the client sends when it authenticates
// or re-authenticates (KIP-368), replacing the previous one. For
// `sasl.mechanism=OAUTHBEARER` without `enable.sasl.oauthbearer.unsecure.jwt`: until a
// token is set, connections fail with `KC_ERR__AUTHENTICATION`. Connections already
// authenticated keep their session; they send the new token when they re-authenticate
// (the broker's `connections.max.reauth.ms`, at most the token's lifetime). Set a new
// token before the current one expires (librdkafka refreshes at 80% of the lifetime):
// a token refresh callback (`kc_conf_set_oauthbearer_token_refresh_cb`) is called
// again then.
//
// `token_value`: the token (an RFC 6750 b64token, e.g. a JWT). `md_lifetime_ms`: when it
// expires, in milliseconds since the Unix epoch (in the future). `md_principal_name`:
// the principal it names (non-empty; used in error messages). `extensions`: NULL or
// `extension_size` strings, key, value, key, value... (RFC 7628 SASL extensions: keys
// are ASCII letters, not `auth`; values printable ASCII, space, tab, CR, LF);
// `extension_size` must be even. Every string is copied: the caller keeps ownership.
//
// Thread-safe: may be called from any thread, including from callbacks.
//
// Errors: `KC_ERR__INVALID_ARG` (empty or malformed token, lifetime not in the future,
// empty principal, odd `extension_size`, invalid extension; the message says which),
// `KC_ERR__NULL_ARG`, `KC_ERR__STATE` (`sasl.mechanism` is not OAUTHBEARER, or the token
// is the unsecured JWT made from `sasl.oauthbearer.config`), `KC_ERR__DESTROY`,
// `KC_ERR__PANIC`. Message: `kc_last_error`.
//
// # Safety
// `client` must be a live handle; the strings NULL or NUL-terminated; `extensions`
// NULL or pointing to `extension_size` string pointers.
kc_err_t kc_client_oauthbearer_set_token(const struct kc_client_t *client, const char *token_value, int64_t md_lifetime_ms, const char *md_principal_name, const char *const *extensions, size_t extension_size);

// Records that the application could not get an OAUTHBEARER token: connections that
// authenticate until a token is set fail with `KC_ERR__AUTHENTICATION` and a message
// containing `errstr` (copied; the caller keeps it), except that a token set before
// and not expired yet is still sent until it expires (as librdkafka does). A token
// refresh callback (`kc_conf_set_oauthbearer_token_refresh_cb`) is called again 10 s
// later. Thread-safe.
//
// Errors: `KC_ERR__INVALID_ARG` (empty `errstr`), `KC_ERR__NULL_ARG`, `KC_ERR__STATE`
// (as `kc_client_oauthbearer_set_token`), `KC_ERR__DESTROY`, `KC_ERR__PANIC`.
//
// # Safety
// `client` must be a live handle and `errstr` NULL or NUL-terminated.
kc_err_t kc_client_oauthbearer_set_token_failure(const struct kc_client_t *client, const char *errstr);

// `kc_client_oauthbearer_set_token` for a producer: its connections (all of them, the
// transaction coordinator's too) use the token. Same arguments, ownership, thread
// safety and errors.
//
// # Safety
// As `kc_client_oauthbearer_set_token`, with a live producer.
kc_err_t kc_producer_oauthbearer_set_token(const struct kc_producer_t *producer, const char *token_value, int64_t md_lifetime_ms, const char *md_principal_name, const char *const *extensions, size_t extension_size);

// `kc_client_oauthbearer_set_token_failure` for a producer.
//
// # Safety
// As `kc_client_oauthbearer_set_token_failure`, with a live producer.
kc_err_t kc_producer_oauthbearer_set_token_failure(const struct kc_producer_t *producer, const char *errstr);

// `kc_client_oauthbearer_set_token` for a consumer: its connections (group coordinator
// and fetch connections) use the token. Same arguments, ownership, thread safety and
// errors.
//
// # Safety
// As `kc_client_oauthbearer_set_token`, with a live consumer.
kc_err_t kc_consumer_oauthbearer_set_token(const struct kc_consumer_t *consumer, const char *token_value, int64_t md_lifetime_ms, const char *md_principal_name, const char *const *extensions, size_t extension_size);

// `kc_client_oauthbearer_set_token_failure` for a consumer.
//
// # Safety
// As `kc_client_oauthbearer_set_token_failure`, with a live consumer.
kc_err_t kc_consumer_oauthbearer_set_token_failure(const struct kc_consumer_t *consumer, const char *errstr);

// `kc_client_oauthbearer_set_token` for the token refresh callback: sets the token of
// the handle whose callback received `ob` (see `kc_oauthbearer_token_refresh_cb_t`),
// and schedules the next call of the callback at 80 % of the token's remaining
// lifetime. May be called from the callback or later, from any thread, until that
// handle is freed. Same arguments and ownership (every string is copied).
//
// Errors: `KC_ERR__INVALID_ARG` (as `kc_client_oauthbearer_set_token`: empty or
// malformed token, lifetime not in the future, empty principal, odd `extension_size`,
// invalid extension; the message says which; the token set before, if any, stays),
// `KC_ERR__NULL_ARG` (`ob`, `token_value`, `md_principal_name`), `KC_ERR__PANIC`.
// Message: `kc_last_error`.
//
// # Safety
// `ob` must be NULL or a pointer a refresh callback received, whose handle is not
// freed; the strings NULL or NUL-terminated; `extensions` NULL or pointing to
// `extension_size` string pointers.
kc_err_t kc_oauthbearer_set_token(struct kc_oauthbearer_t *ob, const char *token_value, int64_t md_lifetime_ms, const char *md_principal_name, const char *const *extensions, size_t extension_size);

// `kc_client_oauthbearer_set_token_failure` for the token refresh callback: the
// callback will be called again 10 s later. Thread-safe; valid until the handle whose
// callback received `ob` is freed.
//
// Errors: `KC_ERR__INVALID_ARG` (empty `errstr`), `KC_ERR__NULL_ARG` (`ob`, `errstr`),
// `KC_ERR__PANIC`.
//
// # Safety
// `ob` must be NULL or a pointer a refresh callback received, whose handle is not
// freed; `errstr` NULL or NUL-terminated.
kc_err_t kc_oauthbearer_set_token_failure(struct kc_oauthbearer_t *ob, const char *errstr);

// Sets the OAUTHBEARER token refresh callback (see `kc_oauthbearer_token_refresh_cb_t`)
// of the handles made from `conf`; NULL removes it. For `sasl.mechanism=OAUTHBEARER`
// without `enable.sasl.oauthbearer.unsecure.jwt` (with it, creating a handle fails with
// `KC_ERR__INVALID_CONFIG`: they are mutually exclusive); for another mechanism the
// callback is never called. The callback gets the `cb_opaque` of `kc_conf_set_opaque`.
//
// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
//
// # Safety
// `conf` must be a live handle not used by another thread during the call.
kc_err_t kc_conf_set_oauthbearer_token_refresh_cb(struct kc_conf_t *conf, kc_oauthbearer_token_refresh_cb_t cb);

// Sets the delivery report callback called once per message. Setting both this and
// the batch form calls both.
//
// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
//
// # Safety
// `conf` must be a live handle not used by another thread during the call.
kc_err_t kc_conf_set_dr_msg_cb(struct kc_conf_t *conf, kc_dr_msg_cb_t cb);

// Sets the delivery report callback called with many reports at once: those waiting,
// in order, at most 256 per call (more waiting make more calls). Setting both this and
// the per-message form calls both, the batch form first for each group of reports.
//
// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
//
// # Safety
// `conf` must be a live handle not used by another thread during the call.
kc_err_t kc_conf_set_dr_batch_cb(struct kc_conf_t *conf, kc_dr_batch_cb_t cb);

// Sets the error callback (the fatal error, once).
//
// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
//
// # Safety
// `conf` must be a live handle not used by another thread during the call.
kc_err_t kc_conf_set_error_cb(struct kc_conf_t *conf, kc_error_cb_t cb);

// Sets the partitioner callback, used instead of the `partitioner` property.
//
// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
//
// # Safety
// `conf` must be a live handle not used by another thread during the call.
kc_err_t kc_conf_set_partitioner_cb(struct kc_conf_t *conf, kc_partitioner_cb_t cb);

// Sets the callback that frees values handed over with `KC_MSG_F_FREE` (see
// `kc_free_cb_t`; without one, `free()`).
//
// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
//
// # Safety
// `conf` must be a live handle not used by another thread during the call.
kc_err_t kc_conf_set_free_cb(struct kc_conf_t *conf, kc_free_cb_t cb);

// Sets the pointer every callback receives as `cb_opaque` (NULL by default).
//
// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
//
// # Safety
// `conf` must be a live handle not used by another thread during the call.
kc_err_t kc_conf_set_opaque(struct kc_conf_t *conf, void *opaque);

// Creates a producer from a configuration (`bootstrap.servers` and the producer's
// properties: `linger.ms`, `enable.idempotence`, … librdkafka's names). `conf` is
// borrowed (the producer keeps a copy, callbacks included). Brokers are contacted in
// the background: an unreachable cluster shows as failed delivery reports, not here.
// On success `*producerp` receives the producer; free it with `kc_producer_free`.
//
// Errors: `KC_ERR__NULL_ARG` (`conf`, `producerp`), `KC_ERR__INVALID_CONFIG`
// (`bootstrap.servers` missing; `enable.idempotence=true` with `acks` other than all
// or `max.in.flight` above 5; an OAUTHBEARER token refresh callback with
// `enable.sasl.oauthbearer.unsecure.jwt=true`), `KC_ERR__FAIL` (a thread could not be started),
// `KC_ERR__PANIC`.
//
// # Safety
// `conf` must be a live handle and `producerp` a valid pointer.
kc_err_t kc_producer_new(const struct kc_conf_t *conf, struct kc_producer_t **producerp);

// Sends one record and returns at once: the record is copied into the partition's
// batch (everything `rec` points to is borrowed for the call only). `partition`: a
// partition or `KC_PARTITION_UA` (the `partitioner` property chooses). `opaque` comes
// back in the record's delivery report, which is served by `kc_producer_poll`.
// `rec->timestamp` 0 takes the time of the call.
//
// Errors (nothing was queued; no report will come):
//  - `KC_ERR__QUEUE_FULL`: `queue.buffering.max.messages` or `.kbytes` reached
//    (messages not yet acknowledged), or `delivery.report.max.messages` reports wait
//    for `kc_producer_poll`. Poll, then send again (or use `kc_producer_send_blocking`).
//  - `KC_ERR_MESSAGE_TOO_LARGE`: the record alone exceeds `message.max.bytes`.
//  - `KC_ERR__UNKNOWN_PARTITION`: the topic is known and has no such partition (a
//    topic not known yet is waited for: `topic.metadata.propagation.max.ms`).
//  - `KC_ERR__FATAL`: the producer hit a fatal error (`kc_producer_fatal_error`).
//  - `KC_ERR__DESTROY`: the producer is being closed or freed.
//  - `KC_ERR__BAD_COMPRESSION`: the batch the record filled could not be compressed
//    (its other records get failed reports).
//  - `KC_ERR__NULL_ARG` (`producer`, `topic`, `rec`, a header key),
//    `KC_ERR__INVALID_ARG` (an empty topic, a NULL buffer with a length, a string that
//    is not UTF-8), `KC_ERR__PANIC`.
//
// # Safety
// `producer` must be a live handle, `topic` a NUL-terminated string, `rec` a valid
// record (see `kc_record_t`).
kc_err_t kc_producer_send(struct kc_producer_t *producer, const char *topic, int32_t partition, const struct kc_record_t *rec, void *opaque);

// As `kc_producer_send`, but when the queue is full it waits up to `timeout_ms` for
// space (a negative timeout waits a year) instead of failing at once (Java's
// `max.block.ms`). `KC_ERR__QUEUE_FULL` then means the wait ran out.
//
// Errors: as `kc_producer_send`.
//
// # Safety
// As `kc_producer_send`.
kc_err_t kc_producer_send_blocking(struct kc_producer_t *producer, const char *topic, int32_t partition, const struct kc_record_t *rec, void *opaque, int32_t timeout_ms);

// As `kc_producer_send`, with flags, and waiting up to `timeout_ms` for queue space
// as `kc_producer_send_blocking` does when `timeout_ms` is not 0 (0 fails at once with
// `KC_ERR__QUEUE_FULL`, as `kc_producer_send`).
//
// `flags`: 0, or `KC_MSG_F_FREE`: `rec->value` is handed over. On `KC_OK` the producer
// owns the buffer and frees it with the free callback (`kc_conf_set_free_cb`, or
// `free()`) exactly once; the application must not touch it again. On any error the
// application still owns it and the producer kept no reference. The key and headers
// are copied either way. A NULL value hands nothing over.
//
// Errors: as `kc_producer_send`; `KC_ERR__INVALID_ARG` for unknown flags.
//
// # Safety
// As `kc_producer_send`; with `KC_MSG_F_FREE`, `rec->value` must be a buffer the free
// callback (or `free()`) may free, not used by the application after `KC_OK`.
kc_err_t kc_producer_send_flags(struct kc_producer_t *producer, const char *topic, int32_t partition, const struct kc_record_t *rec, void *opaque, int flags, int32_t timeout_ms);

// Sends `cnt` records to `topic`/`partition` in one call: the lowest cost per message.
// `opaques` (NULL, or `cnt` pointers) gives each record's report opaque. `errs` (NULL,
// or room for `cnt` codes) receives each record's result, as `kc_producer_send` would
// return it. Stops at the first `KC_ERR__QUEUE_FULL` (the records from there on get
// that code). Returns how many records were queued; on an argument error before any
// record (`KC_ERR__NULL_ARG` for `producer` or `topic`), 0 and `kc_last_error` says
// why.
//
// # Safety
// `producer` must be a live handle, `topic` a NUL-terminated string, `recs` `cnt`
// valid records, `opaques` NULL or `cnt` pointers, `errs` NULL or `cnt` writable codes.
size_t kc_producer_send_batch(struct kc_producer_t *producer, const char *topic, int32_t partition, const struct kc_record_t *recs, void *const *opaques, size_t cnt, kc_err_t *errs);

// As `kc_producer_send_batch`, with `flags` for every record: 0, or `KC_MSG_F_FREE`
// (as in `kc_producer_send_flags`): each queued record's `value` is handed over and
// freed by the producer with the free callback (`kc_conf_set_free_cb`, or `free()`)
// exactly once; a record that was not queued (its code in `errs` is not `KC_OK`: a
// refused record, or every record from the first `KC_ERR__QUEUE_FULL` on) leaves its
// value with the application. So with `KC_MSG_F_FREE`, the application frees or
// resends exactly the records from the returned count on that have a value.
//
// Errors: as `kc_producer_send_batch`; unknown flags: 0 records queued,
// `KC_ERR__INVALID_ARG` from `kc_last_error` (and in each of `errs`).
//
// # Safety
// As `kc_producer_send_batch`; with `KC_MSG_F_FREE`, every record's non-NULL `value` a
// buffer the free callback (or `free()`) may free, not used by the application after
// its record was queued.
size_t kc_producer_send_batch_flags(struct kc_producer_t *producer, const char *topic, int32_t partition, const struct kc_record_t *recs, void *const *opaques, size_t cnt, int flags, kc_err_t *errs);

// Serves waiting delivery reports (and the fatal error, once) through the callbacks,
// on this thread, waiting up to `timeout_ms` for the first (0: don't wait; negative: a
// year). Runs the OAUTHBEARER token refresh callback too when it is due, meanwhile
// (unless `kc_producer_sasl_background_callbacks_enable` was called); it does not
// count among the reports served. Returns how many reports were served, or -1 on an error (`kc_last_error`:
// `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY`, `KC_ERR__PANIC`).
//
// # Safety
// `producer` must be a live handle.
int kc_producer_poll(struct kc_producer_t *producer, int32_t timeout_ms);

// Sends everything queued now (cutting `linger.ms` short) and serves delivery reports
// through the callbacks until every message sent before the call has its report, or
// `timeout_ms` passes (negative: a year). The OAUTHBEARER token refresh callback runs
// meanwhile when due, as in `kc_producer_poll`.
//
// Errors: `KC_ERR__TIMED_OUT` (messages remain; they stay queued and keep their
// `message.timeout.ms`), `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY`, `KC_ERR__PANIC`.
//
// # Safety
// `producer` must be a live handle.
kc_err_t kc_producer_flush(struct kc_producer_t *producer, int32_t timeout_ms);

// Drops queued (`KC_PURGE_F_QUEUE`) and/or in-flight (`KC_PURGE_F_INFLIGHT`) messages.
// Each gets a failed report (`KC_ERR__PURGE_QUEUE`, `KC_ERR__PURGE_INFLIGHT`) served
// by the next `kc_producer_poll`. With idempotence, the producer's epoch is bumped
// before anything more is sent.
//
// Errors: `KC_ERR__INVALID_ARG` (unknown flags), `KC_ERR__NULL_ARG`,
// `KC_ERR__DESTROY`, `KC_ERR__PANIC`.
//
// # Safety
// `producer` must be a live handle.
kc_err_t kc_producer_purge(struct kc_producer_t *producer, int flags);

// Messages not yet acknowledged (queued or in flight) plus delivery reports not yet
// served: 0 once everything has been reported (librdkafka's `rd_kafka_outq_len`).
// 0 for NULL.
//
// # Safety
// `producer` must be NULL or a live handle.
size_t kc_producer_outq_len(struct kc_producer_t *producer);

// The producer's fatal error: its code (0 when there is none) and, when `buf` is not
// NULL, its description in `buf` (`len` bytes, NUL-terminated, truncated to fit).
// Returns 0 for a NULL producer.
//
// # Safety
// `producer` must be NULL or a live handle; `buf` NULL or `len` writable bytes.
kc_err_t kc_producer_fatal_error(struct kc_producer_t *producer, char *buf, size_t len);

// Flushes for up to `timeout_ms` (serving reports through the callbacks), then drops
// what is left and stops the producer's threads and connections. A transactional
// producer's open transaction is aborted first (a commit already under way is carried
// on), within the same `timeout_ms`, so that it does not hold `read_committed` readers
// back until `transaction.timeout.ms`. Returns within
// `timeout_ms` plus the time to close connections (no network wait; a negative timeout
// is a year). `*droppedp` (may be NULL) receives how many messages were dropped without
// a report. After it, sends fail with `KC_ERR__DESTROY`; the handle must still be
// freed.
//
// Errors: `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY` (already being freed), `KC_ERR__PANIC`.
//
// # Safety
// `producer` must be a live handle; `droppedp` NULL or valid.
kc_err_t kc_producer_close(struct kc_producer_t *producer, int32_t timeout_ms, size_t *droppedp);

// Frees the producer without waiting for anything: messages not yet reported are
// dropped (call `kc_producer_flush` or `kc_producer_close` first to deliver them).
// Calls in progress on other threads return `KC_ERR__DESTROY` (a blocked send or a
// poll is woken at once). Returns once the producer's threads have stopped. NULL is a
// no-op; freeing twice, or from inside a callback, is undefined behaviour.
//
// # Safety
// `producer` must be NULL or a live handle; no call on it may start after this one.
void kc_producer_free(struct kc_producer_t *producer);

// `kc_client_sasl_background_callbacks_enable` for a producer: its token refresh
// callback runs on a background thread instead of inside `kc_producer_poll` and
// `_flush`. Stopped by `kc_producer_free`, with the same bound. Same errors.
//
// # Safety
// `producer` must be NULL or a live handle.
kc_err_t kc_producer_sasl_background_callbacks_enable(struct kc_producer_t *producer);

// Whether the last transactional call on this thread failed with a retriable error:
// call it again (with the same arguments); it continues where it stopped.
int32_t kc_txn_error_is_retriable(void);

// Whether the last transactional call on this thread failed with an abortable error:
// call `kc_producer_abort_transaction`, rewind the input to the last committed point,
// and begin a new transaction.
int32_t kc_txn_error_is_abortable(void);

// Whether the last transactional call on this thread failed with a fatal error: the
// producer is unusable (fenced by a newer producer with the same `transactional.id`,
// not authorised, or an error this library does not classify); free it. The
// transaction in progress was not committed.
int32_t kc_txn_error_is_fatal(void);

// Gets the producer id for `transactional.id` from the transaction coordinator; it
// fences older producers with the same id and aborts the transaction they left open.
// Called once, before the first transaction. Returns within `timeout_ms` (negative: a
// year).
//
// Errors: `KC_ERR__TIMED_OUT` (retriable: call again to continue), a broker error such
// as `TRANSACTIONAL_ID_AUTHORIZATION_FAILED` (fatal), `KC_ERR__STATE` (not a
// transactional producer, or already initialised), `KC_ERR__NULL_ARG`,
// `KC_ERR__DESTROY`, `KC_ERR__PANIC`. The class is read with `kc_txn_error_is_*`.
//
// # Safety
// `producer` must be a live handle.
kc_err_t kc_producer_init_transactions(struct kc_producer_t *producer, int32_t timeout_ms);

// Begins a transaction: messages sent until commit or abort belong to it (sends
// outside a transaction fail with `KC_ERR__STATE`).
//
// Errors: `KC_ERR__STATE` (no init, or a transaction in progress), the abortable
// error itself while one is not yet aborted (abortable class: abort first), a fatal
// error, `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY`, `KC_ERR__PANIC`.
//
// # Safety
// `producer` must be a live handle.
kc_err_t kc_producer_begin_transaction(struct kc_producer_t *producer);

// Commits the consumer offsets `offsets` (`cnt` entries: topic, partition, and the
// offset of the next record to consume, with its leader epoch or -1) of the group in
// `group_metadata` as part of the transaction: they become the group's committed
// offsets when, and only if, the transaction commits. `offsets` and `group_metadata`
// are borrowed for the duration of the call. An empty list changes nothing.
//
// Errors: `KC_ERR__TIMED_OUT` (retriable), abortable errors (`ILLEGAL_GENERATION`,
// `UNKNOWN_MEMBER_ID`, `GROUP_AUTHORIZATION_FAILED`, ...), fatal errors,
// `KC_ERR__STATE`, `KC_ERR__INVALID_ARG`, `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY`,
// `KC_ERR__PANIC`.
//
// # Safety
// `producer` must be a live handle, `offsets` NULL (with `cnt` 0) or `cnt` valid
// entries, `group_metadata` a live handle.
kc_err_t kc_producer_send_offsets_to_transaction(struct kc_producer_t *producer, const struct kc_topic_partition_t *offsets, size_t cnt, const struct kc_group_metadata_t *group_metadata, int32_t timeout_ms);

// Commits the transaction: sends what is queued, waits for every outstanding message
// (serving delivery reports through the callbacks), then asks the transaction
// coordinator to commit. Returns within `timeout_ms` (negative: a year).
//
// Errors: `KC_ERR__TIMED_OUT` (retriable: call again, the commit continues), abortable
// errors (a message of the transaction failed: abort), fatal errors (fenced; or
// `INVALID_TXN_STATE` after the coordinator aborted a transaction that outlived
// `transaction.timeout.ms`: never committed), `KC_ERR__STATE`, `KC_ERR__NULL_ARG`,
// `KC_ERR__DESTROY`, `KC_ERR__PANIC`.
//
// # Safety
// `producer` must be a live handle.
kc_err_t kc_producer_commit_transaction(struct kc_producer_t *producer, int32_t timeout_ms);

// Aborts the transaction: purges what is queued (each message gets its delivery
// report, `KC_ERR__PURGE_QUEUE`), waits for what is in flight (serving reports through
// the callbacks), then asks the coordinator to abort. Returns within `timeout_ms`
// (negative: a year).
//
// Errors: `KC_ERR__TIMED_OUT` (retriable: call again), fatal errors, `KC_ERR__STATE`
// (no transaction), `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY`, `KC_ERR__PANIC`.
//
// # Safety
// `producer` must be a live handle.
kc_err_t kc_producer_abort_transaction(struct kc_producer_t *producer, int32_t timeout_ms);

// The consumer's group metadata (its `group.id`, `group.instance.id`, and, while it is
// a member of a stable group, its generation and member id), for
// `kc_producer_send_offsets_to_transaction`: the group coordinator refuses the offsets
// (an abortable error) when the member has left the group or the group has rebalanced
// since (KIP-447). Taken when called: call it after the poll whose records the
// transaction holds. On success `*metap` receives it; the caller owns it; free it with
// `kc_group_metadata_free`.
//
// Errors: `KC_ERR__INVALID_ARG` (the consumer has no `group.id`), `KC_ERR__NULL_ARG`,
// `KC_ERR__DESTROY`, `KC_ERR__PANIC`.
//
// # Safety
// `consumer` must be a live handle, `metap` a valid pointer.
kc_err_t kc_consumer_group_metadata(struct kc_consumer_t *consumer, struct kc_group_metadata_t **metap);

// Frees group metadata. NULL is a no-op; freeing twice is undefined behaviour.
//
// # Safety
// `meta` must be NULL or a live handle from `kc_consumer_group_metadata`.
void kc_group_metadata_free(struct kc_group_metadata_t *meta);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* KAFKAC_H */
