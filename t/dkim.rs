//! DKIM against independent implementations: qmail-dkim's signatures
//! (RSA and Ed25519, every canonicalization) verified by dkimpy and by
//! OpenDKIM, theirs verified by qmail-dkim, keys served by the loopback DNS
//! server (the RSA record split over two TXT strings); and qmail-dkim -v's results and
//! exit codes for tampered, unsigned and undecidable messages;
//! qmail-dksign in front of qmail-remote and qmail-dkverify in front of
//! qmail-queue, chained: signed on the way out, checked on the way in.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::remote::{Dns, DnsOpts, txt};
use crate::common::{QmailHome, run_with_input, script, skip};

const PYTHON: &str = "/usr/bin/python3";
const CANONS: [&str; 4] = [
    "simple/simple",
    "simple/relaxed",
    "relaxed/simple",
    "relaxed/relaxed",
];

const MSG: &[u8] = b"From: Joe Example <joe@example.com>\n\
To: ann@example.net\n\
Subject: DKIM  test\n\
\twith a folded subject\n\
Date: Mon, 7 Dec 2026 06:00:00 +0000\n\
Message-ID: <1@example.com>\n\
\n\
Hello  there, \t\n\
a second line\n\
\n\
\n";

/// The peer is there: dkimpy and its DNS library for the system python.
fn have_dkimpy() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import dkim, dns.resolver, nacl"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let o = Command::new("openssl").args(args).output().unwrap();
    assert!(o.status.success(), "openssl {args:?}: {o:?}");
    o.stdout
}

fn b64(d: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(d)
}

/// Keys made by openssl: PEM files for us, dkimpy's forms (PKCS#1 for
/// RSA, the bare base64 seed for Ed25519), and the zone publishing them.
struct Keys {
    rsa: PathBuf,
    rsa1: PathBuf,
    ed: PathBuf,
    ed_seed: PathBuf,
    dns: Dns,
}

