//! The IMAP poller: a mailbox becomes a queue. Every IMAP call has a time
//! limit; a message is marked (flagged, moved or deleted) only after its
//! ingest transaction has committed, so a crash re-fetches and dedupe makes
//! that a no-op. UIDVALIDITY and the last UID are tracked in the database.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use futures::TryStreamExt;
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
const FETCH_BATCH: usize = 200;
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
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImapError {
    /// The state shown by `docket mailbox status`.
    pub fn state(&self) -> &'static str {
        match self {
            ImapError::Auth(..) | ImapError::Password(_) => "auth-failed",
            ImapError::Folder(..) => "folder-missing",
            ImapError::Store(_) => "database-error",
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

fn password(m: &mailboxes::Mailbox) -> Result<String, ImapError> {
    if let Some(p) = &m.password {
        return Ok(p.clone());
    }
    if let Some(var) = &m.password_env {
        return std::env::var(var)
            .map_err(|_| ImapError::Password(format!("environment variable {var} is not set")));
    }
    if let Some(file) = &m.password_file {
        return std::fs::read_to_string(file)
            .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
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
    let mut session = match tokio::time::timeout(IO_TIMEOUT, client.login(&m.username, pass)).await
    {
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

/// One mailbox's poller.
pub struct Poller {
    ingestor: Ingestor,
    name: String,
    /// Names this process in the lease.
    owner: String,
}

impl Poller {
    pub fn new(ingestor: Ingestor, name: &str, owner: &str) -> Self {
        Poller {
            ingestor,
            name: name.to_string(),
            owner: owner.to_string(),
        }
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

    /// Ingests everything waiting and returns: `docket poll --once`.
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
            let (mut session, uidvalidity) = connect(&m).await?;
            self.sync(&mut session, &m, uidvalidity, &mut report)
                .await?;
            let _ = timed(session.logout()).await;
            Ok::<(), ImapError>(())
        }
        .await;
        if let Err(e) = result {
            self.record_error(m.id, &e).await;
            report.error = Some(e.to_string());
        }
        report
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
            if let Ok(m) = self.load().await
                && let Ok(mut conn) = self.ingestor.db().pool.acquire().await
            {
                let _ = mailboxes::release(&mut conn, m.id, &self.owner).await;
            }
        }
        .instrument(span)
        .await
    }

    /// Holds the lease for the mailbox; false when another instance has it.
    async fn lease(&self, id: i64) -> Result<bool, ImapError> {
        let mut conn = self
            .ingestor
            .db()
            .pool
            .acquire()
            .await
            .map_err(StoreError::from)?;
        let now = store::now_ms();
        Ok(mailboxes::lease(&mut conn, id, &self.owner, now, now + 60_000).await?)
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
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                _ = shutdown.changed() => return Ok(()),
            }
        }
        let (mut session, uidvalidity) = connect(&m).await.map_err(fail)?;
        info!("connected");
        let idle = timed(session.capabilities())
            .await
            .map_err(fail)?
            .has_str("IDLE");
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
                return Err((
                    id,
                    ImapError::Protocol("lease taken over by another instance".into()),
                ));
            }
            if idle {
                let mut handle = session.idle();
                timed(handle.init()).await.map_err(fail)?;
                let (wait, stop) = handle.wait_with_timeout(IDLE_RENEW);
                let woke = tokio::select! {
                    r = wait => Some(r),
                    _ = shutdown.changed() => None,
                };
                drop(stop);
                let done = timed(handle.done()).await.map_err(fail)?;
                session = done;
                match woke {
                    None => {
                        let _ = timed(session.logout()).await;
                        return Ok(());
                    }
                    Some(Err(e)) => return Err((id, protocol(e))),
                    Some(Ok(
                        IdleResponse::NewData(_)
                        | IdleResponse::Timeout
                        | IdleResponse::ManualInterrupt,
                    )) => {}
                }
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(poll_interval) => {}
                    _ = shutdown.changed() => {
                        let _ = timed(session.logout()).await;
                        return Ok(());
                    }
                }
                timed(session.noop()).await.map_err(fail)?;
            }
        }
    }

    /// Fetches, stores and marks every message above the last UID.
    async fn sync(
        &self,
        session: &mut Session<Stream>,
        m: &mailboxes::Mailbox,
        uidvalidity: u32,
        report: &mut PollReport,
    ) -> Result<(), ImapError> {
        let db = self.ingestor.db();
        let mut last_uid = m.last_uid;
        if m.uidvalidity != Some(i64::from(uidvalidity)) {
            if m.uidvalidity.is_some() {
                warn!(old = ?m.uidvalidity, new = uidvalidity, "UIDVALIDITY changed: rescanning, dedupe skips known mail");
            }
            let mut conn = db.pool.acquire().await.map_err(StoreError::from)?;
            mailboxes::reset_uidvalidity(&mut conn, m.id, i64::from(uidvalidity)).await?;
            last_uid = 0;
        }
        // Sizes first, so an over-size message is never downloaded whole.
        let sizes: BTreeMap<u32, u32> = {
            let fetched: Vec<_> = timed(async {
                session
                    .uid_fetch(format!("{}:*", last_uid + 1), "(UID RFC822.SIZE)")
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
            fetched
                .iter()
                .filter_map(|f| Some((f.uid?, f.size.unwrap_or(0))))
                .filter(|(uid, _)| i64::from(*uid) > last_uid)
                .collect()
        };
        let total = sizes.len();
        let uids: Vec<(u32, u32)> = sizes.into_iter().collect();
        let limit = self.ingestor.config().max_message_bytes;
        let hints = Hints {
            queue: Some(m.queue_name.clone()),
            action: None,
        };
        let mut done = 0usize;
        for chunk in uids.chunks(FETCH_BATCH) {
            let (big, small): (Vec<_>, Vec<_>) =
                chunk.iter().partition(|(_, size)| *size as usize > limit);
            let mut items: Vec<(Vec<u8>, Source)> = Vec::with_capacity(small.len());
            if !small.is_empty() {
                let set = small
                    .iter()
                    .map(|(u, _)| u.to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                let fetched: Vec<_> = timed(async {
                    session
                        .uid_fetch(&set, "(UID BODY.PEEK[])")
                        .await?
                        .try_collect::<Vec<_>>()
                        .await
                })
                .await?;
                let mut by_uid: BTreeMap<u32, Vec<u8>> = fetched
                    .iter()
                    .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
                    .collect();
                for (uid, _) in &small {
                    if let Some(raw) = by_uid.remove(uid) {
                        items.push((raw, self.source(m, uidvalidity, *uid)));
                    }
                }
            }
            let mut quarantined_here = Vec::new();
            for (uid, size) in &big {
                // Only the header is read; the reason says why.
                let header: Vec<_> = timed(async {
                    session
                        .uid_fetch(uid.to_string(), "(UID BODY.PEEK[HEADER])")
                        .await?
                        .try_collect::<Vec<_>>()
                        .await
                })
                .await?;
                let mut raw = header
                    .first()
                    .and_then(|f| f.header().map(<[u8]>::to_vec))
                    .unwrap_or_default();
                raw.extend_from_slice(b"\r\n[body not downloaded]\r\n");
                let reason = format!(
                    "message is {size} bytes, over the limit of {limit} bytes (only its header was read)"
                );
                let mut conn = db.pool.acquire().await.map_err(StoreError::from)?;
                quarantine::put(
                    &mut conn,
                    &raw,
                    &reason,
                    &self.source(m, uidvalidity, *uid).label(),
                    store::now_ms(),
                )
                .await?;
                quarantined_here.push(*uid);
            }
            let (items, poison) = self.screen_for_poison(items).await;
            for (raw, source, reason) in &poison {
                let mut conn = db.pool.acquire().await.map_err(StoreError::from)?;
                quarantine::put(&mut conn, raw, reason, &source.label(), store::now_ms()).await?;
            }
            let outcomes = self.ingestor.ingest_batch(&items, &hints).await?;
            for o in &outcomes {
                report.count(o.outcome);
            }
            for _ in quarantined_here.iter().chain(poison.iter().map(|_| &0)) {
                report.count(OutcomeKind::Quarantined);
            }
            // Committed: now, and only now, the source may forget them.
            let stored: Vec<u32> = chunk.iter().map(|(u, _)| *u).collect();
            self.after_stored(session, m, &stored).await?;
            done += chunk.len();
            let max_uid = stored.iter().copied().max().unwrap_or(0);
            let mut conn = db.pool.acquire().await.map_err(StoreError::from)?;
            mailboxes::set_last_uid(
                &mut conn,
                m.id,
                i64::from(max_uid),
                (total - done) as i64,
                store::now_ms(),
            )
            .await?;
        }
        if total == 0 {
            let mut conn = db.pool.acquire().await.map_err(StoreError::from)?;
            mailboxes::record_success(&mut conn, m.id, 0, store::now_ms()).await?;
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

    /// Parses each message on a blocking thread with a time limit; one that
    /// takes too long is set aside for quarantine instead of blocking the rest.
    async fn screen_for_poison(
        &self,
        items: Vec<(Vec<u8>, Source)>,
    ) -> (Vec<(Vec<u8>, Source)>, Vec<(Vec<u8>, Source, String)>) {
        let mut ok = Vec::with_capacity(items.len());
        let mut poison = Vec::new();
        for (raw, source) in items {
            let copy = raw.clone();
            let parse = tokio::task::spawn_blocking(move || super::parse::parse(&copy).is_ok());
            match tokio::time::timeout(PARSE_LIMIT, parse).await {
                Ok(_) => ok.push((raw, source)),
                Err(_) => {
                    let reason = format!("parsing took longer than {PARSE_LIMIT:?}; skipped");
                    poison.push((raw, source, reason));
                }
            }
        }
        (ok, poison)
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
        let set = uids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        match (m.after_action.as_str(), m.move_folder.as_deref()) {
            ("move", Some(folder)) => {
                let caps = timed(session.capabilities()).await?;
                if caps.has_str("MOVE") {
                    timed(session.uid_mv(&set, folder)).await?;
                } else {
                    timed(session.uid_copy(&set, folder)).await?;
                    self.delete(session, &set).await?;
                }
            }
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
