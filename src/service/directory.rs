//! Staff from an LDAP directory: sign-in by binding as the person, their
//! directory groups mapped to queue roles and admin at every sign-in and
//! by `docket ldap sync`, which also disables people who left their groups
//! (their open tickets go back to triage with a note). Local accounts (a
//! password hash in the database) never depend on the directory.

use serde::Serialize;
use sqlx::AnyConnection;

use super::ServiceError;
use super::role_history;
use super::tickets::history;
use crate::config::{Config, Ldap, LdapGroup};
use crate::directory::{self, DirectoryError, Person};
use crate::store::{Db, people, queues, sessions, tickets, triage, users};

/// What the directory grants a person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub admin: bool,
    /// `(queue, role)`, triager over engineer where both apply.
    pub roles: Vec<(String, String)>,
}

impl Grant {
    pub fn is_staff(&self) -> bool {
        self.admin || !self.roles.is_empty()
    }
}

/// The roles the configured groups give to someone in `groups`.
pub fn grant(mapping: &[LdapGroup], groups: &[String]) -> Grant {
    let mut g = Grant::default();
    for m in mapping {
        if !groups.iter().any(|d| d.eq_ignore_ascii_case(&m.dn)) {
            continue;
        }
        g.admin |= m.admin;
        let (Some(q), Some(role)) = (&m.queue, &m.role) else {
            continue;
        };
        if !matches!(role.as_str(), "triager" | "engineer") {
            continue;
        }
        match g.roles.iter_mut().find(|(name, _)| name == q) {
            Some(entry) if role == "triager" => entry.1 = role.clone(),
            Some(_) => {}
            None => g.roles.push((q.clone(), role.clone())),
        }
    }
    g
}

/// The outcome of a sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    Welcome(i64),
    /// Someone the directory knows who works no queue: the requestor view.
    Requestor(i64),
    Refused,
    /// The directory could not be asked; local accounts still work.
    DirectoryDown,
}

/// Signs in a staff member: a local account by its password hash, anyone
/// else through the directory (when one is configured).
pub async fn sign_in(
    db: &Db,
    cfg: &Config,
    email: &str,
    password: &str,
    now: i64,
) -> Result<SignIn, ServiceError> {
    let creds = {
        let mut conn = db.conn().await?;
        sessions::credentials(&mut conn, email).await?
    };
    let local = match &creds {
        Some((id, role, Some(hash))) if role != "requestor" => Some((*id, hash.clone())),
        _ => None,
    };
    let ldap = match (&cfg.ldap, local) {
        (_, Some((id, hash))) => {
            let password = password.to_string();
            // argon2 is deliberately slow: keep it off the async threads.
            let ok =
                tokio::task::spawn_blocking(move || super::auth::verify_password(&password, &hash))
                    .await
                    .unwrap_or(false);
            return Ok(if ok {
                SignIn::Welcome(id)
            } else {
                SignIn::Refused
            });
        }
        (None, None) => {
            // Unknown addresses cost an argon2 run too, so timing tells nothing.
            let password = password.to_string();
            let _ =
                tokio::task::spawn_blocking(move || super::auth::verify_or_dummy(&password, None))
                    .await;
            return Ok(SignIn::Refused);
        }
        (Some(l), None) => l,
    };
    match through_directory(db, ldap, email, password, now).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Ok(SignIn::Refused),
        Err(DirectoryError::Unavailable(why)) => {
            tracing::warn!(error = %why, "the directory is unavailable");
            Ok(SignIn::DirectoryDown)
        }
    }
}

async fn through_directory(
    db: &Db,
    ldap: &Ldap,
    email: &str,
    password: &str,
    now: i64,
) -> Result<Option<SignIn>, DirectoryError> {
    let Some(person) = directory::find(ldap, email).await? else {
        return Ok(None);
    };
    if !directory::check_password(ldap, &person.dn, password).await? {
        return Ok(None);
    }
    let g = grant(&ldap.groups, &person.groups);
    let stored = |e: ServiceError| DirectoryError::Unavailable(format!("storing the roles: {e}"));
    if !g.is_staff() {
        return requestor(db, &person, now).await.map(Some).map_err(stored);
    }
    apply(db, ldap, &person, &g, now)
        .await
        .map(|id| Some(SignIn::Welcome(id)))
        .map_err(stored)
}

