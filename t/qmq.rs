//! The QMQ cluster of `package/qmq` end to end: an edge MX forwarding two
//! mail domains over QMTPS (client certificates from the cluster CA) to two
//! mailbox nodes, and a mini-qmail null client (`package/mini-qmail`)
//! sending by QMQP through the edge. A stopped mailbox node makes mail
//! wait on the edge; it arrives, once, when the node is back.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{bin_dir, fresh_dir, list, run_with_input, wait_until};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/package/qmq");

struct Cluster {
    dir: PathBuf,
    net: String,
    user: String,
}

impl Cluster {
    fn qmq(&self, args: &[&str]) -> std::process::Output {
        let o = Command::new("sh")
            .arg(SCRIPT)
            .arg(&self.dir)
            .args(args)
            .env("SQMAIL_BIN", bin_dir())
            .env("QMQ_NET", &self.net)
            .env("QMQ_USER", &self.user)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "package/qmq {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    fn maildir(&self, node: &str) -> PathBuf {
        self.dir
            .join(node)
            .join("home")
            .join(&self.user)
            .join("Maildir/new")
    }

    fn subjects(&self, node: &str) -> Vec<String> {
        let dir = self.maildir(node);
        let mut v: Vec<String> = list(&dir)
            .iter()
            .map(|f| {
                let t = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                t.lines()
                    .find_map(|l| l.strip_prefix("Subject: "))
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        v.sort();
        v
    }

    fn smtp_port(&self) -> u16 {
        if sqmail::sys::geteuid() == 0 {
            25
        } else {
            2525
        }
    }

    /// One message by SMTP to the edge.
    fn smtp(&self, rcpt: &str, subject: &str) {
        let s = TcpStream::connect((format!("{}.1", self.net).as_str(), self.smtp_port())).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        let mut expect = |code: &str| {
            let mut line = String::new();
            loop {
                line.clear();
                r.read_line(&mut line).unwrap();
                if line.len() < 4 || line.as_bytes()[3] != b'-' {
                    break;
                }
            }
            assert!(line.starts_with(code), "wanted {code}: {line}");
        };
        expect("220");
        for (cmd, code) in [
            ("HELO client.test".to_string(), "250"),
            ("MAIL FROM:<sender@out.test>".to_string(), "250"),
            (format!("RCPT TO:<{rcpt}>"), "250"),
            ("DATA".to_string(), "354"),
            (format!("Subject: {subject}\r\n\r\nbody\r\n."), "250"),
            ("QUIT".to_string(), "221"),
        ] {
            w.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
            expect(code);
        }
    }

    fn pid(&self, node: &str, service: &str) -> i32 {
        let p = self
            .dir
            .join(node)
            .join("run")
            .join(format!("{service}.pid"));
        std::fs::read_to_string(p).unwrap().trim().parse().unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .arg(SCRIPT)
            .arg(&self.dir)
            .arg("stop")
            .env("QMQ_NET", &self.net)
            .output();
    }
}

fn openssl() -> bool {
    Command::new("openssl").arg("version").output().is_ok()
}

fn edge_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("edge/log/send.log")).unwrap_or_default()
}

#[test]
fn qmq_cluster_end_to_end() {
    if !openssl() {
        return crate::common::skip("openssl not installed (package/testdeps)");
    }
    let pid = std::process::id();
    let c = Cluster {
        dir: fresh_dir("qmq"),
        net: format!("127.{}.{}", 101 + (pid >> 16) % 100, (pid >> 8) & 255),
        user: crate::common::user_name(),
    };
    c.qmq(&["start"]);
    let user = &c.user;
    c.smtp(&format!("{user}@a.qmq.test"), "one for a");
    c.smtp(&format!("{user}@b.qmq.test"), "one for b");
    // the null client: sendmail -> qmail-qmqpc -> edge's qmail-qmqpd
    let null = c.dir.join("null");
    let o = run_with_input(
        Command::new(null.join("bin/sendmail"))
            .arg(format!("{user}@b.qmq.test"))
            .env_clear()
            .env("QMAILHOME", &null),
        b"Subject: from the null client\n\nhi\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        wait_until(20, || c.subjects("mbox-a").len() == 1
            && c.subjects("mbox-b").len() == 2),
        "a: {:?} b: {:?}\n{}",
        c.subjects("mbox-a"),
        c.subjects("mbox-b"),
        edge_log(&c.dir)
    );
    assert_eq!(c.subjects("mbox-a"), ["one for a"]);
    assert_eq!(c.subjects("mbox-b"), ["from the null client", "one for b"]);
    let first =
        std::fs::read_to_string(c.maildir("mbox-a").join(&list(&c.maildir("mbox-a"))[0])).unwrap();
    assert!(first.contains(" with QMTPSA; "), "{first}");
    assert!(first.contains("DN=/CN=edge.qmq.test"), "{first}");

    // mbox-a down: the edge keeps the message and retries
    c.qmq(&["stop", "mbox-a"]);
    c.smtp(&format!("{user}@a.qmq.test"), "two for a");
    assert!(
        wait_until(20, || edge_log(&c.dir).contains("deferral")),
        "{}",
        edge_log(&c.dir)
    );
    assert_eq!(c.subjects("mbox-a").len(), 1);
    c.qmq(&["start", "mbox-a"]);
    // forget the refused connection and retry now (qmail-tcpok, ALRM)
    let edge = c.dir.join("edge");
    let o = Command::new(bin_dir().join("qmail-tcpok"))
        .env("QMAILHOME", &edge)
        .output()
        .unwrap();
    assert!(o.status.success());
    sqmail::sys::kill(c.pid("edge", "send"), libc::SIGALRM).unwrap();
    assert!(
        wait_until(20, || c.subjects("mbox-a").len() == 2),
        "{}",
        edge_log(&c.dir)
    );
    assert_eq!(c.subjects("mbox-a"), ["one for a", "two for a"]);
    assert_eq!(c.subjects("mbox-b").len(), 2, "nothing doubled");
}
