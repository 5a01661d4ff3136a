//! DANE in qmail-remote (RFC 7672) against signed zones: a small
//! authoritative DNS server on loopback serves zones signed with keys the
//! test makes, with NSEC or NSEC3 chains for denials, insecure and secure
//! delegations, and knobs to fail or forge answers.

use std::collections::BTreeSet;
use std::fs;
use std::net::UdpSocket;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::thread;

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sqmail::dns::nsec;

use crate::common::remote::*;
use crate::common::tls::{self_signed, server_config, sha256};
use crate::common::{QmailHome, skip};

const MSG: &[u8] = b"Subject: dane\n\nbody\n";

/// How a zone proves that names and types do not exist.
#[derive(Clone, Copy, PartialEq)]
enum Denial {
    Nsec,
    Nsec3 { opt_out: bool },
}

/// One zone: its data, and its key when signed.
struct Zone {
    apex: Name,
    key: Option<ZoneKey>,
    denial: Denial,
    records: Vec<Record>,
}

impl Zone {
    fn new(apex: &str, signed: bool, denial: Denial) -> Zone {
        Zone {
            apex: name(apex),
            key: signed.then(|| ZoneKey::new(apex)),
            denial,
            records: Vec::new(),
        }
    }
}

/// Changes an answer to (name, type) before it is sent.
type Tamper = Arc<dyn Fn(&Name, RecordType, &mut Message) + Send + Sync>;

/// What the server does besides answering from the zones.
#[derive(Clone, Default)]
struct Knobs {
    /// Questions (name, type) answered with SERVFAIL.
    servfail: Vec<(Name, RecordType)>,
    /// Changes an answer before it is sent.
    tamper: Option<Tamper>,
    /// Sets the AD bit on every answer, as a validating resolver does on
    /// what it validated.
    ad: bool,
}

/// Knobs where `f` changes the answer to `n`/`t`.
fn tamper_at(n: &str, t: RecordType, f: impl Fn(&mut Message) + Send + Sync + 'static) -> Knobs {
    let n = name(n);
    Knobs {
        tamper: Some(Arc::new(move |q, qt, m| {
            if qt == t && *q == n {
                f(m);
            }
        })),
        ..Knobs::default()
    }
}

/// Knobs where `f` changes the answer for the TLSA records of
/// mx.dane.test at `port`.
fn tamper_tlsa(port: u16, f: impl Fn(&mut Message) + Send + Sync + 'static) -> Knobs {
    tamper_at(&tlsa_owner(port, "mx.dane.test"), RecordType::TLSA, f)
}

/// An answer of `set` signed by `k`, nothing else.
fn replace_answer(m: &mut Message, k: &ZoneKey, set: Vec<Record>) {
    m.answers = signed(k, set);
    m.authorities.clear();
    m.metadata.response_code = ResponseCode::NoError;
}

/// Leaves only the SOA record (no signatures, no NSEC) in the authority.
fn strip_proofs(m: &mut Message) {
    m.authorities.retain(|r| r.record_type() == RecordType::SOA);
}

/// The served data of one zone: signed RRsets and the denial chain.
struct Served {
    apex: Name,
    records: Vec<Record>,
    /// The chain records with their signatures, by owner.
    chain: Vec<(Name, Vec<Record>)>,
    nsec3: Option<(Vec<u8>, u16)>,
    soa: Vec<Record>,
}

/// A DNS server on 127.0.0.1 answering as a recursive server that passes
/// DNSSEC records through would.
struct Auth {
    env: String,
    queries: Arc<Mutex<Vec<String>>>,
}

fn group(records: &[Record]) -> Vec<Vec<Record>> {
    let mut sets: Vec<Vec<Record>> = Vec::new();
    for r in records {
        match sets
            .iter_mut()
            .find(|s| s[0].name == r.name && s[0].record_type() == r.record_type())
        {
            Some(s) => s.push(r.clone()),
            None => sets.push(vec![r.clone()]),
        }
    }
    sets
}

fn sign(key: Option<&ZoneKey>, set: Vec<Record>) -> Vec<Record> {
    match key {
        Some(k) => signed(k, set),
        None => set,
    }
}

/// Adds delegations (NS, and DS for a signed child) to the parents, the
/// apex records, signatures and denial chains.
fn prepare(mut zones: Vec<Zone>) -> (Vec<Served>, String) {
    let anchor = zones[0].key.as_ref().unwrap().anchor_line();
    for i in 1..zones.len() {
        let child = zones[i].apex.clone();
        let ds = zones[i].key.as_ref().map(|k| k.ds_record());
        let parent = (0..zones.len())
            .filter(|&p| p != i && zones[p].apex.zone_of(&child))
            .max_by_key(|&p| zones[p].apex.num_labels())
            .unwrap();
        let ns = Record::from_rdata(child.clone(), 300, RData::NS(NS(name("ns.invalid"))));
        zones[parent].records.push(ns);
        zones[parent].records.extend(ds);
    }
    let served = zones
        .into_iter()
        .map(|z| {
            let key = z.key.as_ref();
            let soa = Record::from_rdata(
                z.apex.clone(),
                300,
                RData::SOA(SOA::new(
                    name("ns.invalid"),
                    name("h.invalid"),
                    1,
                    1,
                    1,
                    1,
                    300,
                )),
            );
            let mut all = z.records.clone();
            all.push(soa.clone());
            if let Some(k) = key {
                all.push(k.dnskey_record());
            }
            let mut records = Vec::new();
            for set in group(&all) {
                let at_cut = set[0].name != z.apex && set[0].record_type() == RecordType::NS;
                records.extend(if at_cut { set } else { sign(key, set) });
            }
            let mut types: Vec<(Name, Vec<RecordType>)> = Vec::new();
            for r in &all {
                match types.iter_mut().find(|(n, _)| *n == r.name) {
                    Some((_, t)) => t.push(r.record_type()),
                    None => types.push((r.name.clone(), vec![r.record_type()])),
                }
            }
            let (chain, nsec3) = match z.denial {
                Denial::Nsec => (
                    nsec::nsec_chain(&types)
                        .into_iter()
                        .map(|(o, r)| (o, RData::DNSSEC(DNSSECRData::NSEC(r))))
                        .collect::<Vec<_>>(),
                    None,
                ),
                Denial::Nsec3 { opt_out } => {
                    let salt = vec![0xab, 0xcd];
                    let c = nsec::nsec3_chain(&z.apex, &types, &salt, 2, opt_out);
                    (
                        c.into_iter()
                            .map(|(o, r)| (o, RData::DNSSEC(DNSSECRData::NSEC3(r))))
                            .collect(),
                        Some((salt, 2)),
                    )
                }
            };
            let chain = if key.is_some() {
                chain
                    .into_iter()
                    .map(|(o, d)| (o.clone(), sign(key, vec![Record::from_rdata(o, 300, d)])))
                    .collect()
            } else {
                Vec::new()
            };
            let soa = records
                .iter()
                .filter(|r| r.name == z.apex && covers_type(r, RecordType::SOA))
                .cloned()
                .collect();
            Served {
                apex: z.apex,
                records,
                chain,
                nsec3,
                soa,
            }
        })
        .collect();
    (served, anchor)
}

