//! qmail-inject's logic (qmail-inject(8), qmail-header(5)): the sender and
//! identity from the environment, header fields rewritten as they are read,
//! the fields to add, the envelope. The program (src/bin/qmail-inject.rs)
//! only wires stdin, the options and the output together.
//!
//! The header is held in memory (it must be complete before the added
//! fields can be decided); the body is streamed by `copy_body`.

pub mod header;
pub mod rewrite;

use std::ffi::OsString;
use std::io::{self, BufRead};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::address::{self, Kind, Token};
use crate::control::{self, ConstMap};
use crate::date::Utc;
use crate::envelope::Envelope;
use crate::exit::Die;
use header::Field;
pub use rewrite::Rewriter;
use rewrite::unparsable;

/// Rewritten fields are folded at this width.
const WIDTH: usize = 80;

/// Bounds that keep a hostile message's memory in check (qmail-inject(8)):
/// one header field with its continuation lines, the whole header, and
/// recipients from the arguments and the header together.
pub const MAX_FIELD: usize = 1 << 20;
pub const MAX_HEADER: usize = 16 << 20;
pub const MAX_RECIPIENTS: usize = 100_000;

/// An envelope address from the command line never holds CR or LF: it
/// would end up as a line of its own in Return-Path or a delivery's header.
fn no_line_break(arg: &[u8]) -> Result<(), Die> {
    match crate::bytescan::find2(b'\r', b'\n', arg) {
        Some(_) => Err(Die::perm(format!(
            "address with a line break: {}",
            crate::printable::text(arg, crate::printable::ascii)
        ))),
        None => Ok(()),
    }
}

fn too_many_recipients() -> Die {
    Die::perm(format!("too many recipients (more than {MAX_RECIPIENTS})"))
}

fn header_too_long(what: &str) -> Die {
    Die::perm(format!("{what} too long"))
}

/// The `QMAILINJECT` letters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// `c`: default From as `user@host (Name)`.
    pub name_comment: bool,
    /// `s`: drop Return-Path fields; never take the sender from them.
    pub delete_sender: bool,
    /// `f`: drop From fields (a default one is added).
    pub delete_from: bool,
    /// `i`: drop Message-ID fields (a new one is added).
    pub delete_message_id: bool,
    /// `r`: per-recipient VERP sender.
    pub verp_recipient: bool,
    /// `m`: per-message VERP sender.
    pub verp_message: bool,
}

impl Flags {
    pub fn parse(letters: &[u8]) -> Flags {
        let mut f = Flags::default();
        for c in letters {
            match c {
                b'c' => f.name_comment = true,
                b's' => f.delete_sender = true,
                b'f' => f.delete_from = true,
                b'i' => f.delete_message_id = true,
                b'r' => f.verp_recipient = true,
                b'm' => f.verp_message = true,
                _ => {}
            }
        }
        f
    }
}

/// Who is sending, from the environment (qmail-inject(8)).
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub flags: Flags,
    /// User for the default From.
    pub user: Vec<u8>,
    /// Host for the default From; none: the rewriting adds defaulthost.
    pub host: Option<Vec<u8>>,
    /// User part of the default envelope sender.
    pub sender_user: Vec<u8>,
    /// Host part of the default envelope sender.
    pub sender_host: Option<Vec<u8>>,
    /// Personal name for the default From.
    pub name: Option<Vec<u8>>,
    /// QMAILMFTFILE.
    pub mft_file: Option<PathBuf>,
}

fn env(name: &str) -> Option<Vec<u8>> {
    std::env::var_os(name).map(OsString::into_vec)
}

fn first_env(names: &[&str]) -> Option<Vec<u8>> {
    names.iter().find_map(|n| env(n))
}

