//! The `.qmail` helper programs: preline, condredirect, bouncesaying,
//! except, forward, maildirmake, maildir2mbox.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::queue::recording_qq;
use crate::common::*;

const MSG: &str = "Subject: hi\n\nFrom here\nbody\n";
const DT: &str = "Delivered-To: u@example.com\n";
const RP: &str = "Return-Path: <s@example.org>\n";
const UF: &str = "From s@example.org Fri Nov 27 09:00:00 2026\n";

/// A home with a fake qmail-queue that records fd 0 and fd 1 and exits
/// with `code`.
fn home_with_qq(name: &str, code: i32) -> (QmailHome, PathBuf) {
    let h = QmailHome::new(name);
    let qq = recording_qq(&h.dir, code);
    (h, qq)
}

/// Runs `prog args` with the message as a (seekable) file on stdin and the
/// qmail-command environment.
fn run(h: &QmailHome, qq: &Path, prog: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let m = h.path("message");
    fs::write(&m, MSG).unwrap();
    let mut c: Command = h.cmd(prog);
    c.env("QMAILQUEUE", qq)
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::from(fs::File::open(&m).unwrap()));
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What the fake qmail-queue saved (body, envelope), if it ran.
fn fake_qq_saved(h: &QmailHome) -> Option<(String, String)> {
    Some((
        fs::read_to_string(h.path("qq.body")).ok()?,
        fs::read_to_string(h.path("qq.env")).ok()?,
    ))
}

const CMD_ENV: &[(&str, &str)] = &[
    ("UFLINE", UF),
    ("RPLINE", RP),
    ("DTLINE", DT),
    ("SENDER", "s@example.org"),
    ("NEWSENDER", "owner@example.com"),
];

#[test]
fn preline_rows() {
    let (h, qq) = home_with_qq("tools-preline", 0);
    for (args, code, out) in [
        (&["cat"][..], 0, format!("{UF}{RP}{DT}{MSG}")),
        (&["-f", "cat"], 0, format!("{RP}{DT}{MSG}")),
        (&["-frd", "cat"], 0, MSG.to_string()),
        (&["-fdD", "cat"], 0, format!("{RP}{DT}{MSG}")),
        (
            &["sh", "-c", "cat; exit 42"],
            42,
            format!("{UF}{RP}{DT}{MSG}"),
        ),
    ] {
        let o = run(&h, &qq, "preline", args, CMD_ENV);
        assert_eq!(o.status.code(), Some(code), "{args:?}");
        assert_eq!(text(&o.stdout), out, "{args:?}");
    }
    let o = run(&h, &qq, "preline", &["cat"], &CMD_ENV[1..]);
    assert_eq!(o.status.code(), Some(100), "UFLINE missing");
    assert!(text(&o.stderr).contains("usage"));
    let o = run(&h, &qq, "preline", &[], CMD_ENV);
    assert_eq!(o.status.code(), Some(100));
}

#[test]
fn condredirect_rows() {
    for (name, prog, code, forwarded) in [
        ("tools-cr-0", "true", 99, true),
        ("tools-cr-1", "false", 0, false),
        ("tools-cr-111", "exit 111", 111, false),
        ("tools-cr-100", "exit 100", 0, false),
    ] {
        let (h, qq) = home_with_qq(name, 0);
        let o = run(
            &h,
            &qq,
            "condredirect",
            &["new@example.net", "sh", "-c", prog],
            CMD_ENV,
        );
        assert_eq!(o.status.code(), Some(code), "{prog}: {}", text(&o.stderr));
        assert_eq!(fake_qq_saved(&h).is_some(), forwarded, "{prog}");
        if forwarded {
            let (body, env) = fake_qq_saved(&h).unwrap();
            assert_eq!(body, format!("{DT}{MSG}"));
            assert_eq!(env, "Fs@example.org\0Tnew@example.net\0\0");
            let err = text(&o.stderr);
            assert!(
                err.starts_with("condredirect: qp ") && err.ends_with('\n'),
                "{err}"
            );
        }
    }
    let (h, qq) = home_with_qq("tools-cr-env", 0);
    let o = run(
        &h,
        &qq,
        "condredirect",
        &["new@example.net", "true"],
        &CMD_ENV[2..3],
    );
    assert_eq!(o.status.code(), Some(100), "SENDER missing");
    assert_eq!(text(&o.stderr), "condredirect: fatal: SENDER not set\n");
    let o = run(&h, &qq, "condredirect", &["new@example.net"], CMD_ENV);
    assert_eq!(o.status.code(), Some(100), "usage");
}

