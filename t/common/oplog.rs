//! The operations tests' workload (t/analog.rs, t/metrics.rs): qmail-send
//! logging through daemontools' multilog while it delivers a few local
//! messages, a remote one to an SMTP sink, a failure with its bounce and a
//! deferral; the same workload as a shell script for C qmail.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::*;

pub const MULTILOG: &str = "/usr/bin/multilog";
pub const SINK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/t/data/smtp_sink.py");

/// The messages: sender, recipients, subject. Five messages leave the
/// queue (four and the bounce of the failure); carol's stays deferred.
pub const WORKLOAD: &[(&str, &[&str], &str)] = &[
    ("alice@mx.test", &["alice@mx.test"], "one"),
    ("alice@mx.test", &["alice@mx.test"], "two"),
    (
        "alice@mx.test",
        &["alice@mx.test", "bob@sink.test"],
        "three",
    ),
    ("alice@mx.test", &["nosuch@mx.test"], "nobody"),
    ("alice@mx.test", &["carol@defer.test"], "later"),
];

/// Whether daemontools' multilog is here; a loud skip when not.
pub fn have_multilog() -> bool {
    if Path::new(MULTILOG).exists() {
        return true;
    }
    skip("daemontools' multilog not installed: sh package/testdeps as root");
    false
}

/// A process killed when dropped.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The SMTP sink on 127.0.0.1 and its port.
pub fn sink(dir: &Path) -> (Kill, u16) {
    let portfile = dir.join("sink.port");
    let child = Command::new("python3")
        .arg(SINK)
        .arg("0")
        .arg(&portfile)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let k = Kill(child);
    assert!(wait_until(10, || portfile.exists()), "sink did not start");
    let port = fs::read_to_string(&portfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (k, port)
}

/// Runs the workload through our qmail-send in `h`, logged by multilog
/// into the returned directory; returns once every message but carol's
/// has left the queue and carol's was deferred, after qmail-send exited.
pub fn our_run(h: &QmailHome) -> PathBuf {
    our_run_with(h, 0)
}

/// `our_run` with `queued` more messages in the queue beforehand, which
/// qmail-send must finish too.
pub fn our_run_with(h: &QmailHome, queued: usize) -> PathBuf {
    let dir = h.dir.parent().unwrap().to_path_buf();
    let (_sink, port) = sink(&dir);
    let closed = free_port();
    h.control("locals", "mx.test\n");
    h.control(
        "smtproutes",
        &format!("sink.test:127.0.0.1;{port}\ndefer.test:127.0.0.1;{closed}\n"),
    );
    for (from, to, subject) in WORKLOAD {
        let mut args = vec!["-f", from];
        args.extend_from_slice(to);
        let out = h.run(
            "qmail-inject",
            &args,
            format!("Subject: {subject}\n\nhi\n").as_bytes(),
        );
        ok(&out);
    }
    let log = dir.join("log");
    let mut send = h
        .cmd("qmail-start")
        .arg("./Maildir/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pipe = send.stdout.take().unwrap();
    let mut multilog = Kill(
        Command::new(MULTILOG)
            .arg("t")
            .arg(&log)
            .stdin(pipe)
            .spawn()
            .unwrap(),
    );
    let send = Kill(send);
    let current = log.join("current");
    let text = || fs::read_to_string(&current).unwrap_or_default();
    assert!(
        wait_until(30, || {
            let t = text();
            t.matches(" end msg ").count() >= 5 + queued && t.contains(": deferral: ")
        }),
        "workload did not finish:\n{}",
        text()
    );
    sqmail::sys::kill(send.0.id() as i32, libc::SIGTERM).unwrap();
    assert!(
        wait_until(30, || text().contains("status: exiting")),
        "qmail-send did not exit:\n{}",
        text()
    );
    drop(send);
    // multilog ends at the end of its input.
    assert!(send::wait_child(&mut multilog.0, 10).is_some());
    log
}

/// The same workload for C qmail (notqmail) installed in /var/qmail of a
/// scratch root, as sh: its log ends up in /tmp/nqlog (multilog).
pub fn c_qmail_script() -> String {
    let mut inject = String::new();
    for (from, to, subject) in WORKLOAD {
        inject.push_str(&format!(
            "printf 'Subject: {subject}\\n\\nhi\\n' | /var/qmail/bin/qmail-inject -f {from} {}\n",
            to.join(" ")
        ));
    }
    format!(
        r#"
python3 {SINK} 0 /tmp/sink.port &
i=0; until [ -s /tmp/sink.port ]; do i=$((i+1)); [ $i -lt 300 ] || exit 1; sleep 0.1; done
c=/var/qmail/control
echo mx.test > $c/me; echo mx.test > $c/locals; echo mx.test > $c/rcpthosts
printf 'sink.test:127.0.0.1:%s\ndefer.test:127.0.0.1:%s\n' "$(cat /tmp/sink.port)" 1 > $c/smtproutes
: > /var/qmail/alias/.qmail-postmaster; : > /var/qmail/alias/.qmail-root
useradd -m -d /home/alice -s /bin/sh alice
su alice -s /bin/sh -c '/var/qmail/bin/maildirmake /home/alice/Maildir'
{inject}
mkfifo /tmp/logpipe
multilog t /tmp/nqlog < /tmp/logpipe &
env - PATH=/var/qmail/bin:/usr/bin:/bin qmail-start ./Maildir/ > /tmp/logpipe &
send=$!
i=0
until [ "$(grep -c ' end msg ' /tmp/nqlog/current 2>/dev/null)" -ge 5 ] && grep -q ': deferral: ' /tmp/nqlog/current; do
  i=$((i+1)); [ $i -lt 300 ] || {{ cat /tmp/nqlog/current; exit 1; }}; sleep 0.1
done
kill -TERM $send
i=0; until grep -q 'status: exiting' /tmp/nqlog/current; do i=$((i+1)); [ $i -lt 300 ] || exit 1; sleep 0.1; done
echo NQ-LOGGED
"#
    )
}
