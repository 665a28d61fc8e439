//! The wall clock in milliseconds, read once for every message the producer stamps.
//!
//! A `clock_gettime` costs about 28 ns on a virtual machine; at millions of messages a
//! second that is a sixth of the producer's cost per message. Where the kernel itself
//! keeps time with the processor's time-stamp counter (its clock source is `tsc`, which
//! it only chooses when the counter is constant-rate and synchronised across cores),
//! [`WallClock`] reads the counter instead (about 10 ns) and converts it with a rate it
//! measured against the system clock:
//!
//! - each reading is extrapolated from an anchor (a counter value and the system time
//!   read with it) no older than [`ANCHOR_NS`] of counter time, so a step of the system
//!   clock (NTP, the administrator) shows within that;
//! - the rate comes from two anchors at least [`CALIBRATE_NS`] apart, and is measured
//!   again from time to time; until it is known every reading is a system clock read;
//! - a counter that goes backwards (or jumps) is not trusted: the system clock is read;
//! - an anchor is a system clock read with the counter read just before and just after
//!   it; a pair the thread was interrupted in the middle of is not taken.
//!
//! The rate is measured between anchors at least [`CALIBRATE_NS`] apart whose halves are
//! at most [`PAIR_TICKS`] apart, so it is within 0.4%, and an extrapolated reading (at
//! most [`ANCHOR_NS`] past its anchor) is off by a few microseconds at worst: far below
//! the millisecond that is kept.

use crate::ffi::sys;
use std::sync::OnceLock;

/// How long (in counter time) a reading may be extrapolated from its anchor.
pub const ANCHOR_NS: u64 = 1_000_000;

/// The shortest span between two anchors that the counter's rate is measured over.
pub const CALIBRATE_NS: i64 = 20_000_000;

/// How often the rate is measured again, from the anchor kept as the calibration base.
const RECALIBRATE_NS: i64 = 1_000_000_000;

/// The most counter ticks between the two counter reads around a system clock read for
/// the pair to be an anchor: about 40 µs at 3 GHz (the reads take about 50 ns), so a
/// rate measured over [`CALIBRATE_NS`] from such pairs is within 0.4%.
pub const PAIR_TICKS: u64 = 1 << 17;

/// Whether the kernel keeps time with the time-stamp counter (read once per process).
fn counter_trusted() -> bool {
    static TRUSTED: OnceLock<bool> = OnceLock::new();
    *TRUSTED.get_or_init(|| {
        sys::tsc().is_some()
            && std::fs::read_to_string(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            )
            .is_ok_and(|s| s.trim() == "tsc")
    })
}

/// The wall clock in milliseconds since the Unix epoch, cheap to read often (see the
/// module). Not shared between threads: each owner keeps its own anchors.
#[derive(Debug, Clone)]
pub struct WallClock {
    /// Whether the counter may be used at all.
    use_counter: bool,
    /// The last anchor: a counter value and the system time (ns) read with it.
    anchor_tsc: u64,
    anchor_ns: i64,
    /// The base the rate is measured from.
    base_tsc: u64,
    base_ns: i64,
    /// Nanoseconds per counter tick in 32.32 fixed point; 0 while not measured yet.
    ns_per_tick: u64,
    /// Counter ticks in [`ANCHOR_NS`] (0 while the rate is not known).
    anchor_ticks: u64,
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock::new()
    }
}

impl WallClock {
    pub fn new() -> WallClock {
        Self::with_counter(counter_trusted())
    }

