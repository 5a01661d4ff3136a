//! qmail-local and `.qmail` semantics (issue 2 item 5): one table row per
//! feature. Each row writes its `.qmail` files into a fresh user home, runs
//! qmail-local on a message file, and checks exit code, report and files.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Output, Stdio};

use crate::common::queue::recording_qq;
use crate::common::*;

const SENDER: &str = "sender@example.org";
const MSG: &str = "From: a@example.org\nSubject: hi\n\nFrom the start\n>From quoted\nbody\n";

/// One user home, a message, and a fake qmail-queue recording its input
/// (all under `dir`), in a shared qmail home.
struct Fixture<'a> {
    h: &'a QmailHome,
    dir: PathBuf,
    user: PathBuf,
}

impl Fixture<'_> {
    fn new<'a>(h: &'a QmailHome, name: &str) -> Fixture<'a> {
        let dir = h.dir.join(name);
        let user = dir.join("u");
        for d in ["", "Maildir", "Maildir/tmp", "Maildir/new", "Maildir/cur"] {
            fs::create_dir_all(user.join(d)).unwrap();
        }
        fs::set_permissions(&user, fs::Permissions::from_mode(0o755)).unwrap();
        recording_qq(&dir, 0);
        Fixture { h, dir, user }
    }

    fn file(&self, name: &str, text: &str, mode: u32) {
        let p = self.user.join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// qmail-local [opt] -- u HOME local dash ext example.com SENDER ./Maildir/
    fn run(&self, opts: &[&str], dash: &str, ext: &str, msg: &str) -> Output {
        let local = if ext.is_empty() {
            "u".to_string()
        } else {
            format!("u{dash}{ext}")
        };
        let mpath = self.dir.join("message");
        fs::write(&mpath, msg).unwrap();
        let mut c = self.h.cmd("qmail-local");
        c.env("QMAILQUEUE", self.dir.join("fake-qq"))
            .args(opts)
            .arg("--")
            .args(["u", self.user.to_str().unwrap(), &local, dash, ext])
            .args(["example.com", SENDER, "./Maildir/"])
            .stdin(Stdio::from(fs::File::open(&mpath).unwrap()));
        c.output().unwrap()
    }

    fn maildir(&self) -> Vec<String> {
        list(&self.user.join("Maildir/new"))
            .iter()
            .map(|n| fs::read_to_string(self.user.join("Maildir/new").join(n)).unwrap())
            .collect()
    }

    fn read(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.user.join(name)).ok()
    }

    fn qq(&self) -> Option<(String, String)> {
        Some((
            fs::read_to_string(self.dir.join("qq.body")).ok()?,
            fs::read_to_string(self.dir.join("qq.env")).ok()?,
        ))
    }
}

/// What a row expects beyond code and output.
type Check = fn(&Fixture, &str);

struct Row {
    name: &'static str,
    /// `.qmail` files: name, contents, mode.
    files: &'static [(&'static str, &'static str, u32)],
    opts: &'static [&'static str],
    dash: &'static str,
    ext: &'static str,
    msg: &'static str,
    code: i32,
    /// Expected stdout (`qp` lines are checked by the row's check).
    out: &'static str,
    /// Expected stderr.
    err: &'static str,
    check: Check,
}

const fn row(name: &'static str, files: &'static [(&'static str, &'static str, u32)]) -> Row {
    Row {
        name,
        files,
        opts: &[],
        dash: "",
        ext: "",
        msg: MSG,
        code: 0,
        out: "",
        err: "",
        check: |_, _| {},
    }
}

/// A `.qmail` lookup row: which file `-n` reports for `u-ext`.
const fn lookup(
    name: &'static str,
    ext: &'static str,
    out: &'static str,
    files: &'static [(&'static str, &'static str, u32)],
) -> Row {
    Row {
        dash: "-",
        ext,
        out,
        opts: &["-n"],
        ..row(name, files)
    }
}

fn dt(local: &str) -> String {
    format!("Delivered-To: {local}@example.com\n")
}

