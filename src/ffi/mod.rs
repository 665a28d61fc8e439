//! The C ABI. This is the only module with `extern "C"` functions and `unsafe` code.
//!
//! Conventions: every exported body runs inside [`boundary`] so no panic unwinds into C;
//! every pointer is checked; handles are opaque; fallible functions return `kc_err_t`
//! and write out-parameters only on success; the detail of the last failure is kept per
//! thread (and per client handle) and copied out with `kc_last_error`.
#![allow(unsafe_code)]
#![allow(non_camel_case_types)]

mod client;
mod conf;
mod consumer;
mod errors;
mod fetch;
mod metadata;
mod oauth;
mod oauth_refresh;
mod producer;
pub(crate) mod sys;
mod txn;
mod util;

pub use client::*;
pub use conf::*;
pub use consumer::*;
pub use errors::*;
pub use fetch::*;
pub use metadata::*;
pub use oauth::*;
pub use oauth_refresh::*;
pub use producer::*;
pub use txn::*;
