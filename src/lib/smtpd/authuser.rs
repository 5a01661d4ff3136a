//! qmail-authuser's decisions (qmail-authuser(8)): parse the checkpassword block,
//! find the user's token in `users/authuser`, verify the password or the
//! CRAM-MD5/APOP response against it.

use std::io;

use super::auth::{hex, hmac_md5_hex};

/// The most fd 3 may carry.
pub const MAX_INPUT: usize = 512;

/// The checkpassword fields; the secret is zeroed on drop.
pub struct Credentials {
    pub user: String,
    pub secret: Vec<u8>,
    pub challenge: Vec<u8>,
}

impl Drop for Credentials {
    fn drop(&mut self) {
        self.secret.iter_mut().for_each(|b| *b = 0);
    }
}

/// `user\0secret\0challenge\0`; a missing challenge reads as empty.
/// `None` is misuse (exit 2).
pub fn parse_block(b: &[u8]) -> Option<Credentials> {
    if b.len() > MAX_INPUT {
        return None;
    }
    let mut f = b.split(|&c| c == 0);
    let user = f.next()?;
    let secret = f.next()?;
    // Without a NUL after the secret the block is malformed.
    if b.iter().filter(|&&c| c == 0).count() < 2 {
        return None;
    }
    let challenge = f.next().unwrap_or(&[]);
    // Nothing may follow the third field: extra NUL-separated fields are
    // how a PLAIN password smuggled a CRAM-MD5 answer and its challenge.
    if f.next().is_some_and(|rest| !rest.is_empty()) || f.next().is_some() {
        return None;
    }
    Some(Credentials {
        user: String::from_utf8_lossy(user).into_owned(),
        secret: secret.to_vec(),
        challenge: challenge.to_vec(),
    })
}