fn nothing_delivered(f: &Fixture, _: &str) {
    assert!(f.maildir().is_empty(), "maildir delivery happened");
    assert!(f.qq().is_none(), "forward happened");
    assert!(f.read("mbox").is_none(), "mbox delivery happened");
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            out: "did 1+0+0\n",
            check: |f, _| {
                let m = f.maildir();
                assert_eq!(m.len(), 1);
                assert_eq!(m[0], format!("Return-Path: <{SENDER}>\n{}{MSG}", dt("u")));
                assert!(list(&f.user.join("Maildir/tmp")).is_empty());
                let name = &list(&f.user.join("Maildir/new"))[0];
                let pid_host = name.split_once('P').unwrap().1;
                assert!(
                    name.split('.').next().unwrap().parse::<u64>().is_ok()
                        && name.contains(".I")
                        && name.contains('V')
                        && name.contains('M')
                        && !pid_host.contains('/'),
                    "{name}"
                );
            },
            ..row("maildir", &[(".qmail", "./Maildir/\n", 0o644)])
        },
        Row {
            out: "did 2+0+0\n",
            check: |f, _| {
                let m = f.read("mbox").unwrap();
                let (from, rest) = m.split_once('\n').unwrap();
                assert!(from.starts_with(&format!("From {SENDER} ")), "{from}");
                // `Www Mmm DD HH:MM:SS YYYY`, the day zero-padded.
                let date = &from[6 + SENDER.len()..];
                assert_eq!(date.len(), 24, "{date}");
                assert_eq!(&date[10..11], " ");
                assert!(date[8..10].bytes().all(|b| b.is_ascii_digit()), "{date}");
                let one = format!(
                    "Return-Path: <{SENDER}>\n{}From: a@example.org\nSubject: hi\n\n>From the start\n>>From quoted\nbody\n\n",
                    dt("u")
                );
                assert_eq!(rest, format!("{one}{from}\n{one}"));
            },
            ..row(
                "mbox twice, From_ and >From",
                &[(".qmail", "./mbox\n./mbox\n", 0o644)],
            )
        },
        Row {
            msg: "no newline at end",
            out: "did 1+0+0\n",
            check: |f, _| {
                let m = f.read("mbox").unwrap();
                assert!(m.ends_with("\nno newline at end\n\n"), "{m:?}");
            },
            ..row(
                "mbox adds the missing newline",
                &[(".qmail", "./mbox\n", 0o644)],
            )
        },
        Row {
            dash: "-",
            ext: "Foo-Bar.Baz",
            out: "did 0+0+1\n",
            check: |f, _| {
                let env = fs::read(f.user.join("env")).unwrap();
                let vars: Vec<(String, String)> = env
                    .split(|&b| b == 0)
                    .filter_map(|kv| {
                        let kv = String::from_utf8_lossy(kv);
                        let (k, v) = kv.split_once('=')?;
                        Some((k.to_string(), v.to_string()))
                    })
                    .collect();
                let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
                let local = "u-Foo-Bar.Baz";
                let home = f.user.to_str().unwrap();
                for (k, v) in [
                    ("SENDER", SENDER),
                    ("NEWSENDER", SENDER),
                    ("RECIPIENT", "u-Foo-Bar.Baz@example.com"),
                    ("USER", "u"),
                    ("HOME", home),
                    ("HOST", "example.com"),
                    ("HOST2", "example"),
                    ("HOST3", "example"),
                    ("HOST4", "example"),
                    ("LOCAL", local),
                    ("EXT", "Foo-Bar.Baz"),
                    ("EXT2", "Bar.Baz"),
                    ("EXT3", ""),
                    ("EXT4", ""),
                    ("DEFAULT", "Bar.Baz"),
                    ("DTLINE", &dt(local)),
                    ("RPLINE", &format!("Return-Path: <{SENDER}>\n")),
                ] {
                    assert_eq!(get(k), Some(v), "{k}");
                }
                let uf = get("UFLINE").unwrap();
                assert!(
                    uf.starts_with(&format!("From {SENDER} ")) && uf.ends_with('\n'),
                    "{uf}"
                );
                // The program read the message from its start, without
                // the header lines qmail-local adds for files.
                assert_eq!(f.read("stdin").unwrap(), MSG);
                assert_eq!(f.read("pwd").unwrap().trim_end(), home);
            },
            ..row(
                "program environment and stdin",
                &[(
                    ".qmail-foo-default",
                    "|env -0 > env; cat > stdin; pwd > pwd\n",
                    0o644,
                )],
            )
        },
        Row {
            out: "did 0+1+1\nqp ",
            check: |f, _| {
                assert!(f.maildir().is_empty(), "line after exit 99 ran");
                assert!(f.qq().is_some(), "forward before exit 99 not sent");
            },
            ..row(
                "exit 99: success, later lines skipped, earlier forwards sent",
                &[(".qmail", "&fwd@example.net\n|exit 99\n./Maildir/\n", 0o644)],
            )
        },
        Row {
            code: 100,
            out: "boom\n",
            check: nothing_delivered,
            ..row(
                "exit 100: bounce, nothing else happens",
                &[(
                    ".qmail",
                    "&fwd@example.net\n|echo boom; exit 100\n./Maildir/\n",
                    0o644,
                )],
            )
        },
        Row {
            code: 100,
            check: nothing_delivered,
            ..row(
                "exit 64 (EX_USAGE) bounces",
                &[(".qmail", "|exit 64\n./Maildir/\n", 0o644)],
            )
        },
        Row {
            code: 111,
            check: nothing_delivered,
            ..row(
                "exit 111: deferral, nothing else happens",
                &[(".qmail", "&fwd@example.net\n|exit 111\n./Maildir/\n", 0o644)],
            )
        },
        Row {
            code: 111,
            check: nothing_delivered,
            ..row(
                "exit 1 defers",
                &[(".qmail", "|exit 1\n./Maildir/\n", 0o644)],
            )
        },
        Row {
            code: 111,
            err: "Aack, child crashed. (#4.3.0)\n",
            check: nothing_delivered,
            ..row(
                "crashed program defers",
                &[(".qmail", "|kill -9 $$\n./Maildir/\n", 0o644)],
            )
        },
        Row {
            out: "did 1+0+2\n",
            check: |f, _| {
                assert_eq!(f.maildir().len(), 1);
                assert_eq!(f.read("order").unwrap(), "one\ntwo\n");
            },
            ..row(
                "exit 0: lines run in order",
                &[(
                    ".qmail",
                    "|echo one >> order\n./Maildir/\n|echo two >> order\n",
                    0o644,
                )],
            )
        },
        Row {
            out: "did 0+2+0\nqp ",
            check: |f, _| {
                let (body, env) = f.qq().unwrap();
                assert_eq!(body, format!("{}{MSG}", dt("u")));
                assert_eq!(
                    env,
                    format!("F{SENDER}\0Tfwd@example.net\0Tplain@example.net\0\0")
                );
            },
            ..row(
                "&forward and a plain address: one message via qmail-queue",
                &[(".qmail", "&fwd@example.net\nplain@example.net\n", 0o644)],
            )
        },
        Row {
            dash: "-",
            ext: "list",
            out: "did 0+1+0\nqp ",
            check: |f, _| {
                let (_, env) = f.qq().unwrap();
                assert!(env.starts_with("Fu-list-owner@example.com\0"), "{env:?}");
            },
            ..row(
                "forward from a list with an -owner file: NEWSENDER",
                &[
                    (".qmail-list", "fwd@example.net\n", 0o644),
                    (".qmail-list-owner", "./Maildir/\n", 0o644),
                ],
            )
        },
        Row {
            dash: "-",
            ext: "list",
            out: "did 0+1+0\nqp ",
            check: |f, _| {
                let (_, env) = f.qq().unwrap();
                assert!(
                    env.starts_with("Fu-list-owner-@example.com-@[]\0"),
                    "{env:?}"
                );
            },
            ..row(
                "forward with -owner-default: VERP NEWSENDER",
                &[
                    (".qmail-list", "fwd@example.net\n", 0o644),
                    (".qmail-list-owner", "./Maildir/\n", 0o644),
                    (".qmail-list-owner-default", "./Maildir/\n", 0o644),
                ],
            )
        },
        lookup(
            ".qmail-ext beats -default",
            "foo-bar",
            "program exact\ndid 0+0+1\n",
            &[
                (".qmail-foo-bar", "|exact\n", 0o644),
                (".qmail-foo-default", "|foodefault\n", 0o644),
                (".qmail-default", "|default\n", 0o644),
            ],
        ),
        lookup(
            "longest -default wins, ext lower-cased",
            "Foo-Bar",
            "program foodefault\ndid 0+0+1\n",
            &[
                (".qmail-foo-default", "|foodefault\n", 0o644),
                (".qmail-default", "|default\n", 0o644),
            ],
        ),
        lookup(
            "a trailing dash is a prefix too",
            "a-b-",
            "program abdefault\ndid 0+0+1\n",
            &[
                (".qmail-a-b-default", "|abdefault\n", 0o644),
                (".qmail-a-default", "|adefault\n", 0o644),
            ],
        ),
        Row {
            dash: "-",
            ext: "Foo-Default",
            out: "did 0+0+1\n",
            check: |f, _| assert_eq!(f.read("d").unwrap(), "Default"),
            ..row(
                "an exact name ending in default: DEFAULT is that tail",
                &[(".qmail-foo-default", "|printf %s \"$DEFAULT\" > d\n", 0o644)],
            )
        },
        Row {
            ext: "",
            out: "did 0+0+1\n",
            check: |f, _| assert_eq!(f.read("d").unwrap(), "unset"),
            ..row(
                "no extension: .qmail, DEFAULT unset",
                &[(".qmail", "|printf %s \"${DEFAULT-unset}\" > d\n", 0o644)],
            )
        },
        lookup(
            ".qmail-default last",
            "foo-bar",
            "program default\ndid 0+0+1\n",
            &[(".qmail-default", "|default\n", 0o644)],
        ),
        lookup(
            "dots in ext become colons",
            "a.b",
            "program dots\ndid 0+0+1\n",
            &[(".qmail-a:b", "|dots\n", 0o644)],
        ),
        Row {
            dash: "-",
            ext: "nobody",
            code: 100,
            err: "Sorry, no mailbox here by that name. (#5.1.1)\n",
            ..row(
                "no file with a dash: bounce",
                &[(".qmail", "./Maildir/\n", 0o644)],
            )
        },
        Row {
            out: "did 1+0+0\n",
            check: |f, _| assert_eq!(f.maildir().len(), 1),
            ..row("no .qmail, no dash: default delivery", &[])
        },
        Row {
            out: "did 1+0+0\n",
            check: |f, _| assert_eq!(f.maildir().len(), 1),
            ..row("empty .qmail: default delivery", &[(".qmail", "", 0o744)])
        },
        Row {
            msg: "Received: x\nDelivered-To: u@example.com\nSubject: loop\n\nbody\n",
            code: 100,
            err: "This message is looping: it already has my Delivered-To line. (#5.4.6)\n",
            check: nothing_delivered,
            ..row(
                "Delivered-To loop bounces",
                &[(".qmail", "./Maildir/\n", 0o644)],
            )
        },
        Row {
            msg: "Subject: x\nDelivered-To: U@example.com\n\nDelivered-To: u@example.com\n",
            out: "did 1+0+0\n",
            ..row(
                "loop check: exact header line only, header only",
                &[(".qmail", "./Maildir/\n", 0o644)],
            )
        },
        Row {
            code: 111,
            err: "Uh-oh: .qmail file is writable. (#4.7.0)\n",
            check: nothing_delivered,
            ..row(
                "world-writable .qmail defers",
                &[(".qmail", "./Maildir/\n", 0o646)],
            )
        },
        Row {
            code: 111,
            err: "Uh-oh: home directory is writable. (#4.7.0)\n",
            check: nothing_delivered,
            ..row(
                "world-writable home defers",
                &[(".qmail", "./Maildir/\n", 0o644), (".", "", 0o757)],
            )
        },
        Row {
            code: 111,
            err: "Uh-oh: first line of .qmail file is blank. (#4.2.1)\n",
            ..row(
                "blank first line defers",
                &[(".qmail", "\n./Maildir/\n", 0o644)],
            )
        },
        Row {
            code: 111,
            err: "Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)\n",
            ..row(
                "x bit forbids files",
                &[(".qmail", "fwd@example.net\n./Maildir/\n", 0o744)],
            )
        },
        Row {
            code: 111,
            err: "Uh-oh: .qmail has prog delivery but has x bit set. (#4.7.0)\n",
            ..row(
                "+list forbids programs",
                &[(".qmail", "+list\n|true\n", 0o644)],
            )
        },
        Row {
            opts: &["-n"],
            out: "maildir ./Maildir/\nmbox ./mbox\nprogram echo hi\nforward fwd@example.net\nforward plain@example.net\ndid 2+2+1\n",
            check: nothing_delivered,
            ..row(
                "-n prints the instructions",
                &[(
                    ".qmail",
                    "# comment\n./Maildir/ \n./mbox\t\n|echo hi\n&fwd@example.net\n\nplain@example.net\n",
                    0o644,
                )],
            )
        },
    ]
}

