//! qmail-inject and sendmail against a fake qmail-queue (QMAILQUEUE) that
//! saves the message and the envelope: the exact envelope, the rewritten
//! header, exit codes and error lines.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use crate::common::inject::Fake;
use crate::common::*;

fn err(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Date and Message-ID given, so the output is fixed.
const FIXED: &str = "Date: d\nMessage-ID: <m@x>\n";

#[test]
fn envelope_and_header_from_arguments() {
    let f = Fake::new("inject-args", 0);
    let o = f.inject(
        &["-f", "bounce@list.example", "joe", "ann@host", "bob@host+"],
        &[("QMAILPLUSDOMAIN", "plus.example")],
        &format!("{FIXED}From: me@x.org\nTo: ignored@x.org\nSubject: hi\n\nbody\n"),
    );
    ok(&o);
    assert_eq!(
        f.env(),
        "Fbounce@list.example|Tjoe@me.example|Tann@host.dom.example|Tbob@host.plus.example||"
    );
    assert_eq!(
        f.msg(),
        format!("{FIXED}From: me@x.org\nTo: ignored@x.org\nSubject: hi\n\nbody\n")
    );
    assert_eq!(
        fs::read_to_string(f.h.path("cwd")).unwrap().trim_end(),
        f.h.dir.to_str().unwrap()
    );
}

#[test]
fn header_recipients_rewritten_and_bcc_removed() {
    let f = Fake::new("inject-header", 0);
    let input = format!(
        "{FIXED}From: \"Q. User\" <quser>\nTo: djb fred, \"x y\"@a.b.c (comment)\n\
         Cc: group: g1, <@r1,@r2:g2@route.example>;\nBcc: secret@b.example\n\
         Apparently-To: app\nContent-Length: 12\nReturn-Path: <rp@r.example>\n\nbody"
    );
    let o = f.inject(&[], &[], &input);
    ok(&o);
    assert_eq!(
        f.msg(),
        format!(
            "{FIXED}From: \"Q. User\" <quser@me.example>\n\
             To: djb@me.example, fred@me.example, \"x y\"@a.b.c (comment)\n\
             Cc: group: g1@me.example, <g2@route.example>;\n\
             Apparently-To: app@me.example\n\nbody\n"
        )
    );
    // Each field is walked right to left, as qmail does.
    assert_eq!(
        f.env(),
        "Frp@r.example|Tx y@a.b.c|Tfred@me.example|Tdjb@me.example|\
         Tg2@route.example|Tg1@me.example|Tsecret@b.example|Tapp@me.example||"
    );
}

#[test]
fn added_fields_and_default_sender() {
    let f = Fake::new("inject-added", 0);
    f.h.control("idhost", "id.example\n");
    let o = f.inject(
        &[],
        &[
            ("USER", "luser"),
            ("NAME", "Lu Ser"),
            ("MAILHOST", "mh.example"),
        ],
        "Subject: s\n",
    );
    ok(&o);
    let msg = f.msg();
    let lines: Vec<&str> = msg.lines().collect();
    assert_eq!(lines.len(), 5, "{msg}");
    let date = lines[0].strip_prefix("Date: ").unwrap();
    assert!(date.ends_with(" -0000"), "{date}");
    assert_eq!(date.split(' ').count(), 5, "{date}");
    let id = lines[1].strip_prefix("Message-ID: <").unwrap();
    assert!(id.ends_with(".qmail@id.example>"), "{id}");
    assert_eq!(id.split('.').next().unwrap().len(), 14, "{id}");
    assert_eq!(lines[2], "From: \"Lu Ser\" <luser@mh.example>");
    assert_eq!(lines[3], "Cc: recipient list not shown: ;");
    assert_eq!(lines[4], "Subject: s");
    // No recipients at all: queued as is.
    assert_eq!(f.env(), "Fluser@mh.example||");
}

#[test]
fn identity_variables_and_qmailinject_flags() {
    let f = Fake::new("inject-flags", 0);
    let env = [
        ("QMAILUSER", "qu"),
        ("MAILUSER", "mu"),
        ("QMAILHOST", "qh.example"),
        ("QMAILNAME", "Q Name"),
        ("QMAILSUSER", "su"),
        ("QMAILSHOST", "sh"),
        ("QMAILINJECT", "cfisxyz"),
    ];
    let input = "Return-Path: <ignored@x.example>\nFrom: old@x.example\nMessage-ID: <old@x>\nDate: d\nTo: t@x.example\n\n";
    ok(&f.inject(&[], &env, input));
    let msg = f.msg();
    assert!(msg.contains("From: qu@qh.example (Q Name)\n"), "{msg}");
    assert!(!msg.contains("old@"), "{msg}");
    assert!(msg.contains("Message-ID: <"), "{msg}");
    assert_eq!(f.env(), "Fsu@sh.dom.example|Tt@x.example||");

    // r: per-recipient VERP; m: per-message VERP.
    ok(&f.inject(
        &["a@b.c"],
        &[
            ("QMAILINJECT", "r"),
            ("USER", "u"),
            ("QMAILHOST", "h.example"),
        ],
        FIXED,
    ));
    assert_eq!(f.env(), "Fu-@h.example-@[]|Ta@b.c||");
    ok(&f.inject(
        &["a@b.c"],
        &[
            ("QMAILINJECT", "m"),
            ("LOGNAME", "l"),
            ("QMAILHOST", "h.example"),
        ],
        FIXED,
    ));
    let env = f.env();
    assert!(
        env.starts_with("Fl-") && env.ends_with("@h.example|Ta@b.c||"),
        "{env}"
    );
    // Nothing set at all: anonymous at defaulthost.
    ok(&f.inject(&["a@b.c"], &[], FIXED));
    assert_eq!(f.env(), "Fanonymous@me.example|Ta@b.c||");
}

#[test]
fn control_files_and_overrides() {
    let f = Fake::new("inject-controls", 0);
    f.h.control("defaulthost", "dhost \t\n");
    f.h.control("defaultdomain", "ddom.example\n");
    f.h.control("plusdomain", "pdom.example\n");
    let input = format!("{FIXED}To: a, b@h, c@h+, d@[1.2.3.4], e@x.y., f@, <>\n");
    ok(&f.inject(&["-f", "s"], &[], &input));
    assert!(
        f.msg().contains(
            "To: a@dhost.ddom.example, b@h.ddom.example, c@h.pdom.example, d@[1.2.3.4],\n  \
             e@x.y, f@dhost.ddom.example, <>\n"
        ),
        "{}",
        f.msg()
    );
    assert!(f.env().starts_with("Fs@dhost.ddom.example|"), "{}", f.env());
    let env = [
        ("QMAILDEFAULTHOST", "eh"),
        ("QMAILDEFAULTDOMAIN", "edom.example"),
        ("QMAILPLUSDOMAIN", "eplus.example"),
    ];
    ok(&f.inject(&["-f", "s", "r", "q@w+"], &env, FIXED));
    assert_eq!(
        f.env(),
        "Fs@eh.edom.example|Tr@eh.edom.example|Tq@w.eplus.example||"
    );
    // Without any of these files: me, then the literal names.
    fs::remove_file(f.h.path("control/defaulthost")).unwrap();
    ok(&f.inject(&["r"], &[], FIXED));
    assert!(f.env().contains("|Tr@me.example|"), "{}", f.env());
    fs::remove_file(f.h.path("control/me")).unwrap();
    fs::remove_file(f.h.path("control/defaultdomain")).unwrap();
    ok(&f.inject(&["r"], &[], FIXED));
    assert!(
        f.env().contains("|Tr@defaulthost.defaultdomain|"),
        "{}",
        f.env()
    );
}

#[test]
fn recipient_strategies() {
    let f = Fake::new("inject-strategy", 0);
    let input = format!("{FIXED}To: h@x.example\n\n");
    let cases: [(&[&str], &str); 6] = [
        (&["a@x.example"], "Ta@x.example|"),
        (&[], "Th@x.example|"),
        (&["-a", "a@x.example"], "Ta@x.example|"),
        (&["-a"], ""),
        (&["-h", "a@x.example"], "Th@x.example|"),
        (&["-H", "a@x.example"], "Ta@x.example|Th@x.example|"),
    ];
    for (args, rcpts) in cases {
        let mut a = vec!["-fs@x.example"];
        a.extend_from_slice(args);
        ok(&f.inject(&a, &[], &input));
        assert_eq!(f.env(), format!("Fs@x.example|{rcpts}|"), "{args:?}");
    }
}

#[test]
fn resent_message() {
    let f = Fake::new("inject-resent", 0);
    let input = "Date: d\nMessage-ID: <m@x>\nFrom: f@x.example\nTo: t@x.example\n\
                 Resent-To: r1@x.example, r2\nResent-Bcc: rb@x.example\n\nbody\n";
    ok(&f.inject(
        &["-f", "s@x.example"],
        &[("USER", "u"), ("QMAILHOST", "h.example")],
        input,
    ));
    let msg = f.msg();
    let lines: Vec<&str> = msg.lines().collect();
    assert!(lines[0].starts_with("Resent-Date: "), "{msg}");
    assert!(lines[1].starts_with("Resent-Message-ID: <"), "{msg}");
    assert_eq!(lines[2], "Resent-From: u@h.example");
    assert_eq!(
        lines[3..].join("\n"),
        "Date: d\nMessage-ID: <m@x>\nFrom: f@x.example\nTo: t@x.example\n\
         Resent-To: r1@x.example, r2@me.example\n\nbody"
    );
    assert_eq!(
        f.env(),
        "Fs@x.example|Tr2@me.example|Tr1@x.example|Trb@x.example||"
    );
}

#[test]
fn header_and_body_boundaries() {
    let f = Fake::new("inject-body", 0);
    // An mbox From_ line is kept as a field; a non-field line starts the
    // body after an inserted blank line; a missing final newline is added.
    ok(&f.inject(
        &["a@b.c"],
        &[],
        "From joe Mon\nDate: d\nMessage-ID: <m@x>\nFrom: a@b.c\nnot a field\nlast",
    ));
    assert_eq!(
        f.msg(),
        "Cc: recipient list not shown: ;\nMBOX-Line: From joe Mon\nDate: d\nMessage-ID: <m@x>\nFrom: a@b.c\n\nnot a field\nlast\n"
    );
    // Continuation lines stay with their field; a header without a body
    // gets no blank line.
    ok(&f.inject(
        &["a@b.c"],
        &[],
        "Date: d\nMessage-ID: <m@x>\nFrom: a@b.c\nTo: x@y.z,\n\ty@y.z\nX-Long: one\n two",
    ));
    assert_eq!(
        f.msg(),
        "Date: d\nMessage-ID: <m@x>\nFrom: a@b.c\nTo: x@y.z, y@y.z\nX-Long: one\n two\n"
    );
}

#[test]
fn large_body_is_streamed_intact() {
    let f = Fake::new("inject-large", 0);
    let line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\n";
    let body = line.repeat(100_000);
    let input = format!("{FIXED}From: a@b.c\nTo: a@b.c\n\n{body}");
    ok(&f.inject(&[], &[], &input));
    assert_eq!(f.msg(), input);
}

#[test]
fn mail_followup_to() {
    let f = Fake::new("inject-mft", 0);
    let lists = f.h.path("lists");
    fs::write(&lists, "# my lists\nList@Lists.Example\n").unwrap();
    let env = [("QMAILMFTFILE", lists.to_str().unwrap())];
    let input = format!("{FIXED}From: a@b.c\nTo: list@lists.example, p@b.c\nCc: \"q r\"@b.c\n\n");
    ok(&f.inject(&[], &env, &input));
    assert!(
        f.msg()
            .contains("Mail-Followup-To: \"q r\"@b.c,\n  list@lists.example,\n  p@b.c\n"),
        "{}",
        f.msg()
    );
    // Not when the message has one, nor when no list is addressed.
    let input = format!("{FIXED}From: a@b.c\nTo: list@lists.example\nMail-Followup-To: x@b.c\n\n");
    ok(&f.inject(&[], &env, &input));
    assert_eq!(f.msg().matches("Mail-Followup-To").count(), 1);
    ok(&f.inject(&[], &env, &format!("{FIXED}From: a@b.c\nTo: p@b.c\n\n")));
    assert!(!f.msg().contains("Mail-Followup-To"));
}

#[test]
fn print_only_with_n() {
    let f = Fake::new("inject-n", 0);
    let o = f.inject(
        &["-n", "-f", "a b@x.example", "r@x.example"],
        &[],
        &format!("{FIXED}From: a@b.c\nBcc: z@b.c\n\nhi\n"),
    );
    ok(&o);
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!(
            "Return-Path: <\"a b\"@x.example>\nCc: recipient list not shown: ;\n{FIXED}From: a@b.c\n\nhi\n"
        )
    );
    assert!(!f.saved_envelope());
}

