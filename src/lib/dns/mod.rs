//! A small blocking stub resolver: asks the configured recursive servers
//! (see `conf`) over UDP, falls back to TCP on truncation, follows CNAME
//! chains, and answers the questions mail needs: addresses, mail exchangers,
//! texts, names of addresses, TLSA records (with their DNSSEC status, see
//! `dnssec`). Nothing is read or opened before the first lookup.

pub mod ad;
pub mod conf;
pub mod dnssec;
pub mod nsec;
mod stub;
pub mod tools;
mod wire;

use std::cell::OnceCell;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Longest CNAME chain we follow.
const MAX_CNAME: usize = 8;

/// Why a lookup gave no answer: qmail's DNS_SOFT / DNS_HARD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsError {
    /// No usable answer now (timeout, SERVFAIL, bad packet): try later.
    Temp,
    /// The name does not exist (NXDOMAIN) or cannot be a domain name.
    Hard,
}

impl DnsError {
    pub fn is_temp(self) -> bool {
        self == DnsError::Temp
    }
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DnsError::Temp => "temporary DNS failure",
            DnsError::Hard => "no such domain",
        })
    }
}

/// One mail exchanger address, in the order to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxIp {
    pub pref: u16,
    pub host: String,
    pub ip: IpAddr,
}

/// The resolver: the server list is read on the first lookup.
#[derive(Debug, Default)]
pub struct Resolver {
    servers: OnceCell<Vec<SocketAddr>>,
}

/// A domain name from text (an absolute name; a trailing dot is allowed).
pub fn name(s: &str) -> Result<Name, DnsError> {
    let fq = if s.ends_with('.') {
        Name::from_ascii(s)
    } else {
        Name::from_ascii(format!("{s}."))
    };
    fq.map_err(|_| DnsError::Hard)
}

/// A name exactly as written: each label's bytes as they are, no escapes
/// (SPF looks up `foo:bar/baz.example.com` as written, spfquery(8)). A
/// trailing dot is allowed; an empty or over-long label is not.
pub fn name_verbatim(s: &str) -> Result<Name, DnsError> {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.split('.').any(str::is_empty) {
        return Err(DnsError::Hard);
    }
    let mut n = Name::from_labels(s.split('.').map(str::as_bytes)).map_err(|_| DnsError::Hard)?;
    n.set_fqdn(true);
    Ok(n)
}

/// A name's labels joined by dots, unescaped (`name_verbatim`'s inverse
/// for names read from answers), without the final dot.
pub fn text_verbatim(n: &Name) -> String {
    let labels: Vec<String> = n
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    labels.join(".")
}

/// A name as text, without the final dot.
pub fn text(n: &Name) -> String {
    let s = n.to_ascii();
    match s.strip_suffix('.') {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => s,
    }
}

/// The name of `ip` in a DNS list (RFC 5782) under `zone`: its reverse
/// name (octets or nibbles reversed) with `zone` in place of in-addr.arpa
/// or ip6.arpa. An IPv4-mapped IPv6 address is listed as IPv4.
pub fn list_name(ip: IpAddr, zone: &str) -> String {
    let rev = text(&Name::from(ip.to_canonical()));
    let stem = rev
        .strip_suffix("in-addr.arpa")
        .or_else(|| rev.strip_suffix("ip6.arpa"))
        .unwrap_or(&rev);
    format!("{stem}{zone}")
}

