//! The SPF macro language (RFC 7208 §7): `%{letter digits r delimiters}`,
//! `%%`, `%_`, `%-`. A syntax error is a permerror for the caller.

use std::net::IpAddr;

/// What the macro letters stand for in one evaluation.
pub struct Vars<'a> {
    /// `s`: the whole sender, `local@domain` (`postmaster@...` if it had
    /// no local part).
    pub sender: &'a str,
    pub ip: IpAddr,
    /// `h`: the HELO/EHLO name.
    pub helo: &'a str,
    /// `r`: the name of the host doing the check.
    pub receiver: &'a str,
    /// `t`: seconds since the epoch.
    pub now: u64,
}

/// A macro string is not well formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadMacro;

const DELIMITERS: &[u8] = b".-+,/_=";

/// `%{i}`: dotted decimal, or 32 dot-separated nibbles for IPv6.
pub fn ip_dotted(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => {
            let mut s = String::with_capacity(63);
            for b in a.octets() {
                for n in [b >> 4, b & 15] {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push(char::from_digit(u32::from(n), 16).unwrap_or('0'));
                }
            }
            s
        }
    }
}

/// RFC 3986 unreserved bytes stay, the rest become `%XX` (uppercase macro letters).
fn url_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            o.push(char::from(b));
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// Expands `spec` for `domain` (`%{d}`). `exp` allows `c`, `r` and `t`
/// (explanation strings only). `ptr` gives the validated name of the
/// client (`%{p}`), asked only when the macro is used.
pub fn expand(
    spec: &str,
    domain: &str,
    v: &Vars,
    exp: bool,
    ptr: &mut dyn FnMut() -> String,
) -> Result<String, BadMacro> {
    let b = spec.as_bytes();
    let mut out = String::with_capacity(spec.len() + 16);
    let mut i = 0;
    while i < b.len() {
        let Some(rel) = b[i..].iter().position(|&c| c == b'%') else {
            out.push_str(&spec[i..]);
            break;
        };
        out.push_str(&spec[i..i + rel]);
        i += rel + 1;
        match b.get(i) {
            Some(b'%') => out.push('%'),
            Some(b'_') => out.push(' '),
            Some(b'-') => out.push_str("%20"),
            Some(b'{') => {
                let end = b[i..].iter().position(|&c| c == b'}').ok_or(BadMacro)?;
                let body = &spec[i + 1..i + end];
                out.push_str(&one(body, domain, v, exp, ptr)?);
                i += end;
            }
            _ => return Err(BadMacro),
        }
        i += 1;
    }
    Ok(out)
}

/// Checks the syntax only (record parsing), allowing every letter.
pub fn well_formed(spec: &str, exp: bool) -> bool {
    let v = Vars {
        sender: "a@b",
        ip: IpAddr::from([0, 0, 0, 0]),
        helo: "",
        receiver: "",
        now: 0,
    };
    expand(spec, "", &v, exp, &mut String::new).is_ok()
}

