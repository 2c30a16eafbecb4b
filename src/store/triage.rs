//! What the triage flow reads and writes: roles on a queue, WIP counts,
//! status reasons and ETAs, postponements, and the dashboard's lists.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use super::Result;

/// A staff user's standing on one queue.
#[derive(Debug, Clone, FromRow)]
pub struct Standing {
    pub user_id: i64,
    pub email: String,
    /// 1 for an admin (admins act on every queue).
    pub admin: i64,
    /// `triager` or `engineer`; `None` when not a member of the queue.
    pub role: Option<String>,
    pub wip_limit: Option<i64>,
}

impl Standing {
    pub fn is_admin(&self) -> bool {
        self.admin != 0
    }

    pub fn is_member(&self) -> bool {
        self.role.is_some()
    }

    /// May assign tickets and override WIP limits.
    pub fn is_triager(&self) -> bool {
        self.is_admin() || self.role.as_deref() == Some("triager")
    }
}

/// The standing of the staff user `email` on `queue_id`; `None` when no
/// staff account has that address.
pub async fn standing(
    conn: &mut AnyConnection,
    email: &str,
    queue_id: i64,
) -> Result<Option<Standing>> {
    Ok(sqlx::query_as(
        "SELECT u.id AS user_id, u.email, CAST(CASE WHEN u.role = 'admin' THEN 1 ELSE 0 END AS BIGINT) AS admin, \
         m.role, COALESCE(u.wip_limit, q.wip_limit) AS wip_limit \
         FROM users u JOIN queues q ON q.id = $2 \
         LEFT JOIN queue_members m ON m.user_id = u.id AND m.queue_id = q.id \
         WHERE u.email = $1 AND u.role IN ('staff', 'admin')",
    )
    .bind(email)
    .bind(queue_id)
    .fetch_optional(conn)
    .await?)
}

/// How many `open` tickets `user_id` owns, across queues.
pub async fn open_count(conn: &mut AnyConnection, user_id: i64) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM tickets WHERE owner_id = $1 AND status = 'open'")
            .bind(user_id)
            .fetch_one(conn)
            .await?,
    )
}

