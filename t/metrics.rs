//! qmail-metrics over real logs: qmail-send's of the operations workload
//! and those of tcpserver and sslserver with qmail-smtpd, all written by
//! daemontools' multilog; the output read back by Prometheus' own parser
//! (python3-prometheus-client).

use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::oplog::*;
use crate::common::*;

/// An SMTP client session in Python: `tls` speaks SMTPS; one recipient for
/// mx.test is accepted, one elsewhere refused.
const CLIENT: &str = r#"
import smtplib, ssl, sys
port, tls = int(sys.argv[1]), sys.argv[2] == "tls"
if tls:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=20)
else:
    s = smtplib.SMTP("127.0.0.1", port, timeout=20)
s.ehlo("client.test")
s.mail("sender@client.test")
assert s.rcpt("alice@mx.test")[0] == 250
assert s.rcpt("someone@elsewhere.test")[0] >= 500
assert s.data(b"Subject: via smtp\r\n\r\nhi\r\n")[0] == 250
s.quit()
"#;

fn session(port: u16, tls: bool) {
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            CLIENT,
            &port.to_string(),
            if tls { "tls" } else { "plain" },
        ])
        .output()
        .unwrap();
    ok(&out);
}

/// tcpserver -v or sslserver -V in front of qmail-smtpd, its log into
/// `log`; returns the server and its port.
fn server(h: &QmailHome, name: &str, flags: &[&str], log: OwnedFd) -> (Kill, u16) {
    let mut c = h.cmd(name);
    c.args(["-1", "-R", "-H", "-l", "mx.test"])
        .args(flags)
        .args(["127.0.0.1", "0"])
        .arg(bin("qmail-smtpd"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log));
    let dir = h.dir.parent().unwrap();
    c.env("CERTFILE", dir.join("cert.pem"))
        .env("KEYFILE", dir.join("key.pem"));
    let mut child = c.spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let port = line.split_whitespace().last().unwrap().parse().unwrap();
    (Kill(child), port)
}

/// (sample name with labels, value) for each sample, as Prometheus'
/// Python parser reads `text`; None (after a loud skip) without it.
fn parse(text: &str) -> Option<Vec<(String, f64)>> {
    let probe = Command::new("/usr/bin/python3")
        .args(["-c", "import prometheus_client.parser"])
        .output()
        .unwrap();
    if !probe.status.success() {
        skip("python3-prometheus-client not installed: sh package/testdeps as root");
        return None;
    }
    let script = "import sys\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        for f in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   for s in f.samples:\n\
        \x20       l = ','.join('%s=\"%s\"' % kv for kv in sorted(s.labels.items()))\n\
        \x20       print('%s{%s} %r' % (s.name, l, s.value) if l else '%s %r' % (s.name, s.value))\n";
    let out = run_with_input(
        Command::new("/usr/bin/python3").args(["-c", script]),
        text.as_bytes(),
    );
    ok(&out);
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').unwrap();
                (k.to_string(), v.parse().unwrap())
            })
            .collect(),
    )
}

