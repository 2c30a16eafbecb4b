//! The IMAP poller: a mailbox becomes a queue. Every IMAP call has a time
//! limit; a message is marked (flagged, moved or deleted) only after its
//! ingest transaction has committed, so a crash re-fetches and dedupe makes
//! that a no-op. UIDVALIDITY and the last UID are tracked in the database.

use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use futures::future::BoxFuture;
use serde::Serialize;
use tracing::{Instrument, info, info_span, warn};

use crate::service::ingest::{Ingestor, OutcomeKind, Tally};
use crate::store::{StoreError, mailboxes};

/// Re-issue IDLE well within the 29 minutes servers allow.
const IDLE_RENEW: Duration = Duration::from_secs(240);
/// A batch is at most this many messages and [`BATCH_BYTES`] of mail.
const FETCH_BATCH: usize = 200;

use crate::mail::inbound::imap::{ImapError, Stream, connect, holder_is_dead, protocol, timed};

mod sync;
/// Why a pass over a mailbox stopped.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error("another instance is polling this mailbox (it holds the lease)")]
    Leased,
    #[error("IMAP: {0}")]
    Protocol(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ingest(#[from] crate::service::ingest::IngestError),
}

impl PollError {
    /// The state shown by `docket mailbox status`.
    pub fn state(&self) -> &'static str {
        match self {
            PollError::Imap(e) => e.state(),
            PollError::Store(_) | PollError::Ingest(_) => "database-error",
            PollError::Leased | PollError::Protocol(_) => "disconnected",
        }
    }

    /// Wait before the next try (see [`ImapError::backoff`]).
    pub fn backoff(&self, failures: i64) -> Duration {
        match self {
            PollError::Imap(e) => e.backoff(failures),
            _ => crate::mail::inbound::imap::backoff(1, 300, failures),
        }
    }
}

/// Tags an error with the mailbox it happened on, for the error record.
fn at<E: Into<PollError>>(id: i64) -> impl FnOnce(E) -> (i64, PollError) {
    move |e| (id, e.into())
}

fn lease_lost() -> PollError {
    PollError::Protocol("lease taken over by another instance".into())
}

/// Passes on which a UID may come back without a body before it is quarantined.
const MISSING_TRIES: i64 = 3;
/// A message that takes longer than this to parse is quarantined and skipped.
const PARSE_LIMIT: Duration = Duration::from_secs(10);

/// What one pass over a mailbox did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PollReport {
    pub mailbox: String,
    pub fetched: usize,
    #[serde(flatten)]
    pub tally: Tally,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PollReport {
    fn count(&mut self, k: OutcomeKind) {
        self.fetched += 1;
        self.tally.count(k);
    }
}

/// Called with the UIDs a pass is about to fetch.
pub type ListedHook = Arc<dyn Fn(Vec<u32>) -> BoxFuture<'static, ()> + Send + Sync>;

/// `(uid, size)` pairs from a size listing.
type Listed = Vec<(u32, u32)>;

/// How a wait that renews the lease ended.
enum Woke<T> {
    Done(T),
    Shutdown,
    LeaseLost,
    Failed(PollError),
}

/// One mailbox's poller.
pub struct Poller {
    ingestor: Ingestor,
    name: String,
    /// Names this process in the lease.
    owner: String,
    listed_hook: Option<ListedHook>,
}

impl Poller {
    pub fn new(ingestor: Ingestor, name: &str, owner: &str) -> Self {
        Poller {
            ingestor,
            name: name.to_string(),
            owner: owner.to_string(),
            listed_hook: None,
        }
    }

    /// A seam for tests: runs after a pass has listed the UIDs it will fetch
    /// and before it fetches them (a test expunges one from another session
    /// there, the race a real mailbox has with its other clients).
    pub fn on_listed(mut self, hook: ListedHook) -> Self {
        self.listed_hook = Some(hook);
        self
    }