#[test]
fn bouncesaying_and_except_rows() {
    let (h, qq) = home_with_qq("tools-bounce", 0);
    for (prog, args, code, err) in [
        ("bouncesaying", &["go away"][..], 100, "go away\n"),
        ("bouncesaying", &["go away", "true"], 100, "go away\n"),
        ("bouncesaying", &["go away", "false"], 0, ""),
        (
            "bouncesaying",
            &["go away", "sh", "-c", "exit 111"],
            111,
            "",
        ),
        ("except", &["true"], 100, ""),
        ("except", &["false"], 0, ""),
        ("except", &["sh", "-c", "exit 100"], 0, ""),
        ("except", &["sh", "-c", "exit 111"], 111, ""),
        ("except", &["/nonexistent/program"], 0, ""),
    ] {
        let o = run(&h, &qq, prog, args, CMD_ENV);
        assert_eq!(o.status.code(), Some(code), "{prog} {args:?}");
        if !err.is_empty() || code != 111 {
            assert_eq!(text(&o.stderr), err, "{prog} {args:?}");
        }
    }
    assert_eq!(
        run(&h, &qq, "except", &[], CMD_ENV).status.code(),
        Some(100)
    );
    assert_eq!(
        run(&h, &qq, "bouncesaying", &[], CMD_ENV).status.code(),
        Some(100)
    );
}

#[test]
fn forward_rows() {
    for (name, qq_code, code) in [
        ("tools-fw-ok", 0, 0),
        ("tools-fw-d", 31, 100),
        ("tools-fw-z", 71, 111),
    ] {
        let (h, qq) = home_with_qq(name, qq_code);
        let o = run(
            &h,
            &qq,
            "forward",
            &["a@example.net", "b@example.net"],
            CMD_ENV,
        );
        assert_eq!(o.status.code(), Some(code), "{}", text(&o.stderr));
        let (body, env) = fake_qq_saved(&h).unwrap();
        assert_eq!(body, format!("{DT}{MSG}"));
        assert_eq!(
            env,
            "Fowner@example.com\0Ta@example.net\0Tb@example.net\0\0"
        );
        let err = text(&o.stderr);
        match code {
            0 => assert!(err.starts_with("forward: qp "), "{err}"),
            100 => assert_eq!(
                err,
                "forward: fatal: mail server permanently rejected message (#5.3.0)\n"
            ),
            _ => assert_eq!(
                err,
                "forward: fatal: mail server temporarily rejected message (#4.3.0)\n"
            ),
        }
    }
    let (h, qq) = home_with_qq("tools-fw-env", 0);
    let o = run(&h, &qq, "forward", &["a@example.net"], &CMD_ENV[..3]);
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(text(&o.stderr), "forward: fatal: NEWSENDER not set\n");
    assert!(fake_qq_saved(&h).is_none());
    assert_eq!(
        run(&h, &qq, "forward", &[], CMD_ENV).status.code(),
        Some(100)
    );
}

#[test]
fn maildirmake_and_maildir2mbox() {
    let h = QmailHome::new("tools-maildir");
    let md = h.path("md");
    let o = h.run("maildirmake", &[md.to_str().unwrap()], b"");
    assert_eq!(o.status.code(), Some(0));
    for d in ["", "tmp", "new", "cur"] {
        let m = fs::metadata(md.join(d)).unwrap();
        assert!(m.is_dir());
        assert_eq!(m.permissions().mode() & 0o777, 0o700, "{d}");
    }
    let o = h.run("maildirmake", &[md.to_str().unwrap()], b"");
    assert_eq!(o.status.code(), Some(111), "exists");
    assert_eq!(
        h.run::<&str>("maildirmake", &[], b"").status.code(),
        Some(100)
    );

    let mbox = h.path("mbox");
    let env = |c: &mut Command| {
        c.env("MAILDIR", &md)
            .env("MAIL", &mbox)
            .env("MAILTMP", h.path("mbox.tmp"));
    };
    let mut c = h.cmd("maildir2mbox");
    env(&mut c);
    assert_eq!(run_with_input(&mut c, b"").status.code(), Some(0));
    assert!(!mbox.exists(), "nothing to do must not touch MAIL");

    fs::write(&mbox, "old\n\n").unwrap();
    // 2024-01-03 09:05:07 UTC, then a second later.
    fs::write(
        md.join("cur/1704272708.2.host:2,S"),
        "Return-Path: <>\nFrom x\n",
    )
    .unwrap();
    fs::write(
        md.join("new/1704272707.1.host"),
        "Return-Path: <a b@c>\nSubject: 1\n\nbody",
    )
    .unwrap();
    fs::write(md.join("new/1704272709.3.host"), "Subject: 3\n").unwrap();
    let mut c = h.cmd("maildir2mbox");
    env(&mut c);
    let o = run_with_input(&mut c, b"");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        fs::read_to_string(&mbox).unwrap(),
        "old\n\n\
         From a-b@c Wed Jan 03 09:05:07 2024\nReturn-Path: <a b@c>\nSubject: 1\n\nbody\n\n\
         From MAILER-DAEMON Wed Jan 03 09:05:08 2024\nReturn-Path: <>\n>From x\n\n\
         From XXX Wed Jan 03 09:05:09 2024\nSubject: 3\n\n"
    );
    assert!(list(&md.join("new")).is_empty() && list(&md.join("cur")).is_empty());
    let mut c = h.cmd("maildir2mbox");
    c.env("MAILDIR", &md);
    assert_eq!(
        run_with_input(&mut c, b"").status.code(),
        Some(111),
        "MAIL unset"
    );
}
