//! qmail-queue: the files it leaves, the Received line, every exit code that
//! can be provoked without root, and kill -9 at several points.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::queue::*;
use crate::common::*;

/// Asserts that nothing of a message is left in the queue.
fn assert_queue_empty(h: &QmailHome) {
    for d in ["mess", "intd", "todo"] {
        assert!(queue_files(h, d).is_empty(), "{d} not empty");
    }
    assert!(list(&h.path("queue/pid")).is_empty(), "pid not empty");
}

/// The Received lines qmail-queue could have written between `from` and
/// `to` (seconds).
fn received_any(pid: u32, uid: u32, from: i64, to: i64) -> Vec<String> {
    (from..=to)
        .map(|t| {
            format!(
                "Received: (qmail {pid} invoked by uid {uid}); {}\n",
                sqmail::date::Utc::from_unix(t).received()
            )
        })
        .collect()
}

#[test]
fn queued_files_are_exact() {
    let h = QmailHome::new("qq-files");
    let body = b"Subject: test\n\nbody line\n";
    let env = b"Fsender@a.example\0Trcpt@b.example\0Tother@c.example\0\0";
    let from = sqmail::date::now_secs();
    let r = queue(&h, body, env);
    let to = sqmail::date::now_secs();
    assert_eq!(r.code, Some(0));
    assert!(r.stderr.is_empty(), "qmail-queue prints nothing");

    let mess = queue_files(&h, "mess");
    assert_eq!(mess.len(), 1);
    let (id, mpath) = &mess[0];
    let meta = fs::metadata(mpath).unwrap();
    assert_eq!(meta.ino(), *id, "mess name is its inode");
    assert!(mpath.ends_with(format!("{}/{id}", id % u64::from(sqmail::auto::SPLIT))));
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    let text = fs::read(mpath).unwrap();
    let uid = sqmail::sys::getuid();
    let ok = received_any(r.pid, uid, from, to)
        .into_iter()
        .any(|rl| text == [rl.as_bytes(), &body[..]].concat());
    assert!(ok, "mess: {}", String::from_utf8_lossy(&text));

    let want = format!(
        "u{uid}\0p{}\0Fsender@a.example\0Trcpt@b.example\0Tother@c.example\0",
        r.pid
    );
    for d in ["intd", "todo"] {
        let f = queue_files(&h, d);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, *id, "{d} named after the message");
        assert_eq!(fs::read(&f[0].1).unwrap(), want.as_bytes(), "{d}");
    }
    let todo = queue_files(&h, "todo");
    let intd = queue_files(&h, "intd");
    assert_eq!(
        fs::metadata(&todo[0].1).unwrap().ino(),
        fs::metadata(&intd[0].1).unwrap().ino(),
        "todo is a hard link to intd"
    );
    assert!(list(&h.path("queue/pid")).is_empty());
}

#[test]
fn received_line_format() {
    let h = QmailHome::new("qq-received");
    let r = queue(&h, b"", b"F\0\0");
    assert_eq!(r.code, Some(0));
    let text = fs::read_to_string(&queue_files(&h, "mess")[0].1).unwrap();
    // Received: (qmail PID invoked by uid UID); D Mon YYYY HH:MM:SS -0000\n
    let prefix = format!(
        "Received: (qmail {} invoked by uid {}); ",
        r.pid,
        sqmail::sys::getuid()
    );
    let date = text
        .strip_prefix(&prefix)
        .unwrap()
        .strip_suffix('\n')
        .unwrap();
    let f: Vec<&str> = date.split(' ').collect();
    assert_eq!(f.len(), 5, "{date}");
    assert!(!f[0].starts_with('0') && f[0].parse::<u32>().is_ok());
    assert_eq!(f[1].len(), 3);
    assert_eq!(f[2].len(), 4);
    assert_eq!(f[3].len(), 8);
    assert_eq!(f[4], "-0000");
}

#[test]
fn empty_envelope_and_q_terminator() {
    let h = QmailHome::new("qq-q");
    assert_eq!(queue(&h, b"x\n", b"F\0Q").code, Some(0));
    let todo = queue_files(&h, "todo");
    let t = fs::read(&todo[0].1).unwrap();
    assert!(t.ends_with(b"\0F\0"), "no recipients, Q not copied");
}

