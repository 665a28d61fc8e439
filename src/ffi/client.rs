//! `kc_client_t`: the client handle, produce, offsets and topic administration.

use super::conf::kc_conf_t;
use super::errors::kc_err_t;
use super::oauth_refresh::{check_conf, enable_background, Refresher};
use super::util::{
    array, boundary, buf, call, capacity, catch, copy_out, cstr, millis, null_arg, write_out, Gate,
};
use crate::client::{Client, NewTopic, OffsetSpec};
use crate::error::{local, Error, Result};
use crate::record::{Compression, RecordHeaderIn, RecordIn};
use parking_lot::Mutex;
use std::ffi::{c_char, c_int};
use std::sync::Arc;

/// A client connected to one Kafka cluster.
///
/// Thread-safe: one `kc_client_t` may be used from many threads at once; their requests
/// share the broker connections. `kc_client_free` may be called while other threads are
/// inside calls on it (see there); a call that starts after `kc_client_free` has been
/// called is a use after free.
///
/// Errors of the calls that talk to brokers (`kc_client_metadata`, `_produce`,
/// `_fetch`, `_list_offsets`, `_create_topic`, `_delete_topic`). A call's deadline is
/// its `timeout_ms` from its start (a fetch adds `max_wait_ms`); a negative timeout is
/// a year. A failure that may pass (a lost connection, a broker down, a leader that
/// moved, Kafka's retriable codes) is retried: the call refreshes metadata and waits
/// `retry.backoff.ms` (doubling up to `retry.backoff.max.ms`) before the next attempt.
/// When the next wait would end less than 100 ms before the deadline (an attempt begun
/// then could only time out), the call gives up and returns the error of its last
/// attempt (`kc_last_error` adds "gave up after N attempts"), so such an error can come
/// back up to one back-off plus 100 ms before `timeout_ms` has passed.
///  - `KC_ERR__TIMED_OUT`: the deadline passed while the call was waiting: for a
///    broker's answer, for a connection being opened (connect and ApiVersions), or for
///    a connection attempt or metadata refresh of another thread that it shares. Not
///    retried; when it ends a retry, `kc_last_error` names the error of the attempt
///    before. A broker that accepts connections and never answers gives this, unless
///    `socket.connection.setup.timeout.ms` (set-up) or `socket.timeout.ms` (past the
///    time the broker may hold the request) ends the connection first: then it counts
///    as a failed or lost connection, below.
///  - `KC_ERR__ALL_BROKERS_DOWN`: the call needed metadata (the first call does, a
///    retry refreshes it, and topic administration asks it for the controller) and no
///    broker could be connected: every known broker (skipping those in their reconnect
///    back-off) and then, unless `metadata.recovery.strategy` is `none`, every bootstrap
///    address refused, failed to set up, or did not resolve. Retried; returned when
///    retries ran out (or `KC_ERR__TIMED_OUT` if the deadline passed during those
///    attempts).
///  - `KC_ERR__TRANSPORT`: the connection to the partition's leader could not be
///    opened (refused, reset, set-up longer than `socket.connection.setup.timeout.ms`),
///    or the connection a request was sent on (to the leader, or to the broker picked
///    for metadata or administration) was closed or lost with the request in flight (by
///    the broker, by a network error, or by this client when the answer was more than
///    `socket.timeout.ms` late). Retried; returned when retries ran out. After a failed
///    attempt the leader is not tried again before its reconnect back-off
///    (`reconnect.backoff.ms`, doubling up to `reconnect.backoff.max.ms`) ends; a call
///    whose deadline comes first gets that attempt's error (`KC_ERR__TRANSPORT`, or
///    whatever ended it) without waiting.
///  - `KC_ERR__RESOLVE`: the host name of a partition's leader did not resolve
///    (retried). Bootstrap names that do not resolve count as unreachable
///    (`KC_ERR__ALL_BROKERS_DOWN`).
///  - `KC_ERR__DESTROY`: `kc_client_free` was called while the call was in progress.
///  - `KC_ERR__PROTOCOL` (a broker's answer violates the protocol),
///    `KC_ERR__FRAME_TOO_LARGE` (an answer larger than `receive.message.max.bytes`),
///    `KC_ERR__UNSUPPORTED_FEATURE` (the broker speaks no version of the request this
///    library does): not retried.
///  - Kafka's codes (`KC_ERR_<NAME>`) as the broker gave them: retriable ones
///    (`KC_ERR_NOT_LEADER_OR_FOLLOWER`, `KC_ERR_LEADER_NOT_AVAILABLE`,
///    `KC_ERR_UNKNOWN_TOPIC_OR_PARTITION`, `KC_ERR_REQUEST_TIMED_OUT`, …) once retries
///    ran out, others at once (a topic's own error in topic administration: at once).
///
/// Every call on a client returns `KC_ERR__NULL_ARG` for a NULL required pointer,
/// `KC_ERR__INVALID_ARG` for a bad argument value (and a string that is not UTF-8), and
/// `KC_ERR__PANIC` for an internal error.
pub struct kc_client_t {
    pub(crate) client: Client,
    last_error: Mutex<(i32, String)>,
    /// The calls inside, and whether `kc_client_free` has begun.
    gate: Gate,
    /// The OAUTHBEARER token refresh callback, if one is set.
    refresher: Option<Arc<Refresher>>,
}

