//! Pieces shared by the test brokers written in Rust (`tests/bad_broker.rs`,
//! `tests/old_broker.rs`): reading a request frame and a one-broker metadata answer.
#![allow(dead_code)]

use kafkac::protocol::messages::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use std::io::Read;
use std::net::TcpStream;

/// Reads one size-prefixed request frame; `None` when the client has gone.
pub fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

/// Metadata of a cluster of one broker (`node_id` at 127.0.0.1:`port`) holding `topic`
/// with one partition it leads.
pub fn one_broker_metadata(node_id: i32, port: u16, topic: &str) -> MetadataResponse {
    MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id,
            host: "127.0.0.1".into(),
            port: i32::from(port),
            ..Default::default()
        }],
        controller_id: node_id,
        topics: vec![MetadataResponseTopic {
            name: Some(topic.into()),
            partitions: vec![MetadataResponsePartition {
                partition_index: 0,
                leader_id: node_id,
                replica_nodes: vec![node_id],
                isr_nodes: vec![node_id],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}
