//! kafkac: an Apache Kafka client with a C ABI.
//!
//! Layers, lowest first: [`protocol`] and [`record`] are pure codecs; [`net`] holds
//! connections; [`cluster`] routes requests; [`client`] is the Rust API; [`ffi`] is the
//! C ABI and the only module with `unsafe` code.
#![deny(unsafe_code)]

pub mod client;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod consumer;
pub mod error;
pub mod ffi;
pub mod net;
pub mod producer;
pub mod protocol;
pub mod record;

pub use client::Client;
pub use config::Config;
pub use error::{Error, Result};
