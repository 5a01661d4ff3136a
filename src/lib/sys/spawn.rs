//! posix_spawn(3) for the servers that start one program per connection
//! from a process that goes on running: glibc runs the child on a
//! vfork-like clone (no copy of the caller's page tables, no copy-on-write
//! faults afterwards), applies the descriptor moves and execs.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::ptr;

/// File actions, destroyed on drop.
struct Actions(libc::posix_spawn_file_actions_t);

impl Actions {
    fn new() -> io::Result<Actions> {
        // SAFETY: an all-zero posix_spawn_file_actions_t is plain data that
        // posix_spawn_file_actions_init overwrites before any use.
        let mut a = Actions(unsafe { std::mem::zeroed() });
        // SAFETY: `a.0` is a valid, writable file-actions object.
        check(unsafe { libc::posix_spawn_file_actions_init(&mut a.0) })?;
        Ok(a)
    }

    fn dup2(&mut self, from: RawFd, to: RawFd) -> io::Result<()> {
        // SAFETY: `self.0` was initialised by `new`; the call only records the action.
        check(unsafe { libc::posix_spawn_file_actions_adddup2(&mut self.0, from, to) })
    }

    fn close(&mut self, fd: RawFd) -> io::Result<()> {
        // SAFETY: as in `dup2`.
        check(unsafe { libc::posix_spawn_file_actions_addclose(&mut self.0, fd) })
    }
}

