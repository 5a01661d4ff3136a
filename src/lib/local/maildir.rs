//! Maildir delivery (maildir(5)): write the message into a file of tmp/,
//! fsync it, link it into `new/`, fsync `new/`. Two fsyncs per delivery,
//! no child process, and the message is copied file-to-file by the kernel.
//!
//! The file in tmp/ has no name (O_TMPFILE) where the kernel allows: no
//! name to create and remove per message, no tmp/ entry for the file's
//! fsync to write out, and a delivery killed at any point leaves nothing
//! behind in the Maildir. Elsewhere it is `tmp/<unique>`, as qmail does.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{fsutil, sys};

/// Why a Maildir delivery failed, as qmail-local tells it.
#[derive(Debug)]
pub enum MaildirError {
    /// The directory (or its tmp/, new/) cannot be reached.
    Chdir(io::Error),
    /// The message could not be read.
    Read(io::Error),
    /// Anything else: creating, writing, syncing, linking.
    Write(io::Error),
}

impl MaildirError {
    /// qmail-local's one-line report.
    pub fn text(&self) -> &'static str {
        match self {
            MaildirError::Chdir(_) => "Unable to chdir to maildir. (#4.2.1)",
            MaildirError::Read(_) => "Unable to read message. (#4.3.0)",
            MaildirError::Write(_) => "Temporary error on maildir delivery. (#4.3.0)",
        }
    }
}

/// The host name with `/` and `:` escaped as `\057` and `\072`.
fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        crate::sys::hostname()
            .replace('/', "\\057")
            .replace(':', "\\072")
    })
}

/// Computes the cached host name now (before a spawner forks).
pub fn prepare() {
    host();
}

/// Delivers `prefix` followed by the whole of `message` (read from its
/// start) into the Maildir `dir`. Returns the path of the file in new/.
pub fn deliver(dir: &Path, prefix: &[&[u8]], message: &File) -> Result<PathBuf, MaildirError> {
    let pid = std::process::id();
    if let Ok(mut file) = sys::open_unnamed(&dir.join("tmp"), 0o600) {
        let (sec, usec) = now();
        return write_and_link(&mut file, prefix, message, dir, None, sec, usec, pid);
    }
    // No O_TMPFILE or no /proc (or tmp/ is missing: the errors below say
    // which).
    let mut attempt = 0;
    let (tmp, mut file, sec, usec) = loop {
        let (sec, usec) = now();
        let tmp = dir.join(format!("tmp/{sec}.M{usec}P{pid}.{}", host()));
        match fsutil::create_new(&tmp, 0o600) {
            Ok(f) => break (tmp, f, sec, usec),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 2 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_secs(2));
            }
            // qmail changes into the Maildir first: a directory that
            // cannot be entered is "unable to chdir", a broken one not.
            Err(e) if !dir.is_dir() => return Err(MaildirError::Chdir(e)),
            Err(e) => return Err(MaildirError::Write(e)),
        }
    };
    let result = write_and_link(&mut file, prefix, message, dir, Some(&tmp), sec, usec, pid);
    let _ = fs::remove_file(&tmp);
    result
}

/// Seconds and microseconds of the clock, for the file's name.
fn now() -> (u64, u32) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_secs(), now.subsec_micros())
}

/// Writes and syncs `file`, then links it into new/: from its name `tmp`,
/// or (None) as the unnamed file it is.
#[allow(clippy::too_many_arguments)]
fn write_and_link(
    file: &mut File,
    prefix: &[&[u8]],
    mut message: &File,
    dir: &Path,
    tmp: Option<&Path>,
    sec: u64,
    usec: u32,
    pid: u32,
) -> Result<PathBuf, MaildirError> {
    for p in prefix {
        file.write_all(p).map_err(MaildirError::Write)?;
    }
    message
        .seek(SeekFrom::Start(0))
        .map_err(MaildirError::Read)?;
    // File to file: std uses copy_file_range, no copy through user space.
    io::copy(&mut message, file).map_err(MaildirError::Write)?;
    let st = file.metadata().map_err(MaildirError::Write)?;
    file.sync_all().map_err(MaildirError::Write)?;
    let new = dir.join(format!(
        "new/{sec}.I{:x}V{:x}M{usec}P{pid}.{}",
        st.ino(),
        st.dev(),
        host()
    ));
    match tmp {
        Some(tmp) => fs::hard_link(tmp, &new),
        None => sys::link_unnamed(file, &new),
    }
    .map_err(MaildirError::Write)?;
    fsutil::fsync_dir(&dir.join("new")).map_err(MaildirError::Write)?;
    Ok(new)
}

/// tmp/ files not touched for this long are left-overs of crashed
/// deliveries (maildir(5)).
const STALE_TMP: i64 = 36 * 3600;

/// Removes stale tmp/ files of the Maildir `dir` (best effort, as every
/// Maildir reader should: maildir2mbox(1), qmail-pop3d(8)).
pub fn clean_tmp(dir: &Path) {
    let now = crate::date::now_secs();
    let Ok(rd) = fs::read_dir(dir.join("tmp")) else {
        return;
    };
    for e in rd.flatten() {
        if e.metadata().is_ok_and(|m| m.atime() < now - STALE_TMP) {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_prefix_and_message() {
        let d = std::env::temp_dir().join(format!("sqmail-maildir-{}", std::process::id()));
        for s in ["tmp", "new", "cur"] {
            fs::create_dir_all(d.join(s)).unwrap();
        }
        let msgpath = d.join("msg");
        fs::write(&msgpath, b"Subject: x\n\nbody\n").unwrap();
        let msg = File::open(&msgpath).unwrap();
        let a = deliver(&d, &[b"A: 1\n", b"B: 2\n"], &msg).unwrap();
        let b = deliver(&d, &[], &msg).unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read(&a).unwrap(), b"A: 1\nB: 2\nSubject: x\n\nbody\n");
        assert_eq!(fs::read(&b).unwrap(), b"Subject: x\n\nbody\n");
        assert!(fs::read_dir(d.join("tmp")).unwrap().next().is_none());
        let missing = deliver(&d.join("nope"), &[], &msg).unwrap_err();
        assert!(matches!(missing, MaildirError::Chdir(_)));
        fs::create_dir(d.join("broken")).unwrap();
        let broken = deliver(&d.join("broken"), &[], &msg).unwrap_err();
        assert!(matches!(broken, MaildirError::Write(_)));
        fs::remove_dir_all(&d).unwrap();
    }
}