/// The addresses in A and AAAA records.
pub fn addrs(v: Vec<Record>) -> Vec<IpAddr> {
    v.into_iter()
        .filter_map(|r| match r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// Random bits seeded by the OS (std's per-process hash keys).
pub fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(u64::from(std::process::id()));
    h.finish()
}

impl Resolver {
    pub fn new() -> Resolver {
        Resolver::default()
    }

    /// A resolver that asks exactly `servers`.
    pub fn with_servers(servers: Vec<SocketAddr>) -> Resolver {
        let r = Resolver::default();
        let _ = r.servers.set(servers);
        r
    }

    pub fn servers(&self) -> &[SocketAddr] {
        self.servers.get_or_init(conf::servers)
    }

    /// The whole answer message for one question.
    pub fn message(&self, n: &Name, rtype: RecordType, dnssec: bool) -> Result<Message, DnsError> {
        let m = stub::ask(self.servers(), n, rtype, dnssec)?;
        if m.metadata.response_code == ResponseCode::NXDomain {
            return Err(DnsError::Hard);
        }
        Ok(m)
    }

    /// The records of type `rtype` at `n`, following CNAMEs (in the answer
    /// and, when the answer stops at an alias, by asking again).
    pub fn records(&self, n: &Name, rtype: RecordType) -> Result<Vec<Record>, DnsError> {
        let mut cur = n.clone();
        for _ in 0..MAX_CNAME {
            let m = self.message(&cur, rtype, false)?;
            match chase(&m.answers, &cur, rtype) {
                Chase::Found(v) => return Ok(v),
                Chase::NoData => return Ok(Vec::new()),
                Chase::Alias(t) => cur = t,
            }
        }
        Err(DnsError::Temp)
    }

    /// `records` for several questions, asked together.
    pub fn records_many(&self, qs: &[(Name, RecordType)]) -> Vec<Result<Vec<Record>, DnsError>> {
        stub::ask_many(self.servers(), qs, false)
            .into_iter()
            .zip(qs)
            .map(|(m, (n, t))| {
                let m = m?;
                if m.metadata.response_code == ResponseCode::NXDomain {
                    return Err(DnsError::Hard);
                }
                match chase(&m.answers, n, *t) {
                    Chase::Found(v) => Ok(v),
                    Chase::NoData => Ok(Vec::new()),
                    Chase::Alias(target) => self.records(&target, *t),
                }
            })
            .collect()
    }

    fn rdata(&self, s: &str, rtype: RecordType) -> Result<Vec<RData>, DnsError> {
        Ok(self
            .records(&name(s)?, rtype)?
            .into_iter()
            .map(|r| r.data)
            .collect())
    }

    /// Every address of `host`: IPv6 first, then IPv4 (both asked at
    /// once). An address literal is its own answer. Fails only when both
    /// lookups fail (hard when either said the name does not exist).
    pub fn ip(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let n = name(host)?;
        let mut r = self.records_many(&[(n.clone(), RecordType::AAAA), (n, RecordType::A)]);
        let four = r.pop().unwrap_or(Err(DnsError::Temp)).map(addrs);
        let six = r.pop().unwrap_or(Err(DnsError::Temp)).map(addrs);
        match (six, four) {
            (Err(DnsError::Hard), _) | (_, Err(DnsError::Hard)) => Err(DnsError::Hard),
            (Ok(mut a), Ok(b)) => {
                a.extend(b);
                Ok(a)
            }
            (Ok(a), Err(_)) if !a.is_empty() => Ok(a),
            (Err(_), Ok(b)) if !b.is_empty() => Ok(b),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }

    /// Mail exchangers of `domain` as (preference, host), sorted by
    /// preference, equal preferences in random order.
    pub fn mx(&self, domain: &str) -> Result<Vec<(u16, String)>, DnsError> {
        let mut v: Vec<(u16, String)> = self
            .rdata(domain, RecordType::MX)?
            .into_iter()
            .filter_map(|d| match d {
                RData::MX(mx) => Some((mx.preference, text(&mx.exchange))),
                _ => None,
            })
            .collect();
        shuffle_equal(&mut v, random_u64());
        Ok(v)
    }

    /// The addresses to try for mail to `domain`: every address of every
    /// MX in preference order; without MX records the domain's own
    /// addresses (the implicit MX, preference 0).
    pub fn mxip(&self, domain: &str) -> Result<Vec<MxIp>, DnsError> {
        let mxs = self.mx(domain)?;
        if mxs.is_empty() {
            return Ok(self
                .ip(domain)?
                .into_iter()
                .map(|ip| MxIp {
                    pref: 0,
                    host: domain.to_string(),
                    ip,
                })
                .collect());
        }
        let mut out = Vec::new();
        let mut soft = false;
        for (pref, host) in mxs {
            match self.ip(&host) {
                Ok(ips) => out.extend(ips.into_iter().map(|ip| MxIp {
                    pref,
                    host: host.clone(),
                    ip,
                })),
                Err(e) => soft |= e.is_temp(),
            }
        }
        if out.is_empty() && soft {
            return Err(DnsError::Temp);
        }
        Ok(out)
    }

    /// The TXT records of `n`, each record's strings joined.
    pub fn txt(&self, n: &str) -> Result<Vec<Vec<u8>>, DnsError> {
        self.txt_at(&name(n)?)
    }

    /// `txt` for a name already made.
    pub fn txt_at(&self, n: &Name) -> Result<Vec<Vec<u8>>, DnsError> {
        Ok(texts(self.records(n, RecordType::TXT)?))
    }

    /// `txt` for several names, asked together: one socket and one round
    /// trip for all of them.
    pub fn txt_many(&self, names: &[&str]) -> Vec<Result<Vec<Vec<u8>>, DnsError>> {
        let parsed: Vec<Result<Name, DnsError>> = names.iter().map(|n| name(n)).collect();
        let qs: Vec<(Name, RecordType)> = parsed
            .iter()
            .flatten()
            .map(|n| (n.clone(), RecordType::TXT))
            .collect();
        let mut answers = self.records_many(&qs).into_iter();
        parsed
            .into_iter()
            .map(|p| {
                p?;
                answers.next().unwrap_or(Err(DnsError::Temp)).map(texts)
            })
            .collect()
    }

    /// The names of address `ip` (PTR records).
    pub fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
        Ok(self
            .records(&Name::from(ip), RecordType::PTR)?
            .into_iter()
            .filter_map(|r| match r.data {
                RData::PTR(p) => Some(text(&p.0)),
                _ => None,
            })
            .collect())
    }
}

/// The strings of each TXT record among `records`, joined.
fn texts(records: Vec<Record>) -> Vec<Vec<u8>> {
    records
        .into_iter()
        .filter_map(|r| match r.data {
            RData::TXT(t) => Some(t.txt_data.iter().flat_map(|s| s.iter().copied()).collect()),
            _ => None,
        })
        .collect()
}

/// What one answer section says about a question.
#[derive(Debug)]
pub enum Chase {
    /// The records asked for (at the end of any CNAMEs).
    Found(Vec<Record>),
    NoData,
    /// The chain ends at this alias without its records: ask again.
    Alias(Name),
}

/// Follows the CNAME chain from `n` inside one answer section.
pub fn chase(answers: &[Record], n: &Name, rtype: RecordType) -> Chase {
    let mut cur = n.clone();
    for hop in 0..=MAX_CNAME {
        let found: Vec<Record> = answers
            .iter()
            .filter(|r| r.name == cur && r.record_type() == rtype)
            .cloned()
            .collect();
        if !found.is_empty() {
            return Chase::Found(found);
        }
        let alias = answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if r.name == cur => Some(c.0.clone()),
            _ => None,
        });
        match alias {
            Some(t) => cur = t,
            None if hop == 0 => return Chase::NoData,
            None => return Chase::Alias(cur),
        }
    }
    Chase::NoData
}

