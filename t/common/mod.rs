//! Test harness: private qmail homes and the real programs.

#![allow(dead_code)] // each test module uses a part

pub mod dkverify;
pub mod inject;
pub mod oplog;
pub mod qmtp;
pub mod queue;
pub mod remote;
pub mod scratch;
pub mod send;
pub mod smtpd;
pub mod tls;
pub mod ucspi;
pub mod yaml;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Where cargo put the programs under test.
pub fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_qmail-showctl"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// A fresh directory for one test, numbered, under cargo's tmp dir.
pub fn fresh_dir(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// The invoking user's name, as package/home uses it by default.
pub fn user_name() -> String {
    let uid = sqmail::sys::getuid();
    sqmail::passwd::user_by_uid(uid)
        .unwrap()
        .map(|p| p.name)
        .unwrap_or_else(|| "root".into())
}

/// A private qmail home made by `package/home`.
pub struct QmailHome {
    pub dir: PathBuf,
}

/// A test's home is removed when the test is done with it (the parent
/// directory `fresh_dir` made), unless SQMAIL_KEEP_TESTS is set.
impl Drop for QmailHome {
    fn drop(&mut self) {
        if std::env::var_os("SQMAIL_KEEP_TESTS").is_none()
            && let Some(parent) = self.dir.parent()
        {
            let _ = fs::remove_dir_all(parent);
        }
    }
}

impl QmailHome {
    /// `package/home DIR [users...]`, with links to the programs under test.
    pub fn new(name: &str) -> QmailHome {
        QmailHome::with_users(name, &[])
    }

    pub fn with_users(name: &str, users: &[&str]) -> QmailHome {
        let dir = fresh_dir(name).join("home");
        let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/package/home"))
            .arg(&dir)
            .args(users)
            .env("SQMAIL_BIN", bin_dir())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "package/home failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        QmailHome { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn control(&self, name: &str, text: &str) {
        fs::write(self.path("control").join(name), text).unwrap();
    }

    /// A command for program `name` with a cleared environment and this home.
    pub fn cmd(&self, name: &str) -> Command {
        let mut c = Command::new(bin(name));
        c.env_clear()
            .env("QMAILHOME", &self.dir)
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.path("bin").display()),
            )
            .current_dir(&self.dir);
        c
    }

    /// Runs `name args` with `input` on stdin.
    pub fn run<I: AsRef<OsStr>>(&self, name: &str, args: &[I], input: &[u8]) -> Output {
        run_with_input(self.cmd(name).args(args), input)
    }
}

pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let w = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    w.join().unwrap();
    out
}

/// Files in a directory, sorted (empty when missing).
pub fn list(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub use sqmail::testing::skip;

/// A loopback TCP port nothing listens on (for a peer daemon to bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `cond` every 10 ms until it holds or `secs` pass; whether it held.
/// For states nothing signals: a file appearing, a log line, an exit.
pub fn wait_until(secs: u64, cond: impl FnMut() -> bool) -> bool {
    retry_until(secs, Duration::from_millis(10), cond)
}

/// Calls `attempt` every `every` until it returns true or `secs` pass;
/// whether it did. For attempts too costly to repeat every 10 ms.
pub fn retry_until(secs: u64, every: Duration, mut attempt: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if attempt() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// Writes an executable shell script.
pub fn script(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A `/proc/PID/status` field in KiB (0 once the process is gone).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let st = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    st.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| {
            v.trim_start_matches(':')
                .trim()
                .trim_end_matches(" kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Asserts that a program succeeded, showing its exit code and stderr.
pub fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
}
