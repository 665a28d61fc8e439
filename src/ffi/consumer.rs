//! `kc_consumer_t`: the group consumer, the messages it hands out, and its callbacks.

use super::conf::kc_conf_t;
use super::errors::{
    kc_err_t, KC_ERR__ASSIGNMENT_LOST, KC_ERR__ASSIGN_PARTITIONS, KC_ERR__REVOKE_PARTITIONS,
};
use super::fetch::{
    KC_TIMESTAMP_CREATE_TIME, KC_TIMESTAMP_LOG_APPEND_TIME, KC_TIMESTAMP_NOT_AVAILABLE,
};
use super::oauth_refresh::{check_conf, enable_background, Refresher};
use super::producer::CbOpaque;
use super::util::{
    array, boundary, call, capacity, catch, cstr, index_err, millis, null_arg, set_last_error,
    write_out, Gate,
};
use crate::consumer::assignor::TopicPartition;
use crate::consumer::group::CommitOffset;
use crate::consumer::{Consumer, Event, Message, RebalanceKind};
use crate::error::{local, Error, Result};
use crate::record::TimestampType;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::ffi::{c_char, c_int, c_void, CString};
use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// `kc_topic_partition_t.offset`: the start of the partition's log (librdkafka's
/// `RD_KAFKA_OFFSET_BEGINNING`).
pub const KC_OFFSET_BEGINNING: i64 = -2;
/// `kc_topic_partition_t.offset`: the end of the partition's log, i.e. only records
/// written from now on (`RD_KAFKA_OFFSET_END`).
pub const KC_OFFSET_END: i64 = -1;
/// `kc_topic_partition_t.offset` for `kc_consumer_assign`: the group's committed offset,
/// else where `auto.offset.reset` says (`RD_KAFKA_OFFSET_STORED`).
pub const KC_OFFSET_STORED: i64 = -1000;
/// `kc_topic_partition_t.offset`: no offset (nothing committed, or not known yet)
/// (`RD_KAFKA_OFFSET_INVALID`).
pub const KC_OFFSET_INVALID: i64 = -1001;

/// A partition of a topic, with an offset, as the consumer takes and gives them.
///
/// Arrays of it passed in are allocated by the caller and borrowed for the duration of
/// the call (`topic` too). Arrays handed out are allocated by the library where the
/// function says so (free them with `kc_topic_partitions_free`); those given to a
/// callback are valid during the callback only.
#[repr(C)]
pub struct kc_topic_partition_t {
    /// The topic (NUL-terminated).
    pub topic: *const c_char,
    pub partition: i32,
    /// An offset (the next record to consume) or a `KC_OFFSET_*` value, as each
    /// function says.
    pub offset: i64,
    /// The leader epoch of the record before `offset`, -1 when unknown.
    pub leader_epoch: i32,
    /// Per-partition result, where a function says it fills it; else ignored.
    pub err: kc_err_t,
}

/// A rebalance callback: the group's assignment changes. `kind` is
/// `KC_ERR__ASSIGN_PARTITIONS` (partitions added), `KC_ERR__REVOKE_PARTITIONS`
/// (partitions taken away cleanly: their offsets may still be committed) or
/// `KC_ERR__ASSIGNMENT_LOST` (partitions lost, the member having been fenced or out of
/// touch: their offsets must not be committed, another member may own them already).
/// `parts` holds `cnt` partitions (their `offset` is `KC_OFFSET_INVALID`), valid
/// during the call only. `cb_opaque` is the one set with `kc_conf_set_opaque`.
///
/// The consumer applies the change itself once the callback returns (there is no
/// assign call to make, unlike librdkafka, where a callback that does not call assign
/// leaves the consumer consuming nothing), unless the callback takes it over with
/// `kc_consumer_assign` (see there): for added partitions, the list it passes says which
/// are consumed and from which offset, the others staying assigned but paused. For
/// added partitions it runs before their first record is handed out; for revoked ones
/// before the consumer commits (with `enable.auto.commit`) what was consumed and lets
/// them go. It may call `kc_consumer_assign`, `_commit`, `_store_offset`, `_seek`,
/// `_pause`, `_resume`, `_position`, `_committed`; it must not free the consumer.
///
/// Runs only inside `kc_consumer_poll`, `_poll_batch`, `_close` (and `_free`, when the
/// consumer was not closed: calls on the consumer made from it then work as during
/// `_close`), on the thread that made that call.
pub type kc_rebalance_cb_t = Option<
    unsafe extern "C" fn(
        c: *mut kc_consumer_t,
        kind: kc_err_t,
        parts: *const kc_topic_partition_t,
        cnt: usize,
        cb_opaque: *mut c_void,
    ),
>;

/// An offset commit callback: the result of an asynchronous commit
/// (`kc_consumer_commit` with `async`, and the automatic commits of
/// `enable.auto.commit`). `err` is `KC_OK` or why the commit failed (then the offsets
/// are committed again by the next commit); `offsets` holds the `cnt` offsets sent,
/// each with `err` set to the same code, valid during the call only. `cb_opaque` is the
/// one set with `kc_conf_set_opaque`. Runs under the same rules as `kc_rebalance_cb_t`.
/// Synchronous commits return their result instead.
pub type kc_offset_commit_cb_t = Option<
    unsafe extern "C" fn(
        c: *mut kc_consumer_t,
        err: kc_err_t,
        offsets: *const kc_topic_partition_t,
        cnt: usize,
        cb_opaque: *mut c_void,
    ),
>;

/// The consumer's callbacks, kept in the `kc_conf_t`.
#[derive(Clone, Copy, Default)]
pub(crate) struct Callbacks {
    rebalance: kc_rebalance_cb_t,
    commit: kc_offset_commit_cb_t,
}

/// A group consumer (or a consumer of partitions the application assigns).
///
/// Thread-safe: every call may be made from any thread; callbacks run on the thread
/// that calls `kc_consumer_poll`, `_poll_batch` or `_close`. `kc_consumer_free` may be
/// called while other threads are inside calls on it: a poll returns NULL (or 0) with
/// `kc_last_error` saying `KC_ERR__DESTROY` within 50 ms, other calls return
/// `KC_ERR__DESTROY` (a synchronous commit or `kc_consumer_committed` already waiting
/// for the broker waits for its own timeout); a call that starts after it is a use
/// after free.
pub struct kc_consumer_t {
    pub(super) consumer: Consumer,
    gate: Gate,
    /// The OAUTHBEARER token refresh callback, if one is set.
    refresher: Option<Arc<Refresher>>,
}

thread_local! {
    /// The consumer whose callback runs on this thread: its calls are let through
    /// during `kc_consumer_free`'s close (which runs that callback).
    static SERVING: Cell<usize> = const { Cell::new(0) };
}

/// Marks this thread as running a callback of consumer `c` until dropped.
struct Serving(usize);

impl Serving {
    fn enter(c: usize) -> Serving {
        Serving(SERVING.with(|s| s.replace(c)))
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        SERVING.with(|s| s.set(self.0));
    }
}

/// Changes one of a configuration's consumer callbacks.
///
/// # Safety
/// `conf` must be NULL or a live handle not used by another thread during the call.
unsafe fn set_callback(conf: *mut kc_conf_t, set: impl FnOnce(&mut Callbacks)) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live, exclusively used handle (contract above).
        let conf = unsafe { conf.as_mut() }.ok_or_else(|| null_arg("conf"))?;
        set(&mut conf.consumer_callbacks);
        Ok(())
    })
}