/// Is `r` of type `t`, or an RRSIG over `t`?
fn covers_type(r: &Record, t: RecordType) -> bool {
    match &r.data {
        RData::DNSSEC(DNSSECRData::RRSIG(s)) => s.input().type_covered == t,
        _ => r.record_type() == t,
    }
}

impl Served {
    fn exists(&self, n: &Name) -> bool {
        self.records.iter().any(|r| n.zone_of(&r.name))
    }

    /// The records of `*.<closest encloser>` of type `t` renamed to `n`.
    fn wildcard_for(&self, n: &Name, t: RecordType, dnssec: bool) -> Vec<Record> {
        let ce = (self.apex.num_labels()..n.num_labels())
            .rev()
            .map(|k| n.trim_to(k as usize))
            .find(|a| self.exists(a))
            .unwrap_or_else(|| self.apex.clone());
        let w = nsec::wildcard(&ce).unwrap();
        self.records
            .iter()
            .filter(|r| r.name == w && covers_type(r, t) && (dnssec || r.record_type() == t))
            .map(|r| {
                let mut r = r.clone();
                r.name = n.clone();
                r
            })
            .collect()
    }

    /// The chain records that match or cover `n`, with their signatures.
    fn proof_for(&self, n: &Name, out: &mut Vec<Record>) {
        for (i, (owner, recs)) in self.chain.iter().enumerate() {
            let hit = match (&self.nsec3, &recs[0].data) {
                (None, RData::DNSSEC(DNSSECRData::NSEC(x))) => {
                    owner == n || nsec::covers(owner, x.next_domain_name(), n)
                }
                (Some((salt, it)), RData::DNSSEC(DNSSECRData::NSEC3(x))) => {
                    let h = nsec::hash(n, salt, *it).unwrap();
                    let o = nsec::unbase32hex(owner.iter().next().unwrap()).unwrap();
                    o == h || nsec::covers3(&o, x.next_hashed_owner_name(), &h)
                }
                _ => false,
            };
            if hit && !out.contains(&recs[0]) {
                out.extend(self.chain[i].1.iter().cloned());
            }
        }
    }

    /// Denial records for `n`: for n, each ancestor up to the apex, and
    /// the wildcard below each.
    fn denial(&self, n: &Name) -> Vec<Record> {
        let mut out = self.soa.clone();
        let mut proof = Vec::new();
        for k in self.apex.num_labels()..=n.num_labels() {
            let a = n.trim_to(k as usize);
            self.proof_for(&a, &mut proof);
            self.proof_for(&nsec::wildcard(&a).unwrap(), &mut proof);
        }
        out.extend(proof);
        out
    }
}

fn answer(zones: &[Served], knobs: &Knobs, q: &[u8]) -> Option<Vec<u8>> {
    let req = Message::from_vec(q).ok()?;
    let query = req.queries.first()?.clone();
    let (qn, qt) = (query.name().clone(), query.query_type());
    let mut m = Message::new(req.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.recursion_available = true;
    m.add_query(query);
    let dnssec = req.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
    let mut e = Edns::new();
    e.set_dnssec_ok(dnssec);
    m.set_edns(e);
    if knobs.servfail.iter().any(|(n, t)| *n == qn && *t == qt) {
        m.metadata.response_code = ResponseCode::ServFail;
        return m.to_vec().ok();
    }
    let mut cur = qn.clone();
    for _ in 0..8 {
        let zone = zones
            .iter()
            .filter(|z| z.apex.zone_of(&cur) && !(qt == RecordType::DS && z.apex == cur))
            .max_by_key(|z| z.apex.num_labels())?;
        let at = |t: RecordType| -> Vec<Record> {
            zone.records
                .iter()
                .filter(|r| r.name == cur && covers_type(r, t))
                .filter(|r| dnssec || r.record_type() == t)
                .cloned()
                .collect()
        };
        let hits = at(qt);
        if !hits.is_empty() {
            m.add_answers(hits);
            break;
        }
        let cn = at(RecordType::CNAME);
        if let Some(RData::CNAME(t)) = cn
            .iter()
            .map(|r| &r.data)
            .find(|d| matches!(d, RData::CNAME(_)))
        {
            let t = t.0.clone();
            m.add_answers(cn);
            cur = t;
            continue;
        }
        if !zone.exists(&cur) {
            // Synthesised from a wildcard, with the proof that the name
            // itself does not exist.
            let w = zone.wildcard_for(&cur, qt, dnssec);
            if !w.is_empty() {
                m.add_answers(w);
                if dnssec {
                    m.add_authorities(zone.denial(&cur).into_iter().skip(zone.soa.len()));
                }
                break;
            }
            m.metadata.response_code = ResponseCode::NXDomain;
        }
        if dnssec {
            m.add_authorities(zone.denial(&cur));
        } else {
            m.add_authorities(
                zone.soa
                    .iter()
                    .filter(|r| r.record_type() == RecordType::SOA)
                    .cloned(),
            );
        }
        break;
    }
    m.metadata.authentic_data = knobs.ad;
    if let Some(t) = &knobs.tamper {
        t(&qn, qt, &mut m);
    }
    m.to_vec().ok()
}

impl Auth {
    fn start(zones: Vec<Zone>, knobs: Knobs) -> (Auth, String) {
        let (served, anchor) = prepare(zones);
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let env = format!("127.0.0.1#{}", udp.local_addr().unwrap().port());
        let queries = Arc::new(Mutex::new(Vec::new()));
        let log = queries.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((n, from)) = udp.recv_from(&mut buf) {
                if let Ok(req) = Message::from_vec(&buf[..n])
                    && let Some(q) = req.queries.first()
                {
                    log.lock()
                        .unwrap()
                        .push(format!("{} {}", q.name(), q.query_type()));
                }
                if let Some(r) = answer(&served, &knobs, &buf[..n]) {
                    let _ = udp.send_to(&r, from);
                }
            }
        });
        (Auth { env, queries }, anchor)
    }

    fn asked(&self, q: &str) -> bool {
        self.queries.lock().unwrap().iter().any(|l| l == q)
    }
}