/// A directory person in no mapped group files and follows their own
/// tickets; an account that still has staff powers locally keeps them off
/// this path (it signed in with its password above).
async fn requestor(db: &Db, p: &Person, now: i64) -> Result<SignIn, ServiceError> {
    let mut tx = db.begin_write().await?;
    let id = users::ensure(&mut tx, &p.email, &p.name, now).await?;
    tx.commit().await?;
    Ok(SignIn::Requestor(id))
}

/// Makes the account match the directory: role, display name, and the
/// memberships of every queue the mapping names (others are left alone).
async fn apply(db: &Db, ldap: &Ldap, p: &Person, g: &Grant, now: i64) -> Result<i64, ServiceError> {
    let mut tx = db.begin_write().await?;
    let id = users::ensure(&mut tx, &p.email, &p.name, now).await?;
    if !p.name.trim().is_empty() {
        users::set_display_name(&mut tx, id, p.name.trim()).await?;
    }
    let was = users::role(&mut tx, id).await?;
    let role = if g.admin { "admin" } else { "staff" };
    users::upsert_staff(&mut tx, &p.email, role, None, now).await?;
    if was.as_deref() != Some(role) {
        let change = (None, was.as_deref(), Some(role));
        from_directory(&mut tx, id, change, "their directory groups", now).await?;
    }
    users::set_directory_dn(&mut tx, id, &p.dn).await?;
    let all = queues::list(&mut tx).await?;
    let have = users::memberships(&mut tx, id).await?;
    for q in &all {
        let mapped = ldap
            .groups
            .iter()
            .any(|m| m.queue.as_deref() == Some(&q.name));
        if !mapped || q.app_id.is_some() {
            continue;
        }
        let want = g
            .roles
            .iter()
            .find(|(n, _)| n == &q.name)
            .map(|(_, r)| r.as_str());
        let had = have
            .iter()
            .find(|(qid, _)| *qid == q.id)
            .map(|(_, r)| r.as_str());
        match (had, want) {
            (a, b) if a == b => {}
            (_, Some(r)) => triage::set_member(&mut tx, q.id, id, r).await?,
            (Some(_), None) => {
                triage::remove_member(&mut tx, q.id, id).await?;
            }
            (None, None) => {}
        }
        if had != want {
            tracing::info!(queue = %q.name, from = ?had, to = ?want, "directory changed a queue role");
            let change = (Some(q.id), had, want);
            from_directory(&mut tx, id, change, "their directory groups", now).await?;
        }
    }
    tx.commit().await?;
    Ok(id)
}

/// Records a change of role the directory made.
async fn from_directory(
    conn: &mut AnyConnection,
    user_id: i64,
    change: role_history::Move<'_>,
    note: &str,
    now: i64,
) -> Result<(), ServiceError> {
    role_history::note(conn, user_id, change, ("directory", Some(note)), now).await
}

/// What `docket ldap sync` did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SyncReport {
    pub checked: usize,
    pub updated: Vec<String>,
    pub disabled: Vec<String>,
    /// Tickets given back to triage from people disabled.
    pub unowned: Vec<i64>,
}

