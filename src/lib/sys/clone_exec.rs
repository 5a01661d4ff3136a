//! A posix_spawn(3) of our own for the servers that start one program per
//! connection from a process that goes on running: the child is a
//! `clone(CLONE_VM | CLONE_VFORK)` on a stack of its own (no copy of the
//! caller's page tables, no copy-on-write faults afterwards) that only
//! moves descriptors, resets the signals the caller names and execs.
//! glibc's posix_spawn does the same but also visits every one of the 64
//! signals with two sigaction calls, some 120 system calls per start.
//! [`Starter`] goes one step further for tcpserver's accept loop: its
//! parent does not wait for the exec at all.
//!
//! The child makes raw system calls (it shares our memory, and libc's
//! wrappers would write our errno), written for x86-64. Elsewhere the
//! child is a plain fork that makes the same calls through libc and
//! reports a failed exec's errno over a pipe: the same exit 111 and the
//! same errors, at the cost of a copy of the page tables, and there the
//! parent does wait until the exec (the pipe closes) or its failure.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::ptr;
use std::sync::Arc;
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

/// Runs `clone` with every signal blocked, so that no handler of ours runs
/// in the child before it has reset them (it unblocks them itself), and
/// returns its result with the errno it left.
fn signals_blocked(clone: impl FnOnce() -> libc::c_int) -> (libc::c_int, io::Error) {
    // SAFETY: sigfillset/sigprocmask on sigset_t values we own; the mask
    // saved is restored before returning.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_BLOCK, &all, &mut old);
        let r = clone();
        let err = super::last_err();
        libc::sigprocmask(libc::SIG_SETMASK, &old, ptr::null_mut());
        (r, err)
    }
}

/// Starts `argv[0]` (searched in this process's PATH when it has no `/`,
/// as ucspi-tcp's pathexec does: no shell for a file without `#!`) with
/// arguments `argv` and environment `envp`
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
    let mut slot = ChildArea::new();
    slot.fill(
        argv.to_vec(),
        envp.to_vec(),
        search_paths(argv[0].as_bytes()).into(),
        moves,
        defaults,
    );
    #[cfg(target_arch = "x86_64")]
    let (pid, clone_err) = {
        let top = slot.stack.as_mut_ptr_range().end.cast::<libc::c_void>();
        // SAFETY: `raw_child` runs on the slot's stack (16-byte aligned top)
        // and reads only the slot; both stay alive and unchanged until the
        // clone returns, which CLONE_VFORK makes wait for the child's exec
        // or exit.
        signals_blocked(|| unsafe {
            libc::clone(
                raw_child,
                top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&*slot as *const ChildArea)
                    .cast_mut()
                    .cast::<libc::c_void>(),
            )
        })
    };
    #[cfg(not(target_arch = "x86_64"))]
    let (pid, clone_err) = fork_exec(&slot);
    if pid == -1 {
        return Err(clone_err);
    }
    match slot.err.load(Ordering::SeqCst) {
        0 => Ok(pid),
        e => {
            let _ = super::wait_pid(pid);
            Err(io::Error::from_raw_os_error(e))
        }
    }
}

/// Starts programs without waiting for them to exec: a per-connection
/// server's parent goes back to accept() while the child execs on the
/// other CPU (with [`spawn`] it sleeps until then, as vfork does). The
/// child is a `clone(CLONE_VM)` on a stack of its own that makes only raw
/// system calls (it shares our memory but not our thread: no errno, no
/// libc). What it reads lives in a slot that stays untouched until the
/// kernel clears the slot's thread id (`CLONE_CHILD_CLEARTID`), which it
/// does when the child execs or exits.
pub struct Starter {
    /// Each slot with the pid of the child that may still read it.
    slots: Vec<(ptr::NonNull<ChildArea>, Option<i32>)>,
    /// Children whose exec failed, with the errno, until [`Starter::failed`].
    failed: Vec<(i32, i32)>,
    /// The program name last searched, and the files to try for it.
    paths: Option<(CString, Arc<[CString]>)>,
}

/// One child's job and stack. While `tid` is not 0 the child may read
/// anything here; the parent then only loads `tid` and `err` (and nothing
/// at all is moved or freed).
struct ChildArea {
    tid: AtomicI32,
    err: AtomicI32,
    argv: Vec<CString>,
    envp: Vec<CString>,
    paths: Arc<[CString]>,
    argp: Vec<*const libc::c_char>,
    envpp: Vec<*const libc::c_char>,
    steps: Vec<(Step, RawFd, RawFd)>,
    defaults: Vec<i32>,
    #[cfg(target_arch = "x86_64")]
    stack: Vec<u128>,
}

