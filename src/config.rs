//! Effective configuration: defaults in code, then `docket.toml` (or
//! `--config PATH`), then `DOCKET_*` environment, then command-line flags.
//! Clap resolves flag-over-environment; this module layers the file below.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::domain::secret::{Secret, redact_url};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://docket.db";

/// Settings as they may appear in `docket.toml`; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database_url: Option<String>,
    pub subject_tag: Option<String>,
    pub max_message_bytes: Option<usize>,
    pub ack_rate_limit_per_hour: Option<u32>,
    pub instance_name: Option<String>,
    /// `text` or `json`; `--log-format` / `DOCKET_LOG_FORMAT` win.
    pub log_format: Option<crate::telemetry::LogFormat>,
    pub busy_timeout_secs: Option<u64>,
    pub smtp_url: Option<String>,
    pub outbox_max_attempts: Option<u32>,
    pub smtp_connections: Option<u32>,
    /// XOAUTH2 for `smtp_url`'s user instead of a password.
    pub smtp_oauth2_token_url: Option<String>,
    pub smtp_oauth2_client_id: Option<String>,
    pub smtp_oauth2_client_secret_env: Option<String>,
    pub smtp_oauth2_client_secret_file: Option<String>,
    pub smtp_oauth2_refresh_token_env: Option<String>,
    pub smtp_oauth2_refresh_token_file: Option<String>,
    pub smtp_oauth2_scope: Option<String>,
    pub reply_token_secret: Option<Secret>,
    pub trusted_authserv_id: Option<String>,
    pub public_url: Option<String>,
    pub listen: Option<String>,
    pub imap_lease_secs: Option<u64>,
    pub time_zone: Option<chrono_tz::Tz>,
    pub ldap: Option<LdapFile>,
}

/// `[ldap]` in `docket.toml`; `DOCKET_LDAP_*` override the scalar keys.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapFile {
    pub url: Option<String>,
    pub bind_dn: Option<String>,
    /// The service account's password comes from this environment
    /// variable or file, never from the config file itself.
    pub bind_password_env: Option<String>,
    pub bind_password_file: Option<PathBuf>,
    pub base_dn: Option<String>,
    pub user_filter: Option<String>,
    pub group_member_attribute: Option<String>,
    pub starttls: Option<bool>,
    /// PEM file of the CA that signed the directory's certificate, when
    /// the system's trust store does not hold it.
    pub tls_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub groups: Vec<LdapGroup>,
}

/// A directory group and what it grants: a role on a queue, or admin.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapGroup {
    pub dn: String,
    pub queue: Option<String>,
    /// `triager` or `engineer`.
    pub role: Option<String>,
    #[serde(default)]
    pub admin: bool,
}

/// Where a secret is read from when it is needed, so a rotated file is
/// picked up: an environment variable or a file, never the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretFrom {
    Env(String),
    File(String),
}

impl SecretFrom {
    /// From a `(…_env, …_file)` pair of settings; the variable wins.
    pub fn of(env: Option<&str>, file: Option<&str>) -> Option<SecretFrom> {
        match (env, file) {
            (Some(v), _) => Some(SecretFrom::Env(v.to_string())),
            (None, Some(f)) => Some(SecretFrom::File(f.to_string())),
            (None, None) => None,
        }
    }

    /// The secret; the error names `what` and where it was looked for.
    pub fn read(&self, what: &str) -> Result<Secret, String> {
        match self {
            SecretFrom::Env(v) => std::env::var(v)
                .map(Secret::new)
                .map_err(|_| format!("the {what} variable {v} is not set")),
            SecretFrom::File(f) => std::fs::read_to_string(f)
                .map(|s| Secret::new(s.trim_end_matches(['\r', '\n'])))
                .map_err(|e| format!("reading the {what} from {f}: {e}")),
        }
    }

    /// Names the source, never the secret.
    pub fn describe(&self) -> String {
        match self {
            SecretFrom::Env(v) => format!("env:{v}"),
            SecretFrom::File(f) => format!("file:{f}"),
        }
    }
}

/// OAuth2 (XOAUTH2) for the SMTP account: the token endpoint, the client,
/// and where its secrets are read from (variables or files, never here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmtpOAuth2 {
    pub token_url: String,
    pub client_id: String,
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<String>,
    pub refresh_token_env: Option<String>,
    pub refresh_token_file: Option<String>,
    pub scope: Option<String>,
}

