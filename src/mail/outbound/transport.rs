//! How the sender reaches its SMTP server: a pooled lettre transport built
//! once (no password, or one in `smtp_url`), or, with OAuth2, built again
//! around each new access token (XOAUTH2 for `smtp_url`'s user).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use crate::config::{Config, SmtpOAuth2};
use crate::domain::secret::Secret;
use crate::mail::oauth2;

pub type Smtp = AsyncSmtpTransport<Tokio1Executor>;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("bad smtp_url: {0}")]
    Url(lettre::transport::smtp::Error),
    #[error("smtp_oauth2 signs in as smtp_url's user: write it as smtp://USER@HOST:PORT")]
    NoUser,
}

pub enum Transport {
    Fixed(Smtp),
    OAuth2(Arc<Rotating>),
}

/// A transport for the current access token; replaced when the token is.
pub struct Rotating {
    url: String,
    user: String,
    grant: oauth2::Grant,
    connections: u32,
    built: Mutex<Option<(Secret, Smtp)>>,
}

impl Transport {
    /// `None` without `smtp_url`: mail waits in the outbox.
    pub fn from_config(cfg: &Config) -> Result<Option<Transport>, TransportError> {
        let Some(url) = &cfg.smtp_url else {
            return Ok(None);
        };
        let connections = cfg.smtp_connections.max(1);
        let fixed = builder(url, connections)?.build();
        let Some(o) = &cfg.smtp_oauth2 else {
            return Ok(Some(Transport::Fixed(fixed)));
        };
        let user = url::Url::parse(url)
            .ok()
            .map(|u| {
                percent_encoding::percent_decode_str(u.username())
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .filter(|u| !u.is_empty())
            .ok_or(TransportError::NoUser)?;
        Ok(Some(Transport::OAuth2(Arc::new(Rotating {
            url: url.clone(),
            user,
            grant: grant_of(o),
            connections,
            built: Mutex::new(None),
        }))))
    }

    /// The transport to send with now; with OAuth2, for a fresh token.
    pub async fn current(&self) -> Result<Smtp, oauth2::OAuthError> {
        match self {
            Transport::Fixed(t) => Ok(t.clone()),
            Transport::OAuth2(r) => r.current().await,
        }
    }

    /// The server refused our sign-in: the next batch asks for a new token.
    pub fn refused_sign_in(&self) {
        if let Transport::OAuth2(r) = self {
            oauth2::forget(&r.grant);
        }
    }
}

impl Rotating {
    async fn current(&self) -> Result<Smtp, oauth2::OAuthError> {
        let token = oauth2::access_token(&self.grant).await?;
        let mut built = self
            .built
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((t, smtp)) = built.as_ref()
            && t == &token
        {
            return Ok(smtp.clone());
        }
        let smtp = builder(&self.url, self.connections)
            .map_err(|e| oauth2::OAuthError::Secret(e.to_string()))?
            .credentials(Credentials::new(
                self.user.clone(),
                token.expose().to_string(),
            ))
            .authentication(vec![Mechanism::Xoauth2])
            .build();
        *built = Some((token, smtp.clone()));
        Ok(smtp)
    }
}

fn builder(
    url: &str,
    connections: u32,
) -> Result<lettre::transport::smtp::AsyncSmtpTransportBuilder, TransportError> {
    Ok(Smtp::from_url(url)
        .map_err(TransportError::Url)?
        .timeout(Some(Duration::from_secs(30)))
        .pool_config(PoolConfig::new().max_size(connections)))
}

fn grant_of(o: &SmtpOAuth2) -> oauth2::Grant {
    oauth2::Grant {
        token_url: o.token_url.clone(),
        client_id: o.client_id.clone(),
        client_secret: oauth2::SecretFrom::of(
            o.client_secret_env.as_deref(),
            o.client_secret_file.as_deref(),
        ),
        // Without a source the read fails with a clear message at send time.
        refresh_token: oauth2::SecretFrom::of(
            o.refresh_token_env.as_deref(),
            o.refresh_token_file.as_deref(),
        )
        .unwrap_or_else(|| oauth2::SecretFrom::Env("DOCKET_SMTP_OAUTH2_REFRESH_TOKEN".into())),
        scope: o.scope.clone(),
    }
}

/// A refusal of our sign-in (530, 534, 535, 538): our configuration's
/// fault, never the recipient's, so the mail waits instead of bouncing.
/// Gmail answers a bad XOAUTH2 token with a `334` JSON challenge first,
/// which lettre reports as a client error before any 535 arrives.
pub fn is_sign_in_refusal(e: &lettre::transport::smtp::Error) -> bool {
    e.status()
        .is_some_and(|c| matches!(u16::from(c), 530 | 534 | 535 | 538))
        || (e.is_client() && {
            let text = e.to_string();
            // Gmail's challenge, or a server that offers no mechanism of ours.
            text.contains("does not expect a challenge")
                || text.contains("No compatible authentication mechanism")
        })
}
