//! package/install: the slashpackage tree and the home, twice in a row.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::Command;

use crate::common::*;

fn install(prefix: &std::path::Path) -> std::process::Output {
    Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/package/install"))
        .env("SQMAIL_PREFIX", prefix)
        .env("SQMAIL_NOIDS", "1")
        .env("SQMAIL_BIN", bin_dir())
        .output()
        .unwrap()
}

fn mode(p: &std::path::Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn install_twice_keeps_controls_and_sets_modes() {
    let prefix = fresh_dir("install");
    let out = install(&prefix);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let version =
        fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/conf-files/version")).unwrap();
    let pkg = prefix.join("package/mail/sqmail");
    assert_eq!(
        fs::read_link(pkg.join("sqmail")).unwrap().to_str().unwrap(),
        format!("sqmail-{}", version.trim())
    );
    let cmd = pkg.join("sqmail/command");
    assert_eq!(mode(&cmd.join("qmail-showctl")), 0o755);
    let home = prefix.join("var/qmail");
    assert_eq!(mode(&home.join("queue")), 0o750);
    assert_eq!(mode(&home.join("queue/intd/0")), 0o700);
    assert!(home.join("queue/mess/22").is_dir());
    assert_eq!(mode(&home.join("queue/lock/trigger")), 0o622);
    assert!(
        fs::metadata(home.join("queue/lock/trigger"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(
        fs::metadata(home.join("queue/lock/tcpto")).unwrap().len(),
        1024
    );
    assert_eq!(mode(&home.join("alias")), 0o2755);
    // A copy, not a link into /package: C qmail's make setup would
    // write through a link.
    assert!(
        fs::symlink_metadata(home.join("bin/qmail-showctl"))
            .unwrap()
            .is_file()
    );
    assert_eq!(
        fs::read(home.join("bin/qmail-showctl")).unwrap(),
        fs::read(cmd.join("qmail-showctl")).unwrap()
    );
    assert_eq!(
        fs::read_to_string(home.join("control/tlsdestinations")).unwrap(),
        "*:\n"
    );
    assert!(prefix.join("usr/local/man/man8/qmail-showctl.8").is_file());

    fs::write(home.join("control/me"), "kept.example\n").unwrap();
    let out = install(&prefix);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read_to_string(home.join("control/me")).unwrap(),
        "kept.example\n"
    );
    fs::remove_dir_all(&prefix).unwrap();
}

#[test]
fn setuid_modes_from_package_modes() {
    let prefix = fresh_dir("install-modes");
    let out = install(&prefix);
    assert!(out.status.success());
    let cmd = prefix.join("package/mail/sqmail/sqmail/command");
    assert_eq!(mode(&cmd.join("qmail-queue")), 0o4711);
    assert_eq!(mode(&cmd.join("qmail-lspawn")), 0o700);
    assert_eq!(mode(&cmd.join("qmail-authuser")), 0o6711);
    assert_eq!(mode(&cmd.join("qmail-send")), 0o711);
    fs::remove_dir_all(&prefix).unwrap();
}
