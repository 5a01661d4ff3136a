//! SPF against the loopback DNS server: spfquery's output and exit codes,
//! qmail-smtpd at every SPF level with every SPF reply, SPFRESULT, the
//! log lines, and the Received-SPF line in the queue and in a Maildir.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use hickory_proto::rr::Record;

use crate::common::remote::{Dns, DnsOpts, a, txt};
use crate::common::send::{Daemon, first_delivery};
use crate::common::smtpd::{Smtpd, lines};
use crate::common::{QmailHome, user_name};

/// The client of the qmail-smtpd tests (`Smtpd::cmd`).
const CLIENT: &str = "192.0.2.7";

/// One domain per SPF result for client 192.0.2.7.
fn zone() -> Vec<Record> {
    vec![
        txt("pass.example", &["v=spf1 ip4:192.0.2.0/24 -all"]),
        txt("fail.example", &["v=spf1 a:mail.fail.example -all"]),
        a("mail.fail.example", "198.51.100.1"),
        txt("soft.example", &["v=spf1 ~all"]),
        txt("neutral.example", &["v=spf1 ?all"]),
        a("none.example", "198.51.100.2"),
        txt("none.example", &["some other text"]),
        txt("bad.example", &["v=spf1 frobnicate -all"]),
        txt("exp.example", &["v=spf1 -all exp=why.exp.example"]),
        txt(
            "why.exp.example",
            &["%{i} may not send for %{d}.", " Ask postmaster@%{d}."],
        ),
        txt("two.example", &["v=spf1 -all exp=why.two.example"]),
        txt("why.two.example", &["one"]),
        txt("why.two.example", &["two"]),
        txt("inc.example", &["v=spf1 include:pass.example -all"]),
        txt("mx.client.example", &["v=spf1 ip4:192.0.2.7 -all"]),
        txt("loop.example", &["v=spf1 include:loop2.example -all"]),
        txt("loop2.example", &["v=spf1 include:loop.example -all"]),
    ]
}