#[test]
fn trigger_is_pulled() {
    let h = QmailHome::new("qq-trigger");
    let mut fifo = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(h.path("queue/lock/trigger"))
        .unwrap();
    assert_eq!(queue(&h, b"x\n", b"Fa\0Tb\0\0").code, Some(0));
    let mut b = [9u8; 4];
    assert_eq!(fifo.read(&mut b).unwrap(), 1);
    assert_eq!(b[0], 0);
}

#[test]
fn exit_91_bad_envelope() {
    let h = QmailHome::new("qq-91");
    for env in [&b"Xa\0\0"[..], b"Fa\0Xb\0\0", b"Fa\0Tb\0\x01"] {
        let r = queue(&h, b"x\n", env);
        assert_eq!(r.code, Some(91), "{env:?}");
        assert!(r.stderr.is_empty());
        assert_queue_empty(&h);
    }
}

#[test]
fn exit_11_address_too_long() {
    let h = QmailHome::new("qq-11");
    let mut env = b"Fa@b\0T".to_vec();
    env.extend(vec![b'x'; 1003]);
    env.extend(b"\0\0");
    assert_eq!(queue(&h, b"x\n", &env).code, Some(11));
    assert_queue_empty(&h);
    // 1002 bytes are still fine, for the sender too.
    let mut env = b"F".to_vec();
    env.extend(vec![b'y'; 1002]);
    env.extend(b"\0T");
    env.extend(vec![b'x'; 1002]);
    env.extend(b"\0\0");
    assert_eq!(queue(&h, b"x\n", &env).code, Some(0));
}

#[test]
fn exit_54_eof_in_envelope() {
    let h = QmailHome::new("qq-54");
    for env in [&b""[..], b"Fa", b"Fa\0", b"Fa\0Tb\0", b"Fa\0Tb"] {
        assert_eq!(queue(&h, b"x\n", env).code, Some(54), "{env:?}");
        assert_queue_empty(&h);
    }
}

#[test]
fn exit_61_62_home_and_queue() {
    let h = QmailHome::new("qq-61");
    let mut c = h.cmd("qmail-queue");
    c.env("QMAILHOME", h.dir.join("nonexistent"));
    assert_eq!(run_qq(&h, &mut c, b"x\n", b"Fa\0\0").code, Some(61));
    let bare = fresh_dir("qq-62");
    let mut c = h.cmd("qmail-queue");
    c.env("QMAILHOME", &bare);
    assert_eq!(run_qq(&h, &mut c, b"x\n", b"Fa\0\0").code, Some(62));
}

/// Replaces `queue/DIR` by a plain file, so that creating in it fails even
/// for root.
fn break_dir(h: &QmailHome, dir: &str) {
    let p = h.path("queue").join(dir);
    fs::rename(&p, h.path("queue").join(format!("{dir}.away"))).unwrap();
    fs::write(&p, "not a directory").unwrap();
}

#[test]
fn exit_63_to_66_queue_dirs_clean_up() {
    for (dir, code) in [("pid", 63), ("mess", 64), ("intd", 65), ("todo", 66)] {
        let h = QmailHome::new(&format!("qq-{code}"));
        break_dir(&h, dir);
        let r = queue(&h, b"x\n", b"Fa\0Tb\0\0");
        assert_eq!(r.code, Some(code), "{dir}");
        assert!(r.stderr.is_empty());
        for d in ["mess", "intd", "todo"] {
            if d != dir {
                assert!(queue_files(&h, d).is_empty(), "{d} left after {code}");
            }
        }
        if dir != "pid" {
            assert!(
                list(&h.path("queue/pid")).is_empty(),
                "pid left after {code}"
            );
        }
    }
}

#[test]
fn exit_53_file_size_limit() {
    let h = QmailHome::new("qq-53");
    let mut c = Command::new("prlimit");
    c.env_clear()
        .env("QMAILHOME", &h.dir)
        .arg("--fsize=4096")
        .arg("--")
        .arg(bin("qmail-queue"));
    let big = vec![b'a'; 100_000];
    let r = run_qq(&h, &mut c, &big, b"Fa\0Tb\0\0");
    assert_eq!(r.code, Some(53));
    assert!(r.stderr.is_empty());
    assert_queue_empty(&h);
}