/// The zones of most tests: `test.` (the anchor) with a signed child
/// `dane.test.` whose MX is `mx.dane.test` (127.0.0.2); `extra` adds to
/// dane.test.
fn base(denial: Denial, extra: Vec<Record>) -> Vec<Zone> {
    let root = Zone::new("test", true, denial);
    let mut child = Zone::new("dane.test", true, denial);
    child.records.push(mx("dane.test", 10, "mx.dane.test"));
    child.records.push(a("mx.dane.test", "127.0.0.2"));
    child.records.extend(extra);
    vec![root, child]
}

struct Run {
    reports: Vec<String>,
    /// The sink on 127.0.0.2, then any others.
    sink: Sink,
    others: Vec<Sink>,
    dns: Auth,
}

/// qmail-remote for `domain` against a TLS sink on 127.0.0.2 using
/// `cfg`; `zones` gets the sink's port to name TLSA owners.
fn run(
    label: &str,
    cfg: Arc<rustls::ServerConfig>,
    domain: &str,
    zones: impl FnOnce(u16) -> Vec<Zone>,
    knobs: impl FnOnce(u16) -> Knobs,
) -> Run {
    run_anchored(label, cfg, domain, zones, knobs, true, &["127.0.0.2"])
}

fn run_anchored(
    label: &str,
    cfg: Arc<rustls::ServerConfig>,
    domain: &str,
    zones: impl FnOnce(u16) -> Vec<Zone>,
    knobs: impl FnOnce(u16) -> Knobs,
    anchored: bool,
    ips: &[&str],
) -> Run {
    let trust = |a: &str| anchored.then(|| a.to_string());
    run_trusting(label, cfg, domain, zones, knobs, trust, ips)
}

/// `run_anchored` with control/trustanchors made by `trust` from the
/// first zone's anchor line (`None`: no file).
fn run_trusting(
    label: &str,
    cfg: Arc<rustls::ServerConfig>,
    domain: &str,
    zones: impl FnOnce(u16) -> Vec<Zone>,
    knobs: impl FnOnce(u16) -> Knobs,
    trust: impl FnOnce(&str) -> Option<String>,
    ips: &[&str],
) -> Run {
    let h = QmailHome::new(label);
    h.control("helohost", "client.test\n");
    let script = Script {
        tls: Some(cfg),
        ..Script::default()
    };
    let mut others: Vec<Sink> = same_port(ips)
        .into_iter()
        .map(|l| Sink::start_on(l, script.clone()))
        .collect();
    let sink = others.remove(0);
    let port = sink.addr.port();
    let (dns, anchor) = Auth::start(zones(port), knobs(port));
    h.control("smtproutes", &format!("{domain}:;{port}\n"));
    if let Some(t) = trust(&anchor) {
        h.control("trustanchors", &t);
    }
    let p = h.path("msg");
    fs::write(&p, MSG).unwrap();
    let out = h
        .cmd("qmail-remote")
        .args([domain, "a@client.test", &format!("b@{domain}")])
        .env("DNSCACHEIP", &dns.env)
        .stdin(fs::File::open(&p).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success());
    Run {
        reports: reports(&out.stdout),
        sink,
        others,
        dns,
    }
}

/// `run` for dane.test (NSEC) with one TLSA record (usage, selector,
/// matching, data) at mx.dane.test.
fn run_one(label: &str, cfg: Arc<rustls::ServerConfig>, usm: (u8, u8, u8), data: Vec<u8>) -> Run {
    let (u, s, m) = usm;
    run(
        label,
        cfg,
        "dane.test",
        |p| {
            base(
                Denial::Nsec,
                vec![tlsa(&tlsa_owner(p, "mx.dane.test"), u, s, m, data)],
            )
        },
        |_| Knobs::default(),
    )
}

/// A DANE-EE record at mx.dane.test that matches no certificate.
fn bad_tlsa(port: u16) -> Record {
    tlsa(&tlsa_owner(port, "mx.dane.test"), 3, 1, 1, vec![7; 32])
}

fn tlsa_owner(port: u16, host: &str) -> String {
    format!("_{port}._tcp.{host}")
}

fn tls_ok() -> Vec<String> {
    vec![
        "r".to_string(),
        "K127.0.0.2 TLS transmitted message accepted.\nRemote host said: 250 ok 1700000000 qp 4242\n"
            .to_string(),
    ]
}

fn mismatch(host: &str) -> Vec<String> {
    vec![format!(
        "Z No TLSA record matches the X.509 certificate of: {host}. (#4.4.1)\n"
    )]
}

fn deferred(text: &str, host: &str) -> Vec<String> {
    vec![format!("Z {text}: {host}. (#4.4.1)\n")]
}

