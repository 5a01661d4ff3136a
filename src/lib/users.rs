//! Who owns a local address: `users/cdb` (built from `users/assign` by
//! qmail-newu), else qmail-getpw's passwd rules (qmail-getpw(8),
//! qmail-users(5)).
//!
//! Everything runs in-process: qmail-lspawn calls `lookup` once per
//! delivery, so it costs a few `pread`s on users/cdb and, without a match,
//! one read of /etc/passwd (never NSS).

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::cdb::{Cdb, CdbMaker};
use crate::{auto, home, passwd, sys};

/// One answer: the six fields qmail-lspawn hands to qmail-local.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub dash: String,
    pub ext: String,
}

impl Assignment {
    /// qmail-getpw's output: the six fields, each followed by a NUL.
    pub fn to_getpw_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        for f in [
            self.user.as_str(),
            &self.uid.to_string(),
            &self.gid.to_string(),
            &self.home,
            &self.dash,
            &self.ext,
        ] {
            v.extend_from_slice(f.as_bytes());
            v.push(0);
        }
        v
    }
}

/// users/cdb exists but cannot be read.
pub const ERR_CDB: i32 = 117;
/// A home directory could not be checked (qmail's "NFS failure").
pub const ERR_NFS: i32 = 115;
/// No `alias` account.
pub const ERR_NOALIAS: i32 = 116;
/// /etc/passwd could not be read.
pub const ERR_SYS: i32 = 111;

/// Looks up `local` (the recipient's local part, case preserved). The error
/// is qmail-getpw's exit code (111 temporary, 115 NFS/stat, 116 no alias
/// user, 117 users/cdb unreadable, ...), which qmail-lspawn turns into its
/// fixed report text.
pub fn lookup(qmail_home: &Path, local: &str) -> Result<Assignment, i32> {
    match lookup_cdb(&qmail_home.join("users/cdb"), local)? {
        Some(a) => Ok(a),
        None => getpw(qmail_home, local),
    }
}

/// The qmail-users lookup in one cdb: the exact address, then wildcard
/// prefixes from the longest, each only where it ends in a wildchar (or is
/// the empty catch-all). `Ok(None)`: no cdb, or no entry.
pub fn lookup_cdb(path: &Path, local: &str) -> Result<Option<Assignment>, i32> {
    let cdb = match Cdb::open_optional(path) {
        Ok(Some(c)) => c,
        Ok(None) => return Ok(None),
        Err(_) => return Err(ERR_CDB),
    };
    let get = |k: &[u8]| cdb.get(k).map_err(|_| ERR_CDB);
    let wildchars = get(b"")?.ok_or(ERR_CDB)?;
    let mut key = Vec::with_capacity(local.len() + 2);
    key.push(b'!');
    key.extend(local.bytes().map(|b| b.to_ascii_lowercase()));
    key.push(0);
    if let Some(d) = get(&key)? {
        return parse_data(&d, "").map(Some);
    }
    for i in (1..key.len()).rev() {
        if i != 1 && !wildchars.contains(&key[i - 1]) {
            continue;
        }
        if let Some(d) = get(&key[..i])? {
            return parse_data(&d, local.get(i - 1..).ok_or(ERR_CDB)?).map(Some);
        }
    }
    Ok(None)
}

/// `user\0uid\0gid\0home\0dash\0ext`, with `rest` appended to ext.
fn parse_data(d: &[u8], rest: &str) -> Result<Assignment, i32> {
    let d = String::from_utf8_lossy(d);
    let f: Vec<&str> = d.split('\0').collect();
    let [user, uid, gid, home, dash, ext] = f[..] else {
        return Err(ERR_CDB);
    };
    Ok(Assignment {
        user: user.into(),
        uid: uid.parse().map_err(|_| ERR_CDB)?,
        gid: gid.parse().map_err(|_| ERR_CDB)?,
        home: home.into(),
        dash: dash.into(),
        ext: format!("{ext}{rest}"),
    })
}

/// Candidate user names are shorter than this (qmail's GETPW_USERLEN).
const USERLEN: usize = 32;

/// qmail-getpw's rules: the whole local part, then each prefix ending
/// before a break character (longest first), lower-cased, must be an
/// account with uid ≠ 0 whose home directory exists and is its own; else
/// the `alias` account with dash `-` and ext = local. In private mode
/// /etc/passwd is not read: everything goes to the alias user, which is the
/// invoking user with home `QMAILHOME/alias`.
pub fn getpw(qmail_home: &Path, local: &str) -> Result<Assignment, i32> {
    if home::private_mode() {
        return Ok(Assignment {
            user: auto::USER_ALIAS.into(),
            uid: sys::getuid(),
            gid: sys::getgid(),
            home: qmail_home.join("alias").to_string_lossy().into_owned(),
            dash: "-".into(),
            ext: local.into(),
        });
    }
    // One read of /etc/passwd; each candidate is a scan of its lines.
    let text = match std::fs::read("/etc/passwd") {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(_) => return Err(ERR_SYS),
    };
    getpw_from(&text, local)
}

