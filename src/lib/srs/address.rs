//! SRS addresses as libsrs2 and Mail::SRS write them (srsforward(8)):
//! `SRS0=HHHH=TT=host=user@alias` for a first hop and
//! `SRS1=HHHH=host1==HHHH=TT=host=user@alias` for an SRS0 sender of
//! another forwarder. HHHH: the first four base64 characters of
//! HMAC-SHA1(secret, lower-cased fields); TT: the day number modulo 1024 in
//! base32 (`A-Z2-7`, high five bits first).

use std::fmt;

use ring::hmac;

/// Hash characters written into an address (libsrs2's default).
pub const HASH_LEN: usize = 4;
/// Days a timestamp stays valid (srsreverse(8)).
pub const MAX_AGE: u64 = 21;
/// The longest address srsforward writes and srsreverse reads: an SMTP text
/// line (RFC 5321 §4.5.3.1.6), so a longer one could not come back anyway.
pub const MAX_ADDRESS: usize = 998;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SLOTS: u64 = 1024;
const SEP: u8 = b'=';

/// Why an address is not accepted back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotSrs,
    Malformed,
    TooLong,
    BadStamp,
    Expired,
    BadHash,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::NotSrs => "not an SRS address",
            Refusal::Malformed => "malformed SRS address",
            Refusal::TooLong => "SRS address too long",
            Refusal::BadStamp => "bad SRS timestamp",
            Refusal::Expired => "SRS address expired or from the future",
            Refusal::BadHash => "SRS hash does not match",
        })
    }
}

/// The day number of `unix_secs`, what a timestamp encodes.
pub fn day(unix_secs: u64) -> u64 {
    unix_secs / 86400
}

/// The two-character timestamp of `day`.
pub fn stamp(day: u64) -> [u8; 2] {
    let t = day % SLOTS;
    [BASE32[(t >> 5) as usize], BASE32[(t & 31) as usize]]
}

/// A timestamp's slot; its letters in either case (as libsrs2 reads them).
fn stamp_slot(s: &[u8]) -> Option<u64> {
    let [a, b] = s else { return None };
    let val = |c: &u8| {
        BASE32
            .iter()
            .position(|x| *x == c.to_ascii_uppercase())
            .map(|p| p as u64)
    };
    Some((val(a)? << 5) | val(b)?)
}

/// Whether `s` is a stamp from today or up to `MAX_AGE` days before. A
/// stamp from the future counts as 1024 days old, as in libsrs2.
fn stamp_check(s: &[u8], today: u64) -> Result<(), Refusal> {
    let then = stamp_slot(s).ok_or(Refusal::BadStamp)?;
    let mut now = today % SLOTS;
    if now < then {
        now += SLOTS;
    }
    if now <= then + MAX_AGE {
        Ok(())
    } else {
        Err(Refusal::Expired)
    }
}

/// The whole base64 HMAC-SHA1 of the lower-cased `parts`, concatenated.
fn digest(secret: &[u8], parts: &[&[u8]]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(&p.to_ascii_lowercase());
    }
    crate::codec::b64_encode(ctx.sign().as_ref())
}

/// Whether `given` is at least `HASH_LEN` characters of some secret's digest,
/// letters compared without case (libsrs2 does: mail systems fold case).
/// The URL-safe `-` and `_` stand for `+` and `/`, as postsrsd 2 writes them.
fn hash_check(given: &[u8], secrets: &[Vec<u8>], parts: &[&[u8]]) -> Result<(), Refusal> {
    if given.len() < HASH_LEN {
        return Err(Refusal::BadHash);
    }
    let given: Vec<u8> = given
        .iter()
        .map(|&b| match b {
            b'-' => b'+',
            b'_' => b'/',
            b => b,
        })
        .collect();
    let ok = secrets.iter().any(|s| {
        let d = digest(s, parts);
        given.len() <= d.trim_end_matches('=').len()
            && d.as_bytes()[..given.len()].eq_ignore_ascii_case(&given)
    });
    if ok { Ok(()) } else { Err(Refusal::BadHash) }
}

/// `SRS0` or `SRS1` (any case) and a separator: the tag digit.
fn tag(local: &[u8]) -> Option<u8> {
    match local {
        [s, r, t, d @ (b'0' | b'1'), b'=' | b'-' | b'+', ..]
            if [*s, *r, *t].eq_ignore_ascii_case(b"SRS") =>
        {
            Some(*d)
        }
        _ => None,
    }
}

/// `s` split at its first `=`: both sides non-empty.
fn field(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&b| b == SEP)?;
    let (a, b) = (&s[..i], &s[i + 1..]);
    (!a.is_empty() && !b.is_empty()).then_some((a, b))
}

/// The signing side: the secrets (the first signs, all verify) and the
/// separator after the tag (`=`, `-` or `+`).
pub struct Srs<'a> {
    pub secrets: &'a [Vec<u8>],
    pub separator: u8,
}

