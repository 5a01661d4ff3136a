//! qmail-smtpd's protocol core as the binary drives it: client bytes go
//! through `InBuf` in chunks, each line to `Session::line`, DATA through
//! `DataFilter`, AUTH and STARTTLS answered by the harness. The first
//! bytes choose the configuration (checks, AUTH, TLS, SPF, relaying).
//!
//! Invariants: no panic; every reply line is `ddd text` or `ddd-text`
//! ending in CRLF with no other CR or LF; log lines hold no control bytes;
//! an exported variable is one `setenv` accepts; the Received lines are
//! header lines; the envelope handed to qmail-queue passes qmail-queue's
//! own envelope check unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqmail::queue::writer::check_envelope;
use sqmail::smtpd::auth::AuthMode;
use sqmail::smtpd::data::{DataFilter, Feed, ScanConfig};
use sqmail::smtpd::filter::List;
use sqmail::smtpd::input::{InBuf, Line};
use sqmail::smtpd::session::SpfPolicy;
use sqmail::smtpd::{Action, AuthOutcome, Config, Dns, Host, RcptCheck, Session, TlsMode};
use sqmail::spf::{Outcome, Query, Verdict};

/// Reply bytes one client line may produce (EHLO's list is the longest).
const MAX_REPLY: usize = 4096;

struct FakeHost {
    seed: u8,
}

fn pick(seed: u8, key: &[u8], n: u8) -> u8 {
    key.iter()
        .fold(seed, |a, &b| a.wrapping_mul(31).wrapping_add(b))
        % n
}

impl Host for FakeHost {
    fn dns(&mut self, name: &str, _mx: bool) -> Dns {
        [Dns::Found, Dns::NotFound, Dns::Temp][usize::from(pick(self.seed, name.as_bytes(), 3))]
    }
    fn more_rcpthosts(&mut self, key: &str) -> bool {
        pick(self.seed, key.as_bytes(), 2) == 0
    }
    fn recipient(&mut self, addr: &[u8]) -> RcptCheck {
        match pick(self.seed, addr, 8) {
            0 => RcptCheck::Reject,
            1 => RcptCheck::Temp,
            _ => RcptCheck::Accept("Recipients_Cdb"),
        }
    }
    fn mailfromrules(&mut self, sender: &str, _: Option<&str>, _: &str, _: &str) -> Option<bool> {
        match pick(self.seed, sender.as_bytes(), 3) {
            0 => None,
            n => Some(n == 1),
        }
    }
    fn sleep(&mut self, _secs: u64) {}
    fn export(&mut self, name: &str, value: &str) {
        // std::env::set_var's preconditions: qmail-smtpd panics otherwise.
        assert!(
            !name.is_empty() && !name.contains(['=', '\0']),
            "name {name:?}"
        );
        // The session refuses NULs in commands and AUTH fields (501).
        assert!(!value.contains('\0'), "{name}={value:?}");
    }
    fn spf(&mut self, q: &Query) -> Option<Outcome> {
        let verdicts = [
            Verdict::Local,
            Verdict::Pass,
            Verdict::Fail,
            Verdict::SoftFail,
            Verdict::Neutral,
            Verdict::None,
            Verdict::TempError,
            Verdict::PermError,
        ];
        let v = verdicts[usize::from(pick(self.seed, q.sender.as_bytes(), 8))];
        Some(Outcome {
            verdict: v,
            trace: format!(" S={} H={} ", q.sender, q.helo),
            records: String::new(),
            explanation: Some(format!("{}\n{}\r\n%", q.helo, q.sender)),
            identity: q.sender.to_string(),
            problem: Some(q.helo.to_string()),
            mechanism: None,
        })
    }
}

fn list(words: &[&str]) -> Option<List> {
    Some(List::new(words.iter().map(|s| s.to_string()).collect()))
}

