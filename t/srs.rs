//! SRS (issue 14): srsforward and srsreverse as processes with a recording
//! qmail-queue, their addresses compared byte for byte with libsrs2 (the
//! `postsrsd` daemon), Perl's Mail::SRS and python3-srs in both directions,
//! and a `.qmail` forward through qmail-local.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use sqmail::srs::address::{Srs, day, stamp};

use crate::common::queue::recording_qq;
use crate::common::*;

const MSG: &str = "Subject: bounce\n\nbody\n";
const DT: &str = "Delivered-To: fw@fw.example\n";
const ALIAS: &str = "fw.example";
const A: &str = "first-s3cret";
const B: &str = "second-s3cret";
const N: &str = "newer-s3cret";
/// The separators after SRS0/SRS1 srsdomains offers (the default first).
const SEPARATORS: [char; 3] = ['=', '-', '+'];

/// Senders for the comparisons: plain, mixed case, an SRS0 of another
/// forwarder (becomes SRS1) and an SRS1 of another forwarder.
const SENDERS: &[&str] = &[
    "alice@example.org",
    "Bob.Smith+tag@Mixed.Example.NET",
    "SRS0=abcd=XY=orig.example=carol@hop1.example",
    "SRS1=wxyz=hop1.example==abcd=XY=orig.example=carol@hop2.example",
];

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A home whose qmail-queue records fd 0 and fd 1 into `qq.body`/`qq.env`.
fn home(name: &str, srsdomains: Option<&str>) -> (QmailHome, PathBuf) {
    let h = QmailHome::new(name);
    let qq = recording_qq(&h.dir, 0);
    if let Some(s) = srsdomains {
        h.control("srsdomains", s);
    }
    (h, qq)
}

/// What the fake qmail-queue got (body, envelope with NULs as `|`).
fn queued(h: &QmailHome) -> Option<(String, String)> {
    Some((
        fs::read_to_string(h.path("qq.body")).ok()?,
        fs::read_to_string(h.path("qq.env"))
            .ok()?
            .replace('\0', "|"),
    ))
}

/// Runs `prog args` with the qmail-command environment `env` and the
/// message on stdin as a file.
fn run(h: &QmailHome, qq: &Path, prog: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let _ = fs::remove_file(h.path("qq.env"));
    let _ = fs::remove_file(h.path("qq.body"));
    let m = h.path("message");
    fs::write(&m, MSG).unwrap();
    h.cmd(prog)
        .env("QMAILQUEUE", qq)
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::from(fs::File::open(&m).unwrap()))
        .output()
        .unwrap()
}

/// srsforward's new envelope sender for `sender` (HOST = ALIAS).
fn ours_forward(h: &QmailHome, qq: &Path, sender: &str) -> String {
    let o = run(
        h,
        qq,
        "srsforward",
        &["to@dest.example"],
        &env(sender, ALIAS),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let (_, env) = queued(h).expect("srsforward queued nothing");
    let rest = env.strip_prefix('F').unwrap();
    let (from, to) = rest.split_once('|').unwrap();
    assert_eq!(to, "Tto@dest.example||");
    from.to_string()
}

/// srsreverse's recipient for the SRS address `srs`, or its exit code and
/// error when it refused (then nothing may have been queued).
fn ours_reverse(h: &QmailHome, qq: &Path, srs: &str) -> Result<String, (i32, String)> {
    let host = srs.rsplit_once('@').map_or(ALIAS, |(_, d)| d);
    let o = run(
        h,
        qq,
        "srsreverse",
        &[],
        &[
            ("HOST", host),
            ("RECIPIENT", srs),
            ("DTLINE", DT),
            ("NEWSENDER", ""),
        ],
    );
    match o.status.code() {
        Some(0) => {
            let (body, env) = queued(h).expect("srsreverse queued nothing");
            assert_eq!(body, format!("{DT}{MSG}"));
            let to = env.strip_prefix("F|T").expect("a null sender");
            Ok(to.strip_suffix("||").unwrap().to_string())
        }
        c => {
            assert!(queued(h).is_none(), "queued after a refusal");
            Err((c.unwrap_or(-1), text(&o.stderr)))
        }
    }
}

/// A library peer run as a script: `forward sender` or `reverse address`
/// with `secrets`; `None` when it refused.
trait Peer {
    fn name(&self) -> &'static str;
    fn call(&self, op: &str, addr: &str, secrets: &[&str]) -> Option<String>;
}

struct Script {
    name: &'static str,
    exe: &'static str,
    flag: &'static str,
    code: &'static str,
    /// The separator after SRS0/SRS1 (the script reads SRS_SEP).
    sep: char,
}

impl Script {
    /// `None` (with a loud skip) when the interpreter lacks the module.
    fn found(self, check: &[&str]) -> Option<Script> {
        let ok = Command::new(self.exe)
            .args(check)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            skip(&format!(
                "{} is not installed (package/testdeps installs it)",
                self.name
            ));
        }
        ok.then_some(self)
    }
}