/// A scanner script: "infected" (exit 1) when the file ($1) contains $2.
fn scanner(h: &QmailHome) -> PathBuf {
    let p = h.dir.parent().unwrap().join("scan.sh");
    fs::write(&p, "#!/bin/sh\ngrep -q \"$2\" \"$1\" && exit 1\nexit 0\n").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn qhpsi_scanner() {
    let h = QmailHome::new("qq-qhpsi");
    let scan = scanner(&h);
    let qq = |extra: &[(&str, &str)], msg: &[u8], env: &[u8]| {
        let mut c = h.cmd("qmail-queue");
        c.env("QHPSI", &scan).env("QHPSIARG1", "EICAR");
        for (k, v) in extra {
            c.env(k, v);
        }
        run_qq(&h, &mut c, msg, env).code
    };
    let env = b"Fa\0Tb\0\0";
    assert_eq!(qq(&[], b"EICAR inside\n", env), Some(32));
    assert_queue_empty(&h);
    assert_eq!(qq(&[("QHPSIRC", "7")], b"EICAR inside\n", env), Some(71));
    assert_queue_empty(&h);
    assert_eq!(
        qq(&[("QHPSI", "/nonexistent/scanner")], b"x\n", env),
        Some(71)
    );
    assert_queue_empty(&h);
    assert_eq!(qq(&[("QHPSIMINSIZE", "100000")], b"EICAR\n", env), Some(0));
    assert_eq!(qq(&[("QHPSIMAXSIZE", "10")], b"EICAR\n", env), Some(0));
    assert_eq!(qq(&[], b"EICAR\n", b"Fa\0Tb\0Q"), Some(0), "Q: no scan");
    assert_eq!(qq(&[], b"clean\n", env), Some(0));
    assert_eq!(queue_files(&h, "todo").len(), 4);
}

/// Spawns qmail-queue, gives it the whole `body` and the start of the
/// envelope; the envelope pipe stays open while the writer is kept.
fn start(h: &QmailHome, body: &[u8], env: &[u8]) -> (Child, std::io::PipeWriter) {
    let (mut child, mut env_w) = spawn_piped(h);
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(body);
    drop(stdin);
    let _ = env_w.write_all(env);
    (child, env_w)
}

fn assert_killed(mut child: Child) {
    child.kill().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn kill_while_reading_body_leaves_no_todo() {
    let h = QmailHome::new("qq-kill-body");
    let (mut child, _env) = spawn_piped(&h);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&vec![b'b'; 200_000]).unwrap();
    assert!(
        wait_until(20, || {
            queue_files(&h, "mess")
                .first()
                .is_some_and(|(_, p)| fs::metadata(p).is_ok_and(|m| m.len() > 0))
        }),
        "timeout waiting for body on disk"
    );
    assert_killed(child);
    assert!(queue_files(&h, "todo").is_empty());
    assert!(queue_files(&h, "intd").is_empty());
}

#[test]
fn kill_while_reading_envelope_leaves_no_todo() {
    let h = QmailHome::new("qq-kill-env");
    let (child, _env) = start(&h, b"Subject: x\n\nbody\n", b"Fa@b\0Tc@");
    assert!(
        wait_until(20, || !queue_files(&h, "intd").is_empty()),
        "timeout waiting for intd file"
    );
    assert_killed(child);
    assert!(queue_files(&h, "todo").is_empty());
}

#[test]
fn kill_at_random_points_keeps_acknowledged_only() {
    let h = QmailHome::new("qq-kill-random");
    let mut seed = u64::from(std::process::id());
    let mut queued = 0;
    for i in 0..30u32 {
        let body = format!("Subject: {i}\n\n{}\n", "x".repeat(5000));
        let env = format!("Fs{i}@a\0Tr{i}@b\0\0");
        let (mut child, env) = start(&h, body.as_bytes(), env.as_bytes());
        drop(env);
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_micros((seed >> 33) % 3000));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let todo: Vec<Vec<u8>> = queue_files(&h, "todo")
            .iter()
            .map(|(_, p)| fs::read(p).unwrap())
            .collect();
        let mine = format!("\0Fs{i}@a\0Tr{i}@b\0");
        let found = todo.iter().filter(|t| t.ends_with(mine.as_bytes())).count();
        if status.code() == Some(0) {
            assert_eq!(found, 1, "acknowledged message {i} queued once");
        } else {
            // Killed: queued only if the kill came after the commit point
            // (the todo link); the client then retries, as with qmail.
            assert_eq!(status.code(), None, "only a kill may stop it");
            assert!(found <= 1);
        }
        queued += found;
        assert_eq!(todo.len(), queued, "no other todo entries");
    }
    // Every queued message is complete.
    for (id, t) in queue_files(&h, "todo") {
        let mess = h.path("queue").join(sqmail::queue::Queue::rel("mess", id));
        let text = fs::read_to_string(mess).unwrap();
        assert!(text.starts_with("Received: (qmail "));
        assert!(text.ends_with(&format!("{}\n", "x".repeat(5000))));
        assert!(fs::read(t).unwrap().starts_with(b"u"));
    }
}

