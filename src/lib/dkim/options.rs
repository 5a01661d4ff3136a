//! The signing choices qmail-dkim's options and qmail-dksign's
//! control/dkimdomains share: canonicalization (`c`) and algorithms (`z`).

use super::Canon;

/// A canonicalization as written by an admin: `simple`, `relaxed`,
/// `header/body`, or the letters `s`, `r`, `s/r`, `rs` ...
pub fn canon(s: &str) -> Option<Canon> {
    let one = |p: &str| match p {
        "s" | "simple" => Some(false),
        "r" | "relaxed" => Some(true),
        _ => None,
    };
    let (h, b) = match s.split_once('/') {
        Some((h, b)) => (one(h)?, one(b)?),
        None if s.len() == 2 && s.is_ascii() => (one(&s[..1])?, one(&s[1..])?),
        None => {
            let r = one(s)?;
            (r, r)
        }
    };
    Some(Canon {
        header_relaxed: h,
        body_relaxed: b,
    })
}

/// Which keys sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithms {
    Rsa,
    Ed25519,
    /// Both, one signature each (RFC 8463's suggestion while verifiers
    /// learn Ed25519).
    Both,
}

impl Algorithms {
    pub fn parse(s: &str) -> Result<Algorithms, String> {
        match s {
            "2" | "rsa" | "rsa-sha256" => Ok(Algorithms::Rsa),
            "ed25519" | "ed25519-sha256" => Ok(Algorithms::Ed25519),
            "both" | "hybrid" => Ok(Algorithms::Both),
            "1" | "3" | "rsa-sha1" => Err("rsa-sha1 is not made (RFC 8301)".into()),
            _ => Err(format!("unknown algorithm {s}")),
        }
    }

    pub fn wants(self, a: super::Algorithm) -> bool {
        match self {
            Algorithms::Both => true,
            Algorithms::Rsa => a == super::Algorithm::RsaSha256,
            Algorithms::Ed25519 => a == super::Algorithm::Ed25519Sha256,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        let c = |s| canon(s).map(Canon::name);
        assert_eq!(c("relaxed").as_deref(), Some("relaxed/relaxed"));
        assert_eq!(c("s").as_deref(), Some("simple/simple"));
        assert_eq!(c("rs").as_deref(), Some("relaxed/simple"));
        assert_eq!(c("simple/r").as_deref(), Some("simple/relaxed"));
        assert_eq!(c("x"), None);
        assert_eq!(c("r/"), None);
        assert_eq!(c(""), None);
        assert_eq!(c("ü"), None);
        assert!(Algorithms::parse("rsa-sha1").is_err());
        assert!(Algorithms::parse("dsa").is_err());
        assert_eq!(Algorithms::parse("hybrid"), Ok(Algorithms::Both));
    }
}
