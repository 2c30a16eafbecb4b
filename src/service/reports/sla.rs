//! The SLA board's figures: open tickets at risk and breached, with the
//! business time left in each policy's calendar.

use std::collections::{BTreeMap, HashMap};

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
    /// The first lines, soonest due first, for the board.
    #[serde(skip)]
    pub lines: Vec<SlaLine>,
    /// `(at risk, breached)` per queue and per owner, over all.
    #[serde(skip)]
    pub by_queue: BTreeMap<String, (i64, i64)>,
    #[serde(skip)]
    pub by_owner: BTreeMap<String, (i64, i64)>,
    #[serde(skip)]
    pub n_at_risk: i64,
    #[serde(skip)]
    pub n_breached: i64,
}

/// The SLA board's figures: counts per queue and owner over every ticket
/// at risk or breached, and the first `limit` lines (all without one).
pub async fn sla(
    db: &Db,
    f: &Filter,
    now: i64,
    limit: Option<usize>,
) -> Result<SlaReport, ServiceError> {
    let mut conn = db.conn().await?;
    let scope = scope(&mut conn, f).await?;
    let mut out = SlaReport {
        at_risk: Vec::new(),
        breached: Vec::new(),
        lines: Vec::new(),
        by_queue: BTreeMap::new(),
        by_owner: BTreeMap::new(),
        n_at_risk: 0,
        n_breached: 0,
    };
    let counts = store::sla_counts(&mut conn, db.backend, now, &scope).await?;
    let queues = super::queue_names(&mut conn).await?;
    let owners = super::Owners::load(&mut conn, counts.iter().map(|c| c.owner_id)).await?;
    for c in &counts {
        let owner = owners.name(c.owner_id);
        let queue = queues.get(&c.queue_id).cloned().unwrap_or_default();
        for key in [
            out.by_queue.entry(queue).or_default(),
            out.by_owner.entry(owner).or_default(),
        ] {
            if c.breached == 1 {
                key.1 += c.n;
            } else {
                key.0 += c.n;
            }
        }
        if c.breached == 1 {
            out.n_breached += c.n;
        } else {
            out.n_at_risk += c.n;
        }
    }
    let limit = limit.map(|l| l as i64);
    let mut calendars: HashMap<String, Option<Calendar>> = HashMap::new();
    for l in store::sla_lines(&mut conn, now, &scope, limit).await? {
        // Time left is for the board's lines; a full listing only names them.
        let measure = limit.is_some();
        let line = line(l, now, measure.then_some(&mut calendars));
        if line.breached {
            out.breached.push(line.id);
        } else {
            out.at_risk.push(line.id);
        }
        out.lines.push(line);
    }
    Ok(out)
}

/// One board line: the clock due first, and business time left on it.
fn line(
    l: store::SlaLine,
    now: i64,
    calendars: Option<&mut HashMap<String, Option<Calendar>>>,
) -> SlaLine {
    let recorded = !l.sla_breached.is_empty();
    // Lines are open tickets: a first response answered late, or any
    // running deadline passed.
    let breached = recorded
        || crate::domain::sla::missed(l.first_response_due, l.first_response_at, true, now)
        || crate::domain::sla::missed(l.sla_due, None, true, now);
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
    let cal = calendars.and_then(|cals| {
        let key = format!("{}|{}|{}", l.time_zone, l.hours, l.holidays);
        cals.entry(key)
            .or_insert_with(|| calendar_of(&l.time_zone, &l.hours, &l.holidays))
            .clone()
    });
    let left_ms = match (clock, &cal) {
        (Some((_, due)), Some(cal)) if due >= now => Some(cal.between(now, due)),
        (Some((_, due)), Some(cal)) => Some(-cal.between(due, now)),
        _ => None,
    };
    let recorded_clock = match l.sla_breached.split(',').next() {
        Some("first_response") => "first_response",
        Some("next_response") => "next_response",
        _ => "resolve",
    };
    SlaLine {
        id: l.id,
        subject: l.subject,
        queue: l.queue,
        owner: l.owner,
        status: l.status,
        policy: l.policy,
        clock: clock.map_or(recorded_clock, |(c, _)| c),
        due: clock.map(|(_, d)| rfc3339(d)),
        due_ms: clock.map(|(_, d)| d),
        left_ms,
        breached,
        paused: l.sla_paused != 0,
    }
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
