//! The policy record at `_dmarc.<domain>` (qmail-dkverify(8), DMARC): a
//! tag list that starts with `v=DMARC1`. Known tags with bad values fall
//! back to their defaults and unknown tags are passed over, as the record's
//! rules ask; only a missing or bad `p=` makes the record unusable.

/// Records longer than this are refused, not parsed.
pub const MAX_RECORD: usize = 4096;

/// What a domain asks receivers to do with mail that fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    None,
    Quarantine,
    Reject,
}

impl Policy {
    fn parse(v: &[u8]) -> Option<Policy> {
        match v.to_ascii_lowercase().as_slice() {
            b"none" => Some(Policy::None),
            b"quarantine" => Some(Policy::Quarantine),
            b"reject" => Some(Policy::Reject),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Policy::None => "none",
            Policy::Quarantine => "quarantine",
            Policy::Reject => "reject",
        }
    }

    /// The next less strict policy: what a message left out by `pct=`
    /// gets.
    pub fn weaker(self) -> Policy {
        match self {
            Policy::Reject => Policy::Quarantine,
            _ => Policy::None,
        }
    }
}

/// A parsed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub p: Policy,
    /// For subdomains of the organizational domain the record was found
    /// at; `p` when absent.
    pub sp: Option<Policy>,
    /// Strict DKIM alignment (`adkim=s`).
    pub strict_dkim: bool,
    /// Strict SPF alignment (`aspf=s`).
    pub strict_spf: bool,
    /// Percent of failing mail the policy applies to (0–100).
    pub pct: u8,
}

/// Why a record is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// Not a DMARC record at all (other TXT data at the name).
    NotDmarc,
    TooLong,
    /// No valid `p=` and no `rua=` that would make it `p=none`.
    NoPolicy,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecordError::NotDmarc => "not a DMARC record",
            RecordError::TooLong => "DMARC record too long",
            RecordError::NoPolicy => "DMARC record without a valid p=",
        })
    }
}

/// The `name=value` parts of a tag list, blanks trimmed, names in lower
/// case; a part without `=` is given with an empty name.
fn tags(text: &[u8]) -> impl Iterator<Item = (Vec<u8>, &[u8])> {
    text.split(|&c| c == b';')
        .map(<[u8]>::trim_ascii)
        .filter(|p| !p.is_empty())
        .map(|p| match crate::bytescan::find(b'=', p) {
            Some(i) => (
                p[..i].trim_ascii().to_ascii_lowercase(),
                p[i + 1..].trim_ascii(),
            ),
            None => (Vec::new(), p),
        })
}

/// True when the TXT data is a DMARC record (its first tag is
/// `v=DMARC1`), whatever the rest says.
pub fn is_dmarc(text: &[u8]) -> bool {
    tags(text)
        .next()
        .is_some_and(|(n, v)| n == b"v" && v == b"DMARC1")
}

/// An `rua=`/`ruf=` list with at least one URI of the form `scheme:rest`.
fn has_uri(v: &[u8]) -> bool {
    v.split(|&c| c == b',').any(|u| {
        let u = u.trim_ascii();
        u.iter().position(|&c| c == b':').is_some_and(|i| {
            i > 0
                && i + 1 < u.len()
                && u[0].is_ascii_alphabetic()
                && u[..i]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        })
    })
}