impl Identity {
    pub fn from_env() -> Identity {
        let user = first_env(&["QMAILUSER", "MAILUSER", "USER", "LOGNAME"])
            .unwrap_or_else(|| b"anonymous".to_vec());
        let host = first_env(&["QMAILHOST", "MAILHOST"]);
        Identity {
            flags: Flags::parse(&env("QMAILINJECT").unwrap_or_default()),
            sender_user: env("QMAILSUSER").unwrap_or_else(|| user.clone()),
            sender_host: env("QMAILSHOST").or_else(|| host.clone()),
            name: first_env(&["QMAILNAME", "MAILNAME", "NAME"]),
            mft_file: std::env::var_os("QMAILMFTFILE").map(PathBuf::from),
            user,
            host,
        }
    }
}

/// What a rewritten address is collected for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// To, Cc: header recipient, remembered for Mail-Followup-To.
    ToCc,
    /// Bcc, Apparently-To.
    Recipient,
    /// Resent-To, Resent-Cc, Resent-Bcc.
    ResentRecipient,
    /// Return-Path: may become the envelope sender.
    ReturnPath,
    /// Rewritten only.
    Plain,
}

fn role(f: Field) -> Option<Role> {
    use Field::*;
    Some(match f {
        To | Cc => Role::ToCc,
        Bcc | ApparentlyTo => Role::Recipient,
        ResentTo | ResentCc | ResentBcc => Role::ResentRecipient,
        ReturnPath => Role::ReturnPath,
        Sender | From | ReplyTo | ReturnReceiptTo | ErrorsTo | ResentSender | ResentFrom
        | ResentReplyTo => Role::Plain,
        _ => return None,
    })
}

/// The fields whose presence makes a message "resent".
const RESENT: [Field; 8] = [
    Field::ResentSender,
    Field::ResentFrom,
    Field::ResentReplyTo,
    Field::ResentTo,
    Field::ResentCc,
    Field::ResentBcc,
    Field::ResentDate,
    Field::ResentMessageId,
];

/// The addresses collected while reading the header.
#[derive(Debug, Default)]
struct Lists {
    /// From the command line.
    args: Vec<Vec<u8>>,
    /// To, Cc, Bcc, Apparently-To.
    header: Vec<Vec<u8>>,
    /// To, Cc (for Mail-Followup-To).
    to_cc: Vec<Vec<u8>>,
    /// Resent-To, Resent-Cc, Resent-Bcc.
    resent: Vec<Vec<u8>>,
    /// Recipients collected so far, in every list.
    count: usize,
}

impl Lists {
    fn one_more(&mut self) -> Result<(), Die> {
        self.count += 1;
        match self.count > MAX_RECIPIENTS {
            true => Err(too_many_recipients()),
            false => Ok(()),
        }
    }
}

/// One message being injected.
pub struct Inject {
    id: Identity,
    rw: Rewriter,
    start: i64,
    pid: u32,
    sender: Option<Vec<u8>>,
    seen: [bool; header::COUNT],
    saved: Vec<u8>,
    lists: Lists,
}

impl Inject {
    /// `start` (seconds since the epoch) and `pid` go into the added Date
    /// and Message-ID fields and the `m` VERP sender.
    pub fn new(home: &Path, id: Identity, start: i64, pid: u32) -> Inject {
        Inject {
            id,
            rw: Rewriter::new(home),
            start,
            pid,
            sender: None,
            seen: [false; header::COUNT],
            saved: Vec::new(),
            lists: Lists::default(),
        }
    }

    /// `-f sender`: rewritten, and it beats every other source.
    pub fn set_sender(&mut self, arg: &[u8]) -> Result<(), Die> {
        no_line_break(arg)?;
        let text = address::quote2(arg);
        let mut t = address::parse(&text).ok_or_else(|| unparsable(&text))?;
        self.rw.rewrite(&mut t)?;
        self.sender = Some(address::unquote(&t));
        Ok(())
    }

    /// A recipient from the command line.
    pub fn add_recipient(&mut self, arg: &[u8]) -> Result<(), Die> {
        no_line_break(arg)?;
        let text = address::quote2(arg);
        let mut t = address::parse(&text).ok_or_else(|| {
            Die::perm(format!(
                "unable to parse address: {}",
                String::from_utf8_lossy(arg)
            ))
        })?;
        self.rw.rewrite(&mut t)?;
        self.lists.one_more()?;
        self.lists.args.push(address::unquote(&t));
        Ok(())
    }

