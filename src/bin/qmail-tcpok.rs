//! qmail-tcpok: empties qmail-remote's table of timed-out addresses
//! (HOME/queue/lock/tcpto).

#![forbid(unsafe_code)]

use sqmail::exit::{self, Die};
use sqmail::remote::tcpto;

fn main() {
    exit::run("qmail-tcpok", || {
        tcpto::open_home()?
            .clear()
            .map_err(|e| Die::sys("clear queue/lock/tcpto", e))
    })
}
