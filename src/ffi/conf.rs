//! `kc_conf_t`: configuration properties.

use super::errors::kc_err_t;
use super::util::{boundary, call, copy_out, cstr, null_arg, write_out};
use crate::config::Config;
use crate::error::{local, Error};
use std::ffi::c_char;

/// A set of configuration properties (librdkafka's names: `bootstrap.servers`,
/// `client.id`, `request.timeout.ms`, …).
///
/// Not thread-safe: use one `kc_conf_t` from one thread at a time.
pub struct kc_conf_t {
    pub(crate) inner: Config,
    /// The producer's callbacks (`kc_conf_set_dr_msg_cb`, …).
    pub(crate) callbacks: super::producer::Callbacks,
    /// The consumer's callbacks (`kc_conf_set_rebalance_cb`, …); the opaque is the
    /// one in `callbacks`.
    pub(crate) consumer_callbacks: super::consumer::Callbacks,
    /// The OAUTHBEARER token refresh callback (`kc_conf_set_oauthbearer_token_refresh_cb`).
    pub(crate) oauth_refresh: super::oauth_refresh::kc_oauthbearer_token_refresh_cb_t,
}

/// Creates an empty configuration.
/// The caller owns the result; free it with `kc_conf_free`. NULL only after an internal
/// error (`kc_last_error` then says `KC_ERR__PANIC`).
#[no_mangle]
pub extern "C" fn kc_conf_new() -> *mut kc_conf_t {
    boundary(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(kc_conf_t {
            inner: Config::new(),
            callbacks: Default::default(),
            consumer_callbacks: Default::default(),
            oauth_refresh: None,
        }))
    })
}

/// Copies a configuration.
/// The caller owns the result; free it with `kc_conf_free`. NULL if `conf` is NULL
/// (`kc_last_error` then says `KC_ERR__NULL_ARG`) or after an internal error
/// (`KC_ERR__PANIC`).
///
/// # Safety
/// `conf` must be NULL or a live handle from `kc_conf_new`/`kc_conf_dup`.
#[no_mangle]
pub unsafe extern "C" fn kc_conf_dup(conf: *const kc_conf_t) -> *mut kc_conf_t {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: NULL or a live handle (contract above).
        match unsafe { conf.as_ref() } {
            None => {
                super::util::set_last_error(&null_arg("conf"));
                std::ptr::null_mut()
            }
            Some(c) => Box::into_raw(Box::new(kc_conf_t {
                inner: c.inner.clone(),
                callbacks: c.callbacks,
                consumer_callbacks: c.consumer_callbacks,
                oauth_refresh: c.oauth_refresh,
            })),
        }
    })
}

/// Frees a configuration. NULL is a no-op; freeing twice is undefined behaviour.
///
/// # Safety
/// `conf` must be NULL or a live handle that is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn kc_conf_free(conf: *mut kc_conf_t) {
    boundary((), || {
        if !conf.is_null() {
            // SAFETY: a live handle created by Box::into_raw, freed once (contract above).
            drop(unsafe { Box::from_raw(conf) });
        }
    })
}

/// Sets property `name` to `value`. `name` and `value` are borrowed for the duration of
/// the call.
///
/// Errors: `KC_ERR__UNKNOWN_CONFIG` (no such property), `KC_ERR__INVALID_CONFIG` (a
/// value the property does not take; `kc_last_error` names both), `KC_ERR__NULL_ARG`
/// (`conf`, `name`, `value`), `KC_ERR__INVALID_ARG` (a string that is not UTF-8),
/// `KC_ERR__PANIC`.
///
/// # Safety
/// `conf` must be a live handle; `name` and `value` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn kc_conf_set(
    conf: *mut kc_conf_t,
    name: *const c_char,
    value: *const c_char,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live, exclusively used handle (contract above).
        let conf = unsafe { conf.as_mut() }.ok_or_else(|| null_arg("conf"))?;
        // SAFETY: NUL-terminated strings valid for the call (contract above).
        let (name, value) = unsafe { (cstr(name, "name")?, cstr(value, "value")?) };
        conf.inner.set(name, value)
    })
}

/// Reads property `name` (the value set, or its default) into `buf` as a NUL-terminated
/// string. `*lenp` is the size of `buf` on entry and the length of the value (without
/// the NUL) on return. If the value does not fit, nothing is written to `buf`, `*lenp`
/// says how long it is, and the result is `KC_ERR__BUFFER_TOO_SMALL` (the one failure
/// that writes an out-parameter).
///
/// Errors: `KC_ERR__BUFFER_TOO_SMALL` (above), `KC_ERR__UNKNOWN_CONFIG` (no such
/// property), `KC_ERR__NULL_ARG` (`conf`, `name`, `lenp`), `KC_ERR__INVALID_ARG` (a
/// name that is not UTF-8), `KC_ERR__PANIC`.
///
/// # Safety
/// `conf` must be a live handle, `name` a NUL-terminated string, `lenp` a valid pointer,
/// `buf` NULL or `*lenp` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn kc_conf_get(
    conf: *const kc_conf_t,
    name: *const c_char,
    buf: *mut c_char,
    lenp: *mut usize,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle (contract above).
        let conf = unsafe { conf.as_ref() }.ok_or_else(|| null_arg("conf"))?;
        // SAFETY: NUL-terminated string (contract above).
        let name = unsafe { cstr(name, "name")? };
        if lenp.is_null() {
            return Err(null_arg("lenp"));
        }
        let value = conf.inner.get(name).ok_or_else(|| {
            Error::new(
                local::UNKNOWN_CONFIG,
                format!("unknown configuration property '{name}'"),
            )
        })?;
        // SAFETY: `lenp` is non-NULL and valid (contract above).
        let cap = unsafe { *lenp };
        // SAFETY: as above.
        unsafe { write_out(lenp, value.len()) };
        if buf.is_null() || cap <= value.len() {
            return Err(Error::new(
                local::BUFFER_TOO_SMALL,
                format!(
                    "value of '{name}' needs {} bytes, the buffer has {cap}",
                    value.len() + 1
                ),
            ));
        }
        // SAFETY: `buf` has `cap` > value.len() writable bytes (contract above).
        unsafe { copy_out(&value, buf, cap) };
        Ok(())
    })
}