    /// True once a Resent- field was seen.
    pub fn resent(&self) -> bool {
        RESENT.iter().any(|&f| self.seen[f as usize])
    }

    /// The envelope sender so far (after `finish_header`: the final one).
    pub fn sender(&self) -> Option<&[u8]> {
        self.sender.as_deref()
    }

    /// One complete header field (continuation lines included, ending in
    /// `\n`): rewritten, recorded, and kept for output unless it is one of
    /// the fields that are always removed.
    pub fn field(&mut self, mut line: Vec<u8>) -> Result<(), Die> {
        let known = header::known(&line);
        let flags = self.id.flags;
        match known {
            Some(Field::From) if flags.delete_from => return Ok(()),
            Some(Field::MessageId) if flags.delete_message_id => return Ok(()),
            Some(Field::ReturnPath) if flags.delete_sender => return Ok(()),
            Some(f) => self.seen[f as usize] = true,
            None if !header::valid(&line) => {
                let l = line.strip_suffix(b"\n").unwrap_or(&line);
                return Err(Die::perm(format!(
                    "invalid header field: {}",
                    String::from_utf8_lossy(l)
                )));
            }
            None => {}
        }
        if let Some(role) = known.and_then(role) {
            line = self.rewrite_field(&line, role)?;
        }
        match known {
            Some(Field::Bcc | Field::ResentBcc | Field::ReturnPath | Field::ContentLength) => {}
            _ => self.saved.extend_from_slice(&line),
        }
        if self.saved.len() > MAX_HEADER {
            return Err(header_too_long("header"));
        }
        Ok(())
    }

    /// Rewrites every address of a field and collects them for `role`.
    fn rewrite_field(&mut self, line: &[u8], role: Role) -> Result<Vec<u8>, Die> {
        let tokens = address::parse(line).ok_or_else(|| unparsable(line))?;
        let (rw, lists, sender) = (&mut self.rw, &mut self.lists, &mut self.sender);
        let verp = self.id.flags.verp_recipient;
        let out = address::addrlist(tokens, |a| {
            rw.rewrite(a)?;
            let plain = || address::unquote(a);
            if matches!(role, Role::ToCc | Role::Recipient | Role::ResentRecipient) {
                lists.one_more()?;
            }
            match role {
                Role::ToCc => {
                    lists.header.push(plain());
                    lists.to_cc.push(plain());
                }
                Role::Recipient => lists.header.push(plain()),
                Role::ResentRecipient => lists.resent.push(plain()),
                Role::ReturnPath => set_return(sender, plain(), verp),
                Role::Plain => {}
            }
            Ok(())
        })?
        .ok_or_else(|| unparsable(line))?;
        Ok(address::unparse(&out, WIDTH))
    }

    /// Builds `tokens` into a field, then reads it back as if it had come
    /// in the header: what the default From and Return-Path go through.
    fn synthesize(&mut self, tokens: &[Token], role: Role) -> Result<Vec<u8>, Die> {
        let text = address::unparse(tokens, WIDTH);
        self.rewrite_field(&text, role)
    }

    /// The default From field, `From: ...\n`.
    fn default_from(&mut self) -> Result<Vec<u8>, Die> {
        let mut t = vec![Token::word(Kind::Atom, "From"), Token::punct(Kind::Colon)];
        let name = self.id.name.clone();
        let comment = self.id.flags.name_comment;
        if let (Some(n), false) = (&name, comment) {
            t.push(Token::word(Kind::Quote, n.clone()));
            t.push(Token::punct(Kind::Left));
        }
        let user_kind = if address::quote_need(&self.id.user) {
            Kind::Quote
        } else {
            Kind::Atom
        };
        t.push(Token::word(user_kind, self.id.user.clone()));
        if let Some(h) = &self.id.host {
            t.push(Token::punct(Kind::At));
            t.push(Token::word(Kind::Atom, h.clone()));
        }
        match (name, comment) {
            (Some(_), false) => t.push(Token::punct(Kind::Right)),
            (Some(n), true) => t.push(Token::word(Kind::Comment, n)),
            (None, _) => {}
        }
        self.synthesize(&t, Role::Plain)
    }

