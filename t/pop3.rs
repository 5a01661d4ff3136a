//! qmail-popup, qmail-authuser and qmail-pop3d as one service, under our
//! tcpserver and sslserver, driven by Python's poplib, `openssl s_client
//! -starttls pop3` and a raw socket; the Maildir afterwards read by
//! Dovecot's doveadm.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::common::ucspi::{Server, prog};
use crate::common::{QmailHome, bin, bin_dir, list, skip};

/// `openssl passwd -6 -salt saltsalt secret`
const SECRET_HASH: &str = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";

const FIRST: &str = "Subject: first\n\nhello\n.dot line\n..two dots\n";
const SECOND: &str = "Subject: second\nX-Extra: y\n\nl1\nl2\nl3\n";

/// The files of the test Maildir: (path, text, age in seconds).
fn fixtures() -> Vec<(&'static str, String, u64)> {
    let mut third = String::from("Subject: third\n\n");
    for i in 0..5000 {
        third.push_str(&format!("line {i} of a longer message\n"));
    }
    vec![
        ("cur/1000.A.test:2,S", FIRST.to_string(), 300),
        ("new/2000.B.test", SECOND.to_string(), 200),
        ("new/3000.C.test", third, 100),
    ]
}

/// A home with user `pop` (password `secret`, a `!` system account whose
/// home holds `Maildir`) and `joe@example.com` (plaintext `tanstaaf`, for
/// APOP; qmail-pop3d then runs in the server's directory, the same home).
struct Pop {
    h: QmailHome,
    home: PathBuf,
    maildir: PathBuf,
    env: Vec<(String, String)>,
}

impl Pop {
    fn new(name: &str) -> Pop {
        let h = QmailHome::new(name);
        fs::write(h.path("users/authuser"), "joe@example.com:tanstaaf\n*:!\n").unwrap();
        let home = h.path("pophome");
        let maildir = home.join("Maildir");
        for sub in ["new", "cur", "tmp"] {
            fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        for (rel, text, age) in fixtures() {
            let p = maildir.join(rel);
            fs::write(&p, text).unwrap();
            File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(SystemTime::now() - Duration::from_secs(age))
                .unwrap();
        }
        let pw = h.path("passwd");
        let sh = h.path("shadow");
        fs::write(
            &pw,
            format!("pop:x:4242:4343:POP:{}:/bin/sh\n", home.display()),
        )
        .unwrap();
        fs::write(&sh, format!("pop:{SECRET_HASH}:19000::::::\n")).unwrap();
        let env = vec![
            ("QMAILHOME".into(), h.dir.display().to_string()),
            ("AUTHUSER_PASSWD".into(), pw.display().to_string()),
            ("AUTHUSER_SHADOW".into(), sh.display().to_string()),
            (
                "PATH".into(),
                format!("{}:/usr/bin:/bin", bin_dir().display()),
            ),
        ];
        Pop {
            h,
            home,
            maildir,
            env,
        }
    }

    /// sslserver with `args` and `UCSPITLS=ucspitls`, presenting a
    /// self-signed certificate for localhost; and that certificate's path.
    fn serve_tls(&self, args: &[&str], ucspitls: &str) -> (Server, PathBuf) {
        let cert = self.h.path("cert.pem");
        let key = self.h.path("key.pem");
        if !cert.exists() {
            let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
            fs::write(&cert, ck.cert.pem()).unwrap();
            fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        }
        let (c, k) = (cert.display().to_string(), key.display().to_string());
        let env = [
            ("CERTFILE", &c[..]),
            ("KEYFILE", &k),
            ("UCSPITLS", ucspitls),
        ];
        (self.serve("sslserver", args, &env), cert)
    }

    /// `server [args] 127.0.0.1 0 qmail-popup pop.example qmail-authuser
    /// qmail-pop3d Maildir`, in the user's home, with `env` added.
    fn serve(&self, server: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut c = prog(server);
        c.current_dir(&self.home);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        for (k, v) in env {
            c.env(k, v);
        }
        c.args(["-1", "-v", "-R", "-H", "-l", "localhost"])
            .args(args)
            .args(["127.0.0.1", "0"])
            .arg(bin("qmail-popup"))
            .arg("pop.example")
            .arg(bin("qmail-authuser"))
            .args(["qmail-pop3d", "Maildir"]);
        Server::start(c, &self.h.dir).unwrap()
    }

    /// The Maildir's files (new/ and cur/ with their directory).
    fn files(&self) -> Vec<String> {
        let mut v = Vec::new();
        for sub in ["new", "cur"] {
            v.extend(
                list(&self.maildir.join(sub))
                    .into_iter()
                    .map(|n| format!("{sub}/{n}")),
            );
        }
        v
    }
}

/// Runs a Python script with PORT set (and CERT, if given); returns
/// stdout and stderr, asserting that it succeeded.
fn python(script: &str, port: u16, cert: Option<&Path>, s: &Server) -> String {
    let mut c = Command::new("python3");
    c.arg("-c").arg(script).env("PORT", port.to_string());
    if let Some(cert) = cert {
        c.env("CERT", cert);
    }
    let out = c.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{text}\nserver log:\n{}",
        s.log_text()
    );
    text
}

