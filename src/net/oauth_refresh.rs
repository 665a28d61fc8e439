//! When the application's OAUTHBEARER token refresh callback is due, with librdkafka's
//! rules: at once when the client starts, at 80 % of a token's remaining lifetime once
//! one is set, and 10 s after a failure was reported (or after a call that set neither a
//! token nor a failure). Whoever serves the callback (the application's poll, or a
//! background thread) asks [`RefreshSchedule::take_due`] or waits in
//! [`RefreshSchedule::wait_due`]; the token store reschedules when a token or a failure
//! is set.

use parking_lot::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long after a failure (or a call that set nothing) the callback is called again.
pub const REFRESH_RETRY: Duration = Duration::from_secs(10);

/// The share of a token's remaining lifetime after which it is refreshed, in percent.
const REFRESH_AT_PERCENT: u64 = 80;

#[derive(Default)]
struct State {
    /// A refresh callback is registered: calls are scheduled.
    enabled: bool,
    /// When the next call is due.
    due: Option<Instant>,
    /// No more calls: the client is being freed.
    stopped: bool,
    /// Calls handed out so far.
    calls: u64,
}

/// The refresh callback's schedule (see the module docs).
#[derive(Default)]
pub struct RefreshSchedule {
    state: Mutex<State>,
    changed: Condvar,
}

impl RefreshSchedule {
    /// A refresh callback is registered: the first call is due now.
    pub fn enable(&self) {
        let mut s = self.state.lock();
        s.enabled = true;
        s.due = Some(Instant::now());
        self.changed.notify_all();
    }

    pub fn is_enabled(&self) -> bool {
        self.state.lock().enabled
    }

    /// A token living until `lifetime_ms` (ms since the Unix epoch, now `now_ms`) was
    /// set: the next call is due at 80 % of its remaining lifetime.
    pub fn token_set(&self, lifetime_ms: i64, now_ms: i64) {
        let left = lifetime_ms.saturating_sub(now_ms).max(0) as u64;
        self.reschedule(Duration::from_millis(left * REFRESH_AT_PERCENT / 100));
    }

    /// The application reported that it has no token: the next call is due in 10 s.
    pub fn failed(&self) {
        self.reschedule(REFRESH_RETRY);
    }

    fn reschedule(&self, after: Duration) {
        let mut s = self.state.lock();
        if s.enabled {
            s.due = Some(Instant::now() + after);
            self.changed.notify_all();
        }
    }

    /// How long until the next call is due (zero when it is due now); `None` when no
    /// call is scheduled.
    pub fn due_in(&self) -> Option<Duration> {
        let s = self.state.lock();
        if !s.enabled || s.stopped {
            return None;
        }
        s.due.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether a call is due now; if so the caller makes it, and the next one is
    /// scheduled 10 s later unless the call sets a token or a failure (so concurrent
    /// pollers call it once, and a callback that sets nothing is called again).
    pub fn take_due(&self) -> bool {
        let mut s = self.state.lock();
        Self::take(&mut s)
    }

    fn take(s: &mut State) -> bool {
        let now = Instant::now();
        if !s.enabled || s.stopped || s.due.is_none_or(|d| d > now) {
            return false;
        }
        s.due = Some(now + REFRESH_RETRY);
        s.calls += 1;
        true
    }

    /// Waits until a call is due and takes it (true), or until [`Self::stop`] (false).
    pub fn wait_due(&self) -> bool {
        let mut s = self.state.lock();
        loop {
            if s.stopped {
                return false;
            }
            if Self::take(&mut s) {
                return true;
            }
            match s.due.filter(|_| s.enabled) {
                Some(d) => {
                    self.changed.wait_until(&mut s, d);
                }
                None => self.changed.wait(&mut s),
            }
        }
    }

    /// No more calls; wakes [`Self::wait_due`].
    pub fn stop(&self) {
        self.state.lock().stopped = true;
        self.changed.notify_all();
    }

    /// Calls handed out so far.
    pub fn calls(&self) -> u64 {
        self.state.lock().calls
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn nothing_is_due_until_enabled() {
        let s = RefreshSchedule::default();
        assert!(!s.take_due());
        assert_eq!(s.due_in(), None);
        s.token_set(i64::MAX, 0);
        assert!(!s.take_due());
    }

    #[test]
    fn due_at_start_then_at_80_percent_then_10_s_after_a_failure() {
        let s = RefreshSchedule::default();
        s.enable();
        assert_eq!(s.due_in(), Some(Duration::ZERO));
        assert!(s.take_due());
        // Taken once: the next is the retry, 10 s later.
        assert!(!s.take_due());
        let d = s.due_in().unwrap();
        assert!(d > Duration::from_secs(9) && d <= REFRESH_RETRY, "{d:?}");
        // A token living 100 s more: due in 80 s.
        s.token_set(1_100_000, 1_000_000);
        let d = s.due_in().unwrap();
        assert!(
            d > Duration::from_secs(79) && d <= Duration::from_secs(80),
            "{d:?}"
        );
        s.failed();
        let d = s.due_in().unwrap();
        assert!(d > Duration::from_secs(9) && d <= REFRESH_RETRY, "{d:?}");
        // An expired lifetime is due at once.
        s.token_set(5, 10);
        assert!(s.take_due());
        assert_eq!(s.calls(), 2);
    }

    #[test]
    fn a_waiter_wakes_when_due_and_when_stopped() {
        let s = Arc::new(RefreshSchedule::default());
        s.enable();
        assert!(s.wait_due());
        s.token_set(200, 0); // due in 160 ms
        let t = Instant::now();
        assert!(s.wait_due());
        assert!(
            t.elapsed() >= Duration::from_millis(150),
            "{:?}",
            t.elapsed()
        );
        let s2 = s.clone();
        let waiter = std::thread::spawn(move || s2.wait_due());
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        s.stop();
        assert!(!waiter.join().unwrap());
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(!s.take_due());
        assert_eq!(s.due_in(), None);
    }
}
