//! Running the commands of a staff member's mail, after the mail itself is
//! stored: each through the same use case (and rules) as on the web, each
//! recorded on the ticket as accepted or refused, a refusal told to its
//! author. Commands in mail that nothing authenticated are only noted.

use crate::config::Config;
use crate::domain::commands::{Command, Parsed};
use crate::service::tickets::{self, StatusChange, history};
use crate::service::{ServiceError, notify, ownership, status};
use crate::store::{self, Db};

/// Commands found in one stored mail.
#[derive(Debug, Clone)]
pub struct MailCommands {
    pub ticket: i64,
    pub actor: String,
    /// Through a personal reply address or a trusted server's verdict.
    pub authenticated: bool,
    pub parsed: Parsed,
}

/// A time as staff write it: RFC 3339, `2026-12-01 09:00`, or a date.
fn read_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp_millis());
    }
    for f in ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    crate::domain::intake::read_date(s)
        .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
        .and_then(|d| d.and_hms_opt(9, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

async fn run_one(
    db: &Db,
    cfg: &Config,
    m: &MailCommands,
    command: &Command,
    now: i64,
) -> Result<(), ServiceError> {
    let (id, who) = (m.ticket, m.actor.as_str());
    let reason = m.parsed.reason.as_deref().unwrap_or("");
    let time = |v: &str| {
        read_time(v).ok_or_else(|| ServiceError::Invalid(format!("{v:?} is not a date and time")))
    };
    match command {
        Command::Status(s) => {
            let change = StatusChange {
                status: s,
                reason: Some(reason).filter(|r| !r.is_empty()),
                eta: None,
                criteria_met: m.parsed.criteria_met,
            };
            tickets::change_status(db, cfg, id, who, change, now).await
        }
        Command::Owner(o) if o.eq_ignore_ascii_case("me") => {
            ownership::take(db, cfg, id, who, false, now).await
        }
        Command::Owner(o) if o.eq_ignore_ascii_case("nobody") => {
            ownership::assign(db, cfg, id, who, None, false, now).await
        }
        Command::Owner(o) => {
            let owner = crate::domain::address::normalise(o)
                .ok_or_else(|| ServiceError::Invalid(format!("{o:?} is not an address")))?;
            ownership::assign(db, cfg, id, who, Some(&owner), false, now).await
        }
        Command::Postpone(v) => status::postpone(db, cfg, id, who, time(v)?, reason, now).await,
        Command::Eta(v) => status::set_eta(db, cfg, id, who, time(v)?, reason, now).await,
        Command::Priority(p) => tickets::set_field(db, id, who, "priority", Some(p), now).await,
        Command::NeedsInfo(q) => status::request_info(db, cfg, id, who, q, now).await,
    }
}

/// Runs (or, unauthenticated, only notes) the commands; never fails the
/// mail, which is already stored.
pub async fn run(db: &Db, cfg: &Config, m: &MailCommands, now: i64) -> Result<(), ServiceError> {
    for command in &m.parsed.commands {
        let result = if m.authenticated {
            run_one(db, cfg, m, command, now)
                .await
                .map_err(|e| e.to_string())
        } else {
            Err("ignored: the mail was not authenticated as staff".to_string())
        };
        note(db, cfg, m, command, &result, now).await?;
    }
    Ok(())
}

/// The `command` entry on the ticket; a refusal is told to its author.
async fn note(
    db: &Db,
    cfg: &Config,
    m: &MailCommands,
    command: &Command,
    result: &Result<(), String>,
    now: i64,
) -> Result<(), ServiceError> {
    let mut tx = db.begin_write().await?;
    let Some(ctx) = store::tickets::context(&mut tx, m.ticket).await? else {
        return Ok(());
    };
    let creator = store::users::ensure(&mut tx, &m.actor, "", now).await?;
    let line = command.line();
    let outcome = match result {
        Ok(()) => "accepted".to_string(),
        Err(e) => format!("refused: {e}"),
    };
    let mut h = history(m.ticket, "command", Some(creator), &line, now);
    h.new_value = Some(&outcome);
    store::tickets::add_transaction(&mut tx, h).await?;
    if let (Err(why), true) = (result, m.authenticated) {
        let scope = notify::Scope::load(&mut tx, cfg, &ctx, now).await?;
        let body = format!("{line}\n\nrefused: {why}");
        let people = vec![m.actor.clone()];
        // Told to the author, who is excluded as actor: the notice names Docket.
        notify::tell_people(
            &mut tx,
            &scope,
            "Docket",
            &body,
            notify::StaffNotice::CommandRefused,
            people,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
