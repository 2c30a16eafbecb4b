//! Bounces: marking the addresses a delivery report says failed, only when
//! it quotes mail we really sent them.

use super::*;
use crate::mail::inbound::classify::failed_recipients;
use crate::mail::inbound::parse::ParsedMail;
use crate::store::{outbox, users};
use sqlx::AnyConnection;
use tracing::warn;

impl Ingestor {
    /// Marks the addresses a DSN reports as failed so we stop mailing them.
    pub(super) async fn record_bounce(
        &self,
        conn: &mut AnyConnection,
        mail: &ParsedMail,
        now: i64,
    ) -> Result<(), IngestError> {
        for att in &mail.attachments {
            if att.content_type != "message/delivery-status" {
                continue;
            }
            let text = String::from_utf8_lossy(&att.content);
            // A DSN is a claim anyone can forge: it counts only for an address
            // we really mailed, quoted by the Message-ID we sent it.
            let quoted: Vec<String> = mail
                .embedded_message_ids
                .iter()
                .chain(&mail.in_reply_to)
                .chain(&mail.references)
                .cloned()
                .collect();
            for addr in failed_recipients(&text) {
                if outbox::sent_to(&mut *conn, &quoted, &addr).await? {
                    users::mark_bouncing(&mut *conn, &addr, now).await?;
                } else {
                    warn!(
                        "a bounce names an address we did not mail with the quoted message; not marked"
                    );
                }
            }
        }
        Ok(())
    }
}