/// Sets the consumer's rebalance callback (see `kc_rebalance_cb_t`); NULL removes it.
///
/// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
///
/// # Safety
/// `conf` must be a live handle not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn kc_conf_set_rebalance_cb(
    conf: *mut kc_conf_t,
    cb: kc_rebalance_cb_t,
) -> kc_err_t {
    // SAFETY: NULL or a live, exclusively used handle (contract above).
    unsafe { set_callback(conf, |c| c.rebalance = cb) }
}

/// Sets the consumer's offset commit callback (see `kc_offset_commit_cb_t`); NULL
/// removes it.
///
/// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
///
/// # Safety
/// `conf` must be a live handle not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn kc_conf_set_offset_commit_cb(
    conf: *mut kc_conf_t,
    cb: kc_offset_commit_cb_t,
) -> kc_err_t {
    // SAFETY: NULL or a live, exclusively used handle (contract above).
    unsafe { set_callback(conf, |c| c.commit = cb) }
}

/// A C array of partitions and the topic strings it points to, for a callback.
struct CParts {
    _names: Vec<CString>,
    parts: Vec<kc_topic_partition_t>,
}

fn c_name(topic: &str) -> CString {
    CString::new(topic.replace('\0', " ")).unwrap_or_default()
}

/// Builds a C array of `(partition, offset, leader epoch, err)`.
fn c_parts<'a>(items: impl Iterator<Item = (&'a TopicPartition, i64, i32, kc_err_t)>) -> CParts {
    let items: Vec<_> = items.collect();
    let names: Vec<CString> = items.iter().map(|(tp, ..)| c_name(&tp.topic)).collect();
    let parts = items
        .iter()
        .zip(&names)
        .map(|((tp, offset, epoch, err), name)| kc_topic_partition_t {
            topic: name.as_ptr(),
            partition: tp.partition,
            offset: *offset,
            leader_epoch: *epoch,
            err: *err,
        })
        .collect();
    CParts {
        _names: names,
        parts,
    }
}

/// Creates a consumer from a configuration (`bootstrap.servers`; `group.id` to
/// subscribe or commit; the consumer's properties with librdkafka's names:
/// `auto.offset.reset`, `enable.auto.commit`, `enable.auto.offset.store`,
/// `enable.partition.eof`, `session.timeout.ms`, `max.poll.interval.ms`,
/// `partition.assignment.strategy`, `queued.max.messages.kbytes`, …). `conf` is borrowed
/// (the consumer keeps a copy, callbacks included). Brokers are contacted in the
/// background. On success `*consumerp` receives the consumer; the caller owns it and
/// frees it with `kc_consumer_free`.
///
/// Errors: `KC_ERR__NULL_ARG` (`conf`, `consumerp`), `KC_ERR__INVALID_CONFIG` (a
/// property that cannot be used, named with its value; an OAUTHBEARER token refresh
/// callback with `enable.sasl.oauthbearer.unsecure.jwt=true`), `KC_ERR__UNSUPPORTED_FEATURE`
/// (`group.protocol=consumer`), `KC_ERR__FAIL` (a thread could not be started),
/// `KC_ERR__PANIC`.
///
/// # Safety
/// `conf` must be a live handle and `consumerp` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_new(
    conf: *const kc_conf_t,
    consumerp: *mut *mut kc_consumer_t,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle (contract above).
        let conf = unsafe { conf.as_ref() }.ok_or_else(|| null_arg("conf"))?;
        if consumerp.is_null() {
            return Err(null_arg("consumerp"));
        }
        check_conf(conf)?;
        let consumer = Consumer::new(&conf.inner)?;
        let refresher = Refresher::attach(conf, consumer.client());
        let h = Arc::new(kc_consumer_t {
            consumer,
            gate: Gate::new(),
            refresher,
        });
        // The callbacks get the handle's address; they run only inside calls on it
        // (which hold a reference), so it is live whenever they run.
        let me = Arc::as_ptr(&h) as usize;
        let cbs = conf.consumer_callbacks;
        let opaque: CbOpaque = conf.callbacks.opaque;
        if let Some(cb) = cbs.rebalance {
            h.consumer
                .set_rebalance_callback(Some(Box::new(move |_c, kind, tps| {
                    let code = match kind {
                        RebalanceKind::Assign => KC_ERR__ASSIGN_PARTITIONS,
                        RebalanceKind::Revoke => KC_ERR__REVOKE_PARTITIONS,
                        RebalanceKind::Lost => KC_ERR__ASSIGNMENT_LOST,
                    };
                    let a = c_parts(tps.iter().map(|tp| (tp, KC_OFFSET_INVALID, -1, 0)));
                    let _serving = Serving::enter(me);
                    // SAFETY: the application's callback, on the thread that polls or
                    // closes; the array and its strings live until it returns, and the
                    // handle is live (see above).
                    unsafe {
                        cb(
                            me as *mut kc_consumer_t,
                            code,
                            a.parts.as_ptr(),
                            a.parts.len(),
                            opaque.get(),
                        )
                    };
                })));
        }
        if let Some(cb) = cbs.commit {
            h.consumer
                .set_commit_callback(Some(Box::new(move |_c, result, offsets| {
                    let code = result.as_ref().map_or_else(|e| e.code, |()| 0);
                    let a = c_parts(
                        offsets
                            .iter()
                            .map(|o| (&o.tp, o.offset, o.leader_epoch, code)),
                    );
                    let _serving = Serving::enter(me);
                    // SAFETY: as for the rebalance callback above.
                    unsafe {
                        cb(
                            me as *mut kc_consumer_t,
                            code,
                            a.parts.as_ptr(),
                            a.parts.len(),
                            opaque.get(),
                        )
                    };
                })));
        }
        let raw = Arc::into_raw(h).cast_mut();
        // SAFETY: `consumerp` is non-NULL and valid for writes (contract above).
        unsafe { write_out(consumerp, raw) };
        Ok(())
    })
}

/// A reference of its own to the consumer, for one call.
///
/// # Safety
/// `c` must be NULL or a handle from `kc_consumer_new` whose reference C still holds.
unsafe fn share(c: *const kc_consumer_t) -> Option<Arc<kc_consumer_t>> {
    if c.is_null() {
        return None;
    }
    // SAFETY: `c` came from Arc::into_raw in kc_consumer_new and C's reference is still
    // held (contract above): the count is at least 1; this adds a reference of its own.
    unsafe {
        Arc::increment_strong_count(c);
        Some(Arc::from_raw(c))
    }
}

/// Runs `f` as a call inside the consumer: refused once it is being freed, except from
/// its own callback run by the free.
///
/// # Safety
/// `c` must be NULL or a live handle.
pub(super) unsafe fn with_consumer<T>(
    c: *const kc_consumer_t,
    f: impl FnOnce(&kc_consumer_t) -> Result<T>,
) -> Result<T> {
    // SAFETY: NULL or a live handle (caller contract).
    let h = unsafe { share(c) }.ok_or_else(|| null_arg("consumer"))?;
    let inside = h.gate.enter();
    if inside.is_none() && SERVING.with(|s| s.get()) != c as usize {
        return Err(Error::new(
            local::DESTROY,
            "kc_consumer_free has been called on this consumer",
        ));
    }
    let r = catch(|| f(&h)).and_then(|r| r);
    drop(inside);
    r
}

