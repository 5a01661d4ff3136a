//! The queue's inode pool, `queue/pool/` (qmailq, 0700): finished message
//! and envelope files are kept and rewritten instead of being unlinked and
//! created again. A new inode costs far more than rewriting an old one on a
//! busy ext4 without a journal (it searches past recently deleted inodes).
//!
//! qmail-clean gives: instead of unlinking a finished `mess` or `intd`
//! file it renames it to `pool/t<inode>` (staged). A background thread makes
//! a batch of staged files claimable: one `syncfs` first, so every removal
//! of the old message's names (`todo`, `info`, `local`, `remote`, `mess`,
//! `intd`) is on disk before the inode can carry another message; then it
//! truncates each file and renames it to `pool/<inode>`. Without that
//! order a crash could leave an old `todo` entry next to the new contents.
//!
//! qmail-queue takes: it renames `pool/<inode>` straight to its
//! destination (`mess/D/<inode>`, so the message number stays the inode
//! number; or `intd/D/id`) with a rename that never replaces, checks that
//! the file is a plain file of ours with exactly one link and the inode its
//! name says, truncates it (pool files are already empty) and goes on as
//! with a new file. A lost race, an empty or missing pool: it creates the
//! file the ordinary way. A C qmail ignores the directory; a C qmail-clean
//! simply never fills it.
//!
//! Bounded: one qmail-clean keeps at most `MAX` files (claimable and
//! staged); beyond that it unlinks as qmail does.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::queue::parse_id;
use crate::sys;

/// The pool's directory, relative to the queue.
pub const DIR: &str = "pool";
/// Most files one qmail-clean keeps in the pool.
pub const MAX: usize = 4096;
/// A staged batch is made claimable at this size ...
const BATCH: usize = 256;
/// ... or this long after its first file arrived.
const DELAY: Duration = Duration::from_millis(250);
/// Pool entries one qmail-queue looks at (it needs two): what one
/// getdents call returns. Every qmail-queue lists the same entries first
/// (hash order), so fifty at once need a wide window to start apart in.
const LISTED: usize = 64;
/// Pool entries one take tries before creating a new file (a lost race
/// costs a failed rename; a new inode far more).
const TRIES: usize = 8;
/// A taken file whose access time is older than this gets the current
/// time, so qmail-send's 36-hour cleanup never takes it for a leftover.
const STALE_ATIME: i64 = 3600;

/// The inode a pool entry's name gives, and whether it is staged
/// (`t<inode>`) rather than claimable (`<inode>`).
pub fn entry(name: &str) -> Option<(u64, bool)> {
    match name.strip_prefix('t') {
        Some(n) => parse_id(n).map(|i| (i, true)),
        None => parse_id(name).map(|i| (i, false)),
    }
}

/// Whether a pool file is one the pool may rewrite: a plain file with one
/// link whose inode is `ino`, the number its name gives.
pub fn sound(m: &fs::Metadata, ino: u64) -> bool {
    m.file_type().is_file() && m.nlink() == 1 && m.ino() == ino
}

// ---- taking (qmail-queue) ---------------------------------------------------

/// The claimable entries of the pool, listed once per qmail-queue run
/// (and once more when others have taken every entry listed).
pub struct Taker {
    names: Vec<u64>,
    next: usize,
    seed: u32,
    relisted: bool,
}

/// The outcome of one take.
pub enum Take {
    /// The file, now at the destination, empty and open for writing.
    Got(u64, File),
    /// The destination exists (`intd`: qmail-queue fails as with O_EXCL).
    Exists,
    /// Nothing usable: create the file the ordinary way.
    Empty,
}

impl Taker {
    /// Lists `pool/` of the queue in the current directory, starting at an
    /// entry chosen by `seed` so that parallel runs try different files.
    pub fn list(seed: u32) -> Taker {
        Taker {
            names: names(seed),
            next: 0,
            seed,
            relisted: false,
        }
    }

    /// Moves a pool file to `to(inode)`. An existing destination is
    /// `Exists` when `exists_final`, else the next entry is tried. When
    /// the listed entries run out or `TRIES` are spent (fifty qmail-queue
    /// runs at once list the same first entries), the pool is listed once
    /// more before giving up: a readdir costs less than a new inode.
    pub fn take(&mut self, to: impl Fn(u64) -> String, exists_final: bool) -> Take {
        match self.take_listed(&to, exists_final) {
            Take::Empty if !self.relisted && !self.names.is_empty() => {
                self.relisted = true;
                (self.names, self.next) = (names(self.seed.wrapping_add(1)), 0);
                self.take_listed(&to, exists_final)
            }
            t => t,
        }
    }