impl kc_client_t {
    /// Runs a client operation as a call inside the handle: refused once the client is
    /// being freed; a failure that closing the client caused becomes `KC_ERR__DESTROY`;
    /// a failure (or a panic) is recorded for this handle before the call leaves.
    fn run(&self, f: impl FnOnce(&Client) -> Result<()>) -> Result<()> {
        let Some(_inside) = self.gate.enter() else {
            return Err(Error::new(
                local::DESTROY,
                "kc_client_free has been called on this client",
            ));
        };
        let r = catch(|| f(&self.client)).and_then(|r| r);
        let r = match r {
            // Closing fails requests in flight with DESTROY, connections with TRANSPORT
            // (then ALL_BROKERS_DOWN), and a wait on the stopped I/O threads ends at its
            // deadline. Kafka's own errors and argument errors stay as they are.
            Err(e)
                if matches!(
                    e.code,
                    local::DESTROY | local::TRANSPORT | local::ALL_BROKERS_DOWN | local::TIMED_OUT
                ) && self.gate.is_closing() =>
            {
                Err(Error::new(
                    local::DESTROY,
                    format!("kc_client_free was called during this call: {}", e.message),
                ))
            }
            r => r,
        };
        if let Err(e) = &r {
            *self.last_error.lock() = (e.code, e.message.clone());
        }
        r
    }

    /// Marks the client closing, closes its connections (which fails every request
    /// waiting for an answer with `KC_ERR__DESTROY`) and joins its I/O threads, then
    /// waits until every call inside has returned.
    fn shut_down(&self) {
        if let Some(r) = &self.refresher {
            r.stop();
        }
        self.gate.close();
        self.client.cluster().close();
        self.gate.wait_until_empty();
    }
}

/// A reference of its own to the client `client` points to, for one call.
///
/// # Safety
/// `client` must be NULL or a handle from `kc_client_new` whose reference C still holds
/// (`kc_client_free` has not taken it back).
unsafe fn share(client: *const kc_client_t) -> Option<Arc<kc_client_t>> {
    if client.is_null() {
        return None;
    }
    // SAFETY: `client` came from Arc::into_raw in kc_client_new and C's reference to it
    // is still held (contract above), so the count is at least 1 and the allocation
    // live; adding one and taking it as an Arc leaves C's reference untouched.
    unsafe {
        Arc::increment_strong_count(client);
        Some(Arc::from_raw(client))
    }
}

/// Runs `f` on a client pointer checked for NULL, as a call inside the client (see
/// [`kc_client_t::run`]).
///
/// # Safety
/// `client` must be NULL or a live handle (see [`share`]).
pub(crate) unsafe fn with_client(
    client: *const kc_client_t,
    f: impl FnOnce(&Client) -> Result<()>,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle (caller contract).
        let c = unsafe { share(client) }.ok_or_else(|| null_arg("client"))?;
        c.run(f)
    })
}

