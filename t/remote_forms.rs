//! The `authsenders` and `tlsdestinations` forms of qmail-control(5) and
//! qmail-remote(8) end to end, and SMTPUTF8 (RFC 6531) for messages whose
//! header fields are UTF-8.

use std::fs;

use crate::common::queue::newly_queued;
use crate::common::remote::*;
use crate::common::tls::{ca_signed, self_signed};
use crate::common::ucspi::Server;

const MSG: &[u8] = b"Subject: forms\n\nbody\n";

/// A port on 127.0.0.2 where nobody listens.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.2:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn k(ip: &str) -> String {
    format!("K{ip} accepted message.\nRemote host said: 250 ok 1700000000 qp 4242\n")
}

const NO_CONN: &str = "ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n";

/// The last MAIL command a sink saw.
fn last_mail(s: &Sink) -> String {
    s.log()
        .into_iter()
        .rev()
        .find(|l| l.starts_with("MAIL"))
        .unwrap_or_default()
}

#[test]
fn authsenders_forms() {
    let h = home("forms-auth");
    let dns = Dns::start(vec![
        // A relay named in authsenders is resolved by address, not MX.
        mx("relay.test", 10, "elsewhere.test"),
        a("elsewhere.test", "127.0.0.9"),
        a("relay.test", "127.0.0.2"),
    ]);
    let authed = Sink::start(
        "127.0.0.2",
        Script {
            auth: Some(("u".into(), "p|q".into())),
            ..Script::default()
        },
    );
    let plain = Sink::start("127.0.0.3", Script::default());
    let (p2, p3, dead) = (authed.addr.port(), plain.addr.port(), dead_port());
    h.control("smtproutes", &format!(":[127.0.0.3];{p3}\n"));
    let send = |sender: &str| remote(&h, &dns, &["far.test", sender, "x@far.test"], MSG);
    let ok = vec!["r".to_string(), k("127.0.0.2")];
    let clear = vec!["r".to_string(), k("127.0.0.3")];

    // The whole address before @domain; the password may hold `|`.
    h.control(
        "authsenders",
        &format!("joe@example.com:[127.0.0.2];{p2}|u|p|q\n@example.com:[127.0.0.2];{dead}|u|p|q\n"),
    );
    assert_eq!(send("joe@example.com"), ok);
    assert_eq!(last_mail(&authed), "MAIL FROM:<joe@example.com> AUTH=u");
    assert_eq!(send("ann@example.com"), [NO_CONN]);
    // Keys are case-insensitive.
    assert_eq!(send("JOE@Example.COM"), ok);

    // `.domain` covers subdomains only; unmatched senders take smtproutes.
    h.control(
        "authsenders",
        &format!(".example.com:relay.test;{p2}|u|p|q\n"),
    );
    assert_eq!(send("joe@mail.example.com"), ok);
    assert_eq!(send("joe@example.com"), clear);
    assert_eq!(last_mail(&plain), "MAIL FROM:<joe@example.com>");

    // The empty key: every sender, bounces too.
    h.control("authsenders", &format!(":[127.0.0.2];{p2}|u|p|q\n"));
    assert_eq!(send("who@any.test"), ok);
    assert_eq!(send(""), ok);
    assert_eq!(last_mail(&authed), "MAIL FROM:<> AUTH=u");

    // An empty value is no match; a relay without credentials: no AUTH.
    h.control(
        "authsenders",
        &format!("joe@example.com:\nann@example.com:[127.0.0.2];{p2}\n:[127.0.0.2];{dead}\n"),
    );
    // (The empty value ends the search: not the empty key, smtproutes.)
    assert_eq!(send("joe@example.com"), clear);
    let n = authed
        .log()
        .iter()
        .filter(|l| l.starts_with("AUTH"))
        .count();
    assert_eq!(send("ann@example.com"), ok);
    assert_eq!(last_mail(&authed), "MAIL FROM:<ann@example.com>");
    assert_eq!(
        authed
            .log()
            .iter()
            .filter(|l| l.starts_with("AUTH"))
            .count(),
        n
    );

    // Wrong credentials: the AUTH report.
    h.control("authsenders", &format!(":[127.0.0.2];{p2}|u|wrong\n"));
    assert_eq!(
        send("joe@example.com"),
        [
            "ZConnected to 127.0.0.2 but authentication was rejected (login).\nRemote host said: 535 no\n"
        ]
    );
}

fn tls_sink(cfg: std::sync::Arc<rustls::ServerConfig>) -> Sink {
    Sink::start(
        "127.0.0.2",
        Script {
            tls: Some(cfg),
            ..Script::default()
        },
    )
}

