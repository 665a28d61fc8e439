//! What a broker supports: the version range of each API key, from its ApiVersions answer.

use crate::error::{local, Error, Result};
use crate::protocol::messages::ApiVersionsResponse;
use crate::protocol::{api_key, Request};

/// The version range a broker supports for each API key, from its ApiVersions answer.
#[derive(Debug, Clone, Default)]
pub struct VersionTable {
    ranges: Vec<Option<(i16, i16)>>,
    /// The cluster's finalised `transaction.version` (0 when not finalised).
    pub transaction_version: i16,
}

impl VersionTable {
    pub fn from_response(resp: &ApiVersionsResponse) -> Self {
        let mut ranges = Vec::new();
        for k in &resp.api_keys {
            if k.api_key < 0 || k.api_key > 1024 {
                continue;
            }
            let i = k.api_key as usize;
            if ranges.len() <= i {
                ranges.resize(i + 1, None);
            }
            ranges[i] = Some((k.min_version, k.max_version));
        }
        VersionTable {
            ranges,
            transaction_version: resp.finalized_level("transaction.version").unwrap_or(0),
        }
    }

    pub fn range(&self, key: i16) -> Option<(i16, i16)> {
        usize::try_from(key)
            .ok()
            .and_then(|i| self.ranges.get(i).copied().flatten())
    }

    /// The highest version of `R` that both sides implement.
    pub fn pick<R: Request>(&self, broker: &str) -> Result<i16> {
        let name = api_key::name(R::API_KEY);
        let Some((bmin, bmax)) = self.range(R::API_KEY) else {
            return Err(Error::new(
                local::UNSUPPORTED_FEATURE,
                format!("broker {broker} does not support the {name} API"),
            ));
        };
        let v = bmax.min(R::MAX_VERSION);
        if v < bmin.max(R::MIN_VERSION) {
            return Err(Error::new(
                local::UNSUPPORTED_FEATURE,
                format!(
                    "broker {broker} supports {name} v{bmin}-v{bmax}, this client implements v{}-v{}",
                    R::MIN_VERSION,
                    R::MAX_VERSION
                ),
            ));
        }
        Ok(v)
    }
}
