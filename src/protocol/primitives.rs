//! Wire primitives: a bounds-checked reader, a writer, and the `Wire` trait that every
//! protocol type implements (integers, varints, classic and compact strings, bytes and
//! arrays, nullable forms, tagged fields, UUIDs).
//!
//! Every length read from the input is checked against the bytes that remain before any
//! allocation, so a hostile length cannot make the decoder allocate more than its input.

use super::error::{DecodeError, DecodeErrorKind};
use bytes::Bytes;

/// A cursor over an input buffer. When built with [`Reader::shared`], byte fields are
/// returned as zero-copy slices of the shared buffer.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    shared: Option<&'a Bytes>,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            shared: None,
        }
    }

    /// A reader whose `Bytes` fields borrow from `buf` instead of copying.
    pub fn shared(buf: &'a Bytes) -> Self {
        Reader {
            buf: buf.as_ref(),
            pos: 0,
            shared: Some(buf),
        }
    }

    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The bytes not yet consumed.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub fn err(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(kind, self.pos)
    }

    /// Consumes `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.err(DecodeErrorKind::UnexpectedEof {
                needed: n,
                remaining: self.remaining(),
            }));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Consumes `n` bytes as a `Bytes`: zero-copy for a shared reader, a copy otherwise.
    pub fn take_bytes(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        let s = self.take(n)?;
        Ok(match self.shared {
            Some(b) => b.slice(start..start + n),
            None => Bytes::copy_from_slice(s),
        })
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn i8(&mut self) -> Result<i8, DecodeError> {
        Ok(self.array::<1>()?[0] as i8)
    }
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.u8()? != 0)
    }
    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_be_bytes(self.array()?))
    }

    /// Unsigned LEB128 varint of at most 5 bytes (a u32).
    #[inline]
    pub fn uvarint(&mut self) -> Result<u32, DecodeError> {
        let v = self.uvarlong_max(5)?;
        u32::try_from(v).map_err(|_| self.err(DecodeErrorKind::VarintOverflow))
    }

    /// Unsigned LEB128 varint of at most 10 bytes (a u64).
    #[inline]
    pub fn uvarlong(&mut self) -> Result<u64, DecodeError> {
        self.uvarlong_max(10)
    }

    #[inline]
    fn uvarlong_max(&mut self, max_bytes: usize) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        let mut shift = 0u32;
        for i in 0..max_bytes {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.err(DecodeErrorKind::UnexpectedEof {
                    needed: 1,
                    remaining: 0,
                }));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(self.err(DecodeErrorKind::VarintOverflow));
            }
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
        Err(self.err(DecodeErrorKind::VarintOverflow))
    }

    /// Zigzag-encoded signed varint (an i32).
    #[inline]
    pub fn varint(&mut self) -> Result<i32, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
    }

    /// Zigzag-encoded signed varlong (an i64).
    #[inline]
    pub fn varlong(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarlong()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// Checks a length against the bytes remaining.
    #[inline]
    pub fn check_len(&self, len: usize) -> Result<usize, DecodeError> {
        if len > self.remaining() {
            Err(self.err(DecodeErrorKind::LengthTooLarge {
                len: len as u64,
                limit: self.remaining() as u64,
            }))
        } else {
            Ok(len)
        }
    }

    /// Reads a length prefix: i16/i32 in classic form, unsigned varint (N+1) in compact
    /// form. Returns `None` for the null marker; any other negative value is an error.
    /// The length is checked against the bytes remaining.
    pub fn length(&mut self, flexible: bool, wide: bool) -> Result<Option<usize>, DecodeError> {
        let raw: i64 = if flexible {
            i64::from(self.uvarint()?) - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        if raw == -1 {
            return Ok(None);
        }
        if raw < 0 {
            return Err(self.err(DecodeErrorKind::NegativeLength(raw)));
        }
        Ok(Some(self.check_len(raw as usize)?))
    }

    pub fn nullable_string(&mut self, flexible: bool) -> Result<Option<String>, DecodeError> {
        match self.length(flexible, false)? {
            None => Ok(None),
            Some(n) => {
                let at = self.pos;
                let s = self.take(n)?;
                match std::str::from_utf8(s) {
                    Ok(s) => Ok(Some(s.to_owned())),
                    Err(_) => Err(DecodeError::new(DecodeErrorKind::InvalidUtf8, at)),
                }
            }
        }
    }

    pub fn string(&mut self, flexible: bool) -> Result<String, DecodeError> {
        let at = self.pos;
        self.nullable_string(flexible)?
            .ok_or_else(|| DecodeError::new(DecodeErrorKind::UnexpectedNull, at))
    }

    pub fn nullable_bytes(&mut self, flexible: bool) -> Result<Option<Bytes>, DecodeError> {
        match self.length(flexible, true)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take_bytes(n)?)),
        }
    }

    /// Reads an array count; `None` is a null array. The count is bounded by the bytes
    /// remaining (every element occupies at least one byte).
    pub fn array_len(&mut self, flexible: bool) -> Result<Option<usize>, DecodeError> {
        self.length(flexible, true)
    }
}

