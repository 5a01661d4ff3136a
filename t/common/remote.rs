//! Test peers for qmail-remote and the dns tools: a DNS server on loopback
//! serving records made by the test, scripted SMTP sinks that can
//! misbehave on purpose, a QMTP sink; qmail-remote run from a home, and a
//! receiving home with qmail-smtpd behind tcpserver.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, PTR, TLSA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::common::ucspi::{Server, prog};
use crate::common::{QmailHome, bin, wait_until};

/// A name from text; labels that are no host name (`foo:bar/baz`, a
/// space, `%`) are taken byte for byte, as a zone may hold them.
pub fn name(s: &str) -> Name {
    let s = s.trim_end_matches('.');
    Name::from_ascii(format!("{s}.")).unwrap_or_else(|_| {
        let mut n = Name::from_labels(s.split('.').map(str::as_bytes)).unwrap();
        n.set_fqdn(true);
        n
    })
}

pub fn rr(n: &str, d: RData) -> Record {
    Record::from_rdata(name(n), 300, d)
}
pub fn a(n: &str, ip: &str) -> Record {
    rr(n, RData::A(A(ip.parse().unwrap())))
}
pub fn aaaa(n: &str, ip: &str) -> Record {
    rr(n, RData::AAAA(AAAA(ip.parse().unwrap())))
}
pub fn mx(n: &str, pref: u16, host: &str) -> Record {
    rr(n, RData::MX(MX::new(pref, name(host))))
}
pub fn cname(n: &str, target: &str) -> Record {
    rr(n, RData::CNAME(CNAME(name(target))))
}
pub fn txt(n: &str, parts: &[&str]) -> Record {
    rr(
        n,
        RData::TXT(TXT::new(parts.iter().map(|s| s.to_string()).collect())),
    )
}
pub fn ptr(ip: &str, host: &str) -> Record {
    let ip: std::net::IpAddr = ip.parse().unwrap();
    Record::from_rdata(Name::from(ip), 300, RData::PTR(PTR(name(host))))
}
pub fn tlsa(n: &str, usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> Record {
    rr(
        n,
        RData::TLSA(TLSA::new(
            usage.into(),
            selector.into(),
            matching.into(),
            data,
        )),
    )
}

/// A DNS server on 127.0.0.1 (UDP and TCP on the same port).
pub struct Dns {
    pub addr: SocketAddr,
    pub queries: Arc<Mutex<Vec<String>>>,
}

/// Says whether to answer a question (name, type) with SERVFAIL.
pub type FailWhen = Arc<dyn Fn(&Name, RecordType) -> bool + Send + Sync>;

/// Server behaviour beyond answering from the records.
#[derive(Clone, Default)]
pub struct DnsOpts {
    /// Over UDP, answers with more records than this come back truncated.
    pub truncate_over: Option<usize>,
    /// Names answered with SERVFAIL.
    pub servfail: Vec<String>,
    /// Questions answered with SERVFAIL when this says so (a scenario's
    /// timeouts: SERVFAIL makes the resolver give up at once, where
    /// silence would cost it seconds).
    pub servfail_if: Option<FailWhen>,
}

impl Dns {
    pub fn start(records: Vec<Record>) -> Dns {
        Dns::start_with(records, DnsOpts::default())
    }

    pub fn start_with(records: Vec<Record>, opts: DnsOpts) -> Dns {
        let (udp, tcp) = loop {
            let u = UdpSocket::bind("127.0.0.1:0").unwrap();
            if let Ok(t) = TcpListener::bind(u.local_addr().unwrap()) {
                break (u, t);
            }
        };
        let addr = udp.local_addr().unwrap();
        let queries = Arc::new(Mutex::new(Vec::new()));
        let records = Arc::new(records);
        {
            let (records, opts, queries) = (records.clone(), opts.clone(), queries.clone());
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok((n, from)) = udp.recv_from(&mut buf) {
                    queries
                        .lock()
                        .unwrap()
                        .push(format!("port {}", from.port()));
                    if let Some(r) = answer(&buf[..n], &records, &opts, true, &queries) {
                        let _ = udp.send_to(&r, from);
                    }
                }
            });
        }
        let qlog = queries.clone();
        thread::spawn(move || {
            let queries = qlog;
            for s in tcp.incoming() {
                let Ok(mut s) = s else { continue };
                let mut l = [0u8; 2];
                if s.read_exact(&mut l).is_err() {
                    continue;
                }
                let mut q = vec![0u8; usize::from(u16::from_be_bytes(l))];
                if s.read_exact(&mut q).is_err() {
                    continue;
                }
                if let Some(r) = answer(&q, &records, &opts, false, &queries) {
                    let mut out = (r.len() as u16).to_be_bytes().to_vec();
                    out.extend_from_slice(&r);
                    let _ = s.write_all(&out);
                }
            }
        });
        Dns { addr, queries }
    }

    /// The value for `DNSCACHEIP`.
    pub fn env(&self) -> String {
        format!("127.0.0.1#{}", self.addr.port())
    }
}