    /// Sets the envelope sender from the environment when nothing else did.
    fn default_sender(&mut self) -> Result<(), Die> {
        let mut user = self.id.sender_user.clone();
        if self.id.flags.verp_message {
            user.extend(format!("-{}.{}", self.start, self.pid).bytes());
        }
        if self.id.flags.verp_recipient {
            user.push(b'-');
        }
        let mut t = vec![
            Token::word(Kind::Atom, "Return-Path"),
            Token::punct(Kind::Colon),
            Token::word(Kind::Quote, user),
        ];
        if let Some(h) = &self.id.sender_host {
            t.push(Token::punct(Kind::At));
            t.push(Token::word(Kind::Atom, h.clone()));
        }
        self.synthesize(&t, Role::ReturnPath)?;
        Ok(())
    }

    /// After the last header field: settles the sender and returns the
    /// header to emit: with `print_return_path` a `Return-Path:` line (for
    /// `-n`), the added fields, then the kept original fields.
    pub fn finish_header(&mut self, print_return_path: bool) -> Result<Vec<u8>, Die> {
        if self.sender.is_none() {
            self.default_sender()?;
        }
        let mut out = Vec::with_capacity(self.saved.len() + 256);
        if print_return_path {
            out.extend_from_slice(b"Return-Path: <");
            out.extend(address::quote2(self.sender.as_deref().unwrap_or_default()));
            out.extend_from_slice(b">\n");
        }
        let resent = self.resent();
        let prefix: &[u8] = if resent { b"Resent-" } else { b"" };
        let pick = |plain: Field, re: Field| if resent { re } else { plain };
        if !self.seen[pick(Field::Date, Field::ResentDate) as usize] {
            out.extend_from_slice(prefix);
            out.extend(format!("Date: {}\n", Utc::from_unix(self.start).received()).bytes());
        }
        if !self.seen[pick(Field::MessageId, Field::ResentMessageId) as usize] {
            out.extend_from_slice(prefix);
            out.extend(self.message_id()?);
        }
        if !self.seen[pick(Field::From, Field::ResentFrom) as usize] {
            out.extend_from_slice(prefix);
            out.extend(self.default_from()?);
        }
        if !self.seen[pick(Field::To, Field::ResentTo) as usize]
            && !self.seen[pick(Field::Cc, Field::ResentCc) as usize]
        {
            out.extend_from_slice(prefix);
            out.extend_from_slice(b"Cc: recipient list not shown: ;\n");
        }
        if !resent {
            out.extend(self.followup_to()?);
        }
        out.append(&mut self.saved);
        Ok(out)
    }

    /// `Message-ID: <YYYYMMDDhhmmss.pid.qmail@idhost>\n`.
    fn message_id(&mut self) -> Result<Vec<u8>, Die> {
        let t = Utc::from_unix(self.start);
        let mut out = format!(
            "Message-ID: <{}{:02}{:02}{:02}{:02}{:02}.{}.qmail@",
            t.year, t.month, t.day, t.hour, t.min, t.sec, self.pid
        )
        .into_bytes();
        out.extend(self.rw.setting("idhost", "QMAILIDHOST")?);
        out.extend_from_slice(b">\n");
        Ok(out)
    }

