//! Mail that cannot be taken in now: kept with its raw bytes and a reason,
//! and tried again on request.

use super::*;
use crate::store::quarantine;
use sqlx::AnyConnection;

pub(super) async fn quarantine_outcome(
    conn: &mut AnyConnection,
    raw: &[u8],
    reason: String,
    label: &str,
    now: i64,
) -> Result<Outcome, IngestError> {
    let id = quarantine::put(conn, raw, &reason, label, now).await?;
    let mut o = Outcome::new(OutcomeKind::Quarantined, None, reason);
    o.quarantine_id = Some(id);
    Ok(o)
}

/// Runs a quarantined message through ingest again (after a queue was added
/// or a bug fixed). `None` when there is no such entry.
pub async fn retry_quarantined(
    ingestor: &Ingestor,
    id: i64,
    hints: &Hints,
) -> Result<Option<Outcome>, IngestError> {
    let mut tx = ingestor.db.begin_write().await?;
    let Some((raw, _status)) = quarantine::get(&mut tx, id).await? else {
        return Ok(None);
    };
    let ctx = ingestor.context(&mut tx, hints).await?;
    let outcome = ingestor
        .ingest_in(
            &mut tx,
            &ctx,
            Item {
                raw: &raw,
                source: &Source::QuarantineRetry(id),
                parsed: None,
            },
            ingestor.now_ms(),
            false,
        )
        .await?;
    match outcome.outcome {
        OutcomeKind::Quarantined => {
            quarantine::resolve(&mut tx, id, "held", Some(&outcome.reason), None).await?
        }
        _ => quarantine::resolve(&mut tx, id, "released", None, outcome.ticket).await?,
    }
    tx.commit().await?;
    Ok(Some(outcome))
}
