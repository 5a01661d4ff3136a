//! qmail-smtpd's policy programs: qmail-authuser, qmail-vmailuser,
//! qmail-mfrules with LOCALMFCHECK, and the tables' compilers.

use std::fs;
use std::process::Command;

use crate::common::QmailHome;
use crate::common::smtpd::{Smtpd, lines};

/// Runs `prog args` with `block` on fd 3 (through sh) and returns its exit.
fn with_fd3(h: &QmailHome, prog: &str, args: &[&str], block: &[u8], env: &[(&str, &str)]) -> i32 {
    let f = h.path("fd3.in");
    fs::write(&f, block).unwrap();
    let mut c = Command::new("/bin/sh");
    c.env_clear()
        .env("QMAILHOME", &h.dir)
        .env("PATH", "/usr/bin:/bin")
        .current_dir(&h.dir)
        .arg("-c")
        .arg("exec \"$0\" \"$@\" 3<\"$FD3\"")
        .arg(crate::common::bin(prog))
        .args(args)
        .env("FD3", &f);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap().status.code().unwrap_or(-1)
}

#[test]
fn authuser_table() {
    let h = QmailHome::new("authuser-table");
    fs::write(
        h.path("users/authuser"),
        "joe@example.com:secret\n!bad@example.com:x\n@hashed.example:%2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b\nodd@example.com:Q\n",
    )
    .unwrap();
    let au = |block: &[u8], args: &[&str]| with_fd3(&h, "qmail-authuser", args, block, &[]);
    assert_eq!(au(b"joe@example.com\0secret\0\0", &["true"]), 0);
    assert_eq!(au(b"JOE@EXAMPLE.COM\0secret\0", &["true"]), 0);
    assert_eq!(
        au(b"joe@example.com\0secret\0\0", &["false"]),
        1,
        "subprogram decides"
    );
    assert_eq!(au(b"joe@example.com\0wrong\0\0", &["true"]), 1);
    assert_eq!(au(b"nobody@example.com\0secret\0\0", &["true"]), 1);
    assert_eq!(au(b"bad@example.com\0x\0\0", &["true"]), 1);
    assert_eq!(au(b"any@hashed.example\0secret\0\0", &["true"]), 0);
    assert_eq!(
        au(b"odd@example.com\0Q\0\0", &["true"]),
        2,
        "unknown one-character token"
    );
    assert_eq!(au(b"joe@example.com\0secret\0\0", &[]), 2, "no subprogram");
    assert_eq!(au(&[b'x'; 600], &["true"]), 2, "oversized input");
    assert_eq!(au(b"joe@example.com", &["true"]), 2, "malformed input");
    let ch = b"<1.2@mx.example>";
    let digest = sqmail::smtpd::auth::hmac_md5_hex(b"secret", ch);
    let block = [b"joe@example.com\0", digest.as_bytes(), b"\0", ch, b"\0"].concat();
    assert_eq!(au(&block, &["true"]), 0, "CRAM-MD5");
}

/// `=`: Dovecot's doveadm (a fake that records its arguments) decides;
/// `-x service=method` reaches it as its auth_info.
#[test]
fn authuser_dovecot_with_auth_info() {
    let h = QmailHome::new("authuser-dovecot");
    fs::write(h.path("users/authuser"), "@dove.example:=\n").unwrap();
    let fake = h.path("fakebin");
    fs::create_dir_all(&fake).unwrap();
    crate::common::script(
        &fake.join("doveadm"),
        &format!(
            "echo \"$*\" > {}\nfor a; do last=$a; done\n[ \"$last\" = right ]",
            h.path("doveadm.args").display()
        ),
    );
    let path = format!("{}:/usr/bin:/bin", fake.display());
    let env = [("PATH", path.as_str())];
    let au = |args: &[&str], block: &[u8]| with_fd3(&h, "qmail-authuser", args, block, &env);
    let args = || fs::read_to_string(h.path("doveadm.args")).unwrap();
    let with_x = ["-s", "/run/auth", "-x", "service=smtp", "true"];
    assert_eq!(au(&with_x, b"joe@dove.example\0right\0\0"), 0);
    assert_eq!(
        args(),
        "auth test -a /run/auth -x service=smtp joe@dove.example right\n"
    );
    assert_eq!(au(&with_x, b"joe@dove.example\0wrong\0\0"), 1);
    assert_eq!(
        au(&["-s", "/run/auth", "true"], b"joe@dove.example\0right\0\0"),
        0
    );
    assert_eq!(args(), "auth test -a /run/auth joe@dove.example right\n");
    // -x without key=value, or without a subprogram after it: misuse.
    assert_eq!(
        au(
            &["-s", "/s", "-x", "smtp", "true"],
            b"joe@dove.example\0right\0\0"
        ),
        2
    );
    assert_eq!(
        au(
            &["-s", "/s", "-x", "service=smtp"],
            b"joe@dove.example\0right\0\0"
        ),
        2
    );
}

