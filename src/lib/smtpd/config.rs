//! qmail-smtpd's configuration for one connection: control files and
//! environment variables (qmail-smtpd(8) ENVIRONMENT, CONTROL FILES) read
//! once at start, into the session's `Config` and the settings of the I/O
//! loop. `load` reads nothing but `control` and `env`, so it is tested
//! without a process environment.

use std::time::Duration;

use crate::cdb::Cdb;
use crate::control::Control;
pub use crate::environment::Environment;
use crate::smtpd::auth::AuthMode;
use crate::smtpd::data::{self, ScanConfig};
use crate::smtpd::filter::List;
use crate::smtpd::reply as r;
use crate::smtpd::session::{Config, Replies, SpfPolicy, TlsMode, spf_level};

/// `deadlinesmtpd`'s default: seconds for one command line from its first
/// byte, and the DATA allowance before the size bonus.
pub const DEADLINE: u64 = 300;
/// `timeoutsmtpd`'s default: seconds for each read or write.
pub const TIMEOUT: u64 = 1200;

/// Why qmail-smtpd cannot serve: the reply to send before exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// `421 unable to read controls`.
    Controls,
    /// Port 465 without TLS: `454 TLS not available`.
    TlsUnavailable,
}

impl ConfigError {
    pub fn reply(self) -> &'static str {
        match self {
            ConfigError::Controls => r::CONTROLS,
            ConfigError::TlsUnavailable => r::TLS_UNAVAILABLE,
        }
    }
}

impl From<std::io::Error> for ConfigError {
    fn from(_: std::io::Error) -> ConfigError {
        ConfigError::Controls
    }
}

/// Everything qmail-smtpd reads at start.
pub struct Loaded {
    pub config: Config,
    /// `timeoutsmtpd`, seconds per read or write.
    pub timeout: u32,
    /// `deadlinesmtpd`, per command line and (with the size bonus) per DATA.
    pub deadline: Duration,
    pub more_rcpthosts: Option<Cdb>,
    pub mailfromrules: Option<Cdb>,
    pub recipients: Option<Vec<String>>,
}

/// Reads the controls and the environment for one connection; `pid` and
/// `checkprogram` (one was given) come from the process.
pub fn load(
    c: &Control,
    env: &Environment,
    pid: u32,
    checkprogram: bool,
) -> Result<Loaded, ConfigError> {
    let config = session_config(c, env, pid, checkprogram)?;
    let timeout = match c.int("timeoutsmtpd", TIMEOUT)? {
        0 => 1,
        t => u32::try_from(t).unwrap_or(u32::MAX),
    };
    let deadline = Duration::from_secs(c.int("deadlinesmtpd", DEADLINE)?.max(1));
    let cdb = |p: &str| Cdb::open_optional(&c.path(p)).map_err(|_| ConfigError::Controls);
    let more_rcpthosts = match config.rcpthosts.is_some() {
        true => cdb("morercpthosts.cdb")?,
        false => None,
    };
    let mailfromrules = match env.get("LOCALMFCHECK").as_deref() {
        Some("!") => cdb("mailfromrules.cdb")?,
        _ => None,
    };
    Ok(Loaded {
        config,
        timeout,
        deadline,
        more_rcpthosts,
        mailfromrules,
        recipients: c.list("recipients")?,
    })
}

fn list(c: &Control, name: &str) -> Result<Option<List>, ConfigError> {
    Ok(c.list(name)?.map(List::new))
}

fn session_config(
    c: &Control,
    env: &Environment,
    pid: u32,
    checkprogram: bool,
) -> Result<Config, ConfigError> {
    let var = |n: &str| env.get(n);
    let me = c.line("me")?;
    let greeting = match c.line("smtpgreeting")? {
        Some(g) => g,
        None => me.clone().ok_or(ConfigError::Controls)?,
    };
    let localiphost = c.line_or_me("localiphost", me.as_deref(), "")?;
    let databytes = match var("DATABYTES") {
        Some(v) => crate::control::parse_leading_uint(&v).unwrap_or(0),
        None => c.int("databytes", 0)?,
    };
    let ip = |names: &[&str]| crate::ucspi::ip_from_env(names, var);
    let remote_ip = ip(&["TCP6REMOTEIP", "TCPREMOTEIP"]).unwrap_or_else(|| "unknown".into());
    let mut local_ips = vec!["127.0.0.1".to_string(), "::1".to_string()];
    local_ips.extend(ip(&["TCP6LOCALIP", "TCPLOCALIP"]));
    let helocheck = var("HELOCHECK");
    let local_port = env
        .first(&["TCP6LOCALPORT", "TCPLOCALPORT"])
        .unwrap_or_else(|| "0".into());
    let smtps = local_port == "465";
    if smtps && var("SSL_PROTOCOL").is_none() {
        return Err(ConfigError::TlsUnavailable);
    }
    let tls_vars = match smtps {
        true => env.with_prefix("SSL_"),
        false => Vec::new(),
    };
    let rbl_info = var("RBLSMTPD").and_then(|v| v.strip_prefix("[RBL info] ").map(str::to_string));
    let reply = |n: &str| var(n).unwrap_or_default();
    Ok(Config {
        pid,
        greeting,
        localiphost,
        local_ips,
        databytes,
        rcpthosts: list(c, "rcpthosts")?,
        badmailfrom: list(c, "badmailfrom")?,
        badrcptto: list(c, "badrcptto")?,
        badhelo: match helocheck.is_some() {
            true => list(c, "badhelo")?,
            false => None,
        },
        relayclient: var("RELAYCLIENT"),
        remote_ip,
        remote_host: env.first(&["TCP6REMOTEHOST", "TCPREMOTEHOST"]),
        local_host: env
            .first(&["TCP6LOCALHOST", "TCPLOCALHOST", "TCP6LOCALIP", "TCPLOCALIP"])
            .unwrap_or_else(|| "unknown".into()),
        remote_info: env.first(&["TCP6REMOTEINFO", "TCPREMOTEINFO"]),
        auth: AuthMode::from_env(var("SMTPAUTH").as_deref()),
        checkprogram,
        tls: TlsMode::from_env(var("UCSPITLS").as_deref()),
        tls_active: smtps,
        helocheck,
        localmfcheck: var("LOCALMFCHECK"),
        mfdnscheck: var("MFDNSCHECK").is_some(),
        maxrecipients: env.number("MAXRECIPIENTS"),
        tarpitcount: env.number("TARPITCOUNT"),
        tarpitdelay: env.number("TARPITDELAY"),
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
            maxsize: reply("REPLY_MAXSIZE"),
        },
        scan: scan_config(c, env)?,
        scan_only_strangers: var("BADMIMETYPE").as_deref() == Some("+")
            || var("BADLOADERTYPE").as_deref() == Some("+"),
        deliverto: var("DELIVERTO"),
        tls_vars,
        spf: spf_policy(c, env)?,
        postgrey: var("POSTGREY").filter(|v| !v.is_empty()),
        keep_bare_cr: var("BARECR").is_some(),
        ssl_client_email: var("SSL_CLIENT_S_DN_Email"),
    })
}

