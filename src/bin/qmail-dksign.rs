//! qmail-dksign: see qmail-dksign(8). Run by qmail-rspawn in place of
//! qmail-remote: signs for the sender's domain, then runs qmail-remote.

#![forbid(unsafe_code)]

fn main() {
    let args = sqmail::getopt::args();
    std::process::exit(sqmail::dkim::dksign::main(&args))
}
