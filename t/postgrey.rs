//! Greylisting: qmail-postgrey and qmail-smtpd's POSTGREY against the real
//! postgrey daemon (David Schweikert's, Debian package `postgrey`), and
//! against a scripted policy server for the error paths.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::smtpd::{Smtpd, lines};
use crate::common::{QmailHome, free_port, fresh_dir, retry_until};

/// A postgrey of our own on a loopback port, with a private database and
/// a one-second delay; killed when dropped.
struct Postgrey {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Postgrey {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Postgrey {
    /// `None` (with a message) when postgrey is not installed.
    fn start(name: &str) -> Option<Postgrey> {
        let Some(exe) = ["/usr/sbin/postgrey", "/usr/bin/postgrey"]
            .into_iter()
            .find(|p| Path::new(p).exists())
        else {
            crate::common::skip(&format!(
                "{name}: postgrey is not installed (package/testdeps installs it)"
            ));
            return None;
        };
        let dir = fresh_dir(name);
        let empty = dir.join("whitelist");
        fs::write(&empty, "").unwrap();
        let port = free_port();
        let mut cmd = Command::new(exe);
        cmd.arg(format!("--inet=127.0.0.1:{port}"))
            .arg(format!("--dbdir={}", dir.display()))
            .arg(format!("--pidfile={}", dir.join("pid").display()))
            .arg("--delay=1")
            .arg("--auto-whitelist-clients=0")
            .arg(format!("--whitelist-clients={}", empty.display()))
            .arg(format!("--whitelist-recipients={}", empty.display()))
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join("log")).unwrap())
            .stderr(fs::File::create(dir.join("log.err")).unwrap());
        if sqmail::sys::getuid() == 0 {
            // postgrey drops root; its database directory must be its own.
            let user = ["postgrey", "nobody"]
                .into_iter()
                .find_map(|u| sqmail::passwd::user_by_name(u).ok().flatten())
                .expect("a user for postgrey");
            std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid)).unwrap();
            cmd.arg(format!("--user={}", user.name))
                .arg(format!("--group={}", user.gid));
        }
        let mut p = Postgrey {
            child: cmd.spawn().unwrap(),
            port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(st)) = p.child.try_wait() {
                panic!("postgrey exited ({st}): {}", p.log());
            }
            assert!(
                Instant::now() < deadline,
                "postgrey did not listen: {}",
                p.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
        Some(p)
    }

    fn server(&self) -> String {
        format!("127.0.0.1;{}", self.port)
    }

    fn log(&self) -> String {
        let read = |n: &str| fs::read_to_string(self.dir.join(n)).unwrap_or_default();
        read("log") + &read("log.err")
    }
}

