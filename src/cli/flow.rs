//! The triage flow on the command line: status, take, assign, escalate,
//! postpone, ETA, request-info; the WIP and triage boards; the scheduler.
//! A rule that says no exits 1 with the reason (as JSON with `--json`:
//! `{"error": code, "message": …}`); bad usage exits 64.

use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;

use super::args::*;
use super::{EX_USAGE, connect_migrated, print_json, read_stdin_text};
use crate::config::Config;
use crate::service::{ServiceError, links, ownership, status, tickets as actions};
use crate::store::{Db, now_ms, tickets};

/// Runs a flow command on a ticket; `TicketCmd` variants not handled here
/// belong to `cli::tickets`.
pub(super) async fn ticket(cfg: &Config, db: &Db, cmd: TicketCmd) -> Result<ExitCode> {
    let (id, json) = match &cmd {
        TicketCmd::Status { id, json, .. }
        | TicketCmd::Assign { id, json, .. }
        | TicketCmd::Take { id, json, .. }
        | TicketCmd::Escalate { id, json, .. }
        | TicketCmd::Postpone { id, json, .. }
        | TicketCmd::Eta { id, json, .. }
        | TicketCmd::Child { id, json, .. }
        | TicketCmd::Link { id, json, .. }
        | TicketCmd::Merge { id, json, .. }
        | TicketCmd::RequestInfo { id, json, .. } => (*id, *json),
        _ => anyhow::bail!("not a flow command"),
    };
    let (done, shown) = match act(cfg, db, cmd).await {
        Ok(Ok((text, shown))) => (text, shown.unwrap_or(id)),
        Ok(Err(usage)) => {
            eprintln!("docket: {usage}");
            return Ok(ExitCode::from(EX_USAGE));
        }
        Err(e) => return refused(e, json),
    };
    if json {
        let mut conn = db.conn().await?;
        let t = tickets::show(&mut conn, shown)
            .await?
            .with_context(|| format!("ticket #{shown} vanished"))?;
        print_json(&t.ticket)?;
    } else {
        println!("{done}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The service call: what to say, and the ticket to show with `--json`
/// when it is not the one named (a new child). `Ok(Err(_))` is bad usage.
async fn act(
    cfg: &Config,
    db: &Db,
    cmd: TicketCmd,
) -> Result<Result<(String, Option<i64>), String>, ServiceError> {
    let now = now_ms();
    let who = |a: &str| crate::domain::address::normalise(a).unwrap_or_else(|| a.to_string());
    if let Some(done) = relate(db, &cmd, now).await? {
        return Ok(Ok(done));
    }
    Ok(Ok((
        match cmd {
            TicketCmd::Status {
                id,
                status,
                actor,
                reason,
                eta,
                criteria_met,
                ..
            } => {
                let change = actions::StatusChange {
                    status: &status,
                    reason: reason.as_deref(),
                    eta: eta.as_deref(),
                    criteria_met,
                };
                actions::change_status(db, cfg, id, &who(&actor), change, now).await?;
                format!("ticket #{id} is {status}")
            }
            TicketCmd::Take {
                id, actor, force, ..
            } => {
                ownership::take(db, cfg, id, &who(&actor), force, now).await?;
                format!("ticket #{id} is {}'s", who(&actor))
            }
            TicketCmd::Assign {
                id,
                owner,
                actor,
                force,
                ..
            } => {
                let owner = owner.map(|o| who(&o));
                ownership::assign(db, cfg, id, &who(&actor), owner.as_deref(), force, now).await?;
                format!(
                    "ticket #{id} owner: {}",
                    owner.as_deref().unwrap_or("nobody")
                )
            }
            TicketCmd::Escalate {
                id,
                to,
                reason,
                actor,
                ..
            } => {
                let to = to.map(|t| who(&t));
                let reason = reason.unwrap_or_default();
                ownership::escalate(db, cfg, id, &who(&actor), to.as_deref(), &reason, now).await?;
                match to {
                    Some(t) => format!("ticket #{id} escalated to {t}"),
                    None => format!("ticket #{id} is back in triage"),
                }
            }
            TicketCmd::Postpone {
                id,
                until,
                reason,
                actor,
                ..
            } => {
                let Some(at) = parse_time(&until) else {
                    return Ok(Err(format!("--until {until:?} is not an RFC 3339 time")));
                };
                let reason = reason.unwrap_or_default();
                status::postpone(db, cfg, id, &who(&actor), at, &reason, now).await?;
                format!("ticket #{id} is postponed until {until}")
            }
            TicketCmd::Eta {
                id,
                at,
                reason,
                actor,
                ..
            } => {
                let Some(when) = parse_time(&at) else {
                    return Ok(Err(format!("--at {at:?} is not an RFC 3339 time")));
                };
                let reason = reason.unwrap_or_default();
                status::set_eta(db, cfg, id, &who(&actor), when, &reason, now).await?;
                format!("ticket #{id}: expected {at}")
            }
            TicketCmd::RequestInfo { id, actor, .. } => {
                let questions =
                    read_stdin_text().map_err(|e| ServiceError::Invalid(e.to_string()))?;
                status::request_info(db, cfg, id, &who(&actor), &questions, now).await?;
                format!("ticket #{id} waits on the requestor; the questions are in the outbox")
            }
            _ => return Ok(Err("not a flow command".into())),
        },
        None,
    )))
}

/// Children, links and merges.
async fn relate(
    db: &Db,
    cmd: &TicketCmd,
    now: i64,
) -> Result<Option<(String, Option<i64>)>, ServiceError> {
    let who = |a: &str| crate::domain::address::normalise(a).unwrap_or_else(|| a.to_string());
    Ok(Some(match cmd {
        TicketCmd::Child {
            id, subject, actor, ..
        } => {
            let child = links::create_child(db, *id, &who(actor), subject, now).await?;
            (format!("ticket #{child} is a child of #{id}"), Some(child))
        }
        TicketCmd::Link {
            id,
            depends_on,
            refers_to,
            actor,
            ..
        } => {
            let (kind, target) = match (depends_on, refers_to) {
                (Some(t), _) => (links::LinkKind::DependsOn, *t),
                (None, Some(t)) => (links::LinkKind::RefersTo, *t),
                (None, None) => {
                    return Err(ServiceError::Invalid("--depends-on or --refers-to".into()));
                }
            };
            links::link(db, *id, &who(actor), kind, target, now).await?;
            (format!("ticket #{id} {} #{target}", kind.as_str()), None)
        }
        TicketCmd::Merge {
            id, into, actor, ..
        } => {
            links::merge(db, *id, *into, &who(actor), now).await?;
            (format!("ticket #{id} is merged into #{into}"), Some(*into))
        }
        _ => return Ok(None),
    }))
}

/// RFC 3339 (`2026-12-01T09:00:00Z`, `2026-12-01T09:00:00+01:00`) to ms.
fn parse_time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.timestamp_millis())
}

#[derive(Serialize)]
struct Problem<'a> {
    error: &'a str,
    message: String,
}

