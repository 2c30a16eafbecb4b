//! The IMAP client Docket needs: connect (plain, STARTTLS, TLS), log in,
//! select, fetch with a timeout on every response. The poller that stores
//! what it fetches is `service::poll`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::domain::secret::Secret;
use crate::mail::oauth2;
use crate::store::mailboxes;

/// Any byte stream IMAP can run over: plain TCP or TLS.
pub trait ImapIo: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> ImapIo for T {}
pub type Stream = Box<dyn ImapIo>;

/// Every IMAP round trip gets this long.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);

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
}

impl ImapError {
    /// The state shown by `docket mailbox status`.
    pub fn state(&self) -> &'static str {
        match self {
            ImapError::Auth(..) | ImapError::Password(_) => "auth-failed",
            ImapError::Folder(..) => "folder-missing",
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
        backoff(base, cap, failures)
    }
}

/// `base` seconds doubling with each failure, at most `cap`.
pub fn backoff(base: u64, cap: u64, failures: i64) -> Duration {
    let exp = failures.clamp(1, 12) - 1;
    Duration::from_secs((base << exp).min(cap))
}

pub fn protocol(e: impl fmt::Display) -> ImapError {
    ImapError::Protocol(e.to_string())
}

pub async fn timed<T, E: fmt::Display>(
    f: impl Future<Output = Result<T, E>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(IO_TIMEOUT, f).await {
        Ok(r) => r.map_err(protocol),
        Err(_) => Err(ImapError::Timeout(IO_TIMEOUT)),
    }
}

pub fn password(m: &mailboxes::Mailbox) -> Result<Secret, ImapError> {
    if let Some(p) = &m.password {
        return Ok(p.clone());
    }
    oauth2::SecretFrom::of(m.password_env.as_deref(), m.password_file.as_deref())
        .ok_or_else(|| ImapError::Password("none configured".into()))?
        .read("password")
        .map_err(ImapError::Password)
}

/// The mailbox's OAuth2 grant, when it signs in with XOAUTH2.
pub fn grant(m: &mailboxes::Mailbox) -> Result<Option<oauth2::Grant>, ImapError> {
    let o = &m.oauth2;
    let Some(token_url) = &o.oauth2_token_url else {
        return Ok(None);
    };
    let refresh = oauth2::SecretFrom::of(
        o.oauth2_refresh_token_env.as_deref(),
        o.oauth2_refresh_token_file.as_deref(),
    )
    .ok_or_else(|| ImapError::Password("no OAuth2 refresh token configured".into()))?;
    Ok(Some(oauth2::Grant {
        token_url: token_url.clone(),
        client_id: o.oauth2_client_id.clone().unwrap_or_default(),
        client_secret: oauth2::SecretFrom::of(
            o.oauth2_client_secret_env.as_deref(),
            o.oauth2_client_secret_file.as_deref(),
        ),
        refresh_token: refresh,
        scope: o.oauth2_scope.clone(),
    }))
}

/// SASL XOAUTH2 or OAUTHBEARER: the initial response, then the answer to
/// the JSON error challenge a server sends before it says NO (empty for
/// XOAUTH2, `%x01` for OAUTHBEARER, RFC 7628 §3.2.3).
struct Bearer {
    response: Option<String>,
    after_error: &'static str,
}

impl async_imap::Authenticator for Bearer {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        self.response
            .take()
            .unwrap_or_else(|| self.after_error.to_string())
    }
}

/// Signs in with a held token; when the server refuses it (expired or
/// revoked early), once more with a fresh one.
async fn sign_in_oauth2(
    mut client: async_imap::Client<Stream>,
    user: &str,
    (g, mechanism): (&oauth2::Grant, &str),
) -> Result<Session<Stream>, ImapError> {
    let mut last = String::new();
    for _ in 0..2 {
        let token = oauth2::access_token(g).await.map_err(|e| match e {
            e if e.is_refusal() => ImapError::Auth(user.into(), e.to_string()),
            e => ImapError::Connect(g.token_url.clone(), e.to_string()),
        })?;
        let (name, auth) = if mechanism == "oauthbearer" {
            let response = Some(oauth2::oauthbearer(user, token.expose()));
            (
                "OAUTHBEARER",
                Bearer {
                    response,
                    after_error: "\x01",
                },
            )
        } else {
            let response = Some(oauth2::xoauth2(user, token.expose()));
            (
                "XOAUTH2",
                Bearer {
                    response,
                    after_error: "",
                },
            )
        };
        match tokio::time::timeout(IO_TIMEOUT, client.authenticate(name, auth)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err((e, c))) => {
                oauth2::forget(g);
                last = e.to_string();
                client = c;
            }
            Err(_) => return Err(ImapError::Timeout(IO_TIMEOUT)),
        }
    }
    Err(ImapError::Auth(user.into(), last))
}

pub fn tls_connector() -> tokio_rustls::TlsConnector {
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

pub async fn wrap_tls(tcp: TcpStream, host: &str) -> Result<Stream, ImapError> {
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
    let mut session = match grant(m)? {
        Some(g) => {
            let how = (&g, m.oauth2.oauth2_mechanism.as_str());
            sign_in_oauth2(client, &m.username, how).await?
        }
        None => {
            let pass = password(m)?;
            match tokio::time::timeout(IO_TIMEOUT, client.login(&m.username, pass.expose())).await {
                Ok(Ok(s)) => s,
                Ok(Err((e, _))) => return Err(ImapError::Auth(m.username.clone(), e.to_string())),
                Err(_) => return Err(ImapError::Timeout(IO_TIMEOUT)),
            }
        }
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

/// This machine's name, as it appears in lease owners.
/// Names this process in a mailbox lease: host, pid and a random part, so a
/// restarted process never mistakes an old lease for its own.
pub fn instance_owner() -> String {
    format!(
        "{}:{}:{:08x}",
        host_name(),
        std::process::id(),
        rand::random::<u32>()
    )
}

pub fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A lease owner (`host:pid:nonce`) naming a process on this machine that no
/// longer runs.
pub fn holder_is_dead(owner: &str) -> bool {
    let mut parts = owner.split(':');
    let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    host == host_name()
        && pid.parse::<u32>().is_ok_and(|p| p != std::process::id())
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// `1,5,9` for IMAP.
pub fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A UID FETCH whose every response must arrive within [`IO_TIMEOUT`] of the
/// one before: a slow link gets through a large batch, a dead one does not
/// hang it.
pub async fn fetch_each(
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
pub async fn fetch_bodies(
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
