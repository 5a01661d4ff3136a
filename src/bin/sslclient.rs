//! sslclient: connect to a TLS server and run a program with the
//! plaintext on fds 6 (read) and 7 (write); the TLS engine runs in a
//! separate relay process. See man/sslclient.1.

#![forbid(unsafe_code)]

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;

use rustls::{ClientConnection, Connection};
use rustls_pki_types::ServerName;
use sqmail::exit::{Die, run};
use sqmail::sys;
use sqmail::tls::{self, ClientFiles};
use sqmail::ucspi::client::Options;
use sqmail::ucspi::{num, read_passphrase, relay};

const USAGE: &str = "sslclient [ -346hHrRdDqQvxXnNsSeE ] [ -i localip ] [ -p localport ] [ -T timeoutconn ] [ -l localname ] [ -t timeoutinfo ] [ -I interface ] [ -a cafile ] [ -A cadir ] [ -c certfile ] [ -C certchainfile ] [ -k keyfile ] [ -V verifydepth ] [ -z ciphers ] [ -w progtimeout ] host port program [ arg ... ]";

fn main() {
    run("sslclient", || {
        let args: Vec<_> = std::env::args_os().skip(1).collect();
        let (o, other) = Options::parse("sslclient", &args, "3xXnNsSeE", "aAcCkVzw", USAGE, false)?;
        let mut f = ClientFiles {
            verify: true,
            check_name: true,
            ..ClientFiles::default()
        };
        let (mut export, mut tcp_env, mut idle, mut pass) = (false, false, 3600u32, false);
        for (c, v) in other {
            match c {
                '3' => pass = true,
                'x' => f.verify = true,
                'X' => f.verify = false,
                'n' => f.check_name = true,
                'N' => f.check_name = false,
                's' => export = true,
                'S' => export = false,
                'e' => tcp_env = true,
                'E' => tcp_env = false,
                'a' => f.cafile = Some(v.into()),
                'A' => f.cadir = Some(v.into()),
                'c' | 'C' => f.cert = Some(v.into()),
                'k' => f.key = Some(v.into()),
                'V' => {
                    let _: u32 = num(&v, USAGE)?;
                }
                'z' => f.ciphers = Some(v),
                'w' => idle = num(&v, USAGE)?,
                _ => return Err(Die::usage(USAGE)),
            }
        }
        if pass {
            f.passphrase = Some(read_passphrase()?);
        }
        let config = f.build().map_err(Die::temp)?;
        let name = match o.host.parse::<std::net::IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) if o.host == "0" => {
                ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into())
            }
            Err(_) => ServerName::try_from(o.host.clone())
                .map_err(|e| Die::perm(format!("bad host name: {e}")))?,
        };
        let (sock, conn) = o.connect()?;
        let client = ClientConnection::new(Arc::new(config), name)
            .map_err(|e| Die::temp(format!("unable to start SSL: {e}")))?;
        let mut tls_conn = Connection::Client(client);
        relay::handshake(&mut tls_conn, sock.as_raw_fd(), o.timeout.0 + o.timeout.1)
            .map_err(|e| Die::temp(format!("unable to speak SSL: {e}")))?;
        let mut cmd = Command::new(&o.argv[0]);
        cmd.args(&o.argv[1..]);
        let prefixes: &[&str] = if tcp_env { &["SSL", "TCP"] } else { &["SSL"] };
        for p in prefixes {
            for (k, v) in conn.environ(p) {
                match v {
                    Some(v) => cmd.env(k, v),
                    None => cmd.env_remove(k),
                };
            }
        }
        if export {
            let server_cert = tls_conn
                .peer_certificates()
                .and_then(|c| c.first())
                .cloned();
            for (k, v) in tls::session_env(&tls_conn, server_cert.as_ref(), None) {
                cmd.env(k, v);
            }
        }
        let (to_prog_r, to_prog_w) = sys::pipe().map_err(|e| Die::sys("create pipe", e))?;
        let (from_prog_r, from_prog_w) = sys::pipe().map_err(|e| Die::sys("create pipe", e))?;
        match sys::fork().map_err(|e| Die::sys("fork", e))? {
            sys::Fork::Child => {
                drop((to_prog_r, from_prog_w));
                let code = match relay::relay(
                    &mut tls_conn,
                    sock.as_raw_fd(),
                    from_prog_r,
                    to_prog_w,
                    idle,
                ) {
                    Ok(()) => 0,
                    Err(e) => {
                        sqmail::exit::warn("sslclient", format_args!("unable to speak SSL: {e}"));
                        111
                    }
                };
                sys::exit_now(code);
            }
            sys::Fork::Parent(_) => {}
        }
        drop((sock, to_prog_w, from_prog_r));
        // Move off 6/7 first so neither dup2 clobbers the other.
        sys::dup2(to_prog_r.as_raw_fd(), 60).map_err(|e| Die::sys("set up descriptors", e))?;
        sys::dup2(from_prog_w.as_raw_fd(), 61).map_err(|e| Die::sys("set up descriptors", e))?;
        drop((to_prog_r, from_prog_w));
        sys::dup2(60, 6)
            .and_then(|()| sys::dup2(61, 7))
            .map_err(|e| Die::sys("set up descriptors", e))?;
        sys::close_fd(60);
        sys::close_fd(61);
        let e = cmd.exec();
        Err(Die::temp(format!(
            "unable to run: {}: {e}",
            o.argv[0].to_string_lossy()
        )))
    })
}
