//! Setting up the installation: queues and staff. The web admin page and the
//! CLI both come here, so a rule (a queue name is one word, an address is
//! used once, a member's queue exists) holds whichever door is used.

use super::{ServiceError, role_history};
use crate::domain::address;
use crate::store::{Db, queues, triage, users};

/// A queue as an admin describes it; addresses as typed.
pub struct NewQueue<'a> {
    pub name: &'a str,
    pub address: &'a str,
    pub comment_address: Option<&'a str>,
    pub tag: Option<&'a str>,
}

fn email(raw: &str, what: &str) -> Result<String, ServiceError> {
    address::normalise(raw)
        .ok_or_else(|| ServiceError::Invalid(format!("{what} {raw:?} is not an e-mail address.")))
}

/// Adds a queue; returns its id and its normalised address.
pub async fn add_queue(db: &Db, q: NewQueue<'_>, now: i64) -> Result<(i64, String), ServiceError> {
    let name = q.name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.".contains(c))
    {
        return Err(ServiceError::Invalid(
            "A queue name is one word: letters, digits, - _ or .".into(),
        ));
    }
    let addr = email(q.address, "The address")?;
    let comment = q
        .comment_address
        .filter(|c| !c.trim().is_empty())
        .map(|c| email(c, "The comment address"))
        .transpose()?;
    let mut tx = db.begin_write().await?;
    let taken = queues::list(&mut tx).await?.into_iter().any(|q| {
        q.name == name
            || q.correspond_address == addr
            || q.comment_address.as_deref() == Some(&addr)
            || comment.as_deref().is_some_and(|c| {
                c == q.correspond_address || q.comment_address.as_deref() == Some(c)
            })
    });
    if taken {
        return Err(ServiceError::Invalid(
            "That name or address is already used by a queue.".into(),
        ));
    }
    let tag = q.tag.map(str::trim).filter(|t| !t.is_empty());
    let id = queues::add(&mut tx, name, &addr, comment.as_deref(), tag, now).await?;
    tx.commit().await?;
    Ok((id, addr))
}

/// A staff account as an admin describes it.
pub struct StaffUser<'a> {
    pub email: &'a str,
    /// `staff` or `admin`
    pub role: &'a str,
    /// `None` or empty: the password is left as it is.
    pub password: Option<&'a str>,
    /// Queue names this user works, added to those they already work.
    pub queues: &'a [String],
}

/// Adds or updates a staff user; returns their normalised address.
pub async fn save_staff(db: &Db, u: StaffUser<'_>, now: i64) -> Result<String, ServiceError> {
    let addr = email(u.email, "The email")?;
    if !matches!(u.role, "staff" | "admin") {
        return Err(ServiceError::Invalid("The role is staff or admin.".into()));
    }
    let hash = match u.password.filter(|p| !p.is_empty()) {
        Some(p) => Some(super::auth::hash_password(p)?),
        None => None,
    };
    let mut tx = db.begin_write().await?;
    let all = queues::list(&mut tx).await?;
    let was = match crate::store::requestor::person(&mut tx, &addr).await? {
        Some((id, _)) => users::role(&mut tx, id).await?,
        None => None,
    };
    let id = users::upsert_staff(&mut tx, &addr, u.role, hash.as_deref(), now).await?;
    let by_admin = ("admin", None);
    role_history::note(
        &mut tx,
        id,
        (None, was.as_deref(), Some(u.role)),
        by_admin,
        now,
    )
    .await?;
    let had = users::memberships(&mut tx, id).await?;
    for name in u.queues {
        let q = all
            .iter()
            .find(|q| &q.name == name)
            .ok_or_else(|| ServiceError::Invalid(format!("There is no queue {name:?}.")))?;
        application_area(q.app_id, name)?;
        users::add_to_queue(&mut tx, q.id, id).await?;
        if !had.iter().any(|(qid, _)| *qid == q.id) {
            let joined = (Some(q.id), None, Some("engineer"));
            role_history::note(&mut tx, id, joined, by_admin, now).await?;
        }
    }
    tx.commit().await?;
    Ok(addr)
}

/// `none` (or nothing) clears a limit; otherwise a whole number from 1.
pub fn parse_wip_limit(raw: Option<&str>) -> Result<Option<i64>, ServiceError> {
    match raw.map(str::trim) {
        None | Some("") | Some("none") => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1)
            .map(Some)
            .ok_or_else(|| {
                ServiceError::Invalid(format!(
                    "A WIP limit is a whole number from 1, or none; not {v:?}."
                ))
            }),
    }
}

async fn queue_id(conn: &mut sqlx::AnyConnection, name: &str) -> Result<i64, ServiceError> {
    queues::list(conn)
        .await?
        .into_iter()
        .find(|q| q.name == name)
        .map(|q| q.id)
        .ok_or_else(|| ServiceError::Invalid(format!("There is no queue {name:?}.")))
}

/// The default WIP limit of a queue's engineers.
pub async fn set_queue_wip_limit(
    db: &Db,
    queue: &str,
    limit: Option<i64>,
) -> Result<(), ServiceError> {
    let mut tx = db.begin_write().await?;
    let id = queue_id(&mut tx, queue).await?;
    triage::set_queue_wip_limit(&mut tx, id, limit).await?;
    tx.commit().await?;
    Ok(())
}

