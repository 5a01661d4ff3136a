//! Reading the queue from the outside: the helpers of qmail-qread and
//! qmail-qstat, and qmail-qmaint's consistency check, fixes and removal
//! (qmail-qread(8), qmail-qstat(8), qmail-qmaint(8)).
//!
//! The check is the one of Eric Huss's queue-fix: every directory and
//! split subdirectory present (and, on a system queue, with the owner and
//! mode qmail-qmaint(8) lists), the lock files, each `mess` file named
//! after its inode in the right subdirectory, no file of a message without
//! its `mess` file, and message states that qmail-send can reach. Leftovers of
//! interrupted qmail-queue runs (a `mess` file without `todo` or `info`)
//! are normal: qmail-send removes them after 36 hours; they are noted,
//! not counted as problems.

use std::collections::HashSet;
use std::fs;
use std::io::{self, BufRead, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::queue::{Queue, SPLIT_DIRS, parse_id};
use crate::queue::{pool, stray};
use crate::{auto, date, fsutil, home, passwd, sys};

/// Leftovers older than this are removed by qmail-send (and by `-i`).
pub const OSSIFIED: i64 = 129_600;

/// qmail-qmaint's exit codes.
pub mod code {
    pub const WARNING: i32 = 99;
    pub const FAILED: i32 = crate::exit::PERM;
    pub const INACCESSIBLE: i32 = 110;
}

/// An error as one short text: the OS message without "(os error N)".
pub fn err_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Bytes outside 32..126 replaced by `with`.
pub fn printable(data: &[u8], with: u8) -> Vec<u8> {
    crate::printable::bytes(data, crate::printable::ascii, with)
}

/// The message ids (pure decimal names) in a directory, sorted.
pub fn ids_in(dir: impl AsRef<Path>) -> io::Result<Vec<u64>> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir)? {
        if let Some(id) = e?.file_name().to_str().and_then(parse_id) {
            v.push(id);
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// Entries in the split subdirectories `0..SPLIT-1` of `dir`.
pub fn count_split(dir: &Path) -> io::Result<u64> {
    let mut n = 0;
    for d in 0..auto::SPLIT {
        n += fs::read_dir(dir.join(d.to_string()))?.count() as u64;
    }
    Ok(n)
}

/// The todo entries qmail-qstat(8) counts: those in the split
/// subdirectories, and those in qmail 1.03's flat layout (a queue C qmail
/// wrote), returned apart so a caller can warn about the second.
pub fn count_todo(queue: &Path) -> io::Result<(u64, u64)> {
    let split = count_split(&queue.join("todo"))?;
    let strays = super::stray::scan(&super::Queue::at(queue.to_path_buf()));
    let flat = strays
        .stray
        .iter()
        .filter(|p| p.starts_with("todo/") && p.matches('/').count() == 1)
        .count() as u64;
    Ok((split, flat))
}

/// Who should own what on a system queue (qmail-qmaint(8)).
#[derive(Debug, Clone, Copy)]
pub struct Owners {
    pub qmailq: u32,
    pub qmails: u32,
    pub qmailr: u32,
    pub gid: u32,
}

impl Owners {
    pub fn system() -> io::Result<Owners> {
        let uid = |n: &str| -> io::Result<u32> {
            passwd::user_by_name(n)?
                .map(|p| p.uid)
                .ok_or_else(|| io::Error::other(format!("no user {n}")))
        };
        Ok(Owners {
            qmailq: uid(auto::USER_QMAILQ)?,
            qmails: uid(auto::USER_QMAILS)?,
            qmailr: uid(auto::USER_QMAILR)?,
            gid: passwd::group_by_name(auto::GROUP_QMAIL)?
                .ok_or_else(|| io::Error::other(format!("no group {}", auto::GROUP_QMAIL)))?,
        })
    }

    /// Owner and mode of a queue directory (top level or split subdir).
    fn dir(&self, top: &str) -> (u32, u32) {
        match top {
            "." | "lock" | "mess" | "todo" => (self.qmailq, 0o750),
            "pid" | "intd" | "pool" => (self.qmailq, 0o700),
            _ => (self.qmails, 0o700), // info local remote bounce
        }
    }

    /// Owner of the files in a queue directory.
    fn file(&self, top: &str) -> u32 {
        match top {
            "mess" | "intd" | "todo" | "pid" | "pool" => self.qmailq,
            _ => self.qmails,
        }
    }
}

/// Answers the `-i` questions.
pub trait Ask {
    fn ask(&mut self, question: &str) -> bool;
}

/// Asks on stdout, reads `y`/`n` lines from stdin; EOF means no.
pub struct Terminal;

impl Ask for Terminal {
    fn ask(&mut self, question: &str) -> bool {
        print!("  {question}? [y/N] ");
        let _ = io::stdout().flush();
        let mut line = String::new();
        match io::stdin().lock().read_line(&mut line) {
            Ok(n) if n > 0 => matches!(line.trim(), "y" | "Y" | "yes"),
            _ => false,
        }
    }
}

type Fix<'f> = Box<dyn FnOnce() -> io::Result<()> + 'f>;

/// One inspection of the queue in the current directory.
pub struct Check<'a> {
    owners: Option<Owners>,
    ask: Option<&'a mut dyn Ask>,
    out: &'a mut dyn Write,
    now: i64,
    pub problems: u32,
    pub inaccessible: u32,
    pub failed: u32,
    pub messages: u64,
    pub todo: u64,
}

impl<'a> Check<'a> {
    /// `owners` None (private mode) skips owner and mode checks; `ask` None
    /// only reports.
    pub fn new(
        owners: Option<Owners>,
        ask: Option<&'a mut dyn Ask>,
        out: &'a mut dyn Write,
    ) -> Self {
        Check {
            owners,
            ask,
            out,
            now: date::now_secs(),
            problems: 0,
            inaccessible: 0,
            failed: 0,
            messages: 0,
            todo: 0,
        }
    }

    /// 0 sane, 99 problems left, 100 a fix failed, 110 a directory is not
    /// accessible.
    pub fn exit_code(&self) -> i32 {
        if self.inaccessible > 0 {
            code::INACCESSIBLE
        } else if self.failed > 0 {
            code::FAILED
        } else if self.problems > 0 {
            code::WARNING
        } else {
            0
        }
    }

    fn say(&mut self, text: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{text}");
    }

    /// Interactively offers `fix`: `None` when not asked or declined,
    /// else whether it worked (a failure counts for exit 100).
    fn offer(&mut self, question: &str, fix: Fix<'_>) -> Option<bool> {
        let ask = self.ask.as_deref_mut()?;
        if !ask.ask(question) {
            return None;
        }
        Some(match fix() {
            Ok(()) => {
                self.say("  fixed.");
                true
            }
            Err(e) => {
                self.say(format!("  unable to fix: {}", err_text(&e)));
                self.failed += 1;
                false
            }
        })
    }

    /// Reports a problem and, interactively, offers `fix`. Returns whether
    /// it was fixed; an unfixed problem counts for exit 99.
    fn problem(&mut self, what: String, fix: Option<(&str, Fix<'_>)>) -> bool {
        self.say(format!("warning: {what}"));
        let outcome = fix.and_then(|(q, f)| self.offer(q, f));
        if outcome.is_none() {
            self.problems += 1;
        }
        outcome == Some(true)
    }

    /// Runs every check.
    pub fn run(&mut self) {
        self.dirs();
        self.locks();
        let mess = self.mess();
        self.companions(&mess);
        self.pids();
        self.pool();
        let _ = writeln!(
            self.out,
            "{} messages, {} not yet preprocessed: {}",
            self.messages,
            self.todo,
            match self.exit_code() {
                0 => "queue is sane.".to_string(),
                _ => format!(
                    "{} problems.",
                    self.problems + self.inaccessible + self.failed
                ),
            }
        );
    }

    /// One directory: present, a directory, readable; owner and mode.
    fn dir(&mut self, path: &str, top: &str) -> bool {
        let meta = match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => m,
            Ok(_) => {
                self.say(format!("warning: {path}: not a directory"));
                self.inaccessible += 1;
                return false;
            }
            Err(e) => {
                let owners = self.owners;
                let (uid, mode) = owners.map_or((0, 0o700), |o| o.dir(top));
                self.say(format!("warning: {path}: {}", err_text(&e)));
                let fixed = self.offer(
                    "create it",
                    Box::new(move || {
                        fs::DirBuilder::new().mode(mode).create(path)?;
                        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
                        owners.map_or(Ok(()), |o| {
                            sys::chown(Path::new(path), Some(uid), Some(o.gid))
                        })
                    }),
                ) == Some(true);
                if !fixed {
                    self.inaccessible += 1;
                }
                return fixed;
            }
        };
        if let Err(e) = fs::read_dir(path) {
            self.say(format!("warning: {path}: {}", err_text(&e)));
            self.inaccessible += 1;
            return false;
        }
        if let Some(o) = self.owners {
            let (uid, mode) = o.dir(top);
            if meta.uid() != uid || meta.gid() != o.gid || meta.mode() & 0o7777 != mode {
                self.problem(
                    format!(
                        "{path}: owner {}:{} mode {:o}, expected {uid}:{} mode {mode:o}",
                        meta.uid(),
                        meta.gid(),
                        meta.mode() & 0o7777,
                        o.gid
                    ),
                    Some((
                        "set owner and mode",
                        Box::new(move || {
                            sys::chown(Path::new(path), Some(uid), Some(o.gid))?;
                            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                        }),
                    )),
                );
            }
        }
        true
    }

    fn dirs(&mut self) {
        for top in [".", "lock", "pid", "bounce"] {
            self.dir(top, top);
        }
        // The inode pool is optional (a C qmail queue has none).
        if fs::symlink_metadata(pool::DIR).is_ok() {
            self.dir(pool::DIR, pool::DIR);
        }
        for top in SPLIT_DIRS {
            if self.dir(top, top) {
                for d in 0..auto::SPLIT {
                    let p = format!("{top}/{d}");
                    self.dir(&p, top);
                }
            }
        }
    }

    fn locks(&mut self) {
        let o = self.owners;
        let chown = move |p: &str, uid: fn(&Owners) -> u32| match o {
            Some(o) => sys::chown(Path::new(p), Some(uid(&o)), Some(o.gid)),
            None => Ok(()),
        };
        match fs::symlink_metadata("lock/trigger") {
            Ok(m) if m.file_type().is_fifo() => {}
            Ok(_) => {
                self.problem("lock/trigger: not a named pipe".into(), None);
            }
            Err(e) => {
                self.problem(
                    format!("lock/trigger: {}", err_text(&e)),
                    Some((
                        "create it",
                        Box::new(move || {
                            sys::mkfifo(Path::new("lock/trigger"), 0o622)?;
                            fs::set_permissions("lock/trigger", fs::Permissions::from_mode(0o622))?;
                            chown("lock/trigger", |o| o.qmails)
                        }),
                    )),
                );
            }
        }
        if let Err(e) = fs::metadata("lock/sendmutex") {
            self.problem(
                format!("lock/sendmutex: {}", err_text(&e)),
                Some((
                    "create it",
                    Box::new(move || {
                        fsutil::create_new(Path::new("lock/sendmutex"), 0o600)?;
                        chown("lock/sendmutex", |o| o.qmails)
                    }),
                )),
            );
        }
        let tcpto = fs::metadata("lock/tcpto").map(|m| m.len());
        if tcpto.as_ref().ok() != Some(&1024) {
            let what = match tcpto {
                Ok(n) => format!("{n} bytes, expected 1024"),
                Err(e) => err_text(&e),
            };
            self.problem(
                format!("lock/tcpto: {what}"),
                Some((
                    "write 1024 zero bytes",
                    Box::new(move || {
                        fs::write("lock/tcpto", [0u8; 1024])?;
                        chown("lock/tcpto", |o| o.qmailr)
                    }),
                )),
            );
        }
    }

    /// Owner check of one file of a message.
    /// Only the user: qmail-queue is set-uid, not set-gid, so a message's
    /// files carry the group of whoever queued it.
    fn file_owner(&mut self, path: &str, top: &str, meta: &fs::Metadata) {
        if let Some(o) = self.owners {
            let uid = o.file(top);
            if meta.uid() != uid {
                let p = path.to_string();
                self.problem(
                    format!("{path}: owner {}, expected {uid}", meta.uid()),
                    Some((
                        "set the owner",
                        Box::new(move || sys::chown(Path::new(&p), Some(uid), None)),
                    )),
                );
            }
        }
    }

    /// The entries of a split directory as (subdir, name, id).
    fn entries(&self, top: &str) -> Vec<(u32, String, Option<u64>)> {
        let mut v = Vec::new();
        for d in 0..auto::SPLIT {
            let Ok(rd) = fs::read_dir(format!("{top}/{d}")) else {
                continue; // reported by dirs()
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let id = parse_id(&name);
                v.push((d, name, id));
            }
        }
        v.sort();
        v
    }

    /// mess files: names, inodes, subdirectories. Returns the message ids.
    fn mess(&mut self) -> HashSet<u64> {
        let mut ids = HashSet::new();
        for (d, name, id) in self.entries("mess") {
            let path = format!("mess/{d}/{name}");
            let Some(id) = id else {
                self.problem(format!("{path}: not a message file"), None);
                continue;
            };
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) if m.is_file() => m,
                _ => {
                    self.problem(format!("{path}: not a regular file"), None);
                    continue;
                }
            };
            self.file_owner(&path, "mess", &meta);
            let ino = meta.ino();
            if ino != id || u64::from(d) != Queue::split_of(id) {
                let text = if ino != id {
                    format!("{path}: named {id}, but its inode is {ino}")
                } else {
                    format!("{path}: in the wrong subdirectory")
                };
                let from = path.clone();
                let fixed = self.problem(
                    text,
                    Some((
                        "rename the message after its inode",
                        Box::new(move || rename_message(&from, id, ino)),
                    )),
                );
                ids.insert(if fixed { ino } else { id });
                continue;
            }
            ids.insert(id);
        }
        self.messages = ids.len() as u64;
        ids
    }

    /// Files of messages in the other directories, and message states.
    fn companions(&mut self, mess: &HashSet<u64>) {
        let mut seen: [HashSet<u64>; 6] = Default::default();
        let dirs = ["todo", "intd", "info", "local", "remote", "bounce"];
        for (k, top) in dirs.iter().enumerate() {
            let entries = if *top == "bounce" {
                flat_entries("bounce")
            } else {
                self.entries(top)
            };
            for (d, name, id) in entries {
                let path = if d == u32::MAX {
                    format!("{top}/{name}")
                } else {
                    format!("{top}/{d}/{name}")
                };
                let Some(id) = id else {
                    self.problem(format!("{path}: not a message file"), None);
                    continue;
                };
                if d != u32::MAX && u64::from(d) != Queue::split_of(id) {
                    self.problem(format!("{path}: in the wrong subdirectory"), None);
                    continue;
                }
                if !mess.contains(&id) {
                    let p = path.clone();
                    self.problem(
                        format!("{path}: no mess file for #{id}"),
                        Some(("remove it", Box::new(move || fs::remove_file(&p)))),
                    );
                    continue;
                }
                if let Ok(meta) = fs::symlink_metadata(&path) {
                    self.file_owner(&path, top, &meta);
                }
                seen[k].insert(id);
            }
        }
        let [todo, intd, info, local, remote, bounce] = &seen;
        // qmail 1.03's flat todo/ID and intd/ID: reported (with a move
        // offered); a todo entry anywhere keeps its message queued.
        let strays = stray::scan(&Queue::at(".".into()));
        for path in strays.stray.iter().filter(|p| p.matches('/').count() == 1) {
            let Some((dir, id)) = path
                .split_once('/')
                .and_then(|(d, i)| Some((d, parse_id(i)?)))
            else {
                continue;
            };
            let (from, to) = (path.clone(), Queue::rel(dir, id));
            self.problem(
                format!("{path}: qmail 1.03's flat layout (a queue C qmail wrote; package/upgrade moves it)"),
                Some((
                    &format!("move it to {to}"),
                    Box::new(move || move_to(&from, to)),
                )),
            );
        }
        let flat_todo = strays.todo.iter().filter(|id| !todo.contains(id)).count();
        self.todo = (todo.len() + flat_todo) as u64;
        let mut ids: Vec<u64> = mess.iter().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let queued = todo.contains(&id) || info.contains(&id) || strays.has_todo(id);
            if (local.contains(&id) || remote.contains(&id)) && !queued {
                self.problem(format!("#{id}: recipient lists without info or todo"), None);
            }
            if bounce.contains(&id) && !info.contains(&id) {
                self.problem(format!("#{id}: bounce without info"), None);
            }
            if !queued && !local.contains(&id) && !remote.contains(&id) && !bounce.contains(&id) {
                self.leftover(id, intd.contains(&id));
            }
        }
    }

    /// A message qmail-queue did not finish (or qmail-send is removing).
    fn leftover(&mut self, id: u64, with_intd: bool) {
        let mess = Queue::rel("mess", id);
        let age = fs::metadata(&mess).map_or(0, |m| self.now - m.atime());
        let state = if with_intd { "mess and intd" } else { "mess" };
        self.say(format!(
            "note: #{id}: {state} only, left by an interrupted qmail-queue ({}); qmail-send removes it after 36 hours",
            if age > OSSIFIED { "stale" } else { "recent" }
        ));
        if age > OSSIFIED {
            self.offer(
                "remove it",
                Box::new(move || {
                    let _ = fs::remove_file(Queue::rel("intd", id));
                    fs::remove_file(&mess)
                }),
            );
        }
    }

    /// pid files older than 36 hours.
    fn pids(&mut self) {
        let Ok(rd) = fs::read_dir("pid") else { return };
        for e in rd.flatten() {
            let path = format!("pid/{}", e.file_name().to_string_lossy());
            let age = e.metadata().map_or(0, |m| self.now - m.mtime());
            if age > OSSIFIED {
                self.say(format!("note: {path}: stale temporary file of qmail-queue"));
                self.offer("remove it", Box::new(move || fs::remove_file(&path)));
            }
        }
    }
}

