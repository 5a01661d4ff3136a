//! qmail-dknewkey: see qmail-dknewkey(8). Makes a DKIM signing key for
//! qmail-dksign and prints the DNS record to publish.

#![forbid(unsafe_code)]

fn main() {
    let args = sqmail::getopt::args();
    sqmail::exit::run("qmail-dknewkey", || sqmail::dkim::newkey::main(&args))
}
