//! Users: staff with passwords, requestors without.

use sqlx::AnyConnection;

use super::Result;

/// Creates the user if new, and fills in a display name when we learn one
/// and had none: one statement, so it is cheap on the ingest path.
const UPSERT: &str = "INSERT INTO users (email, display_name, created_at) VALUES ($1, $2, $3) \
     ON CONFLICT (email) DO UPDATE SET display_name = CASE WHEN users.display_name = '' \
     THEN excluded.display_name ELSE users.display_name END";

/// The id of the user with this (normalised) address, creating a requestor if new.
pub async fn ensure(conn: &mut AnyConnection, email: &str, name: &str, now: i64) -> Result<i64> {
    Ok(
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("{UPSERT} RETURNING id")))
            .bind(email)
            .bind(name)
            .bind(now)
            .fetch_one(conn)
            .await?,
    )
}

/// The sender as ingest needs them, from one statement: created if new, a
/// display name filled in when we learn one.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Person {
    pub id: i64,
    pub bouncing: i16,
    pub role: String,
    /// Acknowledgements sent to this address since the `acks_since` given.
    pub recent_acks: i64,
}

impl Person {
    pub fn is_staff(&self) -> bool {
        self.role != "requestor"
    }
    pub fn is_bouncing(&self) -> bool {
        self.bouncing != 0
    }
}

/// Ingest is statement-bound, so this also counts the acknowledgements
/// recently sent to the address (the rate limit) in the same round trip.
pub async fn ensure_person(
    conn: &mut AnyConnection,
    email: &str,
    name: &str,
    now: i64,
    acks_since: i64,
) -> Result<Person> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{UPSERT} RETURNING id, bouncing, role, (SELECT COUNT(*) FROM outbox WHERE kind = 'ack' \
         AND to_addrs = $1 AND created_at > $4) AS recent_acks"
    )))
    .bind(email)
    .bind(name)
    .bind(now)
    .bind(acks_since)
    .fetch_one(conn)
    .await?)
}

pub async fn mark_bouncing(conn: &mut AnyConnection, email: &str, now: i64) -> Result<()> {
    ensure(&mut *conn, email, "", now).await?;
    sqlx::query("UPDATE users SET bouncing = 1 WHERE email = $1")
        .bind(email)
        .execute(conn)
        .await?;
    Ok(())
}

/// Creates or updates a staff user (role and password hash).
pub async fn upsert_staff(
    conn: &mut AnyConnection,
    email: &str,
    role: &str,
    password_hash: Option<&str>,
    now: i64,
) -> Result<i64> {
    let id = ensure(&mut *conn, email, "", now).await?;
    sqlx::query(
        "UPDATE users SET role = $1, password_hash = COALESCE($2, password_hash) WHERE id = $3",
    )
    .bind(role)
    .bind(password_hash)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn add_to_queue(conn: &mut AnyConnection, queue_id: i64, user_id: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO queue_members (queue_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(queue_id)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Staff of a queue (or admins), named by address or by id.
enum Staff<'a> {
    Email(&'a str),
    Id(i64),
}

/// `(id, email)` of the user when they are staff of `queue_id` or admin.
async fn staff_of_queue(
    conn: &mut AnyConnection,
    who: Staff<'_>,
    queue_id: i64,
) -> Result<Option<(i64, String)>> {
    let (email, id) = match who {
        Staff::Email(e) => (Some(e), None),
        Staff::Id(i) => (None, Some(i)),
    };
    Ok(sqlx::query_as(
        // An application's queue is its own: no admin works it.
        "SELECT u.id, u.email FROM users u WHERE (u.email = $1 OR u.id = $2) \
         AND ((u.role = 'admin' \
         AND EXISTS (SELECT 1 FROM queues q WHERE q.id = $3 AND q.app_id IS NULL)) \
         OR (u.role IN ('staff', 'admin') \
         AND EXISTS (SELECT 1 FROM queue_members m WHERE m.user_id = u.id AND m.queue_id = $3)))",
    )
    .bind(email)
    .bind(id)
    .bind(queue_id)
    .fetch_optional(conn)
    .await?)
}

/// Those of `people` (addresses) who are staff of `queue_id`.
pub async fn only_staff_of(
    conn: &mut AnyConnection,
    people: Vec<String>,
    queue_id: i64,
) -> Result<Vec<String>> {
    let mut inside = Vec::with_capacity(people.len());
    for who in people {
        if staff_of_queue(&mut *conn, Staff::Email(&who), queue_id)
            .await?
            .is_some()
        {
            inside.push(who);
        }
    }
    Ok(inside)
}

/// The id of the user with this address when they are staff of `queue_id`
/// (or admin).
pub async fn staff_on_queue(
    conn: &mut AnyConnection,
    email: &str,
    queue_id: i64,
) -> Result<Option<i64>> {
    Ok(staff_of_queue(conn, Staff::Email(email), queue_id)
        .await?
        .map(|(id, _)| id))
}

/// The address of user `id` when they are staff of `queue_id` (or admin).
pub async fn staff_member(
    conn: &mut AnyConnection,
    id: i64,
    queue_id: i64,
) -> Result<Option<String>> {
    Ok(staff_of_queue(conn, Staff::Id(id), queue_id)
        .await?
        .map(|(_, email)| email))
}

#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
}

pub async fn list_staff(conn: &mut AnyConnection) -> Result<Vec<UserRow>> {
    Ok(sqlx::query_as(
        "SELECT id, email, display_name, role, password_hash FROM users WHERE role <> 'requestor' ORDER BY email",
    )
    .fetch_all(conn)
    .await?)
}

/// Every address marked as bouncing (a short list: mail to them is held).
pub async fn bouncing(conn: &mut AnyConnection) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT email FROM users WHERE bouncing = 1")
            .fetch_all(conn)
            .await?,
    )
}

