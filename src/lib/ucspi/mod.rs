//! The UCSPI toolkit's shared parts: option parsing, address text, the
//! connection environment (tcp-environ(5)), log lines, name lookups, the
//! server loop of tcpserver/sslserver and the TLS relay.

pub mod client;
pub mod ident;

pub mod relay;
pub mod rules;
pub mod server;
pub mod ssl;
pub mod tls_program;

use std::ffi::OsString;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::ffi::OsStringExt;

use crate::dns::Resolver;
use crate::exit::Die;

/// Parsed options in command-line order: letter and value (empty for flags).
pub type OptList = Vec<(char, String)>;

/// The UCSPI tools' options through the one parser (`crate::getopt`):
/// `flags` take no value, `valued` do. Returns the options in order (values
/// as lossy text, empty for flags) and the operands.
pub fn getopt(
    args: &[OsString],
    flags: &str,
    valued: &str,
    usage: &str,
) -> Result<(OptList, Vec<OsString>), Die> {
    let mut spec = flags.as_bytes().to_vec();
    for c in valued.bytes() {
        spec.extend_from_slice(&[c, b':']);
    }
    let words: Vec<Vec<u8>> = args.iter().map(|a| a.as_encoded_bytes().to_vec()).collect();
    let (opts, rest) = crate::getopt::parse(&words, &spec, usage)?;
    let opts = opts
        .into_iter()
        .map(|(c, v)| {
            (
                char::from(c),
                v.map(|v| crate::getopt::text(&v)).unwrap_or_default(),
            )
        })
        .collect();
    Ok((
        opts,
        rest.iter().map(|w| OsString::from_vec(w.clone())).collect(),
    ))
}

/// What the server and client options share: the program, the operands
/// `host port prog...`, and how to name and treat the connection.
#[derive(Debug, Clone)]
pub struct Common {
    pub prog: &'static str,
    pub family: Option<u8>,
    pub lookup_remote: bool,
    pub local_name: Option<Vec<u8>>,
    pub ident: bool,
    pub ident_secs: u32,
    pub nodelay: bool,
    /// 0 quiet, 1 errors only, 2 verbose.
    pub verbosity: u8,
    pub interface: Option<String>,
    pub host: String,
    pub port: String,
    pub argv: Vec<OsString>,
}

impl Common {
    /// Parses `args` with the option letters `flags` and `valued` (each
    /// given in parts); applies the shared letters `46hHrRdDqQv` and
    /// `l`, `t`, `I`, and returns the others in order. `ident` and
    /// `nodelay` are the program's defaults.
    pub fn parse(
        prog: &'static str,
        args: &[OsString],
        flags: [&str; 2],
        valued: [&str; 2],
        usage: &str,
        (ident, nodelay): (bool, bool),
    ) -> Result<(Common, OptList), Die> {
        let (opts, rest) = getopt(args, &flags.concat(), &valued.concat(), usage)?;
        if rest.len() < 3 {
            return Err(Die::usage(usage));
        }
        let mut o = Common {
            prog,
            family: None,
            lookup_remote: true,
            local_name: None,
            ident,
            ident_secs: 26,
            nodelay,
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
                'l' => o.local_name = Some(v.into_bytes()),
                't' => o.ident_secs = num(&v, usage)?,
                'I' => o.interface = Some(v),
                _ => other.push((c, v)),
            }
        }
        Ok((o, other))
    }

    pub fn verbose(&self) -> bool {
        self.verbosity >= 2
    }
}

/// `-3`: the private-key passphrase, read from descriptor 3 up to a NUL
/// byte (or the end), which is then closed. Every buffer that held it is
/// wiped.
pub fn read_passphrase() -> Result<crate::tls::Passphrase, Die> {
    use std::io::Read;
    use zeroize::Zeroizing;
    let mut fd = crate::sys::take_fd(3)
        .ok_or_else(|| Die::sys("read password", "descriptor 3 is not open"))?;
    let mut pass = Zeroizing::new(Vec::with_capacity(256));
    let mut buf = Zeroizing::new([0u8; 256]);
    loop {
        let n = match fd.read(&mut buf[..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Die::sys("read password", e)),
        };
        let nul = memchr::memchr(0, &buf[..n]);
        let part = &buf[..nul.unwrap_or(n)];
        if pass.capacity() - pass.len() < part.len() {
            // Grow by hand: a reallocation would leave a copy behind.
            let mut bigger = Zeroizing::new(Vec::with_capacity(2 * (pass.len() + part.len())));
            bigger.extend_from_slice(&pass);
            pass = bigger;
        }
        pass.extend_from_slice(part);
        if n == 0 || nul.is_some() {
            break;
        }
    }
    Ok(crate::tls::Passphrase::new(std::mem::take(&mut *pass)))
}

/// A number option value, or a usage error.
pub fn num<T: std::str::FromStr>(v: &str, usage: &str) -> Result<T, Die> {
    v.parse().map_err(|_| Die::usage(usage))
}

