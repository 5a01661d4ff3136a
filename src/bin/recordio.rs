//! recordio: run a program and copy its input and output, recording both
//! directions on stderr. See man/recordio.1.

#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

use sqmail::exit::{Die, run};
use sqmail::sys;

const USAGE: &str = "recordio program [ arg ... ]";

/// `PID DIR line \n` per complete line, `PID DIR rest+\n` for a tail.
fn record(prefix: &str, mut data: &[u8], out: &mut Vec<u8>) {
    while !data.is_empty() {
        out.extend_from_slice(prefix.as_bytes());
        match data.iter().position(|&b| b == b'\n') {
            Some(i) => {
                out.extend_from_slice(&data[..i]);
                out.extend_from_slice(b" \n");
                data = &data[i + 1..];
            }
            None => {
                out.extend_from_slice(data);
                out.extend_from_slice(b"+\n");
                return;
            }
        }
    }
}

fn main() {
    run("recordio", || {
        let args: Vec<_> = std::env::args_os().skip(1).collect();
        if args.is_empty() {
            return Err(Die::usage(USAGE));
        }
        let pipe = || sys::pipe().map_err(|e| Die::sys("create pipe", e));
        let (in_r, in_w) = pipe()?;
        let (out_r, out_w) = pipe()?;
        sys::ignore_signal(libc::SIGPIPE).map_err(|e| Die::sys("set signals", e))?;
        if let sys::Fork::Child = sys::fork().map_err(|e| Die::sys("fork", e))? {
            drop((in_w, out_r));
            sys::dup2(in_r.as_raw_fd(), 0)
                .and_then(|()| sys::dup2(out_w.as_raw_fd(), 1))
                .map_err(|e| Die::sys("set up descriptors", e))?;
            let e = Command::new(&args[0]).args(&args[1..]).exec();
            return Err(Die::temp(format!(
                "unable to run: {}: {e}",
                args[0].to_string_lossy()
            )));
        }
        drop((in_r, out_w));
        let pid = sys::getpid();
        let (into, from) = (format!("{pid} < "), format!("{pid} > "));
        let mut to_prog = Some(in_w);
        let mut from_prog = Some(out_r);
        let mut buf = vec![0u8; 8192];
        let mut log = Vec::new();
        while to_prog.is_some() || from_prog.is_some() {
            let fds = [
                if to_prog.is_some() { 0 } else { -1 },
                from_prog.as_ref().map_or(-1, |f| f.as_raw_fd()),
            ];
            let ready = sys::poll_events(&[(fds[0], true, false), (fds[1], true, false)], -1)
                .map_err(|e| Die::sys("poll", e))?;
            if ready[0] != 0
                && let Some(w) = &to_prog
            {
                let n = sys::borrow_fd(0).read(&mut buf).unwrap_or(0);
                record(&into, &buf[..n], &mut log);
                if n == 0 || sys::borrow_fd(w.as_raw_fd()).write_all(&buf[..n]).is_err() {
                    log.extend_from_slice(format!("{into}[EOF]\n").as_bytes());
                    to_prog = None;
                }
            }
            if ready[1] != 0
                && let Some(r) = &from_prog
            {
                let n = sys::borrow_fd(r.as_raw_fd()).read(&mut buf).unwrap_or(0);
                record(&from, &buf[..n], &mut log);
                if n == 0 || sys::borrow_fd(1).write_all(&buf[..n]).is_err() {
                    log.extend_from_slice(format!("{from}[EOF]\n").as_bytes());
                    from_prog = None;
                    sys::close_fd(1);
                }
            }
            let _ = std::io::stderr().write_all(&log);
            log.clear();
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines() {
        let mut out = Vec::new();
        super::record("7 > ", b"a\nbc\nd", &mut out);
        assert_eq!(out, b"7 > a \n7 > bc \n7 > d+\n");
    }
}
