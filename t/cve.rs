//! A corpus of known MTA attack classes, one test per class, each named
//! for the CVE (or report) that made the class known. Every test drives
//! the real programs the way the attack did.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use crate::common::inject::Fake;
use crate::common::ok;
use crate::common::remote::{Dns, Script, Sink};
use crate::common::remote::{home, remote};
use crate::common::smtpd::{
    GREETING, Smtpd, TXN, auth_cmd, auth_home, b64, check, lines, tls_session,
};
use crate::common::tls::self_signed;
use crate::common::{QmailHome, bin, run_with_input, script, status_kib};

/// What one qmail-smtpd session left: replies, log, and the peak RSS
/// (VmHWM, KiB) read while it still waited for the next command.
struct Session {
    replies: Vec<String>,
    log: String,
    peak_kib: u64,
}

/// Feeds `input` then `HELP` to qmail-smtpd, reads replies up to HELP's
/// 214 (the session is alive and idle there), reads its peak RSS, closes.
fn session(s: &Smtpd, env: &[(&str, &str)], input: Vec<u8>) -> Session {
    let err = s.h.dir.join("session.err");
    let mut c = s
        .cmd(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let pid = c.id();
    let mut stdin = c.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
        let _ = stdin.write_all(b"HELP\r\n");
        stdin
    });
    let mut rd = BufReader::new(c.stdout.take().unwrap());
    let mut replies = Vec::new();
    loop {
        let mut l = Vec::new();
        if rd.read_until(b'\n', &mut l).unwrap() == 0 {
            break;
        }
        let l = String::from_utf8_lossy(&l).into_owned();
        assert!(l.ends_with("\r\n"), "reply without CRLF: {l:?}");
        let l = l.trim_end_matches("\r\n").to_string();
        let help = l.starts_with("214 ");
        replies.push(l);
        if help {
            break;
        }
    }
    let peak_kib = status_kib(pid, "VmHWM");
    drop(writer.join().unwrap());
    c.wait().unwrap();
    Session {
        replies,
        log: fs::read_to_string(&err).unwrap_or_default(),
        peak_kib,
    }
}

/// A home whose queue program reads and drops the message.
fn null_smtpd(name: &str) -> Smtpd {
    let s = Smtpd::new(name);
    script(
        &s.h.path("bin/nullqq"),
        "cat > /dev/null\ncat <&1 > /dev/null",
    );
    s
}