/// The sizes of the fixtures, as LIST and STAT give them (bytes on disk).
fn sizes() -> Vec<usize> {
    fixtures().iter().map(|(_, t, _)| t.len()).collect()
}

#[test]
fn poplib_session_through_tcpserver() {
    let p = Pop::new("pop3-plain");
    let s = p.serve("tcpserver", &[], &[]);
    let sz = sizes();
    let total: usize = sz.iter().sum();
    let script = format!(
        r#"
import os, poplib, re
port = int(os.environ["PORT"])
c = poplib.POP3("127.0.0.1", port)
w = c.getwelcome()
assert re.fullmatch(rb"\+OK <\d+\.\d+@pop\.example>", w), w
capa = c.capa()
assert sorted(capa) == ["TOP", "UIDL", "USER"], capa
try:
    c.stat(); assert False
except poplib.error_proto as e:
    assert e.args[0] == b"-ERR authorization first", e
c.user("pop"); c.pass_("secret")
assert c.stat() == (3, {total}), c.stat()
assert c.list()[1] == [b"1 {a}", b"2 {b}", b"3 {c}"], c.list()
assert c.uidl()[1] == [b"1 1000.A.test", b"2 2000.B.test", b"3 3000.C.test"], c.uidl()
assert c.uidl(2) == b"+OK 2 2000.B.test"
r = c.retr(1)
assert r[1] == [b"Subject: first", b"", b"hello", b".dot line", b"..two dots", b""], r
third = c.retr(3)[1]
assert len(third) == 5000 + 3 and third[-2] == b"line 4999 of a longer message", third[-3:]
assert c.top(2, 1)[1] == [b"Subject: second", b"X-Extra: y", b"", b"l1", b""], c.top(2, 1)
assert c.top(2, 0)[1] == [b"Subject: second", b"X-Extra: y", b"", b""]
assert c.capa() == {{"TOP": [], "UIDL": []}}, c.capa()
c.dele(1)
for cmd, want in [("dele 1", b"-ERR already deleted"), ("dele 9", b"-ERR not that many messages"),
                  ("retr 0", b"-ERR messages are counted from 1"), ("list x", b"-ERR syntax error")]:
    try:
        c._shortcmd(cmd); assert False, cmd
    except poplib.error_proto as e:
        assert e.args[0] == want, (cmd, e)
assert c.stat() == (2, {bc}), c.stat()
c.rset()
assert c.stat() == (3, {total})
c.dele(2)
assert c._shortcmd("LAST") == b"+OK 2"
c.quit()
print("session done")
"#,
        a = sz[0],
        b = sz[1],
        c = sz[2],
        bc = sz[1] + sz[2],
    );
    let out = python(&script, s.port, None, &s);
    assert!(out.contains("session done"), "{out}");
    // QUIT deleted message 2 and moved the rest of new/ to cur/.
    assert_eq!(
        p.files(),
        ["cur/1000.A.test:2,S", "cur/3000.C.test:2,"],
        "{}",
        s.log_text()
    );
    let log = s.wait_log("Accept::AUTH::User P:POP3 S:127.0.0.1:unknown ?~ 'pop'");
    assert!(!log.contains("secret"), "{log}");
    // APOP with the greeting's timestamp; a wrong password is refused and
    // changes nothing.
    let script = r#"
import os, poplib
port = int(os.environ["PORT"])
c = poplib.POP3("127.0.0.1", port)
c.apop("joe@example.com", "tanstaaf")
assert c.stat()[0] == 2, c.stat()
c.dele(1)
c.close()
c = poplib.POP3("127.0.0.1", port)
c.user("pop")
try:
    c.pass_("wrong"); assert False
except poplib.error_proto as e:
    assert e.args[0] == b"-ERR authorization failed", e
c = poplib.POP3("127.0.0.1", port)
try:
    c.apop("joe@example.com", "wrong"); assert False
except poplib.error_proto as e:
    assert e.args[0] == b"-ERR authorization failed", e
print("apop done")
"#;
    let out = python(script, s.port, None, &s);
    assert!(out.contains("apop done"), "{out}");
    let log = s.wait_log("Reject::AUTH::Apop");
    assert!(
        log.contains("Accept::AUTH::Apop P:POP3 S:127.0.0.1:unknown ?~ 'joe@example.com'"),
        "{log}"
    );
    assert!(
        log.contains("Reject::AUTH::User P:POP3 S:127.0.0.1:unknown ?~ 'pop'"),
        "{log}"
    );
    assert_eq!(
        p.files(),
        ["cur/1000.A.test:2,S", "cur/3000.C.test:2,"],
        "no QUIT: nothing deleted"
    );
}

