//! qmail-rspawn: runs remote deliveries for qmail-send (qmail-rspawn(8)):
//! qmail-remote's code in a forked child, or `$QMAILREMOTE` when set.
#![forbid(unsafe_code)]

use sqmail::send::delivery::{self, Remote};

fn main() {
    sqmail::exit::run("qmail-rspawn", || {
        let home = sqmail::home::home();
        // Every restart forgets remote timeouts: 1024 NUL bytes.
        let _ = std::fs::write(home.join("queue/lock/tcpto"), [0u8; 1024]);
        delivery::serve(&Remote::from_env(&home), &home)
    })
}