#[test]
fn queue_failures() {
    let cases = [
        (53, 111, "qq write error or disk full (#4.3.0)"),
        (31, 100, "mail server permanently rejected message (#5.3.0)"),
        (11, 100, "envelope address too long for qq (#5.1.3)"),
        (81, 111, "qq internal bug (#4.3.0)"),
    ];
    for (qcode, code, text) in cases {
        let f = Fake::new("inject-qqfail", qcode);
        let o = f.inject(&["a@b.c"], &[], FIXED);
        assert_eq!(o.status.code(), Some(code), "{qcode}");
        assert_eq!(err(&o), format!("qmail-inject: fatal: {text}\n"));
    }
    let f = Fake::new("inject-noqq", 0);
    let mut c = f.h.cmd("qmail-inject");
    c.env("QMAILQUEUE", f.h.path("missing")).arg("a@b.c");
    let o = run_with_input(&mut c, FIXED.as_bytes());
    assert_eq!(o.status.code(), Some(111));
    assert_eq!(err(&o), "qmail-inject: fatal: unable to run qmail-queue\n");
}

#[test]
fn bad_input() {
    let f = Fake::new("inject-bad", 0);
    let o = f.inject(&[], &[], "To: a@b.c (open\nSubject: x\n\n");
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(
        err(&o),
        "qmail-inject: fatal: unable to parse this line:\nTo: a@b.c (open\n"
    );
    let o = f.inject(&[], &[], "Cc: a>\n\n");
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(
        err(&o),
        "qmail-inject: fatal: unable to parse this line:\nCc: a>\n"
    );
    let o = f.inject(&["x@(y"], &[], FIXED);
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(
        err(&o),
        "qmail-inject: fatal: unable to parse address: x@(y\n"
    );
    let o = f.inject(&["-f", "x@[y"], &[], FIXED);
    assert_eq!(o.status.code(), Some(100));
    let o = f.inject(&["-z"], &[], FIXED);
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(err(&o), "qmail-inject: illegal option -- z\n");
    let o = f.inject(&["-f"], &[], FIXED);
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(err(&o), "qmail-inject: option requires an argument -- f\n");
    assert!(!f.saved_envelope());
}

