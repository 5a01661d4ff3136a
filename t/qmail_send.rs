//! qmail-start, qmail-send, qmail-todo, qmail-clean and the spawners,
//! running together in a private home.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::Stdio;

use crate::common::queue::{queue_count, queue_drained, queue_empty};
use crate::common::send::*;
use crate::common::*;

fn body(i: usize) -> Vec<u8> {
    let mut b = format!("Subject: test {i}\n\n").into_bytes();
    for k in 0..(i % 7) * 40 {
        b.extend_from_slice(format!("line {k} of message {i}\n").as_bytes());
    }
    b
}

/// One command to qmail-rspawn and its answer, through the real protocol.
#[test]
fn rspawn_protocol_and_missing_remote() {
    let h = QmailHome::new("rspawn");
    let out = fake_remote(&h);
    let id = enqueue(&h, "a@b.example", &[], b"hello\n");
    let mut child = h
        .cmd("qmail-rspawn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = child.stdin.take().unwrap();
    let mut r = child.stdout.take().unwrap();
    let mut b = [0u8; 1];
    r.read_exact(&mut b).unwrap();
    assert_eq!(b[0], 120, "announced concurrency");
    let rel = format!("{}/{id}", id % 23);
    let reply = spawn_one(
        &mut w,
        &mut r,
        &format!("\x03{rel}\0a@b.example\0joe@far.example\0"),
    );
    assert_eq!(reply, b"\x03Kjoe@far.example accepted message.");
    let got = remote_got(&out);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, b"a@b.example\nhello\n");
    // Bad requests are answered at once.
    w.write_all(format!("\x04{rel}\0a@b\0nohost\0").as_bytes())
        .unwrap();
    w.write_all(b"\x05../x\0a@b\0c@d\0").unwrap();
    w.flush().unwrap();
    let mut buf = vec![0u8; 0];
    let mut byte = [0u8; 1];
    while buf.iter().filter(|&&c| c == 0).count() < 2 {
        r.read_exact(&mut byte).unwrap();
        buf.push(byte[0]);
    }
    assert_eq!(
        buf,
        b"\x04DSorry, address must include host name. (#5.1.3)\n\0\x05DInternal error: messid has nonnumerics. (#5.3.5)\n\0"
    );
    // A missing qmail-remote is a deferral, never a bounce.
    fs::remove_file(h.path("bin/qmail-remote")).unwrap();
    let reply = spawn_one(
        &mut w,
        &mut r,
        &format!("\x06{rel}\0a@b\0joe@far.example\0"),
    );
    assert_eq!(reply, b"\x06ZUnable to run qmail-remote.\n");
    drop(w);
    assert_eq!(wait_child(&mut child, 10), Some(0), "exits 0 at EOF");
}

#[test]
fn clean_answers() {
    let h = QmailHome::new("clean");
    let id = enqueue(&h, "a@b", &["c@d"], b"x\n");
    let out = h.run(
        "qmail-clean",
        &[] as &[&str],
        format!("todo/{}/{id}\0foop/{id}\0bogus\0", id % 23).as_bytes(),
    );
    assert_eq!(out.stdout, b"++x");
    assert!(queue_empty(&h));
}

/// Mail flows to a (fake) remote host: every message arrives once, byte
/// for byte, and the queue is empty afterwards; TERM exits cleanly.
#[test]
fn delivers_remote_mail_and_empties_queue() {
    let h = QmailHome::new("send-remote");
    let out = fake_remote(&h);
    let d = Daemon::start(&h);
    let n = 60;
    for i in 0..n {
        enqueue(
            &h,
            "me@here.example",
            &[&format!("u{i}@far.example")],
            &body(i),
        );
    }
    assert!(
        wait_until(60, || list(&out.join("new")).len() >= n && queue_empty(&h)),
        "got {} of {n}; log:\n{}",
        list(&out.join("new")).len(),
        d.log_text()
    );
    for (name, bytes) in remote_got(&out) {
        let i: usize = name[1..name.find('@').unwrap()].parse().unwrap();
        let mut want = b"me@here.example\n".to_vec();
        want.extend_from_slice(&body(i));
        assert_eq!(bytes, want, "message {i}");
    }
    assert_eq!(list(&out.join("new")).len(), n, "each exactly once");
    assert!(wait_until(10, || d.log_text().matches("end msg ").count() >= n));
    let log = d.log_text();
    assert_eq!(log.matches("new msg ").count(), n);
    assert_eq!(log.matches("end msg ").count(), n);
    assert!(
        log.contains(": success: u0@far.example_accepted_message.\n"),
        "{log}"
    );
    assert!(log.contains("info msg "), "{log}");
    assert_eq!(d.stop(), 0);
    let log = fs::read_to_string(h.dir.parent().unwrap().join("send.log")).unwrap();
    assert!(log.ends_with("status: exiting\n"), "{log}");
}

