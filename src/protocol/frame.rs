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
    out.clear();
    out.reserve(req.size_hint() + 32 + client_id.map_or(0, str::len));
    let mut w = Writer {
        buf: std::mem::take(out),
    };
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
    let size = (w.buf.len() - 4) as i32;
    w.buf[..4].copy_from_slice(&size.to_be_bytes());
    *out = w.buf;
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
