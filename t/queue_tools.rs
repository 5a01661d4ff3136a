//! qmail-qread, qmail-qstat, qmail-qmaint, qmail-showctl and splogger on
//! queues and homes built here.

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use sqmail::queue::Queue;

use crate::common::queue::{queue, queue_files};
use crate::common::*;

/// Queues a message through qmail-queue; returns its id.
fn queue_returning_id(h: &QmailHome, body: &[u8], env: &[u8]) -> u64 {
    let before: Vec<u64> = queue_files(h, "mess").iter().map(|m| m.0).collect();
    assert_eq!(queue(h, body, env).code, Some(0));
    queue_files(h, "mess")
        .into_iter()
        .map(|m| m.0)
        .find(|id| !before.contains(id))
        .unwrap()
}

fn qpath(h: &QmailHome, dir: &str, id: u64) -> PathBuf {
    h.path("queue").join(Queue::rel(dir, id))
}

/// Does what qmail-send's preprocessing does: info (with its mtime as the
/// birth time), local and remote lists, then todo and intd go.
fn preprocess(h: &QmailHome, id: u64, sender: &[u8], local: &[u8], remote: &[u8], born: u64) {
    let info = qpath(h, "info", id);
    fs::write(&info, [&b"F"[..], sender, b"\0"].concat()).unwrap();
    fs::File::options()
        .write(true)
        .open(&info)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(born))
        .unwrap();
    if !local.is_empty() {
        fs::write(qpath(h, "local", id), local).unwrap();
    }
    if !remote.is_empty() {
        fs::write(qpath(h, "remote", id), remote).unwrap();
    }
    fs::remove_file(qpath(h, "todo", id)).unwrap();
    fs::remove_file(qpath(h, "intd", id)).unwrap();
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn qread_lists_preprocessed_and_todo_messages() {
    let h = QmailHome::new("qread");
    let a = queue_returning_id(&h, b"Subject: a\n\nA\n", b"Fa@x\0Tu@l\0\0");
    let b = queue_returning_id(&h, b"Subject: b\n\nBB\n", b"F\0Tr@r\0\0");
    let c = queue_returning_id(&h, b"not yet\n", b"Fc@x\0Tq@l\0Tr\x02@r\0\0");
    // 2024-01-03 09:05:07 UTC
    preprocess(
        &h,
        a,
        b"a\x01@x",
        b"Tu@l\0Dv@l\0",
        b"Tr@remote\0Tpartial",
        1704272707,
    );
    preprocess(&h, b, b"", b"", b"Dr@r\0", 1704272707 + 86400 * 7);
    fs::write(
        h.path("queue/bounce").join(b.to_string()),
        "<r@r>:\nfailed\n\n",
    )
    .unwrap();
    let size = |id| fs::metadata(qpath(&h, "mess", id)).unwrap().len();
    let mut want = vec![
        (
            a,
            format!(
                "3 Jan 2024 09:05:07 GMT  #{a}  {}  <a_@x> \n\tlocal\tu@l\n  done\tlocal\tv@l\n\tremote\tr@remote\n",
                size(a)
            ),
        ),
        (
            b,
            format!(
                "10 Jan 2024 09:05:07 GMT  #{b}  {}  <>  bouncing\n  done\tremote\tr@r\n",
                size(b)
            ),
        ),
    ];
    want.sort_by_key(|(id, _)| (Queue::split_of(*id), *id));
    // Not yet preprocessed: after the others, from its todo envelope
    // (queued 2024-01-04 00:00:00 UTC).
    fs::File::options()
        .write(true)
        .open(qpath(&h, "todo", c))
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(1704326400))
        .unwrap();
    want.push((
        c,
        format!(
            "4 Jan 2024 00:00:00 GMT  #{c}  {}  <c@x>  not yet preprocessed\n\ttodo\tq@l\n\ttodo\tr_@r\n",
            size(c)
        ),
    ));
    let out = h.run("qmail-qread", &[] as &[&str], b"");
    assert_eq!(out.status.code(), Some(0));
    let want: String = want.into_iter().map(|(_, s)| s).collect();
    assert_eq!(stdout(&out), want);
}

