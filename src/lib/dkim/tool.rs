//! qmail-dkim (see qmail-dkim(8)): signs a message file with one or two
//! keys, or verifies every signature of one.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::key::SigningKey;
use super::options::{self, Algorithms};
use super::sign::{self, Spec};
use super::verify::{self, Outcome};
use crate::exit::Die;
use crate::getopt::{self, text};

const USAGE: &str = "qmail-dkim [-c canon] [-z rsa|ed25519|both] [-d domain] [-i identity] [-l] \
[-x seconds] [-y selector] [-Y selector] -s in_message key out_message [ed25519_key] \
| qmail-dkim -v in_message";

fn read(name: &[u8]) -> Result<Vec<u8>, Die> {
    let mut msg = Vec::new();
    if name == b"-" {
        std::io::stdin()
            .read_to_end(&mut msg)
            .map_err(|e| Die::sys("read input", e))?;
    } else {
        let p = Path::new(OsStr::from_bytes(name));
        msg = std::fs::read(p).map_err(|e| Die::sys(format!("read {}", p.display()), e))?;
    }
    Ok(msg)
}

/// The program; `args` without the program name.
pub fn qmail_dkim(args: &[Vec<u8>]) -> Result<(), Die> {
    let (opts, ops) = getopt::parse(args, b"svc:z:d:i:lx:y:Y:", USAGE)?;
    let mut mode = None;
    let mut canon = super::Canon {
        header_relaxed: true,
        body_relaxed: true,
    };
    let mut algs = None;
    let (mut domain, mut identity, mut length, mut expire) = (None, None, false, None);
    let (mut sel_rsa, mut sel_ed) = ("default".to_string(), "ed25519".to_string());
    for (c, v) in opts {
        let v = v.as_deref().map(text).unwrap_or_default();
        match c {
            b's' | b'v' => mode = Some(c),
            b'c' => {
                canon = options::canon(&v)
                    .ok_or_else(|| Die::perm(format!("bad canonicalization {v}")))?
            }
            b'z' => algs = Some(Algorithms::parse(&v).map_err(Die::perm)?),
            b'd' => domain = Some(v),
            b'i' => identity = Some(v),
            b'l' => length = true,
            b'x' => {
                expire = Some(
                    v.parse::<u64>()
                        .map_err(|_| Die::perm(format!("bad expiry {v}")))?,
                )
            }
            b'y' => sel_rsa = v,
            _ => sel_ed = v,
        }
    }
    match (mode, ops) {
        (Some(b'v'), [m]) => verify_file(m),
        (Some(b's'), [m, k1, out, rest @ ..]) if rest.len() <= 1 => {
            let msg = read(m)?;
            let mut keys = Vec::new();
            for k in std::iter::once(k1).chain(rest) {
                let p = Path::new(OsStr::from_bytes(k));
                keys.push(SigningKey::load(p).map_err(Die::temp)?);
            }
            let domain = match domain {
                Some(d) => d,
                None => {
                    sign::from_domain(&msg).ok_or_else(|| Die::perm("no From domain, and no -d"))?
                }
            };
            let now = crate::date::now_secs().max(0) as u64;
            let algs = algs.unwrap_or(Algorithms::Both);
            let specs: Vec<Spec> = keys
                .iter()
                .filter(|k| algs.wants(k.algorithm()))
                .map(|k| Spec {
                    key: k,
                    domain: domain.clone(),
                    selector: match k {
                        SigningKey::Rsa(_) => sel_rsa.clone(),
                        SigningKey::Ed25519(_) => sel_ed.clone(),
                    },
                    canon,
                    identity: identity.clone(),
                    body_length: length,
                    expire,
                    now,
                })
                .collect();
            if specs.is_empty() {
                return Err(Die::perm("no key of the algorithm asked for (-z)"));
            }
            let sigs = sign::sign(&msg, &specs).map_err(Die::perm)?;
            write_out(out, &[&sigs, &msg])
        }
        _ => Err(Die::usage(USAGE)),
    }
}

fn write_out(name: &[u8], parts: &[&[u8]]) -> Result<(), Die> {
    if name == b"-" {
        let mut o = std::io::stdout().lock();
        for p in parts {
            o.write_all(p).map_err(|e| Die::sys("write output", e))?;
        }
        return o.flush().map_err(|e| Die::sys("write output", e));
    }
    let p = Path::new(OsStr::from_bytes(name));
    let at = |e: std::io::Error| Die::sys(format!("write {}", p.display()), e);
    let mut f = std::fs::File::create(p).map_err(at)?;
    for part in parts {
        f.write_all(part).map_err(at)?;
    }
    f.sync_all().map_err(at)
}

/// Prints one line per signature; exit 0 when one passed, 1 when none
/// did, 111 when the DNS left every signature undecided.
fn verify_file(name: &[u8]) -> Result<(), Die> {
    let msg = read(name)?;
    let now = crate::date::now_secs().max(0) as u64;
    let results = verify::message(&msg, now, &mut crate::dns::Resolver::new());
    let mut o = std::io::stdout().lock();
    let mut lines = String::new();
    if results.is_empty() {
        lines.push_str("dkim=none\n");
    }
    for r in &results {
        lines.push_str(&format!("{r}\n"));
    }
    o.write_all(lines.as_bytes())
        .map_err(|e| Die::sys("write output", e))?;
    o.flush().map_err(|e| Die::sys("write output", e))?;
    if results.iter().any(|r| r.outcome == Outcome::Pass) {
        Ok(())
    } else if !results.is_empty()
        && results
            .iter()
            .all(|r| matches!(r.outcome, Outcome::TempError(_)))
    {
        Err(Die::quiet(crate::exit::TEMP))
    } else {
        Err(Die::quiet(1))
    }
}
