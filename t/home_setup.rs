//! package/home builds a complete private home, and keeps what is there.

use std::fs;

use crate::common::*;

#[test]
fn home_has_queue_control_users() {
    let h = QmailHome::new("home-setup");
    for d in [
        "queue/pid",
        "queue/bounce",
        "queue/lock",
        "control",
        "alias",
        "users",
        "bin",
    ] {
        assert!(h.path(d).is_dir(), "{d} missing");
    }
    for d in ["mess", "intd", "todo", "info", "local", "remote"] {
        assert!(h.path(&format!("queue/{d}/0")).is_dir());
        assert!(h.path(&format!("queue/{d}/22")).is_dir());
    }
    assert_eq!(
        fs::metadata(h.path("queue/lock/tcpto")).unwrap().len(),
        1024
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(
        fs::metadata(h.path("queue/lock/trigger"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(
        fs::read_to_string(h.path("control/defaultdomain")).unwrap(),
        "localhost\n"
    );
    let user = user_name();
    let assign = fs::read_to_string(h.path("users/assign")).unwrap();
    assert!(assign.contains(&format!("={user}:{user}:")), "{assign}");
    assert!(assign.ends_with(".\n"));
    assert!(h.path(&format!("home/{user}/Maildir/new")).is_dir());
    assert!(h.path("bin/qmail-showctl").exists());
    assert!(h.path("users/cdb").is_file(), "qmail-newu did not run");
}

#[test]
fn home_rerun_keeps_mail_and_controls() {
    let h = QmailHome::new("home-rerun");
    let user = user_name();
    let mail = h.path(&format!("home/{user}/Maildir/new/1.x.host"));
    fs::write(&mail, "keep me").unwrap();
    h.control("me", "custom.example\n");
    let out = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/package/home"))
        .arg(&h.dir)
        .env("SQMAIL_BIN", bin_dir())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(fs::read_to_string(&mail).unwrap(), "keep me");
    assert_eq!(
        fs::read_to_string(h.path("control/me")).unwrap(),
        "custom.example\n"
    );
}
