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

/// A partition's leader named by a broker in an answer rather than by Metadata (KIP-951:
/// `CurrentLeader` of a Produce or Fetch answer with NOT_LEADER_OR_FOLLOWER or
/// FENCED_LEADER_EPOCH).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderHint {
    pub topic: String,
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
}

impl LeaderHint {
    /// Whether the hint names a leader and an epoch (-1 means the broker does not know).
    pub fn is_known(&self) -> bool {
        self.leader >= 0 && self.leader_epoch >= 0
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

    /// Whether this snapshot has `hint`'s leader at `hint`'s epoch for its partition.
    pub fn holds(&self, hint: &LeaderHint) -> bool {
        self.topics
            .get(&hint.topic)
            .and_then(|t| t.partition(hint.partition))
            .is_some_and(|p| p.leader == hint.leader && p.leader_epoch == hint.leader_epoch)
    }

    /// The snapshot after `hints`, or `None` if none of them changes anything. A hint
    /// moves its partition's leader only when it names a leader and an epoch newer than
    /// the one held (KIP-320, as in [`Snapshot::merged`]); hints for topics or partitions
    /// not in the snapshot are ignored. Only the topics that change are copied, each once;
    /// a changed topic keeps when it was fetched and whether it was marked stale (a hint
    /// is no refresh of the topic's other partitions).
    pub fn with_leaders(&self, hints: &[LeaderHint]) -> Option<Snapshot> {
        let mut changed: HashMap<&str, TopicMeta> = HashMap::new();
        for h in hints {
            if !h.is_known() {
                continue;
            }
            let Some(old) = self.topics.get(&h.topic) else {
                continue;
            };
            let held = changed
                .get(h.topic.as_str())
                .and_then(|m| m.partitions.iter().find(|p| p.partition == h.partition))
                .or_else(|| old.partition(h.partition));
            if held.is_none_or(|p| h.leader_epoch <= p.leader_epoch) {
                continue;
            }
            let meta = changed
                .entry(h.topic.as_str())
                .or_insert_with(|| old.meta.clone());
            if let Some(p) = meta
                .partitions
                .iter_mut()
                .find(|p| p.partition == h.partition)
            {
                p.leader = h.leader;
                p.leader_epoch = h.leader_epoch;
                // A partition that had no leader (LEADER_NOT_AVAILABLE) has one now.
                p.error_code = 0;
            }
        }
        if changed.is_empty() {
            return None;
        }
        let mut topics = self.topics.clone();
        for (name, meta) in changed {
            let old = &self.topics[name];
            topics.insert(
                name.to_owned(),
                Arc::new(TopicEntry {
                    meta,
                    fetched_at: old.fetched_at,
                    stale: AtomicBool::new(old.stale.load(Ordering::Relaxed)),
                }),
            );
        }
        Some(Snapshot {
            topics,
            names_by_id: self.names_by_id.clone(),
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(leader: i32, epoch: i32) -> Metadata {
        Metadata {
            brokers: vec![],
            cluster_id: None,
            controller_id: 1,
            topics: vec![TopicMeta {
                name: "t".into(),
                error_code: 0,
                topic_id: Uuid([1; 16]),
                is_internal: false,
                partitions: (0..3)
                    .map(|p| PartitionMeta {
                        partition: p,
                        error_code: 0,
                        leader,
                        leader_epoch: epoch,
                        replicas: vec![1, 2],
                        isr: vec![1, 2],
                        offline: vec![],
                    })
                    .collect(),
            }],
        }
    }

    fn hint(partition: i32, leader: i32, leader_epoch: i32) -> LeaderHint {
        LeaderHint {
            topic: "t".into(),
            partition,
            leader,
            leader_epoch,
        }
    }

    #[test]
    fn a_newer_hint_moves_one_partition_and_copies_on_write() {
        let now = Instant::now();
        let snap = Snapshot::default().merged(&metadata(1, 5), false, now);
        snap.invalidate("t");
        let before = snap.topic("t").unwrap().clone();
        let next = snap.with_leaders(&[hint(1, 2, 6)]).unwrap();
        // The old snapshot and its entry are untouched.
        assert_eq!(before.partition(1).unwrap().leader, 1);
        assert!(Arc::ptr_eq(&before, snap.topic("t").unwrap()));
        let t = next.topic("t").unwrap();
        assert!(!Arc::ptr_eq(&before, t));
        let p = t.partition(1).unwrap();
        assert_eq!((p.leader, p.leader_epoch), (2, 6));
        assert_eq!(t.partition(0).unwrap().leader, 1);
        assert_eq!(t.partition(2).unwrap().leader, 1);
        assert_eq!(t.fetched_at, now);
        assert!(t.is_stale(Duration::from_secs(60)), "stale mark kept");
        assert!(next.holds(&hint(1, 2, 6)));
        assert!(!snap.holds(&hint(1, 2, 6)));
        assert_eq!(next.topic_name(&Uuid([1; 16])), Some("t"));
    }

    #[test]
    fn old_equal_unknown_and_foreign_hints_change_nothing() {
        let snap = Snapshot::default().merged(&metadata(1, 5), false, Instant::now());
        for h in [
            hint(0, 2, 4),
            hint(0, 2, 5),
            hint(0, -1, 9),
            hint(0, 2, -1),
            hint(7, 2, 9),
            LeaderHint {
                topic: "other".into(),
                ..hint(0, 2, 9)
            },
        ] {
            assert!(
                snap.with_leaders(std::slice::from_ref(&h)).is_none(),
                "{h:?}"
            );
        }
        assert!(snap.holds(&hint(0, 1, 5)));
    }

    #[test]
    fn several_hints_for_one_topic_copy_it_once_and_the_newest_wins() {
        let snap = Snapshot::default().merged(&metadata(1, 5), false, Instant::now());
        let next = snap
            .with_leaders(&[hint(0, 2, 6), hint(2, 3, 8), hint(0, 3, 7), hint(0, 1, 6)])
            .unwrap();
        let t = next.topic("t").unwrap();
        let leaders: Vec<(i32, i32)> = t
            .meta
            .partitions
            .iter()
            .map(|p| (p.leader, p.leader_epoch))
            .collect();
        assert_eq!(leaders, [(3, 7), (1, 5), (3, 8)]);
        // A later Metadata answer with an older epoch does not move it back (KIP-320).
        let merged = next.merged(&metadata(1, 6), false, Instant::now());
        assert!(merged.holds(&hint(0, 3, 7)));
        assert!(merged.holds(&hint(1, 1, 6)));
    }
}
