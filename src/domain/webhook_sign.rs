//! Standard Webhooks signatures: `v1,<base64 HMAC-SHA256>` of
//! `"{id}.{timestamp}.{body}"`, keyed with the secret's bytes (a secret is
//! `whsec_` and base64, as the specification writes it).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A new endpoint secret: `whsec_` and 24 random bytes in base64.
pub fn new_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    format!("whsec_{}", STANDARD.encode(bytes))
}

fn key(secret: &str) -> Vec<u8> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD
        .decode(b64)
        .unwrap_or_else(|_| secret.as_bytes().to_vec())
}

/// The `webhook-signature` header value for one delivery attempt.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes a key of any length: new_from_slice cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(&key(secret)) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// True when one of the space-separated signatures in `header` matches.
pub fn verify(secret: &str, id: &str, timestamp: i64, body: &str, header: &str) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key(secret)) else {
        return false;
    };
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    header.split(' ').any(|sig| {
        sig.strip_prefix("v1,")
            .and_then(|b| STANDARD.decode(b).ok())
            .is_some_and(|b| mac.clone().verify_slice(&b).is_ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the specification's reference libraries.
    #[test]
    fn matches_the_reference_vector() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let ts = 1614265330;
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, ts, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(verify(secret, id, ts, body, &sign(secret, id, ts, body)));
        assert!(!verify(
            secret,
            id,
            ts + 1,
            body,
            &sign(secret, id, ts, body)
        ));
    }
}