/// Creates a client from a configuration (which must set `bootstrap.servers`). `conf` is
/// borrowed for the duration of the call (the client keeps a copy); the caller still
/// owns it. No connection is opened until the first request; the client's I/O threads
/// (`io.threads`) start here.
/// On success `*clientp` receives the client; the caller owns it: free it with
/// `kc_client_free`.
///
/// Errors: `KC_ERR__NULL_ARG` (`conf`, `clientp`), `KC_ERR__INVALID_CONFIG`
/// (`bootstrap.servers` missing, `api.version.request` false, an OAUTHBEARER token
/// refresh callback with `enable.sasl.oauthbearer.unsecure.jwt=true`), `KC_ERR__FAIL`
/// (an I/O thread could not be started), `KC_ERR__PANIC`.
///
/// # Safety
/// `conf` must be a live handle and `clientp` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn kc_client_new(
    conf: *const kc_conf_t,
    clientp: *mut *mut kc_client_t,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle (contract above).
        let conf = unsafe { conf.as_ref() }.ok_or_else(|| null_arg("conf"))?;
        if clientp.is_null() {
            return Err(null_arg("clientp"));
        }
        check_conf(conf)?;
        let client = Client::new(&conf.inner)?;
        let refresher = Refresher::attach(conf, &client);
        let h = Arc::into_raw(Arc::new(kc_client_t {
            client,
            last_error: Mutex::new((0, String::new())),
            gate: Gate::new(),
            refresher,
        }))
        .cast_mut();
        // SAFETY: `clientp` is non-NULL and valid for writes (contract above).
        unsafe { write_out(clientp, h) };
        Ok(())
    })
}

/// Frees the client: marks it closing, closes its connections and joins its I/O threads,
/// waits until every call other threads are making on it has returned, then frees it.
/// When it returns, no call on the client is running and none of its threads is left.
/// NULL is a no-op.
///
/// Calls in progress on other threads when it begins return `KC_ERR__DESTROY` (a call
/// that had already succeeded, or failed with a Kafka or argument error, returns that).
/// Every such call is woken at once: one waiting for a broker's answer (a fetch in its
/// long poll, a request to a broker that does not answer), one opening a connection, and
/// one sleeping between retries or waiting out a broker's reconnect back-off. Name
/// resolution (`getaddrinfo`) cannot be interrupted: a call inside it returns when the
/// lookup does, and `kc_client_free` waits for it.
/// Results already obtained from the client (metadata, fetch results) stay valid.
///
/// A call on the client that starts after `kc_client_free` has been called, and freeing
/// twice, are undefined behaviour (use after free).
///
/// # Safety
/// `client` must be NULL or a live handle; no call on it may start after this one.
#[no_mangle]
pub unsafe extern "C" fn kc_client_free(client: *mut kc_client_t) {
    boundary((), || {
        if client.is_null() {
            return;
        }
        // SAFETY: made by Arc::into_raw in kc_client_new; this takes back the reference
        // C held, once (freeing twice is the caller's bug, contract above). Calls still
        // inside hold references of their own, so the client outlives every one of them.
        let c = unsafe { Arc::from_raw(client.cast_const()) };
        c.shut_down();
        drop_last(c);
    })
}

/// Drops the client on this thread once `c` is the only reference left. A call that has
/// left the gate still holds its reference for the few instructions until it returns;
/// waiting for it means the client (its threads included) is gone when `kc_client_free`
/// returns, instead of being dropped by whichever call returns last. Should a reference
/// outlive a second (none is kept anywhere else), the last holder drops the client.
fn drop_last(mut c: Arc<kc_client_t>) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match Arc::try_unwrap(c) {
            Ok(client) => {
                drop(client);
                return;
            }
            Err(shared) if std::time::Instant::now() < until => {
                c = shared;
                std::thread::yield_now();
            }
            Err(shared) => {
                drop(shared);
                return;
            }
        }
    }
}

/// Copies the detail of the last failure of any call on this client (from any thread)
/// into `buf`, as `kc_last_error` does. Returns the message length; 0 if none or if
/// `client` is NULL. Fails in no other way.
///
/// # Safety
/// `client` must be NULL or a live handle; `buf` NULL or `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn kc_client_last_error(
    client: *const kc_client_t,
    buf: *mut c_char,
    len: usize,
) -> usize {
    boundary(0, || {
        // SAFETY: NULL or a live handle (contract above).
        let Some(c) = (unsafe { share(client) }) else {
            return 0;
        };
        let msg = c.last_error.lock().1.clone();
        // SAFETY: `buf` is NULL or has `len` writable bytes (contract above).
        unsafe { copy_out(&msg, buf, len) }
    })
}

