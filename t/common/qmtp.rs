//! QMTP and QMQP from the client's side, written from the protocol texts:
//! packages, answers, and a home whose queue records every message.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use crate::common::{QmailHome, bin, list, run_with_input, script, wait_until};

pub fn ns(data: &[u8]) -> Vec<u8> {
    let mut v = format!("{}:", data.len()).into_bytes();
    v.extend_from_slice(data);
    v.push(b',');
    v
}

/// One QMTP package: the message with its line-ending code, the sender,
/// the recipient list.
pub fn package(code: u8, msg: &[u8], sender: &[u8], rcpts: &[&[u8]]) -> Vec<u8> {
    let mut m = vec![code];
    m.extend_from_slice(msg);
    let mut v = ns(&m);
    v.extend(ns(sender));
    let list: Vec<u8> = rcpts.iter().flat_map(|r| ns(r)).collect();
    v.extend(ns(&list));
    v
}

/// One QMQP request.
pub fn qmqp_request(msg: &[u8], sender: &[u8], rcpts: &[&[u8]]) -> Vec<u8> {
    let mut inner = ns(msg);
    inner.extend(ns(sender));
    for r in rcpts {
        inner.extend(ns(r));
    }
    ns(&inner)
}

/// The netstrings of `out`, as text; panics on bad framing.
pub fn answers(out: &[u8]) -> Vec<String> {
    let mut v = Vec::new();
    let mut rest = out;
    while !rest.is_empty() {
        let colon = rest.iter().position(|&b| b == b':').expect("a length");
        let len: usize = std::str::from_utf8(&rest[..colon])
            .unwrap()
            .parse()
            .unwrap();
        let body = &rest[colon + 1..colon + 1 + len];
        assert_eq!(rest[colon + 1 + len], b',', "netstring ends with a comma");
        v.push(String::from_utf8_lossy(body).into_owned());
        rest = &rest[colon + 2 + len..];
    }
    v
}

/// A home with `me`, `rcpthosts` and a queue script that records each
/// message and envelope as `rec/N.msg`, `rec/N.env` (exit `$QQEXIT`); as
/// qmail-queue, it keeps nothing of an envelope without its end.
pub struct Recorder {
    pub h: QmailHome,
}

impl Recorder {
    pub fn new(name: &str) -> Recorder {
        let h = QmailHome::new(name);
        h.control("me", "mx.example\n");
        h.control("rcpthosts", "example.com\n.sub.example.net\n");
        fs::create_dir_all(h.path("rec")).unwrap();
        script(
            &h.path("bin/recqq"),
            &format!(
                "d={d}/rec; n=$$\ncat > $d/$n.m || exit 53\ncat <&1 > $d/$n.e\n\
                 end=$(tail -c 2 $d/$n.e | od -An -tx1 | tr -d ' \\n')\n\
                 [ \"$end\" = 0000 ] || {{ rm -f $d/$n.m $d/$n.e; exit 91; }}\n\
                 [ \"${{QQEXIT:-0}}\" = 0 ] || {{ rm -f $d/$n.m $d/$n.e; exit $QQEXIT; }}\n\
                 mv $d/$n.m $d/$n.msg && mv $d/$n.e $d/$n.env",
                d = h.dir.display()
            ),
        );
        Recorder { h }
    }

    /// `prog` with the recording queue and a client at 192.0.2.7.
    pub fn cmd(&self, prog: &str, env: &[(&str, &str)]) -> Command {
        self.cmd_at(&bin(prog), env)
    }

    /// `cmd` for a program anywhere (another implementation's server).
    pub fn cmd_at(&self, program: &Path, env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("QMAILHOME", &self.h.dir)
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.h.path("bin").display()),
            )
            .current_dir(&self.h.dir)
            .env("QMAILQUEUE", self.h.path("bin/recqq"))
            .env("TCPREMOTEIP", "192.0.2.7")
            .env("TCPLOCALHOST", "mx.example")
            .env("TCPLOCALIP", "192.0.2.1")
            .env("TCPLOCALPORT", "209");
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, prog: &str, env: &[(&str, &str)], input: &[u8]) -> Output {
        run_with_input(&mut self.cmd(prog, env), input)
    }

    /// Waits until no queue script is half done (a server may exit before
    /// the queue program it started).
    pub fn settle(&self) {
        let dir = self.h.path("rec");
        assert!(wait_until(10, || list(&dir)
            .iter()
            .all(|n| n.ends_with(".msg") || n.ends_with(".env"))));
    }

    /// The recorded (message, envelope) pairs, oldest pid first is not
    /// guaranteed: sorted by message text.
    pub fn queued(&self) -> Vec<(String, Vec<u8>)> {
        let dir = self.h.path("rec");
        let mut v: Vec<(String, Vec<u8>)> = list(&dir)
            .iter()
            .filter(|f| f.ends_with(".env"))
            .map(|f| {
                let n = f.trim_end_matches(".env");
                (
                    String::from_utf8_lossy(&fs::read(dir.join(format!("{n}.msg"))).unwrap())
                        .into_owned(),
                    fs::read(dir.join(f)).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    }
}
