//! SLA policies and their clocks: calendars and policies as admins set
//! them, the deadlines kept on each ticket (worked out again in the same
//! transaction as every change they depend on), and the breaches the
//! scheduler records and mails once.

use std::collections::BTreeSet;

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

/// The statuses a policy pauses on unless told otherwise.
pub const DEFAULT_PAUSE: &str = "needs-info,postponed,stalled";

/// A calendar as `docket calendar add` gives it.
pub struct NewCalendar<'a> {
    pub name: &'a str,
    pub time_zone: &'a str,
    pub hours: &'a [String],
    pub holidays: &'a [String],
    /// The text of an iCalendar file whose events are holidays.
    pub holidays_ics: Option<&'a str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CalendarView {
    pub name: String,
    pub time_zone: String,
    pub hours: Vec<String>,
    pub holidays: Vec<String>,
}

fn invalid(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Invalid(e.to_string())
}

/// Adds a calendar or replaces one; open tickets under it follow.
pub async fn save_calendar(
    db: &Db,
    c: NewCalendar<'_>,
    now: i64,
) -> Result<CalendarView, ServiceError> {
    let name = c.name.trim();
    if name.is_empty() {
        return Err(invalid("A calendar needs a name."));
    }
    let tz: chrono_tz::Tz = c.time_zone.trim().parse().map_err(|_| {
        invalid(format!(
            "{:?} is not a time zone; use an IANA name such as Europe/Berlin",
            c.time_zone
        ))
    })?;
    let mut holidays = BTreeSet::new();
    for h in c.holidays {
        holidays.insert(
            NaiveDate::parse_from_str(h.trim(), "%Y-%m-%d")
                .map_err(|_| invalid(format!("{h:?} is not a date like 2026-12-24")))?,
        );
    }
    if let Some(ics) = c.holidays_ics {
        holidays.extend(ics_dates(ics)?);
    }
    let cal = Calendar::parse(tz, c.hours, holidays).map_err(invalid)?;
    let view = CalendarView {
        name: name.to_string(),
        time_zone: tz.name().to_string(),
        hours: cal.hours_text(),
        holidays: cal.holidays.iter().map(|d| d.to_string()).collect(),
    };
    let mut tx = db.begin_write().await?;
    let id = store::save_calendar(
        &mut tx,
        name,
        &view.time_zone,
        &view.hours.join(";"),
        &view.holidays.join(","),
        now,
    )
    .await?;
    for ticket in store::open_tickets_of_calendar(&mut tx, id).await? {
        refresh(&mut tx, ticket, now).await?;
    }
    tx.commit().await?;
    Ok(view)
}

/// The dates of an iCalendar file's events (`DTSTART`, with `DTEND` for
/// events of several days): the holidays a public calendar publishes.
fn ics_dates(text: &str) -> Result<Vec<NaiveDate>, ServiceError> {
    let date_of = |line: &str| -> Option<NaiveDate> {
        let value = line.rsplit(':').next()?.trim();
        NaiveDate::parse_from_str(value.get(..8)?, "%Y%m%d").ok()
    };
    let mut out = Vec::new();
    let (mut start, mut end) = (None, None);
    // Lines may be folded (RFC 5545 §3.1): a continuation starts with a space.
    let unfolded = text.replace("\r\n ", "").replace("\n ", "");
    for line in unfolded.lines() {
        let key = line.split([':', ';']).next().unwrap_or_default();
        match key {
            "BEGIN" if line.trim() == "BEGIN:VEVENT" => (start, end) = (None, None),
            "DTSTART" => start = date_of(line),
            "DTEND" => end = date_of(line),
            "END" if line.trim() == "END:VEVENT" => {
                let Some(first) = start else {
                    return Err(invalid("an event in the holiday file has no DTSTART date"));
                };
                // DTEND of an all-day event is the day after its last.
                let last = end
                    .and_then(|e| e.pred_opt())
                    .filter(|e| *e >= first)
                    .unwrap_or(first);
                let mut d = first;
                while d <= last && out.len() < 10_000 {
                    out.push(d);
                    match d.succ_opt() {
                        Some(n) => d = n,
                        None => break,
                    }
                }
            }
            _ => {}
        }
    }
    if out.is_empty() {
        return Err(invalid("the holiday file has no events with dates"));
    }
    Ok(out)
}

pub async fn calendars(db: &Db) -> Result<Vec<CalendarView>, ServiceError> {
    let mut conn = db.conn().await?;
    Ok(store::calendars(&mut conn)
        .await?
        .into_iter()
        .map(|c| CalendarView {
            hours: split(&c.hours, ';'),
            holidays: split(&c.holidays, ','),
            name: c.name,
            time_zone: c.time_zone,
        })
        .collect())
}

