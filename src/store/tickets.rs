//! Tickets, their people and their append-only history.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use crate::domain::lifecycle::{Status, WaitingOn};

use super::{Result, rfc3339};

pub struct NewTicket<'a> {
    pub queue_id: i64,
    pub subject: &'a str,
    pub now: i64,
}

pub async fn create(conn: &mut AnyConnection, t: NewTicket<'_>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO tickets (queue_id, subject, status, priority, created_at, updated_at, \
         status_changed_at) VALUES ($1, $2, 'new', 0, $3, $3, $3) RETURNING id",
    )
    .bind(t.queue_id)
    .bind(t.subject)
    .bind(t.now)
    .fetch_one(conn)
    .await?)
}

pub async fn exists(conn: &mut AnyConnection, id: i64) -> Result<bool> {
    let n: Option<i64> = sqlx::query_scalar("SELECT id FROM tickets WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(n.is_some())
}

pub async fn status(conn: &mut AnyConnection, id: i64) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT status FROM tickets WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn set_status(conn: &mut AnyConnection, id: i64, status: &str, now: i64) -> Result<()> {
    // `resolved_at` is when the work ended: resolved or rejected.
    let resolved = matches!(status, "resolved" | "rejected").then_some(now);
    sqlx::query(
        "UPDATE tickets SET status_changed_at = CASE WHEN status = $1 THEN status_changed_at \
         ELSE $3 END, status = $1, resolved_at = $2, updated_at = $3, status_reason = NULL, \
         postponed_until = NULL WHERE id = $4",
    )
    .bind(status)
    .bind(resolved)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn touch(conn: &mut AnyConnection, id: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn add_requestor(conn: &mut AnyConnection, ticket: i64, user: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO ticket_requestors (ticket_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(ticket)
    .bind(user)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn add_cc(conn: &mut AnyConnection, ticket: i64, user: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO ticket_cc (ticket_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(ticket)
    .bind(user)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn requestor_ids(conn: &mut AnyConnection, ticket: i64) -> Result<Vec<i64>> {
    Ok(
        sqlx::query_scalar("SELECT user_id FROM ticket_requestors WHERE ticket_id = $1")
            .bind(ticket)
            .fetch_all(conn)
            .await?,
    )
}

pub async fn requestor_emails(conn: &mut AnyConnection, ticket: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT u.email FROM ticket_requestors r JOIN users u ON u.id = r.user_id \
         WHERE r.ticket_id = $1 ORDER BY u.email",
    )
    .bind(ticket)
    .fetch_all(conn)
    .await?)
}

pub async fn cc_emails(conn: &mut AnyConnection, ticket: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT u.email FROM ticket_cc c JOIN users u ON u.id = c.user_id \
         WHERE c.ticket_id = $1 ORDER BY u.email",
    )
    .bind(ticket)
    .fetch_all(conn)
    .await?)
}

/// One entry of a ticket's history.
pub struct NewTransaction<'a> {
    pub ticket_id: i64,
    pub kind: &'a str,
    pub creator_id: Option<i64>,
    pub message_row_id: Option<i64>,
    pub body: &'a str,
    pub thread_rule: Option<&'a str>,
    pub thread_note: Option<&'a str>,
    /// Why this entry needs a look (e.g. a comment address used by an outsider).
    pub flag: Option<&'a str>,
    pub classification: Option<&'a str>,
    pub auto_submitted: bool,
    pub old_value: Option<&'a str>,
    pub new_value: Option<&'a str>,
    pub now: i64,
}

pub async fn add_transaction(conn: &mut AnyConnection, t: NewTransaction<'_>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO transactions (ticket_id, type, creator_id, message_row_id, body, thread_rule, \
         thread_note, classification, auto_submitted, old_value, new_value, created_at, flag) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(t.ticket_id)
    .bind(t.kind)
    .bind(t.creator_id)
    .bind(t.message_row_id)
    .bind(t.body)
    .bind(t.thread_rule)
    .bind(t.thread_note)
    .bind(t.classification)
    .bind(i16::from(t.auto_submitted))
    .bind(t.old_value)
    .bind(t.new_value)
    .bind(t.now)
    .bind(t.flag)
    .fetch_one(conn)
    .await?)
}

pub async fn add_attachment(
    conn: &mut AnyConnection,
    transaction: i64,
    filename: &str,
    content_type: &str,
    content: &[u8],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO attachments (transaction_id, filename, content_type, size, content) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(transaction)
    .bind(filename)
    .bind(content_type)
    .bind(content.len() as i64)
    .bind(content)
    .execute(conn)
    .await?;
    Ok(())
}

/// A ticket as `docket ticket list --json` prints it.
#[derive(Debug, Serialize)]
pub struct TicketSummary {
    pub id: i64,
    pub queue: String,
    pub subject: String,
    pub status: String,
    pub owner: Option<String>,
    pub priority: i64,
    pub requestors: Vec<String>,
    pub cc: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
    pub due_at: Option<String>,
    /// When the work is expected done, and why.
    pub eta: Option<String>,
    pub eta_reason: Option<String>,
    /// Why the ticket is in its status (the questions of a needs-info).
    pub status_reason: Option<String>,
    pub postponed_until: Option<String>,
    /// `us`, `requestor`, `outside`, or null when done or postponed.
    pub waiting_on: Option<&'static str>,
}

/// A ticket with its history, as `docket ticket show N --json` prints it.
#[derive(Debug, Serialize)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: TicketSummary,
    pub transactions: Vec<TransactionView>,
}