/// A self-signed server and the SHA-256 of its key (a matching 3 1 1).
fn ee() -> (Arc<rustls::ServerConfig>, Vec<u8>) {
    let (ck, cfg) = self_signed(&["unrelated.example"]);
    let spki = sqmail::remote::dane::spki(ck.cert.der()).unwrap().to_vec();
    (cfg, sha256(&spki))
}

#[test]
fn dane_ee_match_mismatch_and_bad_signature() {
    let (cfg, good) = ee();
    for (label, data, ok) in [
        ("dane-ee", good.clone(), true),
        ("dane-ee-no", vec![7; 32], false),
    ] {
        let r = run_one(label, cfg.clone(), (3, 1, 1), data);
        if ok {
            assert_eq!(r.reports, tls_ok(), "{label}");
        } else {
            assert_eq!(r.reports, mismatch("mx.dane.test"), "{label}");
            assert!(!r.sink.log().iter().any(|l| l.starts_with("MAIL")));
        }
    }
    // The TLSA set signed by a key that is not the zone's: bogus, and the
    // host is not even connected to.
    let r = run(
        "dane-badsig",
        cfg,
        "dane.test",
        |_| base(Denial::Nsec, Vec::new()),
        move |p| {
            tamper_tlsa(p, move |m| {
                let set = vec![tlsa(&tlsa_owner(p, "mx.dane.test"), 3, 1, 1, good.clone())];
                replace_answer(m, &ZoneKey::new("dane.test"), set);
            })
        },
    );
    assert_eq!(
        r.reports,
        deferred(sqmail::remote::dane::BOGUS_TLSA, "mx.dane.test")
    );
    assert!(r.sink.log().is_empty(), "not connected");
    // Signed in the name of the root, which no anchor covers: that would
    // make it insecure (no DANE), but the zone holding it is signed.
    let r = run(
        "dane-rootsig",
        ee().0,
        "dane.test",
        |_| base(Denial::Nsec, Vec::new()),
        move |p| {
            tamper_tlsa(p, move |m| {
                let set = vec![bad_tlsa(p)];
                replace_answer(m, &ZoneKey::new("."), set);
            })
        },
    );
    assert_eq!(
        r.reports,
        deferred(sqmail::remote::dane::BOGUS_TLSA, "mx.dane.test")
    );
}

#[test]
fn nodata_and_nxdomain_proven_mean_no_dane() {
    let (cfg, _) = ee();
    for (label, denial, nodata) in [
        ("dane-nsec-nodata", Denial::Nsec, true),
        ("dane-nsec-nx", Denial::Nsec, false),
        ("dane-nsec3-nodata", Denial::Nsec3 { opt_out: false }, true),
        ("dane-nsec3-nx", Denial::Nsec3 { opt_out: false }, false),
    ] {
        let r = run(
            label,
            cfg.clone(),
            "dane.test",
            |p| {
                // A TXT record makes the TLSA name exist (NODATA).
                let extra = if nodata {
                    vec![txt(&tlsa_owner(p, "mx.dane.test"), &["x"])]
                } else {
                    Vec::new()
                };
                base(denial, extra)
            },
            |_| Knobs::default(),
        );
        assert_eq!(r.reports, tls_ok(), "{label}");
        let port = r.sink.addr.port();
        assert!(
            r.dns
                .asked(&format!("{}. TLSA", tlsa_owner(port, "mx.dane.test"))),
            "{label}"
        );
    }
}

#[test]
fn forged_or_missing_denial_defers() {
    let (cfg, _) = ee();
    type Edit = fn(&mut Message);
    let cases: [(&str, Denial, Edit); 4] = [
        // The NSEC records left out: only the signed SOA remains.
        ("dane-noproof", Denial::Nsec, |m| {
            m.authorities.retain(|r| covers_type(r, RecordType::SOA));
        }),
        // Records changed under their signatures (still covering the name).
        ("dane-forged-nsec", Denial::Nsec, |m| {
            for r in &mut m.authorities {
                if let RData::DNSSEC(DNSSECRData::NSEC(x)) = &r.data {
                    let types: Vec<RecordType> = x.type_bit_maps().collect();
                    r.data = RData::DNSSEC(DNSSECRData::NSEC(
                        hickory_proto::dnssec::rdata::NSEC::new(name("zzzz.dane.test"), types),
                    ));
                }
            }
        }),
        // Genuine records that prove nothing about the name.
        ("dane-wrong-nsec3", Denial::Nsec3 { opt_out: false }, |m| {
            let keep: BTreeSet<Name> = m
                .authorities
                .iter()
                .filter(|r| r.record_type() == RecordType::NSEC3)
                .map(|r| r.name.clone())
                .take(1)
                .collect();
            m.authorities
                .retain(|r| covers_type(r, RecordType::SOA) || keep.contains(&r.name));
        }),
        // No DNSSEC records at all in a signed zone.
        ("dane-stripped", Denial::Nsec, strip_proofs),
    ];
    for (label, denial, f) in cases {
        let r = run(
            label,
            cfg.clone(),
            "dane.test",
            |_| base(denial, Vec::new()),
            |p| tamper_tlsa(p, f),
        );
        assert_eq!(
            r.reports,
            deferred(sqmail::remote::dane::BOGUS_TLSA, "mx.dane.test"),
            "{label}"
        );
        assert!(r.sink.log().is_empty(), "{label}");
    }
}

