//! qmail-todo (qmail-todo(8)): turns `todo/` entries into `info/`, `local/`
//! and `remote/` files and tells qmail-send which messages are ready.
//!
//! fd 0: single bytes from qmail-send (`S` start, `H` reread, `X` stop);
//! fd 1: NUL-terminated messages to qmail-send (`D` kind id, `L` log line,
//! `X`); fds 2/3: requests to and answers from its own qmail-clean.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::controls::Controls;
use super::log::{Log, Part};
use super::retry::{LOCAL, REMOTE};
use crate::exit::Die;
use crate::fsutil;
use crate::queue::{Queue, parse_id};
use crate::sys::{self, PollFd};

/// todo/ is rescanned at least this often without a trigger.
pub const SLEEP_TODO: i64 = 1500;

fn domain_of(a: &[u8]) -> (usize, &[u8]) {
    match a.iter().rposition(|&b| b == b'@') {
        Some(at) => (at, &a[at + 1..]),
        None => (a.len(), &[]),
    }
}

/// Recipient rewriting (qmail-todo(8)): the channel and the address.
pub fn rewrite(c: &Controls, addr: &[u8]) -> (usize, Vec<u8>) {
    let mut a = addr.to_vec();
    if !a.contains(&b'@') {
        a.push(b'@');
        a.extend_from_slice(c.envnoathost.as_bytes());
    }
    loop {
        let (at, dom) = domain_of(&a);
        if !c.percenthack.contains(&String::from_utf8_lossy(dom)) {
            break;
        }
        let Some(pct) = a[..at].iter().rposition(|&b| b == b'%') else {
            break;
        };
        a.truncate(at);
        a[pct] = b'@';
    }
    let (at, dom) = domain_of(&a);
    let dom = String::from_utf8_lossy(dom).into_owned();
    if c.locals.contains(&dom) {
        return (LOCAL, a);
    }
    let whole = String::from_utf8_lossy(&a).into_owned();
    let mut keys: Vec<&str> = vec![&whole, &dom];
    keys.extend(dom.match_indices('.').map(|(i, _)| &dom[i..]));
    keys.push("");
    for k in keys {
        if let Some(p) = c.vdoms.get(k) {
            if p.is_empty() {
                break;
            }
            let mut v = Vec::with_capacity(p.len() + 1 + a.len());
            v.extend_from_slice(p.as_bytes());
            v.push(b'-');
            v.extend_from_slice(&a);
            return (LOCAL, v);
        }
    }
    let _ = at;
    (REMOTE, a)
}

/// One preprocessed message, ready to be written.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Split {
    pub uid: Vec<u8>,
    pub pid: Vec<u8>,
    pub sender: Option<Vec<u8>>,
    /// `T addr \0` records per channel.
    pub chan: [Vec<u8>; 2],
}

/// Parses a todo file and rewrites its recipients. `Err` names a bad record.
pub fn split(c: &Controls, todo: &[u8]) -> Result<Split, u8> {
    let mut s = Split::default();
    for rec in crate::envelope::records(todo) {
        let Some((&kind, rest)) = rec.split_first() else {
            return Err(0);
        };
        match kind {
            b'u' => s.uid = rest.to_vec(),
            b'p' => s.pid = rest.to_vec(),
            b'F' => s.sender = Some(rest.to_vec()),
            b'T' => {
                let (ch, a) = rewrite(c, rest);
                s.chan[ch].push(b'T');
                s.chan[ch].extend_from_slice(&a);
                s.chan[ch].push(0);
            }
            k => return Err(k),
        }
    }
    Ok(s)
}

struct Todo {
    home: PathBuf,
    c: Controls,
    q: Queue,
    out: Log,
    clean_in: File,
    clean_out: File,
    /// Messages handed to qmail-send whole (the fast path), until it
    /// answers `R id`: their todo entries stay, so a scan skips them.
    inflight: HashSet<u64>,
    /// Bytes of an `R id` command not yet complete.
    rcmd: Option<Vec<u8>>,
}

const DIRS: [&str; 2] = ["local", "remote"];