    async fn load(&self) -> Result<mailboxes::Mailbox, PollError> {
        let mut conn = self.ingestor.db().conn().await?;
        mailboxes::get(&mut conn, &self.name)
            .await?
            .ok_or_else(|| PollError::Protocol(format!("no mailbox named {:?}", self.name)))
    }

    async fn record_error(&self, id: i64, e: &PollError) -> i64 {
        warn!(mailbox = %self.name, error = %e, state = e.state(), "mailbox poll failed");
        let Ok(mut conn) = self.ingestor.db().pool.acquire().await else {
            return 1;
        };
        mailboxes::record_error(
            &mut conn,
            id,
            e.state(),
            &e.to_string(),
            self.ingestor.now_ms(),
        )
        .await
        .unwrap_or(1)
    }

    /// Ingests everything waiting and returns: `docket poll --once`. Takes
    /// the mailbox's lease like `serve` does, so the two never poll at once.
    pub async fn poll_once(&self) -> PollReport {
        let mut report = PollReport {
            mailbox: self.name.clone(),
            ..PollReport::default()
        };
        let m = match self.load().await {
            Ok(m) => m,
            Err(e) => {
                report.error = Some(e.to_string());
                return report;
            }
        };
        let result = async {
            if !self.lease(m.id).await? {
                return Err(PollError::Leased);
            }
            let (mut session, uidvalidity) = connect(&m).await?;
            self.sync(&mut session, &m, uidvalidity, &mut report)
                .await?;
            let _ = timed(session.logout()).await;
            Ok::<(), PollError>(())
        }
        .await;
        match result {
            Err(PollError::Leased) => report.error = Some(PollError::Leased.to_string()),
            Err(e) => {
                self.record_error(m.id, &e).await;
                report.error = Some(e.to_string());
            }
            Ok(()) => {}
        }
        self.release(m.id).await;
        report
    }

    async fn release(&self, id: i64) {
        if let Ok(mut conn) = self.ingestor.db().pool.acquire().await {
            let _ = mailboxes::release(&mut conn, id, &self.owner).await;
        }
    }

    /// Runs until `shutdown` fires: lease, connect, sync, IDLE (or poll),
    /// reconnect with backoff on errors.
    pub async fn run(
        &self,
        poll_interval: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let span = info_span!("imap.poller", mailbox = %self.name);
        async {
            loop {
                if *shutdown.borrow() {
                    break;
                }
                let wait = match self.run_session(poll_interval, &mut shutdown).await {
                    Ok(()) => break,
                    Err((id, e)) => {
                        let failures = self.record_error(id, &e).await;
                        e.backoff(failures)
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => {}
                }
            }
            if let Ok(m) = self.load().await {
                self.release(m.id).await;
            }
        }
        .instrument(span)
        .await
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.ingestor.config().imap_lease_secs)
            .unwrap_or(60)
            .saturating_mul(1000)
    }

    /// Renewed at a third of its length, so one late renewal never lets it lapse.
    fn lease_renewal(&self) -> Duration {
        Duration::from_millis(
            u64::try_from(self.lease_ms() / 3)
                .unwrap_or(20_000)
                .max(200),
        )
    }

    /// Takes or renews the lease for the mailbox; false when another instance has it.
    async fn lease(&self, id: i64) -> Result<bool, PollError> {
        let mut conn = self.ingestor.db().conn().await?;
        let now = self.ingestor.now_ms();
        let until = now + self.lease_ms();
        if mailboxes::lease(&mut conn, id, &self.owner, now, until).await? {
            return Ok(true);
        }
        // A holder on this machine whose process is gone (killed, crashed)
        // renews nothing: take over at once instead of waiting it out.
        let holder = mailboxes::lease_owner(&mut conn, id).await?;
        match holder {
            Some(h) if holder_is_dead(&h) => {
                Ok(mailboxes::take_over(&mut conn, id, &h, &self.owner, until).await?)
            }
            _ => Ok(false),
        }
    }

