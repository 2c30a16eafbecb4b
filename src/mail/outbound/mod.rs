//! Outbound mail. Composition of outbox rows lives here; sending is the
//! outbox worker's job.

pub mod compose;
pub mod transport;
pub mod worker;
