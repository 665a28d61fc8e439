//! Buffers of decompressed batches, kept for reuse once every record in one is released.
//!
//! A consumer decompresses a batch into a new buffer and the application releases it
//! soon after. A fresh buffer of a megabyte is memory the allocator maps and the kernel
//! zeroes page by page, then unmaps when it is freed: on a stream of compressed batches
//! those page faults took about a sixth of the consumer's CPU. Released buffers are kept
//! here instead, at most [`KEPT`] of them and [`KEPT_BYTES`] in all (per process, outside
//! any consumer's memory budget: it is free memory, like what the allocator itself keeps),
//! and the next decompression of a size they fit takes one (zstd frames declare theirs).

use bytes::Bytes;
use parking_lot::Mutex;

/// At most this many buffers are kept.
pub const KEPT: usize = 4;
/// At most this many bytes (of capacity) are kept.
pub const KEPT_BYTES: usize = 4 << 20;
/// Smaller buffers are not worth keeping: the allocator serves them from its own heap.
const SMALLEST: usize = 64 << 10;

/// The capacities the pool keeps.
const KEEPABLE: std::ops::RangeInclusive<usize> = SMALLEST..=KEPT_BYTES;

/// Released buffers, kept for reuse within a count and a total of capacity: the pool
/// below, and each producer's buffers of acknowledged batches.
pub(crate) struct Stash {
    bufs: Vec<Vec<u8>>,
    bytes: usize,
    most: usize,
    most_bytes: usize,
}

impl Stash {
    /// Keeps at most `most` buffers and `most_bytes` of capacity in all.
    pub const fn new(most: usize, most_bytes: usize) -> Stash {
        Stash {
            bufs: Vec::new(),
            bytes: 0,
            most,
            most_bytes,
        }
    }

    /// Keeps `buf`, emptied, if its capacity is within `sizes` and there is room; else
    /// frees it.
    pub fn keep(&mut self, mut buf: Vec<u8>, sizes: std::ops::RangeInclusive<usize>) {
        buf.clear();
        self.keep_filled(buf, sizes);
    }

    /// Keeps `buf` as [`keep`](Self::keep) does, with its bytes: its length stays what
    /// the next user may take without zeroing it again.
    pub fn keep_filled(&mut self, buf: Vec<u8>, sizes: std::ops::RangeInclusive<usize>) {
        let cap = buf.capacity();
        if sizes.contains(&cap)
            && self.bufs.len() < self.most
            && self.bytes + cap <= self.most_bytes
        {
            self.bytes += cap;
            self.bufs.push(buf);
        }
    }

    /// Lets every kept buffer go.
    pub fn clear(&mut self) {
        self.bufs = Vec::new();
        self.bytes = 0;
    }

    /// The most recently kept buffer whose capacity `fits`, if any.
    pub fn take(&mut self, fits: impl Fn(usize) -> bool) -> Option<Vec<u8>> {
        let i = self.bufs.iter().rposition(|b| fits(b.capacity()))?;
        let buf = self.bufs.remove(i);
        self.bytes -= buf.capacity();
        Some(buf)
    }

    /// How many buffers are kept, and their capacity in all.
    #[cfg(test)]
    pub fn kept(&self) -> (usize, usize) {
        (self.bufs.len(), self.bytes)
    }
}

static POOL: Mutex<Stash> = Mutex::new(Stash::new(KEPT, KEPT_BYTES));

/// What new buffers' capacities are rounded up to a multiple of (see `rounded`).
pub const SLACK: usize = 64 << 10;

/// What a kept buffer's capacity may exceed the size asked for by: [`SLACK`], or a
/// quarter of the size. That part is resident and not counted as output; but a kept
/// buffer's pages are resident already, and a new buffer taken instead would add its own
/// (answers of one partition vary in size by more than `SLACK`: each new size left the
/// last buffer idle in the pool and made a third).
pub fn slack(size: usize) -> usize {
    SLACK.max(size / 4)
}

/// Whether a kept buffer of capacity `cap` may serve a request of `size` bytes: at least
/// `size`, at most `size + slack(size)`.
fn fits(size: usize) -> impl Fn(usize) -> bool {
    move |cap| (size..=size.saturating_add(slack(size))).contains(&cap)
}

