//! The two clock reads the producer makes for every message, kept here with the rest of
//! the crate's `unsafe` code. [`crate::clock::WallClock`] builds on them.

/// The wall clock (`CLOCK_REALTIME`) in nanoseconds since the Unix epoch: one
/// `clock_gettime`, without the checks and the 128-bit arithmetic of
/// `SystemTime::now().duration_since(UNIX_EPOCH)` (about 28 ns against 38 here).
pub(crate) fn realtime_ns() -> i64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec for the duration of the call, and
    // CLOCK_REALTIME is supported on every system the crate builds for.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut t) };
    if rc != 0 {
        return 0;
    }
    // The fields are narrower than i64 on some 32-bit targets.
    #[allow(clippy::unnecessary_cast)]
    (t.tv_sec as i64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as i64)
}

/// The processor's time-stamp counter, where there is one (x86-64).
#[cfg(target_arch = "x86_64")]
pub(crate) fn tsc() -> Option<u64> {
    // SAFETY: RDTSC exists on every x86-64 processor and only reads a counter: it has no
    // preconditions and touches no memory.
    Some(unsafe { core::arch::x86_64::_rdtsc() })
}

/// The processor's time-stamp counter, where there is one (x86-64).
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn tsc() -> Option<u64> {
    None
}