fn answer(
    q: &[u8],
    records: &[Record],
    opts: &DnsOpts,
    udp: bool,
    log: &Mutex<Vec<String>>,
) -> Option<Vec<u8>> {
    let req = Message::from_vec(q).ok()?;
    let query = req.queries.first()?.clone();
    let (qn, qt) = (query.name().clone(), query.query_type());
    log.lock()
        .unwrap()
        .push(format!("{}{} {qt}", if udp { "" } else { "tcp:" }, qn));
    let mut m = Message::new(req.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = req.metadata.recursion_desired;
    m.metadata.recursion_available = true;
    m.add_query(query);
    let dnssec = req.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
    if let Some(e) = req.edns.clone() {
        m.set_edns(e);
    }
    if opts.servfail.iter().any(|s| name(s) == qn)
        || opts.servfail_if.as_ref().is_some_and(|f| f(&qn, qt))
    {
        m.metadata.response_code = ResponseCode::ServFail;
        return m.to_vec().ok();
    }
    let mut cur = qn.clone();
    for _ in 0..8 {
        let hits: Vec<&Record> = records
            .iter()
            .filter(|r| r.name == cur && (r.record_type() == qt || wanted_sig(r, qt, dnssec)))
            .collect();
        if hits.iter().any(|r| r.record_type() == qt) {
            m.add_answers(hits.into_iter().cloned());
            break;
        }
        let alias = records
            .iter()
            .find(|r| r.name == cur && r.record_type() == RecordType::CNAME);
        match alias {
            Some(c) if qt != RecordType::CNAME => {
                m.add_answer(c.clone());
                let RData::CNAME(t) = &c.data else {
                    unreachable!()
                };
                cur = t.0.clone();
            }
            _ => {
                if !records.iter().any(|r| r.name == cur) {
                    m.metadata.response_code = ResponseCode::NXDomain;
                }
                break;
            }
        }
    }
    if udp && opts.truncate_over.is_some_and(|n| m.answers.len() > n) {
        m.answers.clear();
        m.metadata.truncation = true;
    }
    m.to_vec().ok()
}

/// RRSIG records covering `qt`, sent when the query has the DO bit.
fn wanted_sig(r: &Record, qt: RecordType, dnssec: bool) -> bool {
    if !dnssec {
        return false;
    }
    match &r.data {
        RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(s)) => {
            s.input().type_covered == qt
        }
        _ => false,
    }
}

// ---- SMTP sinks ----

/// What a sink answers. Replies are complete (`250 ok`); multi-line replies
/// use `\r\n` between lines.
#[derive(Clone)]
pub struct Script {
    pub greeting: String,
    pub greeting_delay: Duration,
    pub ehlo: String,
    pub helo: String,
    pub mail: String,
    /// RCPT reply for a recipient address (the text between `<>`).
    pub rcpt: Arc<dyn Fn(&str) -> String + Send + Sync>,
    pub data: String,
    pub final_reply: String,
    /// Close the connection when this command (verb) arrives.
    pub drop_at: Option<String>,
    /// Offer STARTTLS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Speak TLS from the first byte (SMTPS).
    pub implicit_tls: bool,
    /// Accepted AUTH credentials (user, password) for PLAIN and LOGIN.
    pub auth: Option<(String, String)>,
    /// The answer to STARTTLS, sent in one write before the handshake
    /// (a hostile server pipelines more after its 220: CVE-2020-15955).
    pub starttls_reply: String,
    /// After this many messages on one connection, hang up at the next
    /// command without answering it (logged `CLOSE`).
    pub max_messages: Option<usize>,
    /// Hang up right after answering the final dot (logged `CLOSE`).
    pub close_after_dot: bool,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            greeting: "220 sink.test ESMTP".into(),
            greeting_delay: Duration::ZERO,
            ehlo: "250-sink.test\r\n250-PIPELINING\r\n250 8BITMIME".into(),
            helo: "250 sink.test".into(),
            mail: "250 ok".into(),
            rcpt: Arc::new(|_| "250 ok".to_string()),
            data: "354 go ahead".into(),
            final_reply: "250 ok 1700000000 qp 4242".into(),
            drop_at: None,
            tls: None,
            implicit_tls: false,
            auth: None,
            starttls_reply: "220 ready".into(),
            max_messages: None,
            close_after_dot: false,
        }
    }
}

