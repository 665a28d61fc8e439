//! Transactions of `kc_producer_t` (`transactional.id`), and `kc_group_metadata_t`, what
//! a transaction needs of a consumer to commit its offsets.
//!
//! Each transactional call returns a `kc_err_t`; what the application should do about a
//! failure is read on the same thread, right after the call, with
//! `kc_txn_error_is_retriable`, `kc_txn_error_is_abortable` and `kc_txn_error_is_fatal`.

use super::consumer::{kc_consumer_t, kc_topic_partition_t, with_consumer};
use super::errors::kc_err_t;
use super::producer::{deliver, kc_producer_t, serve, with_producer};
use super::util::{array, boundary, call, cstr, millis, null_arg, write_out};
use crate::error::{local, Error};
use crate::producer::{ErrorClass, GroupMetadata, Report, TxnError, TxnOffset};
use std::cell::Cell;
use std::time::Duration;

/// A consumer's group and membership, for `kc_producer_send_offsets_to_transaction`.
/// The caller owns it; free it with `kc_group_metadata_free`. May be used from any
/// thread.
pub struct kc_group_metadata_t {
    meta: GroupMetadata,
}

thread_local! {
    /// The class of the last transactional call's failure on this thread: 0 none
    /// (success, or a call made in the wrong state), 1 retriable, 2 abortable, 3 fatal.
    static LAST_CLASS: Cell<u8> = const { Cell::new(0) };
}

fn set_class(c: Option<ErrorClass>) {
    let v = match c {
        None | Some(ErrorClass::Usage) => 0,
        Some(ErrorClass::Retriable) => 1,
        Some(ErrorClass::Abortable) => 2,
        Some(ErrorClass::Fatal) => 3,
    };
    LAST_CLASS.with(|l| l.set(v));
}

/// Runs a transactional call: its error's class is kept for this thread. Errors of the
/// C layer itself (a NULL argument) have no class; a panic or a producer being freed
/// counts as fatal.
fn txn_call(f: impl FnOnce() -> Result<(), TxnError>) -> kc_err_t {
    let mut class = None;
    let rc = call(|| {
        f().map_err(|e| {
            class = Some(e.class);
            e.error
        })
    });
    if rc != 0 && class.is_none() && matches!(rc, local::PANIC | local::DESTROY) {
        class = Some(ErrorClass::Fatal);
    }
    set_class(if rc == 0 { None } else { class });
    rc
}

fn plain(e: Error) -> TxnError {
    TxnError::new(ErrorClass::Usage, e)
}

/// Whether the last transactional call on this thread failed with a retriable error:
/// call it again (with the same arguments); it continues where it stopped.
#[no_mangle]
pub extern "C" fn kc_txn_error_is_retriable() -> i32 {
    LAST_CLASS.with(|l| i32::from(l.get() == 1))
}

/// Whether the last transactional call on this thread failed with an abortable error:
/// call `kc_producer_abort_transaction`, rewind the input to the last committed point,
/// and begin a new transaction.
#[no_mangle]
pub extern "C" fn kc_txn_error_is_abortable() -> i32 {
    LAST_CLASS.with(|l| i32::from(l.get() == 2))
}

/// Whether the last transactional call on this thread failed with a fatal error: the
/// producer is unusable (fenced by a newer producer with the same `transactional.id`,
/// not authorised, or an error this library does not classify); free it. The
/// transaction in progress was not committed.
#[no_mangle]
pub extern "C" fn kc_txn_error_is_fatal() -> i32 {
    LAST_CLASS.with(|l| i32::from(l.get() == 3))
}

/// Runs `f` on a live producer handle, with the producer's transactional errors.
///
/// # Safety
/// `p` must be NULL or a live handle.
unsafe fn on_producer(
    p: *mut kc_producer_t,
    f: impl FnOnce(&kc_producer_t) -> Result<(), TxnError>,
) -> Result<(), TxnError> {
    let mut inner: Result<(), TxnError> = Ok(());
    // SAFETY: NULL or a live handle (contract above).
    let outer = unsafe {
        with_producer(p, |h| {
            inner = f(h);
            Ok(())
        })
    };
    match outer {
        Err(e) if matches!(e.code, local::DESTROY | local::PANIC) => {
            Err(TxnError::new(ErrorClass::Fatal, e))
        }
        Err(e) => Err(plain(e)),
        Ok(()) => inner,
    }
}

