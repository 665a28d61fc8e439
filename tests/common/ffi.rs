//! Helpers for the tests that call the C ABI from Rust (`tests/ffi.rs`,
//! `tests/ffi_producer.rs`): strings across the boundary, the thread's last error, and
//! out-parameters that show whether a failing call wrote them.

use kafkac::ffi::*;
use std::ffi::{c_char, CStr, CString};
use std::mem::MaybeUninit;
use std::ptr;

/// A NUL-terminated copy of `s`.
pub fn cs(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// A C string handed out by the library, as a Rust string (panics on NULL).
pub fn rs(p: *const c_char) -> String {
    assert!(!p.is_null(), "NULL string");
    // SAFETY: non-NULL, NUL-terminated per the header's contract.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .expect("UTF-8 from the library")
        .to_owned()
}

/// The calling thread's last error message.
pub fn last_error() -> String {
    // SAFETY: a NULL buffer with length 0, then a buffer of the size asked for.
    unsafe {
        let n = kc_last_error(ptr::null_mut(), 0);
        let mut buf = vec![0x55u8; n + 1];
        assert_eq!(kc_last_error(buf.as_mut_ptr().cast(), buf.len()), n);
        assert_eq!(buf[n], 0, "NUL-terminated");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }
}

/// Asserts a call returned `want`, that the thread's last error has the same code, and
/// that its message contains every fragment in `says`. Returns the message.
#[track_caller]
pub fn assert_err(got: kc_err_t, want: kc_err_t, says: &[&str]) -> String {
    let msg = last_error();
    assert_eq!(
        got,
        want,
        "expected {} got {} ({msg})",
        rs(kc_err_name(want)),
        rs(kc_err_name(got))
    );
    assert_eq!(kc_last_error_code(), want, "kc_last_error_code ({msg})");
    for s in says {
        assert!(msg.contains(s), "last error {msg:?} should mention {s:?}");
    }
    msg
}

/// Asserts a call succeeded, showing the last error if not; a success clears it.
#[track_caller]
pub fn assert_ok(got: kc_err_t) {
    if got != KC_OK {
        panic!("{} ({got}): {}", rs(kc_err_name(got)), last_error());
    }
    assert_eq!(kc_last_error_code(), KC_OK);
    assert_eq!(last_error(), "");
}

/// The byte an [`Out`] is filled with before the call.
pub const SENTINEL: u8 = 0xA5;

/// An out-parameter pre-filled with [`SENTINEL`], to check that a failing call leaves
/// it alone.
pub struct Out<T>(pub MaybeUninit<T>);

impl<T> Default for Out<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Out<T> {
    pub fn new() -> Self {
        let mut m = MaybeUninit::<T>::uninit();
        // SAFETY: writing bytes to our own uninitialised storage.
        unsafe { ptr::write_bytes(m.as_mut_ptr().cast::<u8>(), SENTINEL, size_of::<T>()) };
        Out(m)
    }

    pub fn ptr(&mut self) -> *mut T {
        self.0.as_mut_ptr()
    }

    /// Asserts nothing was written (only meaningful after a failed call).
    #[track_caller]
    pub fn assert_untouched(&self, what: &str) {
        // SAFETY: every byte was initialised by `new`, and a failed call wrote nothing.
        let b = unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast::<u8>(), size_of::<T>()) };
        assert!(
            b.iter().all(|&x| x == SENTINEL),
            "{what}: out-parameter written by a failing call"
        );
    }

    /// The value written by a successful call.
    pub fn get(self) -> T {
        // SAFETY: only called after the library reported success and so wrote a T.
        unsafe { self.0.assume_init() }
    }
}
