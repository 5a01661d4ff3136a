//! qmail-popup: read a POP3 login (USER/PASS or APOP, after STLS if asked)
//! and hand it to a checkpassword program on fd 3 (qmail-popup(8)). The
//! session lives in `sqmail::pop3::popup`.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use sqmail::exit::Die;

const USAGE: &str = "qmail-popup hostname subprogram [arg ...]";

fn main() {
    sqmail::exit::run_with("qmail-popup", 1, || {
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        match args.as_slice() {
            [host, checker, rest @ ..] if !host.is_empty() => {
                sqmail::pop3::popup::serve(host.as_bytes(), checker, rest)
            }
            _ => Err(Die::usage(USAGE)),
        }
    })
}
