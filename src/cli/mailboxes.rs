//! `mailbox …` (IMAP mailboxes feeding queues) and `poll`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::args::*;
use super::serve::shutdown_signal;
use super::{connect_migrated, print_json};
use crate::config::Config;
use crate::service::ingest::Ingestor;
use crate::store::mailboxes::OAuth2Settings;
use crate::store::{self, queues};

/// Parses `imap[s]://user:pass@host:port/folder`.
pub(super) fn parse_mailbox_url(
    raw: &str,
) -> Result<(String, u16, String, Option<String>, String, bool)> {
    let u = url::Url::parse(raw).with_context(|| format!("{raw:?} is not a URL"))?;
    let implicit_tls = match u.scheme() {
        "imaps" => true,
        "imap" => false,
        other => bail!("unsupported scheme {other:?}: use imap:// or imaps://"),
    };
    let host = u.host_str().context("the URL names no host")?.to_string();
    let port = u.port().unwrap_or(if implicit_tls { 993 } else { 143 });
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = decode(u.username());
    anyhow::ensure!(!user.is_empty(), "the URL names no user");
    let password = u.password().map(decode);
    let folder = decode(u.path().trim_start_matches('/'));
    let folder = if folder.is_empty() {
        "INBOX".to_string()
    } else {
        folder
    };
    Ok((host, port, user, password, folder, implicit_tls))
}

pub(super) async fn mailbox(cfg: &Config, cmd: MailboxCmd) -> Result<()> {
    let db = connect_migrated(cfg).await?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        MailboxCmd::Add {
            name,
            url,
            queue,
            tls,
            after,
            password_env,
            password_file,
            oversize_folder,
            oauth2,
        } => {
            let (host, port, user, password, folder, implicit_tls) = parse_mailbox_url(&url)?;
            let tls = tls.unwrap_or_else(|| {
                if implicit_tls {
                    "tls".into()
                } else {
                    "starttls".into()
                }
            });
            let (after_action, move_folder) = match after.split_once('=') {
                Some(("move", f)) if !f.is_empty() => ("move", Some(f.to_string())),
                None if after == "seen" || after == "delete" => (after.as_str(), None),
                _ => bail!("--after must be seen, move=FOLDER or delete"),
            };
            let sources = [
                password.is_some(),
                password_env.is_some(),
                password_file.is_some(),
            ];
            let oauth2 = oauth2_settings(*oauth2)?;
            let given = sources.iter().filter(|s| **s).count();
            if oauth2.oauth2_token_url.is_some() {
                anyhow::ensure!(given == 0, "OAuth2 signs in without a password: give none");
            } else {
                anyhow::ensure!(
                    given == 1,
                    "give the password exactly one way: in the URL, --password-env or --password-file"
                );
            }
            let q = queues::list(&mut conn)
                .await?
                .into_iter()
                .find(|q| q.name == queue)
                .with_context(|| format!("no queue named {queue:?}"))?;
            let password_file = password_file.map(|p| p.display().to_string());
            crate::store::mailboxes::add(
                &mut conn,
                crate::store::mailboxes::NewMailbox {
                    name: &name,
                    host: &host,
                    port: i64::from(port),
                    tls: &tls,
                    username: &user,
                    password: password.as_deref(),
                    password_env: password_env.as_deref(),
                    password_file: password_file.as_deref(),
                    folder: &folder,
                    queue_id: q.id,
                    after_action,
                    move_folder: move_folder.as_deref(),
                    oversize_folder: oversize_folder.as_deref(),
                    oauth2,
                    now: store::now_ms(),
                },
            )
            .await
            .with_context(|| format!("adding mailbox {name:?} (names must be unused)"))?;
            println!(
                "mailbox {name} added: {user}@{host}:{port}/{folder} ({tls}) into queue {queue}"
            );
        }
        MailboxCmd::List { json } | MailboxCmd::Status { json } => {
            let list: Vec<crate::store::mailboxes::MailboxView> =
                crate::store::mailboxes::list(&mut conn)
                    .await?
                    .iter()
                    .map(Into::into)
                    .collect();
            if json {
                print_json(&list)?;
            } else {
                for m in list {
                    println!(
                        "{:<16} {:<40} {:<14} last ok {:<22} backlog {:<5} {}",
                        m.name,
                        m.url,
                        m.state,
                        m.last_success.as_deref().unwrap_or("never"),
                        m.backlog,
                        m.last_error.as_deref().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(())
}

/// A name for this process in mailbox leases.
pub(super) async fn poll(cfg: Config, args: PollArgs) -> Result<ExitCode> {
    let db = connect_migrated(&cfg).await?;
    let names: Vec<String> = {
        let mut conn = db.pool.acquire().await?;
        let all = crate::store::mailboxes::list(&mut conn).await?;
        match &args.mailbox {
            Some(n) => {
                anyhow::ensure!(all.iter().any(|m| &m.name == n), "no mailbox named {n:?}");
                vec![n.clone()]
            }
            None => all.into_iter().map(|m| m.name).collect(),
        }
    };
    let ingestor = Ingestor::new(db.clone(), Arc::new(cfg));
    let owner = crate::mail::inbound::imap::instance_owner();
    if !args.once {
        // Keep polling (IDLE where the server has it) until stopped.
        let shutdown = shutdown_signal()?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut pollers = tokio::task::JoinSet::new();
        for name in names {
            let poller = crate::service::poll::Poller::new(ingestor.clone(), &name, &owner);
            let rx = stop_rx.clone();
            pollers.spawn(async move { poller.run(Duration::from_secs(30), rx).await });
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        while pollers.join_next().await.is_some() {}
        db.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    let mut reports = Vec::new();
    for name in names {
        let r = crate::service::poll::Poller::new(ingestor.clone(), &name, &owner)
            .poll_once()
            .await;
        failed |= r.error.is_some();
        reports.push(r);
    }
    if args.json {
        print_json(&reports)?;
    } else {
        for r in &reports {
            println!(
                "{}: {} fetched ({} created, {} replied, {} duplicate, {} quarantined){}",
                r.mailbox,
                r.fetched,
                r.tally.created,
                r.tally.replied,
                r.tally.duplicate,
                r.tally.quarantined,
                r.error
                    .as_deref()
                    .map(|e| format!("; error: {e}"))
                    .unwrap_or_default()
            );
        }
    }
    db.close().await;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The OAuth2 flags as stored; a token endpoint needs a client id and a
/// refresh token source.
fn oauth2_settings(a: OAuth2Args) -> Result<OAuth2Settings> {
    let path = |p: Option<std::path::PathBuf>| p.map(|p| p.display().to_string());
    if a.oauth2_token_url.is_some() {
        anyhow::ensure!(
            a.oauth2_client_id.is_some(),
            "--oauth2-token-url needs --oauth2-client-id"
        );
        anyhow::ensure!(
            a.oauth2_refresh_token_env.is_some() || a.oauth2_refresh_token_file.is_some(),
            "--oauth2-token-url needs --oauth2-refresh-token-env or --oauth2-refresh-token-file"
        );
    }
    Ok(OAuth2Settings {
        oauth2_token_url: a.oauth2_token_url,
        oauth2_client_id: a.oauth2_client_id,
        oauth2_client_secret_env: a.oauth2_client_secret_env,
        oauth2_client_secret_file: path(a.oauth2_client_secret_file),
        oauth2_refresh_token_env: a.oauth2_refresh_token_env,
        oauth2_refresh_token_file: path(a.oauth2_refresh_token_file),
        oauth2_scope: a.oauth2_scope,
        oauth2_mechanism: a.oauth2_mechanism,
    })
}
