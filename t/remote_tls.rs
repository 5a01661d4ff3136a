//! qmail-remote's client certificates (`domaincerts`, qmail-control(5))
//! against receivers that demand and verify them: our sslserver (client
//! certificate required, CCAFILE) in front of qmail-smtpd, by STARTTLS and
//! by implicit TLS on port 465, and `openssl s_server -Verify 1`.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use crate::common::queue::queue_files;
use crate::common::remote::{Dns, home_b, plain_receiver};
use crate::common::remote::{home, remote};
use crate::common::tls::have_openssl;
use crate::common::ucspi::{Server, prog};
use crate::common::{QmailHome, bin, fresh_dir};

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, cn);
    p
}

fn leaf_params(cn: &str, names: &[&str]) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut p = CertificateParams::new(names).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p
}

/// A root CA (the only one the receivers trust), an intermediate it
/// signed that issues the client certificates (so the client must send
/// the chain), the receivers' certificate, and client certificates with
/// ECDSA and RSA keys in the file forms domaincerts takes.
struct Pki {
    dir: PathBuf,
    root: PathBuf,
    server: (PathBuf, PathBuf),
    /// The receivers' certificate issued by the intermediate: chain file
    /// (leaf, intermediate) and key.
    server_chain: (PathBuf, PathBuf),
    /// ECDSA, chain file + PKCS#8 key file.
    ecdsa: (PathBuf, PathBuf),
    /// ECDSA, chain file + SEC1 ("EC PRIVATE KEY") key file.
    sec1: (PathBuf, PathBuf),
    /// RSA: one file with chain and PKCS#1 ("RSA PRIVATE KEY") key.
    rsa: PathBuf,
    /// ECDSA from a CA the receivers do not trust.
    rogue: (PathBuf, PathBuf),
    /// ECDSA from the trusted intermediate, expired last year.
    expired: (PathBuf, PathBuf),
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = fresh_dir(name);
        let path = |f: &str| dir.join(f);
        let root =
            CertifiedIssuer::self_signed(ca_params("Test Root"), KeyPair::generate().unwrap())
                .unwrap();
        let inter = CertifiedIssuer::signed_by(
            ca_params("Test Intermediate"),
            KeyPair::generate().unwrap(),
            &root,
        )
        .unwrap();
        fs::write(path("root.pem"), root.pem()).unwrap();
        let skey = KeyPair::generate().unwrap();
        let scert = leaf_params("localhost", &["localhost"])
            .signed_by(&skey, &root)
            .unwrap();
        fs::write(path("server.pem"), scert.pem()).unwrap();
        fs::write(path("server.key"), skey.serialize_pem()).unwrap();
        let ccert = leaf_params("localhost", &["localhost"])
            .signed_by(&skey, &inter)
            .unwrap();
        fs::write(path("server-chain.pem"), ccert.pem() + &inter.pem()).unwrap();
        let chain = |cn: &str, key: &KeyPair| {
            let c = leaf_params(cn, &[cn]).signed_by(key, &inter).unwrap();
            c.pem() + &inter.pem()
        };
        let k = KeyPair::generate().unwrap();
        fs::write(path("ecdsa.pem"), chain("ecdsa.client", &k)).unwrap();
        fs::write(path("ecdsa.key"), k.serialize_pem()).unwrap();
        let k = KeyPair::generate().unwrap();
        fs::write(path("sec1.pem"), chain("sec1.client", &k)).unwrap();
        fs::write(path("sec1.p8"), k.serialize_pem()).unwrap();
        let (p8, sec1) = (path("sec1.p8"), path("sec1.key"));
        openssl(&["ec", "-in", s(&p8), "-out", s(&sec1)]);
        let (rp8, rp1) = (path("rsa.p8"), path("rsa.p1"));
        openssl(&["genpkey", "-algorithm", "RSA", "-out", s(&rp8)]);
        openssl(&["rsa", "-in", s(&rp8), "-traditional", "-out", s(&rp1)]);
        let rk = KeyPair::from_pem(&fs::read_to_string(&rp8).unwrap()).unwrap();
        let rsa_all = chain("rsa.client", &rk) + &fs::read_to_string(&rp1).unwrap();
        fs::write(path("rsa.pem"), rsa_all).unwrap();
        let rogue_ca =
            CertifiedIssuer::self_signed(ca_params("Rogue CA"), KeyPair::generate().unwrap())
                .unwrap();
        let k = KeyPair::generate().unwrap();
        let c = leaf_params("rogue.client", &["rogue.client"])
            .signed_by(&k, &rogue_ca)
            .unwrap();
        fs::write(path("rogue.pem"), c.pem()).unwrap();
        fs::write(path("rogue.key"), k.serialize_pem()).unwrap();
        let k = KeyPair::generate().unwrap();
        let mut old = leaf_params("expired.client", &["expired.client"]);
        old.not_before = rcgen::date_time_ymd(2020, 1, 1);
        old.not_after = rcgen::date_time_ymd(2025, 1, 1);
        let c = old.signed_by(&k, &inter).unwrap();
        fs::write(path("expired.pem"), c.pem() + &inter.pem()).unwrap();
        fs::write(path("expired.key"), k.serialize_pem()).unwrap();
        assert!(
            fs::read_to_string(&sec1)
                .unwrap()
                .contains("BEGIN EC PRIVATE KEY")
        );
        assert!(
            fs::read_to_string(path("rsa.pem"))
                .unwrap()
                .contains("BEGIN RSA PRIVATE KEY")
        );
        Pki {
            root: path("root.pem"),
            server: (path("server.pem"), path("server.key")),
            server_chain: (path("server-chain.pem"), path("server.key")),
            ecdsa: (path("ecdsa.pem"), path("ecdsa.key")),
            sec1: (path("sec1.pem"), sec1),
            rsa: path("rsa.pem"),
            rogue: (path("rogue.pem"), path("rogue.key")),
            expired: (path("expired.pem"), path("expired.key")),
            dir,
        }
    }
}

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// A loopback address of its own for this process and test `n` (other
/// test runs, and the other test here, may hold port 465 meanwhile).
fn own_loopback(n: u32) -> String {
    let pid = std::process::id();
    format!("127.{}.{}.{}", 46 + n, (pid >> 8) & 255, (pid & 255).max(1))
}

