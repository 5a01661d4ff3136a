use super::*;

const LIST: &str = "com\nuk\nco.uk\n";

/// Evaluates with TXT records from `zone` (a name without records is
/// NXDOMAIN; `_dmarc.down.example` fails for now).
fn run(zone: &[(&str, &str)], from: &str, ev: &Evidence, sample: u8) -> (Verdict, Vec<String>) {
    let mut asked = Vec::new();
    let mut txt = |n: &str| {
        asked.push(n.to_string());
        if n == "_dmarc.down.example" {
            return Err(DnsError::Temp);
        }
        let r: Vec<Vec<u8>> = zone
            .iter()
            .filter(|(k, _)| *k == n)
            .map(|(_, v)| v.as_bytes().to_vec())
            .collect();
        if r.is_empty() {
            Err(DnsError::Hard)
        } else {
            Ok(r)
        }
    };
    let v = check(
        &[from.as_bytes()],
        ev,
        &mut txt,
        &|| Suffixes::new(LIST.as_bytes().to_vec()),
        sample,
    );
    (v, asked)
}

fn dkim(d: &str) -> Evidence {
    Evidence {
        dkim_pass: vec![d.into()],
        spf: None,
    }
}

fn spf(ok: bool, d: &str) -> Evidence {
    Evidence {
        dkim_pass: Vec::new(),
        spf: Some((ok, d.into())),
    }
}

const REJECT: (&str, &str) = ("_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine");

#[test]
fn alignment() {
    let zone = [
        REJECT,
        ("_dmarc.strict.com", "v=DMARC1; p=reject; adkim=s; aspf=s"),
    ];
    let text = |from: &str, ev: &Evidence| run(&zone, from, ev, 0).0.to_string();
    assert_eq!(
        text(" a@example.com", &dkim("example.com")),
        "dmarc=pass (p=reject) header.from=example.com"
    );
    // Relaxed: the same organizational domain will do, either way round.
    assert!(text(" a@example.com", &dkim("mail.example.com")).starts_with("dmarc=pass"));
    assert!(text(" a@example.com", &spf(true, "bounces.example.com")).starts_with("dmarc=pass"));
    // Not aligned, or SPF not passed.
    assert_eq!(
        text(" a@example.com", &dkim("example.net")),
        "dmarc=fail (p=reject dis=reject) header.from=example.com"
    );
    assert!(text(" a@example.com", &spf(false, "example.com")).starts_with("dmarc=fail"));
    assert!(text(" a@example.com", &Evidence::default()).starts_with("dmarc=fail"));
    // Strict: the exact domain only.
    assert!(text(" a@strict.com", &dkim("mail.strict.com")).starts_with("dmarc=fail"));
    assert!(text(" a@strict.com", &spf(true, "mail.strict.com")).starts_with("dmarc=fail"));
    assert!(text(" a@strict.com", &spf(true, "STRICT.com.")).starts_with("dmarc=pass"));
    assert!(text(" a@strict.com", &dkim("strict.com")).starts_with("dmarc=pass"));
}

#[test]
fn discovery() {
    let zone = [REJECT, ("_dmarc.example.co.uk", "v=DMARC1; p=quarantine")];
    // A subdomain without a record: the organizational domain's sp=.
    let (v, asked) = run(&zone, " a@sub.example.com", &dkim("x.test"), 0);
    assert_eq!(
        v.to_string(),
        "dmarc=fail (p=quarantine dis=quarantine) header.from=sub.example.com"
    );
    assert!(!v.asks_reject());
    assert_eq!(asked, ["_dmarc.sub.example.com", "_dmarc.example.com"]);
    // Without sp=, p= applies to subdomains.
    let (v, _) = run(&zone, " a@a.b.example.co.uk", &dkim("x.test"), 0);
    assert_eq!(v.policy, Some((Policy::Quarantine, Policy::Quarantine)));
    // At the organizational domain itself: one question, p=.
    let (v, asked) = run(&zone, " a@example.com", &dkim("x.test"), 0);
    assert!(v.asks_reject());
    assert_eq!(asked, ["_dmarc.example.com"]);
    // Nothing published.
    let (v, asked) = run(&zone, " a@mail.example.net", &dkim("x.test"), 0);
    assert_eq!(v.to_string(), "dmarc=none header.from=mail.example.net");
    assert_eq!(asked.len(), 2);
    // Other TXT data at the name is not a record.
    let z = [("_dmarc.example.com", "v=spf1 -all")];
    assert_eq!(
        run(&z, " a@example.com", &dkim("x.test"), 0).0.outcome,
        Outcome::None
    );
}

#[test]
fn pct_samples_failures() {
    let zone = [("_dmarc.example.com", "v=DMARC1; p=reject; pct=30")];
    let ev = dkim("example.net");
    let (v, _) = run(&zone, " a@example.com", &ev, 29);
    assert!(v.asks_reject());
    let (v, _) = run(&zone, " a@example.com", &ev, 30);
    assert!(!v.asks_reject());
    assert_eq!(v.policy, Some((Policy::Reject, Policy::Quarantine)));
    let zone = [("_dmarc.example.com", "v=DMARC1; p=reject; pct=0")];
    assert!(!run(&zone, " a@example.com", &ev, 0).0.asks_reject());
    let zone = [("_dmarc.example.com", "v=DMARC1; p=quarantine; pct=0")];
    assert_eq!(
        run(&zone, " a@example.com", &ev, 0).0.policy,
        Some((Policy::Quarantine, Policy::None))
    );
}

#[test]
fn errors() {
    let ev = dkim("example.com");
    let perm = |zone: &[(&str, &str)], from: &str| run(zone, from, &ev, 0).0.to_string();
    assert_eq!(
        perm(&[REJECT, REJECT], " a@example.com"),
        "dmarc=permerror (several DMARC records at _dmarc.example.com) header.from=example.com"
    );
    assert_eq!(
        perm(
            &[("_dmarc.example.com", "v=DMARC1; sp=reject")],
            " a@example.com"
        ),
        "dmarc=permerror (DMARC record without a valid p=) header.from=example.com"
    );
    let huge = format!("v=DMARC1; p=reject; x={}", "y".repeat(5000));
    assert_eq!(
        perm(&[("_dmarc.example.com", &huge)], " a@example.com"),
        "dmarc=permerror (DMARC record too long) header.from=example.com"
    );
    assert_eq!(
        perm(&[REJECT], " a@example.com, b@example.net"),
        "dmarc=permerror (From addresses in several domains)"
    );
    assert_eq!(
        perm(&[], " a@down.example"),
        "dmarc=temperror (no answer for _dmarc.down.example) header.from=down.example"
    );
    // The fallback's failure too.
    assert!(
        perm(&[], " a@x.down.example")
            .starts_with("dmarc=temperror (no answer for _dmarc.down.example)")
    );
    let mut txt = |_: &str| Err(DnsError::Hard);
    let none = || Suffixes::new(Vec::new());
    let v = check(&[], &ev, &mut txt, &none, 0);
    assert_eq!(v.to_string(), "dmarc=permerror (no From field)");
    // A name too long for a domain is no From domain.
    let long = format!(" a@{}.com", ["abcdefghij"; 23].join("."));
    assert_eq!(
        perm(&[], &long),
        "dmarc=permerror (From domain is not a domain name)"
    );
}
