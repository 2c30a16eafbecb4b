//! The IMAP poller: a mailbox becomes a queue. Every IMAP call has a time
//! limit; a message is marked (flagged, moved or deleted) only after its
//! ingest transaction has committed, so a crash re-fetches and dedupe makes
//! that a no-op. UIDVALIDITY and the last UID are tracked in the database.

use crate::domain::secret::Secret;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tracing::{Instrument, info, info_span, warn};

use super::ingest::{Hints, Ingestor, OutcomeKind, Source};
use crate::store::{self, StoreError, mailboxes, quarantine};

/// Any byte stream IMAP can run over: plain TCP or TLS.
pub trait ImapIo: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> ImapIo for T {}
type Stream = Box<dyn ImapIo>;

/// Every IMAP round trip gets this long.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Re-issue IDLE well within the 29 minutes servers allow.
const IDLE_RENEW: Duration = Duration::from_secs(240);
/// A batch is at most this many messages and [`BATCH_BYTES`] of mail.
const FETCH_BATCH: usize = 200;
use super::ingest::BATCH_BYTES;
/// Passes on which a UID may come back without a body before it is quarantined.
const MISSING_TRIES: i64 = 3;
/// A message that takes longer than this to parse is quarantined and skipped.
const PARSE_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("login refused for {0}: {1}")]
    Auth(String, String),
    #[error("folder {0:?} cannot be opened: {1}")]
    Folder(String, String),
    #[error("no password: {0}")]
    Password(String),
    #[error("IMAP: {0}")]
    Protocol(String),
    #[error("IMAP server did not answer within {0:?}")]
    Timeout(Duration),
    #[error("another instance is polling this mailbox (it holds the lease)")]
    Leased,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ingest(#[from] super::ingest::IngestError),
}

impl ImapError {
    /// The state shown by `docket mailbox status`.
    pub fn state(&self) -> &'static str {
        match self {
            ImapError::Auth(..) | ImapError::Password(_) => "auth-failed",
            ImapError::Folder(..) => "folder-missing",
            ImapError::Store(_) | ImapError::Ingest(_) => "database-error",
            _ => "disconnected",
        }
    }

    /// Wait before the next try: exponential, capped; configuration problems
    /// (password, folder) wait longer, so they never become a tight loop.
    pub fn backoff(&self, failures: i64) -> Duration {
        let (base, cap) = match self {
            ImapError::Auth(..) | ImapError::Password(_) | ImapError::Folder(..) => (30, 1800),
            _ => (1, 300),
        };
        let exp = failures.clamp(1, 12) - 1;
        Duration::from_secs((base << exp).min(cap))
    }
}

fn protocol(e: impl fmt::Display) -> ImapError {
    ImapError::Protocol(e.to_string())
}

async fn timed<T, E: fmt::Display>(f: impl Future<Output = Result<T, E>>) -> Result<T, ImapError> {
    match tokio::time::timeout(IO_TIMEOUT, f).await {
        Ok(r) => r.map_err(protocol),
        Err(_) => Err(ImapError::Timeout(IO_TIMEOUT)),
    }
}

fn password(m: &mailboxes::Mailbox) -> Result<Secret, ImapError> {
    if let Some(p) = &m.password {
        return Ok(p.clone());
    }
    if let Some(var) = &m.password_env {
        return std::env::var(var)
            .map(Secret::new)
            .map_err(|_| ImapError::Password(format!("environment variable {var} is not set")));
    }
    if let Some(file) = &m.password_file {
        return std::fs::read_to_string(file)
            .map(|s| Secret::new(s.trim_end_matches(['\r', '\n'])))
            .map_err(|e| ImapError::Password(format!("reading {file}: {e}")));
    }
    Err(ImapError::Password("none configured".into()))
}

