//! qmail-rspawn: its in-process deliveries answer qmail-send exactly as the
//! qmail-remote program would; a replaced qmail-remote is executed.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;

use crate::common::QmailHome;
use crate::common::remote::*;
use sqmail::sys::Exit;

const MSG: &[u8] = b"Subject: hi\n\nline one\n.dotted\n";

/// A sink changed by `f`.
fn script(f: impl FnOnce(&mut Script)) -> Script {
    let mut s = Script::default();
    f(&mut s);
    s
}

/// One domain per behaviour of the peer: (domain, script, expected letter).
fn cases() -> Vec<(&'static str, Script, u8)> {
    vec![
        ("ok.test", Script::default(), b'K'),
        (
            "rcpt5.test",
            script(|s| s.rcpt = std::sync::Arc::new(|_| "550 no such user".into())),
            b'D',
        ),
        (
            "rcpt4.test",
            script(|s| s.rcpt = std::sync::Arc::new(|_| "450 mailbox busy".into())),
            b'Z',
        ),
        (
            "grey.test",
            script(|s| s.greeting = "421 busy".into()),
            b'Z',
        ),
        (
            "final5.test",
            script(|s| s.final_reply = "554 rejected".into()),
            b'D',
        ),
        ("mail4.test", script(|s| s.mail = "451 later".into()), b'Z'),
        (
            "drop.test",
            script(|s| s.drop_at = Some("DATA".into())),
            b'Z',
        ),
    ]
}

/// A home with one sink per case, routed by smtproutes; unrouted domains
/// go to the (empty) test DNS server.
fn setup(name: &str) -> (QmailHome, Dns, Vec<Sink>) {
    let h = QmailHome::new(name);
    h.control("helohost", "client.test\n");
    let mut routes = String::new();
    let mut sinks = Vec::new();
    for (dom, sc, _) in cases() {
        let s = Sink::start("127.0.0.2", sc);
        routes.push_str(&format!("{dom}:[127.0.0.2];{}\n", s.addr.port()));
        sinks.push(s);
    }
    h.control("smtproutes", &routes);
    fs::write(h.path("queue/mess/0/4242"), MSG).unwrap();
    (h, Dns::start(vec![]), sinks)
}

/// The recipients, one per case plus one that has no host at all.
fn recipients() -> Vec<String> {
    let mut v: Vec<String> = cases().iter().map(|c| format!("b@{}", c.0)).collect();
    v.push("b@nx.test".into());
    v
}

/// Runs qmail-rspawn with every recipient as one concurrent delivery and
/// returns its answers by recipient.
fn rspawn(h: &QmailHome, dns: &Dns, qmailremote: Option<&Path>) -> BTreeMap<String, String> {
    let Spawner {
        mut child,
        mut out,
        limit,
    } = Spawner::start(h, dns, qmailremote);
    let rcpts = recipients();
    assert!(limit as usize >= rcpts.len(), "concurrency {limit}");
    let mut cmds = Vec::new();
    for (i, r) in rcpts.iter().enumerate() {
        cmds.extend_from_slice(&command(i as u8, "a@client.test", r));
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&cmds).unwrap();
    drop(stdin);
    let mut all = Vec::new();
    out.read_to_end(&mut all).unwrap();
    assert!(child.wait().unwrap().success());
    let mut got = BTreeMap::new();
    // Answers: the delivery number byte, the text, a NUL.
    let mut rest = &all[..];
    while let [n, tail @ ..] = rest {
        let end = tail.iter().position(|&b| b == 0).expect("NUL-terminated");
        let text = String::from_utf8_lossy(&tail[..end]).into_owned();
        assert!(
            got.insert(rcpts[*n as usize].clone(), text).is_none(),
            "two answers"
        );
        rest = &tail[end + 1..];
    }
    assert_eq!(got.len(), rcpts.len(), "{got:?}");
    got
}

