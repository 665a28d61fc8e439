//! `kc_metadata_t`: brokers, topics and partitions.

use super::client::{kc_client_t, with_client};
use super::errors::kc_err_t;
use super::util::{array, boundary, capacity, cstr, fill, index_err, millis, null_arg, write_out};
use crate::cluster::Metadata;
use std::ffi::{c_char, CString};

/// A metadata snapshot. Immutable: may be read from several threads at once.
pub struct kc_metadata_t {
    md: Metadata,
    hosts: Vec<CString>,
    racks: Vec<Option<CString>>,
    names: Vec<CString>,
    cluster_id: Option<CString>,
}

/// One broker. Strings are owned by the metadata: valid until `kc_metadata_free` is
/// called on it. `rack` is NULL when the broker has none.
#[repr(C)]
pub struct kc_broker_t {
    pub id: i32,
    pub host: *const c_char,
    pub port: i32,
    pub rack: *const c_char,
}

/// One topic. `name` is owned by the metadata: valid until `kc_metadata_free`.
#[repr(C)]
pub struct kc_topic_t {
    pub name: *const c_char,
    /// The topic's error (e.g. `KC_ERR_UNKNOWN_TOPIC_OR_PARTITION`), or KC_OK.
    pub err: kc_err_t,
    pub partition_cnt: usize,
    pub is_internal: i32,
}

/// One partition. The arrays are owned by the metadata: valid until `kc_metadata_free`.
#[repr(C)]
pub struct kc_partition_t {
    pub id: i32,
    pub err: kc_err_t,
    /// Leader broker id, -1 if none.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: *const i32,
    pub replica_cnt: usize,
    pub isrs: *const i32,
    pub isr_cnt: usize,
}

fn cs(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

/// Fetches metadata: for `topic_cnt` topics named in `topics`, or for every topic when
/// `topics` is NULL and `topic_cnt` is 0. A topic that does not exist is reported with
/// its error in `kc_metadata_topic`, not as a failure of the call. On success `*mdp`
/// receives the snapshot; the caller owns it: free it with `kc_metadata_free`.
///
/// Errors: the network errors described at `kc_client_t`: `KC_ERR__ALL_BROKERS_DOWN` (no
/// known broker and no bootstrap address could be connected), `KC_ERR__TRANSPORT` (the
/// connection was lost while the request was in flight), `KC_ERR__TIMED_OUT`,
/// `KC_ERR__DESTROY`, `KC_ERR__PROTOCOL`, `KC_ERR__FRAME_TOO_LARGE`,
/// `KC_ERR__UNSUPPORTED_FEATURE`; `KC_ERR__NULL_ARG` (`client`, `mdp`, `topics` with a
/// count, a topic name), `KC_ERR__INVALID_ARG` (a name that is not UTF-8),
/// `KC_ERR__PANIC`.
///
/// # Safety
/// `client` must be a live handle; `topics` NULL or `topic_cnt` NUL-terminated strings;
/// `mdp` valid.
#[no_mangle]
pub unsafe extern "C" fn kc_client_metadata(
    client: *mut kc_client_t,
    topics: *const *const c_char,
    topic_cnt: usize,
    timeout_ms: i32,
    mdp: *mut *mut kc_metadata_t,
) -> kc_err_t {
    // SAFETY: pointers checked inside; validity per the contract above.
    unsafe {
        with_client(client, |c| {
            if mdp.is_null() {
                return Err(null_arg("mdp"));
            }
            let names = if topics.is_null() {
                if topic_cnt != 0 {
                    return Err(null_arg("topics"));
                }
                None
            } else {
                let ptrs = array(topics, topic_cnt, "topics")?;
                let mut v = Vec::with_capacity(capacity(topic_cnt));
                for p in ptrs {
                    v.push(cstr(*p, "topics[i]")?.to_owned());
                }
                Some(v)
            };
            let md = c.metadata(names.as_deref(), millis(timeout_ms))?;
            let h = kc_metadata_t {
                hosts: md.brokers.iter().map(|b| cs(&b.host)).collect(),
                racks: md
                    .brokers
                    .iter()
                    .map(|b| b.rack.as_deref().map(cs))
                    .collect(),
                names: md.topics.iter().map(|t| cs(&t.name)).collect(),
                cluster_id: md.cluster_id.as_deref().map(cs),
                md,
            };
            write_out(mdp, Box::into_raw(Box::new(h)));
            Ok(())
        })
    }
}

/// Frees a metadata snapshot. NULL is a no-op; freeing twice is undefined behaviour. The
/// snapshot does not depend on its client: it may be freed after the client.
///
/// # Safety
/// `md` must be NULL or a live handle not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn kc_metadata_free(md: *mut kc_metadata_t) {
    boundary((), || {
        if !md.is_null() {
            // SAFETY: created by Box::into_raw in kc_client_metadata; freed once.
            drop(unsafe { Box::from_raw(md) });
        }
    })
}