#[test]
fn unreadable_control_is_temporary() {
    // A directory in place of the file: unreadable even for root.
    let f = Fake::new("inject-ctlerr", 0);
    fs::create_dir(f.h.path("control/defaulthost")).unwrap();
    let o = f.inject(&["nohost"], &[], FIXED);
    assert_eq!(o.status.code(), Some(111), "{}", err(&o));
    assert!(err(&o).starts_with("qmail-inject: fatal: unable to read controls: "));
    // Not needed, not read: a full address works.
    let input = format!("{FIXED}From: f@x.example\n");
    ok(&f.inject(&["-f", "s@x.example", "a@b.example"], &[], &input));
}

#[test]
fn sendmail_passes_options_to_qmail_inject() {
    let f = Fake::new("sendmail-t", 0);
    let input = format!("{FIXED}To: h@x.example\nSubject: s\n\nbody\n");
    let o = f.run(
        "sendmail",
        &[
            "-t",
            "-i",
            "-oi",
            "-oem",
            "-B8BITMIME",
            "-Ffull name",
            "-f",
            "Me@Host.Example",
            "a@x.example",
        ],
        &[("NAME", "dropped"), ("QMAILHOST", "dropped.example")],
        &input,
    );
    ok(&o);
    assert_eq!(f.env(), "FMe@Host.Example|Ta@x.example|Th@x.example||");
    assert!(
        f.msg().contains("From: \"full name\" <Me@Host.Example>\n"),
        "{}",
        f.msg()
    );

    // Without -t the header is not used for recipients.
    ok(&f.run("sendmail", &["-f", "me", "a@x.example"], &[], &input));
    assert_eq!(f.env(), "Fme@me.example|Ta@x.example||");
    assert!(f.msg().contains("From: me@me.example\n"), "{}", f.msg());
    // Arguments that look like options after the recipients stay recipients.
    ok(&f.run("sendmail", &["a@x.example", "-b"], &[("USER", "u")], &input));
    assert_eq!(f.env(), "Fu@me.example|Ta@x.example|T-b@me.example||");
}

