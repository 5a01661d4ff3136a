//! qmail-send (qmail-send(8)): schedules deliveries of preprocessed messages
//! through qmail-lspawn and qmail-rspawn, marks recipients done, bounces
//! permanent failures and removes finished messages via qmail-clean.
//!
//! Descriptors (set up by qmail-start): 0 log out, 1/2 lspawn command/result,
//! 3/4 rspawn, 5/6 qmail-clean, 7/8 qmail-todo.

pub mod bounce;
pub mod controls;
pub mod delivery;
pub mod log;
pub mod retry;
pub mod reuse;
pub mod start;
pub mod todo;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use crate::exit::Die;
use crate::queue::{Queue, parse_id};
use crate::sys::{self, PollFd};
use controls::Controls;
use log::{Log, Part};
use retry::{LOCAL, REMOTE};

pub const SLEEP_CLEANUP: i64 = 76431;
pub const SLEEP_SYSFAIL: i64 = 123;
pub const OSSIFIED: i64 = 129_600;
/// Reports longer than this are cut.
const MAX_REPORT: usize = 10_000;

const CHAN_DIR: [&str; 2] = ["local", "remote"];
const CHAN_NAME: [&str; 2] = ["local", "remote"];
const TOO_LONG: &[u8] =
    b"I'm not going to try again; this message has been in the queue too long.\n";

fn now() -> i64 {
    crate::date::now_secs()
}

fn mtime(m: &fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt;
    m.mtime()
}

/// Where a running delivery came from.
#[derive(Clone, Copy)]
enum Origin {
    /// A record at byte `mpos` of a channel file, for job `job`.
    File { job: usize, mpos: u64 },
    /// Recipient `r` of fast-path message `m`.
    Fast { m: usize, r: usize },
}

/// One running delivery.
struct Del {
    origin: Origin,
    id: u64,
    recip: Vec<u8>,
    delid: u64,
}

/// Recipient states of a fast-path message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RState {
    Queued,
    Running,
    Done,
    Deferred,
}

/// A message qmail-todo handed over whole: delivered from memory; its
/// todo/ entry stays until it is finished or written out (fallback).
struct Fast {
    id: u64,
    sender: Vec<u8>,
    birth: i64,
    recips: Vec<(usize, Vec<u8>, RState)>,
    running: usize,
    queued: usize,
    bounce: Vec<u8>,
}

/// A message being worked on in one channel.
struct Job {
    id: u64,
    chan: usize,
    sender: Vec<u8>,
    retry: i64,
    dying: bool,
    refs: u32,
    numtodo: u32,
    hiteof: bool,
}

/// Reading a channel file record by record.
struct Pass {
    job: usize,
    reader: BufReader<File>,
    pos: u64,
}

struct Chan {
    /// Slots the spawner announced.
    max: usize,
    used: usize,
    slots: Vec<Option<Del>>,
    wfd: i32,
    rfd: i32,
    wbuf: Vec<u8>,
    rbuf: Vec<u8>,
    queue: BinaryHeap<Reverse<(i64, u64)>>,
    pass: Option<Pass>,
    alive: bool,
}

/// qmail-send's state: the queue, its two channels and the jobs in flight
/// (named not to shadow Rust's `Send` marker trait).
pub struct Scheduler {
    home: PathBuf,
    c: Controls,
    q: Queue,
    log: Log,
    chans: [Chan; 2],
    jobs: Vec<Option<Job>>,
    done: BinaryHeap<Reverse<(i64, u64)>>,
    delid: u64,
    exiting: bool,
    todo_alive: bool,
    todo_buf: Vec<u8>,
    next_cleanup: i64,
    fasts: Vec<Option<Fast>>,
    /// Fast-path deliveries waiting for a slot, per channel.
    fastq: [VecDeque<(usize, usize)>; 2],
    /// The fast-path message being received from qmail-todo.
    incoming: Option<Fast>,
    /// The next split directory of info/ the start-up scan reads.
    scan_next: u32,
    /// An ALRM came during the start-up scan.
    scan_alarm: bool,
    /// Messages whose `foop/` request qmail-clean has not answered yet,
    /// oldest first (`clean_later`).
    clean_pending: VecDeque<u64>,
}

/// How many `foop/` requests may wait for qmail-clean's answer: far below
/// what fills the answer pipe.
const CLEAN_AHEAD: usize = 64;

/// The entries of a queue directory named by a message id, with the id.
fn message_entries(rd: fs::ReadDir) -> impl Iterator<Item = (u64, fs::DirEntry)> {
    rd.flatten()
        .filter_map(|e| Some((e.file_name().to_str().and_then(parse_id)?, e)))
}

fn verp(sender: &[u8], recip: &[u8]) -> Vec<u8> {
    let (Some(base), Some(at)) = (
        sender.strip_suffix(b"-@[]"),
        recip.iter().rposition(|&b| b == b'@'),
    ) else {
        return sender.to_vec();
    };
    let Some(sat) = base.iter().rposition(|&b| b == b'@') else {
        return sender.to_vec();
    };
    let mut v = Vec::with_capacity(sender.len() + recip.len());
    v.extend_from_slice(&base[..sat]);
    v.extend_from_slice(&recip[..at]);
    v.push(b'=');
    v.extend_from_slice(&recip[at + 1..]);
    v.extend_from_slice(&base[sat..]);
    v
}

/// The F record of an info file.
fn read_info(p: &Path) -> io::Result<(Vec<u8>, i64)> {
    let mut f = File::open(p)?;
    let birth = mtime(&f.metadata()?);
    let mut b = Vec::with_capacity(128);
    f.read_to_end(&mut b)?;
    match b.split_first() {
        Some((b'F', rest)) => {
            let end = memchr::memchr(0, rest).unwrap_or(rest.len());
            Ok((rest[..end].to_vec(), birth))
        }
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, "bad info file")),
    }
}

