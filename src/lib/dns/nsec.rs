//! Authenticated denial of existence: what a set of NSEC (RFC 4035 §5.4,
//! RFC 6840 §4) or NSEC3 (RFC 5155 §8) records, already verified as signed
//! by the zone, prove about a name and type. Pure logic, no lookups; the
//! chain builders at the end make the records a signer (or a test) serves.

use hickory_proto::dnssec::Nsec3HashAlgorithm;
use hickory_proto::dnssec::rdata::{NSEC, NSEC3};
use hickory_proto::rr::{Name, RecordType, RecordTypeSet};

/// NSEC3 iteration counts above this are treated as insecure (RFC 9276
/// §3.2: validators may stop doing the work).
pub const MAX_ITERATIONS: u16 = 150;

/// What the denial proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// The name exists (or a wildcard does) without the type. `cut`: the
    /// name is a delegation point (NS without SOA in the bitmap).
    NoData { cut: bool },
    /// Neither the name nor a wildcard that could expand to it exists.
    NxDomain,
    /// An NSEC3 opt-out span (or too many iterations): an unsigned
    /// delegation may exist, so nothing is proven either way; insecure.
    OptOut,
    /// The records prove nothing about the name.
    Bogus,
}

/// The verified NSEC or NSEC3 records of one answer.
#[derive(Debug, Default)]
pub struct Records {
    pub nsec: Vec<(Name, NSEC)>,
    pub nsec3: Vec<(Name, NSEC3)>,
}

impl Records {
    /// What the records prove about `n`/`qtype` in `zone` (NSEC3 when
    /// there are any).
    pub fn proof(&self, n: &Name, qtype: RecordType, zone: &Name) -> Proof {
        if self.nsec3.is_empty() {
            nsec_proof(n, qtype, &self.nsec)
        } else {
            nsec3_proof(n, qtype, zone, &self.nsec3)
        }
    }

    /// For an answer expanded from a wildcard of `labels` labels: is `n`
    /// itself proven absent?
    pub fn no_closer(&self, n: &Name, labels: u8, zone: &Name) -> bool {
        if self.nsec3.is_empty() {
            nsec_no_closer(n, &self.nsec)
        } else {
            nsec3_no_closer(n, labels, zone, &self.nsec3)
        }
    }
}

/// The type bitmap at the name itself: NODATA for `qtype`, or not.
fn nodata(types: &RecordTypeSet, n: &Name, qtype: RecordType) -> Proof {
    if types.contains(qtype) || types.contains(RecordType::CNAME) {
        return Proof::Bogus;
    }
    let cut = types.contains(RecordType::NS) && !types.contains(RecordType::SOA);
    if qtype == RecordType::DS {
        // DS lives in the parent: the child's apex record proves nothing.
        if types.contains(RecordType::SOA) && !n.is_root() {
            return Proof::Bogus;
        }
    } else if cut {
        // The parent's record at a zone cut says nothing about the child's
        // data (RFC 6840 §4.1).
        return Proof::Bogus;
    }
    Proof::NoData { cut }
}

/// Does the NSEC `owner` → `next` cover `n` (RFC 4034 §6.1 canonical order;
/// the last record of a zone points back to the apex)?
pub fn covers(owner: &Name, next: &Name, n: &Name) -> bool {
    owner < n && (n < next || next <= owner)
}

/// The number of labels, a leading `*` included (unlike `num_labels`).
pub fn len(n: &Name) -> usize {
    n.iter().count()
}

/// The longest common ancestor of `a` and `b`.
pub fn common(a: &Name, b: &Name) -> Name {
    let k = (0..=len(a).min(len(b)))
        .rev()
        .find(|&k| a.trim_to(k) == b.trim_to(k))
        .unwrap_or(0);
    a.trim_to(k)
}

/// `*.parent`.
pub fn wildcard(parent: &Name) -> Option<Name> {
    parent.prepend_label("*").ok()
}