/// qmail's 64-bit overflows (CVE-2005-1513 and the Guninski family): a
/// line, an envelope and a SIZE near 2^64 each get a bounded answer, and
/// the server's memory stays small whatever the client sends.
#[test]
fn cve_2005_1513_overflow_huge_line_envelope_size_and_recipients() {
    let s = null_smtpd("cve-overflow");
    let nullqq = s.h.path("bin/nullqq");
    let env = [("QMAILQUEUE", nullqq.to_str().unwrap())];
    // A 64 MiB line without an end, then a command that must still work.
    let mut input = vec![b'A'; 64 << 20];
    input.extend_from_slice(b"\r\nNOOP\r\n");
    let r = session(&s, &env, input);
    assert_eq!(r.replies.len(), 4, "{:?}", r.replies);
    assert!(r.replies[1].starts_with("500 "), "{:?}", r.replies);
    assert_eq!(r.replies[2], "250 ok");
    eprintln!(
        "qmail-smtpd after a 64 MiB line: peak RSS {} KiB",
        r.peak_kib
    );
    assert!(
        r.peak_kib > 0 && r.peak_kib < 4096,
        "peak RSS {} KiB",
        r.peak_kib
    );

    // SIZE at, just over and far over 2^64: never wraps to a small size.
    let sizes = [
        "18446744073709551615",
        "18446744073709551616",
        "36893488147419103233",
        "99999999999999999999999999999999999999",
    ];
    let mut input = Vec::new();
    for n in sizes {
        input.extend_from_slice(
            format!("RSET\r\nMAIL FROM:<a@b.org> SIZE={n}\r\nRCPT TO:<joe@example.com>\r\n")
                .as_bytes(),
        );
    }
    let r = session(&s, &[env[0], ("DATABYTES", "1000")], input);
    for (i, n) in sizes.iter().enumerate() {
        let (mail, rcpt) = (&r.replies[3 * i + 2], &r.replies[3 * i + 3]);
        assert!(
            mail.starts_with('5') || rcpt.starts_with("552 "),
            "SIZE={n}: {mail} / {rcpt}"
        );
    }

    // 200,000 recipients: every RCPT answered, the envelope capped (452),
    // memory bounded, and the capped envelope is still queued.
    let mut input = b"MAIL FROM:<a@b.org>\r\n".to_vec();
    let n = 200_000;
    for i in 0..n {
        input.extend_from_slice(format!("RCPT TO:<r{i}@example.com>\r\n").as_bytes());
    }
    input.extend_from_slice(b"DATA\r\nSubject: many\r\n\r\nx\r\n.\r\n");
    let r = session(&s, &env, input);
    let rcpt = &r.replies[2..n + 2];
    assert!(rcpt.iter().all(|l| l == "250 ok" || l.starts_with("452 ")));
    assert!(
        rcpt.iter().filter(|l| l.starts_with("452 ")).count() > n / 2,
        "the envelope is capped"
    );
    eprintln!("qmail-smtpd after {n} RCPTs: peak RSS {} KiB", r.peak_kib);
    assert!(r.peak_kib < 8192, "peak RSS {} KiB", r.peak_kib);
    // The recipients accepted are queued (not a 451 the client retries).
    let tail = &r.replies[n + 2..];
    assert!(
        tail.len() == 3 && tail[0] == "354 go ahead" && tail[1].starts_with("250 ok "),
        "{tail:?} ({})",
        r.log.lines().last().unwrap_or("")
    );
}

/// STARTTLS command injection, server side (CVE-2011-0411): commands a
/// client pipelines after STARTTLS in the clear are never executed.
#[test]
fn cve_2011_0411_starttls_injection_server_side() {
    let s = Smtpd::new("cve-tls-server");
    let (got, err) = tls_session(
        &s,
        &[("UCSPITLS", ""), ("RELAYCLIENT", "")],
        "SSL_PROTOCOL=TLSv1.3,SSL_CIPHER=X",
        b"EHLO x\r\nSTARTTLS\r\nRSET\r\nMAIL FROM:<evil@x.org>\r\nRCPT TO:<evil@example.com>\r\nDATA\r\nSubject: evil\r\n\r\n.\r\n",
        b"QUIT\r\n",
    );
    let ready = got
        .iter()
        .position(|l| l.starts_with("220 Ready"))
        .unwrap_or_else(|| panic!("{got:#?}\n{err}"));
    assert_eq!(got[ready + 1..], ["221 mx.example"], "{got:#?}\n{err}");
    assert_eq!(s.env(), None, "nothing queued");
    assert!(!err.contains("evil"), "{err}");
}

/// STARTTLS response injection, client side (CVE-2020-15955): what a
/// server sends after its 220 in the clear is not read as a reply that
/// came through TLS.
#[test]
fn cve_2020_15955_starttls_injection_client_side() {
    let (_ck, cfg) = self_signed(&["example.test"]);
    let h = home("cve-tls-client");
    let dns = Dns::start(vec![]);
    let sink = Sink::start(
        "127.0.0.2",
        Script {
            tls: Some(cfg),
            starttls_reply: "220 ready\r\n421 injected before TLS".into(),
            ..Script::default()
        },
    );
    h.control(
        "smtproutes",
        &format!("example.test:[127.0.0.2];{}\n", sink.addr.port()),
    );
    let r = remote(
        &h,
        &dns,
        &["example.test", "a@client.test", "b@example.test"],
        b"Subject: s\n\nbody\n",
    );
    assert_eq!(
        r,
        [
            "r",
            "K127.0.0.2 TLS transmitted message accepted.\nRemote host said: 250 ok 1700000000 qp 4242\n"
        ],
        "{:?}",
        sink.log()
    );
    let log = sink.log();
    let tls = log.iter().position(|l| l == "TLS").expect("TLS started");
    assert_eq!(log[tls + 1], "EHLO client.test", "{log:?}");
}

