//! The qmail-smtpd connection: reads with `timeoutsmtpd` and the
//! `deadlinesmtpd` deadlines, batched replies, the queue, the auth child on
//! fd 3, recipient PAMs, UCSPI-TLS, and the `Host` the session asks for
//! lookups (qmail-smtpd(8)). The protocol itself is `session`.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::cdb::Cdb;
use crate::control::Control;
use crate::dns::{DnsError, Resolver};
use crate::exit::Die;
use crate::queue::client::QueueClient;
use crate::smtpd::child::{Fd3Error, run_with_fd3};
use crate::smtpd::config::{self, Environment};
use crate::smtpd::data::{DataFilter, Feed};
use crate::smtpd::input::{InBuf, Line};
use crate::smtpd::reply as r;
use crate::smtpd::session::AuthRequest;
use crate::smtpd::{Action, AuthOutcome, Dns, Host, RcptCheck, Session, recipients};
use crate::timeoutio::TimeoutFd;
use crate::ucspi::tls_program::TlsFds;
use crate::{auto, date, sys};

/// Pause after a failed AUTH (s/qmail's only rate limit).
const AUTH_FAIL_PAUSE: u64 = 5;

/// DATA earns one more second of deadline per this many bytes received
/// (a floor of about 1 kB/s on average for big messages).
const DATA_BYTES_PER_SEC: u64 = 1024;

/// Writes a reply straight to fd 1 and gives the exit for a fatal start.
fn die_with(reply: &str) -> Die {
    let mut o = TimeoutFd::new(1, 60);
    let _ = o.write_all(format!("{reply}\r\n").as_bytes());
    Die::quiet(1)
}

/// Runs `cmd` with `block` on fd 3. `Err` is the 454 text.
fn run_fd3(cmd: &mut Command, block: &[u8]) -> Result<ExitStatus, &'static str> {
    run_with_fd3(cmd, block).map_err(|e| match e {
        Fd3Error::Pipe => r::AUTH_CHILD_PIPE,
        Fd3Error::Spawn => r::AUTH_CHILD_FORK,
        Fd3Error::Write => r::AUTH_CHILD_WRITE,
        Fd3Error::Wait => r::AUTH_CHILD_CRASHED,
    })
}

struct RealHost {
    home: PathBuf,
    /// The session's variables (HELOHOST, MAILFROM, RCPTTO, AUTHUSER,
    /// SSL_*, ...), given to every child: qmail-queue, the checkpassword
    /// program and recipient PAMs. Our own environment is never changed.
    exports: Vec<(String, String)>,
    more: Option<Cdb>,
    recipients: Option<Vec<String>>,
    mfrules: Option<Cdb>,
    /// Made at the first DNS check.
    resolver: Option<Resolver>,
    /// This host's addresses, read at the first SPF check.
    own_ips: Option<Vec<std::net::IpAddr>>,
    greylister: crate::postgrey::Greylister,
}

impl Host for RealHost {
    /// MX with qmail's fallback to the name's own addresses, or addresses.
    fn dns(&mut self, name: &str, mx: bool) -> Dns {
        let r = self.resolver.get_or_insert_with(Resolver::new);
        let found = match mx {
            true => match r.mx(name) {
                Ok(v) if !v.is_empty() => Ok(true),
                Ok(_) => r.ip(name).map(|v| !v.is_empty()),
                Err(e) => Err(e),
            },
            false => r.ip(name).map(|v| !v.is_empty()),
        };
        match found {
            Ok(true) => Dns::Found,
            Ok(false) | Err(DnsError::Hard) => Dns::NotFound,
            Err(DnsError::Temp) => Dns::Temp,
        }
    }

    fn more_rcpthosts(&mut self, key: &str) -> bool {
        self.more
            .as_ref()
            .is_some_and(|c| c.get(key.as_bytes()).ok().flatten().is_some())
    }

