//! Read models for the web UI: queue overviews, ticket lists (keyset pages),
//! rights checks and search.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use super::Result;

/// Queues a user may see: all but applications' for admins, their
/// memberships for staff.
pub async fn visible_queue_ids(
    conn: &mut AnyConnection,
    user_id: i64,
    admin: bool,
) -> Result<Vec<i64>> {
    Ok(if admin {
        sqlx::query_scalar("SELECT id FROM queues WHERE app_id IS NULL ORDER BY name")
            .fetch_all(conn)
            .await?
    } else {
        sqlx::query_scalar("SELECT queue_id FROM queue_members WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(conn)
            .await?
    })
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct QueueOverview {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub new_count: i64,
    pub open_count: i64,
    pub stalled_count: i64,
    pub needs_info_count: i64,
    pub unowned: i64,
    pub oldest_open_at: Option<i64>,
}

/// Counts for the overview in one pass over the open tickets' index.
pub async fn queue_overview(
    conn: &mut AnyConnection,
    queue_id: i64,
) -> Result<Option<QueueOverview>> {
    Ok(sqlx::query_as(
        "SELECT q.id, q.name, q.correspond_address AS address, \
         COALESCE(c.new_count, 0) AS new_count, COALESCE(c.open_count, 0) AS open_count, \
         COALESCE(c.stalled_count, 0) AS stalled_count, \
         COALESCE(c.needs_info_count, 0) AS needs_info_count, COALESCE(c.unowned, 0) AS unowned, \
         c.oldest_open_at FROM queues q LEFT JOIN ( \
         SELECT t.queue_id, \
         SUM(CASE WHEN t.status = 'new' THEN 1 ELSE 0 END) AS new_count, \
         SUM(CASE WHEN t.status = 'open' THEN 1 ELSE 0 END) AS open_count, \
         SUM(CASE WHEN t.status = 'stalled' THEN 1 ELSE 0 END) AS stalled_count, \
         SUM(CASE WHEN t.status = 'needs-info' THEN 1 ELSE 0 END) AS needs_info_count, \
         SUM(CASE WHEN t.owner_id IS NULL AND t.status IN ('new', 'open', 'stalled', 'needs-info') \
              THEN 1 ELSE 0 END) AS unowned, \
         MIN(CASE WHEN t.status IN ('new', 'open', 'stalled', 'needs-info') THEN t.created_at END) \
              AS oldest_open_at \
         FROM tickets t WHERE t.queue_id = $1 AND t.status NOT IN ('resolved', 'rejected') \
         AND t.merged_into IS NULL GROUP BY t.queue_id) c ON c.queue_id = q.id WHERE q.id = $1",
    )
    .bind(queue_id)
    .fetch_optional(conn)
    .await?)
}

pub async fn queue_by_name(conn: &mut AnyConnection, name: &str) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT id FROM queues WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await?)
}

#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub status: Option<String>,
    pub owner: Option<String>,
    pub requestor: Option<String>,
    pub text: Option<String>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct TicketRow {
    pub id: i64,
    pub queue: String,
    pub subject: String,
    pub status: String,
    pub owner: Option<String>,
    pub requestor: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub sla_due: Option<i64>,
    pub sla_risk_at: Option<i64>,
    pub sla_breached: String,
}

const ROW_SELECT: &str = "SELECT t.id, q.name AS queue, t.subject, t.status, o.email AS owner, \
     (SELECT MIN(u.email) FROM ticket_requestors r JOIN users u ON u.id = r.user_id WHERE r.ticket_id = t.id) AS requestor, \
     t.created_at, t.updated_at, t.sla_due, t.sla_risk_at, t.sla_breached \
     FROM tickets t JOIN queues q ON q.id = t.queue_id LEFT JOIN users o ON o.id = t.owner_id";

