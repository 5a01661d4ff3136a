//! Helpers for the qmail-send tests: a queue writer that does what
//! qmail-queue does (for tests that must not depend on it), the running
//! daemon, a fake qmail-remote, and deadline waits.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use crate::common::queue::spawn_piped;
use crate::common::*;

const SPLIT: u64 = 23;

/// Queues a message the way qmail-queue does (qmail-queue(8)), without the
/// Received line: returns the id once the todo link is durable.
pub fn enqueue(h: &QmailHome, sender: &str, recips: &[&str], body: &[u8]) -> u64 {
    let q = h.path("queue");
    let tmp = q.join(format!("pid/t{}.{}", std::process::id(), next_seq()));
    let mut f = File::create(&tmp).unwrap();
    f.write_all(body).unwrap();
    f.sync_all().unwrap();
    let id = f.metadata().unwrap().ino();
    let d = id % SPLIT;
    fs::rename(&tmp, q.join(format!("mess/{d}/{id}"))).unwrap();
    let mut env = format!("u{}\0p{}\0F{sender}\0", 0, std::process::id()).into_bytes();
    for r in recips {
        env.extend_from_slice(format!("T{r}\0").as_bytes());
    }
    let intd = q.join(format!("intd/{d}/{id}"));
    let mut f = File::create(&intd).unwrap();
    f.write_all(&env).unwrap();
    f.sync_all().unwrap();
    fs::hard_link(&intd, q.join(format!("todo/{d}/{id}"))).unwrap();
    File::open(q.join(format!("todo/{d}")))
        .unwrap()
        .sync_all()
        .unwrap();
    pull_trigger(h);
    id
}

fn next_seq() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

pub fn pull_trigger(h: &QmailHome) {
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(mut t) = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(h.path("queue/lock/trigger"))
    {
        let _ = t.write_all(&[0]);
    }
}

/// Queues through the real qmail-queue; returns its exit code.
pub fn qmail_queue(h: &QmailHome, sender: &str, recips: &[&str], body: &[u8]) -> i32 {
    let mut env = format!("F{sender}\0").into_bytes();
    for r in recips {
        env.extend_from_slice(format!("T{r}\0").as_bytes());
    }
    env.push(0);
    let (mut child, mut ew) = spawn_piped(h);
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(body);
    drop(stdin);
    let _ = ew.write_all(&env);
    drop(ew);
    child.wait().unwrap().code().unwrap_or(-1)
}

/// qmail-start running in its own process group, log in a file.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(h: &QmailHome) -> Daemon {
        let log = h.dir.parent().unwrap().join("send.log");
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = h
            .cmd("qmail-start")
            .arg("./Maildir/")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let d = Daemon { child, log };
        assert!(
            wait_until(10, || d.log_text().contains("status: local")),
            "qmail-send did not start: {}",
            d.log_text()
        );
        d
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: i32) {
        sqmail::sys::kill(self.pid(), sig).unwrap();
    }

    /// TERM, then wait for the whole group to finish; returns the exit code.
    pub fn stop(mut self) -> i32 {
        self.signal(libc::SIGTERM);
        let code = wait_child(&mut self.child, 30).expect("qmail-send did not exit on TERM");
        let pg = self.pid();
        assert!(
            wait_until(10, || sqmail::sys::kill(-pg, 0).is_err()),
            "helpers still running after qmail-send exited"
        );
        code
    }

    /// SIGKILL for the whole process group (qmail-send and its helpers).
    pub fn kill_all(mut self) {
        let _ = sqmail::sys::kill(-self.pid(), libc::SIGKILL);
        let _ = self.child.wait();
        let pg = self.pid();
        wait_until(10, || sqmail::sys::kill(-pg, 0).is_err());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = sqmail::sys::kill(-(self.child.id() as i32), libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// For the crash tests: waits until the daemon `d` has started `before`
/// plus 1 to `per_round` more deliveries (a different number each round,
/// so the kill hits a different point of the flow), or fails.
pub fn await_kill_point(d: &Daemon, before: usize, round: usize, per_round: usize) {
    let target = before + 1 + (round * 7) % per_round;
    assert!(
        wait_until(20, || {
            d.log_text().matches("starting delivery").count() >= target
        }),
        "round {round}: {target} deliveries never started:\n{}",
        d.log_text()
    );
}

pub fn wait_child(c: &mut Child, secs: u64) -> Option<i32> {
    let mut code = None;
    wait_until(secs, || match c.try_wait() {
        Ok(Some(s)) => {
            code = Some(s.code().unwrap_or(-1));
            true
        }
        _ => false,
    });
    code
}

/// Installs a fake qmail-remote in HOME/bin. It stores each message as
/// `OUT/new/<recipient>.<pid>` (first line: the envelope sender) and
/// answers by the recipient's local part: `nobody*` permanent failure,
/// `defer*` temporary failure on the first try then success, `slow*` waits
/// for `OUT/go`, anything else success.
pub fn fake_remote(h: &QmailHome) -> PathBuf {
    let out = h.dir.parent().unwrap().join("remote");
    fs::create_dir_all(out.join("new")).unwrap();
    fs::create_dir_all(out.join("tmp")).unwrap();
    let script = format!(
        r#"#!/bin/sh
out={out}
case "$3" in
nobody*) printf 'DSorry, no mailbox here by that name. (#5.1.1)\n\0'; exit 0;;
defer*) if [ ! -e "$out/tried.$3" ]; then : > "$out/tried.$3"; printf 'Zgreylisted, try again.\0'; exit 0; fi;;
slow*) while [ ! -e "$out/go" ]; do sleep 0.05; done;;
esac
t=$out/tmp/$$
{{ printf '%s\n' "$2"; cat; }} > "$t" || exit 111
mv "$t" "$out/new/$3.$$"
printf 'K%s accepted message.\0' "$3"
"#,
        out = out.display()
    );
    let p = h.path("bin/qmail-remote");
    let _ = fs::remove_file(&p);
    fs::write(&p, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    out
}

/// Messages the fake qmail-remote received, as (file name, bytes).
pub fn remote_got(out: &Path) -> Vec<(String, Vec<u8>)> {
    list(&out.join("new"))
        .into_iter()
        .map(|n| {
            let b = fs::read(out.join("new").join(&n)).unwrap();
            (n, b)
        })
        .collect()
}

/// The invoking user's Maildir/new in a home made by package/home.
pub fn maildir_new(h: &QmailHome) -> PathBuf {
    h.path(&format!("home/{}/Maildir/new", user_name()))
}

/// Waits (20 s at most) for the first message in the test user's
/// Maildir/new and returns its text; fails with `d`'s log otherwise.
pub fn first_delivery(h: &QmailHome, d: &Daemon) -> String {
    let md = maildir_new(h);
    assert!(
        wait_until(20, || !list(&md).is_empty()),
        "not delivered: {}",
        d.log_text()
    );
    fs::read_to_string(md.join(&list(&md)[0])).unwrap()
}

/// The index `i` of a delivered test message ("Subject: test i"), and
/// whether the file ends with exactly that message's body.
pub fn delivered_index(bytes: &[u8], body: impl Fn(usize) -> Vec<u8>) -> Option<(usize, bool)> {
    let pos = bytes.windows(14).position(|w| w == b"Subject: test ")?;
    let rest = &bytes[pos + 14..];
    let end = rest.iter().position(|&b| b == b'\n')?;
    let i: usize = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
    Some((i, bytes[pos..] == body(i)[..]))
}
