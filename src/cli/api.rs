//! `token …`, `app …`, `feed …`.

use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use super::args::*;
use super::{connect_migrated, print_json};
use crate::config::Config;
use crate::service::api_access::{self, Holder};
use crate::service::calendar_feed::{self, Owner};
use crate::store::now_ms;

pub(super) async fn token(cfg: &Config, cmd: TokenCmd) -> Result<ExitCode> {
    let db = connect_migrated(cfg).await?;
    match cmd {
        TokenCmd::Add {
            name,
            app,
            user,
            queues,
            read_only,
            json,
        } => {
            let holder = match (&user, app) {
                (Some(u), _) => Holder::User(u),
                (None, _) => Holder::App(&name),
            };
            let (id, token) =
                api_access::add_token(&db, &name, holder, &queues, read_only, now_ms()).await?;
            if json {
                print_json(&json!({"id": id, "token": token}))?;
            } else {
                println!("token {id}: {token}");
                println!("(shown once: keep it; send it as Authorization: Bearer …)");
            }
        }
        TokenCmd::List { json } => {
            let mut conn = db.conn().await?;
            let list = crate::store::api::list_tokens(&mut conn).await?;
            if json {
                print_json(&list)?;
            } else {
                for t in list {
                    let holder = t
                        .app
                        .map(|a| format!("app {a}"))
                        .or(t.user)
                        .unwrap_or_default();
                    let state = if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "live"
                    };
                    let ro = if t.read_only != 0 { ", read-only" } else { "" };
                    println!("{:>4}  {}  {holder}  {state}{ro}", t.id, t.name);
                }
            }
        }
        TokenCmd::Revoke { id } => {
            if !api_access::revoke_token(&db, id, now_ms()).await? {
                eprintln!("docket: no live token {id}");
                return Ok(ExitCode::FAILURE);
            }
            println!("token {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn app(cfg: &Config, cmd: AppCmd) -> Result<ExitCode> {
    let db = connect_migrated(cfg).await?;
    match cmd {
        AppCmd::Add {
            name,
            queue,
            address,
            json,
        } => {
            let (id, _) =
                api_access::add_app(&db, &name, &queue, address.as_deref(), now_ms()).await?;
            if json {
                print_json(&json!({"id": id, "queue": queue}))?;
            } else {
                println!("application {name} ({id}) owns queue {queue}");
            }
        }
        AppCmd::AddQueue {
            name,
            queue,
            address,
            json,
        } => {
            let id =
                api_access::add_app_queue(&db, &name, &queue, address.as_deref(), now_ms()).await?;
            if json {
                print_json(&json!({"id": id, "queue": queue}))?;
            } else {
                println!("application {name} now also owns queue {queue} ({id})");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn feed(cfg: &Config, cmd: FeedCmd) -> Result<ExitCode> {
    let db = connect_migrated(cfg).await?;
    match cmd {
        FeedCmd::Add { user, queue, json } => {
            let owner = match (&user, &queue) {
                (Some(u), _) => Owner::Person(u),
                (None, Some(q)) => Owner::Queue(q),
                (None, None) => anyhow::bail!("name --user EMAIL or --queue NAME"),
            };
            let (id, secret) = calendar_feed::add(&db, owner, now_ms()).await?;
            let base = cfg
                .public_url
                .as_deref()
                .unwrap_or("")
                .trim_end_matches('/');
            let url = format!("{base}/calendar/{secret}.ics");
            if json {
                print_json(&json!({"id": id, "url": url}))?;
            } else {
                println!("feed {id}: {url}");
            }
        }
        FeedCmd::Revoke { id } => {
            if !calendar_feed::revoke(&db, id, now_ms()).await? {
                eprintln!("docket: no live feed {id}");
                return Ok(ExitCode::FAILURE);
            }
            println!("feed {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn ldap(cfg: &Config, cmd: LdapCmd) -> Result<ExitCode> {
    match cmd {
        LdapCmd::Test { email, json } => {
            let password = super::read_stdin_text()?;
            let password = password.trim_end_matches(['\r', '\n']);
            let Some(t) = crate::service::directory::test(cfg, &email, password).await? else {
                eprintln!("docket: the directory knows no one as {email}");
                return Ok(ExitCode::FAILURE);
            };
            if json {
                print_json(&t)?;
            } else {
                println!("dn: {}\nname: {}", t.dn, t.name);
                println!("admin: {}", t.grant.admin);
                for (q, r) in &t.grant.roles {
                    println!("{q}: {r}");
                }
                println!("bind: {}", if t.bound { "ok" } else { "refused" });
            }
            Ok(if t.bound {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        LdapCmd::Sync { json } => {
            let db = connect_migrated(cfg).await?;
            let r = crate::service::directory::sync(&db, cfg, now_ms()).await?;
            if json {
                print_json(&r)?;
            } else {
                println!(
                    "checked {}, updated {}, disabled {} ({} tickets back to triage)",
                    r.checked,
                    r.updated.len(),
                    r.disabled.len(),
                    r.unowned.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
