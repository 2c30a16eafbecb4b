//! The requestor's personal link to their status page: `/my/<token>`, no
//! account needed. The token names the person and when it expires, signed
//! with the instance's secret (HMAC-SHA256, 128 bits kept), so it cannot
//! be forged, altered or stretched.

use hmac::Mac;

use super::reply_token::mac;

/// Hex digits of the signature kept in the token (128 bits).
const SIG_HEX: usize = 32;
/// How long a link lasts.
pub const VALID_MS: i64 = 30 * 24 * 3600 * 1000;

fn what(user: i64, expires_s: i64) -> String {
    format!("my.{user}.{expires_s}")
}

/// A token for `user`, valid until `expires_ms`.
pub fn issue(secret: &str, user: i64, expires_ms: i64) -> String {
    let expires_s = expires_ms / 1000;
    let tag = mac(secret, &what(user, expires_s)).finalize().into_bytes();
    format!("{user}-{expires_s}-{}", hex::encode(&tag[..SIG_HEX / 2]))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    Valid(i64),
    /// Genuine but old: the person may ask for a fresh one.
    Expired,
    Invalid,
}

pub fn check(secret: &str, token: &str, now_ms: i64) -> Checked {
    let mut parts = token.splitn(3, '-');
    let (Some(user), Some(expires), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
        return Checked::Invalid;
    };
    let (Ok(user), Ok(expires_s)) = (user.parse::<i64>(), expires.parse::<i64>()) else {
        return Checked::Invalid;
    };
    let Ok(bytes) = hex::decode(sig) else {
        return Checked::Invalid;
    };
    if sig.len() != SIG_HEX
        || mac(secret, &what(user, expires_s))
            .verify_truncated_left(&bytes)
            .is_err()
    {
        return Checked::Invalid;
    }
    if expires_s.saturating_mul(1000) < now_ms {
        Checked::Expired
    } else {
        Checked::Valid(user)
    }
}

/// The anti-forgery value of the page's forms, tied to its token.
pub fn form_token(secret: &str, token: &str) -> String {
    let tag = mac(secret, &format!("form.{token}"))
        .finalize()
        .into_bytes();
    hex::encode(&tag[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "a secret of the instance";

    #[test]
    fn a_link_names_its_person_until_it_expires() {
        let t = issue(KEY, 7, 10_000_000);
        assert_eq!(check(KEY, &t, 5_000_000), Checked::Valid(7));
        assert_eq!(check(KEY, &t, 20_000_000), Checked::Expired);
    }

    #[test]
    fn a_changed_person_expiry_signature_or_key_is_refused() {
        let t = issue(KEY, 7, 10_000_000);
        let parts: Vec<&str> = t.split('-').collect();
        let other_person = format!("8-{}-{}", parts[1], parts[2]);
        let later = format!("7-{}-{}", 99_999_999, parts[2]);
        let mut bad_sig = t.clone();
        bad_sig.replace_range(t.len() - 1.., if t.ends_with('0') { "1" } else { "0" });
        for forged in [other_person, later, bad_sig, "7-1-zz".into(), "".into()] {
            assert_eq!(check(KEY, &forged, 0), Checked::Invalid, "{forged}");
        }
        assert_eq!(check("another key", &t, 0), Checked::Invalid);
        assert_ne!(form_token(KEY, &t), form_token(KEY, "other"));
    }
}