#[test]
fn dotqmail_table() {
    let h = QmailHome::new("local-table");
    let mut failures = Vec::new();
    for (i, r) in rows().into_iter().enumerate() {
        let f = Fixture::new(&h, &format!("row{i}"));
        for (name, text, mode) in r.files {
            if *name == "." {
                fs::set_permissions(&f.user, fs::Permissions::from_mode(*mode)).unwrap();
            } else {
                f.file(name, text, *mode);
            }
        }
        let o = f.run(r.opts, r.dash, r.ext, r.msg);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_eq!(o.status.code(), Some(r.code), "exit code; stderr {err:?}");
            if r.out.ends_with("qp ") {
                let (head, qp) = out.split_at(out.len().min(r.out.len()));
                assert_eq!(head, r.out);
                assert!(
                    qp.trim_end().parse::<u32>().is_ok() && qp.ends_with('\n'),
                    "{out:?}"
                );
            } else {
                assert_eq!(out, r.out);
            }
            assert_eq!(err, r.err);
            (r.check)(&f, &out);
        }));
        if res.is_err() {
            failures.push(r.name);
        }
    }
    assert!(failures.is_empty(), "failed rows: {failures:?}");
}

#[test]
fn usage_and_bad_home() {
    let h = QmailHome::new("local-usage");
    let f = Fixture::new(&h, "row");
    let o = f.h.run("qmail-local", &["u", "/x"], b"");
    assert_eq!(o.status.code(), Some(100));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("qmail-local: usage:"));
    let o = f.h.run(
        "qmail-local",
        &[
            "--",
            "u",
            "relative",
            "u",
            "",
            "",
            "example.com",
            "",
            "./Maildir/",
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(100));
    let missing = f.h.dir.join("missing");
    let o = f.h.run(
        "qmail-local",
        &[
            "--",
            "u",
            missing.to_str().unwrap(),
            "u",
            "",
            "",
            "example.com",
            "",
            "./Maildir/",
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(111));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("Unable to switch to "));
}

