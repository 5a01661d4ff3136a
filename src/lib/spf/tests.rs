//! The evaluator against a table of DNS answers (RFC 7208 cases).

use std::collections::HashMap;
use std::net::IpAddr;

use super::*;

/// Answers from a table; names not in it are NXDOMAIN, names listed in
/// `temp` fail temporarily. Every question is logged.
#[derive(Default)]
struct Fake {
    txt: HashMap<String, Vec<String>>,
    addrs: HashMap<String, Vec<IpAddr>>,
    mx: HashMap<String, Vec<String>>,
    ptr: HashMap<IpAddr, Vec<String>>,
    temp: Vec<String>,
    asked: Vec<String>,
}

impl Fake {
    fn txt(mut self, n: &str, t: &str) -> Fake {
        self.txt.entry(n.into()).or_default().push(t.into());
        self
    }
    fn a(mut self, n: &str, ip: &str) -> Fake {
        self.addrs
            .entry(n.into())
            .or_default()
            .push(ip.parse().unwrap());
        self
    }
    fn mx(mut self, n: &str, h: &str) -> Fake {
        self.mx.entry(n.into()).or_default().push(h.into());
        self
    }
    fn ptr(mut self, ip: &str, n: &str) -> Fake {
        self.ptr
            .entry(ip.parse().unwrap())
            .or_default()
            .push(n.into());
        self
    }
    fn exists(&self, n: &str) -> bool {
        self.txt.contains_key(n) || self.addrs.contains_key(n) || self.mx.contains_key(n)
    }
    fn ask(&mut self, what: &str, n: &str) -> Result<(), DnsError> {
        self.asked.push(format!("{what} {n}"));
        if self.temp.iter().any(|t| t == n) {
            return Err(DnsError::Temp);
        }
        if !self.exists(n) {
            return Err(DnsError::Hard);
        }
        Ok(())
    }
}

impl Lookup for Fake {
    fn txt(&mut self, n: &str) -> Result<Vec<Vec<u8>>, DnsError> {
        self.ask("TXT", n)?;
        Ok(self
            .txt
            .get(n)
            .map(|v| v.iter().map(|s| s.as_bytes().to_vec()).collect())
            .unwrap_or_default())
    }
    fn addrs(&mut self, n: &str, v6: bool) -> Result<Vec<IpAddr>, DnsError> {
        self.ask(if v6 { "AAAA" } else { "A" }, n)?;
        Ok(self
            .addrs
            .get(n)
            .map(|v| v.iter().filter(|a| a.is_ipv6() == v6).copied().collect())
            .unwrap_or_default())
    }
    fn mx(&mut self, n: &str) -> Result<Vec<String>, DnsError> {
        self.ask("MX", n)?;
        Ok(self.mx.get(n).cloned().unwrap_or_default())
    }
    fn ptr(&mut self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
        self.asked.push(format!("PTR {ip}"));
        self.ptr.get(&ip).cloned().ok_or(DnsError::Hard)
    }
}

fn query<'a>(ip: &'a str, sender: &'a str) -> Query<'a> {
    Query {
        ip,
        helo: "mx.example.org",
        sender,
        receiver: "mx.receiver.example",
        local_rules: None,
        explain: DEFAULT_EXPLAIN,
        own_ips: &[],
        now: 1000,
    }
}

fn run(dns: &mut Fake, ip: &str, sender: &str) -> Outcome {
    check(&query(ip, sender), dns).unwrap()
}

fn verdict(dns: &mut Fake, ip: &str) -> Verdict {
    run(dns, ip, "user@example.com").verdict
}

/// A domain whose record is `rec`.
fn one(rec: &str) -> Fake {
    Fake::default().txt("example.com", rec)
}

