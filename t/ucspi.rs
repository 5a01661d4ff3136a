//! tcpserver, tcprules, tcprulescheck, tcpclient: real sockets on loopback.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::remote::{Dns, DnsOpts, a, ptr, txt};
use crate::common::ucspi::{Server, prog};
use crate::common::{fresh_dir, run_with_input};

/// Whether ::1 can be bound on this machine.
fn have_ipv6() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// Connects and returns everything the server sent until it closed.
fn fetch(addr: SocketAddr) -> (String, SocketAddr) {
    let mut s = TcpStream::connect(addr).unwrap();
    let me = s.local_addr().unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    (out, me)
}

fn env_map(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn tcpserver(args: &[&str], host: &str, program: &[&str], dir: &Path) -> Option<Server> {
    let mut c = prog("tcpserver");
    c.arg("-1").args(args).arg(host).arg("0").args(program);
    Server::start(c, dir)
}

/// `tcpserver -H -l 0 host 0 env`, or `None` (test skipped) without an
/// IPv6 loopback.
fn ipv6_env_server(name: &str, host: &str) -> Option<Server> {
    if !have_ipv6() {
        crate::common::skip("no IPv6 loopback");
        return None;
    }
    tcpserver(&["-H", "-l", "0"], host, &["env"], &fresh_dir(name))
}

fn rules(dir: &Path, text: &str) -> (PathBuf, std::process::Output) {
    let cdb = dir.join("rules.cdb");
    let out = run_with_input(
        prog("tcprules").arg(&cdb).arg(dir.join("rules.tmp")),
        text.as_bytes(),
    );
    (cdb, out)
}

#[test]
fn tcpserver_environment_ipv4() {
    let dir = fresh_dir("ucspi-env4");
    let s = tcpserver(&["-v", "-H", "-l", "here"], "127.0.0.1", &["env"], &dir).unwrap();
    let (out, me) = fetch(([127, 0, 0, 1], s.port).into());
    let env = env_map(&out);
    assert_eq!(env["PROTO"], "TCP");
    assert_eq!(env["TCPLOCALIP"], "127.0.0.1");
    assert_eq!(env["TCPLOCALPORT"], s.port.to_string());
    assert_eq!(env["TCPLOCALHOST"], "here");
    assert_eq!(env["TCPREMOTEIP"], "127.0.0.1");
    assert_eq!(env["TCPREMOTEPORT"], me.port().to_string());
    assert!(!env.contains_key("TCPREMOTEHOST"));
    assert!(!env.contains_key("TCPREMOTEINFO"));
    assert!(!env.contains_key("TCP6REMOTEIP"));
    let log = s.wait_log(" status 0\n");
    assert!(log.starts_with("tcpserver: status: 0/40\n"), "{log}");
    assert!(
        log.contains(&format!(":127.0.0.1::{}\n", me.port())),
        "{log}"
    );
    assert!(
        log.contains(&format!("here:127.0.0.1:{} ", s.port)),
        "{log}"
    );
}

#[test]
fn tcpserver_environment_ipv6() {
    let Some(s) = ipv6_env_server("ucspi-env6", "::1") else {
        return;
    };
    let (out, me) = fetch(format!("[::1]:{}", s.port).parse().unwrap());
    let env = env_map(&out);
    assert_eq!(env["PROTO"], "TCP6");
    assert_eq!(env["TCPREMOTEIP"], "::1");
    assert_eq!(env["TCP6REMOTEIP"], "::1");
    assert_eq!(env["TCP6LOCALIP"], "::1");
    assert_eq!(env["TCP6REMOTEPORT"], me.port().to_string());
    assert_eq!(env["TCP6LOCALPORT"], s.port.to_string());
    assert_eq!(env["TCPLOCALHOST"], "0");
}

#[test]
fn tcpserver_names_by_ptr() {
    let dir = fresh_dir("ucspi-ptr");
    let serve = |dns: &Dns, args: &[&str]| {
        let mut c = prog("tcpserver");
        c.env("DNSCACHEIP", dns.env())
            .arg("-1")
            .args(args)
            .args(["127.0.0.1", "0", "env"]);
        let s = Server::start(c, &dir).unwrap();
        env_map(&fetch(([127, 0, 0, 1], s.port).into()).0)
    };
    // The name is given in lower case; -p checks it maps back.
    let good = Dns::start(vec![
        ptr("127.0.0.1", "Client.Test"),
        a("client.test", "127.0.0.1"),
    ]);
    let env = serve(&good, &["-p"]);
    assert_eq!(env["TCPREMOTEHOST"], "client.test");
    assert_eq!(env["TCPLOCALHOST"], "client.test");
    let liar = Dns::start(vec![
        ptr("127.0.0.1", "liar.test"),
        a("liar.test", "192.0.2.1"),
    ]);
    let env = serve(&liar, &["-p"]);
    assert!(!env.contains_key("TCPREMOTEHOST"), "{env:?}");
    assert_eq!(env["TCPLOCALHOST"], "liar.test");
    assert_eq!(serve(&liar, &["-P"])["TCPREMOTEHOST"], "liar.test");
    // -H -l: no lookup at all.
    let quiet = Dns::start(vec![ptr("127.0.0.1", "x.test")]);
    let env = serve(&quiet, &["-H", "-l", "0"]);
    assert!(!env.contains_key("TCPREMOTEHOST"));
    assert!(quiet.queries.lock().unwrap().is_empty());
}

#[test]
fn tcpserver_dual_stack_maps_ipv4() {
    let Some(s) = ipv6_env_server("ucspi-dual", ":0") else {
        return;
    };
    let env = env_map(&fetch(([127, 0, 0, 1], s.port).into()).0);
    assert_eq!(env["PROTO"], "TCP");
    assert_eq!(env["TCPREMOTEIP"], "127.0.0.1");
    assert!(!env.contains_key("TCP6REMOTEIP"));
    let env = env_map(&fetch(format!("[::1]:{}", s.port).parse().unwrap()).0);
    assert_eq!(env["PROTO"], "TCP6");
}

#[test]
fn tcpserver_rules_allow_deny_env() {
    let dir = fresh_dir("ucspi-rules");
    let (cdb, out) = rules(
        &dir,
        "# loopback gets a variable, and overrides TCPLOCALHOST\n\
         127.0.0.1:allow,RELAYCLIENT=\"\",TCPLOCALHOST=\"movie.edu\"\n\
         ::1:deny\n\
         :deny\n",
    );
    assert!(out.status.success(), "{out:?}");
    let cdbs = cdb.to_str().unwrap();
    let serve = || {
        tcpserver(
            &["-v", "-H", "-l", "0", "-x", cdbs],
            "127.0.0.1",
            &["env"],
            &dir,
        )
        .unwrap()
    };
    let s = serve();
    let env = env_map(&fetch(([127, 0, 0, 1], s.port).into()).0);
    assert_eq!(env["RELAYCLIENT"], "");
    assert_eq!(env["TCPLOCALHOST"], "movie.edu");
    drop(s);

    // Only 127.0.0.2 is allowed: 127.0.0.1 falls to the default deny.
    let (_, out) = rules(&dir, "127.0.0.2:allow\n:deny\n");
    assert!(out.status.success());
    let s = serve();
    let (text, me) = fetch(([127, 0, 0, 1], s.port).into());
    assert_eq!(text, "");
    let log = s.wait_log(" status 25600\n");
    assert!(
        log.contains("deny ") && log.contains(&format!(":127.0.0.1::{}\n", me.port())),
        "{log}"
    );

    if have_ipv6() {
        let (_, out) = rules(&dir, "::1:allow,SIX=\"yes\"\n:deny\n");
        assert!(out.status.success());
        let s = tcpserver(&["-H", "-l", "0", "-x", cdbs], "::1", &["env"], &dir).unwrap();
        let env = env_map(&fetch(format!("[::1]:{}", s.port).parse().unwrap()).0);
        assert_eq!(env["SIX"], "yes");
        let (_, out) = rules(&dir, "::1/128:deny\n:allow\n");
        assert!(out.status.success());
        assert_eq!(fetch(format!("[::1]:{}", s.port).parse().unwrap()).0, "");
    } else {
        crate::common::skip("no IPv6 loopback: the ::1 rules are not checked");
    }
}

#[test]
fn tcpserver_missing_rules_drop_unless_x() {
    let dir = fresh_dir("ucspi-missing");
    let cdb = dir.join("none.cdb");
    let cdbs = cdb.to_str().unwrap();
    let s = tcpserver(
        &["-H", "-l", "0", "-x", cdbs],
        "127.0.0.1",
        &["echo", "hi"],
        &dir,
    )
    .unwrap();
    assert_eq!(fetch(([127, 0, 0, 1], s.port).into()).0, "");
    let log = s.wait_log("dropping connection");
    assert!(log.contains("unable to read"), "{log}");
    let s = tcpserver(
        &["-X", "-H", "-l", "0", "-x", cdbs],
        "127.0.0.1",
        &["echo", "hi"],
        &dir,
    )
    .unwrap();
    assert_eq!(fetch(([127, 0, 0, 1], s.port).into()).0, "hi\n");
}

/// tcprulescheck over one cdb for a given client.
fn check(cdb: &Path, ip: &str, host: Option<&str>, info: Option<&str>) -> String {
    let mut c = prog("tcprulescheck");
    c.arg(cdb).env("TCPREMOTEIP", ip);
    if let Some(h) = host {
        c.env("TCPREMOTEHOST", h);
    }
    if let Some(i) = info {
        c.env("TCPREMOTEINFO", i);
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn rules_cascade_order() {
    let dir = fresh_dir("ucspi-cascade");
    let (cdb, out) = rules(
        &dir,
        "joe@10.1.2.3:allow,W=\"info@ip\"\n\
         joe@=a.example.com:allow,W=\"info@host\"\n\
         10.1.2.3:allow,W=\"ip\"\n\
         =a.example.com:allow,W=\"host\"\n\
         10.1.2.:allow,W=\"prefix3\"\n\
         10.1.:allow,W=\"prefix2\"\n\
         10.0.0.0/8:allow,W=\"cidr8\"\n\
         10.128.0.0/9:deny\n\
         =.example.com:allow,W=\"suffix\"\n\
         =:allow,W=\"anyname\"\n\
         2001:db8::1:allow,W=\"v6\"\n\
         2001:db8::/32:deny,W=\"v6net\"\n\
         joe@2001:db8::1:allow,W=\"v6info\"\n\
         192.168.1-2.:allow,W=\"range\"\n\
         :deny\n",
    );
    assert!(out.status.success(), "{out:?}");
    let w = |ip, host, info| {
        let t = check(&cdb, ip, host, info);
        t.lines()
            .find_map(|l| l.strip_prefix("set environment variable W="))
            .unwrap_or("")
            .to_string()
            + if t.ends_with("deny connection\n") {
                "!"
            } else {
                ""
            }
    };
    let h = Some("a.example.com");
    assert_eq!(w("10.1.2.3", h, Some("joe")), "info@ip");
    assert_eq!(w("10.1.2.4", h, Some("joe")), "info@host");
    assert_eq!(w("10.1.2.3", h, Some("ann")), "ip");
    assert_eq!(w("10.1.2.4", h, None), "host");
    assert_eq!(w("10.1.2.4", None, None), "prefix3");
    assert_eq!(w("10.1.9.4", None, None), "prefix2");
    assert_eq!(w("10.9.9.4", None, None), "cidr8");
    assert_eq!(w("10.200.9.4", None, None), "!");
    assert_eq!(w("11.0.0.1", Some("b.example.com"), None), "suffix");
    assert_eq!(w("11.0.0.1", Some("b.example.org"), None), "anyname");
    assert_eq!(w("11.0.0.1", None, None), "!");
    assert_eq!(w("2001:db8::1", None, None), "v6");
    assert_eq!(w("2001:db8::1", None, Some("joe")), "v6info");
    assert_eq!(w("2001:db8:5::1", None, None), "v6net!");
    assert_eq!(w("2001:db9::1", None, None), "!");
    assert_eq!(w("192.168.2.7", None, None), "range");
    assert_eq!(w("192.168.3.7", None, None), "!");
    let t = check(&cdb, "10.9.9.4", None, None);
    assert_eq!(
        t,
        "rule 10.0.0.0/8:\nset environment variable W=cidr8\nallow connection\n"
    );
    let t = check(&cdb, "2001:db8:5::1", None, None);
    assert!(t.starts_with("rule 2001:db8::/32:\n"), "{t}");
    let (cdb, _) = rules(&dir, "1.2.3.4:deny\n");
    assert_eq!(
        check(&cdb, "9.9.9.9", None, None),
        "default:\nallow connection\n"
    );
}

#[test]
fn tcprules_malformed_keeps_old_cdb() {
    let dir = fresh_dir("ucspi-malformed");
    let (cdb, out) = rules(&dir, "127.0.0.1:allow\n:deny\n");
    assert!(out.status.success());
    let before = std::fs::read(&cdb).unwrap();
    for bad in [
        "1.2.3.4:allow\n1.2.3.5:perhaps\n",
        "# c\n1.2.3.0/33:deny\n",
        "\n\n1.2.3.4:allow,X=\"unterminated\n",
        "2001:db8::zz:deny\n",
    ] {
        let (_, out) = rules(&dir, bad);
        assert_eq!(out.status.code(), Some(101), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        let line = bad.lines().count();
        assert!(err.starts_with("tcprules: fatal: "), "{err}");
        assert!(err.contains(&format!("(line {line})")), "{err}");
        assert_eq!(std::fs::read(&cdb).unwrap(), before);
    }
    let out = prog("tcprules").arg("only-one").output().unwrap();
    assert_eq!(out.status.code(), Some(100));
}

#[test]
fn tcpserver_concurrency_limit() {
    let dir = fresh_dir("ucspi-limit");
    let s = tcpserver(
        &["-v", "-H", "-l", "0", "-c", "3"],
        "127.0.0.1",
        &["sh", "-c", "echo start; read x; echo done"],
        &dir,
    )
    .unwrap();
    let live = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let port = s.port;
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let (live, max) = (live.clone(), max.clone());
            std::thread::spawn(move || {
                let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                assert_eq!(line, "start\n");
                let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                // Hold the child a little so the others queue up behind it.
                std::thread::sleep(Duration::from_millis(30));
                live.fetch_sub(1, Ordering::SeqCst);
                (&s).write_all(b"x\n").unwrap();
                let mut rest = String::new();
                r.read_to_string(&mut rest).unwrap();
                rest == "done\n"
            })
        })
        .collect();
    let served = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|&ok| ok)
        .count();
    assert_eq!(served, 10);
    assert!(max.load(Ordering::SeqCst) <= 3);
    let mut log = String::new();
    assert!(
        crate::common::wait_until(30, || {
            log = s.log_text();
            log.matches(" status 0\n").count() == 10
        }),
        "log never showed 10 ends:\n{log}"
    );
    let counts: Vec<usize> = log
        .lines()
        .filter_map(|l| l.strip_prefix("tcpserver: status: "))
        .map(|v| v.split('/').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(counts.iter().max(), Some(&3), "{log}");
    assert_eq!(counts.last(), Some(&0));
}

#[test]
fn tcpserver_sigterm_exits_0() {
    let dir = fresh_dir("ucspi-term");
    let mut s = tcpserver(&["-H", "-l", "0"], "127.0.0.1", &["true"], &dir).unwrap();
    sqmail::sys::kill(s.child.id() as i32, libc::SIGTERM).unwrap();
    assert_eq!(s.child.wait().unwrap().code(), Some(0));
}

#[test]
fn tcpserver_usage_and_bad_port() {
    let out = prog("tcpserver").args(["0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(100));
    let out = prog("tcpserver")
        .args(["0", "no-such-service", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("unable to figure out port number for: no-such-service")
    );
}

fn have_tinycdb() -> bool {
    Command::new("cdb").arg("-h").output().is_ok()
}

#[test]
fn cdb_interoperates_with_tinycdb() {
    if !have_tinycdb() {
        return crate::common::skip("tinycdb's cdb not installed (package/testdeps)");
    }
    let dir = fresh_dir("ucspi-tinycdb");
    let (cdb, out) = rules(&dir, "127.0.0.1:allow,A=\"1\"\n10.:deny\n");
    assert!(out.status.success());
    let q = Command::new("cdb")
        .arg("-q")
        .arg(&cdb)
        .arg("127.0.0.1")
        .output()
        .unwrap();
    assert_eq!(q.stdout, b"+A=1\0");
    let d = Command::new("cdb").arg("-d").arg(&cdb).output().unwrap();
    assert_eq!(d.stdout, b"+9,5:127.0.0.1->+A=1\0\n+3,2:10.->D\0\n\n");
    // Theirs, read by us (tcprulescheck) and by sqmail::cdb.
    let theirs = dir.join("theirs.cdb");
    let out = run_with_input(
        Command::new("cdb").arg("-c").arg(&theirs),
        b"+9,5:127.0.0.1->+B=2\0\n+4,3:key1->one\n\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        check(&theirs, "127.0.0.1", None, None),
        "rule 127.0.0.1:\nset environment variable B=2\nallow connection\n"
    );
    let c = sqmail::cdb::Cdb::open(&theirs).unwrap();
    assert_eq!(c.get(b"key1").unwrap().unwrap(), b"one");
}

#[test]
fn tcpclient_talks_to_tcpserver() {
    let dir = fresh_dir("ucspi-client");
    let s = tcpserver(
        &["-H", "-l", "0"],
        "127.0.0.1",
        &["sh", "-c", "echo from-server:$TCPREMOTEPORT"],
        &dir,
    )
    .unwrap();
    let out = prog("tcpclient")
        .args(["-RHl", "me", "127.0.0.1", &s.port.to_string()])
        .args(["sh", "-c", "env; cat <&6"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let env = env_map(&text);
    assert_eq!(env["PROTO"], "TCP");
    assert_eq!(env["TCPREMOTEIP"], "127.0.0.1");
    assert_eq!(env["TCPREMOTEPORT"], s.port.to_string());
    assert_eq!(env["TCPLOCALHOST"], "me");
    assert!(
        text.ends_with(&format!("from-server:{}\n", env["TCPLOCALPORT"])),
        "{text}"
    );
    // Nobody listening: 111 and the address in the message.
    drop(s);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let out = prog("tcpclient")
        .args(["-RH", "127.0.0.1", &port.to_string(), "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unable to connect to: 127.0.0.1"));
}

#[test]
fn tcpserver_banner_and_per_ip_limit() {
    let dir = fresh_dir("ucspi-perip");
    let s = tcpserver(
        &["-v", "-H", "-l", "0", "-C", "1", "-B", "hello "],
        "127.0.0.1",
        &["sh", "-c", "echo in; read x; echo out"],
        &dir,
    )
    .unwrap();
    let first = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let mut r = BufReader::new(first.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "hello in\n");
    // A second connection from the same address is closed at once.
    let (text, _) = fetch(([127, 0, 0, 1], s.port).into());
    assert_eq!(text, "");
    assert!(
        s.wait_log("per-IP limit")
            .contains("dropping connection from 127.0.0.1")
    );
    (&first).write_all(b"x\n").unwrap();
    let mut rest = String::new();
    r.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "out\n");
    s.wait_log(" status 0\n");
    let again = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let mut line = String::new();
    BufReader::new(again).read_line(&mut line).unwrap();
    assert_eq!(line, "hello in\n");
}

#[test]
fn recordio_records_both_directions() {
    let out = run_with_input(prog("recordio").arg("cat"), b"one\ntwo");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"one\ntwo");
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().map(|l| l.split_once(' ').unwrap().1).collect();
    for want in ["< one ", "> one ", "< two+", "> two+", "< [EOF]", "> [EOF]"] {
        assert!(lines.contains(&want), "{want}: {err}");
    }
    let pid = err.split(' ').next().unwrap();
    assert!(
        err.lines().all(|l| l.starts_with(&format!("{pid} "))),
        "{err}"
    );
}

#[test]
fn rblsmtpd_by_environment() {
    let rbl = |env: &[(&str, &str)], args: &[&str], input: &[u8]| {
        let mut c = prog("rblsmtpd");
        c.envs(env.iter().copied())
            .args(args)
            .args(["echo", "accepted"]);
        run_with_input(&mut c, input)
    };
    let ip = ("TCPREMOTEIP", "192.0.2.7");
    let out = rbl(&[ip, ("RBLSMTPD", "")], &[], b"");
    assert_eq!(out.stdout, b"accepted\n");
    let out = rbl(&[ip], &[], b"");
    assert_eq!(out.stdout, b"accepted\n");
    let out = rbl(
        &[ip, ("RBLSMTPD", "-go away")],
        &[],
        b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nquit\r\nNOOP\r\n",
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "220 rblsmtpd.local\r\n250 rblsmtpd.local\r\n250 rblsmtpd.local\r\n553 go away\r\n553 go away\r\n221 rblsmtpd.local\r\n"
    );
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("rblsmtpd: 192.0.2.7 pid "));
    assert!(String::from_utf8_lossy(&out.stderr).ends_with(": 553 go away\n"));
    let out = rbl(
        &[
            ("TCP6REMOTEIP", "::ffff:192.0.2.7"),
            ("RBLSMTPD", "try later"),
        ],
        &["-t", "0"],
        b"",
    );
    assert_eq!(out.stdout, b"451 try later\r\n");
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("rblsmtpd: 192.0.2.7 pid "));
    let out = rbl(&[ip, ("RBLSMTPD", "x")], &["-w", "0"], b"QUIT\r\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains(": greetdelay: 0\n"));
    assert_eq!(prog("rblsmtpd").output().unwrap().status.code(), Some(100));
}

#[test]
fn rblsmtpd_by_dns_lists() {
    let dns = Dns::start_with(
        vec![
            txt("7.2.0.192.bl.test", &["listed ", "here"]),
            txt("9.2.0.192.bl.test", &[""]),
            a("7.2.0.192.ok.test", "127.0.0.2"),
        ],
        DnsOpts {
            servfail: vec!["8.2.0.192.bl.test".into()],
            ..DnsOpts::default()
        },
    );
    let rbl = |ip: &str, args: &[&str]| {
        let mut c = prog("rblsmtpd");
        c.env("DNSCACHEIP", dns.env())
            .env("TCPREMOTEIP", ip)
            .args(["-t", "0"])
            .args(args)
            .args(["echo", "accepted"]);
        String::from_utf8_lossy(&run_with_input(&mut c, b"").stdout).into_owned()
    };
    assert_eq!(rbl("192.0.2.7", &["-r", "bl.test"]), "451 listed here\r\n");
    assert_eq!(
        rbl("192.0.2.7", &["-b", "-r", "bl.test"]),
        "553 listed here\r\n"
    );
    assert_eq!(
        rbl("192.0.2.9", &["-r", "bl.test"]),
        "451 listed in bl.test\r\n"
    );
    assert_eq!(rbl("192.0.2.6", &["-r", "bl.test"]), "accepted\n");
    assert_eq!(
        rbl("192.0.2.7", &["-a", "ok.test", "-r", "bl.test"]),
        "accepted\n"
    );
    assert_eq!(rbl("192.0.2.8", &["-r", "bl.test"]), "accepted\n");
    assert_eq!(
        rbl("192.0.2.8", &["-c", "-r", "bl.test"]),
        "451 temporary RBL lookup error\r\n"
    );
    let asked = dns.queries.lock().unwrap().clone();
    assert!(
        asked.contains(&"7.2.0.192.bl.test. TXT".to_string()),
        "{asked:?}"
    );
}

/// With nothing slow to look up (-H, no -r, -l given) the parent starts
/// the program itself (a vfork-like clone); with an IDENT lookup (-r) a
/// forked child does the work. Both give the program the same environment
/// and the same log lines, all naming the program's pid.
#[test]
fn tcpserver_spawn_and_fork_paths_agree() {
    let dir = fresh_dir("ucspi-paths");
    let (cdb, out) = rules(
        &dir,
        "127.0.0.1:allow,RULEVAR=\"x y\",TCPLOCALHOST=\"movie.edu\"\n:deny\n",
    );
    assert!(out.status.success(), "{out:?}");
    let cdbs = cdb.to_str().unwrap();
    let mut envs = Vec::new();
    for lookup in [&[][..], &["-r", "-t", "2"][..]] {
        let mut args = vec!["-v", "-H", "-l", "here", "-x", cdbs, "-B", "hi:"];
        args.extend_from_slice(lookup);
        let s = tcpserver(&args, "127.0.0.1", &["env"], &dir).unwrap();
        let (text, me) = fetch(([127, 0, 0, 1], s.port).into());
        let body = text.strip_prefix("hi:").expect(&text);
        assert!(!body.contains("hi:"), "banner sent twice: {text}");
        let log = s.wait_log(" status 0\n");
        let pid = log
            .lines()
            .find_map(|l| l.strip_prefix("tcpserver: pid "))
            .and_then(|r| r.strip_suffix(" from 127.0.0.1"))
            .expect(&log)
            .to_string();
        let ok = format!(
            "tcpserver: ok {pid} here:127.0.0.1:{} :127.0.0.1::{}\n",
            s.port,
            me.port()
        );
        assert!(log.contains(&ok), "{log}");
        assert!(
            log.contains(&format!("tcpserver: end {pid} status 0\n")),
            "{log}"
        );
        let mut env = env_map(body);
        assert_eq!(env.remove("TCPREMOTEPORT"), Some(me.port().to_string()));
        assert_eq!(env.remove("TCPLOCALPORT"), Some(s.port.to_string()));
        envs.push(env);
    }
    assert_eq!(envs[0], envs[1]);
    assert_eq!(envs[0]["RULEVAR"], "x y");
    assert_eq!(envs[0]["TCPLOCALHOST"], "movie.edu");
    assert_eq!(envs[0]["PROTO"], "TCP");
    assert!(!envs[0].contains_key("TCPREMOTEINFO"));
}

/// A program that cannot be started: the parent's spawn fails, the forked
/// child reports it as ucspi-tcp does, the banner goes out once.
#[test]
fn tcpserver_unrunnable_program() {
    let dir = fresh_dir("ucspi-norun");
    let s = tcpserver(
        &["-v", "-H", "-l", "0", "-B", "hi:"],
        "127.0.0.1",
        &["/nonexistent/program"],
        &dir,
    )
    .unwrap();
    assert_eq!(fetch(([127, 0, 0, 1], s.port).into()).0, "hi:");
    let log = s.wait_log(" status 28416\n");
    assert!(
        log.contains("tcpserver: fatal: unable to run: /nonexistent/program"),
        "{log}"
    );
}

/// A file without `#!` is not run by /bin/sh, as ucspi-tcp's pathexec,
/// whether the parent starts the program or a forked child does.
#[test]
fn tcpserver_script_without_header_both_ways() {
    use std::os::unix::fs::PermissionsExt;
    let dir = fresh_dir("ucspi-noheader");
    let script = dir.join("noheader");
    std::fs::write(&script, "echo ran\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let prog = script.to_str().unwrap();
    for way in [
        &["-v", "-H", "-l", "0"][..],
        &["-v", "-H", "-l", "0", "-r", "-t", "1"][..],
    ] {
        let s = tcpserver(way, "127.0.0.1", &[prog], &dir).unwrap();
        assert_eq!(fetch(([127, 0, 0, 1], s.port).into()).0, "", "{way:?}");
        let log = s.wait_log(" status 28416\n");
        assert!(
            log.contains("tcpserver: fatal: unable to run: "),
            "{way:?}: {log}"
        );
    }
}