/// Exit 1 with the reason, on stderr and (with `--json`) as JSON.
pub(super) fn refused(e: ServiceError, json: bool) -> Result<ExitCode> {
    let code = match &e {
        ServiceError::Refused { code, .. } => *code,
        ServiceError::NoTicket(_) => "no_ticket",
        ServiceError::Invalid(_) | ServiceError::Fields { .. } => "invalid",
        _ => return Err(e.into()),
    };
    let message = e.to_string();
    eprintln!("docket: {message}");
    if json {
        print_json(&Problem {
            error: code,
            message,
        })?;
    }
    Ok(ExitCode::FAILURE)
}

pub(super) async fn wip(cfg: &Config, json: bool) -> Result<ExitCode> {
    let db = connect_migrated(cfg).await?;
    let rows = crate::service::board::wip(&db).await?;
    if json {
        print_json(&rows)?;
    } else {
        for r in rows {
            let limit = r.limit.map_or("-".to_string(), |l| l.to_string());
            println!(
                "{:<30} {:<16} {:<8} {:>3}/{:<3} ({} here)",
                r.user, r.queue, r.role, r.open, limit, r.open_here
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Ticket ids per section, as `docket triage --json` prints them.
#[derive(Serialize)]
struct TriageIds {
    new_unowned: Vec<i64>,
    incomplete: Vec<i64>,
    needs_info: Vec<i64>,
    stale: Vec<i64>,
    waking: Vec<i64>,
    over_wip: Vec<String>,
}

pub(super) async fn triage(
    cfg: &Config,
    queue: Option<String>,
    stale_days: i64,
    json: bool,
) -> Result<ExitCode> {
    let db = connect_migrated(cfg).await?;
    let ids = match &queue {
        None => None,
        Some(name) => match crate::service::board::queue_named(&db, name).await {
            Ok(id) => Some(vec![id]),
            Err(e) => return refused(e, json),
        },
    };
    let b = crate::service::board::triage(&db, ids.as_deref(), stale_days, now_ms()).await?;
    let ids = |l: &[crate::store::triage::TriageLine]| l.iter().map(|t| t.id).collect();
    if json {
        print_json(&TriageIds {
            new_unowned: ids(&b.new_unowned),
            incomplete: ids(&b.incomplete),
            needs_info: ids(&b.needs_info),
            stale: ids(&b.stale),
            waking: ids(&b.waking),
            over_wip: b.over_wip,
        })?;
    } else {
        for (title, lines) in [
            ("new and unowned", &b.new_unowned),
            ("incomplete requests", &b.incomplete),
            ("waiting on the requestor", &b.needs_info),
            ("no update lately", &b.stale),
            ("waking this week", &b.waking),
        ] {
            println!("{title} ({})", lines.len());
            for t in lines.iter() {
                println!(
                    "  #{:<6} {:<12} {:<10} {}",
                    t.id, t.queue, t.status, t.subject
                );
            }
        }
        println!("at or over their WIP limit: {}", b.over_wip.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn scheduler(cfg: &Config, cmd: SchedulerCmd) -> Result<ExitCode> {
    let SchedulerCmd::Run { once, at, json } = cmd;
    let at = match at
        .as_deref()
        .map(chrono::DateTime::parse_from_rfc3339)
        .transpose()
    {
        Ok(at) => at.map(|d| d.timestamp_millis()),
        Err(_) => {
            eprintln!("docket: --at takes an RFC 3339 time like 2026-12-01T09:00:00Z");
            return Ok(ExitCode::from(EX_USAGE));
        }
    };
    let db = connect_migrated(cfg).await?;
    let shutdown = super::serve::shutdown_signal()?;
    tokio::pin!(shutdown);
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut shutdown => break,
        }
        let now = at.unwrap_or_else(now_ms);
        let report = crate::service::scheduler::run_once(&db, cfg, now).await?;
        if json {
            super::print_line(&report)?;
        } else if once || !report.woken.is_empty() || !report.breached.is_empty() {
            println!(
                "woke {} postponed tickets; recorded {} SLA breaches",
                report.woken.len(),
                report.breached.len()
            );
        }
        if once {
            break;
        }
    }
    db.close().await;
    Ok(ExitCode::SUCCESS)
}