#[test]
fn ip4_ip6_and_all() {
    let mut d = one("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all");
    assert_eq!(verdict(&mut d, "192.0.2.77"), Verdict::Pass);
    assert_eq!(verdict(&mut d, "2001:db8:1::5"), Verdict::Pass);
    assert_eq!(verdict(&mut d, "198.51.100.1"), Verdict::SoftFail);
    assert_eq!(
        verdict(&mut d, "::ffff:192.0.2.1"),
        Verdict::Pass,
        "mapped IPv4"
    );
    let mut d = one("v=spf1 ip4:0.0.0.0/0 -all");
    assert_eq!(verdict(&mut d, "203.0.113.9"), Verdict::Pass);
    let mut d = one("v=spf1 ?ip4:192.0.2.1");
    assert_eq!(verdict(&mut d, "192.0.2.1"), Verdict::Neutral);
    assert_eq!(
        verdict(&mut d, "192.0.2.2"),
        Verdict::Neutral,
        "default result"
    );
    let mut d = one("v=spf1 -all");
    let o = run(&mut d, "192.0.2.1", "user@example.com");
    assert_eq!(o.verdict, Verdict::Fail);
    assert_eq!(
        o.trace,
        " S=192.0.2.1 O=user@example.com C=example.com H=mx.example.org R:- "
    );
}

#[test]
fn a_and_mx_with_cidr() {
    let mut d = one("v=spf1 a a:other.example.com/24 mx//64 -all")
        .a("example.com", "192.0.2.10")
        .a("other.example.com", "198.51.100.1")
        .mx("example.com", "mail.example.com")
        .a("mail.example.com", "2001:db8:5::1");
    assert_eq!(verdict(&mut d, "192.0.2.10"), Verdict::Pass);
    assert_eq!(verdict(&mut d, "192.0.2.11"), Verdict::Fail);
    assert_eq!(verdict(&mut d, "198.51.100.200"), Verdict::Pass, "a:/24");
    let o = run(&mut d, "2001:db8:5::ffff", "u@example.com");
    assert_eq!(o.verdict, Verdict::Pass, "mx//64");
    assert!(o.trace.contains(" MMX=example.com R:+ "), "{}", o.trace);
    // mx for IPv6 asks AAAA of the exchanger, not A.
    assert!(d.asked.contains(&"AAAA mail.example.com".to_string()));
}

#[test]
fn ptr_validates_forward() {
    let mut d = one("v=spf1 ptr -all")
        .ptr("192.0.2.5", "host.example.com")
        .a("host.example.com", "192.0.2.5")
        .ptr("192.0.2.6", "liar.example.com")
        .a("liar.example.com", "192.0.2.99");
    assert_eq!(verdict(&mut d, "192.0.2.5"), Verdict::Pass);
    assert_eq!(
        verdict(&mut d, "192.0.2.6"),
        Verdict::Fail,
        "forward does not confirm"
    );
    assert_eq!(verdict(&mut d, "192.0.2.7"), Verdict::Fail, "no PTR");
}

#[test]
fn exists_with_macros_v4_and_v6() {
    let mut d = one("v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all")
        .a("3.2.0.192.user._spf.example.com", "127.0.0.2")
        .a(
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.user._spf.example.com",
            "127.0.0.2",
        );
    assert_eq!(verdict(&mut d, "192.0.2.3"), Verdict::Pass);
    assert_eq!(verdict(&mut d, "192.0.2.4"), Verdict::Fail);
    assert_eq!(
        verdict(&mut d, "2001:db8::1"),
        Verdict::Pass,
        "reversed nibbles of IPv6"
    );
    // exists always asks A, also for IPv6 clients.
    assert!(d.asked.iter().any(|q| q.starts_with("A 1.0.0.0")));
}

