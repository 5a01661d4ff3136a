//! qmail-authuser as qmail-popup's checkpassword:
//! `qmail-popup host qmail-authuser qmail-pop3d Maildir`. A scripted caller
//! writes `user\0password\0timestamp\0` into a pipe on fd 3, the way
//! qmail-popup does, and a stand-in qmail-pop3d prints what it was given.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};

use crate::common::QmailHome;

/// `openssl passwd -6 -salt saltsalt secret`
const SECRET_HASH: &str = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
const TIMESTAMP: &[u8] = b"<4711.1700000000@pop.example>";

struct Pop {
    h: QmailHome,
    env: Vec<(String, String)>,
}

impl Pop {
    /// A home whose users/authuser says `table`, a passwd with user `pop`
    /// (uid 4242, home `pophome`), and a stand-in qmail-pop3d.
    fn new(name: &str, table: &str) -> Pop {
        let h = QmailHome::new(name);
        fs::write(h.path("users/authuser"), table).unwrap();
        let pophome = h.path("pophome");
        fs::create_dir_all(pophome.join("Maildir")).unwrap();
        let pw = h.path("passwd");
        let sh = h.path("shadow");
        fs::write(
            &pw,
            format!(
                "root:x:0:0::/root:/bin/sh\npop:x:4242:4343:POP user:{}:/bin/popshell\n",
                pophome.display()
            ),
        )
        .unwrap();
        fs::write(&sh, format!("pop:{SECRET_HASH}:19000::::::\n")).unwrap();
        let bin = h.path("popbin");
        fs::create_dir_all(&bin).unwrap();
        let pop3d = bin.join("qmail-pop3d");
        fs::write(
            &pop3d,
            "#!/bin/sh\necho \"args=$*\"\necho \"cwd=$(pwd)\"\necho \"uid=$(id -u)\"\necho \"USER=$USER\"\necho \"HOME=$HOME\"\necho \"SHELL=$SHELL\"\nif read -r x <&3 2>/dev/null; then echo fd3=open; else echo fd3=closed; fi\n",
        )
        .unwrap();
        fs::set_permissions(&pop3d, fs::Permissions::from_mode(0o755)).unwrap();
        let env = vec![
            ("AUTHUSER_PASSWD".into(), pw.display().to_string()),
            ("AUTHUSER_SHADOW".into(), sh.display().to_string()),
            (
                "PATH".into(),
                format!(
                    "{}:{}:/usr/bin:/bin",
                    bin.display(),
                    h.path("bin").display()
                ),
            ),
        ];
        Pop { h, env }
    }

    /// The caller: `qmail-authuser qmail-pop3d Maildir` with `block` on a
    /// pipe at fd 3 (the shell moves our stdin pipe there).
    fn login(&self, block: &[u8]) -> Output {
        let mut c = Command::new("/bin/sh");
        c.env_clear()
            .env("QMAILHOME", &self.h.dir)
            .current_dir("/")
            .arg("-c")
            .arg("exec \"$0\" qmail-pop3d Maildir 3<&0 0</dev/null")
            .arg(crate::common::bin("qmail-authuser"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(block).unwrap();
        child.wait_with_output().unwrap()
    }
}

fn block(user: &str, pass: &[u8]) -> Vec<u8> {
    [user.as_bytes(), b"\0", pass, b"\0", TIMESTAMP, b"\0"].concat()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn pop3_system_user_bang_mode() {
    let p = Pop::new("authuser-pop3", "*:!\n");
    let out = p.login(&block("pop", b"secret"));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let pophome = p.h.path("pophome");
    let uid = sqmail::sys::getuid();
    assert_eq!(
        stdout(&out),
        format!(
            "args=Maildir\ncwd={home}\nuid={uid}\nUSER=pop\nHOME={home}\nSHELL=/bin/popshell\nfd3=closed\n",
            home = pophome.display()
        ),
        "private mode: the user's home and variables, but no uid change"
    );
    // The domain part is not part of the system name.
    let out = p.login(&block("pop@example.com", b"secret"));
    assert!(stdout(&out).contains("USER=pop\n"), "{out:?}");
    // Failures: the subprogram never runs.
    for (b, code) in [
        (block("pop", b"wrong"), 1),
        (block("ghost", b"secret"), 1),
        (b"pop\0secret".to_vec(), 2),
    ] {
        let out = p.login(&b);
        assert_eq!(out.status.code(), Some(code), "{out:?}");
        assert_eq!(stdout(&out), "");
    }
    // A home that cannot be entered is a temporary failure.
    fs::remove_dir_all(&pophome).unwrap();
    let out = p.login(&block("pop", b"secret"));
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(111), String::new())
    );
}

#[test]
fn pop3_other_tokens_and_apop() {
    let p = Pop::new("authuser-pop3-apop", "joe@example.com:tanstaaf\npop:?\n");
    // USER/PASS against a plaintext secret: the timestamp is ignored.
    let out = p.login(&block("joe@example.com", b"tanstaaf"));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let s = stdout(&out);
    assert!(
        s.starts_with("args=Maildir\ncwd=/\n"),
        "no change of directory: {s}"
    );
    assert!(s.contains("USER=\n"), "{s}");
    // APOP: hex MD5 of timestamp and secret.
    use md5::Digest;
    let digest = sqmail::smtpd::auth::hex(&md5::Md5::digest([TIMESTAMP, b"tanstaaf"].concat()));
    let out = p.login(&block("joe@example.com", digest.as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = p.login(&block(
        "joe@example.com",
        b"0123456789abcdef0123456789abcdef",
    ));
    assert_eq!(out.status.code(), Some(1));
    // `?`: the password is checked, nothing else changes.
    let out = p.login(&block("pop", b"secret"));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stdout(&out).contains("cwd=/\n"), "{out:?}");
}

/// qmail-smtpd's subprogram `true` is answered without an exec: with no
/// `true` on PATH the right password still succeeds, a wrong one fails.
#[test]
fn true_subprogram_needs_no_exec() {
    let h = QmailHome::new("authuser-true");
    fs::write(h.path("users/authuser"), "joe@example.com:tanstaaf\n").unwrap();
    let run = |pass: &[u8]| {
        let mut c = Command::new("/bin/sh");
        c.env_clear()
            .env("QMAILHOME", &h.dir)
            .env("PATH", "/nonexistent")
            .arg("-c")
            .arg("exec \"$0\" true 3<&0 0</dev/null")
            .arg(crate::common::bin("qmail-authuser"))
            .stdin(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let b = [b"joe@example.com\0", pass, b"\0\0"].concat();
        child.stdin.take().unwrap().write_all(&b).unwrap();
        child.wait().unwrap().code()
    };
    assert_eq!(run(b"tanstaaf"), Some(0));
    assert_eq!(run(b"wrong"), Some(1));
}