/// Serves delivery reports through the callbacks while a commit or abort waits.
fn with_reports(
    p: *mut kc_producer_t,
    h: &kc_producer_t,
    f: impl FnOnce(&mut dyn FnMut(&[Report])) -> Result<(), TxnError>,
) -> Result<(), TxnError> {
    let cbs = h.callbacks;
    let r = f(&mut |reports: &[Report]| deliver(p, &cbs, reports));
    serve(p, h, Duration::ZERO);
    r
}

/// Gets the producer id for `transactional.id` from the transaction coordinator; it
/// fences older producers with the same id and aborts the transaction they left open.
/// Called once, before the first transaction. Returns within `timeout_ms` (negative: a
/// year).
///
/// Errors: `KC_ERR__TIMED_OUT` (retriable: call again to continue), a broker error such
/// as `TRANSACTIONAL_ID_AUTHORIZATION_FAILED` (fatal), `KC_ERR__STATE` (not a
/// transactional producer, or already initialised), `KC_ERR__NULL_ARG`,
/// `KC_ERR__DESTROY`, `KC_ERR__PANIC`. The class is read with `kc_txn_error_is_*`.
///
/// # Safety
/// `producer` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_init_transactions(
    producer: *mut kc_producer_t,
    timeout_ms: i32,
) -> kc_err_t {
    txn_call(|| {
        // SAFETY: NULL or a live handle (contract above).
        unsafe {
            on_producer(producer, |h| {
                h.producer.init_transactions(millis(timeout_ms))
            })
        }
    })
}

/// Begins a transaction: messages sent until commit or abort belong to it (sends
/// outside a transaction fail with `KC_ERR__STATE`).
///
/// Errors: `KC_ERR__STATE` (no init, or a transaction in progress), the abortable
/// error itself while one is not yet aborted (abortable class: abort first), a fatal
/// error, `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY`, `KC_ERR__PANIC`.
///
/// # Safety
/// `producer` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_begin_transaction(producer: *mut kc_producer_t) -> kc_err_t {
    txn_call(|| {
        // SAFETY: NULL or a live handle (contract above).
        unsafe { on_producer(producer, |h| h.producer.begin_transaction()) }
    })
}

/// Commits the consumer offsets `offsets` (`cnt` entries: topic, partition, and the
/// offset of the next record to consume, with its leader epoch or -1) of the group in
/// `group_metadata` as part of the transaction: they become the group's committed
/// offsets when, and only if, the transaction commits. `offsets` and `group_metadata`
/// are borrowed for the duration of the call. An empty list changes nothing.
///
/// Errors: `KC_ERR__TIMED_OUT` (retriable), abortable errors (`ILLEGAL_GENERATION`,
/// `UNKNOWN_MEMBER_ID`, `GROUP_AUTHORIZATION_FAILED`, ...), fatal errors,
/// `KC_ERR__STATE`, `KC_ERR__INVALID_ARG`, `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY`,
/// `KC_ERR__PANIC`.
///
/// # Safety
/// `producer` must be a live handle, `offsets` NULL (with `cnt` 0) or `cnt` valid
/// entries, `group_metadata` a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_send_offsets_to_transaction(
    producer: *mut kc_producer_t,
    offsets: *const kc_topic_partition_t,
    cnt: usize,
    group_metadata: *const kc_group_metadata_t,
    timeout_ms: i32,
) -> kc_err_t {
    txn_call(|| {
        // SAFETY: NULL or a live handle (contract above).
        let meta =
            unsafe { group_metadata.as_ref() }.ok_or_else(|| plain(null_arg("group_metadata")))?;
        // SAFETY: NULL or `cnt` readable entries (contract above).
        let arr = unsafe { array(offsets, cnt, "offsets") }.map_err(plain)?;
        let mut offs = Vec::with_capacity(arr.len());
        for (i, o) in arr.iter().enumerate() {
            // SAFETY: a NUL-terminated string (contract above).
            let topic = unsafe { cstr(o.topic, &format!("offsets[{i}].topic")) }.map_err(plain)?;
            if topic.is_empty() || o.partition < 0 || o.offset < 0 {
                return Err(plain(Error::invalid_arg(format!(
                    "offsets[{i}]: '{topic}' partition {} offset {}: a topic, a partition \
                     >= 0 and an offset >= 0 are needed",
                    o.partition, o.offset
                ))));
            }
            offs.push(TxnOffset {
                topic: topic.to_owned(),
                partition: o.partition,
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: None,
            });
        }
        // SAFETY: NULL or a live handle (contract above).
        unsafe {
            on_producer(producer, |h| {
                h.producer
                    .send_offsets_to_transaction(&offs, &meta.meta, millis(timeout_ms))
            })
        }
    })
}