#[test]
fn include_results() {
    let base = || one("v=spf1 include:inc.example.net -all").txt("pass.example.net", "v=spf1 +all");
    let with = |inc: &str| base().txt("inc.example.net", inc);
    assert_eq!(
        verdict(&mut with("v=spf1 ip4:192.0.2.1 -all"), "192.0.2.1"),
        Verdict::Pass
    );
    assert_eq!(
        verdict(&mut with("v=spf1 -all"), "192.0.2.1"),
        Verdict::Fail,
        "include's fail is no match"
    );
    assert_eq!(
        verdict(&mut with("v=spf1 ?all"), "192.0.2.1"),
        Verdict::Fail
    );
    assert_eq!(
        verdict(&mut with("v=spf1 include:pass.example.net"), "192.0.2.1"),
        Verdict::Pass
    );
    assert_eq!(
        verdict(&mut with("v=spf1 bogus:x.example"), "192.0.2.1"),
        Verdict::PermError
    );
    assert_eq!(
        verdict(&mut base(), "192.0.2.1"),
        Verdict::PermError,
        "included domain without record"
    );
    let mut d = with("v=spf1 -all");
    d.temp.push("inc.example.net".into());
    assert_eq!(verdict(&mut d, "192.0.2.1"), Verdict::TempError);
    let o = run(
        &mut with("v=spf1 ip4:192.0.2.1"),
        "192.0.2.1",
        "u@example.com",
    );
    assert_eq!(
        o.trace,
        " S=192.0.2.1 O=u@example.com C=example.com H=mx.example.org I=inc.example.net MIPv4=192.0.2.1/32 R:+ "
    );
}

#[test]
fn redirect_and_loops() {
    let mut d = one("v=spf1 redirect=_spf.example.com")
        .txt("_spf.example.com", "v=spf1 ip4:192.0.2.0/24 -all");
    assert_eq!(verdict(&mut d, "192.0.2.9"), Verdict::Pass);
    assert_eq!(verdict(&mut d, "198.51.100.9"), Verdict::Fail);
    // redirect is ignored when a mechanism matched, and after `all`.
    let mut d = one("v=spf1 ip4:192.0.2.9 redirect=nx.example.com");
    assert_eq!(verdict(&mut d, "192.0.2.9"), Verdict::Pass);
    assert_eq!(
        verdict(&mut d, "192.0.2.8"),
        Verdict::PermError,
        "redirect to nothing"
    );
    let mut d = one("v=spf1 -all redirect=nx.example.com");
    assert_eq!(verdict(&mut d, "192.0.2.9"), Verdict::Fail);
    // A loop runs into the term limit: a permanent error (RFC 7208
    // §4.6.4), which must not defer the mail forever.
    let mut d = one("v=spf1 include:example.com -all");
    let o = run(&mut d, "192.0.2.1", "u@example.com");
    assert_eq!(
        (o.verdict, o.verdict.spfresult()),
        (Verdict::PermError, "unknown")
    );
    assert!(!o.verdict.is_error(), "no 451");
    assert_eq!(o.verdict.reject_from(), Some(6));
    assert!(
        o.trace
            .contains("P=Maximum nesting level exceeded; possible loop"),
        "{}",
        o.trace
    );
    assert!(o.trace.ends_with(" R:e "));
    let mut d = one("v=spf1 redirect=example.com");
    assert_eq!(verdict(&mut d, "192.0.2.1"), Verdict::PermError);
    // Two domains including each other.
    let mut d = one("v=spf1 include:b.example.com -all")
        .txt("b.example.com", "v=spf1 include:example.com -all");
    let o = run(&mut d, "192.0.2.1", "u@example.com");
    assert_eq!(o.verdict.spfresult(), "unknown", "{}", o.trace);
}

#[test]
fn ten_dns_terms() {
    let mut ten = String::from("v=spf1");
    for i in 0..10 {
        ten.push_str(&format!(" a:h{i}.example.com"));
    }
    let mut d = one(&format!("{ten} -all"));
    for i in 0..10 {
        d = d.a(&format!("h{i}.example.com"), "198.51.100.1");
    }
    assert_eq!(
        verdict(&mut d, "192.0.2.1"),
        Verdict::Fail,
        "ten are allowed"
    );
    let mut d = one(&format!("{ten} a:h10.example.com -all"));
    for i in 0..11 {
        d = d.a(&format!("h{i}.example.com"), "198.51.100.1");
    }
    let o = run(&mut d, "192.0.2.1", "u@example.com");
    assert_eq!(
        (o.verdict, o.verdict.spfresult(), o.verdict.is_error()),
        (Verdict::PermError, "unknown", false),
        "the eleventh is too many"
    );
    // ip4/ip6/all cost nothing.
    let mut d = one(&format!("{ten} ip4:192.0.2.1 -all"));
    for i in 0..10 {
        d = d.a(&format!("h{i}.example.com"), "198.51.100.1");
    }
    assert_eq!(verdict(&mut d, "192.0.2.1"), Verdict::Pass);
}

