//! matchup and qmailanalog's reports over the log of the real qmail-send
//! (multilog's files): the figures of a known workload, and — with C qmail
//! built from `SQMAIL_NOTQMAIL_SRC` (opt-in, as in t/install.rs) — the same
//! reports from notqmail's log of the same workload.

use std::fs;
use std::path::Path;
use std::process::Stdio;

use sqmail::analog::report::NAMES;

use crate::common::oplog::*;
use crate::common::*;

/// matchup over a log file: (matched, pending).
fn matchup(log: &Path) -> (String, String) {
    let dir = log.parent().unwrap();
    let pending = dir.join("matchup.pending");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec {} < {} 5> {}",
            bin("matchup").display(),
            log.display(),
            pending.display()
        ))
        .stderr(Stdio::piped())
        .output();
    let out = out.unwrap();
    ok(&out);
    (
        String::from_utf8(out.stdout).unwrap(),
        fs::read_to_string(pending).unwrap(),
    )
}

fn report(h: &QmailHome, name: &str, matched: &str) -> String {
    let out = h.run("qmailanalog", &[name], matched.as_bytes());
    ok(&out);
    String::from_utf8(out.stdout).unwrap()
}

/// A report without its times, sizes and ids: zoverall's counts, and the
/// other tables without their bytes and xdelay columns.
fn essentials(report: &str) -> Vec<String> {
    if report.starts_with("Basic statistics") {
        return report
            .lines()
            .filter(|l| !l.contains("(s)") && !l.contains("ytes") && l.contains(": "))
            .filter(|l| !l.starts_with("Average") && !l.starts_with("Time span"))
            .map(str::to_string)
            .collect();
    }
    let mut lines = report.lines().skip_while(|l| !l.is_empty()).skip(1);
    lines.by_ref().find(|l| l.is_empty());
    let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let keep: Vec<bool> = head
        .iter()
        .map(|c| !c.contains("bytes") && *c != "xdelay")
        .collect();
    lines
        .map(|l| {
            let mut cells = Vec::new();
            let mut rest = l;
            for _ in 1..head.len() {
                let (c, r) = rest.trim_start().split_once(' ').unwrap_or((rest, ""));
                cells.push(c);
                rest = r;
            }
            cells.push(rest.trim_start());
            let kept: Vec<&str> = cells
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(c, _)| *c)
                .collect();
            kept.join(" ")
        })
        .collect()
}

/// Our log of the workload through matchup gives the figures it must.
#[test]
fn reports_of_our_log() {
    if !have_multilog() {
        return;
    }
    let h = QmailHome::with_users("analog", &["alice"]);
    let log = our_run(&h);
    let (matched, pending) = matchup(&log.join("current"));
    assert!(!matched.contains("? "), "every line understood:\n{matched}");
    assert_eq!(matched.lines().filter(|l| l.starts_with("m ")).count(), 5);
    assert_eq!(matched.lines().filter(|l| l.starts_with("d ")).count(), 7);
    // carol's message is still open: its info line comes back.
    assert!(
        pending.contains(" info msg ") && pending.contains(" from <alice@mx.test> "),
        "{pending}"
    );
    let overall = report(&h, "zoverall", &matched);
    for want in [
        "Completed messages: 5\n",
        "Recipients for completed messages: 6\n",
        "Total delivery attempts: 7\n  success: 5\n  failure: 1\n  deferral: 1\n",
    ] {
        assert!(overall.contains(want), "{want}\n{overall}");
    }
    let failures = report(&h, "zfailures", &matched);
    assert!(
        failures.contains("  1   ")
            && failures.contains(" Sorry, no mailbox here by that name. (#5.1.1)/\n"),
        "{failures}"
    );
    let deferrals = report(&h, "zdeferrals", &matched);
    assert!(
        deferrals.contains("Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)/"),
        "{deferrals}"
    );
    assert_eq!(
        essentials(&report(&h, "zrecipients", &matched)),
        [
            "4 4 local.alice@mx.test",
            "1 1 local.nosuch@mx.test",
            "1 1 remote.bob@sink.test",
            "0 1 remote.carol@defer.test",
        ]
    );
    assert_eq!(
        essentials(&report(&h, "zsenders", &matched)),
        ["1 1 1 <>", "4 5 5 <alice@mx.test>"]
    );
    // A report called by its own name (package/home's link to qmailanalog).
    let out = run_with_input(
        &mut std::process::Command::new(h.path("bin/zsuccesses")),
        matched.as_bytes(),
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        report(&h, "zsuccesses", &matched)
    );
}

/// notqmail's qmail-send runs the same workload in a scratch root; our
/// matchup and reports give the same figures from its log as from ours.
#[test]
fn same_reports_as_from_notqmail() {
    let Some(nq) = std::env::var_os("SQMAIL_NOTQMAIL_SRC") else {
        return;
    };
    if !have_multilog() {
        return;
    }
    let nq = std::path::PathBuf::from(nq);
    let body = format!(
        r#"
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin; export PATH
{}
{}"#,
        scratch::notqmail_setup(&nq),
        c_qmail_script()
    );
    let Some((out, dir)) = scratch::run_with("analog-notqmail", &body, &[&nq]) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("NQ-LOGGED"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = scratch::inside(&dir, "/tmp/nqlog/current");
    let h = QmailHome::with_users("analog-ours", &["alice"]);
    let (their_matched, _) = matchup(&theirs);
    assert!(!their_matched.contains("? "), "{their_matched}");
    let c = report(&h, "zoverall", &their_matched);
    assert!(c.contains("Completed messages: 5\n"), "{c}");
    let log = our_run(&h);
    let (our_matched, _) = matchup(&log.join("current"));
    // Every report but zsuids: C qmail queues bounces as qmails, we as the
    // invoking user here.
    for name in NAMES.iter().filter(|n| **n != "zsuids") {
        let ours = report(&h, name, &our_matched);
        let c = report(&h, name, &their_matched);
        assert_eq!(
            essentials(&ours),
            essentials(&c),
            "{name}:\n{ours}\nnotqmail:\n{c}"
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}
