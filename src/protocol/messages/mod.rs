//! One module per API. Each declares its request and response with the versions
//! implemented; see the module docs for the ranges.

pub mod api_versions;

pub use api_versions::*;
