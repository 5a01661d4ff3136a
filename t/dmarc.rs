//! DMARC in qmail-dkverify against the loopback DNS server: messages
//! signed by qmail-dkim (Ed25519) for one domain and another, policies
//! with p=, sp=, pct=, adkim=/aspf=, the organizational domain found with
//! the public suffix list, enforcement with DMARC=+ only, and the whole
//! chain qmail-smtpd (SPF) → qmail-dkverify (DKIM, DMARC) → queue with one
//! Authentication-Results field.

use std::path::PathBuf;

use crate::common::dkverify::dkverify;
use crate::common::remote::{Dns, DnsOpts, txt};
use crate::common::smtpd::{Smtpd, lines};
use crate::common::{QmailHome, run_with_input, skip};

/// Domains with the signing key published.
const SIGNERS: [&str; 4] = [
    "example.com",
    "mail.example.com",
    "other.example",
    "strict.example",
];

const BODY: &str = "To: ann@example.net\n\
Subject: policy\n\
Date: Mon, 7 Dec 2026 06:00:00 +0000\n\
\n\
Hello.\n";

struct World {
    h: QmailHome,
    key: PathBuf,
    dns: Dns,
    /// A public suffix list that knows only `com`.
    list: PathBuf,
}

fn world(name: &str) -> World {
    let h = QmailHome::new(name);
    h.control("me", "mx.example.net\n");
    let key = h.path("ed.pem");
    let k = key.to_str().unwrap();
    let openssl = |args: &[&str]| {
        let o = std::process::Command::new("openssl")
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "openssl {args:?}");
        o.stdout
    };
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", k]);
    let der = openssl(&["pkey", "-in", k, "-pubout", "-outform", "DER"]);
    let public = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&der[der.len() - 32..])
    };
    let record = format!("v=DKIM1; k=ed25519; p={public}");
    let mut zone: Vec<_> = SIGNERS
        .iter()
        .map(|d| txt(&format!("ed25519._domainkey.{d}"), &[&record]))
        .collect();
    for (name, rec) in [
        ("_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine"),
        (
            "_dmarc.strict.example",
            "v=DMARC1; p=reject; adkim=s; aspf=s",
        ),
        ("_dmarc.sampled.example", "v=DMARC1; p=reject; pct=0"),
        (
            "_dmarc.halved.example",
            "v=DMARC1; p=reject; pct=50; rua=mailto:r@halved.example",
        ),
        ("_dmarc.example.co.uk", "v=DMARC1; p=reject"),
        ("example.com", "v=spf1 ip4:192.0.2.0/24 -all"),
    ] {
        zone.push(txt(name, &[rec]));
    }
    let dns = Dns::start_with(
        zone,
        DnsOpts {
            servfail: vec!["_dmarc.down.example".into()],
            ..DnsOpts::default()
        },
    );
    let list = h.path("suffixes.dat");
    std::fs::write(&list, "// test list\ncom\n").unwrap();
    World { h, key, dns, list }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl World {
    /// The message from `from`, signed for `d` (unsigned without).
    fn message(&self, from: &str, d: Option<&str>) -> Vec<u8> {
        let msg = format!("From: {from}\n{BODY}");
        let Some(d) = d else {
            return msg.into_bytes();
        };
        let o = run_with_input(
            self.h
                .cmd("qmail-dkim")
                .args(["-d", d, "-s", "-", self.key.to_str().unwrap(), "-"]),
            msg.as_bytes(),
        );
        assert!(o.status.success(), "{}", text(&o.stderr));
        o.stdout
    }

    /// qmail-dkverify with `DMARC` set to `dmarc` (if any) and `more`.
    fn verify(
        &self,
        dmarc: Option<&str>,
        more: &[(&str, &str)],
        msg: &[u8],
    ) -> (Option<i32>, String) {
        let ip = self.dns.env();
        let mut env = vec![
            ("DNSCACHEIP", ip.as_str()),
            ("PUBLICSUFFIX", self.list.to_str().unwrap()),
        ];
        env.extend(dmarc.map(|d| ("DMARC", d)));
        env.extend_from_slice(more);
        let (code, queued) = dkverify(&self.h, &env, msg);
        if let Some(q) = &queued {
            assert!(q.ends_with(msg), "the message goes on unchanged");
        }
        (code, queued.map(|q| text(&q)).unwrap_or_default())
    }

    /// The DMARC line of the field qmail-dkverify wrote, annotating only.
    fn dmarc_line(&self, msg: &[u8]) -> String {
        let (code, got) = self.verify(None, &[], msg);
        assert_eq!(code, Some(0));
        got.lines()
            .find_map(|l| l.strip_prefix("\tdmarc="))
            .map(|l| format!("dmarc={l}"))
            .unwrap_or_else(|| panic!("no dmarc= in {got}"))
    }

    /// The DMARC line for a message from `from` signed for `d`.
    fn expect(&self, from: &str, d: &str, want: &str) {
        assert_eq!(
            self.dmarc_line(&self.message(from, Some(d))),
            want,
            "{from} {d}"
        );
    }

    fn asked(&self) -> Vec<String> {
        let q = self.dns.queries.lock().unwrap();
        q.iter()
            .filter(|l| l.contains("_dmarc."))
            .cloned()
            .collect()
    }
}

