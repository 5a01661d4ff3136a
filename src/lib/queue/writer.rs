//! qmail-queue's work (qmail-queue(8)): put one message and its envelope into
//! the queue, crash-safely, and say how it went as an exit code.
//!
//! Order of events, each step durable before the next one that depends on
//! it: `pid/` file → link to `mess/D/id` (or a file of the inode pool,
//! `queue::pool`, renamed to `mess/D/<its inode>` and truncated) → message
//! written → message file and `mess/D` fsynced → `intd/D/id` written and
//! fsynced → link to `todo/D/id` (the commit point) → `todo/D` fsynced →
//! trigger pulled → exit 0. The fsyncs run one after another: helper
//! threads overlapped them, but starting two threads per message cost more
//! CPU (about 0.17 ms) than the overlap saved with ten sessions queueing.
//! Nothing is acknowledged before the last fsync, so a crash (or kill -9)
//! at any point leaves either a complete `todo` entry for an acknowledged
//! message or leftovers that qmail-send's cleanup removes after 36 hours.
//!
//! The message is streamed through one 64 KiB buffer; nothing else of size
//! is allocated.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::envelope::MAX_ADDRESS;
use crate::queue::exitcode::code;
use crate::queue::pool::{Take, Taker};
use crate::{bytescan, date, fsutil, home, passwd, queue::Queue, sys};

/// The watchdog: well below the 36 h after which leftovers are removed.
pub const DEATH_SECS: u32 = 86400;
/// Bytes per address including its NUL (qmail's ADDR).
const ADDR: usize = MAX_ADDRESS + 1;
/// The one buffer: the message goes through all of it, the envelope
/// through its two halves (input, output).
const BUF: usize = 64 * 1024;
/// Appended after the F record (qmail's QUEUE_EXTRA; empty in s/qmail).
const QUEUE_EXTRA: &[u8] = b"";

/// A failure: the exit code.
pub type Fail = i32;

/// Who called, as the Received line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Alias,
    Network,
    Bounce,
    Uid(u32),
}

impl Caller {
    /// The identity of real uid `uid`. In private mode every qmail user is
    /// the invoking user, so only `Uid` is possible there.
    pub fn of(uid: u32, system: Option<&SystemIds>) -> Caller {
        match system {
            Some(s) if Some(uid) == s.alias => Caller::Alias,
            Some(s) if Some(uid) == s.qmaild => Caller::Network,
            Some(s) if Some(uid) == s.qmails => Caller::Bounce,
            _ => Caller::Uid(uid),
        }
    }
}

/// The qmail users that qmail-queue tells apart, from /etc/passwd (read
/// once). A missing user simply never matches.
#[derive(Debug, Clone, Default)]
pub struct SystemIds {
    pub alias: Option<u32>,
    pub qmaild: Option<u32>,
    pub qmails: Option<u32>,
}

impl SystemIds {
    pub fn load() -> SystemIds {
        let mut ids = SystemIds::default();
        for p in passwd::all_users().unwrap_or_default() {
            let slot = match p.name.as_str() {
                n if n == crate::auto::USER_ALIAS => &mut ids.alias,
                n if n == crate::auto::USER_QMAILD => &mut ids.qmaild,
                n if n == crate::auto::USER_QMAILS => &mut ids.qmails,
                _ => continue,
            };
            slot.get_or_insert(p.uid);
        }
        ids
    }
}

/// `Received: (qmail PID invoked WHO); DATE\n`.
pub fn received_line(pid: u32, caller: Caller, when: i64) -> String {
    let who = match caller {
        Caller::Alias => "by alias".to_string(),
        Caller::Network => "from network".to_string(),
        Caller::Bounce => "for bounce".to_string(),
        Caller::Uid(u) => format!("by uid {u}"),
    };
    format!(
        "Received: (qmail {pid} invoked {who}); {}\n",
        date::Utc::from_unix(when).received()
    )
}

/// The QHPSI virus-scanner hook (qmail-queue(8), QHPSI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanner {
    pub program: String,
    pub args: Vec<String>,
    /// The exit code meaning "infected".
    pub infected: i32,
    pub min_size: u64,
    pub max_size: u64,
}

