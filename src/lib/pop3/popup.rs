//! qmail-popup's I/O (qmail-popup(8)): the greeting with the APOP
//! timestamp, the AUTHORIZATION state on fds 0/1, STLS by UCSPI-TLS
//! (ucspi-tls(5)), and the login handed to the checkpassword program on
//! fd 3. That program (qmail-authuser, then qmail-pop3d) talks to the
//! client on the same fds 0/1; qmail-popup waits for it and, if it failed,
//! says so to the client.

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::unix::ffi::OsStringExt;
use std::process::Command;

use crate::exit::Die;
use crate::pop3::TIMEOUT;
use crate::pop3::authorization::{Action, Authorization, Config, Login};
use crate::pop3::client::{Client, Got};
use crate::pop3::reply::{self as r, put};
use crate::smtpd::TlsMode;
use crate::smtpd::child::run_with_fd3;
use crate::ucspi::tls_program::TlsFds;
use crate::{date, printable, sys};

/// What the log line says about the connection.
struct Peer {
    protocol: &'static str,
    ip: String,
    host: String,
}

impl Peer {
    fn from_env(tls: bool) -> Peer {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(std::env::var_os)
                .map(|v| printable::text(v.as_encoded_bytes(), printable::word))
                .unwrap_or_else(|| "unknown".into())
        };
        Peer {
            protocol: if tls { "POP3S" } else { "POP3" },
            ip: crate::ucspi::remote_ip()
                .map(|ip| printable::no_controls(&ip))
                .unwrap_or_else(|| "unknown".into()),
            host: var(&["TCP6REMOTEHOST", "TCPREMOTEHOST"]),
        }
    }

    /// `qmail-popup: pid N Accept::AUTH::User P:POP3 S:ip:host ?~ 'user'`
    /// on stderr (qmail-popup(8)).
    fn log(&self, verdict: &str, mech: &str, user: &[u8]) {
        let _ = writeln!(
            io::stderr(),
            "qmail-popup: pid {} {verdict}::AUTH::{mech} P:{} S:{}:{} ?~ '{}'",
            std::process::id(),
            self.protocol,
            self.ip,
            self.host,
            printable::text(user, printable::ascii)
        );
    }
}

/// Runs the session; `checker` and `args` are the checkpassword command.
pub fn serve(hostname: &[u8], checker: &OsStr, args: &[OsString]) -> Result<(), Die> {
    sys::ignore_signal(libc::SIGPIPE).map_err(|e| Die::sys("ignore SIGPIPE", e))?;
    TlsFds::close_on_exec();
    let tls_active = std::env::var_os("SSL_PROTOCOL").is_some_and(|v| !v.is_empty());
    let mut timestamp = format!("<{}.{}@", std::process::id(), date::now_secs()).into_bytes();
    timestamp.extend(printable::bytes(hostname, printable::word, b'?'));
    timestamp.push(b'>');
    let mut a = Authorization::new(Config {
        timestamp,
        tls: TlsMode::from_env(std::env::var("UCSPITLS").ok().as_deref()),
        stls_possible: TlsFds::from_env().is_some(),
        tls_active,
    });
    let mut peer = Peer::from_env(tls_active);
    let mut exports: Vec<(OsString, OsString)> = Vec::new();
    let mut client = Client::new(true);
    let gone = |_| Die::quiet(1);
    a.greet();
    loop {
        client.send(&mut a.out).map_err(gone)?;
        let action = match client.line().map_err(gone)? {
            Got::TooLong => {
                a.line_too_long();
                Action::Continue
            }
            Got::Line(l) => a.line(&l),
        };
        match action {
            Action::Continue => {}
            Action::Quit => return client.send(&mut a.out).map_err(gone),
            Action::StartTls => {
                client.send(&mut a.out).map_err(gone)?;
                let fds = TlsFds::from_env().ok_or_else(|| Die::quiet(1))?;
                let vars = fds.start(TIMEOUT).map_err(gone)?;
                exports = vars
                    .into_iter()
                    .map(|(k, v)| (OsString::from_vec(k), OsString::from_vec(v)))
                    .collect();
                a.tls_started();
                peer.protocol = "POP3S";
            }
            Action::Login(login) => {
                let mut cmd = Command::new(checker);
                cmd.args(args).envs(exports.iter().map(|(k, v)| (k, v)));
                return hand_over(&mut client, login, cmd, &peer);
            }
        }
    }
}

/// Runs the checkpassword program with the login on its fd 3 and waits;
/// on failure tells the client (the connection then ends: one try each).
fn hand_over(
    client: &mut Client,
    mut login: Login,
    mut cmd: Command,
    peer: &Peer,
) -> Result<(), Die> {
    let status = run_with_fd3(&mut cmd, &login.block);
    login.block.iter_mut().for_each(|b| *b = 0);
    let mech = login.mech.name();
    let (reply, code) = match status {
        Ok(s) if s.success() => {
            peer.log("Accept", mech, &login.user);
            return Ok(());
        }
        Ok(s) if s.code().is_none() => (r::CHILD_CRASHED, 1),
        Ok(_) => (r::AUTH_FAILED, 1),
        Err(_) => (r::CHILD_TROUBLE, crate::exit::TEMP),
    };
    peer.log("Reject", mech, &login.user);
    let mut out = Vec::new();
    put(&mut out, reply);
    let _ = client.send(&mut out);
    Err(Die::quiet(code))
}
