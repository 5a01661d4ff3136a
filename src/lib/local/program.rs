//! `|command` delivery (qmail-local(8)): `/bin/sh -c command` in the home
//! directory, the message on stdin, the qmail-command environment. A
//! command of plain words (no quoting, expansion, redirection or builtin)
//! is run directly, as the shell would run it, saving the shell's exec.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use crate::exit::Die;

/// What the program's exit code means for the rest of the .qmail file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: go on.
    Continue,
    /// 99: success, skip the remaining lines.
    Stop,
}

/// The meaning of a delivery program's exit code (qmail-command(8)).
pub fn outcome(code: Option<i32>) -> Result<Outcome, Die> {
    match code {
        Some(0) => Ok(Outcome::Continue),
        Some(99) => Ok(Outcome::Stop),
        Some(64 | 65 | 70 | 76 | 77 | 78 | 100 | 112) => Err(Die::quiet(crate::exit::PERM)),
        Some(_) => Err(Die::quiet(crate::exit::TEMP)),
        None => Err(Die::temp("Aack, child crashed. (#4.3.0)")),
    }
}

/// Runs `command` with `env` added (and DEFAULT set or removed); stdin,
/// stdout and stderr are qmail-local's own (the caller has rewound fd 0).
pub fn run(command: &[u8], env: &[(&str, &[u8])], default: Option<&[u8]>) -> Result<Outcome, Die> {
    let mut c = match plain_words(command) {
        Some(words) => {
            let mut c = Command::new(OsStr::from_bytes(words[0]));
            c.args(words[1..].iter().map(|w| OsStr::from_bytes(w)));
            c
        }
        None => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(OsStr::from_bytes(command));
            c
        }
    };
    for (k, v) in env {
        c.env(k, OsStr::from_bytes(v));
    }
    match default {
        Some(d) => c.env("DEFAULT", OsStr::from_bytes(d)),
        None => c.env_remove("DEFAULT"),
    };
    // std restores SIGPIPE to its default in the child; SIGXFSZ, ignored
    // by qmail-local, is given back here (an ignored signal survives exec).
    let _ = crate::sys::default_signal(libc::SIGXFSZ);
    let status = c.status();
    let _ = crate::sys::ignore_signal(libc::SIGXFSZ);
    let status = status.map_err(|e| {
        Die::temp(format!(
            "Unable to run {}: {}. (#4.3.0)",
            c.get_program().to_string_lossy(),
            super::errstr(&e)
        ))
    })?;
    if status.signal().is_some() {
        return outcome(None);
    }
    outcome(status.code())
}

/// The shell's own commands and words: a command starting with one of
/// them needs the shell.
const SHELL_WORDS: &[&[u8]] = &[
    b"alias",
    b"bg",
    b"break",
    b"case",
    b"cd",
    b"command",
    b"continue",
    b"do",
    b"done",
    b"echo",
    b"elif",
    b"else",
    b"esac",
    b"eval",
    b"exec",
    b"exit",
    b"export",
    b"false",
    b"fc",
    b"fg",
    b"fi",
    b"for",
    b"getopts",
    b"hash",
    b"if",
    b"jobs",
    b"kill",
    b"local",
    b"printf",
    b"pwd",
    b"read",
    b"readonly",
    b"return",
    b"set",
    b"shift",
    b"test",
    b"then",
    b"times",
    b"trap",
    b"true",
    b"type",
    b"ulimit",
    b"umask",
    b"unalias",
    b"unset",
    b"until",
    b"wait",
    b"while",
];

/// The words of `command` when the shell would only split it at blanks and
/// run the first word: every byte is a letter, digit, blank or one of
/// `-_./=@+,:%`, the first word is no shell word and assigns nothing.
fn plain_words(command: &[u8]) -> Option<Vec<&[u8]>> {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b" \t-_./=@+,:%".contains(&b);
    if !command.iter().all(|&b| plain(b)) {
        return None;
    }
    let words: Vec<&[u8]> = command
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty())
        .collect();
    let first = words.first()?;
    if first.contains(&b'=') || SHELL_WORDS.contains(first) {
        return None;
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_commands_skip_the_shell() {
        let w = |c: &str| plain_words(c.as_bytes()).map(|v| v.len());
        assert_eq!(w("srsforward joe@example.org"), Some(2));
        assert_eq!(w("  /usr/bin/forward\ta@b  c "), Some(3));
        assert_eq!(w("preline -f /usr/bin/procmail -d user"), Some(5));
        for shell in [
            "exit 99",
            "echo $HOME",
            "cat > file",
            "prog 'quoted arg'",
            "a; b",
            "a | b",
            "FOO=bar prog",
            "prog *.txt",
            "~/bin/prog",
            "prog ~",
            "prog\nexit 0",
            "",
            "  ",
            "cd /tmp",
            "true",
        ] {
            assert_eq!(w(shell), None, "{shell:?}");
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(outcome(Some(0)).unwrap(), Outcome::Continue);
        assert_eq!(outcome(Some(99)).unwrap(), Outcome::Stop);
        for c in [64, 65, 70, 76, 77, 78, 100, 112] {
            assert_eq!(outcome(Some(c)).unwrap_err().code, 100);
        }
        for c in [1, 2, 71, 111, 113] {
            assert_eq!(outcome(Some(c)).unwrap_err().code, 111);
        }
        assert_eq!(outcome(None).unwrap_err().code, 111);
    }
}
