//! qmail-showctl's report (qmail-showctl(8)): the compiled-in settings and
//! what each control file makes of the current configuration.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;

use crate::control::{Control, parse_leading_uint, parse_list};
use crate::dns::dnssec::Anchors;
use crate::exit::Die;
use crate::queue::check::printable;
use crate::{auto, home, passwd, sys};

/// How a control file is read, with its default and the sentence that
/// shows its value.
enum Kind {
    /// A line file; `me` true means the default is `me` when that exists.
    Line {
        me: bool,
        default: &'static str,
        pre: &'static str,
    },
    Int {
        default: &'static str,
        pre: &'static str,
        post: &'static str,
    },
    /// A list (or map) file, one sentence per entry.
    List {
        default: &'static str,
        pre: &'static str,
        post: &'static str,
    },
    /// A map whose values are secrets: one sentence per key.
    Keys {
        default: &'static str,
        pre: &'static str,
    },
    /// control/trustanchors: whether DANE is on, and whose DNSSEC
    /// validation it trusts (qmail-remote(8)).
    Trust,
}

use Kind::*;

const FILES: &[(&str, Kind)] = &[
    (
        "authsenders",
        List {
            default: "No authenticated senders.",
            pre: "Authenticated sender route: ",
            post: "",
        },
    ),
    (
        "badhelo",
        List {
            default: "Any HELO host name is allowed.",
            pre: "",
            post: " not accepted as HELO name.",
        },
    ),
    (
        "badloadertypes",
        List {
            default: "No bad loader types.",
            pre: "Bad loader type: ",
            post: "",
        },
    ),
    (
        "badmailfrom",
        List {
            default: "Any MAIL FROM is allowed.",
            pre: "",
            post: " not accepted in MAIL FROM.",
        },
    ),
    (
        "badmimetypes",
        List {
            default: "No bad MIME types.",
            pre: "Bad MIME type: ",
            post: "",
        },
    ),
    (
        "badrcptto",
        List {
            default: "Any RCPT TO is allowed.",
            pre: "",
            post: " not accepted in RCPT TO.",
        },
    ),
    (
        "bouncefrom",
        Line {
            me: false,
            default: "MAILER-DAEMON",
            pre: "Bounce user name is ",
        },
    ),
    (
        "bouncehost",
        Line {
            me: true,
            default: "bouncehost",
            pre: "Bounce host name is ",
        },
    ),
    (
        "bouncemaxbytes",
        Int {
            default: "0",
            pre: "Bounces copy at most ",
            post: " bytes of the message (0: all)",
        },
    ),
    (
        "concurrencylocal",
        Int {
            default: "10",
            pre: "Local concurrency is ",
            post: "",
        },
    ),
    (
        "concurrencyremote",
        Int {
            default: "20",
            pre: "Remote concurrency is ",
            post: "",
        },
    ),
    (
        "databytes",
        Int {
            default: "0",
            pre: "SMTP DATA limit is ",
            post: " bytes",
        },
    ),
    (
        "defaultdomain",
        Line {
            me: true,
            default: "defaultdomain",
            pre: "Default domain name is ",
        },
    ),
    (
        "defaulthost",
        Line {
            me: true,
            default: "defaulthost",
            pre: "Default host name is ",
        },
    ),
    (
        "dkimdomains",
        List {
            default: "No DKIM signing.",
            pre: "DKIM signing: ",
            post: "",
        },
    ),
    (
        "domaincerts",
        List {
            default: "No sender-domain certificates.",
            pre: "Sender-domain certificate: ",
            post: "",
        },
    ),
    (
        "domainips",
        List {
            default: "No sender-domain source addresses.",
            pre: "Sender-domain source address: ",
            post: "",
        },
    ),
    (
        "doublebouncehost",
        Line {
            me: true,
            default: "doublebouncehost",
            pre: "2B recipient host: ",
        },
    ),
    (
        "doublebounceto",
        Line {
            me: false,
            default: "postmaster",
            pre: "2B recipient user: ",
        },
    ),
    (
        "envnoathost",
        Line {
            me: true,
            default: "envnoathost",
            pre: "Presumed domain name is ",
        },
    ),
    (
        "helohost",
        Line {
            me: true,
            default: "helohost",
            pre: "SMTP client HELO host name is ",
        },
    ),
    (
        "idhost",
        Line {
            me: true,
            default: "idhost",
            pre: "Message-ID host name is ",
        },
    ),
    (
        "localiphost",
        Line {
            me: true,
            default: "localiphost",
            pre: "Local IP address becomes ",
        },
    ),
    (
        "locals",
        List {
            default: "Messages for me are delivered locally.",
            pre: "Messages for ",
            post: " are delivered locally.",
        },
    ),
    (
        "mailfromrules",
        List {
            default: "No MAIL FROM rules.",
            pre: "MAIL FROM rule: ",
            post: "",
        },
    ),
    (
        "me",
        Line {
            me: false,
            default: "undefined! Uh-oh",
            pre: "My name is ",
        },
    ),
    (
        "morercpthosts",
        List {
            default: "No effect.",
            pre: "SMTP clients may send messages to recipients at ",
            post: ".",
        },
    ),
    (
        "percenthack",
        List {
            default: "The percent hack is not allowed.",
            pre: "The percent hack is allowed for user%host@",
            post: ".",
        },
    ),
    (
        "plusdomain",
        Line {
            me: true,
            default: "plusdomain",
            pre: "Plus domain name is ",
        },
    ),
    (
        "qmqpservers",
        List {
            default: "No QMQP servers.",
            pre: "QMQP server: ",
            post: ".",
        },
    ),
    (
        "qmtproutes",
        List {
            default: "No artificial QMTP routes.",
            pre: "QMTP route: ",
            post: "",
        },
    ),
    (
        "queuelifetime",
        Int {
            default: "604800",
            pre: "Message lifetime in the queue is ",
            post: " seconds",
        },
    ),
    (
        "rcpthosts",
        List {
            default: "SMTP clients may send messages to any recipient.",
            pre: "SMTP clients may send messages to recipients at ",
            post: ".",
        },
    ),
    (
        "recipients",
        List {
            default: "No recipient databases.",
            pre: "Recipient database: ",
            post: "",
        },
    ),
    (
        "smtpgreeting",
        Line {
            me: true,
            default: "smtpgreeting",
            pre: "SMTP greeting: 220 ",
        },
    ),
    (
        "smtproutes",
        List {
            default: "No artificial SMTP routes.",
            pre: "SMTP route: ",
            post: "",
        },
    ),
    (
        "spfexplain",
        Line {
            me: false,
            default: "See http://spf.pobox.com/why.html?sender=%{s}&ip=%{i}&receiver=%{R}",
            pre: "SPF explanation: ",
        },
    ),
    (
        "spflocalrules",
        Line {
            me: false,
            default: "none",
            pre: "Local SPF rules: ",
        },
    ),
    (
        "srsdomains",
        Keys {
            default: "No SRS.",
            pre: "SRS for ",
        },
    ),
    (
        "timeoutconnect",
        Int {
            default: "60",
            pre: "SMTP client connection timeout is ",
            post: " seconds",
        },
    ),
    (
        "timeoutremote",
        Int {
            default: "1200",
            pre: "SMTP client data timeout is ",
            post: " seconds",
        },
    ),
    (
        "timeoutsmtpd",
        Int {
            default: "1200",
            pre: "SMTP server data timeout is ",
            post: " seconds",
        },
    ),
    (
        "deadlinesmtpd",
        Int {
            default: "300",
            pre: "SMTP server deadline for a command line is ",
            post: " seconds",
        },
    ),
    (
        "tlsdestinations",
        List {
            default: "No TLS for remote deliveries.",
            pre: "TLS destination: ",
            post: "",
        },
    ),
    ("trustanchors", Trust),
    (
        "virtualdomains",
        List {
            default: "No virtual domains.",
            pre: "Virtual domain: ",
            post: "",
        },
    ),
];

