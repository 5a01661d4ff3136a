//! qmail-dkim: see qmail-dkim(8). Signs a message with DKIM, or verifies
//! its signatures.

#![forbid(unsafe_code)]

fn main() {
    let args = sqmail::getopt::args();
    sqmail::exit::run("qmail-dkim", || sqmail::dkim::tool::qmail_dkim(&args))
}
