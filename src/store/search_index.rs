//! Brings SQLite's full-text index of history text up to date in bulk, off
//! the mail path. PostgreSQL's expression index needs no catch-up.

use super::{Backend, Db, Result};

/// Indexes up to `limit` transactions written since the last run; returns
/// how many. Cheap when there is nothing new.
pub async fn catch_up(db: &Db, limit: i64) -> Result<u64> {
    if db.backend != Backend::Sqlite {
        return Ok(0);
    }
    let upto: i64 = sqlx::query_scalar("SELECT upto FROM search_state WHERE name = 'transactions'")
        .fetch_one(&db.pool)
        .await?;
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM transactions")
        .fetch_one(&db.pool)
        .await?;
    if newest.unwrap_or(0) <= upto {
        return Ok(0);
    }
    let mut tx = db.begin_write().await?;
    // Re-read inside the write transaction: another process may have caught up.
    let upto: i64 = sqlx::query_scalar("SELECT upto FROM search_state WHERE name = 'transactions'")
        .fetch_one(&mut *tx)
        .await?;
    let done = sqlx::query(
        "INSERT INTO transactions_fts(rowid, body) SELECT id, body FROM transactions \
         WHERE id > $1 ORDER BY id LIMIT $2",
    )
    .bind(upto)
    .bind(limit)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE search_state SET upto = (SELECT COALESCE(MAX(id), $1) FROM \
         (SELECT id FROM transactions WHERE id > $1 ORDER BY id LIMIT $2) x) WHERE name = 'transactions'",
    )
    .bind(upto)
    .bind(limit)
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