#[test]
fn sendmail_modes_and_errors() {
    let f = Fake::new("sendmail-modes", 0);
    let stub = |name: &str| {
        let p = f.h.path(&format!("bin/{name}"));
        let _ = fs::remove_file(&p);
        fs::write(
            &p,
            format!("#!/bin/sh\necho \"{name} $PWD $# $RELAYCLIENT-$TCPREMOTEINFO\"\n"),
        )
        .unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    };
    stub("qmail-qread");
    stub("qmail-smtpd");
    let home = f.h.dir.display().to_string();
    let o = f.run("sendmail", &["-bp"], &[], "");
    ok(&o);
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!("qmail-qread {home} 0 -\n")
    );
    let o = f.run("sendmail", &["-bs"], &[], "");
    ok(&o);
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!("qmail-smtpd {home} 0 -sendmail-bs\n")
    );
    let o = f.run("sendmail", &["-bs"], &[("PROTO", "TCP")], "");
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!("qmail-smtpd {home} 0 -\n")
    );

    // Called as mailq or newaliases.
    let called = |name: &str| {
        let link = f.h.path(name);
        std::os::unix::fs::symlink(bin("sendmail"), &link).unwrap();
        let mut c = std::process::Command::new(&link);
        c.env("QMAILHOME", &f.h.dir);
        run_with_input(&mut c, b"")
    };
    let o = called("mailq");
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!("qmail-qread {home} 0 -\n")
    );

    let o = called("newaliases");
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(
        err(&o),
        "sendmail: fatal: please use fastforward/newaliases instead\n"
    );

    // A queue run is accepted and does nothing.
    let o = f.run("sendmail", &["-q15m"], &[], "");
    ok(&o);
    assert!(!f.saved_envelope());

    let usage =
        "sendmail: usage: sendmail [ -t ] [ -fsender ] [ -Fname ] [ -bp ] [ -bs ] [ arg ... ]\n";
    let o = f.run("sendmail", &["-N", "x"], &[], "");
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(err(&o), format!("sendmail: illegal option -- N\n{usage}"));
    let o = f.run("sendmail", &["-bx"], &[], "");
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(err(&o), usage);
    assert!(!f.saved_envelope());
}

