//! qmail-local: delivery of one message to one local address by `.qmail`
//! instructions (qmail-local(8)).
//!
//! `run` is the whole program; qmail-lspawn calls it in a forked child (no
//! exec), the `qmail-local` binary from `main`. Reports go straight to fds
//! 1 and 2 (no std buffers a forked child could inherit half-full).

mod args;
mod checks;
pub mod command;
mod dotqmail;
pub mod errors;
pub mod forward;
pub mod lines;
pub mod maildir;
pub mod mbox;
mod program;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use crate::exit::Die;
use crate::sys;

use args::parse_args;
use checks::{check_home, check_loop, new_sender, rewind};
pub(crate) use errors::{errstr, is_temp};

pub use dotqmail::{Instr, parse_line, safe_ext};
pub use program::{Outcome, outcome};

/// qmail-local's whole job, in-process. `args` are qmail-local's arguments
/// without the program name (`[-nN] [--] user homedir local dash ext domain
/// sender defaultdelivery`). The message is on fd 0 (seekable), the report
/// goes to fds 1 and 2. Returns the exit code (0, 100, 111). The caller has
/// already taken the user's uid/gid; qmail-lspawn calls this in a forked
/// child, the `qmail-local` program from `main`. The process's working
/// directory, umask and SIGPIPE disposition are changed.
pub fn run(args: &[OsString]) -> i32 {
    // A panic is never a bounce: it becomes a temporary failure.
    let result = std::panic::catch_unwind(|| deliver(args))
        .unwrap_or_else(|_| Err(Die::temp("Internal error in qmail-local. (#4.3.0)")));
    match result {
        Ok(()) => 0,
        Err(d) => {
            if !d.text.is_empty() {
                let mut line = d.text.into_bytes();
                line.push(b'\n');
                say_fd(2, &line);
            }
            d.code
        }
    }
}

/// Work that every delivery would repeat (the host name for Maildir file
/// names): a spawner calls this once before it forks its children.
pub fn prepare() {
    maildir::prepare();
}

/// Writes to fd 1 or 2 without buffering.
fn say_fd(fd: i32, data: &[u8]) {
    let _ = (&*sys::borrow_fd(fd)).write_all(data);
}

fn say(kind: &str, what: &[u8]) {
    let mut line = Vec::with_capacity(kind.len() + what.len() + 1);
    line.extend_from_slice(kind.as_bytes());
    line.extend_from_slice(what);
    line.push(b'\n');
    say_fd(1, &line);
}

fn deliver(args: &[OsString]) -> Result<(), Die> {
    sys::umask(0o077);
    let _ = sys::ignore_signal(libc::SIGPIPE);
    // A spawner's SIGCHLD handler (inherited across its fork) must not see
    // our own children.
    let _ = sys::default_signal(libc::SIGCHLD);
    // A file-size limit makes a write fail (EFBIG: a clean deferral that
    // removes the tmp file) instead of killing us. Programs get the default
    // back (program::run).
    let _ = sys::ignore_signal(libc::SIGXFSZ);
    let a = parse_args(args)?;
    std::env::set_current_dir(OsStr::from_bytes(a.homedir)).map_err(|e| {
        Die::temp(format!(
            "Unable to switch to {}: {}. (#4.3.0)",
            String::from_utf8_lossy(a.homedir),
            errstr(&e)
        ))
    })?;
    check_home(a.doit)?;
    let message = sys::borrow_fd(0);
    let message: &File = &message;

    let mut recipient = Vec::with_capacity(a.local.len() + a.host.len() + 1);
    recipient.extend_from_slice(a.local);
    recipient.push(b'@');
    recipient.extend_from_slice(a.host);
    let dtline = lines::dtline(a.local, a.host);
    if a.doit {
        check_loop(message, &dtline)?;
    }
    let rpline = lines::rpline(a.sender);
    let ufline = lines::ufline(a.sender, crate::date::now_secs());
    let [ext1, ext2, ext3, ext4] = lines::ext_parts(a.ext);
    let [host2, host3, host4] = lines::host_parts(a.host);
    let safeext = safe_ext(a.ext);

    let found = dotqmail::search(a.dash, a.ext, &safeext)?;
    if found.is_none() && !a.dash.is_empty() {
        return Err(Die::perm("Sorry, no mailbox here by that name. (#5.1.1)"));
    }
    let newsender = new_sender(&a, &safeext)?;
    // An empty or (without dash) missing file means the default delivery.
    let (text, forward_only, default) = match &found {
        Some(f) if !f.text.is_empty() => (&f.text[..], f.forward_only, f.default.as_deref()),
        Some(f) => (a.aliasempty, false, f.default.as_deref()),
        None => (a.aliasempty, false, None),
    };

    let env: [(&str, &[u8]); 17] = [
        ("HOST", a.host),
        ("HOME", a.homedir),
        ("USER", a.user),
        ("LOCAL", a.local),
        ("RECIPIENT", &recipient),
        ("DTLINE", &dtline),
        ("SENDER", a.sender),
        ("RPLINE", &rpline),
        ("UFLINE", &ufline),
        ("EXT", ext1),
        ("EXT2", ext2),
        ("EXT3", ext3),
        ("EXT4", ext4),
        ("HOST2", host2),
        ("HOST3", host3),
        ("HOST4", host4),
        ("NEWSENDER", &newsender),
    ];

    let lines = Lines {
        env: &env,
        default,
        dtline: &dtline,
        ufline: &ufline,
        rpline: &rpline,
        maildir_head: None,
    };
    let done = execute(text, forward_only, a.doit, lines, message)?;
    let qp = if done.recipients.is_empty() {
        None
    } else {
        Some(forward_all(message, &dtline, &newsender, done.recipients)?)
    };
    let [f, w, p] = done.counts;
    let mut report = format!("did {f}+{w}+{p}\n");
    if let Some(qp) = qp {
        report.push_str(&format!("qp {qp}\n"));
    }
    say_fd(1, report.as_bytes());
    Ok(())
}