/// A descriptor that is readable while the client has events waiting (see
/// `kc_client_event_poll`), for an application's own event loop (`poll`, `epoll`,
/// `select`, libuv): events are raised on the client's I/O threads, and the application
/// serves them on its own thread. The descriptor belongs to the client: wait on it, never
/// read, write or close it; it is valid until `kc_client_free`. Returns -1 if `client` is
/// NULL (or, should the system refuse one, when the client has no descriptor). Fails in
/// no other way. Thread-safe.
///
/// # Safety
/// `client` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_client_event_fd(client: *const kc_client_t) -> c_int {
    boundary(-1, || {
        // SAFETY: NULL or a live handle (contract above).
        let Some(c) = (unsafe { share(client) }) else {
            return -1;
        };
        c.client.cluster().events().fd()
    })
}

/// Runs the OAUTHBEARER token refresh callback on this thread first when it is due
/// (unless background callbacks are enabled: see
/// `kc_client_sasl_background_callbacks_enable`). Then takes the client's oldest event:
/// a connection lost to a fault (a broker refusing
/// connections, closing them, or no longer answering) or a broker's throttle. On success
/// `*severity` gets its syslog level (3 error, 4 warning, 5 notice, 6 info), `*code` an
/// error code (`KC_ERR__TRANSPORT`, `KC_ERR__TIMED_OUT`, ...; 0 for a plain log line), and
/// the message is copied into `buf` (NUL-terminated, cut to `len - 1` bytes; `buf` may be
/// NULL with `len` 0 to drop it). At most 1024 events wait; older ones are dropped first.
/// Thread-safe; each event is taken once.
///
/// Errors: `KC_ERR__NOENT` (no event waiting; nothing written), `KC_ERR__NULL_ARG`
/// (`client`, `severity`, `code`), `KC_ERR__PANIC`.
///
/// # Safety
/// `client` must be NULL or a live handle; `severity` and `code` valid pointers; `buf`
/// NULL or `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn kc_client_event_poll(
    client: *const kc_client_t,
    severity: *mut c_int,
    code: *mut kc_err_t,
    buf: *mut c_char,
    len: usize,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle (contract above).
        let c = unsafe { share(client) }.ok_or_else(|| null_arg("client"))?;
        if severity.is_null() {
            return Err(null_arg("severity"));
        }
        if code.is_null() {
            return Err(null_arg("code"));
        }
        if let Some(r) = &c.refresher {
            r.serve_due();
        }
        let Some(ev) = c.client.cluster().events().pop() else {
            return Err(Error::new(local::NOENT, "no event waiting"));
        };
        // SAFETY: non-NULL pointers to writable values (checked above, contract above);
        // `buf` is NULL or has `len` writable bytes.
        unsafe {
            write_out(severity, ev.severity as c_int);
            write_out(code, ev.code);
            copy_out(&ev.message, buf, len);
        }
        Ok(())
    })
}

/// Compression codecs for `kc_client_produce`.
pub type kc_compression_t = i32;
/// Use the client's `compression.type` property.
pub const KC_COMPRESSION_DEFAULT: kc_compression_t = -1;
pub const KC_COMPRESSION_NONE: kc_compression_t = 0;
pub const KC_COMPRESSION_GZIP: kc_compression_t = 1;
pub const KC_COMPRESSION_SNAPPY: kc_compression_t = 2;
pub const KC_COMPRESSION_LZ4: kc_compression_t = 3;
pub const KC_COMPRESSION_ZSTD: kc_compression_t = 4;

/// Use the client's `acks` property.
pub const KC_ACKS_DEFAULT: i32 = -2;

/// A record header: `key` is `key_len` bytes (not NUL-terminated); `value` is
/// `value_len` bytes, or NULL (with `value_len` 0) for a null value.
#[repr(C)]
pub struct kc_header_t {
    pub key: *const c_char,
    pub key_len: usize,
    pub value: *const u8,
    pub value_len: usize,
}

/// A record to produce. `key`/`value`: NULL (with length 0) is a null key/value; a
/// non-NULL pointer with length 0 is an empty one. `timestamp`: milliseconds since the
/// epoch, or 0 for "now". All pointers are borrowed for the duration of the call.
#[repr(C)]
pub struct kc_record_t {
    pub key: *const u8,
    pub key_len: usize,
    pub value: *const u8,
    pub value_len: usize,
    pub headers: *const kc_header_t,
    pub header_cnt: usize,
    pub timestamp: i64,
}

