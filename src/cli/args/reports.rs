//! Arguments of `calendar`, `sla` and `report`.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum CalendarCmd {
    /// Add a calendar, or replace the one of that name.
    Add {
        name: String,
        /// IANA time zone, such as Europe/Berlin.
        #[arg(long)]
        tz: String,
        /// Working hours, repeatable: "mon-fri 09:00-17:00", "sat 10:00-12:00,13:00-14:00".
        #[arg(long = "hours", required = true)]
        hours: Vec<String>,
        /// A day off (YYYY-MM-DD), repeatable.
        #[arg(long = "holiday")]
        holidays: Vec<String>,
        /// An iCalendar file whose events are days off.
        #[arg(long)]
        holidays_ics: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
#[expect(clippy::large_enum_variant, reason = "parsed once per run")]
pub enum SlaCmd {
    /// Add a policy, or change the one of that name (open tickets of the
    /// queue take it from now on).
    Add {
        name: String,
        #[arg(long)]
        queue: String,
        /// Only for tickets of this priority (default: any).
        #[arg(long)]
        priority: Option<i64>,
        /// Business time to the first staff reply: 90m, 4h, 2d, 1d4h.
        #[arg(long)]
        first_response: String,
        /// Business time to resolution.
        #[arg(long)]
        resolve: String,
        /// Business time to answer each later requestor reply.
        #[arg(long)]
        next_response: Option<String>,
        /// The calendar the clocks count in (24x7 is built in).
        #[arg(long)]
        calendar: String,
        /// Statuses that stop the clocks (default needs-info,postponed,stalled).
        #[arg(long)]
        pause: Option<String>,
        /// Share of a target after which a ticket is at risk (default 75).
        #[arg(long)]
        at_risk: Option<i64>,
        /// Raise a breached ticket's priority to this.
        #[arg(long)]
        escalate_priority: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportCmd {
    /// Open tickets by age against queue, owner and status.
    Aging {
        #[arg(long)]
        queue: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        /// As of this time (RFC 3339), answered from the history.
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Tickets at risk of missing an SLA target, and breached.
    Sla {
        #[arg(long)]
        queue: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Created and resolved per week, the backlog, response and resolution times.
    Flow {
        #[arg(long)]
        queue: Option<String>,
        #[arg(long, default_value_t = 12)]
        weeks: i64,
        #[arg(long)]
        json: bool,
    },
}
