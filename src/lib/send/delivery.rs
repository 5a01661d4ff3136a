//! The delivery engine shared by qmail-lspawn and qmail-rspawn
//! (qmail-lspawn(8), qmail-rspawn(8)): read delivery commands from
//! qmail-send on fd 0, run one child per delivery with the message on fd 0
//! and a pipe on fds 1+2, and answer on fd 1 with `delnum status text \0`
//! once the child has exited and its output reached EOF.

use std::fs::File;

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Instant;

use super::reuse::{self, Heard, Worker};
use crate::exit::Die;
use crate::sys::{self, Exit, Fork, PollFd};

/// What differs between the local and the remote spawner.
pub trait Spawner {
    /// Cut the child's report at this many bytes (0: never).
    fn truncate_at(&self) -> usize;
    /// Appends `status text` (without the NUL) for a finished child.
    fn report(&self, out: &mut Vec<u8>, exit: Exit, output: &[u8]);
    /// Runs in the forked child with the message on fd 0 and the report
    /// pipe on fds 1 and 2; the cwd is `queue/mess`. `at` is the index of
    /// the recipient's last `@`. Never returns.
    fn child(&self, sender: &[u8], recip: &[u8], at: usize) -> !;
    /// Whether a delivery runs in a worker that may take the next one for
    /// the same host (`reuse`).
    fn reuses(&self) -> bool {
        false
    }
    /// A worker's life: the first delivery with the message on fd 0, its
    /// report on `sock`, then the next ones (`reuse::next_job`) until the
    /// socket closes. Never returns.
    fn work(&self, sock: UnixStream, sender: &[u8], recip: &[u8], at: usize) -> ! {
        let _ = (sock, sender, recip, at);
        sys::exit_now(crate::exit::TEMP)
    }
}

/// The concurrency a spawner announces: conf-spawn, capped by the one-byte
/// protocol.
pub fn limit() -> usize {
    (crate::auto::SPAWN as usize).clamp(1, 255)
}

const TRUNC_MESS: &[u8] = b"\nError report too long, sorry.\n";

/// qmail's temporary errors, and a missing program.
fn is_temp_errno(e: &io::Error) -> bool {
    crate::exit::is_temp_errno(e) || e.raw_os_error() == Some(libc::ENOENT)
}

/// Exit code for a failed exec: 111 when the error may go away. A missing
/// program counts as temporary (sqmail: never bounce mail because a
/// program is not installed yet).
pub fn exec_failure_code(e: &io::Error) -> i32 {
    if is_temp_errno(e) { 111 } else { 100 }
}

#[derive(Default)]
struct Slot {
    used: bool,
    pipe: Option<File>,
    pid: i32,
    status: Option<Exit>,
    output: Vec<u8>,
    truncated: bool,
}

/// Command parser state: qmail's four stages.
#[derive(Default)]
struct Cmd {
    stage: u8,
    delnum: usize,
    messid: Vec<u8>,
    sender: Vec<u8>,
    recip: Vec<u8>,
}

impl Cmd {
    /// Feeds one byte; true when a command is complete.
    fn push(&mut self, ch: u8) -> bool {
        match self.stage {
            0 => {
                self.delnum = ch as usize;
                self.messid.clear();
                self.stage = 1;
            }
            1 if ch != 0 => self.messid.push(ch),
            1 => {
                self.sender.clear();
                self.stage = 2;
            }
            2 if ch != 0 => self.sender.push(ch),
            2 => {
                self.recip.clear();
                self.stage = 3;
            }
            _ if ch != 0 => self.recip.push(ch),
            _ => {
                self.stage = 0;
                return true;
            }
        }
        false
    }
}

/// Checks the message path the way qmail does: digits and `/` (not first),
/// at most 100 bytes, not empty.
fn messid_error(m: &[u8]) -> Option<&'static str> {
    for (i, &c) in m.iter().enumerate() {
        if (i == 0 || c != b'/') && !c.is_ascii_digit() {
            return Some("DInternal error: messid has nonnumerics. (#5.3.5)\n");
        }
    }
    if m.len() > 100 {
        return Some("DInternal error: messid too long. (#5.3.5)\n");
    }
    if m.is_empty() {
        return Some("DInternal error: messid too short. (#5.3.5)\n");
    }
    None
}