fn split(text: &str, by: char) -> Vec<String> {
    text.split(by)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A policy as `docket sla add` gives it.
pub struct NewPolicy<'a> {
    pub name: &'a str,
    pub queue: &'a str,
    pub priority: Option<i64>,
    pub first_response: &'a str,
    pub resolve: &'a str,
    pub next_response: Option<&'a str>,
    pub calendar: &'a str,
    pub pause: Option<&'a str>,
    pub at_risk_percent: Option<i64>,
    pub escalate_priority: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyView {
    pub name: String,
    pub queue: String,
    pub priority: Option<i64>,
    pub first_response: String,
    pub resolve: String,
    pub next_response: Option<String>,
    pub calendar: String,
    pub pause: Vec<String>,
    pub at_risk_percent: i64,
    pub escalate_priority: Option<i64>,
}

impl From<PolicyRow> for PolicyView {
    fn from(p: PolicyRow) -> Self {
        PolicyView {
            pause: split(&p.pause, ','),
            name: p.name,
            queue: p.queue,
            priority: p.priority,
            first_response: p.first_response,
            resolve: p.resolve,
            next_response: p.next_response,
            calendar: p.calendar,
            at_risk_percent: p.at_risk_percent,
            escalate_priority: p.escalate_priority,
        }
    }
}

/// Adds a policy or changes one. Open tickets of the queue take it from
/// now on (what their clocks used so far counts against the new
/// targets), and their history says so.
pub async fn save_policy(db: &Db, p: NewPolicy<'_>, now: i64) -> Result<PolicyView, ServiceError> {
    let durations = [
        ("--first-response", Some(p.first_response)),
        ("--resolve", Some(p.resolve)),
        ("--next-response", p.next_response),
    ];
    for (flag, d) in durations {
        if let Some(d) = d {
            Duration::parse(d).map_err(|e| invalid(format!("{flag}: {e}")))?;
        }
    }
    let pause = p.pause.unwrap_or(DEFAULT_PAUSE);
    let mut paused = Vec::new();
    for s in split(pause, ',') {
        match Status::parse(&s) {
            Some(st) if !st.is_done() && st != Status::New && st != Status::Open => paused.push(s),
            _ => {
                return Err(invalid(format!(
                    "--pause takes needs-info, postponed and stalled, not {s:?}"
                )));
            }
        }
    }
    let at_risk = p.at_risk_percent.unwrap_or(75);
    if !(1..=100).contains(&at_risk) {
        return Err(invalid("--at-risk is a share from 1 to 100 (percent)"));
    }
    if let Some(pr) = p
        .priority
        .into_iter()
        .chain(p.escalate_priority)
        .find(|x| !(0..=9).contains(x))
    {
        return Err(invalid(format!("priority {pr} is not from 0 to 9")));
    }
    let mut tx = db.begin_write().await?;
    let queue_id = crate::store::views::queue_by_name(&mut tx, p.queue)
        .await?
        .ok_or_else(|| invalid(format!("There is no queue {:?}.", p.queue)))?;
    let cal = store::calendar_by_name(&mut tx, p.calendar)
        .await?
        .ok_or_else(|| {
            invalid(format!(
                "There is no calendar {:?}; add it with docket calendar add, or use 24x7.",
                p.calendar
            ))
        })?;
    let name = p.name.trim();
    if name.is_empty() {
        return Err(invalid("A policy needs a name."));
    }
    store::save_policy(
        &mut tx,
        store::NewPolicy {
            name,
            queue_id,
            priority: p.priority,
            first_response: p.first_response.trim(),
            resolve: p.resolve.trim(),
            next_response: p.next_response.map(str::trim),
            calendar_id: cal.id,
            pause: &paused.join(","),
            at_risk_percent: at_risk,
            escalate_priority: p.escalate_priority,
            now,
        },
    )
    .await?;
    for ticket in store::open_tickets_of_queue(&mut tx, queue_id).await? {
        refresh_noting(&mut tx, ticket, now, Some(name)).await?;
    }
    let saved = store::policies(&mut tx)
        .await?
        .into_iter()
        .find(|x| x.name == name)
        .map(PolicyView::from)
        .ok_or_else(|| invalid("the policy vanished while it was saved"))?;
    tx.commit().await?;
    Ok(saved)
}

pub async fn policies(db: &Db) -> Result<Vec<PolicyView>, ServiceError> {
    let mut conn = db.conn().await?;
    Ok(store::policies(&mut conn)
        .await?
        .into_iter()
        .map(PolicyView::from)
        .collect())
}

/// The domain's view of a stored policy.
fn targets_of(p: &PolicyRow) -> Result<(Calendar, Targets), ServiceError> {
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
async fn refresh_noting(
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
fn columns(policy_id: i64, c: &Clocks, done: &[Clock]) -> ClockColumns {
    let pending = [
        (
            Clock::FirstResponse,
            c.first_response_due,
            c.first_response_at.is_none(),
        ),
        (Clock::NextResponse, c.next_response_due, true),
        (Clock::Resolve, c.resolve_due, c.due.is_some() || c.paused),
    ];
    let check_at = pending
        .iter()
        .filter(|(clock, due, open)| *open && due.is_some() && !done.contains(clock))
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
        people.extend(store::email_of(&mut *conn, owner).await?);
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
    let late = |due: Option<i64>, met: Option<i64>| match (due, met) {
        (Some(d), Some(m)) => m > d,
        (Some(d), None) => open && d <= now,
        _ => false,
    };
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