pub async fn clear_bouncing(conn: &mut AnyConnection, email: &str) -> Result<()> {
    sqlx::query("UPDATE users SET bouncing = 0 WHERE email = $1")
        .bind(email)
        .execute(conn)
        .await?;
    Ok(())
}

/// Staff with the names of their queues, for the admin page.
pub async fn staff_with_queues(conn: &mut AnyConnection) -> Result<Vec<(String, String, String)>> {
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT u.email, u.role, q.name FROM users u LEFT JOIN queue_members m ON m.user_id = u.id \
         LEFT JOIN queues q ON q.id = m.queue_id WHERE u.role <> 'requestor' ORDER BY u.email, q.name",
    )
    .fetch_all(conn)
    .await?;
    let mut out: Vec<(String, String, String)> = Vec::new();
    for (email, role, queue) in rows {
        match out.last_mut() {
            Some(last) if last.0 == email => {
                if let Some(q) = queue {
                    if !last.2.is_empty() {
                        last.2.push_str(", ");
                    }
                    last.2.push_str(&q);
                }
            }
            _ => out.push((email, role, queue.unwrap_or_default())),
        }
    }
    Ok(out)
}

/// Sets the zone a person reads times in; false when there is no such user.
pub async fn set_time_zone(
    conn: &mut AnyConnection,
    email: &str,
    zone: Option<&str>,
) -> Result<bool> {
    let done = sqlx::query("UPDATE users SET time_zone = $1 WHERE email = $2")
        .bind(zone)
        .bind(email)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The id of the staff member (or admin) with this address.
pub async fn find_staff(conn: &mut AnyConnection, email: &str) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM users WHERE email = $1 AND role IN ('staff', 'admin')")
            .bind(email)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn is_admin(conn: &mut AnyConnection, id: i64) -> Result<bool> {
    Ok(role(conn, id).await?.as_deref() == Some("admin"))
}

/// The name the directory gives, which wins over one mail suggested.
pub async fn set_display_name(conn: &mut AnyConnection, id: i64, name: &str) -> Result<()> {
    sqlx::query("UPDATE users SET display_name = $1 WHERE id = $2")
        .bind(name)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The account's role: `requestor`, `staff` or `admin`.
pub async fn role(conn: &mut AnyConnection, id: i64) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// A user's address and display name.
pub async fn email_of(conn: &mut AnyConnection, id: i64) -> Result<Option<(String, String)>> {
    Ok(
        sqlx::query_as("SELECT email, display_name FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Turns a person's notices of new tickets on or off; false when there is
/// no such user.
pub async fn set_notify_new(conn: &mut AnyConnection, email: &str, on: bool) -> Result<bool> {
    let done = sqlx::query("UPDATE users SET notify_new = $1 WHERE email = $2")
        .bind(i16::from(on))
        .bind(email)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Marks a staff account as coming from the directory entry `dn`.
pub async fn set_directory_dn(conn: &mut AnyConnection, id: i64, dn: &str) -> Result<()> {
    sqlx::query("UPDATE users SET directory_dn = $1 WHERE id = $2")
        .bind(dn)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Staff accounts that came from the directory: `(id, email)`.
pub async fn directory_staff(conn: &mut AnyConnection) -> Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as(
        "SELECT id, email FROM users WHERE directory_dn IS NOT NULL \
         AND role IN ('staff', 'admin') ORDER BY email",
    )
    .fetch_all(conn)
    .await?)
}

/// Ends a staff account's powers: it becomes a requestor again, leaves its
/// queues and its sessions end.
pub async fn disable_staff(conn: &mut AnyConnection, id: i64) -> Result<()> {
    sqlx::query("UPDATE users SET role = 'requestor' WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM queue_members WHERE user_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The queue ids a user is a member of, with their role.
pub async fn memberships(conn: &mut AnyConnection, id: i64) -> Result<Vec<(i64, String)>> {
    Ok(
        sqlx::query_as("SELECT queue_id, role FROM queue_members WHERE user_id = $1")
            .bind(id)
            .fetch_all(conn)
            .await?,
    )
}