/// cdb files and the sources they are built from.
const CDBS: &[(&str, &str)] = &[
    ("morercpthosts.cdb", "morercpthosts"),
    ("badmimetypes.cdb", "badmimetypes"),
    ("badloadertypes.cdb", "badloadertypes"),
    ("mailfromrules.cdb", "mailfromrules"),
    ("recipients.cdb", "recipients"),
];

/// The trustanchors sentences: DANE off, on with our own validation from
/// the anchors listed, or on with the AD bit of a loopback resolver.
fn trust(out: &mut impl Write, text: Option<&str>) -> io::Result<()> {
    let Some(text) = text else {
        return writeln!(out, "(Default.) DANE is off: no trust anchors.");
    };
    let a = Anchors::parse(text);
    let list = a.list();
    if a.ad {
        writeln!(
            out,
            "DANE is on: DNSSEC as validated by the DNS servers on loopback (their AD bit)."
        )
    } else if list.is_empty() {
        writeln!(out, "DANE is off: no DS or DNSKEY record in this file.")
    } else {
        writeln!(
            out,
            "DANE is on: qmail-remote validates DNSSEC from these anchors."
        )?;
        for l in list {
            out.write_all(b"Trust anchor: ")?;
            out.write_all(&printable(l.as_bytes(), b'?'))?;
            writeln!(out, ".")?;
        }
        Ok(())
    }
}

