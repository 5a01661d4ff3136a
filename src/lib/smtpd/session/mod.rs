//! The SMTP session as a state machine without I/O (qmail-smtpd(8)): the
//! caller hands it one command line at a time and sends what it appended
//! to `out`; log lines collect in `log`. Work that needs the outside world
//! (the queue, the auth child, STARTTLS) is returned as an `Action`, and
//! lookups and sleeps go through the `Host` trait.

mod auth;
mod grey;
mod spf;
#[cfg(test)]
mod tests;

use auth::AuthStep;
pub use auth::{AuthOutcome, AuthRequest};
pub use spf::{SpfPolicy, level as spf_level};

use crate::envelope::Envelope;
use crate::queue::exitcode::{Class, QqError};
use crate::smtpd::addr;
use crate::smtpd::auth::{AuthMode, Mech};
use crate::smtpd::data::{Refusal, ScanConfig};
use crate::smtpd::filter::{self, List, MailFrom};
use crate::smtpd::reply as r;

/// Envelope bound: recipients' bytes per message (CVE-2005-1513 family).
pub const MAX_ENVELOPE: usize = 512 * 1024;

/// The longest `RCPTTO=...` environment string qmail-queue can be started
/// with: Linux refuses a single string over 32 pages (MAX_ARG_STRLEN) with
/// E2BIG. Recipients past it get 452, so the client sends them again in
/// another transaction instead of meeting a 451 for the whole message.
pub const MAX_RCPTTO: usize = 128 * 1024 - 1;

/// `UCSPITLS` (qmail-smtpd(8)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    #[default]
    Off,
    Offered,
    Required,
    /// `?`: required; a verified client certificate grants relaying.
    CertRelay,
    /// `@`: as `?`, and the certificate names the client.
    CertIdentity,
}

impl TlsMode {
    pub fn from_env(v: Option<&str>) -> TlsMode {
        match v {
            None | Some("-") => TlsMode::Off,
            Some("!") => TlsMode::Required,
            Some("?") => TlsMode::CertRelay,
            Some("@") => TlsMode::CertIdentity,
            Some(_) => TlsMode::Offered,
        }
    }
    pub fn required(self) -> bool {
        matches!(
            self,
            TlsMode::Required | TlsMode::CertRelay | TlsMode::CertIdentity
        )
    }
}

/// The `REPLY_*` texts.
#[derive(Debug, Clone, Default)]
pub struct Replies {
    pub helo: String,
    pub mailbox: String,
    pub badmailfrom: String,
    pub badrcptto: String,
    pub nogateway: String,
    pub senderinvalid: String,
    pub senderexist: String,
    pub content: String,
    pub greylisted: String,
    pub maxsize: String,
}

/// Everything fixed for one connection: controls and environment.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub pid: u32,
    pub greeting: String,
    pub localiphost: String,
    pub local_ips: Vec<String>,
    pub databytes: u64,
    /// `None`: no rcpthosts file (every domain accepted).
    pub rcpthosts: Option<List>,
    pub badmailfrom: Option<List>,
    pub badrcptto: Option<List>,
    pub badhelo: Option<List>,
    pub relayclient: Option<String>,
    pub remote_ip: String,
    /// `None` when unknown.
    pub remote_host: Option<String>,
    pub local_host: String,
    pub remote_info: Option<String>,
    pub auth: AuthMode,
    /// A checkprogram was given on the command line.
    pub checkprogram: bool,
    pub tls: TlsMode,
    /// Implicit TLS (port 465): active from the start.
    pub tls_active: bool,
    pub helocheck: Option<String>,
    pub localmfcheck: Option<String>,
    /// `MFDNSCHECK`: the sender's domain must exist (MX or A).
    pub mfdnscheck: bool,
    pub maxrecipients: u64,
    pub tarpitcount: u64,
    pub tarpitdelay: u64,
    pub recipients450: bool,
    pub utf8: bool,
    pub rbl_info: Option<String>,
    pub replies: Replies,
    pub scan: ScanConfig,
    /// `BADMIMETYPE`/`BADLOADERTYPE` `+`: scanning off for relay clients.
    pub scan_only_strangers: bool,
    pub deliverto: Option<String>,
    /// TLS variables of an implicit-TLS session (`SSL_*`).
    pub tls_vars: Vec<(String, String)>,
    /// `SPF` 1–6 (qmail-smtpd(8), SPF); `None`: off.
    pub spf: Option<SpfPolicy>,
    /// `POSTGREY`: the greylisting server (qmail-postgrey(8)).
    pub postgrey: Option<String>,
    /// `BARECR`: keep bare CRs in DATA as qmail did (default: line ends).
    pub keep_bare_cr: bool,
    /// `SSL_CLIENT_S_DN_Email` at start (`LOCALMFCHECK='?'`); STARTTLS
    /// brings its own.
    pub ssl_client_email: Option<String>,
}