struct Engine<'a, S: Spawner> {
    s: &'a S,
    slots: Vec<Slot>,
    /// Workers holding sessions (`Spawner::reuses`), busy or idle.
    workers: Vec<Worker>,
    uidq: u32,
    out: Vec<u8>,
    writing: bool,
}

impl<S: Spawner> Engine<'_, S> {
    fn answer(&mut self, delnum: usize, text: &[u8]) {
        self.out.push(delnum as u8);
        self.out.extend_from_slice(text);
        self.out.push(0);
    }

    fn flush(&mut self) {
        if self.out.is_empty() {
            return;
        }
        if self.writing && sys::borrow_fd(1).write_all(&self.out).is_err() {
            self.writing = false;
        }
        self.out.clear();
    }

    fn docmd(&mut self, c: &Cmd) {
        let n = c.delnum;
        if n >= self.slots.len() {
            return self.answer(n, b"ZInternal error: delnum too big. (#4.3.5)\n");
        }
        if self.slots[n].used {
            return self.answer(n, b"ZInternal error: delnum in use. (#4.3.5)\n");
        }
        if let Some(e) = messid_error(&c.messid) {
            return self.answer(n, e.as_bytes());
        }
        let Some(at) = c.recip.iter().rposition(|&b| b == b'@') else {
            return self.answer(n, b"DSorry, address must include host name. (#5.1.3)\n");
        };
        let path = Path::new(OsStr::from_bytes(&c.messid));
        let Ok(mess) = File::open(path) else {
            return self.answer(n, b"Zqmail-spawn unable to open message. (#4.3.0)\n");
        };
        let Ok(st) = mess.metadata() else {
            return self.answer(n, b"Zqmail-spawn unable to fstat message. (#4.3.0)\n");
        };
        if !st.file_type().is_file() {
            return self.answer(n, b"ZSorry, message has wrong type. (#4.3.5)\n");
        }
        if st.uid() != self.uidq {
            return self.answer(n, b"ZSorry, message has wrong owner. (#4.3.5)\n");
        }
        if self.s.reuses() {
            return self.give_worker(c, at, mess);
        }
        let Ok((r, w)) = io::pipe() else {
            return self.answer(n, b"Zqmail-spawn unable to create pipe. (#4.3.0)\n");
        };
        match sys::fork() {
            Err(_) => self.answer(n, b"Zqmail-spawn unable to fork. (#4.3.0)\n"),
            Ok(Fork::Child) => {
                let wired = sys::move_fd(OwnedFd::from(mess), 0)
                    .and_then(|()| sys::move_fd(OwnedFd::from(w), 1))
                    .and_then(|()| sys::dup2(1, 2));
                if wired.is_err() {
                    sys::exit_now(crate::exit::TEMP);
                }
                self.s.child(&c.sender, &c.recip, at)
            }
            Ok(Fork::Parent(pid)) => {
                drop(w);
                self.occupy(n, pid, Some(File::from(OwnedFd::from(r))));
            }
        }
    }

    /// A delivery for a worker: an idle one for the same host, else a new
    /// one (ending the longest idle when there are as many as slots).
    fn give_worker(&mut self, c: &Cmd, at: usize, mess: File) {
        let n = c.delnum;
        let host = c.recip[at + 1..].to_ascii_lowercase();
        while let Some(i) = self.workers.iter().position(|w| w.takes(&host)) {
            let w = &mut self.workers[i];
            if w.send(n, &c.messid, &c.sender, &c.recip).is_ok() {
                let pid = w.pid;
                self.occupy(n, pid, None);
                return;
            }
            self.workers.swap_remove(i);
        }
        if self.workers.len() >= self.slots.len()
            && let Some(i) = (0..self.workers.len())
                .filter(|&i| self.workers[i].busy.is_none())
                .min_by_key(|&i| self.workers[i].idle_since)
        {
            self.workers.swap_remove(i);
        }
        let Ok((ours, theirs)) = UnixStream::pair() else {
            return self.answer(n, b"Zqmail-spawn unable to create pipe. (#4.3.0)\n");
        };
        match sys::fork() {
            Err(_) => self.answer(n, b"Zqmail-spawn unable to fork. (#4.3.0)\n"),
            Ok(Fork::Child) => {
                // Only qmail-rspawn may hold the other workers' sockets:
                // each must see its end close.
                self.workers.clear();
                drop(ours);
                let wired = sys::move_fd(OwnedFd::from(mess), 0).and_then(|()| {
                    let null = File::options().write(true).open("/dev/null")?;
                    sys::move_fd(OwnedFd::from(null), 1)?;
                    sys::dup2(1, 2)
                });
                if wired.is_err() {
                    sys::exit_now(crate::exit::TEMP);
                }
                self.s.work(theirs, &c.sender, &c.recip, at)
            }
            Ok(Fork::Parent(pid)) => {
                drop(theirs);
                self.workers.push(Worker::new(pid, ours, host, n));
                self.occupy(n, pid, None);
            }
        }
    }

    /// Slot `n` waits for the child or worker `pid`: for a child's exit
    /// and the end of its output on `pipe`, for a worker's report.
    fn occupy(&mut self, n: usize, pid: i32, pipe: Option<File>) {
        let slot = &mut self.slots[n];
        slot.used = true;
        slot.pipe = pipe;
        slot.pid = pid;
        slot.status = None;
        slot.output.clear();
        slot.truncated = false;
    }

    /// Reads worker `i`'s socket: a report finishes its delivery; a worker
    /// gone leaves its delivery to `reap` (reported as a crash).
    fn hear_worker(&mut self, i: usize) {
        match self.workers[i].hear() {
            Heard::Nothing => {}
            Heard::Report(r) => {
                let pid = self.workers[i].pid;
                if let Some(slot) = self.slots.iter_mut().find(|s| s.used && s.pid == pid) {
                    slot.output = r;
                    slot.status = Some(Exit::Code(0));
                    slot.pid = 0; // its later exit is not this delivery's
                }
                if self.workers[i].uses >= reuse::MAX_USES {
                    self.workers.swap_remove(i);
                }
            }
            Heard::Gone => {
                self.workers.swap_remove(i);
            }
        }
    }

    /// Ends the workers idle for `reuse::IDLE`; returns the milliseconds
    /// until the next one is due (-1: none idle).
    fn expire_idle(&mut self) -> i32 {
        let now = Instant::now();
        self.workers
            .retain(|w| w.busy.is_some() || now.duration_since(w.idle_since) < reuse::IDLE);
        self.workers
            .iter()
            .filter(|w| w.busy.is_none())
            .map(|w| (reuse::IDLE - now.duration_since(w.idle_since)).as_millis() as i32 + 1)
            .min()
            .unwrap_or(-1)
    }

    fn reap(&mut self) {
        while let Ok(Some((pid, st))) = sys::wait_nohang() {
            if let Some(s) = self.slots.iter_mut().find(|s| s.used && s.pid == pid) {
                s.status = Some(st);
            }
        }
    }

    fn read_child(&mut self, i: usize) {
        let trunc = self.s.truncate_at();
        let slot = &mut self.slots[i];
        let Some(p) = slot.pipe.as_mut() else { return };
        let mut buf = [0u8; 4096];
        match p.read(&mut buf) {
            Ok(0) => slot.pipe = None,
            Ok(k) => {
                if slot.truncated {
                    return;
                }
                slot.output.extend_from_slice(&buf[..k]);
                if trunc > 100 && slot.output.len() > trunc {
                    slot.output.truncate(trunc - TRUNC_MESS.len() - 3);
                    slot.output.extend_from_slice(TRUNC_MESS);
                    slot.truncated = true;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => slot.pipe = None,
        }
    }

    fn finish_ready(&mut self) {
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            if !s.used || s.pipe.is_some() {
                continue;
            }
            let Some(st) = s.status else { continue };
            let mut text = Vec::with_capacity(s.output.len() + 64);
            self.s.report(&mut text, st, &s.output);
            self.slots[i].used = false;
            self.answer(i, &text);
        }
    }
}

