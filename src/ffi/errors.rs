//! Error codes, their names and descriptions, the last-error accessors, and the version.

use super::util::{boundary, copy_out, last_error};
use std::collections::HashMap;
use std::ffi::{c_char, CString};
use std::sync::OnceLock;

/// An error code: 0 is success, Kafka's error codes keep their wire numbers (the
/// `KC_ERR_<NAME>` macros), local errors are negative (`KC_ERR__<NAME>`).
pub type kc_err_t = i32;

/// Success.
pub const KC_OK: kc_err_t = 0;
/// A record batch or message failed validation (CRC mismatch, bad structure).
pub const KC_ERR__BAD_MSG: kc_err_t = -199;
/// Compressed data was invalid or expanded beyond its limit.
pub const KC_ERR__BAD_COMPRESSION: kc_err_t = -198;
/// The client is being destroyed.
pub const KC_ERR__DESTROY: kc_err_t = -197;
/// A generic local failure.
pub const KC_ERR__FAIL: kc_err_t = -196;
/// A broker connection failed or broke.
pub const KC_ERR__TRANSPORT: kc_err_t = -195;
/// A host name could not be resolved.
pub const KC_ERR__RESOLVE: kc_err_t = -193;
/// TLS failed: the broker's certificate is not trusted, is another host's or has
/// expired, the handshake was refused (a client certificate required), or the broker's
/// listener does not speak TLS. The message names the broker and the cause.
pub const KC_ERR__SSL: kc_err_t = -181;
/// SASL authentication failed: wrong user name or password, unknown user, a SCRAM
/// exchange the client could not verify, or a SASL client on a listener that takes no
/// SASL (librdkafka's `_AUTHENTICATION`). The message names the broker, the mechanism
/// and the user, never the password. A mechanism the broker does not enable is Kafka's
/// UNSUPPORTED_SASL_MECHANISM (33) instead, with the broker's enabled list.
pub const KC_ERR__AUTHENTICATION: kc_err_t = -169;
/// The partition does not exist.
pub const KC_ERR__UNKNOWN_PARTITION: kc_err_t = -190;
/// The topic does not exist.
pub const KC_ERR__UNKNOWN_TOPIC: kc_err_t = -188;
/// No broker could be reached.
pub const KC_ERR__ALL_BROKERS_DOWN: kc_err_t = -187;
/// An argument was invalid.
pub const KC_ERR__INVALID_ARG: kc_err_t = -186;
/// The operation did not complete within its timeout.
pub const KC_ERR__TIMED_OUT: kc_err_t = -185;
/// The broker and this library share no version of a required API.
pub const KC_ERR__UNSUPPORTED_FEATURE: kc_err_t = -165;
/// Nothing there (for example, no event waiting).
pub const KC_ERR__NOENT: kc_err_t = -156;
/// A message was not delivered within `message.timeout.ms`.
pub const KC_ERR__MSG_TIMED_OUT: kc_err_t = -192;
/// The producer's queue is full.
pub const KC_ERR__QUEUE_FULL: kc_err_t = -184;
/// A queued message was purged before it was sent.
pub const KC_ERR__PURGE_QUEUE: kc_err_t = -152;
/// A message in flight was purged; the broker may still write it.
pub const KC_ERR__PURGE_INFLIGHT: kc_err_t = -151;
/// The producer hit a fatal error (`kc_producer_fatal_error` says which).
pub const KC_ERR__FATAL: kc_err_t = -150;
/// Reached the end of a partition (`enable.partition.eof`).
pub const KC_ERR__PARTITION_EOF: kc_err_t = -191;
/// No offset to start from (no committed offset and `auto.offset.reset=error`).
pub const KC_ERR__NO_OFFSET: kc_err_t = -168;
/// The position was reset by `auto.offset.reset=error` rules: out of range, and the policy is to fail.
pub const KC_ERR__AUTO_OFFSET_RESET: kc_err_t = -140;
/// The application did not poll within `max.poll.interval.ms`: the consumer left its group (it rejoins on the next poll).
pub const KC_ERR__MAX_POLL_EXCEEDED: kc_err_t = -147;
/// The group assignment was lost (the member was fenced or lost contact): the partitions were not revoked cleanly, so their offsets must not be committed.
pub const KC_ERR__ASSIGNMENT_LOST: kc_err_t = -142;
/// A rebalance revokes partitions (a rebalance event).
pub const KC_ERR__REVOKE_PARTITIONS: kc_err_t = -174;
/// A rebalance assigns partitions (a rebalance event).
pub const KC_ERR__ASSIGN_PARTITIONS: kc_err_t = -175;
/// The call is not valid in the client's current state (for example a commit while not in a group).
pub const KC_ERR__STATE: kc_err_t = -172;
/// This member was fenced by a newer instance with the same `group.instance.id`.
pub const KC_ERR__FENCED: kc_err_t = -144;
/// A required pointer argument was NULL.
pub const KC_ERR__NULL_ARG: kc_err_t = -1001;
/// An internal error was caught at the library boundary.
pub const KC_ERR__PANIC: kc_err_t = -1002;
/// A broker's response violated the protocol.
pub const KC_ERR__PROTOCOL: kc_err_t = -1003;
/// A response exceeded `receive.message.max.bytes`.
pub const KC_ERR__FRAME_TOO_LARGE: kc_err_t = -1004;
/// Unknown configuration property.
pub const KC_ERR__UNKNOWN_CONFIG: kc_err_t = -1005;
/// Invalid configuration value.
pub const KC_ERR__INVALID_CONFIG: kc_err_t = -1006;
/// A caller-supplied buffer was too small.
pub const KC_ERR__BUFFER_TOO_SMALL: kc_err_t = -1007;