/// A recipient verification answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcptCheck {
    /// Accepted; the log source (`Recipients_Cdb`, ...).
    Accept(&'static str),
    Reject,
    /// Temporary failure: 421 and close.
    Temp,
}

/// A DNS answer for the HELO and sender checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dns {
    Found,
    /// The name does not exist (or has no such record).
    NotFound,
    Temp,
}

/// The outside world as the session sees it.
pub trait Host {
    /// Whether `name` resolves: with `mx`, MX records with qmail's
    /// fallback to A; else an address.
    fn dns(&mut self, name: &str, mx: bool) -> Dns;
    /// `morercpthosts.cdb` has `key`.
    fn more_rcpthosts(&mut self, key: &str) -> bool;
    /// Recipient verification (`control/recipients`).
    fn recipient(&mut self, addr: &[u8]) -> RcptCheck;
    /// `mailfromrules.cdb` accepts the sender; `None` if there is no cdb.
    fn mailfromrules(
        &mut self,
        sender: &str,
        info: Option<&str>,
        ip: &str,
        host: &str,
    ) -> Option<bool>;
    fn sleep(&mut self, secs: u64);
    /// Sets an environment variable for the children.
    fn export(&mut self, name: &str, value: &str);
    /// Evaluates SPF (the host adds its own addresses); `None` if it can't.
    fn spf(&mut self, q: &crate::spf::Query) -> Option<crate::spf::Outcome> {
        let _ = q;
        None
    }

    /// Asks the greylisting server `server` about this recipient.
    fn greylisted(&mut self, _server: &str, _q: &crate::postgrey::Query) -> bool {
        false
    }
}

/// What the caller must do after a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Continue,
    /// Start qmail-queue, then call `data_started` or `data_start_failed`.
    Data,
    /// Run the checkprogram, then call `auth_finished`.
    Auth(AuthRequest),
    /// Flush, do UCSPI-TLS, discard buffered input, call `tls_started`.
    StartTls,
    /// Flush and exit 0.
    Quit,
    /// Flush and exit 1.
    Close,
}

