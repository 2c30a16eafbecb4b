//! Brings SQLite's full-text indexes (ticket subjects, history text) up to
//! date in bulk, off the mail path. PostgreSQL's expression index needs no catch-up.

use super::{Backend, Db, Result};

/// Indexes up to `limit` new rows of each indexed table (ticket subjects,
/// history text) since the last run; returns how many. Cheap when there is
/// nothing new.
pub async fn catch_up(db: &Db, limit: i64) -> Result<u64> {
    if db.backend != Backend::Sqlite {
        return Ok(0);
    }
    // One cheap read answers "anything new?" for both indexes.
    let (t_upto, t_max, k_upto, k_max): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT upto FROM search_state WHERE name = 'transactions'), \
         (SELECT COALESCE(MAX(id), 0) FROM transactions), \
         (SELECT upto FROM search_state WHERE name = 'tickets'), \
         (SELECT COALESCE(MAX(id), 0) FROM tickets)",
    )
    .fetch_one(&db.pool)
    .await?;
    let mut total = 0;
    if t_max > t_upto {
        total += catch_up_table(db, "transactions", "transactions_fts", "body", limit).await?;
    }
    if k_max > k_upto {
        total += catch_up_table(db, "tickets", "tickets_fts", "subject", limit).await?;
    }
    Ok(total)
}

async fn catch_up_table(db: &Db, table: &str, fts: &str, column: &str, limit: i64) -> Result<u64> {
    let state = "SELECT upto FROM search_state WHERE name = $1";
    let mut tx = db.begin_write().await?;
    // Re-read inside the write transaction: another process may have caught up.
    let upto: i64 = sqlx::query_scalar(state)
        .bind(table)
        .fetch_one(&mut *tx)
        .await?;
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {fts}(rowid, {column}) SELECT id, {column} FROM {table} WHERE id > $1 ORDER BY id LIMIT $2"
    )))
    .bind(upto)
    .bind(limit)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE search_state SET upto = (SELECT COALESCE(MAX(id), $1) FROM \
         (SELECT id FROM {table} WHERE id > $1 ORDER BY id LIMIT $2) x) WHERE name = $3"
    )))
    .bind(upto)
    .bind(limit)
    .bind(table)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done)
}

/// Catches up completely (after an import, before a search).
pub async fn catch_up_all(db: &Db) -> Result<u64> {
    let mut total = 0;
    loop {
        let n = catch_up(db, 20_000).await?;
        total += n;
        if n == 0 {
            return Ok(total);
        }
    }
}