/// Runs qmail-postgrey with `args`.
fn qmail_postgrey(h: &QmailHome, args: &[&str]) -> Output {
    h.cmd("qmail-postgrey")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Repeats `attempt` (an SMTP session) every 250 ms until it returns
/// true, for at most `secs` seconds: the greylisting delay has to pass.
fn until(secs: u64, attempt: impl FnMut() -> bool) -> bool {
    retry_until(secs, Duration::from_millis(250), attempt)
}

#[test]
fn qmail_postgrey_with_real_postgrey() {
    let Some(pg) = Postgrey::start("postgrey-direct") else {
        return;
    };
    let h = QmailHome::new("postgrey-direct");
    let server = pg.server();
    let args = [
        server.as_str(),
        "alice@sender.example",
        "bob@example.com",
        "192.0.2.7",
        "mx.sender.example",
    ];
    let first = qmail_postgrey(&h, &args);
    assert_eq!(
        first.status.code(),
        Some(10),
        "new triplet: {}",
        err(&first)
    );
    assert_eq!(err(&first), "");
    // Too early: still greylisted; after the delay: passed.
    let mut codes = Vec::new();
    let passed = until(20, || {
        let o = qmail_postgrey(&h, &args);
        codes.push(o.status.code());
        o.status.code() == Some(0)
    });
    assert!(passed, "never passed: {codes:?}\n{}", pg.log());
    // Another recipient is a new triplet.
    let mut other = args;
    other[2] = "carol@example.com";
    assert_eq!(qmail_postgrey(&h, &other).status.code(), Some(10));
    let log = pg.log();
    assert!(log.contains("action=greylist, reason=new"), "{log}");
    assert!(
        log.contains(
            "client_address=192.0.2.7, sender=alice@sender.example, recipient=bob@example.com"
        ),
        "{log}"
    );
    assert!(log.contains("action=pass, reason=triplet found"), "{log}");
}

#[test]
fn smtpd_with_real_postgrey() {
    let Some(pg) = Postgrey::start("postgrey-smtpd") else {
        return;
    };
    let s = Smtpd::new("postgrey-smtpd");
    let server = pg.server();
    let env = [
        ("POSTGREY", server.as_str()),
        ("TCPREMOTEHOST", "mx.sender.example"),
        ("REPLY_GREYLISTED", "please retry"),
    ];
    let input = b"HELO mx.sender.example\r\nMAIL FROM:<alice@sender.example>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n";
    let out = s.run(&env, input);
    assert_eq!(
        lines(&out.stdout),
        [
            "220 mx.example ESMTP",
            "250 mx.example",
            "250 ok",
            "450 greylisted please retry (#4.7.1)",
            "503 RCPT first (#5.5.1)",
            "500 unimplemented (#5.5.1)",
            "500 unimplemented (#5.5.1)",
            "500 unimplemented (#5.5.1)",
            "500 unimplemented (#5.5.1)",
            "221 mx.example",
        ]
    );
    assert!(
        err(&out).contains(&format!(
            "qmail-smtpd: pid {} Reject::RCPT::Greylisted P:ESMTP S:192.0.2.7:mx.sender.example H:mx.sender.example F:alice@sender.example T:bob@example.com\n",
            out_pid(&out)
        )),
        "{}",
        err(&out)
    );
    assert_eq!(s.env(), None, "nothing queued");
    // The retry after the delay is accepted and the message queued.
    let mut last = Vec::new();
    let accepted = until(20, || {
        let o = s.run(&env, input);
        last = lines(&o.stdout);
        last.get(3).is_some_and(|l| l == "250 ok")
    });
    assert!(accepted, "retry never accepted: {last:?}\n{}", pg.log());
    assert!(last[5].starts_with("250 ok "), "{last:?}");
    assert_eq!(
        s.env().unwrap(),
        b"Falice@sender.example\0Tbob@example.com\0\0"
    );
    // A relay client is never greylisted: a new triplet passes at once.
    let out = s.run(
        &[("POSTGREY", server.as_str()), ("RELAYCLIENT", "")],
        b"MAIL FROM:<x@relay.example>\r\nRCPT TO:<new@elsewhere.example>\r\nQUIT\r\n",
    );
    assert_eq!(lines(&out.stdout)[2], "250 ok");
    assert!(!pg.log().contains("new@elsewhere.example"), "{}", pg.log());
}

/// The pid in the first log line of qmail-smtpd.
fn out_pid(o: &Output) -> String {
    let e = err(o);
    e.split_whitespace().nth(2).unwrap_or("").to_string()
}

/// A one-connection-at-a-time policy server that answers every request
/// with `answer` (None: close without answering) and reports each request.
fn scripted(answer: Option<&'static [u8]>) -> (u16, mpsc::Receiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            let mut req = Vec::new();
            let mut r = BufReader::new(c.try_clone().unwrap());
            loop {
                let mut line = Vec::new();
                if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                    break;
                }
                req.extend_from_slice(&line);
                if line == b"\n" {
                    break;
                }
            }
            if let Some(a) = answer {
                let _ = c.write_all(a);
            }
            drop(c);
            if tx.send(req).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

#[test]
fn qmail_postgrey_protocol_and_errors() {
    let h = QmailHome::new("postgrey-errors");
    let run = |port: u16| {
        let server = format!("127.0.0.1;{port}");
        qmail_postgrey(
            &h,
            &[&server, "", "bob@example.com", "192.0.2.7", "unknown"],
        )
    };
    let (port, rx) = scripted(Some(b"action=DEFER_IF_PERMIT Greylisted\n\n"));
    let o = run(port);
    assert_eq!(o.status.code(), Some(10));
    assert_eq!(
        rx.recv().unwrap(),
        b"request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=SMTP\nclient_address=192.0.2.7\nclient_name=unknown\nsender=\nrecipient=bob@example.com\n\n"
    );
    let (port, _rx) = scripted(Some(b"action=DUNNO\n\n"));
    let o = run(port);
    assert_eq!((o.status.code(), err(&o)), (Some(0), String::new()));

    // Garbage, no answer, nobody listening: a warning and a pass.
    let (port, _rx) = scripted(Some(b"hello there\n\n"));
    let o = run(port);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        err(&o),
        format!("qmail-postgrey: warning: unable to understand 127.0.0.1;{port}: hello there??\n")
    );
    let (port, _rx) = scripted(None);
    let o = run(port);
    assert_eq!(o.status.code(), Some(0));
    assert!(err(&o).starts_with(&format!(
        "qmail-postgrey: warning: unable to understand 127.0.0.1;{port}: "
    )));
    let down = free_port();
    let o = run(down);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        err(&o).starts_with(&format!(
            "qmail-postgrey: warning: unable to talk to 127.0.0.1;{down}: "
        )),
        "{}",
        err(&o)
    );
    let o = qmail_postgrey(&h, &["no.such.address", "a", "b", "c", "d"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        err(&o),
        "qmail-postgrey: warning: unable to parse server no.such.address\n"
    );
    let o = qmail_postgrey(&h, &["127.0.0.1", "a"]);
    assert_eq!(o.status.code(), Some(100));
    assert!(err(&o).starts_with("qmail-postgrey: fatal: usage: qmail-postgrey "));
}

