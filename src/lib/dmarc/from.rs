//! The author domain DMARC is about: the domain of the header's From
//! address (qmail-dkverify(8), DMARC).

use crate::address::{self, Kind, Token};

/// A plain ASCII domain name: letters, digits, `-` and `_` in labels of
/// 1 to 63 bytes, 253 bytes in all.
pub fn domain_ok(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
        })
}

/// The domain of the From field whose values are `values` (one per From
/// field in the header), in lower case. Several fields, no address,
/// addresses in different domains or a domain that is not a plain name
/// are errors (the reason is given).
pub fn from_domain(values: &[&[u8]]) -> Result<String, &'static str> {
    let value = match values {
        [v] => v,
        [] => return Err("no From field"),
        _ => return Err("several From fields"),
    };
    let mut tokens = vec![Token::word(Kind::Atom, "From"), Token::punct(Kind::Colon)];
    tokens.extend(address::parse(value).ok_or("From field does not parse")?);
    let mut domains: Vec<String> = Vec::new();
    let walked = address::addrlist(tokens, |a| {
        let addr = address::unquote(a);
        if let Some(at) = crate::bytescan::rfind(b'@', &addr) {
            let d = String::from_utf8_lossy(&addr[at + 1..]).to_ascii_lowercase();
            domains.push(d.trim_end_matches('.').to_string());
        } else if !addr.is_empty() {
            domains.push(String::new());
        }
        Ok::<(), ()>(())
    });
    if !matches!(walked, Ok(Some(_))) {
        return Err("From field does not parse");
    }
    let first = domains.first().ok_or("no address in From")?.clone();
    if domains.iter().any(|d| *d != first) {
        return Err("From addresses in several domains");
    }
    if !domain_ok(&first) {
        return Err("From domain is not a domain name");
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_domains() {
        let f = |v: &str| from_domain(&[v.as_bytes()]);
        assert_eq!(f(" joe@Example.COM"), Ok("example.com".into()));
        assert_eq!(
            f(" \"Joe, Q.\" (the boss) <joe@sub.example.com.>"),
            Ok("sub.example.com".into())
        );
        assert_eq!(
            f(" a@example.com,\n\t\"b\"@EXAMPLE.com"),
            Ok("example.com".into())
        );
        assert_eq!(
            f(" a@example.com, b@example.net"),
            Err("From addresses in several domains")
        );
        assert_eq!(f(" undisclosed:;"), Err("no address in From"));
        assert_eq!(f(" joe"), Err("From domain is not a domain name"));
        assert_eq!(
            f(" <joe@[192.0.2.1]>"),
            Err("From domain is not a domain name")
        );
        assert_eq!(
            f(" <joe@ex\u{e4}mple.com>"),
            Err("From domain is not a domain name")
        );
        assert_eq!(f(" (unclosed"), Err("From field does not parse"));
        assert_eq!(f(" a@b>"), Err("From field does not parse"));
        assert_eq!(from_domain(&[]), Err("no From field"));
        assert_eq!(
            from_domain(&[b"a@example.com", b"a@example.com"]),
            Err("several From fields")
        );
        assert!(f(&"a@".repeat(10_000)).is_err());
    }
}