fn unlink_ok(p: &Path) -> io::Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn create(p: &Path, data: &[u8]) -> io::Result<File> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(p)?;
    f.write_all(data)?;
    Ok(f)
}

impl Todo {
    fn log(&mut self, parts: &[Part<'_>]) {
        let mut l = Log::default();
        l.line(parts);
        let mut v = vec![b'L'];
        v.extend_from_slice(&l.take());
        v.push(0);
        self.out.raw(&v);
    }

    fn send(&mut self) -> Result<(), Die> {
        let b = self.out.take();
        if !b.is_empty() {
            sys::borrow_fd(1).write_all(&b).map_err(|_| Die::quiet(1))?;
        }
        Ok(())
    }

    /// Preprocesses one todo entry; returns the kind byte for qmail-send,
    /// or None when the entry stays for a later scan.
    fn process(&mut self, id: u64) -> Option<u8> {
        if self.inflight.contains(&id) {
            return None;
        }
        let q = &self.q;
        let mut todo = Vec::with_capacity(256);
        match File::open(q.path("todo", id)) {
            Ok(mut f) => {
                if f.read_to_end(&mut todo).is_err() {
                    return self.warn("unable to read ", "todo", id);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(_) => return self.warn("unable to open ", "todo", id),
        }
        let Ok(st) = fs::metadata(q.path("mess", id)) else {
            return self.warn("unable to stat ", "mess", id);
        };
        // A todo entry means state S4: anything else under this id is a
        // leftover of an interrupted earlier preprocessing (or fast-path
        // fallback) and goes.
        let fast = self.inflight.len() < fast_cap(&self.c);
        let stale: &[&str] = if fast {
            &["local", "remote", "info", "bounce"]
        } else {
            &["local", "remote", "info"]
        };
        for d in stale {
            if unlink_ok(&q.path(d, id)).is_err() {
                return self.warn("unable to unlink ", d, id);
            }
        }
        let s = match split(&self.c, &todo) {
            Ok(s) => s,
            Err(_) => return self.warn("unknown record type in ", "todo", id),
        };
        let Some(sender) = s.sender.as_ref() else {
            return self.warn("unknown record type in ", "todo", id);
        };
        if fast {
            self.log_new(id, st.len(), sender, &s);
            self.hand_over(id, sender, &s);
            return None;
        }
        let mut info = Vec::with_capacity(sender.len() + 2);
        info.push(b'F');
        info.extend_from_slice(sender);
        info.push(0);
        let mut files = Vec::with_capacity(3);
        match create(&q.path("info", id), &info) {
            Ok(f) => files.push(f),
            Err(_) => return self.warn("unable to create ", "info", id),
        }
        self.log_new(id, st.len(), sender, &s);
        let mut dirs = vec![self.q.path("info", id)];
        for (ch, d) in DIRS.iter().enumerate() {
            if s.chan[ch].is_empty() {
                continue;
            }
            let p = self.q.path(d, id);
            match create(&p, &s.chan[ch]) {
                Ok(f) => files.push(f),
                Err(_) => return self.warn("unable to create ", d, id),
            }
            dirs.push(p);
        }
        // Files first, then their directory entries: only then may the
        // todo link go (the commit point of preprocessing).
        for f in &files {
            if f.sync_all().is_err() {
                return self.warn("unable to fsync files of ", "info", id);
            }
        }
        for p in &dirs {
            if fsutil::fsync_parent(p).is_err() {
                return self.warn("unable to fsync directory of ", "info", id);
            }
        }
        drop(files);
        let req = Queue::rel("todo", id);
        let mut a = [0u8; 1];
        let ok = self.clean_out.write_all(req.as_bytes()).is_ok()
            && self.clean_out.write_all(&[0]).is_ok()
            && self.clean_in.read_exact(&mut a).is_ok();
        if !ok {
            self.log(&[Part::Text(
                "alert: qmail-todo: oh no! lost qmail-clean connection! dying...",
            )]);
            let _ = self.send();
            sys::exit_now(crate::exit::TEMP);
        }
        if a[0] != b'+' {
            self.log(&[
                Part::Text("warning: qmail-todo: qmail-clean unable to clean up "),
                Part::Text(&req),
            ]);
            return None;
        }
        Some(
            match (s.chan[LOCAL].is_empty(), s.chan[REMOTE].is_empty()) {
                (false, false) => b'B',
                (false, true) => b'L',
                (true, false) => b'R',
                (true, true) => b'X',
            },
        )
    }

    fn log_new(&mut self, id: u64, bytes: u64, sender: &[u8], s: &Split) {
        self.log(&[Part::Text("new msg "), Part::Num(id)]);
        self.log(&[
            Part::Text("info msg "),
            Part::Num(id),
            Part::Text(": bytes "),
            Part::Num(bytes),
            Part::Text(" from <"),
            Part::Safe(sender),
            Part::Text("> qp "),
            Part::Safe(&s.pid),
            Part::Text(" uid "),
            Part::Safe(&s.uid),
        ]);
    }

    /// The fast path: the whole envelope goes to qmail-send, which delivers
    /// from memory and writes info/local/remote only if something is left
    /// over (see qmail-send(8)).
    fn hand_over(&mut self, id: u64, sender: &[u8], s: &Split) {
        let mut m = Vec::with_capacity(32 + sender.len() + s.chan[0].len() + s.chan[1].len());
        m.push(b'M');
        m.extend_from_slice(id.to_string().as_bytes());
        m.push(0);
        m.push(b'F');
        m.extend_from_slice(sender);
        m.push(0);
        for (ch, tag) in [(LOCAL, b'l'), (REMOTE, b'r')] {
            for rec in crate::envelope::records(&s.chan[ch]) {
                m.push(tag);
                m.extend_from_slice(&rec[1..]);
                m.push(0);
            }
        }
        m.extend_from_slice(b"E\0");
        self.out.raw(&m);
        self.inflight.insert(id);
    }

    fn warn(&mut self, what: &str, dir: &str, id: u64) -> Option<u8> {
        let f = Queue::rel(dir, id);
        self.log(&[
            Part::Text("warning: qmail-todo: "),
            Part::Text(what),
            Part::Text(&f),
        ]);
        None
    }

    /// All ids in todo/, in split order.
    fn scan(&self) -> Vec<u64> {
        let mut ids = Vec::new();
        for d in 0..crate::auto::SPLIT {
            let Ok(rd) = fs::read_dir(self.q.root().join("todo").join(d.to_string())) else {
                continue;
            };
            ids.extend(
                rd.flatten()
                    .filter_map(|e| parse_id(e.file_name().to_str()?)),
            );
        }
        ids
    }
}

/// Opens the trigger FIFO read-write: with ourselves as a writer it never
/// reports end of file, so it is opened once and drained, not reopened
/// (a reopen while the old descriptor is still open keeps the byte and
/// wakes the loop again at once).
fn open_trigger() -> Option<File> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("lock/trigger")
        .ok()
}

/// Reads every pending trigger byte.
fn drain_trigger(f: &mut File) {
    let mut buf = [0u8; 256];
    while matches!(f.read(&mut buf), Ok(n) if n > 0) {}
}

/// The shortest time between two scans of todo/: a burst of triggers costs
/// one scan of the split directories, not one per message.
pub const SCAN_GAP: Duration = Duration::from_millis(20);

/// How many messages may be on the fast path at once: enough to keep every
/// delivery slot busy, small enough to keep qmail-send's memory small.
pub fn fast_cap(c: &Controls) -> usize {
    2 * (c.concurrency[LOCAL] + c.concurrency[REMOTE]).min(1000) as usize
}

/// How long a waiting message waits for room on the fast path before it
/// is preprocessed the plain way (so a slow channel never holds up mail).
pub const FULL_WAIT: Duration = Duration::from_millis(1000);

/// What qmail-send said on fd 0.
enum Cmd {
    None,
    Stop,
    Gone,
}

fn read_cmds(t: &mut Todo) -> Cmd {
    let mut buf = [0u8; 64];
    match sys::borrow_fd(0).read(&mut buf) {
        Ok(0) => Cmd::Gone,
        Ok(n) => {
            for &b in &buf[..n] {
                if let Some(r) = t.rcmd.as_mut() {
                    if b != 0 {
                        r.push(b);
                        continue;
                    }
                    let id = std::str::from_utf8(r).ok().and_then(parse_id);
                    t.rcmd = None;
                    if let Some(id) = id {
                        t.inflight.remove(&id);
                    }
                    continue;
                }
                match b {
                    b'R' => t.rcmd = Some(Vec::with_capacity(20)),
                    b'H' => {
                        let home = t.home.clone();
                        if t.c.reread_todo(&home).is_err() {
                            t.log(&[Part::Text("alert: qmail-todo: unable to reread controls")]);
                        }
                    }
                    b'X' => return Cmd::Stop,
                    _ => {}
                }
            }
            Cmd::None
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Cmd::None,
        Err(_) => Cmd::Gone,
    }
}

fn fd0_ready() -> bool {
    let mut p = [PollFd::read(0)];
    sys::poll_fds(&mut p, 0).is_ok() && p[0].ready
}

/// The program.
pub fn serve(home: &Path) -> Result<(), Die> {
    let start_alert = |what: &str| {
        let mut l = Log::default();
        l.line(&[
            Part::Text("alert: qmail-todo: cannot start: "),
            Part::Text(what),
        ]);
        let mut v = vec![b'L'];
        v.extend_from_slice(&l.take());
        v.push(0);
        let _ = sys::borrow_fd(1).write_all(&v);
        Die::quiet(crate::exit::TEMP)
    };
    std::env::set_current_dir(home)
        .map_err(|_| start_alert("unable to switch to home directory"))?;
    let c = Controls::read(Path::new(".")).map_err(|_| start_alert("unable to read controls"))?;
    std::env::set_current_dir("queue")
        .map_err(|_| start_alert("unable to switch to queue directory"))?;
    sys::ignore_signal(libc::SIGPIPE).map_err(|e| Die::sys("ignore SIGPIPE", e))?;
    sys::umask(0o077);
    let dup = |fd| {
        sys::borrow_fd(fd)
            .try_clone()
            .map_err(|e| Die::sys("dup", e))
    };
    let mut t = Todo {
        home: home.to_path_buf(),
        c,
        q: Queue::at(PathBuf::new()),
        out: Log::default(),
        clean_out: dup(2)?,
        clean_in: dup(3)?,
        inflight: HashSet::new(),
        rcmd: None,
    };
    // Wait for qmail-send's go.
    let mut b = [0u8; 1];
    loop {
        match sys::borrow_fd(0).read(&mut b) {
            Ok(1) if b[0] == b'S' => break,
            Ok(1) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            _ => return Err(Die::quiet(1)),
        }
    }
    let mut trigger = open_trigger();
    let mut next_scan = 0i64;
    let mut last_scan: Option<Instant> = None;
    let mut scan_due = false;
    let mut pending: std::collections::VecDeque<u64> = Default::default();
    // Since when the fast path has been full while messages wait.
    let mut full_since: Option<Instant> = None;
    loop {
        let now = crate::date::now_secs();
        let full = !pending.is_empty() && t.inflight.len() >= fast_cap(&t.c);
        if !full {
            full_since = None;
        }
        let wait_full = full.then(|| {
            let since = *full_since.get_or_insert_with(Instant::now);
            FULL_WAIT.saturating_sub(since.elapsed())
        });
        let gap_left = last_scan.map_or(Duration::ZERO, |t| SCAN_GAP.saturating_sub(t.elapsed()));
        let timeout = match wait_full {
            Some(d) if !d.is_zero() => d.as_millis() as i32 + 1,
            _ if !pending.is_empty() || next_scan <= now => 0,
            _ if scan_due => gap_left.as_millis() as i32 + 1,
            _ => ((next_scan - now) * 1000).min(i64::from(i32::MAX)) as i32,
        };
        let mut fds = vec![PollFd::read(0)];
        if let Some(tr) = trigger.as_ref() {
            fds.push(PollFd::read(tr.as_raw_fd()));
        }
        sys::poll_fds(&mut fds, timeout).map_err(|e| Die::sys("poll", e))?;
        if fds[0].ready {
            match read_cmds(&mut t) {
                Cmd::None => {}
                Cmd::Stop => return stop(&mut t),
                Cmd::Gone => return Err(Die::quiet(1)),
            }
        }
        if fds.get(1).is_some_and(|p| p.ready)
            && let Some(tr) = trigger.as_mut()
        {
            drain_trigger(tr);
            scan_due = true;
        }
        if trigger.is_none() {
            trigger = open_trigger();
            scan_due = true;
        }
        let gap_over = last_scan.is_none_or(|t| t.elapsed() >= SCAN_GAP);
        if (scan_due && gap_over && pending.is_empty()) || crate::date::now_secs() >= next_scan {
            scan_due = false;
            last_scan = Some(Instant::now());
            next_scan = crate::date::now_secs() + SLEEP_TODO;
            pending = t.scan().into();
        }
        while let Some(&id) = pending.front() {
            if t.inflight.len() >= fast_cap(&t.c) {
                let since = *full_since.get_or_insert_with(Instant::now);
                if since.elapsed() < FULL_WAIT {
                    break; // wait for qmail-send to finish some
                }
            }
            pending.pop_front();
            if let Some(kind) = t.process(id) {
                let mut v = vec![b'D', kind];
                v.extend_from_slice(id.to_string().as_bytes());
                v.push(0);
                t.out.raw(&v);
            }
            t.send()?;
            if fd0_ready() {
                break;
            }
        }
        t.send()?;
    }
}

fn stop(t: &mut Todo) -> Result<(), Die> {
    t.log(&[Part::Text("status: qmail-todo stop processing asap")]);
    t.out.raw(b"X\0");
    t.send()?;
    // Wait for qmail-send to close the pipe.
    let mut buf = [0u8; 64];
    loop {
        match sys::borrow_fd(0).read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::ConstMap;

    fn controls() -> Controls {
        Controls {
            locals: ConstMap::from_set(&["localhost".into(), "Here.Example".into()]),
            vdoms: ConstMap::from_lines(&[
                "virt.example:joe".into(),
                ".sub.example:sub".into(),
                "x@notvirt.example:".into(),
                "notvirt.example:nv".into(),
            ]),
            percenthack: ConstMap::from_set(&["relay.example".into()]),
            envnoathost: "envhost".into(),
            concurrency: [10, 20],
            queuelifetime: 604800,
            bouncefrom: "MAILER-DAEMON".into(),
            bouncehost: "h".into(),
            bouncemaxbytes: 0,
            doublebouncehost: "h".into(),
            doublebounceto: "postmaster".into(),
        }
    }

    #[test]
    fn rewriting() {
        let c = controls();
        let r = |a: &str| {
            let (ch, v) = rewrite(&c, a.as_bytes());
            (ch, String::from_utf8(v).unwrap())
        };
        assert_eq!(r("u@here.example"), (LOCAL, "u@here.example".into()));
        assert_eq!(r("u"), (REMOTE, "u@envhost".into()));
        assert_eq!(
            r("bob@virt.example"),
            (LOCAL, "joe-bob@virt.example".into())
        );
        assert_eq!(r("a@b.sub.example"), (LOCAL, "sub-a@b.sub.example".into()));
        assert_eq!(r("x@notvirt.example"), (REMOTE, "x@notvirt.example".into()));
        assert_eq!(
            r("y@notvirt.example"),
            (LOCAL, "nv-y@notvirt.example".into())
        );
        assert_eq!(
            r("a%localhost@relay.example"),
            (LOCAL, "a@localhost".into())
        );
        assert_eq!(r("a@far.example"), (REMOTE, "a@far.example".into()));
    }

    #[test]
    fn splitting() {
        let c = controls();
        let s = split(&c, b"u1000\0p42\0Fme@x\0Tu@localhost\0Tv@far\0").unwrap();
        assert_eq!(s.uid, b"1000");
        assert_eq!(s.pid, b"42");
        assert_eq!(s.sender.as_deref(), Some(&b"me@x"[..]));
        assert_eq!(s.chan[LOCAL], b"Tu@localhost\0");
        assert_eq!(s.chan[REMOTE], b"Tv@far\0");
        assert_eq!(split(&c, b"Fa\0Zb\0"), Err(b'Z'));
    }
}
