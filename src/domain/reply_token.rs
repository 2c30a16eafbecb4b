//! Per-ticket reply addresses, `queue+t42-1a2b3c4d5e@example.com`: one more
//! threading signal that survives other systems stripping the subject tag and
//! the References header. The signature stops people guessing other tickets'
//! addresses.

use sha2::{Digest, Sha256};

fn signature(secret: &str, ticket: i64) -> String {
    let digest = Sha256::digest(format!("{secret}:{ticket}").as_bytes());
    hex::encode(&digest[..5])
}

/// `local+t{ticket}-{sig}@domain` for the queue address `local@domain`.
pub fn address(queue_address: &str, secret: &str, ticket: i64) -> String {
    match queue_address.rsplit_once('@') {
        Some((local, domain)) => {
            format!("{local}+t{ticket}-{}@{domain}", signature(secret, ticket))
        }
        None => queue_address.to_string(),
    }
}

/// The ticket a `+detail` names, when its signature is right.
pub fn ticket_of(detail: &str, secret: &str) -> Option<i64> {
    let rest = detail.strip_prefix('t')?;
    let (id, sig) = rest.split_once('-')?;
    let id: i64 = id.parse().ok()?;
    (sig.eq_ignore_ascii_case(&signature(secret, id))).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_forgery() {
        let a = address("help@example.com", "s3cret", 42);
        assert!(
            a.starts_with("help+t42-") && a.ends_with("@example.com"),
            "{a}"
        );
        let detail = a.split_once('+').unwrap().1.split_once('@').unwrap().0;
        assert_eq!(ticket_of(detail, "s3cret"), Some(42));
        assert_eq!(ticket_of(detail, "other"), None);
        assert_eq!(
            ticket_of(&detail.replace("t42", "t43"), "s3cret"),
            None,
            "no guessing"
        );
        assert_eq!(ticket_of("comment", "s3cret"), None);
    }
}