fn tls_k() -> Vec<String> {
    vec![
        "r".to_string(),
        "K127.0.0.2 TLS transmitted message accepted.\nRemote host said: 250 ok 1700000000 qp 4242\n"
            .to_string(),
    ]
}

#[test]
fn tlsdestinations_forms() {
    let h = home("forms-tls");
    let dns = Dns::start(vec![
        a("relay.test", "127.0.0.2"),
        a("mx.wild.test", "127.0.0.2"),
    ]);
    let send = || {
        remote(
            &h,
            &dns,
            &["example.test", "a@client.test", "b@example.test"],
            MSG,
        )
    };
    let route = |relay: &str, s: &Sink| {
        h.control(
            "smtproutes",
            &format!("example.test:{relay};{}\n", s.addr.port()),
        )
    };
    let (ca, cfg) = ca_signed("relay.test");
    let (other_ca, _) = ca_signed("relay.test");

    // A CA directory (`dir/`): every readable PEM file in it counts;
    // a subdirectory and a file that is no PEM are passed over.
    let dir = h.path("control/cadir");
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("junk"), b"not a certificate\n").unwrap();
    fs::write(dir.join("other.pem"), &other_ca).unwrap();
    let s = tls_sink(cfg.clone());
    route("relay.test", &s);
    let rule = format!("relay.test:{}/\n", dir.display());
    h.control("tlsdestinations", &rule);
    assert_eq!(
        send(),
        ["Z Unable to verify X.500 certificate from: relay.test. (#4.4.1)\n"]
    );
    fs::write(dir.join("ca.pem"), &ca).unwrap();
    assert_eq!(send(), tls_k());
    // An empty directory: no CA at all.
    let empty = h.path("control/emptydir");
    fs::create_dir_all(&empty).unwrap();
    h.control(
        "tlsdestinations",
        &format!("relay.test:{}/\n", empty.display()),
    );
    assert_eq!(
        send(),
        ["Z I wasn't able to set up CAFILE or CADIR for TLS with: relay.test. (#4.4.1)\n"]
    );

    // The full value: cafile|ciphers|verifydepth;port|senderdomain. The
    // port comes from the rule (the route has none).
    h.control("smtproutes", "example.test:relay.test\n");
    let ca_file = h.path("control/ca.pem");
    fs::write(&ca_file, &ca).unwrap();
    h.control(
        "tlsdestinations",
        &format!(
            "relay.test:{}|HIGH:!aNULL|2;{}|client.test\n",
            ca_file.display(),
            s.addr.port()
        ),
    );
    assert_eq!(send(), tls_k());

    // `~dest`: a wildcard certificate for the host after routing.
    let (wca, wcfg) = ca_signed("*.wild.test");
    let wca_file = h.path("control/wca.pem");
    fs::write(&wca_file, &wca).unwrap();
    let s = tls_sink(wcfg);
    route("mx.wild.test", &s);
    h.control(
        "tlsdestinations",
        &format!("~.wild.test:{}\n", wca_file.display()),
    );
    assert_eq!(send(), tls_k());
    // `=host` with the same wildcard certificate (accepted, see the man page).
    h.control(
        "tlsdestinations",
        &format!("=mx.wild.test:{}\n", wca_file.display()),
    );
    assert_eq!(send(), tls_k());

    // `-dest`: mandatory TLS, no certificate check (self-signed is fine).
    let (ck, self_cfg) = self_signed(&["nobody.test"]);
    let s = tls_sink(self_cfg.clone());
    route("relay.test", &s);
    h.control("tlsdestinations", "-relay.test:\n");
    assert_eq!(send(), tls_k());
    // `%host:=hex` with a SHA-224 digest (56 hex digits).
    let pin: String = <sha2::Sha224 as sha2::Digest>::digest(ck.cert.der().as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    h.control("tlsdestinations", &format!("%relay.test:={pin}\n"));
    assert_eq!(send(), tls_k());
    // `=*` for every destination: the self-signed certificate fails.
    h.control("tlsdestinations", "=*:\n");
    let r = send();
    assert!(r[0].starts_with("Z Unable to verify"), "{r:?}");
    // `*`: opportunistic, any certificate.
    h.control("tlsdestinations", "*:\n");
    assert_eq!(send(), tls_k());
    // `!dest`: no STARTTLS although offered.
    h.control("tlsdestinations", "!.test:\n*:\n");
    assert_eq!(send(), ["r".to_string(), k("127.0.0.2")]);
    assert_eq!(s.log().iter().filter(|l| *l == "TLS").count(), 4);
    // `*` with a peer that has no STARTTLS: in clear; `+*` requires TLS.
    let s = Sink::start("127.0.0.2", Script::default());
    route("relay.test", &s);
    h.control("tlsdestinations", "*:\n");
    assert_eq!(send(), ["r".to_string(), k("127.0.0.2")]);
    h.control("tlsdestinations", "+*:\n");
    assert_eq!(
        send(),
        ["Z I wasn't able to negotiate a TLS connection with: relay.test. (#4.4.1)\n"]
    );
}