trait Rw: Read + Write + Send {}
impl<T: Read + Write + Send> Rw for T {}

/// An SMTP sink listening on one address; every connection is served by
/// the script and logged.
pub struct Sink {
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Sink {
    pub fn start(ip: &str, script: Script) -> Sink {
        Sink::start_on(TcpListener::bind((ip, 0)).unwrap(), script)
    }

    pub fn start_on(l: TcpListener, script: Script) -> Sink {
        let addr = l.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lg = log.clone();
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                let (script, lg) = (script.clone(), lg.clone());
                thread::spawn(move || serve(s, &script, &lg));
            }
        });
        Sink { addr, log }
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until the log has an entry starting with `prefix`.
    pub fn wait_for(&self, prefix: &str) -> bool {
        wait_until(10, || self.log().iter().any(|l| l.starts_with(prefix)))
    }
}

/// Listeners on the same port of several loopback addresses.
pub fn same_port(ips: &[&str]) -> Vec<TcpListener> {
    'again: loop {
        let first = TcpListener::bind((ips[0], 0)).unwrap();
        let port = first.local_addr().unwrap().port();
        let mut v = vec![first];
        for ip in &ips[1..] {
            match TcpListener::bind((*ip, port)) {
                Ok(l) => v.push(l),
                Err(_) => continue 'again,
            }
        }
        return v;
    }
}

struct Peer {
    s: Box<dyn Rw>,
    buf: Vec<u8>,
}

impl Peer {
    fn line(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let l: Vec<u8> = self.buf.drain(..=i).collect();
                // Bytes that are not UTF-8 are kept visible as \xNN.
                let s = match std::str::from_utf8(&l) {
                    Ok(t) => t.to_string(),
                    Err(_) => l
                        .iter()
                        .map(|&b| {
                            if b < 128 {
                                char::from(b).to_string()
                            } else {
                                format!("\\x{b:02x}")
                            }
                        })
                        .collect(),
                };
                return Some(s.trim_end_matches(['\r', '\n']).to_string());
            }
            let mut c = [0u8; 4096];
            match self.s.read(&mut c) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&c[..n]),
            }
        }
    }
    fn send(&mut self, reply: &str) {
        let _ = self.s.write_all(format!("{reply}\r\n").as_bytes());
        let _ = self.s.flush();
    }
}

fn tls_server(s: Box<dyn Rw>, cfg: &Arc<rustls::ServerConfig>) -> Box<dyn Rw> {
    let c = rustls::ServerConnection::new(cfg.clone()).unwrap();
    Box::new(rustls::StreamOwned::new(c, s))
}