fn tls_connector() -> tokio_rustls::TlsConnector {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    match config {
        Ok(c) => tokio_rustls::TlsConnector::from(Arc::new(c)),
        // The ring provider supports the default versions; keep a working
        // connector rather than fail if that ever changes.
        Err(_) => tokio_rustls::TlsConnector::from(Arc::new(
            tokio_rustls::rustls::ClientConfig::builder()
                .with_root_certificates(tokio_rustls::rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )),
    }
}

async fn wrap_tls(tcp: TcpStream, host: &str) -> Result<Stream, ImapError> {
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| ImapError::Connect(host.into(), e.to_string()))?;
    let tls = timed(tls_connector().connect(name, tcp)).await?;
    Ok(Box::new(tls))
}

/// Connects (plain, STARTTLS or implicit TLS), logs in and selects the folder.
pub async fn connect(m: &mailboxes::Mailbox) -> Result<(Session<Stream>, u32), ImapError> {
    let addr = format!("{}:{}", m.host, m.port);
    let tcp = match tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(&addr)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Err(ImapError::Connect(addr, e.to_string())),
        Err(_) => return Err(ImapError::Connect(addr, "timed out".into())),
    };
    let _ = tcp.set_nodelay(true);
    let mut client = match m.tls.as_str() {
        "tls" => async_imap::Client::new(wrap_tls(tcp, &m.host).await?),
        "starttls" => {
            let mut plain = async_imap::Client::new(tcp);
            timed(plain.read_response()).await?;
            timed(plain.run_command_and_check_ok("STARTTLS", None)).await?;
            // No second greeting after the TLS handshake.
            async_imap::Client::new(wrap_tls(plain.into_inner(), &m.host).await?)
        }
        _ => async_imap::Client::new(Box::new(tcp) as Stream),
    };
    if m.tls != "starttls" {
        timed(client.read_response()).await?;
    }
    let pass = password(m)?;
    let mut session =
        match tokio::time::timeout(IO_TIMEOUT, client.login(&m.username, pass.expose())).await {
            Ok(Ok(s)) => s,
            Ok(Err((e, _))) => return Err(ImapError::Auth(m.username.clone(), e.to_string())),
            Err(_) => return Err(ImapError::Timeout(IO_TIMEOUT)),
        };
    let selected = match tokio::time::timeout(IO_TIMEOUT, session.select(&m.folder)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(ImapError::Folder(m.folder.clone(), e.to_string())),
        Err(_) => return Err(ImapError::Timeout(IO_TIMEOUT)),
    };
    let uidvalidity = selected
        .uid_validity
        .ok_or_else(|| ImapError::Protocol("server sent no UIDVALIDITY".into()))?;
    Ok((session, uidvalidity))
}

