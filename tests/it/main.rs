//! One integration-test binary; each module is a feature area. Tests that
//! touch storage run against SQLite and PostgreSQL alike (see `both!`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod api;
mod app;
mod bad_input;
mod browser;
mod classification;
mod cli;
mod corpus;
mod crash;
mod dedupe;
mod directory;
mod flow;
mod imap;
mod imap_safety;
mod layering;
mod mail_safety;
mod oauth2;
mod outbound;
mod postfix;
mod sign_in_link;
mod sla;
mod team;
mod threading;
mod web;