/// Z then K: the deferral is logged, the record stays, ALRM retries now.
#[test]
fn deferral_then_retry_on_alrm() {
    let h = QmailHome::new("send-defer");
    let out = fake_remote(&h);
    let d = Daemon::start(&h);
    let id = enqueue(&h, "me@here.example", &["defer1@far.example"], b"x\n");
    assert!(wait_until(20, || d
        .log_text()
        .contains("deferral: greylisted")));
    assert!(h.path(&format!("queue/remote/{}/{id}", id % 23)).exists());
    assert!(remote_got(&out).is_empty());
    d.signal(libc::SIGALRM);
    assert!(
        wait_until(20, || queue_empty(&h)),
        "not retried: {}",
        d.log_text()
    );
    assert_eq!(remote_got(&out).len(), 1);
    assert!(wait_until(10, || d.log_text().contains("end msg ")));
    assert!(d.log_text().contains("success: defer1@far.example"));
}

/// A restart with deferred mail in many split directories: qmail-send reads
/// info/ a split directory at a time and gives qmail-todo its go after the
/// last one; an ALRM right after the start retries every message exactly
/// once, and mail queued during the restart is delivered too.
#[test]
fn restart_reads_the_queue_and_alrm_retries_each_once() {
    let h = QmailHome::new("send-restart");
    let out = fake_remote(&h);
    let d = Daemon::start(&h);
    let n = 60;
    for i in 0..n {
        enqueue(
            &h,
            "me@here.example",
            &[&format!("defer{i}@far.example")],
            b"x\n",
        );
    }
    assert!(
        wait_until(60, || d.log_text().matches("deferral: greylisted").count()
            == n),
        "{}",
        d.log_text()
    );
    let log = d.log.clone();
    assert_eq!(d.stop(), 0);
    // A fresh log: Daemon::start waits for the new qmail-send's first line.
    fs::rename(&log, log.with_extension("1")).unwrap();
    let d = Daemon::start(&h);
    d.signal(libc::SIGALRM);
    enqueue(&h, "me@here.example", &["late@far.example"], b"x\n");
    assert!(
        wait_until(60, || queue_empty(&h)),
        "not retried: {}",
        d.log_text()
    );
    let got = remote_got(&out);
    assert_eq!(got.len(), n + 1, "{}", d.log_text());
    for i in 0..n {
        let name = format!("defer{i}@far.example.");
        assert_eq!(
            got.iter().filter(|(f, _)| f.starts_with(&name)).count(),
            1,
            "{name}"
        );
    }
    assert_eq!(d.stop(), 0);
}

/// TERM during a delivery: qmail-send waits for it, then exits 0; the
/// schedule of a pending message survives as the channel file's mtime.
#[test]
fn term_finishes_deliveries_in_flight() {
    let h = QmailHome::new("send-term");
    let out = fake_remote(&h);
    let d = Daemon::start(&h);
    enqueue(&h, "me@here.example", &["slow@far.example"], b"x\n");
    assert!(wait_until(20, || d
        .log_text()
        .contains("starting delivery 1:")));
    d.signal(libc::SIGTERM);
    // qmail-todo's line says qmail-send took the TERM (qmail-log(5)).
    assert!(
        wait_until(20, || d
            .log_text()
            .contains("status: qmail-todo stop processing asap")),
        "{}",
        d.log_text()
    );
    fs::write(out.join("go"), "").unwrap();
    let log = d.log.clone();
    assert_eq!(d.stop(), 0);
    let log = fs::read_to_string(log).unwrap();
    let ok = log.find("delivery 1: success").expect("delivery finished");
    assert!(ok < log.find("status: exiting").unwrap(), "{log}");
    // The result's status line is the one that says exitasap.
    assert!(
        log[ok..].contains("status: local 0/10 remote 0/20 exitasap\n"),
        "{log}"
    );
    assert_eq!(remote_got(&out).len(), 1);
}

