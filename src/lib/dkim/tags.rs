//! Tag lists (`tag=value; tag=value`), the syntax of DKIM-Signature fields
//! and of key records: each value with its place in the text, so a
//! verifier can blank `b=` in the field as it was signed.

use std::ops::Range;

/// More tags than any signature or key record needs.
const MAX_TAGS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
    /// Where the value (without the blanks around it) is in the text.
    pub at: Range<usize>,
}

fn is_fws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn trim(text: &[u8], mut r: Range<usize>) -> Range<usize> {
    while r.start < r.end && is_fws(text[r.start]) {
        r.start += 1;
    }
    while r.end > r.start && is_fws(text[r.end - 1]) {
        r.end -= 1;
    }
    r
}

/// The tags of `text`; an error for a tag without `=`, a bad name, a
/// repeated name or too many tags.
pub fn parse(text: &[u8]) -> Result<Vec<Tag>, &'static str> {
    let mut tags: Vec<Tag> = Vec::new();
    let mut start = 0;
    while start <= text.len() {
        let end = crate::bytescan::find(b';', &text[start..]).map_or(text.len(), |i| start + i);
        let part = trim(text, start..end);
        if part.is_empty() {
            // Only the end may be empty (a trailing `;`).
            if end < text.len() && !trim(text, end + 1..text.len()).is_empty() {
                return Err("empty tag");
            }
        } else {
            let eq = crate::bytescan::find(b'=', &text[part.clone()])
                .map(|i| part.start + i)
                .ok_or("tag without =")?;
            let name = trim(text, part.start..eq);
            let n = &text[name.clone()];
            let good = n.first().is_some_and(u8::is_ascii_alphabetic)
                && n.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_');
            if !good {
                return Err("bad tag name");
            }
            if tags.iter().any(|t| t.name == n) {
                return Err("duplicate tag");
            }
            if tags.len() == MAX_TAGS {
                return Err("too many tags");
            }
            let at = trim(text, eq + 1..part.end);
            tags.push(Tag {
                name: n.to_vec(),
                value: text[at.clone()].to_vec(),
                at,
            });
        }
        start = end + 1;
    }
    Ok(tags)
}

/// The value of tag `name`.
pub fn get<'a>(tags: &'a [Tag], name: &str) -> Option<&'a [u8]> {
    tags.iter()
        .find(|t| t.name == name.as_bytes())
        .map(|t| t.value.as_slice())
}

/// A value with folding blanks removed (`h=`, `b=`, `p=` may be folded).
pub fn compact(v: &[u8]) -> Vec<u8> {
    v.iter().copied().filter(|&c| !is_fws(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_places() {
        let t = b"v=1; a=rsa-sha256;\r\n\tb= ab\r\n cd ; d=x.example;";
        let tags = parse(t).unwrap();
        assert_eq!(get(&tags, "a"), Some(&b"rsa-sha256"[..]));
        assert_eq!(compact(get(&tags, "b").unwrap()), b"abcd");
        let b = &tags[2];
        assert_eq!(&t[b.at.clone()], b"ab\r\n cd");
        assert_eq!(get(&tags, "d"), Some(&b"x.example"[..]));
        assert_eq!(get(&tags, "z"), None);
    }

    #[test]
    fn bad_lists() {
        assert_eq!(parse(b"v=1; v=1"), Err("duplicate tag"));
        assert_eq!(parse(b"v=1; x"), Err("tag without ="));
        assert_eq!(parse(b"v=1;; a=b"), Err("empty tag"));
        assert_eq!(parse(b"1v=1"), Err("bad tag name"));
        assert_eq!(parse(b"=1"), Err("bad tag name"));
        let many: Vec<u8> = (0..100)
            .flat_map(|i| format!("t{i}=x;").into_bytes())
            .collect();
        assert_eq!(parse(&many), Err("too many tags"));
        assert_eq!(parse(b"").unwrap(), vec![]);
        assert_eq!(parse(b"p=").unwrap()[0].value, b"");
    }
}