impl FileConfig {
    /// `smtp_oauth2_*`, each overridden by `DOCKET_SMTP_OAUTH2_*`; `None`
    /// without a token URL.
    fn smtp_oauth2(&mut self) -> Option<SmtpOAuth2> {
        let take = |key: &str, v: &mut Option<String>| {
            env_or(
                &format!("DOCKET_SMTP_OAUTH2_{}", key.to_uppercase()),
                v.take(),
            )
        };
        Some(SmtpOAuth2 {
            token_url: take("token_url", &mut self.smtp_oauth2_token_url)?,
            client_id: take("client_id", &mut self.smtp_oauth2_client_id).unwrap_or_default(),
            client_secret_env: take("client_secret_env", &mut self.smtp_oauth2_client_secret_env),
            client_secret_file: take(
                "client_secret_file",
                &mut self.smtp_oauth2_client_secret_file,
            ),
            refresh_token_env: take("refresh_token_env", &mut self.smtp_oauth2_refresh_token_env),
            refresh_token_file: take(
                "refresh_token_file",
                &mut self.smtp_oauth2_refresh_token_file,
            ),
            scope: take("scope", &mut self.smtp_oauth2_scope),
        })
    }
}

/// The directory as Docket uses it.
#[derive(Clone)]
pub struct Ldap {
    pub url: String,
    pub bind_dn: Option<String>,
    pub bind_password: Option<Secret>,
    pub base_dn: String,
    /// `{email}` is replaced by the escaped address.
    pub user_filter: String,
    /// `member` (groups list their members) or `memberOf` (on the user).
    pub group_member_attribute: String,
    pub starttls: bool,
    /// Trust this CA (PEM) for `ldaps://` and StartTLS instead of the
    /// system's store.
    pub tls_ca_file: Option<String>,
    pub groups: Vec<LdapGroup>,
}

impl std::fmt::Debug for Ldap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ldap")
            .field("url", &self.url)
            .field("bind_dn", &self.bind_dn)
            .field("base_dn", &self.base_dn)
            .field("user_filter", &self.user_filter)
            .field("groups", &self.groups.len())
            .finish()
    }
}

fn env_or(key: &str, file: Option<String>) -> Option<String> {
    std::env::var(key).ok().filter(|s| !s.is_empty()).or(file)
}

impl LdapFile {
    /// The directory settings, or `None` when no URL is set anywhere.
    fn resolve(self) -> Option<Ldap> {
        let url = env_or("DOCKET_LDAP_URL", self.url)?;
        let password_env = env_or("DOCKET_LDAP_BIND_PASSWORD_ENV", self.bind_password_env);
        let password_file = env_or(
            "DOCKET_LDAP_BIND_PASSWORD_FILE",
            self.bind_password_file.map(|p| p.display().to_string()),
        );
        let bind_password = SecretFrom::of(password_env.as_deref(), password_file.as_deref())
            .and_then(|s| s.read("LDAP bind password").ok());
        Some(Ldap {
            url,
            bind_dn: env_or("DOCKET_LDAP_BIND_DN", self.bind_dn),
            bind_password,
            base_dn: env_or("DOCKET_LDAP_BASE_DN", self.base_dn).unwrap_or_default(),
            user_filter: env_or("DOCKET_LDAP_USER_FILTER", self.user_filter)
                .unwrap_or_else(|| "(mail={email})".into()),
            group_member_attribute: env_or(
                "DOCKET_LDAP_GROUP_MEMBER_ATTRIBUTE",
                self.group_member_attribute,
            )
            .unwrap_or_else(|| "member".into()),
            starttls: env_or("DOCKET_LDAP_STARTTLS", None)
                .map(|v| matches!(v.as_str(), "1" | "true" | "yes"))
                .or(self.starttls)
                .unwrap_or(false),
            tls_ca_file: env_or(
                "DOCKET_LDAP_TLS_CA_FILE",
                self.tls_ca_file.map(|p| p.display().to_string()),
            ),
            groups: self.groups,
        })
    }
}