#[test]
fn smtpd_fails_open() {
    let s = Smtpd::new("postgrey-open");
    let down = format!("127.0.0.1;{}", free_port());
    let out = s.run(
        &[("POSTGREY", &down)],
        b"MAIL FROM:<a@b.org>\r\nRCPT TO:<joe@example.com>\r\nRCPT TO:<ann@example.com>\r\nQUIT\r\n",
    );
    assert_eq!(lines(&out.stdout)[2..4], ["250 ok", "250 ok"]);
    let e = err(&out);
    // Asked once: a server that failed is not asked again in the session.
    assert_eq!(
        e.matches("qmail-postgrey: warning: unable to talk to")
            .count(),
        1,
        "{e}"
    );
    assert!(e.contains("Accept::RCPT::Rcpthosts_Rcptto"), "{e}");

    // Every recipient is asked in turn; the 450 text without REPLY_GREYLISTED.
    let (port, rx) = scripted(Some(b"action=DEFER_IF_PERMIT Greylisted\n\n"));
    let server = format!("127.0.0.1;{port}");
    let out = s.run(
        &[("POSTGREY", &server)],
        b"MAIL FROM:<a@b.org>\r\nRCPT TO:<joe@example.com>\r\nRCPT TO:<ann@example.com>\r\nQUIT\r\n",
    );
    assert_eq!(
        lines(&out.stdout)[2..4],
        ["450 greylisted  (#4.7.1)", "450 greylisted  (#4.7.1)"]
    );
    let wait = Duration::from_secs(10);
    let asked = [
        rx.recv_timeout(wait).unwrap(),
        rx.recv_timeout(wait).unwrap(),
    ];
    assert!(asked[1].ends_with(b"sender=a@b.org\nrecipient=ann@example.com\n\n"));
}