/// The spawner's whole life: announce the limit, serve commands until fd 0
/// reaches EOF and every child has reported, then return.
pub fn serve<S: Spawner>(s: &S, home: &Path) -> Result<(), Die> {
    std::env::set_current_dir(home.join("queue/mess"))
        .map_err(|_| Die::quiet(crate::exit::TEMP))?;
    sys::ignore_signal(libc::SIGPIPE).map_err(|e| Die::sys("ignore SIGPIPE", e))?;
    let sigfd = sys::signal_pipe(&[libc::SIGCHLD]).map_err(|e| Die::sys("catch SIGCHLD", e))?;
    let ids = crate::home::Ids::current().map_err(|e| Die::sys("find qmail ids", e))?;
    let n = limit();
    let mut e = Engine {
        s,
        slots: (0..n).map(|_| Slot::default()).collect(),
        workers: Vec::new(),
        uidq: ids.qmailq,
        out: vec![n as u8],
        writing: true,
    };
    e.flush();
    let mut cmd = Cmd::default();
    let mut reading = true;
    let mut buf = [0u8; 4096];
    let mut fds: Vec<PollFd> = Vec::with_capacity(2 * n + 2);
    let mut which: Vec<usize> = Vec::with_capacity(n);
    let mut heard: Vec<i32> = Vec::with_capacity(n);
    loop {
        if !reading && !e.slots.iter().any(|s| s.used) {
            // Closing the workers' sockets ends their sessions.
            return Ok(());
        }
        let timeout = e.expire_idle();
        fds.clear();
        which.clear();
        fds.push(PollFd::read(sigfd));
        if reading {
            fds.push(PollFd::read(0));
        }
        for (i, s) in e.slots.iter().enumerate() {
            if let Some(p) = s.pipe.as_ref() {
                fds.push(PollFd::read(p.as_raw_fd()));
                which.push(i);
            }
        }
        let wbase = fds.len();
        fds.extend(e.workers.iter().map(|w| PollFd::read(w.fd())));
        sys::poll_fds(&mut fds, timeout).map_err(|e| Die::sys("poll", e))?;
        let base = if reading { 2 } else { 1 };
        for (k, &i) in which.iter().enumerate() {
            if fds[base + k].ready {
                e.read_child(i);
            }
        }
        // By descriptor: hearing one may remove a worker from the list.
        heard.clear();
        heard.extend(fds[wbase..].iter().filter(|f| f.ready).map(|f| f.fd));
        for fd in &heard {
            if let Some(i) = e.workers.iter().position(|w| w.fd() == *fd) {
                e.hear_worker(i);
            }
        }
        if fds[0].ready {
            sys::drain_signals(sigfd);
        }
        e.reap();
        if reading && fds[1].ready {
            match sys::borrow_fd(0).read(&mut buf) {
                Ok(0) => reading = false,
                Ok(k) => {
                    for &ch in &buf[..k] {
                        if cmd.push(ch) {
                            e.docmd(&cmd);
                        }
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => reading = false,
            }
        }
        e.finish_ready();
        e.flush();
    }
}

/// qmail-lspawn: deliver in a forked child by calling qmail-local's code
/// in-process (no exec per delivery).
pub struct Local {
    pub home: std::path::PathBuf,
    pub default_delivery: OsString,
    pub private: bool,
}

/// qmail-local/lspawn exit codes with a fixed report (qmail's QLX_*).
fn local_fixed(code: i32) -> Option<&'static str> {
    Some(match code {
        112 => "ZInternal qmail-lspawn bug.\n",
        113 => "ZNot allowed to perform deliveries as root.\n",
        115 => "ZNFS failure in qmail-local.\n",
        116 => "ZUnable to find alias user!\n",
        117 => "ZTrouble reading users/cdb in qmail-lspawn.\n",
        118 => "ZTemporary failure in qmail-lspawn.\n",
        119 => "ZOut of memory in qmail-lspawn.\n",
        120 => "ZUnable to run qmail-local.\n",
        121 => "ZUnable to run qmail-getpw.\n",
        126 => "DUnable to run qmail-local.\n",
        _ => return None,
    })
}

/// The status letter and text of a finished local delivery.
pub fn local_report(out: &mut Vec<u8>, exit: Exit, output: &[u8]) {
    let code = match exit {
        Exit::Signal(_) => return out.extend_from_slice(b"Zqmail-local crashed.\n"),
        Exit::Code(c) => c,
    };
    if let Some(t) = local_fixed(code) {
        return out.extend_from_slice(t.as_bytes());
    }
    out.push(match code {
        0 => b'K',
        111 | 71 | 74 | 75 => b'Z',
        _ => b'D',
    });
    let end = memchr::memchr(0, output).unwrap_or(output.len());
    out.extend_from_slice(&output[..end]);
}

impl Spawner for Local {
    fn truncate_at(&self) -> usize {
        3000
    }
    fn report(&self, out: &mut Vec<u8>, exit: Exit, output: &[u8]) {
        local_report(out, exit, output)
    }
    fn child(&self, sender: &[u8], recip: &[u8], at: usize) -> ! {
        let local = &recip[..at];
        if local.is_empty() {
            sys::exit_now(0); // the trash address <>@host
        }
        if std::env::set_current_dir(&self.home).is_err() {
            sys::exit_now(112);
        }
        let local_s = String::from_utf8_lossy(local);
        let a = match crate::users::lookup(&self.home, &local_s) {
            Ok(a) => a,
            Err(code) => sys::exit_now(code),
        };
        let owner = (self.private && sys::getuid() == 0)
            .then(|| private_owner(&a.home))
            .flatten();
        let os = |b: &[u8]| OsStr::from_bytes(b).to_os_string();
        let args: Vec<OsString> = vec![
            "--".into(),
            a.user.into(),
            a.home.into(),
            os(local),
            a.dash.into(),
            a.ext.into(),
            os(&recip[at + 1..]),
            os(sender),
            self.default_delivery.clone(),
        ];
        if !self.private {
            if sys::set_ids(a.uid, a.gid).is_err() {
                sys::exit_now(112);
            }
            if sys::getuid() == 0 {
                sys::exit_now(113);
            }
        } else if let Some((uid, gid)) = owner
            && sys::set_ids(uid, gid).is_err()
        {
            sys::exit_now(112);
        }
        let code = crate::local::run(&args);
        sys::exit_now(code)
    }
}

/// A private home run by root (qmail-lspawn(8)): a delivery runs as the
/// owner of the home it delivers in, so a `.qmail` file written by another
/// user never runs with root's rights; root's own directories stay root's.
fn private_owner(home: &str) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(home).ok()?;
    (md.uid() != 0).then(|| (md.uid(), md.gid()))
}

