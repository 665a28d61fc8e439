//! The low-level client: metadata, produce, fetch, list offsets, create and delete topics.
//! Every call routes to the right broker, retries retriable errors within its timeout,
//! and returns errors that name the topic, partition, broker and request.

mod admin;
mod fetch;
mod offsets;
pub(crate) mod produce;
mod routing;

pub use admin::{NewTopic, TopicResult};
pub use fetch::{FetchRequestSpec, FetchResult};
pub use offsets::{OffsetQuery, OffsetResult, OffsetSpec};

use crate::cluster::{Cluster, Metadata, Refresher};
use crate::config::Config;
use crate::error::Result;
use std::sync::Arc;
use std::time::Duration;

/// A connection to a Kafka cluster. `Send + Sync`: share one between threads; requests
/// from different threads pipeline on the broker connections.
pub struct Client {
    cluster: Arc<Cluster>,
    refresher: Option<Refresher>,
}

impl Client {
    /// Validates the configuration and creates a client. No connection is opened until
    /// the first request.
    pub fn new(config: &Config) -> Result<Client> {
        let settings = config.settings()?;
        let interval = settings.metadata_refresh_interval;
        let cluster = Arc::new(Cluster::new(settings)?);
        let refresher = Refresher::start(Arc::downgrade(&cluster), interval);
        Ok(Client { cluster, refresher })
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Closes every connection (calls waiting on them return a DESTROY error) and stops
    /// the client's threads. Dropping the client does the same.
    pub fn close(&mut self) {
        if let Some(r) = self.refresher.as_ref() {
            r.signal_stop();
        }
        // Wakes a refresh in flight with a DESTROY error, so the thread can stop.
        self.cluster.close();
        if let Some(mut r) = self.refresher.take() {
            r.stop();
        }
    }

    /// Brokers, and topics with their partitions: `None` asks for every topic.
    pub fn metadata(&self, topics: Option<&[String]>, timeout: Duration) -> Result<Metadata> {
        let deadline = Cluster::deadline(timeout);
        self.cluster
            .retry(deadline, |_| self.cluster.fetch_metadata(topics, deadline))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close();
    }
}