impl ChildArea {
    fn new() -> Box<ChildArea> {
        Box::new(ChildArea {
            tid: AtomicI32::new(0),
            err: AtomicI32::new(0),
            argv: Vec::new(),
            envp: Vec::new(),
            paths: Arc::new([]),
            argp: Vec::new(),
            envpp: Vec::new(),
            steps: Vec::new(),
            defaults: Vec::new(),
            // 64 KiB: the child's frames are a few hundred bytes.
            #[cfg(target_arch = "x86_64")]
            stack: vec![0u128; 4096],
        })
    }

    /// Prepares everything the child reads (the slot must be idle).
    fn fill(
        &mut self,
        argv: Vec<CString>,
        envp: Vec<CString>,
        paths: Arc<[CString]>,
        moves: &[(RawFd, RawFd)],
        defaults: &[i32],
    ) {
        self.argv = argv;
        self.envp = envp;
        self.paths = paths;
        pointers(&self.argv, &mut self.argp);
        pointers(&self.envp, &mut self.envpp);
        self.steps = sequence(moves);
        self.defaults.clear();
        self.defaults.push(libc::SIGPIPE);
        self.defaults.extend_from_slice(defaults);
        self.err.store(0, Ordering::Relaxed);
        self.tid.store(0, Ordering::Relaxed);
    }
}

impl Default for Starter {
    fn default() -> Self {
        Self::new()
    }
}

impl Starter {
    pub fn new() -> Starter {
        Starter {
            slots: Vec::new(),
            failed: Vec::new(),
            paths: None,
        }
    }

    /// Frees the slots whose child has exec'd or exited, keeping the errno
    /// of each failed exec.
    fn sweep(&mut self) {
        for (p, busy) in &mut self.slots {
            let Some(pid) = *busy else { continue };
            // SAFETY: a live box; only its atomics are read.
            let slot = unsafe { p.as_ref() };
            if slot.tid.load(Ordering::Acquire) == 0 {
                *busy = None;
                let e = slot.err.load(Ordering::Acquire);
                if e != 0 {
                    self.failed.push((pid, e));
                }
            }
        }
    }

    /// After `pid` was reaped: why its exec failed, if it did.
    pub fn failed(&mut self, pid: i32) -> Option<io::Error> {
        self.sweep();
        let i = self.failed.iter().position(|f| f.0 == pid)?;
        Some(io::Error::from_raw_os_error(self.failed.swap_remove(i).1))
    }

