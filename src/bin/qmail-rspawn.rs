//! qmail-rspawn: runs qmail-remote for qmail-send (queue.md §4.2).
#![forbid(unsafe_code)]

use sqmail::spawn::{self, Remote};

fn main() {
    sqmail::exit::run("qmail-rspawn", || {
        let home = sqmail::home::home();
        // Every restart forgets remote timeouts: 1024 NUL bytes.
        let _ = std::fs::write(home.join("queue/lock/tcpto"), [0u8; 1024]);
        spawn::serve(&Remote, &home)
    })
}
