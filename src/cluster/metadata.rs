//! Cluster metadata as the client uses it, and the per-topic cache.

use crate::protocol::messages::MetadataResponse;
use crate::protocol::Uuid;
use std::collections::HashMap;
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

/// Topic metadata with the time it was fetched.
#[derive(Default)]
pub(super) struct Cache {
    topics: HashMap<String, (TopicMeta, Instant)>,
}

impl Cache {
    pub fn update(&mut self, md: &Metadata, all_topics: bool) {
        let now = Instant::now();
        if all_topics {
            self.topics.clear();
        }
        for t in &md.topics {
            if t.error_code == 0 {
                self.topics.insert(t.name.clone(), (t.clone(), now));
            } else {
                self.topics.remove(&t.name);
            }
        }
    }

    pub fn get(&self, topic: &str, max_age: Duration) -> Option<TopicMeta> {
        let (t, at) = self.topics.get(topic)?;
        (at.elapsed() < max_age).then(|| t.clone())
    }

    pub fn invalidate(&mut self, topic: &str) {
        self.topics.remove(topic);
    }
}