#[test]
fn aligned_pass_unaligned_fail_and_enforcement() {
    let w = world("dmarc-enforce");
    let aligned = w.message("Joe <joe@example.com>", Some("example.com"));
    let (code, got) = w.verify(Some("+"), &[], &aligned);
    assert_eq!(code, Some(0));
    assert!(
        got.starts_with(
            "Authentication-Results: mx.example.net;\n\
             \tdkim=pass header.d=example.com header.s=ed25519 header.a=ed25519-sha256;\n\
             \tdmarc=pass (p=reject) header.from=example.com\n"
        ),
        "{got}"
    );
    // Relaxed alignment: a subdomain's signature will do.
    w.expect(
        "joe@example.com",
        "mail.example.com",
        "dmarc=pass (p=reject) header.from=example.com",
    );

    // Signed, but by another domain: fail. Annotated by default...
    let unaligned = w.message("joe@example.com", Some("other.example"));
    assert!(
        w.dmarc_line(&unaligned)
            .starts_with("dmarc=fail (p=reject dis=reject)")
    );
    for off in [Some(""), Some("x"), Some("-")] {
        assert_eq!(w.verify(off, &[], &unaligned).0, Some(0), "{off:?}");
    }
    // ...refused with DMARC=+, the queue never run.
    assert_eq!(
        w.verify(Some("+"), &[], &unaligned),
        (Some(31), String::new())
    );
    let unsigned = w.message("joe@example.com", None);
    assert_eq!(
        w.verify(Some("+"), &[], &unsigned),
        (Some(31), String::new())
    );
    // Never our own users' mail (signed only on its way out).
    for relay in [("RELAYCLIENT", ""), ("AUTHUSER", "joe")] {
        let (code, got) = w.verify(Some("+"), &[relay], &unsigned);
        assert_eq!(code, Some(0), "{relay:?}");
        assert!(got.contains("\tdmarc=fail (p=reject dis=reject)"), "{got}");
    }
    assert_eq!(
        w.verify(Some("+"), &[("AUTHUSER", "")], &unsigned).0,
        Some(31)
    );
    // DMARC=- asks nothing and says nothing.
    let before = w.asked().len();
    let (_, got) = w.verify(Some("-"), &[], &unaligned);
    assert!(!got.contains("dmarc="), "{got}");
    assert_eq!(w.asked().len(), before);
}

#[test]
fn pct_and_sp() {
    let w = world("dmarc-pct");
    // pct=0: a failure is never refused; reject becomes quarantine.
    let msg = w.message("joe@sampled.example", Some("other.example"));
    let (code, got) = w.verify(Some("+"), &[], &msg);
    assert_eq!(code, Some(0));
    assert!(
        got.contains("\tdmarc=fail (p=reject dis=quarantine) header.from=sampled.example\n"),
        "{got}"
    );
    // pct=50: over 40 messages both dispositions show up.
    let msg = w.message("joe@halved.example", Some("other.example"));
    let mut seen = [false, false];
    for _ in 0..40 {
        match w.verify(Some("+"), &[], &msg) {
            (Some(31), _) => seen[0] = true,
            (Some(0), got) => {
                assert!(got.contains("dis=quarantine"), "{got}");
                seen[1] = true;
            }
            other => panic!("{other:?}"),
        }
        if seen == [true, true] {
            break;
        }
    }
    assert_eq!(seen, [true, true]);
    // A subdomain without a record of its own: the organizational
    // domain's record, and its sp=.
    w.expect(
        "joe@sub.example.com",
        "other.example",
        "dmarc=fail (p=quarantine dis=quarantine) header.from=sub.example.com",
    );
    let asked = w.asked();
    let n = asked.len();
    assert_eq!(
        asked[n - 2..],
        ["_dmarc.sub.example.com. TXT", "_dmarc.example.com. TXT"]
    );
    // sp=quarantine is not refused.
    let msg = w.message("joe@sub.example.com", Some("other.example"));
    assert_eq!(w.verify(Some("+"), &[], &msg).0, Some(0));
}

