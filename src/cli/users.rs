//! `user …`: staff accounts and bounce marks.

use anyhow::{Context, Result};

use super::args::*;
use super::{connect_migrated, print_json, read_stdin_text};
use crate::config::Config;

pub(super) async fn user(cfg: &Config, cmd: UserCmd) -> Result<()> {
    let db = connect_migrated(cfg).await?;
    match cmd {
        UserCmd::Add {
            email,
            role,
            queues: member_of,
        } => {
            let password = read_stdin_text()?;
            let password = password.trim_end_matches(['\r', '\n']);
            let email = crate::service::admin::save_staff(
                &db,
                crate::service::admin::StaffUser {
                    email: &email,
                    role: &role,
                    password: Some(password),
                    queues: &member_of,
                },
                crate::store::now_ms(),
            )
            .await?;
            println!(
                "user {email} ({role}) saved{}",
                if !password.is_empty() {
                    " with a password"
                } else {
                    ""
                }
            );
        }
        UserCmd::ClearBounce { email } => {
            let email = crate::domain::address::normalise(&email)
                .with_context(|| format!("{email:?} is not an e-mail address"))?;
            let mut conn = db.pool.acquire().await?;
            crate::store::users::clear_bouncing(&mut conn, &email).await?;
            println!("{email} is mailed again");
        }
        UserCmd::History { email, json } => {
            let changes = crate::service::role_history::of(&db, &email).await?;
            if json {
                print_json(&changes)?;
            }
            for c in changes.iter().filter(|_| !json) {
                let what = c
                    .queue
                    .as_deref()
                    .map_or("account".into(), |q| format!("queue {q}"));
                let role = |r: &Option<String>| r.clone().unwrap_or_else(|| "-".into());
                println!(
                    "{}  {what}: {} -> {}  by {}{}",
                    c.at,
                    role(&c.from),
                    role(&c.to),
                    c.source,
                    c.note
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                );
            }
        }
        UserCmd::Set {
            email,
            wip_limit,
            time_zone,
            notify_new,
        } => {
            if let Some(on) = notify_new {
                let addr = crate::service::team_notice::set_for_person(&db, &email, on).await?;
                let shown = if on { "gets" } else { "does not get" };
                println!("{addr} {shown} notices of new tickets");
            }
            if let Some(zone) = time_zone {
                let (addr, zone) =
                    crate::service::admin::set_user_time_zone(&db, &email, &zone).await?;
                println!(
                    "{addr}: times in {}",
                    zone.as_deref().unwrap_or("the instance's zone")
                );
            }
            if let Some(raw) = wip_limit {
                let limit = crate::service::admin::parse_wip_limit(Some(&raw))?;
                let addr = crate::service::admin::set_user_wip_limit(&db, &email, limit).await?;
                match limit {
                    Some(l) => println!("{addr}: WIP limit {l}"),
                    None => println!("{addr}: the queues' WIP limits"),
                }
            }
        }
        UserCmd::List { json } => {
            let mut conn = db.pool.acquire().await?;
            let list = crate::store::users::list_staff(&mut conn).await?;
            if json {
                print_json(&list)?;
            } else {
                for u in list {
                    println!(
                        "{:<30} {:<6} {}",
                        u.email,
                        u.role,
                        if u.password_hash.is_some() {
                            "password set"
                        } else {
                            "no password"
                        }
                    );
                }
            }
        }
    }
    Ok(())
}