fn config(c: &[u8; 6]) -> Config {
    let bit = |i: usize| c[i / 8] & (1 << (i % 8)) != 0;
    let helochecks = [
        None,
        Some("!"),
        Some("."),
        Some("="),
        Some("A"),
        Some("M"),
        Some("x"),
        None,
    ];
    let auths = [
        None,
        Some("+"),
        Some("!"),
        Some("cram"),
        Some("+cram"),
        Some("!+cram"),
    ];
    let tls = [
        TlsMode::Off,
        TlsMode::Offered,
        TlsMode::Required,
        TlsMode::CertRelay,
        TlsMode::CertIdentity,
    ];
    Config {
        pid: 4711,
        greeting: "mx.example.org".into(),
        localiphost: "example.org".into(),
        local_ips: vec!["127.0.0.1".into(), "::1".into(), "192.0.2.1".into()],
        databytes: [0, 10, 1000, 1 << 20][usize::from(c[1] & 3)],
        rcpthosts: if bit(0) {
            list(&["example.org", ".example.net"])
        } else {
            None
        },
        badmailfrom: if bit(1) {
            list(&["@spam.example", "bad@x.org", "!@ok.example"])
        } else {
            None
        },
        badrcptto: if bit(2) {
            list(&["root@example.org", "@blocked.example"])
        } else {
            None
        },
        badhelo: if bit(3) {
            list(&["localhost", "!good.example", "*.dyn.example"])
        } else {
            None
        },
        relayclient: if bit(4) {
            Some(if bit(5) { "" } else { "@relay" }.into())
        } else {
            None
        },
        remote_ip: if bit(6) { "2001:db8::1" } else { "192.0.2.99" }.into(),
        remote_host: if bit(7) {
            Some("client.example.com".into())
        } else {
            None
        },
        local_host: "mx.example.org".into(),
        remote_info: if bit(12) { Some("ident".into()) } else { None },
        auth: AuthMode::from_env(auths[usize::from(c[2] % 6)]),
        checkprogram: bit(13),
        tls: tls[usize::from((c[2] >> 3) % 5)],
        tls_active: bit(14),
        helocheck: helochecks[usize::from(c[3] & 7)].map(str::to_string),
        localmfcheck: [None, Some("="), Some("!"), Some("example.org")]
            [usize::from((c[3] >> 3) & 3)]
        .map(str::to_string),
        mfdnscheck: bit(29),
        maxrecipients: u64::from(c[4] & 3),
        tarpitcount: u64::from((c[4] >> 2) & 3),
        tarpitdelay: [0, 1, 999, 5][usize::from((c[4] >> 4) & 3)],
        recipients450: bit(38),
        utf8: bit(39),
        rbl_info: if bit(40) {
            Some("listed\r\nX: y".into())
        } else {
            None
        },
        replies: Default::default(),
        scan: ScanConfig {
            whitespace: bit(41),
            base64: bit(42),
            loader_char: if bit(43) { Some(b'M') } else { None },
            loader_keys: if bit(43) {
                Some([b"MZ\x90\0\x03".to_vec()].into())
            } else {
                None
            },
            mime_keys: if bit(44) {
                Some([b"TVqQAAMAA".to_vec()].into())
            } else {
                None
            },
        },
        scan_only_strangers: bit(45),
        deliverto: if bit(46) {
            Some("d@example.org".into())
        } else {
            None
        },
        tls_vars: vec![
            ("SSL_PROTOCOL".into(), "TLSv1.3".into()),
            ("SSL_CLIENT_S_DN".into(), "/CN=client".into()),
        ],
        spf: if bit(47) {
            Some(SpfPolicy {
                level: c[1] >> 5,
                local_rules: None,
                explain: "See %{s}".into(),
            })
        } else {
            None
        },
        postgrey: None,
        keep_bare_cr: bit(15),
        ssl_client_email: bit(15).then(|| "joe@example.org".into()),
    }
}

fn check_replies(out: &[u8]) {
    assert!(out.len() <= MAX_REPLY, "{} reply bytes", out.len());
    if out.is_empty() {
        return;
    }
    assert!(out.ends_with(b"\r\n"), "{:?}", String::from_utf8_lossy(out));
    for l in out[..out.len() - 1].split(|&b| b == b'\n') {
        let l = l.strip_suffix(b"\r").expect("LF without CR");
        assert!(
            !l.contains(&b'\r'),
            "bare CR in {:?}",
            String::from_utf8_lossy(l)
        );
        assert!(
            l.len() >= 3 && l[..3].iter().all(u8::is_ascii_digit),
            "reply {:?}",
            String::from_utf8_lossy(l)
        );
        assert!(l.len() == 3 || l[3] == b' ' || l[3] == b'-');
    }
}

fn check_log(log: &[u8]) {
    if log.is_empty() {
        return;
    }
    assert!(log.ends_with(b"\n"));
    let text = String::from_utf8_lossy(log);
    for l in text[..text.len() - 1].split('\n') {
        assert!(l.starts_with("qmail-smtpd: pid 4711 "), "log {l:?}");
        assert!(!l.chars().any(char::is_control), "log {l:?}");
    }
}

/// The header qmail-smtpd writes before the message: header lines only.
fn check_header(h: &[u8]) {
    assert!(h.ends_with(b"\n") && !h.contains(&b'\r'));
    for l in h[..h.len() - 1].split(|&b| b == b'\n') {
        let continued = l.first().is_some_and(|&b| b == b' ' || b == b'\t');
        let field = [&b"Received: "[..], b"Received-SPF: ", b"X-RBL-Info: "]
            .iter()
            .any(|f| l.starts_with(f));
        assert!(
            continued || field,
            "header {:?}",
            String::from_utf8_lossy(l)
        );
    }
}

