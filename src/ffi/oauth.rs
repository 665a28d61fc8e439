//! OAUTHBEARER tokens supplied by the application (`sasl.mechanism=OAUTHBEARER` without
//! `enable.sasl.oauthbearer.unsecure.jwt`), for each handle type that connects.

use super::client::{kc_client_t, with_client};
use super::consumer::{kc_consumer_t, with_consumer};
use super::errors::kc_err_t;
use super::oauth_refresh::kc_oauthbearer_t;
use super::producer::{kc_producer_t, with_producer};
use super::util::{call, cstr, null_arg};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::net::{OAuthToken, TokenStore};
use std::ffi::c_char;

/// Reads the arguments of a `*_oauthbearer_set_token` call and stores the token.
///
/// # Safety
/// As `kc_client_oauthbearer_set_token`.
unsafe fn set_token(
    client: &Client,
    token_value: *const c_char,
    md_lifetime_ms: i64,
    md_principal_name: *const c_char,
    extensions: *const *const c_char,
    extension_size: usize,
) -> Result<()> {
    let store = client.cluster().oauth_tokens()?;
    // SAFETY: as this function's contract.
    unsafe {
        set_token_in(
            store,
            token_value,
            md_lifetime_ms,
            md_principal_name,
            extensions,
            extension_size,
        )
    }
}

/// `set_token` into a token store.
///
/// # Safety
/// As `kc_client_oauthbearer_set_token`.
unsafe fn set_token_in(
    store: &TokenStore,
    token_value: *const c_char,
    md_lifetime_ms: i64,
    md_principal_name: *const c_char,
    extensions: *const *const c_char,
    extension_size: usize,
) -> Result<()> {
    // SAFETY: NULL or a NUL-terminated string (contract of the public functions).
    let value = unsafe { cstr(token_value, "token_value") }?;
    // SAFETY: as above.
    let principal = unsafe { cstr(md_principal_name, "md_principal_name") }?;
    if !extension_size.is_multiple_of(2) {
        return Err(Error::invalid_arg(format!(
            "OAUTHBEARER token: extension_size {extension_size} is odd: extensions are \
             key, value pairs"
        )));
    }
    if extension_size > 0 && extensions.is_null() {
        return Err(Error::invalid_arg(format!(
            "OAUTHBEARER token: extensions is NULL with extension_size {extension_size}"
        )));
    }
    let mut exts = Vec::with_capacity(extension_size / 2);
    for i in (0..extension_size).step_by(2) {
        // SAFETY: `extensions` points to `extension_size` string pointers (contract).
        let (k, v) = unsafe { (*extensions.add(i), *extensions.add(i + 1)) };
        // SAFETY: each is NULL or a NUL-terminated string (contract).
        let k = unsafe { cstr(k, "extension key") }?;
        // SAFETY: as above.
        let v = unsafe { cstr(v, "extension value") }?;
        exts.push((k.to_owned(), v.to_owned()));
    }
    store.set(OAuthToken {
        value: value.to_owned(),
        lifetime_ms: md_lifetime_ms,
        principal: principal.to_owned(),
        extensions: exts,
    })
}

/// Reads the argument of a `*_oauthbearer_set_token_failure` call and records it.
///
/// # Safety
/// `errstr` must be NULL or a NUL-terminated string.
unsafe fn set_failure(client: &Client, errstr: *const c_char) -> Result<()> {
    let store = client.cluster().oauth_tokens()?;
    // SAFETY: as this function's contract.
    unsafe { set_failure_in(store, errstr) }
}

/// `set_failure` into a token store.
///
/// # Safety
/// `errstr` must be NULL or a NUL-terminated string.
unsafe fn set_failure_in(store: &TokenStore, errstr: *const c_char) -> Result<()> {
    // SAFETY: NULL or a NUL-terminated string (contract of the public functions).
    let why = unsafe { cstr(errstr, "errstr") }?;
    store.set_failure(why)
}