#[test]
fn qread_warns_about_missing_mess() {
    let h = QmailHome::new("qread-warn");
    let a = queue_returning_id(&h, b"x\n", b"Fa\0Tb\0\0");
    preprocess(&h, a, b"a", b"Tb\0", b"", 1704272707);
    fs::remove_file(qpath(&h, "mess", a)).unwrap();
    let out = h.run("qmail-qread", &[] as &[&str], b"");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        format!("warning: trouble with #{a}: No such file or directory\n")
    );
}

#[test]
fn qstat_counts() {
    let h = QmailHome::new("qstat");
    let a = queue_returning_id(&h, b"x\n", b"Fa\0Tb\0\0");
    queue_returning_id(&h, b"y\n", b"Fa\0Tb\0\0");
    queue_returning_id(&h, b"z\n", b"Fa\0Tb\0\0");
    preprocess(&h, a, b"a", b"Tb\0", b"", 1704272707);
    let out = h.run("qmail-qstat", &[] as &[&str], b"");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "messages in queue: 3\nmessages in queue but not yet preprocessed: 2\n"
    );
    let mut c = h.cmd("qmail-qstat");
    c.env("QMAILHOME", h.dir.join("missing"));
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("qmail-qstat: fatal: unable to read"));
}

fn qmaint(h: &QmailHome, args: &[&str], input: &[u8]) -> (Option<i32>, String) {
    let o = h.run("qmail-qmaint", args, input);
    (o.status.code(), stdout(&o))
}

#[test]
fn qmaint_sane_queue() {
    let h = QmailHome::new("qmaint-sane");
    let (code, out) = qmaint(&h, &[], b"");
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "0 messages, 0 not yet preprocessed: queue is sane.\n");
    let a = queue_returning_id(&h, b"x\n", b"Fa\0Tb\0\0");
    queue_returning_id(&h, b"y\n", b"Fa\0Tb\0\0");
    preprocess(&h, a, b"a", b"Tb\0", b"Tc\0", 1704272707);
    fs::write(h.path("queue/bounce").join(a.to_string()), "x").unwrap();
    // A leftover of a killed qmail-queue is normal: noted, still sane.
    let l = queue_returning_id(&h, b"z\n", b"Fa\0Tb\0\0");
    fs::remove_file(qpath(&h, "todo", l)).unwrap();
    let (code, out) = qmaint(&h, &[], b"");
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("note: #{l}: mess and intd only")),
        "{out}"
    );
    assert!(
        out.ends_with("3 messages, 1 not yet preprocessed: queue is sane.\n"),
        "{out}"
    );
}

#[test]
fn qmaint_reports_and_fixes_inconsistencies() {
    let h = QmailHome::new("qmaint-broken");
    let a = queue_returning_id(&h, b"x\n", b"Fa\0Tb\0\0");
    // An info file without its message, a mess file not named after its
    // inode, a stray file, local without info.
    let orphan = qpath(&h, "info", 5);
    fs::write(&orphan, "Fx\0").unwrap();
    let wrong = qpath(&h, "mess", 7);
    fs::write(&wrong, "Received: ...\n").unwrap();
    fs::write(h.path("queue/todo/3/junk"), "").unwrap();
    preprocess(&h, a, b"a", b"Tb\0", b"", 1704272707);
    fs::remove_file(qpath(&h, "info", a)).unwrap();
    let (code, out) = qmaint(&h, &[], b"");
    assert_eq!(code, Some(99), "{out}");
    assert!(
        out.contains("warning: info/5/5: no mess file for #5\n"),
        "{out}"
    );
    assert!(
        out.contains("warning: mess/7/7: named 7, but its inode is "),
        "{out}"
    );
    assert!(
        out.contains("warning: todo/3/junk: not a message file\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "warning: #{a}: recipient lists without info or todo\n"
        )),
        "{out}"
    );
    assert!(out.ends_with("4 problems.\n"), "{out}");
    assert!(
        orphan.exists() && wrong.exists(),
        "inspection changes nothing"
    );

    // -i: answer yes to every fix offered (orphan, rename); the others
    // have no automatic fix.
    let (code, out) = qmaint(&h, &["-i"], b"y\ny\ny\ny\n");
    assert_eq!(code, Some(99), "{out}");
    assert!(!orphan.exists());
    assert!(!wrong.exists());
    let ino = {
        use std::os::unix::fs::MetadataExt;
        let m = queue_files(&h, "mess");
        let renamed = m.iter().find(|(id, _)| *id != a).unwrap();
        assert_eq!(fs::metadata(&renamed.1).unwrap().ino(), renamed.0);
        renamed.0
    };
    assert!(ino != 7);
    assert!(out.ends_with("2 problems.\n"), "{out}");
}

