//! The OAUTHBEARER token refresh callback (librdkafka's
//! `rd_kafka_conf_set_oauthbearer_token_refresh_cb`), served inside the handle's poll or
//! on a background thread (`rd_kafka_sasl_background_callbacks_enable`).

use super::conf::kc_conf_t;
use super::errors::kc_err_t;
use super::producer::CbOpaque;
use super::util::{call, null_arg};
use crate::client::Client;
use crate::error::{local, Error, Result};
use crate::net::TokenStore;
use parking_lot::{Condvar, Mutex};
use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where the token refresh callback puts the token it got: pass it to
/// `kc_oauthbearer_set_token` or `kc_oauthbearer_set_token_failure`. Owned by the
/// client, producer or consumer whose callback received it: valid until that handle is
/// freed. Thread-safe.
pub struct kc_oauthbearer_t {
    pub(super) store: Arc<TokenStore>,
}

/// The OAUTHBEARER token refresh callback: get a token (from an identity provider, a
/// file, ...) and hand it over with `kc_oauthbearer_set_token(ob, ...)`, or say why
/// there is none with `kc_oauthbearer_set_token_failure(ob, ...)`. `ob` is valid until
/// the handle is freed. `oauthbearer_config` is the value of `sasl.oauthbearer.config`
/// ("" when it is not set; never NULL), valid during the call only. `cb_opaque` is the
/// one set with `kc_conf_set_opaque`.
///
/// When it is called (librdkafka's rules): when the handle starts (a first token is
/// needed before any connection can authenticate), again at 80 % of the lifetime of the
/// token it set, and 10 s after it reported a failure or returned having set neither a
/// token nor a failure. A token may also be set later, from any thread, with
/// `kc_oauthbearer_set_token` on the same `ob` or the handle's
/// `kc_*_oauthbearer_set_token`; each token set reschedules the next call.
///
/// Where it runs: on the application's thread, inside `kc_producer_poll`,
/// `kc_producer_flush`, `kc_consumer_poll`, `kc_consumer_poll_batch` and
/// `kc_client_event_poll` (a low-level client that does not call `kc_client_event_poll`
/// regularly should enable background callbacks instead); or, after
/// `kc_*_sasl_background_callbacks_enable`, only on the handle's background thread. It
/// never runs on two threads at once. It must not free the handle. Connections that need
/// a token before one is set fail with `KC_ERR__AUTHENTICATION` and are retried after
/// their reconnect back-off; messages wait (within `message.timeout.ms`).
pub type kc_oauthbearer_token_refresh_cb_t = Option<
    unsafe extern "C" fn(
        ob: *mut kc_oauthbearer_t,
        oauthbearer_config: *const c_char,
        cb_opaque: *mut c_void,
    ),
>;

/// How long a waiting poll sleeps at most before it looks again whether the refresh
/// callback is due (a token or failure set from another thread moves the time).
const POLL_SLICE: Duration = Duration::from_secs(1);

/// How long freeing a handle waits for a refresh callback running on the background
/// thread to return.
const JOIN_BOUND: Duration = Duration::from_secs(10);

/// The background thread and its "finished" flag.
struct Background {
    thread: JoinHandle<()>,
    done: Arc<(Mutex<bool>, Condvar)>,
}

/// A handle's token refresh callback and who serves it.
pub(crate) struct Refresher {
    target: kc_oauthbearer_t,
    cb: unsafe extern "C" fn(*mut kc_oauthbearer_t, *const c_char, *mut c_void),
    config: CString,
    opaque: CbOpaque,
    /// Served by the background thread (never by polls).
    in_background: AtomicBool,
    background: Mutex<Option<Background>>,
}

/// Refuses a configuration whose refresh callback cannot be used (librdkafka refuses
/// the same): with `enable.sasl.oauthbearer.unsecure.jwt=true` the token is made from
/// `sasl.oauthbearer.config`.
pub(crate) fn check_conf(conf: &kc_conf_t) -> Result<()> {
    if conf.oauth_refresh.is_some() && conf.inner.flag("enable.sasl.oauthbearer.unsecure.jwt") {
        return Err(Error::new(
            local::INVALID_CONFIG,
            "enable.sasl.oauthbearer.unsecure.jwt=true and an OAUTHBEARER token refresh \
             callback (kc_conf_set_oauthbearer_token_refresh_cb) are mutually exclusive: \
             the unsecured JWT is made from sasl.oauthbearer.config, so there is no token \
             to refresh; set one or the other",
        ));
    }
    Ok(())
}

impl Refresher {
    /// The refresher of a new handle whose client is `client`: none without a callback,
    /// or when the client does not authenticate with OAUTHBEARER (the callback is then
    /// never called, as in librdkafka). The first call is due at once.
    pub(crate) fn attach(conf: &kc_conf_t, client: &Client) -> Option<Arc<Refresher>> {
        let cb = conf.oauth_refresh?;
        let store = client.cluster().oauth_tokens().ok()?.clone();
        let config = conf
            .inner
            .get_raw("sasl.oauthbearer.config")
            .unwrap_or_default()
            .replace('\0', " ");
        store.refresh().enable();
        Some(Arc::new(Refresher {
            target: kc_oauthbearer_t { store },
            cb,
            config: CString::new(config).unwrap_or_default(),
            opaque: conf.callbacks.opaque,
            in_background: AtomicBool::new(false),
            background: Mutex::new(None),
        }))
    }