impl Scanner {
    /// From `QHPSI`, `QHPSIARG1..3`, `QHPSIRC`, `QHPSIMINSIZE`,
    /// `QHPSIMAXSIZE`; `None` when `QHPSI` is unset or empty.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Option<Scanner> {
        let program = get("QHPSI").filter(|p| !p.is_empty())?;
        let num = |name: &str, default: u64| {
            get(name)
                .and_then(|v| crate::control::parse_leading_uint(&v))
                .unwrap_or(default)
        };
        Some(Scanner {
            program,
            args: ["QHPSIARG1", "QHPSIARG2", "QHPSIARG3"]
                .iter()
                .map_while(|n| get(n))
                .collect(),
            infected: i32::try_from(num("QHPSIRC", 1)).unwrap_or(1),
            min_size: num("QHPSIMINSIZE", 0),
            max_size: num("QHPSIMAXSIZE", 0),
        })
    }

    /// Scans `mess` (a path relative to the queue) of `size` bytes.
    fn scan(&self, mess: &str, size: u64) -> Result<(), Fail> {
        if (self.min_size != 0 && size < self.min_size)
            || (self.max_size != 0 && size > self.max_size)
        {
            return Ok(());
        }
        let status = Command::new(&self.program)
            .arg(mess)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .map_err(|_| code::SCANNER)?;
        match status.code() {
            Some(0) => Ok(()),
            Some(c) if c == self.infected => Err(code::VIRUS),
            _ => Err(code::SCANNER),
        }
    }
}

/// What one qmail-queue run needs to know besides fds 0 and 1.
#[derive(Debug, Clone)]
pub struct Job {
    pub uid: u32,
    pub pid: u32,
    pub start: i64,
    pub caller: Caller,
    pub scanner: Option<Scanner>,
}

/// The files made so far, removed again on failure.
#[derive(Default)]
struct Made {
    mess: Option<(String, File)>,
    intd: Option<(String, File)>,
    todo: Option<String>,
}

impl Made {
    /// Truncate and unlink, newest first: a `todo` entry never outlives
    /// its `mess` file.
    fn cleanup(&mut self) {
        if let Some(t) = self.todo.take() {
            let _ = fs::remove_file(t);
        }
        for (path, f) in [self.intd.take(), self.mess.take()].into_iter().flatten() {
            let _ = f.set_len(0);
            let _ = fs::remove_file(path);
        }
    }
}

/// The whole program after argument-free start-up: chdir to the queue,
/// install the signal rules, queue the message from fd 0 with the envelope
/// from fd 1. Returns the exit code on failure.
pub fn main() -> Result<(), Fail> {
    sys::umask(0o033);
    std::env::set_current_dir(home::home()).map_err(|_| code::HOME)?;
    std::env::set_current_dir("queue").map_err(|_| code::QUEUE)?;
    let uid = sys::getuid();
    let private = home::private_mode();
    let system = (!private).then(SystemIds::load);
    let caller = Caller::of(uid, system.as_ref());
    // Set-uid qmailq: a program named in the environment would run as
    // qmailq, so only the daemons (root, qmaild) may ask for a scan.
    let scanner = Scanner::from_env(|n| std::env::var(n).ok())
        .filter(|_| private || uid == 0 || system.as_ref().and_then(|s| s.qmaild) == Some(uid));
    signals();
    sys::alarm(DEATH_SECS);
    let job = Job {
        uid,
        pid: std::process::id(),
        start: date::now_secs(),
        caller,
        scanner,
    };
    let stdin = sys::borrow_fd(0);
    let stdout = sys::borrow_fd(1);
    queue(&job, &stdin, &stdout)
}

/// qmail's signal set-up: SIGPIPE, SIGXFSZ (a full RLIMIT_FSIZE becomes a
/// write error) and the job-control/terminal signals are ignored; the
/// watchdog exits 52 and crash signals 81, both without cleanup (the
/// leftovers are removed by qmail-send's 36-hour cleanup). A Rust
/// allocation failure aborts: that is 51, out of memory.
fn signals() {
    for s in [
        libc::SIGPIPE,
        libc::SIGXFSZ,
        libc::SIGXCPU,
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGVTALRM,
        libc::SIGPROF,
    ] {
        let _ = sys::ignore_signal(s);
    }
    let _ = sys::exit_on_signal(libc::SIGALRM, code::TIMEOUT);
    for s in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE] {
        let _ = sys::exit_on_signal(s, code::BUG);
    }
    let _ = sys::exit_on_signal(libc::SIGABRT, code::OUT_OF_MEMORY);
}

/// Queues one message (from `message`) with its envelope (from
/// `envelope`); the current directory must be the queue.
pub fn queue(job: &Job, message: &File, envelope: &File) -> Result<(), Fail> {
    let mut made = Made::default();
    let r = queue_steps(job, message, envelope, &mut made);
    if r.is_err() {
        made.cleanup();
    }
    r
}

