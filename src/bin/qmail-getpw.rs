//! qmail-getpw: the account and extension for a local address, by
//! qmail's passwd rules. See man/qmail-getpw.8; the work is
//! `sqmail::users::getpw`.

#![forbid(unsafe_code)]

use std::io::Write;

use sqmail::exit::Die;

const USAGE: &str = "qmail-getpw local";

fn main() {
    sqmail::exit::run("qmail-getpw", || {
        let local = std::env::args_os()
            .nth(1)
            .ok_or_else(|| Die::usage(USAGE))?;
        let a = sqmail::users::getpw(&sqmail::home::home(), &local.to_string_lossy())
            .map_err(Die::quiet)?;
        std::io::stdout()
            .write_all(&a.to_getpw_bytes())
            .map_err(|_| Die::quiet(sqmail::exit::TEMP))
    })
}