/// Byte fields at least this long are shared rather than copied by a [`Writer::sharing`]
/// writer: below it, a copy costs less than one more segment to write.
pub const SHARED_MIN: usize = 4096;

/// An output buffer with big-endian and varint writers.
///
/// A [`sharing`](Writer::sharing) writer leaves `Bytes` fields of [`SHARED_MIN`] bytes or
/// more (record batches) out of `buf` and keeps a reference to them instead, with the
/// position where they belong: the output is then `buf` with those fields spliced in
/// ([`into_parts`](Writer::into_parts)), and goes to the socket without the copy.
#[derive(Default, Debug, Clone)]
pub struct Writer {
    /// The bytes written; in a sharing writer, without the shared fields (so a length
    /// is measured with [`len`](Writer::len), not `buf.len()`).
    pub buf: Vec<u8>,
    /// Shared fields, `(at, bytes)`: `bytes` goes before `buf[at..]`; `at` ascending.
    /// `None`: every field is copied into `buf`.
    shared: Option<Vec<(usize, Bytes)>>,
    /// Sum of the shared fields' lengths.
    shared_len: usize,
}

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }
    pub fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(n),
            ..Writer::default()
        }
    }
    /// A writer that appends to `buf` and shares large byte fields rather than copying
    /// them (see [`Writer`]); its output is taken with [`into_parts`](Writer::into_parts).
    pub fn sharing(buf: Vec<u8>) -> Self {
        Writer {
            buf,
            shared: Some(Vec::new()),
            shared_len: 0,
        }
    }
    /// The bytes written. Only for a writer that shares nothing: a sharing writer's
    /// output is [`into_parts`](Writer::into_parts).
    pub fn into_inner(self) -> Vec<u8> {
        debug_assert_eq!(self.shared_len, 0, "shared fields dropped");
        self.buf
    }
    /// The owned bytes and the shared fields to splice into them, `(at, bytes)`: each
    /// goes before `buf[at..]`, in order.
    pub fn into_parts(self) -> (Vec<u8>, Vec<(usize, Bytes)>) {
        (self.buf, self.shared.unwrap_or_default())
    }
    /// How many bytes were written, shared fields included.
    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len() + self.shared_len
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    #[inline]
    pub fn put_slice(&mut self, s: &[u8]) {
        self.buf.extend_from_slice(s);
    }
    #[inline]
    pub fn i8(&mut self, v: i8) {
        self.buf.push(v as u8);
    }
    #[inline]
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    #[inline]
    pub fn bool(&mut self, v: bool) {
        self.buf.push(v as u8);
    }
    #[inline]
    pub fn i16(&mut self, v: i16) {
        self.put_slice(&v.to_be_bytes());
    }
    #[inline]
    pub fn u16(&mut self, v: u16) {
        self.put_slice(&v.to_be_bytes());
    }
    #[inline]
    pub fn i32(&mut self, v: i32) {
        self.put_slice(&v.to_be_bytes());
    }
    #[inline]
    pub fn u32(&mut self, v: u32) {
        self.put_slice(&v.to_be_bytes());
    }
    #[inline]
    pub fn i64(&mut self, v: i64) {
        self.put_slice(&v.to_be_bytes());
    }
    #[inline]
    pub fn f64(&mut self, v: f64) {
        self.put_slice(&v.to_be_bytes());
    }
    #[inline]
    pub fn uvarint(&mut self, v: u32) {
        self.uvarlong(u64::from(v));
    }
    #[inline]
    pub fn uvarlong(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }
    #[inline]
    pub fn varint(&mut self, v: i32) {
        self.uvarint(((v << 1) ^ (v >> 31)) as u32);
    }
    #[inline]
    pub fn varlong(&mut self, v: i64) {
        self.uvarlong(((v << 1) ^ (v >> 63)) as u64);
    }

    /// Writes a length prefix in classic (i16 or i32) or compact (uvarint N+1) form;
    /// `None` writes the null marker.
    pub fn length(&mut self, len: Option<usize>, flexible: bool, wide: bool) {
        match (len, flexible) {
            (None, true) => self.uvarint(0),
            (Some(n), true) => self.uvarlong(n as u64 + 1),
            (None, false) if wide => self.i32(-1),
            (None, false) => self.i16(-1),
            (Some(n), false) if wide => self.i32(n as i32),
            (Some(n), false) => self.i16(n as i16),
        }
    }

    pub fn nullable_string(&mut self, s: Option<&str>, flexible: bool) {
        self.length(s.map(str::len), flexible, false);
        if let Some(s) = s {
            self.put_slice(s.as_bytes());
        }
    }

    pub fn string(&mut self, s: &str, flexible: bool) {
        self.nullable_string(Some(s), flexible);
    }

    pub fn nullable_bytes(&mut self, b: Option<&[u8]>, flexible: bool) {
        self.length(b.map(<[u8]>::len), flexible, true);
        if let Some(b) = b {
            self.put_slice(b);
        }
    }

    /// [`nullable_bytes`](Writer::nullable_bytes) of a shared buffer: a sharing writer
    /// keeps a reference to a large one rather than copying it (its length prefix is
    /// written as usual).
    pub fn nullable_shared_bytes(&mut self, b: Option<&Bytes>, flexible: bool) {
        self.length(b.map(Bytes::len), flexible, true);
        if let Some(b) = b {
            self.shared_or_copied(b);
        }
    }

    /// `b`'s bytes with no length prefix: shared when large and the writer shares,
    /// copied otherwise.
    fn shared_or_copied(&mut self, b: &Bytes) {
        match &mut self.shared {
            Some(shared) if b.len() >= SHARED_MIN => {
                shared.push((self.buf.len(), b.clone()));
                self.shared_len += b.len();
            }
            _ => self.buf.extend_from_slice(b),
        }
    }
}