impl Check<'_> {
    /// Pool files: each a plain file with one link, named by its inode
    /// (`t` before it for a staged one). Anything else would be rewritten
    /// by the next qmail-queue or is garbage.
    fn pool(&mut self) {
        let Ok(rd) = fs::read_dir(pool::DIR) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ok = pool::entry(&name)
                .is_some_and(|(ino, _)| e.metadata().is_ok_and(|m| pool::sound(&m, ino)));
            if !ok {
                let path = format!("{}/{name}", pool::DIR);
                self.problem(
                    format!(
                        "{path}: not a pool file (a plain file with one link, named by its inode)"
                    ),
                    Some(("remove this name", Box::new(move || fs::remove_file(&path)))),
                );
            }
        }
    }
}

/// The entries of an unsplit directory, marked with subdir `u32::MAX`.
fn flat_entries(dir: &str) -> Vec<(u32, String, Option<u64>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let id = parse_id(&name);
                    (u32::MAX, name, id)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Renames a queue file to `to`, which must not exist.
fn move_to(from: &str, to: String) -> io::Result<()> {
    if fs::symlink_metadata(&to).is_ok() {
        return Err(io::Error::other(format!("{to} exists")));
    }
    fs::rename(from, &to)
}

/// Renames message `id`, whose mess file is at `mess`, and its other files
/// to `ino`, the mess file's inode.
fn rename_message(mess: &str, id: u64, ino: u64) -> io::Result<()> {
    move_to(mess, Queue::rel("mess", ino))?;
    if id == ino {
        return Ok(());
    }
    for dir in ["todo", "intd", "info", "local", "remote", "bounce"] {
        let from = Queue::rel(dir, id);
        if fs::symlink_metadata(&from).is_ok() {
            move_to(&from, Queue::rel(dir, ino))?;
        }
    }
    Ok(())
}

/// Whether qmail-send holds `lock/sendmutex` (checked, not kept).
pub fn send_running() -> bool {
    let Ok(f) = fs::File::open("lock/sendmutex") else {
        return false;
    };
    sys::flock_exclusive(&f, false).is_err_and(|e| e.kind() == io::ErrorKind::WouldBlock)
}

/// `qmail-qmaint -d id`: removes a preprocessed message. Returns an error
/// text for exit 100.
pub fn delete(id: u64) -> Result<(), String> {
    if fs::symlink_metadata(Queue::rel("mess", id)).is_err() {
        return Err(format!("no message #{id}"));
    }
    let exists = |d: &str| fs::symlink_metadata(Queue::rel(d, id)).is_ok();
    let flat_todo = fs::symlink_metadata(format!("todo/{id}")).is_ok();
    if exists("todo") || flat_todo || !(exists("info") || exists("bounce")) {
        return Err(format!(
            "message #{id} is not preprocessed yet; not removed"
        ));
    }
    // qmail-send's order; the info removal is made durable before the
    // mess file goes, so no crash leaves info without mess.
    for dir in ["local", "remote", "bounce", "info", "intd", "mess"] {
        if dir == "intd" {
            fsutil::fsync_parent(Path::new(&Queue::rel("info", id)))
                .map_err(|e| format!("unable to sync info: {}", err_text(&e)))?;
        }
        match fs::remove_file(Queue::rel(dir, id)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(format!(
                    "unable to remove {}: {}",
                    Queue::rel(dir, id),
                    err_text(&e)
                ));
            }
        }
    }
    Ok(())
}

