//! SLA policies and their clocks: calendars and policies as admins set
//! them, the deadlines kept on each ticket (worked out again in the same
//! transaction as every change they depend on), and the breaches the
//! scheduler records and mails once.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::AnyConnection;

use super::tickets::history;
use super::{ServiceError, notify};
use crate::config::Config;
use crate::domain::business_hours::{Calendar, Duration};
use crate::domain::lifecycle::Status;
use crate::domain::sla::{self, Clock, Clocks, Targets, Timeline};
use crate::store::sla::{self as store, ClockColumns, PolicyRow};
use crate::store::{self as db_store, Db, tickets};

mod setup;
pub use setup::*;

pub(super) fn split(text: &str, by: char) -> Vec<String> {
    text.split(by)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub(super) fn invalid(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Invalid(e.to_string())
}

/// The domain's view of a stored policy.
pub(crate) fn targets_of(p: &PolicyRow) -> Result<(Calendar, Targets), ServiceError> {
    let tz: chrono_tz::Tz = p
        .time_zone
        .parse()
        .map_err(|_| invalid(format!("calendar {} has a bad time zone", p.calendar)))?;
    let holidays = split(&p.holidays, ',')
        .iter()
        .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .collect();
    let cal = Calendar::parse(tz, &split(&p.hours, ';'), holidays).map_err(invalid)?;
    let d = |s: &str| Duration::parse(s).map_err(invalid);
    let targets = Targets {
        first_response: d(&p.first_response)?,
        resolve: d(&p.resolve)?,
        next_response: p.next_response.as_deref().map(d).transpose()?,
        pause: split(&p.pause, ',')
            .iter()
            .filter_map(|s| Status::parse(s))
            .collect(),
        at_risk_percent: p.at_risk_percent,
    };
    Ok((cal, targets))
}

fn timeline(created_at: i64, events: Vec<store::Event>) -> Timeline {
    let mut t = Timeline {
        created_at,
        ..Timeline::default()
    };
    for e in events {
        match e.kind.as_str() {
            "staff" => t.staff_replies.push(e.at),
            "requestor" => t.requestor_replies.push(e.at),
            _ => {
                if let Some(s) = e.value.as_deref().and_then(Status::parse) {
                    t.statuses.push((e.at, s));
                }
            }
        }
    }
    t
}

fn recorded(list: &str) -> Vec<Clock> {
    list.split(',').filter_map(Clock::parse).collect()
}

fn list_text(clocks: &[Clock]) -> String {
    clocks
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The ticket's facts, the policy it falls under (if any), and its clocks
/// at `now` under that policy.
async fn work_out(
    conn: &mut AnyConnection,
    ticket: i64,
    now: i64,
) -> Result<Option<(store::TicketFacts, Option<(PolicyRow, Clocks)>)>, ServiceError> {
    let Some(f) = store::facts(&mut *conn, ticket).await? else {
        return Ok(None);
    };
    if f.merged_into.is_some() {
        // A merged ticket lives on in its survivor: no clocks of its own.
        return Ok(Some((f, None)));
    }
    let Some(policy) = store::policy_for(&mut *conn, f.queue_id, f.priority).await? else {
        return Ok(Some((f, None)));
    };
    let (cal, targets) = targets_of(&policy)?;
    let events = store::events(&mut *conn, ticket).await?;
    let clocks = sla::clocks(&cal, &timeline(f.created_at, events), &targets, now);
    Ok(Some((f, Some((policy, clocks)))))
}

/// Works the ticket's deadlines out again and stores them. Every change
/// they depend on calls this in its own transaction: status, priority,
/// queue, a reply either way, the policy or its calendar.
pub async fn refresh(conn: &mut AnyConnection, ticket: i64, now: i64) -> Result<(), ServiceError> {
    refresh_noting(conn, ticket, now, None).await
}

/// [`refresh`], noting in the history when the ticket comes under a
/// policy, changes policy, or `changed` (a policy just saved) is its own.
pub(super) async fn refresh_noting(
    conn: &mut AnyConnection,
    ticket: i64,
    now: i64,
    changed: Option<&str>,
) -> Result<(), ServiceError> {
    let Some((f, under)) = work_out(conn, ticket, now).await? else {
        return Ok(());
    };
    let Some((policy, clocks)) = under else {
        if f.sla_policy_id.is_some() {
            store::set_clocks(&mut *conn, ticket, &ClockColumns::default()).await?;
            note(conn, ticket, "no SLA policy applies any more", now).await?;
        }
        return Ok(());
    };
    if f.sla_policy_id != Some(policy.id) || changed == Some(policy.name.as_str()) {
        let text = if f.sla_policy_id.is_some() && f.sla_policy_id != Some(policy.id) {
            format!("SLA policy {} applies from now on", policy.name)
        } else if f.sla_policy_id.is_some() {
            format!(
                "SLA policy {} changed; its targets apply from now on",
                policy.name
            )
        } else {
            format!("SLA policy {} applies", policy.name)
        };
        // A ticket that comes under a policy as it is created needs no note.
        if f.sla_policy_id.is_some() || changed.is_some() {
            note(conn, ticket, &text, now).await?;
        }
    }
    let mut done = recorded(&f.sla_breached);
    // An answered requestor reply ends that next-response clock: a later
    // reply may breach again.
    if clocks.next_response_due.is_none() && done.contains(&Clock::NextResponse) {
        done.retain(|c| *c != Clock::NextResponse);
        store::record_breaches(&mut *conn, ticket, &f.sla_breached, &list_text(&done)).await?;
    }
    store::set_clocks(&mut *conn, ticket, &columns(policy.id, &clocks, &done)).await?;
    Ok(())
}

/// The columns for `clocks`, given the breaches already recorded: the
/// scheduler looks again at the first deadline not yet recorded.
pub(crate) fn columns(policy_id: i64, c: &Clocks, done: &[Clock]) -> ClockColumns {
    let pending = [
        (
            Clock::FirstResponse,
            c.first_response_due,
            c.first_response_at.is_none(),
        ),
        (Clock::NextResponse, c.next_response_due, true),
        (Clock::Resolve, c.resolve_due, c.due.is_some() || c.paused),
    ];
    // A clock still running is watched until its deadline; one met late
    // (answered or resolved between two scans) is due for recording now.
    let check_at = pending
        .iter()
        .filter(|(clock, due, open)| {
            due.is_some() && !done.contains(clock) && (*open || c.breached.contains(clock))
        })
        .filter_map(|(_, due, _)| *due)
        .min();
    ClockColumns {
        policy_id: Some(policy_id),
        first_response_at: c.first_response_at,
        first_response_due: c.first_response_due,
        resolve_due: c.resolve_due,
        next_response_due: c.next_response_due,
        paused: c.paused,
        risk_at: c.risk_at,
        due: c.due,
        check_at,
    }
}

async fn note(
    conn: &mut AnyConnection,
    ticket: i64,
    text: &str,
    now: i64,
) -> Result<(), ServiceError> {
    let mut h = history(ticket, "sla", None, text, now);
    h.new_value = Some("policy");
    tickets::add_transaction(&mut *conn, h).await?;
    Ok(())
}

/// What one scan did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ScanReport {
    /// `(ticket, clock)` of each breach recorded.
    pub breached: Vec<(i64, String)>,
}

/// At most this many tickets are looked at in one pass.
const BATCH: i64 = 500;

/// Records each new breach once (history, a mail to the owner and the
/// queue's triagers, and the policy's priority escalation), each ticket in
/// its own transaction; two schedulers never record one twice.
pub async fn scan(db: &Db, cfg: &Config, now: i64) -> Result<ScanReport, ServiceError> {
    let due = {
        let mut conn = db.conn().await?;
        store::due_checks(&mut conn, now, BATCH).await?
    };
    let mut report = ScanReport::default();
    for ticket in due {
        let mut tx = db.begin_write().await?;
        let Some((f, Some((policy, clocks)))) = work_out(&mut tx, ticket, now).await? else {
            refresh(&mut tx, ticket, now).await?;
            tx.commit().await?;
            continue;
        };
        let done = recorded(&f.sla_breached);
        let new: Vec<Clock> = clocks
            .breached
            .iter()
            .copied()
            .filter(|c| !done.contains(c))
            .collect();
        if new.is_empty() {
            store::set_clocks(&mut tx, ticket, &columns(policy.id, &clocks, &done)).await?;
            tx.commit().await?;
            continue;
        }
        let all: Vec<Clock> = done.iter().chain(&new).copied().collect();
        if !store::record_breaches(&mut tx, ticket, &f.sla_breached, &list_text(&all)).await? {
            // Another instance recorded it first.
            continue;
        }
        for clock in &new {
            let due = match clock {
                Clock::FirstResponse => clocks.first_response_due,
                Clock::Resolve => clocks.resolve_due,
                Clock::NextResponse => clocks.next_response_due,
            };
            let text = format!(
                "SLA {}: the {} target of policy {} was missed (due {})",
                clock.as_str(),
                clock.label(),
                policy.name,
                due.map(db_store::rfc3339).unwrap_or_default()
            );
            let mut h = history(ticket, "sla", None, &text, now);
            h.new_value = Some(clock.as_str());
            tickets::add_transaction(&mut tx, h).await?;
            tell(&mut tx, cfg, ticket, &f, &text, now).await?;
            let data = serde_json::json!({"clock": clock.as_str(), "policy": policy.name});
            super::webhooks::emit_for(&mut tx, ticket, "sla.breached", data, now).await?;
            report.breached.push((ticket, clock.as_str().to_string()));
        }
        match policy.escalate_priority {
            Some(p) if p > f.priority => {
                tickets::set_field(&mut tx, ticket, tickets::Field::Priority, Some(p), now).await?;
                let mut h = history(ticket, "priority", None, "raised by the SLA breach", now);
                let (old, new) = (f.priority.to_string(), p.to_string());
                h.old_value = Some(&old);
                h.new_value = Some(&new);
                tickets::add_transaction(&mut tx, h).await?;
                // The priority may bring another policy.
                refresh(&mut tx, ticket, now).await?;
            }
            _ => {
                store::set_clocks(&mut tx, ticket, &columns(policy.id, &clocks, &all)).await?;
            }
        }
        tx.commit().await?;
    }
    Ok(report)
}

/// The breach mail: to the owner and the queue's triagers.
async fn tell(
    conn: &mut AnyConnection,
    cfg: &Config,
    ticket: i64,
    f: &store::TicketFacts,
    text: &str,
    now: i64,
) -> Result<(), ServiceError> {
    let Some(ctx) = tickets::context(&mut *conn, ticket).await? else {
        return Ok(());
    };
    let mut people = store::triagers(&mut *conn, f.queue_id).await?;
    if let Some(owner) = f.owner_id {
        people.extend(crate::store::requestor::email_of(&mut *conn, owner).await?);
    }
    people.sort();
    people.dedup();
    let scope = notify::Scope::load(&mut *conn, cfg, &ctx, now).await?;
    notify::tell_people(
        conn,
        &scope,
        "Docket's SLA clock",
        text,
        notify::StaffNotice::SlaBreached,
        people,
    )
    .await?;
    Ok(())
}

/// A ticket's SLA as `ticket show --json` gives it.
#[derive(Debug, Clone, Serialize)]
pub struct TicketSla {
    pub policy: Option<String>,
    pub first_response_due: Option<String>,
    pub first_response_at: Option<String>,
    pub resolve_due: Option<String>,
    pub next_response_due: Option<String>,
    pub paused: bool,
    pub breached: Vec<&'static str>,
    /// Not in the contract: for pages.
    #[serde(skip)]
    pub due_ms: Option<i64>,
    #[serde(skip)]
    pub risk_ms: Option<i64>,
}

/// The ticket's SLA at `now`: deadlines as stored; breached as recorded
/// or, where the scheduler has not been round yet, as the deadlines say.
pub async fn of_ticket(
    conn: &mut AnyConnection,
    ticket: i64,
    now: i64,
) -> Result<Option<TicketSla>, ServiceError> {
    let Some(t) = store::ticket_sla(&mut *conn, ticket).await? else {
        return Ok(None);
    };
    let mut breached: Vec<Clock> = recorded(&t.sla_breached);
    let open = !Status::parse(&t.status).is_some_and(Status::is_done);
    let late = |due: Option<i64>, met: Option<i64>| sla::missed(due, met, open, now);
    for (clock, hit) in [
        (
            Clock::FirstResponse,
            late(t.first_response_due, t.first_response_at),
        ),
        (Clock::Resolve, late(t.resolve_due, None)),
        (Clock::NextResponse, late(t.next_response_due, None)),
    ] {
        if hit && !breached.contains(&clock) {
            breached.push(clock);
        }
    }
    let iso = |ms: Option<i64>| ms.map(db_store::rfc3339);
    Ok(Some(TicketSla {
        policy: t.policy,
        first_response_due: iso(t.first_response_due),
        first_response_at: iso(t.first_response_at),
        resolve_due: iso(t.resolve_due),
        next_response_due: iso(t.next_response_due),
        paused: t.sla_paused != 0,
        breached: breached.iter().map(|c| c.as_str()).collect(),
        due_ms: t.sla_due,
        risk_ms: t.sla_risk_at,
    }))
}