fn queue_steps(job: &Job, message: &File, envelope: &File, made: &mut Made) -> Result<(), Fail> {
    let mut pool = Taker::list(job.pid);
    let (id, mess) = match pool.take(|ino| Queue::rel("mess", ino), false) {
        Take::Got(id, f) => {
            let mess = Queue::rel("mess", id);
            made.mess = Some((mess.clone(), f));
            (id, mess)
        }
        _ => new_mess(job, made)?,
    };

    let mut buf = vec![0u8; BUF];
    let received = received_line(job.pid, job.caller, job.start);
    let Some((_, messf)) = made.mess.as_ref() else {
        return Err(code::BUG); // set just above
    };
    let size = copy_message(received.as_bytes(), message, messf, &mut buf)?;
    messf.sync_all().map_err(|_| code::WRITE)?;
    fsutil::fsync_parent(Path::new(&mess)).map_err(|_| code::WRITE)?;
    let intd = Queue::rel("intd", id);
    write_envelope(
        job,
        envelope,
        (&mess, size),
        (&intd, &mut made.intd),
        &mut pool,
        &mut buf,
    )?;

    let todo = Queue::rel("todo", id);
    fs::hard_link(&intd, &todo).map_err(|_| code::TODO)?;
    made.todo = Some(todo.clone());
    fsutil::fsync_parent(Path::new(&todo)).map_err(|_| code::WRITE)?;
    made.todo = None;
    made.intd = None;
    made.mess = None;
    pull_trigger();
    Ok(())
}

/// A new `mess` file the way qmail makes it: a `pid/` file, linked to
/// `mess/D/<inode>`, the `pid/` name removed.
fn new_mess(job: &Job, made: &mut Made) -> Result<(u64, String), Fail> {
    let (pidfn, pidf) = pid_open(job)?;
    let linked = match pidf.metadata() {
        Ok(m) => {
            let mess = Queue::rel("mess", m.ino());
            fs::hard_link(&pidfn, &mess)
                .map(|_| (m.ino(), mess))
                .map_err(|_| code::MESS)
        }
        Err(_) => Err(code::PID),
    };
    let (id, mess) = linked.inspect_err(|_| {
        let _ = fs::remove_file(&pidfn);
    })?;
    made.mess = Some((mess.clone(), pidf));
    fs::remove_file(&pidfn).map_err(|_| code::PID)?;
    Ok((id, mess))
}

/// Creates `intd` (or takes it from the pool; kept in `slot` for the
/// cleanup), writes `u`, `p` and the validated envelope, runs the scanner
/// on `mess` (path, size), fsyncs.
fn write_envelope(
    job: &Job,
    envelope: &File,
    mess: (&str, u64),
    (intd, slot): (&str, &mut Option<(String, File)>),
    pool: &mut Taker,
    buf: &mut [u8],
) -> Result<(), Fail> {
    let intdf = match pool.take(|_| intd.to_string(), true) {
        Take::Got(_, f) => f,
        Take::Exists => return Err(code::INTD),
        Take::Empty => fsutil::create_new(Path::new(intd), 0o644).map_err(|_| code::INTD)?,
    };
    let intdf = &slot.insert((intd.to_string(), intdf)).1;
    let (inbuf, outbuf) = buf.split_at_mut(BUF / 2);
    let mut out = Out {
        file: intdf,
        buf: outbuf,
        len: 0,
    };
    let header = format!("u{}\0p{}\0", job.uid, job.pid);
    out.put(header.as_bytes())?;
    let mut input = In {
        file: envelope,
        buf: inbuf,
        pos: 0,
        end: 0,
    };
    let scan = copy_envelope(&mut input, &mut out)?;
    if let (true, Some(s)) = (scan, &job.scanner) {
        s.scan(mess.0, mess.1)?;
    }
    out.flush()?;
    intdf.sync_all().map_err(|_| code::WRITE)
}

/// `pid/<pid>.<starttime>.<seq>`, seq 1..9, created exclusively.
fn pid_open(job: &Job) -> Result<(String, File), Fail> {
    for seq in 1..10 {
        let name = format!("pid/{}.{}.{seq}", job.pid, job.start);
        if let Ok(f) = fsutil::create_new(Path::new(&name), 0o644) {
            return Ok((name, f));
        }
    }
    Err(code::PID)
}

