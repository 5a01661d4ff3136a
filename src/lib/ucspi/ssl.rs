//! sslserver's connection model and the server side of UCSPI-TLS.
//!
//! The connection child is the TLS process. It forks the program process,
//! which does the tcpserver work (names, rules, log lines) and execs the
//! program; the TLS process waits for one command byte on the control
//! socket (`y`, or `Y` to send the variable block back), runs the
//! handshake and relays between the socket and the program's pipes.

use std::cell::RefCell;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;

use rustls::{Connection, ServerConnection};

use super::server::{self, Options};
use super::{log, relay};
use crate::dns::Resolver;
use crate::exit::Die;
use crate::sys;
use crate::tls::{self, ClientAuth, ServerContext, ServerFiles};

/// sslserver's own flags and valued options, beyond tcpserver's.
pub const FLAGS: &str = "3VeEsSnNmzZ";
pub const VALUED: &str = "Tw";

/// Client-certificate policy from `-z`/`-m`/`-Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Require {
    No,
    /// `-m`: a valid certificate.
    Cert,
    /// `-z`: a valid certificate whose names include the remote host.
    CertAndHost,
}

#[derive(Debug, Clone)]
pub struct SslOptions {
    pub server: Options,
    pub log_tls: bool,
    pub delayed: bool,
    pub export: bool,
    pub tcp_env: bool,
    pub require: Require,
    pub handshake_secs: u32,
    pub idle_secs: u32,
    pub passphrase: bool,
}

impl SslOptions {
    pub fn parse(args: &[OsString], usage: &str) -> Result<SslOptions, Die> {
        // ucspi-ssl turns Nagle off unless -d says otherwise.
        let (o, other) = Options::parse("sslserver", args, FLAGS, VALUED, usage, true)?;
        let mut s = SslOptions {
            server: o,
            log_tls: false,
            delayed: false,
            export: false,
            tcp_env: false,
            require: Require::No,
            handshake_secs: 26,
            idle_secs: 3600,
            passphrase: false,
        };
        for (c, v) in other {
            match c {
                '3' => s.passphrase = true,
                'V' => {
                    s.log_tls = true;
                    s.server.verbosity = 2;
                }
                'e' => s.tcp_env = true,
                'E' => s.tcp_env = false,
                's' => s.export = true,
                'S' => s.export = false,
                'n' => s.delayed = true,
                'N' => s.delayed = false,
                'm' => s.require = Require::Cert,
                'z' => s.require = Require::CertAndHost,
                'Z' => s.require = Require::No,
                'T' => s.handshake_secs = super::num(&v, usage)?,
                'w' => s.idle_secs = super::num(&v, usage)?,
                _ => return Err(Die::usage(usage)),
            }
        }
        Ok(s)
    }

    /// The client-certificate request the environment and options ask for.
    pub fn client_auth(&self, files: &ServerFiles) -> ClientAuth {
        let verify = std::env::var_os("CCAVERIFY").is_some_and(|v| !v.is_empty());
        match (
            self.require,
            files.ccafile.is_some() || (verify && files.cafile.is_some()),
        ) {
            (_, false) => ClientAuth::None,
            (Require::No, true) if verify => ClientAuth::Optional,
            (Require::No, true) => ClientAuth::None,
            (_, true) => ClientAuth::Required,
        }
    }
}

/// Loads the TLS context now (fatal at startup), logging the files. With
/// `-3` the caller has put the passphrase into `files` (`read_passphrase`).
pub fn load(so: &SslOptions, files: &ServerFiles) -> Result<ServerContext, Die> {
    let ctx = files.build(so.client_auth(files)).map_err(Die::temp)?;
    if so.server.verbose() {
        let pid = sys::getpid();
        let named = [
            ("cafile", &files.cafile),
            ("ccafile", &files.ccafile),
            ("cadir", &files.cadir),
            ("chainfile", &files.chain),
            ("cert", &files.cert),
            ("key", &files.key),
        ];
        for (what, f) in named {
            if let Some(f) = f {
                log("sslserver", format_args!("{what} {pid} {}", f.display()));
            }
        }
    }
    Ok(ctx)
}