/// Sends the collected forwards as one message; returns the qp.
fn forward_all(
    message: &File,
    dtline: &[u8],
    newsender: &[u8],
    recipients: Vec<Vec<u8>>,
) -> Result<u32, Die> {
    rewind(message)?;
    forward::forward(&crate::home::home(), dtline, message, newsender, recipients).map_err(|e| {
        Die::new(
            command::exit_code(e),
            format!("Unable to forward message: {}.", e.text()),
        )
    })
}

/// What the instructions need besides themselves.
struct Lines<'a> {
    env: &'a [(&'a str, &'a [u8])],
    default: Option<&'a [u8]>,
    dtline: &'a [u8],
    ufline: &'a [u8],
    rpline: &'a [u8],
    /// RPLINE + DTLINE in one buffer (one write per Maildir delivery),
    /// made at the first Maildir line.
    maildir_head: Option<Vec<u8>>,
}

/// The outcome of the instructions: counts of files, forwards and
/// programs, and the forward addresses collected.
struct Done {
    counts: [u64; 3],
    recipients: Vec<Vec<u8>>,
}

/// Runs (or with `doit` false, prints) the instructions of `text` in
/// order; stops at the first failure, or after a program's exit 99.
fn execute(
    text: &[u8],
    mut forward_only: bool,
    doit: bool,
    mut l: Lines,
    message: &File,
) -> Result<Done, Die> {
    let mut done = Done {
        counts: [0; 3],
        recipients: Vec::new(),
    };
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    for (n, line) in body.split(|&b| b == b'\n').enumerate() {
        if n == 0 && dotqmail::is_blank(line) {
            return Err(Die::temp(
                "Uh-oh: first line of .qmail file is blank. (#4.2.1)",
            ));
        }
        let instr = parse_line(line);
        let (slot, label, what) = match instr {
            Instr::Skip => continue,
            Instr::ForwardOnly => {
                forward_only = true;
                continue;
            }
            Instr::Maildir(x) => (0, "maildir ", x),
            Instr::Mbox(x) => (0, "mbox ", x),
            Instr::Forward(x) => (1, "forward ", x),
            Instr::Program(x) => (2, "program ", x),
        };
        done.counts[slot] += 1;
        if forward_only && slot != 1 {
            return Err(Die::temp(if slot == 0 {
                "Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)"
            } else {
                "Uh-oh: .qmail has prog delivery but has x bit set. (#4.7.0)"
            }));
        }
        if !doit {
            say(label, what);
            continue;
        }
        let path = std::path::Path::new(OsStr::from_bytes(what));
        match instr {
            Instr::Maildir(_) => {
                let head = l
                    .maildir_head
                    .get_or_insert_with(|| [l.rpline, l.dtline].concat());
                maildir::deliver(path, &[head], message).map_err(|e| Die::temp(e.text()))?;
            }
            Instr::Mbox(_) => {
                let name = String::from_utf8_lossy(what);
                mbox::deliver(path, &name, &[l.ufline, l.rpline, l.dtline], message)?;
            }
            Instr::Program(_) => {
                rewind(message)?;
                if program::run(what, l.env, l.default)? == Outcome::Stop {
                    break;
                }
            }
            _ => done.recipients.push(what.to_vec()),
        }
    }
    Ok(done)
}