/// Writes `received` and then all of `message` to `out`: from a pipe (the
/// usual case) the kernel moves the body into the file with `splice`,
/// otherwise it goes through `buf`. Returns the bytes written.
fn copy_message(received: &[u8], message: &File, out: &File, buf: &mut [u8]) -> Result<u64, Fail> {
    let mut w = out;
    w.write_all(received).map_err(|_| code::WRITE)?;
    let head = received.len() as u64;
    match sys::splice_all(message, out) {
        Ok(n) => return Ok(head + n),
        Err(e) if e.kind() == io::ErrorKind::Unsupported => {}
        Err(e) => {
            return Err(match e.raw_os_error() {
                Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG | libc::EIO) => code::WRITE,
                _ => code::READ,
            });
        }
    }
    let mut len = 0;
    let mut total = head;
    let mut message = message;
    loop {
        if len == buf.len() {
            w.write_all(buf).map_err(|_| code::WRITE)?;
            total += len as u64;
            len = 0;
        }
        match message.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(code::READ),
        }
    }
    w.write_all(&buf[..len]).map_err(|_| code::WRITE)?;
    Ok(total + len as u64)
}

/// Buffered envelope input.
struct In<'a, R> {
    file: R,
    buf: &'a mut [u8],
    pos: usize,
    end: usize,
}

impl<R: Read> In<'_, R> {
    /// Makes at least one byte available; EOF or an error is 54.
    fn fill(&mut self) -> Result<(), Fail> {
        while self.pos == self.end {
            match self.file.read(self.buf) {
                Ok(0) => return Err(code::READ),
                Ok(n) => (self.pos, self.end) = (0, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(code::READ),
            }
        }
        Ok(())
    }

    fn byte(&mut self) -> Result<u8, Fail> {
        self.fill()?;
        self.pos += 1;
        Ok(self.buf[self.pos - 1])
    }

    /// Copies one address and its NUL to `out`: at most `ADDR` bytes
    /// including the NUL, else 11.
    fn address(&mut self, out: &mut Out<impl Write>) -> Result<(), Fail> {
        let mut len = 0;
        loop {
            self.fill()?;
            let avail = &self.buf[self.pos..self.end];
            if let Some(i) = bytescan::find(0, avail) {
                if len + i >= ADDR {
                    return Err(code::ADDRESS_TOO_LONG);
                }
                out.put(&avail[..=i])?;
                self.pos += i + 1;
                return Ok(());
            }
            len += avail.len();
            if len >= ADDR {
                return Err(code::ADDRESS_TOO_LONG);
            }
            out.put(avail)?;
            self.pos = self.end;
        }
    }
}

/// Buffered output to the `intd` file.
struct Out<'a, W> {
    file: W,
    buf: &'a mut [u8],
    len: usize,
}

impl<W: Write> Out<'_, W> {
    fn put(&mut self, mut data: &[u8]) -> Result<(), Fail> {
        while !data.is_empty() {
            if self.len == self.buf.len() {
                self.flush()?;
            }
            let n = data.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&data[..n]);
            self.len += n;
            data = &data[n..];
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Fail> {
        self.file
            .write_all(&self.buf[..self.len])
            .map_err(|_| code::WRITE)?;
        self.len = 0;
        Ok(())
    }
}

/// Validates and copies the envelope (qmail-queue(8)). Returns whether the
/// scanner may run: false when the envelope ended with `Q`.
fn copy_envelope(input: &mut In<impl Read>, out: &mut Out<impl Write>) -> Result<bool, Fail> {
    if input.byte()? != b'F' {
        return Err(code::ENVELOPE);
    }
    out.put(b"F")?;
    input.address(out)?;
    out.put(QUEUE_EXTRA)?;
    loop {
        match input.byte()? {
            0 => return Ok(true),
            b'Q' => return Ok(false),
            b'T' => {
                out.put(b"T")?;
                input.address(out)?;
            }
            _ => return Err(code::ENVELOPE),
        }
    }
}

/// The envelope check alone, from any reader to any writer through the
/// two given buffers (neither may be empty): what `copy_envelope` keeps
/// is written and flushed. For the unit tests and the fuzz targets.
pub fn check_envelope(
    input: impl Read,
    output: impl Write,
    inbuf: &mut [u8],
    outbuf: &mut [u8],
) -> Result<bool, Fail> {
    let mut i = In {
        file: input,
        buf: inbuf,
        pos: 0,
        end: 0,
    };
    let mut o = Out {
        file: output,
        buf: outbuf,
        len: 0,
    };
    copy_envelope(&mut i, &mut o).and_then(|s| o.flush().map(|()| s))
}