    fn take_listed(&mut self, to: &impl Fn(u64) -> String, exists_final: bool) -> Take {
        let mut tries = 0;
        while tries < TRIES && self.next < self.names.len() {
            let ino = self.names[self.next];
            self.next += 1;
            tries += 1;
            let dest = to(ino);
            let from = format!("{DIR}/{ino}");
            match sys::rename_noreplace(Path::new(&from), Path::new(&dest)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && exists_final => {
                    return Take::Exists;
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EEXIST)) => {
                    continue; // another qmail-queue was faster; a stale entry
                }
                Err(_) => {
                    self.relisted = true; // a broken pool, not a lost race
                    return Take::Empty;
                }
            }
            match ready(&dest, ino) {
                Some(f) => return Take::Got(ino, f),
                // Not ours to rewrite: drop the name we gave it (never
                // its contents) and try the next.
                None => {
                    let _ = fs::remove_file(&dest);
                }
            }
        }
        Take::Empty
    }
}

/// The first `LISTED` claimable entries of `pool/`, rotated by `seed`.
fn names(seed: u32) -> Vec<u64> {
    let mut names: Vec<u64> = fs::read_dir(DIR)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(parse_id))
                .take(LISTED)
                .collect()
        })
        .unwrap_or_default();
    if !names.is_empty() {
        let n = names.len();
        names.rotate_left(seed as usize % n);
    }
    names
}

/// Opens a taken file and makes it a new one: a plain file of this user
/// with one link and inode `ino`, truncated, its access time current.
fn ready(path: &str, ino: u64) -> Option<File> {
    let f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let m = f.metadata().ok()?;
    if !sound(&m, ino) || m.uid() != sys::geteuid() {
        return None;
    }
    if m.len() != 0 {
        f.set_len(0).ok()?;
    }
    if m.atime() < crate::date::now_secs() - STALE_ATIME {
        sys::touch_now(&f).ok()?;
    }
    Some(f)
}

// ---- giving (qmail-clean) ---------------------------------------------------

struct State {
    /// Inodes in `pool/t<ino>`, waiting for the next sync.
    staged: Vec<u64>,
    /// Taken out of `staged` by the thread, not yet counted.
    inflight: usize,
    /// Claimable entries at the last count (qmail-queue takes some since).
    count: usize,
    counted: Instant,
    done: bool,
}

impl State {
    fn full(&self) -> bool {
        self.count + self.inflight + self.staged.len() >= MAX
    }
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// qmail-clean's side: puts finished files into the pool.
pub struct Giver {
    dir: PathBuf,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Giver {
    /// The pool of the queue at `root`; `None` when it has no pool
    /// directory (then qmail-clean unlinks, as qmail does).
    pub fn start(root: &Path) -> Option<Giver> {
        let dir = root.join(DIR);
        let (staged, count) = scan(&dir)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                staged,
                inflight: 0,
                count,
                counted: Instant::now(),
                done: false,
            }),
            wake: Condvar::new(),
        });
        let (d, s) = (dir.clone(), shared.clone());
        let thread = std::thread::Builder::new()
            .name("pool".into())
            .stack_size(64 * 1024)
            .spawn(move || promote_loop(&d, &s))
            .ok()?;
        Some(Giver {
            dir,
            shared,
            thread: Some(thread),
        })
    }

    /// Removes `path` from the queue: into the pool when it is a plain file
    /// with one link and the pool has room, else unlinked. A missing file
    /// is fine.
    pub fn put(&self, path: &Path) -> io::Result<()> {
        let m = match fs::symlink_metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            r => r?,
        };
        if m.file_type().is_file() && m.nlink() == 1 {
            let mut st = self.shared.lock();
            if st.full() && st.counted.elapsed() >= DELAY {
                // qmail-queue may have taken some since the last count.
                st.count = count(&self.dir);
                st.counted = Instant::now();
            }
            if !st.full() && fs::rename(path, self.dir.join(format!("t{}", m.ino()))).is_ok() {
                st.staged.push(m.ino());
                if st.staged.len() == 1 || st.staged.len() >= BATCH {
                    self.shared.wake.notify_one();
                }
                return Ok(());
            }
        }
        fs::remove_file(path)
    }
}