/// What `nsecs` (owner, record) prove about `n`/`qtype`.
pub fn nsec_proof(n: &Name, qtype: RecordType, nsecs: &[(Name, NSEC)]) -> Proof {
    if let Some((_, r)) = nsecs.iter().find(|(o, _)| o == n) {
        return nodata(r.type_set(), n, qtype);
    }
    let Some((owner, next)) = nsec_cover(n, nsecs) else {
        return Proof::Bogus;
    };
    // Covered, and the next name is below n: n is an empty non-terminal.
    if n.zone_of(next) {
        return Proof::NoData { cut: false };
    }
    let (a, b) = (common(n, owner), common(n, next));
    let ce = if len(&a) >= len(&b) { a } else { b };
    let Some(wc) = wildcard(&ce) else {
        return Proof::Bogus;
    };
    if let Some((_, r)) = nsecs.iter().find(|(o, _)| *o == wc) {
        return match nodata(r.type_set(), &wc, qtype) {
            Proof::NoData { .. } => Proof::NoData { cut: false },
            p => p,
        };
    }
    if nsec_cover(&wc, nsecs).is_some() {
        Proof::NxDomain
    } else {
        Proof::Bogus
    }
}

/// The NSEC that covers `n`, skipping a delegation's record above n: the
/// names below a zone cut are not the parent's to deny.
fn nsec_cover<'a>(n: &Name, nsecs: &'a [(Name, NSEC)]) -> Option<(&'a Name, &'a Name)> {
    nsecs
        .iter()
        .filter(|(o, r)| !(r.is_ancestor_delegation() && o.zone_of(n)))
        .find(|(o, r)| covers(o, r.next_domain_name(), n))
        .map(|(o, r)| (o, r.next_domain_name()))
}

/// For an answer expanded from a wildcard with `labels` labels: does an
/// NSEC prove that `n` itself does not exist (RFC 4035 §5.3.4)?
pub fn nsec_no_closer(n: &Name, nsecs: &[(Name, NSEC)]) -> bool {
    nsec_cover(n, nsecs).is_some()
}

/// The NSEC3 hash of `n` (RFC 5155 §5).
pub fn hash(n: &Name, salt: &[u8], iterations: u16) -> Option<Vec<u8>> {
    Nsec3HashAlgorithm::SHA1
        .hash(salt, n, iterations)
        .ok()
        .map(|d| d.as_ref().to_vec())
}

const B32HEX: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// Base32hex without padding (RFC 4648 §7), the form of NSEC3 owner labels.
pub fn base32hex(d: &[u8]) -> String {
    let mut out = String::with_capacity(d.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0);
    for &b in d {
        acc = acc << 8 | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(B32HEX[(acc >> bits) as usize & 31]));
        }
    }
    if bits > 0 {
        out.push(char::from(B32HEX[(acc << (5 - bits)) as usize & 31]));
    }
    out
}

/// Base32hex text (either case) to bytes.
pub fn unbase32hex(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0);
    for &c in s {
        let v = B32HEX.iter().position(|&x| x == c.to_ascii_lowercase())?;
        acc = acc << 5 | v as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Does the NSEC3 span `owner` → `next` (hashes) cover `h`?
pub fn covers3(owner: &[u8], next: &[u8], h: &[u8]) -> bool {
    if owner < next {
        owner < h && h < next
    } else {
        h > owner || h < next
    }
}

/// NSEC3 records of one zone with one parameter set, by owner hash.
struct Chain<'a> {
    recs: Vec<(Vec<u8>, &'a NSEC3)>,
    salt: &'a [u8],
    iterations: u16,
}

impl Chain<'_> {
    fn h(&self, n: &Name) -> Vec<u8> {
        hash(n, self.salt, self.iterations).unwrap_or_default()
    }
    fn matching(&self, n: &Name) -> Option<&NSEC3> {
        let h = self.h(n);
        self.recs.iter().find(|(o, _)| *o == h).map(|(_, r)| *r)
    }
    fn covering(&self, n: &Name) -> Option<&NSEC3> {
        let h = self.h(n);
        self.recs
            .iter()
            .find(|(o, r)| covers3(o, r.next_hashed_owner_name(), &h))
            .map(|(_, r)| *r)
    }
}

fn chain<'a>(zone: &Name, nsec3s: &'a [(Name, NSEC3)]) -> Option<Chain<'a>> {
    let mut recs: Vec<(Vec<u8>, &NSEC3)> = nsec3s
        .iter()
        .filter(|(o, r)| {
            len(o) == len(zone) + 1
                && o.base_name() == *zone
                && r.hash_algorithm() == Nsec3HashAlgorithm::SHA1
        })
        .filter_map(|(o, r)| Some((unbase32hex(o.iter().next()?)?, r)))
        .collect();
    let first = recs.first()?.1;
    let (salt, iterations) = (first.salt(), first.iterations());
    recs.retain(|(_, r)| r.salt() == salt && r.iterations() == iterations);
    Some(Chain {
        recs,
        salt,
        iterations,
    })
}

