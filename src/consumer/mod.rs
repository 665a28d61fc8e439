//! The group consumer: subscriptions in a consumer group (or partitions assigned by the
//! application), offsets committed to the group's coordinator, and records prefetched
//! under one memory budget.
//!
//! Layers. [`group`] is the group membership (classic, or KIP-848 with
//! `group.protocol=consumer`) and [`fetcher`] the prefetcher,
//! both sans-I/O state machines; the consumer's thread (`kc-cons`, in `driver`) drives
//! them through the I/O core; [`Consumer`] (in `handle`) is the application's side:
//! the queue [`Consumer::poll`] serves, offsets, commits, callbacks.

pub mod assignor;
mod driver;
pub mod fetcher;
pub mod group;
mod handle;

pub use handle::{CommitFn, Consumer, Event, Message, RebalanceFn, RebalanceKind};

use crate::config::Config;
use crate::error::{local, Error, Result};
use assignor::Assignor;
use fetcher::{FetchSettings, OffsetReset};
use group::{GroupProtocol, GroupSettings};
use std::time::Duration;

/// The consumer's settings, read once from the configuration.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// Empty: no group (manual assignment only, no commits).
    pub group_id: String,
    pub group: GroupSettings,
    pub fetch: FetchSettings,
    pub auto_commit: bool,
    pub auto_commit_interval: Duration,
    pub auto_offset_store: bool,
    /// How long a synchronous commit waits for its answer.
    pub commit_timeout: Duration,
    /// The close bound used when a consumer is dropped without `close`.
    pub close_timeout: Duration,
    /// How often the topics' metadata is refreshed (`topic.metadata.refresh.interval.ms`).
    pub metadata_refresh: Duration,
    pub retry_backoff: Duration,
}

impl ConsumerSettings {
    /// Reads and checks the consumer's properties; errors name the property.
    pub fn from_config(c: &Config) -> Result<ConsumerSettings> {
        let invalid = |name: &str, value: &str, why: &str| {
            Error::new(
                local::INVALID_CONFIG,
                format!("invalid value '{value}' for configuration property '{name}': {why}"),
            )
        };
        if c.get("group.protocol").as_deref() == Some("consumer") {
            for name in [
                "session.timeout.ms",
                "heartbeat.interval.ms",
                "partition.assignment.strategy",
            ] {
                if c.is_set(name) {
                    return Err(Error::new(
                        local::INVALID_CONFIG,
                        format!(
                            "configuration property '{name}' is not supported with \
                             group.protocol=consumer (the broker controls it)"
                        ),
                    ));
                }
            }
        }
        let strategy = c.get("partition.assignment.strategy").unwrap_or_default();
        let mut assignors = Vec::new();
        for name in strategy.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let a: Assignor = name.parse().map_err(|_| {
                invalid(
                    "partition.assignment.strategy",
                    &strategy,
                    "expected a list of range, roundrobin, cooperative-sticky",
                )
            })?;
            if !assignors.contains(&a) {
                assignors.push(a);
            }
        }
        if assignors.is_empty() {
            return Err(invalid(
                "partition.assignment.strategy",
                &strategy,
                "no assignor given",
            ));
        }
        let cooperative = assignors
            .iter()
            .filter(|a| a.supports_cooperative())
            .count();
        if cooperative > 0 && cooperative < assignors.len() {
            return Err(invalid(
                "partition.assignment.strategy",
                &strategy,
                "cooperative and eager assignors cannot be mixed",
            ));
        }
        let session = c.ms("session.timeout.ms");
        let heartbeat = c.ms("heartbeat.interval.ms");
        if heartbeat >= session {
            return Err(invalid(
                "heartbeat.interval.ms",
                &heartbeat.as_millis().to_string(),
                "must be below session.timeout.ms",
            ));
        }
        let opt = |name: &str| c.get(name).filter(|v| !v.is_empty());
        let reset = match c.get("auto.offset.reset").as_deref() {
            Some("smallest" | "earliest" | "beginning") => OffsetReset::Earliest,
            Some("error") => OffsetReset::Error,
            _ => OffsetReset::Latest,
        };
        let backoff = c.ms("retry.backoff.ms");
        let backoff_max = c.ms("retry.backoff.max.ms").max(backoff);
        let clamp = |n: i64| n.clamp(0, i64::from(i32::MAX)) as i32;
        Ok(ConsumerSettings {
            group_id: c.get("group.id").unwrap_or_default(),
            group: GroupSettings {
                group_id: c.get("group.id").unwrap_or_default(),
                instance_id: opt("group.instance.id"),
                session_timeout: session,
                heartbeat_interval: heartbeat,
                max_poll_interval: c.ms("max.poll.interval.ms"),
                assignors,
                retry_backoff: backoff,
                retry_backoff_max: backoff_max,
                rack: opt("client.rack"),
                protocol: if c.get("group.protocol").as_deref() == Some("consumer") {
                    GroupProtocol::Consumer
                } else {
                    GroupProtocol::Classic
                },
                remote_assignor: opt("group.remote.assignor"),
            },
            fetch: FetchSettings {
                max_wait: c.ms("fetch.wait.max.ms"),
                min_bytes: clamp(c.int("fetch.min.bytes")),
                max_bytes: clamp(c.int("fetch.max.bytes")),
                partition_max_bytes: clamp(c.int("max.partition.fetch.bytes")),
                read_committed: c.get("isolation.level").as_deref() == Some("read_committed"),
                budget_bytes: (c.int("queued.max.messages.kbytes") as usize).saturating_mul(1024),
                response_decompress_cap: c.int("fetch.max.decompressed.bytes") as usize,
                check_crcs: c.flag("check.crcs"),
                rack: c.get("client.rack").unwrap_or_default(),
                read_replica_lease: c.ms("metadata.max.age.ms"),
                reset,
                partition_eof: c.flag("enable.partition.eof"),
                retry_backoff: backoff,
                retry_backoff_max: backoff_max,
            },
            auto_commit: c.flag("enable.auto.commit"),
            auto_commit_interval: c.ms("auto.commit.interval.ms"),
            auto_offset_store: c.flag("enable.auto.offset.store"),
            commit_timeout: c.ms("socket.timeout.ms"),
            close_timeout: Duration::from_secs(10),
            metadata_refresh: match c.ms("topic.metadata.refresh.interval.ms") {
                d if d.is_zero() => c.ms("metadata.max.age.ms"),
                d => d,
            },
            retry_backoff: backoff,
        })
    }
}
