//! qmail-dkverify: see qmail-dkverify(8). A QMAILQUEUE front: verifies the
//! message's DKIM signatures, then passes it to qmail-queue with the result.

#![forbid(unsafe_code)]

fn main() {
    // No options: an argument is usage, as for qmail-queue's callers.
    if !sqmail::getopt::args().is_empty() {
        eprintln!("qmail-dkverify: usage: qmail-dkverify (as QMAILQUEUE)");
        std::process::exit(sqmail::exit::PERM);
    }
    let home = sqmail::home::home();
    let dkim = std::env::var("DKIM").ok();
    let code = sqmail::dkim::dkverify::run(&mut std::io::stdin().lock(), &home, dkim.as_deref());
    std::process::exit(code)
}
