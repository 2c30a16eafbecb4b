//! Who an API call acts as: applications and their private queues, tokens
//! (shown once, stored hashed), and the queues a token may read or write.
//!
//! An application acts through a user row of its own, a triager of its
//! queues, so the flow's rules and history treat it like a person. Its
//! queues are out of people's sight; its tasks reach people as assignees.

use sha2::{Digest, Sha256};

use super::ServiceError;
use crate::store::{Db, api, users, views};

/// The address an application's user row carries (never mailed).
pub fn app_address(name: &str) -> String {
    format!("app-{name}@apps.docket.invalid")
}

/// How people read an actor: an application by its name.
pub fn shown_actor(email: &str) -> String {
    match email
        .strip_suffix("@apps.docket.invalid")
        .and_then(|l| l.strip_prefix("app-"))
    {
        Some(name) => format!("{name} (application)"),
        None => email.to_string(),
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates an application with its private queue; returns `(app id, queue id)`.
pub async fn add_app(
    db: &Db,
    name: &str,
    queue: &str,
    address: Option<&str>,
    now: i64,
) -> Result<(i64, i64), ServiceError> {
    let name = name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
    {
        return Err(ServiceError::Invalid(
            "An application name is one word: letters, digits, - or _.".into(),
        ));
    }
    {
        let mut conn = db.conn().await?;
        if api::app_by_name(&mut conn, name).await?.is_some() {
            return Err(ServiceError::Invalid(format!(
                "an application named {name:?} exists"
            )));
        }
    }
    let queue_id = private_queue(db, queue, address, now).await?;
    let mut tx = db.begin_write().await?;
    users::ensure(&mut tx, &app_address(name), name, now).await?;
    let user = users::upsert_staff(&mut tx, &app_address(name), "staff", None, now).await?;
    let app = api::add_app(&mut tx, name, user, now).await?;
    api::set_queue_app(&mut tx, queue_id, app).await?;
    users::add_to_queue(&mut tx, queue_id, user).await?;
    tx.commit().await?;
    Ok((app, queue_id))
}

/// Gives an existing application one more private queue; returns its id.
pub async fn add_app_queue(
    db: &Db,
    name: &str,
    queue: &str,
    address: Option<&str>,
    now: i64,
) -> Result<i64, ServiceError> {
    let app = {
        let mut conn = db.conn().await?;
        api::app_by_name(&mut conn, name.trim())
            .await?
            .ok_or_else(|| ServiceError::Invalid(format!("no application named {name:?}")))?
    };
    let queue_id = private_queue(db, queue, address, now).await?;
    let mut tx = db.begin_write().await?;
    api::set_queue_app(&mut tx, queue_id, app.id).await?;
    users::add_to_queue(&mut tx, queue_id, app.user_id).await?;
    tx.commit().await?;
    Ok(queue_id)
}

/// A new queue for an application (address QUEUE@apps.docket.invalid
/// unless given: task mail is answered through the personal address).
async fn private_queue(
    db: &Db,
    queue: &str,
    address: Option<&str>,
    now: i64,
) -> Result<i64, ServiceError> {
    let default_address = format!("{queue}@apps.docket.invalid");
    let new = super::admin::NewQueue {
        name: queue,
        address: address.unwrap_or(&default_address),
        comment_address: None,
        tag: None,
    };
    Ok(super::admin::add_queue(db, new, now).await?.0)
}

/// Whose a new token is.
pub enum Holder<'a> {
    App(&'a str),
    User(&'a str),
}

/// A new token: its id and the secret, shown this once.
pub async fn add_token(
    db: &Db,
    name: &str,
    holder: Holder<'_>,
    queues: &[String],
    read_only: bool,
    now: i64,
) -> Result<(i64, String), ServiceError> {
    let mut tx = db.begin_write().await?;
    let (app_id, user_id) = match holder {
        Holder::App(app) => {
            let a = api::app_by_name(&mut tx, app)
                .await?
                .ok_or_else(|| ServiceError::Invalid(format!("no application {app:?}")))?;
            (Some(a.id), None)
        }
        Holder::User(email) => {
            let u = users::find_staff(&mut tx, email)
                .await?
                .ok_or_else(|| ServiceError::Invalid(format!("no staff account {email:?}")))?;
            (None, Some(u))
        }
    };
    let owned = match app_id {
        Some(app) => Some(api::app_queues(&mut tx, app).await?),
        None => None,
    };
    let mut ids = Vec::new();
    for q in queues {
        let id = views::queue_by_name(&mut tx, q)
            .await?
            .ok_or_else(|| ServiceError::Invalid(format!("no queue {q:?}")))?;
        if owned.as_ref().is_some_and(|o| !o.contains(&id)) {
            return Err(ServiceError::Invalid(format!(
                "queue {q:?} is not the application's"
            )));
        }
        ids.push(id.to_string());
    }
    let bytes: [u8; 32] = rand::random();
    let token = format!("dk_{}", hex::encode(bytes));
    let id = api::add_token(
        &mut tx,
        api::NewToken {
            name,
            app_id,
            user_id,
            queues: &ids.join(","),
            read_only,
            hash: &token_hash(&token),
            now,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((id, token))
}

pub async fn revoke_token(db: &Db, id: i64, now: i64) -> Result<bool, ServiceError> {
    let mut tx = db.begin_write().await?;
    let done = api::revoke_token(&mut tx, id, now).await?;
    tx.commit().await?;
    Ok(done)
}

/// What a request with a valid token may do.
#[derive(Debug, Clone)]
pub struct Access {
    pub token_id: i64,
    /// The address the use cases act as.
    pub actor: String,
    pub user_id: i64,
    /// Set for an application's token.
    pub app_id: Option<i64>,
    pub read_only: bool,
    /// Queues this token reads and writes.
    pub queues: Vec<i64>,
    /// Narrowed to some queues at `token add --queue`.
    pub narrowed: bool,
}

impl Access {
    pub fn may_use(&self, queue: i64) -> bool {
        self.queues.contains(&queue)
    }

    /// A write the token is allowed: not read-only, a queue of its own.
    pub fn check_write(&self, queue: i64) -> Result<(), ServiceError> {
        if self.read_only {
            return Err(ServiceError::refused(
                "read_only",
                "this token is read-only",
            ));
        }
        if !self.may_use(queue) {
            return Err(ServiceError::refused(
                "forbidden_queue",
                "this token may not write to that queue",
            ));
        }
        Ok(())
    }
}

/// The access a bearer token grants, or `None` (unknown or revoked).
pub async fn authenticate(db: &Db, token: &str, now: i64) -> Result<Option<Access>, ServiceError> {
    let mut conn = db.conn().await?;
    let Some(t) = api::token_by_hash(&mut conn, &token_hash(token)).await? else {
        return Ok(None);
    };
    let (Some(user_id), Some(actor)) = (t.user_id, t.user.clone()) else {
        return Ok(None);
    };
    let mut queues = match t.app_id {
        Some(app) => api::app_queues(&mut conn, app).await?,
        None => {
            let admin = users::is_admin(&mut conn, user_id).await?;
            let owned = api::owned_queues(&mut conn).await?;
            views::visible_queue_ids(&mut conn, user_id, admin)
                .await?
                .into_iter()
                .filter(|q| !owned.contains(q))
                .collect()
        }
    };
    let narrowed: Vec<i64> = t.queues.split(',').filter_map(|q| q.parse().ok()).collect();
    if !narrowed.is_empty() {
        queues.retain(|q| narrowed.contains(q));
    }
    api::touch_token(&mut conn, t.id, now).await?;
    Ok(Some(Access {
        token_id: t.id,
        actor,
        user_id,
        app_id: t.app_id,
        read_only: t.read_only != 0,
        queues,
        narrowed: !narrowed.is_empty(),
    }))
}

/// The first queue an application owns.
pub async fn owned_queue(db: &Db, app: i64) -> Result<i64, ServiceError> {
    let mut conn = db.conn().await?;
    api::app_queues(&mut conn, app)
        .await?
        .first()
        .copied()
        .ok_or_else(|| ServiceError::Invalid("the application owns no queue".into()))
}