    /// Mail-Followup-To, when QMAILMFTFILE lists one of the To/Cc addresses
    /// and the message has none.
    fn followup_to(&self) -> Result<Vec<u8>, Die> {
        let Some(file) = &self.id.mft_file else {
            return Ok(Vec::new());
        };
        if self.seen[Field::MailFollowupTo as usize] {
            return Ok(Vec::new());
        }
        let text = match std::fs::read(file) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Die::temp(format!("unable to read QMAILMFTFILE: {e}"))),
        };
        let lists = ConstMap::from_set(&control::parse_list(&String::from_utf8_lossy(&text)));
        let listed = |a: &Vec<u8>| lists.contains(&String::from_utf8_lossy(a));
        if !self.lists.to_cc.iter().any(listed) {
            return Ok(Vec::new());
        }
        let mut out = b"Mail-Followup-To: ".to_vec();
        // Reverse order of appearance, as s/qmail 3.2 writes it.
        for (i, a) in self.lists.to_cc.iter().rev().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",\n  ");
            }
            out.extend(address::quote2(a));
        }
        out.push(b'\n');
        Ok(out)
    }

    /// The envelope: command-line recipients, then (with `header_rcpts`)
    /// those of the header (the Resent- ones for a resent message).
    pub fn envelope(&self, header_rcpts: bool) -> Envelope {
        let mut e = Envelope::new(self.sender.clone().unwrap_or_default());
        e.recipients.extend(self.lists.args.iter().cloned());
        if header_rcpts {
            let h = if self.resent() {
                &self.lists.resent
            } else {
                &self.lists.header
            };
            e.recipients.extend(h.iter().cloned());
        }
        e
    }

    /// Reads the header from `input`, field by field, up to the blank line
    /// (or the first line that is not a header field). Returns the bytes
    /// that start the body: the blank line, or an inserted blank line and
    /// that first line; nothing when the input ended within the header.
    /// An mbox `From ` line in the header becomes an `MBOX-Line:` field.
    pub fn read_header<R: BufRead>(&mut self, input: &mut R) -> Result<Vec<u8>, Die> {
        let mut field: Option<Vec<u8>> = None;
        loop {
            let mut next = Vec::new();
            if !read_line(input, &mut next)? {
                if let Some(f) = field {
                    self.field(f)?;
                }
                return Ok(Vec::new());
            }
            if let Some(f) = field.as_mut() {
                if next[0] == b' ' || next[0] == b'\t' {
                    if f.len() + next.len() > MAX_FIELD {
                        return Err(header_too_long("header field"));
                    }
                    f.extend_from_slice(&next);
                    continue;
                }
                self.field(field.take().unwrap_or_default())?;
            }
            if next == b"\n" {
                return Ok(next);
            }
            if next.starts_with(b"From ") {
                let mut f = b"MBOX-Line: ".to_vec();
                f.extend_from_slice(&next);
                field = Some(f);
            } else if header::valid(&next) {
                field = Some(next);
            } else {
                next.insert(0, b'\n');
                return Ok(next);
            }
        }
    }
}

/// The Return-Path rule: the first address wins; `r` adds `-@[]`.
fn set_return(sender: &mut Option<Vec<u8>>, mut addr: Vec<u8>, verp: bool) {
    if sender.is_none() {
        if verp {
            addr.extend_from_slice(b"-@[]");
        }
        *sender = Some(addr);
    }
}

/// One line with its `\n` (added when the input ends without one).
/// False at the end of the input.
fn read_line<R: BufRead>(input: &mut R, line: &mut Vec<u8>) -> Result<bool, Die> {
    match io::Read::take(&mut *input, MAX_FIELD as u64 + 1).read_until(b'\n', line) {
        Ok(0) => Ok(false),
        Ok(_) if line.len() > MAX_FIELD => Err(header_too_long("header field")),
        Ok(_) => {
            if line.last() != Some(&b'\n') {
                line.push(b'\n');
            }
            Ok(true)
        }
        Err(e) => Err(read_error(e)),
    }
}

fn read_error(e: io::Error) -> Die {
    Die::temp(format!("read error: {e}"))
}