const UTF8_MSG: &str = "From: J\u{f6}rg <j@client.test>\nSubject: gr\u{fc}\u{df}e\n\nbody\n";

#[test]
fn smtputf8_for_utf8_header_fields() {
    let h = home("forms-utf8");
    let dns = Dns::start(vec![]);
    let send = |s: &Sink, sender: &str, msg: &[u8]| {
        h.control(
            "smtproutes",
            &format!("example.test:[127.0.0.2];{}\n", s.addr.port()),
        );
        remote(&h, &dns, &["example.test", sender, "b@example.test"], msg)
    };
    // Accepted, and the MAIL command it went out with.
    let accepted = |s: &Sink, sender: &str, msg: &[u8], mail: &str| {
        assert_eq!(send(s, sender, msg), ["r".to_string(), k("127.0.0.2")]);
        assert_eq!(last_mail(s), mail);
    };
    let legacy = Sink::start("127.0.0.2", Script::default());
    // UTF-8 header fields to a peer without SMTPUTF8: sent as 8-bit text.
    let eight_bit = "MAIL FROM:<a@client.test> BODY=8BITMIME";
    accepted(&legacy, "a@client.test", UTF8_MSG.as_bytes(), eight_bit);
    assert_eq!(
        send(&legacy, "j\u{f6}rg@client.test", MSG),
        [
            "DConnected to 127.0.0.2 but it does not offer SMTPUTF8, which a message with a non-ASCII address needs. (#5.6.7)\n"
        ]
    );
    // Raw Latin-1 in the header is no UTF-8: sent as before.
    let latin1 = b"Subject: gr\xfc\xdfe\n\nbody\n";
    accepted(&legacy, "a@client.test", latin1, eight_bit);
    // UTF-8 in the body only: 8BITMIME, no SMTPUTF8.
    let body_only = "Subject: x\n\ngr\u{fc}\u{df}e\n".as_bytes();
    accepted(&legacy, "a@client.test", body_only, eight_bit);

    let eai = Sink::start(
        "127.0.0.2",
        Script {
            ehlo: "250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8".into(),
            ..Script::default()
        },
    );
    let utf8 = "MAIL FROM:<a@client.test> BODY=8BITMIME SMTPUTF8";
    accepted(&eai, "a@client.test", UTF8_MSG.as_bytes(), utf8);
    accepted(&eai, "a@client.test", MSG, "MAIL FROM:<a@client.test>");
}

/// Our qmail-smtpd as the peer: with UTF8 set it offers SMTPUTF8 and
/// marks the message UTF8ESMTP; without, the message goes as 8-bit text.
#[test]
fn smtputf8_with_our_smtpd() {
    let b = home_b("forms-utf8-b");
    let server = |utf8: bool| plain_receiver(&b, if utf8 { &[("UTF8", "")] } else { &[] });
    let a = home("forms-utf8-a");
    let dns = Dns::start(vec![]);
    let send = |s: &Server| {
        a.control("smtproutes", &format!("b.test:[127.0.0.1];{}\n", s.port));
        remote(
            &a,
            &dns,
            &["b.test", "a@client.test", "x@b.test"],
            UTF8_MSG.as_bytes(),
        )
    };
    // One delivery through a fresh receiver: the newly queued message's text.
    let seen = std::cell::RefCell::new(Vec::new());
    let deliver = |utf8: bool| {
        let s = server(utf8);
        let r = send(&s);
        assert_eq!(r.len(), 2, "{r:?} {}", s.log_text());
        assert!(r[1].starts_with("K127.0.0.1 accepted message."), "{r:?}");
        let new = newly_queued(&b, &mut seen.borrow_mut());
        assert_eq!(new.len(), 1);
        fs::read_to_string(&new[0]).unwrap()
    };
    let text = deliver(false);
    assert!(!text.contains(" with UTF8ESMTP"), "{text}");
    let text = deliver(true);
    assert!(text.contains(" with UTF8ESMTP"), "{text}");
    assert!(text.contains("Subject: gr\u{fc}\u{df}e\n"), "{text}");
}