#[derive(Debug, Serialize)]
pub struct TransactionView {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub from: Option<String>,
    pub created_at: String,
    pub body: String,
    pub auto_submitted: bool,
    pub classification: Option<String>,
    pub thread_rule: Option<String>,
    pub thread_note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub message_id: Option<String>,
    pub attachments: Vec<AttachmentView>,
    /// A command by mail: whether it was carried out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<bool>,
}

#[derive(Debug, Serialize, FromRow)]
pub struct AttachmentView {
    #[serde(skip)]
    pub transaction_id: i64,
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

#[derive(FromRow)]
struct TicketRow {
    id: i64,
    queue: String,
    subject: String,
    status: String,
    owner: Option<String>,
    priority: i64,
    created_at: i64,
    updated_at: i64,
    resolved_at: Option<i64>,
    due_at: Option<i64>,
    eta_at: Option<i64>,
    eta_reason: Option<String>,
    status_reason: Option<String>,
    postponed_until: Option<i64>,
}

const TICKET_SELECT: &str = "SELECT t.id, q.name AS queue, t.subject, t.status, o.email AS owner, \
     t.priority, t.created_at, t.updated_at, t.resolved_at, t.due_at, t.eta_at, t.eta_reason, \
     t.status_reason, t.postponed_until \
     FROM tickets t JOIN queues q ON q.id = t.queue_id LEFT JOIN users o ON o.id = t.owner_id";

async fn summary(conn: &mut AnyConnection, r: TicketRow) -> Result<TicketSummary> {
    Ok(TicketSummary {
        requestors: requestor_emails(&mut *conn, r.id).await?,
        cc: cc_emails(&mut *conn, r.id).await?,
        id: r.id,
        queue: r.queue,
        subject: r.subject,
        owner: r.owner,
        priority: r.priority,
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
        resolved_at: r.resolved_at.map(rfc3339),
        due_at: r.due_at.map(rfc3339),
        eta: r.eta_at.map(rfc3339),
        eta_reason: r.eta_reason,
        postponed_until: r.postponed_until.map(rfc3339),
        waiting_on: Status::parse(&r.status)
            .and_then(Status::waiting_on)
            .map(WaitingOn::as_str),
        status_reason: r.status_reason,
        status: r.status,
    })
}

pub async fn list(
    conn: &mut AnyConnection,
    queue: Option<&str>,
    status: Option<&str>,
) -> Result<Vec<TicketSummary>> {
    let sql = format!(
        "{TICKET_SELECT} WHERE ($1 IS NULL OR q.name = $1) AND ($2 IS NULL OR t.status = $2) ORDER BY t.id"
    );
    let rows: Vec<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(queue)
        .bind(status)
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(summary(&mut *conn, r).await?);
    }
    Ok(out)
}

#[derive(FromRow)]
struct TxRow {
    id: i64,
    kind: String,
    from_email: Option<String>,
    created_at: i64,
    body: String,
    auto_submitted: i16,
    classification: Option<String>,
    thread_rule: Option<String>,
    thread_note: Option<String>,
    flag: Option<String>,
    old_value: Option<String>,
    new_value: Option<String>,
    message_id: Option<String>,
}

