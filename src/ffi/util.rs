//! Helpers shared by the exported functions: the panic boundary, pointer checks, the
//! last-error store, and the gate of handles shared between threads.

use super::errors::kc_err_t;
use crate::error::{local, Error};
use std::cell::RefCell;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

thread_local! {
    static LAST_ERROR: RefCell<(i32, String)> = const { RefCell::new((0, String::new())) };
}

/// Records the detail of a failure for `kc_last_error` on this thread.
pub(crate) fn set_last_error(e: &Error) {
    LAST_ERROR.with(|l| *l.borrow_mut() = (e.code, e.message.clone()));
}

pub(crate) fn clear_last_error() {
    LAST_ERROR.with(|l| {
        let mut l = l.borrow_mut();
        l.0 = 0;
        l.1.clear();
    });
}

pub(crate) fn last_error() -> (i32, String) {
    LAST_ERROR.with(|l| l.borrow().clone())
}

/// Runs `f`, turning a panic into a `KC_ERR__PANIC` error.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, Error> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Error::new(local::PANIC, format!("internal error: {msg}"))
    })
}

/// Runs `f`, turning a panic into `on_panic` and a `KC_ERR__PANIC` last error.
pub(crate) fn boundary<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch(f).unwrap_or_else(|e| {
        set_last_error(&e);
        on_panic
    })
}

/// Runs a fallible body inside the boundary: `Ok` gives `KC_OK` and clears the last
/// error; `Err` records it and returns its code.
pub(crate) fn call(f: impl FnOnce() -> Result<(), Error>) -> kc_err_t {
    boundary(local::PANIC, || match f() {
        Ok(()) => {
            clear_last_error();
            0
        }
        Err(e) => {
            set_last_error(&e);
            e.code
        }
    })
}

/// The error for an index past the end of a list of `n` items.
pub(crate) fn index_err(what: &str, i: usize, n: usize) -> Error {
    Error::invalid_arg(format!("{what} index {i} out of range (count {n})"))
}

pub(crate) fn null_arg(name: &str) -> Error {
    Error::new(local::NULL_ARG, format!("argument '{name}' is NULL"))
}

/// Borrows a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string that stays valid for `'a`.
pub(crate) unsafe fn cstr<'a>(p: *const c_char, name: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(null_arg(name));
    }
    // SAFETY: the caller promises a NUL-terminated string valid for 'a (header contract).
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    // Names (topics, properties) are ASCII: checked a word at a time, which costs less
    // than the general check on strings this short.
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes)
        .map_err(|_| Error::invalid_arg(format!("argument '{name}' is not valid UTF-8")))
}

/// Borrows a (pointer, length) byte buffer. NULL gives `None` (a null field); a
/// non-NULL pointer with length 0 is an empty field.
///
/// # Safety
/// When non-NULL, `p` must point to `len` readable bytes valid for `'a`.
pub(crate) unsafe fn buf<'a>(
    p: *const u8,
    len: usize,
    name: &str,
) -> Result<Option<&'a [u8]>, Error> {
    if p.is_null() {
        if len != 0 {
            return Err(Error::invalid_arg(format!(
                "argument '{name}' is NULL but its length is {len}"
            )));
        }
        return Ok(None);
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid_arg(format!(
            "argument '{name}' length {len} is too large"
        )));
    }
    // SAFETY: non-NULL, and the caller promises `len` readable bytes (header contract).
    Ok(Some(unsafe { std::slice::from_raw_parts(p, len) }))
}

/// Borrows an array argument of `cnt` elements. NULL is accepted only with `cnt` 0; a
/// count no array could have is refused instead of reaching `from_raw_parts`.
///
/// # Safety
/// When non-NULL, `p` must point to `cnt` readable elements valid for `'a`.
pub(crate) unsafe fn array<'a, T>(p: *const T, cnt: usize, name: &str) -> Result<&'a [T], Error> {
    if cnt == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null_arg(name));
    }
    if cnt > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(Error::invalid_arg(format!(
            "argument '{name}' count {cnt} is too large"
        )));
    }
    // SAFETY: non-NULL, the byte size fits in isize, and the caller promises `cnt`
    // readable elements (header contract).
    Ok(unsafe { std::slice::from_raw_parts(p, cnt) })
}

/// A capacity to reserve for `cnt` items that came from C: never more than a modest
/// amount up front, so a wrong count cannot abort the process on allocation.
pub(crate) fn capacity(cnt: usize) -> usize {
    cnt.min(4096)
}

/// Copies `s` into a caller buffer as a NUL-terminated string, truncating to fit, and
/// returns the length `s` needs (without the NUL).
///
/// # Safety
/// `out` must be NULL or point to `len` writable bytes.
pub(crate) unsafe fn copy_out(s: &str, out: *mut c_char, len: usize) -> usize {
    if !out.is_null() && len > 0 {
        let n = s.len().min(len - 1);
        // SAFETY: `out` has room for `len` bytes (caller contract), and n + 1 <= len.
        unsafe {
            std::ptr::copy_nonoverlapping(s.as_ptr(), out.cast::<u8>(), n);
            *out.add(n) = 0;
        }
    }
    s.len()
}

/// Writes an out-parameter after checking it.
///
/// # Safety
/// `p` must be NULL or valid for a write of `T`.
pub(crate) unsafe fn write_out<T>(p: *mut T, v: T) {
    if !p.is_null() {
        // SAFETY: non-NULL and valid for writes per the caller contract.
        unsafe { p.write(v) };
    }
}

