//! Calendars and policies as admins set them. Saving either works out
//! the clocks of the open tickets it governs again, in the same transaction.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::Serialize;

use super::{invalid, refresh, refresh_noting, split};
use crate::domain::business_hours::{Calendar, Duration};
use crate::domain::lifecycle::Status;
use crate::service::ServiceError;
use crate::store::Db;
use crate::store::sla::{self as store, PolicyRow};

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
    let policy_id = store::save_policy(
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
    for ticket in store::open_tickets_of_queue(&mut tx, queue_id, policy_id).await? {
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