/// The token that applies to `user` (qmail-authuser(8)), or `None`
/// (unknown or disabled: exit 1).
pub fn find_token(lines: &[(String, String)], user: &str) -> Option<String> {
    let get = |k: &str| {
        lines
            .iter()
            .rev()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    let full = match user.rfind('@') {
        Some(at) => format!("{}@{}", &user[..at], user[at + 1..].to_ascii_lowercase()),
        None => user.to_string(),
    };
    let domain = full.rfind('@').map(|at| full[at..].to_string());
    if get(&format!("!{full}")).is_some()
        || domain
            .as_ref()
            .is_some_and(|d| get(&format!("!{d}")).is_some())
    {
        return None;
    }
    get(&full)
        .or_else(|| domain.as_ref().and_then(|d| get(d)))
        .or_else(|| domain.as_ref().and_then(|_| get("@")))
        .or_else(|| get("*"))
}

/// `users/authuser` lines `key:token`.
pub fn parse_file(text: &str) -> Vec<(String, String)> {
    crate::control::parse_list(text)
        .into_iter()
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// Comparison that does not stop at the first difference.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a stored secret token (`%HEX` or plaintext) against the
/// credentials: the password itself, or a CRAM-MD5 response.
pub fn check_secret(token: &str, c: &Credentials) -> bool {
    if let Some(h) = token.strip_prefix('%') {
        let got = match h.len() {
            32 => {
                use md5::Digest;
                hex(&md5::Md5::digest(&c.secret))
            }
            40 => hex(
                ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &c.secret).as_ref(),
            ),
            64 => hex(ring::digest::digest(&ring::digest::SHA256, &c.secret).as_ref()),
            _ => String::new(),
        };
        if !got.is_empty() && ct_eq(got.as_bytes(), h.to_ascii_lowercase().as_bytes()) {
            return true;
        }
    } else if ct_eq(token.as_bytes(), &c.secret) {
        return true;
    }
    // Only a challenge as qmail-smtpd (CRAM-MD5) and qmail-popup (APOP)
    // make one, `<...>`, turns on the challenge-response checks.
    if !(c.challenge.starts_with(b"<") && c.challenge.ends_with(b">")) {
        return false;
    }
    ct_eq(
        hmac_md5_hex(token.as_bytes(), &c.challenge).as_bytes(),
        &c.secret,
    ) || ct_eq(
        apop_hex(&c.challenge, token.as_bytes()).as_bytes(),
        &c.secret,
    )
}

/// The APOP digest (RFC 1939): hex MD5 of the timestamp and the secret.
fn apop_hex(timestamp: &[u8], secret: &[u8]) -> String {
    use md5::Digest;
    let mut m = md5::Md5::new();
    m.update(timestamp);
    m.update(secret);
    hex(&m.finalize())
}

/// The stored hash of a system user: `/etc/shadow`, else the passwd field.
/// `Ok(None)`: no such user.
pub fn system_hash(user: &str, passwd: &str, shadow: &str) -> io::Result<Option<String>> {
    let field = |path: &str| -> io::Result<Option<String>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(text.lines().find_map(|l| {
            let mut f = l.split(':');
            (f.next() == Some(user)).then(|| f.next().unwrap_or("").to_string())
        }))
    };
    let Some(pw) = field(passwd)? else {
        return Ok(None);
    };
    if pw == "x" || pw.starts_with("*") {
        return Ok(Some(field(shadow)?.unwrap_or_default()));
    }
    Ok(Some(pw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(user: &str, secret: &[u8], ch: &[u8]) -> Credentials {
        Credentials {
            user: user.into(),
            secret: secret.to_vec(),
            challenge: ch.to_vec(),
        }
    }

    #[test]
    fn blocks() {
        let c = parse_block(b"joe\0pw\0<1.2@h>\0").unwrap();
        assert_eq!(
            (c.user.as_str(), &c.secret[..], &c.challenge[..]),
            ("joe", &b"pw"[..], &b"<1.2@h>"[..])
        );
        assert!(parse_block(b"joe\0pw\0").is_some());
        assert!(parse_block(b"joe\0pw").is_none());
        assert!(parse_block(&[b'a'; 513]).is_none());
        assert!(parse_block(b"joe\0R\0<1.2@h>\0\0").is_none());
        assert!(parse_block(b"joe\0R\0<1.2@h>\0x").is_none());
    }

    #[test]
    fn tokens() {
        let l = parse_file(
            "# c\njoe@example.com:pw1\n@example.com:pw2\n!bad@example.com:x\n!@off.example:x\n@:pw3\n*:?\n",
        );
        assert_eq!(find_token(&l, "joe@EXAMPLE.com").as_deref(), Some("pw1"));
        assert_eq!(find_token(&l, "ann@example.com").as_deref(), Some("pw2"));
        assert_eq!(find_token(&l, "bad@example.com"), None);
        assert_eq!(find_token(&l, "x@off.example"), None);
        assert_eq!(find_token(&l, "x@else.example").as_deref(), Some("pw3"));
        assert_eq!(find_token(&l, "root").as_deref(), Some("?"));
        assert_eq!(find_token(&[], "root"), None);
    }

    #[test]
    fn secrets() {
        assert!(check_secret("pw", &creds("u", b"pw", b"")));
        assert!(!check_secret("pw", &creds("u", b"px", b"")));
        // md5("pw"), sha256("pw")
        assert!(check_secret(
            "%8fe4c11451281c094a6578e6ddbf5eed",
            &creds("u", b"pw", b"")
        ));
        assert!(check_secret(
            "%30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4",
            &creds("u", b"pw", b"")
        ));
        let ch = b"<1896.697170952@postoffice.reston.mci.net>";
        assert!(check_secret(
            "tanstaaftanstaaf",
            &creds("tim", b"b913a602c7eda7a495b4e6e7334d3890", ch)
        ));
        assert!(!check_secret(
            "other",
            &creds("tim", b"b913a602c7eda7a495b4e6e7334d3890", ch)
        ));
        // RFC 1939's APOP example.
        let ts = b"<1896.697170952@dbc.mtview.ca.us>";
        let apop = creds("mrose", b"c4c9334bac560ecc979e58001b3e22fb", ts);
        assert!(check_secret("tanstaaf", &apop));
        assert!(!check_secret(
            "tanstaaf",
            &creds("mrose", b"c4c9334bac560ecc979e58001b3e22fb", b"")
        ));
        assert!(!check_secret("other", &apop));
    }
}
