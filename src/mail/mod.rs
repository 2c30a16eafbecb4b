//! Mail in and out.

pub mod generate;
pub mod inbound;
pub mod oauth2;
pub mod outbound;