/// A raw client: sends `line` and CRLF, returns the next reply line.
struct Raw {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let w = TcpStream::connect(("127.0.0.1", port)).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let r = BufReader::new(w.try_clone().unwrap());
        let mut raw = Raw { w, r };
        assert!(raw.read_line().starts_with("+OK <"));
        raw
    }

    fn read_line(&mut self) -> String {
        let mut v = Vec::new();
        self.r.read_until(b'\n', &mut v).unwrap();
        String::from_utf8_lossy(&v).into_owned()
    }

    fn cmd(&mut self, line: &[u8]) -> String {
        self.w.write_all(&[line, b"\r\n"].concat()).unwrap();
        self.read_line()
    }
}

#[test]
fn bad_input_and_a_client_gone_mid_retr_leave_the_mailbox() {
    let p = Pop::new("pop3-bad");
    // Bigger than the socket buffers: qmail-pop3d is still writing it when
    // the client goes away.
    let line = format!("{}\n", "x".repeat(79));
    let big = "Subject: big\n\n".to_string() + &line.repeat(100_000);
    fs::write(p.maildir.join("new/4000.D.test"), &big).unwrap();
    let before = p.files();
    let s = p.serve("tcpserver", &[], &[]);
    let mut c = Raw::connect(s.port);
    let long = vec![b'x'; 5000];
    for (line, want) in [
        (&b"STAT"[..], "-ERR authorization first\r\n"),
        (b"RETR 1", "-ERR authorization first\r\n"),
        (b"USER a\0b", "-ERR syntax error\r\n"),
        (b"\xff\xfe\x80", "-ERR authorization first\r\n"),
        (&long, "-ERR line too long\r\n"),
        (b"PASS secret", "-ERR USER first\r\n"),
        (b"STLS", "-ERR STLS not available\r\n"),
        (b"USER pop", "+OK \r\n"),
        (b"PASS secret", "+OK \r\n"),
        (b"DELE 99", "-ERR not that many messages\r\n"),
        (b"DELE 0", "-ERR messages are counted from 1\r\n"),
        (b"DELE", "-ERR syntax error\r\n"),
        (b"DELE 1\0", "-ERR syntax error\r\n"),
        (b"TOP 1", "-ERR syntax error\r\n"),
        (b"\xff\xfe 1", "-ERR unimplemented\r\n"),
        (&long, "-ERR line too long\r\n"),
        (b"DELE 1", "+OK \r\n"),
        (b"DELE 2", "+OK \r\n"),
        (b"RETR 4", "+OK \r\n"),
    ] {
        assert_eq!(c.cmd(line), want, "{:?}", String::from_utf8_lossy(line));
    }
    // The client reads a little of the message and goes away.
    let mut some = [0u8; 100];
    c.r.read_exact(&mut some).unwrap();
    assert!(some.starts_with(b"Subject: big\r\n"));
    drop(c);
    s.wait_log(" status 0\n");
    assert_eq!(p.files(), before, "no QUIT, no change");
    // Pipelined past PASS: qmail-popup reads no further than PASS, so
    // qmail-pop3d gets the STAT.
    let mut c = Raw::connect(s.port);
    c.w.write_all(b"USER pop\r\nPASS secret\r\nSTAT\r\n")
        .unwrap();
    let total = sizes().iter().sum::<usize>() + big.len();
    let replies = [c.read_line(), c.read_line(), c.read_line()];
    assert_eq!(
        replies,
        ["+OK \r\n", "+OK \r\n", &format!("+OK 4 {total}\r\n")]
    );
    assert_eq!(c.cmd(b"QUIT"), "+OK \r\n");
}