impl Peer for Script {
    fn name(&self) -> &'static str {
        self.name
    }
    fn call(&self, op: &str, addr: &str, secrets: &[&str]) -> Option<String> {
        let o = Command::new(self.exe)
            .env("SRS_SEP", self.sep.to_string())
            .args([self.flag, self.code, op, ALIAS, addr])
            .args(secrets)
            .output()
            .unwrap();
        o.status.success().then(|| text(&o.stdout))
    }
}

fn mail_srs(sep: char) -> Option<Script> {
    Script {
        name: "Mail::SRS (libmail-srs-perl)",
        exe: "perl",
        flag: "-e",
        code: "use Mail::SRS; my ($op, $alias, $addr, @s) = @ARGV; \
               my $srs = Mail::SRS->new(Secret => [@s], MaxAge => 21, Separator => $ENV{SRS_SEP}); \
               my $r = eval { $op eq 'forward' ? $srs->forward($addr, $alias) : $srs->reverse($addr) }; \
               defined $r or exit 1; print $r;",
        sep,
    }
    .found(&["-MMail::SRS", "-e", "1"])
}

fn python_srs(sep: char) -> Option<Script> {
    Script {
        name: "python3-srs",
        exe: "/usr/bin/python3",
        flag: "-c",
        code: "import os, sys, SRS\n\
               op, alias, addr = sys.argv[1:4]\n\
               srs = SRS.new(secret=sys.argv[4:], maxage=21, separator=os.environ['SRS_SEP'])\n\
               try:\n    r = srs.forward(addr, alias) if op == 'forward' else srs.reverse(addr)\n\
               except Exception:\n    sys.exit(1)\n\
               sys.stdout.write(r)\n",
        sep,
    }
    .found(&["-c", "import SRS"])
}

/// libsrs2 in Debian's postsrsd: its forward and reverse lookup tables
/// (Postfix tcp_table: `get ADDRESS` → `200 RESULT`) on loopback ports.
struct Postsrsd {
    child: Child,
    forward: u16,
    reverse: u16,
}

impl Drop for Postsrsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Postsrsd {
    fn start(name: &str, secrets: &[&str], sep: char) -> Option<Postsrsd> {
        let exe = "/usr/sbin/postsrsd";
        if !Path::new(exe).exists() {
            skip(&format!(
                "{name}: postsrsd is not installed (package/testdeps installs it)"
            ));
            return None;
        }
        let dir = fresh_dir(name);
        let secret = dir.join("secret");
        fs::write(&secret, secrets.join("\n") + "\n").unwrap();
        let (forward, reverse) = (free_port(), free_port());
        let child = Command::new(exe)
            .arg(format!("-s{}", secret.display()))
            .arg(format!("-d{ALIAS}"))
            .arg(format!("-a{sep}"))
            .args([
                "-l127.0.0.1".to_string(),
                format!("-f{forward}"),
                format!("-r{reverse}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let p = Postsrsd {
            child,
            forward,
            reverse,
        };
        let up = || {
            [forward, reverse]
                .iter()
                .all(|&port| TcpStream::connect(("127.0.0.1", port)).is_ok())
        };
        assert!(wait_until(30, up), "postsrsd did not listen");
        Some(p)
    }
}

impl Peer for Postsrsd {
    fn name(&self) -> &'static str {
        "libsrs2 (postsrsd)"
    }
    fn call(&self, op: &str, addr: &str, _secrets: &[&str]) -> Option<String> {
        let port = if op == "forward" {
            self.forward
        } else {
            self.reverse
        };
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        writeln!(s, "get {addr}").unwrap();
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).unwrap();
        line.trim_end().strip_prefix("200 ").map(str::to_string)
    }
}