#[test]
fn void_lookups_and_mx_limit() {
    let mut d = one("v=spf1 a:n1.example.com a:n2.example.com ip4:192.0.2.1 -all");
    assert_eq!(
        verdict(&mut d, "192.0.2.1"),
        Verdict::Pass,
        "two voids are fine"
    );
    let mut d =
        one("v=spf1 a:n1.example.com a:n2.example.com exists:n3.example.com ip4:192.0.2.1 -all");
    let o = run(&mut d, "192.0.2.1", "u@example.com");
    assert_eq!(
        (o.verdict, o.verdict.spfresult(), o.verdict.is_error()),
        (Verdict::PermError, "unknown", false),
        "the third void lookup"
    );
    assert_eq!(o.problem.as_deref(), Some(P_VOID));
    let mut d = one("v=spf1 mx -all");
    for i in 0..11 {
        d = d.mx("example.com", &format!("m{i}.example.com"));
    }
    assert_eq!(
        verdict(&mut d, "192.0.2.1"),
        Verdict::PermError,
        "eleven MX hosts"
    );
}

#[test]
fn none_syntax_and_dns_errors() {
    let mut d = Fake::default().txt("example.com", "not spf");
    assert_eq!(verdict(&mut d, "192.0.2.1"), Verdict::None);
    let mut d = Fake::default();
    assert_eq!(verdict(&mut d, "192.0.2.1"), Verdict::None, "NXDOMAIN");
    let mut d = one("v=spf1 -all").txt("example.com", "v=spf1 +all");
    assert_eq!(
        verdict(&mut d, "192.0.2.1"),
        Verdict::PermError,
        "two records"
    );
    let mut d = one("v=spf1 ip4:192.0.2.300 -all");
    let o = run(&mut d, "192.0.2.1", "u@example.com");
    assert_eq!(
        (o.verdict, o.verdict.spfresult()),
        (Verdict::PermError, "unknown")
    );
    assert_eq!(o.mechanism.as_deref(), Some("ip4:192.0.2.300"));
    let mut d = one("v=spf1 frobnicate -all");
    assert_eq!(
        run(&mut d, "192.0.2.1", "u@example.com").problem.as_deref(),
        Some("Unknown SPF mechanism")
    );
    let mut d = one("v=spf1 a:broken.example.com -all");
    d.temp.push("broken.example.com".into());
    assert_eq!(verdict(&mut d, "192.0.2.1"), Verdict::TempError);
    let mut d = Fake::default();
    d.temp.push("example.com".into());
    let o = run(&mut d, "192.0.2.1", "u@example.com");
    assert_eq!((o.verdict.spfresult(), o.verdict.code()), ("error", 't'));
    // A record that ends with a syntax error fails as a whole, even if an
    // earlier term would match.
    let mut d = one("v=spf1 +all ip4:bogus");
    assert_eq!(verdict(&mut d, "192.0.2.1"), Verdict::PermError);
    // Single-label and malformed identities have no policy.
    let mut d = Fake::default();
    assert_eq!(
        run(&mut d, "192.0.2.1", "u@localhost").verdict,
        Verdict::None
    );
    assert!(d.asked.is_empty(), "{:?}", d.asked);
}