#[test]
fn poplib_stls_through_sslserver() {
    let p = Pop::new("pop3-stls");
    // UCSPITLS='!': no login before STLS, STLS offered once.
    let (s, cert) = p.serve_tls(&["-e", "-n"], "!");
    let script = r#"
import os, poplib, ssl
port = int(os.environ["PORT"])
ctx = ssl.create_default_context(cafile=os.environ["CERT"]); ctx.check_hostname = False
c = poplib.POP3("127.0.0.1", port)
assert sorted(c.capa()) == ["STLS", "TOP", "UIDL"], c.capa()
for f in (lambda: c.user("pop"), lambda: c.apop("joe@example.com", "tanstaaf")):
    try:
        f(); assert False
    except poplib.error_proto as e:
        assert e.args[0] == b"-ERR TLS required but not negotiated", e
c.stls(context=ctx)
assert c.sock.version() in ("TLSv1.3", "TLSv1.2"), c.sock.version()
assert sorted(c.capa()) == ["TOP", "UIDL", "USER"], c.capa()
try:
    c._shortcmd("STLS"); assert False
except poplib.error_proto as e:
    assert e.args[0] == b"-ERR STLS not available", e
c.user("pop"); c.pass_("secret")
assert c.stat()[0] == 3
assert c.retr(1)[1][:3] == [b"Subject: first", b"", b"hello"]
c.dele(1)
c.quit()
print("stls done")
"#;
    let out = python(script, s.port, Some(&cert), &s);
    assert!(out.contains("stls done"), "{out}");
    s.wait_log("Accept::AUTH::User P:POP3S S:127.0.0.1:unknown ?~ 'pop'");
    assert_eq!(p.files(), ["cur/2000.B.test:2,", "cur/3000.C.test:2,"]);
    // UCSPITLS='': STLS offered, a clear-text login allowed.
    let (s, _) = p.serve_tls(&["-e", "-n"], "");
    let script = r#"
import os, poplib
c = poplib.POP3("127.0.0.1", int(os.environ["PORT"]))
assert sorted(c.capa()) == ["STLS", "TOP", "UIDL", "USER"], c.capa()
c.user("pop"); c.pass_("secret")
assert c.stat()[0] == 2
c.quit()
print("clear done")
"#;
    let out = python(script, s.port, None, &s);
    assert!(out.contains("clear done"), "{out}");
    s.wait_log("Accept::AUTH::User P:POP3 S:");
}

#[test]
fn poplib_pop3s_through_sslserver() {
    let p = Pop::new("pop3-pop3s");
    // As run_pop3sd: immediate TLS, -s exports the TLS variables (so even
    // UCSPITLS='!' lets the login in).
    let (s, cert) = p.serve_tls(&["-s", "-e"], "!");
    let script = r#"
import os, poplib, ssl
ctx = ssl.create_default_context(cafile=os.environ["CERT"]); ctx.check_hostname = False
c = poplib.POP3_SSL("127.0.0.1", int(os.environ["PORT"]), context=ctx)
assert sorted(c.capa()) == ["TOP", "UIDL", "USER"], c.capa()
c.apop("joe@example.com", "tanstaaf")
assert c.uidl()[1] == [b"1 1000.A.test", b"2 2000.B.test", b"3 3000.C.test"], c.uidl()
assert c.top(3, 2)[1] == [b"Subject: third", b"", b"line 0 of a longer message", b"line 1 of a longer message", b""]
c.dele(3)
c.quit()
print("pop3s done")
"#;
    let out = python(script, s.port, Some(&cert), &s);
    assert!(out.contains("pop3s done"), "{out}");
    s.wait_log("Accept::AUTH::Apop P:POP3S");
    assert_eq!(p.files(), ["cur/1000.A.test:2,S", "cur/2000.B.test:2,"]);
}

#[test]
fn openssl_s_client_starttls_pop3() {
    if Command::new("openssl").arg("version").output().is_err() {
        return skip("openssl is not installed");
    }
    let p = Pop::new("pop3-s-client");
    let (s, cert) = p.serve_tls(&["-e", "-n"], "!");
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-starttls",
            "pop3",
            "-crlf",
            "-quiet",
            "-ign_eof",
        ])
        .arg("-connect")
        .arg(format!("127.0.0.1:{}", s.port))
        .arg("-CAfile")
        .arg(&cert)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"CAPA\nUSER pop\nPASS secret\nSTAT\nUIDL 2\nQUIT\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let total: usize = sizes().iter().sum();
    let want = format!(
        "+OK capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\n.\r\n+OK \r\n+OK \r\n+OK 3 {total}\r\n+OK 2 2000.B.test\r\n+OK \r\n"
    );
    assert_eq!(
        text,
        want,
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log_text()
    );
    s.wait_log("Accept::AUTH::User P:POP3S");
}

