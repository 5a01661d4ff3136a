//! qmail-vmailuser: a recipient PAM for virtual users. Reads
//! `rcpt@domain\0\0\0` from fd 3, maps the domain through
//! `control/virtualdomains` and exits 0 if the user's directory exists
//! (vmailmgr `homedir/PREPEND/users/USER`, vpopmail
//! `homedir/vpopmail/domains/PREPEND/USER`), 1 if not, 2 on misuse,
//! 111 on trouble.

#![forbid(unsafe_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

use sqmail::control::Control;
use sqmail::exit::Die;

const MAX_INPUT: u64 = 128;

fn vmailuser() -> Result<(), Die> {
    let mut homedir = PathBuf::from("/home");
    let (mut case_sensitive, mut vmailmgr, mut vpopmail) = (false, false, false);
    for a in sqmail::getopt::args_lossy() {
        match a.strip_prefix('-') {
            Some(flags) if !flags.is_empty() => {
                for f in flags.chars() {
                    match f {
                        'C' => case_sensitive = true,
                        'c' => case_sensitive = false,
                        'M' => vmailmgr = true,
                        'P' => vpopmail = true,
                        'U' => {}
                        _ => return Err(Die::quiet(2)),
                    }
                }
            }
            _ => {
                homedir = PathBuf::from(a);
                if !homedir.is_dir() {
                    return Err(Die::quiet(2));
                }
            }
        }
    }
    if !vmailmgr && !vpopmail {
        (vmailmgr, vpopmail) = (true, true);
    }
    let mut fd3 = sqmail::sys::take_fd(3).ok_or_else(|| Die::quiet(sqmail::exit::TEMP))?;
    let mut buf = Vec::new();
    (&mut fd3)
        .take(MAX_INPUT + 1)
        .read_to_end(&mut buf)
        .map_err(|_| Die::quiet(sqmail::exit::TEMP))?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(Die::quiet(2));
    }
    let rcpt = buf.split(|&b| b == 0).next().unwrap_or(&[]);
    let rcpt = String::from_utf8_lossy(rcpt);
    let at = rcpt.rfind('@').ok_or_else(|| Die::quiet(1))?;
    let domain = rcpt[at + 1..].to_ascii_lowercase();
    let mut local = rcpt[..at].to_string();
    if !case_sensitive {
        local = local.to_ascii_lowercase();
    }
    let vuser = local.replace('.', ":");
    let home = sqmail::home::home();
    let map = Control::new(&home)
        .map("virtualdomains")
        .map_err(|_| Die::quiet(sqmail::exit::TEMP))?
        .unwrap_or_default();
    let prepend = map.get(&domain).ok_or_else(|| Die::quiet(1))?.to_string();
    let candidates: Vec<PathBuf> = [
        vmailmgr.then(|| homedir.join(&prepend).join("users").join(&vuser)),
        vpopmail.then(|| homedir.join("vpopmail/domains").join(&prepend).join(&vuser)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if candidates.iter().any(|p| Path::new(p).is_dir()) {
        Ok(())
    } else {
        Err(Die::quiet(1))
    }
}

fn main() {
    sqmail::exit::run("qmail-vmailuser", vmailuser)
}
