//! Demo data: spreads freshly generated tickets over statuses, owners,
//! priorities and the last 60 days, so a demo looks like a working queue.

use sqlx::AnyConnection;

use super::{Backend, Result};

/// Spreads the tickets from `first` on (those just made through ingest).
pub async fn spread(conn: &mut AnyConnection, staff: &[i64], first: i64) -> Result<()> {
    for sql in [
        "UPDATE tickets SET status = 'open' WHERE id % 5 = 1 AND id >= $1",
        "UPDATE tickets SET status = 'stalled' WHERE id % 11 = 2 AND id >= $1",
        "UPDATE tickets SET status = 'needs-info' WHERE id % 13 = 3 AND id >= $1",
        "UPDATE tickets SET status = 'resolved', resolved_at = updated_at WHERE id % 3 = 0 AND id >= $1",
        "UPDATE tickets SET status = 'postponed', postponed_until = updated_at + (id % 10 + 1) * 86400000, \
         status_reason = 'after the change freeze' WHERE id % 17 = 4 AND id >= $1",
        "UPDATE tickets SET priority = id % 4 WHERE id >= $1",
    ] {
        sqlx::query(sql).bind(first).execute(&mut *conn).await?;
    }
    for (i, id) in staff.iter().enumerate() {
        sqlx::query(
            "UPDATE tickets SET owner_id = $1 WHERE id % $3 = $2 AND status <> 'new' AND id >= $4",
        )
        .bind(id)
        .bind(i as i64)
        .bind(staff.len().max(1) as i64)
        .bind(first)
        .execute(&mut *conn)
        .await?;
    }
    // Tickets arrived over the last 60 days, not all this second.
    sqlx::query(
        "UPDATE tickets SET created_at = created_at - (id % 60) * 86400000 - (id % 1440) * 60000, \
         updated_at = updated_at - (id % 30) * 86400000, status_changed_at = updated_at - (id % 30) * 86400000 \
         WHERE id >= $1",
    )
    .bind(first)
    .execute(conn)
    .await?;
    Ok(())
}

/// A value in a bulk insert.
pub enum Val {
    Int(i64),
    Text(String),
    Null,
}

impl Val {
    fn sql(&self, out: &mut String) {
        match self {
            Val::Int(n) => out.push_str(&n.to_string()),
            Val::Text(t) => {
                out.push('\'');
                out.push_str(&t.replace('\'', "''"));
                out.push('\'');
            }
            Val::Null => out.push_str("NULL"),
        }
    }
}

/// Inserts `rows` into `table` in multi-row statements: benchmark data at
/// the speed a million tickets needs. Values are rendered as literals
/// (numbers, and text with quotes doubled) from generated data only.
pub async fn bulk_insert(
    conn: &mut AnyConnection,
    table: &str,
    columns: &str,
    rows: &[Vec<Val>],
) -> Result<()> {
    let head = format!("INSERT INTO {table} ({columns}) VALUES ");
    let mut sql = head.clone();
    for (n, row) in rows.iter().enumerate() {
        if sql.len() > head.len() {
            sql.push(',');
        }
        sql.push('(');
        for (j, v) in row.iter().enumerate() {
            if j > 0 {
                sql.push(',');
            }
            v.sql(&mut sql);
        }
        sql.push(')');
        // Statements stay under 7 KB, one write each: sqlx does not set
        // TCP_NODELAY, so a statement written in pieces waits for the
        // server's delayed acknowledgement (40 ms) on every round trip.
        if sql.len() > 7_000 || n + 1 == rows.len() {
            // Sent as is (no prepared statement): each text is used once.
            sqlx::raw_sql(sqlx::AssertSqlSafe(std::mem::replace(
                &mut sql,
                head.clone(),
            )))
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// The next free id of `table` (bulk rows carry their own ids).
pub async fn next_id(conn: &mut AnyConnection, table: &str) -> Result<i64> {
    let max: Option<i64> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT MAX(id) FROM {table}")))
            .fetch_one(conn)
            .await?;
    Ok(max.unwrap_or(0) + 1)
}

/// After rows with explicit ids, PostgreSQL's identity must move past them.
pub async fn sync_ids(conn: &mut AnyConnection, backend: Backend, tables: &[&str]) -> Result<()> {
    if backend != Backend::Postgres {
        return Ok(());
    }
    for t in tables {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {t}))"
        )))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The tables a bulk load writes.
const LOADED: &str = "'tickets', 'transactions', 'ticket_requestors'";

/// Before a bulk load on PostgreSQL: the secondary indexes of the loaded
/// tables go, each rebuilt once afterwards from its own definition, which
/// is far cheaper than keeping sixteen indexes up to date row by row.
/// Returns the definitions to rebuild (none on SQLite).
pub async fn bulk_load_begins(
    conn: &mut AnyConnection,
    backend: Backend,
) -> Result<Vec<(String, String)>> {
    if backend != Backend::Postgres {
        return Ok(Vec::new());
    }
    // Indexes that back a constraint (primary keys, unique) stay.
    let indexes: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT indexname::text, indexdef::text FROM pg_indexes \
         WHERE schemaname = current_schema() AND tablename IN ({LOADED}) \
         AND indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY indexname"
    )))
    .fetch_all(&mut *conn)
    .await?;
    for (name, _) in &indexes {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP INDEX IF EXISTS \"{name}\""
        )))
        .execute(&mut *conn)
        .await?;
    }
    Ok(indexes)
}

/// After it: every index dropped, rebuilt from its definition.
pub async fn bulk_load_ends(conn: &mut AnyConnection, indexes: &[(String, String)]) -> Result<()> {
    for (_, definition) in indexes {
        sqlx::query(sqlx::AssertSqlSafe(definition.clone()))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A bulk load's transactions need not wait for the disk: a crash loses
/// only benchmark data, which is seeded again (PostgreSQL; SQLite's
/// pragmas are the connection's).
pub async fn relaxed_commit(conn: &mut AnyConnection, backend: Backend) -> Result<()> {
    if backend != Backend::Postgres {
        return Ok(());
    }
    sqlx::query("SET LOCAL synchronous_commit TO off")
        .execute(&mut *conn)
        .await?;
    // Generated rows refer only to rows that exist: a superuser may skip
    // the per-row foreign-key checks, which cost more than the inserts.
    let superuser: bool = sqlx::query_scalar(
        "SELECT CAST(rolsuper AS INTEGER) = 1 FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_optional(&mut *conn)
    .await?
    .unwrap_or(false);
    if superuser {
        sqlx::query("SET LOCAL session_replication_role TO replica")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Statistics for the planner after a bulk load.
pub async fn analyze(conn: &mut AnyConnection) -> Result<()> {
    sqlx::query("ANALYZE").execute(conn).await?;
    Ok(())
}