/// sslserver demanding a client certificate from the root CA (`-m`,
/// CCAFILE) in front of B's qmail-smtpd: STARTTLS with `-n`, else TLS
/// from the first byte (port 465). None when the address cannot be bound.
fn receiver(p: &Pki, b: &QmailHome, ip: &str, port: &str, starttls: bool) -> Option<Server> {
    let mut c = sslserver(b, &p.server);
    c.env("CCAFILE", &p.root).arg("-m");
    if starttls {
        c.arg("-n");
    }
    c.args([ip, port]).arg(bin("qmail-smtpd"));
    Server::start(c, &p.dir)
}

/// sslserver with certificate `cert` (and key) in front of B's qmail-smtpd;
/// the caller adds options, the address and the program.
fn sslserver(b: &QmailHome, cert: &(PathBuf, PathBuf)) -> Command {
    let mut c = prog("sslserver");
    c.env("QMAILHOME", &b.dir)
        .env("PATH", format!("{}:/usr/bin:/bin", b.path("bin").display()))
        .env("CERTFILE", &cert.0)
        .env("KEYFILE", &cert.1)
        .env("UCSPITLS", "")
        .args(["-1", "-R", "-H", "-l", "mx.b.test", "-e", "-s"]);
    c
}

/// tlsdestinations' ciphers, verifydepth and senderdomain fields are
/// honoured, and a field that cannot be is refused before connecting.
#[test]
fn tlsdestinations_ciphers_depth_and_sender_domain() {
    if !have_openssl() {
        return crate::common::skip("openssl not installed (package/testdeps)");
    }
    let p = Pki::new("rtls-fields");
    let b = home_b("rtls-fields-b");
    let mut c = sslserver(&b, &p.server_chain);
    c.args(["-n", "127.0.0.1", "0"]).arg(bin("qmail-smtpd"));
    let srv = Server::start(c, &p.dir).unwrap();
    let a = home("rtls-fields-a");
    // By name, so that certificates can be checked against it.
    let dns = Dns::start(vec![crate::common::remote::a("localhost", "127.0.0.1")]);
    a.control("smtproutes", &format!("b.test:localhost;{}\n", srv.port));
    let dest = |line: &str| a.control("tlsdestinations", &format!("{line}\n"));
    // A TLS 1.3 suite named: the only one offered (mode 3, no checks).
    dest("-localhost:|TLS_CHACHA20_POLY1305_SHA256");
    let (r, l) = deliver(&a, &dns, &b, "joe@a.test", "f1");
    assert!(r.len() == 2 && r[0] == "r", "{r:?}");
    assert!(l.contains("TLS_CHACHA20_POLY1305_SHA256"), "{l:?}");
    // B's chain has one intermediate: depth 1 verifies, depth 0 does not.
    dest(&format!("localhost:{}||1", s(&p.root)));
    let (r, _) = deliver(&a, &dns, &b, "joe@a.test", "f2");
    assert!(r.len() == 2 && r[0] == "r", "{r:?}");
    dest(&format!("localhost:{}||0", s(&p.root)));
    let (r, _) = deliver(&a, &dns, &b, "joe@a.test", "f3");
    assert_eq!(
        r,
        ["Z Unable to verify X.500 certificate from: localhost. (#4.4.1)\n"]
    );
    // Fields that cannot be honoured: refused, nothing sent.
    dest("localhost:|HIGH:NOSUCH");
    let (r, _) = deliver(&a, &dns, &b, "joe@a.test", "f4");
    assert_eq!(
        r,
        [
            "ZUnusable control/tlsdestinations line for localhost: cipher NOSUCH is not one sqmail knows. (#4.3.0)\n"
        ]
    );
    dest("localhost:||deep");
    let (r, _) = deliver(&a, &dns, &b, "joe@a.test", "f5");
    assert!(r[0].contains("verifydepth deep is not a number"), "{r:?}");
    // A line for another sender domain does not apply to joe@a.test.
    dest("localhost:|NOSUCH|;|Other.test");
    let (r, l) = deliver(&a, &dns, &b, "joe@a.test", "f6");
    assert!(r.len() == 2 && r[0] == "r", "{r:?}");
    assert!(l.is_empty(), "no rule, no STARTTLS: {l:?}");
    let (r, _) = deliver(&a, &dns, &b, "joe@other.test", "f7");
    assert!(
        r[0].starts_with("ZUnusable control/tlsdestinations"),
        "{r:?}"
    );
    let queued = queue_files(&b, "mess").len();
    assert_eq!(queued, 3, "f1, f2, f6: {}", srv.log_text());
}