/// Writes the report to `out`; the inner error is a control file that
/// cannot be read (the report stops there).
pub fn show(out: &mut impl Write) -> io::Result<Result<(), Die>> {
    let home = home::home();
    writeln!(out, "s/qmail home directory: {}.", home.display())?;
    writeln!(out, "user-ext delimiter: {}.", auto::BREAK as char)?;
    writeln!(out, "paternalism (in decimal): {}.", auto::PATRN)?;
    writeln!(out, "silent concurrency limit: {}.", auto::SPAWN)?;
    writeln!(out, "subdirectory split: {}.", auto::SPLIT)?;
    let users = [
        auto::USER_ALIAS,
        auto::USER_QMAILD,
        auto::USER_QMAILL,
        auto::USER_OWNER,
        auto::USER_QMAILP,
        auto::USER_QMAILQ,
        auto::USER_QMAILR,
        auto::USER_QMAILS,
    ];
    let private = home::private_mode();
    let uid = |n: &str| match private {
        true => sys::getuid().to_string(),
        false => passwd::user_by_name(n)
            .ok()
            .flatten()
            .map_or_else(|| format!("{n}?"), |p| p.uid.to_string()),
    };
    let gid = |n: &str| match private {
        true => sys::getgid().to_string(),
        false => passwd::group_by_name(n)
            .ok()
            .flatten()
            .map_or_else(|| format!("{n}?"), |g| g.to_string()),
    };
    let uids: Vec<String> = users.iter().map(|u| uid(u)).collect();
    writeln!(out, "user ids: {}.", uids.join(", "))?;
    writeln!(
        out,
        "group ids: {}, {}.",
        gid(auto::GROUP_NOFILES),
        gid(auto::GROUP_QMAIL)
    )?;

    let ctl = Control::new(&home);
    let names = match fs::read_dir(ctl.dir()) {
        Ok(rd) => {
            let mut v: Vec<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
        Err(e) => {
            writeln!(out, "Oops! Unable to read {}: {e}.", ctl.dir().display())?;
            out.flush()?;
            return Ok(Err(Die::quiet(crate::exit::TEMP)));
        }
    };
    let me = match ctl.line("me") {
        Ok(m) => m,
        Err(_) => {
            writeln!(out, "Oops! Trouble reading control/me.")?;
            out.flush()?;
            return Ok(Err(Die::quiet(crate::exit::TEMP)));
        }
    };
    for (name, kind) in FILES {
        write!(out, "\n{name}: ")?;
        let text = match ctl.read(name) {
            Err(_) => {
                writeln!(out, "Oops! Trouble reading this file.")?;
                continue;
            }
            Ok(t) => t,
        };
        match (kind, text) {
            (
                Line {
                    me: use_me,
                    default,
                    pre,
                },
                None,
            ) => {
                let v = match (use_me, &me) {
                    (true, Some(m)) => m.as_str(),
                    _ => default,
                };
                writeln!(out, "(Default.) {pre}{v}.")?;
            }
            (Line { pre, .. }, Some(t)) => {
                let first = t
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_end_matches([' ', '\t', '\r']);
                out.write_all(pre.as_bytes())?;
                out.write_all(&printable(first.as_bytes(), b'?'))?;
                writeln!(out, ".")?;
            }
            (Int { default, pre, post }, None) => {
                writeln!(out, "(Default.) {pre}{default}{post}.")?
            }
            (Int { default, pre, post }, Some(t)) => {
                let v = parse_leading_uint(t.lines().next().unwrap_or(""))
                    .map_or_else(|| default.to_string(), |n| n.to_string());
                writeln!(out, "{pre}{v}{post}.")?;
            }
            (Trust, t) => trust(out, t.as_deref())?,
            (List { default, .. } | Keys { default, .. }, None) => {
                writeln!(out, "(Default.) {default}")?
            }
            (Keys { pre, .. }, Some(t)) => {
                writeln!(out)?;
                for l in parse_list(&t) {
                    let key = l.split(':').next().unwrap_or("");
                    out.write_all(pre.as_bytes())?;
                    out.write_all(&printable(key.as_bytes(), b'?'))?;
                    writeln!(out, ".")?;
                }
            }
            (List { pre, post, .. }, Some(t)) => {
                writeln!(out)?;
                for l in parse_list(&t) {
                    out.write_all(pre.as_bytes())?;
                    out.write_all(&printable(l.as_bytes(), b'?'))?;
                    writeln!(out, "{post}")?;
                }
            }
        }
    }
    for (cdb, src) in CDBS {
        let (s, c) = (fs::metadata(ctl.path(src)), fs::metadata(ctl.path(cdb)));
        let verdict = match (s, c) {
            (Err(_), Err(_)) => continue,
            (Err(_), Ok(_)) => format!("Oops! {cdb} exists but {src} doesn't."),
            (Ok(_), Err(_)) => format!("Oops! {src} exists but {cdb} doesn't."),
            (Ok(s), Ok(c)) if s.mtime() > c.mtime() => format!("Oops! {cdb} is older than {src}."),
            _ => "Modified recently enough; hopefully up to date.".to_string(),
        };
        writeln!(out, "\n{cdb}: {verdict}")?;
    }
    for name in names {
        let known = FILES.iter().any(|(n, _)| *n == name) || CDBS.iter().any(|(c, _)| *c == name);
        if !known {
            writeln!(out, "\n{name}: I have no idea what this file does.")?;
        }
    }
    out.flush()?;
    Ok(Ok(()))
}
