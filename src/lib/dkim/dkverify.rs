//! qmail-dkverify (see qmail-dkverify(8)): a `QMAILQUEUE` front for
//! qmail-queue. It reads the message once, hashing the body for every
//! signature as it arrives, then starts qmail-queue with the result field
//! in front of the unchanged message; the envelope on descriptor 1 goes
//! to qmail-queue untouched. The message is held in memory up to
//! `MEM_LIMIT`, beyond that in an unlinked file under `$TMPDIR`.

use std::fs::File;
use std::io::{self, IoSlice, Read, Seek, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::authres::{self, Spf};
use super::header;
use super::verify::{KeyLookup, Outcome, SigResult, Verifier};
use crate::dns::DnsError;
use crate::queue::exitcode::code;

/// Bytes kept in memory before the message goes to a file.
const MEM_LIMIT: usize = 1 << 20;
/// A header longer than this is not verified (the message still passes).
const HEAD_LIMIT: usize = 1 << 20;
/// Bytes read at a time at first: a 1 KiB message comes in one piece,
/// into a buffer too small for the allocator to map and unmap it.
const READ_SIZE: usize = 16 * 1024;

/// Where the message waits for qmail-queue.
enum Stage {
    Mem(Vec<u8>),
    File(File),
}

impl Stage {
    /// Writes what is held from byte `from` on.
    fn copy_from(self, from: usize, out: &mut impl Write) -> io::Result<()> {
        match self {
            Stage::Mem(m) => out.write_all(m.get(from..).unwrap_or_default()),
            Stage::File(mut f) => {
                f.seek(io::SeekFrom::Start(from as u64))?;
                io::copy(&mut f, out).map(drop)
            }
        }
    }
}

/// What to do with a message whose signatures failed (`$DKIM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Annotate only (the default).
    Annotate,
    /// `DKIM=+`: refuse a message none of whose signatures passed and one
    /// of which failed (not for temperror, nor for an unsigned message).
    RejectFail,
}

impl Policy {
    pub fn from_env(v: Option<&str>) -> Policy {
        match v {
            Some(s) if s.starts_with('+') => Policy::RejectFail,
            _ => Policy::Annotate,
        }
    }

    pub fn rejects(self, results: &[SigResult]) -> bool {
        self == Policy::RejectFail
            && !results.iter().any(|r| r.outcome == Outcome::Pass)
            && results
                .iter()
                .any(|r| matches!(r.outcome, Outcome::Fail(_)))
    }
}

/// What reading gave: the message held, its verifier, and its header
/// (with the empty line) when it was short enough to keep.
type Read3 = (Stage, Option<Verifier>, Option<Vec<u8>>);

/// Reads `size` bytes onto the end of `buf` (into its spare room, which
/// is never zeroed first), fewer only at the end of the input; the bytes
/// read.
fn read_into(input: &mut impl Read, buf: &mut Vec<u8>, size: usize) -> io::Result<usize> {
    buf.reserve(size);
    input.by_ref().take(size as u64).read_to_end(buf)
}

/// The header while it arrives, then the verifier fed the body.
struct Scan {
    now: u64,
    head: Vec<u8>,
    verifier: Option<Verifier>,
    too_long: bool,
    kept: Option<Vec<u8>>,
}

impl Scan {
    fn feed(&mut self, piece: &[u8]) {
        if let Some(v) = &mut self.verifier {
            v.update(piece);
            return;
        }
        if self.too_long {
            return;
        }
        // Still in the header: look for its end across piece borders.
        let old = self.head.len();
        self.head.extend_from_slice(piece);
        if let Some(b) = header::body_start_from(&self.head, old.saturating_sub(2)) {
            let (h, _) = header::split(&self.head[..b]);
            let mut v = Verifier::new(h.to_vec(), self.now);
            v.update(&self.head[b..]);
            self.verifier = Some(v);
            self.head.truncate(b);
            self.kept = Some(std::mem::take(&mut self.head));
        } else if self.head.len() > HEAD_LIMIT {
            self.too_long = true;
            self.head = Vec::new();
        }
    }

    fn finish(mut self) -> (Option<Verifier>, Option<Vec<u8>>) {
        if self.verifier.is_none() && !self.too_long {
            self.verifier = Some(Verifier::new(self.head.clone(), self.now));
            self.kept = Some(self.head);
        }
        (self.verifier, self.kept)
    }
}

