//! OAuth2 for the mail accounts: Microsoft 365 and Gmail take no passwords
//! over IMAP or SMTP any more. An access token comes from the configured
//! token endpoint by the refresh-token grant (RFC 6749 §6), is kept in
//! memory until shortly before it expires, and is dropped as soon as a
//! mail server refuses it, so the next sign-in asks for a fresh one.
//! Secrets come from the environment or files, never from the database.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

pub use crate::config::SecretFrom;
use crate::domain::secret::Secret;

/// One account's grant: what to send the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub token_url: String,
    pub client_id: String,
    /// Public clients (some Gmail set-ups) have none.
    pub client_secret: Option<SecretFrom>,
    pub refresh_token: SecretFrom,
    /// Asked for on refresh (Microsoft wants it; Gmail needs none).
    pub scope: Option<String>,
}

impl Grant {
    fn key(&self) -> String {
        format!(
            "{} {} {}",
            self.token_url,
            self.client_id,
            self.refresh_token.describe()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    Secret(String),
    /// The endpoint said no (a revoked or expired refresh token, a wrong
    /// client): a person must act.
    #[error("the token endpoint refused a new token: {0}")]
    Refused(String),
    /// The endpoint could not be reached or answered nonsense: try later.
    #[error("the token endpoint did not answer: {0}")]
    Unreachable(String),
}

impl OAuthError {
    /// True when retrying cannot help until someone fixes the grant.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, OAuthError::Unreachable(_))
    }
}

/// An access token held in memory, and a refresh token the endpoint may
/// have rotated.
struct Held {
    access: Secret,
    until: Instant,
    rotated_refresh: Option<Secret>,
}

static HELD: LazyLock<Mutex<HashMap<String, Held>>> = LazyLock::new(Mutex::default);

fn held() -> std::sync::MutexGuard<'static, HashMap<String, Held>> {
    HELD.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An access token for the grant: the one held while it is fresh, else a
/// new one from the endpoint.
pub async fn access_token(g: &Grant) -> Result<Secret, OAuthError> {
    let key = g.key();
    let rotated = {
        let map = held();
        match map.get(&key) {
            Some(h) if h.until > Instant::now() => return Ok(h.access.clone()),
            Some(h) => h.rotated_refresh.clone(),
            None => None,
        }
    };
    let refresh = match rotated {
        Some(r) => r,
        None => g
            .refresh_token
            .read("refresh token")
            .map_err(OAuthError::Secret)?,
    };
    let answer = refresh_grant(g, &refresh).await?;
    let access = Secret::new(answer.access_token);
    held().insert(
        key,
        Held {
            access: access.clone(),
            until: Instant::now() + held_for(answer.expires_in),
            rotated_refresh: answer.refresh_token.map(Secret::new),
        },
    );
    Ok(access)
}

/// How long a token is used: its life (an hour when unsaid, a day at most,
/// so an absurd `expires_in` cannot overflow the clock) less a margin so it
/// never expires between here and the server's check: a quarter of a short
/// life, at most a minute.
fn held_for(expires_in: Option<u64>) -> Duration {
    let lifetime = Duration::from_secs(expires_in.unwrap_or(3600).min(86_400));
    lifetime - (lifetime / 4).min(Duration::from_secs(60))
}

/// Busy, slow or down (5xx, 408, 429): try later; any other refusal needs
/// a person.
fn is_temporary(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || matches!(status.as_u16(), 408 | 429)
}

/// A mail server refused the token: forget it, so the next sign-in fetches
/// a new one.
pub fn forget(g: &Grant) {
    if let Some(h) = held().get_mut(&g.key()) {
        h.until = Instant::now();
    }
}

/// The SASL XOAUTH2 initial response (before base64), as Google and
/// Microsoft define it.
pub fn xoauth2(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

/// The SASL OAUTHBEARER initial response (RFC 7628), before base64.
pub fn oauthbearer(user: &str, token: &str) -> String {
    // `,` and `=` in the authorization identity are escaped (RFC 5801).
    let user = user.replace('=', "=3D").replace(',', "=2C");
    format!("n,a={user},\x01auth=Bearer {token}\x01\x01")
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenRefusal {
    error: Option<String>,
    error_description: Option<String>,
}

static CLIENT: LazyLock<Option<reqwest::Client>> = LazyLock::new(|| {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .ok()
});

async fn refresh_grant(g: &Grant, refresh: &Secret) -> Result<TokenAnswer, OAuthError> {
    let client = CLIENT
        .as_ref()
        .ok_or_else(|| OAuthError::Unreachable("no HTTP client".into()))?;
    let secret = g
        .client_secret
        .as_ref()
        .map(|s| s.read("client secret"))
        .transpose()
        .map_err(OAuthError::Secret)?;
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.expose()),
        ("client_id", g.client_id.as_str()),
    ];
    if let Some(s) = &secret {
        form.push(("client_secret", s.expose()));
    }
    if let Some(scope) = &g.scope {
        form.push(("scope", scope.as_str()));
    }
    let res = client
        .post(&g.token_url)
        .form(&form)
        .send()
        .await
        .map_err(|e| OAuthError::Unreachable(format!("{}: {e}", g.token_url)))?;
    let status = res.status();
    let body = res
        .bytes()
        .await
        .map_err(|e| OAuthError::Unreachable(format!("{}: {e}", g.token_url)))?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| {
            OAuthError::Unreachable(format!("{} answered no token: {e}", g.token_url))
        });
    }
    if is_temporary(status) {
        return Err(OAuthError::Unreachable(format!(
            "{} answered {status}",
            g.token_url
        )));
    }
    Err(OAuthError::Refused(refusal_text(status, &body)))
}