#[test]
fn sendmail_without_home() {
    let f = Fake::new("sendmail-nohome", 0);
    let mut c = f.h.cmd("sendmail");
    c.env("QMAILHOME", f.h.path("nowhere")).arg("a@b.c");
    let o = run_with_input(&mut c, b"");
    assert_eq!(o.status.code(), Some(111));
    assert_eq!(
        err(&o),
        "sendmail: fatal: unable to switch to qmail home directory\n"
    );
}

#[test]
fn body_memory_is_bounded() {
    // 64 MiB of body through qmail-inject limited to 32 MiB of address
    // space: only a streamed body fits.
    let f = Fake::new("inject-stream", 0);
    let count = f.h.path("count-queue");
    let script = format!(
        "#!/bin/sh\nwc -c > '{d}/size' && cat <&1 > '{d}/env'\n",
        d = f.h.dir.display()
    );
    fs::write(&count, script).unwrap();
    fs::set_permissions(&count, fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = std::process::Command::new("/bin/sh");
    c.env_clear()
        .env("QMAILHOME", &f.h.dir)
        .env("QMAILQUEUE", &count)
        .args([
            "-c",
            "ulimit -v 32768 && exec \"$0\" -f s@x.example r@x.example",
            bin("qmail-inject").to_str().unwrap(),
        ]);
    let body = vec![b'x'; 1023]
        .into_iter()
        .chain([b'\n'])
        .cycle()
        .take(64 << 20);
    let input: Vec<u8> = FIXED
        .bytes()
        .chain("From: a@b.c\nTo: r@x.example\n\n".bytes())
        .chain(body)
        .collect();
    let o = run_with_input(&mut c, &input);
    ok(&o);
    let size: usize = fs::read_to_string(f.h.path("size"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(size, input.len());
    assert_eq!(f.env(), "Fs@x.example|Tr@x.example||");
}

#[test]
fn real_qmail_queue_gets_message_and_envelope() {
    let h = QmailHome::new("inject-real-queue");
    h.control("me", "me.example\n");
    let input = format!("{FIXED}From: a@b.example\nTo: Fred <fred>\n\nhello\n");
    let o = run_with_input(
        h.cmd("sendmail").args(["-t", "-f", "s@x.example"]),
        input.as_bytes(),
    );
    ok(&o);
    let only = |dir: &str| {
        let top = h.path("queue").join(dir);
        let mut files = Vec::new();
        for d in list(&top) {
            for f in list(&top.join(&d)) {
                files.push(top.join(&d).join(f));
            }
        }
        assert_eq!(files.len(), 1, "{dir}: {files:?}");
        fs::read(&files[0]).unwrap()
    };
    let mess = String::from_utf8(only("mess")).unwrap();
    let (received, rest) = mess.split_once('\n').unwrap();
    assert!(received.starts_with("Received: (qmail "), "{received}");
    assert_eq!(
        rest,
        format!("{FIXED}From: a@b.example\nTo: Fred <fred@me.example>\n\nhello\n")
    );
    let todo = String::from_utf8(only("todo")).unwrap();
    assert!(
        todo.ends_with("\0Fs@x.example\0Tfred@me.example\0"),
        "{todo:?}"
    );
}

/// A flood of header recipients is refused with 100 before it costs
/// unbounded memory; nothing is queued.
#[test]
fn recipient_flood_is_bounded() {
    let f = Fake::new("inject-flood", 0);
    let mut msg = String::new();
    for field in 0..2100 {
        let addrs: Vec<String> = (0..50).map(|i| format!("u{field}x{i}@x.example")).collect();
        msg.push_str(&format!("To: {}\n", addrs.join(", ")));
    }
    msg.push_str("\nbody\n");
    let o = f.inject(&[], &[], &msg);
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(
        err(&o),
        "qmail-inject: fatal: too many recipients (more than 100000)\n"
    );
    assert!(!f.saved_envelope());
    // One endless field, continued line after line.
    let mut msg = String::from("To: a@x.example");
    for i in 0..80_000 {
        msg.push_str(&format!(",\n  b{i}@x.example"));
    }
    msg.push_str("\n\nbody\n");
    let o = f.inject(&[], &[], &msg);
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(err(&o), "qmail-inject: fatal: header field too long\n");
    assert!(!f.saved_envelope());
}

/// A line break in an envelope address from the command line is refused:
/// it would start a header line of its own (`-n` printed one).
#[test]
fn line_break_in_argument_addresses_is_refused() {
    let f = Fake::new("inject-linebreak", 0);
    for args in [&["-f", "a\nBcc: evil@x.y", "joe@x.y"][..], &["jo\r\ne@x.y"]] {
        let o = f.inject(args, &[], "Subject: x\n\nbody\n");
        assert_eq!(o.status.code(), Some(100));
        let e = err(&o);
        assert!(
            e.starts_with("qmail-inject: fatal: address with a line break: "),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(!f.saved_envelope(), "nothing queued");
    }
}
