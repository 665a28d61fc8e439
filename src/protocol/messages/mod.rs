//! One module per API. Each declares its request and response with the versions
//! implemented; see the module docs for the ranges. [`consumer_protocol`] is not an API
//! but the consumer's data carried inside JoinGroup and SyncGroup.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod api_versions;
pub mod consumer_group_heartbeat;
pub mod consumer_protocol;
pub mod create_topics;
pub mod delete_topics;
pub mod describe_transactions;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;
pub mod txn_offset_commit;

pub use add_offsets_to_txn::*;
pub use add_partitions_to_txn::*;
pub use api_versions::*;
pub use consumer_group_heartbeat::*;
pub use consumer_protocol::*;
pub use create_topics::*;
pub use delete_topics::*;
pub use describe_transactions::*;
pub use end_txn::*;
pub use fetch::*;
pub use find_coordinator::*;
pub use heartbeat::*;
pub use init_producer_id::*;
pub use join_group::*;
pub use leave_group::*;
pub use list_offsets::*;
pub use metadata::*;
pub use offset_commit::*;
pub use offset_fetch::*;
pub use produce::*;
pub use sasl_authenticate::*;
pub use sasl_handshake::*;
pub use sync_group::*;
pub use txn_offset_commit::*;
