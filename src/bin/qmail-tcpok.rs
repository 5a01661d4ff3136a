//! qmail-tcpok: empties qmail-remote's table of timed-out addresses
//! (HOME/queue/lock/tcpto).

#![forbid(unsafe_code)]

use sqmail::exit::{self, Die};
use sqmail::remote::tcpto;

fn main() {
    exit::run("qmail-tcpok", || {
        let home = sqmail::home::home();
        std::env::set_current_dir(&home)
            .map_err(|e| Die::sys(format_args!("switch to {}", home.display()), e))?;
        let mut t = tcpto::Table::open("queue/lock/tcpto".as_ref())
            .map_err(|e| Die::sys("open queue/lock/tcpto", e))?;
        t.clear().map_err(|e| Die::sys("clear queue/lock/tcpto", e))
    })
}
