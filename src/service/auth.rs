//! Passwords: argon2id hashes in PHC string form.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use super::ServiceError;

pub fn hash_password(password: &str) -> Result<String, ServiceError> {
    if password.chars().count() < 8 {
        return Err(ServiceError::Invalid(
            "a password needs at least 8 characters".into(),
        ));
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Invalid(format!("hashing the password: {e}")))
}

/// True when `password` matches the stored hash; a malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// Like `verify_password`, but with no hash (an unknown address) it checks
/// against a throwaway hash and fails, spending the same time.
pub fn verify_or_dummy(password: &str, hash: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match hash {
        Some(h) => verify_password(password, h),
        None => {
            let dummy = DUMMY.get_or_init(|| {
                let noise: [u8; 16] = rand::random();
                hash_password(&hex::encode(noise)).unwrap_or_default()
            });
            verify_password(password, dummy);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &a));
        assert!(!verify_password("wrong horse!", &a));
        assert!(!verify_password("x", "not a hash"));
        assert!(hash_password("short").is_err());
        assert!(verify_or_dummy("correct horse", Some(&a)));
        assert!(!verify_or_dummy("correct horse", None));
    }
}