    /// Like [`spawn`], but returns as soon as the child exists: a program
    /// that cannot be executed makes the child exit 111, and
    /// [`Starter::failed`] tells why once it is reaped. `argv[0]` without a
    /// `/` is searched in this process's PATH (default `/bin:/usr/bin`), as
    /// ucspi-tcp's pathexec does: no shell for a file without a header.
    pub fn spawn(
        &mut self,
        argv: Vec<CString>,
        envp: Vec<CString>,
        moves: &[(RawFd, RawFd)],
        defaults: &[i32],
    ) -> io::Result<i32> {
        if argv.is_empty() {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        self.sweep();
        // PATH does not change under a server: search it once per program.
        if self.paths.as_ref().is_none_or(|(n, _)| n != &argv[0]) {
            let found = search_paths(argv[0].as_bytes()).into();
            self.paths = Some((argv[0].clone(), found));
        }
        let paths = self.paths.as_ref().map(|p| p.1.clone()).unwrap_or_default();
        let idle = self.slots.iter().position(|s| s.1.is_none());
        let i = match idle {
            Some(i) => i,
            None => {
                let slot = ChildArea::new();
                self.slots.push((ptr::NonNull::from(Box::leak(slot)), None));
                self.slots.len() - 1
            }
        };
        let p = self.slots[i].0;
        // SAFETY: the slot is idle: no child reads it.
        let slot = unsafe { &mut *p.as_ptr() };
        slot.fill(argv, envp, paths, moves, defaults);
        #[cfg(target_arch = "x86_64")]
        let (pid, clone_err) = {
            let top = slot.stack.as_mut_ptr_range().end.cast::<libc::c_void>();
            let tid = slot.tid.as_ptr();
            // SAFETY: `raw_child` runs on the slot's stack (16-byte aligned
            // top) and reads only the slot, which stays unchanged and
            // allocated until the kernel zeroes `tid` (written with the pid
            // before the child runs, CLONE_PARENT_SETTID; zeroed at its exec
            // or exit, CLONE_CHILD_CLEARTID), which `sweep` waits for.
            signals_blocked(|| unsafe {
                libc::clone(
                    raw_child,
                    top,
                    libc::CLONE_VM
                        | libc::CLONE_PARENT_SETTID
                        | libc::CLONE_CHILD_CLEARTID
                        | libc::SIGCHLD,
                    p.as_ptr().cast::<libc::c_void>(),
                    tid,
                    ptr::null_mut::<libc::c_void>(),
                    tid,
                )
            })
        };
        // The fork has exec'd or exited when it returns (`tid` stays 0).
        #[cfg(not(target_arch = "x86_64"))]
        let (pid, clone_err) = fork_exec(slot);
        if pid == -1 {
            return Err(clone_err);
        }
        self.slots[i].1 = Some(pid);
        Ok(pid)
    }
}

impl Drop for Starter {
    fn drop(&mut self) {
        self.sweep();
        for &(p, busy) in &self.slots {
            if busy.is_none() {
                // SAFETY: an idle slot has no child: free its box. A busy
                // one may still be read by its child and stays allocated.
                drop(unsafe { Box::from_raw(p.as_ptr()) });
            }
        }
    }
}

/// Execs `argv[0]` with environment `envp` as ucspi-tcp's pathexec does,
/// from a process of its own (a forked child): the files of
/// [`search_paths`] in turn, no shell for a file without `#!` (execvp and
/// std's `Command` run one with /bin/sh), an empty signal mask. Returns
/// only on failure: the error of the last file that exists, else ENOENT.
pub fn pathexec(argv: &[CString], envp: &[CString]) -> io::Error {
    let Some(name) = argv.first() else {
        return io::Error::from(io::ErrorKind::InvalidInput);
    };
    let (mut argp, mut envpp) = (Vec::new(), Vec::new());
    pointers(argv, &mut argp);
    pointers(envp, &mut envpp);
    // SAFETY: an empty sigset_t we own; no old mask is asked for.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, ptr::null_mut());
    }
    let paths = search_paths(name.as_bytes());
    // SAFETY: NUL-terminated strings and null-terminated pointer arrays
    // that outlive the call.
    let errno = unsafe { exec_paths(&paths, argp.as_ptr(), envpp.as_ptr()) };
    io::Error::from_raw_os_error(errno)
}

/// The C view of `v` in `out`: its strings' pointers and a null.
fn pointers(v: &[CString], out: &mut Vec<*const libc::c_char>) {
    out.clear();
    out.extend(v.iter().map(|s| s.as_ptr()));
    out.push(ptr::null());
}

/// The files to try for `name`: itself if it has a `/`, else each element
/// of PATH joined with it (an empty element is the current directory).
fn search_paths(name: &[u8]) -> Vec<CString> {
    if name.contains(&b'/') {
        return CString::new(name).into_iter().collect();
    }
    let path = std::env::var_os("PATH");
    let path = path
        .as_deref()
        .map(std::os::unix::ffi::OsStrExt::as_bytes)
        .unwrap_or(b"/bin:/usr/bin");
    path.split(|&b| b == b':')
        .filter_map(|dir| {
            let mut f = dir.to_vec();
            if !f.is_empty() {
                f.push(b'/');
            }
            f.extend_from_slice(name);
            CString::new(f).ok()
        })
        .collect()
}

/// A system call with up to four arguments, made without libc: the child
/// of [`Starter`] runs concurrently with our thread on its own stack, and
/// libc's wrappers write errno, which is our thread's.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn raw_syscall(n: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY (caller): the arguments are valid for system call `n`; the
    // syscall instruction clobbers rcx and r11 only.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// The kernel's `struct sigaction` for rt_sigaction.
#[cfg(target_arch = "x86_64")]
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// ucspi-tcp's pathexec over the candidate files `paths`: a missing file,
/// or one we may not run, lets the next one try; any other error ends the
/// search. Returns only when no exec happened: the errno to report (that
/// of the last file that exists, else ENOENT). Raw system calls only, so
/// that [`Starter`]'s child may use it.
///
/// # Safety
/// `argp` and `envpp` are null-terminated arrays of NUL-terminated strings.
unsafe fn exec_paths(
    paths: &[CString],
    argp: *const *const libc::c_char,
    envpp: *const *const libc::c_char,
) -> i32 {
    let mut saved = libc::ENOENT;
    for path in paths.iter() {
        // SAFETY: the caller's arrays; `path` is NUL-terminated.
        let e = unsafe { execve(path, argp, envpp) };
        if e != libc::ENOENT {
            saved = e;
            if e != libc::EACCES && e != libc::EPERM && e != libc::EISDIR {
                break;
            }
        }
    }
    saved
}

