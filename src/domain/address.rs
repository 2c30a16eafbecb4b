//! E-mail addresses as Docket stores them: trimmed, lower-cased, validated.

/// Normalises an address: strips angle brackets, whitespace and quotes that
/// broken mailers leave in, lower-cases it. `None` when no usable address remains.
pub fn normalise(raw: &str) -> Option<String> {
    let raw = raw.trim().trim_start_matches('<').trim_end_matches('>');
    // "Test test@example.com": a broken mailer put a name in the address;
    // the token holding the '@' is the address.
    let token = if raw.split_whitespace().count() > 1 {
        raw.split_whitespace().rev().find(|t| t.contains('@'))?
    } else {
        raw
    };
    let cleaned: String = token
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '<' | '>' | '"' | '\0'))
        .collect::<String>()
        .to_lowercase();
    let (local, domain) = cleaned.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    Some(cleaned)
}

/// The first `local@domain`-looking token in free text (a broken From header).
pub fn find_in_text(text: &str) -> Option<String> {
    let stop = |c: char| {
        c.is_whitespace() || matches!(c, '<' | '>' | '"' | '(' | ')' | ',' | ';' | ':' | '[' | ']')
    };
    text.split(stop)
        .filter(|t| t.contains('@'))
        .find_map(normalise)
        .or_else(|| {
            // a quoted local part with spaces: "Some Name"@example.com
            let at = text.find("\"@")?;
            let open = text[..at].rfind('"')?;
            let local: String = text[open + 1..at]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(".");
            let domain = text[at + 2..].split(stop).next()?;
            normalise(&format!("{local}@{domain}"))
        })
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

/// `local+detail@domain` from `local@domain`.
pub fn with_detail(addr: &str, detail: &str) -> String {
    match addr.rsplit_once('@') {
        Some((local, domain)) => format!("{local}+{detail}@{domain}"),
        None => addr.to_string(),
    }
}

/// Whether `addr` is one of `own`, or a `+detail` form of one (a personal
/// or per-ticket reply address).
pub fn is_ours(addr: &str, own: &[String]) -> bool {
    own.iter().any(|o| o == addr) || split_plus(addr).is_some_and(|(base, _)| own.contains(&base))
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
        assert_eq!(normalise("no-at-sign"), None);
        assert_eq!(normalise("@example.com"), None);
        assert_eq!(normalise(""), None);
    }

    #[test]
    fn finds_an_address_in_broken_headers() {
        assert_eq!(
            find_in_text("\"finances8@firstfinance.example.com\"").as_deref(),
            Some("finances8@firstfinance.example.com")
        );
        assert_eq!(find_in_text("MAILER-DAEMON (Mail Delivery System)"), None);
        assert_eq!(
            find_in_text("\"Millions Lottery\"@example.com>").as_deref(),
            Some("millions.lottery@example.com")
        );
    }

    #[test]
    fn splits_plus_addressing() {
        assert_eq!(
            split_plus("help+comment@example.com"),
            Some(("help@example.com".into(), "comment".into()))
        );
        assert_eq!(split_plus("help@example.com"), None);
        let own = vec!["help@example.com".to_string()];
        assert!(is_ours("help+u7-abc@example.com", &own));
        assert!(is_ours("help@example.com", &own));
        assert!(!is_ours("sam+help@example.com", &own));
    }
}