/// qmail-rspawn: deliver in a forked child by calling qmail-remote's code
/// in-process (no exec per delivery; both run as qmailr) when the
/// qmail-remote it would run is ours; a replaced one (a wrapper script, a
/// signing filter) or `$QMAILREMOTE` is executed, as qmail does.
pub struct Remote {
    /// The program to execute, or None: in-process.
    pub program: Option<OsString>,
    /// In-process, qmail-dksign's signing first (ours in front of ours:
    /// no exec per delivery either).
    pub sign: bool,
}

impl Remote {
    /// The spawner as the environment asks for it: `$QMAILREMOTE` when
    /// set, else `bin/qmail-dksign` when `control/dkimdomains` exists
    /// (qmail-dksign(8)), else `qmail-remote` on PATH unless that file is
    /// sqmail's own (it carries [`crate::remote::BUILTIN_MARK`]), else
    /// in-process.
    pub fn from_env(home: &Path) -> Remote {
        if let Some(p) = std::env::var_os("QMAILREMOTE").filter(|p| !p.is_empty()) {
            return Remote {
                program: Some(p),
                sign: false,
            };
        }
        if home.join("control/dkimdomains").exists() {
            let p = home.join("bin/qmail-dksign");
            if carries(&p, crate::dkim::dksign::BUILTIN_MARK)
                && is_builtin(&home.join("bin/qmail-remote"))
            {
                return Remote {
                    program: None,
                    sign: true,
                };
            }
            return Remote {
                program: Some(p.into_os_string()),
                sign: false,
            };
        }
        let found = std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("qmail-remote"))
                .find(|p| p.is_file())
        });
        let program = found.filter(|p| !is_builtin(p)).map(|p| p.into_os_string());
        Remote {
            program,
            sign: false,
        }
    }
}

