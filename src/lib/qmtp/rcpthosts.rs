//! Relay control for the QMTP server: a recipient's domain must be in
//! `control/rcpthosts` or `control/morercpthosts.cdb` unless the client is
//! a relay client (qmail-qmtpd(8), as qmail-smtpd(8)).

use std::io;

use crate::cdb::Cdb;
use crate::control::Control;
use crate::smtpd::filter::{List, domain_keys};

pub struct RcptHosts {
    /// `None`: no rcpthosts file, every domain is accepted.
    list: Option<List>,
    more: Option<Cdb>,
}

impl RcptHosts {
    pub fn load(c: &Control) -> io::Result<RcptHosts> {
        let list = c.list("rcpthosts")?.map(List::new);
        let more = match list.is_some() {
            true => Cdb::open_optional(&c.path("morercpthosts.cdb"))?,
            false => None,
        };
        Ok(RcptHosts { list, more })
    }

    /// Whether mail for `addr` is accepted. An address without `@` is
    /// (qmail-send completes it with a local domain).
    pub fn allows(&self, addr: &[u8]) -> io::Result<bool> {
        let Some(list) = &self.list else {
            return Ok(true);
        };
        let Some(at) = memchr::memrchr(b'@', addr) else {
            return Ok(true);
        };
        let domain = String::from_utf8_lossy(&addr[at + 1..]).to_ascii_lowercase();
        if domain_keys(&domain).any(|k| list.has(k)) {
            return Ok(true);
        }
        if let Some(cdb) = &self.more {
            for k in domain_keys(&domain) {
                if cdb.get(k.as_bytes())?.is_some() {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_suffixes_and_no_file() {
        let open = RcptHosts {
            list: None,
            more: None,
        };
        assert!(open.allows(b"a@anywhere").unwrap());
        let rh = RcptHosts {
            list: Some(List::new(vec!["Example.COM".into(), ".sub.example".into()])),
            more: None,
        };
        assert!(rh.allows(b"joe@example.com").unwrap());
        assert!(rh.allows(b"joe@EXAMPLE.com").unwrap());
        assert!(rh.allows(b"joe@a.b.sub.example").unwrap());
        assert!(!rh.allows(b"joe@sub.example").unwrap());
        assert!(!rh.allows(b"joe@example.com.evil").unwrap());
        assert!(!rh.allows(b"a@b@other.example").unwrap());
        assert!(rh.allows(b"postmaster").unwrap());
        assert!(!rh.allows(b"x@\xff.example").unwrap());
    }
}
