//! The outbox sender: claims due rows, sends them over SMTP (lettre, pooled),
//! and records the result. Temporary failures back off exponentially with
//! jitter (1 min doubling to 1 h); permanent ones (5xx) and rows past the
//! attempt limit are parked as `dead` with the server's words.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rand::Rng;
use serde::Serialize;
use tracing::{Instrument, info, info_span, warn};

use super::compose::{self, Outgoing};
use crate::config::Config;
use crate::store::{self, Db, StoreError, outbox, users};

const LEASE_MS: i64 = 5 * 60 * 1000;
const BATCH: i64 = 100;

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
    #[serde(skip)]
    retry_at: i64,
    /// The server refused for good (5xx), as opposed to other reasons to give up.
    #[serde(skip)]
    permanent: bool,
}

/// The recipients a permanent SMTP failure is about: those the server's
/// text names, or the only recipient. They are marked as bouncing.
fn rejected_addresses(to: &[String], error: &str, permanent: bool) -> Vec<String> {
    if !permanent {
        return Vec::new();
    }
    let text = error.to_lowercase();
    let named: Vec<String> = to
        .iter()
        .filter(|a| text.contains(a.as_str()))
        .cloned()
        .collect();
    if named.is_empty() && to.len() == 1 {
        to.to_vec()
    } else {
        named
    }
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
                    .pool_config(PoolConfig::new().max_size(cfg.smtp_connections.max(1)))
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
    /// Sending needs no database; each batch's results are written in one
    /// transaction (one fsync), so a crash between sending and recording
    /// re-sends at most one batch once its lease expires.
    pub async fn send_due(&self, now: i64) -> Result<Report, SenderError> {
        let mut report = Report::default();
        let Some(transport) = &self.transport else {
            return Ok(report);
        };
        loop {
            let (rows, bouncing) = {
                let mut conn = self.db.pool.acquire().await.map_err(StoreError::from)?;
                let rows = outbox::claim(&mut conn, self.db.backend, now, LEASE_MS, BATCH).await?;
                let bouncing = if rows.is_empty() {
                    Vec::new()
                } else {
                    users::bouncing(&mut conn).await?
                };
                (rows, bouncing)
            };
            if rows.is_empty() {
                break;
            }
            let results: Vec<Attempt> = futures::stream::iter(rows)
                .map(|row| self.send_one(transport, row, &bouncing, now))
                // Each message waits on the network (SMTP is chatty, and the
                // server's delayed ACK meets the client's Nagle on the final
                // "."), so throughput comes from several connections at once.
                .buffer_unordered(self.cfg.smtp_connections.max(1) as usize)
                .collect()
                .await;
            let mut tx = self.db.begin_write().await?;
            let sent_at = store::now_ms();
            for a in &results {
                match a.result {
                    "sent" => outbox::mark_sent(&mut tx, a.id, sent_at).await?,
                    "retry" => {
                        let why = a.error.as_deref().unwrap_or("");
                        outbox::mark_retry(&mut tx, a.id, a.retry_at, why).await?
                    }
                    _ => {
                        let why = a.error.as_deref().unwrap_or("");
                        outbox::mark_dead(&mut tx, a.id, why).await?;
                        for addr in rejected_addresses(&a.to, why, a.permanent) {
                            users::mark_bouncing(&mut tx, &addr, sent_at).await?;
                        }
                    }
                }
            }
            tx.commit().await.map_err(StoreError::from)?;
            for a in results {
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
        bouncing: &[String],
        now: i64,
    ) -> Attempt {
        let span = info_span!("outbox.send", outbox.id = row.id, ticket.id = row.ticket_id);
        async {
            let to = row.to();
            let cc = row.cc();
            let keep = |list: &[String]| -> Vec<String> {
                list.iter()
                    .filter(|a| !bouncing.contains(a))
                    .cloned()
                    .collect()
            };
            let outgoing = Outgoing {
                ticket_id: row.ticket_id,
                from_addr: row.from_addr.clone(),
                from_name: row.from_name.clone(),
                reply_to: row.reply_to.clone(),
                to: keep(&to),
                cc: keep(&cc),
                subject: row.subject.clone(),
                body: row.body.clone(),
                html_body: row.html_body.clone(),
                message_id: row.message_id.clone(),
                in_reply_to: row.in_reply_to.clone(),
                references: row.references(),
                auto_submitted: row.auto_submitted != 0,
            };
            let attempt = |result: &'static str, error: Option<String>, retry_at: i64| Attempt {
                id: row.id,
                ticket: row.ticket_id,
                to: to.clone(),
                result,
                error,
                retry_at,
                permanent: false,
            };
            if outgoing.to.is_empty() && outgoing.cc.is_empty() {
                let why = "every recipient is marked as bouncing".to_string();
                warn!(reason = %why, "outbox row parked as dead");
                return attempt("dead", Some(why), 0);
            }
            let message = match compose::to_message(&outgoing, &self.cfg.instance_name) {
                Ok(m) => m,
                Err(e) => {
                    let why = format!("cannot compose: {e}");
                    warn!(reason = %why, "outbox row parked as dead");
                    return attempt("dead", Some(why), 0);
                }
            };
            match transport.send(message).await {
                Ok(_) => {
                    info!("mail sent");
                    attempt("sent", None, 0)
                }
                Err(e) => {
                    let why = e.to_string();
                    if e.is_permanent() || row.attempts >= i64::from(self.cfg.outbox_max_attempts) {
                        warn!(error = %why, attempts = row.attempts, "outbox row parked as dead");
                        Attempt {
                            permanent: e.is_permanent(),
                            ..attempt("dead", Some(why), 0)
                        }
                    } else {
                        warn!(error = %why, attempts = row.attempts, "sending failed; will retry");
                        attempt("retry", Some(why), now + backoff_ms(row.attempts))
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
    fn a_rejection_marks_the_named_or_only_recipient() {
        let to = vec!["a@x.org".to_string(), "b@x.org".to_string()];
        assert_eq!(
            rejected_addresses(&to, "550 5.1.1 <B@x.org>: User unknown", true),
            vec!["b@x.org"]
        );
        assert!(
            rejected_addresses(&to, "550 mailbox full", true).is_empty(),
            "ambiguous: nobody marked"
        );
        assert_eq!(
            rejected_addresses(&to[..1], "550 no", true),
            vec!["a@x.org"]
        );
        assert!(rejected_addresses(&to[..1], "timed out", false).is_empty());
    }

    #[test]
    fn smtp_urls_of_every_documented_form_are_accepted() {
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://user:pass@mail.example.com:587?tls=required",
            "smtps://user:pass@mail.example.com:465",
        ] {
            assert!(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url).is_ok(),
                "{url}"
            );
        }
        assert!(AsyncSmtpTransport::<Tokio1Executor>::from_url("http://x").is_err());
    }

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
