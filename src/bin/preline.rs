//! preline: feed a program the message with the From_, Return-Path and
//! Delivered-To lines qmail-local prepared. See man/preline.1.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::Stdio;

use sqmail::exit::Die;
use sqmail::local::command;
use sqmail::local::forward::copy;

const USAGE: &str = "preline cmd [ arg ... ]";

fn main() {
    sqmail::exit::run("preline", || {
        let _ = sqmail::sys::ignore_signal(libc::SIGPIPE);
        let usage = || Die::usage(USAGE);
        let lines =
            ["UFLINE", "RPLINE", "DTLINE"].map(|n| command::need_env(n).map_err(|_| usage()));
        let [uf, rp, dt] = lines;
        let (uf, rp, dt) = (uf?, rp?, dt?);
        let mut want = [true; 3];
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        let mut rest = &args[..];
        while let Some(a) = rest.first().and_then(|a| a.to_str()) {
            if a == "--" {
                rest = &rest[1..];
                break;
            }
            if a.len() < 2 || !a.starts_with('-') {
                break;
            }
            for c in a[1..].chars() {
                let (i, on) = match c {
                    'f' => (0, false),
                    'r' => (1, false),
                    'd' => (2, false),
                    'F' => (0, true),
                    'R' => (1, true),
                    'D' => (2, true),
                    _ => return Err(usage()),
                };
                want[i] = on;
            }
            rest = &rest[1..];
        }
        if rest.is_empty() {
            return Err(usage());
        }
        let mut child = command::spawn(rest, Stdio::piped()).map_err(|code| {
            Die::new(code, format!("unable to run {}", rest[0].to_string_lossy()))
        })?;
        let pipe = child
            .stdin
            .take()
            .ok_or_else(|| Die::temp("unable to create pipe"))?;
        let mut out = io::BufWriter::with_capacity(64 * 1024, pipe);
        let copied = (|| -> io::Result<()> {
            for (line, on) in [&uf, &rp, &dt].into_iter().zip(want) {
                if on {
                    out.write_all(line)?;
                }
            }
            out.flush()?;
            let pipe = out.into_inner().map_err(|e| e.into_error())?;
            let pipe = std::fs::File::from(std::os::fd::OwnedFd::from(pipe));
            copy(&sqmail::sys::borrow_fd(0), &pipe)
        })();
        let st = child.wait().map_err(|e| Die::sys("wait", e))?;
        copied.map_err(|e| Die::sys("copy input", e))?;
        match st.code() {
            Some(0) => Ok(()),
            Some(c) => Err(Die::quiet(c)),
            None => Err(Die::temp("child crashed")),
        }
    })
}
