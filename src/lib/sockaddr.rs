//! Server addresses as control files and arguments write them:
//! `ip[%netid][;port]` (qmail-postgrey(8), qmail-qmqpc(8)).

use std::net::{IpAddr, SocketAddr, SocketAddrV6};

/// `ip[%netid][;port]`: an IPv4 or IPv6 address, for IPv6 an interface
/// (name or index) for link-local addresses, and the port (`default_port`
/// when none is given).
pub fn parse(s: &str, default_port: u16) -> Option<SocketAddr> {
    let (addr, port) = match s.rsplit_once(';') {
        Some((a, p)) => (a, p.parse::<u16>().ok().filter(|&p| p > 0)?),
        None => (s, default_port),
    };
    let (ip, netid) = match addr.split_once('%') {
        Some((ip, n)) => (ip, Some(n)),
        None => (addr, None),
    };
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some(SocketAddr::new(IpAddr::V4(a), port)),
        IpAddr::V6(a) => {
            let scope = match netid {
                Some(n) => scope_id(n)?,
                None => 0,
            };
            Some(SocketAddr::V6(SocketAddrV6::new(a, port, 0, scope)))
        }
    }
}

/// An interface index, given as a number or as the interface's name.
fn scope_id(netid: &str) -> Option<u32> {
    if let Ok(n) = netid.parse() {
        return Some(n);
    }
    let name_ok = !netid.is_empty()
        && !netid.starts_with('.')
        && netid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@:".contains(&b));
    if !name_ok {
        return None;
    }
    let index = std::fs::read_to_string(format!("/sys/class/net/{netid}/ifindex")).ok()?;
    index.trim().parse().ok()
}
