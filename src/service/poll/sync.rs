//! One pass of the poller over a listed mailbox: batches fetched, stored in
//! one transaction each, then marked, moved or deleted on the server.

use super::*;
use crate::mail::inbound::imap::{Stream, fetch_bodies, fetch_each, timed, uid_set};
use crate::service::ingest::BATCH_BYTES;
use crate::service::ingest::{Hints, OutcomeKind, Source};
use crate::store::{StoreError, mailboxes, quarantine};
use async_imap::Session;
use futures::TryStreamExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::warn;

/// Splits listed `(uid, size)` pairs into batches of at most [`FETCH_BATCH`]
/// messages and [`BATCH_BYTES`] bytes (an over-size message, only listed,
/// weighs nothing).
pub(super) fn batches(listed: &[(u32, u32)], limit: usize) -> Vec<Vec<(u32, u32)>> {
    let mut out: Vec<Vec<(u32, u32)>> = Vec::new();
    let mut bytes = 0usize;
    for &(uid, size) in listed {
        let weight = if size as usize > limit {
            0
        } else {
            size as usize
        };
        let full = out.last().is_none_or(|b| {
            b.len() >= FETCH_BATCH || (bytes + weight > BATCH_BYTES && !b.is_empty())
        });
        if full {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += weight;
        if let Some(b) = out.last_mut() {
            b.push((uid, size));
        }
    }
    out
}

impl Poller {
    /// Sizes of the messages in `set` (UIDs), without downloading them.
    pub(super) async fn sizes(
        &self,
        session: &mut Session<Stream>,
        set: &str,
    ) -> Result<BTreeMap<u32, u32>, PollError> {
        let fetched = fetch_each(session, set, "(UID RFC822.SIZE)").await?;
        Ok(fetched
            .iter()
            .filter_map(|f| Some((f.uid?, f.size.unwrap_or(0))))
            .collect())
    }

    /// Fetches, stores and marks every message above the last UID, and
    /// retries UIDs whose body did not come back before. Only what was
    /// durably stored (or quarantined with its bytes) is marked; an over-size
    /// message is left on the server (or moved aside), never deleted.
    pub(super) async fn sync(
        &self,
        session: &mut Session<Stream>,
        m: &mailboxes::Mailbox,
        uidvalidity: u32,
        report: &mut PollReport,
    ) -> Result<(), PollError> {
        let (listed, mut gone) = self.listing(session, m, uidvalidity).await?;
        let total = listed.len();
        let limit = self.ingestor.config().max_message_bytes;
        let mut done = 0usize;
        for batch in batches(&listed, limit) {
            let mut handled = Vec::with_capacity(batch.len());
            let mut missing = std::mem::take(&mut gone);
            let (big, small): (Listed, Listed) =
                batch.iter().partition(|(_, size)| *size as usize > limit);
            for (uid, size) in &big {
                self.set_aside_oversize(session, m, uidvalidity, *uid, *size)
                    .await?;
                report.count(OutcomeKind::Quarantined);
            }
            if !small.is_empty() {
                let uids: Vec<u32> = small.iter().map(|(u, _)| *u).collect();
                let fetched = fetch_bodies(session, &uids).await?;
                missing.extend(
                    uids.iter()
                        .filter(|u| !fetched.iter().any(|(f, _)| f == *u)),
                );
                handled.extend(fetched.iter().map(|(u, _)| *u));
                let items = fetched
                    .into_iter()
                    .map(|(uid, raw)| (raw, self.source(m, uidvalidity, uid)))
                    .collect();
                self.store(items, m, report).await?;
            }
            // Committed: now, and only now, the source may forget them.
            self.after_stored(session, m, &handled).await?;
            done += batch.len();
            let max_uid = batch.iter().map(|(u, _)| *u).max().unwrap_or(0);
            self.settle(
                m,
                uidvalidity,
                &handled,
                &missing,
                max_uid,
                total - done,
                report,
            )
            .await?;
            // A long sync keeps its hold on the mailbox.
            if !self.lease(m.id).await? {
                return Err(PollError::Protocol(
                    "lease taken over by another instance".into(),
                ));
            }
        }
        if !gone.is_empty() {
            self.settle(m, uidvalidity, &[], &gone, 0, 0, report)
                .await?;
        }
        if total == 0 {
            let mut conn = self.ingestor.db().conn().await?;
            mailboxes::record_success(&mut conn, m.id, 0, self.ingestor.now_ms()).await?;
        }
        Ok(())
    }

    /// What to fetch: `(uid, size)` above the last UID and of the UIDs being
    /// retried (sizes first, so an over-size message is never downloaded
    /// whole), and the retried UIDs the server no longer lists. A changed
    /// UIDVALIDITY starts over from UID 1.
    async fn listing(
        &self,
        session: &mut Session<Stream>,
        m: &mailboxes::Mailbox,
        uidvalidity: u32,
    ) -> Result<(Vec<(u32, u32)>, Vec<u32>), PollError> {
        let db = self.ingestor.db();
        let uv = i64::from(uidvalidity);
        let mut last_uid = m.last_uid;
        if m.uidvalidity != Some(uv) {
            if m.uidvalidity.is_some() {
                warn!(old = ?m.uidvalidity, new = uidvalidity, "UIDVALIDITY changed: rescanning, dedupe skips known mail");
            }
            let mut conn = db.conn().await?;
            mailboxes::reset_uidvalidity(&mut conn, m.id, uv).await?;
            last_uid = 0;
        }
        let retry: Vec<u32> = {
            let mut conn = db.conn().await?;
            mailboxes::missing(&mut conn, m.id, uv)
                .await?
                .into_iter()
                .filter_map(|(uid, _)| u32::try_from(uid).ok())
                .collect()
        };
        let mut sizes: BTreeMap<u32, u32> = self
            .sizes(session, &format!("{}:*", last_uid + 1))
            .await?
            .into_iter()
            .filter(|(uid, _)| i64::from(*uid) > last_uid)
            .collect();
        if !retry.is_empty() {
            sizes.extend(self.sizes(session, &uid_set(&retry)).await?);
        }
        if let Some(hook) = &self.listed_hook {
            hook(sizes.keys().copied().collect()).await;
        }
        // A UID being retried that the server no longer lists is missing again.
        let gone: Vec<u32> = retry
            .iter()
            .copied()
            .filter(|u| !sizes.contains_key(u))
            .collect();
        Ok((sizes.into_iter().collect(), gone))
    }

    /// Parses each message once, on a blocking thread with a time limit (the
    /// runtime threads serve the web), then stores the batch in one
    /// transaction. Poison (too slow to parse) is quarantined with its bytes.
    pub(super) async fn store(
        &self,
        items: Vec<(Vec<u8>, Source)>,
        m: &mailboxes::Mailbox,
        report: &mut PollReport,
    ) -> Result<(), PollError> {
        let hints = Hints {
            queue: Some(m.queue_name.clone()),
            action: None,
            keep_dates: false,
        };
        let mut parsed = Vec::with_capacity(items.len());
        let mut unparsed = Vec::new();
        for (raw, source) in items {
            let raw = Arc::new(raw);
            let shared = raw.clone();
            let task =
                tokio::task::spawn_blocking(move || crate::mail::inbound::parse::parse(&shared));
            match tokio::time::timeout(PARSE_LIMIT, task).await {
                // The task is done with its handle: this takes the bytes back uncopied.
                Ok(Ok(Ok(mail))) => parsed.push((Arc::unwrap_or_clone(raw), source, mail)),
                // Unparseable (or the parser panicked): ingest quarantines it
                // with the parser's reason.
                Ok(_) => unparsed.push((Arc::unwrap_or_clone(raw), source)),
                Err(_) => {
                    let reason = format!("parsing took longer than {PARSE_LIMIT:?}; skipped");
                    let mut conn = self.ingestor.db().conn().await?;
                    quarantine::put(
                        &mut conn,
                        &raw,
                        &reason,
                        &source.label(),
                        self.ingestor.now_ms(),
                    )
                    .await?;
                    report.count(OutcomeKind::Quarantined);
                }
            }
        }
        let mut outcomes = self.ingestor.ingest_parsed_batch(&parsed, &hints).await?;
        drop(parsed);
        if !unparsed.is_empty() {
            outcomes.extend(self.ingestor.ingest_batch(&unparsed, &hints).await?);
        }
        for o in &outcomes {
            report.count(o.outcome);
        }
        Ok(())
    }

    /// Records what a batch left behind, in one transaction: UIDs stored
    /// after an earlier miss are forgotten, UIDs without a body counted (and
    /// quarantined after [`MISSING_TRIES`] passes), and the last UID moved on.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn settle(
        &self,
        m: &mailboxes::Mailbox,
        uidvalidity: u32,
        handled: &[u32],
        missing: &[u32],
        max_uid: u32,
        backlog: usize,
        report: &mut PollReport,
    ) -> Result<(), PollError> {
        let uv = i64::from(uidvalidity);
        let now = self.ingestor.now_ms();
        let mut tx = self.ingestor.db().begin_write().await?;
        for uid in handled {
            mailboxes::forget_missing(&mut tx, m.id, uv, i64::from(*uid)).await?;
        }
        for uid in missing {
            let tries = mailboxes::count_missing(&mut tx, m.id, uv, i64::from(*uid)).await?;
            if tries < MISSING_TRIES {
                warn!(
                    imap.uid = uid,
                    tries, "the server returned no body; retrying on the next pass"
                );
                continue;
            }
            let note = format!(
                "X-Docket-Note: the IMAP server returned no body for UID {uid} (UIDVALIDITY {uv}) \
                 in folder {:?} of mailbox {:?} on {tries} passes\r\n\r\n",
                m.folder, m.name
            );
            let reason = format!(
                "the server returned no body for UID {uid} on {tries} passes; nothing was marked or deleted"
            );
            let label = self.source(m, uidvalidity, *uid).label();
            quarantine::put(&mut tx, note.as_bytes(), &reason, &label, now).await?;
            mailboxes::forget_missing(&mut tx, m.id, uv, i64::from(*uid)).await?;
            report.count(OutcomeKind::Quarantined);
        }
        if max_uid > 0 {
            mailboxes::set_last_uid(&mut tx, m.id, i64::from(max_uid), backlog as i64, now).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// An over-size message: only its header is read and quarantined, saying
    /// where the message is; it stays on the server, or is moved to the
    /// mailbox's oversize folder. Never deleted, never marked as read.
    pub(super) async fn set_aside_oversize(
        &self,
        session: &mut Session<Stream>,
        m: &mailboxes::Mailbox,
        uidvalidity: u32,
        uid: u32,
        size: u32,
    ) -> Result<(), PollError> {
        let header = fetch_each(session, &uid.to_string(), "(UID BODY.PEEK[HEADER])").await?;
        let mut raw = header
            .first()
            .and_then(|f| f.header().map(<[u8]>::to_vec))
            .unwrap_or_default();
        raw.extend_from_slice(b"\r\n[body not downloaded]\r\n");
        let limit = self.ingestor.config().max_message_bytes;
        let place = match &m.oversize_folder {
            Some(f) => format!("moved to folder {f:?} of mailbox {:?}", m.name),
            None => format!(
                "left unread on the server in folder {:?} of mailbox {:?} (UID {uid}, UIDVALIDITY {uidvalidity})",
                m.folder, m.name
            ),
        };
        let reason = format!(
            "message is {size} bytes, over the limit of {limit} bytes; only its header was read; the message was {place}"
        );
        let mut conn = self.ingestor.db().conn().await?;
        quarantine::put(
            &mut conn,
            &raw,
            &reason,
            &self.source(m, uidvalidity, uid).label(),
            self.ingestor.now_ms(),
        )
        .await?;
        drop(conn);
        if let Some(folder) = &m.oversize_folder {
            self.move_to(session, &uid.to_string(), folder).await?;
        }
        Ok(())
    }

    pub(super) fn source(&self, m: &mailboxes::Mailbox, uidvalidity: u32, uid: u32) -> Source {
        Source::Imap {
            mailbox: m.name.clone(),
            uidvalidity,
            uid,
        }
    }

    /// Flags, moves or deletes messages that are safely stored.
    pub(super) async fn after_stored(
        &self,
        session: &mut Session<Stream>,
        m: &mailboxes::Mailbox,
        uids: &[u32],
    ) -> Result<(), PollError> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        match (m.after_action.as_str(), m.move_folder.as_deref()) {
            ("move", Some(folder)) => self.move_to(session, &set, folder).await?,
            ("delete", _) => self.delete(session, &set).await?,
            _ => {
                timed(async {
                    session
                        .uid_store(&set, "+FLAGS.SILENT (\\Seen $Docket)")
                        .await?
                        .try_collect::<Vec<_>>()
                        .await
                })
                .await?;
            }
        }
        Ok(())
    }

    pub(super) async fn move_to(
        &self,
        session: &mut Session<Stream>,
        set: &str,
        folder: &str,
    ) -> Result<(), PollError> {
        let caps = timed(session.capabilities()).await?;
        if caps.has_str("MOVE") {
            timed(session.uid_mv(set, folder)).await?;
        } else {
            timed(session.uid_copy(set, folder)).await?;
            self.delete(session, set).await?;
        }
        Ok(())
    }

    pub(super) async fn delete(
        &self,
        session: &mut Session<Stream>,
        set: &str,
    ) -> Result<(), PollError> {
        timed(async {
            session
                .uid_store(set, "+FLAGS.SILENT (\\Deleted)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        timed(async {
            session
                .uid_expunge(set)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_bounded_by_count_and_bytes() {
        let mb = 1024 * 1024;
        let listed: Vec<(u32, u32)> = (1..=30).map(|u| (u, 5 * mb)).collect();
        let b = batches(&listed, 25 * mb as usize);
        assert!(
            b.iter()
                .all(|b| b.iter().map(|(_, s)| *s as usize).sum::<usize>() <= BATCH_BYTES)
        );
        assert_eq!(b.iter().map(Vec::len).sum::<usize>(), 30);
        assert_eq!(b[0].len(), 12);
        let small: Vec<(u32, u32)> = (1..=450).map(|u| (u, 100)).collect();
        assert_eq!(
            batches(&small, 1000)
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            vec![200, 200, 50]
        );
        // An over-size message is listed but weighs nothing.
        let big = vec![(1, u32::MAX), (2, 10)];
        assert_eq!(batches(&big, 100), vec![big.clone()]);
    }
}