#[test]
fn qmaint_missing_directory_is_110() {
    let h = QmailHome::new("qmaint-110");
    fs::remove_dir(h.path("queue/info/17")).unwrap();
    let (code, out) = qmaint(&h, &[], b"");
    assert_eq!(code, Some(110), "{out}");
    assert!(
        out.contains("warning: info/17: No such file or directory\n"),
        "{out}"
    );
    let (code, out) = qmaint(&h, &["-i"], b"y\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(h.path("queue/info/17").is_dir());
    let mut c = h.cmd("qmail-qmaint");
    c.env("QMAILHOME", h.dir.join("missing"));
    assert_eq!(c.output().unwrap().status.code(), Some(110));
}

#[test]
fn qmaint_delete_message() {
    let h = QmailHome::new("qmaint-d");
    let a = queue_returning_id(&h, b"x\n", b"Fa\0Tb\0\0");
    let t = queue_returning_id(&h, b"y\n", b"Fa\0Tb\0\0");
    preprocess(&h, a, b"a", b"Tb\0", b"Tc\0", 1704272707);
    fs::write(h.path("queue/bounce").join(a.to_string()), "x").unwrap();
    let (code, out) = qmaint(&h, &["-d", &a.to_string()], b"");
    assert_eq!((code, out), (Some(0), format!("message #{a} removed.\n")));
    for d in ["mess", "info", "local", "remote", "bounce", "intd"] {
        assert!(!qpath(&h, d, a).exists(), "{d} left");
    }
    let o = h.run("qmail-qmaint", &["-d", &t.to_string()], b"");
    assert_eq!(o.status.code(), Some(100));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not preprocessed"));
    assert!(qpath(&h, "mess", t).exists());
    assert_eq!(qmaint(&h, &["-d", "12345"], b"").0, Some(100));
    assert_eq!(qmaint(&h, &["-d", "x"], b"").0, Some(100));
    assert_eq!(qmaint(&h, &[], b"").0, Some(0));
}

#[test]
fn qmaint_refuses_changes_while_qmail_send_runs() {
    let h = QmailHome::new("qmaint-lock");
    let lock = fs::File::open(h.path("queue/lock/sendmutex")).unwrap();
    sqmail::sys::flock_exclusive(&lock, false).unwrap();
    let o = h.run("qmail-qmaint", &["-i"], b"");
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "qmail-qmaint: fatal: qmail-send is running: stop it first\n"
    );
    assert_eq!(qmaint(&h, &[], b"").0, Some(0), "inspection is allowed");
}

#[test]
fn qmaint_clears_dkim_staging() {
    let h = QmailHome::new("qmaint-dkim");
    fs::create_dir_all(h.path("queue/dkim/3")).unwrap();
    fs::write(h.path("queue/dkim/3/11"), "a").unwrap();
    fs::write(h.path("queue/dkim/3/12"), "b").unwrap();
    let (code, out) = qmaint(&h, &["-D"], b"");
    assert_eq!(code, Some(0));
    assert_eq!(out, "2 files removed from the DKIM staging area.\n");
    assert!(list(&h.path("queue/dkim/3")).is_empty());
}