impl Srs<'_> {
    fn hash(&self, parts: &[&[u8]]) -> String {
        let first = self.secrets.first().map_or(&[][..], Vec::as_slice);
        let mut d = digest(first, parts);
        d.truncate(HASH_LEN);
        d
    }

    /// The SRS form of `sender` for mail forwarded through `alias`, or
    /// `None` where libsrs2 leaves the sender alone: no `@`, a sender
    /// already at `alias`, an SRS1 sender without its fields.
    pub fn forward(&self, sender: &[u8], alias: &[u8], today: u64) -> Option<Vec<u8>> {
        let at = sender.iter().rposition(|&b| b == b'@')?;
        let (user, host) = (&sender[..at], &sender[at + 1..]);
        if host.eq_ignore_ascii_case(alias) {
            return None;
        }
        let mut out = Vec::with_capacity(sender.len() + alias.len() + 16);
        match tag(user) {
            Some(b'1') => {
                // Re-forwarded: the first forwarder and its SRS0 part stay,
                // the hash and the domain become ours.
                let (_, rest) = field(&user[5..])?;
                let (host1, srs0) = field(rest)?;
                self.srs1(&mut out, host1, srs0);
            }
            Some(_) => self.srs1(&mut out, host, &user[4..]),
            None => {
                let tt = stamp(today);
                out.extend_from_slice(b"SRS0");
                out.push(self.separator);
                out.extend_from_slice(self.hash(&[&tt, host, user]).as_bytes());
                for part in [&tt[..], host, user] {
                    out.push(SEP);
                    out.extend_from_slice(part);
                }
            }
        }
        out.push(b'@');
        out.extend_from_slice(alias);
        Some(out)
    }

    fn srs1(&self, out: &mut Vec<u8>, host1: &[u8], srs0: &[u8]) {
        out.extend_from_slice(b"SRS1");
        out.push(self.separator);
        out.extend_from_slice(self.hash(&[host1, srs0]).as_bytes());
        out.push(SEP);
        out.extend_from_slice(host1);
        out.push(SEP);
        out.extend_from_slice(srs0);
    }
}

