//! A POP3 command line: the keyword (case-insensitive) and its argument,
//! and message numbers. Bytes throughout: a NUL or a non-UTF-8 byte is an
//! input like any other, never a panic.

/// The keywords qmail-popup and qmail-pop3d know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Apop,
    Capa,
    Dele,
    Last,
    List,
    Noop,
    Pass,
    Quit,
    Retr,
    Rset,
    Stat,
    Stls,
    Top,
    Uidl,
    User,
    Unknown,
}

const VERBS: &[(&[u8], Verb)] = &[
    (b"apop", Verb::Apop),
    (b"capa", Verb::Capa),
    (b"dele", Verb::Dele),
    (b"last", Verb::Last),
    (b"list", Verb::List),
    (b"noop", Verb::Noop),
    (b"pass", Verb::Pass),
    (b"quit", Verb::Quit),
    (b"retr", Verb::Retr),
    (b"rset", Verb::Rset),
    (b"stat", Verb::Stat),
    (b"stls", Verb::Stls),
    (b"top", Verb::Top),
    (b"uidl", Verb::Uidl),
    (b"user", Verb::User),
];

/// A line that is no command at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Splits a line (without its LF; one CR before it is dropped) into the
/// keyword and the argument: everything after the first space and the
/// spaces that follow it (a password may contain spaces). A NUL would cut
/// the checkpassword block short, so a line with one is refused.
pub fn split(line: &[u8]) -> Result<(Verb, &[u8]), Malformed> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.contains(&0) {
        return Err(Malformed);
    }
    let (word, arg) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &b""[..]),
    };
    let start = arg.iter().position(|&b| b != b' ').unwrap_or(arg.len());
    let verb = VERBS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(word))
        .map_or(Verb::Unknown, |&(_, v)| v);
    Ok((verb, &arg[start..]))
}

/// `split`, or `-ERR syntax error` appended to `out`.
pub fn parse<'a>(line: &'a [u8], out: &mut Vec<u8>) -> Option<(Verb, &'a [u8])> {
    let parsed = split(line).ok();
    if parsed.is_none() {
        crate::pop3::reply::put(out, crate::pop3::reply::SYNTAX);
    }
    parsed
}

/// Why a message number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    Syntax,
    Zero,
    TooBig,
}

/// A decimal number made of the whole of `word` (saturating: a huge one
/// is simply too big).
pub fn number(word: &[u8]) -> Option<u64> {
    if word.is_empty() || !word.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(word.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// The message `word` names among `count` (1-based on the wire), as an
/// index.
pub fn message(word: &[u8], count: usize) -> Result<usize, NumberError> {
    let n = number(word).ok_or(NumberError::Syntax)?;
    if n == 0 {
        return Err(NumberError::Zero);
    }
    match usize::try_from(n - 1) {
        Ok(i) if i < count => Ok(i),
        _ => Err(NumberError::TooBig),
    }
}

/// The space-separated words of an argument.
pub fn words(arg: &[u8]) -> impl Iterator<Item = &[u8]> {
    arg.split(|&b| b == b' ').filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(split(b"USER joe\r"), Ok((Verb::User, &b"joe"[..])));
        assert_eq!(
            split(b"pass  two words "),
            Ok((Verb::Pass, &b"two words "[..]))
        );
        assert_eq!(split(b"sTaT"), Ok((Verb::Stat, &b""[..])));
        assert_eq!(split(b"\xff\xfe x"), Ok((Verb::Unknown, &b"x"[..])));
        assert_eq!(split(b""), Ok((Verb::Unknown, &b""[..])));
        assert_eq!(split(b"USER a\0b"), Err(Malformed));
        assert_eq!(split(b"RETR\r\r"), Ok((Verb::Unknown, &b""[..])));
    }

    #[test]
    fn numbers() {
        assert_eq!(message(b"1", 3), Ok(0));
        assert_eq!(message(b"3", 3), Ok(2));
        assert_eq!(message(b"4", 3), Err(NumberError::TooBig));
        assert_eq!(message(b"0", 3), Err(NumberError::Zero));
        assert_eq!(message(b"", 3), Err(NumberError::Syntax));
        assert_eq!(message(b"1x", 3), Err(NumberError::Syntax));
        assert_eq!(message(b"-1", 3), Err(NumberError::Syntax));
        assert_eq!(
            message(b"99999999999999999999999999", 3),
            Err(NumberError::TooBig)
        );
        assert_eq!(words(b" 1  2 ").collect::<Vec<_>>(), [b"1", b"2"]);
    }
}