#[test]
fn showctl_settings_and_controls() {
    let h = QmailHome::new("showctl");
    h.control("concurrencyremote", "55\n");
    h.control("locals", "a.example\n# comment\nb.example\n");
    h.control("whatisthis", "x\n");
    h.control("srsdomains", "fw.example:s3cret|=\n");
    let out = h.run("qmail-showctl", &[] as &[&str], b"");
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("s/qmail home directory: {}.", h.dir.display())
    );
    assert_eq!(
        lines[4],
        format!("subdirectory split: {}.", sqmail::auto::SPLIT)
    );
    assert!(text.contains("\nconcurrencyremote: Remote concurrency is 55.\n"));
    assert!(text.contains("\nconcurrencylocal: (Default.) Local concurrency is 10.\n"));
    assert!(text.contains("\nbouncehost: (Default.) Bounce host name is localhost.\n"));
    assert!(text.contains(
        "\nlocals: \nMessages for a.example are delivered locally.\nMessages for b.example are delivered locally.\n"
    ));
    assert!(text.contains("\nwhatisthis: I have no idea what this file does.\n"));
    // The secrets of srsdomains stay out of the report.
    assert!(
        text.contains("\nsrsdomains: \nSRS for fw.example.\n"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("\ntrustanchors: (Default.) DANE is off: no trust anchors.\n"));
    // The anchors package/control installs, then the resolver's AD bit.
    let root = include_str!("../conf-files/trustanchors");
    h.control("trustanchors", root);
    let text = stdout(&h.run("qmail-showctl", &[] as &[&str], b""));
    assert!(text.contains(
        "\ntrustanchors: DANE is on: qmail-remote validates DNSSEC from these anchors.\n\
         Trust anchor: . DS 20326.\nTrust anchor: . DS 38696.\n\
         Trust anchor: . DNSKEY 20326.\nTrust anchor: . DNSKEY 38696.\n"
    ));
    h.control("trustanchors", &format!("ad\n{root}"));
    let text = stdout(&h.run("qmail-showctl", &[] as &[&str], b""));
    assert!(text.contains(
        "\ntrustanchors: DANE is on: DNSSEC as validated by the DNS servers on loopback (their AD bit).\n"
    ));
}

#[test]
fn splogger_sends_stamped_lines() {
    let dir = fresh_dir("splogger");
    let sock = dir.join("log");
    let rx = UnixDatagram::bind(&sock).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut input = b"hello\nwarning: a\x01b\nalert: x\n\n".to_vec();
    input.extend(vec![b'z'; 900]);
    input.extend(b"\nunterminated");
    let mut c = std::process::Command::new(bin("splogger"));
    c.env_clear()
        .env("SPLOGGER_SOCKET", &sock)
        .args(["qmail", "3"]);
    let out = run_with_input(&mut c, &input);
    assert_eq!(out.status.code(), Some(0));
    let mut got = Vec::new();
    for _ in 0..6 {
        let mut buf = vec![0u8; 4096];
        let n = rx.recv(&mut buf).unwrap();
        got.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    // facility 3 (daemon) << 3 = 24; info 6, warning 4, alert 1.
    // Returns (stamp, separator and text).
    let split = |s: &str, pri: &str| -> (String, String) {
        let rest = s
            .strip_prefix(&format!("<{pri}>qmail: "))
            .unwrap_or_else(|| panic!("{s}"));
        let (stamp, text) = rest.split_at(rest.find([' ', '+']).unwrap());
        let (secs, micros) = stamp.split_once('.').unwrap();
        assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{stamp}");
        (stamp.to_string(), text.to_string())
    };
    assert_eq!(split(&got[0], "30").1, " hello");
    assert_eq!(split(&got[1], "28").1, " warning: a?b");
    assert_eq!(split(&got[2], "25").1, " alert: x");
    let (s3, t3) = split(&got[3], "30");
    let (s4, t4) = split(&got[4], "30");
    assert_eq!(t3, format!(" {}", "z".repeat(799)));
    assert_eq!(t4, format!("+{}", "z".repeat(101)));
    assert_eq!(s3, s4, "a continuation keeps the stamp");
    assert_eq!(split(&got[5], "30").1, " unterminated");
}