/// Serves: the accept loop with a context reloaded whenever a file changed.
pub fn serve(so: &SslOptions, files: &ServerFiles, ctx: ServerContext) -> Result<(), Die> {
    let listen = so.server.listen()?;
    let ctx = RefCell::new(ctx);
    let stamp = RefCell::new(files.stamp());
    let reload = || {
        let now = files.stamp();
        if *stamp.borrow() == now {
            return;
        }
        match files.build(so.client_auth(files)) {
            Ok(c) => {
                *ctx.borrow_mut() = c;
                *stamp.borrow_mut() = now;
            }
            Err(e) => {
                if so.server.verbosity >= 1 {
                    log(
                        "sslserver",
                        format_args!("warning: keeping the old TLS context: {e}"),
                    );
                }
            }
        }
    };
    server::serve(&so.server, listen, false, reload, |sock, remote| {
        connection(so, &ctx.borrow(), sock, remote)
    })
}

struct Wires {
    ctl_tls: OwnedFd,
    ctl_prog: OwnedFd,
    to_prog_r: OwnedFd,
    to_prog_w: OwnedFd,
    from_prog_r: OwnedFd,
    from_prog_w: OwnedFd,
}

fn wires() -> std::io::Result<Wires> {
    let (ctl_tls, ctl_prog) = sys::unix_socketpair()?;
    let (to_prog_r, to_prog_w) = sys::pipe()?;
    let (from_prog_r, from_prog_w) = sys::pipe()?;
    Ok(Wires {
        ctl_tls,
        ctl_prog,
        to_prog_r,
        to_prog_w,
        from_prog_r,
        from_prog_w,
    })
}

/// The program's UCSPI-TLS descriptors: control socket, read, write.
const PROGRAM_FDS: &[(&str, &str)] = &[("SSLCTLFD", "3"), ("SSLREADFD", "4"), ("SSLWRITEFD", "5")];

/// Whether the program can be started without a fork from the TLS
/// process: nothing has to happen in its own process before the exec
/// (no `-u`/`-g` switch, no variables that only the handshake gives).
fn spawnable(so: &SslOptions) -> bool {
    so.server.uid.is_none() && so.server.gid.is_none() && (so.delayed || !so.export)
}

/// The connection child: becomes the TLS process after starting the
/// program (a spawn, or a fork that does the tcpserver work).
fn connection(so: &SslOptions, ctx: &ServerContext, sock: OwnedFd, remote: SocketAddr) -> Die {
    let o = &so.server;
    let w = match wires() {
        Ok(w) => w,
        Err(e) => return Die::sys("create pipes", e),
    };
    let mut pre = None;
    let mut banner_sent = false;
    let mut spawned = None;
    if spawnable(so) {
        let fd = sock.as_raw_fd();
        let ex = match server::examine(o, fd, remote) {
            Ok(ex) => ex,
            Err(d) => return d,
        };
        let (ctl, r, wr) = (
            w.ctl_prog.as_raw_fd(),
            w.to_prog_r.as_raw_fd(),
            w.from_prog_w.as_raw_fd(),
        );
        let (in0, out1) = if so.delayed { (fd, fd) } else { (r, wr) };
        let plan = server::SpawnPlan {
            prefixes: if so.tcp_env {
                &["SSL", "TCP"]
            } else {
                &["SSL"]
            },
            extra: PROGRAM_FDS,
            moves: &[(in0, 0), (out1, 1), (ctl, 3), (r, 4), (wr, 5)],
            banner: so.delayed,
        };
        spawned = server::spawn_allowed(o, fd, &ex, &plan, &mut banner_sent, None);
        if spawned.is_none() {
            pre = Some(ex);
        }
    }
    let prog = match spawned {
        Some(pid) => pid,
        None => match sys::fork() {
            Err(e) => return Die::sys("fork", e),
            Ok(sys::Fork::Child) => {
                drop((w.ctl_tls, w.to_prog_w, w.from_prog_r));
                let wires = (w.ctl_prog, w.to_prog_r, w.from_prog_w);
                return program(so, sock, remote, wires, pre, banner_sent);
            }
            Ok(sys::Fork::Parent(pid)) => pid,
        },
    };
    drop((w.ctl_prog, w.to_prog_r, w.from_prog_w));
    // A spawned program in immediate mode asks for nothing: TLS is on.
    let known = (spawned.is_some() && !so.delayed).then_some(b'y');
    let d = tls_process(
        so,
        ctx,
        &sock,
        remote,
        prog,
        known,
        w.ctl_tls,
        w.to_prog_w,
        w.from_prog_r,
    );
    if d.code != 0 && !d.text.is_empty() {
        let _ = sys::kill(prog, libc::SIGTERM);
    }
    d
}

