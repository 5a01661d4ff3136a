//! qmail-vmailuser: a recipient PAM for virtual users. Reads
//! `rcpt@domain\0\0\0` from fd 3, maps the domain through
//! `control/virtualdomains` and exits 0 if the user exists in a VMailMgr,
//! vpopmail or Unix layout (sqmail::smtpd::vmailuser), 1 if not, 2 on
//! misuse, 111 on trouble.

#![forbid(unsafe_code)]

use std::io::Read;
use std::path::PathBuf;

use sqmail::control::Control;
use sqmail::exit::Die;
use sqmail::smtpd::vmailuser::{self, Layouts};

const MAX_INPUT: u64 = 128;

fn vmailuser() -> Result<(), Die> {
    let mut homedir = PathBuf::from("/home");
    let mut case_sensitive = false;
    let mut layouts = Layouts::default();
    for a in sqmail::getopt::args_lossy() {
        match a.strip_prefix('-') {
            Some(flags) if !flags.is_empty() => {
                for f in flags.chars() {
                    match f {
                        'C' => case_sensitive = true,
                        'c' => case_sensitive = false,
                        'M' => layouts.vmailmgr = true,
                        'P' => layouts.vpopmail = true,
                        'U' => layouts.unix = true,
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
    let vuser = vmailuser::vuser(&rcpt[..at], case_sensitive).ok_or_else(|| Die::quiet(1))?;
    let home = sqmail::home::home();
    let map = Control::new(&home)
        .map("virtualdomains")
        .map_err(|_| Die::quiet(sqmail::exit::TEMP))?
        .unwrap_or_default();
    let prepend = map.get(&domain).ok_or_else(|| Die::quiet(1))?;
    match vmailuser::exists(&homedir, prepend, &vuser, layouts) {
        true => Ok(()),
        false => Err(Die::quiet(1)),
    }
}

fn main() {
    sqmail::exit::run("qmail-vmailuser", vmailuser)
}