/// Borrowed views of a record's headers.
///
/// # Safety
/// `r` must describe valid buffers (see `kc_record_t`).
#[inline]
pub(crate) unsafe fn headers_of<'a>(r: &'a kc_record_t) -> Result<Vec<RecordHeaderIn<'a>>> {
    if r.header_cnt == 0 {
        return Ok(Vec::new());
    }
    if r.headers.is_null() {
        return Err(Error::invalid_arg(format!(
            "headers is NULL but header_cnt is {}",
            r.header_cnt
        )));
    }
    // SAFETY: `header_cnt` headers at `headers` (contract above).
    let hs: &[kc_header_t] = unsafe { array(r.headers, r.header_cnt, "headers")? };
    let mut v = Vec::with_capacity(hs.len());
    for h in hs {
        // SAFETY: each header's buffers are valid (contract above).
        let key = unsafe { buf(h.key.cast(), h.key_len, "header key")? }
            .ok_or_else(|| null_arg("header key"))?;
        // SAFETY: as above.
        let value = unsafe { buf(h.value, h.value_len, "header value")? };
        v.push(RecordHeaderIn { key, value });
    }
    Ok(v)
}

fn compression_of(c: &Client, code: kc_compression_t) -> Result<Compression> {
    match code {
        KC_COMPRESSION_DEFAULT => {
            Ok(Compression::from_name(&c.cluster().settings.compression).unwrap_or_default())
        }
        KC_COMPRESSION_NONE => Ok(Compression::None),
        KC_COMPRESSION_GZIP => Ok(Compression::Gzip),
        KC_COMPRESSION_SNAPPY => Ok(Compression::Snappy),
        KC_COMPRESSION_LZ4 => Ok(Compression::Lz4),
        KC_COMPRESSION_ZSTD => Ok(Compression::Zstd),
        other => Err(Error::invalid_arg(format!(
            "unknown compression {other} (expected KC_COMPRESSION_NONE..KC_COMPRESSION_ZSTD or KC_COMPRESSION_DEFAULT)"
        ))),
    }
}