/// Exit with the program's status (it ended or is about to).
fn program_status(prog: i32) -> Die {
    match sys::wait_pid(prog) {
        Ok(sys::Exit::Code(c)) => Die::quiet(c),
        _ => Die::quiet(crate::exit::TEMP),
    }
}

fn drop_warning(what: impl std::fmt::Display) -> Die {
    Die::temp(format!("warning: dropping SSL connection, {what}"))
}

#[allow(clippy::too_many_arguments)]
fn tls_process(
    so: &SslOptions,
    ctx: &ServerContext,
    sock: &OwnedFd,
    remote: SocketAddr,
    prog: i32,
    known: Option<u8>,
    ctl: OwnedFd,
    to_prog: OwnedFd,
    from_prog: OwnedFd,
) -> Die {
    if let Err(d) = confine() {
        return d;
    }
    let mut cmd = [known.unwrap_or(0)];
    let n = match known {
        Some(_) => 1,
        None => loop {
            match sys::borrow_fd(ctl.as_raw_fd()).read(&mut cmd) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r.unwrap_or(0),
            }
        },
    };
    if n == 0 || !matches!(cmd[0], b'y' | b'Y') {
        return program_status(prog);
    }
    let mut conn = match ServerConnection::new(ctx.config.clone()) {
        Ok(c) => Connection::Server(c),
        Err(e) => return drop_warning(format_args!("unable to accept SSL: {e}")),
    };
    if let Err(e) = relay::handshake(&mut conn, sock.as_raw_fd(), so.handshake_secs) {
        return drop_warning(format_args!("unable to accept SSL: {e}"));
    }
    let peer = conn.peer_certificates().map(<[_]>::to_vec);
    if so.require != Require::No && peer.as_ref().is_none_or(|p| p.is_empty()) {
        return drop_warning("no client certificate");
    }
    if so.require == Require::CertAndHost
        && so.server.lookup_remote
        && let Some(host) = super::remote_host(&Resolver::new(), remote.ip(), so.server.paranoid)
    {
        let names = peer
            .as_ref()
            .map(|p| tls::cert_names(&p[0]))
            .unwrap_or_default();
        let host = String::from_utf8_lossy(&host).into_owned();
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&host)) {
            return drop_warning(format_args!(
                "client hostname does not match certificate: {host}"
            ));
        }
    }
    if so.log_tls {
        let proto = tls::protocol_name(&conn);
        let cipher = conn
            .negotiated_cipher_suite()
            .map_or("NONE", |s| tls::suite_name(s).0);
        log(
            "sslserver",
            format_args!("ssl {} accept {proto}:{cipher}", sys::getpid()),
        );
    }
    if cmd[0] == b'Y' {
        let vars = tls::session_env(&conn, Some(&ctx.cert), peer.as_deref());
        let _ = sys::borrow_fd(ctl.as_raw_fd()).write_all(&block(&vars));
    }
    if !so.delayed && !so.server.banner.is_empty() {
        let _ = conn.writer().write_all(&so.server.banner);
    }
    if let Err(e) = relay::relay(
        &mut conn,
        sock.as_raw_fd(),
        from_prog,
        to_prog,
        so.idle_secs,
    ) {
        let _ = sys::kill(prog, libc::SIGTERM);
        return drop_warning(format_args!("unable to speak SSL: {e}"));
    }
    drop(ctl);
    program_status(prog)
}

/// `SSL_CHROOT`, `SSL_GID`, `SSL_UID` for the TLS process.
fn confine() -> Result<(), Die> {
    let num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u32>().ok());
    if let Some(dir) = std::env::var_os("SSL_CHROOT").filter(|d| !d.is_empty()) {
        sys::chroot(std::path::Path::new(&dir)).map_err(|e| Die::sys("chroot", e))?;
    }
    if let Some(g) = num("SSL_GID") {
        sys::set_gid(g).map_err(|e| Die::sys("set gid", e))?;
    }
    if let Some(u) = num("SSL_UID") {
        sys::set_ids(u, num("SSL_GID").unwrap_or_else(sys::getgid))
            .map_err(|e| Die::sys("set uid", e))?;
    }
    Ok(())
}

