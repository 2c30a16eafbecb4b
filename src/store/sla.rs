//! Calendars, SLA policies, and the clock columns on tickets.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use super::Result;

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct CalendarRow {
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    pub time_zone: String,
    /// Lines such as `mon 09:00-17:00` joined by `;`.
    #[serde(skip)]
    pub hours: String,
    /// Dates joined by `,`.
    #[serde(skip)]
    pub holidays: String,
}

/// Adds a calendar, or replaces the one of that name; its id.
pub async fn save_calendar(
    conn: &mut AnyConnection,
    name: &str,
    time_zone: &str,
    hours: &str,
    holidays: &str,
    now: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO calendars (name, time_zone, hours, holidays, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET \
         time_zone = excluded.time_zone, hours = excluded.hours, holidays = excluded.holidays \
         RETURNING id",
    )
    .bind(name)
    .bind(time_zone)
    .bind(hours)
    .bind(holidays)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

pub async fn calendars(conn: &mut AnyConnection) -> Result<Vec<CalendarRow>> {
    Ok(
        sqlx::query_as("SELECT id, name, time_zone, hours, holidays FROM calendars ORDER BY name")
            .fetch_all(conn)
            .await?,
    )
}

pub async fn calendar_by_name(conn: &mut AnyConnection, name: &str) -> Result<Option<CalendarRow>> {
    Ok(
        sqlx::query_as(
            "SELECT id, name, time_zone, hours, holidays FROM calendars WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(conn)
        .await?,
    )
}

#[derive(Debug, Clone, FromRow)]
pub struct PolicyRow {
    pub id: i64,
    pub name: String,
    pub queue_id: i64,
    pub queue: String,
    pub priority: Option<i64>,
    pub first_response: String,
    pub resolve: String,
    pub next_response: Option<String>,
    pub calendar: String,
    pub time_zone: String,
    pub hours: String,
    pub holidays: String,
    pub pause: String,
    pub at_risk_percent: i64,
    pub escalate_priority: Option<i64>,
}

const POLICY: &str = "SELECT p.id, p.name, p.queue_id, q.name AS queue, p.priority, \
     p.first_response, p.resolve, p.next_response, c.name AS calendar, c.time_zone, c.hours, \
     c.holidays, p.pause, p.at_risk_percent, p.escalate_priority \
     FROM sla_policies p JOIN queues q ON q.id = p.queue_id JOIN calendars c ON c.id = p.calendar_id";

pub struct NewPolicy<'a> {
    pub name: &'a str,
    pub queue_id: i64,
    pub priority: Option<i64>,
    pub first_response: &'a str,
    pub resolve: &'a str,
    pub next_response: Option<&'a str>,
    pub calendar_id: i64,
    pub pause: &'a str,
    pub at_risk_percent: i64,
    pub escalate_priority: Option<i64>,
    pub now: i64,
}

/// Adds a policy, or changes the one of that name; its id.
pub async fn save_policy(conn: &mut AnyConnection, p: NewPolicy<'_>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO sla_policies (name, queue_id, priority, first_response, resolve, \
         next_response, calendar_id, pause, at_risk_percent, escalate_priority, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
         ON CONFLICT (name) DO UPDATE SET queue_id = excluded.queue_id, \
         priority = excluded.priority, first_response = excluded.first_response, \
         resolve = excluded.resolve, next_response = excluded.next_response, \
         calendar_id = excluded.calendar_id, pause = excluded.pause, \
         at_risk_percent = excluded.at_risk_percent, \
         escalate_priority = excluded.escalate_priority, updated_at = excluded.updated_at \
         RETURNING id",
    )
    .bind(p.name)
    .bind(p.queue_id)
    .bind(p.priority)
    .bind(p.first_response)
    .bind(p.resolve)
    .bind(p.next_response)
    .bind(p.calendar_id)
    .bind(p.pause)
    .bind(p.at_risk_percent)
    .bind(p.escalate_priority)
    .bind(p.now)
    .fetch_one(conn)
    .await?)
}

pub async fn policies(conn: &mut AnyConnection) -> Result<Vec<PolicyRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{POLICY} ORDER BY q.name, p.priority, p.name"
    )))
    .fetch_all(conn)
    .await?)
}