/// The partitions of a caller's array, checked.
///
/// # Safety
/// `parts` must be NULL or `cnt` valid entries whose topics are NUL-terminated.
unsafe fn partitions_in<'a>(
    parts: *const kc_topic_partition_t,
    cnt: usize,
) -> Result<(&'a [kc_topic_partition_t], Vec<TopicPartition>)> {
    // SAFETY: NULL or `cnt` readable entries (contract above).
    let arr = unsafe { array(parts, cnt, "parts")? };
    let mut tps = Vec::with_capacity(capacity(cnt));
    for (i, p) in arr.iter().enumerate() {
        // SAFETY: a NUL-terminated string (contract above).
        let topic = unsafe { cstr(p.topic, &format!("parts[{i}].topic"))? };
        tps.push(topic_partition(topic, p.partition)?);
    }
    Ok((arr, tps))
}

fn topic_partition(topic: &str, partition: i32) -> Result<TopicPartition> {
    if topic.is_empty() {
        return Err(Error::invalid_arg("an empty topic name"));
    }
    if partition < 0 {
        return Err(Error::invalid_arg(format!(
            "partition {partition} of '{topic}': a partition is >= 0"
        )));
    }
    Ok(TopicPartition::new(topic, partition))
}

/// Subscribes to `cnt` topics (`topics`: NUL-terminated names; one starting with `^`
/// is a regular expression matched against every topic's name), replacing any earlier
/// subscription or assignment. The group assigns partitions in the background; the
/// rebalance callback and the records come through `kc_consumer_poll`. `topics` is
/// borrowed for the duration of the call.
///
/// Errors: `KC_ERR__INVALID_ARG` (no `group.id`; no topics; an empty name; an invalid
/// regular expression, named), `KC_ERR__NULL_ARG` (`consumer`, `topics`, a topic),
/// `KC_ERR__DESTROY` (closed or being freed), `KC_ERR__FATAL`, `KC_ERR__PANIC`.
///
/// # Safety
/// `consumer` must be a live handle, `topics` NULL or `cnt` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_subscribe(
    consumer: *mut kc_consumer_t,
    topics: *const *const c_char,
    cnt: usize,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle; the array and strings valid (contract above).
        unsafe {
            with_consumer(consumer, |h| {
                let arr = array(topics, cnt, "topics")?;
                let mut names = Vec::with_capacity(capacity(cnt));
                for (i, t) in arr.iter().enumerate() {
                    names.push(cstr(*t, &format!("topics[{i}]"))?);
                }
                h.consumer.subscribe(&names)
            })
        }
    })
}

/// Leaves the subscription (and the group: the revoke callback runs in a later poll).
///
/// Errors: `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY`, `KC_ERR__FATAL`, `KC_ERR__PANIC`.
///
/// # Safety
/// `consumer` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_unsubscribe(consumer: *mut kc_consumer_t) -> kc_err_t {
    // SAFETY: NULL or a live handle (contract above).
    call(|| unsafe { with_consumer(consumer, |h| h.consumer.unsubscribe()) })
}

/// Consumes exactly the `cnt` partitions of `parts`, without group membership
/// (replacing any subscription or earlier assignment; `cnt` 0 stops consuming).
/// Each `offset` says where to start: >= 0, `KC_OFFSET_BEGINNING`, `KC_OFFSET_END`,
/// or `KC_OFFSET_STORED` (the group's committed offset, else `auto.offset.reset`;
/// `KC_OFFSET_INVALID` is taken the same way). `leader_epoch` and `err` are ignored.
/// Commits still go to `group.id`'s coordinator when one is set. `parts` is borrowed
/// for the duration of the call.
///
/// Called from the rebalance callback (on the polling thread), it takes that
/// rebalance over instead, as librdkafka's `assign`/`incremental_assign` from its
/// callback: for `KC_ERR__ASSIGN_PARTITIONS`, `parts` lists which of the added
/// partitions are consumed and from where (`offset` as above: `KC_OFFSET_INVALID` or
/// `KC_OFFSET_STORED` for the committed offset); the added partitions it leaves out stay
/// assigned to the member, paused until `kc_consumer_resume`. For
/// `KC_ERR__REVOKE_PARTITIONS` and `KC_ERR__ASSIGNMENT_LOST` the consumer lets the
/// partitions go itself: `cnt` 0 (librdkafka's `assign(NULL)`) or some of those
/// partitions is accepted and changes nothing. The group membership stays either way.
///
/// Errors: `KC_ERR__INVALID_ARG` (an empty topic, a negative partition, another
/// negative offset, a partition listed twice; from the rebalance callback, a partition
/// that rebalance does not assign, revoke or lose), `KC_ERR__NULL_ARG` (`consumer`,
/// `parts` with `cnt` > 0, a topic), `KC_ERR__DESTROY`, `KC_ERR__FATAL`,
/// `KC_ERR__PANIC`.
///
/// # Safety
/// `consumer` must be a live handle, `parts` NULL or `cnt` valid entries.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_assign(
    consumer: *mut kc_consumer_t,
    parts: *const kc_topic_partition_t,
    cnt: usize,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle; the array valid (contract above).
        unsafe {
            with_consumer(consumer, |h| {
                let (arr, tps) = partitions_in(parts, cnt)?;
                let mut seen = HashSet::new();
                let mut list = Vec::with_capacity(tps.len());
                for (p, tp) in arr.iter().zip(tps) {
                    let start = match p.offset {
                        o if o >= 0 => Some(o),
                        KC_OFFSET_BEGINNING | KC_OFFSET_END => Some(p.offset),
                        KC_OFFSET_STORED | KC_OFFSET_INVALID => None,
                        o => {
                            return Err(Error::invalid_arg(format!(
                                "assign: offset {o} of {}/{} is not >= 0, KC_OFFSET_BEGINNING, \
                                 KC_OFFSET_END or KC_OFFSET_STORED",
                                tp.topic, tp.partition
                            )))
                        }
                    };
                    if !seen.insert(tp.clone()) {
                        return Err(Error::invalid_arg(format!(
                            "assign: {}/{} is listed twice",
                            tp.topic, tp.partition
                        )));
                    }
                    list.push((tp, start));
                }
                h.consumer.assign(&list)
            })
        }
    })
}

/// The allocations handed out by `kc_consumer_assignment`, by address, with their
/// counts: `kc_topic_partitions_free` checks what it is given against them.
static HANDED_OUT: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());

fn handed_out() -> std::sync::MutexGuard<'static, BTreeMap<usize, usize>> {
    HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner())
}

