//! The encodings the programs share, written once: base64 through the
//! `base64` crate (AUTH on both sides, DNSSEC keys), lower-case hex, and
//! CRAM-MD5's HMAC-MD5 (RFC 2104) through the `md-5` crate.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use md5::{Digest, Md5};

/// Decoding that takes padding or not, as zone files and some servers
/// write base64.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

pub fn b64_encode(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// One line of canonical base64 (blanks around it ignored); `None` when
/// it is not.
pub fn b64_decode(line: &[u8]) -> Option<Vec<u8>> {
    STANDARD.decode(line.trim_ascii()).ok()
}

/// base64 with or without padding, blanks and line breaks anywhere.
pub fn b64_decode_lenient(text: &[u8]) -> Option<Vec<u8>> {
    let compact: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    LENIENT.decode(compact).ok()
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// HMAC-MD5 as lower-case hex: the CRAM-MD5 digest.
pub fn hmac_md5_hex(key: &[u8], data: &[u8]) -> String {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..16].copy_from_slice(&Md5::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Md5::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Md5::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    hex(&outer.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_forms() {
        assert_eq!(b64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64_encode(b"f"), "Zg==");
        assert_eq!(b64_decode(b" dGlt\r"), Some(b"tim".to_vec()));
        assert_eq!(b64_decode(b"Zg"), None);
        assert_eq!(b64_decode_lenient(b"Zg"), Some(b"f".to_vec()));
        assert_eq!(b64_decode_lenient(b"Zm9v\nYmFy"), Some(b"foobar".to_vec()));
        assert_eq!(b64_decode_lenient(b"!!"), None);
    }

    #[test]
    fn cram_vector() {
        // RFC 2195's example.
        let d = hmac_md5_hex(
            b"tanstaaftanstaaf",
            b"<1896.697170952@postoffice.reston.mci.net>",
        );
        assert_eq!(d, "b913a602c7eda7a495b4e6e7334d3890");
        let long = [b'k'; 80];
        assert_eq!(hmac_md5_hex(&long, b"x").len(), 32);
    }
}
