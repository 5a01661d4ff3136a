//! sslserver and sslclient: handshakes with rustls and openssl clients,
//! TLS versions, client certificates, broken handshakes, delayed TLS.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, StreamOwned, SupportedProtocolVersion,
};

use crate::common::fresh_dir;
use crate::common::tls::have_openssl;
use crate::common::ucspi::{Server, prog};

/// Certificates made for one test: a CA, a server and a client certificate
/// it signed, and a client certificate from a CA nobody trusts.
struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    ca_der: CertificateDer<'static>,
    cert: PathBuf,
    key: PathBuf,
    client: (PathBuf, PathBuf),
    rogue: (PathBuf, PathBuf),
}

fn write_pair(dir: &Path, name: &str, cert: &str, key: &KeyPair) -> (PathBuf, PathBuf) {
    let (c, k) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

fn ca(cn: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, cn);
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    cn: &str,
    names: &[&str],
    dir: &Path,
    file: &str,
) -> (PathBuf, PathBuf) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut p = CertificateParams::new(names).unwrap();
    p.distinguished_name.push(DnType::CountryName, "DE");
    p.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    write_pair(dir, file, &cert.pem(), &key)
}

fn pki(name: &str) -> Pki {
    let dir = fresh_dir(name);
    let ca1 = ca("Test CA");
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca1.pem()).unwrap();
    let (cert, key) = leaf(
        &ca1,
        "localhost",
        &["localhost", "127.0.0.1"],
        &dir,
        "server",
    );
    let client = leaf(&ca1, "client.example", &["client.example"], &dir, "client");
    let rogue = leaf(
        &ca("Rogue CA"),
        "rogue.example",
        &["rogue.example"],
        &dir,
        "rogue",
    );
    Pki {
        ca_der: ca1.der().clone(),
        dir,
        ca: ca_path,
        cert,
        key,
        client,
        rogue,
    }
}

/// sslserver with the PKI's certificate, `-1 -H -l 0` and `args`.
fn sslserver(p: &Pki, args: &[&str], program: &[&str]) -> Server {
    let mut c = prog("sslserver");
    c.env("CERTFILE", &p.cert)
        .env("KEYFILE", &p.key)
        .arg("-1")
        .args(["-H", "-l", "0"])
        .args(args)
        .args(["127.0.0.1", "0"])
        .args(program);
    Server::start(c, &p.dir).unwrap()
}

const SHOW: &[&str] = &[
    "sh",
    "-c",
    "echo $PROTO $SSL_PROTOCOL $SSL_CIPHER $TCPREMOTEIP $SSLREMOTEIP; echo client=$SSL_CLIENT_S_DN_CN",
];

fn client_config(
    p: &Pki,
    versions: &[&'static SupportedProtocolVersion],
    client: Option<&(PathBuf, PathBuf)>,
) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(p.ca_der.clone()).unwrap();
    let b = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    match client {
        None => b.with_no_client_auth(),
        Some((c, k)) => {
            let certs: Vec<_> = CertificateDer::pem_file_iter(c)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            b.with_client_auth_cert(certs, PrivateKeyDer::from_pem_file(k).unwrap())
                .unwrap()
        }
    }
}

/// A rustls client for "localhost" over `sock`.
fn tls_over(sock: TcpStream, config: ClientConfig) -> StreamOwned<ClientConnection, TcpStream> {
    let conn = ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
        .unwrap();
    StreamOwned::new(conn, sock)
}