pub struct Session {
    cfg: Config,
    seenhelo: bool,
    /// The greeting was EHLO (AUTH needs it).
    ehlo: bool,
    helohost: Vec<u8>,
    helo_bad: Option<char>,
    helo_dns: Option<char>,
    helo_dns_temp: bool,
    mf_dns_bad: bool,
    seenmail: bool,
    sender: Vec<u8>,
    rcpts: Vec<Vec<u8>>,
    env_bytes: usize,
    /// The length of this transaction's recipients in `RCPTTO`.
    rcptto_len: usize,
    rcptcount: u64,
    too_big: bool,
    smtputf8: bool,
    mailfrom: MailFrom,
    mav: i32,
    /// 0 none, 1 AUTH, 2 client certificate.
    authed: u8,
    auth_mech: Option<Mech>,
    auth_user: String,
    auth_step: Option<(Mech, AuthStep)>,
    failed_rcpts: u64,
    notorious: bool,
    relay: Option<String>,
    remote_info: Option<String>,
    tls_active: bool,
    tls_info: Option<String>,
    /// The client certificate's e-mail address, for `LOCALMFCHECK='?'`.
    client_email: Option<String>,
    /// SPF passed for the current recipient (the `Accept::SPF::` line).
    spf_pass: bool,
    /// The last SPF evaluation, for its (HELO, sender).
    spf_done: Option<(spf::SpfKey, crate::spf::Outcome)>,
    /// Replies waiting to be sent.
    pub out: Vec<u8>,
    /// Log lines waiting to be written to fd 2.
    pub log: Vec<u8>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// The Received line's filter, shared with Received-SPF (qmail-smtpd(8)).
use crate::printable::header_safe as safe;

/// Log fields: control bytes become `?` so a decision stays one line.
use crate::printable::no_controls as log_clean;

impl Session {
    pub fn new(cfg: Config) -> Session {
        let relay = cfg.relayclient.clone();
        let client_email = cfg.ssl_client_email.clone();
        let remote_info = cfg.remote_info.clone();
        let tls_active = cfg.tls_active;
        let mut s = Session {
            cfg,
            seenhelo: false,
            ehlo: false,
            helohost: Vec::new(),
            helo_bad: None,
            helo_dns: None,
            helo_dns_temp: false,
            mf_dns_bad: false,
            seenmail: false,
            sender: Vec::new(),
            rcpts: Vec::new(),
            env_bytes: 0,
            rcptto_len: 0,
            rcptcount: 0,
            too_big: false,
            smtputf8: false,
            mailfrom: MailFrom::Clean,
            mav: 0,
            authed: 0,
            auth_mech: None,
            auth_user: String::new(),
            auth_step: None,
            failed_rcpts: 0,
            notorious: false,
            relay,
            remote_info,
            tls_active,
            tls_info: None,
            client_email,
            spf_pass: false,
            spf_done: None,
            out: Vec::with_capacity(512),
            log: Vec::new(),
        };
        if tls_active {
            let vars = std::mem::take(&mut s.cfg.tls_vars);
            s.tls_identity(&vars);
        }
        s
    }

