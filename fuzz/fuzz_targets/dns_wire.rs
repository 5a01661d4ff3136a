//! DNS answers as the stub resolver reads them: hickory-proto decodes the
//! packet, then our code follows CNAMEs (`dns::chase`), turns names into
//! text (`dns::text`), and judges NSEC/NSEC3 denials (`dns::nsec`). The
//! same bytes as text feed the server-list and trust-anchor parsers.
//!
//! Invariants: no panic; records found are of the type asked and owned by
//! the name asked or an alias reached from it; an alias to ask again is
//! never the name asked; base32hex decodes what it encodes.
#![no_main]

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData};
use libfuzzer_sys::fuzz_target;
use sqmail::dns::{self, Chase, nsec};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = dns::conf::parse_list(&text);
    let _ = dns::conf::parse_resolv_conf(&text);
    let _ = dns::dnssec::Anchors::parse(&text);
    let b32 = nsec::base32hex(data);
    assert_eq!(nsec::unbase32hex(b32.as_bytes()).as_deref(), Some(data));

    let Ok(m) = Message::from_vec(data) else {
        return;
    };
    let mut recs = nsec::Records::default();
    for r in m.answers.iter().chain(&m.authorities) {
        match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC(x)) => recs.nsec.push((r.name.clone(), x.clone())),
            RData::DNSSEC(DNSSECRData::NSEC3(x)) => recs.nsec3.push((r.name.clone(), x.clone())),
            _ => {}
        }
        let _ = dns::text(&r.name);
    }
    let zone = m
        .authorities
        .iter()
        .find(|r| matches!(r.data, RData::SOA(_)))
        .map(|r| r.name.clone());
    for q in &m.queries {
        let (n, t) = (q.name(), q.query_type());
        match dns::chase(&m.answers, n, t) {
            Chase::Found(v) => {
                for r in &v {
                    assert_eq!(r.record_type(), t);
                }
                for r in v {
                    match r.data {
                        RData::MX(mx) => drop(dns::text(&mx.exchange)),
                        RData::PTR(p) => drop(dns::text(&p.0)),
                        RData::TXT(t) => drop(t.txt_data.iter().flatten().count()),
                        _ => {}
                    }
                }
            }
            Chase::NoData => {}
            Chase::Alias(a) => assert_ne!(&a, n),
        }
        let zone = zone.clone().unwrap_or_else(|| n.base_name());
        let _ = recs.proof(n, t, &zone);
        let _ = recs.no_closer(n, (n.num_labels() / 2).max(1), &zone);
        if let Some(w) = nsec::wildcard(n) {
            assert!(w.is_wildcard());
        }
        let _ = nsec::common(n, &zone);
    }
    let _ = Name::root();
});
