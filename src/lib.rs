//! Docket: an email-centric ticket gateway in the tradition of Request Tracker.

pub mod app;
pub mod cli;
pub mod config;
pub mod directory;
pub mod domain;
pub mod mail;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod web;
