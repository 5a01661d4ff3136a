//! qmail-start (qmail-start(8)): starts the delivery daemons, wires their
//! pipes, and becomes qmail-send.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::exit::Die;
use crate::home::{Ids, private_mode};
use crate::sys::{self, Fork};

/// A pipe as (read end, write end), both close-on-exec.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = io::pipe()?;
    Ok((OwnedFd::from(r), OwnedFd::from(w)))
}

/// In a child (or in qmail-start itself before exec): puts `fds[i]` on
/// descriptor `i` (None: leave), drops to `ids` unless private, execs.
fn become_prog(
    home: Option<&Path>,
    wire: &[(i32, i32)],
    ids: Option<(u32, u32)>,
    prog: &str,
    args: &[OsString],
) -> ! {
    for &(from, to) in wire {
        if sys::dup2(from, to).is_err() {
            sys::exit_now(crate::exit::TEMP);
        }
    }
    if let Some((uid, gid)) = ids
        && sys::set_ids(uid, gid).is_err()
    {
        sys::exit_now(crate::exit::TEMP);
    }
    let mut cmd = Command::new(prog);
    cmd.args(args);
    if let Some(h) = home {
        cmd.env("QMAILHOME", h);
    }
    let _ = cmd.exec();
    sys::exit_now(crate::exit::TEMP)
}

fn spawn(
    home: Option<&Path>,
    wire: &[(i32, i32)],
    ids: Option<(u32, u32)>,
    prog: &str,
    args: &[OsString],
) -> Result<(), Die> {
    match sys::fork() {
        Ok(Fork::Child) => become_prog(home, wire, ids, prog, args),
        Ok(Fork::Parent(_)) => Ok(()),
        Err(_) => Err(Die::quiet(crate::exit::TEMP)),
    }
}

/// The program. Prints nothing; any setup failure exits 111.
pub fn main() -> Result<(), Die> {
    let fail = |_| Die::quiet(crate::exit::TEMP);
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // A relative QMAILHOME must survive the chdir to /.
    let home: Option<PathBuf> = match std::env::var_os("QMAILHOME").filter(|h| !h.is_empty()) {
        Some(h) => Some(std::fs::canonicalize(h).map_err(fail)?),
        None => None,
    };
    let home = home.as_deref();
    let private = private_mode();
    let ids = Ids::current().map_err(fail)?;
    std::env::set_current_dir("/").map_err(fail)?;
    sys::umask(0o077);
    if !private {
        sys::set_gid(ids.gid_qmail).map_err(fail)?;
    }
    let as_user = |uid: u32, gid: u32| (!private).then_some((uid, gid));
    // Occupy fds 2..8 so that every pipe lands above them.
    for fd in 2..=8 {
        sys::dup2(0, fd).map_err(fail)?;
    }
    let default_delivery = args
        .first()
        .cloned()
        .unwrap_or_else(|| crate::auto::DELIVERY.into());
    let log_fd = if args.len() > 1 {
        let (r, w) = pipe().map_err(fail)?;
        spawn(
            home,
            &[(r.as_raw_fd(), 0)],
            as_user(ids.qmaill, ids.gid_nofiles),
            &args[1].to_string_lossy(),
            &args[2..],
        )?;
        drop(r);
        w
    } else {
        sys::borrow_fd(1).try_clone().map_err(fail)?.into()
    };
    let p: Vec<(OwnedFd, OwnedFd)> = (0..10)
        .map(|_| pipe())
        .collect::<io::Result<_>>()
        .map_err(fail)?;
    let rd = |i: usize| p[i].0.as_raw_fd();
    let wr = |i: usize| p[i].1.as_raw_fd();
    // p[0] send→lspawn, p[1] lspawn→send, p[2] send→rspawn, p[3] rspawn→send,
    // p[4] send→clean, p[5] clean→send, p[6] send→todo, p[7] todo→send,
    // p[8] todo→clean2, p[9] clean2→todo.
    spawn(
        home,
        &[(rd(0), 0), (wr(1), 1)],
        None,
        "qmail-lspawn",
        &[default_delivery],
    )?;
    spawn(
        home,
        &[(rd(2), 0), (wr(3), 1)],
        as_user(ids.qmailr, ids.gid_qmail),
        "qmail-rspawn",
        &[],
    )?;
    spawn(
        home,
        &[(rd(4), 0), (wr(5), 1)],
        as_user(ids.qmailq, ids.gid_qmail),
        "qmail-clean",
        &[],
    )?;
    spawn(
        home,
        &[(rd(6), 0), (wr(7), 1), (wr(8), 2), (rd(9), 3)],
        as_user(ids.qmails, ids.gid_qmail),
        "qmail-todo",
        &[],
    )?;
    spawn(
        home,
        &[(rd(8), 0), (wr(9), 1)],
        as_user(ids.qmailq, ids.gid_qmail),
        "qmail-clean",
        &[],
    )?;
    become_prog(
        home,
        &[
            (log_fd.as_raw_fd(), 0),
            (wr(0), 1),
            (rd(1), 2),
            (wr(2), 3),
            (rd(3), 4),
            (wr(4), 5),
            (rd(5), 6),
            (wr(6), 7),
            (rd(7), 8),
        ],
        as_user(ids.qmails, ids.gid_qmail),
        "qmail-send",
        &[],
    )
}