/// Sends a message tagged `tag` from `sender` to x@b.test; the reports,
/// and the `de/crypted` line of the Received field B wrote (empty when
/// B did not queue it).
fn deliver(
    a: &QmailHome,
    dns: &Dns,
    b: &QmailHome,
    sender: &str,
    tag: &str,
) -> (Vec<String>, String) {
    let msg = format!("Subject: {tag}\n\nbody\n");
    let r = remote(a, dns, &["b.test", sender, "x@b.test"], msg.as_bytes());
    let queued = queue_files(b, "mess")
        .into_iter()
        .map(|(_, p)| fs::read_to_string(p).unwrap_or_default())
        .find(|t| t.contains(&format!("Subject: {tag}\n")))
        .unwrap_or_default();
    let line = queued
        .lines()
        .find(|l| l.contains("de/crypted with"))
        .unwrap_or("")
        .to_string();
    (r, line)
}

fn assert_delivered(r: &[String], line: &str, cn: &str) {
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[0], "r");
    assert!(r[1].contains(" TLS transmitted message accepted."), "{r:?}");
    assert!(line.contains(&format!("DN=/CN={cn}")), "{line:?}");
}

#[test]
fn client_certificates_through_sslserver_starttls() {
    if !have_openssl() {
        return crate::common::skip("openssl not installed (package/testdeps)");
    }
    let p = Pki::new("rtls-starttls");
    let b = home_b("rtls-starttls-b");
    let srv = receiver(&p, &b, "127.0.0.1", "0", true).unwrap();
    let a = home("rtls-starttls-a");
    let dns = Dns::start(vec![]);
    a.control("smtproutes", &format!("b.test:[127.0.0.1];{}\n", srv.port));
    // Per sender domain (suffix keys), then the empty key, then `*`.
    let certs = |extra: &str| {
        a.control(
            "domaincerts",
            &format!(
                "{extra}.ecdsa.test:{}|{}\nsec1.test:{}|{}\nrsa.test:{}\n*:{}|{}\n",
                s(&p.ecdsa.0),
                s(&p.ecdsa.1),
                s(&p.sec1.0),
                s(&p.sec1.1),
                s(&p.rsa),
                s(&p.rsa),
                s(&p.rsa),
            ),
        )
    };
    certs("");
    let (r, l) = deliver(&a, &dns, &b, "joe@mail.ecdsa.test", "t1");
    assert_delivered(&r, &l, "ecdsa.client");
    let (r, l) = deliver(&a, &dns, &b, "joe@sec1.test", "t2");
    assert_delivered(&r, &l, "sec1.client");
    // Key in the certificate file, RSA, PKCS#1.
    let (r, l) = deliver(&a, &dns, &b, "joe@rsa.test", "t3");
    assert_delivered(&r, &l, "rsa.client");
    // `sec1.test` is an exact key: a subdomain falls to the default.
    let (r, l) = deliver(&a, &dns, &b, "joe@x.sec1.test", "t4");
    assert_delivered(&r, &l, "rsa.client");
    // Bounces use the default too.
    let (r, l) = deliver(&a, &dns, &b, "", "t5");
    assert_delivered(&r, &l, "rsa.client");
    // The empty key comes before `*` (s/qmail's lookup order).
    certs(&format!(":{}|{}\n", s(&p.sec1.0), s(&p.sec1.1)));
    let (r, l) = deliver(&a, &dns, &b, "joe@other.test", "t6");
    assert_delivered(&r, &l, "sec1.client");

    // No certificate for the sender: the receiver refuses the handshake.
    a.control("domaincerts", &format!("rsa.test:{}\n", s(&p.rsa)));
    let (r, l) = deliver(&a, &dns, &b, "joe@other.test", "t7");
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].starts_with("Z "), "{r:?}");
    assert!(l.is_empty());
    // A certificate from a CA the receiver does not trust: refused.
    a.control(
        "domaincerts",
        &format!("*:{}|{}\n", s(&p.rogue.0), s(&p.rogue.1)),
    );
    let (r, _) = deliver(&a, &dns, &b, "joe@other.test", "t8");
    assert!(r.len() == 1 && r[0].starts_with("Z "), "{r:?}");
    // A key that is not the certificate's: found at the handshake.
    a.control(
        "domaincerts",
        &format!("*:{}|{}\n", s(&p.ecdsa.0), s(&p.sec1.1)),
    );
    let (r, _) = deliver(&a, &dns, &b, "joe@other.test", "t9");
    assert_eq!(
        r,
        [format!(
            "Z Keyfile does not match X.509 certificate: {}. (#4.4.1)\n",
            s(&p.sec1.1)
        )]
    );
    a.control(
        "domaincerts",
        &format!("*:{}|/nonexistent.key\n", s(&p.ecdsa.0)),
    );
    let (r, _) = deliver(&a, &dns, &b, "joe@other.test", "t10");
    assert_eq!(
        r,
        ["Z Can't load X.509 private key: /nonexistent.key. (#4.4.1)\n"]
    );
    assert_eq!(queue_files(&b, "mess").len(), 6, "{}", srv.log_text());
}