/// A `bytes` field assembled from several buffers, written as one field (its length
/// prefix is the sum): a record batch whose large values are written from the
/// application's own buffers rather than copied into the batch. Read back as one
/// segment.
/// Two are equal when their bytes are, however they are split.
#[derive(Debug, Clone, Default)]
pub struct Segments(Vec<Bytes>);

impl PartialEq for Segments {
    fn eq(&self, other: &Segments) -> bool {
        self.len() == other.len()
            && self
                .0
                .iter()
                .flat_map(|p| p.iter())
                .eq(other.0.iter().flat_map(|p| p.iter()))
    }
}

impl Eq for Segments {}

impl Segments {
    /// The segments, in order (empty ones are kept out).
    pub fn new(parts: Vec<Bytes>) -> Segments {
        Segments(parts.into_iter().filter(|p| !p.is_empty()).collect())
    }
    /// Total length.
    pub fn len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn parts(&self) -> &[Bytes] {
        &self.0
    }
    /// The whole field in one buffer: the segment itself when there is one, else a copy.
    pub fn into_bytes(mut self) -> Bytes {
        if self.0.len() == 1 {
            return self.0.pop().expect("one segment");
        }
        self.to_bytes()
    }
    /// The buffer behind a field of one segment that nothing else shares (a record
    /// batch after its last write), for its memory to be used again; None otherwise.
    pub fn into_vec(mut self) -> Option<Vec<u8>> {
        if self.0.len() != 1 {
            return None;
        }
        let one = self.0.pop().expect("one segment");
        one.try_into_mut().ok().map(Vec::from)
    }
    /// As [`into_bytes`](Self::into_bytes), for a borrowed field.
    pub fn to_bytes(&self) -> Bytes {
        match self.0.as_slice() {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => {
                let mut v = Vec::with_capacity(self.len());
                for p in many {
                    v.extend_from_slice(p);
                }
                Bytes::from(v)
            }
        }
    }
}

impl From<Bytes> for Segments {
    fn from(b: Bytes) -> Segments {
        Segments::new(vec![b])
    }
}