/// Sets the OAUTHBEARER token every connection of the client sends when it authenticates
/// or re-authenticates (KIP-368), replacing the previous one. For
/// `sasl.mechanism=OAUTHBEARER` without `enable.sasl.oauthbearer.unsecure.jwt`: until a
/// token is set, connections fail with `KC_ERR__AUTHENTICATION`. Connections already
/// authenticated keep their session; they send the new token when they re-authenticate
/// (the broker's `connections.max.reauth.ms`, at most the token's lifetime). Set a new
/// token before the current one expires (librdkafka refreshes at 80% of the lifetime):
/// a token refresh callback (`kc_conf_set_oauthbearer_token_refresh_cb`) is called
/// again then.
///
/// `token_value`: the token (an RFC 6750 b64token, e.g. a JWT). `md_lifetime_ms`: when it
/// expires, in milliseconds since the Unix epoch (in the future). `md_principal_name`:
/// the principal it names (non-empty; used in error messages). `extensions`: NULL or
/// `extension_size` strings, key, value, key, value... (RFC 7628 SASL extensions: keys
/// are ASCII letters, not `auth`; values printable ASCII, space, tab, CR, LF);
/// `extension_size` must be even. Every string is copied: the caller keeps ownership.
///
/// Thread-safe: may be called from any thread, including from callbacks.
///
/// Errors: `KC_ERR__INVALID_ARG` (empty or malformed token, lifetime not in the future,
/// empty principal, odd `extension_size`, invalid extension; the message says which),
/// `KC_ERR__NULL_ARG`, `KC_ERR__STATE` (`sasl.mechanism` is not OAUTHBEARER, or the token
/// is the unsecured JWT made from `sasl.oauthbearer.config`), `KC_ERR__DESTROY`,
/// `KC_ERR__PANIC`. Message: `kc_last_error`.
///
/// # Safety
/// `client` must be a live handle; the strings NULL or NUL-terminated; `extensions`
/// NULL or pointing to `extension_size` string pointers.
#[no_mangle]
pub unsafe extern "C" fn kc_client_oauthbearer_set_token(
    client: *const kc_client_t,
    token_value: *const c_char,
    md_lifetime_ms: i64,
    md_principal_name: *const c_char,
    extensions: *const *const c_char,
    extension_size: usize,
) -> kc_err_t {
    // SAFETY: NULL or a live handle; the arguments as the contract above says.
    unsafe {
        with_client(client, |c| {
            set_token(
                c,
                token_value,
                md_lifetime_ms,
                md_principal_name,
                extensions,
                extension_size,
            )
        })
    }
}

/// Records that the application could not get an OAUTHBEARER token: connections that
/// authenticate until a token is set fail with `KC_ERR__AUTHENTICATION` and a message
/// containing `errstr` (copied; the caller keeps it), except that a token set before
/// and not expired yet is still sent until it expires (as librdkafka does). A token
/// refresh callback (`kc_conf_set_oauthbearer_token_refresh_cb`) is called again 10 s
/// later. Thread-safe.
///
/// Errors: `KC_ERR__INVALID_ARG` (empty `errstr`), `KC_ERR__NULL_ARG`, `KC_ERR__STATE`
/// (as `kc_client_oauthbearer_set_token`), `KC_ERR__DESTROY`, `KC_ERR__PANIC`.
///
/// # Safety
/// `client` must be a live handle and `errstr` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn kc_client_oauthbearer_set_token_failure(
    client: *const kc_client_t,
    errstr: *const c_char,
) -> kc_err_t {
    // SAFETY: NULL or a live handle and string (contract above).
    unsafe { with_client(client, |c| set_failure(c, errstr)) }
}

/// `kc_client_oauthbearer_set_token` for a producer: its connections (all of them, the
/// transaction coordinator's too) use the token. Same arguments, ownership, thread
/// safety and errors.
///
/// # Safety
/// As `kc_client_oauthbearer_set_token`, with a live producer.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_oauthbearer_set_token(
    producer: *const kc_producer_t,
    token_value: *const c_char,
    md_lifetime_ms: i64,
    md_principal_name: *const c_char,
    extensions: *const *const c_char,
    extension_size: usize,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle; the arguments as the contract says.
        unsafe {
            with_producer(producer, |h| {
                set_token(
                    h.producer.client(),
                    token_value,
                    md_lifetime_ms,
                    md_principal_name,
                    extensions,
                    extension_size,
                )
            })
        }
    })
}