/// Sets the status with its reason (`None` clears it) and, for a
/// postponed ticket, when it wakes.
pub async fn set_state(
    conn: &mut AnyConnection,
    id: i64,
    status: &str,
    reason: Option<&str>,
    postponed_until: Option<i64>,
    now: i64,
) -> Result<()> {
    // `resolved_at` is when the work ended: resolved or rejected.
    let resolved = matches!(status, "resolved" | "rejected").then_some(now);
    sqlx::query(
        "UPDATE tickets SET status_changed_at = CASE WHEN status = $1 THEN status_changed_at \
         ELSE $5 END, status = $1, status_reason = $2, postponed_until = $3, \
         resolved_at = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(status)
    .bind(reason)
    .bind(postponed_until)
    .bind(resolved)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_eta(
    conn: &mut AnyConnection,
    id: i64,
    eta: Option<i64>,
    reason: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query("UPDATE tickets SET eta_at = $1, eta_reason = $2, updated_at = $3 WHERE id = $4")
        .bind(eta)
        .bind(reason)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Postponed tickets due by `now`, the longest overdue first.
pub async fn due_to_wake(conn: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM tickets WHERE status = 'postponed' AND postponed_until <= $1 \
         ORDER BY postponed_until, id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Opens a postponed ticket that is due. True only for the one caller
/// whose update did it: two schedulers never wake a ticket twice.
pub async fn wake(conn: &mut AnyConnection, id: i64, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE tickets SET status = 'open', status_reason = NULL, postponed_until = NULL, \
         updated_at = $1, status_changed_at = $1 \
         WHERE id = $2 AND status = 'postponed' AND postponed_until <= $1",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One member of one queue: their open tickets (all queues: what the limit
/// counts), those on this queue, and the limit that applies here.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct WipRow {
    #[serde(skip)]
    pub queue_id: i64,
    pub user: String,
    pub queue: String,
    pub role: String,
    pub open: i64,
    pub open_here: i64,
    pub limit: Option<i64>,
}

/// Every membership with its open count and limit, by person then queue.
/// The counts come from one pass over the open tickets' index, not a
/// count per membership.
pub async fn wip(conn: &mut AnyConnection) -> Result<Vec<WipRow>> {
    let members: Vec<(i64, i64, String, String, String, Option<i64>)> = sqlx::query_as(
        "SELECT q.id, u.id, u.email, q.name, m.role, COALESCE(u.wip_limit, q.wip_limit) \
         FROM queue_members m JOIN users u ON u.id = m.user_id JOIN queues q ON q.id = m.queue_id \
         ORDER BY u.email, q.name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let counts: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT t.owner_id, t.queue_id, COUNT(*) FROM tickets t \
         WHERE t.status NOT IN ('resolved', 'rejected') AND t.merged_into IS NULL \
         AND t.status = 'open' AND t.owner_id IS NOT NULL GROUP BY t.owner_id, t.queue_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let here = |user: i64, queue: i64| {
        counts
            .iter()
            .find(|(u, q, _)| *u == user && *q == queue)
            .map_or(0, |c| c.2)
    };
    let all = |user: i64| counts.iter().filter(|c| c.0 == user).map(|c| c.2).sum();
    Ok(members
        .into_iter()
        .map(|(queue_id, user_id, user, queue, role, limit)| WipRow {
            queue_id,
            open: all(user_id),
            open_here: here(user_id, queue_id),
            user,
            queue,
            role,
            limit,
        })
        .collect())
}

/// Adds `user_id` to a queue with `role`, or changes their role.
pub async fn set_member(
    conn: &mut AnyConnection,
    queue_id: i64,
    user_id: i64,
    role: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO queue_members (queue_id, user_id, role) VALUES ($1, $2, $3) \
         ON CONFLICT (queue_id, user_id) DO UPDATE SET role = excluded.role",
    )
    .bind(queue_id)
    .bind(user_id)
    .bind(role)
    .execute(conn)
    .await?;
    Ok(())
}

/// True when there was such a membership.
pub async fn remove_member(conn: &mut AnyConnection, queue_id: i64, user_id: i64) -> Result<bool> {
    let r = sqlx::query("DELETE FROM queue_members WHERE queue_id = $1 AND user_id = $2")
        .bind(queue_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn set_queue_wip_limit(
    conn: &mut AnyConnection,
    queue_id: i64,
    limit: Option<i64>,
) -> Result<()> {
    sqlx::query("UPDATE queues SET wip_limit = $1 WHERE id = $2")
        .bind(limit)
        .bind(queue_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// True when a staff user has that address.
pub async fn set_user_wip_limit(
    conn: &mut AnyConnection,
    email: &str,
    limit: Option<i64>,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE users SET wip_limit = $1 WHERE email = $2 AND role IN ('staff', 'admin')",
    )
    .bind(limit)
    .bind(email)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// A ticket as the triage dashboard lists it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct TriageLine {
    pub id: i64,
    pub queue: String,
    pub subject: String,
    pub status: String,
    /// The requestor's name, else their address.
    pub requestor: Option<String>,
    pub requestor_email: Option<String>,
    pub owner: Option<String>,
    /// Filled in by the service from the WIP counts.
    pub owner_open: Option<i64>,
    pub owner_limit: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub eta_at: Option<i64>,
    pub eta_reason: Option<String>,
    pub status_reason: Option<String>,
    pub postponed_until: Option<i64>,
    /// Required intake keys still missing, comma-separated.
    pub intake_missing: String,
    pub sla_due: Option<i64>,
    pub sla_risk_at: Option<i64>,
    pub sla_breached: String,
}

/// The dashboard's sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// New or open with nobody on it, oldest first.
    NewUnowned,
    /// Active, but lacking intake fields its queue requires, oldest first.
    Incomplete,
    /// Waiting on the requestor, longest first.
    NeedsInfo,
    /// Active and not updated since the cutoff, stalest first.
    Stale,
    /// Postponed and waking before the horizon, soonest first.
    Waking,
}

/// How a section's tickets sort, oldest or most urgent first.
#[derive(Clone, Copy)]
enum Order {
    Created,
    Updated,
    Wakes,
}

impl Order {
    fn column(self) -> &'static str {
        match self {
            Order::Created => "t.created_at",
            Order::Updated => "t.updated_at",
            Order::Wakes => "t.postponed_until",
        }
    }

    fn key(self, t: &TriageLine) -> (i64, i64) {
        let at = match self {
            Order::Created => t.created_at,
            Order::Updated => t.updated_at,
            Order::Wakes => t.postponed_until.unwrap_or(i64::MAX),
        };
        (at, t.id)
    }
}

impl Section {
    /// The statuses a section looks at, what else a ticket must meet, and
    /// the order. One query per status lets each read an index in order and
    /// stop at the limit, instead of sorting every matching ticket.
    fn plan(self) -> (&'static [&'static str], &'static str, Order) {
        match self {
            Section::NewUnowned => (&["new", "open"], "t.owner_id IS NULL", Order::Created),
            Section::Incomplete => (
                &["new", "open", "needs-info"],
                "t.intake_missing <> ''",
                Order::Created,
            ),
            Section::NeedsInfo => (&["needs-info"], "$1 = $1", Order::Updated),
            Section::Stale => (
                &["new", "open", "stalled"],
                "t.updated_at < $1",
                Order::Updated,
            ),
            Section::Waking => (&["postponed"], "t.postponed_until < $1", Order::Wakes),
        }
    }
}

const LINE_SELECT: &str = "SELECT t.id, q.name AS queue, t.subject, t.status, \
     (SELECT MIN(COALESCE(NULLIF(u.display_name, ''), u.email)) FROM ticket_requestors r \
      JOIN users u ON u.id = r.user_id WHERE r.ticket_id = t.id) AS requestor, \
     (SELECT MIN(u.email) FROM ticket_requestors r JOIN users u ON u.id = r.user_id \
      WHERE r.ticket_id = t.id) AS requestor_email, \
     o.email AS owner, \
     CAST(NULL AS BIGINT) AS owner_open, \
     COALESCE(o.wip_limit, q.wip_limit) AS owner_limit, \
     t.created_at, t.updated_at, t.eta_at, t.eta_reason, t.status_reason, t.postponed_until, \
     t.intake_missing, t.sla_due, t.sla_risk_at, t.sla_breached \
     FROM tickets t JOIN queues q ON q.id = t.queue_id LEFT JOIN users o ON o.id = t.owner_id";

/// One section of the dashboard, on the queues given (all: `None`).
/// `bound` is the cutoff for `Stale` and the horizon for `Waking`.
pub async fn section(
    conn: &mut AnyConnection,
    which: Section,
    queues: Option<&[i64]>,
    bound: i64,
    limit: i64,
) -> Result<Vec<TriageLine>> {
    let (statuses, cond, order) = which.plan();
    // The filter is built from numbers only, never from text.
    let filter = match queues {
        None => String::new(),
        Some([]) => return Ok(Vec::new()),
        Some(ids) => {
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            format!("AND t.queue_id IN ({})", list.join(", "))
        }
    };
    let column = order.column();
    let mut lines: Vec<TriageLine> = Vec::new();
    for status in statuses {
        // $1 is bound for every query; where no bound applies it is
        // compared to itself. The status is one of the constants above.
        let sql = format!(
            "{LINE_SELECT} WHERE t.status = '{status}' AND t.merged_into IS NULL AND {cond} \
             {filter} AND $1 = $1 ORDER BY {column}, t.id LIMIT {limit}"
        );
        let part: Vec<TriageLine> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(bound)
            .fetch_all(&mut *conn)
            .await?;
        lines.extend(part);
    }
    lines.sort_by_key(|t| order.key(t));
    lines.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(lines)
}
