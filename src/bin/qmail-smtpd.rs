//! qmail-smtpd: receive mail by SMTP on fd 0/1 and hand it to qmail-queue
//! (qmail-smtpd(8)). Arguments: the AUTH checkpassword command, if any.
//! The connection lives in `sqmail::smtpd::conn`, the dialogue in
//! `sqmail::smtpd::session`.

#![forbid(unsafe_code)]

use std::ffi::OsString;

/// Small blocks from a region never given back: see sqmail::sys::Arena.
#[global_allocator]
static ALLOC: sqmail::sys::Arena = sqmail::sys::Arena::new();

fn main() {
    sqmail::exit::run("qmail-smtpd", || {
        let checkprogram: Vec<OsString> = std::env::args_os().skip(1).collect();
        sqmail::smtpd::conn::serve(&sqmail::home::home(), checkprogram)
    })
}