impl Scheduler {
    fn status(&mut self) {
        let [l, r] = &self.chans;
        let line = format!(
            "status: local {}/{} remote {}/{}{}",
            l.used,
            self.conc(LOCAL),
            r.used,
            self.conc(REMOTE),
            if self.exiting { " exitasap" } else { "" }
        );
        self.log.text(&line);
    }

    /// The channel's concurrency: the control, clamped by the spawner.
    fn conc(&self, c: usize) -> usize {
        (self.c.concurrency[c] as usize).min(self.chans[c].max)
    }

    fn avail(&self, c: usize) -> bool {
        let ch = &self.chans[c];
        !self.exiting && ch.alive && ch.wbuf.is_empty() && ch.used < self.conc(c)
    }

    fn warn(&mut self, what: &str, file: &str, tail: &str) {
        self.log
            .line(&[Part::Text(what), Part::Text(file), Part::Text(tail)]);
    }

    // ---- scanning and scheduling ------------------------------------------

    /// Startup: rebuild the channel queues from info/ (qmail-send(8)), one
    /// split directory per turn of the main loop, so that deliveries of the
    /// messages already read start while the rest of a long queue is read.
    /// qmail-todo gets its go only after the last one: a message it
    /// preprocessed meanwhile would be scheduled twice.
    fn scan_step(&mut self) {
        let d = self.scan_next;
        if d >= crate::auto::SPLIT || self.exiting {
            return;
        }
        let dir = self.q.root().join("info").join(d.to_string());
        let rd = loop {
            match fs::read_dir(&dir) {
                Ok(rd) => break rd,
                Err(_) => {
                    self.log.line(&[
                        Part::Text("alert: unable to opendir "),
                        Part::Text(&dir.to_string_lossy()),
                        Part::Text(", sleeping..."),
                    ]);
                    self.log.flush();
                    std::thread::sleep(Duration::from_secs(10));
                }
            }
        };
        let ids: Vec<u64> = message_entries(rd).map(|(id, _)| id).collect();
        // One directory read per channel instead of a stat by path per
        // message and channel: the restart of a long queue is bounded by
        // these reads (each file's mtime is its saved next-try time).
        let todo = self.split_ids("todo", d);
        let chans = [LOCAL, REMOTE].map(|c| self.split_mtimes(CHAN_DIR[c], d));
        for id in ids {
            self.schedule_existing(id, todo.as_ref(), &chans);
        }
        self.scan_next += 1;
        if self.scan_next == crate::auto::SPLIT {
            self.scan_alarm = false;
            self.todo_send(b'S');
        }
    }

    /// Has the start-up scan read every split directory?
    fn scanned(&self) -> bool {
        self.scan_next >= crate::auto::SPLIT
    }

    /// The ids in split directory `d` of `dir`; None if it cannot be read.
    fn split_ids(&self, dir: &str, d: u32) -> Option<std::collections::HashSet<u64>> {
        let rd = fs::read_dir(self.q.root().join(dir).join(d.to_string())).ok()?;
        Some(message_entries(rd).map(|(id, _)| id).collect())
    }

    /// The ids in split directory `d` of a channel directory with their
    /// mtimes; None if it cannot be read.
    fn split_mtimes(&self, dir: &str, d: u32) -> Option<std::collections::HashMap<u64, i64>> {
        let rd = fs::read_dir(self.q.root().join(dir).join(d.to_string())).ok()?;
        // A file that went away or cannot be stat'ed is retried later.
        let due = |e: fs::DirEntry| e.metadata().map_or(now() + SLEEP_SYSFAIL, |md| mtime(&md));
        Some(message_entries(rd).map(|(id, e)| (id, due(e))).collect())
    }