impl From<Vec<u8>> for Segments {
    fn from(v: Vec<u8>) -> Segments {
        Segments::from(Bytes::from(v))
    }
}

impl Wire for Option<Segments> {
    fn read(r: &mut Reader<'_>, flexible: bool, _: i16) -> Result<Self, DecodeError> {
        Ok(r.nullable_bytes(flexible)?.map(Segments::from))
    }
    fn write(&self, w: &mut Writer, flexible: bool, _: i16) {
        match self {
            None => w.length(None, flexible, true),
            Some(s) => {
                w.length(Some(s.len()), flexible, true);
                for p in s.parts() {
                    w.shared_or_copied(p);
                }
            }
        }
    }
}

/// A 16-byte UUID (topic ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

/// One tagged field kept as raw bytes (tags this crate does not interpret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedField {
    pub tag: u32,
    pub data: Bytes,
}

/// The tagged-field section that ends every structure in a flexible version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaggedFields(pub Vec<TaggedField>);

impl TaggedFields {
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.uvarint()? as usize;
        r.check_len(n)?;
        let mut fields = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let tag = r.uvarint()?;
            let len = r.uvarint()? as usize;
            r.check_len(len)?;
            let data = r.take_bytes(len)?;
            fields.push(TaggedField { tag, data });
        }
        Ok(TaggedFields(fields))
    }

    /// The field with tag `tag`, if present.
    pub fn get(&self, tag: u32) -> Option<&TaggedField> {
        self.0.iter().find(|f| f.tag == tag)
    }

    /// Decodes the field with tag `tag` as a `T` of flexible `version`: `None` when the
    /// field is absent, an error when its bytes do not hold a `T`. Byte fields of `T`
    /// borrow from the kept bytes.
    pub fn decode<T: Wire>(&self, tag: u32, version: i16) -> Option<Result<T, DecodeError>> {
        self.get(tag)
            .map(|f| T::read(&mut Reader::shared(&f.data), true, version))
    }

    /// Sets the field with tag `tag` to `value` encoded at flexible `version`, replacing
    /// a field with that tag; tags stay in ascending order, as the protocol requires.
    pub fn set<T: Wire>(&mut self, tag: u32, value: &T, version: i16) {
        let mut w = Writer::new();
        value.write(&mut w, true, version);
        let field = TaggedField {
            tag,
            data: Bytes::from(w.into_inner()),
        };
        match self.0.binary_search_by_key(&tag, |f| f.tag) {
            Ok(i) => self.0[i] = field,
            Err(i) => self.0.insert(i, field),
        }
    }

    pub fn write(&self, w: &mut Writer) {
        w.uvarint(self.0.len() as u32);
        for f in &self.0 {
            w.uvarint(f.tag);
            w.uvarint(f.data.len() as u32);
            w.put_slice(&f.data);
        }
    }
}