    fn recipient(&mut self, addr: &[u8]) -> RcptCheck {
        let exports = &self.exports;
        let Some(lines) = &self.recipients else {
            return RcptCheck::Accept("Rcpthosts_Rcptto");
        };
        let mut run = |argv: &[&str], a: &[u8]| -> Option<i32> {
            let mut block = a.to_vec();
            block.extend_from_slice(b"\0\0\0");
            let mut cmd = Command::new(argv[0]);
            cmd.args(&argv[1..])
                .envs(exports.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(Stdio::null());
            run_fd3(&mut cmd, &block).ok()?.code()
        };
        recipients::check(lines, addr, &self.home, char::from(auto::BREAK), &mut run)
    }

    fn mailfromrules(
        &mut self,
        sender: &str,
        info: Option<&str>,
        ip: &str,
        host: &str,
    ) -> Option<bool> {
        let c = self.mfrules.as_ref()?;
        Some(crate::smtpd::mfrules::accepts(c, sender, info, ip, host))
    }

    fn sleep(&mut self, secs: u64) {
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }

    fn export(&mut self, name: &str, value: &str) {
        // The session refuses NULs in commands; anything else that cannot
        // be an environment string is left out rather than failing a spawn.
        if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
            return;
        }
        match self.exports.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => value.clone_into(v),
            None => self.exports.push((name.to_string(), value.to_string())),
        }
    }

    fn spf(&mut self, q: &crate::spf::Query) -> Option<crate::spf::Outcome> {
        let own = self
            .own_ips
            .get_or_insert_with(|| sys::local_addrs().unwrap_or_default());
        let q = crate::spf::Query {
            own_ips: own,
            ..q.clone()
        };
        crate::spf::check(&q, self.resolver.get_or_insert_with(Resolver::new))
    }

    fn greylisted(&mut self, server: &str, q: &crate::postgrey::Query) -> bool {
        self.greylister.greylisted(server, q)
    }
}

/// The connection: buffers, the session and its outside world.
struct Conn {
    session: Session,
    host: RealHost,
    input: InBuf,
    timeout: u32,
    /// `deadlinesmtpd`: per command line and (with the size bonus) per DATA,
    /// against clients that trickle bytes just inside `timeoutsmtpd`.
    deadline: Duration,
    /// When the partial line now buffered must be complete.
    line_due: Option<Instant>,
    checkprogram: Vec<OsString>,
}

impl Conn {
    /// Sends the buffered replies (one write per batch) and the log lines.
    fn flush(&mut self) -> Result<(), Die> {
        self.flush_log();
        if self.session.out.is_empty() {
            return Ok(());
        }
        let mut o = TimeoutFd::new(1, self.timeout);
        let res = o.write_all(&self.session.out);
        self.session.out.clear();
        res.map_err(|_| Die::quiet(1))
    }

    fn flush_log(&mut self) {
        if !self.session.log.is_empty() {
            let _ = io::stderr().write_all(&self.session.log);
            self.session.log.clear();
        }
    }