/// The end-of-data variants SMTP smuggling (CVE-2023-51764/51765/51766)
/// plays on: `<LF>.<LF>` and friends. With bare CR too.
const SMUGGLE: [&[u8]; 7] = [
    b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\r", b"\r.\r\n", b"\r.\n",
];

/// Inbound: no variant ends DATA; only `<CR><LF>.<CR><LF>` does. The
/// message after a variant is either refused whole or queued as one
/// message, the smuggled transaction never.
#[test]
fn cve_2023_51764_smtp_smuggling_inbound() {
    let s = Smtpd::new("cve-smuggle-in");
    for v in SMUGGLE {
        let _ = fs::remove_file(s.h.path("env"));
        let _ = fs::remove_file(s.h.path("msg"));
        let input = [
            TXN,
            b"DATA\r\nSubject: first\r\n\r\nbefore",
            v,
            b"MAIL FROM:<evil@x.org>\r\nRCPT TO:<evil@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\nQUIT\r\n",
        ]
        .concat();
        let out = s.run(&[], &input);
        let got = lines(&out.stdout);
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            got.iter().filter(|l| l.starts_with("354")).count(),
            1,
            "{v:?}: {got:?}"
        );
        assert!(!log.contains("evil"), "{v:?}: {log}");
        // An aborted queue run leaves an empty envelope file.
        match s.env().filter(|e| !e.is_empty()) {
            None => assert!(
                !got.iter().any(|l| l.starts_with("250 ok ")),
                "{v:?}: {got:?}"
            ),
            Some(env) => {
                assert_eq!(env, b"Fa@b.org\0Tjoe@example.com\0\0", "{v:?}");
                let msg = s.msg().unwrap();
                assert!(msg.contains("Subject: smuggled"), "{v:?}: one message");
            }
        }
    }
}

/// A receiving SMTP server on 127.0.0.2 that keeps the raw bytes of DATA.
struct RawSink {
    port: u16,
    data: Arc<Mutex<Vec<u8>>>,
    commands: Arc<Mutex<Vec<String>>>,
}

impl RawSink {
    fn start() -> RawSink {
        let l = TcpListener::bind("127.0.0.2:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let data = Arc::new(Mutex::new(Vec::new()));
        let commands = Arc::new(Mutex::new(Vec::new()));
        let (d, cm) = (data.clone(), commands.clone());
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                let _ = RawSink::serve(c, &d, &cm);
            }
        });
        RawSink {
            port,
            data,
            commands,
        }
    }

    /// A qmail-remote home whose route for example.test is a new sink.
    fn routed(name: &str) -> (QmailHome, Dns, RawSink) {
        let h = home(name);
        let sink = RawSink::start();
        h.control(
            "smtproutes",
            &format!("example.test:[127.0.0.2];{}\n", sink.port),
        );
        (h, Dns::start(vec![]), sink)
    }

    fn serve(
        c: std::net::TcpStream,
        data: &Mutex<Vec<u8>>,
        commands: &Mutex<Vec<String>>,
    ) -> std::io::Result<()> {
        c.set_read_timeout(Some(std::time::Duration::from_secs(20)))?;
        let mut w = c.try_clone()?;
        let mut rd = BufReader::new(c);
        w.write_all(b"220 raw.test ESMTP\r\n")?;
        loop {
            let mut l = Vec::new();
            if rd.read_until(b'\n', &mut l)? == 0 {
                return Ok(());
            }
            let line = String::from_utf8_lossy(&l).into_owned();
            commands.lock().unwrap().push(line.clone());
            let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
            match verb.as_str() {
                "DATA" => {
                    w.write_all(b"354 go\r\n")?;
                    let mut body = Vec::new();
                    while !body.ends_with(b"\r\n.\r\n") {
                        let mut chunk = Vec::new();
                        if rd.read_until(b'\n', &mut chunk)? == 0 {
                            return Ok(());
                        }
                        body.extend_from_slice(&chunk);
                    }
                    *data.lock().unwrap() = body;
                    w.write_all(b"250 ok\r\n")?;
                }
                "QUIT" => return w.write_all(b"221 bye\r\n"),
                _ => w.write_all(b"250 raw.test\r\n")?,
            }
        }
    }
}

