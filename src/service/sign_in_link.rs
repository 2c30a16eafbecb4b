//! Requestors without a directory account prove their address by a mailed
//! one-time link: it works once, within an hour, and opens `/my` (their
//! requests) and `/my/new` (a new one) for thirty days, as the link in
//! every mail to them does. Asking for one tells nobody whether the address
//! is known (the page answers before any of this runs), an address gets at
//! most a few an hour, and an account is made only when a link is used.

use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use super::ServiceError;
use crate::config::Config;
use crate::mail::outbound::compose;
use crate::store::requestor as store;
use crate::store::{Db, outbox, queues, tickets, users};

/// How long a mailed sign-in link works.
pub const VALID_MS: i64 = 3_600_000;
/// Links an address is mailed in an hour at most; more look like abuse.
const PER_HOUR: i64 = 3;
/// Links mailed in an hour to all addresses together: whoever types
/// strangers' addresses into the form cannot make us a mail cannon.
const ALL_PER_HOUR: i64 = 200;

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Mails a one-time sign-in link to `email` when they have asked us for
/// something, or when some queue takes new requests from the web; nothing
/// otherwise, and nothing without `public_url` (there is nowhere to link).
pub async fn send(db: &Db, cfg: &Config, email: &str, now: i64) -> Result<(), ServiceError> {
    let (Some(addr), Some(base)) = (
        crate::domain::address::normalise(email),
        cfg.public_url.as_deref(),
    ) else {
        return Ok(());
    };
    let mut tx = db.begin_write().await?;
    let latest = match store::person(&mut tx, &addr).await? {
        Some((user, _)) => store::latest_ticket(&mut tx, user).await?,
        None => None,
    };
    let Some((from_addr, from_name)) = sender(&mut tx, latest).await? else {
        return Ok(());
    };
    let (mine, all) = store::sign_in_links_since(&mut tx, &addr, now - 3_600_000).await?;
    if mine >= PER_HOUR || all >= ALL_PER_HOUR {
        tracing::info!(all, "sign-in link not sent: too many asked for");
        return Ok(());
    }
    let token = hex::encode(rand::random::<[u8; 24]>());
    store::add_sign_in_link(&mut tx, &hash(&token), &addr, now, now + VALID_MS).await?;
    let body = format!(
        "Hello,\n\nopen this link to see your requests with us and to file a new one:\n\n    \
         {base}/my/signin/{token}\n\nIt works once, within an hour. If you did not ask for it, \
         you can ignore this mail.\n"
    );
    let message_id = compose::new_message_id(latest.unwrap_or(0), &cfg.instance_name);
    outbox::insert(
        &mut tx,
        outbox::NewMail {
            ticket_id: latest,
            kind: "sign_in_link",
            from_addr: &from_addr,
            from_name: &from_name,
            reply_to: None,
            to: std::slice::from_ref(&addr),
            cc: &[],
            subject: "Your sign-in link",
            body: &body,
            html_body: None,
            auto_submitted: true,
            message_id: &message_id,
            in_reply_to: None,
            references: &[],
            now,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Who the link's mail comes from: the queue of their latest request, else
/// the first queue open to requests from the web; `None` when neither.
async fn sender(
    conn: &mut AnyConnection,
    latest: Option<i64>,
) -> Result<Option<(String, String)>, ServiceError> {
    if let Some(ctx) = match latest {
        Some(t) => tickets::context(&mut *conn, t).await?,
        None => None,
    } {
        return Ok(Some((ctx.correspond_address, ctx.queue_name)));
    }
    Ok(queues::list(conn)
        .await?
        .into_iter()
        .find(|q| q.requestors_may_file != 0 && q.app_id.is_none())
        .map(|q| (q.correspond_address, q.name)))
}

/// Uses a link: the person's status-page token (thirty days), or `None`
/// when the link is unknown, used or too old.
pub async fn redeem(
    db: &Db,
    cfg: &Config,
    token: &str,
    now: i64,
) -> Result<Option<String>, ServiceError> {
    let mut tx = db.begin_write().await?;
    let Some(email) = store::use_sign_in_link(&mut tx, &hash(token), now).await? else {
        return Ok(None);
    };
    // The address is proven now: its account is made (a requestor's).
    let user = users::ensure(&mut tx, &email, "", now).await?;
    tx.commit().await?;
    Ok(Some(
        super::filing::link_for_user(db, cfg, user, now).await?,
    ))
}
