//! qmail-qmtpd and qmail-qmqpd on stdin/stdout with a recording queue:
//! packages and answers as the protocol texts say, relay control, size
//! limits, and every kind of malformed input (nothing queued).

use crate::common::qmtp::*;

const CLIENT_ENV: &[(&str, &str)] = &[];

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn qmtp_pipelined_packages_lf_and_crlf() {
    let r = Recorder::new("qmtp-pipelined");
    let mut input = package(
        b'\n',
        b"Subject: one\n\nbody \xff\x00 8bit\n",
        b"a@b.org",
        &[
            b"joe@example.com",
            b"x@elsewhere.org",
            b"y@a.sub.example.net",
        ],
    );
    input.extend(package(
        b'\r',
        b"Subject: two\r\n\r\nline\r\nbare\rcr\r\n",
        b"",
        &[b"JOE@Example.COM"],
    ));
    let o = r.run("qmail-qmtpd", CLIENT_ENV, &input);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let a = answers(&o.stdout);
    assert_eq!(a.len(), 4, "{a:?}");
    assert!(a[0].starts_with("Kok ") && a[0].contains(" qp "), "{a:?}");
    assert_eq!(
        a[1],
        "Dsorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"
    );
    assert_eq!(a[2], a[0]);
    assert!(a[3].starts_with("Kok ") && a[3] != a[0], "{a:?}");
    // the length prefix of the rcpthosts refusal is the one qmail sends
    assert!(
        o.stdout.windows(4).any(|w| w == b"66:D"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let q = r.queued();
    assert_eq!(q.len(), 2);
    let one = q.iter().find(|(m, _)| m.contains("Subject: one")).unwrap();
    assert!(
        one.0
            .starts_with("Received: from unknown (192.0.2.7)\n  by mx.example with QMTP; "),
        "{}",
        one.0
    );
    assert!(one.0.ends_with("\n\nbody \u{fffd}\0 8bit\n"), "{:?}", one.0);
    assert_eq!(
        one.1,
        b"Fa@b.org\0Tjoe@example.com\0Ty@a.sub.example.net\0\0"
    );
    let two = q.iter().find(|(m, _)| m.contains("Subject: two")).unwrap();
    assert!(
        two.0.ends_with("Subject: two\n\nline\nbare\rcr\n"),
        "{:?}",
        two.0
    );
    assert_eq!(two.1, b"F\0TJOE@Example.COM\0\0");
}

#[test]
fn qmtp_relayclient_and_unhandled_recipients() {
    let r = Recorder::new("qmtp-relay");
    let long = vec![b'a'; 995];
    let input = package(
        b'\n',
        b"x\n",
        b"a@b.org",
        &[b"x@elsewhere.org", b"n\0ul@example.com", &long],
    );
    let o = r.run("qmail-qmtpd", &[("RELAYCLIENT", "@relay")], &input);
    assert_eq!(code(&o), 0);
    let a = answers(&o.stdout);
    assert!(a[0].starts_with("Kok"), "{a:?}");
    assert_eq!(a[1], "Dsorry, I can't handle that recipient (#5.1.3)");
    // 995 + the suffix's 6 bytes passes 1000
    assert_eq!(a[2], a[1]);
    assert_eq!(r.queued()[0].1, b"Fa@b.org\0Tx@elsewhere.org@relay\0\0");
}

#[test]
fn qmtp_sender_problems_fail_every_recipient() {
    let r = Recorder::new("qmtp-sender");
    let long = vec![b's'; 1000];
    let mut input = package(b'\n', b"x\n", &long, &[b"joe@example.com"]);
    input.extend(package(
        b'\n',
        b"x\n",
        b"a\0b",
        &[b"joe@example.com", b"j@example.com"],
    ));
    let o = r.run("qmail-qmtpd", CLIENT_ENV, &input);
    assert_eq!(code(&o), 0);
    assert_eq!(answers(&o.stdout), vec!["Dunacceptable sender (#5.1.7)"; 3]);
    assert!(r.queued().is_empty());
}

#[test]
fn qmtp_databytes_in_both_line_modes() {
    let r = Recorder::new("qmtp-size");
    let big = b"0123456789abcdefghij\n";
    let mut input = package(b'\n', big, b"", &[b"joe@example.com"]);
    // CRLF mode counts the bytes as stored: 10 lines of "x\r\n" store 20
    input.extend(package(
        b'\r',
        &b"x\r\n".repeat(10),
        b"",
        &[b"joe@example.com"],
    ));
    input.extend(package(
        b'\r',
        &b"x\r\n".repeat(11),
        b"",
        &[b"joe@example.com"],
    ));
    let o = r.run("qmail-qmtpd", &[("DATABYTES", "20")], &input);
    assert_eq!(code(&o), 0);
    let a = answers(&o.stdout);
    let too_big = "Dsorry, that message size exceeds my databytes limit (#5.3.4)";
    assert_eq!(a[0], too_big);
    assert!(a[1].starts_with("Kok"), "{a:?}");
    assert_eq!(a[2], too_big);
    assert_eq!(r.queued().len(), 1);
    // the control file, when DATABYTES is unset
    r.h.control("databytes", "5\n");
    let o = r.run(
        "qmail-qmtpd",
        CLIENT_ENV,
        &package(b'\n', big, b"", &[b"joe@example.com"]),
    );
    assert_eq!(answers(&o.stdout), vec![too_big]);
}

#[test]
fn qmtp_queue_refusals_become_z_and_d() {
    let r = Recorder::new("qmtp-qq");
    let input = package(b'\n', b"x\n", b"", &[b"joe@example.com"]);
    let o = r.run("qmail-qmtpd", &[("QQEXIT", "31")], &input);
    assert_eq!(
        answers(&o.stdout),
        vec!["Dmail server permanently rejected message (#5.3.0)"]
    );
    let o = r.run("qmail-qmtpd", &[("QQEXIT", "53")], &input);
    assert_eq!(
        answers(&o.stdout),
        vec!["Zqq write error or disk full (#4.3.0)"]
    );
    assert!(r.queued().is_empty());
}

/// Malformed input: the exit code qmail gives it, nothing queued, and the
/// answers of the packages before it still sent.
#[test]
fn qmtp_malformed_input() {
    let r = Recorder::new("qmtp-bad");
    let good = package(b'\n', b"x\n", b"", &[b"joe@example.com"]);
    let cases: &[(&str, Vec<u8>, i32)] = &[
        ("non-digit length", b"1x:".to_vec(), 111),
        ("leading zero", b"03:\nx\n,0:,0:,".to_vec(), 111),
        ("huge length", b"999999999999:".to_vec(), 111),
        (
            "bad line-ending code",
            b"3:Xx\n,0:,20:16:joe@example.com,,".to_vec(),
            100,
        ),
        (
            "empty message",
            b"0:,0:,20:16:joe@example.com,,".to_vec(),
            100,
        ),
        (
            "missing comma",
            b"3:\nx\n;0:,20:16:joe@example.com,,".to_vec(),
            100,
        ),
        ("no recipients", b"3:\nx\n,0:,0:,".to_vec(), 100),
        (
            "recipient past its list",
            b"3:\nx\n,0:,5:16:joe@example.com,,".to_vec(),
            100,
        ),
        ("truncated", b"100:\nonly a little".to_vec(), 0),
        (
            "claims 190 MB, sends 10 bytes",
            b"190000000:\n123456789".to_vec(),
            0,
        ),
        ("stops after the sender", b"3:\nx\n,0:,".to_vec(), 0),
    ];
    for (what, bad, want) in cases {
        let mut input = good.clone();
        input.extend_from_slice(bad);
        let o = r.run("qmail-qmtpd", CLIENT_ENV, &input);
        assert_eq!(
            code(&o),
            *want,
            "{what}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let a = answers(&o.stdout);
        assert_eq!(a.len(), 1, "{what}: the good package is answered: {a:?}");
        assert!(a[0].starts_with("Kok"), "{what}: {a:?}");
        assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    }
    // one good package per case, nothing else
    assert_eq!(r.queued().len(), cases.len());
}

#[test]
fn qmtps_port_without_tls_is_refused() {
    let r = Recorder::new("qmtps-plain");
    let input = package(b'\n', b"x\n", b"", &[b"joe@example.com"]);
    let o = r.run("qmail-qmtpd", &[("TCPLOCALPORT", "6209")], &input);
    assert_eq!(code(&o), 111);
    assert!(o.stdout.is_empty());
    assert!(r.queued().is_empty());
}

#[test]
fn qmtps_certificate_relays_and_names_the_client() {
    let r = Recorder::new("qmtps-cert");
    let input = package(b'\n', b"x\n", b"", &[b"x@elsewhere.org"]);
    let tls = [
        ("TCPLOCALPORT", "6209"),
        ("SSL_PROTOCOL", "TLSv1.3"),
        ("SSL_CIPHER", "TLS_AES_256_GCM_SHA384"),
        ("SSL_CIPHER_USEKEYSIZE", "256"),
        ("SSL_CIPHER_ALGKEYSIZE", "256"),
    ];
    // TLS without a client certificate: no relaying
    let o = r.run("qmail-qmtpd", &tls, &input);
    assert_eq!(
        answers(&o.stdout),
        vec!["Dsorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"]
    );
    let mut with_cert = tls.to_vec();
    with_cert.push(("SSL_CLIENT_S_DN", "/CN=edge.example"));
    with_cert.push(("SSL_CLIENT_S_DN_CN", "edge.example"));
    let o = r.run("qmail-qmtpd", &with_cert, &input);
    assert!(answers(&o.stdout)[0].starts_with("Kok"));
    let q = r.queued();
    assert!(
        q[0].0.starts_with(
            "Received: from unknown (edge.example@192.0.2.7)\n  de/crypted with TLSv1.3: TLS_AES_256_GCM_SHA384 [256/256] DN=/CN=edge.example\n  by mx.example with QMTPSA; "
        ),
        "{}",
        q[0].0
    );
}

#[test]
fn qmqp_one_message() {
    let r = Recorder::new("qmqp-one");
    let req = qmqp_request(
        b"Subject: q\n\nhi\r\n",
        b"a@b.org",
        &[b"x@anywhere.org", b"y@z"],
    );
    let o = r.run("qmail-qmqpd", CLIENT_ENV, &req);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let a = answers(&o.stdout);
    assert!(a.len() == 1 && a[0].starts_with("Kok "), "{a:?}");
    let q = r.queued();
    assert!(
        q[0].0
            .starts_with("Received: from unknown (192.0.2.7)\n  by mx.example with QMQP; "),
        "{}",
        q[0].0
    );
    // QMQP carries the message as it is (no line-end conversion)
    assert!(q[0].0.ends_with("\nSubject: q\n\nhi\r\n"));
    assert_eq!(q[0].1, b"Fa@b.org\0Tx@anywhere.org\0Ty@z\0\0");
}

#[test]
fn qmqp_refusals_and_malformed_input() {
    let r = Recorder::new("qmqp-bad");
    let long = vec![b'r'; 1000];
    let cases: &[(&str, Vec<u8>, i32, Option<&str>)] = &[
        (
            "address too long",
            qmqp_request(b"x\n", b"a@b", &[&long]),
            0,
            Some("Dsorry, I can't accept addresses like that (#5.1.3)"),
        ),
        (
            "NUL in the sender",
            qmqp_request(b"x\n", b"a\0b", &[b"c@d"]),
            0,
            Some("Dsorry, I can't accept addresses like that (#5.1.3)"),
        ),
        (
            "no recipients",
            qmqp_request(b"x\n", b"a@b", &[]),
            0,
            Some("Dsorry, no recipients (#5.1.3)"),
        ),
        (
            "inner past the outer length",
            b"10:2:x\n,3:a@b,5:c@d.e,,".to_vec(),
            100,
            None,
        ),
        ("a prefix of 200 digits", vec![b'1'; 200], 111, None),
        (
            "missing final comma",
            b"11:2:x\n,3:a@b,;".to_vec(),
            100,
            None,
        ),
        ("truncated", b"50:2:x\n,".to_vec(), 0, None),
        ("non-digit", b"1a:".to_vec(), 111, None),
    ];
    for (what, input, want, answer) in cases {
        let o = r.run("qmail-qmqpd", CLIENT_ENV, input);
        assert_eq!(
            code(&o),
            *want,
            "{what}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let a = answers(&o.stdout);
        match answer {
            Some(t) => assert_eq!(a, vec![t.to_string()], "{what}"),
            None => assert!(a.is_empty(), "{what}: {a:?}"),
        }
    }
    let o = r.run(
        "qmail-qmqpd",
        &[("QQEXIT", "71")],
        &qmqp_request(b"x\n", b"", &[b"c@d"]),
    );
    assert_eq!(
        answers(&o.stdout),
        vec!["Zmail server temporarily rejected message (#4.3.0)"]
    );
    assert!(r.queued().is_empty());
}
