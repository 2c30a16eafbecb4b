//! The reports' queries: counts grouped in the database where the answer
//! is about now, and the history read back where it is "as of" a past time.

use sqlx::{AnyConnection, FromRow};

use super::{Backend, Result};
use crate::domain::aging::BUCKETS;

/// Which tickets a report covers.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub queue_ids: Option<Vec<i64>>,
    pub owner_id: Option<i64>,
}

impl Scope {
    /// `AND …` conditions on `t` for this scope. Ids are integers from our
    /// own lookups, never text from a request.
    fn sql(&self) -> String {
        let mut s = String::new();
        if let Some(ids) = &self.queue_ids {
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            if list.is_empty() {
                s.push_str(" AND 1 = 0");
            } else {
                s.push_str(&format!(" AND t.queue_id IN ({})", list.join(",")));
            }
        }
        if let Some(o) = self.owner_id {
            s.push_str(&format!(" AND t.owner_id = {o}"));
        }
        s
    }
}

/// `CASE` mapping the age of `column` at `$1` to a bucket index.
fn bucket_case(column: &str) -> String {
    let mut s = String::from("CASE");
    for (i, (_, under)) in BUCKETS.iter().enumerate().take(BUCKETS.len() - 1) {
        s.push_str(&format!(" WHEN $1 - {column} < {under} THEN {i}"));
    }
    s.push_str(&format!(" ELSE {} END", BUCKETS.len() - 1));
    s
}

/// Open tickets counted per queue, owner, status and age bucket.
#[derive(Debug, Clone, FromRow)]
pub struct AgeCount {
    pub queue_id: i64,
    pub owner_id: Option<i64>,
    pub status: String,
    pub bucket: i64,
    pub n: i64,
}

const OPEN: &str = "t.status NOT IN ('resolved', 'rejected') AND t.merged_into IS NULL";

pub async fn open_by_age(
    conn: &mut AnyConnection,
    now: i64,
    scope: &Scope,
) -> Result<Vec<AgeCount>> {
    let sql = format!(
        "SELECT t.queue_id, t.owner_id, t.status, {} AS bucket, COUNT(*) AS n FROM tickets t \
         WHERE {OPEN}{} GROUP BY t.queue_id, t.owner_id, t.status, bucket",
        bucket_case("t.created_at"),
        scope.sql()
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .fetch_all(conn)
        .await?)
}

/// Open tickets per bucket of the time since `column` (`updated_at`:
/// staleness; `status_changed_at`: time in the current status).
pub async fn open_by_time_since(
    conn: &mut AnyConnection,
    now: i64,
    column: Since,
    scope: &Scope,
) -> Result<Vec<(i64, i64)>> {
    let col = match column {
        Since::Update => "t.updated_at",
        Since::StatusChange => "COALESCE(t.status_changed_at, t.created_at)",
    };
    let sql = format!(
        "SELECT {} AS bucket, COUNT(*) AS n FROM tickets t WHERE {OPEN}{} \
         GROUP BY bucket",
        bucket_case(col),
        scope.sql()
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .fetch_all(conn)
        .await?)
}

#[derive(Debug, Clone, Copy)]
pub enum Since {
    Update,
    StatusChange,
}