/// The policy for a queue and priority: one for exactly that priority
/// first, else the queue's policy for any priority.
pub async fn policy_for(
    conn: &mut AnyConnection,
    queue_id: i64,
    priority: i64,
) -> Result<Option<PolicyRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{POLICY} WHERE p.queue_id = $1 AND (p.priority = $2 OR p.priority IS NULL) \
         ORDER BY CASE WHEN p.priority IS NULL THEN 1 ELSE 0 END, p.id LIMIT 1"
    )))
    .bind(queue_id)
    .bind(priority)
    .fetch_optional(conn)
    .await?)
}

/// What the clocks need of a ticket.
#[derive(Debug, Clone, FromRow)]
pub struct TicketFacts {
    pub queue_id: i64,
    pub priority: i64,
    pub created_at: i64,
    pub sla_policy_id: Option<i64>,
    pub sla_breached: String,
    pub owner_id: Option<i64>,
    pub merged_into: Option<i64>,
}

pub async fn facts(conn: &mut AnyConnection, ticket: i64) -> Result<Option<TicketFacts>> {
    Ok(sqlx::query_as(
        "SELECT queue_id, priority, created_at, sla_policy_id, sla_breached, owner_id, \
         merged_into FROM tickets WHERE id = $1",
    )
    .bind(ticket)
    .fetch_optional(conn)
    .await?)
}

/// One event of a ticket's history the clocks read: `kind` is `status`
/// (value: the new status), `staff` or `requestor` (a reply).
#[derive(Debug, Clone, FromRow)]
pub struct Event {
    pub at: i64,
    pub kind: String,
    pub value: Option<String>,
}

/// Status changes and replies, in order. A postponement is a status
/// change to `postponed`; a reply counts when it is not automatic and not
/// flagged, and it is staff's when its author is staff.
/// Staff asking the requestor for information writes to them too: that
/// counts as a reply as well as a status change.
pub async fn events(conn: &mut AnyConnection, ticket: i64) -> Result<Vec<Event>> {
    Ok(sqlx::query_as(
        "SELECT at, kind, value FROM ( \
         SELECT x.id, x.created_at AS at, \
         CASE WHEN x.type = 'correspond' AND u.role IN ('staff', 'admin') THEN 'staff' \
              WHEN x.type = 'correspond' THEN 'requestor' ELSE 'status' END AS kind, \
         CASE WHEN x.type = 'postpone' THEN 'postponed' ELSE x.new_value END AS value \
         FROM transactions x LEFT JOIN users u ON u.id = x.creator_id \
         WHERE x.ticket_id = $1 AND (x.type IN ('status', 'postpone') \
           OR (x.type = 'correspond' AND x.auto_submitted = 0 AND x.flag IS NULL)) \
         UNION ALL \
         SELECT x.id, x.created_at AS at, 'staff' AS kind, NULL AS value \
         FROM transactions x JOIN users u ON u.id = x.creator_id \
         WHERE x.ticket_id = $1 AND x.type = 'status' AND x.new_value = 'needs-info' \
           AND u.role IN ('staff', 'admin') \
         ) e ORDER BY id, kind",
    )
    .bind(ticket)
    .fetch_all(conn)
    .await?)
}

/// Records the first reply to the requestor by staff, whether or not a
/// policy applies: the flow report's response times read it.
pub async fn note_first_response(conn: &mut AnyConnection, ticket: i64, at: i64) -> Result<()> {
    sqlx::query(
        "UPDATE tickets SET first_response_at = $1 WHERE id = $2 AND first_response_at IS NULL",
    )
    .bind(at)
    .bind(ticket)
    .execute(conn)
    .await?;
    Ok(())
}

/// The clock columns as the service worked them out.
#[derive(Debug, Clone, Default)]
pub struct ClockColumns {
    pub policy_id: Option<i64>,
    pub first_response_at: Option<i64>,
    pub first_response_due: Option<i64>,
    pub resolve_due: Option<i64>,
    pub next_response_due: Option<i64>,
    pub paused: bool,
    pub risk_at: Option<i64>,
    pub due: Option<i64>,
    pub check_at: Option<i64>,
}

