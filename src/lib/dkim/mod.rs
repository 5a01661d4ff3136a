//! DKIM (see qmail-dkim(8)): canonicalization, signing with RSA-SHA256 and
//! Ed25519-SHA256, and verification of every signature of a message with
//! keys found in the DNS. Bodies are hashed as they stream past, so the
//! verifier needs the header in memory but never the body.

pub mod authres;
pub mod canon;
pub mod dksign;
pub mod dkverify;
pub mod header;
pub mod key;
pub mod newkey;
pub mod options;
pub mod sign;
pub mod tags;
pub mod tool;
pub mod verify;

/// A signature algorithm (SHA-1 is neither made nor accepted: RFC 8301).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    RsaSha256,
    Ed25519Sha256,
}

impl Algorithm {
    /// The `a=` text.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RsaSha256 => "rsa-sha256",
            Algorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    pub fn parse(s: &[u8]) -> Option<Algorithm> {
        if s.eq_ignore_ascii_case(b"rsa-sha256") {
            Some(Algorithm::RsaSha256)
        } else if s.eq_ignore_ascii_case(b"ed25519-sha256") {
            Some(Algorithm::Ed25519Sha256)
        } else {
            None
        }
    }
}

/// Header and body canonicalization (`c=`): `true` is relaxed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Canon {
    pub header_relaxed: bool,
    pub body_relaxed: bool,
}

impl Canon {
    /// The `c=` text.
    pub fn name(self) -> String {
        let n = |r: bool| if r { "relaxed" } else { "simple" };
        format!("{}/{}", n(self.header_relaxed), n(self.body_relaxed))
    }

    /// A `c=` value: `simple`, `relaxed`, or `header/body` (a missing
    /// body part is simple).
    pub fn parse(s: &[u8]) -> Option<Canon> {
        let one = |p: &[u8]| {
            if p.eq_ignore_ascii_case(b"simple") {
                Some(false)
            } else if p.eq_ignore_ascii_case(b"relaxed") {
                Some(true)
            } else {
                None
            }
        };
        let (h, b) = match s.iter().position(|&c| c == b'/') {
            Some(i) => (one(&s[..i])?, one(&s[i + 1..])?),
            None => (one(s)?, false),
        };
        Some(Canon {
            header_relaxed: h,
            body_relaxed: b,
        })
    }
}

/// A file nobody else can open, under `$TMPDIR` (else /tmp): created
/// and unlinked at once (qmail-dkverify's overflow, qmail-dksign's
/// signed copy for qmail-remote, which needs a file, not a pipe).
pub fn tempfile() -> std::io::Result<std::fs::File> {
    let dir = std::env::var_os("TMPDIR").map_or_else(
        || std::path::PathBuf::from("/tmp"),
        std::path::PathBuf::from,
    );
    for n in 0..100u64 {
        let p = dir.join(format!(
            "qmail-dkverify.{}.{}.{n}",
            std::process::id(),
            crate::dns::random_u64()
        ));
        match std::fs::File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&p)
        {
            Ok(f) => {
                std::fs::remove_file(&p)?;
                return Ok(f);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no temporary file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canon_names() {
        let c = Canon::parse(b"relaxed/simple").unwrap();
        assert!(c.header_relaxed && !c.body_relaxed);
        assert_eq!(Canon::parse(b"relaxed").unwrap().name(), "relaxed/simple");
        assert_eq!(
            Canon::parse(b"simple/relaxed").unwrap().name(),
            "simple/relaxed"
        );
        assert!(Canon::parse(b"loose").is_none());
        assert!(Canon::parse(b"simple/").is_none());
        assert!(Algorithm::parse(b"rsa-sha1").is_none());
    }
}
