//! `/etc/passwd` and `/etc/group`, read directly: static binaries must not
//! depend on NSS modules.

use std::fs;
use std::io;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passwd {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub dir: String,
    pub shell: String,
}

fn read(path: &str) -> io::Result<String> {
    match fs::read(Path::new(path)) {
        Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e),
    }
}

/// Parses one passwd line `name:pw:uid:gid:gecos:dir:shell`.
pub fn parse_passwd_line(line: &str) -> Option<Passwd> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 7 || f[0].is_empty() {
        return None;
    }
    Some(Passwd {
        name: f[0].to_string(),
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        dir: f[5].to_string(),
        shell: f[6].to_string(),
    })
}

/// Every entry of /etc/passwd, in file order.
pub fn all_users() -> io::Result<Vec<Passwd>> {
    Ok(read("/etc/passwd")?
        .lines()
        .filter_map(parse_passwd_line)
        .collect())
}

pub fn user_by_name(name: &str) -> io::Result<Option<Passwd>> {
    user_by_name_in("/etc/passwd", name)
}

/// `user_by_name` in the passwd file at `path` (missing: no users).
pub fn user_by_name_in(path: &str, name: &str) -> io::Result<Option<Passwd>> {
    Ok(read(path)?
        .lines()
        .filter_map(parse_passwd_line)
        .find(|p| p.name == name))
}

pub fn user_by_uid(uid: u32) -> io::Result<Option<Passwd>> {
    Ok(read("/etc/passwd")?
        .lines()
        .filter_map(parse_passwd_line)
        .find(|p| p.uid == uid))
}

pub fn group_by_name(name: &str) -> io::Result<Option<u32>> {
    Ok(read("/etc/group")?.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[0] == name)
            .then(|| f[2].parse().ok())
            .flatten()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_line() {
        let p = parse_passwd_line("joe:x:1000:100:Joe:/home/joe:/bin/sh").unwrap();
        assert_eq!((p.uid, p.gid, p.dir.as_str()), (1000, 100, "/home/joe"));
        assert!(parse_passwd_line("bad:x:notanumber:1:::").is_none());
        assert!(parse_passwd_line("short:x:1").is_none());
    }
}