/// The variable block for the program: `NAME=VALUE\0...\0\0` (`\0\0`
/// when empty). A NUL in a value (a certificate's DN is the peer's to
/// choose) is written as `?`: it would end the item and start another.
pub fn block(vars: &[(String, String)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (k, v) in vars {
        block.extend_from_slice(k.as_bytes());
        block.push(b'=');
        block.extend(v.bytes().map(|b| if b == 0 { b'?' } else { b }));
        block.push(0);
    }
    block.push(0);
    if block.len() == 1 {
        block.push(0);
    }
    block
}

/// Puts `fds` on 3, 4, 5 (via high numbers so none is overwritten early).
fn settle(fds: [OwnedFd; 3]) -> std::io::Result<()> {
    for (i, f) in fds.iter().enumerate() {
        sys::dup2(f.as_raw_fd(), 60 + i as RawFd)?;
    }
    drop(fds);
    for i in 0..3 {
        sys::dup2(60 + i, 3 + i)?;
        sys::close_fd(60 + i);
    }
    Ok(())
}

/// The program process: tcpserver's work (or the end of it, when the TLS
/// process did the lookups: `pre`), then UCSPI-TLS wiring and exec.
fn program(
    so: &SslOptions,
    sock: OwnedFd,
    remote: SocketAddr,
    (ctl, from_tls, to_tls): (OwnedFd, OwnedFd, OwnedFd),
    pre: Option<server::Examined>,
    banner_sent: bool,
) -> Die {
    let o = &so.server;
    let fd = sock.as_raw_fd();
    let accepted = match pre {
        None => server::accept_work(o, fd, remote, so.delayed && !banner_sent),
        Some(ex) => {
            let pid = sys::getpid();
            server::log_pid(o, pid, remote);
            if so.delayed && !banner_sent {
                server::send_banner(o, fd);
            }
            server::conclude(o, pid, ex)
        }
    };
    let a = match accepted {
        Ok(a) => a,
        Err(d) => return d,
    };
    if let Err(d) = o.drop_privileges() {
        return d;
    }
    let prefixes: &[&str] = if so.tcp_env {
        &["SSL", "TCP"]
    } else {
        &["SSL"]
    };
    let mut extra: Vec<(OsString, Option<OsString>)> = PROGRAM_FDS
        .iter()
        .map(|(k, v)| ((*k).into(), Some((*v).into())))
        .collect();
    let wired = if so.delayed {
        sys::dup2(sock.as_raw_fd(), 0).and_then(|()| sys::dup2(sock.as_raw_fd(), 1))
    } else {
        let byte: &[u8] = if so.export { b"Y" } else { b"y" };
        if sys::borrow_fd(ctl.as_raw_fd()).write_all(byte).is_err() {
            return Die::quiet(crate::exit::TEMP);
        }
        if so.export {
            // The TLS process answers after the handshake, which has its
            // own timeout; this bound only catches a TLS process gone wrong.
            let Ok(vars) = super::tls_program::read_block(ctl.as_raw_fd(), 3600) else {
                return Die::quiet(crate::exit::TEMP);
            };
            for (k, v) in vars {
                extra.push((OsString::from_vec(k), Some(OsString::from_vec(v))));
            }
        }
        sys::dup2(from_tls.as_raw_fd(), 0).and_then(|()| sys::dup2(to_tls.as_raw_fd(), 1))
    };
    drop(sock);
    if let Err(e) = wired.and_then(|()| settle([ctl, from_tls, to_tls])) {
        return Die::sys("set up descriptors", e);
    }
    server::exec_program(o, &a, prefixes, &extra)
}

#[cfg(test)]
mod tests {
    /// Found by fuzz/fuzz_targets/ucspi_tls_block.rs: a NUL in a value split
    /// the block, so a client certificate's DN could add variables
    /// (`/CN=x\0RELAYCLIENT=`) or an empty name that panics qmail-smtpd.
    #[test]
    fn nul_in_value_stays_in_its_variable() {
        let vars = vec![
            (
                "SSL_CLIENT_S_DN_CN".to_string(),
                "x\0RELAYCLIENT=".to_string(),
            ),
            ("SSL_CLIENT_S_DN".to_string(), "/CN=\0=y".to_string()),
        ];
        let back = crate::ucspi::tls_program::parse_block(&super::block(&vars));
        assert_eq!(
            back,
            vec![
                (b"SSL_CLIENT_S_DN_CN".to_vec(), b"x?RELAYCLIENT=".to_vec()),
                (b"SSL_CLIENT_S_DN".to_vec(), b"/CN=?=y".to_vec()),
            ]
        );
    }

    #[test]
    fn empty_names_are_skipped() {
        let v = crate::ucspi::tls_program::parse_block(b"=x\0A=1\0=\0\0");
        assert_eq!(v, vec![(b"A".to_vec(), b"1".to_vec())]);
    }
}