/// Refreshes every directory account's roles and names; disables those the
/// directory no longer knows or no longer puts in a mapped group.
pub async fn sync(db: &Db, cfg: &Config, now: i64) -> Result<SyncReport, ServiceError> {
    let ldap = cfg
        .ldap
        .as_ref()
        .ok_or_else(|| ServiceError::Invalid("no [ldap] url is configured".into()))?;
    let staff = {
        let mut conn = db.conn().await?;
        users::directory_staff(&mut conn).await?
    };
    let mut report = SyncReport::default();
    for (id, email) in staff {
        report.checked += 1;
        let person = directory::find(ldap, &email)
            .await
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let g = person.as_ref().map(|p| grant(&ldap.groups, &p.groups));
        match (person, g) {
            (Some(p), Some(g)) if g.is_staff() => {
                apply(db, ldap, &p, &g, now).await?;
                report.updated.push(email);
            }
            _ => {
                report.unowned.extend(disable(db, id, now).await?);
                report.disabled.push(email);
            }
        }
    }
    Ok(report)
}

/// Ends an account's staff powers; its open tickets go back to triage.
async fn disable(db: &Db, id: i64, now: i64) -> Result<Vec<i64>, ServiceError> {
    let mut tx = db.begin_write().await?;
    let owned = people::owned_open(&mut tx, id).await?;
    for t in &owned {
        back_to_triage(&mut tx, *t, id, now).await?;
    }
    let note = "left their directory groups";
    for (queue, role) in users::memberships(&mut tx, id).await? {
        from_directory(&mut tx, id, (Some(queue), Some(&role), None), note, now).await?;
    }
    let was = users::role(&mut tx, id).await?;
    let change = (None, was.as_deref(), Some("requestor"));
    from_directory(&mut tx, id, change, note, now).await?;
    users::disable_staff(&mut tx, id).await?;
    tx.commit().await?;
    Ok(owned)
}

async fn back_to_triage(
    conn: &mut AnyConnection,
    ticket: i64,
    owner: i64,
    now: i64,
) -> Result<(), ServiceError> {
    let was = users::email_of(&mut *conn, owner).await?.map(|(e, _)| e);
    tickets::set_owner(&mut *conn, ticket, None, now).await?;
    let mut h = history(ticket, "owner", None, "", now);
    h.old_value = was.as_deref();
    h.thread_note = Some("the owner left their directory group: back to triage");
    tickets::add_transaction(conn, h).await?;
    Ok(())
}

/// `docket ldap test`: the person, their roles, and whether the password binds.
#[derive(Debug, Clone, Serialize)]
pub struct Tested {
    pub dn: String,
    pub name: String,
    pub grant: Grant,
    pub bound: bool,
}

pub async fn test(
    cfg: &Config,
    email: &str,
    password: &str,
) -> Result<Option<Tested>, ServiceError> {
    let ldap = cfg
        .ldap
        .as_ref()
        .ok_or_else(|| ServiceError::Invalid("no [ldap] url is configured".into()))?;
    let err = |e: DirectoryError| ServiceError::Invalid(e.to_string());
    let Some(p) = directory::find(ldap, email).await.map_err(err)? else {
        return Ok(None);
    };
    let bound = directory::check_password(ldap, &p.dn, password)
        .await
        .map_err(err)?;
    Ok(Some(Tested {
        grant: grant(&ldap.groups, &p.groups),
        dn: p.dn,
        name: p.name,
        bound,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(dn: &str, queue: Option<&str>, role: Option<&str>, admin: bool) -> LdapGroup {
        LdapGroup {
            dn: dn.into(),
            queue: queue.map(Into::into),
            role: role.map(Into::into),
            admin,
        }
    }

    #[test]
    fn groups_map_to_roles_triager_first() {
        let m = [
            group("cn=ops,ou=g", Some("ops"), Some("engineer"), false),
            group("cn=leads,ou=g", Some("ops"), Some("triager"), false),
            group("cn=root,ou=g", None, None, true),
            group("cn=odd,ou=g", Some("ops"), Some("boss"), false),
        ];
        let g = grant(&m, &["CN=ops,ou=g".into(), "cn=leads,ou=g".into()]);
        assert_eq!(g.roles, vec![("ops".to_string(), "triager".to_string())]);
        assert!(!g.admin);
        assert!(grant(&m, &["cn=root,ou=g".into()]).admin);
        assert!(!grant(&m, &["cn=odd,ou=g".into(), "cn=other".into()]).is_staff());
    }
}