/// Certificates are read only when TLS is used: a broken entry does not
/// hold up mail to a peer without STARTTLS.
#[test]
fn client_certificate_not_read_without_tls() {
    let b = home_b("rtls-clear-b");
    let srv = plain_receiver(&b, &[]);
    let a = home("rtls-clear-a");
    let dns = Dns::start(vec![]);
    a.control("smtproutes", &format!("b.test:[127.0.0.1];{}\n", srv.port));
    a.control("domaincerts", "*:/nonexistent/cert.pem\n");
    let (r, l) = deliver(&a, &dns, &b, "joe@a.test", "clear");
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r[1].starts_with("K127.0.0.1 accepted message."), "{r:?}");
    assert!(l.is_empty());
}

#[test]
fn client_certificate_over_implicit_tls() {
    if !have_openssl() {
        return crate::common::skip("openssl not installed (package/testdeps)");
    }
    let ip = own_loopback(0);
    // Port 465 is privileged: this runs only where it can be bound (root).
    if std::net::TcpListener::bind((ip.as_str(), 465)).is_err() {
        return crate::common::skip(&format!("cannot bind {ip}:465 (needs root)"));
    }
    let p = Pki::new("rtls-smtps");
    let b = home_b("rtls-smtps-b");
    let srv = receiver(&p, &b, &ip, "465", false).unwrap();
    let a = home("rtls-smtps-a");
    let dns = Dns::start(vec![]);
    a.control("smtproutes", &format!("b.test:[{ip}];465\n"));
    a.control("domaincerts", &format!("a.test:{}\n", s(&p.rsa)));
    let (r, l) = deliver(&a, &dns, &b, "joe@a.test", "smtps");
    assert_delivered(&r, &l, "rsa.client");
    assert!(r[1].starts_with(&format!("K{ip} ")), "{r:?}");
    // Without a certificate the receiver refuses.
    a.control("domaincerts", "");
    let (r, _) = deliver(&a, &dns, &b, "joe@a.test", "smtps2");
    assert!(r.len() == 1 && r[0].starts_with("Z "), "{r:?}");
    drop(srv);
}