/// What NSEC3 records of `zone` prove about `n`/`qtype` (RFC 5155 §8.4–8.7).
pub fn nsec3_proof(n: &Name, qtype: RecordType, zone: &Name, nsec3s: &[(Name, NSEC3)]) -> Proof {
    let Some(c) = chain(zone, nsec3s) else {
        return Proof::Bogus;
    };
    if c.iterations > MAX_ITERATIONS {
        return Proof::OptOut;
    }
    if let Some(r) = c.matching(n) {
        return nodata(r.type_set(), n, qtype);
    }
    let Some((ce, nc)) = closest_encloser(&c, n, zone) else {
        return Proof::Bogus;
    };
    let Some(cover) = c.covering(&nc) else {
        return Proof::Bogus;
    };
    if cover.opt_out() {
        return Proof::OptOut;
    }
    let Some(wc) = wildcard(&ce) else {
        return Proof::Bogus;
    };
    if let Some(r) = c.matching(&wc) {
        return match nodata(r.type_set(), &wc, qtype) {
            Proof::NoData { .. } => Proof::NoData { cut: false },
            p => p,
        };
    }
    if c.covering(&wc).is_some() {
        Proof::NxDomain
    } else {
        Proof::Bogus
    }
}

/// The closest provable encloser of `n` in `zone` and the next closer name
/// (RFC 5155 §8.3): the longest ancestor with a matching NSEC3 that is not
/// a delegation, and the name one label longer.
fn closest_encloser(c: &Chain<'_>, n: &Name, zone: &Name) -> Option<(Name, Name)> {
    if !zone.zone_of(n) || n == zone {
        return None;
    }
    for k in (len(zone)..len(n)).rev() {
        let a = n.trim_to(k);
        if let Some(r) = c.matching(&a) {
            if r.is_ancestor_delegation() {
                return None;
            }
            return Some((a, n.trim_to(k + 1)));
        }
    }
    None
}

/// For an answer expanded from a wildcard with `labels` labels: does an
/// NSEC3 cover the next closer name (RFC 5155 §8.8)?
pub fn nsec3_no_closer(n: &Name, labels: u8, zone: &Name, nsec3s: &[(Name, NSEC3)]) -> bool {
    let Some(c) = chain(zone, nsec3s) else {
        return false;
    };
    usize::from(labels) < len(n)
        && c.iterations <= MAX_ITERATIONS
        && c.covering(&n.trim_to(usize::from(labels) + 1)).is_some()
}

// ---- chains, as a signer makes them ----

/// The NSEC chain of a zone from its names and the types at each (every
/// name that owns records, delegations included).
pub fn nsec_chain(names: &[(Name, Vec<RecordType>)]) -> Vec<(Name, NSEC)> {
    let mut v: Vec<&(Name, Vec<RecordType>)> = names.iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    (0..v.len())
        .map(|i| {
            let next = v[(i + 1) % v.len()].0.clone();
            let types = v[i].1.iter().copied();
            (v[i].0.clone(), NSEC::new_cover_self(next, types))
        })
        .collect()
}

