//! The client side of SMTP AUTH (RFC 4954): the PLAIN response, xtext,
//! and the CRAM-MD5 answer (RFC 2195), with `codec`'s base64 and HMAC-MD5.

use crate::codec::{b64_decode_lenient, b64_encode, hmac_md5_hex};

/// RFC 3461 xtext as s/qmail writes it for `AUTH=`: `=` → `+3D`, `+` →
/// `+2B`, bytes outside 33..126 → `+3F`.
pub fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'=' => out.push_str("+3D"),
            b'+' => out.push_str("+2B"),
            33..=126 => out.push(char::from(b)),
            _ => out.push_str("+3F"),
        }
    }
    out
}

/// The PLAIN response: authorization id (the envelope sender, as s/qmail
/// sends it), user, password.
pub fn plain(sender: &[u8], user: &str, pass: &str) -> String {
    b64_encode(&[sender, b"\0", user.as_bytes(), b"\0", pass.as_bytes()].concat())
}

/// The CRAM-MD5 response to a base64 challenge.
pub fn cram_md5(user: &str, pass: &str, challenge_b64: &[u8]) -> Option<String> {
    let challenge = b64_decode_lenient(challenge_b64)?;
    let hex = hmac_md5_hex(pass.as_bytes(), &challenge);
    Some(b64_encode(format!("{user} {hex}").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::b64_decode;

    #[test]
    fn cram_md5_rfc2195() {
        let ch = b64_encode(b"<1896.697170952@postoffice.reston.mci.net>");
        let r = cram_md5("tim", "tanstaaftanstaaf", ch.as_bytes()).unwrap();
        assert_eq!(
            b64_decode(r.as_bytes()).unwrap(),
            b"tim b913a602c7eda7a495b4e6e7334d3890"
        );
    }

    #[test]
    fn xtext_and_plain() {
        assert_eq!(xtext("a=b+c d"), "a+3Db+2Bc+3Fd");
        assert_eq!(
            b64_decode(plain(b"s@x", "u", "p").as_bytes()).unwrap(),
            b"s@x\0u\0p"
        );
    }
}
