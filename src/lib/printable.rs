//! The one filter that makes peer-supplied bytes safe to show in a log
//! line, a reply, a report or a header: bytes a caller does not keep become
//! a stand-in (`?`, or qmail-qread's `_`). Each caller names what it keeps.

/// Printable ASCII, space included (32 to 126).
pub fn ascii(b: u8) -> bool {
    (32..=126).contains(&b)
}

/// Printable ASCII without space (33 to 126): one word.
pub fn word(b: u8) -> bool {
    (33..=126).contains(&b)
}

/// Anything but ASCII control bytes (8-bit bytes pass).
pub fn not_control(b: u8) -> bool {
    b >= 32 && b != 127
}

/// The bytes `keep` allows, the others as `with`.
pub fn bytes(data: &[u8], keep: impl Fn(u8) -> bool, with: u8) -> Vec<u8> {
    data.iter()
        .map(|&b| if keep(b) { b } else { with })
        .collect()
}

/// As `bytes`, as text, with `?`.
pub fn text(data: &[u8], keep: impl Fn(u8) -> bool) -> String {
    data.iter()
        .map(|&b| if keep(b) { char::from(b) } else { '?' })
        .collect()
}

/// The Received line's filter (qmail-smtpd(8)): letters, digits, space and
/// `.@%+/=:-` stay, other bytes become `?`.
pub fn header_safe(s: &[u8]) -> String {
    text(s, |b| {
        b.is_ascii_alphanumeric() || b" .@%+/=:-".contains(&b)
    })
}

/// Text with its control characters as `?` (a log field stays one line).
pub fn no_controls(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert_eq!(bytes(b"a\tb\x7f~\xe9", ascii, b'_'), b"a_b_~_");
        assert_eq!(bytes(b"a\r\n\xe9", not_control, b'?'), b"a??\xe9");
        assert_eq!(text(b"a b\0", word), "a?b?");
        assert_eq!(no_controls("a\u{7}b\u{e9}\n"), "a?b\u{e9}?");
    }
}