/// An IPv4-mapped IPv6 address is an IPv4 client.
pub fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An address text from the first of `names` that is set, the way the
/// programs under tcpserver read it: a leading `::ffff:` (an IPv4 client of
/// an IPv6 socket) is removed.
pub fn ip_from_env(names: &[&str], get: impl Fn(&str) -> Option<String>) -> Option<String> {
    let ip = names.iter().find_map(|n| get(n))?;
    Some(match ip.strip_prefix("::ffff:") {
        Some(v4) => v4.to_string(),
        None => ip,
    })
}

/// The client's address: `TCP6REMOTEIP`, else `TCPREMOTEIP` (tcp-environ(5)).
pub fn remote_ip() -> Option<String> {
    ip_from_env(&["TCP6REMOTEIP", "TCPREMOTEIP"], |n| {
        std::env::var_os(n).map(|v| v.to_string_lossy().into_owned())
    })
}

/// Dotted quad for IPv4 (and mapped), compact lower-case IPv6 otherwise.
pub fn ip_text(ip: IpAddr) -> String {
    unmap(ip).to_string()
}

/// What a server or client knows about one connection.
#[derive(Debug, Clone)]
pub struct Conn {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub local_host: Option<Vec<u8>>,
    pub remote_host: Option<Vec<u8>>,
    pub remote_info: Option<Vec<u8>>,
    /// Interface name for link-local IPv6 (`TCP6INTERFACE`).
    pub interface: Option<String>,
}

impl Conn {
    pub fn new(local: SocketAddr, remote: SocketAddr) -> Conn {
        Conn {
            local,
            remote,
            local_host: None,
            remote_host: None,
            remote_info: None,
            interface: None,
        }
    }

    /// IPv6 proper (not an IPv4-mapped client).
    pub fn is_v6(&self) -> bool {
        unmap(self.remote.ip()).is_ipv6()
    }

    /// The tcp-environ(5) variables: `(name, Some(value))` to set,
    /// `(name, None)` to remove. `prefix` is `TCP` or `SSL`.
    pub fn environ(&self, prefix: &str) -> Vec<(String, Option<OsString>)> {
        let os = |b: &Option<Vec<u8>>| b.clone().map(OsString::from_vec);
        let proto = if prefix == "TCP" && self.is_v6() {
            "TCP6"
        } else {
            prefix
        };
        let vals: [(&str, Option<OsString>); 7] = [
            ("LOCALIP", Some(ip_text(self.local.ip()).into())),
            ("LOCALPORT", Some(self.local.port().to_string().into())),
            ("LOCALHOST", os(&self.local_host)),
            ("REMOTEIP", Some(ip_text(self.remote.ip()).into())),
            ("REMOTEPORT", Some(self.remote.port().to_string().into())),
            ("REMOTEHOST", os(&self.remote_host)),
            ("REMOTEINFO", os(&self.remote_info)),
        ];
        let mut out = vec![("PROTO".to_string(), Some(proto.into()))];
        for (k, v) in &vals {
            out.push((format!("{prefix}{k}"), v.clone()));
        }
        if prefix == "TCP" && self.is_v6() {
            for (k, v) in vals.iter().filter(|(k, _)| *k != "REMOTEINFO") {
                out.push((format!("TCP6{k}"), v.clone()));
            }
            out.push((
                "TCP6INTERFACE".into(),
                self.interface.clone().map(Into::into),
            ));
        }
        out
    }

    /// `LOCALHOST:LOCALIP:LOCALPORT REMOTEHOST:REMOTEIP:REMOTEINFO:REMOTEPORT`
    /// with every field made safe for a log.
    pub fn log_fields(&self) -> String {
        let f = |b: Option<&[u8]>| safe_field(b.unwrap_or_default());
        format!(
            "{}:{}:{} {}:{}:{}:{}",
            f(self.local_host.as_deref()),
            f(Some(ip_text(self.local.ip()).as_bytes())),
            self.local.port(),
            f(self.remote_host.as_deref()),
            f(Some(ip_text(self.remote.ip()).as_bytes())),
            f(self.remote_info.as_deref()),
            self.remote.port()
        )
    }
}

/// Bytes outside 33..=126 and `%` become `?`; cut after 100 bytes + `...`.
pub fn safe_field(b: &[u8]) -> String {
    let mut s = crate::printable::text(&b[..b.len().min(100)], |c| {
        crate::printable::word(c) && c != b'%'
    });
    if b.len() > 100 {
        s.push_str("...");
    }
    s
}