/// Produces `record_cnt` records as one batch to `topic`/`partition`, at the partition's
/// leader, and waits for the acknowledgement. `acks`: 0 (none; `*base_offsetp` gets -1),
/// 1 (leader), -1 (all in-sync replicas) or `KC_ACKS_DEFAULT`. `compression`: a
/// `KC_COMPRESSION_*` value. Retriable errors (leader moved, broker down, the broker's
/// REQUEST_TIMED_OUT, a lost connection) are retried within `timeout_ms`; other errors
/// come back with their Kafka code. Without idempotence, a retry after the batch reached
/// the broker but its acknowledgement was lost writes the records twice (as other Kafka
/// clients without idempotence do). With `acks` 0, `KC_OK` means the request was queued
/// on a connection to the leader; nothing says it arrived.
/// On success `*base_offsetp` (which may be NULL) receives the offset of the first record.
/// All arguments are borrowed for the duration of the call.
///
/// Errors: the network errors described at `kc_client_t` (`KC_ERR__TIMED_OUT`,
/// `KC_ERR__ALL_BROKERS_DOWN`, `KC_ERR__TRANSPORT`, `KC_ERR__RESOLVE`,
/// `KC_ERR__DESTROY`, `KC_ERR__PROTOCOL`, `KC_ERR__FRAME_TOO_LARGE`), and:
///  - `KC_ERR_UNKNOWN_TOPIC_OR_PARTITION`: the topic does not exist. Retried (a topic
///    created a moment ago is not known to every broker at once), so it comes back only
///    near the end of `timeout_ms`.
///  - `KC_ERR__UNKNOWN_PARTITION`: the topic exists but not the partition (at once).
///  - `KC_ERR__UNKNOWN_TOPIC`: the broker's metadata answer left the topic out.
///  - the leader's answer: `KC_ERR_NOT_ENOUGH_REPLICAS`, `KC_ERR_REQUEST_TIMED_OUT`
///    (the in-sync replicas did not confirm within `request.timeout.ms`),
///    `KC_ERR_NOT_LEADER_OR_FOLLOWER`, … retried; `KC_ERR_MESSAGE_TOO_LARGE`,
///    `KC_ERR_RECORD_LIST_TOO_LARGE`, `KC_ERR_INVALID_RECORD`,
///    `KC_ERR_TOPIC_AUTHORIZATION_FAILED`, … at once.
///  - `KC_ERR_MESSAGE_TOO_LARGE` also before sending, when the encoded batch is larger
///    than `message.max.bytes`; `KC_ERR__BAD_COMPRESSION` when compressing fails.
///  - `KC_ERR__UNSUPPORTED_FEATURE`: the leader speaks no Produce version this library
///    does, or only message formats v0/v1 (Kafka before 0.11) and the records have
///    headers or the codec is zstd.
///  - `KC_ERR__NULL_ARG` (`client`, `topic`, `records`, a header key),
///    `KC_ERR__INVALID_ARG` (`record_cnt` 0, `acks`, `compression`, a NULL buffer with a
///    length, NULL `headers` with a count), `KC_ERR__PANIC`.
///
/// # Safety
/// `client` must be a live handle, `topic` a NUL-terminated string, `records` point to
/// `record_cnt` records whose buffers are valid as described on `kc_record_t`.
#[no_mangle]
pub unsafe extern "C" fn kc_client_produce(
    client: *mut kc_client_t,
    topic: *const c_char,
    partition: i32,
    records: *const kc_record_t,
    record_cnt: usize,
    acks: i32,
    compression: kc_compression_t,
    timeout_ms: i32,
    base_offsetp: *mut i64,
) -> kc_err_t {
    // SAFETY: pointers checked inside; validity per the contract above.
    unsafe {
        with_client(client, |c| {
            let topic = cstr(topic, "topic")?;
            if records.is_null() {
                return Err(null_arg("records"));
            }
            if record_cnt == 0 {
                return Err(Error::invalid_arg("record_cnt must be at least 1"));
            }
            let recs = array(records, record_cnt, "records")?;
            // Headers are borrowed views; collect them first so RecordIn can borrow
            // (only when some record has any: most batches have none).
            let mut headers: Vec<Vec<RecordHeaderIn<'_>>> = Vec::new();
            if recs.iter().any(|r| r.header_cnt != 0) {
                headers.reserve(capacity(record_cnt));
                for (i, r) in recs.iter().enumerate() {
                    headers.push(headers_of(r).map_err(|e| e.context(format!("record {i}")))?);
                }
            }
            let mut ins = Vec::with_capacity(capacity(record_cnt));
            for (i, r) in recs.iter().enumerate() {
                ins.push(RecordIn {
                    key: buf(r.key, r.key_len, "key")?,
                    value: buf(r.value, r.value_len, "value")?,
                    headers: headers.get(i).map_or(&[], Vec::as_slice),
                    timestamp: (r.timestamp != 0).then_some(r.timestamp),
                });
            }
            let acks = match acks {
                KC_ACKS_DEFAULT => c.cluster().settings.acks,
                -1..=1 => acks as i16,
                other => {
                    return Err(Error::invalid_arg(format!(
                        "acks must be 0, 1, -1 or KC_ACKS_DEFAULT, not {other}"
                    )))
                }
            };
            let compression = compression_of(c, compression)?;
            let off = c.produce(
                topic,
                partition,
                &ins,
                acks,
                compression,
                millis(timeout_ms),
            )?;
            write_out(base_offsetp, off);
            Ok(())
        })
    }
}

/// `kc_client_list_offsets`: the earliest offset (log start).
pub const KC_OFFSET_EARLIEST: i64 = -2;
/// `kc_client_list_offsets`: the latest offset (the offset the next record will get).
pub const KC_OFFSET_LATEST: i64 = -1;