fn serve(s: TcpStream, sc: &Script, log: &Mutex<Vec<String>>) {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let push = |l: String| log.lock().unwrap().push(l);
    push("CONNECT".into());
    let mut s: Box<dyn Rw> = Box::new(s);
    if sc.implicit_tls {
        s = tls_server(s, sc.tls.as_ref().unwrap());
    }
    thread::sleep(sc.greeting_delay);
    let mut p = Peer { s, buf: Vec::new() };
    p.send(&sc.greeting);
    if !sc.greeting.starts_with("220") {
        return;
    }
    let mut messages = 0;
    while let Some(l) = p.line() {
        if sc.max_messages.is_some_and(|m| messages >= m) {
            push("CLOSE".into());
            return;
        }
        push(l.clone());
        let verb = l.split(' ').next().unwrap_or("").to_ascii_uppercase();
        if sc.drop_at.as_deref() == Some(verb.as_str()) {
            return;
        }
        match verb.as_str() {
            "EHLO" => {
                let mut e = sc.ehlo.clone();
                if sc.tls.is_some() && !sc.implicit_tls {
                    e = e.replacen("250 ", "250-STARTTLS\r\n250 ", 1);
                }
                if sc.auth.is_some() {
                    e = e.replacen("250 ", "250-AUTH LOGIN PLAIN\r\n250 ", 1);
                }
                p.send(&e);
            }
            "HELO" => p.send(&sc.helo),
            "STARTTLS" => {
                p.send(&sc.starttls_reply);
                p.buf.clear();
                let old = std::mem::replace(&mut p.s, Box::new(std::io::Cursor::new(Vec::new())));
                p.s = tls_server(old, sc.tls.as_ref().unwrap());
                push("TLS".into());
            }
            "AUTH" => {
                let (u, pw) = sc.auth.clone().unwrap_or_default();
                let want_plain = format!("\0{u}\0{pw}");
                let ok = if l.to_ascii_uppercase().starts_with("AUTH PLAIN") {
                    p.send("334 ");
                    let r = p.line().unwrap_or_default();
                    push(r.clone());
                    let d = sqmail::codec::b64_decode_lenient(r.as_bytes()).unwrap_or_default();
                    d.ends_with(want_plain.as_bytes())
                } else {
                    p.send("334 VXNlcm5hbWU6");
                    let r1 = p.line().unwrap_or_default();
                    p.send("334 UGFzc3dvcmQ6");
                    let r2 = p.line().unwrap_or_default();
                    push(r1.clone());
                    let d1 = sqmail::codec::b64_decode_lenient(r1.as_bytes()).unwrap_or_default();
                    let d2 = sqmail::codec::b64_decode_lenient(r2.as_bytes()).unwrap_or_default();
                    d1 == u.as_bytes() && d2 == pw.as_bytes()
                };
                p.send(if ok { "235 ok" } else { "535 no" });
            }
            "MAIL" => p.send(&sc.mail),
            "RCPT" => {
                let addr = l
                    .split_once('<')
                    .and_then(|(_, r)| r.split_once('>'))
                    .map_or("", |(a, _)| a);
                let r = (sc.rcpt)(addr);
                p.send(&r);
            }
            "DATA" => {
                p.send(&sc.data);
                if !sc.data.starts_with("354") {
                    continue;
                }
                let mut body = String::new();
                loop {
                    let Some(b) = p.line() else { return };
                    if b == "." {
                        break;
                    }
                    body.push_str(&b);
                    body.push('\n');
                }
                push(format!("BODY:{body}"));
                if sc.drop_at.as_deref() == Some("DOT") {
                    return;
                }
                p.send(&sc.final_reply);
                messages += 1;
                if sc.close_after_dot {
                    push("CLOSE".into());
                    return;
                }
            }
            "QUIT" => {
                p.send("221 bye");
                return;
            }
            _ => p.send("502 unknown"),
        }
    }
}

/// Splits qmail-remote's output into its NUL-terminated reports.
pub fn reports(out: &[u8]) -> Vec<String> {
    let s = String::from_utf8_lossy(out);
    let mut v: Vec<String> = s.split('\0').map(str::to_string).collect();
    assert_eq!(v.pop().as_deref(), Some(""), "output ends with NUL: {s:?}");
    v
}

// ---- DNSSEC: signed test zones ----

use hickory_proto::dnssec::crypto::EcdsaSigningKey;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG, SigInput};
use hickory_proto::dnssec::{Algorithm, DigestType, SigningKey, TBS};
use hickory_proto::rr::{DNSClass, SerialNumber};

/// A zone signing key (ECDSA P-256, flags 257).
pub struct ZoneKey {
    pub zone: Name,
    pub key: EcdsaSigningKey,
    pub dnskey: DNSKEY,
}

impl ZoneKey {
    pub fn new(zone: &str) -> ZoneKey {
        let alg = Algorithm::ECDSAP256SHA256;
        let pk8 = EcdsaSigningKey::generate_pkcs8(alg).unwrap();
        let key = EcdsaSigningKey::from_pkcs8(&pk8, alg).unwrap();
        let dnskey = DNSKEY::new(true, true, false, key.to_public_key().unwrap());
        ZoneKey {
            zone: name(zone),
            key,
            dnskey,
        }
    }

    pub fn dnskey_record(&self) -> Record {
        Record::from_rdata(
            self.zone.clone(),
            300,
            RData::DNSSEC(DNSSECRData::DNSKEY(self.dnskey.clone())),
        )
    }

    pub fn ds_record(&self) -> Record {
        let ds = DS::new(
            self.dnskey.calculate_key_tag().unwrap(),
            Algorithm::ECDSAP256SHA256,
            DigestType::SHA256,
            self.dnskey
                .to_digest(&self.zone, DigestType::SHA256)
                .unwrap()
                .as_ref()
                .to_vec(),
        );
        Record::from_rdata(self.zone.clone(), 300, RData::DNSSEC(DNSSECRData::DS(ds)))
    }

    /// The RRSIG over `rrset` (one name, one type), valid for a day.
    pub fn sign(&self, rrset: &[Record]) -> Record {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32;
        let n = rrset[0].name.clone();
        let input = SigInput {
            type_covered: rrset[0].record_type(),
            algorithm: Algorithm::ECDSAP256SHA256,
            num_labels: n.num_labels(),
            original_ttl: rrset[0].ttl,
            sig_expiration: SerialNumber::from(now + 86400),
            sig_inception: SerialNumber::from(now - 3600),
            key_tag: self.dnskey.calculate_key_tag().unwrap(),
            signer_name: self.zone.clone(),
        };
        let tbs = TBS::from_input(&n, DNSClass::IN, &input, rrset.iter()).unwrap();
        let sig = self.key.sign(&tbs).unwrap();
        Record::from_rdata(
            n,
            300,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
        )
    }