/// Writes one line to stderr in a single write.
pub fn log(prog: &str, text: std::fmt::Arguments) {
    let line = format!("{prog}: {text}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Resolves a host argument: `0` (given meaning), IP literals, names
/// through /etc/hosts and DNS. `v4only`/`v6only` filter families.
pub fn resolve(host: &str, zero: IpAddr, family: Option<u8>) -> Vec<IpAddr> {
    let keep = |ip: &IpAddr| match family {
        Some(4) => ip.is_ipv4(),
        Some(6) => ip.is_ipv6(),
        _ => true,
    };
    if host == "0" {
        return vec![zero];
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return vec![ip];
    }
    let mut ips = hosts_file(host);
    if ips.is_empty() {
        ips = Resolver::new().ip(host).unwrap_or_default();
    }
    ips.into_iter().filter(keep).collect()
}

/// Addresses of `name` in /etc/hosts (case-insensitive).
fn hosts_file(name: &str) -> Vec<IpAddr> {
    let text = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut w = l.split('#').next()?.split_whitespace();
            let ip: IpAddr = w.next()?.parse().ok()?;
            w.any(|n| n.eq_ignore_ascii_case(name)).then_some(ip)
        })
        .collect()
}

/// The name of `ip` for `TCPLOCALHOST`/`TCPREMOTEHOST`: its first PTR
/// name, in lower case as djbdns gives names.
pub fn host_name(r: &Resolver, ip: IpAddr) -> Option<Vec<u8>> {
    let name = r.ptr(unmap(ip)).ok()?.into_iter().next()?;
    Some(name.to_ascii_lowercase().into_bytes())
}

/// `TCPREMOTEHOST`: the name of `ip`, and with `paranoid` only if the
/// name's addresses include `ip`.
pub fn remote_host(r: &Resolver, ip: IpAddr, paranoid: bool) -> Option<Vec<u8>> {
    let name = host_name(r, ip)?;
    if paranoid {
        let ip = unmap(ip);
        let text = std::str::from_utf8(&name).ok()?;
        let ips = r.ip(text).unwrap_or_default();
        if !ips.iter().any(|a| unmap(*a) == ip) {
            return None;
        }
    }
    Some(name)
}

/// A port argument: decimal or a service name from /etc/services.
pub fn port(text: &str) -> Option<u16> {
    if let Ok(p) = text.parse() {
        return Some(p);
    }
    let services = std::fs::read_to_string("/etc/services").ok()?;
    services.lines().find_map(|l| {
        let l = l.split('#').next()?;
        let mut w = l.split_whitespace();
        let name = w.next()?;
        let (p, proto) = w.next()?.split_once('/')?;
        let aliases: Vec<&str> = w.collect();
        (proto == "tcp" && (name == text || aliases.contains(&text)))
            .then(|| p.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_address_from_the_environment() {
        let env = |pairs: &'static [(&str, &str)]| {
            move |n: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        let names = ["TCP6REMOTEIP", "TCPREMOTEIP"];
        let get = env(&[
            ("TCPREMOTEIP", "192.0.2.1"),
            ("TCP6REMOTEIP", "::ffff:192.0.2.9"),
        ]);
        assert_eq!(
            super::ip_from_env(&names, get).as_deref(),
            Some("192.0.2.9")
        );
        let get = env(&[("TCPREMOTEIP", "2001:db8::1")]);
        assert_eq!(
            super::ip_from_env(&names, get).as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(super::ip_from_env(&names, env(&[])), None);
    }

    use super::*;

    #[test]
    fn options() {
        let a: Vec<OsString> = ["-vc3", "-x", "r.cdb", "-H", "0", "25", "prog", "-v"]
            .iter()
            .map(Into::into)
            .collect();
        let (o, rest) = getopt(&a, "vH", "cx", "u").unwrap();
        assert_eq!(
            o,
            [
                ('v', "".into()),
                ('c', "3".into()),
                ('x', "r.cdb".into()),
                ('H', "".into())
            ]
        );
        assert_eq!(rest.len(), 4);
        assert!(getopt(&a, "v", "c", "u").is_err());
    }

    #[test]
    fn environ_v6_and_log() {
        let mut c = Conn::new("[::1]:25".parse().unwrap(), "[::1]:4000".parse().unwrap());
        c.remote_info = Some(b"joe %x".to_vec());
        let env = c.environ("TCP");
        let get = |k: &str| env.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("PROTO"), Some("TCP6".into()));
        assert_eq!(get("TCP6REMOTEIP"), Some("::1".into()));
        assert_eq!(get("TCPREMOTEHOST"), None);
        assert_eq!(c.log_fields(), ":::1:25 :::1:joe??x:4000");
        let m = Conn::new(
            "[::ffff:127.0.0.1]:25".parse().unwrap(),
            "[::ffff:127.0.0.1]:9".parse().unwrap(),
        );
        assert_eq!(m.environ("TCP")[0].1, Some("TCP".into()));
        assert_eq!(m.environ("TCP").len(), 8);
        assert_eq!(safe_field(&[b'a'; 101]).len(), 103);
        assert_eq!(port("smtp"), Some(25));
    }
}