fn metrics(h: &QmailHome, args: &[&Path], flags: &[&str]) -> String {
    let mut c = h.cmd("qmail-metrics");
    c.args(flags).args(args);
    let out = run_with_input(&mut c, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    ok(&out);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn counts_real_logs_in_prometheus_format() {
    if !have_multilog() {
        return;
    }
    let h = QmailHome::with_users("metrics", &["alice"]);
    let dir = h.dir.parent().unwrap().to_path_buf();
    h.control("rcpthosts", "mx.test\n");
    let (ck, _) = crate::common::tls::self_signed(&["mx.test"]);
    fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    let smtpd_log = dir.join("smtpd-log");
    let mut multilog = Kill(
        Command::new(MULTILOG)
            .arg("t")
            .arg(&smtpd_log)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pipe: OwnedFd = multilog.0.stdin.take().unwrap().into();
    let (plain, plain_port) = server(&h, "tcpserver", &["-v"], pipe.try_clone().unwrap());
    let (tls, tls_port) = server(&h, "sslserver", &["-v", "-V"], pipe);
    session(plain_port, false);
    session(tls_port, true);
    drop((plain, tls));
    assert!(send::wait_child(&mut multilog.0, 10).is_some());
    let send_log = our_run_with(&h, 2);

    let state = dir.join("state");
    let s = state.to_str().unwrap();
    let text = metrics(&h, &[&send_log, &smtpd_log], &["-s", s]);
    let Some(samples) = parse(&text) else {
        return;
    };
    let get = |k: &str| {
        samples
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no {k} in\n{text}"))
    };
    for (k, want) in [
        // The workload's five, its bounce and two by SMTP.
        ("qmail_messages_received_total", 8.0),
        ("qmail_messages_done_total", 7.0),
        ("qmail_bounces_total", 1.0),
        (
            "qmail_deliveries_total{channel=\"local\",result=\"success\"}",
            6.0,
        ),
        (
            "qmail_deliveries_total{channel=\"local\",result=\"failure\"}",
            1.0,
        ),
        (
            "qmail_deliveries_total{channel=\"remote\",result=\"success\"}",
            1.0,
        ),
        (
            "qmail_deliveries_total{channel=\"remote\",result=\"deferral\"}",
            1.0,
        ),
        ("qmail_deliveries_started_total{channel=\"remote\"}", 2.0),
        ("qmail_smtp_sessions_total", 2.0),
        ("qmail_smtp_tls_sessions_total{protocol=\"TLSv1.3\"}", 1.0),
        (
            "qmail_smtpd_rejects_total{reason=\"SNDR::Invalid_Relay\"}",
            2.0,
        ),
        ("qmail_queue_messages", 1.0),
        ("qmail_queue_todo_messages", 0.0),
    ] {
        assert_eq!(get(k), want, "{k}\n{text}");
    }
    let accepted: f64 = samples
        .iter()
        .filter(|(n, _)| n.starts_with("qmail_smtpd_accepts_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(accepted, 2.0, "{text}");
    assert!(get("qmail_queue_oldest_message_age_seconds") >= 0.0);
    assert!(get("qmail_messages_received_bytes_total") > 1000.0);

    // The next run with the state counts nothing twice; new lines count.
    let again = metrics(&h, &[&send_log, &smtpd_log], &["-s", s, "-Q"]);
    assert!(
        again.contains("\nqmail_messages_received_total 8\n"),
        "{again}"
    );
    assert!(!again.contains("\nqmail_queue_messages "), "{again}");
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(smtpd_log.join("current"))
        .unwrap();
    f.write_all(
        b"@400000006774858a00000000 tcpserver: ok 7 mx.test:127.0.0.1:25 :127.0.0.1::4000\n",
    )
    .unwrap();
    let more = metrics(&h, &[&send_log, &smtpd_log], &["-s", s, "-Q"]);
    assert!(more.contains("\nqmail_smtp_sessions_total 3\n"), "{more}");

    // MRTG's four lines, and an HTTP scrape's answer.
    let mrtg = metrics(&h, &[&send_log], &["-m"]);
    let lines: Vec<&str> = mrtg.lines().collect();
    assert_eq!(lines.len(), 4, "{mrtg}");
    assert_eq!(&lines[..2], ["8", "7"], "{mrtg}");
    assert!(lines[2].ends_with(" of logs"), "{mrtg}");
    let http = metrics(&h, &[&send_log], &["-h", "-Q"]);
    assert!(
        http.starts_with("HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"),
        "{http}"
    );
    assert!(http.contains("\r\n\r\n# HELP "), "{http}");
}

/// A state file that is not ours stops the run and is left alone.
#[test]
fn refuses_a_foreign_state_file() {
    let h = QmailHome::new("metrics-state");
    let state = h.dir.parent().unwrap().join("state");
    fs::write(&state, "something else\n").unwrap();
    let out = h.run("qmail-metrics", &["-Q", "-s", state.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(111));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is no qmail-metrics state file"));
    assert_eq!(fs::read_to_string(&state).unwrap(), "something else\n");
}

/// multilog rotates `current` into `@*.s` files and deletes the oldest
/// (`s4096 n3`); run by run with a state file every line counts once,
/// and the counter keeps what deleted files held.
#[test]
fn follows_multilog_rotation() {
    if !have_multilog() {
        return;
    }
    let h = QmailHome::new("metrics-rotation");
    let dir = h.dir.parent().unwrap().to_path_buf();
    let log = dir.join("log");
    let state = dir.join("state");
    let batch = |from: usize| {
        let mut text = String::new();
        for i in from..from + 25 {
            text.push_str(&format!(
                "tcpserver: ok {i} mx.test:127.0.0.1:25 client.test:127.0.0.1::{i}\n"
            ));
        }
        let out = run_with_input(
            Command::new(MULTILOG).args(["t", "s4096", "n3"]).arg(&log),
            text.as_bytes(),
        );
        ok(&out);
    };
    let count = || {
        let text = metrics(&h, &[&log], &["-Q", "-s", state.to_str().unwrap()]);
        let line = text
            .lines()
            .find(|l| l.starts_with("qmail_smtp_sessions_total "))
            .unwrap()
            .to_string();
        line.rsplit(' ').next().unwrap().parse::<u64>().unwrap()
    };
    let finished = |d: &Path| {
        fs::read_dir(d)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".s")
            })
            .count()
    };
    // About 2.3 kB a batch, and multilog rotates when its input ends: a
    // new @*.s each round, the oldest deleted from the third on.
    for round in 1..=4 {
        batch(round * 100);
        assert_eq!(count(), 25 * round as u64, "round {round}");
    }
    assert_eq!(finished(&log), 2, "multilog deleted the oldest");
    assert_eq!(count(), 100);
}