    fn call(&self) {
        let ob = std::ptr::from_ref(&self.target).cast_mut();
        // SAFETY: the application's callback, with a token target that lives as long as
        // this refresher (which the caller holds) and a NUL-terminated string valid for
        // the call.
        unsafe { (self.cb)(ob, self.config.as_ptr(), self.opaque.get()) };
    }

    /// For a poll: runs the callback if it is due and not served by the background
    /// thread. Returns whether it ran.
    pub(crate) fn serve_due(&self) -> bool {
        if self.in_background.load(Ordering::Acquire) || !self.target.store.refresh().take_due() {
            return false;
        }
        self.call();
        true
    }

    /// For a poll that waits: how long it may wait before serving the callback again
    /// (`None` when the background thread serves it).
    pub(crate) fn wait_slice(&self) -> Option<Duration> {
        if self.in_background.load(Ordering::Acquire) {
            return None;
        }
        Some(
            self.target
                .store
                .refresh()
                .due_in()
                .unwrap_or(POLL_SLICE)
                .min(POLL_SLICE),
        )
    }

    /// Runs `wait(slice)` in slices until it returns `true` or `timeout` passes,
    /// serving the callback when due (before each slice and at the end). Without a
    /// callback to serve, `wait(timeout)` once.
    pub(crate) fn serving_while(
        me: Option<&Arc<Refresher>>,
        timeout: Duration,
        mut wait: impl FnMut(Duration) -> bool,
    ) {
        let Some(r) = me.filter(|r| !r.in_background.load(Ordering::Acquire)) else {
            wait(timeout);
            return;
        };
        let deadline = Instant::now() + timeout;
        loop {
            r.serve_due();
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = left.min(r.wait_slice().unwrap_or(left));
            let done = wait(slice);
            if done || Instant::now() >= deadline {
                r.serve_due();
                return;
            }
        }
    }

    /// Starts the background thread that serves the callback from now on (polls no
    /// longer do). A second call does nothing.
    pub(crate) fn enable_background(self: &Arc<Self>) -> Result<()> {
        let mut bg = self.background.lock();
        if bg.is_some() {
            return Ok(());
        }
        self.in_background.store(true, Ordering::Release);
        let me = self.clone();
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let finished = done.clone();
        let spawned = std::thread::Builder::new()
            .name("kc-oauth-refresh".into())
            .spawn(move || {
                while me.target.store.refresh().wait_due() {
                    me.call();
                }
                *finished.0.lock() = true;
                finished.1.notify_all();
            });
        match spawned {
            Ok(thread) => {
                *bg = Some(Background { thread, done });
                Ok(())
            }
            Err(e) => {
                self.in_background.store(false, Ordering::Release);
                Err(Error::new(
                    local::FAIL,
                    format!("the SASL callback thread could not be started: {e}"),
                ))
            }
        }
    }

    /// No more calls. The background thread, if any, is woken and joined; a callback
    /// running on it is waited for up to 10 s, after which the thread is left to end on
    /// its own (it calls nothing more).
    pub(crate) fn stop(&self) {
        self.target.store.refresh().stop();
        let Some(bg) = self.background.lock().take() else {
            return;
        };
        // Freed from the callback itself (documented as not allowed): nothing to wait for.
        if bg.thread.thread().id() == std::thread::current().id() {
            return;
        }
        let (lock, cv) = &*bg.done;
        let mut finished = lock.lock();
        let until = Instant::now() + JOIN_BOUND;
        while !*finished && !cv.wait_until(&mut finished, until).timed_out() {}
        if *finished {
            drop(finished);
            let _ = bg.thread.join();
        }
    }
}

/// Sets the OAUTHBEARER token refresh callback (see `kc_oauthbearer_token_refresh_cb_t`)
/// of the handles made from `conf`; NULL removes it. For `sasl.mechanism=OAUTHBEARER`
/// without `enable.sasl.oauthbearer.unsecure.jwt` (with it, creating a handle fails with
/// `KC_ERR__INVALID_CONFIG`: they are mutually exclusive); for another mechanism the
/// callback is never called. The callback gets the `cb_opaque` of `kc_conf_set_opaque`.
///
/// Errors: `KC_ERR__NULL_ARG` (`conf`), `KC_ERR__PANIC`.
///
/// # Safety
/// `conf` must be a live handle not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn kc_conf_set_oauthbearer_token_refresh_cb(
    conf: *mut kc_conf_t,
    cb: kc_oauthbearer_token_refresh_cb_t,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live, exclusively used handle (contract above).
        let conf = unsafe { conf.as_mut() }.ok_or_else(|| null_arg("conf"))?;
        conf.oauth_refresh = cb;
        Ok(())
    })
}

/// Starts the background thread of a handle's SASL callbacks, as
/// `rd_kafka_sasl_background_callbacks_enable` does.
pub(crate) fn enable_background(refresher: Option<&Arc<Refresher>>) -> Result<()> {
    match refresher {
        Some(r) => r.enable_background(),
        None => Err(Error::new(
            local::STATE,
            "no SASL callback to run in the background: the handle has no OAUTHBEARER \
             token refresh callback (kc_conf_set_oauthbearer_token_refresh_cb, with \
             security.protocol sasl_plaintext or sasl_ssl and sasl.mechanism=OAUTHBEARER)",
        )),
    }
}
