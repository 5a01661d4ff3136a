//! The dns tools against a test DNS server on loopback.

use crate::common::QmailHome;
use crate::common::remote::*;

fn run(h: &QmailHome, dns: &Dns, prog: &str, args: &[&str]) -> (i32, String, String) {
    let out = h
        .cmd(prog)
        .args(args)
        .env("DNSCACHEIP", dns.env())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn zone() -> Vec<hickory_proto::rr::Record> {
    vec![
        a("host.test", "192.0.2.1"),
        a("host.test", "192.0.2.2"),
        aaaa("host.test", "2001:db8::1"),
        cname("alias.test", "host.test"),
        mx("mail.test", 20, "mx2.test"),
        mx("mail.test", 10, "host.test"),
        a("mx2.test", "192.0.2.9"),
        txt("host.test", &["v=spf1 ", "-all"]),
        txt("host.test", &["second"]),
        ptr("192.0.2.1", "host.test"),
    ]
}

#[test]
fn dnsip_follows_cnames_and_lists_both_families() {
    let h = QmailHome::new("dnsip");
    let dns = Dns::start(zone());
    let (code, out, _) = run(&h, &dns, "dnsip", &["alias.test", "nx.test"]);
    assert_eq!(code, 0);
    assert_eq!(out, "2001:db8::1 192.0.2.1 192.0.2.2 \n\n");
    // AAAA and A of one name go out together, from one socket.
    let q = dns.queries.lock().unwrap().clone();
    let at = q.iter().position(|l| l == "alias.test. AAAA").unwrap();
    assert_eq!(q[at + 1], q[at - 1], "same source port: {q:?}");
    assert_eq!(q[at + 2], "alias.test. A");
    let (code, out, _) = run(&h, &dns, "dnsmxip", &["mail.test"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "2001:db8::1 10\n192.0.2.1 10\n192.0.2.2 10\n192.0.2.9 20\n"
    );
    let (code, out, _) = run(&h, &dns, "dnsmxip", &["host.test"]);
    assert_eq!((code, out.lines().count()), (0, 3), "implicit MX");
}

#[test]
fn names_texts_and_failures() {
    let h = QmailHome::new("dnsname");
    let dns = Dns::start_with(
        zone(),
        DnsOpts {
            servfail: vec!["broken.test".into()],
            ..DnsOpts::default()
        },
    );
    assert_eq!(run(&h, &dns, "dnsname", &["192.0.2.1"]).1, "host.test\n");
    assert_eq!(run(&h, &dns, "dnsptr", &["192.0.2.1"]).1, "host.test\n");
    assert_eq!(run(&h, &dns, "dnsfq", &["host.test"]).1, "host.test\n");
    let (code, out, _) = run(&h, &dns, "dnstxt", &["host.test"]);
    assert_eq!(code, 0);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, ["second", "v=spf1 -all"]);
    let (code, out, err) = run(&h, &dns, "dnsip", &["broken.test"]);
    assert_eq!((code, out.as_str()), (111, ""));
    assert_eq!(
        err,
        "dnsip: fatal: unable to find IP address for broken.test: temporary failure\n"
    );
    let (code, _, err) = run(&h, &dns, "dnsip", &[]);
    assert_eq!(
        (code, err.as_str()),
        (100, "dnsip: fatal: usage: dnsip fqdn ...\n")
    );
}

#[test]
fn truncated_answers_are_asked_again_over_tcp() {
    let h = QmailHome::new("dnstcp");
    let recs = (1..=20)
        .map(|i| a("many.test", &format!("192.0.2.{i}")))
        .collect();
    let dns = Dns::start_with(
        recs,
        DnsOpts {
            truncate_over: Some(4),
            ..DnsOpts::default()
        },
    );
    let (code, out, _) = run(&h, &dns, "dnsip", &["many.test"]);
    assert_eq!(code, 0);
    assert_eq!(out.split_whitespace().count(), 20);
    assert!(
        dns.queries
            .lock()
            .unwrap()
            .contains(&"tcp:many.test. A".to_string())
    );
}

#[test]
fn servers_from_resolvconf_and_dead_servers_skipped() {
    let h = QmailHome::new("dnsconf");
    let dns = Dns::start(zone());
    let conf = h.path("resolv.conf");
    std::fs::write(&conf, format!("nameserver {}\n", dns.env())).unwrap();
    let out = h
        .cmd("dnsip")
        .arg("host.test")
        .env("RESOLVCONF", &conf)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2001:db8::1 192.0.2.1 192.0.2.2 \n"
    );
    // A server that refuses (nothing listening) is passed over at once.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let t = std::time::Instant::now();
    let out = h
        .cmd("dnsip")
        .arg("host.test")
        .env("DNSCACHEIP", format!("127.0.0.1#{dead_port} {}", dns.env()))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2001:db8::1 192.0.2.1 192.0.2.2 \n"
    );
    assert!(t.elapsed() < std::time::Duration::from_millis(900));
}
