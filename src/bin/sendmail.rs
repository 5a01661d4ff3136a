//! sendmail: the Sendmail command line for mail clients and cron, turned
//! into qmail-inject (or qmail-qread, qmail-smtpd). See man/sendmail.8.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use sqmail::exit::{Die, run};
use sqmail::getopt::{self, GetOpt, Opt};
use sqmail::home;

const PROG: &str = "sendmail";
const USAGE: &str = "sendmail [ -t ] [ -fsender ] [ -Fname ] [ -bp ] [ -bs ] [ arg ... ]";

fn main() {
    run(PROG, real_main)
}

fn usage() -> Die {
    let _ = writeln!(io::stderr(), "{PROG}: usage: {USAGE}");
    Die::quiet(sqmail::exit::PERM)
}

/// Replaces this process with `cmd`; returns only on failure.
fn exec(mut cmd: Command, name: &str) -> Die {
    let _ = cmd.exec();
    Die::temp(format!("unable to run {name}"))
}

/// `-bs`: an SMTP session on stdin/stdout, as from localhost when not
/// already under a UCSPI server.
fn smtpd() -> Die {
    let mut cmd = Command::new("bin/qmail-smtpd");
    if std::env::var_os("PROTO").is_none() {
        cmd.envs([
            ("RELAYCLIENT", ""),
            ("DATABYTES", "0"),
            ("PROTO", "TCP"),
            ("TCPLOCALIP", "127.0.0.1"),
            ("TCPLOCALHOST", "localhost"),
            ("TCPREMOTEIP", "127.0.0.1"),
            ("TCPREMOTEHOST", "localhost"),
            ("TCPREMOTEINFO", "sendmail-bs"),
        ]);
    }
    exec(cmd, "qmail-smtpd")
}

fn mailq() -> Die {
    exec(Command::new("bin/qmail-qread"), "qmail-qread")
}

/// `-f`: the identity for the default From follows the sender.
fn sender_identity(cmd: &mut Command, sender: &[u8]) {
    for v in ["QMAILNAME", "MAILNAME", "NAME", "QMAILHOST", "MAILHOST"] {
        cmd.env_remove(v);
    }
    let os = |b: &[u8]| OsString::from_vec(b.to_vec());
    match sender.iter().rposition(|&c| c == b'@') {
        None => {
            cmd.env("QMAILUSER", os(sender));
        }
        Some(at) => {
            cmd.env("QMAILUSER", os(&sender[..at]));
            cmd.env("QMAILHOST", os(&sender[at + 1..]));
        }
    }
}

fn real_main() -> Result<(), Die> {
    let mut argv = std::env::args_os();
    let arg0 = argv.next().unwrap_or_default();
    let name = Path::new(&arg0)
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default();
    let args: Vec<Vec<u8>> = argv.map(OsString::into_vec).collect();

    std::env::set_current_dir(home::home())
        .map_err(|_| Die::temp("unable to switch to qmail home directory"))?;

    let mut header_rcpts = false;
    let mut sender: Option<Vec<u8>> = None;
    let mut full_name: Option<Vec<u8>> = None;
    let mut run_queue = false;
    let mut opts = GetOpt::new(&args, b"vimte:f:p:o:B:F:EJxb:q");
    while let Some(o) = opts.next() {
        match o {
            Opt::Flag(b't', _) => header_rcpts = true,
            Opt::Flag(b'f', s) => sender = s,
            Opt::Flag(b'F', n) => full_name = n,
            Opt::Flag(b'b', a) => match a.as_deref().and_then(|a| a.first()) {
                Some(b'm') => {}
                Some(b'p') => return Err(mailq()),
                Some(b's') => return Err(smtpd()),
                _ => return Err(usage()),
            },
            // Optional attached arguments that nobody needs.
            Opt::Flag(b'E' | b'J', _) => opts.skip_rest(),
            Opt::Flag(b'q', _) => {
                opts.skip_rest();
                run_queue = true;
            }
            Opt::Flag(b'v' | b'i' | b'm' | b'x' | b'e' | b'p' | b'o' | b'B', _) => {}
            o => {
                let _ = writeln!(io::stderr(), "{}", getopt::problem(PROG, &o));
                return Err(usage());
            }
        }
    }
    let operands = opts.operands();

    if name == b"mailq" {
        return Err(mailq());
    }
    if name == b"newaliases" {
        return Err(Die::perm("please use fastforward/newaliases instead"));
    }
    // qmail-send retries on its own schedule: a queue run is a no-op.
    if run_queue {
        return Ok(());
    }

    let mut cmd = Command::new("bin/qmail-inject");
    cmd.arg(if header_rcpts { "-H" } else { "-a" });
    if let Some(s) = &sender {
        cmd.arg("-f").arg(OsString::from_vec(s.clone()));
        sender_identity(&mut cmd, s);
    }
    if let Some(n) = full_name {
        cmd.env("MAILNAME", OsString::from_vec(n));
    }
    cmd.arg("--");
    cmd.args(operands.iter().map(|a| OsString::from_vec(a.clone())));
    Err(exec(cmd, "qmail-inject"))
}