#[test]
fn strict_and_relaxed_alignment() {
    let w = world("dmarc-strict");
    w.expect(
        "joe@strict.example",
        "strict.example",
        "dmarc=pass (p=reject) header.from=strict.example",
    );
    // adkim=s: a signature of the parent domain for a subdomain's From
    // does not align (mail.strict.example has no record: strict.example's
    // applies, its p= as it has no sp=).
    w.expect(
        "joe@mail.strict.example",
        "strict.example",
        "dmarc=fail (p=reject dis=reject) header.from=mail.strict.example",
    );
    // aspf=s: SPF for the parent domain does not align either; for the
    // From domain itself it does.
    let unsigned = w.message("joe@strict.example", None);
    let spf = |d: &'static str| [("SPFRESULT", "pass"), ("SPFDOMAIN", d), ("MAILFROM", "b@x")];
    let (_, got) = w.verify(None, &spf("mail.strict.example"), &unsigned);
    assert!(got.contains("\tdmarc=fail"), "{got}");
    let (_, got) = w.verify(None, &spf("strict.example"), &unsigned);
    assert!(got.contains("\tdmarc=pass"), "{got}");
    // Relaxed (example.com): SPF for a subdomain aligns.
    let unsigned = w.message("joe@example.com", None);
    let (_, got) = w.verify(Some("+"), &spf("bounces.example.com"), &unsigned);
    assert!(
        got.starts_with(
            "Authentication-Results: mx.example.net;\n\
             \tspf=pass smtp.mailfrom=bounces.example.com;\n\
             \tdkim=none;\n\
             \tdmarc=pass (p=reject) header.from=example.com\n"
        ),
        "{got}"
    );
}

#[test]
fn errors_and_the_suffix_list() {
    let w = world("dmarc-errors");
    let msg = w.message("joe@down.example", Some("other.example"));
    let (code, got) = w.verify(Some("+"), &[], &msg);
    assert_eq!(code, Some(0), "a DNS failure never refuses");
    assert!(
        got.contains(
            "\tdmarc=temperror (no answer for _dmarc.down.example) header.from=down.example\n"
        ),
        "{got}"
    );
    let two = [
        &b"From: a@example.com\n"[..],
        &w.message("b@example.com", Some("example.com")),
    ]
    .concat();
    assert_eq!(w.dmarc_line(&two), "dmarc=permerror (several From fields)");
    w.expect(
        "joe@nothing.example",
        "other.example",
        "dmarc=none header.from=nothing.example",
    );

    // A list in which example.com is itself a public suffix: the
    // subdomain is its own organizational domain, with no policy.
    std::fs::write(&w.list, "com\nexample.com\n").unwrap();
    let msg = w.message("joe@sub.example.com", Some("other.example"));
    assert_eq!(w.dmarc_line(&msg), "dmarc=none header.from=sub.example.com");

    // A list that cannot be read: the default rule, said on stderr.
    let gone = w.h.path("no-such-list.dat");
    let ip = w.dns.env();
    let msg = w.message("joe@mail.example.co.uk", Some("other.example"));
    let o = run_with_input(
        w.h.cmd("qmail-dkverify")
            .env("DKIMQUEUE", "/bin/true")
            .env("DNSCACHEIP", &ip)
            .env("PUBLICSUFFIX", &gone),
        &msg,
    );
    assert_eq!(o.status.code(), Some(0));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("qmail-dkverify: warning: unable to read public suffix list ")
            && err.contains(gone.to_str().unwrap()),
        "{err}"
    );

    // The system's list (Debian's publicsuffix): co.uk is a suffix.
    let system = "/usr/share/publicsuffix/public_suffix_list.dat";
    if !std::path::Path::new(system).exists() {
        return skip("publicsuffix not installed (package/testdeps)");
    }
    std::fs::write(&w.list, "").unwrap();
    let msg = w.message("joe@mail.example.co.uk", Some("other.example"));
    let (code, got) = w.verify(Some("+"), &[("PUBLICSUFFIX", "")], &msg);
    assert_eq!((code, got), (Some(31), String::new()));
    assert_eq!(w.asked().last().unwrap(), "_dmarc.example.co.uk. TXT");
}