#[test]
fn authuser_system_accounts() {
    let h = QmailHome::new("authuser-system");
    fs::write(h.path("users/authuser"), "*:?\n").unwrap();
    let pw = h.path("passwd");
    let sh = h.path("shadow");
    fs::write(
        &pw,
        "sys:x:1000:1000::/tmp:/bin/sh\nempty:x:1001:1001::/tmp:/bin/sh\n",
    )
    .unwrap();
    // openssl passwd -6 -salt saltsalt secret
    fs::write(
        &sh,
        "sys:$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1:19000::::::\nempty::19000::::::\n",
    )
    .unwrap();
    let env = [
        ("AUTHUSER_PASSWD", pw.to_str().unwrap()),
        ("AUTHUSER_SHADOW", sh.to_str().unwrap()),
    ];
    let au = |block: &[u8]| with_fd3(&h, "qmail-authuser", &["true"], block, &env);
    assert_eq!(au(b"sys\0secret\0\0"), 0);
    assert_eq!(au(b"sys@example.com\0secret\0\0"), 0);
    assert_eq!(au(b"sys\0wrong\0\0"), 1);
    assert_eq!(au(b"ghost\0secret\0\0"), 1);
    assert_eq!(au(b"empty\0x\0\0"), 111, "empty stored hash");
}

#[test]
fn vmailuser() {
    let h = QmailHome::new("vmailuser");
    h.control("virtualdomains", "virt.example:virt\n");
    let vhome = h.path("vhome");
    fs::create_dir_all(vhome.join("virt/users/john:doe")).unwrap();
    fs::create_dir_all(vhome.join("vpopmail/domains/virt/ann")).unwrap();
    let v = vhome.to_str().unwrap();
    let vm = |args: &[&str], block: &[u8]| with_fd3(&h, "qmail-vmailuser", args, block, &[]);
    assert_eq!(vm(&[v], b"John.Doe@Virt.example\0\0\0"), 0);
    assert_eq!(vm(&[v, "-C"], b"John.Doe@virt.example\0\0\0"), 1);
    assert_eq!(vm(&[v, "-P"], b"ann@virt.example\0\0\0"), 0);
    assert_eq!(vm(&[v, "-M"], b"ann@virt.example\0\0\0"), 1);
    assert_eq!(vm(&[v], b"nobody@virt.example\0\0\0"), 1);
    assert_eq!(vm(&[v], b"john.doe@other.example\0\0\0"), 1);
    assert_eq!(vm(&["/nonexistent"], b"a@virt.example\0\0\0"), 2);
    assert_eq!(vm(&[v], &[b'a'; 200]), 2);
    // No local part, or one that would leave the layout: nobody.
    assert_eq!(vm(&[v, "-M"], b"@virt.example\0\0\0"), 1);
    assert_eq!(vm(&[v], b"x/../../john.doe@virt.example\0\0\0"), 1);
    // -U: the prepend user's .qmail files, as qmail-local would use them.
    h.control("virtualdomains", "virt.example:virt\nunix.example:alice\n");
    fs::create_dir_all(vhome.join("alice")).unwrap();
    fs::write(vhome.join("alice/.qmail-bob:smith"), "./Maildir/\n").unwrap();
    fs::write(vhome.join("alice/.qmail-list-default"), "|true\n").unwrap();
    fs::write(vhome.join("alice/.qmail-default"), "|true\n").unwrap();
    assert_eq!(vm(&[v, "-U"], b"Bob.Smith@unix.example\0\0\0"), 0);
    assert_eq!(vm(&[v, "-U"], b"list-request@unix.example\0\0\0"), 0);
    assert_eq!(
        vm(&[v, "-U"], b"carol@unix.example\0\0\0"),
        1,
        "not the catch-all"
    );
    assert_eq!(vm(&[v, "-P"], b"bob.smith@unix.example\0\0\0"), 1);
    assert_eq!(vm(&[v, "-U"], b"john.doe@virt.example\0\0\0"), 1);
    assert_eq!(vm(&[v], b"bob.smith@unix.example\0\0\0"), 0, "all layouts");
}

