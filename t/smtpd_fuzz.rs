//! A protocol-level fuzzer: the real qmail-smtpd under our tcpserver on a
//! loopback port, fed sessions made by a fixed-seed generator (valid
//! commands, AUTH exchanges through qmail-authuser, DATA with odd line
//! ends, NULs, 8-bit bytes, long lines, mutated commands). It fails on any
//! reply line that is not `NNN[ -]text<CRLF>` and on any qmail-smtpd exit
//! other than 0 or 1. SQMAIL_FUZZ_SESSIONS sets the count (default 300),
//! SQMAIL_FUZZ_SEED the seed.

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::common::smtpd::{Smtpd, b64};
use crate::common::ucspi::{Server, prog};
use crate::common::{script, wait_until};

/// xorshift64*: small, deterministic, good enough to pick moves.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T: ?Sized>(&mut self, v: &[&'a T]) -> &'a T {
        v[self.below(v.len())]
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const EOLS: [&[u8]; 5] = [b"\r\n", b"\r\n", b"\n", b"\r", b"\r\r\n"];

fn eol(r: &mut Rng) -> &'static [u8] {
    if r.chance(85) { b"\r\n" } else { r.pick(&EOLS) }
}

/// Text with, now and then, a NUL, 8-bit bytes, a CR or an LF inside.
fn odd_text(r: &mut Rng, base: &str) -> Vec<u8> {
    let mut v = base.as_bytes().to_vec();
    if r.chance(30) && !v.is_empty() {
        let at = r.below(v.len());
        let junk: &[u8] = r.pick(&[
            b"\0".as_slice(),
            b"\xff\xfe",
            b"\xc3\xa9",
            b"\r",
            b"\n",
            b"%",
            b"\\",
        ]);
        v.splice(at..at, junk.iter().copied());
    }
    v
}

fn addr(r: &mut Rng) -> Vec<u8> {
    let a = r.pick(&[
        "joe@example.com",
        "x@elsewhere.org",
        "a@b.org",
        "",
        "@x,@y:u@example.com",
        "\"q u\"@example.com",
        "u@[192.0.2.1]",
        "\u{e9}t\u{e9}@example.com",
        "x@x.sub.example.net",
    ]);
    odd_text(r, a)
}

fn command(r: &mut Rng) -> Vec<u8> {
    let mut c: Vec<u8> = match r.below(14) {
        0 => [b"EHLO ".as_slice(), &odd_text(r, "client.example")].concat(),
        1 => [b"HELO ".as_slice(), &odd_text(r, "client.example")].concat(),
        2 | 3 => {
            let size = if r.chance(30) {
                format!(
                    " SIZE={}",
                    r.pick(&["1", "1000", "18446744073709551616", "x"])
                )
            } else {
                String::new()
            };
            [b"MAIL FROM:<".as_slice(), &addr(r), b">", size.as_bytes()].concat()
        }
        4..=6 => [b"RCPT TO:<".as_slice(), &addr(r), b">"].concat(),
        7 => r
            .pick(&[
                "RSET", "NOOP", "VRFY joe", "HELP", "EXPN x", "STARTTLS", "DATA",
            ])
            .as_bytes()
            .to_vec(),
        8 => b"QUIT".to_vec(),
        9 => {
            let n = r.below(64);
            r.bytes(n)
        }
        10 => vec![b'A'; 500 + r.below(300_000)],
        _ => {
            let mut v = r
                .pick(&["MAIL FROM:<a@b.org>", "RCPT TO:<joe@example.com>", "EHLO x"])
                .as_bytes()
                .to_vec();
            let at = r.below(v.len());
            v[at] = r.next() as u8;
            v
        }
    };
    if r.chance(5) {
        c.make_ascii_lowercase();
    }
    [c.as_slice(), eol(r)].concat()
}

