//! The reports the team reads in its meeting: open tickets by age, SLA
//! at risk and breached, and the flow of work week by week. Every figure
//! here is also a CSV download and a chart on the web.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::Serialize;

use super::ServiceError;
use crate::domain::aging::{self, BUCKETS, DAY_MS, WEEK_MS};
use crate::domain::business_hours::Calendar;
use crate::domain::lifecycle::Status;
use crate::store::reports::{self as store, Scope, Since};
use crate::store::{Db, rfc3339};

/// What a report is about: a queue, an owner; the queues the reader may see.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub queue: Option<String>,
    pub owner: Option<String>,
    /// The queues the reader may see (`None`: all, for admins and the CLI).
    pub visible: Option<Vec<i64>>,
}

async fn scope(conn: &mut sqlx::AnyConnection, f: &Filter) -> Result<Scope, ServiceError> {
    let mut queue_ids = f.visible.clone();
    if let Some(name) = f.queue.as_deref().filter(|q| !q.is_empty()) {
        let id = crate::store::views::queue_by_name(&mut *conn, name)
            .await?
            .ok_or_else(|| ServiceError::Invalid(format!("There is no queue {name:?}.")))?;
        queue_ids = Some(match queue_ids {
            Some(v) if !v.contains(&id) => Vec::new(),
            _ => vec![id],
        });
    }
    let owner_id = match f.owner.as_deref().filter(|o| !o.is_empty()) {
        None => None,
        Some(email) => Some(
            crate::store::requestor::person(&mut *conn, &email.trim().to_ascii_lowercase())
                .await?
                .map(|(id, _)| id)
                .unwrap_or(-1),
        ),
    };
    Ok(Scope {
        queue_ids,
        owner_id,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub label: &'static str,
    pub count: i64,
}

fn buckets(counts: [i64; 6]) -> Vec<Bucket> {
    BUCKETS
        .iter()
        .zip(counts)
        .map(|((label, _), count)| Bucket { label, count })
        .collect()
}

/// A ticket on the oldest list, for the page and the CSV.
#[derive(Debug, Clone, Serialize)]
pub struct OldTicket {
    pub id: i64,
    pub subject: String,
    pub queue: String,
    pub owner: Option<String>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Open tickets by age, as of `at`.
#[derive(Debug, Clone, Serialize)]
pub struct Aging {
    pub at: String,
    pub buckets: Vec<Bucket>,
    pub by_queue: BTreeMap<String, Vec<i64>>,
    pub by_owner: BTreeMap<String, Vec<i64>>,
    pub by_status: BTreeMap<String, Vec<i64>>,
    pub oldest: Vec<i64>,
    /// Open tickets by the time since their last update.
    pub stale: Vec<Bucket>,
    /// Open tickets by the time in their current status.
    pub in_status: Vec<Bucket>,
    #[serde(skip)]
    pub oldest_tickets: Vec<OldTicket>,
    #[serde(skip)]
    pub at_ms: i64,
}

/// How many tickets the oldest list names.
const OLDEST: usize = 10;
/// The name of "no owner" in the tables.
pub const NOBODY: &str = "nobody";

#[derive(Default)]
struct Tally {
    total: [i64; 6],
    by_queue: BTreeMap<String, [i64; 6]>,
    by_owner: BTreeMap<String, [i64; 6]>,
    by_status: BTreeMap<String, [i64; 6]>,
    stale: [i64; 6],
    in_status: [i64; 6],
}

impl Tally {
    fn add(&mut self, queue: &str, owner: &str, status: &str, bucket: usize, n: i64) {
        let b = bucket.min(5);
        self.total[b] += n;
        self.by_queue.entry(queue.to_string()).or_default()[b] += n;
        self.by_owner.entry(owner.to_string()).or_default()[b] += n;
        self.by_status.entry(status.to_string()).or_default()[b] += n;
    }
}

/// The aging report: now from the tickets as they are, or as of a past
/// `at` from their history.
pub async fn aging(db: &Db, f: &Filter, at: Option<i64>, now: i64) -> Result<Aging, ServiceError> {
    let mut conn = db.conn().await?;
    let scope = scope(&mut conn, f).await?;
    let queues: HashMap<i64, String> = store::queue_names(&mut conn).await?.into_iter().collect();
    let mut tally = Tally::default();
    let when = at.unwrap_or(now);
    let oldest_tickets = match at {
        Some(at) if at < now => tally_then(&mut conn, &scope, &queues, at, &mut tally).await?,
        _ => tally_now(&mut conn, &scope, &queues, when, &mut tally).await?,
    };
    let to_vec = |m: BTreeMap<String, [i64; 6]>| -> BTreeMap<String, Vec<i64>> {
        m.into_iter().map(|(k, v)| (k, v.to_vec())).collect()
    };
    Ok(Aging {
        at: rfc3339(when),
        buckets: buckets(tally.total),
        by_queue: to_vec(tally.by_queue),
        by_owner: to_vec(tally.by_owner),
        by_status: to_vec(tally.by_status),
        oldest: oldest_tickets.iter().map(|t| t.id).collect(),
        stale: buckets(tally.stale),
        in_status: buckets(tally.in_status),
        oldest_tickets,
        at_ms: when,
    })
}

fn queue_name(queues: &HashMap<i64, String>, id: i64) -> String {
    queues.get(&id).cloned().unwrap_or_else(|| format!("#{id}"))
}

/// Counts from the tickets as they stand; the oldest open ones.
async fn tally_now(
    conn: &mut sqlx::AnyConnection,
    scope: &Scope,
    queues: &HashMap<i64, String>,
    now: i64,
    tally: &mut Tally,
) -> Result<Vec<OldTicket>, ServiceError> {
    let counts = store::open_by_age(&mut *conn, now, scope).await?;
    let mut owner_ids: Vec<i64> = counts.iter().filter_map(|c| c.owner_id).collect();
    owner_ids.sort_unstable();
    owner_ids.dedup();
    let owners: HashMap<i64, String> = store::user_emails(&mut *conn, &owner_ids)
        .await?
        .into_iter()
        .collect();
    for c in &counts {
        let owner = c
            .owner_id
            .and_then(|o| owners.get(&o).cloned())
            .unwrap_or_else(|| NOBODY.into());
        let bucket = usize::try_from(c.bucket).unwrap_or(0);
        tally.add(
            &queue_name(queues, c.queue_id),
            &owner,
            &c.status,
            bucket,
            c.n,
        );
    }
    for (since, into) in [
        (Since::Update, &mut tally.stale),
        (Since::StatusChange, &mut tally.in_status),
    ] {
        for (b, n) in store::open_by_time_since(&mut *conn, now, since, scope).await? {
            into[usize::try_from(b).unwrap_or(0).min(5)] += n;
        }
    }
    Ok(store::oldest_open(&mut *conn, now, scope, OLDEST as i64)
        .await?
        .into_iter()
        .map(|t| OldTicket {
            id: t.id,
            subject: t.subject,
            queue: t.queue,
            owner: t.owner,
            status: t.status,
            created_at: t.created_at,
            updated_at: t.updated_at,
        })
        .collect())
}

/// Counts as of a past `at`, each ticket's status, owner and last update
/// then read from its history; the oldest open ones then.
async fn tally_then(
    conn: &mut sqlx::AnyConnection,
    scope: &Scope,
    queues: &HashMap<i64, String>,
    at: i64,
    tally: &mut Tally,
) -> Result<Vec<OldTicket>, ServiceError> {
    let mut rows = Vec::new();
    let owner_email = match scope.owner_id {
        Some(id) => store::user_emails(&mut *conn, &[id])
            .await?
            .pop()
            .map(|x| x.1),
        None => None,
    };
    for t in store::as_of(&mut *conn, at, scope).await? {
        let status = t.status_then.clone().unwrap_or_else(|| "new".into());
        if Status::parse(&status).is_none_or(Status::is_done) {
            continue;
        }
        let owner = t.owner_then.clone().filter(|o| !o.is_empty());
        if scope.owner_id.is_some() && owner != owner_email {
            continue;
        }
        let owner_name = owner.clone().unwrap_or_else(|| NOBODY.into());
        let queue = queue_name(queues, t.queue_id);
        tally.add(
            &queue,
            &owner_name,
            &status,
            aging::bucket(at - t.created_at),
            1,
        );
        let updated = t.updated_then.unwrap_or(t.created_at);
        tally.stale[aging::bucket(at - updated)] += 1;
        tally.in_status[aging::bucket(at - t.status_at_then.unwrap_or(t.created_at))] += 1;
        rows.push(OldTicket {
            id: t.id,
            subject: t.subject,
            queue,
            owner,
            status,
            created_at: t.created_at,
            updated_at: updated,
        });
    }
    rows.sort_by_key(|r| (r.created_at, r.id));
    rows.truncate(OLDEST);
    Ok(rows)
}

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

#[derive(Debug, Clone, Serialize)]
pub struct Week {
    pub start: String,
    pub created: i64,
    pub resolved: i64,
    pub backlog: i64,
    #[serde(skip)]
    pub start_ms: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Spread {
    pub median_s: Option<i64>,
    pub p90_s: Option<i64>,
    #[serde(skip)]
    pub n: usize,
}

fn spread(values: &mut [i64]) -> Spread {
    Spread {
        median_s: aging::percentile(values, 50).map(|ms| ms / 1000),
        p90_s: aging::percentile(values, 90).map(|ms| ms / 1000),
        n: values.len(),
    }
}

/// Response and resolution for one queue or one month.
#[derive(Debug, Clone, Serialize)]
pub struct Times {
    pub name: String,
    pub first_response: Spread,
    pub resolution: Spread,
}

#[derive(Debug, Clone, Serialize)]
pub struct Flow {
    pub weeks: Vec<Week>,
    pub first_response: Spread,
    pub resolution: Spread,
    pub by_queue: Vec<Times>,
    pub by_month: Vec<Times>,
}

/// The last `weeks` weeks (Monday to Monday, UTC; the current week last):
/// created and resolved (or rejected) per week, the open backlog at each
/// week's end (now for the current one), and the time from creation to
/// the first staff reply and to resolution for tickets created in them.
pub async fn flow(db: &Db, f: &Filter, weeks: i64, now: i64) -> Result<Flow, ServiceError> {
    if !(1..=260).contains(&weeks) {
        return Err(ServiceError::Invalid("--weeks is from 1 to 260.".into()));
    }
    let mut conn = db.conn().await?;
    let scope = scope(&mut conn, f).await?;
    let this_week = aging::week_start(now);
    let from = this_week - (weeks - 1) * WEEK_MS;
    let until = this_week + WEEK_MS;
    let counts = store::week_counts(&mut conn, from, until, &scope).await?;
    let per = |list: &[(i64, i64)]| {
        let mut v = vec![0; weeks as usize];
        for (w, n) in list {
            if let Some(slot) = usize::try_from(*w).ok().and_then(|w| v.get_mut(w)) {
                *slot += n;
            }
        }
        v
    };
    let (created, closed) = (per(&counts.created), per(&counts.closed));
    let (mut c_sum, mut r_sum) = (counts.created_before, counts.closed_before);
    let mut out_weeks = Vec::new();
    for i in 0..weeks as usize {
        c_sum += created[i];
        r_sum += closed[i];
        let start = from + i as i64 * WEEK_MS;
        out_weeks.push(Week {
            start: rfc3339(start),
            start_ms: start,
            created: created[i],
            resolved: closed[i],
            backlog: c_sum - r_sum,
        });
    }
    let queues: HashMap<i64, String> = store::queue_names(&mut conn).await?.into_iter().collect();
    let times = store::times(&mut conn, from, until, &scope).await?;
    let (mut fr, mut res) = (Vec::new(), Vec::new());
    let mut per_queue: BTreeMap<String, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    let mut per_month: BTreeMap<String, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    for t in &times {
        let month = chrono::DateTime::from_timestamp_millis(t.created_at)
            .map(|d| d.format("%Y-%m").to_string())
            .unwrap_or_default();
        let q = queues.get(&t.queue_id).cloned().unwrap_or_default();
        if let Some(at) = t.first_response_at {
            let d = at - t.created_at;
            fr.push(d);
            per_queue.entry(q.clone()).or_default().0.push(d);
            per_month.entry(month.clone()).or_default().0.push(d);
        }
        if let (Some(at), "resolved") = (t.resolved_at, t.status.as_str()) {
            let d = at - t.created_at;
            res.push(d);
            per_queue.entry(q).or_default().1.push(d);
            per_month.entry(month).or_default().1.push(d);
        }
    }
    let times_of = |m: BTreeMap<String, (Vec<i64>, Vec<i64>)>| -> Vec<Times> {
        m.into_iter()
            .map(|(name, (mut a, mut b))| Times {
                name,
                first_response: spread(&mut a),
                resolution: spread(&mut b),
            })
            .collect()
    };
    Ok(Flow {
        weeks: out_weeks,
        first_response: spread(&mut fr),
        resolution: spread(&mut res),
        by_queue: times_of(per_queue),
        by_month: times_of(per_month),
    })
}

/// Days as the reports round them, for labels.
pub fn days(ms: i64) -> String {
    format!("{:.1} d", ms as f64 / DAY_MS as f64)
}
