//! Kafka's error codes (filled in below).
