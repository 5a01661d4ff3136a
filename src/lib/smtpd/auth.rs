//! SMTP AUTH pieces (RFC 4954, qmail-smtpd(8)): which mechanisms `SMTPAUTH`
//! offers, decoding of the client's answers, and HMAC-MD5 for CRAM-MD5.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mech {
    Login,
    Plain,
    CramMd5,
}

impl Mech {
    /// The lower-case name used in logs and `AUTHPROTOCOL`.
    pub fn name(self) -> &'static str {
        match self {
            Mech::Login => "login",
            Mech::Plain => "plain",
            Mech::CramMd5 => "cram-md5",
        }
    }
    pub fn parse(word: &[u8]) -> Option<Mech> {
        [Mech::Login, Mech::Plain, Mech::CramMd5]
            .into_iter()
            .find(|m| m.name().as_bytes().eq_ignore_ascii_case(word))
    }
}

/// What `SMTPAUTH` enables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthMode {
    pub login_plain: bool,
    pub cram: bool,
    pub required: bool,
}

impl AuthMode {
    /// Reads the `SMTPAUTH` value (qmail-smtpd(8)).
    pub fn from_env(v: Option<&str>) -> AuthMode {
        let Some(v) = v else {
            return AuthMode::default();
        };
        let l = v.to_ascii_lowercase();
        if l == "-" {
            return AuthMode::default();
        }
        let (required, rest) = match l.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, l.as_str()),
        };
        let (cram, login_plain) = if rest.starts_with("+cram") {
            (true, true)
        } else if rest.starts_with("cram") {
            (true, false)
        } else {
            (false, true)
        };
        AuthMode {
            login_plain,
            cram,
            required,
        }
    }
    pub fn enabled(&self) -> bool {
        self.login_plain || self.cram
    }
    pub fn allows(&self, m: Mech) -> bool {
        match m {
            Mech::CramMd5 => self.cram,
            _ => self.login_plain,
        }
    }
    /// The EHLO keyword line.
    pub fn ehlo(&self) -> &'static str {
        match (self.login_plain, self.cram) {
            (true, true) => "AUTH LOGIN PLAIN CRAM-MD5",
            (false, true) => "AUTH CRAM-MD5",
            _ => "AUTH LOGIN PLAIN",
        }
    }
}

pub use crate::codec::{b64_decode, b64_encode, hex, hmac_md5_hex};

/// Splits a PLAIN response `authzid\0authcid\0password`. Exactly two
/// NULs: a NUL inside the password would reach the checkpassword program
/// as a field separator (a CRAM-MD5 answer and its challenge smuggled in
/// as "password"), so such a response is malformed.
pub fn split_plain(resp: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut parts = resp.split(|&b| b == 0);
    let _authzid = parts.next()?;
    let user = parts.next()?;
    let pass = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    Some((user.to_vec(), pass.to_vec()))
}

/// Splits a CRAM-MD5 response `user digest` at the last space; a NUL
/// anywhere makes it malformed.
pub fn split_cram(resp: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if has_nul(resp) {
        return None;
    }
    let sp = crate::bytescan::rfind(b' ', resp)?;
    Some((resp[..sp].to_vec(), resp[sp + 1..].to_vec()))
}

/// A decoded LOGIN user name or password must not contain a NUL (the
/// checkpassword block separates its fields with NULs).
pub fn has_nul(field: &[u8]) -> bool {
    crate::bytescan::find(0, field).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let m = |v| AuthMode::from_env(v);
        assert!(!m(None).enabled());
        assert!(!m(Some("-")).enabled());
        assert_eq!(m(Some("")).ehlo(), "AUTH LOGIN PLAIN");
        assert!(m(Some("!")).required);
        assert_eq!(m(Some("CRAMxyz")).ehlo(), "AUTH CRAM-MD5");
        assert_eq!(m(Some("!+cram")).ehlo(), "AUTH LOGIN PLAIN CRAM-MD5");
        assert!(m(Some("!+cram")).required);
        assert!(!m(Some("!cram")).allows(Mech::Plain));
        assert_eq!(Mech::parse(b"CRAM-md5"), Some(Mech::CramMd5));
    }

    /// The replay bypass: a CRAM-MD5 answer and its challenge after a NUL
    /// in the PLAIN password field.
    #[test]
    fn plain_refuses_nul_in_password() {
        assert_eq!(split_plain(b"\0joe\0R\0<1.2@h>"), None);
        assert_eq!(split_plain(b"\0joe\0pw\0"), None);
        assert_eq!(split_plain(b"\0joe"), None);
        assert_eq!(
            split_plain(b"admin\0joe\0pw").unwrap(),
            (b"joe".to_vec(), b"pw".to_vec())
        );
    }

    #[test]
    fn splits() {
        assert_eq!(
            split_plain(b"\0tim\0pw").unwrap(),
            (b"tim".to_vec(), b"pw".to_vec())
        );
        assert_eq!(split_cram(b"a b c").unwrap().0, b"a b");
        assert_eq!(split_cram(b"a\0b c"), None);
        assert_eq!(b64_decode(b"dGlt"), Some(b"tim".to_vec()));
    }
}