impl Drop for Giver {
    /// Makes the last batch claimable before qmail-clean exits.
    fn drop(&mut self) {
        self.shared.lock().done = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The pool's staged inodes and its count of claimable entries, after
/// removing names that share their inode with another name (a crash of
/// the file system can leave a renamed file under both names).
fn scan(dir: &Path) -> Option<(Vec<u64>, usize)> {
    let rd = fs::read_dir(dir).ok()?;
    let (mut staged, mut count) = (Vec::new(), 0);
    for e in rd.flatten() {
        let name = e.file_name();
        let Some((ino, is_staged)) = name.to_str().and_then(entry) else {
            continue;
        };
        if !e.metadata().is_ok_and(|m| sound(&m, ino)) {
            let _ = fs::remove_file(e.path());
            continue;
        }
        if is_staged {
            staged.push(ino);
        } else {
            count += 1;
        }
    }
    Some((staged, count))
}

/// The background thread: batch, sync, truncate, make claimable.
fn promote_loop(dir: &Path, shared: &Shared) {
    let Ok(dirf) = File::open(dir) else { return };
    loop {
        let batch = {
            let mut st = shared.lock();
            while st.staged.is_empty() && !st.done {
                st = shared.wake.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
            if st.staged.is_empty() {
                return;
            }
            let deadline = Instant::now() + DELAY;
            while st.staged.len() < BATCH && !st.done {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                st = shared
                    .wake
                    .wait_timeout(st, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            st.inflight = st.staged.len();
            std::mem::take(&mut st.staged)
        };
        let synced = sys::syncfs(&dirf).is_ok();
        for ino in batch {
            let t = dir.join(format!("t{ino}"));
            if !(synced && promote(&t, &dir.join(ino.to_string()), ino)) {
                let _ = fs::remove_file(&t);
            }
        }
        let n = count(dir);
        let mut st = shared.lock();
        (st.count, st.inflight, st.counted) = (n, 0, Instant::now());
    }
}

/// The claimable entries of the pool (`MAX` when it cannot be read).
fn count(dir: &Path) -> usize {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_str().and_then(parse_id).is_some())
                .count()
        })
        .unwrap_or(MAX)
}

/// Truncates the staged file `t` and renames it to `to`.
fn promote(t: &Path, to: &Path, ino: u64) -> bool {
    let Ok(f) = OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(t)
    else {
        return false;
    };
    f.metadata().is_ok_and(|m| sound(&m, ino)) && sys::rename_noreplace(t, to).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sqmail-pool-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join(DIR)).unwrap();
        d
    }

    #[test]
    fn give_sync_take() {
        let q = tmpdir("cycle");
        let g = Giver::start(&q).unwrap();
        let f = q.join("victim");
        fs::write(&f, b"old contents").unwrap();
        let ino = fs::metadata(&f).unwrap().ino();
        g.put(&f).unwrap();
        assert!(!f.exists());
        g.put(&q.join("missing")).unwrap();
        drop(g); // the last batch is synced and promoted
        let claim = q.join(DIR).join(ino.to_string());
        assert_eq!(fs::read(&claim).unwrap(), b"", "truncated before claimable");
        // A file with a second name is unlinked, never pooled.
        let g = Giver::start(&q).unwrap();
        let two = q.join("two");
        fs::write(&two, b"x").unwrap();
        fs::hard_link(&two, q.join("other")).unwrap();
        g.put(&two).unwrap();
        drop(g);
        assert!(!two.exists() && q.join("other").exists());
        assert_eq!(fs::read_dir(q.join(DIR)).unwrap().count(), 1);
        fs::remove_dir_all(&q).unwrap();
    }

    #[test]
    fn bounded() {
        let q = tmpdir("bound");
        let g = Giver::start(&q).unwrap();
        for i in 0..MAX + 10 {
            let f = q.join(format!("f{i}"));
            fs::write(&f, b"x").unwrap();
            g.put(&f).unwrap();
        }
        drop(g);
        assert_eq!(fs::read_dir(q.join(DIR)).unwrap().count(), MAX);
        fs::remove_dir_all(&q).unwrap();
    }

    #[test]
    fn stale_double_names_dropped_at_start() {
        let q = tmpdir("stale");
        let f = q.join("live");
        fs::write(&f, b"queued").unwrap();
        let ino = fs::metadata(&f).unwrap().ino();
        fs::hard_link(&f, q.join(DIR).join(ino.to_string())).unwrap();
        drop(Giver::start(&q).unwrap());
        assert_eq!(fs::read(&f).unwrap(), b"queued");
        assert_eq!(fs::read_dir(q.join(DIR)).unwrap().count(), 0);
        fs::remove_dir_all(&q).unwrap();
    }
}
