//! Pure rules: no I/O, no database. The time comes in through
//! [`clock::Clock`], never read on the side.

pub mod address;
pub mod aging;
pub mod auth_results;
pub mod business_hours;
pub mod clock;
pub mod commands;
pub mod digest;
pub mod intake;
pub mod lifecycle;
pub mod reply_token;
pub mod secret;
pub mod sla;
pub mod status_link;
pub mod subject_tag;
pub mod task_schema;
pub mod webhook_sign;