/// doveadm on the Maildir as its owner: as root, through a config that
/// lets it switch to nobody (it refuses uid 0), the Maildir given away.
fn doveadm(p: &Pop, args: &[&str]) -> String {
    let conf = p.h.path("dovecot.conf");
    fs::write(
        &conf,
        format!(
            "mail_location = maildir:{}\nfirst_valid_uid = 0\nfirst_valid_gid = 0\n",
            p.maildir.display()
        ),
    )
    .unwrap();
    let (uid, gid) = match sqmail::sys::getuid() {
        0 => (65534, 65534),
        u => (u, sqmail::sys::getgid()),
    };
    if uid == 65534 {
        let out = Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(&p.maildir)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let out = Command::new("doveadm")
        .arg("-c")
        .arg(&conf)
        .args([
            "-o",
            &format!("mail_uid={uid}"),
            "-o",
            &format!("mail_gid={gid}"),
        ])
        .args(args)
        .env_clear()
        .env("USER", "pop")
        .env("HOME", &p.home)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn dovecot_reads_a_maildir_qmail_pop3d_worked_on() {
    if Command::new("doveadm").arg("help").output().is_err() {
        return skip("doveadm (dovecot-core) is not installed");
    }
    let p = Pop::new("pop3-dovecot");
    let s = p.serve("tcpserver", &[], &[]);
    let mut c = Raw::connect(s.port);
    c.cmd(b"USER pop");
    assert_eq!(c.cmd(b"PASS secret"), "+OK \r\n");
    assert_eq!(c.cmd(b"DELE 1"), "+OK \r\n");
    assert_eq!(c.cmd(b"QUIT"), "+OK \r\n");
    drop(c);
    assert_eq!(p.files(), ["cur/2000.B.test:2,", "cur/3000.C.test:2,"]);
    let out = doveadm(&p, &["fetch", "guid flags hdr.subject", "all"]);
    let subjects: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("hdr.subject:"))
        .collect();
    assert_eq!(
        subjects,
        ["hdr.subject: second", "hdr.subject: third"],
        "{out}"
    );
    assert!(out.contains("guid: 2000.B.test\n"), "{out}");
    let body = doveadm(&p, &["fetch", "body", "subject", "second"]);
    assert_eq!(body, "body:\nl1\nl2\nl3\n");
    // Dovecot flags a message (a new :2,F name in cur/); the UIDL stays.
    doveadm(&p, &["flags", "add", "\\Flagged", "subject", "third"]);
    assert_eq!(p.files(), ["cur/2000.B.test:2,", "cur/3000.C.test:2,F"]);
    let mut c = Raw::connect(s.port);
    c.cmd(b"USER pop");
    assert_eq!(c.cmd(b"PASS secret"), "+OK \r\n");
    assert_eq!(c.cmd(b"UIDL 2"), "+OK 2 3000.C.test\r\n");
    assert_eq!(c.cmd(b"QUIT"), "+OK \r\n");
}

/// Nothing sent in clear text after STLS is taken for a command
/// (the STARTTLS injection of CVE-2011-0411): the client below sends a
/// login behind STLS in the same packet and then starts TLS. Here the TLS
/// process gets those bytes as the start of the handshake, which fails; a
/// qmail-popup that had read them into its buffer would run them over TLS.
#[test]
fn commands_pipelined_after_stls_are_not_run() {
    let p = Pop::new("pop3-stls-inject");
    let (s, _) = p.serve_tls(&["-e", "-n"], "");
    let script = r#"
import os, socket, ssl
s = socket.create_connection(("127.0.0.1", int(os.environ["PORT"])))
f = s.makefile("rb", buffering=0)
assert f.readline().startswith(b"+OK <")
s.sendall(b"STLS\r\nUSER pop\r\nPASS secret\r\nDELE 1\r\nQUIT\r\n")
assert f.readline() == b"+OK starting TLS negotiation\r\n"
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
try:
    t = ctx.wrap_socket(s)
    print("after handshake:", t.recv(100))
except (ssl.SSLError, OSError) as e:
    print("handshake failed")
"#;
    let out = python(script, s.port, None, &s);
    assert!(out.contains("handshake failed"), "{out}");
    let log = s.wait_log("dropping SSL connection");
    assert!(!log.contains("Accept::AUTH"), "{log}");
    assert_eq!(p.files().len(), 3);
}