impl Drop for Actions {
    fn drop(&mut self) {
        // SAFETY: initialised by `new` and destroyed exactly once, here.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

/// Spawn attributes, destroyed on drop.
struct Attr(libc::posix_spawnattr_t);

impl Drop for Attr {
    fn drop(&mut self) {
        // SAFETY: initialised in `spawn` and destroyed exactly once, here.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

/// posix_spawn's error convention: the error number is the return value.
fn check(r: libc::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(r))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Dup,
    Close,
}

/// Orders the moves `(from, to)` as dup2 steps so that no step overwrites
/// a descriptor a later step still reads; a cycle (or a move onto itself,
/// which must clear close-on-exec) goes through a spare number above all
/// the others, closed at the end.
fn sequence(moves: &[(RawFd, RawFd)]) -> Vec<(Step, RawFd, RawFd)> {
    let mut spare = moves.iter().map(|m| m.0.max(m.1)).max().unwrap_or(0) + 1;
    let mut pending: Vec<(RawFd, RawFd)> = moves.to_vec();
    let mut steps = Vec::new();
    let mut spares = Vec::new();
    while !pending.is_empty() {
        let free = pending.iter().enumerate().position(|(i, &(f, t))| {
            f != t
                && !pending
                    .iter()
                    .enumerate()
                    .any(|(j, &(f2, _))| j != i && f2 == t)
        });
        match free {
            Some(i) => {
                let (f, t) = pending.remove(i);
                steps.push((Step::Dup, f, t));
            }
            None => {
                // Every target is still needed as a source: park one source.
                let f = pending[0].0;
                steps.push((Step::Dup, f, spare));
                for m in pending.iter_mut().filter(|m| m.0 == f) {
                    m.0 = spare;
                }
                spares.push(spare);
                spare += 1;
            }
        }
    }
    steps.extend(spares.into_iter().map(|s| (Step::Close, s, s)));
    steps
}

/// Starts `argv[0]` (searched in this process's PATH when it has no `/`,
/// as execvp does) with arguments `argv` and environment `envp`
/// (`NAME=VALUE` strings). Each `(from, to)` of `moves` puts descriptor
/// `from` on `to` in the child (close-on-exec cleared), however the numbers
/// overlap; every other descriptor stays as it is (close-on-exec ones close
/// at the exec). In the child the signal mask is empty and SIGPIPE and the
/// signals of `defaults` have their default action. Returns the child's
/// pid; a program that cannot be executed is an error here, not a child.
pub fn spawn(
    argv: &[CString],
    envp: &[CString],
    moves: &[(RawFd, RawFd)],
    defaults: &[i32],
) -> io::Result<i32> {
    if argv.is_empty() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let mut actions = Actions::new()?;
    for (kind, a, b) in sequence(moves) {
        match kind {
            Step::Dup => actions.dup2(a, b)?,
            Step::Close => actions.close(a)?,
        }
    }
    // SAFETY: an all-zero posix_spawnattr_t is plain data that
    // posix_spawnattr_init overwrites before any use.
    let mut attr = Attr(unsafe { std::mem::zeroed() });
    // SAFETY: `attr.0` is a valid, writable attributes object.
    check(unsafe { libc::posix_spawnattr_init(&mut attr.0) })?;
    // SAFETY: sigemptyset/sigaddset write into sigset_t values we own; the
    // setters copy them into the initialised `attr.0`.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        let mut dfl: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut dfl);
        libc::sigaddset(&mut dfl, libc::SIGPIPE);
        for &s in defaults {
            libc::sigaddset(&mut dfl, s);
        }
        check(libc::posix_spawnattr_setsigmask(&mut attr.0, &empty))?;
        check(libc::posix_spawnattr_setsigdefault(&mut attr.0, &dfl))?;
        let flags = libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF;
        check(libc::posix_spawnattr_setflags(&mut attr.0, flags as libc::c_short))?;
    }
    let ptrs = |v: &[CString]| -> Vec<*mut libc::c_char> {
        v.iter()
            .map(|s| s.as_ptr().cast_mut())
            .chain(std::iter::once(ptr::null_mut()))
            .collect()
    };
    let (argp, envpp) = (ptrs(argv), ptrs(envp));
    let mut pid: libc::pid_t = 0;
    // SAFETY: `argp` and `envpp` are NULL-terminated arrays of pointers to
    // NUL-terminated strings that outlive the call (glibc's child runs and
    // execs or fails before posix_spawnp returns); `actions` and `attr` are
    // initialised; `pid` is writable.
    check(unsafe {
        libc::posix_spawnp(
            &mut pid,
            argv[0].as_ptr(),
            &actions.0,
            &attr.0,
            argp.as_ptr(),
            envpp.as_ptr(),
        )
    })?;
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;

    fn cs(s: &str) -> CString {
        CString::new(s).unwrap()
    }

    /// Runs the steps on a table of "descriptor -> open file" and checks
    /// every target ends up with its source's file.
    fn simulate(moves: &[(RawFd, RawFd)]) -> usize {
        let mut table: std::collections::HashMap<RawFd, RawFd> =
            moves.iter().map(|m| (m.0, m.0)).collect();
        let steps = sequence(moves);
        for &(k, a, b) in &steps {
            match k {
                Step::Dup => {
                    let file = table[&a];
                    table.insert(b, file);
                }
                Step::Close => {
                    table.remove(&a);
                }
            }
        }
        for &(f, t) in moves {
            assert_eq!(table[&t], f, "{moves:?} -> {steps:?}");
        }
        steps.len()
    }

    #[test]
    fn sequences() {
        // sslserver's usual layout needs no spare.
        assert_eq!(simulate(&[(7, 0), (11, 1), (4, 3), (7, 4), (11, 5)]), 5);
        assert_eq!(simulate(&[(6, 0), (6, 1)]), 2);
        // A swap and a move onto itself go through spares.
        assert_eq!(simulate(&[(3, 4), (4, 3)]), 4);
        assert_eq!(simulate(&[(5, 5), (5, 0)]), 4);
    }

    #[test]
    fn moves_env_and_failure() {
        // Overlapping moves: a source that is also a target (itself).
        let (r, w) = crate::sys::pipe().unwrap();
        let (r2, w2) = crate::sys::pipe().unwrap();
        let wfd = w.as_raw_fd();
        assert_ne!(wfd, 9);
        let argv = [cs("sh"), cs("-c"), cs("echo \"$X\" >&1; echo two >&9")];
        let pid = spawn(
            &argv,
            &[cs("X=one"), cs("PATH=/usr/bin:/bin")],
            &[(wfd, 1), (w2.as_raw_fd(), 9), (wfd, wfd)],
            &[],
        )
        .unwrap();
        drop((w, w2));
        let mut out = String::new();
        std::fs::File::from(r).read_to_string(&mut out).unwrap();
        let mut out2 = String::new();
        std::fs::File::from(r2).read_to_string(&mut out2).unwrap();
        assert_eq!(out, "one\n");
        assert_eq!(out2, "two\n");
        assert_eq!(crate::sys::wait_pid(pid).unwrap(), crate::sys::Exit::Code(0));
        let e = spawn(&[cs("/no/such/program")], &[], &[], &[]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
