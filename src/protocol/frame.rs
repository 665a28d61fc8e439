//! Request and response framing: the 4-byte size prefix and the request/response headers.

use super::error::DecodeError;
use super::primitives::{Reader, TaggedFields, Wire, Writer};
use super::Request;
use bytes::Bytes;

/// The header that starts every request (v1 and v2; v2 adds tagged fields).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestHeader {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
    pub tagged_fields: TaggedFields,
}

impl RequestHeader {
    pub fn write(&self, w: &mut Writer, header_version: i16) {
        w.i16(self.api_key);
        w.i16(self.api_version);
        w.i32(self.correlation_id);
        if header_version >= 1 {
            // The client id stays a classic nullable string even in header v2.
            w.nullable_string(self.client_id.as_deref(), false);
        }
        if header_version >= 2 {
            self.tagged_fields.write(w);
        }
    }

    /// Reads the fixed part (key, version, correlation id, client id) of a request header.
    /// The tagged fields of header v2 depend on the API and version just read, so the
    /// caller reads them with [`RequestHeader::read_tagged`] once it knows.
    pub fn read_fixed(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RequestHeader {
            api_key: r.i16().map_err(|e| e.in_field("api_key"))?,
            api_version: r.i16().map_err(|e| e.in_field("api_version"))?,
            correlation_id: r.i32().map_err(|e| e.in_field("correlation_id"))?,
            client_id: r
                .nullable_string(false)
                .map_err(|e| e.in_field("client_id"))?,
            tagged_fields: TaggedFields::default(),
        })
    }

    pub fn read_tagged(&mut self, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        self.tagged_fields = TaggedFields::read(r)?;
        Ok(())
    }
}

/// Encodes a whole request frame: size prefix, header, body.
pub fn encode_request<R: Request>(
    req: &R,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::new();
    encode_request_into(req, version, correlation_id, client_id, &mut out);
    out
}

/// [`encode_request`] into `out` (cleared first), so a caller can reuse its allocation.
pub fn encode_request_into<R: Request>(
    req: &R,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    out: &mut Vec<u8>,
) {
    let mut w = Writer::new();
    w.buf = std::mem::take(out);
    let w = write_request(w, req, version, correlation_id, client_id);
    *out = w.into_inner();
}

/// [`encode_request`] as a [`Frame`]: byte fields of at least
/// [`SHARED_MIN`](super::primitives::SHARED_MIN) bytes (record batches) are shared with
/// `req`, not copied. `buf` (cleared first) holds the rest.
pub fn encode_request_frame<R: Request>(
    req: &R,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    buf: Vec<u8>,
) -> Frame {
    let w = write_request(
        Writer::sharing(buf),
        req,
        version,
        correlation_id,
        client_id,
    );
    let (buf, shared) = w.into_parts();
    Frame::from_parts(buf, shared)
}

fn write_request<R: Request>(
    mut w: Writer,
    req: &R,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
) -> Writer {
    w.buf.clear();
    w.buf
        .reserve(req.size_hint() + 32 + client_id.map_or(0, str::len));
    w.i32(0); // size, patched below
    let header = RequestHeader {
        api_key: R::API_KEY,
        api_version: version,
        correlation_id,
        client_id: client_id.map(str::to_owned),
        tagged_fields: TaggedFields::default(),
    };
    header.write(&mut w, R::request_header_version(version));
    req.write(&mut w, R::is_flexible(version), version);
    let size = i32::try_from(w.len() - 4).expect("request frame larger than 2 GiB");
    w.buf[..4].copy_from_slice(&size.to_be_bytes());
    w
}

/// A request frame as it goes to the socket: owned bytes (size prefix, header, and every
/// field small enough to copy) with large byte fields spliced in from the buffers they
/// are shared with, so a record batch is written from where it was built.
///
/// The frame is a sequence of parts: owned, shared, owned, …, owned (`2 × shared + 1`
/// parts; owned parts may be empty). The first part holds at least the size prefix and
/// the fixed start of the header (12 bytes: size, API key, version, correlation id) of a
/// frame made by [`encode_request_frame`], so the correlation id can be stamped in place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    buf: Vec<u8>,
    /// `(at, bytes)`: `bytes` goes before `buf[at..]`; `at` ascending.
    shared: Vec<(usize, Bytes)>,
}

/// Size prefix, API key, version and correlation id.
const FIXED_HEAD: usize = 12;

impl Frame {
    /// A frame of `buf` with each `(at, bytes)` of `shared` spliced in before `buf[at..]`.
    /// Panics when the positions are not ascending within `buf`.
    pub fn from_parts(buf: Vec<u8>, shared: Vec<(usize, Bytes)>) -> Frame {
        let mut last = 0;
        for (at, _) in &shared {
            assert!(*at >= last && *at <= buf.len(), "shared part out of order");
            last = *at;
        }
        Frame { buf, shared }
    }

