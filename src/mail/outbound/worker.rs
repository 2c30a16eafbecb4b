//! The outbox sender: claims due rows, sends them over SMTP (lettre, pooled),
//! and records the result. Temporary failures back off exponentially with
//! jitter (1 min doubling to 1 h); permanent ones (5xx) and rows past the
//! attempt limit are parked as `dead` with the server's words.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use futures::StreamExt;
use lettre::AsyncTransport;
use rand::Rng;
use serde::Serialize;
use tracing::{Instrument, info, info_span, warn};

use super::compose::{self, Outgoing};
use super::transport::{Smtp, Transport, TransportError, is_sign_in_refusal};
use crate::config::Config;
use crate::store::{self, Db, StoreError, outbox, users};

const LEASE_MS: i64 = 5 * 60 * 1000;
const BATCH: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error(transparent)]
    Transport(#[from] TransportError),
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
    /// Recipients the server refused for good, with its words; the others
    /// still got the mail.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<Refusal>,
    #[serde(skip)]
    retry_at: i64,
    /// Every recipient done with so far (delivered or refused for good), so a
    /// retry sends only to the rest.
    #[serde(skip)]
    done: Vec<String>,
    /// The server refused our sign-in.
    #[serde(skip)]
    sign_in_refused: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    pub address: String,
    pub reason: String,
}

/// Only "this mailbox does not exist" (5.1.x, 5.2.1, or such words without
/// an enhanced code) marks an address as bouncing; a policy or content
/// rejection (5.7.x, 554 spam) says nothing about the mailbox.
pub fn mailbox_does_not_exist(reason: &str) -> bool {
    let text = reason.to_ascii_lowercase();
    let enhanced = text
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|w| w.len() >= 5 && w.starts_with("5.") && w.matches('.').count() == 2);
    match enhanced {
        Some(code) => code.starts_with("5.1.") || code == "5.2.1",
        None => [
            "user unknown",
            "no such user",
            "does not exist",
            "unknown user",
            "mailbox unavailable",
        ]
        .iter()
        .any(|w| text.contains(w)),
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub sent: usize,
    pub retry: usize,
    pub dead: usize,
    pub attempts: Vec<Attempt>,
    /// No OAuth2 token for the SMTP account (the endpoint's words): the
    /// mail waits, nothing was tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_failed: Option<String>,
}

/// Delay before attempt `attempts + 1`: 1 min doubling to 1 h, ±20 % jitter
/// so a recovering server is not hit by every row at once.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 7) - 1;
    let base: i64 = (60_000i64 << exp).min(3_600_000);
    let jitter = rand::rng().random_range(-(base / 5)..=(base / 5));
    base + jitter
}

/// After the server refuses our sign-in, no mail is tried for this long.
const SIGN_IN_PAUSE_MS: i64 = 5 * 60 * 1000;

pub struct Sender {
    db: Db,
    cfg: Arc<Config>,
    transport: Option<Transport>,
    /// No sending before this (ms): the server refused our sign-in.
    paused_until: AtomicI64,
    /// The server refused our sign-in during this batch: nothing more is
    /// tried in it.
    refused_now: AtomicBool,
}

