//! The SLA board's figures: open tickets at risk and breached, with the
//! business time left in each policy's calendar.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::{Filter, scope};
use crate::domain::business_hours::Calendar;
use crate::service::ServiceError;
use crate::store::reports as store;
use crate::store::{Db, rfc3339};

/// One line of the SLA board.
#[derive(Debug, Clone, Serialize)]
pub struct SlaLine {
    pub id: i64,
    pub subject: String,
    pub queue: String,
    pub owner: Option<String>,
    pub status: String,
    pub policy: String,
    /// The clock that is due first (or breached).
    pub clock: &'static str,
    pub due: Option<String>,
    /// Business time left (negative: overdue), in the policy's calendar.
    pub left_ms: Option<i64>,
    pub breached: bool,
    pub paused: bool,
    #[serde(skip)]
    pub due_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlaReport {
    pub at_risk: Vec<i64>,
    pub breached: Vec<i64>,
    #[serde(skip)]
    pub lines: Vec<SlaLine>,
}

/// The most lines the SLA board lists.
const SLA_LINES: i64 = 500;

pub async fn sla(db: &Db, f: &Filter, now: i64) -> Result<SlaReport, ServiceError> {
    let mut conn = db.conn().await?;
    let scope = scope(&mut conn, f).await?;
    let mut out = SlaReport {
        at_risk: Vec::new(),
        breached: Vec::new(),
        lines: Vec::new(),
    };
    let mut calendars: HashMap<String, Option<Calendar>> = HashMap::new();
    for l in store::sla_lines(&mut conn, now, &scope, SLA_LINES).await? {
        let recorded = !l.sla_breached.is_empty();
        let late_reply =
            matches!((l.first_response_due, l.first_response_at), (Some(d), Some(a)) if a > d);
        let breached = recorded || late_reply || l.sla_due.is_some_and(|d| d <= now);
        let clock = [
            (
                "first_response",
                l.first_response_at
                    .is_none()
                    .then_some(l.first_response_due)
                    .flatten(),
            ),
            ("next_response", l.next_response_due),
            ("resolve", l.resolve_due),
        ]
        .into_iter()
        .filter_map(|(c, d)| d.map(|d| (c, d)))
        .min_by_key(|(_, d)| *d);
        let key = format!("{}|{}|{}", l.time_zone, l.hours, l.holidays);
        let cal = calendars
            .entry(key)
            .or_insert_with(|| calendar_of(&l.time_zone, &l.hours, &l.holidays))
            .clone();
        let left_ms = match (clock, &cal) {
            (Some((_, due)), Some(cal)) if due >= now => Some(cal.between(now, due)),
            (Some((_, due)), Some(cal)) => Some(-cal.between(due, now)),
            _ => None,
        };
        if breached {
            out.breached.push(l.id);
        } else {
            out.at_risk.push(l.id);
        }
        out.lines.push(SlaLine {
            id: l.id,
            subject: l.subject,
            queue: l.queue,
            owner: l.owner,
            status: l.status,
            policy: l.policy,
            clock: clock.map_or(
                l.sla_breached
                    .split(',')
                    .next()
                    .map_or("resolve", |c| match c {
                        "first_response" => "first_response",
                        "next_response" => "next_response",
                        _ => "resolve",
                    }),
                |(c, _)| c,
            ),
            due: clock.map(|(_, d)| rfc3339(d)),
            due_ms: clock.map(|(_, d)| d),
            left_ms,
            breached,
            paused: l.sla_paused != 0,
        });
    }
    Ok(out)
}

/// A stored calendar for measuring time left; `None` if it no longer reads.
pub fn calendar_of(time_zone: &str, hours: &str, holidays: &str) -> Option<Calendar> {
    let tz = time_zone.parse().ok()?;
    let lines: Vec<String> = hours
        .split(';')
        .map(str::to_string)
        .filter(|s| !s.is_empty())
        .collect();
    let days = holidays
        .split(',')
        .filter_map(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
        .collect();
    Calendar::parse(tz, &lines, days).ok()
}