/// Looks up an offset of `topic`/`partition` at its leader: `KC_OFFSET_EARLIEST`,
/// `KC_OFFSET_LATEST`, or a timestamp in ms (>= 0) for the first offset whose record
/// timestamp is at or after it (-1 if there is none). On success `*offsetp` receives it.
///
/// Errors: the network errors described at `kc_client_t` (`KC_ERR__TIMED_OUT`,
/// `KC_ERR__ALL_BROKERS_DOWN`, `KC_ERR__TRANSPORT`, `KC_ERR__RESOLVE`,
/// `KC_ERR__DESTROY`, `KC_ERR__PROTOCOL`, `KC_ERR__FRAME_TOO_LARGE`), and:
///  - `KC_ERR_UNKNOWN_TOPIC_OR_PARTITION`: the topic does not exist (retried: it comes
///    back near the end of `timeout_ms`); `KC_ERR__UNKNOWN_PARTITION`: the partition
///    does not exist (at once); `KC_ERR__UNKNOWN_TOPIC`: the broker's metadata answer
///    left the topic out.
///  - the leader's answer for the partition (`KC_ERR_NOT_LEADER_OR_FOLLOWER`, … retried;
///    `KC_ERR_TOPIC_AUTHORIZATION_FAILED`, … at once).
///  - `KC_ERR__UNSUPPORTED_FEATURE`: the leader speaks no ListOffsets version this
///    library does, or only v0 (Kafka before 0.10.1) and `what` is a timestamp.
///  - `KC_ERR__NULL_ARG` (`client`, `topic`, `offsetp`), `KC_ERR__INVALID_ARG` (`what`
///    below -2), `KC_ERR__PANIC`.
///
/// # Safety
/// `client` must be a live handle, `topic` a NUL-terminated string, `offsetp` valid.
#[no_mangle]
pub unsafe extern "C" fn kc_client_list_offsets(
    client: *mut kc_client_t,
    topic: *const c_char,
    partition: i32,
    what: i64,
    timeout_ms: i32,
    offsetp: *mut i64,
) -> kc_err_t {
    // SAFETY: pointers checked inside; validity per the contract above.
    unsafe {
        with_client(client, |c| {
            let topic = cstr(topic, "topic")?;
            if offsetp.is_null() {
                return Err(null_arg("offsetp"));
            }
            let spec = match what {
                KC_OFFSET_EARLIEST => OffsetSpec::Earliest,
                KC_OFFSET_LATEST => OffsetSpec::Latest,
                t if t >= 0 => OffsetSpec::Timestamp(t),
                other => {
                    return Err(Error::invalid_arg(format!(
                        "offset spec must be KC_OFFSET_EARLIEST, KC_OFFSET_LATEST or a timestamp >= 0, not {other}"
                    )))
                }
            };
            let r = c.list_offsets(topic, partition, spec, millis(timeout_ms))?;
            write_out(offsetp, r.offset);
            Ok(())
        })
    }
}