    /// The anchor line for a trust-anchor file.
    pub fn anchor_line(&self) -> String {
        use hickory_proto::dnssec::PublicKey;
        format!(
            "{} IN DNSKEY 257 3 13 {}\n",
            self.zone,
            sqmail::codec::b64_encode(self.dnskey.public_key().public_bytes())
        )
    }
}

/// `rrset` followed by its signature.
pub fn signed(k: &ZoneKey, rrset: Vec<Record>) -> Vec<Record> {
    let s = k.sign(&rrset);
    let mut v = rrset;
    v.push(s);
    v
}

// ---- QMTP sink ----

fn read_netstring(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = 0usize;
    loop {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).ok()?;
        match b[0] {
            b':' => break,
            d @ b'0'..=b'9' => len = len * 10 + usize::from(d - b'0'),
            _ => return None,
        }
    }
    let mut v = vec![0u8; len + 1];
    s.read_exact(&mut v).ok()?;
    (v.pop() == Some(b',')).then_some(v)
}

/// A QMTP server answering each recipient with the next of `answers`
/// (`Kok`, `Dno`, ...); logs `MSG:`, `FROM:` and `TO:` lines.
pub fn qmtp_sink(ip: &str, answers: Vec<String>) -> Sink {
    let l = TcpListener::bind((ip, 0)).unwrap();
    let addr = l.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let lg = log.clone();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let push = |x: String| lg.lock().unwrap().push(x);
            let Some(m) = read_netstring(&mut s) else {
                continue;
            };
            push(format!("MSG:{}", String::from_utf8_lossy(&m)));
            let Some(f) = read_netstring(&mut s) else {
                continue;
            };
            push(format!("FROM:{}", String::from_utf8_lossy(&f)));
            let Some(rs) = read_netstring(&mut s) else {
                continue;
            };
            let mut cur = std::io::Cursor::new(rs);
            let mut n = 0;
            while (cur.position() as usize) < cur.get_ref().len() {
                let rest = cur.get_ref()[cur.position() as usize..].to_vec();
                let colon = rest.iter().position(|&b| b == b':').unwrap();
                let len: usize = std::str::from_utf8(&rest[..colon])
                    .unwrap()
                    .parse()
                    .unwrap();
                push(format!(
                    "TO:{}",
                    String::from_utf8_lossy(&rest[colon + 1..colon + 1 + len])
                ));
                cur.set_position(cur.position() + (colon + 2 + len) as u64);
                let a = &answers[n.min(answers.len() - 1)];
                n += 1;
                let _ = s.write_all(format!("{}:{a},", a.len()).as_bytes());
            }
        }
    });
    Sink { addr, log }
}

// ---- qmail-remote and a receiving instance ----

/// Runs qmail-remote `args` on `msg` against `dns`; returns its reports.
pub fn remote(h: &QmailHome, dns: &Dns, args: &[&str], msg: &[u8]) -> Vec<String> {
    let p = h.path("msg");
    fs::write(&p, msg).unwrap();
    let out = h
        .cmd("qmail-remote")
        .args(args)
        .env("DNSCACHEIP", dns.env())
        .stdin(fs::File::open(&p).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "exit {:?}", out.status);
    reports(&out.stdout)
}

/// Home A: the sending side, HELO client.test.
pub fn home(name: &str) -> QmailHome {
    let h = QmailHome::new(name);
    h.control("helohost", "client.test\n");
    h
}

/// Home B: qmail-smtpd's side; mail for b.test is accepted.
pub fn home_b(name: &str) -> QmailHome {
    let b = QmailHome::new(name);
    b.control("me", "mx.b.test\n");
    b.control("rcpthosts", "b.test\n");
    b
}

/// tcpserver in front of B's qmail-smtpd on 127.0.0.1, with `env`.
pub fn plain_receiver(b: &QmailHome, env: &[(&str, &str)]) -> Server {
    let mut c = prog("tcpserver");
    c.env("QMAILHOME", &b.dir)
        .env("PATH", format!("{}:/usr/bin:/bin", b.path("bin").display()))
        .envs(env.iter().copied())
        .args(["-1", "-R", "-H", "-l", "mx.b.test", "127.0.0.1", "0"])
        .arg(bin("qmail-smtpd"));
    Server::start(c, &b.dir).unwrap()
}
