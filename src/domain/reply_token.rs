//! Signed reply addresses, `+detail` forms of a queue address:
//! - per ticket, `help+t42-<sig>@example.com`: one more threading signal that
//!   survives other systems stripping the subject tag and References;
//! - per staff member, `help+u7-<sig>@…` (correspondence) and
//!   `help+c7-<sig>@…` (comments): mail arriving there is that staff member
//!   speaking, whatever its `From:` claims.
//!
//! The signature is HMAC-SHA256 over the detail, keyed with the instance's
//! secret, truncated to 48 bits and compared in constant time, so nobody can
//! guess another ticket's or another person's address.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Hex digits of the signature kept in the address (48 bits).
const SIG_HEX: usize = 12;

/// Whose voice a personal reply address carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personal {
    /// `+u<ID>`: correspondence, which reaches the requestors.
    Correspond,
    /// `+c<ID>`: an internal comment.
    Comment,
}

impl Personal {
    fn letter(self) -> char {
        match self {
            Personal::Correspond => 'u',
            Personal::Comment => 'c',
        }
    }
}

pub(crate) fn mac(secret: &str, what: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length; new_from_slice cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(what.as_bytes());
    mac
}

fn signature(secret: &str, what: &str) -> String {
    let tag = mac(secret, what).finalize().into_bytes();
    hex::encode(&tag[..SIG_HEX / 2])
}

/// Constant-time check of a hex signature against `what`.
fn verify(secret: &str, what: &str, sig: &str) -> bool {
    if sig.len() != SIG_HEX {
        return false;
    }
    let Ok(bytes) = hex::decode(sig.to_ascii_lowercase()) else {
        return false;
    };
    mac(secret, what).verify_truncated_left(&bytes).is_ok()
}

fn with_detail(queue_address: &str, detail: &str) -> String {
    crate::domain::address::with_detail(queue_address, detail)
}

/// `prefix<id>-<sig>` → the id, when the signature is right.
fn signed_id(detail: &str, prefix: char, secret: &str) -> Option<i64> {
    let rest = detail.strip_prefix(prefix)?;
    let (id, sig) = rest.split_once('-')?;
    let id: i64 = id.parse().ok().filter(|id| *id > 0)?;
    verify(secret, &format!("{prefix}{id}"), sig).then_some(id)
}

/// `local+t{ticket}-{sig}@domain` for the queue address `local@domain`.
pub fn address(queue_address: &str, secret: &str, ticket: i64) -> String {
    let what = format!("t{ticket}");
    with_detail(
        queue_address,
        &format!("{what}-{}", signature(secret, &what)),
    )
}

/// The ticket a `+detail` names, when its signature is right.
pub fn ticket_of(detail: &str, secret: &str) -> Option<i64> {
    signed_id(detail, 't', secret)
}

/// `local+u{user}-{sig}@domain` or `local+c{user}-{sig}@domain`.
pub fn personal_address(queue_address: &str, secret: &str, kind: Personal, user: i64) -> String {
    let what = format!("{}{user}", kind.letter());
    with_detail(
        queue_address,
        &format!("{what}-{}", signature(secret, &what)),
    )
}

/// The staff member and the voice a `+detail` names, when its signature is right.
pub fn personal_of(detail: &str, secret: &str) -> Option<(Personal, i64)> {
    [Personal::Correspond, Personal::Comment]
        .into_iter()
        .find_map(|kind| signed_id(detail, kind.letter(), secret).map(|id| (kind, id)))
}

/// A fresh secret for an instance that has none configured.
pub fn generate_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(addr: &str) -> &str {
        addr.split_once('+').unwrap().1.split_once('@').unwrap().0
    }

    #[test]
    fn ticket_round_trip_and_forgery() {
        let a = address("help@example.com", "s3cret", 42);
        assert!(
            a.starts_with("help+t42-") && a.ends_with("@example.com"),
            "{a}"
        );
        let d = detail(&a);
        assert_eq!(ticket_of(d, "s3cret"), Some(42));
        assert_eq!(
            ticket_of(&d.to_uppercase().replacen('T', "t", 1), "s3cret"),
            Some(42)
        );
        assert_eq!(ticket_of(d, "other"), None);
        assert_eq!(
            ticket_of(&d.replace("t42", "t43"), "s3cret"),
            None,
            "no guessing"
        );
        assert_eq!(ticket_of("comment", "s3cret"), None);
        assert_eq!(ticket_of("t42-", "s3cret"), None);
        assert_eq!(ticket_of(&d[..d.len() - 1], "s3cret"), None, "short");
    }

    #[test]
    fn personal_round_trip_and_forgery() {
        let u = personal_address("help@example.com", "k", Personal::Correspond, 7);
        let c = personal_address("help@example.com", "k", Personal::Comment, 7);
        assert!(
            u.starts_with("help+u7-") && c.starts_with("help+c7-"),
            "{u} {c}"
        );
        assert_eq!(
            personal_of(detail(&u), "k"),
            Some((Personal::Correspond, 7))
        );
        assert_eq!(personal_of(detail(&c), "k"), Some((Personal::Comment, 7)));
        // The voice is signed too: a comment address cannot be turned into
        // a correspondence one, nor one user's into another's.
        assert_eq!(personal_of(&detail(&c).replacen('c', "u", 1), "k"), None);
        assert_eq!(personal_of(&detail(&u).replacen("u7", "u8", 1), "k"), None);
        assert_eq!(personal_of(detail(&u), "other"), None);
        assert_eq!(
            personal_of(detail(&address("help@example.com", "k", 7)), "k"),
            None
        );
    }

    #[test]
    fn secrets_differ() {
        assert_ne!(generate_secret(), generate_secret());
        assert_eq!(generate_secret().len(), 64);
    }
}
