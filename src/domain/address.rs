//! E-mail addresses as Docket stores them: trimmed, lower-cased, validated.

/// Normalises an address: strips angle brackets, whitespace and quotes that
/// broken mailers leave in, lower-cases it. `None` when no usable address remains.
pub fn normalise(raw: &str) -> Option<String> {
    let cleaned: String = raw
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '<' && *c != '>' && *c != '"')
        .collect::<String>()
        .to_lowercase();
    let (local, domain) = cleaned.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    Some(cleaned)
}

/// Splits `local+detail@domain` into (`local@domain`, `detail`).
pub fn split_plus(addr: &str) -> Option<(String, String)> {
    let (local, domain) = addr.rsplit_once('@')?;
    let (base, detail) = local.split_once('+')?;
    if base.is_empty() {
        return None;
    }
    Some((format!("{base}@{domain}"), detail.to_string()))
}

/// The domain part of an address.
pub fn domain(addr: &str) -> &str {
    addr.rsplit_once('@').map(|(_, d)| d).unwrap_or(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_brackets_and_spaces() {
        assert_eq!(
            normalise(" <Sam@Example.NET> ").as_deref(),
            Some("sam@example.net")
        );
        assert_eq!(
            normalise("john smith@example.com").as_deref(),
            Some("johnsmith@example.com")
        );
        assert_eq!(normalise("no-at-sign"), None);
        assert_eq!(normalise("@example.com"), None);
        assert_eq!(normalise(""), None);
    }

    #[test]
    fn splits_plus_addressing() {
        assert_eq!(
            split_plus("help+comment@example.com"),
            Some(("help@example.com".into(), "comment".into()))
        );
        assert_eq!(split_plus("help@example.com"), None);
    }
}