/// What one pass over a mailbox did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PollReport {
    pub mailbox: String,
    pub fetched: usize,
    pub created: usize,
    pub replied: usize,
    pub commented: usize,
    pub duplicate: usize,
    pub ignored: usize,
    pub quarantined: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PollReport {
    fn count(&mut self, k: OutcomeKind) {
        self.fetched += 1;
        match k {
            OutcomeKind::Created => self.created += 1,
            OutcomeKind::Replied => self.replied += 1,
            OutcomeKind::Commented => self.commented += 1,
            OutcomeKind::Duplicate => self.duplicate += 1,
            OutcomeKind::Ignored => self.ignored += 1,
            OutcomeKind::Quarantined => self.quarantined += 1,
        }
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
    Failed(ImapError),
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

    async fn load(&self) -> Result<mailboxes::Mailbox, ImapError> {
        let mut conn = self
            .ingestor
            .db()
            .pool
            .acquire()
            .await
            .map_err(StoreError::from)?;
        mailboxes::get(&mut conn, &self.name)
            .await?
            .ok_or_else(|| ImapError::Protocol(format!("no mailbox named {:?}", self.name)))
    }

    async fn record_error(&self, id: i64, e: &ImapError) -> i64 {
        warn!(mailbox = %self.name, error = %e, state = e.state(), "mailbox poll failed");
        let Ok(mut conn) = self.ingestor.db().pool.acquire().await else {
            return 1;
        };
        mailboxes::record_error(&mut conn, id, e.state(), &e.to_string(), store::now_ms())
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
                return Err(ImapError::Leased);
            }
            let (mut session, uidvalidity) = connect(&m).await?;
            self.sync(&mut session, &m, uidvalidity, &mut report)
                .await?;
            let _ = timed(session.logout()).await;
            Ok::<(), ImapError>(())
        }
        .await;
        match result {
            Err(ImapError::Leased) => report.error = Some(ImapError::Leased.to_string()),
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
    async fn lease(&self, id: i64) -> Result<bool, ImapError> {
        let mut conn = self
            .ingestor
            .db()
            .pool
            .acquire()
            .await
            .map_err(StoreError::from)?;
        let now = store::now_ms();
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
    ) -> Result<(), (i64, ImapError)> {
        let m = self.load().await.map_err(|e| (0, e))?;
        let id = m.id;
        let fail = |e: ImapError| (id, e);
        // Another instance polls this mailbox: wait for its lease to lapse.
        while !self.lease(id).await.map_err(fail)? {
            let wait = self.lease_renewal().min(Duration::from_secs(10));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return Ok(()),
            }
        }
        let (mut session, uidvalidity) = connect(&m).await.map_err(fail)?;
        info!("connected");
        let idle = timed(session.capabilities())
            .await
            .map_err(fail)?
            .has_str("IDLE");
        let lost = || {
            (
                id,
                ImapError::Protocol("lease taken over by another instance".into()),
            )
        };
        loop {
            let m = self.load().await.map_err(fail)?;
            let mut report = PollReport::default();
            self.sync(&mut session, &m, uidvalidity, &mut report)
                .await
                .map_err(fail)?;
            if report.fetched > 0 {
                info!(
                    fetched = report.fetched,
                    created = report.created,
                    replied = report.replied,
                    "mailbox synced"
                );
                continue;
            }
            if !self.lease(id).await.map_err(fail)? {
                return Err(lost());
            }
            if idle {
                let mut handle = session.idle();
                timed(handle.init()).await.map_err(fail)?;
                let woke = {
                    let (wait, stop) = handle.wait_with_timeout(IDLE_RENEW);
                    let woke = self.renewing(id, wait, shutdown).await;
                    drop(stop);
                    woke
                };
                let done = timed(handle.done()).await.map_err(fail)?;
                session = done;
                match woke {
                    Woke::Shutdown => {
                        let _ = timed(session.logout()).await;
                        return Ok(());
                    }
                    Woke::LeaseLost => return Err(lost()),
                    Woke::Failed(e) => return Err(fail(e)),
                    Woke::Done(Err(e)) => return Err((id, protocol(e))),
                    Woke::Done(Ok(
                        IdleResponse::NewData(_)
                        | IdleResponse::Timeout
                        | IdleResponse::ManualInterrupt,
                    )) => {}
                }
            } else {
                match self
                    .renewing(id, tokio::time::sleep(poll_interval), shutdown)
                    .await
                {
                    Woke::Done(()) => {}
                    Woke::Shutdown => {
                        let _ = timed(session.logout()).await;
                        return Ok(());
                    }
                    Woke::LeaseLost => return Err(lost()),
                    Woke::Failed(e) => return Err(fail(e)),
                }
                timed(session.noop()).await.map_err(fail)?;
            }
        }
    }

    /// Sizes of the messages in `set` (UIDs), without downloading them.
    async fn sizes(
        &self,
        session: &mut Session<Stream>,
        set: &str,
    ) -> Result<BTreeMap<u32, u32>, ImapError> {
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
    async fn sync(
        &self,
        session: &mut Session<Stream>,
        m: &mailboxes::Mailbox,
        uidvalidity: u32,
        report: &mut PollReport,
    ) -> Result<(), ImapError> {
        let db = self.ingestor.db();
        let uv = i64::from(uidvalidity);
        let mut last_uid = m.last_uid;
        if m.uidvalidity != Some(uv) {
            if m.uidvalidity.is_some() {
                warn!(old = ?m.uidvalidity, new = uidvalidity, "UIDVALIDITY changed: rescanning, dedupe skips known mail");
            }
            let mut conn = db.pool.acquire().await.map_err(StoreError::from)?;
            mailboxes::reset_uidvalidity(&mut conn, m.id, uv).await?;
            last_uid = 0;
        }
        let retry: Vec<u32> = {
            let mut conn = db.pool.acquire().await.map_err(StoreError::from)?;
            mailboxes::missing(&mut conn, m.id, uv)
                .await?
                .into_iter()
                .filter_map(|(uid, _)| u32::try_from(uid).ok())
                .collect()
        };
        // Sizes first, so an over-size message is never downloaded whole.
        let mut sizes: BTreeMap<u32, u32> = self
            .sizes(session, &format!("{}:*", last_uid + 1))
            .await?
            .into_iter()
            .filter(|(uid, _)| i64::from(*uid) > last_uid)
            .collect();
        if !retry.is_empty() {
            sizes.extend(self.sizes(session, &uid_set(&retry)).await?);
        }
        let total = sizes.len();
        if let Some(hook) = &self.listed_hook {
            hook(sizes.keys().copied().collect()).await;
        }
        // A UID being retried that the server no longer lists is missing again.
        let mut gone: Vec<u32> = retry
            .iter()
            .copied()
            .filter(|u| !sizes.contains_key(u))
            .collect();
        let limit = self.ingestor.config().max_message_bytes;
        let listed: Vec<(u32, u32)> = sizes.into_iter().collect();
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
                return Err(ImapError::Protocol(
                    "lease taken over by another instance".into(),
                ));
            }
        }
        if !gone.is_empty() {
            self.settle(m, uidvalidity, &[], &gone, 0, 0, report)
                .await?;
        }
        if total == 0 {
            let mut conn = db.pool.acquire().await.map_err(StoreError::from)?;
            mailboxes::record_success(&mut conn, m.id, 0, store::now_ms()).await?;
        }
        Ok(())
    }

    /// Parses each message once, on a blocking thread with a time limit (the
    /// runtime threads serve the web), then stores the batch in one
    /// transaction. Poison (too slow to parse) is quarantined with its bytes.
    async fn store(
        &self,
        items: Vec<(Vec<u8>, Source)>,
        m: &mailboxes::Mailbox,
        report: &mut PollReport,
    ) -> Result<(), ImapError> {
        let hints = Hints {
            queue: Some(m.queue_name.clone()),
            action: None,
        };
        let mut parsed = Vec::with_capacity(items.len());
        let mut unparsed = Vec::new();
        for (raw, source) in items {
            let raw = Arc::new(raw);
            let shared = raw.clone();
            let task = tokio::task::spawn_blocking(move || super::parse::parse(&shared));
            match tokio::time::timeout(PARSE_LIMIT, task).await {
                // The task is done with its handle: this takes the bytes back uncopied.
                Ok(Ok(Ok(mail))) => parsed.push((Arc::unwrap_or_clone(raw), source, mail)),
                // Unparseable (or the parser panicked): ingest quarantines it
                // with the parser's reason.
                Ok(_) => unparsed.push((Arc::unwrap_or_clone(raw), source)),
                Err(_) => {
                    let reason = format!("parsing took longer than {PARSE_LIMIT:?}; skipped");
                    let mut conn = self
                        .ingestor
                        .db()
                        .pool
                        .acquire()
                        .await
                        .map_err(StoreError::from)?;
                    quarantine::put(&mut conn, &raw, &reason, &source.label(), store::now_ms())
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
    async fn settle(
        &self,
        m: &mailboxes::Mailbox,
        uidvalidity: u32,
        handled: &[u32],
        missing: &[u32],
        max_uid: u32,
        backlog: usize,
        report: &mut PollReport,
    ) -> Result<(), ImapError> {
        let uv = i64::from(uidvalidity);
        let now = store::now_ms();
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
    async fn set_aside_oversize(
        &self,
        session: &mut Session<Stream>,
        m: &mailboxes::Mailbox,
        uidvalidity: u32,
        uid: u32,
        size: u32,
    ) -> Result<(), ImapError> {
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
        let mut conn = self
            .ingestor
            .db()
            .pool
            .acquire()
            .await
            .map_err(StoreError::from)?;
        quarantine::put(
            &mut conn,
            &raw,
            &reason,
            &self.source(m, uidvalidity, uid).label(),
            store::now_ms(),
        )
        .await?;
        drop(conn);
        if let Some(folder) = &m.oversize_folder {
            self.move_to(session, &uid.to_string(), folder).await?;
        }
        Ok(())
    }

    fn source(&self, m: &mailboxes::Mailbox, uidvalidity: u32, uid: u32) -> Source {
        Source::Imap {
            mailbox: m.name.clone(),
            uidvalidity,
            uid,
        }
    }

    /// Flags, moves or deletes messages that are safely stored.
    async fn after_stored(
        &self,
        session: &mut Session<Stream>,
        m: &mailboxes::Mailbox,
        uids: &[u32],
    ) -> Result<(), ImapError> {
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

    async fn move_to(
        &self,
        session: &mut Session<Stream>,
        set: &str,
        folder: &str,
    ) -> Result<(), ImapError> {
        let caps = timed(session.capabilities()).await?;
        if caps.has_str("MOVE") {
            timed(session.uid_mv(set, folder)).await?;
        } else {
            timed(session.uid_copy(set, folder)).await?;
            self.delete(session, set).await?;
        }
        Ok(())
    }

    async fn delete(&self, session: &mut Session<Stream>, set: &str) -> Result<(), ImapError> {
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

/// This machine's name, as it appears in lease owners.
pub fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A lease owner (`host:pid:nonce`) naming a process on this machine that no
/// longer runs.
fn holder_is_dead(owner: &str) -> bool {
    let mut parts = owner.split(':');
    let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    host == host_name()
        && pid.parse::<u32>().is_ok_and(|p| p != std::process::id())
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// `1,5,9` for IMAP.
fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Splits listed `(uid, size)` pairs into batches of at most [`FETCH_BATCH`]
/// messages and [`BATCH_BYTES`] bytes (an over-size message, only listed,
/// weighs nothing).
fn batches(listed: &[(u32, u32)], limit: usize) -> Vec<Vec<(u32, u32)>> {
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

/// A UID FETCH whose every response must arrive within [`IO_TIMEOUT`] of the
/// one before: a slow link gets through a large batch, a dead one does not
/// hang it.
async fn fetch_each(
    session: &mut Session<Stream>,
    set: &str,
    query: &str,
) -> Result<Vec<async_imap::types::Fetch>, ImapError> {
    let stream = timed(session.uid_fetch(set, query)).await?;
    tokio::pin!(stream);
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(IO_TIMEOUT, stream.next()).await {
            Err(_) => return Err(ImapError::Timeout(IO_TIMEOUT)),
            Ok(None) => return Ok(out),
            Ok(Some(Err(e))) => return Err(protocol(e)),
            Ok(Some(Ok(f))) => out.push(f),
        }
    }
}

/// Bodies of `uids`, each copied out of its response as it arrives (one copy
/// of each message is held). A UID the server did not answer for is absent.
async fn fetch_bodies(
    session: &mut Session<Stream>,
    uids: &[u32],
) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
    let stream = timed(session.uid_fetch(uid_set(uids), "(UID BODY.PEEK[])")).await?;
    tokio::pin!(stream);
    let mut out = Vec::with_capacity(uids.len());
    loop {
        match tokio::time::timeout(IO_TIMEOUT, stream.next()).await {
            Err(_) => return Err(ImapError::Timeout(IO_TIMEOUT)),
            Ok(None) => return Ok(out),
            Ok(Some(Err(e))) => return Err(protocol(e)),
            Ok(Some(Ok(f))) => {
                if let (Some(uid), Some(body)) = (f.uid, f.body())
                    && uids.contains(&uid)
                {
                    out.push((uid, body.to_vec()));
                }
            }
        }
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
