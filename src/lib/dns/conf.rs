//! Which servers to ask: `DNSCACHEIP` (a list, as djbdns/fehQlibs), else the
//! `nameserver` lines of the file named by `RESOLVCONF`, else of
//! /etc/resolv.conf, else 127.0.0.1.
//!
//! A server is an IP address with an optional port, written `ip#port`,
//! `[ip]:port` or `a.b.c.d:port`; the default port is 53. Entries of
//! `DNSCACHEIP` are separated by blanks, commas or semicolons.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

const DEFAULT_PORT: u16 = 53;
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The servers for this process, from its environment.
pub fn servers() -> Vec<SocketAddr> {
    if let Some(list) = std::env::var_os("DNSCACHEIP") {
        let v = parse_list(&list.to_string_lossy());
        if !v.is_empty() {
            return v;
        }
    }
    let file = std::env::var_os("RESOLVCONF").unwrap_or_else(|| RESOLV_CONF.into());
    let v = std::fs::read(file)
        .map(|b| parse_resolv_conf(&String::from_utf8_lossy(&b)))
        .unwrap_or_default();
    if v.is_empty() {
        vec![SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            DEFAULT_PORT,
        )]
    } else {
        v
    }
}

/// The servers of a `DNSCACHEIP` value.
pub fn parse_list(s: &str) -> Vec<SocketAddr> {
    s.split([' ', '\t', '\n', ',', ';'])
        .filter_map(parse_server)
        .collect()
}

/// The `nameserver` lines of a resolv.conf text.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "nameserver").then_some(())?;
            // A link-local scope (`fe80::1%eth0`) is dropped.
            parse_server(w.next()?.split('%').next()?)
        })
        .collect()
}

/// One server: `ip`, `ip#port`, `[ip]:port` or `a.b.c.d:port`.
pub fn parse_server(s: &str) -> Option<SocketAddr> {
    if s.is_empty() {
        return None;
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, DEFAULT_PORT));
    }
    if let Some((ip, port)) = s.split_once('#') {
        return Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?));
    }
    s.parse::<SocketAddr>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_forms() {
        let v = parse_list("127.0.0.1 ::1,127.0.0.2#5353;[::1]:54 10.0.0.1:55 junk");
        let t: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(
            t,
            [
                "127.0.0.1:53",
                "[::1]:53",
                "127.0.0.2:5353",
                "[::1]:54",
                "10.0.0.1:55"
            ]
        );
    }

    #[test]
    fn resolv_conf() {
        let v = parse_resolv_conf(
            "# c\nsearch example\nnameserver 192.0.2.1\nnameserver fe80::1%eth0\noptions x\n",
        );
        let t: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(t, ["192.0.2.1:53", "[fe80::1]:53"]);
    }
}
