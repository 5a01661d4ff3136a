//! qmail-smtpd under the real tcpserver and sslserver, driven by Python's
//! smtplib: delivery to a Maildir, STARTTLS, AUTH and relaying.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::common::send::{Daemon, first_delivery};
use crate::common::ucspi::{Server, prog};
use crate::common::{QmailHome, bin, user_name};

/// Runs a Python smtplib script with PORT set; returns (ok, output).
fn python(script: &str, port: u16) -> (bool, String) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("PORT", port.to_string())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn server(
    name: &str,
    h: &QmailHome,
    args: &[&str],
    env: &[(&str, &str)],
    smtpd_args: &[&str],
) -> Server {
    let mut c = prog(name);
    c.env("QMAILHOME", &h.dir)
        .env("PATH", format!("{}:/usr/bin:/bin", h.path("bin").display()));
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(["-1", "-R", "-H", "-l", "localhost"])
        .args(args)
        .args(["127.0.0.1", "0"])
        .arg(bin("qmail-smtpd"))
        .args(smtpd_args);
    Server::start(c, &h.dir).unwrap()
}

#[test]
fn smtplib_through_tcpserver_to_maildir() {
    let h = QmailHome::new("smtpd-client");
    let user = user_name();
    let d = Daemon::start(&h);
    let s = server("tcpserver", &h, &[], &[], &[]);
    let script = format!(
        r#"
import os, smtplib
c = smtplib.SMTP("127.0.0.1", int(os.environ["PORT"]), local_hostname="client.example")
c.sendmail("alice@example.org", ["{user}@localhost"], "Subject: via smtplib\r\n\r\nhello\r\n..dot\r\n")
try:
    c.sendmail("alice@example.org", ["bob@elsewhere.example"], "x")
except smtplib.SMTPRecipientsRefused as e:
    print("refused", e.recipients["bob@elsewhere.example"][0])
c.quit()
"#
    );
    let (ok, out) = python(&script, s.port);
    assert!(ok, "{out}");
    assert!(out.contains("refused 553"), "{out}");
    let text = first_delivery(&h, &d);
    assert!(
        text.starts_with("Return-Path: <alice@example.org>\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("\nDelivered-To: {user}@localhost\n")),
        "{text}"
    );
    assert!(
        text.contains("\nReceived: from unknown (HELO client.example) (127.0.0.1)\n  by localhost with ESMTP; "),
        "{text}"
    );
    assert!(
        text.ends_with("Subject: via smtplib\n\nhello\n..dot\n"),
        "{text}"
    );
    assert!(s.log_text().contains("Reject::SNDR::Invalid_Relay"));
    drop(s);
    assert_eq!(d.stop(), 0);
}

/// A self-signed certificate for localhost in `dir`: (cert, key).
fn certificate(dir: &Path) -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    fs::write(&cert, ck.cert.pem()).unwrap();
    fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert.display().to_string(), key.display().to_string())
}

#[test]
fn smtplib_starttls_auth_relay() {
    let h = QmailHome::new("smtpd-client-tls");
    fs::write(h.path("users/authuser"), "joe@example.com:secret\n").unwrap();
    let (cert, key) = certificate(&h.dir);
    let env = [
        ("CERTFILE", cert.as_str()),
        ("KEYFILE", key.as_str()),
        ("UCSPITLS", "!"),
        ("SMTPAUTH", ""),
    ];
    let authuser = bin("qmail-authuser").display().to_string();
    let s = server("sslserver", &h, &["-e", "-n"], &env, &[&authuser, "true"]);
    let script = r#"
import os, smtplib, ssl
port = int(os.environ["PORT"])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
c = smtplib.SMTP("127.0.0.1", port)
c.ehlo()
print("auth before tls:", c.has_extn("auth"))
try:
    c.sendmail("joe@example.com", ["x@far.example"], "x")
except smtplib.SMTPSenderRefused as e:
    print("mail before tls:", e.smtp_code)
c.starttls(context=ctx)
c.ehlo()
print("auth after tls:", c.has_extn("auth"), "starttls again:", c.has_extn("starttls"))
try:
    c.sendmail("joe@example.com", ["x@far.example"], "x")
except smtplib.SMTPRecipientsRefused as e:
    print("relay without auth:", e.recipients["x@far.example"][0])
try:
    c.login("joe@example.com", "wrong")
except smtplib.SMTPAuthenticationError as e:
    print("bad password:", e.smtp_code)
c.login("joe@example.com", "secret")
c.sendmail("joe@example.com", ["x@far.example"], "Subject: relayed\r\n\r\nhi\r\n")
print("relayed")
c.quit()
"#;
    let (ok, out) = python(script, s.port);
    assert!(ok, "{out}\n{}", s.log_text());
    for want in [
        "auth before tls: False",
        "mail before tls: 535",
        "auth after tls: True starttls again: False",
        "relay without auth: 553",
        "bad password: 535",
        "relayed",
    ] {
        assert!(out.contains(want), "{want:?} missing in\n{out}");
    }
    let mess = crate::common::queue::queue_files(&h, "mess");
    assert_eq!(mess.len(), 1);
    let text = fs::read_to_string(&mess[0].1).unwrap();
    assert!(text.contains("  de/crypted with TLSv1.3: "), "{text}");
    assert!(text.contains(" with ESMTPSA; "), "{text}");
    assert!(text.contains("(joe@example.com@127.0.0.1)"), "{text}");
    let log = s.log_text();
    assert!(log.contains("Accept::AUTH::"), "{log}");
    assert!(!log.contains("secret") && !log.contains("wrong"));
}