    /// Reads more client bytes; EOF, timeouts and a passed deadline end
    /// the session.
    fn fill(&mut self, due: Option<Instant>) -> Result<(), Die> {
        self.flush()?;
        let mut secs = self.timeout;
        if let Some(due) = due {
            let left = due.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.timed_out());
            }
            let left = u32::try_from(left.as_secs() + 1).unwrap_or(u32::MAX);
            secs = secs.min(left);
        }
        let mut i = TimeoutFd::new(0, secs);
        match i.read(self.input.spare()) {
            Ok(0) => Err(Die::quiet(1)),
            Ok(n) => {
                self.input.filled(n);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(self.timed_out()),
            Err(_) => Err(Die::quiet(1)),
        }
    }

    fn timed_out(&mut self) -> Die {
        self.session
            .out
            .extend_from_slice(format!("{}\r\n", r::TIMEOUT).as_bytes());
        let _ = self.flush();
        Die::quiet(1)
    }

    fn run(&mut self) -> Result<(), Die> {
        self.session.greet();
        loop {
            let action = match self.input.next_line() {
                None => {
                    // The clock of a partial line starts at the first read
                    // that finds it (its first byte, give or take a read).
                    if self.input.mid_line() && self.line_due.is_none() {
                        self.line_due = Some(Instant::now() + self.deadline);
                    }
                    self.fill(self.line_due)?;
                    continue;
                }
                Some(Line::TooLong) => {
                    self.line_due = None;
                    self.session.line_too_long();
                    Action::Continue
                }
                Some(Line::Ok(l)) => {
                    self.line_due = None;
                    self.session.line(l, &mut self.host)
                }
            };
            self.flush_log();
            match action {
                Action::Continue => {}
                Action::Quit => return self.flush(),
                Action::Close => {
                    self.flush()?;
                    return Err(Die::quiet(1));
                }
                Action::Data => self.data()?,
                Action::Auth(req) => self.auth(req)?,
                Action::StartTls => self.starttls()?,
            }
        }
    }

    fn data(&mut self) -> Result<(), Die> {
        self.host.export("RCPTTO", &self.session.rcptto());
        let mut qq = match QueueClient::start_with_env(&self.host.home, &self.host.exports) {
            Ok(q) => q,
            Err(e) => {
                // The 451 alone would leave the admin guessing.
                let pid = std::process::id();
                crate::exit::warn(
                    "qmail-smtpd",
                    format_args!("pid {pid} unable to start qmail-queue: {e}"),
                );
                self.session.data_start_failed();
                return Ok(());
            }
        };
        let header = self.session.data_started(date::now_secs());
        self.flush()?;
        qq.write_all(&header);
        let scan = self.session.scan_config();
        let mut filter = DataFilter::new(self.session.databytes(), &scan)
            .keep_bare_cr(self.session.keep_bare_cr());
        let start = Instant::now();
        let mut received: u64 = 0;
        loop {
            let (used, st) = filter.feed(self.input.pending(), &mut |chunk| qq.write_all(chunk));
            self.input.consume(used);
            received += used as u64;
            match st {
                Feed::Done => break,
                Feed::BareLf => {
                    drop(qq);
                    self.session
                        .out
                        .extend_from_slice(format!("{}\r\n", r::BARE_LF).as_bytes());
                    self.flush()?;
                    return Err(Die::quiet(1));
                }
                Feed::More => {
                    let bonus = Duration::from_secs(received / DATA_BYTES_PER_SEC);
                    self.fill(Some(start + self.deadline + bonus))?
                }
            }
        }
        let saw_base64 = filter.saw_base64;
        let verdict = filter.finish();
        let qp = qq.pid();
        let result = match verdict {
            Ok(_) => Some(qq.finish_bytes(&self.session.queue_envelope(saw_base64))),
            Err(_) => {
                drop(qq);
                None
            }
        };
        self.session
            .data_finished(verdict, result, qp, date::now_secs());
        Ok(())
    }

    fn auth(&mut self, req: AuthRequest) -> Result<(), Die> {
        let user = String::from_utf8_lossy(&req.user).into_owned();
        let mut cmd = Command::new(&self.checkprogram[0]);
        cmd.args(&self.checkprogram[1..])
            .envs(self.host.exports.iter().map(|(k, v)| (k, v)))
            .env("AUTHUSER", &user);
        let mut block = req.block();
        let outcome = match run_fd3(&mut cmd, &block) {
            Ok(s) if s.success() => AuthOutcome::Ok,
            Ok(s) if s.code().is_none() => AuthOutcome::Trouble(r::AUTH_CHILD_CRASHED),
            Ok(_) => {
                self.host.sleep(AUTH_FAIL_PAUSE);
                AuthOutcome::Failed
            }
            Err(t) => AuthOutcome::Trouble(t),
        };
        block.iter_mut().for_each(|b| *b = 0);
        self.session
            .auth_finished(req.mech, &req.user, outcome, &mut self.host);
        Ok(())
    }

    /// STARTTLS by UCSPI-TLS (ucspi-tls(5)).
    fn starttls(&mut self) -> Result<(), Die> {
        self.flush()?;
        let vars = match self.tls_handshake() {
            Ok(v) => v,
            Err(_) => return Err(die_with(r::TLS_UNAVAILABLE)),
        };
        // CVE-2020-15955: nothing pipelined after STARTTLS is executed.
        self.input.clear();
        self.session.tls_started(&vars, &mut self.host);
        Ok(())
    }

    fn tls_handshake(&mut self) -> io::Result<Vec<(String, String)>> {
        let fds = TlsFds::from_env().ok_or_else(|| io::Error::other("SSLCTLFD not set"))?;
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Ok(fds
            .start(self.timeout)?
            .iter()
            .map(|(k, v)| (lossy(k), lossy(v)))
            .collect())
    }
}

/// Serves one SMTP connection on fd 0/1 from the qmail home `home`;
/// `checkprogram` is the AUTH checkpassword command (may be empty).
pub fn serve(home: &Path, checkprogram: Vec<OsString>) -> Result<(), Die> {
    sys::ignore_signal(libc::SIGPIPE).map_err(|e| Die::sys("ignore SIGPIPE", e))?;
    if std::env::set_current_dir(home).is_err() {
        return Err(die_with(r::CONTROLS));
    }
    TlsFds::close_on_exec();
    let c = Control::new(home);
    let env = Environment::from_process();
    let loaded = config::load(&c, &env, std::process::id(), !checkprogram.is_empty())
        .map_err(|e| die_with(e.reply()))?;
    if loaded.config.rcpthosts.is_none() && loaded.config.relayclient.is_none() {
        crate::exit::warn(
            "qmail-smtpd",
            "no control/rcpthosts: every domain is accepted (open relay)",
        );
    }
    let host = RealHost {
        home: home.to_path_buf(),
        more: loaded.more_rcpthosts,
        recipients: loaded.recipients,
        mfrules: loaded.mailfromrules,
        resolver: None,
        own_ips: None,
        greylister: Default::default(),
        exports: Vec::new(),
    };
    let mut conn = Conn {
        session: Session::new(loaded.config),
        host,
        input: InBuf::new(),
        timeout: loaded.timeout,
        deadline: loaded.deadline,
        line_due: None,
        checkprogram,
    };
    conn.run()
}
