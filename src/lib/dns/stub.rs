//! One question, one answer: a query over UDP to each server in turn, with
//! growing timeouts, and over TCP when the UDP answer is truncated.
//! hickory-proto does the wire format only.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use super::DnsError;

/// Seconds per round over all servers (djbdns uses 1, 3, 11, 45).
const ROUNDS: [u64; 3] = [1, 3, 11];
/// EDNS0 payload we offer (the DNS flag day value).
const PAYLOAD: u16 = 1232;
const TCP_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks `servers` for `name`/`rtype`; `dnssec` sets the DO bit. Returns the
/// first answer with rcode NOERROR or NXDOMAIN; SERVFAIL, REFUSED and
/// silence make us go on to the next server.
pub fn ask(
    servers: &[SocketAddr],
    name: &Name,
    rtype: RecordType,
    dnssec: bool,
) -> Result<Message, DnsError> {
    let mut q = Message::query();
    q.add_query(Query::query(name.clone(), rtype));
    q.metadata.recursion_desired = true;
    let mut edns = Edns::new();
    edns.set_max_payload(PAYLOAD);
    edns.set_dnssec_ok(dnssec);
    q.set_edns(edns);
    let wire = q.to_vec().map_err(|_| DnsError::Temp)?;
    let mut dead = vec![false; servers.len()];
    for secs in ROUNDS {
        for (i, s) in servers.iter().enumerate() {
            if dead[i] {
                continue;
            }
            match udp(*s, &wire, &q, secs) {
                Ok(Some(m)) if m.metadata.truncation => match tcp(*s, &wire, &q) {
                    Ok(Some(m)) if usable(&m) => return Ok(m),
                    _ => dead[i] = true,
                },
                Ok(Some(m)) if usable(&m) => return Ok(m),
                // A refusal or SERVFAIL will not change within a lookup.
                Ok(Some(_)) => dead[i] = true,
                Ok(None) => {}
                Err(_) => dead[i] = true,
            }
        }
        if dead.iter().all(|d| *d) {
            break;
        }
    }
    Err(DnsError::Temp)
}

fn usable(m: &Message) -> bool {
    matches!(
        m.metadata.response_code,
        ResponseCode::NoError | ResponseCode::NXDomain
    )
}

/// Is `m` the answer to `q`: same id, a response, the same question?
fn answers(m: &Message, q: &Message) -> bool {
    m.metadata.id == q.metadata.id
        && m.metadata.message_type == MessageType::Response
        && m.queries == q.queries
}

/// One UDP exchange. `Ok(None)`: no (valid) answer within `secs`.
fn udp(server: SocketAddr, wire: &[u8], q: &Message, secs: u64) -> io::Result<Option<Message>> {
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local)?;
    sock.connect(server)?;
    sock.send(wire)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    let mut buf = [0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        sock.set_read_timeout(Some(left))?;
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // Anything else (a forged or late answer) is ignored.
        if let Ok(m) = Message::from_vec(&buf[..n])
            && answers(&m, q)
        {
            return Ok(Some(m));
        }
    }
}

/// One TCP exchange (RFC 1035 §4.2.2: a two-byte length before each message).
fn tcp(server: SocketAddr, wire: &[u8], q: &Message) -> io::Result<Option<Message>> {
    let mut s = TcpStream::connect_timeout(&server, TCP_TIMEOUT)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(TCP_TIMEOUT))?;
    s.set_write_timeout(Some(TCP_TIMEOUT))?;
    let len = u16::try_from(wire.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    let mut out = Vec::with_capacity(wire.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(wire);
    s.write_all(&out)?;
    let mut l = [0u8; 2];
    s.read_exact(&mut l)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(l))];
    s.read_exact(&mut buf)?;
    Ok(Message::from_vec(&buf).ok().filter(|m| answers(m, q)))
}
