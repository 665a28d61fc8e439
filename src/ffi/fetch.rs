//! `kc_fetch_result_t`: records fetched from one partition.

use super::client::{kc_client_t, with_client};
use super::errors::kc_err_t;
use super::util::{boundary, cstr, fill, index_err, millis, null_arg, write_out};
use crate::client::FetchResult;
use crate::error::Error;
use std::ffi::c_char;

/// The records fetched from one partition. It owns the response buffer: the record views
/// point into it. Immutable: may be read from several threads at once.
pub struct kc_fetch_result_t {
    r: FetchResult,
}

impl kc_fetch_result_t {
    fn record(&self, i: usize) -> Result<crate::record::RecordRef<'_>, Error> {
        self.r
            .records
            .get(i)
            .ok_or_else(|| index_err("record", i, self.r.records.len()))
    }
}

/// Timestamp types of `kc_record_view_t`.
pub const KC_TIMESTAMP_NOT_AVAILABLE: i32 = 0;
pub const KC_TIMESTAMP_CREATE_TIME: i32 = 1;
pub const KC_TIMESTAMP_LOG_APPEND_TIME: i32 = 2;

/// A fetched record. `key`/`value` are NULL for a null key/value and non-NULL (possibly
/// with length 0) otherwise. Borrowed: valid until `kc_fetch_result_free` is called on
/// the result it came from.
#[repr(C)]
pub struct kc_record_view_t {
    pub offset: i64,
    pub timestamp: i64,
    /// A `KC_TIMESTAMP_*` value.
    pub timestamp_type: i32,
    pub key: *const u8,
    pub key_len: usize,
    pub value: *const u8,
    pub value_len: usize,
    pub header_cnt: usize,
}

/// A fetched record header: `key` is `key_len` bytes, not NUL-terminated; `value` is
/// NULL for a null value. Valid until `kc_fetch_result_free` on its result.
#[repr(C)]
pub struct kc_header_view_t {
    pub key: *const c_char,
    pub key_len: usize,
    pub value: *const u8,
    pub value_len: usize,
}

fn ptr_len(s: Option<&[u8]>) -> (*const u8, usize) {
    match s {
        None => (std::ptr::null(), 0),
        Some(s) => (s.as_ptr(), s.len()),
    }
}

/// Fetches records of `topic`/`partition` from its leader, starting at `offset`: up to
/// about `max_bytes` (a broker returns at least one whole batch), waiting up to
/// `max_wait_ms` for data. The first record returned is the one at `offset` (or the next
/// one that exists); continue from `kc_fetch_result_next_offset`. At the end of the log
/// the broker answers after `max_wait_ms` with no records: a success. Retriable errors
/// are retried until the deadline, `timeout_ms` + `max_wait_ms` from the start. On
/// success `*resultp` receives the result; the caller owns it: free it with
/// `kc_fetch_result_free`.
///
/// Errors: the network errors described at `kc_client_t` (`KC_ERR__TIMED_OUT`,
/// `KC_ERR__ALL_BROKERS_DOWN`, `KC_ERR__TRANSPORT`, `KC_ERR__RESOLVE`,
/// `KC_ERR__DESTROY`, `KC_ERR__PROTOCOL`, `KC_ERR__FRAME_TOO_LARGE`,
/// `KC_ERR__UNSUPPORTED_FEATURE`), and:
///  - `KC_ERR_OFFSET_OUT_OF_RANGE`: `offset` is outside the log (at once).
///  - `KC_ERR_UNKNOWN_TOPIC_OR_PARTITION`: the topic does not exist (retried: it comes
///    back near the deadline); `KC_ERR__UNKNOWN_PARTITION`: the partition does not exist
///    (at once); `KC_ERR__UNKNOWN_TOPIC`: the broker's metadata answer left the topic out.
///  - the leader's other answers for the partition (`KC_ERR_NOT_LEADER_OR_FOLLOWER`, …
///    retried; `KC_ERR_TOPIC_AUTHORIZATION_FAILED`, … at once).
///  - `KC_ERR__BAD_MSG`: a record batch failed its CRC or is malformed, or the index of
///    its records would exceed the call's memory budget; `KC_ERR__BAD_COMPRESSION`:
///    compressed data is invalid, or its decompressed bytes plus the index of its
///    records would exceed the budget. The budget is `fetch.max.decompressed.bytes`, for
///    the whole call (decompressed bytes and the decoded record index together). Not
///    retried.
///  - `KC_ERR__NULL_ARG` (`client`, `topic`, `resultp`), `KC_ERR__INVALID_ARG`
///    (`offset` < 0, `max_bytes` <= 0, `max_wait_ms` < 0), `KC_ERR__PANIC`.
///
/// # Safety
/// `client` must be a live handle, `topic` a NUL-terminated string, `resultp` valid.
#[no_mangle]
pub unsafe extern "C" fn kc_client_fetch(
    client: *mut kc_client_t,
    topic: *const c_char,
    partition: i32,
    offset: i64,
    max_bytes: i32,
    max_wait_ms: i32,
    timeout_ms: i32,
    resultp: *mut *mut kc_fetch_result_t,
) -> kc_err_t {
    // SAFETY: pointers checked inside; validity per the contract above.
    unsafe {
        with_client(client, |c| {
            let topic = cstr(topic, "topic")?;
            if resultp.is_null() {
                return Err(null_arg("resultp"));
            }
            if max_wait_ms < 0 {
                return Err(Error::invalid_arg(format!(
                    "max_wait_ms must be >= 0, not {max_wait_ms}"
                )));
            }
            let r = c.fetch(
                topic,
                partition,
                offset,
                max_bytes,
                millis(max_wait_ms),
                millis(timeout_ms),
            )?;
            write_out(resultp, Box::into_raw(Box::new(kc_fetch_result_t { r })));
            Ok(())
        })
    }
}