/// `openssl s_server -Verify 1` on `ip:port`, trusting only the root; it
/// answers with `replies` (queued on its standard input) and logs what it
/// verified on standard error.
struct SServer {
    child: Child,
    _stdin: ChildStdin,
    err: PathBuf,
    out: std::thread::JoinHandle<String>,
}

impl SServer {
    fn start(p: &Pki, ip: &str, port: u16, replies: &[u8]) -> Option<SServer> {
        let err = p.dir.join(format!("s_server-{port}.err"));
        let mut child = Command::new("openssl")
            .args(["s_server", "-naccept", "1", "-Verify", "1"])
            .arg("-accept")
            .arg(format!("{ip}:{port}"))
            .args(["-cert", s(&p.server.0), "-key", s(&p.server.1)])
            .args(["-CAfile", s(&p.root)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(replies).unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.wait();
                return None;
            }
            if line.starts_with("ACCEPT") {
                break;
            }
        }
        let out = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut rest);
            rest
        });
        Some(SServer {
            child,
            _stdin: stdin,
            err,
            out,
        })
    }

    /// Waits (20 s at most) for the one connection to end: (what the client
    /// sent, the verification log).
    fn finish(mut self) -> (String, String) {
        crate::common::send::wait_child(&mut self.child, 20);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let out = self.out.join().unwrap();
        (out, fs::read_to_string(&self.err).unwrap())
    }
}

/// One delivery from A through a fresh s_server on `ip:port` answering
/// `replies`: the reports, what s_server received, its verification log.
fn via_s_server(
    p: &Pki,
    a: &QmailHome,
    ip: &str,
    port: u16,
    replies: &[u8],
    args: &[&str],
) -> Option<(Vec<String>, String, String)> {
    let srv = SServer::start(p, ip, port, replies)?;
    let r = remote(a, &Dns::start(vec![]), args, b"Subject: s\n\nbody\n");
    let (sent, log) = srv.finish();
    Some((r, sent, log))
}

/// s_server on QMTPS (port 6209, no privilege needed) and, as root, on
/// SMTPS (465): the client certificate arrives with its chain and verifies.
#[test]
fn client_certificate_to_openssl_s_server() {
    if !have_openssl() {
        return crate::common::skip("openssl not installed (package/testdeps)");
    }
    let p = Pki::new("rtls-s_server");
    let ip = own_loopback(1);
    let a = home("rtls-s_server-a");
    a.control("qmtproutes", &format!("q.test:[{ip}];6209\n"));
    a.control("smtproutes", &format!("b.test:[{ip}];465\n"));
    a.control(
        "domaincerts",
        &format!(
            "a.test:{}|{}\nrsa.test:{}\n",
            s(&p.ecdsa.0),
            s(&p.ecdsa.1),
            s(&p.rsa)
        ),
    );
    let qmtp = ["q.test", "joe@a.test", "x@q.test"];
    let Some((r, sent, log)) = via_s_server(&p, &a, &ip, 6209, b"6:Kthanx,", &qmtp) else {
        return crate::common::skip(&format!("s_server could not listen on {ip}:6209"));
    };
    assert_eq!(
        r,
        [
            "rqmtps:thanx\n".to_string(),
            format!("KAll received okay by {ip}\n")
        ],
        "{log}"
    );
    assert!(log.contains("depth=1 CN = Test Intermediate"), "{log}");
    assert!(log.contains("depth=0 CN = ecdsa.client"), "{log}");
    assert!(!log.contains("error"), "{log}");
    assert!(sent.contains("x@q.test"), "{sent}");

    if std::net::TcpListener::bind((ip.as_str(), 465)).is_err() {
        return crate::common::skip(&format!("cannot bind {ip}:465 (needs root)"));
    }
    let replies =
        b"220 s_server ESMTP\r\n250 s_server\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n";
    let smtps = ["b.test", "joe@rsa.test", "x@b.test"];
    let (r, sent, log) = via_s_server(&p, &a, &ip, 465, replies, &smtps).unwrap();
    assert_eq!(
        r,
        [
            "r".to_string(),
            format!("K{ip} TLS transmitted message accepted.\nRemote host said: 250 queued\n")
        ],
        "{log}"
    );
    assert!(log.contains("depth=0 CN = rsa.client"), "{log}");
    assert!(sent.contains("MAIL FROM:<joe@rsa.test>"), "{sent}");
    assert!(sent.contains("Subject: s\r\n"), "{sent}");
    // No certificate for this sender: s_server refuses the handshake.
    let none = ["b.test", "joe@none.test", "x@b.test"];
    let (r, _, log) = via_s_server(&p, &a, &ip, 465, replies, &none).unwrap();
    assert!(r.len() == 1 && r[0].starts_with("Z "), "{r:?} {log}");
}

