//! The seam authentication (SASL) plugs into: a connection's set-up is connect →
//! ApiVersions → authentication → ready, and a ready connection may authenticate again
//! (KIP-368 re-authentication) with requests in flight.
//!
//! An [`Authenticator`] is a conversation of requests and answers: given the broker's
//! versions it produces a request frame (SaslHandshake, SaslAuthenticate), is handed the
//! answer, produces the next, and so on until it says it is done, or fails. The
//! connection ([`ConnCore`](super::core::ConnCore)) owns the correlation ids, writes the
//! frames as its own requests (like ApiVersions), routes their answers here, holds the
//! callers' requests back meanwhile, and applies the set-up deadline (at set-up) or the
//! request time-out (when re-authenticating). An authenticator sees no socket, no clock
//! and no other request, so it can be tested alone.
//!
//! Only framed exchanges fit: SaslHandshake v1 and later followed by SaslAuthenticate
//! (Kafka 1.0 and later). The raw SASL tokens of SaslHandshake v0 are not Kafka frames
//! and have no place here.

use super::versions::VersionTable;
use crate::error::Result;
use bytes::Bytes;
use std::time::Duration;

/// What an authenticator wants next.
#[derive(Debug)]
pub enum AuthStep {
    /// Send this request and hand its answer to [`Authenticator::on_response`]: a whole
    /// frame (size prefix included) whose correlation id (bytes 8..12) the connection
    /// stamps, as [`encode_outgoing`](super::core::encode_outgoing) makes them.
    Send(Vec<u8>),
    /// Authenticated: callers' requests may flow.
    Done,
}

/// One connection's authentication. Lives inside its connection, on the connection's I/O
/// thread.
pub trait Authenticator: Send {
    /// Begins an authentication with a broker that supports `versions`. `reauth` is false
    /// at set-up and true when an authenticated connection authenticates again (KIP-368;
    /// callers' requests may still be in flight, and their answers do not come here).
    /// An error closes the connection with it.
    fn start(&mut self, versions: &VersionTable, reauth: bool) -> Result<AuthStep>;

    /// The answer to the frame last sent: the response body as a caller gets it (the
    /// correlation id first, then the response). An error closes the connection with it.
    fn on_response(&mut self, body: Bytes) -> Result<AuthStep>;

    /// Asked once the authentication is done: re-authenticate this long from now (KIP-368:
    /// some time before the session lifetime the broker gave ends). `None`: only when
    /// [`ConnCore::begin_reauthentication`](super::core::ConnCore::begin_reauthentication)
    /// is called.
    fn reauthenticate_after(&self) -> Option<Duration> {
        None
    }
}