/// The configuration every command runs with. Its `Debug` hides the
/// passwords in URLs and the reply secret.
#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    /// Text inside the subject tag: `[Docket #12]`.
    pub subject_tag: String,
    pub max_message_bytes: usize,
    pub ack_rate_limit_per_hour: u32,
    /// Names this installation in `X-Loop` and generated Message-IDs.
    pub instance_name: String,
    /// How long a write waits for a locked database before mailgate gives up with 75.
    pub busy_timeout_secs: u64,
    /// `smtp://host:port`, `smtp://user:pass@host:587?tls=required`, `smtps://…`;
    /// `None`: outgoing mail waits in the outbox.
    pub smtp_url: Option<String>,
    /// Sending attempts before a row is parked as dead.
    pub outbox_max_attempts: u32,
    /// SMTP connections (and messages in flight) at once.
    pub smtp_connections: u32,
    /// Sign in to `smtp_url` with XOAUTH2 instead of a password.
    pub smtp_oauth2: Option<SmtpOAuth2>,
    /// When set, requestors get a per-ticket reply address
    /// (`queue+t42-…@domain`), signed with this secret. Staff always get
    /// personal reply addresses, signed with this secret or, when unset, one
    /// generated into the database on first use.
    pub reply_token_secret: Option<Secret>,
    /// The authserv-id of our own mail server's `Authentication-Results`:
    /// a DKIM or SPF pass from it for a staff member's address makes their
    /// mail from their own client count as theirs. Unset: only personal
    /// reply addresses authenticate staff by mail.
    pub trusted_authserv_id: Option<String>,
    /// Where people reach this instance's web UI from outside
    /// (`https://help.example.com`): mail to requestors carries a personal
    /// link to their status page there. Unset: no such link.
    pub public_url: Option<String>,
    /// Where `docket serve` listens.
    pub listen: String,
    /// How long a poller's hold on a mailbox lasts without renewal; it is
    /// renewed every third of that, IDLE included, so a second instance
    /// takes over only from one that died.
    pub imap_lease_secs: u64,
    /// The zone pages show times in for people who chose none (IANA name,
    /// `Europe/Berlin`); hover titles stay in UTC.
    pub time_zone: chrono_tz::Tz,
    /// Staff sign in through this directory when set.
    pub ldap: Option<Ldap>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("subject_tag", &self.subject_tag)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("ack_rate_limit_per_hour", &self.ack_rate_limit_per_hour)
            .field("instance_name", &self.instance_name)
            .field("busy_timeout_secs", &self.busy_timeout_secs)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("outbox_max_attempts", &self.outbox_max_attempts)
            .field("smtp_connections", &self.smtp_connections)
            .field("smtp_oauth2", &self.smtp_oauth2)
            .field("reply_token_secret", &self.reply_token_secret)
            .field("trusted_authserv_id", &self.trusted_authserv_id)
            .field("public_url", &self.public_url)
            .field("listen", &self.listen)
            .field("imap_lease_secs", &self.imap_lease_secs)
            .field("time_zone", &self.time_zone)
            .field("ldap", &self.ldap)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: DEFAULT_DATABASE_URL.to_string(),
            subject_tag: "Docket".to_string(),
            max_message_bytes: 25 * 1024 * 1024,
            ack_rate_limit_per_hour: 5,
            instance_name: "docket.localhost".to_string(),
            busy_timeout_secs: 30,
            smtp_url: None,
            outbox_max_attempts: 10,
            smtp_connections: 16,
            smtp_oauth2: None,
            reply_token_secret: None,
            trusted_authserv_id: None,
            public_url: None,
            listen: "127.0.0.1:8080".to_string(),
            imap_lease_secs: 60,
            time_zone: chrono_tz::UTC,
            ldap: None,
        }
    }
}

/// Values that came from flags or the environment (clap merges those two).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub database_url: Option<String>,
    pub subject_tag: Option<String>,
    pub max_message_bytes: Option<usize>,
    pub ack_rate_limit_per_hour: Option<u32>,
    pub instance_name: Option<String>,
    pub smtp_url: Option<String>,
    pub listen: Option<String>,
}