    /// Schedules a message found at start-up. `todo` and `chans` are what
    /// its split directories hold (None: unreadable, ask the file itself).
    fn schedule_existing(
        &mut self,
        id: u64,
        todo: Option<&std::collections::HashSet<u64>>,
        chans: &[Option<std::collections::HashMap<u64, i64>>; 2],
    ) {
        let in_todo = match todo {
            Some(set) => set.contains(&id),
            None => self.q.path("todo", id).exists(),
        };
        if in_todo {
            return;
        }
        let mut any = false;
        for c in [LOCAL, REMOTE] {
            let due = match &chans[c] {
                Some(m) => m.get(&id).copied(),
                None => match fs::metadata(self.q.path(CHAN_DIR[c], id)) {
                    Ok(m) => Some(mtime(&m)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                    Err(_) => Some(now() + SLEEP_SYSFAIL),
                },
            };
            if let Some(due) = due {
                any = true;
                // An ALRM during the scan: every message is due now.
                let due = if self.scan_alarm { 0 } else { due };
                self.chans[c].queue.push(Reverse((due, id)));
            }
        }
        if !any {
            self.done.push(Reverse((0, id)));
        }
    }

    /// A `D kind id` from qmail-todo: due now.
    fn todo_ready(&mut self, kind: u8, id: u64) {
        let t = now();
        match kind {
            b'L' => self.chans[LOCAL].queue.push(Reverse((t, id))),
            b'R' => self.chans[REMOTE].queue.push(Reverse((t, id))),
            b'B' => {
                self.chans[LOCAL].queue.push(Reverse((t, id)));
                self.chans[REMOTE].queue.push(Reverse((t, id)));
            }
            _ => self.done.push(Reverse((0, id))),
        }
    }

    // ---- passes and deliveries ----------------------------------------------

    fn pass_start(&mut self, c: usize) {
        if self.exiting || self.chans[c].pass.is_some() || !self.avail(c) {
            return;
        }
        let t = now();
        let Some(&Reverse((due, id))) = self.chans[c].queue.peek() else {
            return;
        };
        if due > t {
            return;
        }
        self.chans[c].queue.pop();
        let rel = Queue::rel(CHAN_DIR[c], id);
        let file = match File::open(self.q.path(CHAN_DIR[c], id)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(_) => {
                self.warn("warning: unable to open ", &rel, "");
                self.chans[c].queue.push(Reverse((t + SLEEP_SYSFAIL, id)));
                return;
            }
        };
        let (sender, birth) = match read_info(&self.q.path("info", id)) {
            Ok(x) => x,
            Err(_) => {
                self.warn("warning: unable to read ", &Queue::rel("info", id), "");
                self.chans[c].queue.push(Reverse((t + SLEEP_SYSFAIL, id)));
                return;
            }
        };
        let job = Job {
            id,
            chan: c,
            sender,
            retry: retry::next_retry(birth, t, c),
            dying: t > birth + self.c.queuelifetime as i64,
            refs: 1,
            numtodo: 0,
            hiteof: false,
        };
        let j = match self.jobs.iter().position(Option::is_none) {
            Some(j) => {
                self.jobs[j] = Some(job);
                j
            }
            None => {
                self.jobs.push(Some(job));
                self.jobs.len() - 1
            }
        };
        self.chans[c].pass = Some(Pass {
            job: j,
            reader: BufReader::with_capacity(4096, file),
            pos: 0,
        });
    }

    fn pass_do(&mut self, c: usize) {
        let mut rec = Vec::with_capacity(256);
        while self.avail(c) {
            let Some(p) = self.chans[c].pass.as_mut() else {
                return;
            };
            let j = p.job;
            rec.clear();
            let mpos = p.pos;
            let n = p.reader.read_until(0, &mut rec).unwrap_or(0);
            p.pos += n as u64;
            if n == 0 || rec.last() != Some(&0) {
                self.chans[c].pass = None;
                self.job_mut(j).hiteof = true;
                self.job_close(j);
                return;
            }
            rec.pop();
            match rec.first() {
                Some(b'T') => {
                    let job = self.job_mut(j);
                    job.numtodo += 1;
                    job.refs += 1;
                    let (id, sender) = (job.id, job.sender.clone());
                    self.del_start(c, Origin::File { job: j, mpos }, id, &sender, &rec[1..]);
                }
                Some(b'D') => {}
                _ => {
                    let id = self.job_mut(j).id;
                    self.warn(
                        "warning: unknown record type in ",
                        &Queue::rel(CHAN_DIR[c], id),
                        "!",
                    );
                    self.chans[c].pass = None;
                    self.job_close(j);
                    return;
                }
            }
        }
    }

    #[expect(clippy::expect_used, reason = "an index of a dead job is a bug")]
    fn job_mut(&mut self, j: usize) -> &mut Job {
        // Invariant: a job index is only used while its job is alive.
        self.jobs[j].as_mut().expect("live job")
    }

    fn del_start(&mut self, c: usize, origin: Origin, id: u64, sender: &[u8], recip: &[u8]) {
        let Some(slot) = self.chans[c].slots.iter().position(Option::is_none) else {
            return;
        };
        self.delid += 1;
        let delid = self.delid;
        let sender = verp(sender, recip);
        let ch = &mut self.chans[c];
        ch.wbuf.push(slot as u8);
        ch.wbuf
            .extend_from_slice(format!("{}/{id}", Queue::split_of(id)).as_bytes());
        ch.wbuf.push(0);
        ch.wbuf.extend_from_slice(&sender);
        ch.wbuf.push(0);
        ch.wbuf.extend_from_slice(recip);
        ch.wbuf.push(0);
        ch.slots[slot] = Some(Del {
            origin,
            id,
            recip: recip.to_vec(),
            delid,
        });
        ch.used += 1;
        self.chan_write(c);
        self.log.line(&[
            Part::Text("starting delivery "),
            Part::Num(delid),
            Part::Text(": msg "),
            Part::Num(id),
            Part::Text(" to "),
            Part::Text(CHAN_NAME[c]),
            Part::Text(" "),
            Part::Safe(recip),
        ]);
        self.status();
    }

    fn chan_write(&mut self, c: usize) {
        let ch = &mut self.chans[c];
        while !ch.wbuf.is_empty() {
            match sys::borrow_fd(ch.wfd).write(&ch.wbuf) {
                Ok(n) => {
                    ch.wbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.spawn_lost();
                }
            }
        }
    }

    fn spawn_lost(&mut self) -> ! {
        self.log
            .text("alert: oh no! lost spawn connection! dying...");
        self.log.flush();
        sys::exit_now(crate::exit::TEMP)
    }

    fn chan_read(&mut self, c: usize) {
        let mut buf = [0u8; 8192];
        let n = match sys::borrow_fd(self.chans[c].rfd).read(&mut buf) {
            Ok(0) => self.spawn_lost(),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => self.spawn_lost(),
        };
        self.chans[c].rbuf.extend_from_slice(&buf[..n]);
        loop {
            let rb = &self.chans[c].rbuf;
            if rb.len() < 2 {
                return;
            }
            let Some(end) = memchr::memchr(0, &rb[2..]) else {
                return;
            };
            let report: Vec<u8> = self.chans[c].rbuf.drain(..end + 3).collect();
            let text = &report[2..end + 2];
            let text = &text[..text.len().min(MAX_REPORT)];
            self.del_done(c, report[0] as usize, report[1], text);
        }
    }

    fn del_done(&mut self, c: usize, slot: usize, status: u8, text: &[u8]) {
        let Some(d) = self.chans[c].slots.get_mut(slot).and_then(Option::take) else {
            self.log
                .text("warning: internal error: delivery report out of range");
            return;
        };
        self.chans[c].used -= 1;
        let dying = match d.origin {
            Origin::File { job, .. } => self.job_mut(job).dying,
            Origin::Fast { .. } => false,
        };
        let mut status = status;
        let mut text = text.to_vec();
        if status == b'Z' && dying {
            status = b'D';
            text.extend_from_slice(TOO_LONG);
        }
        let head = |what: &str| format!("delivery {}: {what}", d.delid);
        let done = match status {
            b'K' => {
                self.log
                    .line(&[Part::Text(&head("success: ")), Part::Safe(&text)]);
                true
            }
            b'Z' => {
                self.log
                    .line(&[Part::Text(&head("deferral: ")), Part::Safe(&text)]);
                false
            }
            b'D' => {
                self.log
                    .line(&[Part::Text(&head("failure: ")), Part::Safe(&text)]);
                let r = bounce::strip_virtual(&d.recip, &self.c.vdoms);
                let e = bounce::entry(r, &text);
                match d.origin {
                    Origin::File { .. } => self.add_bounce(d.id, &e),
                    Origin::Fast { m, .. } => self.fast_mut(m).bounce.extend_from_slice(&e),
                }
                true
            }
            _ => {
                self.log.text(&head("report mangled, will defer"));
                false
            }
        };
        self.status();
        match d.origin {
            Origin::File { job, mpos } => {
                if done {
                    self.mark_done(c, job, mpos);
                }
                self.job_close(job);
            }
            Origin::Fast { m, r } => {
                let f = self.fast_mut(m);
                f.recips[r].2 = if done { RState::Done } else { RState::Deferred };
                f.running -= 1;
                if f.running == 0 && (f.queued == 0 || self.exiting) {
                    self.fast_finish(m);
                }
            }
        }
    }

    fn mark_done(&mut self, c: usize, j: usize, mpos: u64) {
        let job = self.job_mut(j);
        job.numtodo -= 1;
        let id = job.id;
        let p = self.q.path(CHAN_DIR[c], id);
        let ok = fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .and_then(|f| f.write_all_at(b"D", mpos))
            .is_ok();
        if !ok {
            self.warn(
                "warning: trouble marking ",
                &Queue::rel(CHAN_DIR[c], id),
                "; message will be delivered twice!",
            );
        }
    }

    fn add_bounce(&mut self, id: u64, e: &[u8]) {
        loop {
            let ok = fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(self.q.path("bounce", id))
                .and_then(|mut f| f.write_all(e))
                .is_ok();
            if ok {
                return;
            }
            self.log
                .text("alert: unable to append to bounce message; HELP! sleeping...");
            self.log.flush();
            std::thread::sleep(Duration::from_secs(10));
        }
    }

    fn job_close(&mut self, j: usize) {
        let job = self.job_mut(j);
        job.refs -= 1;
        if job.refs > 0 {
            return;
        }
        let Some(job) = self.jobs[j].take() else {
            return;
        };
        let (c, id) = (job.chan, job.id);
        let mut due = job.retry;
        if job.hiteof && job.numtodo == 0 {
            let rel = Queue::rel(CHAN_DIR[c], id);
            match fs::remove_file(self.q.path(CHAN_DIR[c], id)) {
                Err(_) => {
                    self.warn("warning: unable to unlink ", &rel, "; will try again later");
                    due = now() + SLEEP_SYSFAIL;
                }
                Ok(()) => {
                    match fs::metadata(self.q.path(CHAN_DIR[1 - c], id)) {
                        Ok(_) => return, // the other channel is still going
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            self.done.push(Reverse((0, id)));
                            return;
                        }
                        Err(_) => {
                            let other = Queue::rel(CHAN_DIR[1 - c], id);
                            self.warn("warning: unable to stat ", &other, "; will try again later");
                            self.done.push(Reverse((now() + SLEEP_SYSFAIL, id)));
                            return;
                        }
                    }
                }
            }
        }
        self.chans[c].queue.push(Reverse((due, id)));
    }