/// execve(2); returns the errno of its failure.
///
/// # Safety
/// As [`exec_paths`].
#[cfg(target_arch = "x86_64")]
unsafe fn execve(
    path: &CString,
    argp: *const *const libc::c_char,
    envpp: *const *const libc::c_char,
) -> i32 {
    // SAFETY: the caller's arrays; `path` is NUL-terminated.
    let r = unsafe {
        raw_syscall(
            libc::SYS_execve,
            path.as_ptr() as usize,
            argp as usize,
            envpp as usize,
            0,
        )
    };
    -r as i32
}

/// execve(2) through libc (from a process of its own: errno is ours).
///
/// # Safety
/// As [`exec_paths`].
#[cfg(not(target_arch = "x86_64"))]
unsafe fn execve(
    path: &CString,
    argp: *const *const libc::c_char,
    envpp: *const *const libc::c_char,
) -> i32 {
    // SAFETY: the caller's arrays; `path` is NUL-terminated.
    unsafe { libc::execve(path.as_ptr(), argp, envpp) };
    errno()
}

#[cfg(not(target_arch = "x86_64"))]
fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// The portable start: a fork that does what `raw_child` does through
/// libc and writes a failed exec's errno on a close-on-exec pipe. Returns
/// the pid (or -1 and the error); `area.err` then holds that errno, and
/// the child has exited 111.
#[cfg(not(target_arch = "x86_64"))]
fn fork_exec(area: &ChildArea) -> (libc::c_int, io::Error) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let no_error = || io::Error::from_raw_os_error(0);
    let (r, w) = match super::pipe() {
        Ok(p) => p,
        Err(e) => return (-1, e),
    };
    // Above every descriptor the steps touch, so that no step overwrites it.
    let floor = area.steps.iter().map(|s| s.1.max(s.2)).max().unwrap_or(2) + 1;
    // SAFETY: fcntl on a descriptor we own; the new one is ours too.
    let report = unsafe { libc::fcntl(w.as_raw_fd(), libc::F_DUPFD_CLOEXEC, floor) };
    if report == -1 {
        return (-1, super::last_err());
    }
    // SAFETY: a fresh descriptor nothing else owns.
    let report = unsafe { OwnedFd::from_raw_fd(report) };
    drop(w);
    let fd = report.as_raw_fd();
    // SAFETY: the child runs `forked_child`, which never returns: it
    // execs or exits, with async-signal-safe calls only.
    let (pid, err) = signals_blocked(|| unsafe {
        let pid = libc::fork();
        if pid == 0 {
            forked_child(area, fd);
        }
        pid
    });
    drop(report);
    if pid == -1 {
        return (-1, err);
    }
    let mut buf = [0u8; 4];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reads into the rest of `buf`, which we own.
        let n = unsafe {
            libc::read(
                r.as_raw_fd(),
                buf[got..].as_mut_ptr().cast::<libc::c_void>(),
                buf.len() - got,
            )
        };
        match n {
            0 => break,
            -1 if errno() == libc::EINTR => {}
            -1 => {
                // The child's report is lost: never count that as an exec.
                area.err.store(libc::EIO, Ordering::Release);
                break;
            }
            n => got += n as usize,
        }
    }
    if got == buf.len() {
        area.err.store(i32::from_ne_bytes(buf), Ordering::Release);
    }
    (pid, no_error())
}

/// The child of [`fork_exec`]: moves the descriptors, resets the signals,
/// execs; on failure writes the errno on `report` and exits 111.
///
/// # Safety
/// Only in a forked child, with `area` filled.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn forked_child(area: &ChildArea, report: RawFd) -> ! {
    let fail = |e: i32| -> ! {
        let b = e.to_ne_bytes();
        // SAFETY: write(2) and _exit(2) are async-signal-safe; `b` is ours.
        unsafe {
            libc::write(report, b.as_ptr().cast::<libc::c_void>(), b.len());
            libc::_exit(111)
        }
    };
    for &(kind, a, b) in area.steps.iter() {
        // SAFETY: dup2/close on descriptor numbers; no memory is touched.
        let r = unsafe {
            match kind {
                Step::Dup => libc::dup2(a, b),
                Step::Close => libc::close(a),
            }
        };
        if r < 0 {
            fail(errno());
        }
    }
    // SAFETY: signal(2) with SIG_DFL and sigprocmask(2) on a set on this
    // stack, all async-signal-safe.
    unsafe {
        for &sig in area.defaults.iter() {
            libc::signal(sig, libc::SIG_DFL);
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, ptr::null_mut());
    }
    // SAFETY: the area's arrays are null-terminated pointer arrays of
    // NUL-terminated strings (`fill`).
    fail(unsafe { exec_paths(&area.paths, area.argp.as_ptr(), area.envpp.as_ptr()) })
}