/// Frees a fetch result and the records it holds. NULL is a no-op; freeing twice is
/// undefined behaviour. The result does not depend on its client: it may be freed after
/// the client.
///
/// # Safety
/// `result` must be NULL or a live handle not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn kc_fetch_result_free(result: *mut kc_fetch_result_t) {
    boundary((), || {
        if !result.is_null() {
            // SAFETY: created by Box::into_raw in kc_client_fetch; freed once.
            drop(unsafe { Box::from_raw(result) });
        }
    })
}

/// Number of records (0 if `result` is NULL).
///
/// # Safety
/// `result` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_fetch_result_record_count(result: *const kc_fetch_result_t) -> usize {
    // SAFETY: NULL or a live handle (contract above).
    boundary(0, || {
        unsafe { result.as_ref() }.map_or(0, |r| r.r.records.len())
    })
}

/// The partition's high watermark: the offset the next record will get (-1 if `result`
/// is NULL).
///
/// # Safety
/// `result` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_fetch_result_high_watermark(result: *const kc_fetch_result_t) -> i64 {
    // SAFETY: NULL or a live handle (contract above).
    boundary(-1, || {
        unsafe { result.as_ref() }.map_or(-1, |r| r.r.high_watermark)
    })
}

/// The partition's log start offset; -1 if the broker did not say or `result` is NULL.
///
/// # Safety
/// `result` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_fetch_result_log_start_offset(result: *const kc_fetch_result_t) -> i64 {
    // SAFETY: NULL or a live handle (contract above).
    boundary(-1, || {
        unsafe { result.as_ref() }.map_or(-1, |r| r.r.log_start_offset)
    })
}

/// The last stable offset; -1 if the broker did not say or `result` is NULL.
///
/// # Safety
/// `result` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_fetch_result_last_stable_offset(
    result: *const kc_fetch_result_t,
) -> i64 {
    // SAFETY: NULL or a live handle (contract above).
    boundary(-1, || {
        unsafe { result.as_ref() }.map_or(-1, |r| r.r.last_stable_offset)
    })
}

/// The offset to fetch from next: after the last batch returned (past the last record
/// when a batch ended in control records), or -1 when nothing was returned or `result`
/// is NULL.
///
/// # Safety
/// `result` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_fetch_result_next_offset(result: *const kc_fetch_result_t) -> i64 {
    // SAFETY: NULL or a live handle (contract above).
    boundary(-1, || {
        unsafe { result.as_ref() }.map_or(-1, |r| r.r.records.next_offset().unwrap_or(-1))
    })
}

/// Fills `*out` with record `i` (0 ≤ i < `kc_fetch_result_record_count`).
///
/// Errors: `KC_ERR__NULL_ARG` (`result`, `out`), `KC_ERR__INVALID_ARG` (`i` out of
/// range), `KC_ERR__PANIC`.
///
/// # Safety
/// `result` must be a live handle and `out` valid.
#[no_mangle]
pub unsafe extern "C" fn kc_fetch_result_record(
    result: *const kc_fetch_result_t,
    i: usize,
    out: *mut kc_record_view_t,
) -> kc_err_t {
    // SAFETY: `result` is NULL or a live handle, `out` NULL or writable (contract above).
    unsafe {
        fill(result, "result", out, |r| {
            let rec = r.record(i)?;
            let (key, key_len) = ptr_len(rec.key);
            let (value, value_len) = ptr_len(rec.value);
            let v = kc_record_view_t {
                offset: rec.offset,
                timestamp: rec.timestamp,
                timestamp_type: match rec.timestamp_type {
                    crate::record::TimestampType::CreateTime => KC_TIMESTAMP_CREATE_TIME,
                    crate::record::TimestampType::LogAppendTime => KC_TIMESTAMP_LOG_APPEND_TIME,
                    crate::record::TimestampType::NoTimestamp => KC_TIMESTAMP_NOT_AVAILABLE,
                },
                key,
                key_len,
                value,
                value_len,
                header_cnt: rec.header_count(),
            };
            Ok(v)
        })
    }
}

/// Fills `*out` with header `j` of record `i` (0 ≤ j < the record's `header_cnt`).
///
/// Errors: `KC_ERR__NULL_ARG` (`result`, `out`), `KC_ERR__INVALID_ARG` (`i` or `j` out
/// of range), `KC_ERR__PANIC`.
///
/// # Safety
/// `result` must be a live handle and `out` valid.
#[no_mangle]
pub unsafe extern "C" fn kc_fetch_result_header(
    result: *const kc_fetch_result_t,
    i: usize,
    j: usize,
    out: *mut kc_header_view_t,
) -> kc_err_t {
    // SAFETY: `result` is NULL or a live handle, `out` NULL or writable (contract above).
    unsafe {
        fill(result, "result", out, |r| {
            let rec = r.record(i)?;
            let (k, v) = rec
                .headers()
                .nth(j)
                .ok_or_else(|| index_err("header", j, rec.header_count()))?;
            let (value, value_len) = ptr_len(v);
            let h = kc_header_view_t {
                key: k.as_ptr().cast(),
                key_len: k.len(),
                value,
                value_len,
            };
            Ok(h)
        })
    }
}
