//! qmail-qmtpd: receive mail by QMTP (or QMTPS under sslserver) on fd 0/1
//! and hand each package to qmail-queue (qmail-qmtpd(8)). A package is the
//! message (with its line-ending code), the sender and the recipient list;
//! the answer is one netstring per recipient.

use std::path::Path;
use std::time::Duration;

use super::crlf::CrlfToLf;
use super::input::{MAX_LENGTH, NetIo, Stop, length_result};
use super::peer::{Peer, QMTPS_PORT};
use super::rcpthosts::RcptHosts;
use crate::control::Control;
use crate::environment::Environment;
use crate::exit::Die;
use crate::netstring;
use crate::queue::client::QueueClient;

/// The whole session's limit (qmail-qmtpd(8)).
pub const SESSION: Duration = Duration::from_secs(3600);

const RCPTHOSTS: &[u8] = b"Dsorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)";
const CANT_HANDLE: &[u8] = b"Dsorry, I can't handle that recipient (#5.1.3)";
const BAD_SENDER: &str = "Dunacceptable sender (#5.1.7)";
const TOO_BIG: &str = "Dsorry, that message size exceeds my databytes limit (#5.3.4)";

/// What the server knows before the first package.
pub struct Settings {
    pub databytes: u64,
    /// `RELAYCLIENT` (or a verified client certificate: empty): relaying
    /// allowed, its value appended to every recipient.
    pub relayclient: Option<Vec<u8>>,
    pub rcpthosts: RcptHosts,
    pub peer: Peer,
    /// `QMTP`, `QMTPS` or `QMTPSA` (client certificate).
    pub protocol: &'static str,
}

impl Settings {
    pub fn load(control: &Control, env: &Environment) -> Result<Settings, Die> {
        let peer = Peer::from_env(env);
        if peer.local_port == QMTPS_PORT && peer.tls.is_none() {
            return Err(Die::temp("QMTPS port without TLS (run under sslserver -s)"));
        }
        let controls = |e: std::io::Error| Die::sys("read controls", e);
        let databytes = match env.get("DATABYTES") {
            Some(v) => crate::control::parse_leading_uint(&v).unwrap_or(0),
            None => control.int("databytes", 0).map_err(controls)?,
        };
        let (protocol, relayclient) = match (&peer.tls, &peer.cert_dn) {
            (Some(_), Some(_)) => ("QMTPSA", Some(Vec::new())),
            (Some(_), None) => ("QMTPS", env.get("RELAYCLIENT").map(String::into_bytes)),
            (None, _) => ("QMTP", env.get("RELAYCLIENT").map(String::into_bytes)),
        };
        Ok(Settings {
            databytes,
            relayclient,
            rcpthosts: RcptHosts::load(control).map_err(controls)?,
            peer,
            protocol,
        })
    }
}

/// Serves packages until the client closes the connection.
pub fn serve(home: &Path) -> Result<(), Die> {
    let settings = Settings::load(&Control::new(home), &Environment::from_process())?;
    let mut io = NetIo::stdio(SESSION);
    loop {
        if let Err(stop) = package(&mut io, &settings, home) {
            // Answers already queued still go out (the client may wait).
            let _ = io.flush();
            return Err(stop.die());
        }
    }
}

/// How a recipient fared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rcpt {
    Accepted,
    /// Not in rcpthosts.
    Domain,
    /// Too long or containing NUL.
    Unhandled,
}