    fn reply(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// `220 greeting ESMTP`.
    pub fn greet(&mut self) {
        let g = format!("220 {} ESMTP", self.cfg.greeting);
        self.reply(&g);
    }

    /// The protocol keyword of the Received line and the logs.
    pub fn protocol(&self) -> String {
        let mut p = String::with_capacity(12);
        if self.smtputf8 {
            p.push_str("UTF8");
        }
        p.push_str("ESMTP");
        if self.tls_active {
            p.push('S');
        }
        if self.authed > 0 && (self.authed == 1 || self.cfg.tls == TlsMode::CertIdentity) {
            p.push('A');
        }
        if self.mav > 0 {
            p.push('M');
        }
        p
    }

    fn log_line(&mut self, what: &str, generic: Option<&[u8]>, tail: &str) {
        let host = self.cfg.remote_host.as_deref().unwrap_or("unknown");
        let mut l = format!(
            "qmail-smtpd: pid {} {} P:{} S:{}:{} H:{}",
            self.cfg.pid,
            what,
            self.protocol(),
            self.cfg.remote_ip,
            host,
            lossy(&self.helohost)
        );
        if let Some(rcpt) = generic {
            l.push_str(&format!(" F:{} T:{}", lossy(&self.sender), lossy(rcpt)));
        }
        l.push_str(tail);
        let mut l = log_clean(&l);
        l.push('\n');
        self.log.extend_from_slice(l.as_bytes());
    }

    fn log_info(&mut self, what: &str, rcpt: &[u8], info: &str) {
        self.log_line(what, Some(rcpt), &format!(" '{info}'"));
    }

    /// Handles one command line (LF removed; a CR before it is cut here).
    pub fn line(&mut self, line: &[u8], host: &mut dyn Host) -> Action {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if self.auth_step.is_some() {
            return self.auth_continue(line);
        }
        // A NUL would cut or break what reaches the environment (HELOHOST,
        // MAILFROM), the queue's envelope and the checkpassword program.
        if crate::bytescan::find(0, line).is_some() {
            self.reply(r::NUL_IN_COMMAND);
            return Action::Continue;
        }
        let (verb, arg) = match crate::bytescan::find(b' ', line) {
            Some(sp) => (&line[..sp], line[sp..].trim_ascii_start()),
            None => (line, &b""[..]),
        };
        let verb = verb.to_ascii_lowercase();
        match verb.as_slice() {
            b"helo" => self.helo(arg, false, host),
            b"ehlo" => self.helo(arg, true, host),
            b"mail" => self.mail(arg, host),
            b"rcpt" => return self.rcpt(arg, host),
            b"data" => return self.data(host),
            b"rset" => {
                self.seenmail = false;
                self.reply(r::RSET);
            }
            b"noop" => self.reply(r::NOOP_OK),
            b"vrfy" => self.reply(r::VRFY),
            b"help" => self.reply(r::HELP),
            b"quit" => {
                let g = format!("221 {}", self.cfg.greeting);
                self.reply(&g);
                return Action::Quit;
            }
            b"auth" => return self.auth(arg),
            b"starttls" => {
                if self.cfg.tls == TlsMode::Off || self.tls_active {
                    self.reply(r::UNIMPLEMENTED);
                } else {
                    self.reply(r::STARTTLS_READY);
                    return Action::StartTls;
                }
            }
            _ => self.reply(r::UNIMPLEMENTED),
        }
        Action::Continue
    }

    /// A command line longer than the limit; inside AUTH it ends the
    /// exchange.
    pub fn line_too_long(&mut self) {
        if self.auth_step.is_some() {
            return self.auth_abort_too_long();
        }
        self.reply(r::UNIMPLEMENTED);
    }

    fn reset_transaction(&mut self) {
        self.seenmail = false;
        self.rcpts.clear();
        self.env_bytes = 0;
        self.rcptto_len = 0;
        self.too_big = false;
        self.mf_dns_bad = false;
        self.smtputf8 = false;
        self.mav = 0;
    }

    fn auth_offered(&self) -> bool {
        self.cfg.auth.enabled()
            && self.cfg.checkprogram
            && self.authed == 0
            && (!self.cfg.tls.required() || self.tls_active)
    }

    fn helo(&mut self, arg: &[u8], ehlo: bool, host: &mut dyn Host) {
        self.reset_transaction();
        self.rcptcount = 0;
        self.seenhelo = true;
        self.ehlo = ehlo;
        self.helohost = arg.to_vec();
        host.export("HELOHOST", &lossy(arg));
        self.helo_verdict(host);
        if !ehlo {
            let g = format!("250 {}", self.cfg.greeting);
            self.reply(&g);
            return;
        }
        let mut t = format!("250-{}\r\n250-PIPELINING\r\n", self.cfg.greeting);
        if self.cfg.utf8 {
            t.push_str("250-SMTPUTF8\r\n");
        }
        t.push_str("250-8BITMIME\r\n");
        if self.cfg.tls != TlsMode::Off && !self.tls_active {
            t.push_str("250-STARTTLS\r\n");
        }
        if self.auth_offered() {
            t.push_str(&format!("250-{}\r\n", self.cfg.auth.ehlo()));
        }
        t.push_str(&format!("250 SIZE {}", self.cfg.databytes));
        self.reply(&t);
    }

    fn helo_verdict(&mut self, host: &mut dyn Host) {
        self.helo_bad = None;
        self.helo_dns = None;
        self.helo_dns_temp = false;
        let Some(hc) = self.cfg.helocheck.as_deref() else {
            return;
        };
        let mode = if hc.len() == 1 { hc.as_bytes()[0] } else { 0 };
        if matches!(mode, b'!' | b'.') && self.helohost.is_empty() {
            self.helo_bad = Some('!');
            return;
        }
        if mode == b'!' {
            return;
        }
        let mut good = false;
        if let Some(l) = &self.cfg.badhelo {
            let (bad, known_good) = filter::badhelo(l, &self.helohost);
            self.helo_bad = bad;
            good = known_good;
        }
        if mode == b'=' && !good && self.helo_bad.is_none() {
            let remote = self.cfg.remote_host.as_deref().unwrap_or("unknown");
            if !self.helohost.eq_ignore_ascii_case(remote.as_bytes()) {
                self.helo_dns = Some('=');
            }
        }
        if matches!(mode, b'A' | b'M') && !good && self.helo_bad.is_none() && self.relay.is_none() {
            match host.dns(&lossy(&self.helohost), mode == b'M') {
                Dns::Found => {}
                Dns::NotFound => self.helo_dns = Some(char::from(mode)),
                Dns::Temp => self.helo_dns_temp = true,
            }
        }
    }

    fn mail(&mut self, arg: &[u8], host: &mut dyn Host) {
        if self.cfg.tls.required() && !self.tls_active {
            self.reply(r::TLS_REQUIRED);
            self.log_line("Reject::TLS::missing", None, "");
            return;
        }
        if self.cfg.auth.required && self.authed == 0 {
            self.reply(r::AUTH_REQUIRED);
            self.log_line("Reject::AUTH::missing", None, "");
            return;
        }
        let Some(mut a) = addr::parse(arg) else {
            self.reply(r::SYNTAX);
            return;
        };
        addr::rewrite_literal(&mut a, &self.cfg.local_ips, &self.cfg.localiphost);
        self.reset_transaction();
        self.rcptcount = 0;
        let p = addr::mail_params(arg);
        self.too_big = self.cfg.databytes > 0 && p.size.is_some_and(|n| n > self.cfg.databytes);
        self.smtputf8 = p.smtputf8;
        self.seenmail = true;
        self.sender = a;
        host.export("MAILFROM", &lossy(&self.sender));
        if self.relay.is_some() && self.cfg.localmfcheck.is_some() && !self.sender.is_empty() {
            self.mav = self.mav_check(host);
        }
        self.mailfrom = match &self.cfg.badmailfrom {
            Some(l) => filter::badmailfrom(
                l,
                &self.sender,
                self.relay.is_some(),
                self.cfg.remote_host.as_deref(),
            ),
            None => MailFrom::Clean,
        };
        let dom = lossy(addr::domain(&self.sender));
        if self.cfg.mfdnscheck
            && self.relay.is_none()
            && !dom.is_empty()
            && self.mailfrom != MailFrom::Whitelisted
        {
            match host.dns(&dom, true) {
                Dns::Found => {}
                Dns::NotFound => self.mf_dns_bad = true,
                Dns::Temp => {
                    self.seenmail = false;
                    self.reply(r::DNS_TEMP);
                    return;
                }
            }
        }
        self.reply(r::NOOP_OK);
    }

    /// Mail-from address verification for relay clients (qmail-smtpd(8)).
    fn mav_check(&mut self, host: &mut dyn Host) -> i32 {
        let sender = lossy(&self.sender).to_ascii_lowercase();
        let dom = lossy(addr::domain(&self.sender)).to_ascii_lowercase();
        let mode = self.cfg.localmfcheck.clone().unwrap_or_default();
        let verdict = |ok: bool| if ok { 1 } else { -1 };
        match mode.as_str() {
            "=" => verdict(
                self.remote_info
                    .as_deref()
                    .is_some_and(|i| i.eq_ignore_ascii_case(&sender)),
            ),
            "?" => verdict(
                self.client_email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(&sender)),
            ),
            "!" => {
                let hostname = self.cfg.remote_host.clone().unwrap_or_default();
                match host.mailfromrules(
                    &sender,
                    self.remote_info.as_deref(),
                    &self.cfg.remote_ip,
                    &hostname,
                ) {
                    Some(ok) => verdict(ok),
                    None => verdict(self.in_rcpthosts(&dom, host)),
                }
            }
            d if d.len() > 1 && d.eq_ignore_ascii_case(&dom) => 1,
            _ => verdict(self.in_rcpthosts(&dom, host)),
        }
    }