    /// Total length, size prefix included.
    pub fn len(&self) -> usize {
        self.buf.len() + self.shared.iter().map(|(_, b)| b.len()).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many parts (owned and shared, empty ones included) make the frame.
    pub fn parts(&self) -> usize {
        2 * self.shared.len() + 1
    }

    /// Part `i` (`i < parts()`): owned bytes for even `i`, a shared field for odd.
    pub fn part(&self, i: usize) -> &[u8] {
        let j = i / 2;
        if i % 2 == 1 {
            return &self.shared[j].1;
        }
        let start = if j == 0 { 0 } else { self.shared[j - 1].0 };
        let end = self.shared.get(j).map_or(self.buf.len(), |(at, _)| *at);
        &self.buf[start..end]
    }

    /// The non-empty parts, in order.
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.parts())
            .map(|i| self.part(i))
            .filter(|p| !p.is_empty())
    }

    /// The whole frame in one buffer (a copy).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        for s in self.segments() {
            out.extend_from_slice(s);
        }
        out
    }

    /// Stamps `correlation_id` into the header (bytes 8..12); false (and nothing done)
    /// when the frame is too short to have one there.
    pub fn set_correlation_id(&mut self, correlation_id: i32) -> bool {
        if self.part(0).len() < FIXED_HEAD {
            return false;
        }
        self.buf[8..12].copy_from_slice(&correlation_id.to_be_bytes());
        true
    }

    /// The owned buffer, for reuse; the shared fields are let go.
    pub fn into_buf(self) -> Vec<u8> {
        self.buf
    }
}

impl From<Vec<u8>> for Frame {
    fn from(buf: Vec<u8>) -> Frame {
        Frame {
            buf,
            shared: Vec::new(),
        }
    }
}

/// Reads the correlation id that starts every response body (after the size prefix).
pub fn peek_correlation_id(body: &[u8]) -> Result<i32, DecodeError> {
    Reader::new(body)
        .i32()
        .map_err(|e| e.in_field("correlation_id"))
}

/// Decodes a response body (without its size prefix): header, then the body of `R`'s
/// response at `version`. Byte fields borrow from `body`.
pub fn decode_response<R: Request>(
    body: &Bytes,
    version: i16,
) -> Result<(i32, R::Response), DecodeError> {
    let mut r = Reader::shared(body);
    let correlation_id = r.i32().map_err(|e| e.in_field("correlation_id"))?;
    if R::response_header_version(version) >= 1 {
        TaggedFields::read(&mut r).map_err(|e| e.in_field("response header tagged_fields"))?;
    }
    let resp = R::Response::read(&mut r, R::is_flexible(version), version)?;
    Ok((correlation_id, resp))
}

/// Encodes a whole response frame (size prefix, header, body): used by test brokers.
pub fn encode_response<R: Request>(
    resp: &R::Response,
    version: i16,
    correlation_id: i32,
) -> Vec<u8> {
    let mut w = Writer::with_capacity(64);
    w.i32(0);
    w.i32(correlation_id);
    if R::response_header_version(version) >= 1 {
        TaggedFields::default().write(&mut w);
    }
    resp.write(&mut w, R::is_flexible(version), version);
    let size = (w.buf.len() - 4) as i32;
    w.buf[..4].copy_from_slice(&size.to_be_bytes());
    w.buf
}

/// Decodes a request body of type `R` after its header has been read: used by test brokers.
pub fn decode_request_body<R: Request>(r: &mut Reader<'_>, version: i16) -> Result<R, DecodeError> {
    R::read(r, R::is_flexible(version), version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_parts_and_segments() {
        // "head" + [ab] + "" + [cd] + "tail": shared parts at 4 and 4.
        let f = Frame::from_parts(
            b"headtail".to_vec(),
            vec![
                (4, Bytes::from_static(b"ab")),
                (4, Bytes::from_static(b"cd")),
            ],
        );
        assert_eq!(f.len(), 12);
        assert_eq!(f.parts(), 5);
        let parts: Vec<&[u8]> = (0..f.parts()).map(|i| f.part(i)).collect();
        assert_eq!(parts, [&b"head"[..], b"ab", b"", b"cd", b"tail"]);
        assert_eq!(f.segments().count(), 4);
        assert_eq!(f.to_vec(), b"headabcdtail");
        // The first part is too short to hold a correlation id: left alone.
        let mut g = f.clone();
        assert!(!g.set_correlation_id(9));
        assert_eq!(g, f);
        assert_eq!(f.into_buf(), b"headtail");
        let whole = Frame::from(vec![0u8; 12]);
        assert_eq!((whole.parts(), whole.len()), (1, 12));
    }

    #[test]
    #[should_panic(expected = "shared part out of order")]
    fn frame_parts_must_be_in_order() {
        Frame::from_parts(
            vec![0; 8],
            vec![(6, Bytes::from_static(b"x")), (5, Bytes::from_static(b"y"))],
        );
    }
}