/// The partitions assigned now (by the group or by `kc_consumer_assign`), sorted by
/// topic and partition, with `offset` `KC_OFFSET_INVALID`. On success `*partsp`
/// receives a library-allocated array of `*cntp` entries (NULL when there are none);
/// the caller owns it and frees it with `kc_topic_partitions_free(*partsp, *cntp)`.
///
/// Errors: `KC_ERR__NULL_ARG` (`consumer`, `partsp`, `cntp`), `KC_ERR__DESTROY`,
/// `KC_ERR__PANIC`.
///
/// # Safety
/// `consumer` must be a live handle, `partsp` and `cntp` valid pointers.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_assignment(
    consumer: *mut kc_consumer_t,
    partsp: *mut *mut kc_topic_partition_t,
    cntp: *mut usize,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle; out-pointers valid (contract above).
        unsafe {
            with_consumer(consumer, |h| {
                if partsp.is_null() {
                    return Err(null_arg("partsp"));
                }
                if cntp.is_null() {
                    return Err(null_arg("cntp"));
                }
                let tps = h.consumer.assignment();
                let (ptr, n) = allocate(&tps);
                write_out(partsp, ptr);
                write_out(cntp, n);
                Ok(())
            })
        }
    })
}

/// A library-allocated array of `tps`, registered in [`HANDED_OUT`].
fn allocate(tps: &[TopicPartition]) -> (*mut kc_topic_partition_t, usize) {
    if tps.is_empty() {
        return (std::ptr::null_mut(), 0);
    }
    let b: Box<[kc_topic_partition_t]> = tps
        .iter()
        .map(|tp| kc_topic_partition_t {
            topic: c_name(&tp.topic).into_raw(),
            partition: tp.partition,
            offset: KC_OFFSET_INVALID,
            leader_epoch: -1,
            err: 0,
        })
        .collect();
    let n = b.len();
    let p = Box::into_raw(b).cast::<kc_topic_partition_t>();
    handed_out().insert(p as usize, n);
    (p, n)
}

/// Frees an array the library allocated (`kc_consumer_assignment`) and its strings.
/// `cnt` must be the count handed out with it. NULL is a no-op. An array this library
/// did not hand out, or a wrong `cnt`, is detected and left alone (`kc_last_error`
/// then says `KC_ERR__INVALID_ARG`); freeing twice is detected the same way unless the
/// memory was handed out again meanwhile.
///
/// # Safety
/// `parts` must be NULL or an array from `kc_consumer_assignment`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn kc_topic_partitions_free(parts: *mut kc_topic_partition_t, cnt: usize) {
    boundary((), || {
        if parts.is_null() {
            return;
        }
        let mut map = handed_out();
        match map.get(&(parts as usize)) {
            Some(&n) if n == cnt => {
                map.remove(&(parts as usize));
            }
            other => {
                set_last_error(&Error::invalid_arg(match other {
                    Some(n) => {
                        format!("kc_topic_partitions_free: the array has {n} entries, not {cnt}")
                    }
                    None => "kc_topic_partitions_free: not an array this library handed out \
                             (or freed already)"
                        .to_owned(),
                }));
                return;
            }
        }
        drop(map);
        // SAFETY: `parts` is an allocation of `cnt` entries made by `allocate` with
        // Box::into_raw (checked against the registry just above), taken back once.
        let b = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(parts, cnt)) };
        for p in b.iter() {
            // SAFETY: each topic was made by CString::into_raw in `allocate`, freed once.
            drop(unsafe { CString::from_raw(p.topic.cast_mut()) });
        }
    })
}

/// One record, or one error event, handed out by `kc_consumer_poll`.
///
/// Valid until `kc_message_free`, also after the consumer is freed: it keeps alive the
/// fetch buffer it comes from (which counts against `queued.max.messages.kbytes` until
/// every message of it is freed, so holding many messages slows fetching). The
/// pointers its accessors return are valid until it is freed. Read-only: it may be read
/// from several threads at once.
pub struct kc_message_t {
    kind: MessageKind,
    topic: OnceLock<CString>,
}

enum MessageKind {
    Record(Message),
    /// Boxed: events are rare, and a small message is allocated and freed from the
    /// allocator's fast bins (a message of 136 bytes took 6% of a consumer's CPU in
    /// `malloc` and `free`).
    Error(Box<ErrorEvent>),
}

struct ErrorEvent {
    error: Error,
    text: CString,
    tp: Option<TopicPartition>,
    offset: i64,
    fatal: bool,
}

// glibc serves chunks of up to 128 bytes (the request plus 8) from its fast bins.
const _: () = assert!(std::mem::size_of::<kc_message_t>() <= 64);

impl kc_message_t {
    fn of(e: Event) -> kc_message_t {
        let kind = match e {
            Event::Message(m) => MessageKind::Record(m),
            Event::Error {
                error,
                tp,
                offset,
                fatal,
            } => MessageKind::Error(Box::new(ErrorEvent {
                text: c_name(&error.message),
                error,
                tp,
                offset,
                fatal,
            })),
        };
        kc_message_t {
            kind,
            topic: OnceLock::new(),
        }
    }

    fn tp(&self) -> Option<&TopicPartition> {
        match &self.kind {
            MessageKind::Record(m) => Some(m.topic_partition()),
            MessageKind::Error(e) => e.tp.as_ref(),
        }
    }

    fn record(&self) -> Option<&Message> {
        match &self.kind {
            MessageKind::Record(m) => Some(m),
            MessageKind::Error(_) => None,
        }
    }
}

thread_local! {
    /// Allocations of messages this thread freed, for its next polls to reuse: a poll
    /// hands out many messages and the application frees them soon after, and taking
    /// each from the allocator and giving it back cost about 7% of a consumer's CPU.
    /// At most `SPARE_MOST` (48 bytes each) per thread. (Boxes, not values: the point
    /// is to keep the allocations that the messages handed out live in.)
    #[allow(clippy::vec_box)]
    static SPARE: RefCell<Vec<Box<MaybeUninit<kc_message_t>>>> = const { RefCell::new(Vec::new()) };
}

const SPARE_MOST: usize = 4096;

/// `msg` in an allocation of its own (a spare one of this thread if there is one), for
/// `free_message`.
fn new_message(msg: kc_message_t) -> *mut kc_message_t {
    let spare = SPARE
        .try_with(|s| s.try_borrow_mut().ok()?.pop())
        .ok()
        .flatten();
    match spare {
        Some(b) => Box::into_raw(Box::write(b, msg)),
        None => Box::into_raw(Box::new(msg)),
    }
}

/// Drops the message and keeps its allocation for this thread's next polls (or frees
/// it when the thread keeps `SPARE_MOST` already).
///
/// # Safety
/// `m` comes from `new_message` and is not used afterwards.
unsafe fn free_message(m: *mut kc_message_t) {
    // SAFETY: `m` is a live message made by `new_message` (Box::into_raw of a Box of a
    // `kc_message_t`), so it may be dropped in place; it is not used again by the caller.
    unsafe { std::ptr::drop_in_place(m) };
    // SAFETY: the allocation is a `Box<kc_message_t>`'s, whose value was just dropped:
    // owning it as a `Box<MaybeUninit<kc_message_t>>` (same layout) frees it without
    // dropping the value again.
    let spare = unsafe { Box::from_raw(m.cast::<MaybeUninit<kc_message_t>>()) };
    let _ = SPARE.try_with(move |s| {
        if let Ok(mut v) = s.try_borrow_mut() {
            if v.len() < SPARE_MOST {
                v.push(spare);
            }
        }
    });
}

/// How often a waiting poll looks whether the consumer is being freed.
const POLL_SLICE: Duration = Duration::from_millis(50);