#[test]
fn completed_run_survives_kill_afterwards() {
    let h = QmailHome::new("qq-kill-after");
    let (mut child, env) = start(&h, b"hello\n", b"Fa\0Tb\0\0");
    drop(env);
    // Wait for the exit, then "kill": a no-op on a finished process.
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let _ = child.kill();
    let todo = queue_files(&h, "todo");
    assert_eq!(todo.len(), 1);
    assert!(fs::read(&todo[0].1).unwrap().ends_with(b"\0Fa\0Tb\0"));
}

/// Installed set-uid, qmail-queue must not trust QMAILHOME: a caller could
/// otherwise point it at a queue of its own making. Needs root to make a
/// set-uid copy owned by another user; as non-root there is nothing to see.
#[test]
fn setuid_ignores_qmailhome() {
    if sqmail::sys::getuid() != 0 {
        return crate::common::skip("needs root to make a set-uid copy owned by another user");
    }
    let h = QmailHome::new("qq-setuid");
    let copy = h.dir.parent().unwrap().join("qmail-queue-setuid");
    fs::copy(bin("qmail-queue"), &copy).unwrap();
    std::os::unix::fs::chown(&copy, Some(65534), None).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o4755)).unwrap();
    let mut c = Command::new(&copy);
    c.env_clear().env("QMAILHOME", &h.dir);
    let r = run_qq(&h, &mut c, b"x\n", b"Fa\0Tb\0\0");
    assert!(matches!(r.code, Some(61..=66)), "{:?}", r.code);
    assert_queue_empty(&h);
}

/// Runs qmail-queue (through `wrap` when given) with the message coming
/// through a pipe, as qmail-smtpd and qmail-inject give it.
fn queue_from_pipe(h: &QmailHome, wrap: Option<&str>, msg: &[u8], env: &[u8]) -> Option<i32> {
    let mut c = match wrap {
        Some(w) => {
            let mut c = Command::new("prlimit");
            c.env_clear()
                .env("QMAILHOME", &h.dir)
                .arg(w)
                .arg("--")
                .arg(bin("qmail-queue"));
            c
        }
        None => h.cmd("qmail-queue"),
    };
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(input_file(h, env))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = msg.to_vec();
    let w = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let status = child.wait().unwrap();
    w.join().unwrap();
    status.code()
}

#[test]
fn body_from_pipe_exact_and_size_limit() {
    let h = QmailHome::new("qq-pipe");
    let big: Vec<u8> = (0..300_000u32)
        .map(|i| b"abcdefghij\n"[(i % 11) as usize])
        .collect();
    assert_eq!(queue_from_pipe(&h, None, &big, b"Fa\0Tb\0\0"), Some(0));
    let (id, _) = queue_files(&h, "todo")[0].clone();
    let mess = fs::read(h.path("queue").join(sqmail::queue::Queue::rel("mess", id))).unwrap();
    let nl = mess.iter().position(|&b| b == b'\n').unwrap();
    assert!(mess.starts_with(b"Received: (qmail "));
    assert!(mess[nl + 1..] == big[..], "body copied exactly");
    let h = QmailHome::new("qq-pipe-53");
    let r = queue_from_pipe(&h, Some("--fsize=4096"), &big, b"Fa\0Tb\0\0");
    assert_eq!(r, Some(53));
    assert_queue_empty(&h);
}
