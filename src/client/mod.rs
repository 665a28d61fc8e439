//! The low-level client: metadata, produce, fetch, list offsets, create and delete topics.
//! Every call routes to the right broker, retries retriable errors within its timeout,
//! and returns errors that name the topic, partition, broker and request.

mod admin;
mod fetch;
mod offsets;
mod produce;
mod routing;

pub use admin::{NewTopic, TopicResult};
pub use fetch::{FetchRequestSpec, FetchResult};
pub use offsets::{OffsetQuery, OffsetResult, OffsetSpec};

use crate::cluster::{Cluster, Metadata};
use crate::config::Config;
use crate::error::Result;
use std::time::Duration;

/// A connection to a Kafka cluster. `Send + Sync`: share one between threads; requests
/// from different threads pipeline on the broker connections.
pub struct Client {
    cluster: Cluster,
}

impl Client {
    /// Validates the configuration and creates a client. No connection is opened until
    /// the first request.
    pub fn new(config: &Config) -> Result<Client> {
        let settings = config.settings()?;
        Ok(Client {
            cluster: Cluster::new(settings)?,
        })
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Brokers, and topics with their partitions: `None` asks for every topic.
    pub fn metadata(&self, topics: Option<&[String]>, timeout: Duration) -> Result<Metadata> {
        let deadline = Cluster::deadline(timeout);
        self.cluster
            .retry(deadline, |_| self.cluster.fetch_metadata(topics, deadline))
    }
}