/// A ticket on the oldest list.
#[derive(Debug, Clone, FromRow)]
pub struct OldTicket {
    pub id: i64,
    pub subject: String,
    pub queue: String,
    pub owner: Option<String>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub async fn oldest_open(
    conn: &mut AnyConnection,
    scope: &Scope,
    limit: i64,
) -> Result<Vec<OldTicket>> {
    let sql = format!(
        "SELECT t.id, t.subject, q.name AS queue, o.email AS owner, t.status, t.created_at, \
         t.updated_at FROM tickets t JOIN queues q ON q.id = t.queue_id \
         LEFT JOIN users o ON o.id = t.owner_id \
         WHERE {OPEN}{} ORDER BY t.created_at, t.id LIMIT $1",
        scope.sql()
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

/// A ticket as it stood at a past time, read back from its history.
#[derive(Debug, Clone, FromRow)]
pub struct PastTicket {
    pub id: i64,
    pub subject: String,
    pub queue_id: i64,
    pub created_at: i64,
    /// The last status change by then (`None`: still `new`).
    pub status_then: Option<String>,
    pub status_at_then: Option<i64>,
    /// The owner by then: an address, `''` for nobody, `None` when it
    /// never changed by then (nobody: tickets start unowned).
    pub owner_then: Option<String>,
    pub updated_then: Option<i64>,
}

/// Tickets that may have been open at `at`: created by then and not
/// closed by then for good. Their status then decides.
pub async fn as_of(conn: &mut AnyConnection, at: i64, scope: &Scope) -> Result<Vec<PastTicket>> {
    // The owner scope applies to the owner then, in the service.
    let scope = Scope {
        owner_id: None,
        ..scope.clone()
    };
    let sql = format!(
        "SELECT t.id, t.subject, t.queue_id, t.created_at, \
         (SELECT CASE WHEN x.type = 'postpone' THEN 'postponed' ELSE x.new_value END \
          FROM transactions x WHERE x.ticket_id = t.id AND x.type IN ('status', 'postpone') \
          AND x.created_at <= $1 ORDER BY x.id DESC LIMIT 1) AS status_then, \
         (SELECT MAX(x.created_at) FROM transactions x WHERE x.ticket_id = t.id \
          AND x.type IN ('status', 'postpone') AND x.created_at <= $1) AS status_at_then, \
         (SELECT COALESCE(x.new_value, '') FROM transactions x WHERE x.ticket_id = t.id \
          AND x.type IN ('owner', 'escalate') AND x.created_at <= $1 \
          ORDER BY x.id DESC LIMIT 1) AS owner_then, \
         (SELECT MAX(x.created_at) FROM transactions x WHERE x.ticket_id = t.id \
          AND x.created_at <= $1) AS updated_then \
         FROM tickets t WHERE t.created_at <= $1 AND t.merged_into IS NULL \
         AND (t.resolved_at IS NULL OR t.resolved_at > $1){}",
        scope.sql()
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(at)
        .fetch_all(conn)
        .await?)
}

/// Addresses of users by id, for the grouped counts.
pub async fn user_emails(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<(i64, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    let sql = format!(
        "SELECT id, email FROM users WHERE id IN ({})",
        list.join(",")
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await?)
}

/// Tickets created and closed per week from `from` (week starts, ms),
/// and how many are open now: the backlog at each week's end follows by
/// counting back, so nothing older than the window is read.
#[derive(Debug, Clone, Default)]
pub struct WeekCounts {
    pub open_now: i64,
    /// `(week index, count)`.
    pub created: Vec<(i64, i64)>,
    pub closed: Vec<(i64, i64)>,
}

pub async fn week_counts(
    conn: &mut AnyConnection,
    from: i64,
    until: i64,
    scope: &Scope,
) -> Result<WeekCounts> {
    let week = crate::domain::aging::WEEK_MS;
    let mut out = WeekCounts {
        open_now: sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM tickets t WHERE {OPEN}{}",
            scope.sql()
        )))
        .fetch_one(&mut *conn)
        .await?,
        ..WeekCounts::default()
    };
    for (column, per_week) in [
        ("t.created_at", &mut out.created),
        ("t.resolved_at", &mut out.closed),
    ] {
        let sql = format!(
            "SELECT ({column} - $1) / {week} AS w, COUNT(*) AS n FROM tickets t \
             WHERE {column} >= $1 AND {column} < $2 AND t.merged_into IS NULL{} GROUP BY w",
            scope.sql()
        );
        *per_week = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(from)
            .bind(until)
            .fetch_all(&mut *conn)
            .await?;
    }
    Ok(out)
}

/// Response and resolution times (ms) of the tickets created in
/// `[from, until)`, per queue and day of creation (days after `from`), as
/// lists of numbers: a few hundred rows instead of one per ticket.
#[derive(Debug, Clone, FromRow)]
pub struct DayTimes {
    pub queue_id: i64,
    pub day: i64,
    /// Comma-separated times to the first staff reply.
    pub first_response: Option<String>,
    /// Comma-separated times to resolution (resolved, not rejected).
    pub resolution: Option<String>,
}

pub async fn times(
    conn: &mut AnyConnection,
    backend: Backend,
    from: i64,
    until: i64,
    scope: &Scope,
) -> Result<Vec<DayTimes>> {
    let day = crate::domain::aging::DAY_MS;
    let (fr, res) = match backend {
        Backend::Sqlite => (
            "group_concat(t.first_response_at - t.created_at)",
            "group_concat(CASE WHEN t.status = 'resolved' THEN t.resolved_at - t.created_at END)",
        ),
        Backend::Postgres => (
            "string_agg((t.first_response_at - t.created_at)::text, ',')",
            "string_agg((CASE WHEN t.status = 'resolved' THEN t.resolved_at - t.created_at END)::text, ',')",
        ),
    };
    let sql = format!(
        "SELECT t.queue_id, (t.created_at - $1) / {day} AS day, {fr} AS first_response, \
         {res} AS resolution FROM tickets t WHERE t.created_at >= $1 AND t.created_at < $2 \
         AND t.merged_into IS NULL{} GROUP BY t.queue_id, day",
        scope.sql()
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(until)
        .fetch_all(conn)
        .await?)
}

/// An open ticket whose SLA is at risk or breached, for the board.
#[derive(Debug, Clone, FromRow)]
pub struct SlaLine {
    pub id: i64,
    pub subject: String,
    pub queue: String,
    pub owner: Option<String>,
    pub status: String,
    pub policy: String,
    pub time_zone: String,
    pub hours: String,
    pub holidays: String,
    pub first_response_due: Option<i64>,
    pub first_response_at: Option<i64>,
    pub resolve_due: Option<i64>,
    pub next_response_due: Option<i64>,
    pub sla_due: Option<i64>,
    pub sla_risk_at: Option<i64>,
    pub sla_breached: String,
    pub sla_paused: i16,
}

/// Open tickets under a policy that are at risk by `now` (a clock past
/// its at-risk share) or breached (recorded, or a deadline passed).
const SLA_OPEN: &str = "t.status NOT IN ('resolved', 'rejected') AND t.merged_into IS NULL \
     AND t.sla_policy_id IS NOT NULL AND (t.sla_risk_at <= $1 OR t.sla_breached <> '')";

/// Those tickets, soonest due first (paused ones last); `limit` of them.
pub async fn sla_lines(
    conn: &mut AnyConnection,
    now: i64,
    scope: &Scope,
    limit: Option<i64>,
) -> Result<Vec<SlaLine>> {
    let sql = format!(
        "SELECT t.id, t.subject, q.name AS queue, o.email AS owner, t.status, p.name AS policy, \
         c.time_zone, c.hours, c.holidays, t.first_response_due, t.first_response_at, \
         t.resolve_due, t.next_response_due, t.sla_due, t.sla_risk_at, t.sla_breached, \
         t.sla_paused \
         FROM tickets t JOIN queues q ON q.id = t.queue_id \
         JOIN sla_policies p ON p.id = t.sla_policy_id JOIN calendars c ON c.id = p.calendar_id \
         LEFT JOIN users o ON o.id = t.owner_id \
         WHERE {SLA_OPEN}{} ORDER BY t.sla_due NULLS LAST, t.id LIMIT $2",
        scope.sql()
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(limit.unwrap_or(i64::MAX))
        .fetch_all(conn)
        .await?)
}

/// Those tickets counted per queue, owner, and breached (1) or at risk (0).
#[derive(Debug, Clone, FromRow)]
pub struct SlaCount {
    pub queue_id: i64,
    pub owner_id: Option<i64>,
    pub breached: i64,
    pub n: i64,
}

pub async fn sla_counts(
    conn: &mut AnyConnection,
    backend: Backend,
    now: i64,
    scope: &Scope,
) -> Result<Vec<SlaCount>> {
    // SQLite would read the open tickets' index and then every row; the
    // SLA index covers the count by itself.
    let hint = match backend {
        Backend::Sqlite => "INDEXED BY tickets_sla_open",
        Backend::Postgres => "",
    };
    let sql = format!(
        "SELECT t.queue_id, t.owner_id, \
         CASE WHEN t.sla_breached <> '' OR t.sla_due <= $1 THEN 1 ELSE 0 END AS breached, \
         COUNT(*) AS n FROM tickets t {hint} WHERE {SLA_OPEN}{} \
         GROUP BY t.queue_id, t.owner_id, breached",
        scope.sql()
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .fetch_all(conn)
        .await?)
}