/// Sorts by preference and shuffles each run of equal preferences.
pub fn shuffle_equal<T>(v: &mut [(u16, T)], mut seed: u64) {
    v.sort_by_key(|e| e.0);
    let mut start = 0;
    while start < v.len() {
        let end = start + v[start..].iter().take_while(|e| e.0 == v[start].0).count();
        for i in (start + 1..end).rev() {
            // xorshift64: plenty for spreading load among equal MXes.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let j = start + (seed % (i - start + 1) as u64) as usize;
            v.swap(i, j);
        }
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, CNAME};

    fn rec(n: &str, d: RData) -> Record {
        Record::from_rdata(name(n).unwrap(), 60, d)
    }

    #[test]
    fn verbatim_names() {
        let n = name_verbatim("foo:bar/baz.Example.com.").unwrap();
        assert_eq!(n.num_labels(), 3);
        assert_eq!(n.iter().next(), Some(b"foo:bar/baz".as_slice()));
        assert_eq!(text_verbatim(&n), "foo:bar/baz.Example.com");
        assert_eq!(
            text_verbatim(&name_verbatim("macro%percent  space%20x.example").unwrap()),
            "macro%percent  space%20x.example"
        );
        assert!(
            name("foo:bar/baz.example.com").is_err(),
            "the host-name form refuses it"
        );
        for bad in [
            "",
            ".",
            "a..example",
            &format!("{}.example", "x".repeat(64)),
        ] {
            assert_eq!(name_verbatim(bad), Err(DnsError::Hard), "{bad:?}");
        }
    }

    #[test]
    fn chase_in_answer() {
        let ans = vec![
            rec("a.example", RData::CNAME(CNAME(name("b.example").unwrap()))),
            rec("b.example", RData::A(A::new(192, 0, 2, 1))),
        ];
        match chase(&ans, &name("A.example").unwrap(), RecordType::A) {
            Chase::Found(v) => assert_eq!(v.len(), 1),
            _ => panic!("not found"),
        }
        match chase(&ans[..1], &name("a.example").unwrap(), RecordType::A) {
            Chase::Alias(t) => assert_eq!(text(&t), "b.example"),
            _ => panic!("no alias"),
        }
        assert!(matches!(
            chase(&[], &name("a.example").unwrap(), RecordType::A),
            Chase::NoData
        ));
    }

    #[test]
    fn many_texts_keep_their_places() {
        // No server: every name that parses fails for now, one that does
        // not fails for good, each in its own place.
        let r = Resolver::with_servers(Vec::new());
        assert_eq!(
            r.txt_many(&["example.com", "a..b", "example.net"]),
            [
                Err(DnsError::Temp),
                Err(DnsError::Hard),
                Err(DnsError::Temp)
            ]
        );
        assert!(r.txt_many(&[]).is_empty());
    }

    #[test]
    fn equal_preferences_shuffled_in_place() {
        let mut seen = std::collections::HashSet::new();
        for seed in 1..200u64 {
            let mut v = vec![(20, 'c'), (10, 'a'), (10, 'b'), (30, 'd')];
            shuffle_equal(&mut v, seed.wrapping_mul(0x9e3779b97f4a7c15));
            assert_eq!(v[2], (20, 'c'));
            assert_eq!(v[3], (30, 'd'));
            seen.insert(v[0].1);
        }
        assert_eq!(seen.len(), 2, "both equal MXes come first sometimes");
    }

    #[test]
    fn names() {
        assert_eq!(text(&name("Example.COM").unwrap()), "Example.COM");
        assert_eq!(text(&name("x.example.").unwrap()), "x.example");
        assert_eq!(name("a..b"), Err(DnsError::Hard));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            list_name(ip("1.2.3.4"), "zen.example"),
            "4.3.2.1.zen.example"
        );
        assert_eq!(
            list_name(ip("::ffff:1.2.3.4"), "l.example"),
            "4.3.2.1.l.example"
        );
        let v6 = list_name(ip("2001:db8::1"), "x.example");
        assert!(v6.starts_with("1.0.0.0.0.0.0.0."), "{v6}");
        assert!(v6.ends_with(".8.b.d.0.1.0.0.2.x.example"), "{v6}");
    }
}
