//! kafkac: an Apache Kafka client with a C ABI.
//!
//! Layers, lowest first: [`protocol`] and [`record`] are pure codecs; `net` holds
//! connections; `cluster` routes requests; `client` is the Rust API; `ffi` is the C ABI.
#![deny(unsafe_code)]

pub mod protocol;
pub mod record;
