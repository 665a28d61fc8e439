//! CreateTopics and DeleteTopics, sent to the controller (any broker forwards in KRaft).

use super::Client;
use crate::cluster::Cluster;
use crate::error::{local, Error, Result};
use crate::protocol::messages::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest, DeleteTopicState,
    DeleteTopicsRequest,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    /// -1 for the broker's default.
    pub num_partitions: i32,
    /// -1 for the broker's default.
    pub replication_factor: i16,
    pub configs: Vec<(String, Option<String>)>,
}

/// The outcome for one topic of a create or delete call.
#[derive(Debug, Clone)]
pub struct TopicResult {
    pub name: String,
    pub error: Option<Error>,
}

impl Client {
    fn controller(&self, deadline: Instant) -> Result<Arc<crate::net::Connection>> {
        let cluster = self.cluster();
        let md = cluster.fetch_metadata(Some(&[]), deadline)?;
        if md.controller_id >= 0 {
            if let Ok(c) = cluster.broker(md.controller_id, deadline) {
                return Ok(c);
            }
        }
        cluster.any_broker(deadline)
    }

    /// Creates topics. The call fails as a whole only when no broker answers; each topic
    /// has its own outcome (TOPIC_ALREADY_EXISTS, INVALID_REPLICATION_FACTOR, …).
    pub fn create_topics(
        &self,
        topics: &[NewTopic],
        timeout: Duration,
    ) -> Result<Vec<TopicResult>> {
        if topics.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(t) = topics.iter().find(|t| t.name.is_empty()) {
            return Err(Error::invalid_arg(format!(
                "topic name must not be empty ({t:?})"
            )));
        }
        let deadline = Cluster::deadline(timeout);
        let req = CreateTopicsRequest {
            topics: topics
                .iter()
                .map(|t| CreatableTopic {
                    name: t.name.clone(),
                    num_partitions: t.num_partitions,
                    replication_factor: t.replication_factor,
                    assignments: Vec::new(),
                    configs: t
                        .configs
                        .iter()
                        .map(|(k, v)| CreatableTopicConfig {
                            name: k.clone(),
                            value: v.clone(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            timeout_ms: timeout.as_millis().min(i32::MAX as u128) as i32,
            validate_only: false,
            ..Default::default()
        };
        self.cluster().retry(deadline, |_| {
            let conn = self.controller(deadline)?;
            let (_, resp) = conn
                .request(&req, deadline)
                .map_err(|e| e.context(format!("CreateTopics on {}", conn.name)))?;
            // NOT_CONTROLLER for any topic: retry the whole call at the new controller.
            if resp.topics.iter().any(|t| t.error_code == 41) {
                return Err(Error::kafka(41, format!("CreateTopics on {}", conn.name)));
            }
            Ok(topics
                .iter()
                .map(|t| {
                    let r = resp.topics.iter().find(|r| r.name == t.name);
                    let error = match r {
                        None => Some(Error::protocol(format!(
                            "CreateTopics on {}: topic '{}' missing from the response",
                            conn.name, t.name
                        ))),
                        Some(r) if r.error_code != 0 => Some(Error::kafka_with_message(
                            r.error_code,
                            r.error_message.as_deref(),
                            format!("create topic '{}'", t.name),
                        )),
                        Some(_) => None,
                    };
                    TopicResult {
                        name: t.name.clone(),
                        error,
                    }
                })
                .collect())
        })
    }

    /// Deletes topics by name; each topic has its own outcome.
    pub fn delete_topics(&self, names: &[String], timeout: Duration) -> Result<Vec<TopicResult>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let deadline = Cluster::deadline(timeout);
        let req = DeleteTopicsRequest {
            topics: names
                .iter()
                .map(|n| DeleteTopicState {
                    name: Some(n.clone()),
                    ..Default::default()
                })
                .collect(),
            topic_names: names.to_vec(),
            timeout_ms: timeout.as_millis().min(i32::MAX as u128) as i32,
            ..Default::default()
        };
        let out = self.cluster().retry(deadline, |_| {
            let conn = self.controller(deadline)?;
            let (_, resp) = conn
                .request(&req, deadline)
                .map_err(|e| e.context(format!("DeleteTopics on {}", conn.name)))?;
            if resp.responses.iter().any(|t| t.error_code == 41) {
                return Err(Error::kafka(41, format!("DeleteTopics on {}", conn.name)));
            }
            Ok(names
                .iter()
                .map(|n| {
                    let r = resp
                        .responses
                        .iter()
                        .find(|r| r.name.as_deref() == Some(n.as_str()));
                    let error = match r {
                        None => Some(Error::new(
                            local::PROTOCOL,
                            format!(
                                "DeleteTopics on {}: topic '{n}' missing from the response",
                                conn.name
                            ),
                        )),
                        Some(r) if r.error_code != 0 => Some(Error::kafka_with_message(
                            r.error_code,
                            r.error_message.as_deref(),
                            format!("delete topic '{n}'"),
                        )),
                        Some(_) => None,
                    };
                    TopicResult {
                        name: n.clone(),
                        error,
                    }
                })
                .collect::<Vec<_>>())
        })?;
        for n in names {
            self.cluster().invalidate(n);
        }
        Ok(out)
    }
}