fn dns() -> Dns {
    Dns::start_with(
        zone(),
        DnsOpts {
            servfail: vec!["down.example".into()],
            ..DnsOpts::default()
        },
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn spfquery(h: &QmailHome, dns: &Dns, args: &[&str]) -> (i32, String, String) {
    let out = h
        .cmd("spfquery")
        .args(args)
        .env("DNSCACHEIP", dns.env())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn spfquery_results() {
    let h = QmailHome::new("spfquery");
    let dns = dns();
    let q = |ip: &str, from: &str| spfquery(&h, &dns, &[ip, "mx.client.example", from]);
    assert_eq!(
        q(CLIENT, "a@pass.example"),
        (
            0,
            "result=pass\nSPF information evaluated:  S=192.0.2.7 O=a@pass.example C=pass.example H=mx.client.example MIPv4=192.0.2.0/24 R:+ \n".into(),
            String::new()
        )
    );
    let (code, out, _) = q(CLIENT, "a@fail.example");
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "result=fail\nSPF information evaluated:  S=192.0.2.7 O=a@fail.example C=fail.example H=mx.client.example R:- \nSPF results returned: See http://spf.pobox.com/why.html?sender=a@fail.example&ip=192.0.2.7&receiver=localhost\n"
    );
    let (_, out, _) = q(CLIENT, "a@exp.example");
    assert!(
        out.ends_with("SPF results returned: 192.0.2.7 may not send for exp.example. Ask postmaster@exp.example.\n"),
        "{out}"
    );
    for (from, word) in [
        ("a@soft.example", "softfail"),
        ("a@neutral.example", "neutral"),
        ("a@none.example", "none"),
        ("a@nx.example", "none"),
        ("a@bad.example", "unknown"),
        ("a@down.example", "error"),
        ("a@loop.example", "unknown"),
        ("a@inc.example", "pass"),
    ] {
        let (code, out, _) = q(CLIENT, from);
        assert_eq!(code, 0);
        assert!(
            out.starts_with(&format!("result={word}\n")),
            "{from}: {out}"
        );
        assert!(!out.contains("SPF results returned"), "{from}: {out}");
    }
    let (_, out, _) = q(CLIENT, "a@bad.example");
    assert!(out.contains(" P=Unknown SPF mechanism R:e "), "{out}");
    // No sender: the HELO name is checked.
    assert!(q(CLIENT, "").1.contains(" C=mx.client.example "));
    // IPv6 client.
    assert!(
        q("2001:db8::7", "a@pass.example")
            .1
            .starts_with("result=fail\n")
    );
    assert_eq!(
        q("127.0.0.1", "a@fail.example").1,
        "result=loopback\nSPF information evaluated:  MLocal=127.0.0.1 R:+ \n"
    );
    assert_eq!(
        q("192.0.2.300", "a@pass.example"),
        (1, "result=IP address syntax error\n".into(), String::new())
    );
}

#[test]
fn spfquery_verbose_local_rules_and_usage() {
    let h = QmailHome::new("spfquery-v");
    let dns = dns();
    let (code, out, _) = spfquery(&h, &dns, &[CLIENT, "helo.example", "a@inc.example", "-v"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("result=pass\nSPF records read: \n(inc.example) => v=spf1 include:pass.example -all\n(pass.example) => v=spf1 ip4:192.0.2.0/24 -all\nSPF information evaluated:  S=192.0.2.7 O=a@inc.example C=inc.example H=helo.example I=pass.example MIPv4=192.0.2.0/24 R:+ \n"),
        "{out}"
    );
    // Local rules (the 4th argument) rescue a sender whose record fails us.
    let args = [CLIENT, "helo.example", "a@fail.example"];
    assert!(spfquery(&h, &dns, &args).1.starts_with("result=fail\n"));
    let with = [&args[..], &["ip4:192.0.2.0/24", "-v"]].concat();
    let (_, out, _) = spfquery(&h, &dns, &with);
    assert!(
        out.starts_with("result=pass\nSPF records read: \n(fail.example) => "),
        "{out}"
    );
    let (code, out, err) = spfquery(&h, &dns, &[CLIENT, "helo.example"]);
    assert_eq!((code, out.as_str()), (100, ""));
    assert!(
        err.starts_with("spfquery: fatal: invalid usage\nusage: spfquery "),
        "{err}"
    );
    // A sender that is not UTF-8 is read lossily, not a panic.
    use std::os::unix::ffi::OsStrExt;
    let out = h
        .cmd("spfquery")
        .args([CLIENT, "helo.example"])
        .arg(std::ffi::OsStr::from_bytes(b"\xff@fail.example"))
        .env("DNSCACHEIP", dns.env())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("result=fail\n"));
}

/// `Smtpd` with a queue script that records `SPFRESULT`, then runs
/// `Smtpd`'s own (which keeps the message and envelope).
fn smtpd(name: &str) -> Smtpd {
    let s = Smtpd::new(name);
    let qq = s.h.path("bin/spfqq");
    fs::write(
        &qq,
        format!(
            "#!/bin/sh\necho \"$SPFRESULT\" > {d}/spfresult\nexec {d}/bin/fakeqq\n",
            d = s.h.dir.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&qq, fs::Permissions::from_mode(0o755)).unwrap();
    s
}

fn run(s: &Smtpd, dns: &Dns, env: &[(&str, &str)], input: &str) -> Output {
    let qq = s.h.path("bin/spfqq");
    let qq = qq.to_str().unwrap();
    let server = dns.env();
    let env = [
        &[("DNSCACHEIP", server.as_str()), ("QMAILQUEUE", qq)][..],
        env,
    ]
    .concat();
    s.run(&env, input.as_bytes())
}

/// MAIL and RCPT for a sender in each of `domains`.
fn transactions(domains: &[&str]) -> String {
    let mut t = String::from("EHLO mx.client.example\r\n");
    for d in domains {
        t.push_str(&format!(
            "MAIL FROM:<a@{d}>\r\nRCPT TO:<joe@example.com>\r\n"
        ));
    }
    t.push_str("QUIT\r\n");
    t
}

/// The RCPT replies of a `transactions` session (every MAIL gets 250 ok).
fn rcpt_replies(out: &Output) -> Vec<String> {
    let l: Vec<String> = lines(&out.stdout)
        .into_iter()
        .filter(|l| !l.starts_with("220 ") && !l.starts_with("250-") && !l.starts_with("221 "))
        .filter(|l| !l.starts_with("250 SIZE"))
        .collect();
    assert!(l.iter().step_by(2).all(|m| m == "250 ok"), "{l:?}");
    l.into_iter().skip(1).step_by(2).collect()
}

const DOMAINS: [&str; 8] = [
    "pass.example",
    "fail.example",
    "soft.example",
    "neutral.example",
    "none.example",
    "bad.example",
    "down.example",
    "loop.example",
];

fn reject(d: &str) -> String {
    format!(
        "550 See http://spf.pobox.com/why.html?sender=a@{d}&ip=192.0.2.7&receiver=mx.example (#5.7.1)"
    )
}

#[test]
fn smtpd_every_level() {
    let s = smtpd("spf-levels");
    let dns = dns();
    let ok = || "250 ok".to_string();
    let temp = || "451 SPF lookup failure (#4.3.0)".to_string();
    for level in 1..=6u8 {
        let out = run(
            &s,
            &dns,
            &[("SPF", &level.to_string())],
            &transactions(&DOMAINS),
        );
        let want: Vec<String> = DOMAINS
            .iter()
            // A loop is a permanent error: refused at 6, never a 451.
            .zip([0, 3, 4, 5, 6, 6, 2, 6])
            .map(|(d, from)| match (from, d) {
                (0, _) => ok(),
                (2, _) if level >= 2 => temp(),
                (f, d) if f > 2 && level >= f => reject(d),
                _ => ok(),
            })
            .collect();
        let got = rcpt_replies(&out);
        assert_eq!(got, want, "level {level}\n{}", text(&out.stderr));
        let log = text(&out.stderr);
        let rejects = want.iter().filter(|w| w.starts_with("550")).count();
        assert_eq!(
            log.matches(" Reject::SPF::Fail P:ESMTP S:192.0.2.7:unknown H:mx.client.example F:a@")
                .count(),
            rejects,
            "level {level}: {log}"
        );
        assert!(
            log.contains(" Accept::SPF::Rcpthosts_Rcptto P:ESMTP S:192.0.2.7:unknown H:mx.client.example F:a@pass.example T:joe@example.com\n"),
            "{log}"
        );
        if level == 1 {
            assert!(log.contains(" Accept::RCPT::Rcpthosts_Rcptto P:ESMTP S:192.0.2.7:unknown H:mx.client.example F:a@fail.example T:joe@example.com\n"));
        }
    }
    let out = run(&s, &dns, &[("SPF", "7")], "QUIT\r\n");
    assert_eq!(lines(&out.stdout), ["421 unable to read controls (#4.3.0)"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn smtpd_explanations_and_local_rules() {
    let s = smtpd("spf-exp");
    let dns = dns();
    let out = run(
        &s,
        &dns,
        &[("SPF", "3")],
        &transactions(&["exp.example", "two.example"]),
    );
    assert_eq!(
        rcpt_replies(&out),
        [
            "550 192.0.2.7 may not send for exp.example. Ask postmaster@exp.example. (#5.7.1)"
                .to_string(),
            reject("two.example"),
        ],
        "an exp= name with two TXT records gives the local text"
    );
    s.h.control("spfexplain", "Go away, %{s} from %{i} (%{d})\n");
    let out = run(&s, &dns, &[("SPF", "6")], &transactions(&["soft.example"]));
    assert!(
        lines(&out.stdout).contains(
            &"550 Go away, a@soft.example from 192.0.2.7 (soft.example) (#5.7.1)".to_string()
        ),
        "{:?}",
        lines(&out.stdout)
    );
    // control/spflocalrules go before the sender's -all.
    s.h.control("spflocalrules", "ip4:192.0.2.0/28\n");
    let out = run(&s, &dns, &[("SPF", "3")], &transactions(&["fail.example"]));
    assert_eq!(rcpt_replies(&out), ["250 ok"]);
    assert!(text(&out.stderr).contains("Accept::SPF::Rcpthosts_Rcptto"));
}

#[test]
fn smtpd_received_spf_and_spfresult() {
    let s = smtpd("spf-header");
    let dns = dns();
    let data = "DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n";
    let input = format!(
        "EHLO mx.client.example\r\nMAIL FROM:<a@pass.example>\r\nRCPT TO:<joe@example.com>\r\nRCPT TO:<bob@example.com>\r\n{data}QUIT\r\n"
    );
    let out = run(&s, &dns, &[("SPF", "1")], &input);
    assert!(
        lines(&out.stdout).iter().any(|l| l.starts_with("250 ok ")),
        "{:?}",
        lines(&out.stdout)
    );
    let msg = s.msg().unwrap();
    assert!(
        msg.starts_with("Received-SPF:  pass (mx.client.example: domain of pass.example\n  designates 192.0.2.7 as permitted sender)\n  receiver=mx.example; client-ip=192.0.2.7\n  envelope-from=<a@pass.example>\nReceived: from unknown (HELO mx.client.example) (192.0.2.7)\n"),
        "{msg}"
    );
    assert_eq!(fs::read_to_string(s.h.path("spfresult")).unwrap(), "pass\n");
    // One evaluation for both recipients: one TXT question.
    let q = dns.queries.lock().unwrap().clone();
    assert_eq!(
        q.iter().filter(|l| *l == "pass.example. TXT").count(),
        1,
        "{q:?}"
    );
    let input = format!(
        "HELO h.example\r\nMAIL FROM:<a@soft.example>\r\nRCPT TO:<joe@example.com>\r\n{data}"
    );
    run(&s, &dns, &[("SPF", "3")], &input);
    assert!(
        s.msg().unwrap().starts_with("Received-SPF:  softfail (h.example: domain of transitioning soft.example\n  does not designate 192.0.2.7 as permitted sender)\nReceived: "),
        "{}",
        s.msg().unwrap()
    );
    assert_eq!(
        fs::read_to_string(s.h.path("spfresult")).unwrap(),
        "softfail\n"
    );
    let input = format!(
        "HELO h.example\r\nMAIL FROM:<a@down.example>\r\nRCPT TO:<joe@example.com>\r\n{data}"
    );
    run(&s, &dns, &[("SPF", "1")], &input);
    assert!(
        s.msg().unwrap().starts_with("Received-SPF:  temperror (h.example: domain of down.example evaluated\n  with error: DNS temporary failure for mechanism: down.example)\nReceived: "),
        "{}",
        s.msg().unwrap()
    );
    assert_eq!(
        fs::read_to_string(s.h.path("spfresult")).unwrap(),
        "error\n"
    );
}

#[test]
fn smtpd_pays_nothing_without_spf_and_skips_relay_clients() {
    let s = smtpd("spf-off");
    let dns = dns();
    let data = "DATA\r\n\r\nbody\r\n.\r\n";
    let input = format!(
        "HELO h.example\r\nMAIL FROM:<a@fail.example>\r\nRCPT TO:<joe@example.com>\r\n{data}"
    );
    for env in [
        &[("SPF", "0")][..],
        &[],
        &[("SPF", "6"), ("RELAYCLIENT", "")],
    ] {
        let out = run(&s, &dns, env, &input);
        assert!(
            lines(&out.stdout).iter().any(|l| l.starts_with("250 ok ")),
            "{env:?}"
        );
        assert!(s.msg().unwrap().starts_with("Received: "), "{env:?}");
        assert_eq!(
            fs::read_to_string(s.h.path("spfresult")).unwrap(),
            "\n",
            "{env:?}"
        );
    }
    assert!(
        dns.queries.lock().unwrap().is_empty(),
        "no DNS question at all"
    );
    // The control files are not even opened: an unreadable one is harmless.
    fs::create_dir(s.h.path("control/spfexplain")).unwrap();
    let out = run(&s, &dns, &[], &input);
    assert!(lines(&out.stdout).iter().any(|l| l.starts_with("250 ok ")));
    let out = run(&s, &dns, &[("SPF", "1")], &input);
    assert_eq!(lines(&out.stdout), ["421 unable to read controls (#4.3.0)"]);
}

#[test]
fn received_spf_arrives_in_the_maildir() {
    let h = QmailHome::new("spf-maildir");
    let dns = dns();
    let d = Daemon::start(&h);
    let user = user_name();
    let input = format!(
        "EHLO mx.client.example\r\nMAIL FROM:<a@pass.example>\r\nRCPT TO:<{user}@localhost>\r\nDATA\r\nSubject: spf\r\n\r\nhello\r\n.\r\nQUIT\r\n"
    );
    let out = crate::common::run_with_input(
        h.cmd("qmail-smtpd")
            .env("TCPREMOTEIP", CLIENT)
            .env("TCPLOCALHOST", "mx.example")
            .env("SPF", "5")
            .env("DNSCACHEIP", dns.env()),
        input.as_bytes(),
    );
    assert!(
        lines(&out.stdout).iter().any(|l| l.starts_with("250 ok ")),
        "{:?} {}",
        lines(&out.stdout),
        text(&out.stderr)
    );
    let mail = first_delivery(&h, &d);
    assert!(
        mail.contains("\nReceived-SPF:  pass (mx.client.example: domain of pass.example\n  designates 192.0.2.7 as permitted sender)\n  receiver=mx.example; client-ip=192.0.2.7\n  envelope-from=<a@pass.example>\nReceived: from unknown (HELO mx.client.example) (192.0.2.7)\n"),
        "{mail}"
    );
    assert_eq!(d.stop(), 0);
}