/// Creates a topic with `partitions` partitions (-1: broker default) and
/// `replication_factor` replicas (-1: broker default). `configs` holds `config_cnt`
/// pairs as a flat array `name0, value0, name1, value1, …`; it may be NULL when
/// `config_cnt` is 0. Every value must be a string: a NULL value is sent as Kafka's null,
/// which Apache Kafka refuses with `KC_ERR_INVALID_CONFIG` ("Null value not supported
/// for topic configs") and creates nothing; leave a property out to get its default.
/// All arguments are borrowed for the duration of the call.
///
/// Errors: the network errors described at `kc_client_t` (`KC_ERR__TIMED_OUT`,
/// `KC_ERR__ALL_BROKERS_DOWN`, `KC_ERR__TRANSPORT`, `KC_ERR__DESTROY`,
/// `KC_ERR__PROTOCOL`, `KC_ERR__FRAME_TOO_LARGE`, `KC_ERR__UNSUPPORTED_FEATURE`), and
/// the topic's own error as the controller gave it, at once (not retried; only
/// `KC_ERR_NOT_CONTROLLER` is, at the new controller): `KC_ERR_TOPIC_ALREADY_EXISTS`,
/// `KC_ERR_INVALID_PARTITIONS`, `KC_ERR_INVALID_REPLICATION_FACTOR`,
/// `KC_ERR_INVALID_CONFIG`, `KC_ERR_INVALID_TOPIC_EXCEPTION` (a bad name),
/// `KC_ERR_POLICY_VIOLATION`, `KC_ERR_TOPIC_AUTHORIZATION_FAILED`,
/// …; `KC_ERR__NULL_ARG` (`client`, `topic`, `configs` with a count, a config name),
/// `KC_ERR__INVALID_ARG` (an empty name, `replication_factor` out of range),
/// `KC_ERR__PANIC`.
///
/// # Safety
/// `client` must be a live handle, `topic` a NUL-terminated string, `configs` NULL or
/// `2 * config_cnt` string pointers.
#[no_mangle]
pub unsafe extern "C" fn kc_client_create_topic(
    client: *mut kc_client_t,
    topic: *const c_char,
    partitions: i32,
    replication_factor: i32,
    configs: *const *const c_char,
    config_cnt: usize,
    timeout_ms: i32,
) -> kc_err_t {
    // SAFETY: pointers checked inside; validity per the contract above.
    unsafe {
        with_client(client, |c| {
            let topic = cstr(topic, "topic")?;
            if configs.is_null() && config_cnt != 0 {
                return Err(null_arg("configs"));
            }
            let rf = i16::try_from(replication_factor).map_err(|_| {
                Error::invalid_arg(format!(
                    "replication factor {replication_factor} out of range"
                ))
            })?;
            let mut cfg = Vec::with_capacity(capacity(config_cnt));
            if config_cnt > 0 {
                let pairs = config_cnt.checked_mul(2).ok_or_else(|| {
                    Error::invalid_arg(format!("config_cnt {config_cnt} is too large"))
                })?;
                let kv = array(configs, pairs, "configs")?;
                for pair in kv.chunks(2) {
                    let k = cstr(pair[0], "config name")?.to_owned();
                    let v = if pair[1].is_null() {
                        None
                    } else {
                        Some(cstr(pair[1], "config value")?.to_owned())
                    };
                    cfg.push((k, v));
                }
            }
            let t = NewTopic {
                name: topic.to_owned(),
                num_partitions: partitions,
                replication_factor: rf,
                configs: cfg,
            };
            let r = c.create_topics(&[t], millis(timeout_ms))?;
            match r.into_iter().next().and_then(|r| r.error) {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })
    }
}

/// Deletes a topic.
///
/// Errors: the network errors described at `kc_client_t` (`KC_ERR__TIMED_OUT`,
/// `KC_ERR__ALL_BROKERS_DOWN`, `KC_ERR__TRANSPORT`, `KC_ERR__DESTROY`,
/// `KC_ERR__PROTOCOL`, `KC_ERR__FRAME_TOO_LARGE`, `KC_ERR__UNSUPPORTED_FEATURE`), and
/// the topic's own error as the controller gave it, at once (not retried; only
/// `KC_ERR_NOT_CONTROLLER` is): `KC_ERR_UNKNOWN_TOPIC_OR_PARTITION` (no such topic),
/// `KC_ERR_TOPIC_DELETION_DISABLED`, `KC_ERR_TOPIC_AUTHORIZATION_FAILED`, …;
/// `KC_ERR__NULL_ARG` (`client`, `topic`),
/// `KC_ERR__INVALID_ARG`, `KC_ERR__PANIC`.
///
/// # Safety
/// `client` must be a live handle and `topic` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn kc_client_delete_topic(
    client: *mut kc_client_t,
    topic: *const c_char,
    timeout_ms: i32,
) -> kc_err_t {
    // SAFETY: pointers checked inside; validity per the contract above.
    unsafe {
        with_client(client, |c| {
            let topic = cstr(topic, "topic")?;
            let r = c.delete_topics(&[topic.to_owned()], millis(timeout_ms))?;
            match r.into_iter().next().and_then(|r| r.error) {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })
    }
}

/// The header promises that a client may be shared between threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<kc_client_t>();
};

/// Runs the client's SASL callbacks (the OAUTHBEARER token refresh callback,
/// `kc_conf_set_oauthbearer_token_refresh_cb`) on a background thread of the client
/// from now on, instead of inside `kc_client_event_poll` (librdkafka's
/// `rd_kafka_sasl_background_callbacks_enable`): for an application that never polls.
/// A refresh already due runs at once on that thread. Calling it again does nothing.
/// `kc_client_free` stops the thread: an idle thread is woken and joined at once; a
/// callback running at that moment is waited for up to 10 s, after which the thread is
/// left to end on its own when the callback returns (the callback then still holds its
/// `ob` and `cb_opaque`, so what `cb_opaque` points to must outlive it). Thread-safe.
///
/// Errors: `KC_ERR__STATE` (the client has no token refresh callback: none was set, or
/// it does not authenticate with `sasl.mechanism=OAUTHBEARER`), `KC_ERR__FAIL` (the
/// thread could not be started), `KC_ERR__NULL_ARG`, `KC_ERR__DESTROY`,
/// `KC_ERR__PANIC`.
///
/// # Safety
/// `client` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_client_sasl_background_callbacks_enable(
    client: *const kc_client_t,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle (contract above).
        let c = unsafe { share(client) }.ok_or_else(|| null_arg("client"))?;
        let refresher = c.refresher.clone();
        c.run(|_| enable_background(refresher.as_ref()))
    })
}