#[test]
fn insecure_delegation_means_no_dane() {
    let (cfg, _) = ee();
    for (label, denial) in [
        ("dane-insecure-nsec", Denial::Nsec),
        ("dane-insecure-nsec3", Denial::Nsec3 { opt_out: false }),
        ("dane-insecure-optout", Denial::Nsec3 { opt_out: true }),
    ] {
        let r = run(
            label,
            cfg.clone(),
            "plain.test",
            |p| {
                let mut child = Zone::new("plain.test", false, Denial::Nsec);
                child.records = vec![
                    mx("plain.test", 10, "mx.plain.test"),
                    a("mx.plain.test", "127.0.0.2"),
                    tlsa(&tlsa_owner(p, "mx.plain.test"), 3, 1, 1, vec![7; 32]),
                ];
                vec![Zone::new("test", true, denial), child]
            },
            |_| Knobs::default(),
        );
        assert_eq!(r.reports, tls_ok(), "{label}");
        assert!(r.dns.asked("plain.test. DS"), "{label}");
    }
    // The same unsigned zone with the parent's proof of "no DS" forged:
    // nothing is proven insecure, so nothing unsigned is believed.
    let r = run(
        "dane-insecure-forged",
        cfg,
        "plain.test",
        |_| {
            let mut child = Zone::new("plain.test", false, Denial::Nsec);
            child.records = vec![
                mx("plain.test", 10, "mx.plain.test"),
                a("mx.plain.test", "127.0.0.2"),
            ];
            vec![Zone::new("test", true, Denial::Nsec), child]
        },
        |_| tamper_at("plain.test", RecordType::DS, strip_proofs),
    );
    assert_eq!(
        r.reports,
        deferred(sqmail::remote::dane::BOGUS_MX, "plain.test")
    );
}

#[test]
fn insecure_mx_means_no_dane_for_its_hosts() {
    let (cfg, _) = ee();
    // mxin.test is an unsigned zone whose MX is the signed mx.dane.test,
    // which has a mismatching TLSA record.
    let r = run(
        "dane-insecure-mx",
        cfg,
        "mxin.test",
        |p| {
            let mut zs = base(Denial::Nsec, vec![bad_tlsa(p)]);
            let mut z = Zone::new("mxin.test", false, Denial::Nsec);
            z.records.push(mx("mxin.test", 10, "mx.dane.test"));
            zs.push(z);
            zs
        },
        |_| Knobs::default(),
    );
    assert_eq!(r.reports, tls_ok());
    assert!(r.dns.asked("mxin.test. MX"));
}

#[test]
fn cname_host_uses_tlsa_at_the_target() {
    let (cfg, good) = ee();
    for (label, data, ok) in [
        ("dane-cname", good, true),
        ("dane-cname-no", vec![7; 32], false),
    ] {
        let r = run(
            label,
            cfg.clone(),
            "dane.test",
            |p| {
                let mut zs = base(Denial::Nsec3 { opt_out: false }, Vec::new());
                zs[1].records = vec![
                    mx("dane.test", 10, "alias.dane.test"),
                    cname("alias.dane.test", "real.dane.test"),
                    a("real.dane.test", "127.0.0.2"),
                    tlsa(&tlsa_owner(p, "real.dane.test"), 3, 1, 1, data),
                ];
                zs
            },
            |_| Knobs::default(),
        );
        if ok {
            assert_eq!(r.reports, tls_ok(), "{label}");
        } else {
            assert_eq!(r.reports, mismatch("alias.dane.test"), "{label}");
        }
        let port = r.sink.addr.port();
        assert!(
            r.dns
                .asked(&format!("{}. TLSA", tlsa_owner(port, "real.dane.test")))
        );
        // Found at the target: the alias's own name is not asked.
        assert!(
            !r.dns
                .asked(&format!("{}. TLSA", tlsa_owner(port, "alias.dane.test")))
        );
    }
}

#[test]
fn tlsa_servfail_in_signed_zone_defers() {
    let (cfg, _) = ee();
    let r = run(
        "dane-servfail",
        cfg,
        "dane.test",
        |_| base(Denial::Nsec, Vec::new()),
        |p| Knobs {
            servfail: vec![(name(&tlsa_owner(p, "mx.dane.test")), RecordType::TLSA)],
            ..Knobs::default()
        },
    );
    assert_eq!(
        r.reports,
        deferred(sqmail::remote::dane::TEMP, "mx.dane.test")
    );
    assert!(r.sink.log().is_empty());
}