/// Ours against one peer: the same addresses from the same secrets; ours
/// verified by the peer holding our signing secret second; the peer's
/// verified by us holding its secret second. `signer` is the peer as it
/// signs with `B` alone (postsrsd: a second daemon).
fn compare(peer: &dyn Peer, verifier: &dyn Peer, signer: &dyn Peer, name: &str, sep: char) {
    let (h, qq) = home(name, Some(&format!("{ALIAS}:{A} {B}|{sep}\n")));
    let who = peer.name();
    for sender in SENDERS {
        let ours = ours_forward(&h, &qq, sender);
        let theirs = peer.call("forward", sender, &[A, B]).expect("peer forward");
        assert_eq!(ours, theirs, "{who}: forward of {sender}");
        let tag = if sender.starts_with("SRS") {
            "SRS1"
        } else {
            "SRS0"
        };
        assert!(ours.starts_with(&format!("{tag}{sep}")), "{ours}");

        // Ours, verified by them with our secret second (and any case).
        let back = verifier.call("reverse", &ours, &[N, A]);
        let expect = expected_reverse(sender);
        assert_eq!(
            back.as_deref(),
            Some(expect.as_str()),
            "{who}: reverse of ours {ours}"
        );
        let upper = verifier.call("reverse", &ours.to_ascii_uppercase(), &[N, A]);
        assert!(upper.is_some(), "{who}: upper-cased {ours}");

        // Theirs, signed with B alone, verified by us (A B).
        let theirs = signer.call("forward", sender, &[B]).expect("peer forward");
        assert_ne!(theirs, ours, "{who}: {sender} signed with another secret");
        assert_eq!(
            ours_reverse(&h, &qq, &theirs),
            Ok(expect.clone()),
            "{who}: {theirs}"
        );
        let lower = theirs.to_ascii_lowercase();
        assert_eq!(
            ours_reverse(&h, &qq, &lower).map(|a| a.to_ascii_lowercase()),
            Ok(expect.to_ascii_lowercase()),
            "{who}: {lower}"
        );
    }
    // What they refuse, we refuse: a hash made with a secret neither has.
    let foreign = signer.call("forward", SENDERS[0], &[B]).unwrap();
    assert_eq!(verifier.call("reverse", &foreign, &[N, A]), None, "{who}");
    let (h2, qq2) = home(&format!("{name}-n"), Some(&format!("{ALIAS}:{N} {A}\n")));
    assert_eq!(ours_reverse(&h2, &qq2, &foreign).map_err(|e| e.0), Err(100));
}

/// What reversing our forward of `sender` gives: the sender, or for an SRS
/// sender the SRS0 address at the first forwarder.
fn expected_reverse(sender: &str) -> String {
    match sender {
        s if s.starts_with("SRS0") => "SRS0=abcd=XY=orig.example=carol@hop1.example".into(),
        s if s.starts_with("SRS1") => "SRS0=abcd=XY=orig.example=carol@hop1.example".into(),
        s => s.to_string(),
    }
}

#[test]
fn srs_matches_mail_srs() {
    for sep in SEPARATORS {
        let Some(p) = mail_srs(sep) else { return };
        compare(&p, &p, &p, "srs-perl", sep);
    }
}

#[test]
fn srs_matches_python_srs() {
    for sep in SEPARATORS {
        let Some(p) = python_srs(sep) else { return };
        compare(&p, &p, &p, "srs-python", sep);
    }
}

#[test]
fn srs_matches_libsrs2_postsrsd() {
    for sep in SEPARATORS {
        let Some(signs_a) = Postsrsd::start("srs-postsrsd-ab", &[A, B], sep) else {
            return;
        };
        let verifier = Postsrsd::start("srs-postsrsd-na", &[N, A], sep).unwrap();
        let signer = Postsrsd::start("srs-postsrsd-b", &[B], sep).unwrap();
        compare(&signs_a, &verifier, &signer, "srs-postsrsd", sep);
    }
}