/// Version of this header, major part: the version a program is compiled against
/// (`kc_version()` and `kc_version_num()` give the library loaded at run time). The
/// major version is the ABI version and the number in the shared library's SONAME
/// (`libkafkac.so.0`): a program runs with any library of the same major version, of
/// the same or a later minor version.
pub const KC_VERSION_MAJOR: u32 = 0;
/// Version of this header, minor part: grows when functions, constants or error codes
/// are added.
pub const KC_VERSION_MINOR: u32 = 1;
/// Version of this header, patch part: fixes only.
pub const KC_VERSION_PATCH: u32 = 0;

fn names() -> &'static HashMap<i32, (CString, CString)> {
    static NAMES: OnceLock<HashMap<i32, (CString, CString)>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut m = HashMap::new();
        let mut add = |code: i32| {
            let n = CString::new(crate::error::name(code)).unwrap_or_default();
            let d = CString::new(crate::error::description(code)).unwrap_or_default();
            m.insert(code, (n, d));
        };
        add(0);
        for (c, _, _) in crate::error::local::TABLE {
            add(*c);
        }
        for e in crate::protocol::error_codes::ERROR_CODES {
            add(i32::from(e.code));
        }
        m
    })
}

const UNKNOWN_NAME: &[u8] = b"_UNKNOWN\0";
const UNKNOWN_DESC: &[u8] = b"Unknown error code\0";

/// The symbolic name of an error code without the `KC_ERR_` prefix (e.g.
/// "OFFSET_OUT_OF_RANGE", "_TIMED_OUT"). An unknown code gives "_UNKNOWN".
/// The string is static: never free it.
#[no_mangle]
pub extern "C" fn kc_err_name(err: kc_err_t) -> *const c_char {
    boundary(UNKNOWN_NAME.as_ptr().cast(), || match names().get(&err) {
        Some((n, _)) => n.as_ptr(),
        None => UNKNOWN_NAME.as_ptr().cast(),
    })
}

/// A human-readable description of an error code. An unknown code gives
/// "Unknown error code". The string is static: never free it.
#[no_mangle]
pub extern "C" fn kc_err_str(err: kc_err_t) -> *const c_char {
    boundary(UNKNOWN_DESC.as_ptr().cast(), || match names().get(&err) {
        Some((_, d)) => d.as_ptr(),
        None => UNKNOWN_DESC.as_ptr().cast(),
    })
}

/// The code of the last failed call made on this thread (KC_OK after a call that
/// succeeded). Calls that return no `kc_err_t` (counts, accessors by value, `_free`)
/// leave it alone, except after an internal error (`KC_ERR__PANIC`) or where their
/// comment says so.
#[no_mangle]
pub extern "C" fn kc_last_error_code() -> kc_err_t {
    boundary(0, || last_error().0)
}

/// Copies the detail of the last failed call made on this thread (which broker, topic,
/// partition and request, and what the broker said) into `buf` as a NUL-terminated
/// string, truncated to `len` bytes. Returns the length of the whole message (without
/// the NUL), so a caller can size the buffer; 0 after a call that succeeded.
/// `buf` may be NULL when `len` is 0.
///
/// # Safety
/// `buf` must be NULL or point to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn kc_last_error(buf: *mut c_char, len: usize) -> usize {
    boundary(0, || {
        let (_, msg) = last_error();
        // SAFETY: `buf` is NULL or has `len` writable bytes (contract above).
        unsafe { copy_out(&msg, buf, len) }
    })
}

