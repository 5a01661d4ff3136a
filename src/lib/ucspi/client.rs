//! The client side shared by tcpclient and sslclient: options, connecting
//! with the `-T x+y` two-pass timeout, and the connection's names.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

use super::{Conn, dns, ident};
use crate::exit::Die;
use crate::sys;

pub const FLAGS: &str = "46hHrRdDqQv";
pub const VALUED: &str = "ipTltI";

#[derive(Debug, Clone)]
pub struct Options {
    pub prog: &'static str,
    pub family: Option<u8>,
    pub local_ip: Option<IpAddr>,
    pub local_port: u16,
    /// Connect timeouts in seconds: first pass, second pass.
    pub timeout: (u32, u32),
    pub lookup_remote: bool,
    pub local_name: Option<Vec<u8>>,
    pub ident: bool,
    pub ident_secs: u32,
    pub nodelay: bool,
    pub verbosity: u8,
    pub interface: Option<String>,
    pub host: String,
    pub port: String,
    pub argv: Vec<OsString>,
}

impl Options {
    /// Parses the common options (`ident`: the IDENT default, on for
    /// tcpclient, off for sslclient); returns the ones it does not know.
    pub fn parse(
        prog: &'static str,
        args: &[OsString],
        extra_flags: &str,
        extra_valued: &str,
        usage: &str,
        ident: bool,
    ) -> Result<(Options, super::OptList), Die> {
        let flags = format!("{FLAGS}{extra_flags}");
        let valued = format!("{VALUED}{extra_valued}");
        let (opts, rest) = super::getopt(args, &flags, &valued, usage)?;
        if rest.len() < 3 {
            return Err(Die::usage(usage));
        }
        let mut o = Options {
            prog,
            family: None,
            local_ip: None,
            local_port: 0,
            timeout: (2, 58),
            lookup_remote: true,
            local_name: None,
            ident,
            ident_secs: 26,
            nodelay: false,
            verbosity: 1,
            interface: None,
            host: rest[0].to_string_lossy().into_owned(),
            port: rest[1].to_string_lossy().into_owned(),
            argv: rest[2..].to_vec(),
        };
        let mut other = Vec::new();
        for (c, v) in opts {
            match c {
                '4' => o.family = Some(4),
                '6' => o.family = Some(6),
                'h' => o.lookup_remote = true,
                'H' => o.lookup_remote = false,
                'r' => o.ident = true,
                'R' => o.ident = false,
                'd' => o.nodelay = false,
                'D' => o.nodelay = true,
                'q' => o.verbosity = 0,
                'Q' => o.verbosity = 1,
                'v' => o.verbosity = 2,
                'i' => o.local_ip = Some(v.parse().map_err(|_| Die::usage(usage))?),
                'p' => o.local_port = super::port(&v).ok_or_else(|| Die::usage(usage))?,
                'T' => {
                    o.timeout = match v.split_once('+') {
                        Some((x, y)) => (super::num(x, usage)?, super::num(y, usage)?),
                        None => (super::num(&v, usage)?, 0),
                    }
                }
                'l' => o.local_name = Some(v.into_bytes()),
                't' => o.ident_secs = super::num(&v, usage)?,
                'I' => o.interface = Some(v),
                _ => other.push((c, v)),
            }
        }
        Ok((o, other))
    }

    /// Connects to the first address that answers: each address gets the
    /// first timeout; those that timed out get the second one.
    pub fn connect(&self) -> Result<(OwnedFd, Conn), Die> {
        let port = super::port(&self.port).ok_or_else(|| {
            Die::temp(format!(
                "unable to figure out port number for: {}",
                self.port
            ))
        })?;
        let ips = super::resolve(&self.host, IpAddr::V4(Ipv4Addr::LOCALHOST), self.family);
        if ips.is_empty() {
            return Err(Die::temp(format!("no IP address for: {}", self.host)));
        }
        let (x, y) = if ips.len() == 1 {
            (self.timeout.0 + self.timeout.1, 0)
        } else {
            self.timeout
        };
        let mut retry = Vec::new();
        let mut last = None;
        for (pass, secs) in [(0, x), (1, y)] {
            let list = if pass == 0 {
                ips.clone()
            } else {
                std::mem::take(&mut retry)
            };
            if secs == 0 {
                continue;
            }
            for ip in list {
                let to = SocketAddr::new(ip, port);
                let from = match (self.local_ip, ip) {
                    (Some(l), _) => Some(SocketAddr::new(l, self.local_port)),
                    (None, _) if self.local_port != 0 => {
                        let any: IpAddr = if ip.is_ipv4() {
                            Ipv4Addr::UNSPECIFIED.into()
                        } else {
                            std::net::Ipv6Addr::UNSPECIFIED.into()
                        };
                        Some(SocketAddr::new(any, self.local_port))
                    }
                    _ => None,
                };
                let ms = i32::try_from(secs.saturating_mul(1000)).unwrap_or(i32::MAX);
                match sys::tcp_connect(&to, from.as_ref(), ms) {
                    Ok(fd) => return self.describe(fd, to),
                    Err(e) => {
                        if e.kind() == std::io::ErrorKind::TimedOut {
                            retry.push(ip);
                        }
                        if self.verbosity >= 1 {
                            super::log(
                                self.prog,
                                format_args!(
                                    "unable to connect to: {} port: {port}: {e}",
                                    super::ip_text(ip)
                                ),
                            );
                        }
                        last = Some(e);
                    }
                }
            }
        }
        let e = last.map_or_else(|| "timed out".to_string(), |e| e.to_string());
        Err(Die::temp(format!(
            "unable to connect to: {} port: {port}: {e}",
            self.host
        )))
    }

    fn describe(&self, fd: OwnedFd, remote: SocketAddr) -> Result<(OwnedFd, Conn), Die> {
        let raw = fd.as_raw_fd();
        if self.nodelay {
            let _ = sys::set_nodelay(raw);
        }
        let local = sys::local_addr(raw).map_err(|e| Die::sys("get local address", e))?;
        let mut c = Conn::new(local, remote);
        c.local_host = match &self.local_name {
            Some(n) => Some(n.clone()),
            None => dns::ptr(local.ip()),
        };
        if self.lookup_remote {
            c.remote_host = dns::ptr(remote.ip());
        }
        if self.ident {
            c.remote_info = ident::lookup(local, remote, self.ident_secs);
        }
        if self.verbosity >= 2 {
            super::log(self.prog, format_args!("connected to {}", c.log_fields()));
        }
        Ok((fd, c))
    }
}