#[cfg(target_arch = "x86_64")]
extern "C" fn raw_child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the busy slot, unchanged until this child execs or
    // exits; below are raw system calls on values it holds and on a
    // sigaction/sigset on this stack. Nothing touches thread-local state.
    unsafe {
        let slot = &*(arg as *const ChildArea);
        let fail = |e: isize| {
            slot.err.store(-e as i32, Ordering::Release);
            111
        };
        for &(kind, a, b) in slot.steps.iter() {
            let r = match kind {
                Step::Dup => raw_syscall(libc::SYS_dup2, a as usize, b as usize, 0, 0),
                Step::Close => raw_syscall(libc::SYS_close, a as usize, 0, 0, 0),
            };
            if r < 0 {
                return fail(r);
            }
        }
        let dfl = KernelSigaction {
            handler: 0,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        for &sig in slot.defaults.iter() {
            raw_syscall(
                libc::SYS_rt_sigaction,
                sig as usize,
                &dfl as *const KernelSigaction as usize,
                0,
                8,
            );
        }
        let empty: u64 = 0;
        raw_syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK as usize,
            &empty as *const u64 as usize,
            0,
            8,
        );
        fail(-(exec_paths(&slot.paths, slot.argp.as_ptr(), slot.envpp.as_ptr()) as isize))
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

    #[test]
    fn spawner_does_not_wait_and_reports_failures() {
        let mut sp = Starter::new();
        let mut pids = Vec::new();
        let mut readers = Vec::new();
        // Several children in flight at once, each on its own slot or a
        // reused one; `sh` is found through PATH.
        for i in 0..4 {
            let (r, w) = crate::sys::pipe().unwrap();
            let argv = vec![cs("sh"), cs("-c"), cs("echo \"$X\"")];
            let envp = vec![cs(&format!("X=child{i}"))];
            pids.push(sp.spawn(argv, envp, &[(w.as_raw_fd(), 1)], &[]).unwrap());
            drop(w);
            readers.push(r);
        }
        for (i, (r, pid)) in readers.into_iter().zip(pids).enumerate() {
            let mut out = String::new();
            std::fs::File::from(r).read_to_string(&mut out).unwrap();
            assert_eq!(out, format!("child{i}\n"));
            assert_eq!(
                crate::sys::wait_pid(pid).unwrap(),
                crate::sys::Exit::Code(0)
            );
            assert!(sp.failed(pid).is_none());
        }
        assert!(sp.slots.len() <= 4);
        let pid = sp
            .spawn(vec![cs("/no/such/program")], Vec::new(), &[], &[])
            .unwrap();
        assert_eq!(
            crate::sys::wait_pid(pid).unwrap(),
            crate::sys::Exit::Code(111)
        );
        assert_eq!(sp.failed(pid).unwrap().kind(), io::ErrorKind::NotFound);
        assert!(sp.failed(pid).is_none());
        // A slot is reused once its child has gone.
        let n = sp.slots.len();
        let pid = sp.spawn(vec![cs("true")], Vec::new(), &[], &[]).unwrap();
        crate::sys::wait_pid(pid).unwrap();
        assert_eq!(sp.slots.len(), n);
    }

    #[test]
    fn search_path_forms() {
        let p = search_paths(b"./x");
        assert_eq!(p, vec![cs("./x")]);
        // One candidate per PATH element, in order; "" is the current one.
        let path = std::env::var("PATH").unwrap_or("/bin:/usr/bin".into());
        let want: Vec<CString> = path
            .split(':')
            .map(|d| {
                cs(&if d.is_empty() {
                    "true".into()
                } else {
                    format!("{d}/true")
                })
            })
            .collect();
        assert!(!want.is_empty());
        assert_eq!(search_paths(b"true"), want);
    }
}