/// The address an SRS local part stands for, checked against `secrets`:
/// `user@host` for SRS0, the first forwarder's `SRS0...@host1` for SRS1.
pub fn reverse(local: &[u8], secrets: &[Vec<u8>], today: u64) -> Result<Vec<u8>, Refusal> {
    if local.len() > MAX_ADDRESS {
        return Err(Refusal::TooLong);
    }
    let digit = tag(local).ok_or(Refusal::NotSrs)?;
    let (hash, rest) = field(&local[5..]).ok_or(Refusal::Malformed)?;
    let mut out = Vec::with_capacity(local.len());
    if digit == b'1' {
        let (host1, srs0) = field(rest).ok_or(Refusal::Malformed)?;
        hash_check(hash, secrets, &[host1, srs0])?;
        out.extend_from_slice(b"SRS0");
        out.extend_from_slice(srs0);
        out.push(b'@');
        out.extend_from_slice(host1);
    } else {
        let (tt, rest) = field(rest).ok_or(Refusal::Malformed)?;
        let (host, user) = field(rest).ok_or(Refusal::Malformed)?;
        stamp_check(tt, today)?;
        hash_check(hash, secrets, &[tt, host, user])?;
        out.extend_from_slice(user);
        out.push(b'@');
        out.extend_from_slice(host);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 20_000;

    fn secrets(s: &[&str]) -> Vec<Vec<u8>> {
        s.iter().map(|x| x.as_bytes().to_vec()).collect()
    }

    fn fwd(sender: &str, today: u64) -> String {
        let k = secrets(&["tops3cr3t", "old"]);
        let srs = Srs {
            secrets: &k,
            separator: b'=',
        };
        String::from_utf8(
            srs.forward(sender.as_bytes(), b"fw.example", today)
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn stamp_is_base32_high_bits_first() {
        assert_eq!(&stamp(0), b"AA");
        assert_eq!(&stamp(33), b"BB");
        assert_eq!(&stamp(1023), b"77");
        assert_eq!(stamp(1024), stamp(0));
        assert_eq!(stamp_slot(b"bB"), Some(33));
        assert_eq!(stamp_slot(b"B1"), None);
        assert_eq!(stamp_slot(b"BBB"), None);
    }

    #[test]
    fn stamp_window_is_21_days_and_wraps() {
        assert_eq!(stamp_check(&stamp(DAY), DAY), Ok(()));
        assert_eq!(stamp_check(&stamp(DAY - 21), DAY), Ok(()));
        assert_eq!(stamp_check(&stamp(DAY - 22), DAY), Err(Refusal::Expired));
        assert_eq!(stamp_check(&stamp(DAY + 1), DAY), Err(Refusal::Expired));
        // Day 1030 is slot 6: a stamp of slot 1020 is ten days old.
        assert_eq!(stamp_check(&stamp(1020), 1030), Ok(()));
    }

    #[test]
    fn digest_is_rfc2202_hmac_sha1() {
        // RFC 2202 test case 2, in base64.
        let d = digest(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            d,
            crate::codec::b64_encode(&[
                0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74, 0x16, 0xd5, 0xf1, 0x84,
                0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79
            ])
        );
    }

    #[test]
    fn srs0_shape_and_case_folded_hash() {
        let a = fwd("Alice@Example.ORG", DAY);
        let tt = String::from_utf8(stamp(DAY).to_vec()).unwrap();
        assert!(a.starts_with("SRS0="), "{a}");
        assert!(
            a.ends_with(&format!("={tt}=Example.ORG=Alice@fw.example")),
            "{a}"
        );
        assert_eq!(
            a.len(),
            "SRS0=HHHH=".len() + "TT=Example.ORG=Alice@fw.example".len()
        );
        // The hash covers the lower-cased fields.
        let b = fwd("alice@example.org", DAY);
        assert_eq!(a[..9], b[..9]);
    }

    #[test]
    fn round_trip_with_either_secret() {
        let a = fwd("alice@example.org", DAY);
        let local = a.split('@').next().unwrap().as_bytes();
        let both = secrets(&["tops3cr3t", "old"]);
        assert_eq!(
            reverse(local, &both, DAY + 21).unwrap(),
            b"alice@example.org"
        );
        assert_eq!(
            reverse(local, &secrets(&["new", "tops3cr3t"]), DAY).unwrap(),
            b"alice@example.org"
        );
        assert_eq!(
            reverse(local, &secrets(&["old"]), DAY),
            Err(Refusal::BadHash)
        );
        assert_eq!(reverse(local, &both, DAY + 22), Err(Refusal::Expired));
        // Any case is the same address.
        let lower = local.to_ascii_lowercase();
        assert_eq!(reverse(&lower, &both, DAY).unwrap(), b"alice@example.org");
    }

    #[test]
    fn srs0_becomes_srs1_and_srs1_is_re_signed() {
        let first = "SRS0=abcd=XY=orig.example=bob@hop1.example";
        let a = fwd(first, DAY);
        assert!(a.starts_with("SRS1="), "{a}");
        assert!(
            a.ends_with("=hop1.example==abcd=XY=orig.example=bob@fw.example"),
            "{a}"
        );
        let local = a.split('@').next().unwrap().as_bytes();
        let k = secrets(&["tops3cr3t"]);
        assert_eq!(
            reverse(local, &k, DAY).unwrap(),
            b"SRS0=abcd=XY=orig.example=bob@hop1.example"
        );
        // An SRS1 from another forwarder keeps host1 and the SRS0 part.
        let again = fwd(
            "SRS1=zzzz=hop1.example==abcd=XY=orig.example=bob@hop2.example",
            DAY,
        );
        assert_eq!(again, a);
    }

    #[test]
    fn left_alone() {
        let k = secrets(&["s"]);
        let srs = Srs {
            secrets: &k,
            separator: b'+',
        };
        assert_eq!(srs.forward(b"x@FW.example", b"fw.example", DAY), None);
        assert_eq!(srs.forward(b"nodomain", b"fw.example", DAY), None);
        assert_eq!(srs.forward(b"SRS1=abc@x.example", b"fw.example", DAY), None);
        let a = srs.forward(b"x@y.example", b"fw.example", DAY).unwrap();
        assert!(a.starts_with(b"SRS0+"));
    }

    #[test]
    fn url_safe_hash_characters_verify() {
        let k = secrets(&["tops3cr3t"]);
        // Find a sender whose hash has a `+` or `/` (about one in eight).
        let (local, safe) = (0..200)
            .find_map(|i| {
                let a = fwd(&format!("u{i}@example.org"), DAY);
                let local = a.split('@').next().unwrap().to_string();
                let safe = local[..9].replace('+', "-").replace('/', "_") + &local[9..];
                (safe != local).then_some((local, safe))
            })
            .unwrap();
        let want = reverse(local.as_bytes(), &k, DAY).unwrap();
        assert_eq!(reverse(safe.as_bytes(), &k, DAY).unwrap(), want);
    }

    #[test]
    fn refusals() {
        let k = secrets(&["tops3cr3t"]);
        let a = fwd("alice@example.org", DAY);
        let local = a.split('@').next().unwrap();
        let r = |l: &str| reverse(l.as_bytes(), &k, DAY);
        assert_eq!(r("alice"), Err(Refusal::NotSrs));
        assert_eq!(r("SRS0=abcd=XY=host"), Err(Refusal::Malformed));
        assert_eq!(r("SRS0="), Err(Refusal::Malformed));
        assert_eq!(r("SRS1=abcd=host"), Err(Refusal::Malformed));
        assert_eq!(r(&local[..local.len() - 1]), Err(Refusal::BadHash));
        assert_eq!(
            r(&local.replacen("SRS0=", "SRS0=x", 1)),
            Err(Refusal::BadHash)
        );
        assert_eq!(r(&format!("SRS0={}", &local[6..])), Err(Refusal::BadHash));
        let tt = String::from_utf8(stamp(DAY).to_vec()).unwrap();
        assert_eq!(
            r(&local.replace(&format!("={tt}="), "=1A=")),
            Err(Refusal::BadStamp)
        );
        assert_eq!(r(&"S".repeat(MAX_ADDRESS + 1)), Err(Refusal::TooLong));
    }
}