/// The version of the library loaded at run time as a string, e.g. "0.1.0" (the header's
/// is `KC_VERSION_MAJOR`.`KC_VERSION_MINOR`.`KC_VERSION_PATCH`). Static: never free it.
#[no_mangle]
pub extern "C" fn kc_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The version of the library loaded at run time as a number:
/// (major << 16) | (minor << 8) | patch. A program that needs the functions of the
/// header it was compiled with checks
/// `kc_version_num() >= ((KC_VERSION_MAJOR << 16) | (KC_VERSION_MINOR << 8))`
/// (the SONAME already guarantees the same major version).
#[no_mangle]
pub extern "C" fn kc_version_num() -> u32 {
    (KC_VERSION_MAJOR << 16) | (KC_VERSION_MINOR << 8) | KC_VERSION_PATCH
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::local;

    #[test]
    fn constants_match_the_error_model() {
        let pairs = [
            (KC_ERR__BAD_MSG, local::BAD_MSG),
            (KC_ERR__BAD_COMPRESSION, local::BAD_COMPRESSION),
            (KC_ERR__DESTROY, local::DESTROY),
            (KC_ERR__FAIL, local::FAIL),
            (KC_ERR__TRANSPORT, local::TRANSPORT),
            (KC_ERR__RESOLVE, local::RESOLVE),
            (KC_ERR__SSL, local::SSL),
            (KC_ERR__AUTHENTICATION, local::AUTHENTICATION),
            (KC_ERR__UNKNOWN_PARTITION, local::UNKNOWN_PARTITION),
            (KC_ERR__UNKNOWN_TOPIC, local::UNKNOWN_TOPIC),
            (KC_ERR__ALL_BROKERS_DOWN, local::ALL_BROKERS_DOWN),
            (KC_ERR__INVALID_ARG, local::INVALID_ARG),
            (KC_ERR__TIMED_OUT, local::TIMED_OUT),
            (KC_ERR__UNSUPPORTED_FEATURE, local::UNSUPPORTED_FEATURE),
            (KC_ERR__NOENT, local::NOENT),
            (KC_ERR__MSG_TIMED_OUT, local::MSG_TIMED_OUT),
            (KC_ERR__QUEUE_FULL, local::QUEUE_FULL),
            (KC_ERR__PURGE_QUEUE, local::PURGE_QUEUE),
            (KC_ERR__PURGE_INFLIGHT, local::PURGE_INFLIGHT),
            (KC_ERR__FATAL, local::FATAL),
            (KC_ERR__PARTITION_EOF, local::PARTITION_EOF),
            (KC_ERR__NO_OFFSET, local::NO_OFFSET),
            (KC_ERR__AUTO_OFFSET_RESET, local::AUTO_OFFSET_RESET),
            (KC_ERR__MAX_POLL_EXCEEDED, local::MAX_POLL_EXCEEDED),
            (KC_ERR__ASSIGNMENT_LOST, local::ASSIGNMENT_LOST),
            (KC_ERR__REVOKE_PARTITIONS, local::REVOKE_PARTITIONS),
            (KC_ERR__ASSIGN_PARTITIONS, local::ASSIGN_PARTITIONS),
            (KC_ERR__STATE, local::STATE),
            (KC_ERR__FENCED, local::FENCED),
            (KC_ERR__NULL_ARG, local::NULL_ARG),
            (KC_ERR__PANIC, local::PANIC),
            (KC_ERR__PROTOCOL, local::PROTOCOL),
            (KC_ERR__FRAME_TOO_LARGE, local::FRAME_TOO_LARGE),
            (KC_ERR__UNKNOWN_CONFIG, local::UNKNOWN_CONFIG),
            (KC_ERR__INVALID_CONFIG, local::INVALID_CONFIG),
            (KC_ERR__BUFFER_TOO_SMALL, local::BUFFER_TOO_SMALL),
        ];
        for (ffi, core) in pairs {
            assert_eq!(ffi, core);
        }
        assert_eq!(
            pairs.len(),
            local::TABLE.len(),
            "every local code is exported"
        );
        let v: Vec<u32> = env!("CARGO_PKG_VERSION")
            .split('.')
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(v, [KC_VERSION_MAJOR, KC_VERSION_MINOR, KC_VERSION_PATCH]);
    }
}