    // ---- the fast path ----------------------------------------------------------

    #[expect(clippy::expect_used, reason = "an index of a dead message is a bug")]
    fn fast_mut(&mut self, m: usize) -> &mut Fast {
        // Invariant: a fast index is only used while its message is alive.
        self.fasts[m].as_mut().expect("live fast message")
    }

    /// A whole message from qmail-todo: queue its deliveries.
    fn fast_accept(&mut self, f: Fast) {
        let m = match self.fasts.iter().position(Option::is_none) {
            Some(m) => m,
            None => {
                self.fasts.push(None);
                self.fasts.len() - 1
            }
        };
        let held = f.recips.iter().any(|r| self.conc(r.0) == 0);
        for (r, rec) in f.recips.iter().enumerate() {
            if !held {
                self.fastq[rec.0].push_back((m, r));
            }
        }
        self.fasts[m] = Some(f);
        if held || self.fast_mut(m).queued == 0 {
            self.fast_finish(m);
        }
    }

    /// Starts queued fast-path deliveries while the channel has room.
    fn fast_do(&mut self, c: usize) {
        while self.avail(c) {
            let Some((m, r)) = self.fastq[c].pop_front() else {
                return;
            };
            let f = self.fast_mut(m);
            f.queued -= 1;
            f.running += 1;
            f.recips[r].2 = RState::Running;
            let (id, sender, recip) = (f.id, f.sender.clone(), f.recips[r].1.clone());
            self.del_start(c, Origin::Fast { m, r }, id, &sender, &recip);
        }
    }