/// RFC 7208 §7.1: a domain-spec is any printable ASCII ending in a
/// domain name; `:` and `/` inside it are no CIDR length, and the
/// expanded name is asked as written.
#[test]
fn domain_specs_looked_up_as_written() {
    let mut d = one("v=spf1 a:foo:bar/baz.example.com mx:foo:bar/baz.example.com/24 -all")
        .a("foo:bar/baz.example.com", "192.0.2.1")
        .mx("foo:bar/baz.example.com", "foo:bar/baz.example.com");
    assert_eq!(verdict(&mut d, "192.0.2.1"), Verdict::Pass);
    assert!(d.asked.contains(&"A foo:bar/baz.example.com".to_string()));
    assert_eq!(verdict(&mut d, "192.0.2.200"), Verdict::Pass, "mx:.../24");
    let mut d = one("v=spf1 a:macro%%percent%_%_space%-url-space.example.com -all")
        .a("macro%percent  space%20url-space.example.com", "192.0.2.1");
    assert_eq!(verdict(&mut d, "192.0.2.1"), Verdict::Pass, "{:?}", d.asked);
    // And the real resolver makes such names byte for byte (the host-name
    // form refuses them, which made these lookups fail).
    for n in [
        "foo:bar/baz.example.com",
        "macro%percent  space%20url-space.example.com",
    ] {
        let q = name_verbatim(n).unwrap();
        assert_eq!(crate::dns::text_verbatim(&q), n);
        assert!(crate::dns::name(n).is_err());
    }
}

/// A TXT record without strings beside the SPF record is just another
/// non-SPF record (the wire side of this is `dns::wire`).
#[test]
fn empty_txt_beside_the_record() {
    let mut d = one("").txt("example.com", "v=spf1 ip4:192.0.2.5 -all");
    assert_eq!(verdict(&mut d, "192.0.2.5"), Verdict::Pass);
}

#[test]
fn identity_helo_and_local() {
    let mut d = Fake::default().txt("mx.example.org", "v=spf1 ip4:192.0.2.1 -all");
    let o = run(&mut d, "192.0.2.1", "");
    assert_eq!(
        (o.verdict, o.identity.as_str()),
        (Verdict::Pass, "mx.example.org")
    );
    let mut d = Fake::default();
    let own: Vec<IpAddr> = vec!["192.0.2.99".parse().unwrap()];
    let mut q = query("192.0.2.99", "u@example.com");
    q.own_ips = &own;
    let o = check(&q, &mut d).unwrap();
    assert_eq!((o.verdict, o.verdict.word()), (Verdict::Local, "loopback"));
    assert_eq!(o.trace, " MLocal=192.0.2.99 R:+ ");
    assert_eq!(run(&mut d, "::1", "u@example.com").verdict, Verdict::Local);
    assert!(d.asked.is_empty());
    assert!(check(&query("1.2.3", "u@example.com"), &mut d).is_none());
    // %{l} of an empty local part is postmaster; %{s} of <> is postmaster@helo.
    let mut d = Fake::default()
        .txt(
            "mx.example.org",
            "v=spf1 exists:%{l}.%{o}.x.example.com -all",
        )
        .a("postmaster.mx.example.org.x.example.com", "127.0.0.2");
    assert_eq!(run(&mut d, "192.0.2.1", "").verdict, Verdict::Pass);
}