/// An idle qmail-send stops with qmail's lines only: no status line for
/// the TERM itself (scripts that count status lines see qmail's number).
#[test]
fn term_when_idle_logs_no_extra_status() {
    let h = QmailHome::new("send-term-idle");
    let d = Daemon::start(&h);
    let log = d.log.clone();
    let before = d.log_text();
    assert_eq!(d.stop(), 0);
    let log = fs::read_to_string(log).unwrap();
    let tail = log.strip_prefix(before.as_str()).expect("log grows only");
    assert_eq!(
        tail, "status: qmail-todo stop processing asap\nstatus: exiting\n",
        "{log}"
    );
}

/// HUP rereads the concurrency; a second qmail-send refuses to start.
#[test]
fn hup_rereads_controls_and_mutex() {
    let h = QmailHome::new("send-hup");
    fake_remote(&h);
    let d = Daemon::start(&h);
    h.control("concurrencyremote", "5\n");
    d.signal(libc::SIGHUP);
    enqueue(&h, "me@here.example", &["a@far.example"], b"x\n");
    assert!(
        wait_until(20, || d.log_text().contains("remote 1/5")),
        "{}",
        d.log_text()
    );
    let second = h.cmd("qmail-send").stdin(Stdio::null()).output().unwrap();
    assert_eq!(second.status.code(), Some(111));
    drop(d);
}

fn bounce_text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A permanent failure returns to the sender as a QSBMF bounce; a bounce
/// that fails goes to doublebounceto; a failed double bounce is dropped.
#[test]
fn bounces_and_double_bounces() {
    let h = QmailHome::new("send-bounce");
    if !h.path("bin/qmail-queue").exists() {
        return crate::common::skip("qmail-queue not built in this tree");
    }
    h.control("doublebounceto", "dbl\n");
    h.control("doublebouncehost", "far3.example\n");
    h.control("bouncehost", "bounce.example\n");
    let out = fake_remote(&h);
    let d = Daemon::start(&h);
    enqueue(
        &h,
        "joe@far.example",
        &["nobody@far2.example"],
        b"Subject: hi\n\noriginal\n",
    );
    assert!(
        wait_until(30, || remote_got(&out).len() == 1 && queue_empty(&h)),
        "{}",
        d.log_text()
    );
    let got = remote_got(&out);
    assert!(got[0].0.starts_with("joe@far.example."));
    let t = bounce_text(&got[0].1);
    assert!(t.starts_with("\n"), "bounce sender is <>: {t}");
    assert!(t.contains("From: MAILER-DAEMON@bounce.example\nTo: joe@far.example\nSubject: failure notice\n\nHi. This is the qmail-send program at bounce.example.\nI'm afraid I wasn't able to deliver your message to the following addresses.\nThis is a permanent error; I've given up. Sorry it didn't work out.\n\n<nobody@far2.example>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n--- Below this line is a copy of the message.\n\nReturn-Path: <joe@far.example>\nSubject: hi\n\noriginal\n"), "{t}");
    assert!(wait_until(10, || d.log_text().contains("bounce msg ")));
    // The sender's host refuses the bounce too: double bounce.
    enqueue(
        &h,
        "nobody2@far.example",
        &["nobody@far2.example"],
        b"second\n",
    );
    assert!(
        wait_until(30, || remote_got(&out).len() == 2 && queue_empty(&h)),
        "{}",
        d.log_text()
    );
    let dbl = remote_got(&out)
        .into_iter()
        .find(|(n, _)| n.starts_with("dbl@far3.example."))
        .expect("double bounce");
    let t = bounce_text(&dbl.1);
    assert!(t.starts_with("#@[]\n"), "{t}");
    assert!(t.contains("To: dbl@far3.example\n"));
    assert!(t.contains("I tried to deliver a bounce message to this address, but the bounce bounced!\n\n<nobody2@far.example>:\n"), "{t}");
    assert!(
        t.contains("--- Below this line is the original bounce.\n\nReturn-Path: <>\n"),
        "{t}"
    );
    // A message from <> that fails, with doublebounceto "@": discarded.
    h.control("doublebounceto", "@\n");
    d.signal(libc::SIGHUP);
    drop(d);
    let d = Daemon::start(&h);
    enqueue(&h, "", &["nobody@far2.example"], b"third\n");
    assert!(
        wait_until(30, || d
            .log_text()
            .contains("double bounce: discarding bounce/")),
        "{}",
        d.log_text()
    );
    assert!(wait_until(10, || queue_empty(&h)));
    assert_eq!(remote_got(&out).len(), 2);
}

