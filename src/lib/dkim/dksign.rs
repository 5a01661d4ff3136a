//! qmail-dksign (see qmail-dksign(8)): qmail-rspawn runs it in place of
//! qmail-remote when control/dkimdomains exists. It signs the message for
//! the sender's domain and executes qmail-remote on the signed copy (an
//! unlinked file: qmail-remote needs a file), so its reports and exit
//! code are ours; a message it cannot sign is a
//! temporary failure (a `Z` report), never sent unsigned.

use std::ffi::OsStr;
use std::io::{Read, Seek, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use super::Canon;
use super::key::SigningKey;
use super::options::{self, Algorithms};
use super::sign::{self, Spec};

/// One line of control/dkimdomains:
/// `domain:selector[,selector2]|sdid|[auid|~]|expire|c:z:l`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub domain: String,
    pub selectors: Vec<String>,
    /// `d=`: the domain itself when empty.
    pub sdid: String,
    /// `i=`: none when empty, the envelope sender for `~`.
    pub auid: String,
    pub expire: Option<u64>,
    pub canon: Canon,
    pub algorithms: Algorithms,
    pub body_length: bool,
}

/// The rule of a line, or why not.
pub fn parse_rule(line: &str) -> Result<Rule, String> {
    let f: Vec<&str> = line.split('|').map(str::trim).collect();
    let (domain, sels) = f[0].split_once(':').unwrap_or((f[0], "default"));
    let selectors: Vec<String> = sels.split(',').map(|s| s.trim().to_string()).collect();
    if domain.is_empty() || selectors.iter().any(String::is_empty) || selectors.len() > 2 {
        return Err(format!("bad domain or selectors: {line}"));
    }
    let field = |i: usize| f.get(i).copied().unwrap_or("");
    let expire = match field(3) {
        "" => None,
        x => Some(x.parse().map_err(|_| format!("bad expiry: {line}"))?),
    };
    let opts: Vec<&str> = field(4).split(':').collect();
    let canon = match opts[0] {
        "" => Canon {
            header_relaxed: true,
            body_relaxed: true,
        },
        c => options::canon(c).ok_or_else(|| format!("bad canonicalization: {line}"))?,
    };
    let algorithms = match opts.get(1).copied().unwrap_or("") {
        "" => Algorithms::Both,
        z => Algorithms::parse(z)?,
    };
    Ok(Rule {
        domain: domain.to_ascii_lowercase(),
        selectors,
        sdid: field(1).to_ascii_lowercase(),
        auid: field(2).to_string(),
        expire,
        canon,
        algorithms,
        body_length: opts.get(2).is_some_and(|l| *l == "l"),
    })
}

/// The rule for `domain` in the file's text: the line for the domain, else
/// a `*` line; bad lines are skipped.
pub fn find_rule(text: &str, domain: &str) -> Option<Rule> {
    let rules: Vec<Rule> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| parse_rule(l).ok())
        .collect();
    let domain = domain.to_ascii_lowercase();
    let exact = rules.iter().find(|r| r.domain == domain);
    exact
        .or_else(|| rules.iter().find(|r| r.domain == "*"))
        .cloned()
}

/// The keys of a rule: `ssl/domainkeys/DOMAIN/SELECTOR` for each selector,
/// and for a single selector also `SELECTOR_` (an Ed25519 key beside the
/// RSA one, as s/qmail's key maker links it) when it exists.
fn keys(home: &Path, rule: &Rule, domain: &str) -> Result<Vec<(String, SigningKey)>, String> {
    let dir = home.join("ssl/domainkeys").join(domain);
    let mut files: Vec<(String, std::path::PathBuf)> = rule
        .selectors
        .iter()
        .map(|s| (s.clone(), dir.join(s)))
        .collect();
    if let [only] = rule.selectors.as_slice() {
        let second = dir.join(format!("{only}_"));
        if second.exists() {
            files.push((only.clone(), second));
        }
    }
    let mut out = Vec::new();
    for (sel, f) in files {
        let k = SigningKey::load(&f)?;
        if rule.algorithms.wants(k.algorithm()) {
            out.push((sel, k));
        }
    }
    if out.is_empty() {
        return Err(format!("no key for {domain} of the algorithms asked for"));
    }
    Ok(out)
}