#[test]
fn sticky_home_defers_but_n_warns() {
    let h = QmailHome::new("local-sticky");
    let f = Fixture::new(&h, "row");
    fs::set_permissions(&f.user, fs::Permissions::from_mode(0o1755)).unwrap();
    let o = f.run(&[], "", "", MSG);
    assert_eq!(o.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Home directory is sticky: user is editing his .qmail file. (#4.2.1)\n"
    );
    let o = f.run(&["-n"], "", "", MSG);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Warning: home directory is sticky.\n"
    );
}

#[test]
fn missing_maildir_defers() {
    let h = QmailHome::new("local-nomaildir");
    let f = Fixture::new(&h, "row");
    f.file(".qmail", "./Nope/\n", 0o644);
    let o = f.run(&[], "", "", MSG);
    assert_eq!(o.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Unable to chdir to maildir. (#4.2.1)\n"
    );
}

#[test]
fn forward_failure_codes() {
    let h = QmailHome::new("local-fwfail");
    for (i, (qq_code, code, err)) in [
        (
            31,
            100,
            "Unable to forward message: mail server permanently rejected message (#5.3.0).\n",
        ),
        (
            71,
            111,
            "Unable to forward message: mail server temporarily rejected message (#4.3.0).\n",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let f = Fixture::new(&h, &format!("row{i}"));
        let qq = f.dir.join("fake-qq");
        let script = fs::read_to_string(&qq)
            .unwrap()
            .replace("exit 0", &format!("exit {qq_code}"));
        fs::write(&qq, script).unwrap();
        f.file(".qmail", "fwd@example.net\n", 0o644);
        let o = f.run(&[], "", "", MSG);
        assert_eq!(o.status.code(), Some(code));
        assert_eq!(String::from_utf8_lossy(&o.stderr), err);
        assert!(o.stdout.is_empty(), "no did line on failure");
    }
}

#[test]
fn large_message_intact_in_maildir_and_mbox() {
    let h = QmailHome::new("local-large");
    let f = Fixture::new(&h, "row");
    f.file(".qmail", "./Maildir/\n./mbox\n", 0o644);
    let mut msg = String::from("Subject: big\n\n");
    for i in 0..40_000 {
        msg.push_str(&format!("line {i} of a long message, From somewhere\n"));
    }
    let o = f.run(&[], "", "", &msg);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let m = f.maildir();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0], format!("Return-Path: <{SENDER}>\n{}{msg}", dt("u")));
    let mbox = f.read("mbox").unwrap();
    assert!(mbox.ends_with(&format!("{}\n", &msg[msg.len() - 200..])));
}