/// Reads the message from `input`, verifying as it goes. In memory the
/// message is read straight into the buffer that holds it.
fn read_message(input: &mut impl Read, now: u64) -> io::Result<Read3> {
    let mut scan = Scan {
        now,
        head: Vec::new(),
        verifier: None,
        too_long: false,
        kept: None,
    };
    let mut mem = Vec::new();
    let mut file: Option<File> = None;
    let mut buf = Vec::new();
    // A read ends short of its size only at the end of the message.
    let mut more = true;
    while more {
        match &mut file {
            None => {
                let old = mem.len();
                // Pieces grow with the message, as the buffer does.
                let size = old.clamp(READ_SIZE, 4 * READ_SIZE);
                more = read_into(input, &mut mem, size)? == size;
                scan.feed(&mem[old..]);
                if mem.len() > MEM_LIMIT {
                    let mut f = super::tempfile()?;
                    f.write_all(&mem)?;
                    file = Some(f);
                    mem = Vec::new();
                }
            }
            Some(f) => {
                buf.clear();
                more = read_into(input, &mut buf, 4 * READ_SIZE)? == 4 * READ_SIZE;
                f.write_all(&buf)?;
                scan.feed(&buf);
            }
        }
    }
    let stage = match file {
        Some(f) => Stage::File(f),
        None => Stage::Mem(mem),
    };
    let (verifier, kept) = scan.finish();
    Ok((stage, verifier, kept))
}

/// TXT lookups: the names known ahead asked together (one socket, one
/// round trip), their answers kept; any other name asked when needed.
struct Asked {
    dns: crate::dns::Resolver,
    answers: Vec<(String, Answer)>,
}

/// A name's TXT records, or why there are none.
type Answer = Result<Vec<Vec<u8>>, DnsError>;

impl Asked {
    fn new(dns: crate::dns::Resolver, names: Vec<String>) -> Asked {
        let answers = match names.len() {
            0 | 1 => Vec::new(),
            _ => {
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let got = dns.txt_many(&refs);
                names.into_iter().zip(got).collect()
            }
        };
        Asked { dns, answers }
    }
}

impl KeyLookup for Asked {
    fn txt(&mut self, name: &str) -> Answer {
        match self.answers.iter().find(|(n, _)| n == name) {
            Some((_, a)) => a.clone(),
            None => self.dns.txt(name),
        }
    }
}

/// The program's work; returns the exit code (qmail-queue's codes).
pub fn run(input: &mut impl Read, home: &Path, dkim: Option<&str>) -> i32 {
    let now = crate::date::now_secs().max(0) as u64;
    let (stage, verifier, head) = match read_message(input, now) {
        Ok(x) => x,
        Err(_) => return code::READ,
    };
    let var = |n| std::env::var(n).ok();
    let dmarc_mode = authres::DmarcMode::from_env(var("DMARC").as_deref());
    // Every key and the From domain's policy asked for at once.
    let mut first: Vec<String> = verifier.as_ref().map_or_else(Vec::new, Verifier::key_names);
    if dmarc_mode != authres::DmarcMode::Off {
        first.extend(head.as_deref().and_then(authres::dmarc_first_name));
    }
    let mut dns = Asked::new(crate::dns::Resolver::new(), first);
    let results = match verifier {
        Some(v) => v.finish(&mut dns),
        None => vec![SigResult {
            domain: String::new(),
            selector: String::new(),
            algorithm: None,
            outcome: Outcome::PermError("header too long, not verified".into()),
            testing: false,
        }],
    };
    if Policy::from_env(dkim).rejects(&results) {
        return code::REFUSED_FOR_GOOD;
    }
    let spf = Spf::from_env(
        var("SPFRESULT").as_deref(),
        var("SPFDOMAIN").as_deref(),
        var("MAILFROM").as_deref(),
    );
    let dmarc = (dmarc_mode != authres::DmarcMode::Off)
        .then(|| authres::dmarc(head.as_deref(), spf.as_ref(), &results, &mut |n| dns.txt(n)));
    // A client allowed to relay (RELAYCLIENT from the rules, AUTHUSER
    // after AUTH) sends our users' mail, signed only on its way out.
    let relay = var("RELAYCLIENT").is_some() || var("AUTHUSER").is_some_and(|u| !u.is_empty());
    if dmarc_mode == authres::DmarcMode::Reject
        && !relay
        && dmarc.as_ref().is_some_and(|d| d.asks_reject())
    {
        return code::REFUSED_FOR_GOOD;
    }
    let control = crate::control::Control::new(home);
    let me = control
        .line("me")
        .ok()
        .flatten()
        .unwrap_or_else(|| "localhost".into());
    let field = authres::field(&me, spf.as_ref(), &results, dmarc.as_ref());
    let queue = match std::env::var_os("DKIMQUEUE").filter(|q| !q.is_empty()) {
        Some(q) => home.join(q),
        None => home.join("bin/qmail-queue"),
    };
    // A message held in memory goes to qmail-queue in this process's place:
    // written once into an anonymous memory file that becomes its
    // descriptor 0, with descriptor 1 (the envelope) untouched. One fork,
    // one pipe and one wait less per message than the spawn below.
    if let Stage::Mem(msg) = &stage {
        return match in_memory(&field, head.as_deref(), &me, msg) {
            Ok(file) => {
                // exec returns only when it failed.
                let _ = Command::new(&queue)
                    .env_remove("QMAILQUEUE")
                    .stdin(Stdio::from(file))
                    .exec();
                code::NO_EXEC
            }
            Err(_) => code::WRITE,
        };
    }
    // Descriptor 1 (the envelope) is inherited: qmail-queue reads it.
    let mut child = match Command::new(&queue)
        .env_remove("QMAILQUEUE")
        .stdin(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(_) => return code::NO_EXEC,
    };
    let Some(pipe) = child.stdin.take() else {
        let _ = child.kill();
        return code::BUG;
    };
    let mut pipe = io::BufWriter::with_capacity(65536, pipe);
    let wrote = pipe
        .write_all(field.as_bytes())
        .and_then(|()| match &head {
            Some(h) => {
                pipe.write_all(&authres::without_forged_results(h, &me))?;
                stage.copy_from(h.len(), &mut pipe)
            }
            None => stage.copy_from(0, &mut pipe),
        })
        .and_then(|()| pipe.flush());
    // Closing the pipe tells qmail-queue the message is whole: after a
    // failed write (a staged file that would not read back) it must die
    // first, or it would queue the part it got.
    if wrote.is_err() {
        let _ = child.kill();
    }
    drop(pipe);
    let status = child.wait();
    match (wrote, status) {
        (_, Ok(s)) if s.code().is_some_and(|c| c != 0) => s.code().unwrap_or(code::BUG),
        (Ok(()), Ok(s)) if s.success() => 0,
        (Err(_), _) => code::WRITE,
        _ => code::BUG,
    }
}

