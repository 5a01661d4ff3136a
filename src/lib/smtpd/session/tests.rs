use super::*;
use crate::smtpd::auth::AuthMode;

#[derive(Default)]
struct FakeHost {
    exported: Vec<(String, String)>,
    slept: u64,
}

impl Host for FakeHost {
    fn dns(&mut self, name: &str, _mx: bool) -> Dns {
        match name {
            "nx.example" => Dns::NotFound,
            "slow.example" => Dns::Temp,
            _ => Dns::Found,
        }
    }
    fn more_rcpthosts(&mut self, key: &str) -> bool {
        key == ".more.example"
    }
    fn recipient(&mut self, addr: &[u8]) -> RcptCheck {
        match addr {
            b"nobody@example.com" => RcptCheck::Reject,
            _ => RcptCheck::Accept("Recipients_Cdb"),
        }
    }
    fn mailfromrules(&mut self, _: &str, _: Option<&str>, _: &str, _: &str) -> Option<bool> {
        None
    }
    fn sleep(&mut self, secs: u64) {
        self.slept += secs;
    }
    fn export(&mut self, name: &str, value: &str) {
        self.exported.push((name.into(), value.into()));
    }
}

fn config() -> Config {
    Config {
        pid: 42,
        greeting: "mx.example".into(),
        remote_ip: "192.0.2.7".into(),
        local_host: "mx.example".into(),
        rcpthosts: Some(List::new(vec!["example.com".into()])),
        ..Config::default()
    }
}

/// Sends `line`, expects the reply text to start with `want`.
fn cmd(s: &mut Session, h: &mut FakeHost, line: &str, want: &str) -> Action {
    s.out.clear();
    let a = s.line(line.as_bytes(), h);
    let got = String::from_utf8_lossy(&s.out).into_owned();
    assert!(got.starts_with(want), "{line}: got {got:?}, want {want:?}");
    a
}

#[test]
fn dialogue() {
    let mut s = Session::new(config());
    let h = &mut FakeHost::default();
    s.greet();
    assert_eq!(s.out, b"220 mx.example ESMTP\r\n");
    cmd(&mut s, h, "helo client\r", "250 mx.example\r\n");
    cmd(&mut s, h, "RCPT TO:<a@example.com>", "503 MAIL first");
    cmd(&mut s, h, "MAIL FROM:<a@b>", "250 ok\r\n");
    cmd(&mut s, h, "RCPT TO:<a@example.com>", "250 ok");
    cmd(&mut s, h, "RCPT TO:<a@x.more.example>", "250 ok");
    cmd(
        &mut s,
        h,
        "RCPT TO:<nobody@example.com>",
        "550 sorry, no mailbox by that name  (#5.7.1)",
    );
    cmd(&mut s, h, "RCPT TO:<a@elsewhere>", "553 ");
    assert_eq!(cmd(&mut s, h, "DATA", ""), Action::Data);
    let hdr = String::from_utf8(s.data_started(0)).unwrap();
    assert_eq!(
        hdr,
        "Received: from unknown (HELO client) (192.0.2.7)\n  by mx.example with ESMTP; 1 Jan 1970 00:00:00 -0000\n"
    );
    assert!(s.out.ends_with(b"354 go ahead\r\n"));
    s.out.clear();
    s.data_finished(Ok(3), Some(Ok(())), 77, 1000);
    assert_eq!(s.out, b"250 ok 1000 qp 77\r\n");
    cmd(&mut s, h, "DATA", "503 MAIL first");
    assert_eq!(cmd(&mut s, h, "QUIT", "221 mx.example\r\n"), Action::Quit);
    assert!(
        h.exported
            .iter()
            .any(|(k, v)| k == "MAILFROM" && v == "a@b")
    );
    let log = String::from_utf8(s.log.clone()).unwrap();
    assert!(log.contains("qmail-smtpd: pid 42 Reject::RCPT::Failed_Rcptto P:ESMTP S:192.0.2.7:unknown H:client F:a@b T:nobody@example.com\n"));
}

#[test]
fn auth_exchange_and_tls_reset() {
    let mut c = config();
    c.auth = AuthMode::from_env(Some("+cram"));
    c.checkprogram = true;
    c.tls = TlsMode::Offered;
    let mut s = Session::new(c);
    let h = &mut FakeHost::default();
    cmd(&mut s, h, "AUTH LOGIN", "503 EHLO first (#5.5.1)");
    cmd(&mut s, h, "EHLO c", "250-");
    cmd(&mut s, h, "AUTH LOGIN", "334 VXNlcm5hbWU6");
    cmd(&mut s, h, "am9l", "334 UGFzc3dvcmQ6");
    match cmd(&mut s, h, "cHc=", "") {
        Action::Auth(r) => {
            assert_eq!(r.block(), b"joe\0pw\0\0");
            s.auth_finished(r.mech, &r.user, AuthOutcome::Ok, h);
        }
        a => panic!("{a:?}"),
    }
    assert!(s.out.ends_with(b"235 ok, go ahead (#2.0.0)\r\n"));
    assert_eq!(s.protocol(), "ESMTPA");
    cmd(&mut s, h, "MAIL FROM:<joe@example.com> SMTPUTF8", "250 ok");
    assert_eq!(s.protocol(), "UTF8ESMTPA");
    cmd(&mut s, h, "RCPT TO:<x@anywhere>", "250 ok");
    assert_eq!(cmd(&mut s, h, "STARTTLS", "220 Ready"), Action::StartTls);
    s.tls_started(&[("SSL_PROTOCOL".into(), "TLSv1.3".into())], h);
    assert_eq!(s.protocol(), "ESMTPS");
    cmd(&mut s, h, "STARTTLS", "500 unimplemented");
    cmd(&mut s, h, "RCPT TO:<x@anywhere>", "503 MAIL first");
    cmd(&mut s, h, "MAIL FROM:<joe@example.com>", "250 ok");
    cmd(&mut s, h, "RCPT TO:<x@anywhere>", "553 ");
    cmd(&mut s, h, "AUTH CRAM-MD5", "503 EHLO first (#5.5.1)");
    cmd(&mut s, h, "EHLO c", "250-");
    cmd(&mut s, h, "RSET", "250 flushed");
    cmd(
        &mut s,
        h,
        "AUTH PLAIN AGpvZQA=",
        "501 malformed auth input (#5.5.4)",
    );
    cmd(&mut s, h, "AUTH CRAM-MD5", "334 ");
    cmd(&mut s, h, "*", "501 auth exchange canceled (#5.0.0)");
}

