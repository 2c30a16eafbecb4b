//! Pure rules: no I/O, no database, no clock.

pub mod address;
pub mod subject_tag;