/// Commits the transaction: sends what is queued, waits for every outstanding message
/// (serving delivery reports through the callbacks), then asks the transaction
/// coordinator to commit. Returns within `timeout_ms` (negative: a year).
///
/// Errors: `KC_ERR__TIMED_OUT` (retriable: call again, the commit continues), abortable
/// errors (a message of the transaction failed: abort), fatal errors (fenced; or
/// `INVALID_TXN_STATE` after the coordinator aborted a transaction that outlived
/// `transaction.timeout.ms`: never committed), `KC_ERR__STATE`, `KC_ERR__NULL_ARG`,
/// `KC_ERR__DESTROY`, `KC_ERR__PANIC`.
///
/// # Safety
/// `producer` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_commit_transaction(
    producer: *mut kc_producer_t,
    timeout_ms: i32,
) -> kc_err_t {
    txn_call(|| {
        // SAFETY: NULL or a live handle (contract above).
        unsafe {
            on_producer(producer, |h| {
                with_reports(producer, h, |f| {
                    h.producer.commit_transaction_batches(millis(timeout_ms), f)
                })
            })
        }
    })
}

/// Aborts the transaction: purges what is queued (each message gets its delivery
/// report, `KC_ERR__PURGE_QUEUE`), waits for what is in flight (serving reports through
/// the callbacks), then asks the coordinator to abort. Returns within `timeout_ms`
/// (negative: a year).
///
/// Errors: `KC_ERR__TIMED_OUT` (retriable: call again), fatal errors, `KC_ERR__STATE`
/// (no transaction), `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY`, `KC_ERR__PANIC`.
///
/// # Safety
/// `producer` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_abort_transaction(
    producer: *mut kc_producer_t,
    timeout_ms: i32,
) -> kc_err_t {
    txn_call(|| {
        // SAFETY: NULL or a live handle (contract above).
        unsafe {
            on_producer(producer, |h| {
                with_reports(producer, h, |f| {
                    h.producer.abort_transaction_batches(millis(timeout_ms), f)
                })
            })
        }
    })
}

/// The consumer's group metadata (its `group.id`, `group.instance.id`, and, while it is
/// a member of a stable group, its generation and member id), for
/// `kc_producer_send_offsets_to_transaction`: the group coordinator refuses the offsets
/// (an abortable error) when the member has left the group or the group has rebalanced
/// since (KIP-447). Taken when called: call it after the poll whose records the
/// transaction holds. On success `*metap` receives it; the caller owns it; free it with
/// `kc_group_metadata_free`.
///
/// Errors: `KC_ERR__INVALID_ARG` (the consumer has no `group.id`), `KC_ERR__NULL_ARG`,
/// `KC_ERR__DESTROY`, `KC_ERR__PANIC`.
///
/// # Safety
/// `consumer` must be a live handle, `metap` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_group_metadata(
    consumer: *mut kc_consumer_t,
    metap: *mut *mut kc_group_metadata_t,
) -> kc_err_t {
    call(|| {
        if metap.is_null() {
            return Err(null_arg("metap"));
        }
        // SAFETY: NULL or a live handle (contract above).
        let meta = unsafe {
            with_consumer(consumer, |h| {
                let s = h.consumer.settings();
                if s.group_id.is_empty() {
                    return Err(Error::invalid_arg(
                        "kc_consumer_group_metadata: the consumer has no group.id",
                    ));
                }
                let (generation_id, member_id) =
                    h.consumer.group_generation().unwrap_or((-1, String::new()));
                Ok(GroupMetadata {
                    group_id: s.group_id.clone(),
                    generation_id,
                    member_id,
                    group_instance_id: s.group.instance_id.clone(),
                })
            })
        }?;
        // SAFETY: `metap` is a valid pointer (checked non-NULL; contract above).
        unsafe { write_out(metap, Box::into_raw(Box::new(kc_group_metadata_t { meta }))) };
        Ok(())
    })
}

/// Frees group metadata. NULL is a no-op; freeing twice is undefined behaviour.
///
/// # Safety
/// `meta` must be NULL or a live handle from `kc_consumer_group_metadata`.
#[no_mangle]
pub unsafe extern "C" fn kc_group_metadata_free(meta: *mut kc_group_metadata_t) {
    boundary((), || {
        if !meta.is_null() {
            // SAFETY: made by Box::into_raw in kc_consumer_group_metadata, freed once
            // (contract above).
            drop(unsafe { Box::from_raw(meta) });
        }
    })
}