    fn in_rcpthosts(&self, dom: &str, host: &mut dyn Host) -> bool {
        let Some(l) = &self.cfg.rcpthosts else {
            return true;
        };
        filter::domain_keys(dom).any(|k| l.has(k))
            || filter::domain_keys(dom).any(|k| host.more_rcpthosts(k))
    }

    fn rcpt(&mut self, arg: &[u8], host: &mut dyn Host) -> Action {
        if !self.seenmail {
            self.reply(r::MAIL_FIRST);
            return Action::Continue;
        }
        let Some(mut a) = addr::parse(arg) else {
            self.reply(r::SYNTAX);
            return Action::Continue;
        };
        addr::rewrite_literal(&mut a, &self.cfg.local_ips, &self.cfg.localiphost);
        self.rcptcount += 1;
        let mut source = "Rcpthosts_Rcptto";
        match self.relay.clone() {
            None => match self.stranger_checks(&a, host) {
                Ok(_) if self.greylist(&a, host) => return Action::Continue,
                Ok(s) => source = s,
                Err(action) => return action,
            },
            Some(suffix) => {
                if self.mav < 0 {
                    let t = r::sender_invalid(&self.cfg.replies.senderinvalid);
                    self.reply(&t);
                    self.log_line("Reject::ORIG::Invalid_Mailfrom", Some(&a), "");
                    return Action::Continue;
                }
                a.extend_from_slice(suffix.as_bytes());
            }
        }
        if let MailFrom::Bad(info) = self.mailfrom {
            let t = r::bad_mailfrom(&self.cfg.replies.badmailfrom);
            self.reply(&t);
            self.log_info("Reject::ORIG::Bad_Mailfrom", &a, &info.to_string());
            return Action::Continue;
        }
        if self
            .cfg
            .badrcptto
            .as_ref()
            .is_some_and(|l| filter::badrcptto(l, &a))
        {
            let t = r::bad_rcptto(&self.cfg.replies.badrcptto);
            self.reply(&t);
            self.log_line("Reject::RCPT::Bad_Rcptto", Some(&a), "");
            return Action::Continue;
        }
        if self.too_big {
            let t = r::too_big(&self.cfg.replies.maxsize);
            self.reply(&t);
            self.log_line("Reject::DATA::Invalid_Size", Some(&a), "");
            return Action::Continue;
        }
        let over_max = self.cfg.maxrecipients > 0 && self.rcptcount > self.cfg.maxrecipients;
        let rcptto_len = self.rcptto_len + String::from_utf8_lossy(&a).len() + 1;
        if over_max
            || self.env_bytes + a.len() + 2 > MAX_ENVELOPE
            || "RCPTTO=".len() + self.deliverto_len() + rcptto_len > MAX_RCPTTO
        {
            self.reply(r::TOO_MANY_RCPTS);
            self.log_line("Reject::RCPT::Toomany_Rcptto", Some(&a), "");
            return Action::Continue;
        }
        let what = if self.authed == 1 {
            let m = self.auth_mech.map_or("login", Mech::name);
            format!("Accept::AUTH::{m}")
        } else if self.mav > 0 {
            "Accept::ORIG::Local_Sender".into()
        } else if self.relay.is_some() {
            "Accept::SNDR::Relay_Client".into()
        } else if self.spf_pass {
            format!("Accept::SPF::{source}")
        } else {
            format!("Accept::RCPT::{source}")
        };
        let tail = if self.authed == 1 {
            format!(" ?~ '{}'", self.auth_user)
        } else {
            String::new()
        };
        self.log_line(&what, Some(&a), &tail);
        self.env_bytes += a.len() + 2;
        self.rcptto_len = rcptto_len;
        self.rcpts.push(a);
        self.reply(r::NOOP_OK);
        Action::Continue
    }

