//! tcpserver: accept TCP connections and run a program for each.
//! See man/tcpserver.1.

#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::os::fd::AsRawFd;

use sqmail::exit::{Die, run};
use sqmail::sys;
use sqmail::ucspi::server::{self, Options, SpawnPlan, Start};

const USAGE: &str = "tcpserver [ -146UXpPhHrRoOdDqQv ] [ -c limit ] [ -C perip ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] [ -I interface ] host port program [ arg ... ]";

fn main() {
    run("tcpserver", || {
        let args: Vec<_> = std::env::args_os().skip(1).collect();
        let (o, _) = Options::parse("tcpserver", &args, "", "", USAGE, false)?;
        let listen = o.listen()?;
        // With no name or IDENT lookup to wait for, the parent does the
        // rules lookup itself and starts the program (sys::Starter);
        // otherwise (and for a denied connection) a forked child does it.
        let in_parent = !o.lookup_remote && !o.ident && o.local_name.is_some();
        let banner_sent = Cell::new(false);
        let spawner = RefCell::new(sys::Starter::new());
        server::serve_starting(
            &o,
            listen,
            true,
            || {},
            |sock, remote| {
                banner_sent.set(false);
                if !in_parent {
                    return Start::Fork(sock);
                }
                let fd = sock.as_raw_fd();
                let Ok(ex) = server::examine(&o, fd, remote) else {
                    return Start::Fork(sock);
                };
                let plan = SpawnPlan {
                    prefixes: &["TCP"],
                    extra: &[],
                    moves: &[(fd, 0), (fd, 1)],
                    banner: true,
                };
                let mut sent = false;
                let r = server::spawn_allowed(
                    &o,
                    fd,
                    &ex,
                    &plan,
                    &mut sent,
                    Some(&mut spawner.borrow_mut()),
                );
                banner_sent.set(sent);
                match r {
                    Some(pid) => Start::Spawned(pid),
                    None => Start::Fork(sock),
                }
            },
            |pid| {
                if let Some(e) = spawner.borrow_mut().failed(pid) {
                    server::log_unrunnable(&o, &e);
                }
            },
            |sock, remote| {
                let a = match server::accept_work(&o, sock.as_raw_fd(), remote, !banner_sent.get())
                {
                    Ok(a) => a,
                    Err(d) => return d,
                };
                if let Err(e) =
                    sys::dup2(sock.as_raw_fd(), 0).and_then(|()| sys::dup2(sock.as_raw_fd(), 1))
                {
                    return Die::sys("set up descriptors", e);
                }
                drop(sock);
                server::exec_program(&o, &a, &["TCP"], &[])
            },
        )
    })
}