/// qmail-getpw's rules on the text of a passwd file.
pub fn getpw_from(text: &str, local: &str) -> Result<Assignment, i32> {
    let by_name = |n: &str| {
        text.lines()
            .filter(|l| l.strip_prefix(n).is_some_and(|r| r.starts_with(':')))
            .find_map(passwd::parse_passwd_line)
    };
    let b = local.as_bytes();
    for end in (0..=b.len()).rev() {
        if end >= USERLEN || (end < b.len() && b[end] != auto::BREAK) {
            continue;
        }
        let name = local[..end].to_ascii_lowercase();
        let Some(pw) = by_name(&name) else {
            continue;
        };
        if pw.uid == 0 {
            continue;
        }
        match std::fs::metadata(&pw.dir) {
            Ok(st) if st.uid() == pw.uid => {
                let (dash, ext) = if end < b.len() {
                    ("-", &local[end + 1..])
                } else {
                    ("", "")
                };
                return Ok(Assignment {
                    user: pw.name,
                    uid: pw.uid,
                    gid: pw.gid,
                    home: pw.dir,
                    dash: dash.into(),
                    ext: ext.into(),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(_) => return Err(ERR_NFS),
        }
    }
    let pw = by_name(auto::USER_ALIAS).ok_or(ERR_NOALIAS)?;
    Ok(Assignment {
        user: pw.name,
        uid: pw.uid,
        gid: pw.gid,
        home: pw.dir,
        dash: "-".into(),
        ext: local.into(),
    })
}

/// A users/assign file that qmail-newu cannot accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError(pub String);

/// One users/cdb record: key and data.
pub type Record = (Vec<u8>, Vec<u8>);

/// The cdb records of a users/assign file, in file order, the wildchars
/// record (empty key) last.
pub fn parse_assign(text: &[u8]) -> Result<Vec<Record>, FormatError> {
    let mut out = Vec::new();
    let mut wildchars = Vec::new();
    let mut rest = text;
    loop {
        let (line, terminated) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let l = &rest[..i];
                rest = &rest[i + 1..];
                (l, true)
            }
            None => (std::mem::take(&mut rest), false),
        };
        if line.first() == Some(&b'.') {
            break;
        }
        let bad = || {
            FormatError(format!(
                "unable to parse this line: {}",
                String::from_utf8_lossy(line)
            ))
        };
        if !terminated || line.contains(&0) {
            return Err(bad());
        }
        let colon = line.iter().position(|&b| b == b':').ok_or_else(bad)?;
        if colon == 0 {
            return Err(bad());
        }
        let mut key = vec![b'!'];
        key.extend(line[1..colon].iter().map(u8::to_ascii_lowercase));
        if line[0] == b'+' {
            if colon >= 2 {
                let w = line[colon - 1].to_ascii_lowercase();
                if !wildchars.contains(&w) {
                    wildchars.push(w);
                }
            }
        } else {
            key.push(0);
        }
        let mut data = line[colon + 1..].to_vec();
        let mut colons = 0;
        let mut end = data.len();
        for (i, b) in data.iter_mut().enumerate() {
            if *b == b':' {
                *b = 0;
                colons += 1;
                if colons == 6 {
                    end = i;
                    break;
                }
            }
        }
        if colons < 6 {
            return Err(bad());
        }
        data.truncate(end);
        out.push((key, data));
    }
    out.push((Vec::new(), wildchars));
    Ok(out)
}

/// qmail-newu's work: users/assign → users/cdb (via users/cdb.tmp, fsynced,
/// renamed). On a format error nothing is written.
pub fn build_cdb(qmail_home: &Path) -> Result<(), String> {
    let users = qmail_home.join("users");
    let text = std::fs::read(users.join("assign"))
        .map_err(|e| format!("unable to read users/assign: {e}"))?;
    let records = parse_assign(&text).map_err(|e| e.0)?;
    let write = || -> io::Result<()> {
        let mut m = CdbMaker::create(&users.join("cdb.tmp"), &users.join("cdb"))?;
        for (k, d) in &records {
            m.add(k, d)?;
        }
        m.finish()
    };
    write().map_err(|e| format!("unable to write users/cdb: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assign_records() {
        let r = parse_assign(
            b"=Joe:joe:1:2:/h/joe:::\n+joe-:joe:1:2:/h/joe:-::x\n+:alias:3:4:/a:-::\n.\n",
        )
        .unwrap();
        assert_eq!(
            r[0],
            (b"!joe\0".to_vec(), b"joe\x001\x002\x00/h/joe\0\0".to_vec())
        );
        assert_eq!(
            r[1],
            (b"!joe-".to_vec(), b"joe\x001\x002\x00/h/joe\0-\0".to_vec())
        );
        assert_eq!(r[2].0, b"!");
        assert_eq!(r[3], (Vec::new(), b"-".to_vec()));
        for bad in [
            &b"=joe:joe:1:2:/h:::\n"[..],
            b"=joe:joe:1:2:/h::\n.\n",
            b":joe:1:2:/h:::\n.\n",
            b"=joe\n.\n",
            b"=joe:joe:1:2:/h:::",
            b"=jo\0e:joe:1:2:/h:::\n.\n",
        ] {
            assert!(parse_assign(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn getpw_rules() {
        use std::os::unix::fs::PermissionsExt;
        let d = std::env::temp_dir().join(format!("sqmail-getpw-{}", std::process::id()));
        let (mine, other) = (d.join("mine"), d.join("other"));
        std::fs::create_dir_all(&mine).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        // The accounts' uid must own `mine` and be non-zero.
        let uid = match sys::getuid() {
            0 => {
                sys::chown(&mine, Some(4242), None).unwrap();
                4242
            }
            u => u,
        };
        let other_uid = uid + 1;
        let text = format!(
            "root:x:0:0::/:/bin/sh\n\
             joe:x:{uid}:7::{m}:/bin/sh\n\
             joe-a:x:{uid}:8::{m}:/bin/sh\n\
             stranger:x:{other_uid}:7::{o}:/bin/sh\n\
             nohome:x:{uid}:7::{d}/missing:/bin/sh\n\
             alias:x:{uid}:9::{d}:/bin/sh\n",
            m = mine.display(),
            o = other.display(),
            d = d.display()
        );
        let g = |l: &str| {
            let a = getpw_from(&text, l).unwrap();
            (a.user, a.gid, a.dash, a.ext)
        };
        let t = |u: &str, gid, dash: &str, ext: &str| {
            (u.to_string(), gid, dash.to_string(), ext.to_string())
        };
        assert_eq!(g("joe"), t("joe", 7, "", ""));
        assert_eq!(g("Joe-Foo-Bar"), t("joe", 7, "-", "Foo-Bar"));
        assert_eq!(
            g("joe-a-b"),
            t("joe-a", 8, "-", "b"),
            "longest prefix first"
        );
        assert_eq!(
            g("stranger"),
            t("alias", 9, "-", "stranger"),
            "home not its own"
        );
        assert_eq!(
            g("nohome-x"),
            t("alias", 9, "-", "nohome-x"),
            "home missing"
        );
        assert_eq!(g("root"), t("alias", 9, "-", "root"), "uid 0");
        let long = format!("{}-x", "j".repeat(40));
        assert_eq!(g(&long).0, "alias");
        assert_eq!(
            getpw_from("joe:x:1:1::/nonexistent:/bin/sh\n", "x"),
            Err(ERR_NOALIAS)
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn cdb_wildcards() {
        let d = std::env::temp_dir().join(format!("sqmail-users-{}", std::process::id()));
        std::fs::create_dir_all(d.join("users")).unwrap();
        std::fs::write(
            d.join("users/assign"),
            "=joe:joe:1:2:/h/joe:::\n+joe-:joe:1:2:/h/joe:-::\n+list.:l:5:6:/l:-:pre-:\n+:alias:3:4:/a:-::\n.\n",
        )
        .unwrap();
        build_cdb(&d).unwrap();
        let cdb = d.join("users/cdb");
        let l = |x: &str| lookup_cdb(&cdb, x).unwrap().unwrap();
        assert_eq!((l("JOE").user.as_str(), l("JOE").ext.as_str()), ("joe", ""));
        assert_eq!(
            (l("Joe-Foo").dash.as_str(), l("Joe-Foo").ext.as_str()),
            ("-", "Foo")
        );
        assert_eq!(l("list.Bar").ext, "pre-Bar");
        assert_eq!(
            (l("nobody").user.as_str(), l("nobody").ext.as_str()),
            ("alias", "nobody")
        );
        assert_eq!(l("joex").user, "alias");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