/// The most recently kept buffer that [`fits`] `size`, with the bytes it held.
fn take_kept(size: usize) -> Option<Vec<u8>> {
    if size < *KEEPABLE.start() {
        return None;
    }
    POOL.lock().take(fits(size))
}

/// An empty buffer with room for `size` bytes: a kept one (see `take_kept`), or a new one
/// of exactly `size`.
pub fn take_fit(size: usize) -> Vec<u8> {
    match take_kept(size) {
        Some(mut buf) => {
            buf.clear();
            buf
        }
        None => Vec::with_capacity(rounded(size)),
    }
}

/// The capacity a new buffer of `size` bytes gets: a size the pool keeps is rounded up to
/// a multiple of [`SLACK`], so that the buffer serves the next request of about the same
/// size (answers and batches differ by a few bytes) instead of waiting idle in the pool
/// while a new one is made.
fn rounded(size: usize) -> usize {
    if KEEPABLE.contains(&size) {
        size.div_ceil(SLACK).saturating_mul(SLACK)
    } else {
        size
    }
}

/// A buffer of exactly `size` bytes, to be overwritten whole (a response read from a
/// socket): a kept one, of which only what its last user had not written is zeroed, or a
/// new zeroed one. What it holds before it is overwritten is stale data of this process.
pub fn take_filled(size: usize) -> Vec<u8> {
    filled(take_kept(size), size)
}

/// `kept` (if any) made `size` bytes long, zeroing only bytes it did not hold; else a new
/// zeroed buffer.
fn filled(kept: Option<Vec<u8>>, size: usize) -> Vec<u8> {
    match kept {
        Some(mut buf) => {
            if buf.len() >= size {
                buf.truncate(size);
            } else {
                buf.resize(size, 0);
            }
            buf
        }
        None => {
            let mut buf = Vec::with_capacity(rounded(size));
            buf.resize(size, 0);
            buf
        }
    }
}

/// Keeps `buf` (with its bytes: see `take_filled`) for reuse if it is large enough and the
/// pool has room; else frees it.
pub fn give(buf: Vec<u8>) {
    if KEEPABLE.contains(&buf.capacity()) {
        POOL.lock().keep_filled(buf, KEEPABLE);
    }
}

/// `buf`'s bytes, given back to the pool when the last reference to them is dropped (a
/// buffer too small or too large to keep is an ordinary `Bytes`).
pub fn into_bytes(buf: Vec<u8>) -> Bytes {
    if KEEPABLE.contains(&buf.capacity()) {
        Bytes::from_owner(Kept(buf))
    } else {
        Bytes::from(buf)
    }
}

/// Empties the pool (for tests that need to know what it holds).
#[cfg(test)]
fn drain() {
    let mut p = POOL.lock();
    while p.take(|_| true).is_some() {}
}

/// What the pool kept: (count, bytes of capacity).
#[cfg(test)]
fn kept() -> (usize, usize) {
    POOL.lock().kept()
}

struct Kept(Vec<u8>);