/// Number of brokers (0 if `md` is NULL).
///
/// # Safety
/// `md` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_metadata_broker_count(md: *const kc_metadata_t) -> usize {
    // SAFETY: NULL or a live handle (contract above).
    boundary(0, || {
        unsafe { md.as_ref() }.map_or(0, |m| m.md.brokers.len())
    })
}

/// Number of topics (0 if `md` is NULL).
///
/// # Safety
/// `md` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_metadata_topic_count(md: *const kc_metadata_t) -> usize {
    // SAFETY: NULL or a live handle (contract above).
    boundary(0, || {
        unsafe { md.as_ref() }.map_or(0, |m| m.md.topics.len())
    })
}

/// The controller broker id, -1 if unknown or `md` is NULL.
///
/// # Safety
/// `md` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_metadata_controller_id(md: *const kc_metadata_t) -> i32 {
    // SAFETY: NULL or a live handle (contract above).
    boundary(-1, || {
        unsafe { md.as_ref() }.map_or(-1, |m| m.md.controller_id)
    })
}

/// The cluster id, or NULL if the broker did not send one. Valid until `kc_metadata_free`.
///
/// # Safety
/// `md` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn kc_metadata_cluster_id(md: *const kc_metadata_t) -> *const c_char {
    boundary(std::ptr::null(), || {
        // SAFETY: NULL or a live handle (contract above).
        unsafe { md.as_ref() }
            .and_then(|m| m.cluster_id.as_ref())
            .map_or(std::ptr::null(), |c| c.as_ptr())
    })
}

/// Fills `*out` with broker `i` (0 ≤ i < `kc_metadata_broker_count`).
///
/// Errors: `KC_ERR__NULL_ARG` (`md`, `out`), `KC_ERR__INVALID_ARG` (`i` out of range),
/// `KC_ERR__PANIC`.
///
/// # Safety
/// `md` must be a live handle and `out` valid.
#[no_mangle]
pub unsafe extern "C" fn kc_metadata_broker(
    md: *const kc_metadata_t,
    i: usize,
    out: *mut kc_broker_t,
) -> kc_err_t {
    // SAFETY: `md` is NULL or a live handle, `out` NULL or writable (contract above).
    unsafe {
        fill(md, "md", out, |m| {
            let b =
                m.md.brokers
                    .get(i)
                    .ok_or_else(|| index_err("broker", i, m.md.brokers.len()))?;
            let v = kc_broker_t {
                id: b.id,
                host: m.hosts[i].as_ptr(),
                port: b.port,
                rack: m.racks[i].as_ref().map_or(std::ptr::null(), |r| r.as_ptr()),
            };
            Ok(v)
        })
    }
}

/// Fills `*out` with topic `i` (0 ≤ i < `kc_metadata_topic_count`); topics are sorted by
/// name.
///
/// Errors: `KC_ERR__NULL_ARG` (`md`, `out`), `KC_ERR__INVALID_ARG` (`i` out of range),
/// `KC_ERR__PANIC`.
///
/// # Safety
/// `md` must be a live handle and `out` valid.
#[no_mangle]
pub unsafe extern "C" fn kc_metadata_topic(
    md: *const kc_metadata_t,
    i: usize,
    out: *mut kc_topic_t,
) -> kc_err_t {
    // SAFETY: `md` is NULL or a live handle, `out` NULL or writable (contract above).
    unsafe {
        fill(md, "md", out, |m| {
            let t =
                m.md.topics
                    .get(i)
                    .ok_or_else(|| index_err("topic", i, m.md.topics.len()))?;
            let v = kc_topic_t {
                name: m.names[i].as_ptr(),
                err: i32::from(t.error_code),
                partition_cnt: t.partitions.len(),
                is_internal: i32::from(t.is_internal),
            };
            Ok(v)
        })
    }
}

/// Fills `*out` with partition `j` of topic `i`; partitions are sorted by id.
///
/// Errors: `KC_ERR__NULL_ARG` (`md`, `out`), `KC_ERR__INVALID_ARG` (`i` or `j` out of
/// range), `KC_ERR__PANIC`.
///
/// # Safety
/// `md` must be a live handle and `out` valid.
#[no_mangle]
pub unsafe extern "C" fn kc_metadata_partition(
    md: *const kc_metadata_t,
    i: usize,
    j: usize,
    out: *mut kc_partition_t,
) -> kc_err_t {
    // SAFETY: `md` is NULL or a live handle, `out` NULL or writable (contract above).
    unsafe {
        fill(md, "md", out, |m| {
            let t =
                m.md.topics
                    .get(i)
                    .ok_or_else(|| index_err("topic", i, m.md.topics.len()))?;
            let p = t
                .partitions
                .get(j)
                .ok_or_else(|| index_err("partition", j, t.partitions.len()))?;
            let v = kc_partition_t {
                id: p.partition,
                err: i32::from(p.error_code),
                leader: p.leader,
                leader_epoch: p.leader_epoch,
                replicas: p.replicas.as_ptr(),
                replica_cnt: p.replicas.len(),
                isrs: p.isr.as_ptr(),
                isr_cnt: p.isr.len(),
            };
            Ok(v)
        })
    }
}
