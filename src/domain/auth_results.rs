//! `Authentication-Results` (RFC 8601): whether our own trusted mail server
//! vouches, by DKIM or SPF, for the address a mail's `From:` claims.
//!
//! Only the topmost header carrying the configured authserv-id counts: our
//! server prepends its verdict above anything the sender forged lower down
//! (and a well-run border MTA strips forged ones with its id).

/// Drops `( … )` comments, which may nest.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// `method=result` and `ptype.property=value` pairs of one result.
struct Result<'a> {
    method: &'a str,
    result: &'a str,
    props: Vec<(&'a str, &'a str)>,
}

fn results(body: &str) -> Vec<Result<'_>> {
    body.split(';')
        .skip(1)
        .filter_map(|res| {
            let mut words = res.split_whitespace();
            let (method, result) = words.next()?.split_once('=')?;
            let props = words
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k, v.trim_matches('"')))
                .collect();
            Some(Result {
                method,
                result,
                props,
            })
        })
        .collect()
}

/// The authserv-id a header value starts with.
fn authserv_id(body: &str) -> &str {
    body.split(';')
        .next()
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or("")
}

/// Whether the trusted server's verdict says DKIM passed for the From
/// address's domain (`header.d`, or `header.i` equal to it) or SPF passed
/// for that address (`smtp.mailfrom`, the address or its domain).
pub fn vouches_for(headers: &[String], trusted_id: &str, from: &str) -> bool {
    let from = from.to_ascii_lowercase();
    let domain = crate::domain::address::domain(&from).to_string();
    let Some(body) = headers
        .iter()
        .map(|h| strip_comments(h).to_ascii_lowercase())
        .find(|b| authserv_id(b).eq_ignore_ascii_case(trusted_id))
    else {
        return false;
    };
    results(&body).iter().any(|r| {
        if r.result != "pass" {
            return false;
        }
        r.props.iter().any(|&(k, v)| match (r.method, k) {
            ("dkim", "header.d") => v == domain,
            ("dkim", "header.i") => v == from || v == format!("@{domain}"),
            ("spf", "smtp.mailfrom") => v == from || (!v.contains('@') && v == domain),
            _ => false,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> Vec<String> {
        vec![v.to_string()]
    }

    #[test]
    fn dkim_or_spf_pass_for_the_from_domain() {
        let from = "Alice@Example.com";
        assert!(vouches_for(
            &h(
                "mx.example.com; dkim=pass (2048-bit key) header.d=example.com header.s=s1; spf=fail"
            ),
            "mx.example.com",
            from
        ));
        assert!(vouches_for(
            &h("mx.example.com 1; spf=pass smtp.mailfrom=alice@example.com"),
            "MX.example.com",
            from
        ));
        assert!(vouches_for(
            &h("mx.example.com;\r\n\tdkim=pass header.i=@example.com"),
            "mx.example.com",
            from
        ));
    }

    #[test]
    fn anything_else_does_not() {
        let from = "alice@example.com";
        // another server's word
        assert!(!vouches_for(
            &h("evil.example; dkim=pass header.d=example.com"),
            "mx.example.com",
            from
        ));
        // a pass for another domain, or for the envelope of someone else
        assert!(!vouches_for(
            &h("mx.example.com; dkim=pass header.d=evil.example"),
            "mx.example.com",
            from
        ));
        assert!(!vouches_for(
            &h("mx.example.com; spf=pass smtp.mailfrom=bob@example.com"),
            "mx.example.com",
            from
        ));
        assert!(!vouches_for(
            &h(
                "mx.example.com; dkim=fail header.d=example.com; spf=softfail smtp.mailfrom=alice@example.com"
            ),
            "mx.example.com",
            from
        ));
        // a pass hidden in a comment
        assert!(!vouches_for(
            &h("mx.example.com; dkim=none (dkim=pass header.d=example.com)"),
            "mx.example.com",
            from
        ));
        // a forged header below our server's verdict
        let both = vec![
            "mx.example.com; dkim=none".to_string(),
            "mx.example.com; dkim=pass header.d=example.com".to_string(),
        ];
        assert!(!vouches_for(&both, "mx.example.com", from));
        assert!(!vouches_for(&[], "mx.example.com", from));
    }
}