    /// Waits for `fut` while renewing the lease, so a long IDLE (minutes)
    /// never lets another instance take the mailbox over.
    async fn renewing<T>(
        &self,
        id: i64,
        fut: impl Future<Output = T>,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Woke<T> {
        tokio::pin!(fut);
        let mut renew = tokio::time::interval(self.lease_renewal());
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renew.tick().await;
        loop {
            tokio::select! {
                r = &mut fut => return Woke::Done(r),
                _ = shutdown.changed() => return Woke::Shutdown,
                _ = renew.tick() => match self.lease(id).await {
                    Ok(true) => {}
                    Ok(false) => return Woke::LeaseLost,
                    Err(e) => return Woke::Failed(e),
                },
            }
        }
    }

    async fn run_session(
        &self,
        poll_interval: Duration,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), (i64, PollError)> {
        let m = self.load().await.map_err(|e| (0, e))?;
        let id = m.id;
        // Another instance polls this mailbox: wait for its lease to lapse.
        while !self.lease(id).await.map_err(at(id))? {
            let wait = self.lease_renewal().min(Duration::from_secs(10));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return Ok(()),
            }
        }
        let (mut session, uidvalidity) = connect(&m).await.map_err(at(id))?;
        info!("connected");
        let idle = timed(session.capabilities())
            .await
            .map_err(at(id))?
            .has_str("IDLE");
        loop {
            let m = self.load().await.map_err(at(id))?;
            let mut report = PollReport::default();
            self.sync(&mut session, &m, uidvalidity, &mut report)
                .await
                .map_err(at(id))?;
            if report.fetched > 0 {
                info!(
                    fetched = report.fetched,
                    created = report.tally.created,
                    replied = report.tally.replied,
                    "mailbox synced"
                );
                continue;
            }
            if !self.lease(id).await.map_err(at(id))? {
                return Err((id, lease_lost()));
            }
            match self
                .wait_for_mail(session, id, idle, poll_interval, shutdown)
                .await?
            {
                Some(s) => session = s,
                None => return Ok(()),
            }
        }
    }

    /// Waits for new mail (IDLE where the server has it, else a sleep and a
    /// NOOP) while renewing the lease. `None` when shutting down (logged out).
    async fn wait_for_mail(
        &self,
        mut session: Session<Stream>,
        id: i64,
        idle: bool,
        poll_interval: Duration,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<Option<Session<Stream>>, (i64, PollError)> {
        if idle {
            let mut handle = session.idle();
            timed(handle.init()).await.map_err(at(id))?;
            let woke = {
                let (wait, stop) = handle.wait_with_timeout(IDLE_RENEW);
                let woke = self.renewing(id, wait, shutdown).await;
                drop(stop);
                woke
            };
            session = timed(handle.done()).await.map_err(at(id))?;
            match woke {
                Woke::Shutdown => {
                    let _ = timed(session.logout()).await;
                    Ok(None)
                }
                Woke::LeaseLost => Err((id, lease_lost())),
                Woke::Failed(e) => Err((id, e)),
                Woke::Done(Err(e)) => Err((id, protocol(e).into())),
                Woke::Done(Ok(
                    IdleResponse::NewData(_)
                    | IdleResponse::Timeout
                    | IdleResponse::ManualInterrupt,
                )) => Ok(Some(session)),
            }
        } else {
            match self
                .renewing(id, tokio::time::sleep(poll_interval), shutdown)
                .await
            {
                Woke::Done(()) => {}
                Woke::Shutdown => {
                    let _ = timed(session.logout()).await;
                    return Ok(None);
                }
                Woke::LeaseLost => return Err((id, lease_lost())),
                Woke::Failed(e) => return Err((id, e)),
            }
            timed(session.noop()).await.map_err(at(id))?;
            Ok(Some(session))
        }
    }
}
