//! qmail-users: users/assign → qmail-newu → users/cdb → lookup, and the
//! programs qmail-getpw and qmail-pw2u.

use std::fs;

use sqmail::users::{Assignment, lookup};

use crate::common::*;

const ASSIGN: &str = "\
=joe:joe:1001:101:/h/joe:::
+joe-:joe:1001:101:/h/joe:-::
=Mixed:mix:1002:102:/h/mix:-:box:
+list.:lists:1003:103:/h/lists:-:pre-:
=joe:second:9:9:/h/dup:::
+:alias:1004:104:/h/alias:-::
.
";

fn a(user: &str, uid: u32, home: &str, dash: &str, ext: &str) -> Assignment {
    Assignment {
        user: user.into(),
        uid,
        gid: uid - 900,
        home: home.into(),
        dash: dash.into(),
        ext: ext.into(),
    }
}

#[test]
fn assign_newu_lookup() {
    let h = QmailHome::new("users-lookup");
    fs::write(h.path("users/assign"), ASSIGN).unwrap();
    let o = h.run::<&str>("qmail-newu", &[], b"");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = [
        ("joe", a("joe", 1001, "/h/joe", "", "")),
        ("JOE", a("joe", 1001, "/h/joe", "", "")),
        ("joe-Ext-x", a("joe", 1001, "/h/joe", "-", "Ext-x")),
        ("joe-", a("joe", 1001, "/h/joe", "-", "")),
        ("mixed", a("mix", 1002, "/h/mix", "-", "box")),
        ("list.Foo", a("lists", 1003, "/h/lists", "-", "pre-Foo")),
        ("list.", a("lists", 1003, "/h/lists", "-", "pre-")),
        // Not a wildcard match: "joex" does not end a +joe- prefix.
        ("joex", a("alias", 1004, "/h/alias", "-", "joex")),
        ("Somebody", a("alias", 1004, "/h/alias", "-", "Somebody")),
        ("", a("alias", 1004, "/h/alias", "-", "")),
    ];
    for (local, want) in rows {
        assert_eq!(lookup(&h.dir, local), Ok(want), "{local}");
    }
}

/// Without a catch-all, an unknown address falls through to qmail-getpw's
/// rules (in private mode: the alias directory, checked through the
/// qmail-getpw program below, which runs with QMAILHOME set).
#[test]
fn without_catch_all_falls_through_to_getpw() {
    let h = QmailHome::new("users-fallthrough");
    fs::write(h.path("users/assign"), "=joe:joe:1001:101:/h/joe:::\n.\n").unwrap();
    assert!(h.run::<&str>("qmail-newu", &[], b"").status.success());
    assert_eq!(lookup(&h.dir, "joe"), Ok(a("joe", 1001, "/h/joe", "", "")));
    let fallback = sqmail::users::getpw(&h.dir, "Nobody-Else");
    assert_eq!(lookup(&h.dir, "Nobody-Else"), fallback);
    // No users/cdb at all: the same.
    fs::remove_file(h.path("users/cdb")).unwrap();
    assert_eq!(lookup(&h.dir, "joe"), sqmail::users::getpw(&h.dir, "joe"));
    // An unreadable users/cdb is trouble, not a fall-through.
    fs::create_dir(h.path("users/cdb")).unwrap();
    assert_eq!(lookup(&h.dir, "joe"), Err(117));
}

#[test]
fn newu_format_errors_keep_old_cdb() {
    let h = QmailHome::new("users-newu-bad");
    fs::write(h.path("users/assign"), ASSIGN).unwrap();
    assert!(h.run::<&str>("qmail-newu", &[], b"").status.success());
    let before = fs::read(h.path("users/cdb")).unwrap();
    for bad in [
        "=joe:joe:1001:101:/h/joe::\n.\n",
        "=joe:joe:1001:101:/h/joe:::\n",
        ":joe:1001:101:/h/joe:::\n.\n",
        "=joe\n.\n",
        "=jo\0e:joe:1:2:/h:::\n.\n",
    ] {
        fs::write(h.path("users/assign"), bad).unwrap();
        let o = h.run::<&str>("qmail-newu", &[], b"");
        assert_eq!(o.status.code(), Some(111), "{bad:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with("qmail-newu: fatal: "), "{err}");
        assert_eq!(fs::read(h.path("users/cdb")).unwrap(), before, "{bad:?}");
    }
    fs::remove_file(h.path("users/assign")).unwrap();
    assert_eq!(
        h.run::<&str>("qmail-newu", &[], b"").status.code(),
        Some(111)
    );
    assert_eq!(fs::read(h.path("users/cdb")).unwrap(), before);
}

#[test]
fn getpw_output_and_codes() {
    let h = QmailHome::new("users-getpw");
    let o = h.run("qmail-getpw", &["Some-Body"], b"");
    assert_eq!(o.status.code(), Some(0));
    let want = format!(
        "alias\0{}\0{}\0{}\0-\0Some-Body\0",
        sqmail::sys::getuid(),
        sqmail::sys::getgid(),
        h.path("alias").display()
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), want);
    let o = h.run::<&str>("qmail-getpw", &[], b"");
    assert_eq!(o.status.code(), Some(100));
    assert!(o.stdout.is_empty());
}

