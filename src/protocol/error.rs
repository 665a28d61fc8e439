//! Typed decode errors: what went wrong, in which field, at which byte offset.

use std::fmt;

/// What a decoder found wrong with its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The input ended before a value was complete.
    UnexpectedEof { needed: usize, remaining: usize },
    /// A length or count was negative where only the null marker (-1) is allowed.
    NegativeLength(i64),
    /// A length or count exceeds the bytes that remain (or a configured limit).
    LengthTooLarge { len: u64, limit: u64 },
    /// A varint ran past its maximum encoded size.
    VarintOverflow,
    /// A string was not valid UTF-8.
    InvalidUtf8,
    /// A null value where the protocol allows none.
    UnexpectedNull,
    /// A checksum did not match; `base_offset` names the batch or message it guards.
    Crc {
        base_offset: i64,
        expected: u32,
        computed: u32,
    },
    /// An API version this decoder does not implement.
    UnsupportedVersion { api_key: i16, version: i16 },
    /// Decompression failed or its output exceeded the cap.
    Compression(String),
    /// Any other structural problem, described.
    Invalid(String),
}

/// A decode failure: the kind, the innermost field being read, and the byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    /// Name of the field being decoded when the error occurred ("" when unknown).
    pub field: &'static str,
    /// Byte offset into the buffer handed to the decoder.
    pub offset: usize,
}

impl DecodeError {
    pub fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        DecodeError {
            kind,
            field: "",
            offset,
        }
    }

    /// Names the field, unless an inner decoder already named a more precise one.
    pub fn in_field(mut self, field: &'static str) -> Self {
        if self.field.is_empty() {
            self.field = field;
        }
        self
    }

    pub fn invalid(msg: impl Into<String>, offset: usize) -> Self {
        DecodeError::new(DecodeErrorKind::Invalid(msg.into()), offset)
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeErrorKind::UnexpectedEof { needed, remaining } => write!(
                f,
                "input ends early: needed {needed} bytes, {remaining} remain"
            ),
            DecodeErrorKind::NegativeLength(n) => write!(f, "invalid negative length {n}"),
            DecodeErrorKind::LengthTooLarge { len, limit } => {
                write!(f, "length {len} exceeds the limit of {limit}")
            }
            DecodeErrorKind::VarintOverflow => write!(f, "varint longer than its type allows"),
            DecodeErrorKind::InvalidUtf8 => write!(f, "string is not valid UTF-8"),
            DecodeErrorKind::UnexpectedNull => write!(f, "null where a value is required"),
            DecodeErrorKind::Crc {
                base_offset,
                expected,
                computed,
            } => write!(
                f,
                "CRC mismatch in the batch at offset {base_offset}: stored {expected:#010x}, computed {computed:#010x}"
            ),
            DecodeErrorKind::UnsupportedVersion { api_key, version } => {
                write!(f, "API key {api_key} version {version} is not implemented")
            }
            DecodeErrorKind::Compression(m) => write!(f, "decompression failed: {m}"),
            DecodeErrorKind::Invalid(m) => f.write_str(m),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{} at byte {}", self.kind, self.offset)
        } else {
            write!(
                f,
                "{} in field '{}' at byte {}",
                self.kind, self.field, self.offset
            )
        }
    }
}

impl std::error::Error for DecodeError {}
