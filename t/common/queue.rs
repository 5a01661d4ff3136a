//! A private home's queue: qmail-queue run the ways the tests need, and
//! what the queue directories hold.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::common::{QmailHome, list};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// What one qmail-queue run gave.
pub struct Ran {
    pub code: Option<i32>,
    pub pid: u32,
    pub stderr: Vec<u8>,
}

/// A stand-in for qmail-queue in `dir` (for QMAILQUEUE) that saves the
/// message to `dir/qq.body` and the envelope to `dir/qq.env`, then exits
/// with `code`.
pub fn recording_qq(dir: &Path, code: i32) -> PathBuf {
    let qq = dir.join("fake-qq");
    fs::write(
        &qq,
        format!(
            "#!/bin/sh\ncat > {0}/qq.body\ncat <&1 > {0}/qq.env\nexit {code}\n",
            dir.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&qq, fs::Permissions::from_mode(0o755)).unwrap();
    qq
}

/// A file next to the home holding `data`, opened for reading.
pub fn input_file(h: &QmailHome, data: &[u8]) -> File {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let p = h.dir.parent().unwrap().join(format!("input-{n}"));
    fs::write(&p, data).unwrap();
    File::open(&p).unwrap()
}

/// Runs `cmd` (a qmail-queue command) with the message on fd 0 and the
/// envelope on fd 1.
pub fn run_qq(h: &QmailHome, cmd: &mut Command, msg: &[u8], env: &[u8]) -> Ran {
    let child = cmd
        .stdin(input_file(h, msg))
        .stdout(input_file(h, env))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    Ran {
        code: out.status.code(),
        pid,
        stderr: out.stderr,
    }
}

/// qmail-queue in home `h`.
pub fn queue(h: &QmailHome, msg: &[u8], env: &[u8]) -> Ran {
    run_qq(h, &mut h.cmd("qmail-queue"), msg, env)
}

/// Every file `queue/DIR/*/*` as (id, path), sorted.
pub fn queue_files(h: &QmailHome, dir: &str) -> Vec<(u64, PathBuf)> {
    let mut v = Vec::new();
    let top = h.path("queue").join(dir);
    for sub in list(&top) {
        for name in list(&top.join(&sub)) {
            v.push((name.parse().unwrap(), top.join(&sub).join(name)));
        }
    }
    v.sort();
    v
}

/// Spawns qmail-queue with both inputs as pipes the test holds.
/// The message files queued since the last call with `seen` (which it
/// updates). Tests keep message files: one removed by hand leaves its todo
/// entry for a later message with the same inode number to collide with.
pub fn newly_queued(h: &QmailHome, seen: &mut Vec<PathBuf>) -> Vec<PathBuf> {
    let new: Vec<PathBuf> = queue_files(h, "mess")
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| !seen.contains(p))
        .collect();
    seen.extend(new.iter().cloned());
    new
}

pub fn spawn_piped(h: &QmailHome) -> (Child, std::io::PipeWriter) {
    let (env_r, env_w) = std::io::pipe().unwrap();
    let child = h
        .cmd("qmail-queue")
        .stdin(Stdio::piped())
        .stdout(Stdio::from(env_r))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (child, env_w)
}

/// Number of files under the split directories of `queue/DIR`.
pub fn queue_count(h: &QmailHome, dir: &str) -> usize {
    queue_files(h, dir).len()
}

/// True when no message is left anywhere in the queue.
pub fn queue_empty(h: &QmailHome) -> bool {
    ["mess", "intd", "todo", "info", "local", "remote"]
        .iter()
        .all(|d| queue_count(h, d) == 0)
        && list(&h.path("queue/bounce")).is_empty()
}

/// True when nothing is left to do: no todo/intd/info/local/remote/bounce
/// (leftover mess files without info are the cleanup's business).
pub fn queue_drained(h: &QmailHome) -> bool {
    ["intd", "todo", "info", "local", "remote"]
        .iter()
        .all(|d| queue_count(h, d) == 0)
        && list(&h.path("queue/bounce")).is_empty()
}