pub async fn show(conn: &mut AnyConnection, id: i64) -> Result<Option<TicketDetail>> {
    let sql = format!("{TICKET_SELECT} WHERE t.id = $1");
    let row: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let ticket = summary(&mut *conn, row).await?;
    let txs: Vec<TxRow> = sqlx::query_as(
        "SELECT x.id, x.type AS kind, u.email AS from_email, x.created_at, x.body, x.auto_submitted, \
         x.classification, x.thread_rule, x.thread_note, x.flag, x.old_value, x.new_value, m.message_id \
         FROM transactions x LEFT JOIN users u ON u.id = x.creator_id \
         LEFT JOIN messages m ON m.id = x.message_row_id WHERE x.ticket_id = $1 ORDER BY x.id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let mut atts: Vec<AttachmentView> = sqlx::query_as(
        "SELECT a.transaction_id, a.id, a.filename, a.content_type, a.size FROM attachments a \
         JOIN transactions x ON x.id = a.transaction_id WHERE x.ticket_id = $1 ORDER BY a.id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let transactions = txs
        .into_iter()
        .map(|x| {
            let mine: Vec<AttachmentView>;
            (mine, atts) = atts.drain(..).partition(|a| a.transaction_id == x.id);
            TransactionView {
                accepted: (x.kind == "command").then(|| x.new_value.as_deref() == Some("accepted")),
                id: x.id,
                kind: x.kind,
                from: x.from_email,
                created_at: rfc3339(x.created_at),
                body: x.body,
                auto_submitted: x.auto_submitted != 0,
                classification: x.classification,
                thread_rule: x.thread_rule,
                thread_note: x.thread_note,
                flag: x.flag,
                old_value: x.old_value,
                new_value: x.new_value,
                message_id: x.message_id,
                attachments: mine,
            }
        })
        .collect();
    Ok(Some(TicketDetail {
        ticket,
        transactions,
    }))
}

/// What mail about a ticket needs to know: its queue, addresses, owner.
#[derive(Debug, Clone, FromRow)]
pub struct TicketContext {
    pub id: i64,
    pub subject: String,
    pub status: String,
    pub queue_id: i64,
    pub queue_name: String,
    pub correspond_address: String,
    pub comment_address: Option<String>,
    pub subject_tag: Option<String>,
    pub owner: Option<String>,
    /// The changes the queue mails its requestors about (comma list).
    pub notify_events: String,
    pub reopen_days: i64,
    pub resolved_at: Option<i64>,
    /// The application owning the queue, told of changes by webhook.
    pub app_id: Option<i64>,
}

pub async fn context(conn: &mut AnyConnection, id: i64) -> Result<Option<TicketContext>> {
    Ok(sqlx::query_as(
        "SELECT t.id, t.subject, t.status, q.id AS queue_id, q.name AS queue_name, q.correspond_address, \
         q.comment_address, q.subject_tag, o.email AS owner, q.notify AS notify_events, q.reopen_days, \
         t.resolved_at, q.app_id \
         FROM tickets t JOIN queues q ON q.id = t.queue_id LEFT JOIN users o ON o.id = t.owner_id \
         WHERE t.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Addresses of the people who work a queue (an application is told by
/// webhook, never by mail).
pub async fn queue_staff(conn: &mut AnyConnection, queue_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT u.email FROM queue_members m JOIN users u ON u.id = m.user_id \
         WHERE m.queue_id = $1 AND NOT EXISTS (SELECT 1 FROM applications a \
         WHERE a.user_id = u.id) ORDER BY u.email",
    )
    .bind(queue_id)
    .fetch_all(conn)
    .await?)
}

pub async fn set_owner(
    conn: &mut AnyConnection,
    id: i64,
    owner: Option<i64>,
    now: i64,
) -> Result<()> {
    sqlx::query("UPDATE tickets SET owner_id = $1, updated_at = $2 WHERE id = $3")
        .bind(owner)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A ticket field set directly by staff.
#[derive(Debug, Clone, Copy)]
pub enum Field {
    Priority,
    Due,
}

pub async fn set_field(
    conn: &mut AnyConnection,
    id: i64,
    field: Field,
    value: Option<i64>,
    now: i64,
) -> Result<()> {
    let sql = match field {
        Field::Priority => "UPDATE tickets SET priority = $1, updated_at = $2 WHERE id = $3",
        Field::Due => "UPDATE tickets SET due_at = $1, updated_at = $2 WHERE id = $3",
    };
    sqlx::query(sql)
        .bind(value)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// How many tickets there are.
pub async fn count(conn: &mut AnyConnection) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM tickets")
        .fetch_one(conn)
        .await?)
}
