//! qmail-dksign: see qmail-dksign(8). Run by qmail-rspawn in place of
//! qmail-remote: signs for the sender's domain, then runs qmail-remote.

#![forbid(unsafe_code)]

fn main() {
    // Keeps the mark in this binary: qmail-rspawn looks for it.
    std::hint::black_box(sqmail::dkim::dksign::BUILTIN_MARK);
    let args = sqmail::getopt::args();
    std::process::exit(sqmail::dkim::dksign::main(&args))
}