/// How a queue is ordered; every order is a keyset (column, id), so deep
/// pages cost the same as the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Newest,
    Oldest,
    Updated,
    Priority,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Sort> {
        Some(match s {
            "newest" => Sort::Newest,
            "oldest" => Sort::Oldest,
            "updated" => Sort::Updated,
            "priority" => Sort::Priority,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Sort::Newest => "newest",
            Sort::Oldest => "oldest",
            Sort::Updated => "updated",
            Sort::Priority => "priority",
        }
    }

    /// (sort column, descending?)
    fn key(self) -> (&'static str, bool) {
        match self {
            Sort::Newest => ("t.id", true),
            Sort::Oldest => ("t.id", false),
            Sort::Updated => ("t.updated_at", true),
            Sort::Priority => ("t.priority", true),
        }
    }

    /// The cursor for the page after `row`: "value.id".
    pub fn cursor(self, row: &TicketRow, priority: i64) -> String {
        let v = match self {
            Sort::Newest | Sort::Oldest => row.id,
            Sort::Updated => row.updated_at,
            Sort::Priority => priority,
        };
        format!("{v}.{}", row.id)
    }
}

/// One page of a queue in `sort` order, after `cursor` ("value.id" of the
/// last row of the previous page).
pub async fn queue_tickets(
    conn: &mut AnyConnection,
    queue_id: i64,
    f: &TicketFilter,
    sort: Sort,
    cursor: Option<(i64, i64)>,
    limit: i64,
) -> Result<Vec<(TicketRow, i64)>> {
    let (col, desc) = sort.key();
    let (cmp, dir) = if desc { ("<", "DESC") } else { (">", "ASC") };
    let sql = format!(
        "SELECT x.*, t2.priority FROM ({ROW_SELECT} WHERE t.queue_id = $1 AND ($2 IS NULL OR t.status = $2) \
         AND ($3 IS NULL OR o.email = $3 OR ($3 = 'nobody' AND t.owner_id IS NULL)) \
         AND ($4 IS NULL OR EXISTS (SELECT 1 FROM ticket_requestors r JOIN users u ON u.id = r.user_id \
              WHERE r.ticket_id = t.id AND u.email = $4)) \
         AND ($5 IS NULL OR LOWER(t.subject) LIKE $5) \
         AND ($6 IS NULL OR {col} {cmp} $6 OR ({col} = $6 AND t.id {cmp} $7)) \
         ORDER BY {col} {dir}, t.id {dir} LIMIT $8) x JOIN tickets t2 ON t2.id = x.id ORDER BY {sort_again}",
        sort_again = match sort {
            Sort::Newest => "x.id DESC",
            Sort::Oldest => "x.id ASC",
            Sort::Updated => "x.updated_at DESC, x.id DESC",
            Sort::Priority => "t2.priority DESC, x.id DESC",
        }
    );
    let text = f.text.as_ref().map(|t| format!("%{}%", t.to_lowercase()));
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        row: TicketRow,
        priority: i64,
    }
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(queue_id)
        .bind(f.status.as_deref())
        .bind(f.owner.as_deref())
        .bind(f.requestor.as_deref())
        .bind(text)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1).unwrap_or(0))
        .bind(limit)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(|r| (r.row, r.priority)).collect())
}

/// The queue of a ticket, to check rights before anything else is read.
pub async fn ticket_queue(conn: &mut AnyConnection, ticket: i64) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT queue_id FROM tickets WHERE id = $1")
            .bind(ticket)
            .fetch_optional(conn)
            .await?,
    )
}