    /// A fast-path message with nothing running: remove it when every
    /// recipient is done and nothing bounced; otherwise write it out the
    /// plain qmail way (info, local/remote with what is left, bounce) and
    /// let the scheduler take over.
    fn fast_finish(&mut self, m: usize) {
        let Some(f) = self.fasts[m].take() else {
            return;
        };
        for q in &mut self.fastq {
            q.retain(|&(k, _)| k != m);
        }
        let id = f.id;
        let left: [Vec<u8>; 2] = [LOCAL, REMOTE].map(|c| {
            let mut v = Vec::new();
            for (ch, a, st) in &f.recips {
                if *ch == c && *st != RState::Done {
                    v.push(b'T');
                    v.extend_from_slice(a);
                    v.push(0);
                }
            }
            v
        });
        if left.iter().all(Vec::is_empty) && f.bounce.is_empty() {
            self.log.line(&[Part::Text("end msg "), Part::Num(id)]);
            if self.clean(&Queue::rel("todo", id)) != b'+' {
                let line = format!(
                    "warning: qmail-clean unable to clean up {}",
                    Queue::rel("todo", id)
                );
                self.log.text(&line);
                return self.todo_release(id);
            }
            self.clean_later(id);
            return self.todo_release(id);
        }
        if self.exiting
            && left.iter().any(|l| !l.is_empty())
            && f.recips.iter().all(|r| r.2 != RState::Done)
            && f.bounce.is_empty()
        {
            // Nothing happened yet: leave it in todo/ for the next start.
            return self.todo_release(id);
        }
        if let Err(what) = self.write_out(&f, &left) {
            // todo/ still holds the message: it is preprocessed again
            // (and redelivered) after the next scan or restart.
            let rel = Queue::rel(what, id);
            self.warn("warning: unable to write ", &rel, "; will try again later");
            return self.todo_release(id);
        }
        if self.clean(&Queue::rel("todo", id)) != b'+' {
            let line = format!(
                "warning: qmail-clean unable to clean up {}",
                Queue::rel("todo", id)
            );
            self.log.text(&line);
        }
        self.todo_release(id);
        let t = now();
        let mut any = false;
        for c in [LOCAL, REMOTE] {
            if !left[c].is_empty() {
                any = true;
                let due = if self.exiting {
                    t
                } else {
                    retry::next_retry(f.birth, t, c)
                };
                self.chans[c].queue.push(Reverse((due, id)));
            }
        }
        if !any {
            self.done.push(Reverse((0, id)));
        }
    }