fn keys(h: &QmailHome, opts: DnsOpts) -> Keys {
    let p = |n: &str| h.path(n);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (rsa, rsa1, ed, ed_seed) = (p("rsa.pem"), p("rsa1.pem"), p("ed.pem"), p("ed.seed"));
    let gen_rsa = [
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
    ];
    openssl(&[&gen_rsa[..], &["-out", &s(&rsa)]].concat());
    openssl(&["pkey", "-in", &s(&rsa), "-traditional", "-out", &s(&rsa1)]);
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", &s(&ed)]);
    let ed_der = openssl(&["pkey", "-in", &s(&ed), "-outform", "DER"]);
    std::fs::write(&ed_seed, b64(&ed_der[ed_der.len() - 32..])).unwrap();
    let rsa_pub = b64(&openssl(&[
        "pkey",
        "-in",
        &s(&rsa),
        "-pubout",
        "-outform",
        "DER",
    ]));
    let ed_pub = openssl(&["pkey", "-in", &s(&ed), "-pubout", "-outform", "DER"]);
    let rsa_rec = format!("v=DKIM1; k=rsa; p={rsa_pub}");
    let (a, b) = rsa_rec.split_at(200);
    let zone = vec![
        txt("default._domainkey.example.com", &[a, b]),
        txt(
            "ed25519._domainkey.example.com",
            &[&format!(
                "v=DKIM1; k=ed25519; p={}",
                b64(&ed_pub[ed_pub.len() - 32..])
            )],
        ),
        txt("revoked._domainkey.example.com", &["v=DKIM1; p="]),
    ];
    Keys {
        rsa,
        rsa1,
        ed,
        ed_seed,
        dns: Dns::start_with(zone, opts),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn dkimpy(dns: &Dns, args: &[&str], input: &[u8]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("t/data/dkimpy.py");
    let port = dns.addr.port().to_string();
    let o = run_with_input(Command::new(PYTHON).arg(script).arg(port).args(args), input);
    assert!(o.status.success(), "dkimpy {args:?}: {}", text(&o.stderr));
    o
}

fn qmail_dkim(h: &QmailHome, dns: &Dns, args: &[&str], input: &[u8]) -> Output {
    run_with_input(
        h.cmd("qmail-dkim").args(args).env("DNSCACHEIP", dns.env()),
        input,
    )
}

#[test]
fn ours_verified_by_dkimpy() {
    if !have_dkimpy() {
        return skip("python3-dkim not installed (package/testdeps)");
    }
    let h = QmailHome::new("dkim-ours");
    let k = keys(&h, DnsOpts::default());
    std::fs::write(h.path("msg"), MSG).unwrap();
    for c in CANONS {
        let (rsa, ed) = (k.rsa.to_str().unwrap(), k.ed.to_str().unwrap());
        let o = qmail_dkim(&h, &k.dns, &["-c", c, "-s", "msg", rsa, "-", ed], b"");
        assert!(o.status.success(), "{c}: {}", text(&o.stderr));
        let signed = o.stdout;
        assert!(signed.ends_with(MSG));
        let out = text(&signed);
        assert!(out.contains("a=rsa-sha256") && out.contains("a=ed25519-sha256"));
        assert!(out.contains(&format!("c={c};")));
        let v = dkimpy(&k.dns, &["verify"], &signed);
        assert_eq!(text(&v.stdout), "pass\npass\n", "{c}");
        // Changed in transit: dkimpy sees it too.
        let changed = text(&signed).replace("a second line", "a 2nd line");
        let v = dkimpy(&k.dns, &["verify"], changed.as_bytes());
        assert_eq!(text(&v.stdout), "fail\nfail\n", "{c}");
    }
    // -z and -l: only the Ed25519 key signs, with the body length.
    let ed = k.ed.to_str().unwrap();
    let o = qmail_dkim(
        &h,
        &k.dns,
        &[
            "-z", "ed25519", "-l", "-x", "600", "-Y", "ed25519", "-s", "msg", ed, "-",
        ],
        b"",
    );
    let out = text(&o.stdout);
    assert_eq!(out.matches("DKIM-Signature:").count(), 1, "{out}");
    assert!(out.contains("l=") && out.contains("x="));
    assert_eq!(
        text(&dkimpy(&k.dns, &["verify"], &o.stdout).stdout),
        "pass\n"
    );
}

#[test]
fn dkimpy_verified_by_ours() {
    if !have_dkimpy() {
        return skip("python3-dkim not installed (package/testdeps)");
    }
    let h = QmailHome::new("dkim-theirs");
    let k = keys(&h, DnsOpts::default());
    for c in CANONS {
        for (sel, key, alg) in [
            ("default", &k.rsa1, "rsa-sha256"),
            ("ed25519", &k.ed_seed, "ed25519-sha256"),
        ] {
            let args = ["sign", sel, "example.com", key.to_str().unwrap(), c, alg];
            let signed = dkimpy(&k.dns, &args, MSG).stdout;
            let o = qmail_dkim(&h, &k.dns, &["-v", "-"], &signed);
            assert_eq!(
                text(&o.stdout),
                format!("dkim=pass header.d=example.com header.s={sel} header.a={alg}\n"),
                "{c} {alg}: {}",
                text(&signed)
            );
            assert_eq!(o.status.code(), Some(0));
            let changed = text(&signed).replace("Subject: DKIM", "Subject: DKlM");
            let o = qmail_dkim(&h, &k.dns, &["-v", "-"], changed.as_bytes());
            assert!(text(&o.stdout).starts_with("dkim=fail (signature did not verify)"));
            assert_eq!(o.status.code(), Some(1));
        }
    }
}

const OPENDKIM: &str = "/usr/sbin/opendkim";

/// OpenDKIM's filter in its test mode (`opendkim -x CONF -t FILE`, Debian
/// opendkim): it signs or verifies FILE as the milter would and prints the
/// signature field or its verdict on stdout. opendkim-testmsg cannot be
/// used here: it signs with rsa-sha1 only and verifies through the
/// system's resolv.conf. Debian builds OpenDKIM with libunbound
/// (`opendkim -V`: USE_UNBOUND), so `ResolverConfiguration` names an
/// unbound configuration whose forward zone sends every key query to the
/// loopback DNS server's port (`Nameservers` takes addresses, no port).
/// `RequireSafeKeys false`: the keys live under a world-writable /tmp.
fn opendkim(h: &QmailHome, dns: &Dns, conf: &str, msg: &[u8]) -> String {
    let unbound = h.path("unbound.conf");
    std::fs::write(
        &unbound,
        format!(
            "server:\n  do-not-query-localhost: no\nforward-zone:\n  name: \".\"\n  \
             forward-addr: 127.0.0.1@{}\n",
            dns.addr.port()
        ),
    )
    .unwrap();
    let (cf, file) = (h.path("opendkim.conf"), h.path("opendkim.msg"));
    std::fs::write(
        &cf,
        format!(
            "{conf}Syslog no\nRequireSafeKeys false\nResolverConfiguration {}\n",
            unbound.display()
        ),
    )
    .unwrap();
    std::fs::write(&file, msg).unwrap();
    let o = Command::new(OPENDKIM)
        .arg("-x")
        .arg(&cf)
        .arg("-t")
        .arg(&file)
        .output()
        .unwrap();
    assert!(o.status.success(), "opendkim: {}", text(&o.stderr));
    text(&o.stdout).replace(&format!("{}: ", file.display()), "")
}

#[test]
fn ours_verified_by_opendkim() {
    if !Path::new(OPENDKIM).exists() {
        return skip("opendkim not installed (package/testdeps)");
    }
    let h = QmailHome::new("dkim-ours-opendkim");
    let k = keys(&h, DnsOpts::default());
    std::fs::write(h.path("msg"), MSG).unwrap();
    let (rsa, ed) = (k.rsa.to_str().unwrap(), k.ed.to_str().unwrap());
    for c in CANONS {
        // One signature per message: OpenDKIM's test mode reports one.
        for (sel, args, bits) in [
            ("default", &["-z", "rsa", "-s", "msg", rsa, "-"][..], 2048),
            // OpenDKIM says 0 bits for an Ed25519 key.
            ("ed25519", &["-z", "ed25519", "-s", "msg", ed, "-"], 0),
        ] {
            let o = qmail_dkim(&h, &k.dns, &[&["-c", c][..], args].concat(), b"");
            assert!(o.status.success(), "{c}: {}", text(&o.stderr));
            let verify = "Mode v\n";
            let got = opendkim(&h, &k.dns, verify, &o.stdout);
            let want = format!(
                "opendkim: verification (s={sel}, d=example.com, {bits}-bit key) succeeded\n"
            );
            assert_eq!(got, want, "{c}");
            let changed = text(&o.stdout).replace("a second line", "a 2nd line");
            let got = opendkim(&h, &k.dns, verify, changed.as_bytes());
            // (It says "body hash mismatch" or, for a simple body,
            // "signature verification failed".)
            assert!(
                got.starts_with(&format!(
                    "opendkim: verification (s={sel} d=example.com, {bits}-bit key"
                )) && got.contains(") failed: "),
                "{c}: {got}"
            );
        }
    }
}

#[test]
fn opendkim_verified_by_ours() {
    if !Path::new(OPENDKIM).exists() {
        return skip("opendkim not installed (package/testdeps)");
    }
    let h = QmailHome::new("dkim-theirs-opendkim");
    let k = keys(&h, DnsOpts::default());
    for c in CANONS {
        for (sel, key, alg) in [
            ("default", &k.rsa, "rsa-sha256"),
            ("ed25519", &k.ed, "ed25519-sha256"),
        ] {
            let conf = format!(
                "Mode s\nDomain example.com\nSelector {sel}\nKeyFile {}\n\
                 Canonicalization {c}\nSignatureAlgorithm {alg}\n",
                key.display()
            );
            // The field, its lines ending in CRLF, after a line naming the file.
            let out = opendkim(&h, &k.dns, &conf, MSG).replace("\r\n", "\n");
            let (_, field) = out.split_once('\n').unwrap_or_else(|| panic!("{out}"));
            let head = format!("DKIM-Signature: v=1; a={alg}; c={c};");
            assert!(field.starts_with(&head), "{field}");
            let signed = format!("{field}{}", text(MSG));
            let o = qmail_dkim(&h, &k.dns, &["-v", "-"], signed.as_bytes());
            let pass = format!("dkim=pass header.d=example.com header.s={sel} header.a={alg}\n");
            if alg == "ed25519-sha256" && c.starts_with("simple/") {
                // OpenDKIM 2.11's Ed25519 signature with a simple header
                // does not verify, by OpenDKIM itself nor by dkimpy (the
                // field it prints is not the one it signed): we agree.
                let own = opendkim(&h, &k.dns, "Mode v\n", signed.as_bytes());
                assert!(
                    own.contains(") failed: signature verification failed"),
                    "{own}"
                );
                assert!(text(&o.stdout).starts_with("dkim=fail (signature did not verify)"));
                continue;
            }
            assert_eq!(text(&o.stdout), pass, "{c}: {signed}");
            let changed = signed.replace("a second line", "a 2nd line");
            let o = qmail_dkim(&h, &k.dns, &["-v", "-"], changed.as_bytes());
            assert!(text(&o.stdout).starts_with("dkim=fail (body hash did not verify)"));
        }
    }
}

#[test]
fn qmail_dkim_verify_results() {
    let h = QmailHome::new("dkim-results");
    let k = keys(
        &h,
        DnsOpts {
            servfail: vec!["down._domainkey.example.com".into()],
            ..DnsOpts::default()
        },
    );
    let v = |input: &[u8]| {
        let o = qmail_dkim(&h, &k.dns, &["-v", "-"], input);
        (o.status.code(), text(&o.stdout))
    };
    assert_eq!(v(MSG), (Some(1), "dkim=none\n".into()));
    let rsa = k.rsa.to_str().unwrap();
    for (sel, want, code) in [
        (
            "down",
            "dkim=temperror (no answer for down._domainkey.example.com)",
            111,
        ),
        ("revoked", "dkim=permerror (key revoked)", 1),
        (
            "missing",
            "dkim=permerror (no key at missing._domainkey.example.com)",
            1,
        ),
    ] {
        let o = qmail_dkim(&h, &k.dns, &["-y", sel, "-s", "-", rsa, "-"], MSG);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let (c, out) = v(&o.stdout);
        assert_eq!(
            out,
            format!("{want} header.d=example.com header.s={sel} header.a=rsa-sha256\n")
        );
        assert_eq!(c, Some(code));
    }
    // -d names the signing domain; no From domain and no -d is refused.
    let o = qmail_dkim(
        &h,
        &k.dns,
        &["-d", "example.com", "-s", "-", rsa, "-"],
        b"From: nobody\n\nx\n",
    );
    assert_eq!(v(&o.stdout).0, Some(0));
    let o = qmail_dkim(&h, &k.dns, &["-s", "-", rsa, "-"], b"From: nobody\n\nx\n");
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(
        text(&o.stderr),
        "qmail-dkim: fatal: no From domain, and no -d\n"
    );
    for bad in [
        &["-s", "-", rsa][..],
        &["-v"],
        &["-z", "rsa-sha1", "-s", "-", rsa, "-"],
        &["-c", "loose", "-v", "-"],
    ] {
        assert_eq!(
            qmail_dkim(&h, &k.dns, bad, MSG).status.code(),
            Some(100),
            "{bad:?}"
        );
    }
    let o = qmail_dkim(&h, &k.dns, &["-s", "-", "/nonexistent", "-"], MSG);
    assert_eq!(o.status.code(), Some(111));
}

/// A home whose control/dkimdomains signs example.com with both keys, and
/// whose qmail-remote is a script keeping what it was given.
fn dksign_home(name: &str) -> (QmailHome, Keys) {
    let h = QmailHome::new(name);
    let k = keys(&h, DnsOpts::default());
    let dir = h.path("ssl/domainkeys/example.com");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&k.rsa, dir.join("default")).unwrap();
    std::fs::copy(&k.ed, dir.join("ed25519")).unwrap();
    h.control(
        "dkimdomains",
        "example.com:default,ed25519\nbroken.example:nokey\n",
    );
    let remote = h.path("bin/qmail-remote");
    std::fs::remove_file(&remote).unwrap();
    let sent = h.path("sent");
    script(
        &remote,
        &format!(
            "cat > {0}\necho \"$@\" > {0}.args\nprintf 'rok\\0Kdone\\0'",
            sent.display()
        ),
    );
    (h, k)
}

fn dksign(h: &QmailHome, sender: &str) -> Output {
    let o = h.run(
        "qmail-dksign",
        &["mx.example.net", sender, "b@example.net"],
        MSG,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    o
}

#[test]
fn dksign_signs_by_sender_domain_and_keeps_qmail_remote_protocol() {
    let (h, k) = dksign_home("dksign");
    let o = dksign(&h, "joe@example.com");
    assert_eq!(o.stdout, b"rok\0Kdone\0");
    let sent = std::fs::read(h.path("sent")).unwrap();
    assert!(sent.ends_with(MSG));
    assert_eq!(
        std::fs::read_to_string(h.path("sent.args")).unwrap(),
        "mx.example.net joe@example.com b@example.net\n"
    );
    let v = qmail_dkim(&h, &k.dns, &["-v", "-"], &sent);
    assert_eq!(
        text(&v.stdout),
        "dkim=pass header.d=example.com header.s=default header.a=rsa-sha256\n\
         dkim=pass header.d=example.com header.s=ed25519 header.a=ed25519-sha256\n"
    );
    // Another domain goes out untouched.
    let o = dksign(&h, "ann@other.example");
    assert_eq!(o.stdout, b"rok\0Kdone\0");
    assert_eq!(std::fs::read(h.path("sent")).unwrap(), MSG);
    // A domain to sign without a usable key: deferred, never sent unsigned.
    std::fs::remove_file(h.path("sent")).unwrap();
    let o = dksign(&h, "x@broken.example");
    assert!(
        text(&o.stdout).starts_with("Zqmail-dksign: unable to sign: "),
        "{}",
        text(&o.stdout)
    );
    assert!(o.stdout.ends_with(b"(#4.3.0)\n\0"));
    assert!(!h.path("sent").exists());
}

/// qmail-dkverify with `DKIM` set to `dkim` (if any), keys from `dns`.
fn dkverify(
    h: &QmailHome,
    dns: &Dns,
    dkim: Option<&str>,
    input: &[u8],
) -> (Option<i32>, Option<Vec<u8>>) {
    let ip = dns.env();
    let mut env = vec![("DNSCACHEIP", ip.as_str())];
    env.extend(dkim.map(|d| ("DKIM", d)));
    crate::common::dkverify::dkverify(h, &env, input)
}

#[test]
fn dksign_out_dkverify_in() {
    let (h, k) = dksign_home("dkverify");
    h.control("me", "mx.example.net\n");
    dksign(&h, "joe@example.com");
    let signed = std::fs::read(h.path("sent")).unwrap();
    let (code, queued) = dkverify(&h, &k.dns, None, &signed);
    assert_eq!(code, Some(0));
    let queued = queued.unwrap();
    // No policy published for example.com: dmarc=none.
    let field = "Authentication-Results: mx.example.net;\n\
        \tdkim=pass header.d=example.com header.s=default header.a=rsa-sha256;\n\
        \tdkim=pass header.d=example.com header.s=ed25519 header.a=ed25519-sha256;\n\
        \tdmarc=none header.from=example.com\n";
    assert_eq!(text(&queued), format!("{field}{}", text(&signed)));

    // Altered in transit: annotated by default, refused with DKIM=+.
    let altered = text(&signed).replace("a second line", "a changed line");
    let (code, queued) = dkverify(&h, &k.dns, None, altered.as_bytes());
    assert_eq!(code, Some(0));
    let queued = text(&queued.unwrap());
    let want = "Authentication-Results: mx.example.net;\n\tdkim=fail (body hash did not verify)";
    assert!(queued.starts_with(want), "{queued}");
    assert!(queued.ends_with(&altered));
    assert_eq!(
        dkverify(&h, &k.dns, Some("+"), altered.as_bytes()),
        (Some(31), None)
    );
    // Passing and unsigned mail is not refused.
    assert_eq!(dkverify(&h, &k.dns, Some("+"), &signed).0, Some(0));
    let (code, queued) = dkverify(&h, &k.dns, Some("+"), MSG);
    assert_eq!(code, Some(0));
    assert_eq!(
        text(&queued.unwrap()),
        format!(
            "Authentication-Results: mx.example.net;\n\tdkim=none;\n\tdmarc=none header.from=example.com\n{}",
            text(MSG)
        )
    );

    // A result claiming to be ours, put there by the sender, is removed;
    // another host's stays.
    let forged = format!(
        "Authentication-Results: mx.example.net; dkim=pass\n\
         Authentication-Results: relay.example.org; spf=pass\n{}",
        text(&signed)
    );
    let (code, queued) = dkverify(&h, &k.dns, None, forged.as_bytes());
    assert_eq!(code, Some(0));
    let kept = format!(
        "Authentication-Results: relay.example.org; spf=pass\n{}",
        text(&signed)
    );
    assert_eq!(text(&queued.unwrap()), format!("{field}{kept}"));

    // A body past the memory limit goes through a file, unchanged.
    let big: Vec<u8> = [&signed[..], &vec![b'x'; 3 << 20][..], b"\n"].concat();
    let (code, queued) = dkverify(&h, &k.dns, None, &big);
    assert_eq!(code, Some(0));
    let queued = queued.unwrap();
    assert!(queued.ends_with(&big) && queued.len() > big.len());
    assert!(text(&queued[..300]).contains("dkim=fail (body hash did not verify)"));
    // A header of 10,000 lines is verified too.
    let many: String = (0..10_000).map(|i| format!("X-Line-{i}: v\n")).collect();
    let crowded = [many.as_bytes(), &signed].concat();
    let (code, queued) = dkverify(&h, &k.dns, None, &crowded);
    assert_eq!(code, Some(0));
    assert!(text(&queued.unwrap()).starts_with(field));
}

/// RFC 8301: a 1024-bit RSA key still verifies, a 512-bit one is refused
/// (dkimpy signs with both).
#[test]
fn rsa_key_sizes() {
    if !have_dkimpy() {
        return skip("python3-dkim not installed (package/testdeps)");
    }
    let h = QmailHome::new("dkim-sizes");
    let mut zone = Vec::new();
    let mut files = Vec::new();
    for bits in ["1024", "512"] {
        let (p8, p1) = (
            h.path(&format!("{bits}.pem")),
            h.path(&format!("{bits}.rsa")),
        );
        let (s8, s1) = (p8.to_str().unwrap(), p1.to_str().unwrap());
        let opt = format!("rsa_keygen_bits:{bits}");
        openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", &opt, "-out", s8]);
        openssl(&["pkey", "-in", s8, "-traditional", "-out", s1]);
        let public = b64(&openssl(&["pkey", "-in", s8, "-pubout", "-outform", "DER"]));
        zone.push(txt(
            &format!("k{bits}._domainkey.example.com"),
            &[&format!("p={public}")],
        ));
        files.push((bits, p1));
    }
    let dns = Dns::start(zone);
    for (bits, key) in files {
        let sel = format!("k{bits}");
        let args = [
            "sign",
            &sel,
            "example.com",
            key.to_str().unwrap(),
            "relaxed/relaxed",
            "rsa-sha256",
        ];
        let signed = dkimpy(&dns, &args, MSG).stdout;
        let o = qmail_dkim(&h, &dns, &["-v", "-"], &signed);
        let want = if bits == "1024" {
            "dkim=pass"
        } else {
            "dkim=permerror (RSA key shorter than 1024 bits)"
        };
        assert_eq!(
            text(&o.stdout),
            format!("{want} header.d=example.com header.s={sel} header.a=rsa-sha256\n")
        );
    }
}

/// The whole way: qmail-dksign signs for example.com and runs the real
/// qmail-remote, which relays over SMTP to a second instance whose
/// qmail-smtpd queues through qmail-dkverify: dkim=pass in the queue; the
/// same message altered on the way: dkim=fail.
/// Home A signing example.com with the RSA key by `dkimdomains`, routing
/// b.test to home B, whose qmail-smtpd queues through qmail-dkverify.
fn relay_pair(
    name: &str,
    dkimdomains: &str,
) -> (QmailHome, Keys, QmailHome, crate::common::ucspi::Server) {
    use crate::common::remote::{home_b, plain_receiver};
    let a = crate::common::remote::home(&format!("{name}-a"));
    let k = keys(&a, DnsOpts::default());
    let dir = a.path("ssl/domainkeys/example.com");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&k.rsa, dir.join("default")).unwrap();
    a.control("dkimdomains", dkimdomains);
    let b = home_b(&format!("{name}-b"));
    let dnsip = k.dns.env();
    let srv = plain_receiver(
        &b,
        &[("QMAILQUEUE", "bin/qmail-dkverify"), ("DNSCACHEIP", &dnsip)],
    );
    a.control("smtproutes", &format!("b.test:[127.0.0.1];{}\n", srv.port));
    (a, k, b, srv)
}

#[test]
fn relayed_over_smtp_to_qmail_dkverify() {
    use crate::common::queue::newly_queued;
    use crate::common::remote::remote;
    let (a, k, b, srv) = relay_pair("dkim-relay", "example.com:default|||3600|r/s:rsa\n");
    let dnsip = k.dns.env();
    // The message queued since the last call.
    let seen = std::cell::RefCell::new(Vec::new());
    let queued = || {
        let new = newly_queued(&b, &mut seen.borrow_mut());
        assert_eq!(new.len(), 1, "{}", srv.log_text());
        std::fs::read_to_string(&new[0]).unwrap()
    };

    std::fs::write(a.path("out"), MSG).unwrap();
    let o = a
        .cmd("qmail-dksign")
        .args(["b.test", "joe@example.com", "x@b.test"])
        .env("DNSCACHEIP", &dnsip)
        .stdin(std::fs::File::open(a.path("out")).unwrap())
        .output()
        .unwrap();
    assert!(
        text(&o.stdout).contains("K127.0.0.1 accepted message."),
        "{}",
        text(&o.stdout)
    );
    let got = queued();
    // qmail-queue's own Received line, ours, qmail-smtpd's, the message.
    let pass = "\nAuthentication-Results: mx.b.test;\n\tdkim=pass header.d=example.com header.s=default header.a=rsa-sha256;\n\tdmarc=none header.from=example.com\nReceived: from ";
    assert!(
        got.starts_with("Received: (qmail ") && got.contains(pass),
        "{got}"
    );
    assert!(got.contains("c=relaxed/simple;") && got.ends_with(&text(MSG)));

    // Signed, then changed before it is relayed.
    let rsa = k.rsa.to_str().unwrap();
    let signed = qmail_dkim(&a, &k.dns, &["-s", "-", rsa, "-"], MSG).stdout;
    let changed = text(&signed).replace("Hello  there", "Hello  world");
    let r = remote(
        &a,
        &k.dns,
        &["b.test", "joe@example.com", "x@b.test"],
        changed.as_bytes(),
    );
    assert!(r[1].starts_with("K127.0.0.1 accepted message."), "{r:?}");
    let got = queued();
    assert!(
        got.contains("\nAuthentication-Results: mx.b.test;\n\tdkim=fail (body hash did not verify) header.d=example.com"),
        "{got}"
    );
}

/// qmail-dknewkey puts a key where qmail-dksign finds it and prints the
/// record; published as printed by the loopback DNS server, it verifies
/// signatures made with the key by qmail-dkim and by dkimpy.
#[test]
fn dknewkey_record_verifies_signatures() {
    use std::os::unix::fs::PermissionsExt;
    if !have_dkimpy() {
        return skip("python3-dkim not installed (package/testdeps)");
    }
    let h = QmailHome::new("dknewkey");
    let mode = |p: &str| std::fs::metadata(h.path(p)).unwrap().permissions().mode() & 0o7777;
    let mut zone = Vec::new();
    let kinds = [
        (&[][..], "default", "rsa-sha256", "rsa"),
        (
            &["-t", "ed25519"][..],
            "ed25519",
            "ed25519-sha256",
            "ed25519",
        ),
    ];
    for (opts, sel, _, k) in kinds {
        let o = h.run("qmail-dknewkey", &[opts, &["Example.COM"]].concat(), b"");
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let out = text(&o.stdout);
        let name = format!("{sel}._domainkey.example.com");
        let strings = out
            .strip_prefix(&format!("{name}. IN TXT \""))
            .and_then(|s| s.strip_suffix("\"\n"))
            .unwrap_or_else(|| panic!("{out}"));
        let strings: Vec<&str> = strings.split("\" \"").collect();
        assert!(strings.iter().all(|s| s.len() <= 255));
        assert!(strings[0].starts_with(&format!("v=DKIM1; k={k}; p=")));
        zone.push(txt(&name, &strings));
        assert_eq!(mode(&format!("ssl/domainkeys/example.com/{sel}")), 0o600);
        // Never replaced.
        let again = h.run("qmail-dknewkey", &[opts, &["example.com"]].concat(), b"");
        assert_eq!(again.status.code(), Some(100));
        assert!(text(&again.stderr).contains("exists: not replaced"));
    }
    // (package/home made ssl/ already, qmail-dknewkey keeps its mode.)
    assert_eq!(
        (mode("ssl/domainkeys"), mode("ssl/domainkeys/example.com")),
        (0o700, 0o700)
    );
    let dns = Dns::start(zone);
    for (_, sel, alg, _) in kinds {
        let key = h.path(&format!("ssl/domainkeys/example.com/{sel}"));
        let key = key.to_str().unwrap();
        let want = format!("dkim=pass header.d=example.com header.s={sel} header.a={alg}\n");
        let signed = qmail_dkim(&h, &dns, &["-y", sel, "-Y", sel, "-s", "-", key, "-"], MSG).stdout;
        assert_eq!(
            text(&qmail_dkim(&h, &dns, &["-v", "-"], &signed).stdout),
            want
        );
        assert_eq!(text(&dkimpy(&dns, &["verify"], &signed).stdout), "pass\n");
        // dkimpy's key forms: PKCS#1 for RSA, the bare seed for Ed25519.
        let theirs = h.path(&format!("{sel}.dkimpy"));
        if alg == "rsa-sha256" {
            let p1 = openssl(&["pkey", "-in", key, "-traditional"]);
            std::fs::write(&theirs, p1).unwrap();
        } else {
            let der = openssl(&["pkey", "-in", key, "-outform", "DER"]);
            std::fs::write(&theirs, b64(&der[der.len() - 32..])).unwrap();
        }
        let args = [
            "sign",
            sel,
            "example.com",
            theirs.to_str().unwrap(),
            "relaxed/relaxed",
            alg,
        ];
        let signed = dkimpy(&dns, &args, MSG).stdout;
        assert_eq!(
            text(&qmail_dkim(&h, &dns, &["-v", "-"], &signed).stdout),
            want
        );
    }
    for bad in [
        &["../x"][..],
        &["example.com", "a/b"],
        &["-b", "1024", "x.example"],
        &["-t", "dsa", "x.example"],
    ] {
        assert_eq!(
            h.run("qmail-dknewkey", bad, b"").status.code(),
            Some(100),
            "{bad:?}"
        );
    }
}

/// qmail-send with control/dkimdomains: qmail-rspawn signs in its delivery
/// child (bin/qmail-dksign and bin/qmail-remote are ours) and relays to a
/// second instance whose qmail-dkverify finds dkim=pass. A message to two
/// recipients at that host goes out as two deliveries, each signed once.
#[test]
fn qmail_send_signs_each_delivery_once() {
    use crate::common::queue::newly_queued;
    use crate::common::send::{Daemon, enqueue};
    use crate::common::wait_until;
    let (a, _k, b, srv) = relay_pair("dkim-send", "example.com:default\n");
    let da = Daemon::start(&a);
    enqueue(&a, "joe@example.com", &["x@b.test", "y@b.test"], MSG);
    // Both delivered (qmail-queue on B done with each) before B's queue is read.
    assert!(
        wait_until(30, || da
            .log_text()
            .matches(": success: 127.0.0.1_accepted")
            .count()
            == 2),
        "A: {}\nB: {}",
        da.log_text(),
        srv.log_text()
    );
    let got = newly_queued(&b, &mut Vec::new());
    assert_eq!(got.len(), 2);
    for f in &got {
        let text = std::fs::read_to_string(f).unwrap();
        assert_eq!(text.matches("DKIM-Signature:").count(), 1, "{text}");
        assert!(
            text.contains(
                "\tdkim=pass header.d=example.com header.s=default header.a=rsa-sha256;\n"
            ),
            "{text}"
        );
        assert!(text.ends_with(&self::text(MSG)), "{text}");
    }
    assert_eq!(da.stop(), 0);
}
