//! Cluster metadata as the client uses it, and the per-topic cache.

use crate::protocol::messages::MetadataResponse;
use crate::protocol::Uuid;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq)]
pub struct BrokerMeta {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionMeta {
    pub partition: i32,
    pub error_code: i16,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopicMeta {
    pub name: String,
    pub error_code: i16,
    pub topic_id: Uuid,
    pub is_internal: bool,
    pub partitions: Vec<PartitionMeta>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata {
    pub brokers: Vec<BrokerMeta>,
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub topics: Vec<TopicMeta>,
}

impl Metadata {
    pub fn from_response(r: MetadataResponse) -> Self {
        let mut brokers: Vec<BrokerMeta> = r
            .brokers
            .into_iter()
            .map(|b| BrokerMeta {
                id: b.node_id,
                host: b.host,
                port: b.port,
                rack: b.rack,
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        let mut topics: Vec<TopicMeta> = r
            .topics
            .into_iter()
            .map(|t| {
                let mut partitions: Vec<PartitionMeta> = t
                    .partitions
                    .into_iter()
                    .map(|p| PartitionMeta {
                        partition: p.partition_index,
                        error_code: p.error_code,
                        leader: p.leader_id,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes,
                        isr: p.isr_nodes,
                        offline: p.offline_replicas,
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                TopicMeta {
                    name: t.name.unwrap_or_default(),
                    error_code: t.error_code,
                    topic_id: t.topic_id,
                    is_internal: t.is_internal,
                    partitions,
                }
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Metadata {
            brokers,
            cluster_id: r.cluster_id,
            controller_id: r.controller_id,
            topics,
        }
    }
}

/// What the client knows of one topic, with when it learnt it.
#[derive(Debug)]
pub struct TopicEntry {
    pub meta: TopicMeta,
    pub fetched_at: Instant,
    /// Set when an answer showed the leadership may have moved: the next lookup refreshes.
    stale: AtomicBool,
}

impl TopicEntry {
    /// Partition `p`, in O(1) when partitions are numbered 0..n (always, from Kafka).
    pub fn partition(&self, p: i32) -> Option<&PartitionMeta> {
        let parts = &self.meta.partitions;
        match usize::try_from(p).ok().and_then(|i| parts.get(i)) {
            Some(pm) if pm.partition == p => Some(pm),
            _ => parts
                .binary_search_by_key(&p, |pm| pm.partition)
                .ok()
                .map(|i| &parts[i]),
        }
    }

    pub fn is_stale(&self, max_age: Duration) -> bool {
        self.stale.load(Ordering::Relaxed) || self.fetched_at.elapsed() >= max_age
    }
}

/// An immutable view of the cluster's topics, shared by reference (`Arc`) and replaced
/// whole by each refresh. Lookups never copy topic metadata.
#[derive(Debug, Default)]
pub struct Snapshot {
    topics: HashMap<String, Arc<TopicEntry>>,
    names_by_id: HashMap<Uuid, String>,
}

impl Snapshot {
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicEntry>> {
        self.topics.get(name)
    }

    /// A topic's name from its id (Fetch v13+ and other id-based answers).
    pub fn topic_name(&self, id: &Uuid) -> Option<&str> {
        self.names_by_id.get(id).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.topics.len()
    }

    /// The names of the topics known.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.topics.keys().cloned().collect();
        v.sort_unstable();
        v
    }

    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// Marks `topic` stale without copying anything: its next lookup refreshes.
    pub fn invalidate(&self, topic: &str) {
        if let Some(t) = self.topics.get(topic) {
            t.stale.store(true, Ordering::Relaxed);
        }
    }

    /// The snapshot after `md`: its topics replace ours (every topic when `all_topics`),
    /// except partitions whose leader epoch is older than the one we hold (KIP-320: an
    /// answer from a broker that has not caught up must not move leadership back).
    pub fn merged(&self, md: &Metadata, all_topics: bool, now: Instant) -> Snapshot {
        let mut topics = if all_topics {
            HashMap::with_capacity(md.topics.len())
        } else {
            self.topics.clone()
        };
        for t in &md.topics {
            let mut meta = t.clone();
            if let Some(old) = self.topics.get(&t.name) {
                let same_topic = old.meta.topic_id == meta.topic_id
                    || old.meta.topic_id == Uuid::default()
                    || meta.topic_id == Uuid::default();
                if same_topic && meta.error_code == 0 {
                    for p in &mut meta.partitions {
                        if let Some(o) = old.partition(p.partition) {
                            if o.leader_epoch >= 0
                                && p.leader_epoch >= 0
                                && o.leader_epoch > p.leader_epoch
                            {
                                *p = o.clone();
                            }
                        }
                    }
                }
            }
            topics.insert(
                t.name.clone(),
                Arc::new(TopicEntry {
                    // A topic the broker had an error for (not created yet, say) is asked
                    // again by the next retry round, which refreshes what it needs.
                    stale: AtomicBool::new(false),
                    meta,
                    fetched_at: now,
                }),
            );
        }
        let names_by_id = topics
            .values()
            .filter(|t| t.meta.topic_id != Uuid::default())
            .map(|t| (t.meta.topic_id, t.meta.name.clone()))
            .collect();
        Snapshot {
            topics,
            names_by_id,
        }
    }
}
