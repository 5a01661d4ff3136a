//! The one option parser of every program, the way qmail's programs parse
//! (djb's sgetopt): grouped short flags, an option argument attached or in
//! the next word, parsing stops at the first operand, at `--` (consumed) or
//! at a lone `-` (kept). Arguments are bytes: a non-UTF-8 argument is an
//! argument like any other, never a panic.

use std::os::unix::ffi::OsStringExt;

use crate::exit::Die;

/// The program's arguments after its name, as bytes.
pub fn args() -> Vec<Vec<u8>> {
    std::env::args_os()
        .skip(1)
        .map(OsStringExt::into_vec)
        .collect()
}

/// The arguments as text (lossy), for programs whose operands are names.
pub fn args_lossy() -> Vec<String> {
    args().iter().map(|a| text(a)).collect()
}

/// An argument as text for messages and for options that name files.
pub fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

/// One parsed option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opt {
    /// A known option, with its argument when the spec says `x:`.
    Flag(u8, Option<Vec<u8>>),
    /// An option letter not in the spec.
    Illegal(u8),
    /// An option that needs an argument, at the end of the words.
    NeedsArg(u8),
}

/// The parser over the words after the program name.
pub struct GetOpt<'a, 's> {
    args: &'a [Vec<u8>],
    spec: &'s [u8],
    ind: usize,
    pos: usize,
    done: bool,
}

impl<'a, 's> GetOpt<'a, 's> {
    /// `spec` as for getopt(3): letters, `:` after those taking an argument.
    pub fn new(args: &'a [Vec<u8>], spec: &'s [u8]) -> GetOpt<'a, 's> {
        GetOpt {
            args,
            spec,
            ind: 0,
            pos: 0,
            done: false,
        }
    }

    /// The words left once parsing stopped.
    pub fn operands(&self) -> &'a [Vec<u8>] {
        &self.args[self.ind.min(self.args.len())..]
    }

    /// Skips what is left of the current word (an optional attached
    /// argument that the option does not want).
    pub fn skip_rest(&mut self) {
        if let Some(a) = self.args.get(self.ind) {
            self.pos = a.len();
        }
    }

    fn takes_arg(&self, c: u8) -> Option<bool> {
        let i = self.spec.iter().position(|&s| s == c && c != b':')?;
        Some(self.spec.get(i + 1) == Some(&b':'))
    }

    fn stop(&mut self) -> Option<Opt> {
        self.done = true;
        None
    }
}

impl Iterator for GetOpt<'_, '_> {
    type Item = Opt;

    fn next(&mut self) -> Option<Opt> {
        if self.done || self.ind >= self.args.len() {
            return self.stop();
        }
        if self.pos > 0 && self.pos >= self.args[self.ind].len() {
            self.ind += 1;
            self.pos = 0;
            if self.ind >= self.args.len() {
                return self.stop();
            }
        }
        let word = &self.args[self.ind];
        if self.pos == 0 {
            if word.first() != Some(&b'-') {
                return self.stop();
            }
            match word.get(1) {
                None => return self.stop(),
                Some(b'-') => {
                    self.ind += 1;
                    return self.stop();
                }
                Some(_) => self.pos = 1,
            }
        }
        let c = word[self.pos];
        self.pos += 1;
        match self.takes_arg(c) {
            None => Some(Opt::Illegal(c)),
            Some(false) => Some(Opt::Flag(c, None)),
            Some(true) => {
                let rest = &word[self.pos..];
                self.ind += 1;
                self.pos = 0;
                if !rest.is_empty() {
                    return Some(Opt::Flag(c, Some(rest.to_vec())));
                }
                match self.args.get(self.ind) {
                    Some(a) => {
                        self.ind += 1;
                        Some(Opt::Flag(c, Some(a.clone())))
                    }
                    None => Some(Opt::NeedsArg(c)),
                }
            }
        }
    }
}

/// Options in order: the letter and its argument (for `x:` letters).
pub type Opts = Vec<(u8, Option<Vec<u8>>)>;

/// Every option of `args` by `spec`, and the operands; an unknown option
/// or a missing argument is `prog: usage: USAGE` with exit 100.
pub fn parse<'a>(
    args: &'a [Vec<u8>],
    spec: &[u8],
    usage: &str,
) -> Result<(Opts, &'a [Vec<u8>]), Die> {
    let mut g = GetOpt::new(args, spec);
    let mut opts = Vec::new();
    for o in g.by_ref() {
        match o {
            Opt::Flag(c, v) => opts.push((c, v)),
            Opt::Illegal(_) | Opt::NeedsArg(_) => return Err(Die::usage(usage)),
        }
    }
    Ok((opts, g.operands()))
}

/// The line sgetopt prints for a bad option.
pub fn problem(prog: &str, opt: &Opt) -> String {
    match opt {
        Opt::Illegal(c) => format!("{prog}: illegal option -- {}", *c as char),
        Opt::NeedsArg(c) => format!("{prog}: option requires an argument -- {}", *c as char),
        Opt::Flag(..) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<Vec<u8>> {
        s.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn djb_rules() {
        let a = words(&["-nf", "a@b", "-Hfx", "r1", "-a"]);
        let mut g = GetOpt::new(&a, b"aAhHnNf:");
        let v: Vec<Opt> = g.by_ref().collect();
        assert_eq!(
            v,
            vec![
                Opt::Flag(b'n', None),
                Opt::Flag(b'f', Some(b"a@b".to_vec())),
                Opt::Flag(b'H', None),
                Opt::Flag(b'f', Some(b"x".to_vec())),
            ]
        );
        assert_eq!(g.operands(), &a[3..]);

        let a = words(&["-a", "--", "-x"]);
        let mut g = GetOpt::new(&a, b"a");
        assert_eq!(g.by_ref().count(), 1);
        assert_eq!(g.operands(), &a[2..]);

        let a = words(&["-", "x"]);
        let mut g = GetOpt::new(&a, b"a");
        assert_eq!(g.next(), None);
        assert_eq!(g.operands().len(), 2);

        let a = words(&["-qx", "-f"]);
        let mut g = GetOpt::new(&a, b"f:");
        assert_eq!(g.next(), Some(Opt::Illegal(b'q')));
        assert_eq!(g.next(), Some(Opt::Illegal(b'x')));
        assert_eq!(g.next(), Some(Opt::NeedsArg(b'f')));
        assert_eq!(problem("p", &Opt::Illegal(b'q')), "p: illegal option -- q");

        let a = words(&["-Efoo", "-t"]);
        let mut g = GetOpt::new(&a, b"Et");
        assert_eq!(g.next(), Some(Opt::Flag(b'E', None)));
        g.skip_rest();
        assert_eq!(g.next(), Some(Opt::Flag(b't', None)));
        assert_eq!(g.next(), None);
    }

    #[test]
    fn parse_all() {
        let a = words(&["-vc", "5", "x"]);
        let (o, rest) = parse(&a, b"vc:", "u").unwrap();
        assert_eq!(o, vec![(b'v', None), (b'c', Some(b"5".to_vec()))]);
        assert_eq!(rest, &a[2..]);
        assert_eq!(parse(&a, b"v", "u").unwrap_err().code, 100);
        let bad = vec![b"-\xff".to_vec()];
        assert_eq!(parse(&bad, b"v", "u").unwrap_err().code, 100);
    }
}
