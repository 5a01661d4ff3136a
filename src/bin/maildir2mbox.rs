//! maildir2mbox: move the mail of $MAILDIR into the mbox $MAIL, through
//! $MAILTMP. See man/maildir2mbox.1.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sqmail::exit::Die;
use sqmail::local::{lines, mbox};

fn env(name: &str) -> Result<OsString, Die> {
    std::env::var_os(name).ok_or_else(|| Die::temp(format!("{name} not set")))
}

/// Messages in new/ and cur/, oldest first (by the time in the name).
fn scan(maildir: &Path) -> Result<Vec<(i64, PathBuf)>, Die> {
    let mut v = Vec::new();
    for sub in ["new", "cur"] {
        let rd = fs::read_dir(maildir.join(sub))
            .map_err(|e| Die::sys(format_args!("scan $MAILDIR/{sub}"), e))?;
        for e in rd {
            let e = e.map_err(|e| Die::sys(format_args!("scan $MAILDIR/{sub}"), e))?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
            v.push((digits.parse().unwrap_or(0), e.path()));
        }
    }
    v.sort();
    Ok(v)
}

/// The From_ line: from a first line `Return-Path: <x>`, else `XXX`.
fn from_line(first: &[u8], secs: i64) -> Vec<u8> {
    let mut v = b"From ".to_vec();
    match first
        .strip_prefix(b"Return-Path: <")
        .and_then(|r| r.strip_suffix(b">\n"))
    {
        Some(b"") => v.extend_from_slice(b"MAILER-DAEMON"),
        Some(s) => v.extend(
            s.iter()
                .map(|&b| if b == b' ' || b == b'\t' { b'-' } else { b }),
        ),
        None => v.extend_from_slice(b"XXX"),
    }
    v.push(b' ');
    v.extend_from_slice(lines::ctime(secs).as_bytes());
    v.push(b'\n');
    v
}

fn append(out: &mut impl Write, path: &Path, secs: i64) -> Result<(), Die> {
    let f = File::open(path).map_err(|e| Die::sys(format_args!("read {}", path.display()), e))?;
    let mut r = BufReader::with_capacity(64 * 1024, f);
    let mut line = Vec::with_capacity(1024);
    let rd = |e| Die::sys(format_args!("read {}", path.display()), e);
    let wr = |e| Die::sys("write $MAILTMP", e);
    r.read_until(b'\n', &mut line).map_err(rd)?;
    out.write_all(&from_line(&line, secs)).map_err(wr)?;
    while !line.is_empty() {
        if mbox::needs_quote(&line) {
            out.write_all(b">").map_err(wr)?;
        }
        out.write_all(&line).map_err(wr)?;
        if !line.ends_with(b"\n") {
            out.write_all(b"\n").map_err(wr)?;
            break;
        }
        line.clear();
        r.read_until(b'\n', &mut line).map_err(rd)?;
    }
    out.write_all(b"\n").map_err(wr)
}

fn main() {
    sqmail::exit::run("maildir2mbox", || {
        let maildir = PathBuf::from(env("MAILDIR")?);
        let mail = PathBuf::from(env("MAIL")?);
        let tmp = PathBuf::from(env("MAILTMP")?);
        sqmail::local::maildir::clean_tmp(&maildir);
        let msgs = scan(&maildir)?;
        if msgs.is_empty() {
            return Ok(());
        }
        let lock = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&mail)
            .map_err(|e| Die::sys("lock $MAIL", e))?;
        sqmail::sys::lock_fcntl_exclusive(&lock).map_err(|e| Die::sys("lock $MAIL", e))?;
        let new = File::create(&tmp).map_err(|e| Die::sys("create $MAILTMP", e))?;
        let mut out = BufWriter::with_capacity(64 * 1024, new);
        let mut old = File::open(&mail).map_err(|e| Die::sys("read $MAIL", e))?;
        io::copy(&mut old, &mut out).map_err(|e| Die::sys("copy $MAIL to $MAILTMP", e))?;
        for (secs, path) in &msgs {
            append(&mut out, path, *secs)?;
        }
        let new = out
            .into_inner()
            .map_err(|e| Die::sys("write $MAILTMP", e.into_error()))?;
        new.sync_all().map_err(|e| Die::sys("write $MAILTMP", e))?;
        drop(new);
        fs::rename(&tmp, &mail).map_err(|e| Die::sys("move $MAILTMP to $MAIL", e))?;
        sqmail::fsutil::fsync_parent(&mail).map_err(|e| Die::sys("sync $MAIL", e))?;
        for (_, path) in &msgs {
            if let Err(e) = fs::remove_file(path) {
                sqmail::exit::warn(
                    "maildir2mbox",
                    format_args!(
                        "{} will be delivered twice; unable to unlink: {e}",
                        path.display()
                    ),
                );
            }
        }
        Ok(())
    })
}
