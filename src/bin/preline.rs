//! preline: feed a program the message with the From_, Return-Path and
//! Delivered-To lines qmail-local prepared. See man/preline.1.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStringExt;
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
        let args = sqmail::getopt::args();
        let (opts, rest) = sqmail::getopt::parse(&args, b"frdFRD", USAGE)?;
        for (c, _) in opts {
            let i = match c.to_ascii_lowercase() {
                b'f' => 0,
                b'r' => 1,
                _ => 2,
            };
            want[i] = c.is_ascii_uppercase();
        }
        let rest: Vec<OsString> = rest.iter().map(|a| OsString::from_vec(a.clone())).collect();
        if rest.is_empty() {
            return Err(usage());
        }
        let mut child = command::spawn(&rest, Stdio::piped()).map_err(|code| {
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