/// Up to `max` events within `timeout_ms`, in slices so that a free is noticed.
fn poll_events(h: &kc_consumer_t, max: usize, timeout_ms: i32) -> Result<Vec<Event>> {
    let deadline = Instant::now() + millis(timeout_ms);
    loop {
        if h.gate.is_closing() {
            return Err(Error::new(
                local::DESTROY,
                "kc_consumer_free was called during the poll",
            ));
        }
        if h.consumer.is_closed() {
            return Err(Error::new(local::DESTROY, "the consumer is closed"));
        }
        if let Some(r) = &h.refresher {
            r.serve_due();
        }
        let slice = deadline
            .saturating_duration_since(Instant::now())
            .min(POLL_SLICE);
        let events = h.consumer.poll_batch(max, slice);
        if !events.is_empty() || Instant::now() >= deadline {
            return Ok(events);
        }
    }
}

/// Waits up to `timeout_ms` (0: don't wait; negative: a year) for the next record or
/// event, running the rebalance and offset commit callbacks due meanwhile on this
/// thread, and the OAUTHBEARER token refresh callback when it is due (unless
/// `kc_consumer_sasl_background_callbacks_enable` was called). A poll also marks the
/// records handed out by the polls before it as processed: with
/// `enable.auto.offset.store` (the default) their offsets are stored for the next
/// commit (automatic with `enable.auto.commit`); a record returned by the latest poll
/// is not committed by auto-commit until the next poll (at-least-once).
///
/// Returns a message (a record, or an event whose `kc_message_err` is not `KC_OK`:
/// `KC_ERR__PARTITION_EOF` with `enable.partition.eof`, a partition's or the group's
/// error, a fatal error); the caller owns it and frees it with `kc_message_free`.
/// Returns NULL when nothing came in time (`kc_last_error_code()` is then `KC_OK`), or
/// on an error that `kc_last_error` describes: `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY`
/// (closed, or freed during the call), `KC_ERR__PANIC`.
///
/// # Safety
/// `consumer` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_poll(
    consumer: *mut kc_consumer_t,
    timeout_ms: i32,
) -> *mut kc_message_t {
    let mut out = std::ptr::null_mut();
    // SAFETY: NULL or a live handle (contract above).
    let _ = call(|| unsafe {
        with_consumer(consumer, |h| {
            if let Some(e) = poll_events(h, 1, timeout_ms)?.pop() {
                out = new_message(kc_message_t::of(e));
            }
            Ok(())
        })
    });
    out
}

/// As `kc_consumer_poll`, for up to `max` messages at once: waits up to `timeout_ms`
/// for the first, then takes what is ready without waiting. Writes them to
/// `msgs[0..n]` and returns `n`; the caller owns each and frees it with
/// `kc_message_free`. Returns 0 at once when `max` is 0; 0 when nothing came in time
/// (`kc_last_error_code()` `KC_OK`) or on an error (`KC_ERR__NULL_ARG` for `consumer`,
/// or `msgs` with `max` > 0; `KC_ERR__DESTROY`; `KC_ERR__PANIC`).
///
/// # Safety
/// `consumer` must be a live handle, `msgs` NULL or room for `max` pointers.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_poll_batch(
    consumer: *mut kc_consumer_t,
    timeout_ms: i32,
    msgs: *mut *mut kc_message_t,
    max: usize,
) -> usize {
    let mut n = 0;
    // SAFETY: NULL or a live handle; `msgs` room for `max` (contract above).
    let _ = call(|| unsafe {
        with_consumer(consumer, |h| {
            if max == 0 {
                return Ok(());
            }
            if msgs.is_null() {
                return Err(null_arg("msgs"));
            }
            for e in poll_events(h, max, timeout_ms)? {
                msgs.add(n).write(new_message(kc_message_t::of(e)));
                n += 1;
            }
            Ok(())
        })
    });
    n
}

/// Borrows a message for an accessor; NULL sets the last error.
///
/// # Safety
/// `m` must be NULL or a live message.
unsafe fn message<'a>(m: *const kc_message_t) -> Option<&'a kc_message_t> {
    // SAFETY: NULL or a live message (contract above).
    let r = unsafe { m.as_ref() };
    if r.is_none() {
        set_last_error(&null_arg("message"));
    }
    r
}

/// `KC_OK` for a record; else the event's code (`KC_ERR__PARTITION_EOF`, a Kafka error
/// of a partition or of the group, `KC_ERR__FATAL`-class errors with
/// `kc_message_is_fatal`). NULL gives `KC_ERR__NULL_ARG` (and sets the last error).
///
/// # Safety
/// `m` must be NULL or a live message.
#[no_mangle]
pub unsafe extern "C" fn kc_message_err(m: *const kc_message_t) -> kc_err_t {
    boundary(local::PANIC, || {
        // SAFETY: NULL or a live message (contract above).
        match unsafe { message(m) } {
            None => local::NULL_ARG,
            Some(m) => match &m.kind {
                MessageKind::Record(_) => 0,
                MessageKind::Error(e) => e.error.code,
            },
        }
    })
}

/// The event's description (naming the topic and partition where there is one), or
/// NULL for a record (and for NULL, which sets the last error). Valid until
/// `kc_message_free`.
///
/// # Safety
/// `m` must be NULL or a live message.
#[no_mangle]
pub unsafe extern "C" fn kc_message_errstr(m: *const kc_message_t) -> *const c_char {
    boundary(std::ptr::null(), || {
        // SAFETY: NULL or a live message (contract above).
        match unsafe { message(m) }.map(|m| &m.kind) {
            Some(MessageKind::Error(e)) => e.text.as_ptr(),
            _ => std::ptr::null(),
        }
    })
}

/// 1 when the event is fatal (the consumer cannot go on: close and free it), else 0
/// (also for NULL, which sets the last error).
///
/// # Safety
/// `m` must be NULL or a live message.
#[no_mangle]
pub unsafe extern "C" fn kc_message_is_fatal(m: *const kc_message_t) -> c_int {
    boundary(0, || {
        // SAFETY: NULL or a live message (contract above).
        match unsafe { message(m) }.map(|m| &m.kind) {
            Some(MessageKind::Error(e)) if e.fatal => 1,
            _ => 0,
        }
    })
}

/// The record's topic (NUL-terminated), or the event's; NULL for an event of no
/// partition (a group error) and for NULL (which sets the last error). Valid until
/// `kc_message_free`.
///
/// # Safety
/// `m` must be NULL or a live message.
#[no_mangle]
pub unsafe extern "C" fn kc_message_topic(m: *const kc_message_t) -> *const c_char {
    boundary(std::ptr::null(), || {
        // SAFETY: NULL or a live message (contract above).
        let Some(m) = (unsafe { message(m) }) else {
            return std::ptr::null();
        };
        match m.tp() {
            Some(tp) => m.topic.get_or_init(|| c_name(&tp.topic)).as_ptr(),
            None => std::ptr::null(),
        }
    })
}

/// The record's partition, or the event's; -1 for an event of no partition and for
/// NULL (which sets the last error).
///
/// # Safety
/// `m` must be NULL or a live message.
#[no_mangle]
pub unsafe extern "C" fn kc_message_partition(m: *const kc_message_t) -> i32 {
    boundary(-1, || {
        // SAFETY: NULL or a live message (contract above).
        unsafe { message(m) }
            .and_then(|m| m.tp())
            .map_or(-1, |tp| tp.partition)
    })
}

