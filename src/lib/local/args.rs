//! qmail-local's command line (qmail-local(8)).

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use crate::exit::Die;

const USAGE: &str =
    "qmail-local: usage: qmail-local [ -nN ] user homedir local dash ext domain sender aliasempty";

/// The eight arguments and the `-n` flag.
pub struct Args<'a> {
    pub doit: bool,
    pub user: &'a [u8],
    pub homedir: &'a [u8],
    pub local: &'a [u8],
    pub dash: &'a [u8],
    pub ext: &'a [u8],
    pub host: &'a [u8],
    pub sender: &'a [u8],
    pub aliasempty: &'a [u8],
}

pub fn parse_args(args: &[OsString]) -> Result<Args<'_>, Die> {
    let usage = || Die::new(crate::exit::PERM, USAGE);
    let mut doit = true;
    let words: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let (opts, operands) = crate::getopt::parse(&words, b"nN", USAGE).map_err(|_| usage())?;
    for (c, _) in opts {
        doit = c == b'N';
    }
    let rest = &args[words.len() - operands.len()..];
    let [user, homedir, local, dash, ext, host, sender, aliasempty] = rest else {
        return Err(usage());
    };
    let a = Args {
        doit,
        user: user.as_bytes(),
        homedir: homedir.as_bytes(),
        local: local.as_bytes(),
        dash: dash.as_bytes(),
        ext: ext.as_bytes(),
        host: host.as_bytes(),
        sender: sender.as_bytes(),
        aliasempty: aliasempty.as_bytes(),
    };
    if a.homedir.first() != Some(&b'/') {
        return Err(usage());
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<bool, i32> {
        let v: Vec<OsString> = v.iter().map(OsString::from).collect();
        parse_args(&v).map(|a| a.doit).map_err(|d| d.code)
    }

    #[test]
    fn options_and_arity() {
        let eight = ["u", "/h", "l", "-", "e", "d", "s", "./Maildir/"];
        let with = |pre: &[&'static str]| [pre, &eight[..]].concat();
        assert_eq!(parse(&eight), Ok(true));
        assert_eq!(parse(&with(&["-n"])), Ok(false));
        assert_eq!(parse(&with(&["-nN"])), Ok(true));
        assert_eq!(parse(&with(&["-n", "--"])), Ok(false));
        assert_eq!(parse(&with(&["-x"])), Err(100));
        assert_eq!(parse(&eight[1..]), Err(100));
        assert_eq!(parse(&with(&["--", "extra"])), Err(100));
        let mut rel = eight;
        rel[1] = "h";
        assert_eq!(parse(&rel), Err(100));
    }
}