/// `invalid_grant (Token has been revoked)`, from RFC 6749 §5.2's fields.
fn refusal_text(status: reqwest::StatusCode, body: &[u8]) -> String {
    let r: Option<TokenRefusal> = serde_json::from_slice(body).ok();
    let clean = |s: String| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(300)
            .collect()
    };
    match r {
        Some(TokenRefusal {
            error: Some(e),
            error_description: Some(d),
        }) => format!("{} ({})", clean(e), clean(d)),
        Some(TokenRefusal { error: Some(e), .. }) => clean(e),
        _ => format!("HTTP {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sasl_string_is_googles() {
        assert_eq!(
            xoauth2("a@b.example", "tok"),
            "user=a@b.example\u{1}auth=Bearer tok\u{1}\u{1}"
        );
    }

    #[test]
    fn the_sasl_string_is_rfc_7628s() {
        assert_eq!(
            oauthbearer("a,b=c@example.com", "tok"),
            "n,a=a=2Cb=3Dc@example.com,\u{1}auth=Bearer tok\u{1}\u{1}"
        );
    }

    #[test]
    fn tokens_are_renewed_early_and_never_held_past_a_day() {
        assert_eq!(held_for(Some(4)), Duration::from_secs(3));
        assert_eq!(held_for(Some(3600)), Duration::from_secs(3540));
        assert_eq!(held_for(None), Duration::from_secs(3540));
        assert_eq!(held_for(Some(u64::MAX)), Duration::from_secs(86_340));
    }

    #[test]
    fn busy_is_not_a_refusal() {
        use reqwest::StatusCode as S;
        for s in [S::TOO_MANY_REQUESTS, S::REQUEST_TIMEOUT, S::BAD_GATEWAY] {
            assert!(is_temporary(s), "{s}");
        }
        for s in [S::BAD_REQUEST, S::UNAUTHORIZED] {
            assert!(!is_temporary(s), "{s}");
        }
    }

    #[test]
    fn a_refusal_reads_as_the_endpoint_said() {
        let s = reqwest::StatusCode::BAD_REQUEST;
        assert_eq!(
            refusal_text(
                s,
                br#"{"error":"invalid_grant","error_description":"Token has been\nrevoked"}"#
            ),
            "invalid_grant (Token has been revoked)"
        );
        assert_eq!(
            refusal_text(s, br#"{"error":"invalid_client"}"#),
            "invalid_client"
        );
        assert_eq!(refusal_text(s, b"<html>"), "HTTP 400 Bad Request");
    }
}
