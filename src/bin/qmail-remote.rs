//! qmail-remote host sender recip...: delivers the message on fd 0 to a
//! remote host by SMTP and reports on fd 1 (see qmail-remote(8)). It always
//! exits 0: the result is in the report.

#![forbid(unsafe_code)]

fn main() {
    use std::os::unix::ffi::OsStringExt;
    // Keeps the mark in this binary: qmail-rspawn looks for it.
    std::hint::black_box(sqmail::remote::BUILTIN_MARK);
    let args: Vec<Vec<u8>> = std::env::args_os().skip(1).map(|a| a.into_vec()).collect();
    sqmail::remote::run(&args).flush();
}