/// One package, read whole; its answers are queued on `io`.
fn package(io: &mut NetIo, s: &Settings, home: &Path) -> Result<(), Stop> {
    let mut len = io.length(MAX_LENGTH)?;
    if len == 0 {
        return Err(Stop::Proto);
    }
    let mut qq = QueueClient::start(home).map_err(|_| Stop::Resources)?;
    let qp = qq.pid();
    let crlf = match io.byte()? {
        b'\n' => false,
        b'\r' => true,
        _ => return Err(Stop::Proto),
    };
    len -= 1;
    let now = crate::date::now_secs();
    qq.write_all(s.peer.received(s.protocol, now).as_bytes());
    let too_big = copy_message(io, &mut qq, len, crlf, s.databytes)?;
    io.comma()?;

    let sender = io.address(0)?;
    qq.end_message();
    match &sender {
        Some(a) => {
            qq.write_envelope(b"F");
            qq.write_envelope(a);
            qq.write_envelope(b"\0");
        }
        None => qq.fail(),
    }

    let rcpts = recipients(io, s, &mut qq)?;
    if !rcpts.contains(&Rcpt::Accepted) {
        qq.fail();
    }
    qq.write_envelope(b"\0");
    let result = qq.close();
    let text = if sender.is_none() {
        BAD_SENDER.to_string()
    } else if too_big {
        TOO_BIG.to_string()
    } else {
        super::result_text(result, now, qp)
    };
    let mut out = Vec::with_capacity(rcpts.len() * (text.len() + 6));
    for r in &rcpts {
        netstring::push(
            &mut out,
            match r {
                Rcpt::Accepted => text.as_bytes(),
                Rcpt::Domain => RCPTHOSTS,
                Rcpt::Unhandled => CANT_HANDLE,
            },
        );
    }
    io.reply(&out);
    Ok(())
}

/// Copies `len` message bytes to qmail-queue, turning CRLF into LF when
/// `crlf`. Returns whether the message is over `databytes` (then the
/// queue write is failed; the bytes are still read).
fn copy_message(
    io: &mut NetIo,
    qq: &mut QueueClient,
    len: u64,
    crlf: bool,
    databytes: u64,
) -> Result<bool, Stop> {
    if !crlf {
        let too_big = databytes > 0 && len > databytes;
        if too_big {
            qq.fail();
        }
        io.copy(len, |c| qq.write_all(c))?;
        return Ok(too_big);
    }
    let mut conv = CrlfToLf::default();
    let mut stored = 0u64;
    let mut too_big = false;
    let mut out = Vec::with_capacity(64 * 1024);
    io.copy(len, |c| {
        out.clear();
        conv.feed(c, &mut out);
        stored += out.len() as u64;
        if databytes > 0 && stored > databytes && !too_big {
            too_big = true;
            qq.fail();
        }
        qq.write_all(&out);
    })?;
    if conv.finish() {
        if databytes > 0 && stored + 1 > databytes && !too_big {
            too_big = true;
            qq.fail();
        }
        qq.write_all(b"\r");
    }
    Ok(too_big)
}

/// The recipient list: one netstring holding one netstring per recipient.
/// Accepted recipients go to qmail-queue's envelope as they come.
fn recipients(io: &mut NetIo, s: &Settings, qq: &mut QueueClient) -> Result<Vec<Rcpt>, Stop> {
    let list_len = io.length(MAX_LENGTH)?;
    let outer = io.budget();
    // The inner netstrings must fit exactly into the list's length.
    io.set_budget(list_len);
    let mut rcpts = Vec::new();
    let reserve = s.relayclient.as_ref().map_or(0, |r| r.len() as u64);
    while io.budget() > 0 {
        let len = length_result(crate::netstring::read_length(|| io.byte(), MAX_LENGTH)?)?;
        if len >= io.budget() {
            return Err(Stop::Proto);
        }
        let status = match io.address_body(len, reserve)? {
            None => Rcpt::Unhandled,
            Some(mut a) => match &s.relayclient {
                Some(suffix) => {
                    a.extend_from_slice(suffix);
                    queue_rcpt(qq, &a)
                }
                None => match s.rcpthosts.allows(&a) {
                    Ok(true) => queue_rcpt(qq, &a),
                    Ok(false) => Rcpt::Domain,
                    Err(_) => return Err(Stop::Resources),
                },
            },
        };
        io.comma()?;
        rcpts.push(status);
    }
    io.set_budget(outer);
    io.comma()?;
    if rcpts.is_empty() {
        return Err(Stop::Proto);
    }
    Ok(rcpts)
}

fn queue_rcpt(qq: &mut QueueClient, a: &[u8]) -> Rcpt {
    qq.write_envelope(b"T");
    qq.write_envelope(a);
    qq.write_envelope(b"\0");
    Rcpt::Accepted
}
