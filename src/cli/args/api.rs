//! `token …`, `app …`, `feed …`: the API's applications, tokens and
//! calendar feeds.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token (shown once): `--app` for the application NAME, or
    /// `--user EMAIL` for a person (acting with their rights).
    Add {
        name: String,
        #[arg(long, conflicts_with = "user", required_unless_present = "user")]
        app: bool,
        #[arg(long)]
        user: Option<String>,
        /// Only these queues (repeatable; default: all the holder may use).
        #[arg(long = "queue")]
        queues: Vec<String>,
        #[arg(long)]
        read_only: bool,
        #[arg(long)]
        json: bool,
    },
    /// Every token (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: it is refused from then on.
    Revoke { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum AppCmd {
    /// Create an application and its private queue.
    Add {
        name: String,
        #[arg(long)]
        queue: String,
        /// The queue's address (for replies to task mail); default
        /// QUEUE@apps.docket.invalid.
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Give an application one more private queue.
    AddQueue {
        name: String,
        #[arg(long)]
        queue: String,
        /// The queue's address; default QUEUE@apps.docket.invalid.
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum FeedCmd {
    /// A secret calendar URL of a person's or a queue's dates (shown once).
    Add {
        #[arg(long, conflicts_with = "queue", required_unless_present = "queue")]
        user: Option<String>,
        #[arg(long)]
        queue: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a feed: its URL answers 404 from then on.
    Revoke { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum LdapCmd {
    /// Look EMAIL up in the directory and bind with the password on stdin:
    /// prints the DN, the name and the roles its groups map to; exit 0 when
    /// the bind succeeds, 1 when it is refused.
    Test {
        email: String,
        #[arg(long)]
        json: bool,
    },
    /// Refresh every directory account's roles; disable those who left.
    Sync {
        #[arg(long)]
        json: bool,
    },
}
