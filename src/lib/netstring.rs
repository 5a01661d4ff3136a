//! Netstrings (`<decimal length>:<bytes>,`), the framing of QMTP and QMQP
//! (qmail-qmtpd(8), qmail-qmqpd(8), qmail-qmqpc(8)).

/// Appends `data` as one netstring.
pub fn push(out: &mut Vec<u8>, data: &[u8]) {
    push_header(out, data.len() as u64);
    out.extend_from_slice(data);
    out.push(b',');
}

/// Appends the `<length>:` that opens a netstring of `len` bytes.
pub fn push_header(out: &mut Vec<u8>, len: u64) {
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b':');
}

/// `data` as one netstring.
pub fn wrap(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + 12);
    push(&mut v, data);
    v
}

/// Why a length prefix is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthError {
    /// Not a decimal number: a non-digit, no digit at all, or a leading zero.
    Syntax,
    /// Above the reader's limit.
    TooLong,
}

/// Reads a length prefix up to and including its `:`, one byte at a time
/// from `byte`; `max` is the largest length accepted. A length of more than
/// one digit may not start with `0` (netstrings have one spelling).
pub fn read_length<E>(
    mut byte: impl FnMut() -> Result<u8, E>,
    max: u64,
) -> Result<Result<u64, LengthError>, E> {
    let mut len: u64 = 0;
    let mut digits = 0usize;
    loop {
        let b = byte()?;
        match b {
            b':' if digits > 0 => return Ok(Ok(len)),
            b'0'..=b'9' => {
                if digits == 1 && len == 0 {
                    return Ok(Err(LengthError::Syntax));
                }
                digits += 1;
                len = len * 10 + u64::from(b - b'0');
                if len > max {
                    return Ok(Err(LengthError::TooLong));
                }
            }
            _ => return Ok(Err(LengthError::Syntax)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8], max: u64) -> Result<Result<u64, LengthError>, ()> {
        let mut it = s.iter().copied();
        read_length(|| it.next().ok_or(()), max)
    }

    #[test]
    fn encodes() {
        let mut v = Vec::new();
        push(&mut v, b"");
        push(&mut v, b"abc");
        assert_eq!(v, b"0:,3:abc,");
        assert_eq!(wrap(b"hello"), b"5:hello,");
    }

    #[test]
    fn lengths() {
        assert_eq!(parse(b"0:", 10), Ok(Ok(0)));
        assert_eq!(parse(b"123:", 1000), Ok(Ok(123)));
        assert_eq!(parse(b"05:", 1000), Ok(Err(LengthError::Syntax)));
        assert_eq!(parse(b"00:", 1000), Ok(Err(LengthError::Syntax)));
        assert_eq!(parse(b":", 1000), Ok(Err(LengthError::Syntax)));
        assert_eq!(parse(b"1a:", 1000), Ok(Err(LengthError::Syntax)));
        assert_eq!(parse(b" 1:", 1000), Ok(Err(LengthError::Syntax)));
        assert_eq!(parse(b"1001:", 1000), Ok(Err(LengthError::TooLong)));
        // a huge claim stops at the limit, never overflows
        assert_eq!(
            parse(b"99999999999999999999999999:", 200_000_000),
            Ok(Err(LengthError::TooLong))
        );
        assert_eq!(parse(b"12", 1000), Err(()));
    }
}
