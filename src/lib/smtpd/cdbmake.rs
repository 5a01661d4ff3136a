//! The table compilers of qmail-smtpd's policy files (qmail-recipients,
//! qmail-mfrules, qmail-badmimetypes, qmail-badloadertypes): read a text
//! file in the home, write `NAME.cdb` via `NAME.tmp`, fsync, rename.

use std::path::Path;

use crate::cdb::CdbMaker;
use crate::exit::Die;

/// A record maker: one source line (LF removed) to its records, or the
/// parse error (exit 100).
pub type Records<'a> = dyn FnMut(&str) -> Result<Vec<(Vec<u8>, Vec<u8>)>, String> + 'a;

/// Builds `dest` (relative to `home`) from `src`, through `tmp`.
pub fn build(
    home: &Path,
    src: &str,
    tmp: &str,
    dest: &str,
    records: &mut Records,
) -> Result<(), Die> {
    crate::sys::umask(0o033);
    let text = std::fs::read(home.join(src)).map_err(|e| Die::sys(format!("read {src}"), e))?;
    let text = String::from_utf8_lossy(&text);
    let write_err = |e: std::io::Error| Die::sys(format!("write to {tmp}"), e);
    let mut m = CdbMaker::create(&home.join(tmp), &home.join(dest)).map_err(write_err)?;
    for line in text.lines() {
        for (k, v) in records(line).map_err(Die::perm)? {
            m.add(&k, &v).map_err(write_err)?;
        }
    }
    m.finish()
        .map_err(|_| Die::temp(format!("unable to move {tmp} to {dest}")))
}

/// A list line with trailing blanks cut, `None` for comments and blanks.
pub fn list_line(line: &str) -> Option<&str> {
    let l = line.trim_end_matches([' ', '\t', '\r']);
    (!l.is_empty() && !l.starts_with('#')).then_some(l)
}

/// The first `n` bytes of a line as a key, for lines of at least `n` bytes
/// not starting with `#` (qmail-badmimetypes, qmail-badloadertypes).
pub fn prefix_key(line: &str, n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    if line.starts_with('#') || line.len() < n {
        return Vec::new();
    }
    vec![(line.as_bytes()[..n].to_vec(), Vec::new())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(list_line("a@b \t"), Some("a@b"));
        assert_eq!(list_line("# x"), None);
        assert_eq!(
            prefix_key("TVqQAAMAAAAE", 9),
            vec![(b"TVqQAAMAA".to_vec(), vec![])]
        );
        assert!(prefix_key("TVqQAAMA", 9).is_empty());
        assert!(prefix_key("#VqQAAMAAAA", 9).is_empty());
    }
}