/// Streams the rest of the input to `put`, adding a final `\n` when the
/// last line lacks one.
pub fn copy_body<R: BufRead>(input: &mut R, mut put: impl FnMut(&[u8])) -> Result<(), Die> {
    let mut last = b'\n';
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        let Some(&l) = chunk.last() else { break };
        put(chunk);
        last = l;
        let n = chunk.len();
        input.consume(n);
    }
    if last != b'\n' {
        put(b"\n");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let d = std::env::temp_dir().join(format!("sqmail-inject-{}-{n}", std::process::id()));
        std::fs::create_dir_all(d.join("control")).unwrap();
        std::fs::write(d.join("control/defaulthost"), "dh\n").unwrap();
        std::fs::write(d.join("control/defaultdomain"), "dom.example\n").unwrap();
        std::fs::write(d.join("control/plusdomain"), "plus.example\n").unwrap();
        std::fs::write(d.join("control/idhost"), "id.example\n").unwrap();
        d
    }

    fn ident() -> Identity {
        Identity {
            user: b"joe".to_vec(),
            sender_user: b"joe".to_vec(),
            ..Identity::default()
        }
    }

    fn run(id: Identity, input: &[u8]) -> (Vec<u8>, Envelope) {
        let dir = home();
        let mut inj = Inject::new(&dir, id, 1704272707, 42);
        let mut r = input;
        let start = inj.read_header(&mut r).unwrap();
        let mut out = inj.finish_header(false).unwrap();
        out.extend(start);
        copy_body(&mut r, |b| out.extend_from_slice(b)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        (out, inj.envelope(true))
    }

    #[test]
    fn rewriting() {
        let dir = home();
        let mut rw = Rewriter::new(&dir);
        let mut check = |input: &str, want: &str| {
            let mut t = address::parse(input.as_bytes()).unwrap();
            rw.rewrite(&mut t).unwrap();
            assert_eq!(
                String::from_utf8(address::unquote(&t)).unwrap(),
                want,
                "{input}"
            );
        };
        check("fred", "fred@dh.dom.example");
        check("fred@host", "fred@host.dom.example");
        check("fred@host+", "fred@host.plus.example");
        check("fred@a.b", "fred@a.b");
        check("fred@[1.2.3.4]", "fred@[1.2.3.4]");
        check("@r1,@r2:fred@a.b", "fred@a.b");
        check("fred@a.b.", "fred@a.b");
        check("fred@", "fred@dh.dom.example");
        check("fred-@[]", "fred-@[]");
        check("@route", "");
        check("", "");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn header_rules() {
        let (out, env) = run(
            ident(),
            b"To: a, \"B C\" <b@x.y>\nBcc: c\nContent-Length: 3\nSubject: s\n\nbody",
        );
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "Date: 3 Jan 2024 09:05:07 -0000\n\
             Message-ID: <20240103090507.42.qmail@id.example>\n\
             From: joe@dh.dom.example\n\
             To: a@dh.dom.example, \"B C\" <b@x.y>\n\
             Subject: s\n\nbody\n"
        );
        assert_eq!(env.sender, b"joe@dh.dom.example");
        assert_eq!(
            env.recipients,
            // Each field is walked right to left, as qmail does.
            vec![
                b"b@x.y".to_vec(),
                b"a@dh.dom.example".to_vec(),
                b"c@dh.dom.example".to_vec()
            ]
        );
    }

    #[test]
    fn resent_and_return_path() {
        let (out, env) = run(
            ident(),
            b"Return-Path: <r@x.y>\nResent-To: n@x.y\nTo: o@x.y\nFrom: f@x.y\nDate: d\n",
        );
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("Resent-Date: 3 Jan 2024 09:05:07 -0000\nResent-Message-ID: <"));
        assert!(out.contains("Resent-From: joe@dh.dom.example\nResent-To: n@x.y\nTo: o@x.y\n"));
        assert!(!out.contains("Return-Path"));
        assert_eq!(env.sender, b"r@x.y");
        assert_eq!(env.recipients, vec![b"n@x.y".to_vec()]);
    }

    #[test]
    fn body_starts() {
        let (out, _) = run(ident(), b"To: a@b.c\nnot a header\nmore");
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with("To: a@b.c\n\nnot a header\nmore\n")
        );
        let (out, _) = run(ident(), b"From me\nTo: a@b.c\n\nx\n");
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("MBOX-Line: From me\nTo: a@b.c\n\nx\n")
        );
    }
}
