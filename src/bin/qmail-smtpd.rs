//! qmail-smtpd: receive mail by SMTP on fd 0/1 and hand it to qmail-queue.
//! The protocol lives in `sqmail::smtpd`; this file does the I/O: controls
//! and environment, reads and batched writes with `timeoutsmtpd`, the
//! queue, the auth child on fd 3, recipient PAMs and UCSPI-TLS.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use sqmail::cdb::Cdb;
use sqmail::control::Control;
use sqmail::dns::{DnsError, Resolver};
use sqmail::exit::Die;
use sqmail::qq::QueueClient;
use sqmail::smtpd::auth::AuthMode;
use sqmail::smtpd::child::{Fd3Error, run_with_fd3};
use sqmail::smtpd::data::{self, DataFilter, Feed, ScanConfig};
use sqmail::smtpd::filter::List;
use sqmail::smtpd::input::{InBuf, Line};
use sqmail::smtpd::reply as r;
use sqmail::smtpd::session::{AuthRequest, Replies, SpfPolicy, spf_level};
use sqmail::smtpd::{
    Action, AuthOutcome, Config, Dns, Host, RcptCheck, Session, TlsMode, recipients,
};
use sqmail::timeoutio::TimeoutFd;
use sqmail::{auto, date, sys};

/// Pause after a failed AUTH (s/qmail's only rate limit).
const AUTH_FAIL_PAUSE: u64 = 5;

fn var(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

fn first_var(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| var(n))
}

/// Writes a reply straight to fd 1 and gives the exit for a fatal start.
fn die_with(reply: &str) -> Die {
    let mut o = TimeoutFd::new(1, 60);
    let _ = o.write_all(format!("{reply}\r\n").as_bytes());
    Die::quiet(1)
}

fn list(c: &Control, name: &str) -> Result<Option<List>, Die> {
    c.list(name)
        .map(|o| o.map(List::new))
        .map_err(|_| die_with(r::CONTROLS))
}

fn config(home: &Path, pid: u32, checkprogram: bool) -> Result<Config, Die> {
    let c = Control::new(home);
    let ctl = |e: io::Error| -> Die {
        let _ = e;
        die_with(r::CONTROLS)
    };
    let me = c.line("me").map_err(ctl)?;
    let greeting = match c.line("smtpgreeting").map_err(ctl)? {
        Some(g) => g,
        None => me.clone().ok_or_else(|| die_with(r::CONTROLS))?,
    };
    let localiphost = c
        .line_or_me("localiphost", me.as_deref(), "")
        .map_err(ctl)?;
    let databytes = match var("DATABYTES") {
        Some(v) => sqmail::control::parse_leading_uint(&v).unwrap_or(0),
        None => c.int("databytes", 0).map_err(ctl)?,
    };
    let remote_ip = match first_var(&["TCP6REMOTEIP", "TCPREMOTEIP"]) {
        Some(ip) => ip.strip_prefix("::ffff:").map(str::to_string).unwrap_or(ip),
        None => "unknown".into(),
    };
    let local_ip = first_var(&["TCP6LOCALIP", "TCPLOCALIP"]);
    let mut local_ips = vec!["127.0.0.1".to_string(), "::1".to_string()];
    local_ips
        .extend(local_ip.map(|ip| ip.strip_prefix("::ffff:").map(str::to_string).unwrap_or(ip)));
    let helocheck = var("HELOCHECK");
    let scan = scan_config(&c)?;
    let scan_only_strangers =
        var("BADMIMETYPE").as_deref() == Some("+") || var("BADLOADERTYPE").as_deref() == Some("+");
    let local_port = first_var(&["TCP6LOCALPORT", "TCPLOCALPORT"]).unwrap_or_else(|| "0".into());
    let tls_vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("SSL_"))
        .collect();
    let smtps = local_port == "465";
    if smtps && var("SSL_PROTOCOL").is_none() {
        return Err(die_with(r::TLS_UNAVAILABLE));
    }
    let rbl_info = var("RBLSMTPD").and_then(|v| v.strip_prefix("[RBL info] ").map(str::to_string));
    let reply = |n: &str| var(n).unwrap_or_default();
    Ok(Config {
        pid,
        greeting,
        localiphost,
        local_ips,
        databytes,
        rcpthosts: list(&c, "rcpthosts")?,
        badmailfrom: list(&c, "badmailfrom")?,
        badrcptto: list(&c, "badrcptto")?,
        badhelo: if helocheck.is_some() {
            list(&c, "badhelo")?
        } else {
            None
        },
        relayclient: var("RELAYCLIENT"),
        remote_ip,
        remote_host: first_var(&["TCP6REMOTEHOST", "TCPREMOTEHOST"]),
        local_host: first_var(&["TCP6LOCALHOST", "TCPLOCALHOST", "TCP6LOCALIP", "TCPLOCALIP"])
            .unwrap_or_else(|| "unknown".into()),
        remote_info: first_var(&["TCP6REMOTEINFO", "TCPREMOTEINFO"]),
        auth: AuthMode::from_env(var("SMTPAUTH").as_deref()),
        checkprogram,
        tls: TlsMode::from_env(var("UCSPITLS").as_deref()),
        tls_active: smtps,
        helocheck,
        localmfcheck: var("LOCALMFCHECK"),
        mfdnscheck: var("MFDNSCHECK").is_some(),
        maxrecipients: var("MAXRECIPIENTS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        tarpitcount: var("TARPITCOUNT").and_then(|v| v.parse().ok()).unwrap_or(0),
        tarpitdelay: var("TARPITDELAY").and_then(|v| v.parse().ok()).unwrap_or(0),
        recipients450: var("RECIPIENTS450").is_some(),
        utf8: var("UTF8").is_some(),
        rbl_info,
        replies: Replies {
            helo: reply("REPLY_HELO"),
            mailbox: reply("REPLY_MAILBOX"),
            badmailfrom: reply("REPLY_BADMAILFROM"),
            badrcptto: reply("REPLY_BADRCPTTO"),
            nogateway: reply("REPLY_NOGATEWAY"),
            senderinvalid: reply("REPLY_SENDERINVALID"),
            senderexist: reply("REPLY_SENDEREXIST"),
            content: reply("REPLY_CONTENT"),
            greylisted: reply("REPLY_GREYLISTED"),
        },
        scan,
        scan_only_strangers,
        deliverto: var("DELIVERTO"),
        tls_vars: if smtps { tls_vars } else { Vec::new() },
        spf: spf_policy(&c)?,
        postgrey: var("POSTGREY").filter(|v| !v.is_empty()),
    })
}

