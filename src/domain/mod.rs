//! Pure rules: no I/O, no database, no clock.

pub mod address;
pub mod auth_results;
pub mod reply_token;
pub mod secret;
pub mod subject_tag;