/// A rustls client: everything the server sent, or the error.
fn tls_fetch(port: u16, config: ClientConfig) -> std::io::Result<String> {
    let sock = TcpStream::connect(("127.0.0.1", port))?;
    sock.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut s = tls_over(sock, config);
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn tls13_and_tls12_handshakes() {
    let p = pki("tls-versions");
    let s = sslserver(&p, &["-v", "-V", "-s", "-e"], SHOW);
    let v13 = tls_fetch(s.port, client_config(&p, &[&rustls::version::TLS13], None)).unwrap();
    assert_eq!(
        v13,
        "TCP TLSv1.3 TLS_AES_256_GCM_SHA384 127.0.0.1 127.0.0.1\nclient=\n"
    );
    let v12 = tls_fetch(s.port, client_config(&p, &[&rustls::version::TLS12], None)).unwrap();
    assert_eq!(
        v12,
        "TCP TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384 127.0.0.1 127.0.0.1\nclient=\n"
    );
    let log = s.wait_log("accept TLSv1.2:ECDHE-ECDSA-AES256-GCM-SHA384\n");
    assert!(
        log.contains("accept TLSv1.3:TLS_AES_256_GCM_SHA384\n"),
        "{log}"
    );
    // Without -e only the SSL variables, PROTO=SSL.
    let s = sslserver(&p, &["-s"], SHOW);
    let out = tls_fetch(s.port, client_config(&p, &[&rustls::version::TLS13], None)).unwrap();
    assert!(
        out.starts_with("SSL TLSv1.3 TLS_AES_256_GCM_SHA384 127.0.0.1\n"),
        "{out}"
    );
}

/// `openssl s_client` with extra arguments; returns (success, stdout+stderr).
fn s_client(port: u16, ca: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-CAfile")
        .arg(ca)
        .arg("-ign_eof")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn openssl_s_client_versions() {
    if !have_openssl() {
        return crate::common::skip("openssl not installed (package/testdeps)");
    }
    let p = pki("tls-openssl");
    let s = sslserver(&p, &["-s", "-e"], SHOW);
    let (ok, text) = s_client(s.port, &p.ca, &["-tls1_3"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("TCP TLSv1.3 TLS_AES_256_GCM_SHA384 127.0.0.1"),
        "{text}"
    );
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    let (ok, text) = s_client(s.port, &p.ca, &["-tls1_2"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("TCP TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384"),
        "{text}"
    );
    for old in ["-tls1_1", "-tls1"] {
        let (_, text) = s_client(s.port, &p.ca, &[old, "-cipher", "DEFAULT@SECLEVEL=0"]);
        assert!(!text.contains("TCP TLS"), "{old}: {text}");
    }
    // The server still answers after the refusals.
    let (ok, text) = s_client(s.port, &p.ca, &[]);
    assert!(ok && text.contains("TCP TLSv1.3"), "{text}");
    let log = s.log_text();
    assert!(
        log.contains("sslserver: warning: dropping SSL connection, unable to accept SSL"),
        "{log}"
    );
}

#[test]
fn client_certificates() {
    let p = pki("tls-clientcert");
    let mut c = prog("sslserver");
    c.env("CERTFILE", &p.cert)
        .env("KEYFILE", &p.key)
        .env("CCAFILE", &p.ca)
        .args(["-1", "-H", "-l", "0", "-m", "-s", "-e", "127.0.0.1", "0"])
        .args(SHOW);
    let s = Server::start(c, &p.dir).unwrap();
    let v13 = &[&rustls::version::TLS13][..];
    let ok = tls_fetch(s.port, client_config(&p, v13, Some(&p.client))).unwrap();
    assert!(ok.ends_with("client=client.example\n"), "{ok}");
    let ok12 = tls_fetch(
        s.port,
        client_config(&p, &[&rustls::version::TLS12], Some(&p.client)),
    )
    .unwrap();
    assert!(ok12.ends_with("client=client.example\n"), "{ok12}");
    assert!(tls_fetch(s.port, client_config(&p, v13, None)).is_err());
    assert!(tls_fetch(s.port, client_config(&p, v13, Some(&p.rogue))).is_err());
    let log = s.log_text();
    assert!(log.contains("dropping SSL connection"), "{log}");
    // Still serving.
    assert!(tls_fetch(s.port, client_config(&p, v13, Some(&p.client))).is_ok());
}

/// An intermediate CA under `issuer`.
fn intermediate(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    cn: &str,
) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, cn);
    CertifiedIssuer::signed_by(p, KeyPair::generate().unwrap(), issuer).unwrap()
}

/// VERIFYDEPTH: at most that many intermediate CAs between a client's
/// certificate and the trust anchor, 1 when unset (ucspi-ssl's default).
#[test]
fn client_chain_depth() {
    let p = pki("tls-depth");
    let ca1 = ca("Depth Root");
    let root = p.dir.join("root.pem");
    std::fs::write(&root, ca1.pem()).unwrap();
    let int1 = intermediate(&ca1, "Intermediate 1");
    let int2 = intermediate(&int1, "Intermediate 2");
    // Client files: the leaf followed by the intermediates it needs.
    let chain = |issuer: &CertifiedIssuer<'static, KeyPair>, above: &[&str], name: &str| {
        let (c, k) = leaf(issuer, name, &[name], &p.dir, name);
        let mut pem = std::fs::read_to_string(&c).unwrap();
        for a in above {
            pem.push_str(a);
        }
        std::fs::write(&c, pem).unwrap();
        (c, k)
    };
    let one = chain(&int1, &[&int1.pem()], "one.example");
    let two = chain(&int2, &[&int2.pem(), &int1.pem()], "two.example");
    let start = |depth: Option<&str>| {
        let mut c = prog("sslserver");
        c.env("CERTFILE", &p.cert)
            .env("KEYFILE", &p.key)
            .env("CCAFILE", &root)
            .args([
                "-1",
                "-v",
                "-H",
                "-l",
                "0",
                "-m",
                "-s",
                "-e",
                "127.0.0.1",
                "0",
            ])
            .args(SHOW);
        if let Some(d) = depth {
            c.env("VERIFYDEPTH", d);
        }
        Server::start(c, &p.dir).unwrap()
    };
    let v13 = &[&rustls::version::TLS13][..];
    let s = start(None);
    let ok = tls_fetch(s.port, client_config(&p, v13, Some(&one))).unwrap();
    assert!(ok.ends_with("client=one.example\n"), "{ok}");
    assert!(tls_fetch(s.port, client_config(&p, v13, Some(&two))).is_err());
    let log = s.wait_log("ChainLongerThanVerifyDepth(1)");
    assert!(log.contains("dropping SSL connection"), "{log}");
    let s = start(Some("2"));
    let ok = tls_fetch(s.port, client_config(&p, v13, Some(&two))).unwrap();
    assert!(ok.ends_with("client=two.example\n"), "{ok}");
    let s = start(Some("0"));
    assert!(tls_fetch(s.port, client_config(&p, v13, Some(&one))).is_err());
    s.wait_log("ChainLongerThanVerifyDepth(0)");
}

/// A script without `#!` is not run by a shell, whether the TLS process
/// spawns the program or forks for it (`-s` in immediate mode), as with
/// ucspi-ssl's pathexec.
#[test]
fn script_without_header_is_not_run() {
    use std::os::unix::fs::PermissionsExt;
    let p = pki("tls-noheader");
    let script = p.dir.join("noheader");
    std::fs::write(&script, "echo ran\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let v13 = &[&rustls::version::TLS13][..];
    for way in [&["-v"][..], &["-v", "-s"][..]] {
        let s = sslserver(&p, way, &[script.to_str().unwrap()]);
        let out = tls_fetch(s.port, client_config(&p, v13, None)).unwrap_or_default();
        assert!(!out.contains("ran"), "{way:?}: {out}");
        let log = s.wait_log("unable to run");
        assert!(
            log.contains("sslserver: fatal: unable to run: "),
            "{way:?}: {log}"
        );
    }
}

#[test]
fn broken_handshakes_do_not_kill_the_server() {
    let p = pki("tls-broken");
    let s = sslserver(&p, &["-T", "1", "-v"], &["echo", "fine"]);
    // Half a ClientHello, then gone.
    {
        let mut t = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        t.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
            .unwrap();
    }
    // Garbage.
    {
        let mut t = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        t.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut rest = Vec::new();
        let _ = t.read_to_end(&mut rest);
    }
    // Silent until the -T timeout.
    let silent = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let log = s.wait_log("timed out");
    drop(silent);
    assert!(log.contains("unable to accept SSL"), "{log}");
    let out = tls_fetch(s.port, client_config(&p, &[&rustls::version::TLS13], None)).unwrap();
    assert_eq!(out, "fine\n");
}

#[test]
fn delayed_tls_ucspi_tls() {
    let p = pki("tls-delayed");
    let script = "echo plain:$PROTO:$SSLCTLFD$SSLREADFD$SSLWRITEFD; read x; \
                  printf y >&3; exec <&4 >&5; echo secure:$x; read y; echo got:$y";
    let s = sslserver(&p, &["-n", "-e"], &["sh", "-c", script]);
    let sock = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut line = String::new();
    let mut r = BufReader::new(sock.try_clone().unwrap());
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "plain:TCP:345\n");
    (&sock).write_all(b"STARTTLS\n").unwrap();
    let mut tls = tls_over(sock, client_config(&p, &[&rustls::version::TLS13], None));
    tls.write_all(b"inside\n").unwrap();
    let mut out = String::new();
    tls.read_to_string(&mut out).unwrap();
    assert_eq!(out, "secure:STARTTLS\ngot:inside\n");
    // `Y`: the variable block comes back over the control socket.
    let script = "echo plain; read x; printf Y >&3; exec <&4 >&5; \
                  while IFS= read -r -d '' kv <&3 && [ -n \"$kv\" ]; do export \"$kv\"; done; \
                  echo $SSL_PROTOCOL:$SSL_CIPHER:$SSL_SERVER_S_DN_CN:$SSL_CLIENT_VERIFY";
    let s = sslserver(&p, &["-n"], &["bash", "-c", script]);
    let sock = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let mut r = BufReader::new(sock.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "plain\n");
    (&sock).write_all(b"STARTTLS\n").unwrap();
    let mut tls = tls_over(sock, client_config(&p, &[&rustls::version::TLS12], None));
    let mut out = String::new();
    tls.read_to_string(&mut out).unwrap();
    assert_eq!(
        out,
        "TLSv1.2:ECDHE-ECDSA-AES256-GCM-SHA384:localhost:NONE\n"
    );

    // A program that never asks for TLS: plaintext only, its status kept.
    let s = sslserver(&p, &["-n", "-v"], &["sh", "-c", "echo bye; exit 3"]);
    let mut t = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let mut text = String::new();
    t.read_to_string(&mut text).unwrap();
    assert_eq!(text, "bye\n");
    s.wait_log(" status 768\n");
}

#[test]
fn certificate_renewal_needs_no_restart() {
    let p = pki("tls-reload");
    let s = sslserver(
        &p,
        &["-s"],
        &["sh", "-c", "echo $SSL_SERVER_S_DN_CN $SSL_SERVER_S_DN"],
    );
    let v13 = &[&rustls::version::TLS13][..];
    assert_eq!(
        tls_fetch(s.port, client_config(&p, v13, None)).unwrap(),
        "localhost /CN=localhost/C=DE\n"
    );
    // A renewed certificate (new CN, same names) replaces the files.
    let issuer = {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Other CA");
        CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
    };
    let (c, k) = leaf(&issuer, "renewed", &["localhost"], &p.dir, "renewed");
    std::fs::write(&p.ca, issuer.pem()).unwrap();
    let mut p2 = pki("tls-reload-2");
    p2.ca_der = issuer.der().clone();
    std::fs::rename(&k, &p.key).unwrap();
    std::fs::rename(&c, &p.cert).unwrap();
    assert_eq!(
        tls_fetch(s.port, client_config(&p2, v13, None)).unwrap(),
        "renewed /CN=renewed/C=DE\n"
    );
}

#[test]
fn sslclient_talks_to_sslserver() {
    let p = pki("tls-client");
    let s = sslserver(
        &p,
        &["-s"],
        &["sh", "-c", "read x; echo srv:$x:$SSL_PROTOCOL"],
    );
    let out = prog("sslclient")
        .args(["-a"])
        .arg(&p.ca)
        .args([
            "-s",
            "-e",
            "-H",
            "-l",
            "0",
            "localhost",
            &s.port.to_string(),
        ])
        .args([
            "sh",
            "-c",
            "echo ping >&7; cat <&6; echo cli:$PROTO:$SSL_SERVER_S_DN_CN:$SSL_PROTOCOL",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "srv:ping:TLSv1.3\ncli:TCP:localhost:TLSv1.3\n"
    );
    // An unknown CA: refused.
    let out = prog("sslclient")
        .args(["-H", "localhost", &s.port.to_string(), "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
}

#[test]
fn openssl_starttls_smtp_with_qmail_smtpd() {
    if !have_openssl() {
        return crate::common::skip("openssl not installed (package/testdeps)");
    }
    let p = pki("tls-starttls");
    let h = crate::common::QmailHome::new("tls-starttls-home");
    h.control("me", "mx.example\n");
    h.control("rcpthosts", "example.com\n");
    let mut c = h.cmd("sslserver");
    c.env("CERTFILE", &p.cert)
        .env("KEYFILE", &p.key)
        .env("UCSPITLS", "")
        .args(["-1", "-n", "-e", "-H", "-l", "mx.example", "127.0.0.1", "0"])
        .arg(crate::common::bin("qmail-smtpd"));
    let s = Server::start(c, &p.dir).unwrap();
    let out = crate::common::run_with_input(
        Command::new("openssl")
            .arg("s_client")
            .arg("-connect")
            .arg(format!("127.0.0.1:{}", s.port))
            .arg("-CAfile")
            .arg(&p.ca)
            .args(["-starttls", "smtp", "-crlf", "-ign_eof"]),
        b"EHLO client.example\nQUIT\n",
    );
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384"),
        "{text}"
    );
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    assert!(text.contains("250-mx.example"), "{text}");
    assert!(text.contains("221 "), "{text}");
}

/// The TLS process starts the program itself (no -u/-g, not -s in
/// immediate mode) or forks it (-s: the variables come from the handshake):
/// the program's environment is the same either way.
#[test]
fn spawned_and_forked_programs_agree() {
    let p = pki("tls-paths");
    let v13 = &[&rustls::version::TLS13][..];
    let mut envs = Vec::new();
    for export in [&["-e"][..], &["-e", "-s"][..]] {
        let s = sslserver(&p, export, &["env"]);
        let text = tls_fetch(s.port, client_config(&p, v13, None)).unwrap();
        let env: std::collections::BTreeMap<String, String> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .filter(|(k, _)| {
                let ucspi = k.starts_with("TCP") || k.starts_with("SSL") || *k == "PROTO";
                ucspi && !k.starts_with("SSL_") && !k.ends_with("PORT")
            })
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        envs.push(env);
    }
    assert_eq!(envs[0], envs[1]);
    assert_eq!(envs[0]["SSLCTLFD"], "3");
    assert_eq!(envs[0]["SSLREADFD"], "4");
    assert_eq!(envs[0]["SSLWRITEFD"], "5");
    assert_eq!(envs[0]["TCPREMOTEIP"], "127.0.0.1");
    assert_eq!(envs[0]["PROTO"], "TCP");
}

/// `key` as PKCS#8 encrypted by openssl (PBES2, AES-256-CBC) with `pass`.
fn encrypt_key(key: &Path, pass: &str) -> PathBuf {
    let out = key.with_extension("enc");
    let st = Command::new("openssl")
        .args(["pkcs8", "-topk8", "-v2", "aes256", "-passout"])
        .arg(format!("pass:{pass}"))
        .arg("-in")
        .arg(key)
        .arg("-out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    out
}

/// Our program `name`, started by sh with descriptor 3 reading `file`;
/// its arguments are to be added.
fn with_fd3(name: &str, file: &Path) -> Command {
    let mut c = Command::new("sh");
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .args(["-c", "f=$1; shift; exec \"$@\" 3<\"$f\"", "sh"])
        .arg(file)
        .arg(crate::common::bin(name));
    c
}

#[test]
fn encrypted_keys_with_passphrase_on_fd3() {
    if !have_openssl() {
        return crate::common::skip("openssl not installed (package/testdeps)");
    }
    let p = pki("tls-passphrase");
    let pass = p.dir.join("pass");
    // NUL-terminated: what follows the NUL is not part of the passphrase.
    std::fs::write(&pass, b"s3cret phrase\0not part of it").unwrap();
    let enc = encrypt_key(&p.key, "s3cret phrase");
    let server_args = |c: &mut Command, key: &Path, extra: &[&str], program: &str| {
        c.env("CERTFILE", &p.cert)
            .env("KEYFILE", key)
            .args(["-1", "-H", "-l", "0"])
            .args(extra)
            .args(["127.0.0.1", "0", "sh", "-c", program]);
    };
    let mut c = with_fd3("sslserver", &pass);
    server_args(&mut c, &enc, &["-3", "-s"], "echo $SSL_SERVER_S_DN_CN");
    let s = Server::start(c, &p.dir).unwrap();
    let v13 = &[&rustls::version::TLS13][..];
    assert_eq!(
        tls_fetch(s.port, client_config(&p, v13, None)).unwrap(),
        "localhost\n"
    );
    // A renewed certificate with a new key under the same passphrase: the
    // reload before the next accept still has the passphrase.
    let issuer = ca("Renewal CA");
    let (c2, k2) = leaf(&issuer, "renewed", &["localhost"], &p.dir, "renewed");
    let enc2 = encrypt_key(&k2, "s3cret phrase");
    let mut p2 = pki("tls-passphrase-2");
    p2.ca_der = issuer.der().clone();
    std::fs::write(&p2.ca, issuer.pem()).unwrap();
    std::fs::rename(&enc2, &enc).unwrap();
    std::fs::rename(&c2, &p.cert).unwrap();
    assert_eq!(
        tls_fetch(s.port, client_config(&p2, v13, None)).unwrap(),
        "renewed\n"
    );
    drop(s);

    // Wrong passphrase, or none: exit 111 at startup, nothing of the
    // passphrase in the message.
    let wrong = p.dir.join("wrong");
    std::fs::write(&wrong, b"s3cret phrasE\0").unwrap();
    let mut c = with_fd3("sslserver", &wrong);
    server_args(&mut c, &enc, &["-3"], "true");
    let out = c.stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(111), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        format!(
            "sslserver: fatal: unable to load key: {}: wrong passphrase or damaged key\n",
            enc.display()
        )
    );
    let mut c = prog("sslserver");
    server_args(&mut c, &enc, &[], "true");
    let out = c.stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(111), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.ends_with("encrypted key, and no passphrase (-3)\n"),
        "{err}"
    );

    // sslclient -3: an encrypted client key, for a server that wants one.
    let mut c = with_fd3("sslserver", &pass);
    c.env("CCAFILE", &p.ca);
    server_args(
        &mut c,
        &enc,
        &["-3", "-m", "-s"],
        "echo srv:$SSL_CLIENT_S_DN_CN",
    );
    let s = Server::start(c, &p.dir).unwrap();
    let client_enc = encrypt_key(&p.client.1, "s3cret phrase");
    let out = with_fd3("sslclient", &pass)
        .args(["-3", "-a"])
        .arg(&p2.ca)
        .arg("-c")
        .arg(&p.client.0)
        .arg("-k")
        .arg(&client_enc)
        .args(["-H", "-l", "0", "localhost", &s.port.to_string()])
        .args(["sh", "-c", "cat <&6"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "srv:client.example\n");
}