impl FileConfig {
    /// Reads `path` if given (it must exist), else `./docket.toml` if present.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let (path, required): (PathBuf, bool) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("docket.toml"), false),
        };
        if !required && !path.exists() {
            return Ok(FileConfig::default());
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading configuration file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

impl Config {
    pub fn resolve(mut file: FileConfig, over: Overrides) -> Self {
        let d = Config::default();
        let smtp_oauth2 = file.smtp_oauth2();
        Config {
            database_url: over
                .database_url
                .or(file.database_url)
                .unwrap_or(d.database_url),
            subject_tag: over
                .subject_tag
                .or(file.subject_tag)
                .unwrap_or(d.subject_tag),
            max_message_bytes: over
                .max_message_bytes
                .or(file.max_message_bytes)
                .unwrap_or(d.max_message_bytes),
            ack_rate_limit_per_hour: over
                .ack_rate_limit_per_hour
                .or(file.ack_rate_limit_per_hour)
                .unwrap_or(d.ack_rate_limit_per_hour),
            instance_name: over
                .instance_name
                .or(file.instance_name)
                .unwrap_or(d.instance_name),
            busy_timeout_secs: file.busy_timeout_secs.unwrap_or(d.busy_timeout_secs),
            smtp_url: over.smtp_url.or(file.smtp_url).or(d.smtp_url),
            outbox_max_attempts: file.outbox_max_attempts.unwrap_or(d.outbox_max_attempts),
            smtp_connections: file.smtp_connections.unwrap_or(d.smtp_connections),
            smtp_oauth2,
            reply_token_secret: std::env::var("DOCKET_REPLY_TOKEN_SECRET")
                .ok()
                .filter(|s| !s.is_empty())
                .map(Secret::new)
                .or(file.reply_token_secret),
            trusted_authserv_id: std::env::var("DOCKET_TRUSTED_AUTHSERV_ID")
                .ok()
                .filter(|s| !s.is_empty())
                .or(file.trusted_authserv_id)
                .map(|s| s.trim().to_ascii_lowercase()),
            public_url: std::env::var("DOCKET_PUBLIC_URL")
                .ok()
                .filter(|s| !s.is_empty())
                .or(file.public_url)
                .map(|s| s.trim().trim_end_matches('/').to_string()),
            listen: over.listen.or(file.listen).unwrap_or(d.listen),
            imap_lease_secs: file.imap_lease_secs.unwrap_or(d.imap_lease_secs).max(1),
            time_zone: file.time_zone.unwrap_or(d.time_zone),
            ldap: file.ldap.unwrap_or_default().resolve(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_wins_over_the_file() {
        assert_eq!(
            SecretFrom::of(Some("V"), Some("/f")),
            Some(SecretFrom::Env("V".into()))
        );
        assert_eq!(SecretFrom::of(None, None), None);
    }

    #[test]
    fn flag_or_env_beats_file_beats_default() {
        let file: FileConfig =
            toml::from_str("database_url = \"sqlite://file.db\"\nsubject_tag = \"Help\"\n")
                .unwrap();
        let over = Overrides {
            database_url: Some("sqlite://flag.db".into()),
            ..Default::default()
        };
        let c = Config::resolve(file, over);
        assert_eq!(c.database_url, "sqlite://flag.db");
        assert_eq!(c.subject_tag, "Help");
        assert_eq!(c.ack_rate_limit_per_hour, 5);
    }

    #[test]
    fn debug_hides_passwords_and_secrets() {
        let c = Config {
            database_url: "postgres://docket:dbpass@db/docket".into(),
            smtp_url: Some("smtp://relay:smtppass@mx:587".into()),
            reply_token_secret: Some(Secret::new("signing-key")),
            ..Config::default()
        };
        let shown = format!("{c:?}");
        for secret in ["dbpass", "smtppass", "signing-key"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("postgres://docket:***@db/docket"), "{shown}");
    }

    #[test]
    fn a_time_zone_is_an_iana_name() {
        let file: FileConfig = toml::from_str("time_zone = \"Europe/Berlin\"").unwrap();
        assert_eq!(
            Config::resolve(file, Overrides::default()).time_zone,
            chrono_tz::Europe::Berlin
        );
        assert!(toml::from_str::<FileConfig>("time_zone = \"Mars/Olympus\"").is_err());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<FileConfig>("databse_url = \"x\"").is_err());
    }
}