/// True when the program at `p` is sqmail's qmail-remote: same code as
/// the library's, so running it in-process changes nothing.
fn is_builtin(p: &Path) -> bool {
    carries(p, crate::remote::BUILTIN_MARK)
}

/// True when the file at `p` holds `mark`.
fn carries(p: &Path, mark: &[u8]) -> bool {
    std::fs::read(p).is_ok_and(|b| memchr::memmem::find(&b, mark).is_some())
}

/// Translates qmail-remote's NUL-terminated reports into one result
/// (qmail-rspawn(8)).
pub fn remote_report(out: &mut Vec<u8>, exit: Exit, s: &[u8]) {
    match exit {
        Exit::Signal(_) => return out.extend_from_slice(b"Zqmail-remote crashed.\n"),
        Exit::Code(0) => {}
        Exit::Code(111) => return out.extend_from_slice(b"ZUnable to run qmail-remote.\n"),
        Exit::Code(_) => return out.extend_from_slice(b"DUnable to run qmail-remote.\n"),
    }
    if s.is_empty() {
        return out.extend_from_slice(b"Zqmail-remote produced no output.\n");
    }
    let mut result = -1;
    let mut j = 0;
    for k in 0..s.len() {
        if s[k] == 0 {
            match s[j] {
                b'K' => result = 1,
                b'Z' => result = 0,
                b'D' => {}
                _ => {
                    j = k + 1;
                    continue;
                }
            }
            break;
        }
    }
    let orr = match s[0] {
        b's' => 0,
        b'h' => -1,
        _ => result,
    };
    out.push(match orr {
        1 => b'K',
        0 => b'Z',
        _ => b'D',
    });
    let cstr = |from: usize| {
        let t = &s[from.min(s.len())..];
        &t[..memchr::memchr(0, t).unwrap_or(t.len())]
    };
    if let Some(end) = s[1..].iter().position(|&b| b == 0) {
        let k = end + 2;
        out.extend_from_slice(cstr(1));
        if result <= orr && k < s.len() && matches!(s[k], b'Z' | b'D' | b'K') {
            out.extend_from_slice(cstr(k + 1));
        }
    }
}