impl AsRef<[u8]> for Kept {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool is shared by the process and tests run in parallel: the two tests of it
    /// run one at a time, each from an empty pool.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn released_buffers_are_reused_within_bounds() {
        let _one = SERIAL.lock();
        drain();
        let b = vec![7u8; 100 << 10];
        let ptr = b.as_ptr();
        let bytes = into_bytes(b);
        assert_eq!(bytes.len(), 100 << 10);
        let view = bytes.slice(10..20);
        drop(bytes);
        assert_eq!(&view[..], &[7u8; 10]);
        drop(view);
        // Kept: some later take gets it back, empty, with its capacity.
        let mut found = false;
        let mut taken = Vec::new();
        for _ in 0..KEPT {
            let t = take_fit((100 << 10) - 1000);
            assert!(t.is_empty());
            assert!(t.capacity() >= (100 << 10) - 1000);
            found |= t.as_ptr() == ptr;
            taken.push(t);
        }
        assert!(found, "the released buffer was kept");
        // Too small or too large: not kept.
        give(vec![0u8; 1024]);
        give(vec![0u8; KEPT_BYTES + 1]);
        for _ in 0..2 * KEPT {
            give(Vec::with_capacity(1 << 20));
        }
        let (n, bytes) = kept();
        assert!(
            n <= KEPT && bytes <= KEPT_BYTES,
            "{n} buffers, {bytes} bytes"
        );
        assert!(n >= 1);
        // None more than slack() larger than asked for: a new buffer of the size.
        assert_eq!(take_fit(1 << 19).capacity(), 1 << 19);
        // A kept buffer up to a quarter larger than asked for serves.
        let mut own = Stash::new(KEPT, KEPT_BYTES);
        own.keep(Vec::with_capacity(1 << 20), KEEPABLE);
        assert!(own.take(fits((1 << 20) * 5 / 6)).is_some());
        own.keep(Vec::with_capacity(1 << 20), KEEPABLE);
        assert!(own.take(fits((1 << 20) * 3 / 4)).is_none());
    }

    /// A new buffer's capacity is rounded up, so that a request a few bytes larger (the
    /// next answer of about the same size) takes it instead of leaving it idle in the pool.
    #[test]
    fn a_new_buffer_serves_the_next_request_of_about_its_size() {
        assert_eq!(rounded(1000), 1000, "too small to keep: exact");
        assert_eq!(
            rounded(KEPT_BYTES + 1),
            KEPT_BYTES + 1,
            "too large to keep: exact"
        );
        assert_eq!(rounded(1 << 19), 1 << 19);
        let size = 1_000_123;
        let b = filled(None, size);
        assert_eq!(b.len(), size);
        assert!(b.iter().all(|&x| x == 0));
        assert_eq!(b.capacity() % SLACK, 0);
        assert!(b.capacity() >= size && b.capacity() < size + SLACK);
        let p = b.as_ptr();
        let mut own = Stash::new(KEPT, KEPT_BYTES);
        own.keep_filled(b, KEEPABLE);
        let next = size + 300;
        let u = filled(own.take(fits(next)), next);
        assert_eq!(u.as_ptr(), p, "the kept buffer was taken");
        assert_eq!(u.len(), next);
    }

    /// A buffer taken to be overwritten whole keeps the bytes it held: nothing is zeroed
    /// but the part its last user did not fill.
    #[test]
    fn a_filled_buffer_comes_back_with_its_bytes() {
        let _one = SERIAL.lock();
        drain();
        let size = (200 << 10) + 17;
        let b = vec![9u8; size];
        let ptr = b.as_ptr();
        drop(into_bytes(b));
        let mut taken = Vec::new();
        let mut found = None;
        for _ in 0..KEPT {
            let t = take_filled(size - 100);
            assert_eq!(t.len(), size - 100);
            if t.as_ptr() == ptr {
                assert!(t.iter().all(|&x| x == 9), "the kept bytes were not zeroed");
                found = Some(t);
            } else {
                taken.push(t);
            }
        }
        // Longer than what it held: only the tail is zeroed. (On a stash of the test's
        // own: other tests share the pool and may fill it.)
        let mut t = found.expect("the released buffer was kept");
        let held = t.len();
        t.truncate(held - 10);
        let p = t.as_ptr();
        let mut own = Stash::new(KEPT, KEPT_BYTES);
        own.keep_filled(t, KEEPABLE);
        let u = filled(own.take(|cap| cap >= held), held);
        assert_eq!(u.as_ptr(), p);
        assert!(u[..held - 10].iter().all(|&x| x == 9));
        assert_eq!(&u[held - 10..], &[0u8; 10]);
        // Shorter: nothing is zeroed.
        own.keep_filled(u, KEEPABLE);
        let v = filled(own.take(|_| true), held - 5000);
        assert_eq!((v.as_ptr(), v.len()), (p, held - 5000));
        assert!(v.iter().all(|&x| x == 9));
        // Small buffers are never pooled: a new zeroed one.
        assert_eq!(take_filled(100), vec![0u8; 100]);
    }
}
