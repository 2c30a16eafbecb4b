//! Inbound mail: every source (mailgate, import, IMAP) goes through [`ingest`].

pub mod bounded;
pub mod classify;
pub mod imap;
pub mod import;
pub mod ingest;
pub mod mbox;
pub mod parse;
pub mod route;
pub mod thread;

pub use ingest::{Ingestor, Outcome, OutcomeKind, Source};