/// The message as qmail-queue gets it (the result field, the header
/// without forged results, the body), in a memory file at offset 0:
/// written in one call from where the parts are, with no buffer between.
fn in_memory(field: &str, head: Option<&[u8]>, me: &str, msg: &[u8]) -> io::Result<File> {
    let mut file = crate::sys::memfd(c"qmail-dkverify")?;
    let (head, body) = match head {
        Some(h) => (
            authres::without_forged_results(h, me),
            msg.get(h.len()..).unwrap_or_default(),
        ),
        None => (Vec::new(), msg),
    };
    let mut parts = [
        IoSlice::new(field.as_bytes()),
        IoSlice::new(&head),
        IoSlice::new(body),
    ];
    let mut left = &mut parts[..];
    while !left.is_empty() {
        match file.write_vectored(left) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut left, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    file.seek(io::SeekFrom::Start(0))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::authres::result;
    use super::*;

    #[test]
    fn policy() {
        let fail = result(Outcome::Fail("x".into()));
        let temp = result(Outcome::TempError("x".into()));
        let rej = Policy::from_env(Some("+"));
        assert!(rej.rejects(std::slice::from_ref(&fail)));
        assert!(!rej.rejects(&[fail.clone(), result(Outcome::Pass)]));
        assert!(!rej.rejects(&[temp]) && !rej.rejects(&[]));
        assert!(!Policy::from_env(None).rejects(std::slice::from_ref(&fail)));
        assert!(!Policy::from_env(Some("")).rejects(std::slice::from_ref(&fail)));
    }

    #[test]
    fn staging_spills_to_a_file_and_keeps_every_byte() {
        let msg: Vec<u8> = [&b"From: a@b\n\n"[..], &vec![b'y'; MEM_LIMIT * 2 + 7]].concat();
        let (stage, v, head) = read_message(&mut &msg[..], 0).unwrap();
        assert!(matches!(stage, Stage::File(_)));
        assert!(v.is_some_and(|v| !v.signed()));
        assert_eq!(head.as_deref(), Some(&b"From: a@b\n\n"[..]));
        let mut out = Vec::new();
        stage.copy_from(0, &mut out).unwrap();
        assert_eq!(out, msg);
        // A header without end past the limit is passed, not verified.
        let head = vec![b'h'; HEAD_LIMIT + 70_000];
        let (stage, v, kept) = read_message(&mut &head[..], 0).unwrap();
        assert!(v.is_none() && kept.is_none());
        let mut out = Vec::new();
        stage.copy_from(0, &mut out).unwrap();
        assert_eq!(out.len(), head.len());
    }
}