/// Parses one TXT record. The first of a repeated tag counts.
pub fn parse(text: &[u8]) -> Result<Record, RecordError> {
    if text.len() > MAX_RECORD {
        return Err(RecordError::TooLong);
    }
    if !is_dmarc(text) {
        return Err(RecordError::NotDmarc);
    }
    let mut p: Option<Option<Policy>> = None;
    let mut sp: Option<Option<Policy>> = None;
    let (mut adkim, mut aspf, mut pct, mut rua) = (None, None, None, None);
    for (name, v) in tags(text).skip(1) {
        let mode = |v: &[u8]| match v {
            b"s" | b"S" => Some(true),
            b"r" | b"R" => Some(false),
            _ => None,
        };
        match name.as_slice() {
            b"p" => {
                p.get_or_insert(Policy::parse(v));
            }
            b"sp" => {
                sp.get_or_insert(Policy::parse(v));
            }
            b"adkim" => {
                adkim.get_or_insert(mode(v));
            }
            b"aspf" => {
                aspf.get_or_insert(mode(v));
            }
            b"pct" => {
                let n = std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<u8>().ok())
                    .filter(|&n| n <= 100);
                pct.get_or_insert(n);
            }
            b"rua" => {
                rua.get_or_insert(has_uri(v));
            }
            _ => {}
        }
    }
    let p = match p.flatten() {
        Some(p) => p,
        // A record with reports wanted but no usable policy is p=none.
        None if rua == Some(true) => Policy::None,
        None => return Err(RecordError::NoPolicy),
    };
    Ok(Record {
        p,
        sp: sp.flatten(),
        strict_dkim: adkim.flatten().unwrap_or(false),
        strict_spf: aspf.flatten().unwrap_or(false),
        pct: pct.flatten().unwrap_or(100),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_records() {
        let r = parse(b"v=DMARC1; p=reject").unwrap();
        assert_eq!(
            r,
            Record {
                p: Policy::Reject,
                sp: None,
                strict_dkim: false,
                strict_spf: false,
                pct: 100
            }
        );
        let r = parse(
            b"v=DMARC1 ;\tP=Quarantine; sp=none; adkim=s; aspf=s; pct=20; rua=mailto:d@example.com;",
        )
        .unwrap();
        assert_eq!(r.p, Policy::Quarantine);
        assert_eq!(r.sp, Some(Policy::None));
        assert!(r.strict_dkim && r.strict_spf);
        assert_eq!(r.pct, 20);
        // Bad values of known tags take the defaults; the first of a
        // repeated tag counts; junk is passed over.
        let r = parse(
            b"v=DMARC1; p=reject; p=none; sp=never; adkim=x; pct=101; junk; =x; \x00\xff=\xfe",
        )
        .unwrap();
        assert_eq!(
            (r.p, r.sp, r.strict_dkim, r.pct),
            (Policy::Reject, None, false, 100)
        );
        assert_eq!(parse(b"v=DMARC1; p=none; pct=-1").unwrap().pct, 100);
        assert_eq!(parse(b"v=DMARC1; p=none; pct=0").unwrap().pct, 0);
        // No usable p=, but reports wanted: p=none.
        assert_eq!(
            parse(b"v=DMARC1; p=bogus; rua=mailto:x@example.com")
                .unwrap()
                .p,
            Policy::None
        );
    }

    #[test]
    fn bad_records() {
        assert_eq!(parse(b"p=reject; v=DMARC1"), Err(RecordError::NotDmarc));
        assert_eq!(parse(b"v=DMARC10; p=reject"), Err(RecordError::NotDmarc));
        assert_eq!(parse(b"v=dmarc1; p=reject"), Err(RecordError::NotDmarc));
        assert_eq!(parse(b"v=spf1 -all"), Err(RecordError::NotDmarc));
        assert_eq!(parse(b""), Err(RecordError::NotDmarc));
        assert_eq!(parse(b";;;"), Err(RecordError::NotDmarc));
        assert_eq!(parse(b"v=DMARC1"), Err(RecordError::NoPolicy));
        assert_eq!(parse(b"v=DMARC1; p="), Err(RecordError::NoPolicy));
        assert_eq!(
            parse(b"v=DMARC1; p=x; rua=nothing"),
            Err(RecordError::NoPolicy)
        );
        let mut huge = b"v=DMARC1; p=reject; ".to_vec();
        huge.extend(std::iter::repeat_n(b'x', MAX_RECORD));
        assert_eq!(parse(&huge), Err(RecordError::TooLong));
        // Whatever the bytes, an answer and no panic.
        let mut seed = 7u32;
        for len in 0..300 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    b"v=DMARC1;p =rejectsp,\x00\xff\t"[(seed >> 16) as usize % 24]
                })
                .collect();
            let _ = parse(&junk);
            let _ = is_dmarc(&junk);
        }
    }
}