/// Wakes qmail-send: one byte into `lock/trigger`, failures ignored (no
/// reader just means nobody is waiting).
fn pull_trigger() {
    if let Ok(mut f) = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("lock/trigger")
    {
        let _ = f.write(&[0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_formats() {
        // 2024-01-03 09:05:07 UTC
        let t = 1704272707;
        assert_eq!(
            received_line(4711, Caller::Uid(1000), t),
            "Received: (qmail 4711 invoked by uid 1000); 3 Jan 2024 09:05:07 -0000\n"
        );
        assert_eq!(
            received_line(1, Caller::Network, t),
            "Received: (qmail 1 invoked from network); 3 Jan 2024 09:05:07 -0000\n"
        );
        assert_eq!(
            received_line(1, Caller::Alias, t),
            "Received: (qmail 1 invoked by alias); 3 Jan 2024 09:05:07 -0000\n"
        );
        assert_eq!(
            received_line(1, Caller::Bounce, t),
            "Received: (qmail 1 invoked for bounce); 3 Jan 2024 09:05:07 -0000\n"
        );
    }

    #[test]
    fn caller_by_uid() {
        let s = SystemIds {
            alias: Some(7790),
            qmaild: Some(7791),
            qmails: Some(7796),
        };
        assert_eq!(Caller::of(7790, Some(&s)), Caller::Alias);
        assert_eq!(Caller::of(7791, Some(&s)), Caller::Network);
        assert_eq!(Caller::of(7796, Some(&s)), Caller::Bounce);
        assert_eq!(Caller::of(7791, None), Caller::Uid(7791));
        assert_eq!(Caller::of(5, Some(&s)), Caller::Uid(5));
    }

    #[test]
    fn scanner_env() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                vars.iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Scanner::from_env(env(&[])), None);
        assert_eq!(Scanner::from_env(env(&[("QHPSI", "")])), None);
        let s = Scanner::from_env(env(&[
            ("QHPSI", "clamdscan"),
            ("QHPSIARG1", "--quiet"),
            ("QHPSIARG3", "ignored: no ARG2"),
            ("QHPSIRC", "7"),
            ("QHPSIMAXSIZE", "1000x"),
        ]))
        .unwrap();
        assert_eq!(s.program, "clamdscan");
        assert_eq!(s.args, vec!["--quiet".to_string()]);
        assert_eq!((s.infected, s.min_size, s.max_size), (7, 0, 1000));
    }

    fn envelope(data: &[u8]) -> Result<(Vec<u8>, bool), Fail> {
        let mut written = Vec::new();
        let r = check_envelope(data, &mut written, &mut [0; 16], &mut [0; 16]);
        r.map(|s| (written, s))
    }

    #[test]
    fn envelope_grammar() {
        assert_eq!(
            envelope(b"Fa@b\0Tc@d\0Te@f\0\0junk"),
            Ok((b"Fa@b\0Tc@d\0Te@f\0".to_vec(), true))
        );
        assert_eq!(envelope(b"F\0\0"), Ok((b"F\0".to_vec(), true)));
        assert_eq!(envelope(b"Fa\0Tb\0Q"), Ok((b"Fa\0Tb\0".to_vec(), false)));
        assert_eq!(envelope(b"Xa\0\0"), Err(code::ENVELOPE));
        assert_eq!(envelope(b"Fa\0Xb\0\0"), Err(code::ENVELOPE));
        assert_eq!(envelope(b"Fa\0Tb\0"), Err(code::READ));
        assert_eq!(envelope(b"Fa\0Tb"), Err(code::READ));
        assert_eq!(envelope(b""), Err(code::READ));
    }

    #[test]
    fn address_limit() {
        let mut ok = b"F".to_vec();
        ok.extend(vec![b'a'; MAX_ADDRESS]);
        ok.extend(b"\0\0");
        assert!(envelope(&ok).is_ok());
        let mut long = b"FX\0T".to_vec();
        long.extend(vec![b'a'; MAX_ADDRESS + 1]);
        long.extend(b"\0\0");
        assert_eq!(envelope(&long), Err(code::ADDRESS_TOO_LONG));
        let mut eof = b"F".to_vec();
        eof.extend(vec![b'a'; MAX_ADDRESS]);
        assert_eq!(envelope(&eof), Err(code::READ));
    }
}
