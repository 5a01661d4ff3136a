//! Header field names: which fields qmail-inject knows, and which lines
//! are header fields at all.

/// The fields qmail-inject treats specially.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    ApparentlyTo,
    Bcc,
    Cc,
    ContentLength,
    Date,
    ErrorsTo,
    From,
    MailFollowupTo,
    MessageId,
    ResentBcc,
    ResentCc,
    ResentDate,
    ResentFrom,
    ResentMessageId,
    ResentReplyTo,
    ResentSender,
    ResentTo,
    ReplyTo,
    ReturnPath,
    ReturnReceiptTo,
    Sender,
    To,
}

/// How many `Field`s there are (for "seen" tables).
pub const COUNT: usize = 22;

/// Names in lower case. Fields with no role here (Subject, Received, ...)
/// are plain fields and need no entry.
const NAMES: [(&str, Field); COUNT] = [
    ("sender", Field::Sender),
    ("from", Field::From),
    ("reply-to", Field::ReplyTo),
    ("to", Field::To),
    ("cc", Field::Cc),
    ("bcc", Field::Bcc),
    ("date", Field::Date),
    ("message-id", Field::MessageId),
    ("resent-sender", Field::ResentSender),
    ("resent-from", Field::ResentFrom),
    ("resent-reply-to", Field::ResentReplyTo),
    ("resent-to", Field::ResentTo),
    ("resent-cc", Field::ResentCc),
    ("resent-bcc", Field::ResentBcc),
    ("resent-date", Field::ResentDate),
    ("resent-message-id", Field::ResentMessageId),
    ("return-receipt-to", Field::ReturnReceiptTo),
    ("errors-to", Field::ErrorsTo),
    ("apparently-to", Field::ApparentlyTo),
    ("return-path", Field::ReturnPath),
    ("content-length", Field::ContentLength),
    ("mail-followup-to", Field::MailFollowupTo),
];

/// True when `line` starts with `name` (ASCII case-insensitive, but a
/// hyphen must be a hyphen), then optional blanks and a colon.
fn name_matches(line: &[u8], name: &str) -> bool {
    let n = name.len();
    if line.len() <= n || !line[..n].eq_ignore_ascii_case(name.as_bytes()) {
        return false;
    }
    let rest = &line[n..];
    match rest.iter().position(|&c| c != b' ' && c != b'\t') {
        Some(i) => rest[i] == b':',
        None => false,
    }
}

/// The known field this line starts, if any.
pub fn known(line: &[u8]) -> Option<Field> {
    NAMES
        .iter()
        .find(|(name, _)| name_matches(line, name))
        .map(|&(_, f)| f)
}

/// True when the line is a header field: a non-empty name of printable
/// bytes without spaces, optional blanks, then a colon.
pub fn valid(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&c| c == b':') else {
        return false;
    };
    let name = strip_blanks_end(&line[..colon]);
    !name.is_empty() && name.iter().all(|&c| (33..=126).contains(&c))
}

fn strip_blanks_end(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(0, |i| i + 1);
    &s[..n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(known(b"TO: x\n"), Some(Field::To));
        assert_eq!(known(b"resent-TO \t: x\n"), Some(Field::ResentTo));
        assert_eq!(known(b"Tox: x\n"), None);
        assert_eq!(known(b"Resent_To: x\n"), None);
        assert_eq!(known(b"Content-Length:0\n"), Some(Field::ContentLength));
        assert_eq!(known(b"To\n"), None);
    }

    #[test]
    fn validity() {
        assert!(valid(b"X-Foo: bar\n"));
        assert!(valid(b"X-Foo \t: bar\n"));
        assert!(!valid(b"X Foo: bar\n"));
        assert!(!valid(b" X: bar\n"));
        assert!(!valid(b": bar\n"));
        assert!(!valid(b"no colon\n"));
        assert!(!valid(b"X\x80: y\n"));
    }
}