/// `SPF` and its control files, read only when SPF is on (policy.md §6.1).
fn spf_policy(c: &Control) -> Result<Option<SpfPolicy>, Die> {
    let level = spf_level(var("SPF").as_deref()).map_err(|_| die_with(r::CONTROLS))?;
    if level == 0 {
        return Ok(None);
    }
    let ctl = |_| die_with(r::CONTROLS);
    Ok(Some(SpfPolicy {
        level,
        local_rules: c.line("spflocalrules").map_err(ctl)?,
        explain: c
            .line_or("spfexplain", sqmail::spf::DEFAULT_EXPLAIN)
            .map_err(ctl)?,
    }))
}

/// `BADMIMETYPE` / `BADLOADERTYPE` (smtpd.md §7.5).
fn scan_config(c: &Control) -> Result<ScanConfig, Die> {
    let mut s = ScanConfig {
        base64: var("BASE64").is_some(),
        ..ScanConfig::default()
    };
    let keys = |name: &str| data::cdb_keys(&c.path(name)).map_err(|_| die_with(r::CONTROLS));
    if let Some(m) = var("BADMIMETYPE").filter(|m| m != "-" && !m.is_empty()) {
        s.whitespace = m == "!" || m == "+";
        s.mime_keys = keys("badmimetypes.cdb")?;
    }
    if let Some(l) = var("BADLOADERTYPE").filter(|l| l != "-" && !l.is_empty()) {
        s.loader_keys = keys("badloadertypes.cdb")?;
        s.loader_char = if l == "+" { None } else { l.bytes().next() };
    }
    Ok(s)
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
    more: Option<Cdb>,
    recipients: Option<Vec<String>>,
    mfrules: Option<Cdb>,
    /// Made at the first DNS check.
    resolver: Option<Resolver>,
    /// This host's addresses, read at the first SPF check.
    own_ips: Option<Vec<std::net::IpAddr>>,
    greylister: sqmail::postgrey::Greylister,
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
        let Some(lines) = &self.recipients else {
            return RcptCheck::Accept("Rcpthosts_Rcptto");
        };
        let mut run = |argv: &[&str], a: &[u8]| -> Option<i32> {
            let mut block = a.to_vec();
            block.extend_from_slice(b"\0\0\0");
            let mut cmd = Command::new(argv[0]);
            cmd.args(&argv[1..])
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
        Some(sqmail::smtpd::mfrules::accepts(c, sender, info, ip, host))
    }

    fn sleep(&mut self, secs: u64) {
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }

    fn export(&mut self, name: &str, value: &str) {
        sys::set_env(name, value);
    }

    fn spf(&mut self, q: &sqmail::spf::Query) -> Option<sqmail::spf::Outcome> {
        let own = self
            .own_ips
            .get_or_insert_with(|| sys::local_addrs().unwrap_or_default());
        let q = sqmail::spf::Query {
            own_ips: own,
            ..q.clone()
        };
        sqmail::spf::check(&q, self.resolver.get_or_insert_with(Resolver::new))
    }

    fn greylisted(&mut self, server: &str, q: &sqmail::postgrey::Query) -> bool {
        self.greylister.greylisted(server, q)
    }
}

/// The connection: buffers, the session and its outside world.
struct Conn {
    session: Session,
    host: RealHost,
    input: InBuf,
    timeout: u32,
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

