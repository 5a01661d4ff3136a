//! Control files (`HOME/control/*`) read by qmail's rules:
//! line files (first line, trailing blanks cut), integer files (a first line
//! not starting with a digit keeps the default), list files (every line,
//! blank and `#` lines skipped), map files (`key:value`, split at the first
//! colon, case-insensitive keys, the last occurrence wins).
//!
//! A missing file gives the default; a file that exists but cannot be read
//! is an error (the caller fails temporarily).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The control directory of one qmail home.
#[derive(Debug, Clone)]
pub struct Control {
    dir: PathBuf,
}

fn trim_end_blanks(s: &str) -> &str {
    s.trim_end_matches([' ', '\t', '\r'])
}

impl Control {
    pub fn new(home: &Path) -> Control {
        Control {
            dir: home.join("control"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The whole file as text, `None` when missing.
    pub fn read(&self, name: &str) -> io::Result<Option<String>> {
        match fs::read(self.path(name)) {
            Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// First line without trailing blanks; `None` when the file is missing.
    pub fn line(&self, name: &str) -> io::Result<Option<String>> {
        Ok(self
            .read(name)?
            .map(|t| trim_end_blanks(t.lines().next().unwrap_or("")).to_string()))
    }

    /// First line, or `default` when missing.
    pub fn line_or(&self, name: &str, default: &str) -> io::Result<String> {
        Ok(self.line(name)?.unwrap_or_else(|| default.to_string()))
    }

    /// First line, else `me`, else the literal `fallback` (qmail's
    /// "default: me, else NAME" controls).
    pub fn line_or_me(&self, name: &str, me: Option<&str>, fallback: &str) -> io::Result<String> {
        Ok(match self.line(name)? {
            Some(v) => v,
            None => me.unwrap_or(fallback).to_string(),
        })
    }

    /// Unsigned decimal first line; `default` when missing or not numeric.
    pub fn int(&self, name: &str, default: u64) -> io::Result<u64> {
        Ok(match self.line(name)? {
            Some(l) => parse_leading_uint(&l).unwrap_or(default),
            None => default,
        })
    }

    /// Every non-blank, non-comment line; `None` when missing.
    pub fn list(&self, name: &str) -> io::Result<Option<Vec<String>>> {
        Ok(self.read(name)?.map(|t| parse_list(&t)))
    }

    /// A map file; `None` when missing.
    pub fn map(&self, name: &str) -> io::Result<Option<ConstMap>> {
        Ok(self.list(name)?.map(|lines| ConstMap::from_lines(&lines)))
    }
}

/// Leading decimal digits of `s`, like qmail's scan_ulong.
pub fn parse_leading_uint(s: &str) -> Option<u64> {
    let digits: &str = &s[..s.bytes().take_while(u8::is_ascii_digit).count()];
    if digits.is_empty() {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

/// List-file lines: trailing blanks cut, blank and `#` lines skipped.
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(trim_end_blanks)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// qmail's constmap: case-insensitive keys, last occurrence wins.
#[derive(Debug, Clone, Default)]
pub struct ConstMap {
    map: HashMap<String, String>,
}

impl ConstMap {
    /// Lines `key:value`; lines without a colon are ignored.
    pub fn from_lines(lines: &[String]) -> ConstMap {
        let mut map = HashMap::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                map.insert(k.to_ascii_lowercase(), v.to_string());
            }
        }
        ConstMap { map }
    }

    /// A set (list file) as a map with empty values.
    pub fn from_set(lines: &[String]) -> ConstMap {
        ConstMap {
            map: lines
                .iter()
                .map(|l| (l.to_ascii_lowercase(), String::new()))
                .collect(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(&key.to_ascii_lowercase()).map(String::as_str)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(&key.to_ascii_lowercase())
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_rules() {
        let l = parse_list("a.example  \n\n# comment\nb\t\n");
        assert_eq!(l, vec!["a.example", "b"]);
    }

    #[test]
    fn map_last_wins_case_insensitive() {
        let m = ConstMap::from_lines(&[
            "Example.COM:one".into(),
            "nocolon".into(),
            "example.com:two".into(),
        ]);
        assert_eq!(m.get("EXAMPLE.com"), Some("two"));
        assert!(!m.contains("nocolon"));
    }

    #[test]
    fn leading_uint() {
        assert_eq!(parse_leading_uint("20 # comment"), Some(20));
        assert_eq!(parse_leading_uint("x20"), None);
    }

    #[test]
    fn files() {
        let d = std::env::temp_dir().join(format!("sqmail-control-{}", std::process::id()));
        fs::create_dir_all(d.join("control")).unwrap();
        fs::write(d.join("control/me"), "host.example \t\nignored\n").unwrap();
        fs::write(d.join("control/concurrencylocal"), "oops\n").unwrap();
        let c = Control::new(&d);
        assert_eq!(c.line("me").unwrap().as_deref(), Some("host.example"));
        assert_eq!(c.line("missing").unwrap(), None);
        assert_eq!(c.int("concurrencylocal", 10).unwrap(), 10);
        assert_eq!(
            c.line_or_me("bouncehost", Some("me.x"), "bouncehost")
                .unwrap(),
            "me.x"
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