/// SIGKILL qmail-send and all its helpers at many points while mail flows
/// (remote successes, deferrals that go through the written-out path, and
/// local Maildir deliveries); after a restart every acknowledged message is
/// delivered (complete) at least once and the queue drains. Duplicates (a
/// kill between a delivery and its done mark) are qmail's documented
/// behaviour: counted and reported.
#[test]
fn crash_safety_sigkill_while_mail_flows() {
    let h = QmailHome::new("send-crash");
    let out = fake_remote(&h);
    let local = format!("{}@localhost", user_name());
    let mut acked = 0usize;
    let rounds = 8;
    let per_round = 25;
    let remote_rcpt = |i: usize| {
        if i.is_multiple_of(5) {
            format!("defer{i}@far.example")
        } else {
            format!("u{i}@far.example")
        }
    };
    for round in 0..rounds {
        let d = Daemon::start(&h);
        let before = d.log_text().matches("starting delivery").count();
        for k in 0..per_round {
            let i = round * per_round + k;
            let r = remote_rcpt(i);
            let rcpts: Vec<&str> = if i.is_multiple_of(3) {
                vec![&r, &local]
            } else {
                vec![&r]
            };
            enqueue(&h, "me@here.example", &rcpts, &body(i));
            acked += 1;
        }
        // Kill at a different point of the flow each round.
        await_kill_point(&d, before, round, per_round);
        d.kill_all();
    }
    let d = Daemon::start(&h);
    // Deferred deliveries are retried at once on ALRM.
    let mut tick = 0u32;
    assert!(
        wait_until(120, || {
            tick += 1;
            if tick.is_multiple_of(20) {
                d.signal(libc::SIGALRM);
            }
            queue_drained(&h) && list(&out.join("new")).len() >= acked
        }),
        "queue did not drain: {} of {acked} delivered remotely, queue {:?}; log:\n{}",
        list(&out.join("new")).len(),
        ["mess", "intd", "todo", "info", "local", "remote"].map(|q| queue_count(&h, q)),
        d.log_text()
    );
    assert_eq!(d.stop(), 0);
    // A kill between "end msg" and qmail-clean's removal leaves the mess
    // file alone (state S2); qmail-send's cleanup removes it after 36 h.
    let orphans = queue_count(&h, "mess");
    assert!(orphans <= rounds, "{orphans} mess files left");
    let mut seen = vec![0usize; acked];
    for (name, bytes) in remote_got(&out) {
        let digits: String = name
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .collect();
        let i: usize = digits.parse().unwrap();
        let mut want = b"me@here.example\n".to_vec();
        want.extend_from_slice(&body(i));
        assert_eq!(bytes, want, "message {i} delivered incomplete");
        seen[i] += 1;
    }
    let md = maildir_new(&h);
    let mut seen_local = vec![0usize; acked];
    for f in list(&md) {
        let b = fs::read(md.join(&f)).unwrap();
        let (i, exact) = delivered_index(&b, body).expect("a test message");
        assert!(exact, "local copy of {i} incomplete");
        seen_local[i] += 1;
    }
    let missing: Vec<usize> = (0..acked).filter(|&i| seen[i] == 0).collect();
    assert!(
        missing.is_empty(),
        "lost acknowledged messages: {missing:?}"
    );
    let missing_local: Vec<usize> = (0..acked)
        .filter(|&i| i.is_multiple_of(3) && seen_local[i] == 0)
        .collect();
    assert!(
        missing_local.is_empty(),
        "lost local deliveries: {missing_local:?}"
    );
    let dups: usize = seen
        .iter()
        .chain(&seen_local)
        .map(|&c| c.saturating_sub(1))
        .sum();
    eprintln!(
        "crash safety: {acked} messages, {rounds} kills, {dups} duplicate deliveries, {orphans} mess files left for the cleanup"
    );
    let o = h.run("qmail-qmaint", &[] as &[&str], b"");
    assert!(
        o.status.success(),
        "qmail-qmaint: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// With no delivery slots qmail-todo preprocesses the plain qmail way
/// (info and local files); a HUP with a concurrency delivers them.
#[test]
fn plain_preprocessing_when_held_then_hup() {
    let h = QmailHome::new("send-held");
    h.control("concurrencylocal", "0\n");
    h.control("concurrencyremote", "0\n");
    let d = Daemon::start(&h);
    let rcpt = format!("{}@localhost", user_name());
    let id = enqueue(&h, "me@here.example", &[&rcpt], &body(3));
    let local = h.path(&format!("queue/local/{}/{id}", id % 23));
    assert!(
        wait_until(20, || local.exists() && queue_count(&h, "todo") == 0),
        "{}",
        d.log_text()
    );
    assert_eq!(fs::read(&local).unwrap(), format!("T{rcpt}\0").into_bytes());
    let info = h.path(&format!("queue/info/{}/{id}", id % 23));
    assert_eq!(fs::read(info).unwrap(), b"Fme@here.example\0");
    h.control("concurrencylocal", "3\n");
    d.signal(libc::SIGHUP);
    d.signal(libc::SIGALRM);
    assert!(
        wait_until(20, || list(&maildir_new(&h)).len() == 1
            && queue_drained(&h)),
        "{}",
        d.log_text()
    );
    assert!(wait_until(10, || d
        .log_text()
        .contains("status: local 0/3 remote 0/0")));
}

/// The end-to-end test: 1,000 messages queued by qmail-queue while
/// qmail-send runs all arrive in the Maildir, byte-identical, exactly once.
#[test]
fn thousand_messages_queue_to_maildir() {
    let h = QmailHome::new("send-1000");
    let user = user_name();
    let d = Daemon::start(&h);
    let n = 1000;
    let rcpt = format!("{user}@localhost");
    let start = std::time::Instant::now();
    for i in 0..n {
        assert_eq!(qmail_queue(&h, "me@here.example", &[&rcpt], &body(i)), 0);
    }
    let md = maildir_new(&h);
    assert!(
        wait_until(300, || list(&md).len() >= n && queue_drained(&h)),
        "{} of {n} delivered; log tail:\n{}",
        list(&md).len(),
        d.log_text()
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let secs = start.elapsed().as_secs_f64();
    let mut seen = vec![0u32; n];
    for f in list(&md) {
        let b = fs::read(md.join(&f)).unwrap();
        let (i, exact) = delivered_index(&b, body).expect("a test message");
        assert!(exact, "message {i} differs");
        seen[i] += 1;
    }
    assert!(seen.iter().all(|&c| c == 1), "each message exactly once");
    eprintln!(
        "1000 messages queue→Maildir in {secs:.2}s ({:.0} msg/s)",
        n as f64 / secs
    );
    assert_eq!(d.stop(), 0);
    assert_eq!(queue_count(&h, "mess"), 0);
}

/// A message to an unknown local user comes back to its sender.
#[test]
fn unknown_local_user_bounces_to_sender() {
    let h = QmailHome::new("send-nouser");
    let out = fake_remote(&h);
    let d = Daemon::start(&h);
    assert_eq!(
        qmail_queue(
            &h,
            "joe@far.example",
            &["nosuchuser@localhost"],
            b"Subject: hi\n\nbody\n"
        ),
        0
    );
    assert!(
        wait_until(30, || remote_got(&out).len() == 1 && queue_drained(&h)),
        "{}",
        d.log_text()
    );
    let (name, b) = &remote_got(&out)[0];
    assert!(name.starts_with("joe@far.example."), "{name}");
    let t = String::from_utf8_lossy(b);
    assert!(t.contains("\nSubject: failure notice\n"), "{t}");
    assert!(
        t.contains("<nosuchuser@localhost>:\nSorry, no mailbox here by that name. (#5.1.1)\n"),
        "{t}"
    );
    assert!(
        t.contains("Return-Path: <joe@far.example>\nReceived: (qmail "),
        "{t}"
    );
    assert!(t.ends_with("Subject: hi\n\nbody\n"), "{t}");
    assert!(wait_until(10, || d.log_text().contains("end msg ")));
    let log = d.log_text();
    assert!(log.contains("to local nosuchuser@localhost"), "{log}");
    assert!(
        log.contains(": failure: Sorry,_no_mailbox_here_by_that_name._(#5.1.1)/"),
        "{log}"
    );
}

/// Past queuelifetime a temporary failure becomes permanent and bounces
/// with qmail's sentence.
#[test]
fn queuelifetime_turns_deferral_into_bounce() {
    let h = QmailHome::new("send-lifetime");
    if !h.path("bin/qmail-queue").exists() {
        return crate::common::skip("qmail-queue not built in this tree");
    }
    h.control("queuelifetime", "0\n");
    let out = fake_remote(&h);
    let d = Daemon::start(&h);
    let id = enqueue(&h, "joe@far.example", &["defer-old@far2.example"], b"old\n");
    let info = h.path(&format!("queue/info/{}/{id}", id % 23));
    assert!(wait_until(20, || d
        .log_text()
        .contains("deferral: greylisted")
        && info.exists()));
    // The message was born 10 s ago (info's mtime) and defers again.
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
    fs::File::options()
        .write(true)
        .open(&info)
        .unwrap()
        .set_modified(past)
        .unwrap();
    fs::remove_file(out.join("tried.defer-old@far2.example")).unwrap();
    let mut tick = 0u32;
    assert!(
        wait_until(30, || {
            tick += 1;
            if tick.is_multiple_of(50) {
                d.signal(libc::SIGALRM);
            }
            d.log_text().contains("failure: greylisted,_try_again.I'm_not_going_to_try_again;_this_message_has_been_in_the_queue_too_long./")
        }),
        "{}",
        d.log_text()
    );
    assert!(wait_until(20, || remote_got(&out).len() == 1 && queue_drained(&h)));
    let (name, b) = &remote_got(&out)[0];
    assert!(name.starts_with("joe@far.example."));
    assert!(String::from_utf8_lossy(b).contains(
        "<defer-old@far2.example>:\ngreylisted, try again.I'm not going to try again; this message has been in the queue too long.\n\n"
    ));
}

/// At start qmail-send removes leftovers older than 36 hours: a mess file
/// without info or todo (state S2).
#[test]
fn ossified_leftovers_are_cleaned_at_start() {
    let h = QmailHome::new("send-ossified");
    let id = enqueue(&h, "a@b", &["c@d"], b"x\n");
    let d23 = id % 23;
    for dir in ["todo", "intd"] {
        fs::remove_file(h.path(&format!("queue/{dir}/{d23}/{id}"))).unwrap();
    }
    let fresh = enqueue(&h, "a@b", &["c@d"], b"y\n");
    fs::remove_file(h.path(&format!("queue/todo/{}/{fresh}", fresh % 23))).unwrap();
    fs::remove_file(h.path(&format!("queue/intd/{}/{fresh}", fresh % 23))).unwrap();
    let mess = h.path(&format!("queue/mess/{d23}/{id}"));
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(200_000);
    fs::File::options()
        .write(true)
        .open(&mess)
        .unwrap()
        .set_times(fs::FileTimes::new().set_accessed(old).set_modified(old))
        .unwrap();
    let d = Daemon::start(&h);
    assert!(wait_until(20, || !mess.exists()), "{}", d.log_text());
    assert!(
        h.path(&format!("queue/mess/{}/{fresh}", fresh % 23))
            .exists(),
        "a young leftover stays"
    );
}

/// With a logger, qmail-send's record goes to the logger's stdin.
#[test]
fn start_with_logger() {
    let h = QmailHome::new("send-logger");
    let log = h.dir.parent().unwrap().join("logger.out");
    let mut child = h
        .cmd("qmail-start")
        .arg("./Maildir/")
        .arg("sh")
        .arg("-c")
        .arg(format!("exec cat > {}", log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let text = || fs::read_to_string(&log).unwrap_or_default();
    assert!(wait_until(10, || text().contains("status: local 0/10 remote 0/20\n")));
    sqmail::sys::kill(child.id() as i32, libc::SIGTERM).unwrap();
    assert_eq!(wait_child(&mut child, 20), Some(0));
    assert!(
        wait_until(10, || text().ends_with("status: exiting\n")),
        "{}",
        text()
    );
}

/// Sends one delivery to a spawner and returns its report (without the NUL).
fn spawn_one(w: &mut impl Write, r: &mut impl Read, request: &str) -> Vec<u8> {
    w.write_all(request.as_bytes()).unwrap();
    w.flush().unwrap();
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        r.read_exact(&mut byte).unwrap();
        if byte[0] == 0 {
            return reply;
        }
        reply.push(byte[0]);
    }
}

/// A private home run by root: a delivery into a home owned by another
/// user runs as that user, so its `.qmail` cannot append to root's files.
#[test]
fn private_mode_as_root_delivers_as_the_home_owner() {
    if sqmail::sys::getuid() != 0 {
        return skip("needs root");
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let h = QmailHome::new("lspawn-root");
    let nobody = 65534;
    let bob = h.dir.parent().unwrap().join("bob");
    fs::create_dir(&bob).unwrap();
    let target = h.dir.parent().unwrap().join("root-owned");
    fs::write(&target, "root's\n").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(bob.join(".qmail"), "./mbox\n").unwrap();
    fs::write(bob.join(".qmail-evil"), format!("{}\n", target.display())).unwrap();
    for p in [&bob, &bob.join(".qmail"), &bob.join(".qmail-evil")] {
        std::os::unix::fs::chown(p, Some(nobody), Some(nobody)).unwrap();
    }
    fs::write(
        h.path("users/assign"),
        format!(
            "=bob:bob:{nobody}:{nobody}:{b}:::\n+bob-:bob:{nobody}:{nobody}:{b}:-::\n.\n",
            b = bob.display()
        ),
    )
    .unwrap();
    assert!(h.run::<&str>("qmail-newu", &[], b"").status.success());
    let id = enqueue(&h, "a@b.example", &[], b"hello\n");
    let rel = format!("{}/{id}", id % 23);
    let mut child = h
        .cmd("qmail-lspawn")
        .arg("./Maildir/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = child.stdin.take().unwrap();
    let mut r = child.stdout.take().unwrap();
    let mut b = [0u8; 1];
    r.read_exact(&mut b).unwrap();
    let ok = spawn_one(&mut w, &mut r, &format!("\x01{rel}\0a@b\0bob@here\0"));
    assert_eq!(ok.first(), Some(&b'\x01'));
    assert_eq!(ok.get(1), Some(&b'K'), "{}", String::from_utf8_lossy(&ok));
    assert_eq!(fs::metadata(bob.join("mbox")).unwrap().uid(), nobody);
    let evil = spawn_one(&mut w, &mut r, &format!("\x02{rel}\0a@b\0bob-evil@here\0"));
    assert_ne!(
        evil.get(1),
        Some(&b'K'),
        "{}",
        String::from_utf8_lossy(&evil)
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "root's\n");
    drop(w);
    assert_eq!(wait_child(&mut child, 10), Some(0));
}
