//! qmail-smtpd in a private home whose queue is a script recording the
//! message (fd 0) and the envelope (fd 1) into files; reading its replies.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};

use crate::common::{QmailHome, run_with_input, script};

pub const GREETING: &str = "220 mx.example ESMTP";

/// A home with `me`, `rcpthosts` and a recording fake qmail-queue.
pub struct Smtpd {
    pub h: QmailHome,
}

impl Smtpd {
    pub fn new(name: &str) -> Smtpd {
        let h = QmailHome::new(name);
        h.control("me", "mx.example\n");
        h.control("rcpthosts", "example.com\n.sub.example.net\n");
        let qq = h.path("bin/fakeqq");
        script(
            &qq,
            &format!(
                "cat > {d}/msg || exit 53\ncat <&1 > {d}/env\nexit ${{QQEXIT:-0}}",
                d = h.dir.display()
            ),
        );
        Smtpd { h }
    }

    pub fn cmd(&self, env: &[(&str, &str)]) -> Command {
        let mut c = self.h.cmd("qmail-smtpd");
        c.env("QMAILQUEUE", self.h.path("bin/fakeqq"))
            .env("TCPREMOTEIP", "192.0.2.7")
            .env("TCPLOCALHOST", "mx.example")
            .env("TCPLOCALIP", "192.0.2.1");
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, env: &[(&str, &str)], input: &[u8]) -> Output {
        run_with_input(&mut self.cmd(env), input)
    }

    pub fn msg(&self) -> Option<String> {
        fs::read(self.h.path("msg"))
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    pub fn env(&self) -> Option<Vec<u8>> {
        fs::read(self.h.path("env")).ok()
    }
}

/// The non-empty CRLF-separated lines of `out`.
pub fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// A reply against a wanted one, where `*` matches anything.
pub fn like(got: &str, want: &str) -> bool {
    sqmail::smtpd::wildmat::matches(want.as_bytes(), got.as_bytes())
}

/// Replies must equal `want` in order (`*` matches anything).
pub fn check(out: &Output, want: &[&str]) {
    let got = lines(&out.stdout);
    let ok = got.len() == want.len() && got.iter().zip(want).all(|(g, w)| like(g, w));
    assert!(
        ok,
        "replies differ\n got: {got:#?}\nwant: {want:#?}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub const TXN: &[u8] = b"MAIL FROM:<a@b.org>\r\nRCPT TO:<joe@example.com>\r\n";

/// Base64 as an AUTH exchange sends it.
pub fn b64(s: &[u8]) -> String {
    sqmail::smtpd::auth::b64_encode(s)
}

/// A home whose users/authuser knows joe (plaintext, so CRAM-MD5 works).
pub fn auth_home(name: &str) -> Smtpd {
    let s = Smtpd::new(name);
    fs::write(s.h.path("users/authuser"), "joe@example.com:secret\n").unwrap();
    s
}

/// qmail-smtpd with SMTPAUTH=`mode` and qmail-authuser as its checkpassword.
pub fn auth_cmd(s: &Smtpd, mode: &str) -> Command {
    let mut c = s.cmd(&[("SMTPAUTH", mode)]);
    c.arg(s.h.path("bin/qmail-authuser")).arg("true");
    c
}

/// qmail-smtpd under the fake UCSPI-TLS server: `first` is sent, then
/// after `220 Ready` the rest.
pub fn tls_session(
    s: &Smtpd,
    env: &[(&str, &str)],
    vars: &str,
    first: &[u8],
    rest: &[u8],
) -> (Vec<String>, String) {
    let py = concat!(env!("CARGO_MANIFEST_DIR"), "/t/data/fake-ucspitls.py");
    let smtpd = s.cmd(env);
    let mut c = Command::new("python3");
    c.env_clear();
    for (k, v) in smtpd.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    c.current_dir(&s.h.dir)
        .arg(py)
        .arg(vars)
        .arg(smtpd.get_program());
    let mut child: Child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut rd = BufReader::new(child.stdout.take().unwrap());
    stdin.write_all(first).unwrap();
    let mut got = Vec::new();
    loop {
        let mut l = String::new();
        if rd.read_line(&mut l).unwrap() == 0 {
            break;
        }
        let l = l.trim_end().to_string();
        got.push(l.clone());
        if l.starts_with("220 Ready") {
            break;
        }
    }
    stdin.write_all(rest).unwrap();
    drop(stdin);
    let mut tail = String::new();
    rd.read_to_string(&mut tail).unwrap();
    got.extend(lines(tail.as_bytes()));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    (got, err)
}
