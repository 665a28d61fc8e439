//! Connections to brokers: framing, correlation ids, pipelining, time-outs and the
//! ApiVersions handshake. One reader thread per connection; callers write their own
//! requests and wait on a per-request slot, so many requests can be in flight at once.

mod connection;
mod resolve;

pub use connection::{Connection, ConnectionOptions, Pending, VersionTable};
pub use resolve::resolve;
