//! `make run`'s servers (package/run-private): its SMTP port offers
//! STARTTLS, the Received line of a message sent over it names the
//! client's address, and stopping the script leaves no server behind.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::tls::have_openssl;
use crate::common::{QmailHome, list, run_with_input, skip, user_name, wait_until};

/// package/run-private, stopped with TERM (as Ctrl-C does) when dropped.
struct Private(Child);

impl Drop for Private {
    fn drop(&mut self) {
        let _ = sqmail::sys::kill(self.0.id() as i32, libc::SIGTERM);
        let _ = self.0.wait();
    }
}

/// A loopback address of its own, so that a developer's `make run` on
/// 127.0.0.1 does not collide with the test.
fn own_ip() -> String {
    let p = std::process::id();
    format!(
        "127.{}.{}.{}",
        20 + p % 200,
        1 + (p >> 8) % 250,
        1 + p % 250
    )
}

/// EHLO on a plain connection: the reply lines.
fn ehlo(addr: &str) -> (Vec<String>, String) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let local = s.local_addr().unwrap().ip().to_string();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("220 "), "{line}");
    (&s).write_all(b"EHLO client.example\r\n").unwrap();
    let mut lines = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        lines.push(line.trim_end().to_string());
        if !line.starts_with("250-") {
            break;
        }
    }
    (&s).write_all(b"QUIT\r\n").unwrap();
    (lines, local)
}

#[test]
fn make_run_smtp_offers_starttls_and_names_the_client() {
    if !have_openssl() {
        return skip("no openssl: package/home makes no certificate (package/testdeps)");
    }
    let h = QmailHome::new("make-run");
    assert!(
        h.path("ssl/localhost.pem").is_file(),
        "package/home made no certificate"
    );
    let ip = own_ip();
    let out = fs::File::create(h.dir.parent().unwrap().join("run.out")).unwrap();
    let run = Private(
        Command::new("sh")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/package/run-private"))
            .arg(&h.dir)
            .arg(user_name())
            .env("SQMAIL_RUN_IP", &ip)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap(),
    );
    let addr = format!("{ip}:2525");
    assert!(
        wait_until(20, || TcpStream::connect(&addr).is_ok()),
        "nothing listens on {addr}"
    );
    let (lines, client) = ehlo(&addr);
    assert!(lines.iter().any(|l| l[4..] == *"STARTTLS"), "{lines:?}");

    // README's line: a message over STARTTLS with openssl s_client.
    let to = format!("{}@localhost", user_name());
    let session = format!(
        "EHLO client.example\nMAIL FROM:<a@client.example>\nRCPT TO:<{to}>\nDATA\nSubject: make run\n\nhello\n.\nQUIT\n"
    );
    let o = run_with_input(
        Command::new("openssl").args([
            "s_client",
            "-starttls",
            "smtp",
            "-connect",
            &addr,
            "-quiet",
            "-crlf",
        ]),
        session.as_bytes(),
    );
    let new = h.path(&format!("home/{}/Maildir/new", user_name()));
    assert!(
        wait_until(20, || !list(&new).is_empty()),
        "no delivery; openssl said: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let msg = fs::read_to_string(new.join(&list(&new)[0])).unwrap();
    assert!(
        msg.contains(&format!(
            "Received: from unknown (HELO client.example) ({client})\n  de/crypted with "
        )),
        "{msg}"
    );
    assert!(msg.contains(" with ESMTPS; "), "{msg}");

    drop(run);
    assert!(
        wait_until(20, || TcpStream::connect(&addr).is_err()),
        "an SMTP server outlived package/run-private"
    );
}