/// One person's own WIP limit, over their queues' defaults.
pub async fn set_user_wip_limit(
    db: &Db,
    raw_email: &str,
    limit: Option<i64>,
) -> Result<String, ServiceError> {
    let addr = email(raw_email, "The email")?;
    let mut tx = db.begin_write().await?;
    if !triage::set_user_wip_limit(&mut tx, &addr, limit).await? {
        return Err(ServiceError::Invalid(format!(
            "There is no staff user {addr}."
        )));
    }
    tx.commit().await?;
    Ok(addr)
}

/// The zone a person reads times in; `default` (or empty) goes back to the
/// instance's. Returns the address and the zone's canonical name.
pub async fn set_user_time_zone(
    db: &Db,
    raw_email: &str,
    zone: &str,
) -> Result<(String, Option<String>), ServiceError> {
    let addr = email(raw_email, "The email")?;
    let zone = match zone.trim() {
        "" | "default" => None,
        z => Some(
            z.parse::<chrono_tz::Tz>()
                .map_err(|_| {
                    ServiceError::Invalid(format!(
                        "{z:?} is not a time zone; use an IANA name such as Europe/Berlin"
                    ))
                })?
                .name()
                .to_string(),
        ),
    };
    let mut tx = db.begin_write().await?;
    if !crate::store::users::set_time_zone(&mut tx, &addr, zone.as_deref()).await? {
        return Err(ServiceError::Invalid(format!("There is no user {addr}.")));
    }
    tx.commit().await?;
    Ok((addr, zone))
}

/// Adds a staff user to a queue as `triager` or `engineer` (default), or
/// changes their role; `role` `None` with `remove` takes them off.
pub async fn set_member(
    db: &Db,
    queue: &str,
    raw_email: &str,
    role: Option<&str>,
    remove: bool,
) -> Result<String, ServiceError> {
    let addr = email(raw_email, "The email")?;
    let mut tx = db.begin_write().await?;
    let qid = queue_id(&mut tx, queue).await?;
    let owner = queues::list(&mut tx)
        .await?
        .into_iter()
        .find(|q| q.id == qid)
        .and_then(|q| q.app_id);
    application_area(owner, queue)?;
    let Some(who) = triage::standing(&mut tx, &addr, qid).await? else {
        return Err(ServiceError::Invalid(format!(
            "There is no staff user {addr}: add them with docket user add first."
        )));
    };
    let new = if remove {
        if !triage::remove_member(&mut tx, qid, who.user_id).await? {
            return Err(ServiceError::Invalid(format!(
                "{addr} is not a member of {queue}."
            )));
        }
        None
    } else {
        let role = role.unwrap_or("engineer");
        if !matches!(role, "triager" | "engineer") {
            return Err(ServiceError::Invalid(
                "The role on a queue is triager or engineer.".into(),
            ));
        }
        triage::set_member(&mut tx, qid, who.user_id, role).await?;
        Some(role)
    };
    let change = (Some(qid), who.role.as_deref(), new);
    role_history::note(
        &mut tx,
        who.user_id,
        change,
        ("admin", None),
        crate::store::now_ms(),
    )
    .await?;
    tx.commit().await?;
    Ok(addr)
}

/// The changes a queue mails its requestors about: a comma list of
/// `service::notify::EVENTS` (empty: none).
pub async fn set_queue_notify(
    db: &Db,
    queue: &str,
    list: &str,
) -> Result<Vec<String>, ServiceError> {
    let mut events: Vec<String> = Vec::new();
    for e in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if !super::notify::EVENTS.contains(&e) {
            return Err(ServiceError::Invalid(format!(
                "unknown event {e:?}; one of {}",
                super::notify::EVENTS.join(", ")
            )));
        }
        if !events.iter().any(|x| x == e) {
            events.push(e.to_string());
        }
    }
    let mut tx = db.begin_write().await?;
    let id = queue_id(&mut tx, queue).await?;
    queues::set_notify(&mut tx, id, &events.join(",")).await?;
    tx.commit().await?;
    Ok(events)
}

/// The days after resolving within which a requestor's reply reopens.
pub async fn set_queue_reopen_days(db: &Db, queue: &str, days: i64) -> Result<(), ServiceError> {
    if days < 0 {
        return Err(ServiceError::Invalid(
            "The reopen window is 0 days or more.".into(),
        ));
    }
    let mut tx = db.begin_write().await?;
    let id = queue_id(&mut tx, queue).await?;
    queues::set_reopen_days(&mut tx, id, days).await?;
    tx.commit().await?;
    Ok(())
}

/// Makes a queue public (its tickets readable by anyone with a status-page
/// link or an account, never its comments) or private again.
pub async fn set_queue_public(db: &Db, queue: &str, public: bool) -> Result<(), ServiceError> {
    let mut tx = db.begin_write().await?;
    let id = queue_id(&mut tx, queue).await?;
    queues::set_public(&mut tx, id, public).await?;
    tx.commit().await?;
    Ok(())
}

/// An application's queue has no people among its members: they reach its
/// tasks as assignees, and its hidden tasks reach nobody.
fn application_area(app: Option<i64>, queue: &str) -> Result<(), ServiceError> {
    match app {
        Some(_) => Err(ServiceError::refused(
            "application_queue",
            format!(
                "queue {queue} belongs to an application: people reach its tasks as their assignees"
            ),
        )),
        None => Ok(()),
    }
}
