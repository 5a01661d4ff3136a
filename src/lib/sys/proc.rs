//! Process identity and lifetime: ids, fork, wait, exit.

use std::io;

use super::check;

pub fn getuid() -> u32 {
    // SAFETY: cannot fail.
    unsafe { libc::getuid() }
}
pub fn geteuid() -> u32 {
    // SAFETY: cannot fail.
    unsafe { libc::geteuid() }
}
pub fn getgid() -> u32 {
    // SAFETY: cannot fail.
    unsafe { libc::getgid() }
}
pub fn getegid() -> u32 {
    // SAFETY: cannot fail.
    unsafe { libc::getegid() }
}

/// True when the program runs with set-uid or set-gid privileges: then no
/// environment override (QMAILHOME, ...) may be trusted.
pub fn is_setid() -> bool {
    getuid() != geteuid() || getgid() != getegid()
}

/// Drops to `uid`/`gid` with no supplementary groups but `gid` (qmail's
/// `prot_gid` + `prot_uid`). Order matters: groups first, uid last.
pub fn set_ids(uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: setgroups reads one gid from a valid pointer; setgid/setuid take ints.
    unsafe {
        let g = gid as libc::gid_t;
        check(libc::setgroups(1, &g))?;
        check(libc::setgid(g))?;
        check(libc::setuid(uid as libc::uid_t))?;
    }
    Ok(())
}

/// Only the group (qmail-start sets gid before forking its children).
pub fn set_gid(gid: u32) -> io::Result<()> {
    // SAFETY: as above.
    unsafe {
        let g = gid as libc::gid_t;
        check(libc::setgroups(1, &g))?;
        check(libc::setgid(g)).map(|_| ())
    }
}

pub enum Fork {
    Child,
    Parent(i32),
}

/// `fork()`. The child of a single-threaded program may do anything; our
/// programs that fork (spawners, tcpserver) are single-threaded.
pub fn fork() -> io::Result<Fork> {
    // SAFETY: sqmail's forking programs run one thread, so the child inherits
    // no lock held by another thread.
    let pid = check(unsafe { libc::fork() })?;
    Ok(if pid == 0 {
        Fork::Child
    } else {
        Fork::Parent(pid)
    })
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

fn decode(status: libc::c_int) -> Exit {
    if libc::WIFEXITED(status) {
        Exit::Code(libc::WEXITSTATUS(status))
    } else {
        Exit::Signal(libc::WTERMSIG(status))
    }
}

/// Raw wait status of a reaped child (for `end PID status WSTAT` lines).
pub fn wait_nohang_raw() -> io::Result<Option<(i32, i32)>> {
    let mut status = 0;
    // SAFETY: status is a valid out-pointer.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    match pid {
        -1 => {
            let e = super::last_err();
            if e.raw_os_error() == Some(libc::ECHILD) {
                Ok(None)
            } else {
                Err(e)
            }
        }
        0 => Ok(None),
        p => Ok(Some((p, status))),
    }
}

/// Reaps any one child without blocking: `Ok(None)` if none has ended.
pub fn wait_nohang() -> io::Result<Option<(i32, Exit)>> {
    Ok(wait_nohang_raw()?.map(|(pid, status)| (pid, decode(status))))
}

/// Waits for one specific child, retrying on EINTR.
pub fn wait_pid(pid: i32) -> io::Result<Exit> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == -1 {
            let e = super::last_err();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(decode(status));
    }
}

/// Ends the process at once without running destructors or flushing std's
/// buffers (a forked child must not flush its parent's copies).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill takes plain integers.
    check(unsafe { libc::kill(pid, sig) }).map(|_| ())
}

/// Arms (or with 0 disarms) SIGALRM after `secs` seconds.
pub fn alarm(secs: u32) {
    // SAFETY: cannot fail.
    unsafe {
        libc::alarm(secs);
    }
}

/// Current soft limit and raising it, for file-size and descriptor limits.
pub fn set_rlimit(resource: i32, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: lim is a valid rlimit struct.
    check(unsafe { libc::setrlimit(resource as _, &lim) }).map(|_| ())
}

/// Host name from uname (for `me` defaults and Maildir names).
pub fn hostname() -> String {
    // SAFETY: a zeroed utsname is valid storage for uname to fill.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return "localhost".into();
        }
        let bytes: Vec<u8> = u
            .nodename
            .iter()
            .take_while(|&&c| c != 0)
            // c_char is i8 on x86-64 and u8 on aarch64.
            .map(|&c| u8::from_ne_bytes(c.to_ne_bytes()))
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}