    /// RCPT checks for clients without RELAYCLIENT (qmail-smtpd(8)).
    /// `Ok(source)` lets the recipient pass to the common checks.
    fn stranger_checks(&mut self, a: &[u8], host: &mut dyn Host) -> Result<&'static str, Action> {
        let one_char = self.cfg.helocheck.as_deref().is_some_and(|h| h.len() == 1);
        let helo_reject = if one_char && !self.seenhelo {
            Some(("Reject::SNDR::Bad_Helo", '0'))
        } else if let Some(c) = self.helo_bad {
            Some(("Reject::SNDR::Bad_Helo", c))
        } else {
            self.helo_dns.map(|c| ("Reject::SNDR::DNS_Helo", c))
        };
        if let Some((what, info)) = helo_reject {
            let t = r::bad_helo(&self.cfg.replies.helo);
            self.reply(&t);
            self.log_info(what, a, &info.to_string());
            return Err(Action::Continue);
        }
        if self.helo_dns_temp {
            self.reply(r::DNS_TEMP);
            return Err(Action::Continue);
        }
        if self.mf_dns_bad {
            let t = r::sender_exist(&self.cfg.replies.senderexist);
            self.reply(&t);
            self.log_line("Reject::ORIG::DNS_MF", Some(a), "");
            return Err(Action::Continue);
        }
        if crate::bytescan::find(b'@', a).is_some() {
            let dom = lossy(addr::domain(a)).to_ascii_lowercase();
            if !self.in_rcpthosts(&dom, host) {
                let t = r::no_gateway(&self.cfg.replies.nogateway);
                self.reply(&t);
                self.log_line("Reject::SNDR::Invalid_Relay", Some(a), "");
                return Err(Action::Continue);
            }
        }
        let n = self.cfg.tarpitcount;
        if n > 0 {
            if self.failed_rcpts >= n {
                if self.cfg.tarpitdelay == 999 {
                    self.notorious = true;
                }
                self.reply(r::TOO_MANY_RCPTS);
                self.log_line("Reject::RCPT::Toomany_Rcptto", Some(a), "");
                return Err(Action::Continue);
            }
            if self.rcptcount > n && (1..999).contains(&self.cfg.tarpitdelay) {
                host.sleep(self.cfg.tarpitdelay);
            }
        }
        match host.recipient(a) {
            RcptCheck::Accept(s) => self.spf_rcpt(a, host).map(|()| s),
            RcptCheck::Temp => {
                self.reply(r::CHECK_RCPTS);
                Err(Action::Close)
            }
            RcptCheck::Reject => {
                self.failed_rcpts += 1;
                let t = if self.cfg.recipients450 {
                    r::MAILBOX_450.to_string()
                } else {
                    r::no_mailbox(&self.cfg.replies.mailbox)
                };
                self.reply(&t);
                self.log_line("Reject::RCPT::Failed_Rcptto", Some(a), "");
                Err(Action::Continue)
            }
        }
    }