#[test]
fn explanation() {
    let mut d = one("v=spf1 -all exp=explain.example.com").txt(
        "explain.example.com",
        "%{i} is not one of %{d}'s designated mail servers.",
    );
    let o = run(&mut d, "192.0.2.1", "u@example.com");
    assert_eq!(
        o.explanation.as_deref(),
        Some("192.0.2.1 is not one of example.com's designated mail servers.")
    );
    // No exp text: the local default, expanded with %{R}.
    let mut d = one("v=spf1 -all exp=nx.example.com");
    let o = run(&mut d, "192.0.2.1", "u@example.com");
    assert_eq!(
        o.explanation.as_deref(),
        Some(
            "See http://spf.pobox.com/why.html?sender=u@example.com&ip=192.0.2.1&receiver=mx.receiver.example"
        )
    );
    // Only fail has one; an include's exp is not used; a redirect's is.
    let mut d = one("v=spf1 ~all exp=explain.example.com").txt("explain.example.com", "x");
    let o = run(&mut d, "192.0.2.1", "u@example.com");
    assert!(
        o.explanation
            .unwrap()
            .starts_with("See http://spf.pobox.com/"),
        "softfail: the local text"
    );
    let mut d = one("v=spf1 +all exp=explain.example.com");
    assert_eq!(run(&mut d, "192.0.2.1", "u@example.com").explanation, None);
    let mut d = one("v=spf1 redirect=r.example.com exp=e1.example.com")
        .txt("r.example.com", "v=spf1 -all exp=e2.example.com")
        .txt("e1.example.com", "first")
        .txt("e2.example.com", "second %{d}");
    assert_eq!(
        run(&mut d, "192.0.2.1", "u@example.com")
            .explanation
            .as_deref(),
        Some("second r.example.com")
    );
    // Two TXT records, or one with a control character: the local text.
    let mut d = one("v=spf1 -all exp=e.example.com")
        .txt("e.example.com", "line one")
        .txt("e.example.com", "line two");
    let default = "See http://spf.pobox.com/why.html?sender=u@example.com&ip=192.0.2.1&receiver=mx.receiver.example";
    let exp = |d: &mut Fake| run(d, "192.0.2.1", "u@example.com").explanation;
    assert_eq!(exp(&mut d).as_deref(), Some(default));
    let mut d = one("v=spf1 -all exp=e.example.com").txt("e.example.com", "a\r\n550 b");
    assert_eq!(exp(&mut d).as_deref(), Some(default));
}

#[test]
fn local_rules() {
    let rules = "ip4:198.51.100.0/24";
    let q = |ip| Query {
        local_rules: Some(rules),
        ..query(ip, "u@example.com")
    };
    // Inserted before the final -all of the sender's record.
    let mut d = one("v=spf1 ip4:192.0.2.1 -all");
    assert_eq!(
        check(&q("198.51.100.7"), &mut d).unwrap().verdict,
        Verdict::Pass
    );
    assert_eq!(
        check(&q("203.0.113.1"), &mut d).unwrap().verdict,
        Verdict::Fail
    );
    assert_eq!(
        verdict(&mut d, "198.51.100.7"),
        Verdict::Fail,
        "without local rules"
    );
    // Used as the record when there is none; no match leaves none.
    let mut d = Fake::default();
    assert_eq!(
        check(&q("198.51.100.7"), &mut d).unwrap().verdict,
        Verdict::Pass
    );
    assert_eq!(
        check(&q("203.0.113.1"), &mut d).unwrap().verdict,
        Verdict::None
    );
    // Not inserted into a record ending in +all (nothing to rescue).
    let mut d = one("v=spf1 ip4:192.0.2.1 ?all");
    assert_eq!(
        check(&q("198.51.100.7"), &mut d).unwrap().verdict,
        Verdict::Pass
    );
    // A local rule that cannot be evaluated is skipped, not an error.
    let broken = Query {
        local_rules: Some("a:down.example.net"),
        ..query("203.0.113.1", "u@example.com")
    };
    let mut d = one("v=spf1 -all");
    d.temp.push("down.example.net".into());
    assert_eq!(check(&broken, &mut d).unwrap().verdict, Verdict::Fail);
}

#[test]
fn long_targets_are_shortened() {
    let long = format!("{}.example.com", "a".repeat(60) + &".b".repeat(100));
    let mut d = one("v=spf1 exists:%{h}.x.example.com -all");
    let q = Query {
        helo: &long,
        ..query("192.0.2.1", "u@example.com")
    };
    let _ = check(&q, &mut d).unwrap();
    let asked = d.asked.iter().find(|a| a.starts_with("A ")).unwrap();
    assert!(asked.len() - 2 <= 253, "{asked}");
    assert!(asked.ends_with(".example.com.x.example.com"));
}

#[test]
fn names_within_a_domain() {
    assert!(within("mx.Example.COM.", "example.com"));
    assert!(within("example.com", "EXAMPLE.com."));
    assert!(!within("badexample.com", "example.com"));
    assert!(!within("com", "example.com"));
}