/// A CA and a leaf for `leaf_name` it issued, optionally expired.
fn ca_chain(leaf_name: &str) -> (Vec<u8>, Vec<u8>, Arc<rustls::ServerConfig>) {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = p.self_signed(&ca_key).unwrap();
    let ca_spki = sqmail::remote::dane::spki(ca.der()).unwrap().to_vec();
    let issuer = rcgen::Issuer::new(p, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![leaf_name.to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let cfg = server_config(vec![leaf.der().clone(), ca.der().clone()], &leaf_key);
    (ca.der().to_vec(), ca_spki, cfg)
}

#[test]
fn dane_ta_checks_names_and_uses_the_chain() {
    let (ca, _, cfg) = ca_chain("mx.dane.test");
    let r = run_one("dane-ta", cfg, (2, 0, 1), sha256(&ca));
    assert_eq!(r.reports, tls_ok());
    // The CA matches but the leaf is for another name.
    let (ca, _, cfg) = ca_chain("other.example");
    let r = run_one("dane-ta-name", cfg, (2, 0, 1), sha256(&ca));
    assert_eq!(r.reports, mismatch("mx.dane.test"));
    // 2 1 0: the full key of the issuer.
    let (_, spki, cfg) = ca_chain("mx.dane.test");
    let r = run_one("dane-ta-key", cfg, (2, 1, 0), spki.clone());
    assert_eq!(r.reports, tls_ok());
}

#[test]
fn dane_ee_ignores_names_and_dates_and_unusable_records_still_need_tls() {
    let mut p = rcgen::CertificateParams::new(vec!["elsewhere.example".to_string()]).unwrap();
    p.not_before = rcgen::date_time_ymd(2000, 1, 1);
    p.not_after = rcgen::date_time_ymd(2001, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    let cfg = server_config(vec![cert.der().clone()], &key);
    let spki = sqmail::remote::dane::spki(cert.der()).unwrap().to_vec();
    let r = run_one("dane-ee-old", cfg.clone(), (3, 1, 1), sha256(&spki));
    assert_eq!(r.reports, tls_ok());
    // Only a PKIX-EE record (usage 1, unusable for SMTP): TLS, no check.
    let r = run_one("dane-unusable", cfg, (1, 1, 1), vec![7; 32]);
    assert_eq!(r.reports, tls_ok());
    assert!(r.sink.log().contains(&"TLS".to_string()));
}

#[test]
fn without_anchor_no_tlsa_is_asked() {
    let (cfg, _) = ee();
    let r = run_anchored(
        "dane-off",
        cfg,
        "dane.test",
        |p| base(Denial::Nsec, vec![bad_tlsa(p)]),
        |_| Knobs::default(),
        false,
        &["127.0.0.2"],
    );
    assert_eq!(r.reports, tls_ok());
    assert!(
        !r.dns
            .queries
            .lock()
            .unwrap()
            .iter()
            .any(|q| q.ends_with("TLSA"))
    );
}

#[test]
fn tlsa_from_a_wildcard_needs_its_proof() {
    let (cfg, _) = ee();
    for (label, denial, strip) in [
        ("dane-wild-nsec", Denial::Nsec, false),
        ("dane-wild-nsec3", Denial::Nsec3 { opt_out: false }, false),
        ("dane-wild-noproof", Denial::Nsec, true),
    ] {
        let r = run(
            label,
            cfg.clone(),
            "dane.test",
            |_| {
                let w = tlsa("*._tcp.mx.dane.test", 3, 1, 1, vec![7; 32]);
                base(denial, vec![w])
            },
            move |p| {
                tamper_tlsa(p, move |m| {
                    if strip {
                        m.authorities.clear();
                    }
                })
            },
        );
        // The expanded (mismatching) record is believed only with the proof.
        if strip {
            assert_eq!(
                r.reports,
                deferred(sqmail::remote::dane::BOGUS_TLSA, "mx.dane.test"),
                "{label}"
            );
        } else {
            assert_eq!(r.reports, mismatch("mx.dane.test"), "{label}");
        }
    }
}

#[test]
fn implicit_mx_needs_the_proof_that_there_is_no_mx() {
    let (cfg, _) = ee();
    for (label, strip) in [("dane-implicit", false), ("dane-implicit-noproof", true)] {
        let r = run(
            label,
            cfg.clone(),
            "dane.test",
            |p| {
                let mut zs = base(Denial::Nsec3 { opt_out: false }, Vec::new());
                zs[1].records = vec![
                    a("dane.test", "127.0.0.2"),
                    tlsa(&tlsa_owner(p, "dane.test"), 3, 1, 1, vec![7; 32]),
                ];
                zs
            },
            move |_| {
                let f = if strip {
                    strip_proofs
                } else {
                    |_: &mut Message| {}
                };
                tamper_at("dane.test", RecordType::MX, f)
            },
        );
        if strip {
            let want = deferred(sqmail::remote::dane::BOGUS_MX, "dane.test");
            assert_eq!(r.reports, want, "{label}");
        } else {
            assert_eq!(r.reports, mismatch("dane.test"), "{label}");
        }
    }
}

#[test]
fn tlsa_servfail_goes_on_to_the_next_mx() {
    let (cfg, _) = ee();
    let r = run_anchored(
        "dane-servfail-next",
        cfg,
        "dane.test",
        |_| {
            let mut zs = base(Denial::Nsec, Vec::new());
            zs[1].records.push(mx("dane.test", 20, "mx2.dane.test"));
            zs[1].records.push(a("mx2.dane.test", "127.0.0.3"));
            zs
        },
        |p| Knobs {
            servfail: vec![(name(&tlsa_owner(p, "mx.dane.test")), RecordType::TLSA)],
            ..Knobs::default()
        },
        true,
        &["127.0.0.2", "127.0.0.3"],
    );
    let mut want = tls_ok();
    want[1] = want[1].replace("127.0.0.2", "127.0.0.3");
    assert_eq!(r.reports, want);
    assert!(r.sink.log().is_empty(), "the first MX is skipped");
    assert!(r.others[0].log().iter().any(|l| l.starts_with("MAIL")));
}

/// The anchors package/control installs when dns-root-data is missing.
const ROOT_ANCHORS: &str = include_str!("../conf-files/trustanchors");

#[test]
fn root_anchors_installed_defer_a_forged_root_and_keep_private_anchors() {
    let (cfg, good) = ee();
    // The root our server serves is signed with a key of ours, not with
    // the root's KSK: nothing validates, the host is never connected to.
    let r = run_trusting(
        "dane-root-forged",
        cfg.clone(),
        "dane.test",
        |p| rooted(vec![bad_tlsa(p)]),
        |_| Knobs::default(),
        |_| Some(ROOT_ANCHORS.to_string()),
        &["127.0.0.2"],
    );
    assert_eq!(
        r.reports,
        deferred(sqmail::remote::dane::BOGUS_MX, "dane.test")
    );
    assert!(r.sink.log().is_empty(), "not connected");
    assert!(r.dns.asked(". DNSKEY"));
    // The same file with a private anchor for test. added: the closest
    // anchor validates dane.test, the root is not asked.
    for (label, data, ok) in [
        ("dane-root-private", good, true),
        ("dane-root-private-no", vec![7; 32], false),
    ] {
        let r = run_trusting(
            label,
            cfg.clone(),
            "dane.test",
            |p| {
                let t = tlsa(&tlsa_owner(p, "mx.dane.test"), 3, 1, 1, data);
                base(Denial::Nsec, vec![t])
            },
            |_| Knobs::default(),
            |a| Some(format!("{ROOT_ANCHORS}{a}")),
            &["127.0.0.2"],
        );
        let want = if ok {
            tls_ok()
        } else {
            mismatch("mx.dane.test")
        };
        assert_eq!(r.reports, want, "{label}");
        assert!(!r.dns.asked(". DNSKEY"), "{label}");
    }
}

#[test]
fn ad_mode_trusts_the_resolver_only_when_asked_to() {
    let (cfg, good) = ee();
    let own_validation = |r: &Run| {
        r.dns
            .queries
            .lock()
            .unwrap()
            .iter()
            .any(|q| q.ends_with(" DNSKEY") || q.ends_with(" DS"))
    };
    // (label, the resolver sets AD, trustanchors, TLSA data, reports)
    type Case = (
        &'static str,
        bool,
        Option<&'static str>,
        Vec<u8>,
        Vec<String>,
    );
    let cases: [Case; 5] = [
        (
            "dane-ad",
            true,
            Some("ad\n"),
            vec![7; 32],
            mismatch("mx.dane.test"),
        ),
        ("dane-ad-match", true, Some("ad\n"), good, tls_ok()),
        // An `ad` line wins over anchors in the same file.
        (
            "dane-ad-anchors",
            true,
            Some("ad\n; then the root\n"),
            vec![7; 32],
            mismatch("mx.dane.test"),
        ),
        // The resolver does not vouch for the answer: no DANE.
        ("dane-ad-unset", false, Some("ad\n"), vec![7; 32], tls_ok()),
        // Not asked to trust it: the AD bit is ignored, no TLSA asked.
        ("dane-ad-off", true, None, vec![7; 32], tls_ok()),
    ];
    for (label, ad, trust, data, want) in cases {
        let r = run_trusting(
            label,
            cfg.clone(),
            "dane.test",
            |p| {
                let t = tlsa(&tlsa_owner(p, "mx.dane.test"), 3, 1, 1, data);
                base(Denial::Nsec, vec![t])
            },
            |_| Knobs {
                ad,
                ..Knobs::default()
            },
            |_| trust.map(|t| format!("{t}{ROOT_ANCHORS}")),
            &["127.0.0.2"],
        );
        assert_eq!(r.reports, want, "{label}");
        assert!(!own_validation(&r), "{label}: the resolver validates");
        let port = r.sink.addr.port();
        let tlsa_q = format!("{}. TLSA", tlsa_owner(port, "mx.dane.test"));
        // Without AD the MX answer is insecure already: no TLSA asked.
        assert_eq!(r.dns.asked(&tlsa_q), trust.is_some() && ad, "{label}");
    }
    // A validating resolver answers SERVFAIL for what it finds bogus:
    // deferred, never sent in clear.
    let r = run_trusting(
        "dane-ad-bogus",
        cfg,
        "dane.test",
        |_| base(Denial::Nsec, Vec::new()),
        |p| Knobs {
            ad: true,
            servfail: vec![(name(&tlsa_owner(p, "mx.dane.test")), RecordType::TLSA)],
            ..Knobs::default()
        },
        |_| Some("ad\n".to_string()),
        &["127.0.0.2"],
    );
    assert_eq!(
        r.reports,
        deferred(sqmail::remote::dane::TEMP, "mx.dane.test")
    );
    assert!(r.sink.log().is_empty());
}

/// unbound on loopback as a caching, validating resolver for the zones
/// of an `Auth` server (forwarded to it), with `anchor` as its trust
/// anchor; stopped (its process, by handle) when dropped.
struct Unbound {
    env: String,
    conf: std::path::PathBuf,
    child: std::process::Child,
}

impl Unbound {
    fn start(label: &str, upstream: &str, anchor: &str) -> Option<Unbound> {
        let exe = std::path::Path::new("/usr/sbin/unbound");
        if !exe.is_file() {
            return None;
        }
        let dir = crate::common::fresh_dir(label);
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let up = upstream.replace('#', "@");
        let conf = dir.join("unbound.conf");
        fs::write(
            &conf,
            format!(
                "server:\n  interface: 127.0.0.1@{port}\n  port: {port}\n  username: \"\"\n  \
                 chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"\"\n  use-syslog: no\n  \
                 logfile: \"{d}/log\"\n  do-ip6: no\n  do-not-query-localhost: no\n  \
                 module-config: \"validator iterator\"\n  qname-minimisation: no\n  \
                 trust-anchor-signaling: no\n  root-key-sentinel: no\n  \
                 local-zone: \"test.\" nodefault\n  val-log-level: 2\n  \
                 trust-anchor: \"{a}\"\nforward-zone:\n  name: \".\"\n  forward-addr: {up}\n\
                 remote-control:\n  control-enable: yes\n  control-interface: \"{d}/ctl\"\n",
                d = dir.display(),
                a = anchor.trim().replace("IN DNSKEY", "DNSKEY"),
            ),
        )
        .unwrap();
        let child = std::process::Command::new(exe)
            .args(["-d", "-c"])
            .arg(&conf)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let u = Unbound {
            env: format!("127.0.0.1#{port}"),
            conf,
            child,
        };
        let up = crate::common::wait_until(20, || u.control(&["status"]).is_some());
        assert!(up, "unbound did not come up");
        Some(u)
    }

    /// unbound-control's output, when it succeeds.
    fn control(&self, args: &[&str]) -> Option<String> {
        let out = std::process::Command::new("/usr/sbin/unbound-control")
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Queries unbound has answered since it started.
    fn queries(&self) -> u64 {
        let s = self.control(&["stats_noreset"]).unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix("total.num.queries="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TLS sink on 127.0.0.2 with an `ee()` certificate, and its 3 1 1 data.
fn ee_sink() -> (Sink, Vec<u8>) {
    let (cfg, good) = ee();
    let script = Script {
        tls: Some(cfg),
        ..Script::default()
    };
    (
        Sink::start_on(same_port(&["127.0.0.2"]).remove(0), script),
        good,
    )
}

/// `base` (NSEC) below a root zone signed with a key of ours.
fn rooted(extra: Vec<Record>) -> Vec<Zone> {
    let mut zs = vec![Zone::new(".", true, Denial::Nsec)];
    zs.extend(base(Denial::Nsec, extra));
    zs
}

/// CPU time (user + system, ms) of this process's reaped children.
fn children_cpu_ms() -> u64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // Fields 16 and 17 (cutime, cstime), in USER_HZ (100) ticks.
    let ticks: u64 = f[13].parse::<u64>().unwrap() + f[14].parse::<u64>().unwrap();
    ticks * 10
}

/// The cost of DANE per remote delivery: DNS queries and qmail-remote's
/// CPU time, DANE off, validating itself from an anchor at the root of a
/// three-zone signed chain (. test. dane.test.), and trusting the AD bit
/// of unbound; asking the zones' server directly or through unbound on
/// loopback (a warm cache). Not a check: run it by hand,
///   flock /tmp/bench.lock cargo test --test t -- --ignored dane_cost --nocapture
/// (BENCH_N deliveries per case, 200 by default).
#[test]
#[ignore]
fn dane_cost_per_delivery() {
    let n: u64 = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let (sink, good) = ee_sink();
    let port = sink.addr.port();
    let zones = || {
        let t = tlsa(&tlsa_owner(port, "mx.dane.test"), 3, 1, 1, good.clone());
        rooted(vec![t])
    };
    let (auth, root) = Auth::start(zones(), Knobs::default());
    let (auth_ad, _) = Auth::start(
        zones(),
        Knobs {
            ad: true,
            ..Knobs::default()
        },
    );
    let unbound = Unbound::start("dane-bench-unbound", &auth.env, &root);
    let h = QmailHome::new("dane-bench");
    h.control("helohost", "client.test\n");
    h.control("smtproutes", &format!("dane.test:;{port}\n"));
    let p = h.path("msg");
    fs::write(&p, MSG).unwrap();
    let deliver = |dns: &str| {
        let out = h
            .cmd("qmail-remote")
            .args(["dane.test", "a@client.test", "b@dane.test"])
            .env("DNSCACHEIP", dns)
            .stdin(fs::File::open(&p).unwrap())
            .output()
            .unwrap();
        assert_eq!(reports(&out.stdout), tls_ok());
    };
    println!("case                     queries/delivery  cpu ms/delivery  wall ms/delivery");
    let mut cases: Vec<(&str, Option<String>, &str, &Auth)> = vec![
        ("off, direct", None, &auth.env, &auth),
        ("own, direct", Some(root.clone()), &auth.env, &auth),
        (
            "ad (scripted), direct",
            Some("ad\n".into()),
            &auth_ad.env,
            &auth_ad,
        ),
    ];
    if let Some(u) = &unbound {
        cases.push(("off, unbound", None, &u.env, &auth));
        cases.push(("own, unbound", Some(root.clone()), &u.env, &auth));
        cases.push(("ad, unbound", Some("ad\n".into()), &u.env, &auth));
    } else {
        println!("(no /usr/sbin/unbound: the cached cases are left out)");
    }
    for (label, trust, dns, server) in cases {
        match &trust {
            Some(t) => h.control("trustanchors", t),
            None => {
                let _ = fs::remove_file(h.path("control/trustanchors"));
            }
        }
        let asked = |a: &Auth| a.queries.lock().unwrap().len() as u64;
        let before = asked(server) as usize;
        deliver(dns); // warms the cache
        let first = server.queries.lock().unwrap()[before..].join(", ");
        println!("{label}: the first delivery asked the zones' server: {first}");
        let q0 = (asked(server), unbound.as_ref().map_or(0, |u| u.queries()));
        let (c0, t0) = (children_cpu_ms(), std::time::Instant::now());
        for _ in 0..n {
            deliver(dns);
        }
        let wall = t0.elapsed().as_secs_f64() * 1000.0 / n as f64;
        let cpu = (children_cpu_ms() - c0) as f64 / n as f64;
        let upstream = (asked(server) - q0.0) as f64 / n as f64;
        let q = if *dns == server.env {
            format!("{upstream:.1}")
        } else {
            let u = unbound.as_ref().unwrap().queries() - q0.1;
            format!("{:.1} ({upstream:.1} upstream)", u as f64 / n as f64)
        };
        println!("{label:<24} {q:<17} {cpu:<16.2} {wall:.2}");
    }
}

/// qmail-remote for dane.test through unbound validating the zones
/// (. test. dane.test., the root our own) with a mismatching TLSA record:
/// (reports, the sink). `tamper` re-signs the TLSA answer with a stranger
/// key; `trust` is control/trustanchors.
fn through_unbound(label: &str, tamper: bool, trust: Option<&str>) -> Option<(Vec<String>, Sink)> {
    let (sink, _) = ee_sink();
    let port = sink.addr.port();
    let zones = rooted(vec![bad_tlsa(port)]);
    let knobs = match tamper {
        true => tamper_tlsa(port, move |m| {
            replace_answer(m, &ZoneKey::new("dane.test"), vec![bad_tlsa(port)]);
        }),
        false => Knobs::default(),
    };
    let (auth, root) = Auth::start(zones, knobs);
    let u = Unbound::start(label, &auth.env, &root)?;
    let h = QmailHome::new(label);
    h.control("helohost", "client.test\n");
    h.control("smtproutes", &format!("dane.test:;{port}\n"));
    if let Some(t) = trust {
        h.control("trustanchors", t);
    }
    let out = h
        .cmd("qmail-remote")
        .args(["dane.test", "a@client.test", "b@dane.test"])
        .env("DNSCACHEIP", &u.env)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    Some((reports(&out.stdout), sink))
}

#[test]
fn ad_mode_with_unbound_validating() {
    let Some((r, _)) = through_unbound("dane-unbound-ad", false, Some("ad\n")) else {
        return skip("unbound not installed (package/testdeps)");
    };
    // unbound validated the chain from its anchor and said so.
    assert_eq!(r, mismatch("mx.dane.test"));
    // Its AD bit is ignored without the ad line: no DANE, TLS as before.
    let (r, _) = through_unbound("dane-unbound-off", false, None).unwrap();
    assert_eq!(r, tls_ok());
    // A bad signature: unbound answers SERVFAIL, the host is deferred and
    // never connected to.
    let (r, sink) = through_unbound("dane-unbound-bogus", true, Some("ad\n")).unwrap();
    assert_eq!(r, deferred(sqmail::remote::dane::TEMP, "mx.dane.test"));
    assert!(sink.log().is_empty());
}