/// `SPF` and its control files, read only when SPF is on.
fn spf_policy(c: &Control, env: &Environment) -> Result<Option<SpfPolicy>, ConfigError> {
    let level = spf_level(env.get("SPF").as_deref()).map_err(|_| ConfigError::Controls)?;
    if level == 0 {
        return Ok(None);
    }
    Ok(Some(SpfPolicy {
        level,
        local_rules: c.line("spflocalrules")?,
        explain: c.line_or("spfexplain", crate::spf::DEFAULT_EXPLAIN)?,
    }))
}

/// `BADMIMETYPE` / `BADLOADERTYPE` and their cdbs.
fn scan_config(c: &Control, env: &Environment) -> Result<ScanConfig, ConfigError> {
    let mut s = ScanConfig {
        base64: env.get("BASE64").is_some(),
        ..ScanConfig::default()
    };
    let keys = |name: &str| data::cdb_keys(&c.path(name)).map_err(|_| ConfigError::Controls);
    if let Some(m) = env.get("BADMIMETYPE").filter(|m| m != "-" && !m.is_empty()) {
        s.whitespace = m == "!" || m == "+";
        s.mime_keys = keys("badmimetypes.cdb")?;
    }
    if let Some(l) = env
        .get("BADLOADERTYPE")
        .filter(|l| l != "-" && !l.is_empty())
    {
        s.loader_keys = keys("badloadertypes.cdb")?;
        s.loader_char = if l == "+" { None } else { l.bytes().next() };
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home(files: &[(&str, &str)]) -> (std::path::PathBuf, Control) {
        let dir = std::env::temp_dir().join(format!(
            "sqmail-smtpd-config-{}-{}",
            std::process::id(),
            files.len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("control")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join("control").join(name), text).unwrap();
        }
        let c = Control::new(&dir);
        (dir, c)
    }

    #[test]
    fn controls_and_environment() {
        let (dir, c) = home(&[
            ("me", "mx.example\n"),
            ("rcpthosts", "example.com\n"),
            ("timeoutsmtpd", "0\n"),
            ("deadlinesmtpd", "42\n"),
        ]);
        let env = Environment::from_pairs(&[
            ("TCP6REMOTEIP", "::ffff:192.0.2.7"),
            ("TCPLOCALIP", "::ffff:192.0.2.1"),
            ("DATABYTES", "1000x"),
            ("SMTPAUTH", "!"),
            ("MAXRECIPIENTS", "7"),
            ("BARECR", ""),
            ("REPLY_HELO", "go away"),
        ]);
        let l = load(&c, &env, 9, true).unwrap();
        let cfg = &l.config;
        assert_eq!(cfg.greeting, "mx.example");
        assert_eq!(cfg.remote_ip, "192.0.2.7");
        assert_eq!(cfg.local_ips, ["127.0.0.1", "::1", "192.0.2.1"]);
        assert_eq!(cfg.local_host, "::ffff:192.0.2.1");
        assert_eq!(cfg.databytes, 1000);
        assert!(cfg.auth.required && cfg.checkprogram);
        assert_eq!(cfg.maxrecipients, 7);
        assert!(cfg.keep_bare_cr);
        assert_eq!(cfg.replies.helo, "go away");
        assert!(cfg.rcpthosts.is_some() && cfg.spf.is_none());
        assert_eq!(l.timeout, 1);
        assert_eq!(l.deadline, Duration::from_secs(42));
        assert!(l.recipients.is_none() && l.more_rcpthosts.is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn refusals() {
        let (dir, c) = home(&[]);
        let env = Environment::default();
        assert_eq!(load(&c, &env, 1, false).err(), Some(ConfigError::Controls));
        std::fs::write(c.path("me"), "mx.example\n").unwrap();
        let l = load(&c, &env, 1, false).unwrap();
        assert_eq!(l.config.remote_ip, "unknown");
        assert_eq!(l.deadline, Duration::from_secs(DEADLINE));
        let smtps = Environment::from_pairs(&[("TCPLOCALPORT", "465")]);
        assert_eq!(
            load(&c, &smtps, 1, false).err(),
            Some(ConfigError::TlsUnavailable)
        );
        let spf = Environment::from_pairs(&[("SPF", "9")]);
        assert_eq!(load(&c, &spf, 1, false).err(), Some(ConfigError::Controls));
        let _ = std::fs::remove_dir_all(dir);
    }
}
