//! A posix_spawn(3) of our own for the servers that start one program per
//! connection from a process that goes on running: the child is a
//! `clone(CLONE_VM | CLONE_VFORK)` on a stack of its own (no copy of the
//! caller's page tables, no copy-on-write faults afterwards) that only
//! moves descriptors, resets the signals the caller names and execs.
//! glibc's posix_spawn does the same but also visits every one of the 64
//! signals with two sigaction calls, some 120 system calls per start.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::ptr;
use std::sync::atomic::{AtomicI32, Ordering};

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

/// What the child needs, all prepared by the parent: it may only make
/// system calls (it shares the parent's memory; no allocation, no lock).
struct Job<'a> {
    argv: &'a [*mut libc::c_char],
    envp: &'a [*mut libc::c_char],
    steps: &'a [(Step, RawFd, RawFd)],
    defaults: &'a [i32],
    /// The errno of the step or exec that failed; 0 if the exec happened.
    err: AtomicI32,
}

extern "C" fn child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` points at the parent's `Job`, alive and unchanged until
    // this child has exec'd or exited (CLONE_VFORK suspends the parent);
    // everything below is a plain system call on values the job holds.
    unsafe {
        let job = &*(arg as *const Job);
        let fail = |job: &Job| {
            job.err.store(*libc::__errno_location(), Ordering::SeqCst);
            libc::_exit(127)
        };
        for &(kind, a, b) in job.steps {
            let r = match kind {
                Step::Dup => libc::dup2(a, b),
                Step::Close => libc::close(a),
            };
            if r == -1 {
                fail(job);
            }
        }
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        for &sig in job.defaults {
            libc::signal(sig, libc::SIG_DFL);
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, ptr::null_mut());
        libc::execvpe(
            job.argv[0],
            job.argv.as_ptr() as *const *const libc::c_char,
            job.envp.as_ptr() as *const *const libc::c_char,
        );
        fail(job)
    }
}

/// Starts `argv[0]` (searched in this process's PATH when it has no `/`,
/// as execvp does) with arguments `argv` and environment `envp`
/// (`NAME=VALUE` strings). Each `(from, to)` of `moves` puts descriptor
/// `from` on `to` in the child (close-on-exec cleared), however the numbers
/// overlap; every other descriptor stays as it is (close-on-exec ones close
/// at the exec). In the child the signal mask is empty and SIGPIPE and the
/// signals of `defaults` have their default action: `defaults` must name
/// every signal this process catches. Returns the child's pid; a program
/// that cannot be executed is an error here (its child is reaped).
pub fn spawn(
    argv: &[CString],
    envp: &[CString],
    moves: &[(RawFd, RawFd)],
    defaults: &[i32],
) -> io::Result<i32> {
    if argv.is_empty() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let ptrs = |v: &[CString]| -> Vec<*mut libc::c_char> {
        v.iter()
            .map(|s| s.as_ptr().cast_mut())
            .chain(std::iter::once(ptr::null_mut()))
            .collect()
    };
    let (argp, envpp) = (ptrs(argv), ptrs(envp));
    let steps = sequence(moves);
    let job = Job {
        argv: &argp,
        envp: &envpp,
        steps: &steps,
        defaults,
        err: AtomicI32::new(0),
    };
    // The child's stack: 64 KiB is far more than execvpe's path buffer.
    let mut stack = vec![0u128; 4096];
    let top = stack.as_mut_ptr_range().end.cast::<libc::c_void>();
    // SAFETY: sigfillset/sigprocmask work on sigset_t values we own. All
    // signals are blocked across the clone so no handler of ours runs in the
    // child before it has reset them (it unblocks them itself).
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_BLOCK, &all, &mut old);
    }
    // SAFETY: `child` runs on `stack` (16-byte aligned top, alive until the
    // clone returns, which CLONE_VFORK makes wait for the child's exec or
    // exit) and reads only `job`, which outlives that wait.
    let pid = unsafe {
        libc::clone(
            child,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &job as *const Job as *mut libc::c_void,
        )
    };
    let clone_err = super::last_err();
    // SAFETY: restores the mask saved above.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old, ptr::null_mut()) };
    drop(stack);
    if pid == -1 {
        return Err(clone_err);
    }
    match job.err.load(Ordering::SeqCst) {
        0 => Ok(pid),
        e => {
            let _ = super::wait_pid(pid);
            Err(io::Error::from_raw_os_error(e))
        }
    }
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
        assert_eq!(
            crate::sys::wait_pid(pid).unwrap(),
            crate::sys::Exit::Code(0)
        );
        let e = spawn(&[cs("/no/such/program")], &[], &[], &[]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