/// An AUTH exchange: PLAIN inline or prompted, LOGIN, CRAM-MD5, right or
/// wrong, with NULs and bad base64 now and then.
fn auth(r: &mut Rng) -> Vec<u8> {
    let user = odd_text(r, "joe@example.com");
    let base = r.pick(&["secret", "wrong", ""]);
    let pass = odd_text(r, base);
    let mut out = Vec::new();
    let mut line = |v: &[u8], r: &mut Rng| {
        out.extend_from_slice(v);
        out.extend_from_slice(eol(r));
    };
    let garbage = |r: &mut Rng| -> Vec<u8> {
        if r.chance(15) {
            r.pick(&[b"*".as_slice(), b"!!!", b"=", b""]).to_vec()
        } else {
            Vec::new()
        }
    };
    match r.below(4) {
        0 => {
            let g = garbage(r);
            let p = if g.is_empty() {
                b64(&[b"\0".as_slice(), &user, b"\0", &pass].concat()).into_bytes()
            } else {
                g
            };
            line(&[b"AUTH PLAIN ".as_slice(), &p].concat(), r);
        }
        1 => {
            line(b"AUTH PLAIN", r);
            let p = b64(&[b"\0".as_slice(), &user, b"\0", &pass].concat());
            line(p.as_bytes(), r);
        }
        2 => {
            line(b"AUTH LOGIN", r);
            line(b64(&user).as_bytes(), r);
            let g = garbage(r);
            line(
                if g.is_empty() {
                    b64(&pass).into_bytes()
                } else {
                    g
                }
                .as_slice(),
                r,
            );
        }
        _ => {
            line(b"AUTH CRAM-MD5", r);
            let resp = format!("joe@example.com {:032x}", r.next());
            line(b64(resp.as_bytes()).as_bytes(), r);
        }
    }
    out
}

/// DATA and a body: odd line ends, dots, NULs, 8-bit bytes, long lines,
/// ended right, wrongly or not at all.
fn data(r: &mut Rng) -> Vec<u8> {
    let mut out = b"DATA\r\n".to_vec();
    for _ in 0..r.below(20) {
        let body: Vec<u8> = match r.below(8) {
            0 => b".".to_vec(),
            1 => b"..dot".to_vec(),
            2 => {
                let n = r.below(200);
                r.bytes(n)
            }
            3 => vec![b'x'; r.below(120_000)],
            4 => b"Received: x".to_vec(),
            _ => odd_text(r, "Subject: a line of text"),
        };
        out.extend_from_slice(&body);
        out.extend_from_slice(eol(r));
    }
    let end: &[u8] = r.pick(&[
        b".\r\n".as_slice(),
        b".\r\n",
        b".\r\n",
        b".\n",
        b"\n.\n",
        b"\r.\r",
        b"",
    ]);
    out.extend_from_slice(end);
    out
}

/// A session: moves of commands and transactions, and in about a third of
/// them one AUTH exchange (a failed one costs qmail-smtpd's 5 s pause).
fn session_input(r: &mut Rng) -> Vec<u8> {
    let mut v = Vec::new();
    if r.chance(70) {
        v.extend_from_slice(b"EHLO fuzz.example\r\n");
    }
    let moves = 1 + r.below(12);
    let auth_at = r.chance(35).then(|| r.below(moves));
    for m in 0..moves {
        if auth_at == Some(m) {
            v.extend_from_slice(&auth(r));
        }
        let part = match r.below(4) {
            0 => [
                b"MAIL FROM:<a@b.org>\r\nRCPT TO:<joe@example.com>\r\n".as_slice(),
                &data(r),
            ]
            .concat(),
            _ => command(r),
        };
        v.extend_from_slice(&part);
    }
    if r.chance(50) {
        v.extend_from_slice(b"QUIT\r\n");
    }
    v
}

/// Every reply line is `NNN[ -]text<CRLF>`; returns what is wrong.
fn bad_reply(out: &[u8]) -> Option<String> {
    // Every session is greeted: a home where qmail-smtpd cannot even start
    // would otherwise fuzz nothing and pass.
    if !out.starts_with(b"220 ") {
        return Some("no 220 greeting".into());
    }
    if !out.ends_with(b"\r\n") {
        return Some("output does not end with CRLF".into());
    }
    for l in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let ok = l.len() >= 5
            && l[..3].iter().all(u8::is_ascii_digit)
            && (l[3] == b' ' || l[3] == b'-')
            && l.ends_with(b"\r")
            && !l[..l.len() - 1].contains(&b'\r');
        if !ok {
            return Some(format!("reply line {:?}", String::from_utf8_lossy(l)));
        }
    }
    None
}

/// One session: everything sent (while reading), the write side closed,
/// then all replies until qmail-smtpd closes the connection.
fn run_session(port: u16, input: Vec<u8>) -> (u16, Vec<u8>) {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let me = s.local_addr().unwrap().port();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&input);
        let _ = w.shutdown(Shutdown::Write);
    });
    let mut out = Vec::new();
    let mut rd = s;
    if let Err(e) = rd.read_to_end(&mut out) {
        // qmail-smtpd quit (QUIT, 421, a bare LF) with input unread: the
        // kernel answers the rest with a reset, which may cut the replies.
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
        let whole = out
            .windows(2)
            .rposition(|w| w == b"\r\n")
            .map_or(0, |i| i + 2);
        out.truncate(whole);
    }
    writer.join().unwrap();
    (me, out)
}