impl Sender {
    /// Without `smtp_url` the sender sends nothing and rows wait.
    pub fn new(db: Db, cfg: Arc<Config>) -> Result<Sender, SenderError> {
        let transport = Transport::from_config(&cfg)?;
        Ok(Sender {
            db,
            cfg,
            transport,
            paused_until: AtomicI64::new(0),
            refused_now: AtomicBool::new(false),
        })
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
        let Some(via) = &self.transport else {
            return Ok(report);
        };
        let paused = self.paused_until.load(Ordering::Relaxed);
        if now < paused {
            report.auth_failed = Some(format!(
                "the SMTP server refused our sign-in; trying again from {}",
                store::rfc3339(paused)
            ));
            return Ok(report);
        }
        // A refused sign-in is tried once more with a fresh token; a second
        // refusal pauses sending (a server may lock an account that keeps
        // failing).
        let mut refusals = 0;
        loop {
            let transport = match via.current().await {
                Ok(t) => t,
                Err(e) => {
                    warn!(error = %e, "no SMTP sign-in token; mail waits in the outbox");
                    report.auth_failed = Some(e.to_string());
                    break;
                }
            };
            let (rows, bouncing) = {
                let mut conn = self.db.conn().await?;
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
            self.refused_now.store(false, Ordering::Relaxed);
            let results: Vec<Attempt> = futures::stream::iter(rows)
                .map(|row| self.send_one(&transport, row, &bouncing, now))
                // Each message waits on the network (SMTP is chatty, and the
                // server's delayed ACK meets the client's Nagle on the final
                // "."), so throughput comes from several connections at once.
                .buffer_unordered(self.cfg.smtp_connections.max(1) as usize)
                .collect()
                .await;
            self.record(&results).await?;
            if !tally(&mut report, results) {
                continue;
            }
            via.refused_sign_in();
            refusals += 1;
            if refusals > 1 {
                self.paused_until
                    .store(now + SIGN_IN_PAUSE_MS, Ordering::Relaxed);
                break;
            }
        }
        if report.sent > 0 {
            self.paused_until.store(0, Ordering::Relaxed);
        }
        report.attempts.sort_by_key(|a| a.id);
        Ok(report)
    }

    /// One batch's results in one transaction.
    async fn record(&self, results: &[Attempt]) -> Result<(), SenderError> {
        let mut tx = self.db.begin_write().await?;
        let sent_at = store::now_ms();
        for a in results {
            let refused = refused_text(&a.refused);
            outbox::record_recipients(&mut tx, a.id, &a.done, refused.as_deref()).await?;
            let why = a.error.as_deref().unwrap_or("");
            match (a.result, a.sign_in_refused) {
                ("sent", _) => outbox::mark_sent(&mut tx, a.id, sent_at).await?,
                ("retry", true) => outbox::mark_uncounted(&mut tx, a.id, a.retry_at, why).await?,
                ("retry", false) => outbox::mark_retry(&mut tx, a.id, a.retry_at, why).await?,
                _ => outbox::mark_dead(&mut tx, a.id, why).await?,
            }
            for r in &a.refused {
                if mailbox_does_not_exist(&r.reason) {
                    users::mark_bouncing(&mut tx, &r.address, sent_at).await?;
                }
            }
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    async fn send_one(
        &self,
        transport: &Smtp,
        row: outbox::Claimed,
        bouncing: &[String],
        now: i64,
    ) -> Attempt {
        let span = info_span!("outbox.send", outbox.id = row.id, ticket.id = row.ticket_id);
        async {
            let outgoing = outgoing(&row, bouncing);
            let already: Vec<String> = row.done();
            let pending: Vec<String> = outgoing
                .to
                .iter()
                .chain(&outgoing.cc)
                .filter(|a| !already.contains(a))
                .cloned()
                .collect();
            let mut attempt = Attempt {
                id: row.id,
                ticket: row.ticket_id,
                to: row.to(),
                result: "dead",
                error: None,
                refused: Vec::new(),
                retry_at: 0,
                done: already.clone(),
                sign_in_refused: false,
            };
            if outgoing.to.is_empty() && outgoing.cc.is_empty() {
                let why = "every recipient is marked as bouncing".to_string();
                warn!(reason = %why, "outbox row parked as dead");
                attempt.error = Some(why);
                return attempt;
            }
            let message = match compose::to_message(&outgoing, &self.cfg.instance_name) {
                Ok(m) => m,
                Err(e) => {
                    let why = format!("cannot compose: {e}");
                    warn!(reason = %why, "outbox row parked as dead");
                    attempt.error = Some(why);
                    return attempt;
                }
            };
            let waiting = deliver_each(
                (transport, &self.refused_now),
                &message,
                &pending,
                &mut attempt,
            )
            .await;
            let delivered = attempt.done.len() - attempt.refused.len();
            self.conclude(&mut attempt, &row, delivered, waiting, now);
            attempt
        }
        .instrument(span)
        .await
    }

    /// Sent, to retry, or dead: from what each recipient's server said.
    fn conclude(
        &self,
        attempt: &mut Attempt,
        row: &outbox::Claimed,
        delivered: usize,
        waiting: usize,
        now: i64,
    ) {
        if waiting == 0 {
            if delivered > 0 || attempt.refused.is_empty() {
                info!(refused = attempt.refused.len(), "mail sent");
                attempt.result = "sent";
                attempt.error = None;
            } else {
                let why = refused_text(&attempt.refused).unwrap_or_default();
                warn!(error = %why, "every recipient refused; outbox row parked as dead");
                attempt.error = Some(why);
            }
        } else if attempt.sign_in_refused {
            // Our sign-in failed, not this mail: it waits for a working
            // token however long that takes, and the try is not counted.
            warn!("the SMTP server refused our sign-in; mail waits");
            attempt.result = "retry";
            // Due at once: tried again with a fresh token, or after the pause.
            attempt.retry_at = now;
        } else if row.attempts >= i64::from(self.cfg.outbox_max_attempts) {
            warn!(attempts = row.attempts, "outbox row parked as dead");
        } else {
            warn!(error = ?attempt.error, attempts = row.attempts, "sending failed; will retry");
            attempt.result = "retry";
            attempt.retry_at = now + backoff_ms(row.attempts);
        }
    }
}

/// Counts a batch into the report; true when the server refused our sign-in.
fn tally(report: &mut Report, results: Vec<Attempt>) -> bool {
    let refused = results.iter().any(|a| a.sign_in_refused);
    for a in results {
        match a.result {
            "sent" => report.sent += 1,
            "retry" => report.retry += 1,
            _ => report.dead += 1,
        }
        report.attempts.push(a);
    }
    refused
}

/// The row as a message, without the addresses marked as bouncing.
fn outgoing(row: &outbox::Claimed, bouncing: &[String]) -> Outgoing {
    let keep = |list: Vec<String>| -> Vec<String> {
        list.into_iter().filter(|a| !bouncing.contains(a)).collect()
    };
    Outgoing {
        ticket_id: row.ticket_id,
        from_addr: row.from_addr.clone(),
        from_name: row.from_name.clone(),
        reply_to: row.reply_to.clone(),
        to: keep(row.to()),
        cc: keep(row.cc()),
        subject: row.subject.clone(),
        body: row.body.clone(),
        html_body: row.html_body.clone(),
        message_id: row.message_id.clone(),
        in_reply_to: row.in_reply_to.clone(),
        references: row.references(),
        auto_submitted: row.auto_submitted != 0,
    }
}

/// One SMTP transaction per recipient: a refused RCPT fails only that
/// recipient, never the mail for all (lettre gives up the whole transaction
/// on the first refusal). Delivered and refused recipients go to
/// `attempt.done`; returns how many must be tried again.
async fn deliver_each(
    (transport, refused_now): (&Smtp, &AtomicBool),
    message: &lettre::Message,
    pending: &[String],
    attempt: &mut Attempt,
) -> usize {
    let raw = message.formatted();
    let from = message.envelope().from().cloned();
    let mut waiting = 0;
    for rcpt in pending {
        // Once the server has refused our sign-in, nothing more is tried.
        if refused_now.load(Ordering::Relaxed) {
            attempt.sign_in_refused = true;
            attempt
                .error
                .get_or_insert_with(|| "not tried: the SMTP server refused our sign-in".into());
            waiting += 1;
            continue;
        }
        let result = match rcpt.parse() {
            Ok(addr) => match lettre::address::Envelope::new(from.clone(), vec![addr]) {
                Ok(env) => transport.send_raw(&env, &raw).await.map_err(|e| {
                    // A refused sign-in is ours to fix: the mail waits.
                    let ours = is_sign_in_refusal(&e);
                    attempt.sign_in_refused |= ours;
                    if ours {
                        refused_now.store(true, Ordering::Relaxed);
                    }
                    (e.is_permanent() && !ours, e.to_string())
                }),
                Err(e) => Err((true, e.to_string())),
            },
            Err(e) => Err((true, format!("not an address: {e}"))),
        };
        match result {
            Ok(_) => attempt.done.push(rcpt.clone()),
            Err((true, why)) => {
                // The server's words name the address: not logged.
                warn!("a recipient was refused for good");
                attempt.done.push(rcpt.clone());
                attempt.refused.push(Refusal {
                    address: rcpt.clone(),
                    reason: why,
                });
            }
            Err((false, why)) => {
                attempt.error = Some(why);
                waiting += 1;
            }
        }
    }
    waiting
}

/// "a@x: reason; b@x: reason" for the row and the admin page.
fn refused_text(refused: &[Refusal]) -> Option<String> {
    (!refused.is_empty()).then(|| {
        refused
            .iter()
            .map(|r| format!("{}: {}", r.address, r.reason))
            .collect::<Vec<_>>()
            .join("; ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_mailbox_marks_an_address_as_bouncing() {
        for yes in [
            "permanent error (550): 5.1.1 <b@x.org>: Recipient address rejected: User unknown",
            "550 5.2.1 mailbox disabled",
            "550 5.1.10 recipient not found",
            "550 User unknown in local recipient table",
        ] {
            assert!(mailbox_does_not_exist(yes), "{yes}");
        }
        for no in [
            "554 5.7.1 Message rejected as spam",
            "550 5.7.26 unauthenticated mail is prohibited",
            "552 5.3.4 message too big",
            "554 transaction failed",
        ] {
            assert!(!mailbox_does_not_exist(no), "{no}");
        }
    }

    #[test]
    fn smtp_urls_of_every_documented_form_are_accepted() {
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://user:pass@mail.example.com:587?tls=required",
            "smtps://user:pass@mail.example.com:465",
        ] {
            assert!(Smtp::from_url(url).is_ok(), "{url}");
        }
        assert!(Smtp::from_url("http://x").is_err());
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