    fn data(&mut self, host: &mut dyn Host) -> Action {
        if !self.seenmail {
            self.reply(r::MAIL_FIRST);
            return Action::Continue;
        }
        if self.rcpts.is_empty() {
            self.reply(r::RCPT_FIRST);
            return Action::Continue;
        }
        if self.notorious {
            self.reply(r::DATA_REFUSED);
            return Action::Close;
        }
        self.spf_export(host);
        Action::Data
    }

    /// The message's envelope for qmail-queue.
    pub fn envelope(&self) -> Envelope {
        Envelope {
            sender: self.sender.clone(),
            recipients: self.rcpts.clone(),
        }
    }

    /// The envelope as qmail-queue reads it; with `BASE64` set and no
    /// base64 part seen, the `Q` token skips the virus scan (§7.4).
    pub fn queue_envelope(&self, saw_base64: bool) -> Vec<u8> {
        let env = self.envelope();
        match self.cfg.scan.base64 && !saw_base64 {
            true => env.to_bytes_no_scan(),
            false => env.to_bytes(),
        }
    }

    /// `DELIVERTO` and its space at the start of `RCPTTO`.
    fn deliverto_len(&self) -> usize {
        self.cfg.deliverto.as_ref().map_or(0, |d| d.len() + 1)
    }

    /// The `RCPTTO` value of this transaction.
    pub fn rcptto(&self) -> String {
        let mut s = match &self.cfg.deliverto {
            Some(d) => format!("{d} "),
            None => String::new(),
        };
        for r in &self.rcpts {
            s.push_str(&lossy(r));
            s.push(' ');
        }
        s
    }

    /// qmail-queue could not be started.
    pub fn data_start_failed(&mut self) {
        self.seenmail = false;
        self.reply(r::QQT);
    }

    /// qmail-queue runs: the 354 goes out and the headers to write first
    /// are returned.
    pub fn data_started(&mut self, now: i64) -> Vec<u8> {
        self.reply(r::GO_AHEAD);
        let mut h = self.spf_header();
        h.push_str(&self.received(now));
        h.into_bytes()
    }

    /// Whether the base64 scanner applies to this client.
    pub fn scan_config(&self) -> ScanConfig {
        if self.cfg.scan_only_strangers && self.relay.is_some() {
            return ScanConfig {
                base64: self.cfg.scan.base64,
                ..ScanConfig::default()
            };
        }
        self.cfg.scan.clone()
    }

    pub fn databytes(&self) -> u64 {
        self.cfg.databytes
    }

    pub fn keep_bare_cr(&self) -> bool {
        self.cfg.keep_bare_cr
    }

