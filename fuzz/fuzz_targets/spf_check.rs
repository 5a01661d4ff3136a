//! A whole SPF evaluation (`spf::check`) against a hostile DNS: the zone
//! comes from the input, one record a line, `name TYPE data` (TXT, A,
//! AAAA, MX, PTR; a name starting with `!` fails temporarily). The first
//! line may be `ip helo sender` for the question.
//!
//! Invariants: no panic; the DNS work is bounded (RFC 7208 §4.6.4: ten
//! terms, ten names per MX or PTR term, two void lookups) whatever the
//! records say; the Received-SPF field stays one header field.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use sqmail::dns::DnsError;
use sqmail::spf::{self, Lookup, Query};

/// Lookups one evaluation may make: the first TXT, ten DNS terms each
/// with a TXT or an MX/PTR list and ten address lookups (A and AAAA for
/// `a`), the exp TXT, the `%{p}` validation, and slack for `redirect`.
const MAX_LOOKUPS: usize = 1 + 10 * (1 + 2 * 10) + 1 + 11 + 2;

struct Zone<'a> {
    rrs: Vec<(&'a str, &'a str, &'a str)>,
    asked: usize,
}

impl<'a> Zone<'a> {
    fn find(&mut self, name: &str, ty: &str) -> Result<Vec<&'a str>, DnsError> {
        self.asked += 1;
        let name = name.trim_end_matches('.');
        let mut exists = false;
        let mut out = Vec::new();
        for &(n, t, d) in &self.rrs {
            let temp = n.strip_prefix('!');
            if temp.unwrap_or(n).eq_ignore_ascii_case(name) {
                if temp.is_some() {
                    return Err(DnsError::Temp);
                }
                exists = true;
                if t.eq_ignore_ascii_case(ty) {
                    out.push(d);
                }
            }
        }
        match exists {
            true => Ok(out),
            false => Err(DnsError::Hard),
        }
    }
}

impl Lookup for Zone<'_> {
    fn txt(&mut self, name: &str) -> Result<Vec<Vec<u8>>, DnsError> {
        // `\n` in the zone text stands for a newline inside the TXT data.
        Ok(self
            .find(name, "TXT")?
            .iter()
            .map(|d| d.replace("\\n", "\n").into_bytes())
            .collect())
    }
    fn addrs(&mut self, name: &str, v6: bool) -> Result<Vec<IpAddr>, DnsError> {
        let t = if v6 { "AAAA" } else { "A" };
        Ok(self
            .find(name, t)?
            .iter()
            .filter_map(|d| d.parse().ok())
            .collect())
    }
    fn mx(&mut self, name: &str) -> Result<Vec<String>, DnsError> {
        Ok(self
            .find(name, "MX")?
            .iter()
            .map(|d| d.to_string())
            .collect())
    }
    fn ptr(&mut self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
        let rev = ip.to_string();
        Ok(self
            .find(&rev, "PTR")?
            .iter()
            .map(|d| d.to_string())
            .collect())
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("");
    let mut q = first.splitn(3, ' ');
    let ip = q.next().filter(|s| !s.is_empty()).unwrap_or("192.0.2.10");
    let helo = q.next().unwrap_or("mx.example.org");
    let sender = q.next().unwrap_or("user@example.org");
    let rrs = lines
        .filter_map(|l| {
            let mut w = l.splitn(3, ' ');
            Some((w.next()?, w.next()?, w.next().unwrap_or("")))
        })
        .collect();
    let mut zone = Zone { rrs, asked: 0 };
    let query = Query {
        ip,
        helo,
        sender,
        receiver: "mx.receiver.example",
        local_rules: (data.len() % 3 == 0).then_some("a:allowed.example ip4:198.51.100.0/24"),
        explain: "See %{s} %{i}",
        own_ips: &[],
        now: 1_700_000_000,
    };
    let Some(o) = spf::check(&query, &mut zone) else {
        assert!(spf::parse_ip(ip).is_none());
        return;
    };
    assert!(zone.asked <= MAX_LOOKUPS, "{} lookups", zone.asked);
    let _ = (o.verdict.spfresult(), o.verdict.code(), o.verdict.word());
    let h = spf::header::received_spf(&o, ip, helo, sender, "mx.receiver.example");
    assert!(h.starts_with("Received-SPF: ") && h.ends_with('\n') && !h.contains('\r'));
    let body = &h[..h.len() - 1];
    for (i, _) in body.match_indices('\n') {
        assert!(body[i + 1..].starts_with(' '), "header injection: {h:?}");
    }
});