/// `qmail-qmaint -D`: removes the files of the DKIM staging area
/// `dkim/` (and its subdirectories). Returns how many.
pub fn clear_dkim() -> io::Result<u64> {
    let mut n = 0;
    let rd = match fs::read_dir("dkim") {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for e in rd {
        let e = e?;
        if e.file_type()?.is_dir() {
            for f in fs::read_dir(e.path())? {
                let f = f?;
                if !f.file_type()?.is_dir() {
                    fs::remove_file(f.path())?;
                    n += 1;
                }
            }
        } else {
            fs::remove_file(e.path())?;
            n += 1;
        }
    }
    Ok(n)
}

/// The owners to check: None in private mode.
pub fn owners() -> io::Result<Option<Owners>> {
    if home::private_mode() {
        Ok(None)
    } else {
        Owners::system().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(printable(b"a\tb\x7f~", b'_'), b"a_b_~");
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(err_text(&e), "No such file or directory");
    }

    #[test]
    fn system_owners_table() {
        let o = Owners {
            qmailq: 1,
            qmails: 2,
            qmailr: 3,
            gid: 9,
        };
        assert_eq!(o.dir("mess"), (1, 0o750));
        assert_eq!(o.dir("intd"), (1, 0o700));
        assert_eq!(o.dir("info"), (2, 0o700));
        assert_eq!(o.dir("bounce"), (2, 0o700));
        assert_eq!(o.file("todo"), 1);
        assert_eq!(o.file("remote"), 2);
    }
}