/// The record's offset; for an event, the offset it concerns (the end offset for
/// `KC_ERR__PARTITION_EOF`) or -1; -1 for NULL (which sets the last error).
///
/// # Safety
/// `m` must be NULL or a live message.
#[no_mangle]
pub unsafe extern "C" fn kc_message_offset(m: *const kc_message_t) -> i64 {
    boundary(-1, || {
        // SAFETY: NULL or a live message (contract above).
        match unsafe { message(m) }.map(|m| &m.kind) {
            Some(MessageKind::Record(r)) => r.offset(),
            Some(MessageKind::Error(e)) => e.offset,
            None => -1,
        }
    })
}

/// The record's timestamp (ms since the epoch), -1 when it has none (events, NULL —
/// which sets the last error). `*tstype` (`tstype` may be NULL) receives a
/// `KC_TIMESTAMP_*` value.
///
/// # Safety
/// `m` must be NULL or a live message, `tstype` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn kc_message_timestamp(m: *const kc_message_t, tstype: *mut i32) -> i64 {
    boundary(-1, || {
        // SAFETY: NULL or a live message (contract above).
        let (ts, ty) = match unsafe { message(m) }.and_then(|m| m.record()) {
            Some(r) => match r.timestamp_type() {
                TimestampType::CreateTime => (r.timestamp(), KC_TIMESTAMP_CREATE_TIME),
                TimestampType::LogAppendTime => (r.timestamp(), KC_TIMESTAMP_LOG_APPEND_TIME),
                TimestampType::NoTimestamp => (-1, KC_TIMESTAMP_NOT_AVAILABLE),
            },
            None => (-1, KC_TIMESTAMP_NOT_AVAILABLE),
        };
        // SAFETY: NULL or valid for a write (contract above).
        unsafe { write_out(tstype, ty) };
        ts
    })
}

/// The leader epoch of the record's batch, -1 when unknown (events, NULL — which sets
/// the last error).
///
/// # Safety
/// `m` must be NULL or a live message.
#[no_mangle]
pub unsafe extern "C" fn kc_message_leader_epoch(m: *const kc_message_t) -> i32 {
    boundary(-1, || {
        // SAFETY: NULL or a live message (contract above).
        unsafe { message(m) }
            .and_then(|m| m.record())
            .map_or(-1, |r| r.leader_epoch())
    })
}

/// A non-NULL pointer for an empty buffer, which C may compare but never read.
static EMPTY: u8 = 0;

/// A field as (pointer, length): NULL for a null field, non-NULL for an empty one.
fn field(b: Option<&[u8]>) -> (*const c_void, usize) {
    match b {
        None => (std::ptr::null(), 0),
        Some([]) => ((&EMPTY as *const u8).cast(), 0),
        Some(b) => (b.as_ptr().cast(), b.len()),
    }
}

/// # Safety
/// `m` must be NULL or a live message, `lenp` NULL or valid.
unsafe fn bytes_of(
    m: *const kc_message_t,
    lenp: *mut usize,
    pick: impl FnOnce(&Message) -> Option<&[u8]>,
) -> *const c_void {
    boundary(std::ptr::null(), || {
        // SAFETY: NULL or a live message (contract above).
        let (p, n) = field(
            unsafe { message(m) }
                .and_then(|m| m.record())
                .and_then(pick),
        );
        // SAFETY: NULL or valid for a write (contract above).
        unsafe { write_out(lenp, n) };
        p
    })
}

/// The record's key: NULL for a null key (and for events, and for NULL — which sets the
/// last error); an empty key is non-NULL with `*lenp` 0. `*lenp` (`lenp` may be NULL)
/// receives its length. Valid until `kc_message_free`.
///
/// # Safety
/// `m` must be NULL or a live message, `lenp` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn kc_message_key(m: *const kc_message_t, lenp: *mut usize) -> *const c_void {
    // SAFETY: as the contract above.
    unsafe { bytes_of(m, lenp, |r| r.key()) }
}

/// The record's value, as `kc_message_key` gives the key.
///
/// # Safety
/// `m` must be NULL or a live message, `lenp` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn kc_message_value(
    m: *const kc_message_t,
    lenp: *mut usize,
) -> *const c_void {
    // SAFETY: as the contract above.
    unsafe { bytes_of(m, lenp, |r| r.value()) }
}

/// How many headers the record has (0 for events, and for NULL — which sets the last
/// error).
///
/// # Safety
/// `m` must be NULL or a live message.
#[no_mangle]
pub unsafe extern "C" fn kc_message_header_cnt(m: *const kc_message_t) -> usize {
    boundary(0, || {
        // SAFETY: NULL or a live message (contract above).
        unsafe { message(m) }
            .and_then(|m| m.record())
            .map_or(0, |r| r.header_count())
    })
}

/// Header `i` (0 ≤ `i` < `kc_message_header_cnt`) of the record, in order: `*keyp`
/// receives its key (`*key_lenp` bytes, not NUL-terminated), `*valuep` its value (NULL
/// for a null value, non-NULL for an empty one) and `*value_lenp` the value's length.
/// Valid until `kc_message_free`.
///
/// Errors: `KC_ERR__INVALID_ARG` (`i` out of range; an event has no headers),
/// `KC_ERR__NULL_ARG` (any pointer), `KC_ERR__PANIC`.
///
/// # Safety
/// `m` must be a live message, the out-pointers valid.
#[no_mangle]
pub unsafe extern "C" fn kc_message_header(
    m: *const kc_message_t,
    i: usize,
    keyp: *mut *const c_char,
    key_lenp: *mut usize,
    valuep: *mut *const c_void,
    value_lenp: *mut usize,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live message (contract above).
        let m = unsafe { m.as_ref() }.ok_or_else(|| null_arg("message"))?;
        for (p, name) in [
            (keyp.is_null(), "keyp"),
            (key_lenp.is_null(), "key_lenp"),
            (valuep.is_null(), "valuep"),
            (value_lenp.is_null(), "value_lenp"),
        ] {
            if p {
                return Err(null_arg(name));
            }
        }
        let n = m.record().map_or(0, |r| r.header_count());
        let (k, v) = m
            .record()
            .and_then(|r| r.headers().nth(i))
            .ok_or_else(|| index_err("header", i, n))?;
        let (kp, kn) = field(Some(k));
        let (vp, vn) = field(v);
        // SAFETY: every out-pointer is non-NULL and valid for writes (contract above).
        unsafe {
            write_out(keyp, kp.cast());
            write_out(key_lenp, kn);
            write_out(valuep, vp);
            write_out(value_lenp, vn);
        }
        Ok(())
    })
}

/// Frees a message (and with the last message of a fetch buffer, the buffer: its room
/// in `queued.max.messages.kbytes` is given back). May be called after the consumer
/// was freed, and from any thread. The freeing thread keeps the message's own 48 bytes
/// for its next polls (at most 4096 messages' worth per thread, freed when the thread
/// ends). NULL is a no-op; freeing twice is undefined behaviour.
///
/// # Safety
/// `m` must be NULL or a message from `kc_consumer_poll`/`_poll_batch`, not used
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn kc_message_free(m: *mut kc_message_t) {
    boundary((), || {
        if !m.is_null() {
            // SAFETY: made by `new_message` in a poll, freed once (contract above).
            unsafe { free_message(m) };
        }
    })
}