/// QMTPS between two homes: qmail-remote (qmtproutes `;6209`, the client
/// certificate from domaincerts) to our sslserver demanding a certificate
/// from the root (`-m`, CCAFILE) in front of qmail-qmtpd. A verified
/// certificate relays (x@c.test is not in B's rcpthosts) and names the
/// client in the Received line; a rogue, an expired or no certificate gets
/// no session.
#[test]
fn qmtps_relaying_by_client_certificate() {
    if !have_openssl() {
        return crate::common::skip("openssl not installed (package/testdeps)");
    }
    let ip = own_loopback(2);
    if std::net::TcpListener::bind((ip.as_str(), 6209)).is_err() {
        return crate::common::skip(&format!("cannot bind {ip}:6209"));
    }
    let p = Pki::new("rtls-qmtps");
    let b = home_b("rtls-qmtps-b");
    let mut c = prog("sslserver");
    c.env("QMAILHOME", &b.dir)
        .env("CERTFILE", &p.server.0)
        .env("KEYFILE", &p.server.1)
        .env("CCAFILE", &p.root)
        .args(["-1", "-R", "-H", "-l", "mx.b.test", "-m", "-e", "-s"])
        .args([ip.as_str(), "6209"])
        .arg(bin("qmail-qmtpd"));
    let _srv = Server::start(c, &p.dir).unwrap();
    let a = home("rtls-qmtps-a");
    a.control("qmtproutes", &format!("c.test:[{ip}];6209\n"));
    a.control(
        "domaincerts",
        &format!(
            "a.test:{}|{}\nrogue.test:{}|{}\nexpired.test:{}|{}\n",
            s(&p.ecdsa.0),
            s(&p.ecdsa.1),
            s(&p.rogue.0),
            s(&p.rogue.1),
            s(&p.expired.0),
            s(&p.expired.1)
        ),
    );
    let dns = Dns::start(vec![]);
    let send = |sender: &str, tag: &str| {
        let msg = format!("Subject: {tag}\n\nbody\n");
        remote(&a, &dns, &["c.test", sender, "x@c.test"], msg.as_bytes())
    };
    let r = send("joe@a.test", "cert");
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r[0].starts_with("rqmtps:ok "), "{r:?}");
    assert_eq!(r[1], format!("KAll received okay by {ip}\n"));
    let queued: Vec<String> = queue_files(&b, "mess")
        .into_iter()
        .map(|(_, p)| fs::read_to_string(p).unwrap_or_default())
        .collect();
    assert_eq!(queued.len(), 1);
    assert!(
        queued[0].contains("(ecdsa.client@127.") && queued[0].contains(" with QMTPSA; "),
        "{}",
        queued[0]
    );
    assert!(queued[0].contains("DN=/CN=ecdsa.client"), "{}", queued[0]);
    for (sender, tag) in [
        ("joe@rogue.test", "rogue"),
        ("joe@expired.test", "expired"),
        ("joe@none.test", "none"),
    ] {
        let r = send(sender, tag);
        assert!(r.len() == 1 && r[0].starts_with('Z'), "{tag}: {r:?}");
    }
    assert_eq!(queue_files(&b, "mess").len(), 1, "nothing more queued");
}