/// mbox delivery waits for a lock another process holds, then appends.
#[test]
fn mbox_waits_for_lock() {
    let h = QmailHome::new("local-lock");
    let f = Fixture::new(&h, "row");
    f.file(".qmail", "./mbox\n", 0o644);
    fs::write(f.user.join("mbox"), "").unwrap();
    // This process holds the fcntl lock (qmail-local, another process, must
    // wait). Closing any descriptor of the file here would drop the lock:
    // only metadata is looked at until the lock is released.
    let lock = fs::OpenOptions::new()
        .append(true)
        .open(f.user.join("mbox"))
        .unwrap();
    sqmail::sys::lock_fcntl_exclusive(&lock).unwrap();
    let mpath = f.dir.join("message");
    fs::write(&mpath, MSG).unwrap();
    let mut c = f.h.cmd("qmail-local");
    c.args(["--", "u", f.user.to_str().unwrap(), "u", "", ""])
        .args(["example.com", SENDER, "./Maildir/"])
        .stdin(Stdio::from(fs::File::open(&mpath).unwrap()))
        .stdout(Stdio::piped());
    let mut local = c.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    while std::time::Instant::now() < deadline {
        assert!(
            local.try_wait().unwrap().is_none(),
            "delivered through a held lock"
        );
        std::thread::yield_now();
    }
    assert_eq!(fs::metadata(f.user.join("mbox")).unwrap().len(), 0);
    drop(lock);
    let out = local.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(f.read("mbox").unwrap().contains("\nSubject: hi\n"));
}