/// The shape of every accessor that fills a caller's struct: borrows `handle` (NULL is
/// `KC_ERR__NULL_ARG` naming `handle_name`), checks `out`, and writes what `f` returns
/// to `out` only on success.
///
/// # Safety
/// `handle` must be NULL or a live handle; `out` NULL or valid for a write of `T`.
pub(crate) unsafe fn fill<H, T>(
    handle: *const H,
    handle_name: &str,
    out: *mut T,
    f: impl FnOnce(&H) -> Result<T, Error>,
) -> kc_err_t {
    call(|| {
        // SAFETY: NULL or a live handle (contract above).
        let h = unsafe { handle.as_ref() }.ok_or_else(|| null_arg(handle_name))?;
        if out.is_null() {
            return Err(null_arg("out"));
        }
        let v = f(h)?;
        // SAFETY: `out` is non-NULL and valid for writes (contract above).
        unsafe { write_out(out, v) };
        Ok(())
    })
}

/// Milliseconds from C into a Duration; negative means "wait forever" as in librdkafka,
/// capped to a year.
pub(crate) fn millis(ms: i32) -> std::time::Duration {
    if ms < 0 {
        std::time::Duration::from_secs(365 * 86_400)
    } else {
        std::time::Duration::from_millis(ms as u64)
    }
}

/// The calls inside a handle shared between threads, and whether it is being freed.
///
/// `_free` marks the handle closing, wakes the calls inside (the handle's own business),
/// and waits here until the last one has left, so that when `_free` returns no call on
/// the handle is still running, and the handle can be dropped: a call's last access to
/// the handle is the atomic operation by which it leaves. A call that enters once the
/// handle is closing is refused. (A call that starts after `_free` has returned is the
/// caller's use after free, as the headers say.)
pub(crate) struct Gate {
    /// The calls inside (the low bits) and [`CLOSING`]: one atomic word, so that a call
    /// enters and leaves with one atomic operation each, without a lock.
    state: AtomicUsize,
}

/// The bit of [`Gate::state`] set once the handle is closing.
const CLOSING: usize = 1 << (usize::BITS - 1);

/// A call counted inside a [`Gate`]; leaves it when dropped (also when the call panics).
pub(crate) struct Inside<'a>(&'a Gate);

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        // Release: what the call did to the handle happens before `wait_until_empty`
        // sees it gone. Nothing of the handle is touched after this.
        self.0.state.fetch_sub(1, Ordering::Release);
    }
}

impl Gate {
    pub(crate) fn new() -> Gate {
        Gate {
            state: AtomicUsize::new(0),
        }
    }

    /// Counts a call in; `None` once the handle is closing.
    pub(crate) fn enter(&self) -> Option<Inside<'_>> {
        let before = self.state.fetch_add(1, Ordering::AcqRel);
        let inside = Inside(self);
        if before & CLOSING != 0 {
            // Refused: `Inside`'s drop takes the count back.
            return None;
        }
        Some(inside)
    }

    /// Whether `_free` has begun.
    pub(crate) fn is_closing(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSING != 0
    }

    /// Marks the handle closing: calls that enter from now on are refused.
    pub(crate) fn close(&self) {
        self.state.fetch_or(CLOSING, Ordering::AcqRel);
    }

    /// Waits until every call inside has left. Call after [`Gate::close`] and after
    /// waking the calls that wait: they leave within their own bounds. It looks again
    /// after 10 µs, doubling to 1 ms (a call's leaving does not wake it, so that leaving
    /// stays one atomic operation and touches nothing the wait may free).
    pub(crate) fn wait_until_empty(&self) {
        let mut pause = std::time::Duration::from_micros(10);
        while self.state.load(Ordering::Acquire) & !CLOSING > 0 {
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_millis(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// Calls inside hold `wait_until_empty` back until the last leaves; once closing,
    /// calls are refused, and a refused call does not count.
    #[test]
    fn gate_waits_for_the_calls_inside_and_refuses_new_ones() {
        let gate = Arc::new(Gate::new());
        let a = gate.enter().expect("open");
        let b = gate.enter().expect("open");
        assert!(!gate.is_closing());
        gate.close();
        assert!(gate.is_closing());
        assert!(gate.enter().is_none(), "entered a closing gate");
        let waiter = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.wait_until_empty())
        };
        std::thread::sleep(Duration::from_millis(50));
        drop(a);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "returned with a call inside");
        drop(b);
        waiter.join().unwrap();
        assert!(gate.enter().is_none());
        gate.wait_until_empty();
    }

    /// Many threads entering and leaving while the gate closes: the wait returns, and
    /// no call enters after it.
    #[test]
    fn gate_close_races_with_calls() {
        for _ in 0..50 {
            let gate = Arc::new(Gate::new());
            let after = Arc::new(AtomicUsize::new(0));
            let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let (gate, after, closed) = (gate.clone(), after.clone(), closed.clone());
                    std::thread::spawn(move || {
                        for _ in 0..2_000 {
                            if let Some(_in) = gate.enter() {
                                if closed.load(Ordering::Acquire) {
                                    after.fetch_add(1, Ordering::AcqRel);
                                }
                            }
                        }
                    })
                })
                .collect();
            gate.close();
            gate.wait_until_empty();
            closed.store(true, Ordering::Release);
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(
                after.load(Ordering::Acquire),
                0,
                "a call ran after the wait"
            );
        }
    }
}
