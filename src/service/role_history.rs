//! The history of people's powers: every change of an account's role or of
//! a queue role, with who or what made it (`directory`, `admin`) and why,
//! for `docket user history`.

use sqlx::AnyConnection;

use super::ServiceError;
use crate::store::role_changes::{self, Change, NewChange};
use crate::store::{Db, requestor};

/// A change: the queue (`None` for the account's own role), from, to.
pub type Move<'a> = (Option<i64>, Option<&'a str>, Option<&'a str>);

/// Records a change when there is one.
pub async fn note(
    conn: &mut AnyConnection,
    user_id: i64,
    (queue_id, old_role, new_role): Move<'_>,
    (source, note): (&str, Option<&str>),
    now: i64,
) -> Result<(), ServiceError> {
    if old_role == new_role {
        return Ok(());
    }
    let change = NewChange {
        user_id,
        queue_id,
        old_role,
        new_role,
        source,
        note,
        now,
    };
    role_changes::record(conn, change).await?;
    Ok(())
}

/// How a person's powers changed over time, oldest first.
pub async fn of(db: &Db, email: &str) -> Result<Vec<Change>, ServiceError> {
    let email = crate::domain::address::normalise(email)
        .ok_or_else(|| ServiceError::Invalid(format!("{email:?} is not an e-mail address")))?;
    let mut conn = db.conn().await?;
    let (id, _) = requestor::person(&mut conn, &email)
        .await?
        .ok_or_else(|| ServiceError::Invalid(format!("nobody is known as {email}")))?;
    Ok(role_changes::of_user(&mut conn, id).await?)
}
