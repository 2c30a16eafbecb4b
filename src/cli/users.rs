//! `user …`: staff accounts and bounce marks.

use anyhow::{Context, Result};

use super::args::*;
use super::{connect_migrated, print_json, read_stdin_text};
use crate::config::Config;
use crate::store::{self, queues};

pub(super) async fn user(cfg: &Config, cmd: UserCmd) -> Result<()> {
    let db = connect_migrated(cfg).await?;
    match cmd {
        UserCmd::Add {
            email,
            role,
            queues: member_of,
        } => {
            let email = crate::domain::address::normalise(&email)
                .with_context(|| format!("{email:?} is not an e-mail address"))?;
            let password = read_stdin_text()?;
            let password = password.trim_end_matches(['\r', '\n']);
            let hash = if password.is_empty() {
                None
            } else {
                Some(crate::service::auth::hash_password(password)?)
            };
            let mut tx = db.begin_write().await?;
            let all = queues::list(&mut tx).await?;
            let id = crate::store::users::upsert_staff(
                &mut tx,
                &email,
                &role,
                hash.as_deref(),
                store::now_ms(),
            )
            .await?;
            for name in &member_of {
                let q = all
                    .iter()
                    .find(|q| &q.name == name)
                    .with_context(|| format!("no queue named {name:?}"))?;
                crate::store::users::add_to_queue(&mut tx, q.id, id).await?;
            }
            tx.commit().await?;
            println!(
                "user {email} ({role}) saved{}",
                if hash.is_some() {
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
