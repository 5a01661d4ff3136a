//! Finding the `.qmail` file for an address and splitting it into
//! instructions (dot-qmail(5)).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

use crate::auto;
use crate::exit::Die;

/// The file that decides a delivery.
pub struct Found {
    /// Its contents (empty: use the default delivery).
    pub text: Vec<u8>,
    /// The owner-execute bit: forward-only.
    pub forward_only: bool,
    /// What `default` in its name stands for (the DEFAULT variable).
    pub default: Option<Vec<u8>>,
}

/// `ext` lower-cased with `.` turned into `:` (no dots in file names).
pub fn safe_ext(ext: &[u8]) -> Vec<u8> {
    ext.iter()
        .map(|&b| {
            if b == b'.' {
                b':'
            } else {
                b.to_ascii_lowercase()
            }
        })
        .collect()
}

fn name(dash: &[u8], middle: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut n = Vec::with_capacity(6 + dash.len() + middle.len() + tail.len());
    n.extend_from_slice(b".qmail");
    n.extend_from_slice(dash);
    n.extend_from_slice(middle);
    n.extend_from_slice(tail);
    n
}

fn open_error(name: &[u8], e: &io::Error) -> Die {
    Die::temp(format!(
        "Unable to open {}: {}. (#4.3.0)",
        String::from_utf8_lossy(name),
        super::errstr(e)
    ))
}

/// Opens one candidate: `Ok(None)` when absent or not a regular file.
/// Gives the file, its forward-only bit and its size.
fn open_candidate(name: &[u8]) -> Result<Option<(File, bool, u64)>, Die> {
    let f = match File::open(OsStr::from_bytes(name)) {
        Ok(f) => f,
        Err(e) if super::is_temp(&e) || e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(open_error(name, &e));
        }
        Err(_) => return Ok(None),
    };
    let st = f.metadata().map_err(|e| open_error(name, &e))?;
    if !st.file_type().is_file() {
        return Ok(None);
    }
    if st.mode() & auto::PATRN != 0 {
        return Err(Die::temp("Uh-oh: .qmail file is writable. (#4.7.0)"));
    }
    Ok(Some((f, st.mode() & 0o100 != 0, st.len())))
}

/// Searches `.qmail<dash><safeext>`, then the `default` files from the
/// longest `-`-ended prefix of safeext to the shortest.
pub fn search(dash: &[u8], ext: &[u8], safeext: &[u8]) -> Result<Option<Found>, Die> {
    let exact = name(dash, safeext, b"");
    if let Some((f, x, len)) = open_candidate(&exact)? {
        let default = safeext
            .strip_suffix(b"default")
            .and_then(|p| ext.get(p.len()..))
            .map(<[u8]>::to_vec);
        return read(f, len, x, default, &exact).map(Some);
    }
    for i in (0..=safeext.len()).rev() {
        if i != 0 && safeext[i - 1] != b'-' {
            continue;
        }
        let n = name(dash, &safeext[..i], b"default");
        if let Some((f, x, len)) = open_candidate(&n)? {
            let default = ext.get(i..).map(<[u8]>::to_vec);
            return read(f, len, x, default, &n).map(Some);
        }
    }
    Ok(None)
}

/// Reads the whole file whose size `fstat` gave (no second `fstat`).
fn read(
    mut f: File,
    len: u64,
    forward_only: bool,
    default: Option<Vec<u8>>,
    n: &[u8],
) -> Result<Found, Die> {
    let mut text = vec![0u8; usize::try_from(len).unwrap_or(0) + 1];
    let mut got = 0;
    loop {
        if got == text.len() {
            text.resize(got * 2, 0);
        }
        match f.read(&mut text[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(open_error(n, &e)),
        }
    }
    text.truncate(got);
    Ok(Found {
        text,
        forward_only,
        default,
    })
}

/// Whether `.qmail<dash><safeext><suffix>` exists (for NEWSENDER).
pub fn exists(dash: &[u8], safeext: &[u8], suffix: &[u8]) -> Result<bool, Die> {
    let n = name(dash, safeext, suffix);
    match std::fs::metadata(OsStr::from_bytes(&n)) {
        Ok(_) => Ok(true),
        Err(e) if super::is_temp(&e) => Err(open_error(&n, &e)),
        Err(_) => Ok(false),
    }
}

/// One line of a `.qmail` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instr<'a> {
    /// Blank (after the first line) or `#` comment.
    Skip,
    /// `+list`: forward-only from here on.
    ForwardOnly,
    Forward(&'a [u8]),
    Maildir(&'a [u8]),
    Mbox(&'a [u8]),
    Program(&'a [u8]),
}

/// Classifies one line (without its newline). Trailing blanks are cut.
pub fn parse_line(line: &[u8]) -> Instr<'_> {
    let end = line
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    let line = &line[..end];
    match line.first() {
        None | Some(b'#') => Instr::Skip,
        Some(b'.' | b'/') if line.ends_with(b"/") => Instr::Maildir(line),
        Some(b'.' | b'/') => Instr::Mbox(line),
        Some(b'|') => Instr::Program(&line[1..]),
        Some(b'+') if &line[1..] == b"list" => Instr::ForwardOnly,
        Some(b'+') => Instr::Skip,
        Some(b'&') => Instr::Forward(&line[1..]),
        Some(_) => Instr::Forward(line),
    }
}

/// Whether the line is blank once trailing blanks are cut.
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| b == b' ' || b == b'\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(parse_line(b"./Maildir/ \t"), Instr::Maildir(b"./Maildir/"));
        assert_eq!(parse_line(b"/var/mail/joe"), Instr::Mbox(b"/var/mail/joe"));
        assert_eq!(parse_line(b"|prog arg "), Instr::Program(b"prog arg"));
        assert_eq!(parse_line(b"&joe@x"), Instr::Forward(b"joe@x"));
        assert_eq!(parse_line(b"joe@x"), Instr::Forward(b"joe@x"));
        assert_eq!(parse_line(b"# c"), Instr::Skip);
        assert_eq!(parse_line(b"+list"), Instr::ForwardOnly);
        assert_eq!(parse_line(b"+other"), Instr::Skip);
        assert_eq!(parse_line(b"  "), Instr::Skip);
        assert!(is_blank(b" \t") && !is_blank(b" x"));
    }

    #[test]
    fn safe() {
        assert_eq!(safe_ext(b"Foo.Bar-X"), b"foo:bar-x");
    }
}