impl Remote {
    /// One delivery in this process, the message on fd 0: qmail-dksign's
    /// signing when asked, then qmail-remote's code; returns the report.
    fn deliver_here(
        &self,
        sender: &[u8],
        recip: &[u8],
        at: usize,
        kept: Option<&mut Option<crate::remote::KeptSession>>,
    ) -> Vec<u8> {
        let args = [recip[at + 1..].to_vec(), sender.to_vec(), recip.to_vec()];
        // qmail-dksign's work: the signed copy becomes descriptor 0.
        let signed = match self.sign {
            false => None,
            true => match crate::dkim::dksign::signed_input(&crate::home::home(), &args) {
                Ok(f) => f,
                Err(e) => return crate::dkim::dksign::defer_report(&e),
            },
        };
        if let Some(f) = &signed
            && let Err(e) = sys::dup2(f.as_raw_fd(), 0)
        {
            let why = format!("cannot read the signed message: {e}");
            return crate::dkim::dksign::defer_report(&why);
        }
        drop(signed);
        let out = match kept {
            Some(k) => crate::remote::run_keeping(&args, k),
            None => crate::remote::run(&args),
        };
        out.bytes().to_vec()
    }
}

impl Spawner for Remote {
    fn truncate_at(&self) -> usize {
        0
    }
    fn reuses(&self) -> bool {
        self.program.is_none()
    }
    fn work(&self, mut sock: UnixStream, sender: &[u8], recip: &[u8], at: usize) -> ! {
        let _ = sys::default_signal(libc::SIGCHLD);
        // Where the engine put us; qmail-remote's code moves to the home.
        let mess =
            std::env::current_dir().unwrap_or_else(|_| crate::home::home().join("queue/mess"));
        let mut kept: Option<crate::remote::KeptSession> = None;
        let mut report = self.deliver_here(sender, recip, at, Some(&mut kept));
        loop {
            if reuse::answer(&mut sock, &report).is_err() {
                break;
            }
            let fd = kept.as_ref().map(|k| k.fd());
            let lost = || {
                if let Some(k) = kept.take() {
                    k.quit();
                }
            };
            let Some(job) = reuse::next_job(&mut sock, fd, lost) else {
                break;
            };
            let at = job.recip.iter().rposition(|&b| b == b'@').unwrap_or(0);
            let path = mess.join(OsStr::from_bytes(&job.messid));
            let opened = File::open(&path).and_then(|m| sys::move_fd(OwnedFd::from(m), 0));
            report = match opened {
                Ok(()) => self.deliver_here(&job.sender, &job.recip, at, Some(&mut kept)),
                Err(_) => b"Zqmail-spawn unable to open message. (#4.3.0)\n\0".to_vec(),
            };
        }
        if let Some(k) = kept {
            k.quit();
        }
        sys::exit_now(0)
    }
    fn report(&self, out: &mut Vec<u8>, exit: Exit, output: &[u8]) {
        remote_report(out, exit, output)
    }
    fn child(&self, sender: &[u8], recip: &[u8], at: usize) -> ! {
        let host = &recip[at + 1..];
        let Some(prog) = self.program.as_ref() else {
            // What an exec would have reset: the spawner's SIGCHLD handler.
            let _ = sys::default_signal(libc::SIGCHLD);
            let report = self.deliver_here(sender, recip, at, None);
            let _ = sys::borrow_fd(1).write_all(&report);
            sys::exit_now(0)
        };
        let err = std::process::Command::new(prog)
            .arg(OsStr::from_bytes(host))
            .arg(OsStr::from_bytes(sender))
            .arg(OsStr::from_bytes(recip))
            .exec();
        sys::exit_now(exec_failure_code(&err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dkimdomains_puts_qmail_dksign_in_front() {
        if std::env::var_os("QMAILREMOTE").is_some() {
            return;
        }
        let home = std::env::temp_dir().join(format!("sqmail-rspawn-dk-{}", std::process::id()));
        std::fs::create_dir_all(home.join("control")).unwrap();
        let before = Remote::from_env(&home).program;
        assert_ne!(before, Some(home.join("bin/qmail-dksign").into_os_string()));
        std::fs::write(home.join("control/dkimdomains"), "example.com:default\n").unwrap();
        assert_eq!(
            Remote::from_env(&home).program,
            Some(home.join("bin/qmail-dksign").into_os_string())
        );
        // Ours in front of ours: signed and delivered in-process.
        std::fs::create_dir_all(home.join("bin")).unwrap();
        let marked = |name: &str, mark: &[u8]| {
            std::fs::write(home.join(name), [b"\x7fELF..", mark, b".."].concat()).unwrap()
        };
        marked("bin/qmail-dksign", crate::dkim::dksign::BUILTIN_MARK);
        let r = Remote::from_env(&home);
        assert!(r.program.is_some() && !r.sign, "a qmail-remote not ours");
        marked("bin/qmail-remote", crate::remote::BUILTIN_MARK);
        let r = Remote::from_env(&home);
        assert!(r.program.is_none() && r.sign);
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn command_parser() {
        let mut c = Cmd::default();
        let mut done = 0;
        for &b in b"\x05\x31/123\0a@b\0c@d\0\x00" {
            if c.push(b) {
                done += 1;
                assert_eq!(c.delnum, 5);
                assert_eq!(c.messid, b"1/123");
                assert_eq!(c.sender, b"a@b");
                assert_eq!(c.recip, b"c@d");
            }
        }
        assert_eq!(done, 1);
        assert_eq!(c.stage, 1);
    }

    #[test]
    fn messid_rules() {
        assert_eq!(messid_error(b"1/234"), None);
        assert!(messid_error(b"/1").is_some());
        assert!(messid_error(b"1/../2").is_some());
        assert!(messid_error(b"").is_some());
        assert!(messid_error(&[b'1'; 101]).is_some());
    }

    fn remote(code: i32, s: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        remote_report(&mut v, Exit::Code(code), s);
        v
    }

    #[test]
    fn remote_translation() {
        assert_eq!(
            remote(0, b"K1.2.3.4 accepted message.\0"),
            b"K1.2.3.4 accepted message."
        );
        assert_eq!(
            remote(0, b"rok\0Kdone\0"),
            b"Kokdone",
            "result K after an r report: both texts"
        );
        assert_eq!(remote(0, b"Zbusy\0"), b"Zbusy");
        assert_eq!(
            remote(0, b"hno such user\0Dgiving up\0"),
            b"Dno such usergiving up"
        );
        assert_eq!(remote(0, b"sdeferred\0Kbut ok\0"), b"Zdeferred");
        assert_eq!(remote(0, b""), b"Zqmail-remote produced no output.\n");
        assert_eq!(remote(111, b"x"), b"ZUnable to run qmail-remote.\n");
        assert_eq!(remote(1, b"x"), b"DUnable to run qmail-remote.\n");
        let mut v = Vec::new();
        remote_report(&mut v, Exit::Signal(9), b"");
        assert_eq!(v, b"Zqmail-remote crashed.\n");
    }

    #[test]
    fn local_translation() {
        let rep = |c, o: &[u8]| {
            let mut v = Vec::new();
            local_report(&mut v, Exit::Code(c), o);
            v
        };
        assert_eq!(rep(0, b"did 0+1+0\n"), b"Kdid 0+1+0\n");
        assert_eq!(rep(111, b"busy\0junk"), b"Zbusy");
        assert_eq!(rep(100, b"no"), b"Dno");
        assert_eq!(rep(42, b"x"), b"Dx");
        assert_eq!(rep(116, b"x"), b"ZUnable to find alias user!\n");
    }
}
