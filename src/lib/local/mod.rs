//! qmail-local: delivery of one message to one local address by `.qmail`
//! instructions (local.md §1–3).
//!
//! `run` is the whole program; qmail-lspawn calls it in a forked child (no
//! exec), the `qmail-local` binary from `main`. Reports go straight to fds
//! 1 and 2 (no std buffers a forked child could inherit half-full).

pub mod command;
mod dotqmail;
pub mod forward;
pub mod lines;
pub mod maildir;
pub mod mbox;
mod program;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

use crate::exit::Die;
use crate::{auto, sys};

pub use dotqmail::{Instr, parse_line, safe_ext};
pub use program::{Outcome, outcome};

const USAGE: &str =
    "qmail-local: usage: qmail-local [ -nN ] user homedir local dash ext domain sender aliasempty";

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

/// The system's text for an error, without Rust's "(os error N)".
pub(crate) fn errstr(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// qmail's error_temp: errors worth a retry.
pub(crate) fn is_temp(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EINTR
                | libc::ENOMEM
                | libc::ETXTBSY
                | libc::EIO
                | libc::ETIMEDOUT
                | libc::EAGAIN
                | libc::EDEADLK
                | libc::EBUSY
                | libc::ENFILE
                | libc::EMFILE
                | libc::EFBIG
                | libc::ENOSPC
                | libc::ENETDOWN
                | libc::ENETUNREACH
                | libc::ENETRESET
                | libc::ECONNABORTED
                | libc::ECONNRESET
                | libc::ENOBUFS
                | libc::ECONNREFUSED
                | libc::EHOSTDOWN
                | libc::EHOSTUNREACH
                | libc::EUSERS
                | libc::EDQUOT
                | libc::ESTALE
                | libc::EREMOTE
        )
    )
}

/// The eight arguments and the `-n` flag.
struct Args<'a> {
    doit: bool,
    user: &'a [u8],
    homedir: &'a [u8],
    local: &'a [u8],
    dash: &'a [u8],
    ext: &'a [u8],
    host: &'a [u8],
    sender: &'a [u8],
    aliasempty: &'a [u8],
}

fn parse_args(args: &[OsString]) -> Result<Args<'_>, Die> {
    let usage = || Die::new(100, USAGE);
    let mut doit = true;
    let mut rest = args;
    while let Some(a) = rest.first().map(|a| a.as_bytes()) {
        if a.len() < 2 || a[0] != b'-' {
            break;
        }
        rest = &rest[1..];
        if a == b"--" {
            break;
        }
        for &c in &a[1..] {
            match c {
                b'n' => doit = false,
                b'N' => doit = true,
                _ => return Err(usage()),
            }
        }
    }
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

/// The home directory must not be writable by others, nor sticky (the
/// user's signal that a .qmail file is being edited).
fn check_home(doit: bool) -> Result<(), Die> {
    let st = std::fs::metadata(".").map_err(|e| {
        Die::temp(format!(
            "Unable to stat home directory: {}. (#4.3.0)",
            errstr(&e)
        ))
    })?;
    if st.mode() & auto::PATRN != 0 {
        return Err(Die::temp("Uh-oh: home directory is writable. (#4.7.0)"));
    }
    if st.mode() & 0o1000 != 0 {
        if doit {
            return Err(Die::temp(
                "Home directory is sticky: user is editing his .qmail file. (#4.2.1)",
            ));
        }
        say_fd(2, b"Warning: home directory is sticky.\n");
    }
    Ok(())
}

fn rewind(mut message: &File) -> Result<(), Die> {
    message
        .seek(SeekFrom::Start(0))
        .map(drop)
        .map_err(|_| Die::temp("Unable to rewind message. (#4.3.0)"))
}

/// Bounces a message whose header already has our Delivered-To line.
fn check_loop(message: &File, dtline: &[u8]) -> Result<(), Die> {
    rewind(message)?;
    let mut r = BufReader::with_capacity(8192, message);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        r.read_until(b'\n', &mut line)
            .map_err(|e| Die::temp(format!("Unable to read message: {}. (#4.3.0)", errstr(&e))))?;
        if !line.ends_with(b"\n") || line.len() <= 1 {
            return Ok(());
        }
        if line == dtline {
            return Err(Die::perm(
                "This message is looping: it already has my Delivered-To line. (#5.4.6)",
            ));
        }
    }
}

/// The envelope sender of forwarded mail: the sender, or the list owner
/// when `.qmail<dash><ext>-owner` exists (VERP form with `-owner-default`).
fn new_sender(a: &Args, safeext: &[u8]) -> Result<Vec<u8>, Die> {
    if a.sender.is_empty() || a.sender == b"#@[]" || !dotqmail::exists(a.dash, safeext, b"-owner")?
    {
        return Ok(a.sender.to_vec());
    }
    let verp = dotqmail::exists(a.dash, safeext, b"-owner-default")?;
    let mut s = a.local.to_vec();
    s.extend_from_slice(if verp { b"-owner-@" } else { b"-owner@" });
    s.extend_from_slice(a.host);
    if verp {
        s.extend_from_slice(b"-@[]");
    }
    Ok(s)
}

fn deliver(args: &[OsString]) -> Result<(), Die> {
    sys::umask(0o077);
    let _ = sys::ignore_signal(libc::SIGPIPE);
    // A spawner's SIGCHLD handler (inherited across its fork) must not see
    // our own children.
    let _ = sys::default_signal(libc::SIGCHLD);
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
    let (mut text, mut forward_only, default) = match found {
        Some(f) => (f.text, f.forward_only, f.default),
        None => (Vec::new(), false, None),
    };
    if text.is_empty() {
        text = a.aliasempty.to_vec();
        forward_only = false;
    }

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
        default: default.as_deref(),
        dtline: &dtline,
        ufline: &ufline,
        rpline: &rpline,
        maildir_head: None,
    };
    let done = execute(&text, forward_only, a.doit, lines, message)?;
    let mut qp = None;
    if !done.recipients.is_empty() {
        rewind(message)?;
        let home = crate::home::home();
        qp = Some(
            forward::forward(&home, &dtline, message, &newsender, done.recipients).map_err(
                |e| {
                    Die::new(
                        if e.0.starts_with('D') { 100 } else { 111 },
                        format!("Unable to forward message: {}.", e.text()),
                    )
                },
            )?,
        );
    }
    let [f, w, p] = done.counts;
    let mut report = format!("did {f}+{w}+{p}\n");
    if let Some(qp) = qp {
        report.push_str(&format!("qp {qp}\n"));
    }
    say_fd(1, report.as_bytes());
    Ok(())
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