/// One `%{...}` body: letter, digits, `r`, delimiters.
fn one(
    body: &str,
    domain: &str,
    v: &Vars,
    exp: bool,
    ptr: &mut dyn FnMut() -> String,
) -> Result<String, BadMacro> {
    let b = body.as_bytes();
    let letter = *b.first().ok_or(BadMacro)?;
    let lower = letter.to_ascii_lowercase();
    let at = v.sender.rfind('@');
    let value = match lower {
        b's' => v.sender.to_string(),
        b'l' => at.map_or("postmaster", |a| &v.sender[..a]).to_string(),
        b'o' => at.map_or(v.sender, |a| &v.sender[a + 1..]).to_string(),
        b'd' => domain.to_string(),
        b'i' => ip_dotted(v.ip),
        b'p' => ptr(),
        b'v' => match v.ip {
            IpAddr::V4(_) => "in-addr".into(),
            IpAddr::V6(_) => "ip6".into(),
        },
        b'h' => v.helo.to_string(),
        b'c' if exp => v.ip.to_string(),
        b'r' if exp => v.receiver.to_string(),
        b't' if exp => v.now.to_string(),
        _ => return Err(BadMacro),
    };
    let mut j = 1;
    let digits_end = j + b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
    let keep = if digits_end > j {
        let n: usize = body[j..digits_end].parse().map_err(|_| BadMacro)?;
        if n == 0 {
            return Err(BadMacro);
        }
        Some(n)
    } else {
        None
    };
    j = digits_end;
    let reverse = matches!(b.get(j), Some(b'r' | b'R'));
    if reverse {
        j += 1;
    }
    let delims = &b[j..];
    if !delims.iter().all(|c| DELIMITERS.contains(c)) {
        return Err(BadMacro);
    }
    let delims: &[u8] = if delims.is_empty() { b"." } else { delims };
    let text = if keep.is_some() || reverse || delims != b"." {
        let mut parts: Vec<&str> = value
            .split(|c: char| c.is_ascii() && delims.contains(&(c as u8)))
            .collect();
        if reverse {
            parts.reverse();
        }
        if let Some(n) = keep {
            let skip = parts.len().saturating_sub(n);
            parts.drain(..skip);
        }
        parts.join(".")
    } else {
        value
    };
    Ok(if letter.is_ascii_uppercase() {
        url_escape(&text)
    } else {
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(ip: &str) -> Vars<'static> {
        Vars {
            sender: "strong-bad@email.example.com",
            ip: ip.parse().unwrap(),
            helo: "mx.example.org",
            receiver: "mx.receiver.example",
            now: 1234,
        }
    }

    fn x(spec: &str, ip: &str) -> String {
        expand(spec, "email.example.com", &vars(ip), true, &mut || {
            "p.example".into()
        })
        .unwrap()
    }

    /// The examples of RFC 7208 §7.4.
    #[test]
    fn rfc_examples() {
        let v4 = "192.0.2.3";
        assert_eq!(x("%{s}", v4), "strong-bad@email.example.com");
        assert_eq!(x("%{o}", v4), "email.example.com");
        assert_eq!(x("%{d}", v4), "email.example.com");
        assert_eq!(x("%{d4}", v4), "email.example.com");
        assert_eq!(x("%{d3}", v4), "email.example.com");
        assert_eq!(x("%{d2}", v4), "example.com");
        assert_eq!(x("%{d1}", v4), "com");
        assert_eq!(x("%{dr}", v4), "com.example.email");
        assert_eq!(x("%{d2r}", v4), "example.email");
        assert_eq!(x("%{l}", v4), "strong-bad");
        assert_eq!(x("%{l-}", v4), "strong.bad");
        assert_eq!(x("%{lr}", v4), "strong-bad");
        assert_eq!(x("%{lr-}", v4), "bad.strong");
        assert_eq!(x("%{l1r-}", v4), "strong");
        assert_eq!(
            x("%{ir}.%{v}._spf.%{d2}", v4),
            "3.2.0.192.in-addr._spf.example.com"
        );
        assert_eq!(
            x("%{lr-}.lp._spf.%{d2}", v4),
            "bad.strong.lp._spf.example.com"
        );
        assert_eq!(
            x("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", v4),
            "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"
        );
        assert_eq!(
            x("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", v4),
            "3.2.0.192.in-addr.strong.lp._spf.example.com"
        );
        assert_eq!(
            x("%{d2}.trusted-domains.example.net", v4),
            "example.com.trusted-domains.example.net"
        );
        let v6 = "2001:db8::cb01";
        assert_eq!(
            x("%{ir}.%{v}._spf.%{d2}", v6),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
        );
    }

    #[test]
    fn ipv6_forms_and_exp_letters() {
        let v6 = "2001:db8::1";
        assert_eq!(
            x("%{i}", v6),
            "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1"
        );
        assert_eq!(x("%{c}", v6), "2001:db8::1");
        assert_eq!(x("%{i2r}", v6), "0.2");
        assert_eq!(
            x("%{r} %{t} %{p} %{h}", "192.0.2.3"),
            "mx.receiver.example 1234 p.example mx.example.org"
        );
        assert_eq!(x("%% %_ %-", "192.0.2.3"), "%   %20");
        assert_eq!(x("%{S}", "192.0.2.3"), "strong-bad%40email.example.com");
    }

    #[test]
    fn syntax_errors() {
        let v = vars("192.0.2.3");
        let bad = |s: &str, exp: bool| expand(s, "d.example", &v, exp, &mut String::new).is_err();
        assert!(bad("%{c}", false), "c only in exp");
        assert!(bad("%{r}", false));
        assert!(bad("%{t}", false));
        assert!(!bad("%{c}", true));
        assert!(bad("%{d0}", false), "zero labels");
        assert!(bad("%{x}", false));
        assert!(bad("%{d", false));
        assert!(bad("%x", false));
        assert!(bad("50%", false));
        assert!(bad("%{d2!}", false));
        assert!(well_formed("%{ir}.%{l1r+-}._spf.%{d}", false));
    }
}
