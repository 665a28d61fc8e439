//! Connections to brokers. I/O threads own the sockets and run each connection's state
//! machine (set-up, framing, correlation ids, in-flight limit, time-outs); callers
//! encode requests, queue them and wait for the answers on one-shot slots.

pub mod auth;
mod connection;
pub mod core;
pub mod events;
mod keystore;
pub mod oauth_refresh;
mod reactor;
mod resolve;
pub mod sasl;
pub mod tls;
mod transport;
mod versions;

pub use self::core::{ConnCounters, ConnectionOptions};
pub use connection::{Attempt, Connection, Pending};
pub use reactor::IoThreads;
pub use resolve::{resolve, split_host_port, Resolver};
pub use sasl::{Mechanism, OAuthToken, SaslConfig, SaslSetup, SaslStats, TokenStore, UnsecuredJwt};
pub use tls::{TlsConfig, TlsOptions};
pub use versions::VersionTable;