/// Commits offsets to the group: `offsets` (`cnt` entries: `offset` the next record to
/// consume, >= 0, with its `leader_epoch` or -1) or, when `offsets` is NULL, what the
/// polls handed out so far (with `enable.auto.offset.store=false`: what was stored with
/// `kc_consumer_store_offset`). `async` 0: waits for the broker's answer (at most
/// `socket.timeout.ms`, or what is left of a close) and returns it; non-zero: returns at
/// once, and the result goes to the offset commit callback in a later poll. Never
/// commit the partitions of a `KC_ERR__ASSIGNMENT_LOST` rebalance. `offsets` is
/// borrowed for the duration of the call. Nothing to commit is `KC_OK`.
///
/// Errors: `KC_ERR__INVALID_ARG` (no `group.id`; an empty topic, a negative partition
/// or offset), `KC_ERR__NULL_ARG` (`consumer`, a topic), `KC_ERR__TIMED_OUT`, the
/// broker's error (e.g. `KC_ERR_REBALANCE_IN_PROGRESS`, `KC_ERR_ILLEGAL_GENERATION`),
/// `KC_ERR__DESTROY`, `KC_ERR__FATAL`, `KC_ERR__PANIC`.
///
/// # Safety
/// `consumer` must be a live handle, `offsets` NULL or `cnt` valid entries.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_commit(
    consumer: *mut kc_consumer_t,
    offsets: *const kc_topic_partition_t,
    cnt: usize,
    r#async: c_int,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle; the array valid (contract above).
        unsafe {
            with_consumer(consumer, |h| {
                if offsets.is_null() {
                    return h.consumer.commit(None, r#async != 0);
                }
                let (arr, tps) = partitions_in(offsets, cnt)?;
                let mut list = Vec::with_capacity(tps.len());
                for (p, tp) in arr.iter().zip(tps) {
                    if p.offset < 0 {
                        return Err(Error::invalid_arg(format!(
                            "commit: offset {} of {}/{} is negative",
                            p.offset, tp.topic, tp.partition
                        )));
                    }
                    list.push(CommitOffset {
                        tp,
                        offset: p.offset,
                        leader_epoch: p.leader_epoch,
                        metadata: None,
                    });
                }
                h.consumer.commit(Some(&list), r#async != 0)
            })
        }
    })
}

/// Stores `offset` (the next record to consume, >= 0) of an assigned partition for the
/// next commit (explicit or automatic): for `enable.auto.offset.store=false`, to commit
/// only what the application has processed. `topic` is borrowed for the call.
///
/// Errors: `KC_ERR__UNKNOWN_PARTITION` (not assigned to this consumer),
/// `KC_ERR__INVALID_ARG` (an empty topic, a negative partition or offset),
/// `KC_ERR__NULL_ARG` (`consumer`, `topic`), `KC_ERR__DESTROY`, `KC_ERR__FATAL`,
/// `KC_ERR__PANIC`.
///
/// # Safety
/// `consumer` must be a live handle, `topic` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_store_offset(
    consumer: *mut kc_consumer_t,
    topic: *const c_char,
    partition: i32,
    offset: i64,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle; the string valid (contract above).
        unsafe {
            with_consumer(consumer, |h| {
                let tp = topic_partition(cstr(topic, "topic")?, partition)?;
                if offset < 0 {
                    return Err(Error::invalid_arg(format!(
                        "store_offset: offset {offset} of {}/{partition} is negative",
                        tp.topic
                    )));
                }
                h.consumer.store_offset(&tp, offset, -1)
            })
        }
    })
}

/// Asks the group's coordinator for the committed offsets of the `cnt` partitions in
/// `parts` (any partitions, assigned or not), waiting up to `timeout_ms`. On success
/// fills each entry's `offset` (`KC_OFFSET_INVALID`: nothing committed),
/// `leader_epoch` (-1) and `err` (`KC_OK`); on failure writes nothing.
///
/// Errors: `KC_ERR__INVALID_ARG` (no `group.id`; an empty topic, a negative
/// partition), `KC_ERR__TIMED_OUT`, the coordinator's error, `KC_ERR__NULL_ARG`
/// (`consumer`, `parts` with `cnt` > 0, a topic), `KC_ERR__DESTROY`, `KC_ERR__FATAL`,
/// `KC_ERR__PANIC`.
///
/// # Safety
/// `consumer` must be a live handle, `parts` NULL or `cnt` valid, writable entries.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_committed(
    consumer: *mut kc_consumer_t,
    parts: *mut kc_topic_partition_t,
    cnt: usize,
    timeout_ms: i32,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle; the array valid and writable (contract above).
        unsafe {
            with_consumer(consumer, |h| {
                let (_, tps) = partitions_in(parts, cnt)?;
                if tps.is_empty() {
                    return Ok(());
                }
                let got = h.consumer.committed(&tps, millis(timeout_ms))?;
                for (i, tp) in tps.iter().enumerate() {
                    let o = got.iter().find(|(t, _)| t == tp).map_or(-1, |(_, o)| *o);
                    let e = &mut *parts.add(i);
                    e.offset = if o < 0 { KC_OFFSET_INVALID } else { o };
                    e.leader_epoch = -1;
                    e.err = 0;
                }
                Ok(())
            })
        }
    })
}

/// The position of each of the `cnt` partitions in `parts`: the offset of the next
/// record a poll hands out. Fills each entry's `offset` (`KC_OFFSET_INVALID` when not
/// known yet, before the first record or a seek) and `err` (`KC_OK`, or
/// `KC_ERR__UNKNOWN_PARTITION` for a partition not assigned to this consumer).
///
/// Errors: `KC_ERR__INVALID_ARG` (an empty topic, a negative partition),
/// `KC_ERR__NULL_ARG` (`consumer`, `parts` with `cnt` > 0, a topic), `KC_ERR__DESTROY`,
/// `KC_ERR__PANIC`.
///
/// # Safety
/// `consumer` must be a live handle, `parts` NULL or `cnt` valid, writable entries.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_position(
    consumer: *mut kc_consumer_t,
    parts: *mut kc_topic_partition_t,
    cnt: usize,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle; the array valid and writable (contract above).
        unsafe {
            with_consumer(consumer, |h| {
                let (_, tps) = partitions_in(parts, cnt)?;
                for (i, tp) in tps.iter().enumerate() {
                    let e = &mut *parts.add(i);
                    match h.consumer.position(tp) {
                        Some(o) => {
                            e.offset = if o < 0 { KC_OFFSET_INVALID } else { o };
                            e.err = 0;
                        }
                        None => {
                            e.offset = KC_OFFSET_INVALID;
                            e.err = local::UNKNOWN_PARTITION;
                        }
                    }
                }
                Ok(())
            })
        }
    })
}