/// Where a lenient receiver, one that takes a CR or an LF alone as a line
/// end, would see a line of just `.` (the end of DATA).
fn lenient_dot_lines(data: &[u8]) -> Vec<usize> {
    let eol = |b: Option<&u8>| matches!(b, Some(b'\r' | b'\n'));
    (0..data.len())
        .filter(|&i| data[i] == b'.' && (i == 0 || eol(data.get(i - 1))) && eol(data.get(i + 1)))
        .collect()
}

/// Outbound: whatever the queued message holds, qmail-remote never sends
/// a line that a lenient next hop takes as the end of DATA before the
/// real one.
#[test]
fn cve_2023_51765_smtp_smuggling_outbound() {
    let (h, dns, sink) = RawSink::routed("cve-smuggle-out");
    let mut bad = Vec::new();
    for v in SMUGGLE {
        let msg = [
            b"Subject: s\n\nbefore",
            v,
            b"MAIL FROM:<evil@x.org>\nRCPT TO:<evil@example.test>\nDATA\n\nafter\n",
        ]
        .concat();
        let r = remote(
            &h,
            &dns,
            &["example.test", "a@client.test", "b@example.test"],
            &msg,
        );
        let data = std::mem::take(&mut *sink.data.lock().unwrap());
        // qmail-remote sends every variant (a bare CR is data); it must
        // arrive whole and end only at the one final dot.
        assert_eq!(r.first().map(String::as_str), Some("r"), "{v:?}: {r:?}");
        let dots = lenient_dot_lines(&data);
        if dots != [data.len() - 3] {
            bad.push(format!(
                "{v:?} sent as {:?}",
                String::from_utf8_lossy(&data)
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "a lenient peer sees an early end:\n{bad:#?}"
    );
}

/// Runs qmail-local for user `u` (home `user`) with `sender`, local part
/// `local` and `ext`, the message on stdin.
fn local(h: &QmailHome, user: &Path, sender: &str, ext: &str, opts: &[&str]) -> Output {
    let mpath = user.parent().unwrap().join("message");
    fs::write(&mpath, "Subject: hi\n\nbody\n").unwrap();
    let localpart = if ext.is_empty() {
        "u".to_string()
    } else {
        format!("u-{ext}")
    };
    let dash = if ext.is_empty() { "" } else { "-" };
    h.cmd("qmail-local")
        .args(opts)
        .arg("--")
        .args(["u", user.to_str().unwrap(), &localpart, dash, ext])
        .args(["example.com", sender, "./Maildir/"])
        .stdin(fs::File::open(&mpath).unwrap())
        .output()
        .unwrap()
}

/// A user home with a Maildir, under a fresh directory in the qmail home.
fn user_home(h: &QmailHome, name: &str) -> PathBuf {
    let user = h.dir.join(name).join("u");
    for d in ["Maildir/tmp", "Maildir/new", "Maildir/cur"] {
        fs::create_dir_all(user.join(d)).unwrap();
    }
    fs::set_permissions(&user, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    user
}

fn delivered(user: &Path) -> Vec<String> {
    let new = user.join("Maildir/new");
    crate::common::list(&new)
        .iter()
        .map(|n| fs::read_to_string(new.join(n)).unwrap())
        .collect()
}

/// OpenSMTPD's MAIL FROM command injection (CVE-2020-7247) against our
/// `.qmail` program lines: the sender reaches the program as $SENDER,
/// byte for byte, and the shell never interprets it.
#[test]
fn cve_2020_7247_sender_injection_into_dotqmail_programs() {
    let h = QmailHome::new("cve-7247-local");
    let user = user_home(&h, "d");
    let pwned = user.parent().unwrap().join("PWNED");
    let got = user.join("sender.got");
    fs::write(
        user.join(".qmail"),
        format!("|printf '%s' \"$SENDER\" > {}\n", got.display()),
    )
    .unwrap();
    let p = pwned.display();
    let senders = [
        format!("a;touch {p};@x.org"),
        format!("`touch {p}`@x.org"),
        format!("$(touch {p})@x.org"),
        format!("a'\"$(touch {p})\"'@x.org"),
        format!("a\ntouch {p}\n@x.org"),
        format!("a|touch {p}@x.org"),
    ];
    for sender in &senders {
        let o = local(&h, &user, sender, "", &[]);
        assert_eq!(o.status.code(), Some(0), "{sender:?}: {o:?}");
        assert_eq!(fs::read_to_string(&got).unwrap(), *sender);
        assert!(!pwned.exists(), "{sender:?} ran a command");
    }
}

/// The same class against qmail-remote: a CR or LF in the sender or a
/// recipient never reaches the wire as a command of its own.
#[test]
fn cve_2020_7247_envelope_injection_into_qmail_remote() {
    let (h, dns, sink) = RawSink::routed("cve-7247-remote");
    let sender_refused =
        "DSorry, the envelope sender has a CR or LF in it, which SMTP cannot carry. (#5.1.7)\n";
    let recip_refused =
        "hSorry, the recipient address has a CR or LF in it, which SMTP cannot carry. (#5.1.3)\n";
    let ok = "K127.0.0.2 accepted message.\nRemote host said: 250 ok\n";
    let cases: [(&str, &str, &[&str]); 4] = [
        (
            "a\r\nRCPT TO:<evil@x.org>\r\n@client.test",
            "b@example.test",
            &[sender_refused],
        ),
        ("a\rRSET\r@client.test", "b@example.test", &[sender_refused]),
        (
            "a@client.test",
            "b\r\nRCPT TO:<evil@x.org>\r\n@example.test",
            &[recip_refused, "r", ok],
        ),
        (
            "a@client.test",
            "b\nRSET\n@example.test",
            &[recip_refused, "r", ok],
        ),
    ];
    for (sender, recip, want) in cases {
        sink.commands.lock().unwrap().clear();
        let args = ["example.test", sender, recip, "c@example.test"];
        let r = remote(&h, &dns, &args, b"x\n");
        let cmds = sink.commands.lock().unwrap().clone();
        for c in &cmds {
            assert!(
                !c.starts_with("RCPT TO:<evil") && !c.starts_with("RSET"),
                "{sender:?} {recip:?} injected {c:?}: {cmds:?}"
            );
            // One command per line: no CR or LF inside it.
            let body = c.trim_end_matches("\r\n");
            assert!(
                !body.contains(['\r', '\n']),
                "{sender:?} {recip:?}: {cmds:?}"
            );
        }
        assert_eq!(r, want, "{sender:?} {recip:?}: {cmds:?}");
    }
}

/// Exim's 21Nails header overflows: a 1 MB header line and 100,000
/// header lines pass qmail-inject intact, in bounded memory.
#[test]
fn exim_21nails_header_overflows_through_qmail_inject() {
    let f = Fake::new("cve-21nails-header", 0);
    // Just under qmail-inject's 1 MiB bound for one field: passes intact
    // (past the bound it is refused, see qmail_inject::recipient_flood_is_bounded).
    let long = "x".repeat((1 << 20) - 64);
    let mut input = format!("Date: d\nMessage-ID: <m@x>\nSubject: {long}\n");
    for i in 0..100_000 {
        input.push_str(&format!("X-H: {i}\n"));
    }
    input.push_str("To: a@x.example\n\nbody\n");
    // A hard memory bound: heap and anonymous maps at most 64 MiB.
    let mut c = Command::new("prlimit");
    c.env_clear()
        .env("QMAILHOME", &f.h.dir)
        .env("QMAILQUEUE", f.h.path("fake-queue"))
        .env("PATH", "/usr/bin:/bin")
        .current_dir(&f.h.dir)
        .args(["--data=67108864", "--"])
        .arg(bin("qmail-inject"));
    let o = run_with_input(&mut c, input.as_bytes());
    ok(&o);
    let msg = f.msg();
    assert!(
        msg.contains(&format!("\nSubject: {long}\n")),
        "long line intact"
    );
    assert_eq!(msg.matches("\nX-H: ").count(), 100_000);
    assert!(msg.ends_with("\n\nbody\n"));
    assert!(f.env().ends_with("|Ta@x.example||"), "{}", f.env());
}

/// Exim's 21Nails `-odbg`-style option injection through sendmail: an
/// argument that looks like an option after `--` or after the first
/// recipient is a recipient, never an option.
#[test]
fn exim_21nails_option_injection_through_sendmail() {
    let f = Fake::new("cve-21nails-opt", 0);
    let trap = f.h.dir.join("trap");
    let q = format!("-oQ{}", trap.display());
    let input = "Date: d\nMessage-ID: <m@x>\nSubject: s\n\nbody\n";
    let runs: [(&[&str], String); 2] = [
        (
            &["--", "-odbg", &q, "-t"],
            format!("T-odbg@me.example|T{q}@me.example|T-t@me.example||"),
        ),
        (
            &["a@x.example", "-odbg", &q, "-bs"],
            format!("Ta@x.example|T-odbg@me.example|T{q}@me.example|T-bs@me.example||"),
        ),
    ];
    for (args, want) in runs {
        let o = f.run(
            "sendmail",
            &[&["-f", "me@me.example"], args].concat(),
            &[],
            input,
        );
        ok(&o);
        assert_eq!(f.env(), format!("Fme@me.example|{want}"), "{args:?}");
    }
    assert!(!trap.exists());
}

/// The greeting and the EHLO reply of a home offering AUTH LOGIN PLAIN.
const EHLO: [&str; 6] = [
    GREETING,
    "250-mx.example",
    "250-PIPELINING",
    "250-8BITMIME",
    "250-AUTH LOGIN PLAIN",
    "250 SIZE *",
];

/// The AUTH NUL bypass (issue 11 item 1): a CRAM-MD5 answer R for a
/// challenge C, replayed as the PLAIN or LOGIN password `R\0C`, must not
/// log in through qmail-authuser.
#[test]
fn auth_nul_bypass_replayed_cram_md5_through_plain_and_login() {
    let s = auth_home("cve-auth-nul");
    let challenge = b"<1234.5678@mx.example>";
    let r = sqmail::smtpd::auth::hmac_md5_hex(b"secret", challenge);
    let pass = [r.as_bytes(), b"\0", challenge].concat();
    let plain = b64(&[b"\0joe@example.com\0".as_slice(), &pass].concat());
    let out = run_with_input(
        &mut auth_cmd(&s, ""),
        format!(
            "EHLO x\r\nAUTH PLAIN {plain}\r\nMAIL FROM:<a@b.org>\r\nRCPT TO:<x@elsewhere.org>\r\n"
        )
        .as_bytes(),
    );
    check(
        &out,
        &[
            &EHLO[..],
            &[
                "501 *",
                "250 ok",
                "553 sorry, that domain isn't in my list of allowed rcpthosts *",
            ],
        ]
        .concat(),
    );
    let login = format!(
        "EHLO x\r\nAUTH LOGIN\r\n{}\r\n{}\r\nMAIL FROM:<a@b.org>\r\nRCPT TO:<x@elsewhere.org>\r\n",
        b64(b"joe@example.com"),
        b64(&pass)
    );
    let out = run_with_input(&mut auth_cmd(&s, ""), login.as_bytes());
    check(
        &out,
        &[
            &EHLO[..],
            &[
                "334 VXNlcm5hbWU6",
                "334 UGFzc3dvcmQ6",
                "501 *",
                "250 ok",
                "553 sorry, that domain isn't in my list of allowed rcpthosts *",
            ],
        ]
        .concat(),
    );
}

/// Header and envelope CR/LF injection: a CR in HELO, MAIL FROM, RCPT TO
/// or an AUTH user name never starts a new line in the Received header
/// or in the log; an LF in the sender or recipient handed to qmail-local
/// never starts a header line of its own (Return-Path, Delivered-To).
#[test]
fn crlf_injection_into_received_header_log_and_delivery_headers() {
    let s = auth_home("cve-crlf");
    let accept_all = ["/bin/sh", "-c", "cat <&3 >/dev/null"];
    let user = b"joe\rX-Injected: cr\nX-Injected: lf@example.com";
    let plain = format!(
        "AUTH PLAIN {}\r\n",
        b64(&[b"\0".as_slice(), user, b"\0pw"].concat())
    );
    let login = format!("AUTH LOGIN\r\n{}\r\n{}\r\n", b64(user), b64(b"pw"));
    // Refused (logged; one run, as each refusal costs a 5 s pause), then
    // accepted by a checkprogram that takes anyone (in Received too).
    for (auth, accept) in [(&plain, false), (&plain, true), (&login, true)] {
        let _ = fs::remove_file(s.h.path("msg"));
        let input = format!(
            "EHLO a\rX-Injected: helo\r\n{auth}MAIL FROM:<a\rX-Injected: mail@b.org>\r\nRCPT TO:<joe\rX-Injected: rcpt@example.com>\r\nRCPT TO:<joe@example.com>\r\nDATA\r\nSubject: s\r\n\r\nbody\r\n.\r\n"
        );
        let mut c = if accept {
            let mut c = s.cmd(&[("SMTPAUTH", "")]);
            c.args(accept_all);
            c
        } else {
            auth_cmd(&s, "")
        };
        let out = run_with_input(&mut c, input.as_bytes());
        let got = lines(&out.stdout);
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!log.contains('\r'), "a CR in the log: {log:?}");
        assert!(!log.lines().any(|l| l.starts_with("X-Injected")), "{log:?}");
        assert!(got.last().unwrap().starts_with("250 ok "), "{got:?}");
        let msg = s.msg().unwrap();
        let header = msg.split("\n\n").next().unwrap();
        assert!(!header.contains('\r'), "a CR in the header: {header:?}");
        assert!(
            !header.lines().any(|l| l.starts_with("X-Injected")),
            "{header:?}"
        );
    }

    // qmail-local: LF in the sender and in the extension.
    let h = QmailHome::new("cve-crlf-local");
    let user = user_home(&h, "d");
    fs::write(user.join(".qmail-default"), "./Maildir/\n").unwrap();
    let o = local(
        &h,
        &user,
        "a\nX-Injected: rp@b.org",
        "x\nX-Injected: dt",
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let msgs = delivered(&user);
    assert_eq!(msgs.len(), 1);
    let header = msgs[0].split("\n\n").next().unwrap();
    assert!(
        !header.lines().any(|l| l.starts_with("X-Injected")),
        "{header}"
    );
}

/// Path traversal through `.qmail-ext` names: an extension with `/` and
/// `..` (`user-a/../../x`) never opens a file outside the home, since a
/// `.` in the extension is looked up as `:`.
#[test]
fn path_traversal_through_dotqmail_extension() {
    let h = QmailHome::new("cve-traversal");
    let user = user_home(&h, "d");
    let pwned = user.parent().unwrap().join("PWNED");
    // What `.qmail-a/../../evil` would name, were the extension taken as is.
    fs::create_dir(user.join(".qmail-a")).unwrap();
    fs::create_dir(user.join(".qmail-..")).unwrap();
    let evil = format!("|touch {}\n", pwned.display());
    fs::write(user.parent().unwrap().join("evil"), &evil).unwrap();
    fs::write(user.join(".qmail-default"), "./Maildir/\n").unwrap();
    for ext in ["a/../../evil", "../../evil", "../evil"] {
        let o = local(&h, &user, "s@x.org", ext, &["-n"]);
        let said = String::from_utf8_lossy(&o.stdout);
        assert!(!said.contains("touch"), "{ext}: {said}");
        let o = local(&h, &user, "s@x.org", ext, &[]);
        assert_eq!(o.status.code(), Some(0), "{ext}: {o:?}");
        assert!(!pwned.exists(), "{ext} reached a file outside the home");
    }
    assert_eq!(delivered(&user).len(), 3, "each went to .qmail-default");
}
