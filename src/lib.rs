//! kafkac: an Apache Kafka client with a C ABI.
//!
//! Layers, lowest first: [`protocol`] and [`record`] are pure codecs; `net` holds
//! connections; `cluster` routes requests; `client` is the Rust API; `ffi` is the C ABI.
#![deny(unsafe_code)]

pub mod config;
pub mod error;
pub mod net;
pub mod protocol;
pub mod record;

pub use config::Config;
pub use error::{Error, Result};
pub mod client;
pub mod cluster;

pub use client::Client;

pub mod ffi;
