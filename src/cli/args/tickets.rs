//! Arguments of `ticket`: looking at tickets and the triage flow.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TicketCmd {
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        queue: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Reply to the requestors (text on stdin) as a staff member.
    Reply {
        id: i64,
        #[arg(long = "as")]
        actor: String,
    },
    /// Add an internal comment (text on stdin).
    Comment {
        id: i64,
        #[arg(long = "as")]
        actor: String,
    },
    /// Change the status; the requestors are told, with the reason and ETA.
    Status {
        id: i64,
        status: String,
        #[arg(long = "as")]
        actor: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        eta: Option<String>,
        /// Resolving: the request's acceptance criteria were met (needed
        /// when it states any; recorded in the history).
        #[arg(long)]
        criteria_met: bool,
        #[arg(long)]
        json: bool,
    },
    /// Give the ticket to OWNER (none: back to the queue). Triagers and admins.
    Assign {
        id: i64,
        owner: Option<String>,
        #[arg(long = "as")]
        actor: String,
        /// Go over the owner's WIP limit (recorded in the history).
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Take the ticket yourself (taking it over if someone has it).
    Take {
        id: i64,
        #[arg(long = "as")]
        actor: String,
        /// Go over your WIP limit: triagers and admins only.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Hand the ticket to another engineer (--to), or back to triage.
    Escalate {
        id: i64,
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long = "as")]
        actor: String,
        #[arg(long)]
        json: bool,
    },
    /// Put the ticket off until a time (RFC 3339); it opens again then.
    Postpone {
        id: i64,
        #[arg(long)]
        until: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long = "as")]
        actor: String,
        #[arg(long)]
        json: bool,
    },
    /// Say when the work is expected done (RFC 3339), and why.
    Eta {
        id: i64,
        #[arg(long)]
        at: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long = "as")]
        actor: String,
        #[arg(long)]
        json: bool,
    },
    /// Split off a child ticket (same queue and requestors).
    Child {
        id: i64,
        #[arg(long)]
        subject: String,
        #[arg(long = "as")]
        actor: String,
        #[arg(long)]
        json: bool,
    },
    /// Link the ticket to another: --depends-on M or --refers-to M.
    Link {
        id: i64,
        #[arg(
            long,
            conflicts_with = "refers_to",
            required_unless_present = "refers_to"
        )]
        depends_on: Option<i64>,
        #[arg(long)]
        refers_to: Option<i64>,
        #[arg(long = "as")]
        actor: String,
        #[arg(long)]
        json: bool,
    },
    /// Merge this duplicate into ticket M; mail to either lands on M.
    Merge {
        id: i64,
        #[arg(long)]
        into: i64,
        #[arg(long = "as")]
        actor: String,
        #[arg(long)]
        json: bool,
    },
    /// Mail the requestor the questions on stdin and set needs-info.
    RequestInfo {
        id: i64,
        #[arg(long = "as")]
        actor: String,
        #[arg(long)]
        json: bool,
    },
}