    /// Writes and syncs info, the channel files and the bounce file of a
    /// fast-path message (the state a plain preprocessing would have led
    /// to by now). Names the file that failed.
    fn write_out(&mut self, f: &Fast, left: &[Vec<u8>; 2]) -> Result<(), &'static str> {
        let id = f.id;
        let mut info = Vec::with_capacity(f.sender.len() + 2);
        info.push(b'F');
        info.extend_from_slice(&f.sender);
        info.push(0);
        let mut files: Vec<(&'static str, &[u8])> = vec![("info", &info)];
        for c in [LOCAL, REMOTE] {
            if !left[c].is_empty() {
                files.push((CHAN_DIR[c], &left[c]));
            }
        }
        if !f.bounce.is_empty() {
            files.push(("bounce", &f.bounce));
        }
        let mut open = Vec::with_capacity(files.len());
        for (dir, data) in &files {
            let p = self.q.path(dir, id);
            let file = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&p)
                .and_then(|mut fl| fl.write_all(data).map(|()| fl))
                .map_err(|_| *dir)?;
            open.push((dir, file, p));
        }
        for (dir, file, _) in &open {
            file.sync_all().map_err(|_| **dir)?;
        }
        for (dir, _, p) in &open {
            crate::fsutil::fsync_parent(p).map_err(|_| **dir)?;
        }
        Ok(())
    }

    /// Tells qmail-todo it may forget message `id` (its todo/ entry is gone
    /// or will be preprocessed again).
    fn todo_release(&mut self, id: u64) {
        if self.todo_alive {
            let msg = format!("R{id}\0");
            let _ = sys::borrow_fd(7).write_all(msg.as_bytes());
        }
    }

    // ---- finishing messages ---------------------------------------------------

    /// A message with no channel files left: bounce if needed, then remove.
    fn mess_done(&mut self, id: u64) {
        if self.q.path("todo", id).exists() {
            return; // will be preprocessed again
        }
        let bpath = self.q.path("bounce", id);
        if bpath.exists() && !self.inject_bounce(id, &bpath) {
            self.done.push(Reverse((now() + SLEEP_SYSFAIL, id)));
            return;
        }
        self.log.line(&[Part::Text("end msg "), Part::Num(id)]);
        match fs::remove_file(self.q.path("info", id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                let rel = Queue::rel("info", id);
                self.warn("warning: unable to unlink ", &rel, "; will try again later");
                self.done.push(Reverse((now() + SLEEP_SYSFAIL, id)));
                return;
            }
            _ => {}
        }
        self.clean_later(id);
    }

    /// Asks qmail-clean to remove a finished message without waiting for
    /// the answer: qmail-send goes on scheduling while qmail-clean unlinks
    /// (the answer only decides a warning; the files are its alone now).
    fn clean_later(&mut self, id: u64) {
        if self.clean_pending.len() >= CLEAN_AHEAD {
            self.clean_answers(1);
        }
        let req = format!("foop/{id}\0");
        if sys::borrow_fd(5).write_all(req.as_bytes()).is_err() {
            self.lost_clean();
        }
        self.clean_pending.push_back(id);
    }

    /// Reads at least `min` of the pending answers (and any others that
    /// are there), oldest first.
    fn clean_answers(&mut self, min: usize) {
        let mut got = 0;
        while got < min || (got == 0 && !self.clean_pending.is_empty()) {
            let mut a = [0u8; CLEAN_AHEAD];
            let want = self.clean_pending.len().min(CLEAN_AHEAD);
            if want == 0 {
                return;
            }
            let n = match sys::borrow_fd(6).read(&mut a[..want]) {
                Ok(0) | Err(_) => self.lost_clean(),
                Ok(n) => n,
            };
            for &b in &a[..n] {
                let Some(id) = self.clean_pending.pop_front() else {
                    break;
                };
                if b != b'+' {
                    let line = format!("warning: qmail-clean unable to clean up foop/{id}");
                    self.log.text(&line);
                }
            }
            got += n;
        }
    }

    fn lost_clean(&mut self) -> ! {
        self.log
            .text("alert: oh no! lost qmail-clean connection! dying...");
        self.log.flush();
        sys::exit_now(crate::exit::TEMP);
    }

    /// Sends one request to qmail-clean and returns its answer byte (after
    /// the answers still pending: qmail-clean answers in order).
    fn clean(&mut self, req: &str) -> u8 {
        let pending = self.clean_pending.len();
        self.clean_answers(pending);
        let mut w = sys::borrow_fd(5);
        let mut a = [0u8; 1];
        let mut msg = Vec::with_capacity(req.len() + 1);
        msg.extend_from_slice(req.as_bytes());
        msg.push(0);
        if w.write_all(&msg).is_err() || sys::borrow_fd(6).read_exact(&mut a).is_err() {
            self.lost_clean();
        }
        a[0]
    }

    /// Injects the bounce for `id`; false means "try again later".
    fn inject_bounce(&mut self, id: u64, bpath: &Path) -> bool {
        let Ok(entries) = fs::read(bpath) else {
            return false;
        };
        let Ok((sender, _)) = read_info(&self.q.path("info", id)) else {
            return false;
        };
        let plan = bounce::plan(&sender, &self.c.doublebounceto, &self.c.doublebouncehost);
        let (bsender, brecip, double) = match plan {
            bounce::Plan::Triple | bounce::Plan::DoubleDiscard => {
                let which = if plan == bounce::Plan::Triple {
                    "triple"
                } else {
                    "double"
                };
                let line = format!("{which} bounce: discarding bounce/{id}");
                self.log.text(&line);
                return fs::remove_file(bpath).is_ok();
            }
            bounce::Plan::Send {
                sender,
                recip,
                double,
            } => (sender, recip, double),
        };
        let Ok(mut mess) = File::open(self.q.path("mess", id)) else {
            return false;
        };
        let orig = sender.strip_suffix(b"-@[]").unwrap_or(&sender);
        let head = bounce::head(
            &crate::date::Utc::now().received(),
            &self.c.bouncefrom,
            &self.c.bouncehost,
            &brecip,
            double,
            &entries,
            orig,
        );
        let Ok(mut qq) = crate::queue::client::QueueClient::start(&self.home) else {
            self.log
                .text("warning: unable to start qmail-queue, will try later");
            return false;
        };
        let pid = qq.pid();
        qq.write_all(&head);
        let max = self.c.bouncemaxbytes;
        let mut copied = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = mess.read(&mut buf) {
            if n == 0 {
                break;
            }
            if max > 0 && copied + n as u64 > max {
                qq.write_all(&buf[..(max - copied) as usize]);
                qq.write_all(bounce::TRUNCATED);
                break;
            }
            copied += n as u64;
            qq.write_all(&buf[..n]);
        }
        let mut env = crate::envelope::Envelope::new(bsender);
        env.recipients.push(brecip);
        if qq.finish(&env).is_err() {
            self.log
                .text("warning: trouble injecting bounce message, will try later");
            return false;
        }
        let line = format!("bounce msg {id} qp {pid}");
        self.log.text(&line);
        let _ = fs::remove_file(bpath);
        true
    }

    /// Every SLEEP_CLEANUP: ask qmail-clean to remove ossified leftovers.
    /// Entries out of place (qmail 1.03's flat todo/ID, another split) are
    /// logged, and a message with a todo entry anywhere is kept.
    fn cleanup(&mut self) {
        let strays = crate::queue::stray::scan(&self.q);
        for path in &strays.stray {
            let line = format!(
                "warning: {path} is out of place (qmail 1.03's flat layout or another conf-split); its message is kept: package/upgrade moves it"
            );
            self.log.text(&line);
        }
        let limit = now() - OSSIFIED;
        for d in 0..crate::auto::SPLIT {
            let Ok(rd) = fs::read_dir(self.q.root().join("mess").join(d.to_string())) else {
                continue;
            };
            let ids: Vec<u64> = rd
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(parse_id))
                .collect();
            for id in ids {
                use std::os::unix::fs::MetadataExt;
                let Ok(m) = fs::metadata(self.q.path("mess", id)) else {
                    continue;
                };
                if m.atime() > limit
                    || self.q.path("info", id).exists()
                    || self.q.path("todo", id).exists()
                    || strays.has_todo(id)
                {
                    continue;
                }
                if self.clean(&format!("foop/{id}")) != b'+' {
                    let line = format!("warning: qmail-clean unable to clean up foop/{id}");
                    self.log.text(&line);
                }
            }
        }
    }

    // ---- qmail-todo -----------------------------------------------------------

    fn todo_read(&mut self) {
        let mut buf = [0u8; 8192];
        match sys::borrow_fd(8).read(&mut buf) {
            Ok(0) => {
                self.todo_alive = false;
                if !self.exiting {
                    self.log
                        .text("alert: oh no! lost qmail-todo connection! dying...");
                    self.log.flush();
                    sys::exit_now(crate::exit::TEMP);
                }
                return;
            }
            Ok(n) => self.todo_buf.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
            Err(_) => {
                self.todo_alive = false;
                return;
            }
        }
        while let Some(end) = memchr::memchr(0, &self.todo_buf) {
            let m: Vec<u8> = self.todo_buf.drain(..=end).collect();
            let m = &m[..end];
            match m.first() {
                Some(b'D') if m.len() > 2 && !self.exiting => {
                    let id = std::str::from_utf8(&m[2..]).ok().and_then(parse_id);
                    if let Some(id) = id {
                        self.todo_ready(m[1], id);
                    }
                }
                Some(b'L') => self.log.raw(&m[1..]),
                Some(b'X') => self.todo_alive = false,
                Some(b'M') => {
                    let id = std::str::from_utf8(&m[1..]).ok().and_then(parse_id);
                    self.incoming = id.map(|id| Fast {
                        id,
                        sender: Vec::new(),
                        birth: now(),
                        recips: Vec::new(),
                        running: 0,
                        queued: 0,
                        bounce: Vec::new(),
                    });
                }
                Some(b'F') => {
                    if let Some(f) = self.incoming.as_mut() {
                        f.sender = m[1..].to_vec();
                    }
                }
                Some(&tag @ (b'l' | b'r')) => {
                    if let Some(f) = self.incoming.as_mut() {
                        let c = if tag == b'l' { LOCAL } else { REMOTE };
                        f.recips.push((c, m[1..].to_vec(), RState::Queued));
                        f.queued += 1;
                    }
                }
                Some(b'E') => {
                    if let Some(f) = self.incoming.take() {
                        if self.exiting {
                            self.todo_release(f.id);
                        } else {
                            self.fast_accept(f);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn todo_send(&mut self, b: u8) {
        if self.todo_alive {
            let _ = sys::borrow_fd(7).write_all(&[b]);
        }
    }

    // ---- signals and exit ---------------------------------------------------

    fn on_signal(&mut self, sig: i32) {
        match sig {
            libc::SIGTERM if !self.exiting => {
                self.exiting = true;
                if !self.scanned() {
                    // qmail-todo waits for its go before anything else.
                    self.scan_next = crate::auto::SPLIT;
                    self.todo_send(b'S');
                }
                self.todo_send(b'X');
                let idle: Vec<usize> = (0..self.fasts.len())
                    .filter(|&m| self.fasts[m].as_ref().is_some_and(|f| f.running == 0))
                    .collect();
                for m in idle {
                    self.fast_finish(m);
                }
                // No status line here: as in qmail, the next one (a
                // delivery's result) carries " exitasap" (qmail-log(5)).
            }
            libc::SIGALRM => {
                self.scan_alarm |= !self.scanned();
                for ch in &mut self.chans {
                    let all: Vec<_> = ch
                        .queue
                        .drain()
                        .map(|Reverse((_, id))| Reverse((0, id)))
                        .collect();
                    ch.queue.extend(all);
                }
            }
            libc::SIGHUP => {
                let home = self.home.clone();
                if self.c.reread(&home).is_err() {
                    self.log.text("alert: unable to reread controls");
                }
                self.todo_send(b'H');
            }
            _ => {}
        }
    }

    /// Keeps the schedule over a restart: each pending channel file's mtime
    /// becomes its next-try time.
    fn save_schedule(&mut self) {
        for c in [LOCAL, REMOTE] {
            let entries: Vec<(i64, u64)> =
                self.chans[c].queue.iter().map(|Reverse(e)| *e).collect();
            for (t, id) in entries {
                let p = self.q.path(CHAN_DIR[c], id);
                let when = UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
                let ok = File::options()
                    .write(true)
                    .open(&p)
                    .and_then(|f| f.set_modified(when));
                if let Err(e) = ok
                    && e.kind() != io::ErrorKind::NotFound
                {
                    let rel = Queue::rel(CHAN_DIR[c], id);
                    self.warn(
                        "warning: unable to utime ",
                        &rel,
                        "; message will be retried too soon",
                    );
                }
            }
        }
    }

    fn wake_ms(&self) -> i32 {
        if !self.scanned() && !self.exiting {
            return 0;
        }
        let t = now();
        let mut wake = self.next_cleanup;
        if !self.exiting {
            for c in [LOCAL, REMOTE] {
                if self.avail(c)
                    && let Some(Reverse((due, _))) = self.chans[c].queue.peek()
                {
                    wake = wake.min(*due);
                }
            }
            if let Some(Reverse((due, _))) = self.done.peek() {
                wake = wake.min(*due);
            }
        }
        if wake <= t {
            return 0;
        }
        ((wake - t) * 1000).min(86_400_000) as i32
    }

    fn run(&mut self, sigfd: i32) -> Result<(), Die> {
        let mut fds: Vec<PollFd> = Vec::with_capacity(8);
        loop {
            if self.exiting && self.chans.iter().all(|c| c.used == 0) && !self.todo_alive {
                let pending = self.clean_pending.len();
                self.clean_answers(pending);
                self.save_schedule();
                self.log.text("status: exiting");
                self.log.flush();
                return Ok(());
            }
            self.scan_step();
            for c in [LOCAL, REMOTE] {
                self.fast_do(c);
                self.pass_start(c);
                self.pass_do(c);
            }
            let t = now();
            if !self.exiting {
                while let Some(&Reverse((due, id))) = self.done.peek() {
                    if due > t {
                        break;
                    }
                    self.done.pop();
                    self.mess_done(id);
                }
                // Not during the start-up scan: it reads all of mess/.
                if t >= self.next_cleanup && self.scanned() {
                    self.next_cleanup = t + SLEEP_CLEANUP;
                    self.cleanup();
                }
            }
            self.log.flush();
            fds.clear();
            fds.push(PollFd::read(sigfd));
            if self.todo_alive {
                fds.push(PollFd::read(8));
            }
            if !self.clean_pending.is_empty() {
                fds.push(PollFd::read(6));
            }
            for c in [LOCAL, REMOTE] {
                fds.push(PollFd::read(self.chans[c].rfd));
                if !self.chans[c].wbuf.is_empty() {
                    fds.push(PollFd::write(self.chans[c].wfd));
                }
            }
            sys::poll_fds(&mut fds, self.wake_ms()).map_err(|e| Die::sys("poll", e))?;
            for p in fds.clone() {
                if !p.ready {
                    continue;
                }
                match p.fd {
                    fd if fd == sigfd => {
                        for s in sys::drain_signals(sigfd) {
                            self.on_signal(s);
                        }
                    }
                    8 => self.todo_read(),
                    6 => self.clean_answers(0),
                    2 => self.chan_read(LOCAL),
                    4 => self.chan_read(REMOTE),
                    1 => self.chan_write(LOCAL),
                    3 => self.chan_write(REMOTE),
                    _ => {}
                }
            }
        }
    }
}

fn alert_exit(log: &mut Log, what: &str) -> Die {
    log.line(&[Part::Text("alert: cannot start: "), Part::Text(what)]);
    log.flush();
    Die::quiet(crate::exit::TEMP)
}

/// Reads the concurrency byte a spawner announces on `fd`.
fn spawn_byte(fd: i32) -> Option<usize> {
    let mut b = [0u8; 1];
    match sys::borrow_fd(fd).read(&mut b) {
        Ok(1) => Some(b[0] as usize),
        _ => None,
    }
}

/// The program.
pub fn main() -> Result<(), Die> {
    let mut log = Log::default();
    let home = crate::home::home();
    std::env::set_current_dir(&home)
        .map_err(|_| alert_exit(&mut log, "unable to switch to home directory"))?;
    let c = Controls::read(Path::new("."))
        .map_err(|_| alert_exit(&mut log, "unable to read controls"))?;
    std::env::set_current_dir("queue")
        .map_err(|_| alert_exit(&mut log, "unable to switch to queue directory"))?;
    sys::ignore_signal(libc::SIGPIPE).map_err(|e| Die::sys("ignore SIGPIPE", e))?;
    let sigfd = sys::signal_pipe(&[libc::SIGTERM, libc::SIGALRM, libc::SIGHUP])
        .map_err(|e| Die::sys("catch signals", e))?;
    sys::umask(0o077);
    let mutex = fs::OpenOptions::new()
        .write(true)
        .open("lock/sendmutex")
        .map_err(|_| alert_exit(&mut log, "unable to open mutex"))?;
    sys::flock_exclusive(&mutex, false)
        .map_err(|_| alert_exit(&mut log, "qmail-send is already running"))?;
    let (Some(lmax), Some(rmax)) = (spawn_byte(2), spawn_byte(4)) else {
        log.text("alert: cannot start: hath the daemon spawn no fire?");
        log.flush();
        return Err(Die::quiet(crate::exit::TEMP));
    };
    for fd in [1, 3] {
        sys::set_nonblock(fd, true).map_err(|e| Die::sys("set non-blocking", e))?;
    }
    // qmail-queue (for bounces) must not inherit the daemons' pipes.
    for fd in 1..=8 {
        let _ = sys::set_cloexec(fd, true);
    }
    let chan = |max: usize, wfd, rfd| Chan {
        max,
        used: 0,
        slots: (0..max).map(|_| None).collect(),
        wfd,
        rfd,
        wbuf: Vec::new(),
        rbuf: Vec::new(),
        queue: BinaryHeap::new(),
        pass: None,
        alive: true,
    };
    let mut s = Scheduler {
        home: std::env::current_dir()
            .ok()
            .and_then(|d| d.parent().map(Path::to_path_buf))
            .unwrap_or(home),
        c,
        q: Queue::at(PathBuf::new()),
        log,
        chans: [chan(lmax, 1, 2), chan(rmax, 3, 4)],
        jobs: Vec::new(),
        done: BinaryHeap::new(),
        delid: 0,
        exiting: false,
        todo_alive: true,
        todo_buf: Vec::new(),
        // The first sweep right at start (as qmail), then every SLEEP_CLEANUP.
        next_cleanup: now(),
        fasts: Vec::new(),
        fastq: [VecDeque::new(), VecDeque::new()],
        incoming: None,
        scan_next: 0,
        scan_alarm: false,
        clean_pending: VecDeque::with_capacity(CLEAN_AHEAD),
    };
    s.status();
    let r = s.run(sigfd);
    drop(mutex);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verp_expansion() {
        assert_eq!(
            verp(b"list-@example.org-@[]", b"joe@x.net"),
            b"list-joe=x.net@example.org"
        );
        assert_eq!(verp(b"a@b", b"joe@x.net"), b"a@b");
        assert_eq!(
            verp(b"list-@example.org-@[]", b"nohost"),
            b"list-@example.org-@[]"
        );
    }
}