    /// A clock that uses the counter only if `use_counter` (and there is one).
    pub fn with_counter(use_counter: bool) -> WallClock {
        WallClock {
            use_counter: use_counter && sys::tsc().is_some(),
            anchor_tsc: 0,
            anchor_ns: 0,
            base_tsc: 0,
            base_ns: 0,
            ns_per_tick: 0,
            anchor_ticks: 0,
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&mut self) -> i64 {
        self.now_ns().div_euclid(1_000_000)
    }

    /// Nanoseconds since the Unix epoch (with the precision described in the module).
    pub fn now_ns(&mut self) -> i64 {
        if !self.use_counter {
            return sys::realtime_ns();
        }
        let Some(t) = sys::tsc() else {
            return sys::realtime_ns();
        };
        let d = t.wrapping_sub(self.anchor_tsc);
        if d < self.anchor_ticks {
            // `d` is under ANCHOR_NS worth of ticks: the result is under ANCHOR_NS.
            let ns = (u128::from(d) * u128::from(self.ns_per_tick)) >> 32;
            return self.anchor_ns.saturating_add(ns as i64);
        }
        self.reanchor()
    }

    /// Reads the system clock, makes it the anchor, and measures the rate when the base
    /// is far enough behind.
    fn reanchor(&mut self) -> i64 {
        // The counter is read on both sides of the system clock: a pair the thread was
        // interrupted in the middle of is not taken as an anchor (its two halves would
        // not be the same instant, and a rate measured from it would be off).
        let (Some(t1), ns, Some(t2)) = (sys::tsc(), sys::realtime_ns(), sys::tsc()) else {
            return sys::realtime_ns();
        };
        if t2 < t1 || t2 - t1 > PAIR_TICKS {
            return ns;
        }
        let t = t1 + (t2 - t1) / 2;
        let since_base = ns.saturating_sub(self.base_ns);
        let ticks = t.wrapping_sub(self.base_tsc);
        let backwards = t < self.base_tsc || since_base < 0;
        if self.base_tsc == 0 || backwards {
            // First reading, or the counter or the clock went backwards: start over.
            self.base_tsc = t;
            self.base_ns = ns;
            self.ns_per_tick = 0;
            self.anchor_ticks = 0;
        } else if since_base >= CALIBRATE_NS
            && (self.ns_per_tick == 0 || since_base >= RECALIBRATE_NS)
        {
            let rate = ((since_base as u128) << 32) / u128::from(ticks.max(1));
            // A sane counter ticks once every 1/128 to 10 ns (128 GHz to 100 MHz).
            if (1u128 << 25..=10u128 << 32).contains(&rate) {
                self.ns_per_tick = rate as u64;
                self.anchor_ticks = ((u128::from(ANCHOR_NS) << 32) / rate) as u64;
            } else {
                self.ns_per_tick = 0;
                self.anchor_ticks = 0;
            }
            self.base_tsc = t;
            self.base_ns = ns;
        }
        self.anchor_tsc = t;
        self.anchor_ns = ns;
        ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    fn system_ms() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis() as i64
    }

    /// Readings with the counter stay within a millisecond of the system clock, before
    /// and after the rate is measured, and never go backwards by more than that.
    #[test]
    fn counter_readings_follow_the_system_clock() {
        for use_counter in [false, true] {
            let mut c = WallClock::with_counter(use_counter);
            let start = std::time::Instant::now();
            let mut last = 0;
            let mut n = 0u64;
            while start.elapsed() < Duration::from_millis(150) {
                let before = system_ms();
                let ms = c.now_ms();
                let after = system_ms();
                assert!(
                    before - 1 <= ms && ms <= after + 1,
                    "counter {use_counter}: {ms} outside [{before}, {after}]"
                );
                assert!(ms >= last - 1, "went back from {last} to {ms}");
                last = ms;
                n += 1;
                if n.is_multiple_of(1000) {
                    std::thread::sleep(Duration::from_micros(300));
                }
            }
            if use_counter && counter_trusted() {
                assert!(c.ns_per_tick > 0, "the rate was measured");
                assert!(c.anchor_ticks > 0);
            }
        }
    }

    /// A counter value behind the anchor (another core's, or a reset) is not
    /// extrapolated from: the reading is the system clock's.
    #[test]
    fn a_counter_behind_its_anchor_reads_the_system_clock() {
        let mut c = WallClock::with_counter(true);
        let _ = c.now_ns();
        std::thread::sleep(Duration::from_millis(25));
        let _ = c.now_ns();
        // An anchor in the future: every counter value is behind it.
        c.anchor_tsc = u64::MAX - 10;
        c.anchor_ns = 0;
        let ms = c.now_ms();
        let sys = system_ms();
        assert!((ms - sys).abs() <= 1, "{ms} vs {sys}");
    }
}
