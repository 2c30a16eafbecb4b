//! The outbox sender: claims due rows, sends them over SMTP (lettre, pooled),
//! and records the result. Temporary failures back off exponentially with
//! jitter (1 min doubling to 1 h); permanent ones (5xx) and rows past the
//! attempt limit are parked as `dead` with the server's words.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rand::Rng;
use serde::Serialize;
use tracing::{Instrument, info, info_span, warn};

use super::compose::{self, Outgoing};
use crate::config::Config;
use crate::store::{self, Db, StoreError, outbox, users};

const LEASE_MS: i64 = 5 * 60 * 1000;
const BATCH: i64 = 100;
/// Messages in flight at once over the pooled connections.
const CONCURRENCY: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("bad smtp_url: {0}")]
    Url(lettre::transport::smtp::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub id: i64,
    pub ticket: i64,
    pub to: Vec<String>,
    /// `sent`, `retry` or `dead`
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub sent: usize,
    pub retry: usize,
    pub dead: usize,
    pub attempts: Vec<Attempt>,
}

/// Delay before attempt `attempts + 1`: 1 min doubling to 1 h, ±20 % jitter
/// so a recovering server is not hit by every row at once.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 7) - 1;
    let base: i64 = (60_000i64 << exp).min(3_600_000);
    let jitter = rand::rng().random_range(-(base / 5)..=(base / 5));
    base + jitter
}

pub struct Sender {
    db: Db,
    cfg: Arc<Config>,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl Sender {
    /// Without `smtp_url` the sender sends nothing and rows wait.
    pub fn new(db: Db, cfg: Arc<Config>) -> Result<Sender, SenderError> {
        let transport = match &cfg.smtp_url {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(SenderError::Url)?
                    .timeout(Some(Duration::from_secs(30)))
                    .build(),
            ),
            None => None,
        };
        Ok(Sender { db, cfg, transport })
    }

    pub fn is_configured(&self) -> bool {
        self.transport.is_some()
    }

    /// Sends every row due at `now`, batch by batch, and reports what happened.
    pub async fn send_due(&self, now: i64) -> Result<Report, SenderError> {
        let mut report = Report::default();
        let Some(transport) = &self.transport else {
            return Ok(report);
        };
        loop {
            let rows = {
                let mut conn = self.db.pool.acquire().await.map_err(StoreError::from)?;
                outbox::claim(&mut conn, self.db.backend, now, LEASE_MS, BATCH).await?
            };
            if rows.is_empty() {
                break;
            }
            let results: Vec<Result<Attempt, SenderError>> = futures::stream::iter(rows)
                .map(|row| self.send_one(transport, row, now))
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            for r in results {
                let a = r?;
                match a.result {
                    "sent" => report.sent += 1,
                    "retry" => report.retry += 1,
                    _ => report.dead += 1,
                }
                report.attempts.push(a);
            }
        }
        report.attempts.sort_by_key(|a| a.id);
        Ok(report)
    }

    async fn send_one(
        &self,
        transport: &AsyncSmtpTransport<Tokio1Executor>,
        row: outbox::Claimed,
        now: i64,
    ) -> Result<Attempt, SenderError> {
        let span = info_span!("outbox.send", outbox.id = row.id, ticket.id = row.ticket_id);
        async {
            let mut conn = self.db.pool.acquire().await.map_err(StoreError::from)?;
            let to = row.to();
            let cc = row.cc();
            let bouncing =
                users::bouncing_among(&mut conn, &[to.clone(), cc.clone()].concat()).await?;
            let outgoing = Outgoing {
                ticket_id: row.ticket_id,
                from_addr: row.from_addr.clone(),
                from_name: row.from_name.clone(),
                reply_to: row.reply_to.clone(),
                to: to
                    .iter()
                    .filter(|a| !bouncing.contains(a))
                    .cloned()
                    .collect(),
                cc: cc
                    .iter()
                    .filter(|a| !bouncing.contains(a))
                    .cloned()
                    .collect(),
                subject: row.subject.clone(),
                body: row.body.clone(),
                html_body: row.html_body.clone(),
                message_id: row.message_id.clone(),
                in_reply_to: row.in_reply_to.clone(),
                references: row.references(),
                auto_submitted: row.auto_submitted != 0,
            };
            let attempt = |result: &'static str, error: Option<String>| Attempt {
                id: row.id,
                ticket: row.ticket_id,
                to: to.clone(),
                result,
                error,
            };
            if outgoing.to.is_empty() && outgoing.cc.is_empty() && !bouncing.is_empty() {
                let why = format!(
                    "every recipient is marked as bouncing: {}",
                    bouncing.join(", ")
                );
                outbox::mark_dead(&mut conn, row.id, &why).await?;
                warn!(reason = %why, "outbox row parked as dead");
                return Ok(attempt("dead", Some(why)));
            }
            let message = match compose::to_message(&outgoing, &self.cfg.instance_name) {
                Ok(m) => m,
                Err(e) => {
                    let why = format!("cannot compose: {e}");
                    outbox::mark_dead(&mut conn, row.id, &why).await?;
                    warn!(reason = %why, "outbox row parked as dead");
                    return Ok(attempt("dead", Some(why)));
                }
            };
            match transport.send(message).await {
                Ok(_) => {
                    outbox::mark_sent(&mut conn, row.id, store::now_ms()).await?;
                    info!("mail sent");
                    Ok(attempt("sent", None))
                }
                Err(e) => {
                    let why = e.to_string();
                    if e.is_permanent() || row.attempts >= i64::from(self.cfg.outbox_max_attempts) {
                        outbox::mark_dead(&mut conn, row.id, &why).await?;
                        warn!(error = %why, attempts = row.attempts, "outbox row parked as dead");
                        Ok(attempt("dead", Some(why)))
                    } else {
                        let at = now + backoff_ms(row.attempts);
                        outbox::mark_retry(&mut conn, row.id, at, &why).await?;
                        warn!(error = %why, attempts = row.attempts, "sending failed; will retry");
                        Ok(attempt("retry", Some(why)))
                    }
                }
            }
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_minute_to_an_hour() {
        for (attempts, base) in [
            (1, 60_000),
            (2, 120_000),
            (3, 240_000),
            (6, 1_920_000),
            (7, 3_600_000),
            (20, 3_600_000),
        ] {
            let d = backoff_ms(attempts);
            assert!(
                d >= base * 4 / 5 && d <= base * 6 / 5,
                "attempt {attempts}: {d}"
            );
        }
    }
}
