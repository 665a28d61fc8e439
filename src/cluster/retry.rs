//! Exponential backoff between retries.

use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set when a client is being closed: waits between retries end at once.
#[derive(Default)]
pub struct Closing {
    closed: Mutex<bool>,
    cv: Condvar,
}

impl Closing {
    pub fn close(&self) {
        *self.closed.lock() = true;
        self.cv.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        *self.closed.lock()
    }

    /// Sleeps until `until`; false (at once) if the client is or gets closed.
    pub fn sleep_until(&self, until: Instant) -> bool {
        let mut g = self.closed.lock();
        while !*g {
            if self.cv.wait_until(&mut g, until).timed_out() {
                return !*g;
            }
        }
        false
    }
}

/// No attempt is begun with less than this left before the deadline: on a busy machine
/// it could only end in TIMED_OUT, where the error of the attempt before (no broker
/// reachable, a connection lost) says what went wrong.
pub const LEAST_ATTEMPT: Duration = Duration::from_millis(100);

/// Doubles from `initial` up to `max`, with up to 20% downward jitter so clients that
/// failed together do not retry in lockstep.
pub struct Backoff {
    next: Duration,
    max: Duration,
    seed: u64,
    closing: Option<Arc<Closing>>,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(1)
            | 1;
        Backoff {
            next: initial,
            max: max.max(initial),
            seed,
            closing: None,
        }
    }

    /// A back-off whose waits end when `closing` is set.
    pub fn until_closed(mut self, closing: &Arc<Closing>) -> Self {
        self.closing = Some(closing.clone());
        self
    }

    /// Sleeps the next delay and returns true, or returns false at once when the delay
    /// would end less than [`LEAST_ATTEMPT`] before `deadline` (the caller gives up), or
    /// when the client is closed, or when the sleep ended too late.
    pub fn sleep_before(&mut self, deadline: Instant) -> bool {
        let wait = self.next_delay();
        let until = Instant::now() + wait;
        if until + LEAST_ATTEMPT >= deadline {
            return false;
        }
        let slept = match &self.closing {
            Some(c) => c.sleep_until(until),
            None => {
                std::thread::sleep(wait);
                true
            }
        };
        // A sleep may end late on a busy machine: the rule holds for when it ended.
        slept && Instant::now() + LEAST_ATTEMPT < deadline
    }

    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let jitter_pct = self.seed % 21; // 0..=20
        base - base * jitter_pct as u32 / 100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let d: Vec<u128> = (0..6).map(|_| b.next_delay().as_millis()).collect();
        assert!((80..=100).contains(&d[0]), "{d:?}");
        assert!((160..=200).contains(&d[1]), "{d:?}");
        assert!((320..=400).contains(&d[2]), "{d:?}");
        assert!(
            (800..=1000).contains(&d[4]) && (800..=1000).contains(&d[5]),
            "{d:?}"
        );
    }
}