/// An SRS0 address for `user@host` at ALIAS made with `secret` on `day`.
fn srs0(secret: &str, user_host: &str, day: u64) -> String {
    srs0_at(secret, user_host, ALIAS, day)
}

fn srs0_at(secret: &str, user_host: &str, alias: &str, day: u64) -> String {
    let k = [secret.as_bytes().to_vec()];
    let s = Srs {
        secrets: &k,
        separator: b'=',
    };
    text(
        &s.forward(user_host.as_bytes(), alias.as_bytes(), day)
            .unwrap(),
    )
}

/// qmail-local's environment for srsforward: mail from `sender` to `host`.
fn env<'a>(sender: &'a str, host: &'a str) -> [(&'a str, &'a str); 3] {
    [("HOST", host), ("NEWSENDER", sender), ("DTLINE", DT)]
}

fn today() -> u64 {
    day(sqmail::date::now_secs() as u64)
}

#[test]
fn srsforward_envelope_and_message() {
    let (h, qq) = home(
        "srs-fwd",
        Some(&format!("# ours\n{ALIAS}:{A} {B}\n!off.example:\n")),
    );
    let o = run(
        &h,
        &qq,
        "srsforward",
        &["a@x.example", "b@y.example"],
        &env("s@example.org", ALIAS),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stderr).starts_with("srsforward: qp "));
    let (body, envelope) = queued(&h).unwrap();
    assert_eq!(body, format!("{DT}{MSG}"));
    let tt = text(&stamp(today()));
    let want = srs0(A, "s@example.org", today());
    assert!(want.ends_with(&format!("={tt}=example.org=s@{ALIAS}")));
    assert_eq!(envelope, format!("F{want}|Ta@x.example|Tb@y.example||"));

    // The null sender stays null; a sender at the SRS domain stays as it is.
    run(&h, &qq, "srsforward", &["a@x.example"], &env("", ALIAS));
    assert_eq!(queued(&h).unwrap().1, "F|Ta@x.example||");
    run(
        &h,
        &qq,
        "srsforward",
        &["a@x.example"],
        &env("me@FW.example", ALIAS),
    );
    assert_eq!(queued(&h).unwrap().1, "Fme@FW.example|Ta@x.example||");

    // SRS off for the domain: -p passes the message on, -P (default) bounces.
    let o = run(
        &h,
        &qq,
        "srsforward",
        &["-p", "a@x.example"],
        &env("s@example.org", "off.example"),
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(queued(&h).is_none());
    for args in [&["-P", "a@x.example"][..], &["a@x.example"]] {
        let o = run(
            &h,
            &qq,
            "srsforward",
            args,
            &env("s@example.org", "other.example"),
        );
        assert_eq!(o.status.code(), Some(100));
        assert_eq!(
            text(&o.stderr),
            "srsforward: fatal: SRS is not enabled for other.example (#5.7.1)\n"
        );
        assert!(queued(&h).is_none());
    }

    // A sender whose SRS form would not fit an SMTP line bounces.
    let long = format!("{}@example.org", "a".repeat(980));
    let o = run(&h, &qq, "srsforward", &["a@x.example"], &env(&long, ALIAS));
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(
        text(&o.stderr),
        "srsforward: fatal: SRS address would be too long (#5.1.7)\n"
    );
    assert!(queued(&h).is_none());

    // Usage, and qmail-local's environment missing.
    assert_eq!(
        run(&h, &qq, "srsforward", &[], &env("s@example.org", ALIAS))
            .status
            .code(),
        Some(100)
    );
    let o = run(
        &h,
        &qq,
        "srsforward",
        &["a@x.example"],
        &[("HOST", ALIAS), ("DTLINE", DT)],
    );
    assert_eq!(
        (o.status.code(), text(&o.stderr).as_str()),
        (Some(100), "srsforward: fatal: NEWSENDER not set\n")
    );
    assert!(queued(&h).is_none());
}

