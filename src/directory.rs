//! The LDAP directory client: find a person by address (the value escaped
//! per RFC 4515, so `*)(uid=*` finds nothing), check a password by binding
//! as the person's DN, and read their groups. Every connection and
//! operation has a timeout; an outage is [`DirectoryError::Unavailable`].

use std::sync::Arc;
use std::time::Duration;

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry, ldap_escape};
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::config::Ldap;

const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The directory did not answer, or answered with an error.
    #[error("the directory is unavailable: {0}")]
    Unavailable(String),
}

fn down(e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Unavailable(e.to_string())
}

/// A person as the directory knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub dn: String,
    pub email: String,
    pub name: String,
    /// The DNs of the groups they are in.
    pub groups: Vec<String>,
}

async fn connect(cfg: &Ldap) -> Result<ldap3::Ldap, DirectoryError> {
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(TIMEOUT)
        .set_starttls(cfg.starttls);
    if let Some(ca) = &cfg.tls_ca_file {
        settings = settings.set_config(trusting(ca)?);
    }
    let (conn, ldap) = LdapConnAsync::with_settings(settings, &cfg.url)
        .await
        .map_err(down)?;
    ldap3::drive!(conn);
    Ok(ldap)
}

/// TLS that trusts the CA in `ca_file` (PEM) alone.
fn trusting(ca_file: &str) -> Result<Arc<ClientConfig>, DirectoryError> {
    let unreadable = |e: &dyn std::fmt::Display| down(format!("tls_ca_file {ca_file}: {e}"));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| unreadable(&e))? {
        roots
            .add(cert.map_err(|e| unreadable(&e))?)
            .map_err(|e| unreadable(&e))?;
    }
    let config = ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| unreadable(&e))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A connection bound as the service account (anonymous without one).
async fn service(cfg: &Ldap) -> Result<ldap3::Ldap, DirectoryError> {
    let mut ldap = connect(cfg).await?;
    if let Some(dn) = &cfg.bind_dn {
        let pw = cfg.bind_password.as_ref().map(|s| s.expose()).unwrap_or("");
        ldap.with_timeout(TIMEOUT)
            .simple_bind(dn, pw)
            .await
            .map_err(down)?
            .success()
            .map_err(|e| down(format!("the service account was refused: {e}")))?;
    }
    Ok(ldap)
}

/// The person with this address, with their groups; `None` when the
/// directory knows no one (or more than one) by it.
pub async fn find(cfg: &Ldap, email: &str) -> Result<Option<Person>, DirectoryError> {
    let mut ldap = service(cfg).await?;
    let filter = cfg.user_filter.replace("{email}", &ldap_escape(email));
    let attrs = vec!["mail", "cn", "displayName", "memberOf"];
    let (entries, _) = ldap
        .with_timeout(TIMEOUT)
        .search(&cfg.base_dn, Scope::Subtree, &filter, attrs)
        .await
        .map_err(down)?
        .success()
        .map_err(down)?;
    if entries.len() != 1 {
        let _ = ldap.unbind().await;
        return Ok(None);
    }
    let Some(entry) = entries.into_iter().next().map(SearchEntry::construct) else {
        return Ok(None);
    };
    let first = |k: &str| entry.attrs.get(k).and_then(|v| v.first()).cloned();
    let groups = if cfg.group_member_attribute.eq_ignore_ascii_case("memberOf") {
        entry.attrs.get("memberOf").cloned().unwrap_or_default()
    } else {
        let filter = format!(
            "({}={})",
            cfg.group_member_attribute,
            ldap_escape(&entry.dn)
        );
        let (found, _) = ldap
            .with_timeout(TIMEOUT)
            .search(&cfg.base_dn, Scope::Subtree, &filter, vec!["1.1"])
            .await
            .map_err(down)?
            .success()
            .map_err(down)?;
        found
            .into_iter()
            .map(|g| SearchEntry::construct(g).dn)
            .collect()
    };
    let _ = ldap.unbind().await;
    Ok(Some(Person {
        email: first("mail")
            .unwrap_or_else(|| email.to_string())
            .to_lowercase(),
        name: first("displayName")
            .or_else(|| first("cn"))
            .unwrap_or_default(),
        dn: entry.dn,
        groups,
    }))
}

/// True when `password` binds as `dn`. An empty password never does (it
/// would be an unauthenticated bind, which servers accept).
pub async fn check_password(cfg: &Ldap, dn: &str, password: &str) -> Result<bool, DirectoryError> {
    if password.is_empty() {
        return Ok(false);
    }
    let mut ldap = connect(cfg).await?;
    let result = ldap
        .with_timeout(TIMEOUT)
        .simple_bind(dn, password)
        .await
        .map_err(down)?;
    let _ = ldap.unbind().await;
    // 49: invalid credentials; anything else unexpected is an outage.
    match result.rc {
        0 => Ok(true),
        49 => Ok(false),
        rc => Err(down(format!("bind answered {rc}: {}", result.text))),
    }
}