fn check_envelope_of(s: &Session, saw_base64: bool) {
    let env = s.queue_envelope(saw_base64);
    let mut kept = Vec::new();
    let scan = check_envelope(&env[..], &mut kept, &mut [0; 7], &mut [0; 5]);
    let ok = scan.unwrap_or_else(|e| panic!("qmail-queue refuses ({e}) {env:?}"));
    let end = if ok { env.len() - 1 } else { env.len() - 3 };
    assert_eq!(kept, &env[..end]);
}

/// One read of the client: up to `chunk` bytes into the buffer; false at
/// the end of the input. Chunk sizes vary so reads split lines anywhere.
fn read(inb: &mut InBuf, rest: &mut &[u8], chunk: &mut usize) -> bool {
    if rest.is_empty() {
        return false;
    }
    let sp = inb.spare();
    let k = rest.len().min(sp.len()).min(*chunk);
    sp[..k].copy_from_slice(&rest[..k]);
    inb.filled(k);
    *rest = &rest[k..];
    *chunk = *chunk * 7 % 509 + 1;
    true
}

fuzz_target!(|data: &[u8]| {
    let mut c = [0u8; 6];
    let n = data.len().min(6);
    c[..n].copy_from_slice(&data[..n]);
    let mut rest = &data[n..];
    let mut host = FakeHost { seed: c[5] };
    let mut s = Session::new(config(&c));
    s.greet();
    let mut inb = InBuf::new();
    let mut chunk = 1 + usize::from(c[5] % 64);
    loop {
        s.out.clear();
        s.log.clear();
        let action = match inb.next_line() {
            None => {
                if !read(&mut inb, &mut rest, &mut chunk) {
                    return;
                }
                continue;
            }
            Some(Line::TooLong) => {
                s.line_too_long();
                Action::Continue
            }
            Some(Line::Ok(l)) => {
                assert!(l.len() <= sqmail::smtpd::input::MAX_LINE && !l.contains(&b'\n'));
                s.line(l, &mut host)
            }
        };
        match action {
            Action::Continue => {}
            Action::Quit | Action::Close => {
                check_replies(&s.out);
                check_log(&s.log);
                return;
            }
            Action::Auth(req) => {
                let block = req.block();
                // Exactly the three terminating NULs: no field holds one.
                assert_eq!(block.iter().filter(|&&b| b == 0).count(), 3);
                let outcome = match req.user.first().copied().unwrap_or(0) % 3 {
                    0 => AuthOutcome::Ok,
                    1 => AuthOutcome::Failed,
                    _ => AuthOutcome::Trouble("454 child crashed (#4.3.0)"),
                };
                s.auth_finished(req.mech, &req.user, outcome, &mut host);
            }
            Action::StartTls => {
                inb.clear();
                let vars = vec![
                    ("SSL_PROTOCOL".to_string(), "TLSv1.3".to_string()),
                    ("SSL_CLIENT_S_DN".to_string(), "/CN=x".to_string()),
                    ("SSL_CLIENT_S_DN_CN".to_string(), "x".to_string()),
                ];
                s.tls_started(&vars, &mut host);
            }
            Action::Data => {
                let rcptto = s.rcptto();
                assert!(rcptto.len() <= sqmail::smtpd::session::MAX_ENVELOPE + 64);
                if rest.first().is_some_and(|&b| b == b'!') {
                    s.data_start_failed();
                } else {
                    check_header(&s.data_started(1_700_000_000));
                    let scan = s.scan_config();
                    let mut f = DataFilter::new(s.databytes(), &scan);
                    let mut stored = 0u64;
                    let st = loop {
                        let (used, st) = f.feed(inb.pending(), &mut |b| stored += b.len() as u64);
                        inb.consume(used);
                        if st != Feed::More {
                            break st;
                        }
                        if !read(&mut inb, &mut rest, &mut chunk) {
                            return;
                        }
                    };
                    if st == Feed::BareLf {
                        return;
                    }
                    let saw = f.saw_base64;
                    let verdict = f.finish();
                    if let Ok(size) = &verdict {
                        assert_eq!(*size, stored);
                        check_envelope_of(&s, saw);
                    }
                    let qq = verdict.is_ok().then_some(Ok(()));
                    s.data_finished(verdict, qq, 42, 1_700_000_001);
                }
            }
        }
        check_replies(&s.out);
        check_log(&s.log);
    }
});
