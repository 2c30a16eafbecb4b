//! The flow of work week by week: created, resolved, backlog, and the
//! time to a first reply and to resolution.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Filter, scope};
use crate::domain::aging::{self, DAY_MS, WEEK_MS};
use crate::service::ServiceError;
use crate::store::reports as store;
use crate::store::{Db, rfc3339};

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
    // Open at the end of a week: open now, less what was created since,
    // plus what was closed since.
    let mut backlog = vec![0; weeks as usize];
    let mut open = counts.open_now;
    for i in (0..weeks as usize).rev() {
        backlog[i] = open;
        open = open - created[i] + closed[i];
    }
    let out_weeks: Vec<Week> = (0..weeks as usize)
        .map(|i| {
            let start = from + i as i64 * WEEK_MS;
            Week {
                start: rfc3339(start),
                start_ms: start,
                created: created[i],
                resolved: closed[i],
                backlog: backlog[i],
            }
        })
        .collect();
    let times = response_times(&mut conn, db.backend, from, until, &scope).await?;
    Ok(Flow {
        weeks: out_weeks,
        ..times
    })
}

/// Response and resolution times overall, per queue and per month of
/// creation, for tickets created in `[from, until)`.
async fn response_times(
    conn: &mut sqlx::AnyConnection,
    backend: crate::store::Backend,
    from: i64,
    until: i64,
    scope: &crate::store::reports::Scope,
) -> Result<Flow, ServiceError> {
    let queues = super::queue_names(&mut *conn).await?;
    let days = store::times(&mut *conn, backend, from, until, scope).await?;
    let (mut fr, mut res) = (Vec::new(), Vec::new());
    let mut per_queue: BTreeMap<String, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    let mut per_month: BTreeMap<String, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    let numbers = |list: &Option<String>| -> Vec<i64> {
        list.as_deref()
            .unwrap_or_default()
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect()
    };
    for d in &days {
        let month = chrono::DateTime::from_timestamp_millis(from + d.day * DAY_MS)
            .map(|t| t.format("%Y-%m").to_string())
            .unwrap_or_default();
        let q = queues.get(&d.queue_id).cloned().unwrap_or_default();
        let (a, b) = (numbers(&d.first_response), numbers(&d.resolution));
        for (into, list) in [(&mut fr, &a), (&mut res, &b)] {
            into.extend_from_slice(list);
        }
        let (qa, qb) = per_queue.entry(q).or_default();
        qa.extend_from_slice(&a);
        qb.extend_from_slice(&b);
        let (ma, mb) = per_month.entry(month).or_default();
        ma.extend(a);
        mb.extend(b);
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
        weeks: Vec::new(),
        first_response: spread(&mut fr),
        resolution: spread(&mut res),
        by_queue: times_of(per_queue),
        by_month: times_of(per_month),
    })
}
