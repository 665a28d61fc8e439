//! The group consumer: what the group leader computes on the client side.
pub mod assignor;
pub mod fetcher;
pub mod group;