#[test]
fn srs_without_srsdomains_is_temporary() {
    let (h, qq) = home("srs-nofile", None);
    let o = run(
        &h,
        &qq,
        "srsforward",
        &["a@x.example"],
        &env("s@example.org", ALIAS),
    );
    assert_eq!(o.status.code(), Some(111));
    assert_eq!(
        text(&o.stderr),
        "srsforward: fatal: control/srsdomains is missing (#4.3.0)\n"
    );
    assert!(queued(&h).is_none());
    let addr = srs0(A, "s@example.org", today());
    assert_eq!(
        ours_reverse(&h, &qq, &addr),
        Err((
            111,
            "srsreverse: fatal: control/srsdomains is missing (#4.3.0)\n".into()
        ))
    );
    h.control("srsdomains", "fw.example\n");
    let o = ours_reverse(&h, &qq, &addr).unwrap_err();
    assert_eq!(
        o,
        (
            111,
            "srsreverse: fatal: control/srsdomains line 1 is malformed (#4.3.0)\n".into()
        )
    );
}

#[test]
fn srsreverse_refuses_bad_addresses() {
    let (h, qq) = home("srs-bad", Some(&format!("{ALIAS}:{A} {B}\n")));
    let now = today();
    let good = srs0(B, "alice@example.org", now);
    assert_eq!(ours_reverse(&h, &qq, &good), Ok("alice@example.org".into()));
    let (local, _) = good.split_once('@').unwrap();
    let hash = &local[5..9];
    let tt = text(&stamp(now));
    // A hash over the fields as written, not lower-cased: a forwarder that
    // gets the case wrong.
    let mixed = {
        use ring::hmac;
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, A.as_bytes());
        let mut c = hmac::Context::with_key(&key);
        for p in [tt.as_str(), "Example.ORG", "Alice"] {
            c.update(p.as_bytes());
        }
        let h = sqmail::codec::b64_encode(c.sign().as_ref());
        format!("SRS0={}={tt}=Example.ORG=Alice@{ALIAS}", &h[..4])
    };
    let flipped: String = hash
        .chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect();
    let cases = [
        (
            "truncated",
            format!("{}@{ALIAS}", &local[..local.len() - 3]),
            "SRS hash does not match",
        ),
        (
            "no user",
            format!("SRS0={hash}={tt}=example.org@{ALIAS}"),
            "malformed SRS address",
        ),
        (
            "no hash",
            format!("SRS0={tt}=example.org=alice@{ALIAS}"),
            "malformed SRS address",
        ),
        (
            "short hash",
            format!("SRS0={}={tt}=example.org=alice@{ALIAS}", &hash[..3]),
            "SRS hash does not match",
        ),
        (
            "re-encoded user",
            good.replace("=alice@", "=alicf@"),
            "SRS hash does not match",
        ),
        (
            "re-encoded host",
            good.replace("=example.org=", "=example.net="),
            "SRS hash does not match",
        ),
        (
            "re-encoded hash",
            good.replacen(hash, &format!("{hash}x"), 1),
            "SRS hash does not match",
        ),
        ("wrong-case hash", mixed, "SRS hash does not match"),
        (
            "future-dated",
            srs0(B, "alice@example.org", now + 1),
            "SRS address expired or from the future",
        ),
        (
            "expired",
            srs0(B, "alice@example.org", now - 22),
            "SRS address expired or from the future",
        ),
        (
            "bad stamp",
            good.replace(&format!("={tt}="), "=1!="),
            "bad SRS timestamp",
        ),
        (
            "over-long",
            srs0(A, &format!("{}@example.org", "a".repeat(1000)), now),
            "SRS address too long",
        ),
        ("not SRS", format!("alice@{ALIAS}"), "not an SRS address"),
        (
            "forged SRS1",
            format!("SRS1=abcd=hop1.example==xyzw=AA=h=u@{ALIAS}"),
            "SRS hash does not match",
        ),
    ];
    for (what, addr, reason) in cases {
        let (code, err) = ours_reverse(&h, &qq, &addr).unwrap_err();
        assert_eq!(code, 100, "{what}: {addr}: {err}");
        let start = format!("srsreverse: fatal: {reason}: ");
        assert!(
            err.starts_with(&start) && err.ends_with("(#5.1.1)\n"),
            "{what}: {err}"
        );
    }
    // The hash in another case, and the stamp in lower case, are the same
    // address (libsrs2 compares them without case); 21 days old still holds.
    let same = good
        .replacen(hash, &flipped, 1)
        .replace(&format!("={tt}="), &format!("={}=", tt.to_lowercase()));
    assert_eq!(ours_reverse(&h, &qq, &same), Ok("alice@example.org".into()));
    let old = srs0(A, "alice@example.org", now - 21);
    assert_eq!(ours_reverse(&h, &qq, &old), Ok("alice@example.org".into()));
    // DEL and 8-bit bytes are input like any other.
    let odd = srs0(A, "a\u{7f}\u{e9}@example.org", now);
    assert_eq!(
        ours_reverse(&h, &qq, &odd),
        Ok("a\u{7f}\u{e9}@example.org".into())
    );
}