/// A file-size limit (a full disk in small) defers cleanly: no partial
/// Maildir file, the mbox cut back to its old end.
#[test]
fn file_size_limit_defers_without_partial_files() {
    let h = QmailHome::new("local-fsize");
    let big = format!("Subject: big\n\n{}", "x".repeat(200_000));
    for (i, (qmail, err)) in [
        (
            "./Maildir/\n",
            "Temporary error on maildir delivery. (#4.3.0)\n",
        ),
        (
            "./mbox\n",
            "Unable to write ./mbox: File too large. (#4.3.0)\n",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let f = Fixture::new(&h, &format!("row{i}"));
        f.file(".qmail", qmail, 0o644);
        fs::write(f.user.join("mbox"), "old\n\n").unwrap();
        let mpath = f.dir.join("message");
        fs::write(&mpath, &big).unwrap();
        let mut c = std::process::Command::new("/bin/sh");
        c.env_clear()
            .env("QMAILHOME", &h.dir)
            .env("PATH", format!("{}:/usr/bin:/bin", bin_dir().display()))
            .arg("-c")
            .arg("ulimit -f 64; exec qmail-local \"$@\"")
            .arg("sh")
            .args(["--", "u", f.user.to_str().unwrap(), "u", "", ""])
            .args(["example.com", SENDER, "./Maildir/"])
            .stdin(Stdio::from(fs::File::open(&mpath).unwrap()));
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(111), "{qmail}");
        assert_eq!(String::from_utf8_lossy(&o.stderr), err);
        assert!(list(&f.user.join("Maildir/new")).is_empty());
        assert!(
            list(&f.user.join("Maildir/tmp")).is_empty(),
            "tmp file left"
        );
        assert_eq!(f.read("mbox").unwrap(), "old\n\n");
    }
}

/// DEFAULT from qmail-local's own environment never leaks to programs of
/// a file that is not a -default file.
#[test]
fn stale_default_is_removed() {
    let h = QmailHome::new("local-default");
    let f = Fixture::new(&h, "row");
    f.file(".qmail-x", "|printf %s \"${DEFAULT-unset}\" > d\n", 0o644);
    let mpath = f.dir.join("message");
    fs::write(&mpath, MSG).unwrap();
    let o =
        f.h.cmd("qmail-local")
            .env("DEFAULT", "stale")
            .args(["--", "u", f.user.to_str().unwrap(), "u-x", "-", "x"])
            .args(["example.com", SENDER, "./Maildir/"])
            .stdin(Stdio::from(fs::File::open(&mpath).unwrap()))
            .output()
            .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(f.read("d").unwrap(), "unset");
}