/// Moves an assigned partition's position to `offset` (>= 0, `KC_OFFSET_BEGINNING` or
/// `KC_OFFSET_END`): records fetched before are dropped, the next poll hands out
/// records from there. `topic` is borrowed for the call.
///
/// Errors: `KC_ERR__UNKNOWN_PARTITION` (not assigned to this consumer),
/// `KC_ERR__INVALID_ARG` (another negative offset, an empty topic, a negative
/// partition), `KC_ERR__NULL_ARG` (`consumer`, `topic`), `KC_ERR__DESTROY`,
/// `KC_ERR__FATAL`, `KC_ERR__PANIC`.
///
/// # Safety
/// `consumer` must be a live handle, `topic` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_seek(
    consumer: *mut kc_consumer_t,
    topic: *const c_char,
    partition: i32,
    offset: i64,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle; the string valid (contract above).
        unsafe {
            with_consumer(consumer, |h| {
                let tp = topic_partition(cstr(topic, "topic")?, partition)?;
                if offset < 0 && offset != KC_OFFSET_BEGINNING && offset != KC_OFFSET_END {
                    return Err(Error::invalid_arg(format!(
                        "seek: offset {offset} is not >= 0, KC_OFFSET_BEGINNING or KC_OFFSET_END"
                    )));
                }
                h.consumer.seek(&tp, offset)
            })
        }
    })
}

/// # Safety
/// `consumer` must be NULL or a live handle, `parts` NULL or `cnt` valid entries.
unsafe fn set_paused(
    consumer: *mut kc_consumer_t,
    parts: *const kc_topic_partition_t,
    cnt: usize,
    paused: bool,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle; the array valid (contract above).
        unsafe {
            with_consumer(consumer, |h| {
                let (_, tps) = partitions_in(parts, cnt)?;
                if paused {
                    h.consumer.pause(&tps)
                } else {
                    h.consumer.resume(&tps)
                }
            })
        }
    })
}

/// Stops handing out and fetching records of the `cnt` partitions in `parts` until
/// `kc_consumer_resume` (their records already fetched stay queued). Partitions not
/// assigned are ignored; a rebalance that assigns a partition again starts it unpaused.
/// Only `topic` and `partition` are read; `parts` is borrowed for the call.
///
/// Errors: `KC_ERR__INVALID_ARG` (an empty topic, a negative partition),
/// `KC_ERR__NULL_ARG` (`consumer`, `parts` with `cnt` > 0, a topic), `KC_ERR__DESTROY`,
/// `KC_ERR__FATAL`, `KC_ERR__PANIC`.
///
/// # Safety
/// `consumer` must be a live handle, `parts` NULL or `cnt` valid entries.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_pause(
    consumer: *mut kc_consumer_t,
    parts: *const kc_topic_partition_t,
    cnt: usize,
) -> kc_err_t {
    // SAFETY: as the contract above.
    unsafe { set_paused(consumer, parts, cnt, true) }
}

/// Undoes `kc_consumer_pause` for the `cnt` partitions in `parts`.
///
/// Errors: as `kc_consumer_pause`.
///
/// # Safety
/// `consumer` must be a live handle, `parts` NULL or `cnt` valid entries.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_resume(
    consumer: *mut kc_consumer_t,
    parts: *const kc_topic_partition_t,
    cnt: usize,
) -> kc_err_t {
    // SAFETY: as the contract above.
    unsafe { set_paused(consumer, parts, cnt, false) }
}

/// Leaves the group cleanly: the revoke callback runs on this thread, what the polls
/// handed out is committed (with `enable.auto.commit`; offset commit callbacks due run
/// too), a LeaveGroup is sent (not for a static member, `group.instance.id`), and the
/// consumer's thread and connections stop. Bounded: returns within `timeout_ms` plus
/// 100 ms even with the cluster unreachable (what is not done by then is dropped; a
/// negative timeout is a year). Messages not freed yet stay valid. Afterwards polls
/// return NULL and other calls `KC_ERR__DESTROY`; closing again is `KC_OK`. The handle
/// must still be freed.
///
/// Errors: `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY` (being freed), `KC_ERR__PANIC`.
///
/// # Safety
/// `consumer` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_close(
    consumer: *mut kc_consumer_t,
    timeout_ms: i32,
) -> kc_err_t {
    // SAFETY: NULL or a live handle (contract above).
    call(|| unsafe { with_consumer(consumer, |h| h.consumer.close(millis(timeout_ms))) })
}

/// Frees the consumer, closing it first if `kc_consumer_close` was not called (bounded
/// by 10 s; its callbacks run on this thread, and calls on the consumer from them work).
/// Calls in progress on other threads return `KC_ERR__DESTROY` (a poll within 50 ms).
/// Messages not freed yet stay valid: free them with `kc_message_free`, before or after.
/// NULL is a no-op; freeing twice, or from inside a callback, is undefined behaviour.
///
/// # Safety
/// `consumer` must be NULL or a live handle; no call on it may start after this one.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_free(consumer: *mut kc_consumer_t) {
    boundary((), || {
        if consumer.is_null() {
            return;
        }
        // SAFETY: made by Arc::into_raw in kc_consumer_new; this takes back C's
        // reference, once (contract above). Calls inside hold references of their own.
        let h = unsafe { Arc::from_raw(consumer.cast_const()) };
        if let Some(r) = &h.refresher {
            r.stop();
        }
        h.gate.close();
        {
            let _serving = Serving::enter(consumer as usize);
            let _ = catch(|| h.consumer.close(h.consumer.settings().close_timeout));
        }
        h.gate.wait_until_empty();
        drop(h);
    })
}

/// `kc_client_sasl_background_callbacks_enable` for a consumer: its token refresh
/// callback runs on a background thread instead of inside `kc_consumer_poll` and
/// `_poll_batch`. Stopped by `kc_consumer_free`, with the same bound. Same errors.
///
/// # Safety
/// `consumer` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_sasl_background_callbacks_enable(
    consumer: *mut kc_consumer_t,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle (contract above).
        unsafe { with_consumer(consumer, |h| enable_background(h.refresher.as_ref())) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(offset: i64) -> kc_message_t {
        kc_message_t::of(Event::Error {
            error: Error::new(local::BAD_MSG, "test"),
            tp: None,
            offset,
            fatal: false,
        })
    }

    /// A freed message's allocation serves this thread's next message; its contents are
    /// dropped at the free, and the spares a thread keeps are bounded.
    #[test]
    fn freed_messages_are_reused_by_their_thread_within_a_bound() {
        let a = new_message(event(1));
        // SAFETY: `a` is live, from `new_message`, and not used after the free.
        unsafe { free_message(a) };
        let b = new_message(event(2));
        assert_eq!(a, b, "the spare allocation was taken");
        // SAFETY: `b` is live (made just above).
        assert_eq!(unsafe { kc_message_offset(b) }, 2);
        // Freed on another thread: kept there, not here.
        let addr = b as usize;
        std::thread::spawn(move || {
            // SAFETY: `b` is live and not used after this free.
            unsafe { free_message(addr as *mut kc_message_t) };
            SPARE.with(|s| assert_eq!(s.borrow().len(), 1));
        })
        .join()
        .unwrap();
        SPARE.with(|s| assert!(s.borrow().is_empty()));
        let many: Vec<_> = (0..SPARE_MOST + 10)
            .map(|i| new_message(event(i as i64)))
            .collect();
        for m in many {
            // SAFETY: each is live and freed once.
            unsafe { free_message(m) };
        }
        SPARE.with(|s| assert_eq!(s.borrow().len(), SPARE_MOST));
    }
}