#[derive(Debug, FromRow)]
pub struct AttachmentFile {
    pub queue_id: i64,
    pub filename: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

pub async fn attachment(conn: &mut AnyConnection, id: i64) -> Result<Option<AttachmentFile>> {
    Ok(sqlx::query_as(
        "SELECT t.queue_id, a.filename, a.content_type, a.content FROM attachments a \
         JOIN transactions x ON x.id = a.transaction_id JOIN tickets t ON t.id = x.ticket_id WHERE a.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// FTS5 query for the words of `q`: each word quoted (implicit AND), so user
/// input is never FTS syntax; split where the tokenizer splits, since the
/// index keeps no positions (detail=none) and so takes no phrases.
fn fts5_query(q: &str) -> String {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Tickets matching `q` by number, requestor address, or words in the
/// subject or any history text (full-text: SQLite FTS5, PostgreSQL
/// tsvector), within `queues`.
pub async fn search(
    conn: &mut AnyConnection,
    backend: super::Backend,
    queues: &[i64],
    q: &str,
    limit: i64,
) -> Result<Vec<TicketRow>> {
    let q = q.trim();
    if queues.is_empty() || q.is_empty() {
        return Ok(Vec::new());
    }
    let ids = queues
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let number: Option<i64> = q.trim_start_matches('#').parse().ok();
    let words = fts5_query(q);
    let (text_match, text_param) = match backend {
        super::Backend::Sqlite if words.is_empty() => ("SELECT $1 WHERE $2 <> ''", String::new()),
        // The newest matches first, and only so many: a word that is in half
        // the database must not make the search read all of it.
        super::Backend::Sqlite => (
            "SELECT rowid FROM (SELECT rowid FROM tickets_fts WHERE tickets_fts MATCH $2 \
                 ORDER BY rowid DESC LIMIT 300) \
             UNION SELECT x.ticket_id FROM transactions x WHERE x.id IN \
                 (SELECT rowid FROM transactions_fts WHERE transactions_fts MATCH $2 ORDER BY rowid DESC LIMIT 300)",
            words,
        ),
        super::Backend::Postgres => (
            "SELECT id FROM tickets WHERE to_tsvector('simple', subject) @@ plainto_tsquery('simple', $2) \
             UNION SELECT x.ticket_id FROM transactions x \
                 WHERE to_tsvector('simple', x.body) @@ plainto_tsquery('simple', $2)",
            q.to_string(),
        ),
    };
    let sql = format!(
        "{ROW_SELECT} WHERE t.queue_id IN ({ids}) AND t.id IN (SELECT $1 UNION {text_match} \
         UNION SELECT r.ticket_id FROM ticket_requestors r JOIN users u ON u.id = r.user_id WHERE u.email = $3) \
         ORDER BY t.id DESC LIMIT $4"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(number.unwrap_or(-1))
        .bind(text_param)
        .bind(q.to_lowercase())
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_input_never_becomes_fts_syntax() {
        assert_eq!(fts5_query("printer  floor"), "\"printer\" \"floor\"");
        assert_eq!(fts5_query("a\" OR b*"), "\"a\" \"OR\" \"b\"");
        assert_eq!(fts5_query("sam@example.net"), "\"sam\" \"example\" \"net\"");
    }
}

/// A ticket in an API list.
#[derive(Debug, Clone, FromRow)]
pub struct ApiRow {
    pub id: i64,
    pub queue: String,
    pub subject: String,
    pub status: String,
    pub owner: Option<String>,
    pub priority: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Tickets of `queues` after id `after`, oldest first (a keyset page);
/// `people` leaves hidden tasks out.
pub async fn api_page(
    conn: &mut AnyConnection,
    queues: &[i64],
    status: Option<&str>,
    after: i64,
    limit: i64,
    people: bool,
) -> Result<Vec<ApiRow>> {
    if queues.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = queues.iter().map(i64::to_string).collect();
    let hidden = if people { " AND t.hidden = 0" } else { "" };
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT t.id, q.name AS queue, t.subject, t.status, o.email AS owner, t.priority, \
         t.created_at, t.updated_at FROM tickets t JOIN queues q ON q.id = t.queue_id \
         LEFT JOIN users o ON o.id = t.owner_id WHERE t.queue_id IN ({}) AND t.id > $1 \
         AND ($2 IS NULL OR t.status = $2){hidden} ORDER BY t.id LIMIT $3",
        ids.join(", ")
    )))
    .bind(after)
    .bind(status)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}