/// What qmail-rspawn must answer for a recipient: the qmail-remote
/// program's reports, translated.
fn program(h: &QmailHome, dns: &Dns, recip: &str) -> String {
    let host = &recip[recip.rfind('@').unwrap() + 1..];
    let o = h
        .cmd("qmail-remote")
        .args([host, "a@client.test", recip])
        .env("DNSCACHEIP", dns.env())
        .stdin(fs::File::open(h.path("queue/mess/0/4242")).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success());
    let mut v = Vec::new();
    sqmail::send::delivery::remote_report(&mut v, Exit::Code(0), &o.stdout);
    String::from_utf8(v).unwrap()
}

#[test]
fn in_process_answers_like_the_program() {
    let (h, dns, sinks) = setup("rspawn-same");
    // In-process: sqmail's qmail-remote is not even needed.
    let ours = h.path("bin/qmail-remote");
    let kept = h.path("qmail-remote.kept");
    fs::rename(&ours, &kept).unwrap();
    let inproc = rspawn(&h, &dns, None);
    fs::rename(&kept, &ours).unwrap();
    let exec = rspawn(&h, &dns, Some(&ours));
    for (dom, _, letter) in cases() {
        let r = format!("b@{dom}");
        assert_eq!(inproc[&r].as_bytes()[0], letter, "{r}: {}", inproc[&r]);
    }
    assert!(inproc["b@nx.test"].starts_with("DSorry, I couldn't find any host named nx.test."));
    assert!(inproc["b@ok.test"].contains("127.0.0.2 accepted message."));
    assert_eq!(inproc, exec, "in-process and executed qmail-remote differ");
    for r in recipients() {
        assert_eq!(inproc[&r], program(&h, &dns, &r), "{r}");
    }
    assert!(
        sinks[0]
            .log()
            .iter()
            .any(|l| l == "BODY:Subject: hi\n\nline one\n..dotted\n")
    );
}

#[test]
fn a_replaced_qmail_remote_is_executed() {
    let (h, dns, _sinks) = setup("rspawn-wrapper");
    let seen = h.path("wrapper.args");
    let ours = h.path("bin/qmail-remote");
    fs::rename(&ours, h.path("bin/qmail-remote.orig")).unwrap();
    fs::write(
        &ours,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\nexec qmail-remote.orig \"$@\"\n",
            seen.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&ours, fs::Permissions::from_mode(0o755)).unwrap();
    let got = rspawn(&h, &dns, None);
    assert!(got["b@ok.test"].starts_with("K127.0.0.2 accepted message."));
    let args = fs::read_to_string(&seen).unwrap();
    assert_eq!(args.lines().count(), recipients().len(), "{args}");
    assert!(args.lines().any(|l| l == "ok.test a@client.test b@ok.test"));
}

/// SIGKILL qmail-send and all its helpers (in-process qmail-remote
/// children included) while remote deliveries run on the fast path; after
/// a restart every acknowledged message reached the peer complete at least
/// once, the queue drains and qmail-qmaint finds it sane.
#[test]
fn crash_during_fast_path_remote_deliveries() {
    use crate::common::queue::{queue_count, queue_drained};
    use crate::common::send::*;
    use crate::common::wait_until;
    let h = QmailHome::new("rspawn-crash");
    h.control("helohost", "client.test\n");
    h.control("concurrencyremote", "5\n");
    let sink = Sink::start("127.0.0.2", Script::default());
    h.control(
        "smtproutes",
        &format!("far.example:[127.0.0.2];{}\n", sink.addr.port()),
    );
    let body = |i: usize| format!("Subject: test {i}\n\nbody of message {i}\n");
    let (rounds, per_round) = (6, 20);
    let mut acked = 0;
    for round in 0..rounds {
        let d = Daemon::start(&h);
        let before = d.log_text().matches("starting delivery").count();
        for k in 0..per_round {
            let i = round * per_round + k;
            let r = format!("u{i}@far.example");
            enqueue(&h, "me@here.example", &[&r], body(i).as_bytes());
            acked += 1;
        }
        await_kill_point(&d, before, round, per_round);
        // On the fast path: nothing was preprocessed the plain way.
        assert_eq!(queue_count(&h, "info"), 0, "round {round}: info files");
        assert_eq!(queue_count(&h, "remote"), 0, "round {round}: remote files");
        d.kill_all();
    }
    let d = Daemon::start(&h);
    let seen = |i: usize| {
        let want = format!("BODY:{}", body(i));
        sink.log().iter().filter(|l| **l == want).count()
    };
    assert!(
        wait_until(60, || queue_drained(&h) && (0..acked).all(|i| seen(i) > 0)),
        "lost: {:?}; log:\n{}",
        (0..acked).filter(|&i| seen(i) == 0).collect::<Vec<_>>(),
        d.log_text()
    );
    assert_eq!(d.stop(), 0);
    let orphans = queue_count(&h, "mess");
    assert!(orphans <= rounds, "{orphans} mess files left");
    let dups: usize = (0..acked).map(|i| seen(i) - 1).sum();
    eprintln!("remote crash safety: {acked} messages, {rounds} kills, {dups} duplicates");
    // qmail-qmaint checks the queue's consistency.
    let o = h.run("qmail-qmaint", &[] as &[&str], b"");
    assert!(o.status.success(), "qmail-qmaint: {o:?}");
}