pub async fn set_clocks(conn: &mut AnyConnection, ticket: i64, c: &ClockColumns) -> Result<()> {
    sqlx::query(
        "UPDATE tickets SET sla_policy_id = $1, \
         first_response_at = COALESCE($2, first_response_at), first_response_due = $3, \
         resolve_due = $4, next_response_due = $5, sla_paused = $6, sla_risk_at = $7, \
         sla_due = $8, sla_check_at = $9 WHERE id = $10",
    )
    .bind(c.policy_id)
    .bind(c.first_response_at)
    .bind(c.first_response_due)
    .bind(c.resolve_due)
    .bind(c.next_response_due)
    .bind(i16::from(c.paused))
    .bind(c.risk_at)
    .bind(c.due)
    .bind(c.check_at)
    .bind(ticket)
    .execute(conn)
    .await?;
    Ok(())
}

/// Tickets the scheduler must look at by `now`: a deadline passed.
pub async fn due_checks(conn: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM tickets WHERE sla_check_at <= $1 ORDER BY sla_check_at, id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Records breaches: true only for the one caller whose update changed
/// the list from `before`, so two schedulers never record one twice.
pub async fn record_breaches(
    conn: &mut AnyConnection,
    ticket: i64,
    before: &str,
    after: &str,
) -> Result<bool> {
    let done =
        sqlx::query("UPDATE tickets SET sla_breached = $1 WHERE id = $2 AND sla_breached = $3")
            .bind(after)
            .bind(ticket)
            .bind(before)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Open tickets of a queue, and those under a policy wherever they are
/// (their clocks follow a policy change, a move included).
pub async fn open_tickets_of_queue(
    conn: &mut AnyConnection,
    queue_id: i64,
    policy_id: i64,
) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM tickets WHERE (queue_id = $1 OR sla_policy_id = $2) \
         AND status NOT IN ('resolved', 'rejected') AND merged_into IS NULL ORDER BY id",
    )
    .bind(queue_id)
    .bind(policy_id)
    .fetch_all(conn)
    .await?)
}

/// Open tickets under policies of a calendar (they follow its change).
pub async fn open_tickets_of_calendar(
    conn: &mut AnyConnection,
    calendar_id: i64,
) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT t.id FROM tickets t JOIN sla_policies p ON p.id = t.sla_policy_id \
         WHERE p.calendar_id = $1 AND t.status NOT IN ('resolved', 'rejected') ORDER BY t.id",
    )
    .bind(calendar_id)
    .fetch_all(conn)
    .await?)
}

/// A ticket's SLA as `ticket show` gives it.
#[derive(Debug, Clone, FromRow)]
pub struct TicketSla {
    pub policy: Option<String>,
    pub first_response_due: Option<i64>,
    pub first_response_at: Option<i64>,
    pub resolve_due: Option<i64>,
    pub next_response_due: Option<i64>,
    pub sla_paused: i16,
    pub sla_breached: String,
    pub sla_due: Option<i64>,
    pub sla_risk_at: Option<i64>,
    pub status: String,
}

pub async fn ticket_sla(conn: &mut AnyConnection, ticket: i64) -> Result<Option<TicketSla>> {
    Ok(sqlx::query_as(
        "SELECT p.name AS policy, t.first_response_due, t.first_response_at, t.resolve_due, \
         t.next_response_due, t.sla_paused, t.sla_breached, t.sla_due, t.sla_risk_at, t.status \
         FROM tickets t LEFT JOIN sla_policies p ON p.id = t.sla_policy_id WHERE t.id = $1",
    )
    .bind(ticket)
    .fetch_optional(conn)
    .await?)
}

/// The triagers of a queue: who hears of a breach besides the owner.
pub async fn triagers(conn: &mut AnyConnection, queue_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT u.email FROM queue_members m JOIN users u ON u.id = m.user_id \
         WHERE m.queue_id = $1 AND m.role = 'triager' ORDER BY u.email",
    )
    .bind(queue_id)
    .fetch_all(conn)
    .await?)
}
