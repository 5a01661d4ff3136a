//! README's worked virtual domain ("Running it for real", step 9) in a
//! private home: virtualdomains and a users/assign wildcard deliver
//! USER@example.org by the .qmail files of one directory, control/recipients
//! with qmail-vmailuser -U refuses unknown users at RCPT, and
//! users/authuser's SHA-256 line lets alice authenticate.

use std::fs;

use crate::common::send::Daemon;
use crate::common::smtpd::{b64, check};
use crate::common::tls::sha256;
use crate::common::{QmailHome, bin, list, run_with_input, wait_until};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn readme_virtual_domain_example() {
    let h = QmailHome::new("vdomain");
    h.control("me", "mx.example.com\n");
    h.control("locals", "mx.example.com\nexample.com\n");
    h.control("rcpthosts", "example.com\nexample.org\n");
    h.control("virtualdomains", "example.org:example.org\n");

    // /var/vmail/example.org with a Maildir and a .qmail file per user.
    let vmail = h.dir.parent().unwrap().join("vmail");
    let dom = vmail.join("example.org");
    fs::create_dir_all(&dom).unwrap();
    for u in ["alice", "bob"] {
        let o = run_with_input(
            std::process::Command::new(bin("maildirmake")).arg(dom.join(u)),
            b"",
        );
        assert!(o.status.success());
        fs::write(dom.join(format!(".qmail-{u}")), format!("./{u}/\n")).unwrap();
    }

    // users/assign: example.org-anything belongs to the vmail account.
    let assign = h.path("users/assign");
    let mut a: String = fs::read_to_string(&assign)
        .unwrap()
        .lines()
        .filter(|l| *l != ".")
        .map(|l| format!("{l}\n"))
        .collect();
    let (uid, gid) = (sqmail::sys::getuid(), sqmail::sys::getgid());
    a += &format!("+example.org-:vmail:{uid}:{gid}:{}:-::\n.\n", dom.display());
    fs::write(&assign, a).unwrap();
    assert!(
        h.run("qmail-newu", &[] as &[&str], b"").status.success(),
        "qmail-newu"
    );

    h.control(
        "recipients",
        &format!(
            "example.org|bin/qmail-vmailuser -U {}\n!example.com\n",
            vmail.display()
        ),
    );
    fs::write(
        h.path("users/authuser"),
        format!("alice@example.org:%{}\n", hex(&sha256(b"her secret"))),
    )
    .unwrap();

    let smtpd = |input: &[u8]| {
        let mut c = h.cmd("qmail-smtpd");
        c.env("TCPREMOTEIP", "192.0.2.7")
            .env("TCPLOCALHOST", "mx.example.com")
            .env("TCPLOCALIP", "192.0.2.1")
            .env("SMTPAUTH", "")
            .arg(h.path("bin/qmail-authuser"))
            .arg("true");
        run_with_input(&mut c, input)
    };

    // A stranger: known users pass, an unknown one is refused at RCPT,
    // the Unix domain is not checked.
    let out = smtpd(
        b"HELO client.example\r\nMAIL FROM:<x@client.example>\r\n\
          RCPT TO:<alice@example.org>\r\nRCPT TO:<carol@example.org>\r\n\
          RCPT TO:<Bob@example.org>\r\nRCPT TO:<joe@example.com>\r\n\
          DATA\r\nSubject: vdomain\r\n\r\nhello\r\n.\r\nQUIT\r\n",
    );
    check(
        &out,
        &[
            "220 *",
            "250 *",
            "250 ok",
            "250 ok",
            "550 sorry, no mailbox by that name *",
            "250 ok",
            "250 ok",
            "354 *",
            "250 ok *",
            "221 *",
        ],
    );

    // alice's password, as SHA-256 in users/authuser.
    let auth = |pw: &str| {
        let plain = b64(format!("\0alice@example.org\0{pw}").as_bytes());
        smtpd(format!("EHLO client.example\r\nAUTH PLAIN {plain}\r\nQUIT\r\n").as_bytes())
    };
    let ok = String::from_utf8_lossy(&auth("her secret").stdout).into_owned();
    assert!(ok.contains("\r\n235 "), "{ok}");
    let bad = String::from_utf8_lossy(&auth("guess").stdout).into_owned();
    assert!(bad.contains("\r\n535 "), "{bad}");

    // qmail-send delivers both by the domain directory's .qmail files.
    let d = Daemon::start(&h);
    assert!(
        wait_until(20, || ["alice", "bob"]
            .iter()
            .all(|u| !list(&dom.join(u).join("new")).is_empty())),
        "{}",
        d.log_text()
    );
    let new = dom.join("alice/new");
    let m = fs::read_to_string(new.join(&list(&new)[0])).unwrap();
    assert!(
        m.contains("Delivered-To: example.org-alice@example.org\n"),
        "{m}"
    );
    assert_eq!(d.stop(), 0);
}