/// The signature fields for `msg`, or None when the sender's domain is
/// not to be signed.
pub fn signatures(
    home: &Path,
    text: &str,
    sender: &str,
    msg: &[u8],
) -> Result<Option<Vec<u8>>, String> {
    let sender_domain = sender.rsplit_once('@').map_or("", |(_, d)| d);
    let Some(rule) = find_rule(text, sender_domain) else {
        return Ok(None);
    };
    let sdid = if !rule.sdid.is_empty() {
        rule.sdid.clone()
    } else if rule.domain != "*" {
        rule.domain.clone()
    } else {
        return Err("a * line needs an sdid".into());
    };
    let keydir = if rule.domain == "*" {
        &sdid
    } else {
        &rule.domain
    };
    let keys = keys(home, &rule, keydir)?;
    let identity = match rule.auid.as_str() {
        "" => None,
        "~" if sender.is_empty() => None,
        "~" => Some(sender.to_string()),
        a => Some(a.to_string()),
    };
    let now = crate::date::now_secs().max(0) as u64;
    let specs: Vec<Spec> = keys
        .iter()
        .map(|(sel, k)| Spec {
            key: k,
            domain: sdid.clone(),
            selector: sel.clone(),
            canon: rule.canon,
            identity: identity.clone(),
            body_length: rule.body_length,
            expire: rule.expire,
            now,
        })
        .collect();
    sign::sign(msg, &specs).map(Some)
}

/// Marks qmail-dksign's binary: qmail-rspawn finds it there and signs in
/// its own delivery child instead of executing it (qmail-rspawn(8)).
pub const BUILTIN_MARK: &[u8] = b"sqmail-qmail-dksign-builtin-signing-1";

/// A temporary failure in qmail-remote's words: one `Z` report.
pub fn defer_report(why: &str) -> Vec<u8> {
    format!("Zqmail-dksign: unable to sign: {why} (#4.3.0)\n\0").into_bytes()
}

/// Writes [`defer_report`] on standard output; qmail-remote's exit code.
pub fn defer(why: &str) -> i32 {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(&defer_report(why));
    let _ = o.flush();
    0
}

/// What qmail-remote is to read for `host sender recipient...` with the
/// message on descriptor 0: None when the sender's domain is not signed
/// (the message as it is), else the signature fields and the message,
/// written once to an unlinked file and rewound (qmail-remote may rewind
/// its input). Err: why the message cannot be signed.
pub fn signed_input(home: &Path, args: &[Vec<u8>]) -> Result<Option<std::fs::File>, String> {
    if args.len() < 3 {
        return Err("usage: qmail-dksign host sender recipient...".into());
    }
    let sender = String::from_utf8_lossy(&args[1]).into_owned();
    let text = match std::fs::read_to_string(home.join("control/dkimdomains")) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read control/dkimdomains: {e}")),
    };
    let sender_domain = sender.rsplit_once('@').map_or("", |(_, d)| d);
    if find_rule(&text, sender_domain).is_none() {
        return Ok(None);
    }
    let mut msg = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut msg) {
        return Err(format!("cannot read the message: {e}"));
    }
    let sigs = signatures(home, &text, &sender, &msg)?.unwrap_or_default();
    super::tempfile()
        .and_then(|mut f| {
            f.write_all(&sigs)?;
            f.write_all(&msg)?;
            f.rewind()?;
            Ok(f)
        })
        .map(Some)
        .map_err(|e| format!("cannot write the signed message: {e}"))
}

/// The program: `host sender recipient...` as qmail-remote takes them.
pub fn main(args: &[Vec<u8>]) -> i32 {
    let home = crate::home::home();
    let remote = home.join("bin/qmail-remote");
    let mut cmd = Command::new(&remote);
    cmd.args(args.iter().map(|a| OsStr::from_bytes(a)));
    match signed_input(&home, args) {
        // Not ours to sign: qmail-remote takes over, message untouched.
        Ok(None) => {}
        Ok(Some(f)) => {
            cmd.stdin(f);
        }
        Err(e) => return defer(&e),
    }
    let e = cmd.exec();
    defer(&format!("cannot run {}: {e}", remote.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let r = parse_rule("example.com:sel,ed|mail.example.com|~|3600|r/s:rsa:l").unwrap();
        assert_eq!(r.selectors, ["sel", "ed"]);
        assert_eq!(r.sdid, "mail.example.com");
        assert_eq!(r.auid, "~");
        assert_eq!(r.expire, Some(3600));
        assert_eq!(r.canon.name(), "relaxed/simple");
        assert_eq!(r.algorithms, Algorithms::Rsa);
        assert!(r.body_length);
        let d = parse_rule("Example.ORG").unwrap();
        assert_eq!(
            (d.domain.as_str(), d.selectors.as_slice()),
            ("example.org", &["default".to_string()][..])
        );
        assert_eq!(d.algorithms, Algorithms::Both);
        assert!(!d.body_length && d.expire.is_none());
        for bad in [
            "",
            ":",
            "a:b,",
            "a:b,c,d",
            "a:b|||x",
            "a:b||||loose",
            "a:b||||r:rsa-sha1",
        ] {
            assert!(parse_rule(bad).is_err(), "{bad}");
        }
        let text = "# comment\nbad:x|||zz\nexample.com:one\n*:any|example.net\n";
        assert_eq!(find_rule(text, "EXAMPLE.com").unwrap().selectors, ["one"]);
        assert_eq!(find_rule(text, "other.org").unwrap().sdid, "example.net");
        assert_eq!(find_rule("example.com:one\n", "other.org"), None);
    }
}
