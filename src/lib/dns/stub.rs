//! One question, one answer: a query over UDP to each server in turn, with
//! growing timeouts, and over TCP when the UDP answer is truncated.
//! hickory-proto does the wire format only.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
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
    ask_many(servers, &[(name.clone(), rtype)], dnssec)
        .pop()
        .unwrap_or(Err(DnsError::Temp))
}

fn question(name: &Name, rtype: RecordType, dnssec: bool) -> Result<(Message, Vec<u8>), DnsError> {
    // The id comes from std's OS-seeded hash keys: hickory's own
    // Message::query() would seed a thread RNG from /dev/random first.
    let id = super::random_u64() as u16;
    let mut q = Message::new(id, MessageType::Query, OpCode::Query);
    q.add_query(Query::query(name.clone(), rtype));
    q.metadata.recursion_desired = true;
    // With DO, AD too: asks a validating resolver to say what it validated
    // (RFC 6840 §5.7).
    q.metadata.authentic_data = dnssec;
    let mut edns = Edns::new();
    edns.set_max_payload(PAYLOAD);
    edns.set_dnssec_ok(dnssec);
    q.set_edns(edns);
    let wire = q.to_vec().map_err(|_| DnsError::Temp)?;
    Ok((q, wire))
}

/// Several questions at once (A and AAAA of one host): all are sent to a
/// server together, so they cost one round trip, not one each.
pub fn ask_many(
    servers: &[SocketAddr],
    qs: &[(Name, RecordType)],
    dnssec: bool,
) -> Vec<Result<Message, DnsError>> {
    let built: Vec<Result<(Message, Vec<u8>), DnsError>> =
        qs.iter().map(|(n, t)| question(n, *t, dnssec)).collect();
    let mut got: Vec<Option<Message>> = vec![None; qs.len()];
    // (server, question) pairs that refused or failed: they will not
    // change their mind within one lookup.
    let mut bad = vec![vec![false; qs.len()]; servers.len()];
    for secs in ROUNDS {
        for (i, s) in servers.iter().enumerate() {
            let todo: Vec<usize> = (0..qs.len())
                .filter(|&j| got[j].is_none() && !bad[i][j] && built[j].is_ok())
                .collect();
            if todo.is_empty() {
                continue;
            }
            let sent: Vec<&(Message, Vec<u8>)> = todo
                .iter()
                .filter_map(|&j| built[j].as_ref().ok())
                .collect();
            let answers = match udp(*s, &sent, secs) {
                Ok(a) => a,
                Err(_) => {
                    bad[i].fill(true);
                    continue;
                }
            };
            for (k, m) in answers {
                let j = todo[k];
                let m = if m.metadata.truncation {
                    tcp(*s, sent[k]).ok().flatten()
                } else {
                    Some(m)
                };
                match m {
                    Some(m) if usable(&m) => got[j] = Some(m),
                    _ => bad[i][j] = true,
                }
            }
        }
        if got.iter().all(Option::is_some) {
            break;
        }
    }
    got.into_iter()
        .zip(built)
        .map(|(g, b)| match (g, b) {
            (Some(m), _) => Ok(m),
            (None, Err(e)) => Err(e),
            (None, Ok(_)) => Err(DnsError::Temp),
        })
        .collect()
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

/// One UDP exchange for several questions on one socket: the answers
/// that came within `secs`, by index into `qs`.
fn udp(
    server: SocketAddr,
    qs: &[&(Message, Vec<u8>)],
    secs: u64,
) -> io::Result<Vec<(usize, Message)>> {
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local)?;
    sock.connect(server)?;
    for (_, wire) in qs {
        sock.send(wire)?;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    RECV.with_borrow_mut(|buf| {
        if buf.is_empty() {
            // Zeroed by the allocator (fresh pages), not written here.
            *buf = vec![0u8; 65535];
        }
        receive(&sock, qs, deadline, buf)
    })
}

thread_local! {
    /// The buffer every answer is received into. On the heap and made
    /// once: a 64 KiB array on the stack is touched page by page at every
    /// call (stack probes), 16 page faults in a process that asks once;
    /// fresh zeroed heap memory is touched only where an answer lands.
    static RECV: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The answers to `qs` that reach `sock` before `deadline`.
fn receive(
    sock: &UdpSocket,
    qs: &[&(Message, Vec<u8>)],
    deadline: std::time::Instant,
    buf: &mut [u8],
) -> io::Result<Vec<(usize, Message)>> {
    let mut out: Vec<(usize, Message)> = Vec::with_capacity(qs.len());
    while out.len() < qs.len() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        sock.set_read_timeout(Some(left))?;
        let n = match sock.recv(buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // Anything else (a forged, duplicate or late answer) is ignored.
        let Some(m) = super::wire::decode(&buf[..n]) else {
            continue;
        };
        if let Some(k) = qs.iter().position(|(q, _)| answers(&m, q))
            && !out.iter().any(|(o, _)| *o == k)
        {
            out.push((k, m));
        }
    }
    Ok(out)
}

/// One TCP exchange (RFC 1035 §4.2.2: a two-byte length before each message).
fn tcp(server: SocketAddr, (q, wire): &(Message, Vec<u8>)) -> io::Result<Option<Message>> {
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
    Ok(super::wire::decode(&buf).filter(|m| answers(m, q)))
}