/// NULs never reach the environment or the checkpassword block, and an
/// over-long line inside AUTH ends the exchange.
#[test]
fn nul_bytes_and_long_lines() {
    let mut c = config();
    c.auth = AuthMode::from_env(Some(""));
    c.checkprogram = true;
    let mut s = Session::new(c);
    let h = &mut FakeHost::default();
    s.line(b"EHLO a\0b", h);
    assert_eq!(s.out, b"501 NUL in command line (#5.5.2)\r\n");
    assert!(h.exported.is_empty(), "{:?}", h.exported);
    cmd(&mut s, h, "EHLO c", "250-");
    cmd(&mut s, h, "AUTH LOGIN", "334 VXNlcm5hbWU6");
    // "jo\0e" as the user name, "R\0C" as the password, PLAIN
    // "\0joe\0R\0C": 501, and nothing goes to the checkpassword program.
    let malformed = "501 malformed auth input";
    assert_eq!(cmd(&mut s, h, "am8AZQ==", malformed), Action::Continue);
    cmd(&mut s, h, "AUTH LOGIN am9l", "334 UGFzc3dvcmQ6");
    assert_eq!(cmd(&mut s, h, "UgBD", malformed), Action::Continue);
    let plain = "AUTH PLAIN AGpvZQBSAEM=";
    assert_eq!(cmd(&mut s, h, plain, malformed), Action::Continue);
    cmd(&mut s, h, "AUTH LOGIN", "334 VXNlcm5hbWU6");
    s.out.clear();
    s.line_too_long();
    assert_eq!(s.out, b"501 malformed auth input (#5.5.4)\r\n");
    cmd(&mut s, h, "NOOP", "250 ok");
}

/// Recipients stop at what one `RCPTTO` environment string can hold.
#[test]
fn rcptto_fits_one_environment_string() {
    let mut s = Session::new(config());
    let h = &mut FakeHost::default();
    cmd(&mut s, h, "MAIL FROM:<a@b>", "250 ok");
    let mut accepted = 0;
    for i in 0..3000 {
        s.out.clear();
        s.line(format!("RCPT TO:<r{i:0>50}@example.com>").as_bytes(), h);
        if s.out.starts_with(b"250 ") {
            accepted += 1;
        } else {
            assert!(s.out.starts_with(b"452 "), "{:?}", s.out);
        }
    }
    let rcptto = s.rcptto();
    assert!(accepted < 3000 && "RCPTTO=".len() + rcptto.len() <= MAX_RCPTTO);
    assert!(
        "RCPTTO=".len() + rcptto.len() + 64 > MAX_RCPTTO,
        "nearly full"
    );
}

#[test]
fn tarpit_sleeps() {
    let mut c = config();
    c.tarpitcount = 2;
    c.tarpitdelay = 3;
    let mut s = Session::new(c);
    let h = &mut FakeHost::default();
    cmd(&mut s, h, "MAIL FROM:<a@b>", "250");
    for _ in 0..4 {
        cmd(&mut s, h, "RCPT TO:<a@example.com>", "250 ok");
    }
    assert_eq!(h.slept, 6);
}

#[test]
fn dns_checks() {
    let mut c = config();
    c.mfdnscheck = true;
    c.helocheck = Some("A".into());
    let mut s = Session::new(c);
    let h = &mut FakeHost::default();
    cmd(&mut s, h, "HELO ok.example", "250 mx.example");
    cmd(
        &mut s,
        h,
        "MAIL FROM:<a@slow.example>",
        "451 DNS temporary failure (#4.3.0)",
    );
    cmd(&mut s, h, "RCPT TO:<a@example.com>", "503 MAIL first");
    cmd(&mut s, h, "MAIL FROM:<a@nx.example>", "250 ok");
    cmd(
        &mut s,
        h,
        "RCPT TO:<a@example.com>",
        "553 sorry, your envelope sender must exist  (#5.7.1)",
    );
    cmd(&mut s, h, "MAIL FROM:<>", "250 ok");
    cmd(&mut s, h, "RCPT TO:<a@example.com>", "250 ok");
    cmd(&mut s, h, "HELO nx.example", "250 mx.example");
    cmd(&mut s, h, "MAIL FROM:<a@b.example>", "250 ok");
    cmd(
        &mut s,
        h,
        "RCPT TO:<a@example.com>",
        "550 sorry, invalid HELO/EHLO greeting  (#5.7.1)",
    );
    cmd(&mut s, h, "HELO slow.example", "250 mx.example");
    cmd(&mut s, h, "MAIL FROM:<a@b.example>", "250 ok");
    cmd(
        &mut s,
        h,
        "RCPT TO:<a@example.com>",
        "451 DNS temporary failure (#4.3.0)",
    );
    let log = String::from_utf8(s.log.clone()).unwrap();
    assert!(
        log.contains("Reject::ORIG::DNS_MF")
            && log.contains("Reject::SNDR::DNS_Helo")
            && log.contains("'A'")
    );
}
