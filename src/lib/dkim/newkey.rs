//! qmail-dknewkey (see qmail-dknewkey(8)): makes a signing key where
//! qmail-dksign looks for it, `ssl/domainkeys/DOMAIN/SELECTOR` under the
//! qmail home, readable by qmailr alone, and prints the TXT record to
//! publish for it.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::key::SigningKey;
use crate::codec;
use crate::exit::Die;
use crate::getopt::{self, text};

const USAGE: &str = "qmail-dknewkey [-t rsa|ed25519] [-b bits] domain [selector]";

/// RFC 8410's PKCS#8 form of an Ed25519 private key: these bytes, then
/// the 32-byte seed.
const ED25519_PKCS8: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rsa(u32),
    Ed25519,
}

/// A domain or selector that can be a file name and a DNS label list.
fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && !s.starts_with('.')
        && !s.contains("..")
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
}

/// A PEM file with `der` as a PKCS#8 `PRIVATE KEY`.
fn pem(der: &[u8]) -> Zeroizing<Vec<u8>> {
    let b64 = Zeroizing::new(codec::b64_encode(der));
    let mut out = Zeroizing::new(b"-----BEGIN PRIVATE KEY-----\n".to_vec());
    for line in b64.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(b"-----END PRIVATE KEY-----\n");
    out
}

/// A new key as PEM text: RSA from openssl (ring makes no RSA keys),
/// Ed25519 from 32 random bytes.
fn make(kind: Kind) -> Result<Zeroizing<Vec<u8>>, Die> {
    match kind {
        Kind::Rsa(bits) => {
            let o = Command::new("openssl")
                .args(["genpkey", "-algorithm", "RSA", "-pkeyopt"])
                .arg(format!("rsa_keygen_bits:{bits}"))
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| Die::sys("run openssl", e))?;
            let key = Zeroizing::new(o.stdout);
            if !o.status.success() {
                return Err(Die::temp("openssl genpkey failed"));
            }
            Ok(key)
        }
        Kind::Ed25519 => {
            let mut der = Zeroizing::new([0u8; 48]);
            der[..16].copy_from_slice(&ED25519_PKCS8);
            SystemRandom::new()
                .fill(&mut der[16..])
                .map_err(|_| Die::temp("no random bytes"))?;
            Ok(pem(&der[..]))
        }
    }
}

/// The record as a zone file line, in strings of at most 255 bytes.
pub fn zone_line(name: &str, record: &str) -> String {
    let strings: Vec<String> = record
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!("{name}. IN TXT {}\n", strings.join(" "))
}

/// Creates `dir` (mode 0700, owned by `owner` when given) if missing.
fn dir(path: &Path, mode: u32, owner: Option<(u32, u32)>) -> Result<(), Die> {
    match DirBuilder::new().mode(mode).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(Die::sys(format!("create {}", path.display()), e)),
    }
    if let Some((u, g)) = owner {
        std::os::unix::fs::chown(path, Some(u), Some(g))
            .map_err(|e| Die::sys(format!("chown {}", path.display()), e))?;
    }
    Ok(())
}

/// The program; `args` without the program name.
pub fn main(args: &[Vec<u8>]) -> Result<(), Die> {
    let (opts, ops) = getopt::parse(args, b"t:b:", USAGE)?;
    let (mut ed, mut bits) = (false, 2048u32);
    for (c, v) in opts {
        let v = v.as_deref().map(text).unwrap_or_default();
        match (c, v.as_str()) {
            (b't', "rsa") => ed = false,
            (b't', "ed25519") => ed = true,
            (b'b', b) => {
                // RFC 8301: 1024 bits is the least a verifier accepts;
                // sign with 2048 or more.
                bits = b
                    .parse()
                    .ok()
                    .filter(|b| (2048..=4096).contains(b))
                    .ok_or_else(|| Die::perm(format!("bits not in 2048..4096: {b}")))?
            }
            _ => return Err(Die::usage(USAGE)),
        }
    }
    let kind = if ed { Kind::Ed25519 } else { Kind::Rsa(bits) };
    let (domain, selector) = match ops {
        [d] => (text(d), if ed { "ed25519" } else { "default" }.to_string()),
        [d, s] => (text(d), text(s)),
        _ => return Err(Die::usage(USAGE)),
    };
    let domain = domain.to_ascii_lowercase();
    if !name_ok(&domain) || !name_ok(&selector) {
        return Err(Die::perm(format!(
            "bad domain or selector: {domain} {selector}"
        )));
    }
    // Run by root for a real home: qmail-dksign runs as qmailr.
    let owner = if crate::sys::geteuid() == 0 {
        let ids = crate::home::Ids::current().map_err(|e| Die::sys("find qmailr", e))?;
        Some((ids.qmailr, ids.gid_qmail))
    } else {
        None
    };
    let home = crate::home::home();
    // ssl/ itself only searchable by others: the TLS keys stay private.
    dir(&home.join("ssl"), 0o711, None)?;
    let keys = home.join("ssl/domainkeys");
    dir(&keys, 0o700, owner)?;
    let dom = keys.join(&domain);
    dir(&dom, 0o700, owner)?;
    let path = dom.join(&selector);
    if path.exists() {
        return Err(Die::perm(format!(
            "{} exists: not replaced",
            path.display()
        )));
    }
    let new = dom.join(format!("{selector}.new"));
    let _ = std::fs::remove_file(&new);
    let pem = make(kind)?;
    let wrote = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&new)
        .and_then(|mut f| f.write_all(&pem).and_then(|()| f.sync_all()));
    let done = wrote
        .map_err(|e| Die::sys(format!("write {}", new.display()), e))
        .and_then(|()| SigningKey::load(&new).map_err(Die::temp))
        .and_then(|key| {
            if let Some((u, g)) = owner {
                std::os::unix::fs::chown(&new, Some(u), Some(g))
                    .map_err(|e| Die::sys(format!("chown {}", new.display()), e))?;
            }
            // A link, not a rename: a key made meanwhile is not replaced.
            std::fs::hard_link(&new, &path)
                .map_err(|e| Die::sys(format!("link {}", path.display()), e))?;
            Ok(key.record())
        });
    let _ = std::fs::remove_file(&new);
    let record = done?;
    let name = format!("{selector}._domainkey.{domain}");
    std::io::stdout()
        .write_all(zone_line(&name, &record).as_bytes())
        .map_err(|e| Die::sys("write output", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_zone_lines() {
        for good in ["example.com", "sel_1", "a-b.example"] {
            assert!(name_ok(good), "{good}");
        }
        for bad in ["", ".", "../x", "a/b", "a..b", "a b", "a\u{e9}"] {
            assert!(!name_ok(bad), "{bad}");
        }
        let rec = "x".repeat(300);
        let line = zone_line("s._domainkey.d", &rec);
        assert_eq!(
            line,
            format!(
                "s._domainkey.d. IN TXT \"{}\" \"{}\"\n",
                "x".repeat(255),
                "x".repeat(45)
            )
        );
    }

    #[test]
    fn ed25519_keys_load_and_differ() {
        let dir = std::env::temp_dir().join(format!("dknewkey-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut records = Vec::new();
        for i in 0..2 {
            let p = dir.join(i.to_string());
            std::fs::write(&p, make(Kind::Ed25519).unwrap()).unwrap();
            let k = SigningKey::load(&p).unwrap();
            assert_eq!(k.algorithm(), super::super::Algorithm::Ed25519Sha256);
            records.push(k.record());
        }
        assert_ne!(records[0], records[1]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
