//! A tiny stub resolver for the UCSPI tools: PTR names and A/AAAA addresses
//! over UDP to `$DNSCACHEIP` or the resolv.conf name servers (djbdns'
//! order), plus /etc/hosts for forward lookups of the tools' own arguments.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const T_A: u16 = 1;
const T_PTR: u16 = 12;
const T_AAAA: u16 = 28;

/// Retry timeouts per round, as djbdns' resolver: 1, 3, 11 seconds.
const ROUNDS: [u64; 3] = [1, 3, 11];

fn servers() -> Vec<IpAddr> {
    let from = |text: &str| -> Vec<IpAddr> {
        text.split([' ', ',', '\t', '\n'])
            .filter_map(|w| w.parse().ok())
            .collect()
    };
    if let Ok(v) = std::env::var("DNSCACHEIP") {
        let ips = from(&v);
        if !ips.is_empty() {
            return ips;
        }
    }
    let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let ips: Vec<IpAddr> = conf
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .flat_map(from)
        .collect();
    if ips.is_empty() {
        vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
    } else {
        ips
    }
}

fn query(name: &[u8], qtype: u16) -> Vec<u8> {
    let id = (std::process::id() as u16) ^ (Instant::now().elapsed().subsec_nanos() as u16);
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split(|&b| b == b'.').filter(|l| !l.is_empty()) {
        q.push(label.len().min(63) as u8);
        q.extend_from_slice(&label[..label.len().min(63)]);
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

/// Reads a (possibly compressed) name at `pos`; returns it and the offset
/// after it in the original position.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(Vec<u8>, usize)> {
    let mut name = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *msg.get(pos)? as usize;
        if len & 0xc0 == 0xc0 {
            let ptr = ((len & 0x3f) << 8) | *msg.get(pos + 1)? as usize;
            end.get_or_insert(pos + 2);
            pos = ptr;
            continue;
        }
        if len == 0 {
            return Some((name, end.unwrap_or(pos + 1)));
        }
        if !name.is_empty() {
            name.push(b'.');
        }
        name.extend(
            msg.get(pos + 1..pos + 1 + len)?
                .iter()
                .map(u8::to_ascii_lowercase),
        );
        pos += 1 + len;
    }
    None
}

/// The RDATA of answers of `qtype` in a response (with rdata offset).
fn answers(msg: &[u8], id: &[u8], qtype: u16) -> Option<Vec<(usize, usize)>> {
    if msg.len() < 12 || &msg[..2] != id || msg[3] & 0x0f != 0 && msg[3] & 0x0f != 3 {
        return None;
    }
    let qd = u16::from_be_bytes([msg[4], msg[5]]);
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    let mut pos = 12;
    for _ in 0..qd {
        pos = read_name(msg, pos)?.1 + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        pos = read_name(msg, pos)?.1;
        let h = msg.get(pos..pos + 10)?;
        let t = u16::from_be_bytes([h[0], h[1]]);
        let len = u16::from_be_bytes([h[8], h[9]]) as usize;
        pos += 10;
        msg.get(pos..pos + len)?;
        if t == qtype {
            out.push((pos, len));
        }
        pos += len;
    }
    Some(out)
}

/// One question to the servers in turn; the answer message.
fn ask(name: &[u8], qtype: u16) -> Option<Vec<u8>> {
    let q = query(name, qtype);
    let servers = servers();
    for secs in ROUNDS {
        for s in &servers {
            let local: SocketAddr = if s.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let Ok(sock) = UdpSocket::bind(local) else {
                continue;
            };
            if sock.connect((*s, 53)).is_err() || sock.send(&q).is_err() {
                continue;
            }
            let deadline = Instant::now() + Duration::from_secs(secs);
            let mut buf = [0u8; 4096];
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
                    break;
                }
                let Ok(n) = sock.recv(&mut buf) else { break };
                let msg = &buf[..n];
                if answers(msg, &q[..2], qtype).is_some() {
                    return Some(msg.to_vec());
                }
            }
        }
    }
    None
}

/// The reverse-lookup name of an address.
pub fn ptr_name(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0]).into_bytes()
        }
        IpAddr::V6(v6) => {
            let mut s = String::new();
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 15, b >> 4));
            }
            s.push_str("ip6.arpa");
            s.into_bytes()
        }
    }
}

/// PTR lookup: the first name, lower case, or `None`.
pub fn ptr(ip: IpAddr) -> Option<Vec<u8>> {
    let msg = ask(&ptr_name(super::unmap(ip)), T_PTR)?;
    let (pos, _) = *answers(&msg, &msg[..2], T_PTR)?.first()?;
    read_name(&msg, pos).map(|(n, _)| n)
}

/// A and AAAA addresses of a name (AAAA first, as dns_ip6 does).
pub fn addrs(name: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for t in [T_AAAA, T_A] {
        let Some(msg) = ask(name.as_bytes(), t) else {
            continue;
        };
        for (pos, len) in answers(&msg, &msg[..2], t).unwrap_or_default() {
            let d = &msg[pos..pos + len];
            match (t, len) {
                (T_A, 4) => out.push(IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3]))),
                (T_AAAA, 16) => {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(d);
                    out.push(IpAddr::V6(Ipv6Addr::from(b)));
                }
                _ => {}
            }
        }
    }
    out
}

/// Addresses of `name` in /etc/hosts (case-insensitive).
pub fn hosts_file(name: &str) -> Vec<IpAddr> {
    let text = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut w = l.split('#').next()?.split_whitespace();
            let ip: IpAddr = w.next()?.parse().ok()?;
            w.any(|n| n.eq_ignore_ascii_case(name)).then_some(ip)
        })
        .collect()
}

/// The remote host name for `TCPREMOTEHOST`: PTR, and with `paranoid` only
/// if the name's addresses include `ip`.
pub fn remote_host(ip: IpAddr, paranoid: bool) -> Option<Vec<u8>> {
    let name = ptr(ip)?;
    if paranoid {
        let ip = super::unmap(ip);
        let text = String::from_utf8_lossy(&name).into_owned();
        if !addrs(&text).iter().any(|a| super::unmap(*a) == ip) {
            return None;
        }
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_parsing() {
        assert_eq!(
            ptr_name("1.2.3.4".parse().unwrap()),
            b"4.3.2.1.in-addr.arpa"
        );
        let v6 = ptr_name("2001:db8::1".parse().unwrap());
        assert!(v6.starts_with(b"1.0.0.0.0.0.0.0"));
        assert!(v6.ends_with(b"8.b.d.0.1.0.0.2.ip6.arpa"));
        // A response: header, question for "a.b" PTR, one answer with a
        // compressed owner and name "x.a.b".
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(&[1, b'a', 1, b'b', 0, 0, 12, 0, 1]);
        m.extend_from_slice(&[0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 60, 0, 4, 1, b'X', 0xc0, 12]);
        let a = answers(&m, &[0x12, 0x34], T_PTR).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(read_name(&m, a[0].0).unwrap().0, b"x.a.b");
        assert!(answers(&m, &[0, 0], T_PTR).is_none());
    }
}