    /// Reads more client bytes; EOF and timeouts end the session.
    fn fill(&mut self) -> Result<(), Die> {
        self.flush()?;
        let mut i = TimeoutFd::new(0, self.timeout);
        match i.read(self.input.spare()) {
            Ok(0) => Err(Die::quiet(1)),
            Ok(n) => {
                self.input.filled(n);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                self.session
                    .out
                    .extend_from_slice(format!("{}\r\n", r::TIMEOUT).as_bytes());
                let _ = self.flush();
                Err(Die::quiet(1))
            }
            Err(_) => Err(Die::quiet(1)),
        }
    }

    fn run(&mut self) -> Result<(), Die> {
        self.session.greet();
        loop {
            let action = match self.input.next_line() {
                None => {
                    self.fill()?;
                    continue;
                }
                Some(Line::TooLong) => {
                    self.session.line_too_long();
                    Action::Continue
                }
                Some(Line::Ok(l)) => self.session.line(l, &mut self.host),
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
        let mut qq = match QueueClient::start(&self.host.home) {
            Ok(q) => q,
            Err(_) => {
                self.session.data_start_failed();
                return Ok(());
            }
        };
        let header = self.session.data_started(date::now_secs());
        self.flush()?;
        qq.write_all(&header);
        let scan = self.session.scan_config();
        let mut filter = DataFilter::new(self.session.databytes(), &scan);
        loop {
            let (used, st) = filter.feed(self.input.pending(), &mut |chunk| qq.write_all(chunk));
            self.input.consume(used);
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
                Feed::More => self.fill()?,
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
        cmd.args(&self.checkprogram[1..]).env("AUTHUSER", &user);
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

    /// STARTTLS by UCSPI-TLS (ucspi.md §8.4).
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
        let fd = |n: &str| -> io::Result<i32> {
            var(n)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| io::Error::other(format!("{n} not set")))
        };
        let (ctl, rd, wr) = (fd("SSLCTLFD")?, fd("SSLREADFD")?, fd("SSLWRITEFD")?);
        let mut c = TimeoutFd::new(ctl, self.timeout);
        c.write_all(b"Y")?;
        sys::dup2(rd, 0)?;
        sys::dup2(wr, 1)?;
        for fd in [rd, wr] {
            if fd > 2 && fd != ctl {
                sys::close_fd(fd);
            }
        }
        let mut block = Vec::new();
        let mut buf = [0u8; 4096];
        while !(block.len() >= 2 && block.ends_with(b"\0\0")) && block != b"\0" {
            let n = c.read(&mut buf)?;
            if n == 0 || block.len() > 1 << 20 {
                return Err(io::Error::other("TLS start failed"));
            }
            block.extend_from_slice(&buf[..n]);
            if block == b"\0\0" {
                break;
            }
        }
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Ok(sqmail::ucspi::ssl::parse_block(&block)
            .iter()
            .map(|(k, v)| (lossy(k), lossy(v)))
            .collect())
    }
}

fn smtpd() -> Result<(), Die> {
    sys::ignore_signal(libc::SIGPIPE).map_err(|e| Die::sys("ignore SIGPIPE", e))?;
    let home = sqmail::home::home();
    if std::env::set_current_dir(&home).is_err() {
        return Err(die_with(r::CONTROLS));
    }
    // Children (qmail-queue, the auth child, PAMs) must not hold the
    // UCSPI-TLS descriptors; ours keep working, dup2 clears the flag.
    for name in ["SSLCTLFD", "SSLREADFD", "SSLWRITEFD"] {
        if let Some(fd) = var(name)
            .and_then(|v| v.parse::<i32>().ok())
            .filter(|&fd| fd > 2)
        {
            let _ = sys::set_cloexec(fd, true);
        }
    }
    let checkprogram: Vec<OsString> = std::env::args_os().skip(1).collect();
    let pid = std::process::id();
    let cfg = config(&home, pid, !checkprogram.is_empty())?;
    let c = Control::new(&home);
    let timeout = match c.int("timeoutsmtpd", 1200) {
        Ok(0) => 1,
        Ok(t) => u32::try_from(t).unwrap_or(u32::MAX),
        Err(_) => return Err(die_with(r::CONTROLS)),
    };
    let opt_cdb = |p: &str| Cdb::open_optional(&c.path(p)).map_err(|_| die_with(r::CONTROLS));
    let more = if cfg.rcpthosts.is_some() {
        opt_cdb("morercpthosts.cdb")?
    } else {
        None
    };
    let relay = cfg.relayclient.is_some();
    let mfrules = if var("LOCALMFCHECK").as_deref() == Some("!") {
        opt_cdb("mailfromrules.cdb")?
    } else {
        None
    };
    let recipients = c.list("recipients").map_err(|_| die_with(r::CONTROLS))?;
    if cfg.rcpthosts.is_none() && !relay {
        sqmail::exit::warn(
            "qmail-smtpd",
            "no control/rcpthosts: every domain is accepted (open relay)",
        );
    }
    let host = RealHost {
        home,
        more,
        recipients,
        mfrules,
        resolver: None,
        own_ips: None,
        greylister: Default::default(),
    };
    let mut conn = Conn {
        session: Session::new(cfg),
        host,
        input: InBuf::new(),
        timeout,
        checkprogram,
    };
    conn.run()
}

fn main() {
    sqmail::exit::run("qmail-smtpd", smtpd)
}
