//! QMQP over the network: qmail-qmqpc against our qmail-qmqpd (under
//! tcpserver) and against Postfix's QMQP server code (`qmqp-sink`), and
//! Postfix's `qmqp-source` against qmail-qmqpd; qmail-qmqpc's exit codes
//! when servers are down, refuse, or the envelope is bad.

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};

use crate::common::qmtp::Recorder;
use crate::common::ucspi::{Server, prog};
use crate::common::{QmailHome, bin, run_with_input, skip, wait_until};

/// tcpserver on 127.0.0.1 in front of `program`, recording into `r`.
fn server(r: &Recorder, program: &str, env: &[(&str, &str)]) -> Server {
    let mut c = prog("tcpserver");
    c.env("QMAILHOME", &r.h.dir)
        .env("QMAILQUEUE", r.h.path("bin/recqq"))
        .envs(env.iter().copied())
        .args(["-1", "-R", "-H", "-l", "mx.example", "127.0.0.1", "0"])
        .arg(bin(program));
    Server::start(c, &r.h.dir).unwrap()
}

/// qmail-qmqpc in `h` with `msg` on fd 0 and `env` on fd 1 (a file).
fn qmqpc(h: &QmailHome, msg: &[u8], env: &[u8]) -> Output {
    let envfile = h.path("qmqpc.env");
    std::fs::write(&envfile, env).unwrap();
    let mut c = h.cmd("qmail-qmqpc");
    c.stdout(std::fs::File::open(&envfile).unwrap());
    let mut child = c
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = msg.to_vec();
    let w = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    w.join().unwrap();
    out
}

/// A loopback port nothing listens on.
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const ENV: &[u8] = b"Fa@client.example\0Tjoe@example.com\0Tx@y.example\0\0";

#[test]
fn qmqpc_to_qmqpd_skips_dead_servers() {
    let r = Recorder::new("qmqpc-qmqpd");
    let srv = server(&r, "qmail-qmqpd", &[]);
    let c = QmailHome::new("qmqpc-client");
    // a comment-like line and a bad address are passed over
    c.control(
        "qmqpservers",
        &format!(
            "not an address\n127.0.0.1;{}\n127.0.0.1;{}\n",
            dead_port(),
            srv.port
        ),
    );
    let o = qmqpc(&c, b"Subject: mini\n\nhello\n", ENV);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let q = r.queued();
    assert_eq!(q.len(), 1);
    assert!(q[0].0.contains(" with QMQP; ") && q[0].0.ends_with("\nSubject: mini\n\nhello\n"));
    assert_eq!(
        q[0].1,
        b"Fa@client.example\0Tjoe@example.com\0Tx@y.example\0\0"
    );
}

#[test]
fn qmqpc_exit_codes() {
    let c = QmailHome::new("qmqpc-codes");
    // no control/qmqpservers
    assert_eq!(qmqpc(&c, b"x\n", ENV).status.code(), Some(55));
    // every server down: connection refused
    c.control(
        "qmqpservers",
        &format!("127.0.0.1;{}\n::1;{}\n", dead_port(), dead_port()),
    );
    assert_eq!(qmqpc(&c, b"x\n", ENV).status.code(), Some(73));
    // the server's temporary and permanent refusals
    let r = Recorder::new("qmqpc-codes-srv");
    for (qq, want) in [("71", 71), ("31", 31), ("0", 0)] {
        let srv = server(&r, "qmail-qmqpd", &[("QQEXIT", qq)]);
        c.control("qmqpservers", &format!("127.0.0.1;{}\n", srv.port));
        assert_eq!(
            qmqpc(&c, b"x\n", ENV).status.code(),
            Some(want),
            "QQEXIT={qq}"
        );
    }
    // a bad envelope: nothing is sent
    for bad in [
        &b"Tjoe@example.com\0\0"[..],
        b"Fa\0Tb\0",
        b"Fa\0Xb\0\0",
        b"",
    ] {
        assert_eq!(qmqpc(&c, b"x\n", bad).status.code(), Some(91), "{bad:?}");
    }
    assert_eq!(r.queued().len(), 1);
    // a server that takes the connection and then closes it: 74
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    c.control(
        "qmqpservers",
        &format!("127.0.0.1;{}\n", l.local_addr().unwrap().port()),
    );
    let t = std::thread::spawn(move || drop(l.accept()));
    assert_eq!(qmqpc(&c, b"x\n", ENV).status.code(), Some(74));
    t.join().unwrap();
}

/// A Postfix load generator or sink, if Postfix is installed.
fn postfix_tool(name: &str) -> Option<String> {
    let p = format!("/usr/sbin/{name}");
    std::path::Path::new(&p).exists().then_some(p)
}

struct Sink(Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn qmqpc_to_postfix_qmqp_sink() {
    let Some(sink) = postfix_tool("qmqp-sink") else {
        return skip("Postfix's qmqp-sink not installed (package/testdeps)");
    };
    let port = dead_port();
    let _s = Sink(
        Command::new(sink)
            .args([&format!("127.0.0.1:{port}"), "10"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_until(10, || std::net::TcpStream::connect((
        "127.0.0.1",
        port
    ))
    .is_ok()));
    let c = QmailHome::new("qmqpc-sink");
    c.control("qmqpservers", &format!("127.0.0.1;{port}\n"));
    let big = "x".repeat(100) + "\n";
    let msg = format!("Subject: to postfix\n\n{}", big.repeat(1000));
    let o = qmqpc(&c, msg.as_bytes(), ENV);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn postfix_qmqp_source_to_qmqpd() {
    let Some(source) = postfix_tool("qmqp-source") else {
        return skip("Postfix's qmqp-source not installed (package/testdeps)");
    };
    let r = Recorder::new("qmqp-source");
    let srv = server(&r, "qmail-qmqpd", &[]);
    let o = run_with_input(
        Command::new(source).args([
            "-s",
            "2",
            "-m",
            "6",
            "-l",
            "2048",
            "-f",
            "src@client.example",
            "-t",
            "joe@example.com",
            &format!("127.0.0.1:{}", srv.port),
        ]),
        b"",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let q = r.queued();
    assert_eq!(q.len(), 6);
    for (m, e) in &q {
        assert!(m.starts_with("Received: from unknown (127.0.0.1)\n  by mx.example with QMQP; "));
        assert_eq!(e, b"Fsrc@client.example\0Tjoe@example.com\0\0");
    }
}