/// The NSEC3 chain of `zone`: one record per name and per empty
/// non-terminal, owners `<hash>.zone`. With `opt_out`, names that are
/// only an insecure delegation (NS without DS) get no record.
pub fn nsec3_chain(
    zone: &Name,
    names: &[(Name, Vec<RecordType>)],
    salt: &[u8],
    iterations: u16,
    opt_out: bool,
) -> Vec<(Name, NSEC3)> {
    let mut all: Vec<(Name, Vec<RecordType>)> = Vec::new();
    for (n, t) in names {
        let unsigned_cut = t.contains(&RecordType::NS)
            && !t.contains(&RecordType::SOA)
            && !t.contains(&RecordType::DS);
        if !(opt_out && unsigned_cut) {
            all.push((n.clone(), t.clone()));
        }
        // Empty non-terminals between the name and the apex.
        for k in len(zone) + 1..len(n) {
            let e = n.trim_to(k);
            if !names.iter().any(|(m, _)| *m == e) && !all.iter().any(|(m, _)| *m == e) {
                all.push((e, Vec::new()));
            }
        }
    }
    let mut hashed: Vec<(Vec<u8>, Vec<RecordType>)> = all
        .into_iter()
        .map(|(n, mut t)| {
            if !t.is_empty() {
                t.push(RecordType::RRSIG);
            }
            (hash(&n, salt, iterations).unwrap_or_default(), t)
        })
        .collect();
    hashed.sort();
    (0..hashed.len())
        .map(|i| {
            let next = hashed[(i + 1) % hashed.len()].0.clone();
            let owner = Name::from_ascii(base32hex(&hashed[i].0))
                .and_then(|l| l.append_domain(zone))
                .unwrap_or_else(|_| zone.clone());
            let r = NSEC3::new(
                Nsec3HashAlgorithm::SHA1,
                opt_out,
                iterations,
                salt.to_vec(),
                next,
                hashed[i].1.iter().copied(),
            );
            (owner, r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use RecordType::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn canonical_order_of_rfc4034() {
        let sorted: [&[&[u8]]; 9] = [
            &[b"example"],
            &[b"a", b"example"],
            &[b"yljkjljk", b"a", b"example"],
            &[b"Z", b"a", b"example"],
            &[b"zABC", b"a", b"EXAMPLE"],
            &[b"z", b"example"],
            &[b"\x01", b"z", b"example"],
            &[b"*", b"z", b"example"],
            &[b"\x80", b"z", b"example"],
        ];
        let names: Vec<Name> = sorted
            .iter()
            .map(|l| {
                let mut x = Name::from_labels(l.iter().copied()).unwrap();
                x.set_fqdn(true);
                x
            })
            .collect();
        for w in names.windows(2) {
            assert!(w[0] < w[1], "{} < {}", w[0], w[1]);
        }
        assert!(covers(&names[1], &names[3], &names[2]));
        assert!(!covers(&names[1], &names[3], &names[3]));
        // The last record wraps to the apex.
        assert!(covers(&names[8], &names[0], &n("zz.example.")));
        assert!(!covers(&names[8], &names[0], &names[1]));
    }

    #[test]
    fn nsec3_hashes_of_rfc5155() {
        let salt = [0xaa, 0xbb, 0xcc, 0xdd];
        let cases = [
            ("example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"),
            ("a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl"),
            ("ns1.example.", "2t7b4g4vsa5smi47k61mv5bv1a22bojr"),
            ("*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"),
            ("x.w.EXAMPLE.", "b4um86eghhds6nea196smvmlo4ors995"),
        ];
        for (name, want) in cases {
            let h = hash(&n(name), &salt, 12).unwrap();
            assert_eq!(base32hex(&h), want, "{name}");
            assert_eq!(unbase32hex(want.to_uppercase().as_bytes()).unwrap(), h);
        }
        assert!(covers3(&[1], &[5], &[3]));
        assert!(!covers3(&[1], &[5], &[5]));
        assert!(covers3(&[9], &[2], &[1]) && covers3(&[9], &[2], &[10]));
        assert!(!covers3(&[9], &[2], &[5]));
    }

    fn zone() -> Vec<(Name, Vec<RecordType>)> {
        vec![
            (n("example."), vec![SOA, NS, DNSKEY]),
            (n("mx.example."), vec![A, AAAA]),
            (n("_25._tcp.mx.example."), vec![TLSA]),
            (n("sub.example."), vec![NS, DS]),
            (n("plain.example."), vec![NS]),
            (n("*.w.example."), vec![TXT]),
        ]
    }

    #[test]
    fn nsec_nodata_nxdomain_and_wildcards() {
        let c = nsec_chain(&zone());
        assert_eq!(c[0].0, n("example."));
        assert_eq!(c.last().unwrap().1.next_domain_name(), &n("example."));
        let p = |q: &str, t| nsec_proof(&n(q), t, &c);
        assert_eq!(p("mx.example.", TLSA), Proof::NoData { cut: false });
        assert_eq!(p("mx.example.", A), Proof::Bogus, "type exists");
        // _tcp.mx.example is an empty non-terminal.
        assert_eq!(p("_tcp.mx.example.", DS), Proof::NoData { cut: false });
        assert_eq!(p("_26._tcp.mx.example.", TLSA), Proof::NxDomain);
        assert_eq!(p("plain.example.", DS), Proof::NoData { cut: true });
        assert_eq!(p("plain.example.", A), Proof::Bogus, "parent side");
        assert_eq!(p("x.plain.example.", A), Proof::Bogus, "below a cut");
        assert_eq!(p("sub.example.", DS), Proof::Bogus, "DS exists");
        assert_eq!(p("a.w.example.", A), Proof::NoData { cut: false });
        assert_eq!(p("a.w.example.", TXT), Proof::Bogus, "wildcard matches");
        // Without the record covering the wildcard, NXDOMAIN is unproven.
        let only: Vec<_> = c
            .iter()
            .filter(|(o, _)| *o == n("_25._tcp.mx.example."))
            .cloned()
            .collect();
        assert_eq!(
            nsec_proof(&n("_26._tcp.mx.example."), TLSA, &only),
            Proof::Bogus
        );
        assert_eq!(nsec_proof(&n("zz.example."), A, &[]), Proof::Bogus);
        assert!(nsec_no_closer(&n("b.w.example."), &c));
        assert!(!nsec_no_closer(&n("mx.example."), &c));
        assert_eq!(
            common(&n("a.b.example."), &n("c.b.EXAMPLE.")),
            n("b.example.")
        );
    }

    fn nsec3_closest_encloser(
        n: &Name,
        zone: &Name,
        nsec3s: &[(Name, hickory_proto::dnssec::rdata::NSEC3)],
    ) -> Option<(Name, Name)> {
        closest_encloser(&chain(zone, nsec3s)?, n, zone)
    }

    #[test]
    fn nsec3_closest_encloser_and_opt_out() {
        let z = n("example.");
        let salt = [0xab];
        let c = nsec3_chain(&z, &zone(), &salt, 1, false);
        // Names, the empty non-terminals _tcp.mx and w, no duplicates.
        assert_eq!(c.len(), 8);
        let p = |q: &str, t| nsec3_proof(&n(q), t, &z, &c);
        assert_eq!(p("mx.example.", TLSA), Proof::NoData { cut: false });
        assert_eq!(p("mx.example.", AAAA), Proof::Bogus);
        assert_eq!(p("_tcp.mx.example.", TLSA), Proof::NoData { cut: false });
        assert_eq!(
            nsec3_closest_encloser(&n("_26._tcp.mx.example."), &z, &c),
            Some((n("_tcp.mx.example."), n("_26._tcp.mx.example.")))
        );
        assert_eq!(
            nsec3_closest_encloser(&n("a.b.c.example."), &z, &c),
            Some((n("example."), n("c.example.")))
        );
        assert_eq!(p("_26._tcp.mx.example.", TLSA), Proof::NxDomain);
        assert_eq!(p("plain.example.", DS), Proof::NoData { cut: true });
        assert_eq!(p("a.plain.example.", A), Proof::Bogus, "below a cut");
        assert_eq!(p("a.w.example.", A), Proof::NoData { cut: false });
        assert_eq!(p("a.w.example.", TXT), Proof::Bogus);
        assert!(nsec3_no_closer(&n("a.w.example."), 2, &z, &c));
        // A chain from another zone, or with a record missing, proves nothing.
        assert_eq!(
            nsec3_proof(&n("mx.example."), TLSA, &n("other."), &c),
            Proof::Bogus
        );
        let partial: Vec<_> = c
            .iter()
            .filter(|(o, _)| {
                o.iter().next()
                    != Some(base32hex(&hash(&n("example."), &salt, 1).unwrap()).as_bytes())
            })
            .cloned()
            .collect();
        assert_eq!(
            nsec3_proof(&n("zz.example."), A, &z, &partial),
            Proof::Bogus
        );

        // Opt-out: the unsigned delegation plain.example has no record;
        // the span covering it proves only insecurity.
        let o = nsec3_chain(&z, &zone(), &salt, 1, true);
        assert_eq!(o.len(), 7);
        assert_eq!(nsec3_proof(&n("plain.example."), DS, &z, &o), Proof::OptOut);
        let many = nsec3_chain(&z, &zone(), &salt, MAX_ITERATIONS + 1, false);
        assert_eq!(
            nsec3_proof(&n("mx.example."), TLSA, &z, &many),
            Proof::OptOut
        );
    }
}