/// The client port of child `pid`, from tcpserver's `ok PID local remote`.
fn client_port(log: &str, pid: &str) -> Option<u16> {
    log.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 5 && f[1] == "ok" && f[2] == pid)
            .then(|| f[4].rsplit(':').next()?.parse().ok())
            .flatten()
    })
}

/// The start of an input, for a failure message.
fn shown(input: &[u8]) -> String {
    format!(
        "{:?}",
        String::from_utf8_lossy(&input[..input.len().min(300)])
    )
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn smtpd_protocol_fuzz_under_tcpserver() {
    let sessions = env_number("SQMAIL_FUZZ_SESSIONS", 300) as usize;
    let seed = env_number("SQMAIL_FUZZ_SEED", 0x5eed11);
    let s = Smtpd::new("smtpd-fuzz");
    fs::write(s.h.path("users/authuser"), "joe@example.com:secret\n").unwrap();
    s.h.control("databytes", "1000000\n");
    let nullqq = s.h.path("bin/nullqq");
    script(&nullqq, "cat > /dev/null\ncat <&1 > /dev/null");
    let mut c = prog("tcpserver");
    c.env("QMAILHOME", &s.h.dir)
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", s.h.path("bin").display()),
        )
        .env("QMAILQUEUE", &nullqq)
        .env("SMTPAUTH", "+cram")
        .args(["-1", "-v", "-R", "-H", "-l", "mx.example", "127.0.0.1", "0"])
        // The home's links: the musl builds in make test's second pass.
        .arg(s.h.path("bin/qmail-smtpd"))
        .arg(s.h.path("bin/qmail-authuser"))
        .arg("true");
    let server = Server::start(c, &s.h.dir).expect("tcpserver started");
    let start = Instant::now();
    // Many at once: most of a session's time is the 5 s pause after a
    // failed AUTH (tcpserver allows 40 children).
    let workers = 32;
    // Per session: its client port (tcpserver's log names it) and input.
    type Ran = (Vec<String>, Vec<(u16, usize, Vec<u8>)>);
    let (failures, ran): Ran = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let port = server.port;
                sc.spawn(move || {
                    let (mut bad, mut ran) = (Vec::new(), Vec::new());
                    for i in (w..sessions).step_by(workers) {
                        let mut r = Rng::new(seed ^ (i as u64).wrapping_mul(0x1_0000_0001));
                        let input = session_input(&mut r);
                        let (me, out) = run_session(port, input.clone());
                        if let Some(why) = bad_reply(&out) {
                            bad.push(format!("session {i}: {why}; input {}", shown(&input)));
                        }
                        ran.push((me, i, input));
                    }
                    (bad, ran)
                })
            })
            .collect();
        let (mut bad, mut ran) = (Vec::new(), Vec::new());
        for h in handles {
            let (b, r) = h.join().unwrap();
            bad.extend(b);
            ran.extend(r);
        }
        (bad, ran)
    });
    // tcpserver logs `end PID status N` after reaping each child.
    wait_until(30, || {
        let log = server.log_text();
        let ends = log.lines().filter(|l| l.starts_with("tcpserver: end "));
        ends.count() >= sessions
    });
    let log = server.log_text();
    let ends: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("tcpserver: end "))
        .collect();
    eprintln!(
        "smtpd fuzz: {sessions} sessions (seed {seed:#x}) in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(ends.len(), sessions, "every session ended");
    let crashed: Vec<String> = ends
        .iter()
        .filter(|l| !l.ends_with(" status 0") && !l.ends_with(" status 256"))
        .map(|l| {
            let pid = l.split_whitespace().nth(2).unwrap_or("?");
            let input = client_port(&log, pid)
                .and_then(|p| ran.iter().find(|r| r.0 == p))
                .map_or("?".to_string(), |r| {
                    // The whole input, to replay by hand.
                    let file = s.h.dir.join(format!("fuzz-session-{}.in", r.1));
                    fs::write(&file, &r.2).unwrap();
                    let kept = format!("{}, kept with SQMAIL_KEEP_TESTS=1", file.display());
                    format!("session {} ({kept}): {}", r.1, shown(&r.2))
                });
            format!("{l}: {input}")
        })
        .collect();
    assert!(
        failures.is_empty() && crashed.is_empty(),
        "bad replies:\n{}\nexits other than 0/1 (wait status):\n{}\nqmail-smtpd said:\n{}",
        failures.join("\n"),
        crashed.join("\n"),
        log.lines()
            .filter(|l| l.contains(" fatal: "))
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
}
