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

/// The three completions an address may need.
#[derive(Clone, Copy)]
enum Suffix {
    /// `@defaulthost` for an address without a host.
    Host = 0,
    /// `.plusdomain` for a host ending in `+`.
    Plus = 1,
    /// `.defaultdomain` for a host without a dot.
    Domain = 2,
}

impl Suffix {
    /// Control file, overriding variable, and the byte put before it.
    fn source(self) -> (&'static str, &'static str, u8) {
        match self {
            Suffix::Host => ("defaulthost", "QMAILDEFAULTHOST", b'@'),
            Suffix::Plus => ("plusdomain", "QMAILPLUSDOMAIN", b'.'),
            Suffix::Domain => ("defaultdomain", "QMAILDEFAULTDOMAIN", b'.'),
        }
    }
}

/// The rewriting rules of one qmail home, loaded lazily.
pub struct Rewriter {
    control: Control,
    me: Option<Option<String>>,
    suffixes: [Option<Vec<Token>>; 3],
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
            suffixes: [None, None, None],
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

    /// The tokens of a completion, parsed once.
    fn suffix(&mut self, which: Suffix) -> Result<Vec<Token>, Die> {
        if let Some(t) = &self.suffixes[which as usize] {
            return Ok(t.clone());
        }
        let (name, env, prefix) = which.source();
        let mut text = vec![prefix];
        text.extend(self.setting(name, env)?);
        let t = address::parse(&text).ok_or_else(|| unparsable(&text))?;
        self.suffixes[which as usize] = Some(t.clone());
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
            a.extend(self.suffix(Suffix::Host)?);
        }
        if let Some(t) = a.last_mut()
            && t.kind == Kind::Atom
            && t.text.last() == Some(&b'+')
        {
            t.text.pop();
            a.extend(self.suffix(Suffix::Plus)?);
        }
        let dotted = a
            .iter()
            .rev()
            .take_while(|t| t.kind != Kind::At)
            .any(|t| t.kind == Kind::Dot || t.kind == Kind::Literal);
        if !dotted {
            a.extend(self.suffix(Suffix::Domain)?);
        }
        Ok(())
    }
}