/// qmail-rspawn started by hand, to hand it deliveries one at a time;
/// `limit` is the concurrency it announced.
struct Spawner {
    child: std::process::Child,
    out: std::process::ChildStdout,
    limit: u8,
}

/// A delivery command for queue/mess/0/4242, as qmail-send writes it.
fn command(delnum: u8, sender: &str, recip: &str) -> Vec<u8> {
    let mut cmd = vec![delnum];
    cmd.extend_from_slice(format!("0/4242\0{sender}\0{recip}\0").as_bytes());
    cmd
}

impl Spawner {
    fn start(h: &QmailHome, dns: &Dns, qmailremote: Option<&Path>) -> Spawner {
        let mut c = h.cmd("qmail-rspawn");
        c.env("DNSCACHEIP", dns.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(p) = qmailremote {
            c.env("QMAILREMOTE", p);
        }
        let mut child = c.spawn().unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut limit = [0u8; 1];
        out.read_exact(&mut limit).unwrap();
        Spawner {
            child,
            out,
            limit: limit[0],
        }
    }

    /// One delivery of queue/mess/0/4242, and its answer.
    fn deliver(&mut self, delnum: u8, recip: &str) -> String {
        self.deliver_from(delnum, "a@client.test", recip)
    }

    fn deliver_from(&mut self, delnum: u8, sender: &str, recip: &str) -> String {
        let cmd = command(delnum, sender, recip);
        self.child.stdin.as_mut().unwrap().write_all(&cmd).unwrap();
        let mut n = [0u8; 1];
        self.out.read_exact(&mut n).unwrap();
        assert_eq!(n[0], delnum);
        let mut text = Vec::new();
        let mut b = [0u8; 1];
        loop {
            self.out.read_exact(&mut b).unwrap();
            if b[0] == 0 {
                break;
            }
            text.push(b[0]);
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    /// Closes its input, as qmail-send's exit does; waits for its exit.
    fn finish(mut self) {
        drop(self.child.stdin.take());
        assert!(self.child.wait().unwrap().success());
    }
}

fn count(log: &[String], what: &str) -> usize {
    log.iter().filter(|l| l.starts_with(what)).count()
}

/// Deliveries to one host one after another share one SMTP session; the
/// session ends with QUIT once qmail-rspawn's input closes.
#[test]
fn one_session_carries_the_deliveries_to_one_host() {
    let (h, dns, sinks) = setup("rspawn-reuse");
    let mut s = Spawner::start(&h, &dns, None);
    for (i, r) in ["b@ok.test", "c@OK.test", "d@ok.test"].iter().enumerate() {
        let got = s.deliver(i as u8, r);
        assert!(
            got.starts_with("K127.0.0.2 accepted message."),
            "{r}: {got}"
        );
    }
    // Another host: its own session, answered as before.
    assert!(s.deliver(5, "b@rcpt5.test").starts_with('D'));
    let log = sinks[0].log();
    assert_eq!(count(&log, "CONNECT"), 1, "{log:?}");
    assert_eq!(count(&log, "MAIL FROM:<a@client.test>"), 3, "{log:?}");
    assert_eq!(count(&log, "EHLO"), 1, "{log:?}");
    assert_eq!(count(&log, "QUIT"), 0, "kept open: {log:?}");
    s.finish();
    assert!(sinks[0].wait_for("QUIT"), "{:?}", sinks[0].log());
}

/// A kept session the server hangs up on, while idle or at the next MAIL,
/// costs nothing but a new connection: the delivery still succeeds.
#[test]
fn a_session_the_server_ended_is_replaced() {
    let h = QmailHome::new("rspawn-reuse-stale");
    h.control("helohost", "client.test\n");
    fs::write(h.path("queue/mess/0/4242"), MSG).unwrap();
    let idle = Sink::start("127.0.0.2", script(|s| s.close_after_dot = true));
    let at_mail = Sink::start("127.0.0.2", script(|s| s.max_messages = Some(1)));
    h.control(
        "smtproutes",
        &format!(
            "idle.test:[127.0.0.2];{}\nmail.test:[127.0.0.2];{}\n",
            idle.addr.port(),
            at_mail.addr.port()
        ),
    );
    let dns = Dns::start(vec![]);
    let mut s = Spawner::start(&h, &dns, None);
    for (i, r) in ["a@idle.test", "b@idle.test", "a@mail.test", "b@mail.test"]
        .iter()
        .enumerate()
    {
        let got = s.deliver(i as u8, r);
        assert!(
            got.starts_with("K127.0.0.2 accepted message."),
            "{r}: {got}"
        );
    }
    s.finish();
    for sink in [&idle, &at_mail] {
        let log = sink.log();
        assert_eq!(count(&log, "CONNECT"), 2, "{log:?}");
        assert_eq!(count(&log, "BODY:"), 2, "{log:?}");
    }
    // The old session hung up at the second MAIL (before logging it): it
    // went again on the new one. (That one's QUIT is a CLOSE too.)
    let log = at_mail.log();
    let second = log.iter().rposition(|l| l == "CONNECT").unwrap();
    assert_eq!(log[second - 1], "CLOSE", "{log:?}");
    assert_eq!(count(&log, "MAIL FROM"), 2, "{log:?}");
}

/// A kept STARTTLS session carries the next message still encrypted: one
/// handshake for both, and the reports say TLS; a sender whose rule asks
/// for a different TLS policy does not share it.
#[test]
fn a_tls_session_is_kept_and_only_for_the_same_rule() {
    let h = QmailHome::new("rspawn-reuse-tls");
    h.control("helohost", "client.test\n");
    fs::write(h.path("queue/mess/0/4242"), MSG).unwrap();
    let (_ck, cfg) = crate::common::tls::self_signed(&["tls.test"]);
    let sink = Sink::start("127.0.0.2", script(|s| s.tls = Some(cfg)));
    h.control(
        "smtproutes",
        &format!("tls.test:[127.0.0.2];{}\n", sink.addr.port()),
    );
    // Senders at other.test: TLS never (a rule of their own).
    h.control("tlsdestinations", "*:\n!:;|other.test\n");
    let dns = Dns::start(vec![]);
    let mut s = Spawner::start(&h, &dns, None);
    let tls_ok = "K127.0.0.2 TLS transmitted message accepted.";
    assert!(s.deliver(0, "a@tls.test").starts_with(tls_ok));
    assert!(s.deliver(1, "b@tls.test").starts_with(tls_ok));
    let log = sink.log();
    assert_eq!(count(&log, "CONNECT"), 1, "{log:?}");
    assert_eq!(count(&log, "TLS"), 1, "{log:?}");
    assert_eq!(count(&log, "BODY:"), 2, "{log:?}");
    let plain = s.deliver_from(2, "x@other.test", "c@tls.test");
    assert!(plain.starts_with("K127.0.0.2 accepted message."), "{plain}");
    let log = sink.log();
    assert_eq!(count(&log, "CONNECT"), 2, "{log:?}");
    assert_eq!(count(&log, "TLS"), 1, "{log:?}");
    s.finish();
}
