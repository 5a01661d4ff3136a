//! Address rewriting (qmail-header(5)): source routes dropped, a missing
//! host filled in from `defaulthost`, `host+` completed with `plusdomain`,
//! a dot-less host completed with `defaultdomain`.
//!
//! Each control file is read the first time an address needs it, so the
//! usual `user@host.domain` costs no file access at all.

use std::path::Path;

use crate::address::{self, Kind, Token};
use crate::control::Control;
use crate::exit::Die;

/// The rewriting rules of one qmail home, loaded lazily.
pub struct Rewriter {
    control: Control,
    me: Option<Option<String>>,
    defaulthost: Option<Vec<Token>>,
    defaultdomain: Option<Vec<Token>>,
    plusdomain: Option<Vec<Token>>,
}

/// `unable to parse this line:` and the line, without its final newline.
pub fn unparsable(line: &[u8]) -> Die {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    Die::perm(format!(
        "unable to parse this line:\n{}",
        String::from_utf8_lossy(line)
    ))
}

impl Rewriter {
    pub fn new(home: &Path) -> Rewriter {
        Rewriter {
            control: Control::new(home),
            me: None,
            defaulthost: None,
            defaultdomain: None,
            plusdomain: None,
        }
    }

    /// `$env` if set, else `control/name`, else `control/me`, else `name`.
    pub fn setting(&mut self, name: &str, env: &str) -> Result<Vec<u8>, Die> {
        if let Some(v) = std::env::var_os(env) {
            return Ok(std::os::unix::ffi::OsStringExt::into_vec(v));
        }
        let die = |e: std::io::Error| Die::temp(format!("unable to read controls: {e}"));
        if let Some(v) = self.control.line(name).map_err(die)? {
            return Ok(v.into_bytes());
        }
        if self.me.is_none() {
            self.me = Some(self.control.line("me").map_err(die)?);
        }
        let me = self.me.as_ref().and_then(|m| m.as_deref());
        Ok(me.unwrap_or(name).as_bytes().to_vec())
    }

    /// The tokens `prefix` + setting, parsed once.
    fn suffix(
        &mut self,
        which: fn(&mut Rewriter) -> &mut Option<Vec<Token>>,
        name: &str,
        env: &str,
        prefix: u8,
    ) -> Result<Vec<Token>, Die> {
        if let Some(t) = which(self) {
            return Ok(t.clone());
        }
        let mut text = vec![prefix];
        text.extend(self.setting(name, env)?);
        let t = address::parse(&text).ok_or_else(|| unparsable(&text))?;
        *which(self) = Some(t.clone());
        Ok(t)
    }

    /// Rewrites one address (forward token order) in place.
    pub fn rewrite(&mut self, a: &mut Vec<Token>) -> Result<(), Die> {
        let last_kind = |a: &Vec<Token>| a.last().map(|t| t.kind);
        if a.is_empty() {
            return Ok(());
        }
        // <user@[]>: qmail-send's VERP marker, left alone.
        let n = a.len();
        if n >= 2
            && a[n - 2].kind == Kind::At
            && a[n - 1].kind == Kind::Literal
            && a[n - 1].text.is_empty()
        {
            return Ok(());
        }
        // A source route: drop everything through the first colon.
        if a[0].kind == Kind::At {
            match a.iter().position(|t| t.kind == Kind::Colon) {
                Some(c) => drop(a.drain(..=c)),
                None => a.clear(),
            }
        }
        // A stray dot, then a stray @, at the end.
        for stray in [Kind::Dot, Kind::At] {
            if last_kind(a) == Some(stray) {
                a.pop();
            }
            if a.is_empty() {
                return Ok(());
            }
        }
        if !a.iter().any(|t| t.kind == Kind::At) {
            a.extend(self.suffix(
                |r| &mut r.defaulthost,
                "defaulthost",
                "QMAILDEFAULTHOST",
                b'@',
            )?);
        }
        if let Some(t) = a.last_mut() {
            if t.kind == Kind::Atom && t.text.last() == Some(&b'+') {
                t.text.pop();
                a.extend(self.suffix(
                    |r| &mut r.plusdomain,
                    "plusdomain",
                    "QMAILPLUSDOMAIN",
                    b'.',
                )?);
            }
        }
        let host = a
            .iter()
            .rev()
            .take_while(|t| t.kind != Kind::At)
            .map(|t| t.kind);
        let mut dotted = false;
        for k in host {
            dotted |= k == Kind::Dot || k == Kind::Literal;
        }
        if !dotted {
            a.extend(self.suffix(
                |r| &mut r.defaultdomain,
                "defaultdomain",
                "QMAILDEFAULTDOMAIN",
                b'.',
            )?);
        }
        Ok(())
    }
}
