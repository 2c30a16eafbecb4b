//! Inbound mail, pure: parsing, classification, routing and threading
//! rules, and reading mail from IMAP, mbox and Maildir. The use case that
//! stores it is `service::ingest`.

pub mod bounded;
pub mod classify;
pub mod imap;
pub mod mbox;
pub mod parse;
pub mod route;
pub mod thread;