/// qmail-pw2u: one passwd input, several option sets and users/ files.
#[test]
fn pw2u_rows() {
    let h = QmailHome::new("users-pw2u");
    let me = sqmail::sys::getuid();
    let mine = h.path("homes/mine");
    fs::create_dir_all(&mine).unwrap();
    // Owned by the test runner: kept by -o only if the entry's uid is ours.
    let passwd = format!(
        "root:x:0:0:root:/root:/bin/sh\n\
         alias:x:7790:2108::/var/qmail/alias:/bin/true\n\
         joe:x:1001:100:Joe:/home/joe:/bin/sh\n\
         Upper:x:1002:100::/home/upper:/bin/sh\n\
         mine:x:{me}:100::{}:/bin/sh\n\
         short:x:1003\n",
        mine.display()
    );
    let run = |args: &[&str]| {
        let o = h.run("qmail-pw2u", args, passwd.as_bytes());
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let alias = "+:alias:7790:2108:/var/qmail/alias:-::\n=alias:alias:7790:2108:/var/qmail/alias:::\n+alias-:alias:7790:2108:/var/qmail/alias:-::\n";
    let joe = "=joe:joe:1001:100:/home/joe:::\n+joe-:joe:1001:100:/home/joe:-::\n";
    let (code, out) = run(&["-H"]);
    assert_eq!(code, Some(0));
    let mine_lines = if me == 0 {
        String::new()
    } else {
        format!(
            "=mine:mine:{me}:100:{0}:::\n+mine-:mine:{me}:100:{0}:-::\n",
            mine.display()
        )
    };
    assert_eq!(out, format!("{alias}{joe}{mine_lines}.\n"));
    // -u admits upper case; -C no extensions; -c sets the delimiter; -/.
    let (_, out) = run(&["-Hu", "-C"]);
    assert!(
        out.contains("=Upper:Upper:1002:100:/home/upper:::\n") && !out.contains("+joe"),
        "{out}"
    );
    let (_, out) = run(&["-H", "-c", "+"]);
    assert!(out.contains("+joe+:joe:1001:100:/home/joe:-::\n"), "{out}");
    let (_, out) = run(&["-H/"]);
    assert!(out.contains("+joe-:joe:1001:100:/home/joe:-/::\n"), "{out}");
    // -o (default): homes that are missing or not the user's are skipped.
    let (code, out) = run(&[]);
    if me != 0 {
        assert_eq!(
            (code, out),
            (Some(111), String::new()),
            "alias home missing"
        );
    }
    // -h: a missing home is fatal.
    let (code, _) = run(&["-h"]);
    assert_eq!(code, Some(111));
    // users/ files: include, exclude, mailnames, subusers, append.
    fs::write(h.path("users/mailnames"), "joe:joseph:jo\n").unwrap();
    fs::write(h.path("users/subusers"), "sub:joe:pre:\n").unwrap();
    fs::write(h.path("users/append"), "=extra:joe:1:1:/x:::\n").unwrap();
    fs::write(h.path("users/exclude"), "# nobody\nmine\n").unwrap();
    let (code, out) = run(&["-H"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        out,
        format!(
            "{alias}=joseph:joe:1001:100:/home/joe:::\n+joseph-:joe:1001:100:/home/joe:-::\n\
             =jo:joe:1001:100:/home/joe:::\n+jo-:joe:1001:100:/home/joe:-::\n\
             =sub:joe:1001:100:/home/joe:-:pre:\n+sub-:joe:1001:100:/home/joe:-:pre-:\n\
             =extra:joe:1:1:/x:::\n.\n"
        )
    );
    fs::write(h.path("users/include"), "joe\n").unwrap();
    let (code, out) = run(&["-H"]);
    assert_eq!(
        (code, out),
        (Some(111), String::new()),
        "alias not included"
    );
    fs::write(h.path("users/subusers"), "sub:nobody:pre:\n").unwrap();
    fs::write(h.path("users/include"), "joe\nalias\n").unwrap();
    assert_eq!(run(&["-H"]).0, Some(111), "unknown subuser owner");
}

/// users/cdb is a standard cdb: tinycdb's `cdb -d` reads the records
/// qmail-newu wrote, in file order, wildchars last.
#[test]
fn newu_cdb_reads_with_tinycdb() {
    let h = QmailHome::new("users-tinycdb");
    fs::write(
        h.path("users/assign"),
        "=Joe:joe:1:2:/h:::\n+joe-:joe:1:2:/h:-::\n.\n",
    )
    .unwrap();
    assert!(h.run::<&str>("qmail-newu", &[], b"").status.success());
    let Ok(o) = std::process::Command::new("cdb")
        .arg("-d")
        .arg(h.path("users/cdb"))
        .output()
    else {
        return crate::common::skip("tinycdb's cdb not installed (package/testdeps)");
    };
    assert!(o.status.success());
    assert_eq!(
        o.stdout,
        b"+5,12:!joe\0->joe\x001\x002\0/h\0\0\n+5,13:!joe-->joe\x001\x002\0/h\0-\0\n+0,1:->-\n\n"
    );
}
