//! tcpclient: connect to a TCP server and run a program with the
//! connection on fds 6 (read) and 7 (write). See man/tcpclient.1.

#![forbid(unsafe_code)]

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

use sqmail::exit::{Die, run};
use sqmail::sys;
use sqmail::ucspi::client::Options;

const USAGE: &str = "tcpclient [ -46hHrRdDqQv ] [ -i localip ] [ -p localport ] [ -T timeoutconn ] [ -l localname ] [ -t timeoutinfo ] [ -I interface ] host port program [ arg ... ]";

fn main() {
    run("tcpclient", || {
        let args: Vec<_> = std::env::args_os().skip(1).collect();
        let (o, _) = Options::parse("tcpclient", &args, "", "", USAGE, true)?;
        let (fd, conn) = o.connect()?;
        let wire =
            |to| sys::dup2(fd.as_raw_fd(), to).map_err(|e| Die::sys("set up descriptors", e));
        wire(6)?;
        wire(7)?;
        if !matches!(fd.as_raw_fd(), 6 | 7) {
            drop(fd);
        } else {
            std::mem::forget(fd);
        }
        let mut cmd = Command::new(&o.argv[0]);
        cmd.args(&o.argv[1..]);
        for (k, v) in conn.environ("TCP") {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let e = cmd.exec();
        Err(Die::temp(format!(
            "unable to run: {}: {e}",
            o.argv[0].to_string_lossy()
        )))
    })
}