#[test]
fn srsreverse_strips_the_virtual_domain_prefix() {
    let (h, qq) = home("srs-virt", Some(&format!("example.com:{A}|=|srs.\n")));
    h.control("virtualdomains", "srs.example.com:srs\n");
    let addr = srs0_at(A, "bob@example.net", "srs.example.com", today());
    let recipient = format!("srs-{addr}");
    assert_eq!(
        ours_reverse(&h, &qq, &recipient),
        Ok("bob@example.net".into())
    );
    // A wildcard line, as qmail-send reads it; another prefix is not ours.
    h.control("virtualdomains", ".example.com:srs\n");
    assert_eq!(
        ours_reverse(&h, &qq, &recipient),
        Ok("bob@example.net".into())
    );
    let other = format!("bounce-{addr}");
    assert_eq!(ours_reverse(&h, &qq, &other).map_err(|e| e.0), Err(100));
}

/// A `.qmail` forward through qmail-local → srsforward → the queue, and the
/// bounce back through `.qmail-default` → srsreverse; the address is
/// checked by Mail::SRS as well when it is there.
#[test]
fn srs_through_qmail_local() {
    let (h, qq) = home("srs-local", Some(&format!("example.com:{A} {B}\n")));
    // Delivered as the alias user is: local part and extension are the
    // whole recipient local part.
    let user = h.path("alias-home");
    fs::create_dir_all(&user).unwrap();
    fs::set_permissions(&user, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(user.join(".qmail-fw"), "|srsforward far@dest.example\n").unwrap();
    fs::write(user.join(".qmail-srs-default"), "|srsreverse\n").unwrap();
    fs::write(user.join(".qmail"), "./Maildir/\n").unwrap();
    h.control("virtualdomains", "example.com:srs\n");
    let local = |ext: &str, sender: &str| {
        let _ = fs::remove_file(h.path("qq.env"));
        let m = h.path("message");
        fs::write(&m, MSG).unwrap();
        h.cmd("qmail-local")
            .env("QMAILQUEUE", &qq)
            .args(["--", "alias", user.to_str().unwrap(), ext, "-", ext])
            .args(["example.com", sender, "./Maildir/"])
            .stdin(Stdio::from(fs::File::open(&m).unwrap()))
            .output()
            .unwrap()
    };
    let o = local("fw", "alice@example.org");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let (body, env) = queued(&h).unwrap();
    assert_eq!(body, format!("Delivered-To: fw@example.com\n{MSG}"));
    let srs = env
        .strip_prefix('F')
        .unwrap()
        .strip_suffix("|Tfar@dest.example||")
        .unwrap()
        .to_string();
    assert_eq!(
        srs,
        srs0(A, "alice@example.org", today()).replace(ALIAS, "example.com")
    );
    if let Some(p) = mail_srs('=') {
        assert_eq!(
            p.call("reverse", &srs, &[A]).as_deref(),
            Some("alice@example.org")
        );
    }

    // The bounce comes back to srs-SRS0=...@example.com: to alice.
    let o = local(&format!("srs-{}", srs.split('@').next().unwrap()), "");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert_eq!(queued(&h).unwrap().1, "F|Talice@example.org||");
    // A forged one bounces (qmail-local reports the permanent failure).
    let o = local("srs-SRS0=xxxx=AA=example.org=alice", "");
    assert_eq!(o.status.code(), Some(100), "{}", text(&o.stdout));
    assert!(queued(&h).is_none());
}
