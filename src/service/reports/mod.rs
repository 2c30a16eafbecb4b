//! The reports the team reads in its meeting: open tickets by age, SLA
//! at risk and breached, and the flow of work week by week. Every figure
//! here is also a CSV download and a chart on the web.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::ServiceError;
use crate::domain::aging::{self, BUCKETS};
use crate::domain::lifecycle::Status;
use crate::store::reports::{self as store, Scope, Since};
use crate::store::{Db, rfc3339};

mod flow;
mod sla;
pub use flow::*;
pub use sla::*;

/// What a report is about: a queue, an owner; the queues the reader may see.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub queue: Option<String>,
    pub owner: Option<String>,
    /// The queues the reader may see (`None`: all, for admins and the CLI).
    pub visible: Option<Vec<i64>>,
}

pub(super) async fn scope(
    conn: &mut sqlx::AnyConnection,
    f: &Filter,
) -> Result<Scope, ServiceError> {
    let mut queue_ids = f.visible.clone();
    if let Some(name) = f.queue.as_deref().filter(|q| !q.is_empty()) {
        // A queue the reader may not see reads as one that does not exist.
        let unknown = || ServiceError::Invalid(format!("There is no queue {name:?}."));
        let id = crate::store::views::queue_by_name(&mut *conn, name)
            .await?
            .ok_or_else(unknown)?;
        if queue_ids.as_ref().is_some_and(|v| !v.contains(&id)) {
            return Err(unknown());
        }
        queue_ids = Some(vec![id]);
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
    let queues = queue_names(&mut conn).await?;
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

/// Owners in grouped counts, by id: their address, or "nobody".
pub(super) struct Owners(HashMap<i64, String>);

impl Owners {
    pub(super) async fn load(
        conn: &mut sqlx::AnyConnection,
        ids: impl Iterator<Item = Option<i64>>,
    ) -> Result<Owners, ServiceError> {
        let mut ids: Vec<i64> = ids.flatten().collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(Owners(
            store::user_emails(conn, &ids).await?.into_iter().collect(),
        ))
    }

    pub(super) fn name(&self, id: Option<i64>) -> String {
        id.and_then(|o| self.0.get(&o).cloned())
            .unwrap_or_else(|| NOBODY.into())
    }
}

/// Queue names by id.
pub(super) async fn queue_names(
    conn: &mut sqlx::AnyConnection,
) -> Result<HashMap<i64, String>, ServiceError> {
    Ok(crate::store::queues::list(conn)
        .await?
        .into_iter()
        .map(|q| (q.id, q.name))
        .collect())
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
    let owners = Owners::load(&mut *conn, counts.iter().map(|c| c.owner_id)).await?;
    for c in &counts {
        let owner = owners.name(c.owner_id);
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
    Ok(store::oldest_open(&mut *conn, scope, OLDEST as i64)
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