/// A `|` line of plain words runs the program directly (its parent is
/// qmail-local), with the words as its arguments and the message on stdin;
/// a line that needs the shell (quotes, redirection) still gets `sh -c`.
#[test]
fn plain_commands_skip_the_shell() {
    let h = QmailHome::new("local-plain");
    let f = Fixture::new(&h, "plain");
    let rec =
        "#!/bin/sh\nout=$1; shift\n{ cat /proc/$PPID/comm; echo \"$#:$*\"; cat; } > \"$out\"\n";
    f.file("rec", rec, 0o755);
    f.file(
        ".qmail",
        "|./rec direct a%b c=d\n|./rec viashell 'two words' >/dev/null\n",
        0o644,
    );
    let o = f.run(&[], "", "", MSG);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let direct = f.read("direct").unwrap();
    assert!(direct.starts_with("qmail-local\n2:a%b c=d\n"), "{direct}");
    assert!(direct.ends_with(MSG), "{direct}");
    let shell = f.read("viashell").unwrap();
    assert!(
        shell.starts_with("sh\n1:two words\n") || shell.starts_with("dash\n1:two words\n"),
        "{shell}"
    );
    assert!(shell.ends_with(MSG));
    // a missing program is a temporary failure, as the shell's 127 was
    f.file(".qmail", "|./nonexistent arg\n", 0o644);
    let o = f.run(&[], "", "", MSG);
    assert_eq!(o.status.code(), Some(111));
}

/// A Maildir delivery killed (SIGKILL, by strace at a system call's entry)
/// before the file's fsync, before its link into new/, and before new/'s
/// fsync: the first two leave nothing in new/ or tmp/, the third a
/// complete file in new/ and nothing in tmp/; the retry delivers whole.
#[test]
fn maildir_killed_at_each_step_leaves_no_partial_file() {
    let strace = ["/usr/bin/strace", "/bin/strace"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(strace) = strace else {
        return skip("strace not installed (package/testdeps)");
    };
    let h = QmailHome::new("local-maildir-kill");
    let f = Fixture::new(&h, "row");
    f.file(".qmail", "./Maildir/\n", 0o644);
    let mpath = f.dir.join("message");
    let msg = format!("Subject: k\n\n{}", "line of the message\n".repeat(5000));
    fs::write(&mpath, &msg).unwrap();
    let whole = format!("Return-Path: <{SENDER}>\n{}{msg}", dt("u"));
    let deliver = |inject: Option<&str>| {
        let mut c = std::process::Command::new(strace);
        c.env("QMAILHOME", &h.dir)
            .args(["-f", "-qq", "-o", "/dev/null"]);
        if let Some(i) = inject {
            c.args(["-e", &format!("inject={i}:signal=KILL")]);
        }
        c.arg(bin_dir().join("qmail-local"))
            .args(["--", "u", f.user.to_str().unwrap(), "u", "", ""])
            .args(["example.com", SENDER, "./Maildir/"])
            .stdin(Stdio::from(fs::File::open(&mpath).unwrap()));
        c.output().unwrap()
    };
    for (inject, delivered) in [
        ("fsync:when=1", 0),
        ("linkat:when=1", 0),
        ("fsync:when=2", 1),
    ] {
        let o = deliver(Some(inject));
        assert!(!o.status.success(), "{inject}: not killed");
        assert!(o.stdout.is_empty(), "{inject}: finished");
        let m = f.maildir();
        assert_eq!(m.len(), delivered, "{inject}");
        assert!(m.iter().all(|b| *b == whole), "{inject}: partial file");
        assert!(
            list(&f.user.join("Maildir/tmp")).is_empty(),
            "{inject}: tmp"
        );
        for old in list(&f.user.join("Maildir/new")) {
            fs::remove_file(f.user.join("Maildir/new").join(old)).unwrap();
        }
    }
    let o = deliver(None);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(f.maildir(), [whole]);
    assert!(list(&f.user.join("Maildir/tmp")).is_empty());
}
