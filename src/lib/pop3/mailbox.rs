//! The Maildir qmail-pop3d serves (maildir(5)): the messages of new/ and
//! cur/ listed once at the start, oldest first, with their sizes on disk;
//! deletions marked in memory; the UPDATE at QUIT that unlinks the marked
//! messages and moves the others from new/ to cur/. Until QUIT nothing on
//! disk changes, so a client that goes away mid-session (or mid-RETR)
//! leaves the mailbox as it was.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One message as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `new` or `cur`.
    pub sub: &'static str,
    /// The file name in that directory.
    pub name: OsString,
    /// The size on disk, as qmail counts it (LF line ends).
    pub size: u64,
    pub deleted: bool,
}

impl Message {
    /// The path relative to the Maildir.
    pub fn path(&self) -> PathBuf {
        Path::new(self.sub).join(&self.name)
    }

    /// The unique id: the file name up to its `:info` part, which a Maildir
    /// reader may change (flags) while the message stays the same. Bytes
    /// outside RFC 1939's 0x21..0x7E, and `%` itself, as `%XX`.
    pub fn uidl(&self) -> String {
        let base = self.name.as_bytes();
        let base = base.split(|&b| b == b':').next().unwrap_or(base);
        let mut id = String::with_capacity(base.len());
        for &b in base {
            if crate::printable::word(b) && b != b'%' {
                id.push(char::from(b));
            } else {
                id.push_str(&format!("%{b:02X}"));
            }
        }
        id
    }
}

/// The listed Maildir.
#[derive(Debug)]
pub struct Mailbox {
    dir: PathBuf,
    pub messages: Vec<Message>,
}

impl Mailbox {
    /// The messages `messages` of the Maildir `dir`, in this order.
    pub fn new(dir: &Path, messages: Vec<Message>) -> Mailbox {
        Mailbox {
            dir: dir.to_path_buf(),
            messages,
        }
    }

    /// Lists `dir`'s new/ and cur/ (after removing stale tmp/ files):
    /// oldest modification time first, then by name. Dot files and
    /// anything but plain files are left out.
    pub fn scan(dir: &Path) -> io::Result<Mailbox> {
        crate::local::maildir::clean_tmp(dir);
        let mut found = Vec::new();
        for sub in ["new", "cur"] {
            for e in fs::read_dir(dir.join(sub))? {
                let e = e?;
                let name = e.file_name();
                if name.as_bytes().starts_with(b".") {
                    continue;
                }
                let Ok(md) = e.metadata() else { continue };
                if !md.is_file() {
                    continue;
                }
                let m = Message {
                    sub,
                    name,
                    size: md.len(),
                    deleted: false,
                };
                found.push(((md.mtime(), md.mtime_nsec()), m));
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
        Ok(Mailbox::new(
            dir,
            found.into_iter().map(|(_, m)| m).collect(),
        ))
    }

    /// Where message `i` is.
    pub fn path(&self, i: usize) -> PathBuf {
        self.dir.join(self.messages[i].path())
    }

    /// Messages and bytes not marked deleted.
    pub fn stat(&self) -> (usize, u64) {
        self.messages
            .iter()
            .filter(|m| !m.deleted)
            .fold((0, 0), |(n, b), m| (n + 1, b + m.size))
    }

    /// The UPDATE state: unlinks the deleted messages and moves the others
    /// from new/ to cur/ with the `:2,` info of a seen-by-a-reader message.
    /// A message already gone counts as deleted; a failed move is left as
    /// it is (the message is still there). Whether every deletion worked.
    pub fn update(&self) -> bool {
        let mut all = true;
        for m in &self.messages {
            let from = self.dir.join(m.path());
            if m.deleted {
                if let Err(e) = fs::remove_file(&from)
                    && e.kind() != io::ErrorKind::NotFound
                {
                    all = false;
                }
            } else if m.sub == "new" {
                let mut to = m.name.clone().into_vec();
                to.extend_from_slice(b":2,");
                let _ = fs::rename(&from, self.dir.join("cur").join(OsString::from_vec(to)));
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::time::{Duration, SystemTime};

    fn maildir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pop3-mailbox-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        for s in ["new", "cur", "tmp"] {
            fs::create_dir_all(d.join(s)).unwrap();
        }
        d
    }

    fn put(d: &Path, rel: &str, text: &str, age: u64) {
        fs::write(d.join(rel), text).unwrap();
        let t = SystemTime::now() - Duration::from_secs(age);
        File::options()
            .write(true)
            .open(d.join(rel))
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    #[test]
    fn order_sizes_update() {
        let d = maildir("order");
        put(&d, "new/300.a.host", "abc\n", 10);
        put(&d, "cur/100.b.host:2,S", "de\n", 30);
        put(&d, "cur/200.c.host:2,", "f\n", 20);
        put(&d, "cur/.hidden", "x\n", 40);
        fs::create_dir(d.join("cur/subdir")).unwrap();
        let mut mb = Mailbox::scan(&d).unwrap();
        let ids: Vec<String> = mb.messages.iter().map(Message::uidl).collect();
        assert_eq!(ids, ["100.b.host", "200.c.host", "300.a.host"]);
        assert_eq!(mb.stat(), (3, 9));
        mb.messages[1].deleted = true;
        assert_eq!(mb.stat(), (2, 7));
        assert!(mb.update());
        let mut cur: Vec<String> = fs::read_dir(d.join("cur"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        cur.sort();
        assert_eq!(
            cur,
            [".hidden", "100.b.host:2,S", "300.a.host:2,", "subdir"]
        );
        assert_eq!(fs::read_dir(d.join("new")).unwrap().count(), 0);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn odd_names_and_missing_dirs() {
        let m = Message {
            sub: "cur",
            name: OsString::from_vec(b"1 2%\xff:2,S".to_vec()),
            size: 0,
            deleted: false,
        };
        assert_eq!(m.uidl(), "1%202%25%FF");
        let d = maildir("missing");
        fs::remove_dir(d.join("cur")).unwrap();
        assert!(Mailbox::scan(&d).is_err());
        fs::remove_dir_all(&d).unwrap();
    }
}