/// A protocol type that can be read and written at a given API version.
///
/// `flexible` says whether the version uses compact strings, arrays and tagged fields.
pub trait Wire: Sized {
    fn read(r: &mut Reader<'_>, flexible: bool, version: i16) -> Result<Self, DecodeError>;
    fn write(&self, w: &mut Writer, flexible: bool, version: i16);
}

macro_rules! wire_int {
    ($($t:ty => $m:ident),*) => {$(
        impl Wire for $t {
            #[inline]
            fn read(r: &mut Reader<'_>, _: bool, _: i16) -> Result<Self, DecodeError> { r.$m() }
            #[inline]
            fn write(&self, w: &mut Writer, _: bool, _: i16) { w.$m(*self) }
        }
    )*};
}
wire_int!(i8 => i8, bool => bool, i16 => i16, u16 => u16, i32 => i32, u32 => u32, i64 => i64, f64 => f64);

impl Wire for Uuid {
    fn read(r: &mut Reader<'_>, _: bool, _: i16) -> Result<Self, DecodeError> {
        Ok(Uuid(r.array()?))
    }
    fn write(&self, w: &mut Writer, _: bool, _: i16) {
        w.put_slice(&self.0);
    }
}

impl Wire for String {
    fn read(r: &mut Reader<'_>, flexible: bool, _: i16) -> Result<Self, DecodeError> {
        r.string(flexible)
    }
    fn write(&self, w: &mut Writer, flexible: bool, _: i16) {
        w.string(self, flexible);
    }
}

impl Wire for Option<String> {
    fn read(r: &mut Reader<'_>, flexible: bool, _: i16) -> Result<Self, DecodeError> {
        r.nullable_string(flexible)
    }
    fn write(&self, w: &mut Writer, flexible: bool, _: i16) {
        w.nullable_string(self.as_deref(), flexible);
    }
}

impl Wire for Bytes {
    fn read(r: &mut Reader<'_>, flexible: bool, _: i16) -> Result<Self, DecodeError> {
        let at = r.position();
        r.nullable_bytes(flexible)?
            .ok_or_else(|| DecodeError::new(DecodeErrorKind::UnexpectedNull, at))
    }
    fn write(&self, w: &mut Writer, flexible: bool, _: i16) {
        w.nullable_shared_bytes(Some(self), flexible);
    }
}

impl Wire for Option<Bytes> {
    fn read(r: &mut Reader<'_>, flexible: bool, _: i16) -> Result<Self, DecodeError> {
        r.nullable_bytes(flexible)
    }
    fn write(&self, w: &mut Writer, flexible: bool, _: i16) {
        w.nullable_shared_bytes(self.as_ref(), flexible);
    }
}

fn read_elements<T: Wire>(
    r: &mut Reader<'_>,
    n: usize,
    flexible: bool,
    version: i16,
) -> Result<Vec<T>, DecodeError> {
    // `n` is already bounded by the bytes remaining; cap the up-front reservation further
    // so a large element type cannot multiply it.
    let mut v = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        v.push(T::read(r, flexible, version)?);
    }
    Ok(v)
}

impl<T: Wire> Wire for Vec<T> {
    fn read(r: &mut Reader<'_>, flexible: bool, version: i16) -> Result<Self, DecodeError> {
        let at = r.position();
        match r.array_len(flexible)? {
            None => Err(DecodeError::new(DecodeErrorKind::UnexpectedNull, at)),
            Some(n) => read_elements(r, n, flexible, version),
        }
    }
    fn write(&self, w: &mut Writer, flexible: bool, version: i16) {
        w.length(Some(self.len()), flexible, true);
        for e in self {
            e.write(w, flexible, version);
        }
    }
}

impl<T: Wire> Wire for Option<Vec<T>> {
    fn read(r: &mut Reader<'_>, flexible: bool, version: i16) -> Result<Self, DecodeError> {
        match r.array_len(flexible)? {
            None => Ok(None),
            Some(n) => Ok(Some(read_elements(r, n, flexible, version)?)),
        }
    }
    fn write(&self, w: &mut Writer, flexible: bool, version: i16) {
        match self {
            None => w.length(None, flexible, true),
            Some(v) => v.write(w, flexible, version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_known_vectors() {
        // Zigzag: 0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3; 300 -> 600 -> [0xd8, 0x04].
        let cases: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-2, &[0x03]),
            (300, &[0xd8, 0x04]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for (v, bytes) in cases {
            let mut w = Writer::new();
            w.varint(*v);
            assert_eq!(&w.buf[..], *bytes, "encode {v}");
            assert_eq!(Reader::new(bytes).varint().unwrap(), *v, "decode {v}");
        }
        let mut w = Writer::new();
        w.varlong(i64::MIN);
        assert_eq!(w.buf.len(), 10);
        assert_eq!(Reader::new(&w.buf).varlong().unwrap(), i64::MIN);
    }

    #[test]
    fn varint_overflow_is_an_error() {
        let bytes = [0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        let e = Reader::new(&bytes).uvarint().unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::VarintOverflow);
        let bytes = [0xff; 11];
        let e = Reader::new(&bytes).uvarlong().unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::VarintOverflow);
    }

    #[test]
    fn strings_classic_and_compact() {
        let mut w = Writer::new();
        w.string("abc", false);
        w.string("abc", true);
        w.nullable_string(None, false);
        w.nullable_string(None, true);
        assert_eq!(
            w.buf,
            [0, 3, b'a', b'b', b'c', 4, b'a', b'b', b'c', 0xff, 0xff, 0]
        );
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.string(false).unwrap(), "abc");
        assert_eq!(r.string(true).unwrap(), "abc");
        assert_eq!(r.nullable_string(false).unwrap(), None);
        assert_eq!(r.nullable_string(true).unwrap(), None);
        assert!(r.is_empty());
    }

    #[test]
    fn hostile_lengths_are_refused_before_allocation() {
        // An array claiming i32::MAX elements in a 4-byte buffer.
        let bytes = i32::MAX.to_be_bytes();
        let e = <Vec<i32>>::read(&mut Reader::new(&bytes), false, 0).unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::LengthTooLarge { .. }));
        // A negative length that is not the null marker.
        let bytes = (-2i16).to_be_bytes();
        let e = Reader::new(&bytes).nullable_string(false).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::NegativeLength(-2));
        // A null where a value is required.
        let bytes = (-1i16).to_be_bytes();
        let e = Reader::new(&bytes).string(false).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::UnexpectedNull);
        // Invalid UTF-8.
        let bytes = [0, 1, 0xff];
        let e = Reader::new(&bytes).string(false).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::InvalidUtf8);
    }

    #[test]
    fn shared_reader_is_zero_copy() {
        let buf = Bytes::from_static(&[0, 0, 0, 3, 1, 2, 3]);
        let mut r = Reader::shared(&buf);
        let b = r.nullable_bytes(false).unwrap().unwrap();
        assert_eq!(&b[..], &[1, 2, 3]);
        assert_eq!(b.as_ptr(), buf[4..].as_ptr());
    }

    #[test]
    fn sharing_writer_shares_large_bytes_only() {
        let big = Bytes::from(vec![7u8; SHARED_MIN]);
        let small = Bytes::from(vec![8u8; SHARED_MIN - 1]);
        for flexible in [false, true] {
            let mut plain = Writer::new();
            let mut w = Writer::sharing(Vec::new());
            for w in [&mut plain, &mut w] {
                w.i16(1);
                Some(big.clone()).write(w, flexible, 0);
                small.write(w, flexible, 0);
                None::<Bytes>.write(w, flexible, 0);
                big.write(w, flexible, 0);
            }
            assert_eq!(w.len(), plain.len());
            let (buf, shared) = w.into_parts();
            let prefix = if flexible { 2 } else { 4 };
            assert_eq!(buf.len(), plain.len() - 2 * SHARED_MIN);
            assert_eq!(shared.len(), 2);
            assert_eq!(shared[0].0, 2 + prefix);
            assert_eq!(shared[0].1.as_ptr(), big.as_ptr());
            // Spliced back in, the output is the plain writer's.
            let mut joined = buf.clone();
            for (at, b) in shared.iter().rev() {
                joined.splice(at..at, b.iter().copied());
            }
            assert_eq!(joined, plain.buf);
        }
    }

    #[test]
    fn tagged_fields_round_trip_and_are_kept() {
        let t = TaggedFields(vec![
            TaggedField {
                tag: 0,
                data: Bytes::from_static(b"xy"),
            },
            TaggedField {
                tag: 7,
                data: Bytes::new(),
            },
        ]);
        let mut w = Writer::new();
        t.write(&mut w);
        assert_eq!(w.buf, [2, 0, 2, b'x', b'y', 7, 0]);
        assert_eq!(TaggedFields::read(&mut Reader::new(&w.buf)).unwrap(), t);
    }

    #[test]
    fn tagged_fields_decode_and_set_typed_values() {
        let mut t = TaggedFields(vec![TaggedField {
            tag: 7,
            data: Bytes::from_static(b"z"),
        }]);
        t.set(2, &5i32, 12);
        t.set(0, &String::from("ab"), 12);
        let tags: Vec<u32> = t.0.iter().map(|f| f.tag).collect();
        assert_eq!(tags, [0, 2, 7]);
        assert_eq!(&t.get(0).unwrap().data[..], &[3, b'a', b'b']);
        assert_eq!(t.decode::<i32>(2, 12).unwrap().unwrap(), 5);
        assert_eq!(t.decode::<String>(0, 12).unwrap().unwrap(), "ab");
        assert!(t.decode::<i32>(1, 12).is_none());
        // Too short for an i32: an error, not a panic.
        assert!(t.decode::<i32>(7, 12).unwrap().is_err());
        t.set(2, &6i32, 12);
        assert_eq!(t.0.len(), 3);
        assert_eq!(t.decode::<i32>(2, 12).unwrap().unwrap(), 6);
    }
}