/// qmail-smtpd asks qmail-vmailuser through control/recipients lines.
#[test]
fn vmailuser_from_recipients_lines() {
    let s = Smtpd::new("vmailuser-smtpd");
    s.h.control("virtualdomains", "example.com:example.com\n");
    let vhome = s.h.path("vhome");
    fs::create_dir_all(vhome.join("vpopmail/domains/example.com/ann")).unwrap();
    fs::create_dir_all(vhome.join("example.com/users/bob")).unwrap();
    let v = vhome.display();
    s.h.control(
        "recipients",
        &format!("@example.com|bin/qmail-vmailuser -P {v}\n*|bin/qmail-vmailuser -M {v}\n"),
    );
    let out = s.run(
        &[],
        b"MAIL FROM:<a@b.org>\r\nRCPT TO:<Ann@example.com>\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<carol@example.com>\r\n",
    );
    let got = lines(&out.stdout);
    assert_eq!(
        got[2..],
        [
            "250 ok",
            "250 ok",
            "550 sorry, no mailbox by that name  (#5.7.1)"
        ],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mailfromrules_and_localmfcheck() {
    let s = Smtpd::new("smtpd-mfrules");
    s.h.control("mailfromrules", "# rules\n192.0.2.&@example.com\n");
    let out = s.h.run::<&str>("qmail-mfrules", &[], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(s.h.path("control/mailfromrules.cdb").exists());
    let env = [("RELAYCLIENT", ""), ("LOCALMFCHECK", "!")];
    let out = s.run(&env, b"MAIL FROM:<a@example.com>\r\nRCPT TO:<x@far.org>\r\nMAIL FROM:<a@other.org>\r\nRCPT TO:<x@far.org>\r\n");
    let l = lines(&out.stdout);
    assert_eq!(l[2], "250 ok");
    assert_eq!(
        l[4],
        "553 sorry, invalid sender address specified  (#5.7.1)"
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("Accept::ORIG::Local_Sender P:ESMTPM "),
        "{log}"
    );
    assert!(log.contains("Reject::ORIG::Invalid_Mailfrom"), "{log}");
    // LOCALMFCHECK='': the sender's domain must be ours (rcpthosts).
    let out = s.run(
        &[("RELAYCLIENT", ""), ("LOCALMFCHECK", "")],
        b"MAIL FROM:<a@other.org>\r\nRCPT TO:<x@far.org>\r\n",
    );
    assert!(lines(&out.stdout)[2].starts_with("553 sorry, invalid sender"));
    // A bad rules line: exit 100 and the line.
    s.h.control("mailfromrules", "&nothing\n");
    let out = s.h.run::<&str>("qmail-mfrules", &[], b"");
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "qmail-mfrules: fatal: unable to parse this line: &nothing\n"
    );
}

#[test]
fn table_compilers_report_errors() {
    let h = QmailHome::new("smtpd-tables");
    let out = h.run::<&str>("qmail-recipients", &[], b"");
    assert_eq!(out.status.code(), Some(111));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("qmail-recipients: fatal: unable to read users/recipients: ")
    );
}

#[test]
fn newmrh_builds_morercpthosts_cdb() {
    let s = Smtpd::new("smtpd-newmrh");
    let out = s.h.run::<&str>("qmail-newmrh", &[], b"");
    assert_eq!(out.status.code(), Some(111));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("qmail-newmrh: fatal: unable to read control/morercpthosts: ")
    );
    s.h.control(
        "morercpthosts",
        "More.Example \t\n# note\n\nsub.far.example\r\n",
    );
    let out = s.h.run::<&str>("qmail-newmrh", &[], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!s.h.path("control/morercpthosts.tmp").exists());
    let c = sqmail::cdb::Cdb::open(&s.h.path("control/morercpthosts.cdb")).unwrap();
    assert_eq!(c.get(b"more.example").unwrap(), Some(Vec::new()));
    assert_eq!(c.get(b"More.Example").unwrap(), None, "keys are lower case");
    assert_eq!(c.get(b"# note").unwrap(), None);
    let out = s.run(
        &[],
        b"MAIL FROM:<a@b.org>\r\nRCPT TO:<x@MORE.example>\r\nRCPT TO:<y@sub.far.example>\r\nRCPT TO:<z@far.example>\r\n",
    );
    let got = lines(&out.stdout);
    assert_eq!(got[2..4], ["250 ok", "250 ok"], "{got:?}");
    assert!(got[4].starts_with("553 "), "{got:?}");
}
