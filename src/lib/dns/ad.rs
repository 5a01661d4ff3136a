//! DNSSEC on the word of a validating resolver on this host: the `ad`
//! line of control/trustanchors (qmail-remote(8), DANE). An answer with the
//! AD bit set is secure, one without it insecure; the resolver answers
//! SERVFAIL for what it finds bogus, and that is a lookup failing for now.
//!
//! Only servers on loopback are asked: the AD bit is one unsigned header
//! bit, so anybody on the path to a server elsewhere could set it on a
//! forged answer; nobody off this host can forge a loopback answer.

use std::net::SocketAddr;

use hickory_proto::rr::{Name, RData, RecordType};

use super::dnssec::{Answer, Status};
use super::{DnsError, MAX_CNAME};

/// The servers whose AD bit is believed: those on loopback.
pub fn trusted(servers: &[SocketAddr]) -> Vec<SocketAddr> {
    servers
        .iter()
        .filter(|s| s.ip().to_canonical().is_loopback())
        .copied()
        .collect()
}

/// `n`/`t` asked of the loopback servers among `servers`, CNAMEs followed
/// in the resolver's answer. No loopback server: insecure, nothing asked.
pub fn lookup(servers: &[SocketAddr], n: &Name, t: RecordType) -> Result<Answer, DnsError> {
    let mut chain = vec![n.clone()];
    let servers = trusted(servers);
    if servers.is_empty() {
        return Ok(Answer {
            status: Status::Insecure,
            records: Vec::new(),
            chain,
            denial: None,
        });
    }
    let m = super::stub::ask(&servers, n, t, true)?;
    let status = match m.metadata.authentic_data {
        true => Status::Secure,
        false => Status::Insecure,
    };
    let mut records = Vec::new();
    for _ in 0..=MAX_CNAME {
        let cur = &chain[chain.len() - 1];
        records = m
            .answers
            .iter()
            .filter(|r| &r.name == cur && r.record_type() == t)
            .cloned()
            .collect();
        if !records.is_empty() || t == RecordType::CNAME {
            break;
        }
        let next = m.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if &r.name == cur => Some(c.0.clone()),
            _ => None,
        });
        match next {
            Some(c) if !chain.contains(&c) => chain.push(c),
            Some(_) => return Err(DnsError::Temp),
            None => break,
        }
    }
    Ok(Answer {
        status,
        records,
        chain,
        denial: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_servers_are_trusted() {
        let s: Vec<SocketAddr> = [
            "127.0.0.53:53",
            "192.0.2.1:53",
            "[::1]:53",
            "[::ffff:127.0.0.1]:5353",
            "[2001:db8::1]:53",
        ]
        .iter()
        .map(|x| x.parse().unwrap())
        .collect();
        assert_eq!(trusted(&s), [s[0], s[2], s[3]]);
    }

    #[test]
    fn without_a_loopback_server_nothing_is_secure() {
        let n = super::super::name("example").unwrap();
        let far = ["192.0.2.1:53".parse().unwrap()];
        let a = lookup(&far, &n, RecordType::TLSA).unwrap();
        assert_eq!(a.status, Status::Insecure);
        assert!(a.records.is_empty());
    }
}
