//! `|command` delivery (qmail-local(8)): `/bin/sh -c command` in the home
//! directory, the message on stdin, the qmail-command environment.

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
    let mut c = Command::new("/bin/sh");
    c.arg("-c").arg(OsStr::from_bytes(command));
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
            "Unable to run /bin/sh: {}. (#4.3.0)",
            super::errstr(&e)
        ))
    })?;
    if status.signal().is_some() {
        return outcome(None);
    }
    outcome(status.code())
}

#[cfg(test)]
mod tests {
    use super::*;

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
