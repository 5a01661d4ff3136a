//! tcpserver: accept TCP connections and run a program for each.
//! See man/tcpserver.1.

#![forbid(unsafe_code)]

use std::os::fd::AsRawFd;

use sqmail::exit::{Die, run};
use sqmail::sys;
use sqmail::ucspi::server::{self, Options};

const USAGE: &str = "tcpserver [ -146UXpPhHrRoOdDqQv ] [ -c limit ] [ -C perip ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] [ -I interface ] host port program [ arg ... ]";

fn main() {
    run("tcpserver", || {
        let args: Vec<_> = std::env::args_os().skip(1).collect();
        let (o, _) = Options::parse("tcpserver", &args, "", "", USAGE, false)?;
        let listen = o.listen()?;
        server::serve(
            &o,
            listen,
            true,
            || {},
            |sock, remote| {
                let a = match server::accept_work(&o, sock.as_raw_fd(), remote, true) {
                    Ok(a) => a,
                    Err(d) => return d,
                };
                if let Err(e) =
                    sys::dup2(sock.as_raw_fd(), 0).and_then(|()| sys::dup2(sock.as_raw_fd(), 1))
                {
                    return Die::sys("set up descriptors", e);
                }
                drop(sock);
                server::exec(&o, server::command(&o, &a, &["TCP"]))
            },
        )
    })
}