/// `kc_client_oauthbearer_set_token_failure` for a producer.
///
/// # Safety
/// As `kc_client_oauthbearer_set_token_failure`, with a live producer.
#[no_mangle]
pub unsafe extern "C" fn kc_producer_oauthbearer_set_token_failure(
    producer: *const kc_producer_t,
    errstr: *const c_char,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle and string (contract).
        unsafe { with_producer(producer, |h| set_failure(h.producer.client(), errstr)) }
    })
}

/// `kc_client_oauthbearer_set_token` for a consumer: its connections (group coordinator
/// and fetch connections) use the token. Same arguments, ownership, thread safety and
/// errors.
///
/// # Safety
/// As `kc_client_oauthbearer_set_token`, with a live consumer.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_oauthbearer_set_token(
    consumer: *const kc_consumer_t,
    token_value: *const c_char,
    md_lifetime_ms: i64,
    md_principal_name: *const c_char,
    extensions: *const *const c_char,
    extension_size: usize,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle; the arguments as the contract says.
        unsafe {
            with_consumer(consumer, |h| {
                set_token(
                    h.consumer.client(),
                    token_value,
                    md_lifetime_ms,
                    md_principal_name,
                    extensions,
                    extension_size,
                )
            })
        }
    })
}

/// `kc_client_oauthbearer_set_token_failure` for a consumer.
///
/// # Safety
/// As `kc_client_oauthbearer_set_token_failure`, with a live consumer.
#[no_mangle]
pub unsafe extern "C" fn kc_consumer_oauthbearer_set_token_failure(
    consumer: *const kc_consumer_t,
    errstr: *const c_char,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle and string (contract).
        unsafe { with_consumer(consumer, |h| set_failure(h.consumer.client(), errstr)) }
    })
}

/// `kc_client_oauthbearer_set_token` for the token refresh callback: sets the token of
/// the handle whose callback received `ob` (see `kc_oauthbearer_token_refresh_cb_t`),
/// and schedules the next call of the callback at 80 % of the token's remaining
/// lifetime. May be called from the callback or later, from any thread, until that
/// handle is freed. Same arguments and ownership (every string is copied).
///
/// Errors: `KC_ERR__INVALID_ARG` (as `kc_client_oauthbearer_set_token`: empty or
/// malformed token, lifetime not in the future, empty principal, odd `extension_size`,
/// invalid extension; the message says which; the token set before, if any, stays),
/// `KC_ERR__NULL_ARG` (`ob`, `token_value`, `md_principal_name`), `KC_ERR__PANIC`.
/// Message: `kc_last_error`.
///
/// # Safety
/// `ob` must be NULL or a pointer a refresh callback received, whose handle is not
/// freed; the strings NULL or NUL-terminated; `extensions` NULL or pointing to
/// `extension_size` string pointers.
#[no_mangle]
pub unsafe extern "C" fn kc_oauthbearer_set_token(
    ob: *mut kc_oauthbearer_t,
    token_value: *const c_char,
    md_lifetime_ms: i64,
    md_principal_name: *const c_char,
    extensions: *const *const c_char,
    extension_size: usize,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live token target (contract above).
        let ob = unsafe { ob.as_ref() }.ok_or_else(|| null_arg("ob"))?;
        // SAFETY: the arguments as the contract above says.
        unsafe {
            set_token_in(
                &ob.store,
                token_value,
                md_lifetime_ms,
                md_principal_name,
                extensions,
                extension_size,
            )
        }
    })
}

/// `kc_client_oauthbearer_set_token_failure` for the token refresh callback: the
/// callback will be called again 10 s later. Thread-safe; valid until the handle whose
/// callback received `ob` is freed.
///
/// Errors: `KC_ERR__INVALID_ARG` (empty `errstr`), `KC_ERR__NULL_ARG` (`ob`, `errstr`),
/// `KC_ERR__PANIC`.
///
/// # Safety
/// `ob` must be NULL or a pointer a refresh callback received, whose handle is not
/// freed; `errstr` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn kc_oauthbearer_set_token_failure(
    ob: *mut kc_oauthbearer_t,
    errstr: *const c_char,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live token target (contract above).
        let ob = unsafe { ob.as_ref() }.ok_or_else(|| null_arg("ob"))?;
        // SAFETY: NULL or a NUL-terminated string (contract above).
        unsafe { set_failure_in(&ob.store, errstr) }
    })
}
