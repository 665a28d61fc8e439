//! Kafka's record formats: RecordBatch v2 (magic 2) and the legacy MessageSet v0/v1
//! (magic 0 and 1), with their compression codecs.
//!
//! [`encode_batch`] writes a v2 batch; [`encode_legacy_message_set`] writes the old
//! formats. [`RecordSet::decode`] reads the `records` field of a fetch response: any
//! mix of v2 batches and legacy messages, ending possibly in a partial batch. Decoded
//! records borrow from the input (or from the decompressed buffers the set owns). The
//! memory a decode takes beyond its input, decompressed bytes and the record index, is
//! bounded by a [`DecodeBudget`], which several decodes may share.

pub mod compression;
mod decode;
mod encode;
pub(crate) mod pool;

pub use decode::{DecodeBudget, DecodeLimits, RecordRef, RecordSet, TimestampType};
pub use encode::{
    encode_batch, encode_legacy_message_set, restamp, restamp_segments, BatchBuilder, BatchOptions,
    RecordHeaderIn, RecordIn,
};

use crate::protocol::{DecodeError, DecodeErrorKind};

/// A record compression codec; its value is the one in the attributes' low three bits.
#[repr(i8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None = 0,
    Gzip = 1,
    Snappy = 2,
    Lz4 = 3,
    Zstd = 4,
}

impl Compression {
    /// The codec named by bits 0-2 of batch or message attributes.
    pub fn from_attributes(attr: i16) -> Result<Self, DecodeError> {
        match attr & v2::COMPRESSION_MASK {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            n => Err(DecodeError::new(
                DecodeErrorKind::Compression(format!("unknown compression codec {n}")),
                0,
            )),
        }
    }

    /// The codec of a `compression.type` setting: "none", "gzip", "snappy", "lz4", "zstd".
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Compression::None),
            "gzip" => Some(Compression::Gzip),
            "snappy" => Some(Compression::Snappy),
            "lz4" => Some(Compression::Lz4),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Sizes and offsets of the v2 batch header.
pub(crate) mod v2 {
    /// Base offset (8) and batch length (4): the bytes the batch length does not count.
    pub const LOG_OVERHEAD: usize = 12;
    pub const MAGIC_OFFSET: usize = 16;
    pub const CRC_OFFSET: usize = 17;
    pub const ATTRIBUTES_OFFSET: usize = 21;
    /// The whole header, up to and including the record count.
    pub const HEADER_LEN: usize = 61;

    pub const COMPRESSION_MASK: i16 = 0x07;
    pub const TIMESTAMP_TYPE_BIT: i16 = 0x08;
    pub const TRANSACTIONAL_BIT: i16 = 0x10;
    pub const CONTROL_BIT: i16 = 0x20;
}

/// Sizes of the legacy message format.
pub(crate) mod legacy {
    /// crc, magic, attributes, key length, value length.
    pub const OVERHEAD_V0: usize = 14;
    /// v0 plus the timestamp.
    pub const OVERHEAD_V1: usize = 22;
    pub const TIMESTAMP_TYPE_BIT: i8 = 0x08;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_names_and_attributes() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert_eq!(Compression::from_name(c.name()), Some(c));
            assert_eq!(Compression::from_attributes(c as i16 | 0x18).unwrap(), c);
        }
        assert_eq!(Compression::from_name("brotli"), None);
        for bad in 5..8 {
            assert!(Compression::from_attributes(bad).is_err());
        }
        assert_eq!(Compression::default(), Compression::None);
    }
}