/// A forged field claiming our authserv-id goes; the one field carries
/// qmail-smtpd's SPF result, the DKIM result and DMARC, end to end:
/// qmail-smtpd → qmail-dkverify → queue.
#[test]
fn one_field_through_qmail_smtpd() {
    let w = world("dmarc-smtpd");
    let s = Smtpd::new("dmarc-smtpd-b");
    s.h.control("me", "mx.example.net\n");
    let signed = w.message("Joe <joe@example.com>", Some("example.com"));
    let forged = [
        &b"Authentication-Results: mx.example.net; spf=pass; dkim=pass; dmarc=pass\n"[..],
        &signed,
    ]
    .concat();
    let data = |m: &[u8]| {
        let mut d = text(m).replace('\n', "\r\n");
        d.push_str(".\r\n");
        d
    };
    let session = |from: &str, m: &[u8]| {
        format!(
            "EHLO mx.client.example\r\nMAIL FROM:<{from}>\r\nRCPT TO:<ann@example.com>\r\nDATA\r\n{}QUIT\r\n",
            data(m)
        )
    };
    let (ip, qq) = (w.dns.env(), s.h.path("bin/fakeqq"));
    let env = [
        ("QMAILQUEUE", "bin/qmail-dkverify"),
        ("DKIMQUEUE", qq.to_str().unwrap()),
        ("DNSCACHEIP", ip.as_str()),
        ("PUBLICSUFFIX", w.list.to_str().unwrap()),
        ("SPF", "1"),
        ("DMARC", "+"),
    ];
    let out = s.run(&env, session("bounce@example.com", &forged).as_bytes());
    assert!(
        lines(&out.stdout).iter().any(|l| l.starts_with("250 ok ")),
        "{:?} {}",
        lines(&out.stdout),
        text(&out.stderr)
    );
    let got = s.msg().unwrap();
    let field = "Authentication-Results: mx.example.net;\n\
        \tspf=pass smtp.mailfrom=example.com;\n\
        \tdkim=pass header.d=example.com header.s=ed25519 header.a=ed25519-sha256;\n\
        \tdmarc=pass (p=reject) header.from=example.com\n";
    assert!(got.starts_with(field), "{got}");
    assert_eq!(got.matches("Authentication-Results:").count(), 1, "{got}");
    // qmail-smtpd's own lines stay, the message after them is unchanged.
    let rest = &got[field.len()..];
    assert!(rest.starts_with("Received-SPF:  pass ("), "{rest}");
    assert!(got.ends_with(&text(&signed)), "{got}");

    // Unsigned and from a host SPF refuses: fail, refused by the chain
    // with qmail-queue's permanent code, so qmail-smtpd answers 554.
    let unsigned = w.message("joe@example.com", None);
    std::fs::remove_file(s.h.path("msg")).unwrap();
    let out = s.run(
        &[&env[..], &[("TCPREMOTEIP", "198.51.100.9")]].concat(),
        session("joe@example.com", &unsigned).as_bytes(),
    );
    assert!(
        lines(&out.stdout).iter().any(|l| l.starts_with("554 ")),
        "{:?}",
        lines(&out.stdout)
    );
    assert!(s.msg().is_none());
    // The same without enforcement: delivered with the whole story.
    let env_off: Vec<_> = env.iter().filter(|(k, _)| *k != "DMARC").copied().collect();
    let out = s.run(
        &[&env_off[..], &[("TCPREMOTEIP", "198.51.100.9")]].concat(),
        session("joe@example.com", &unsigned).as_bytes(),
    );
    assert!(lines(&out.stdout).iter().any(|l| l.starts_with("250 ok ")));
    assert!(
        s.msg().unwrap().starts_with(
            "Authentication-Results: mx.example.net;\n\
             \tspf=fail smtp.mailfrom=example.com;\n\
             \tdkim=none;\n\
             \tdmarc=fail (p=reject dis=reject) header.from=example.com\n"
        ),
        "{}",
        s.msg().unwrap()
    );
}