    /// The Received line (qmail-smtpd(8)).
    pub fn received(&self, now: i64) -> String {
        let protocol = self.protocol();
        let mut s = crate::received::line(
            &crate::received::Origin {
                host: self.cfg.remote_host.as_deref().unwrap_or("unknown"),
                helo: Some(&self.helohost),
                info: self.remote_info.as_deref(),
                ip: &self.cfg.remote_ip,
                tls: self.tls_info.as_deref(),
                local: &self.cfg.local_host,
                protocol: &protocol,
            },
            now,
        );
        if let Some(rbl) = &self.cfg.rbl_info {
            s.push_str(&format!("X-RBL-Info: {}\n", safe(rbl.as_bytes())));
        }
        s
    }

    /// The end of DATA: the filter's verdict and, if the message went to
    /// qmail-queue, its result.
    pub fn data_finished(
        &mut self,
        verdict: Result<u64, Refusal>,
        qq: Option<Result<(), QqError>>,
        qp: u32,
        now: i64,
    ) {
        self.seenmail = false;
        let first = self.rcpts.first().cloned().unwrap_or_default();
        let content = r::bad_content(&self.cfg.replies.content);
        match (verdict, qq) {
            (Err(Refusal::Hops), _) => self.reply(r::HOPS),
            (Err(Refusal::TooBig), _) => {
                let t = r::too_big(&self.cfg.replies.maxsize);
                self.reply(&t);
                self.log_line("Reject::DATA::Invalid_Size", Some(&first), "");
            }
            (Err(Refusal::Mime(info)), _) => {
                self.reply(&content);
                self.log_info("Reject::DATA::Bad_MIME", &first, &info);
            }
            (Err(Refusal::Loader(info)), _) => {
                self.reply(&content);
                self.log_info("Reject::DATA::Bad_Loader", &first, &info);
            }
            (Ok(_), Some(Ok(()))) => {
                let t = format!("250 ok {now} qp {qp}");
                self.reply(&t);
            }
            (Ok(_), Some(Err(e))) => {
                let info = match e.class() {
                    Class::Spam => Some(("Reject::DATA::Spam_Message", "spam".to_string())),
                    Class::Attachment => Some(("Reject::DATA::MIME_Attach", "MIME".to_string())),
                    Class::Virus => Some((
                        "Reject::DATA::Virus_Infected",
                        std::env::var("QHPSI").unwrap_or_else(|_| "AV scanner".into()),
                    )),
                    Class::Temporary | Class::Permanent => None,
                };
                match info {
                    Some((what, i)) => {
                        self.reply(&content);
                        self.log_info(what, &first, &i);
                    }
                    None => {
                        let code = if e.is_permanent() { "554" } else { "451" };
                        let t = format!("{code} {}", e.text());
                        self.reply(&t);
                    }
                }
            }
            (Ok(_), None) => self.reply(r::QQT),
        }
    }

    /// TLS is up (STARTTLS): the variables from sslserver, and the reset
    /// RFC 3207 asks for.
    pub fn tls_started(&mut self, vars: &[(String, String)], host: &mut dyn Host) {
        for (k, v) in vars {
            host.export(k, v);
        }
        self.tls_active = true;
        self.seenhelo = false;
        self.ehlo = false;
        self.helohost.clear();
        self.helo_bad = None;
        self.helo_dns = None;
        self.reset_transaction();
        self.rcptcount = 0;
        if self.authed == 1 {
            self.authed = 0;
            self.auth_mech = None;
            self.relay = self.cfg.relayclient.clone();
            self.remote_info = self.cfg.remote_info.clone();
        }
        self.tls_identity(vars);
        if self.authed == 2 && self.cfg.tls == TlsMode::CertIdentity {
            host.export("AUTHPROTOCOL", "cert");
        }
    }

    fn tls_identity(&mut self, vars: &[(String, String)]) {
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let dn = get("SSL_CLIENT_S_DN");
        if let Some(e) = get("SSL_CLIENT_S_DN_Email") {
            self.client_email = Some(e.to_string());
        }
        self.tls_info = Some(crate::received::tls_info(|k| get(k).map(String::from)));
        let cert_mode = matches!(self.cfg.tls, TlsMode::CertRelay | TlsMode::CertIdentity);
        if let (Some(dn), true) = (dn, cert_mode) {
            self.authed = 2;
            self.relay = Some(String::new());
            if self.cfg.tls == TlsMode::CertIdentity {
                self.remote_info = Some(get("SSL_CLIENT_S_DN_CN").unwrap_or(dn).to_string());
            }
        }
    }
}
