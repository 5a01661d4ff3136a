//! qmail-lspawn: runs local deliveries for qmail-send (qmail-lspawn(8)).
#![forbid(unsafe_code)]

use sqmail::exit::Die;
use sqmail::send::delivery::{self, Local};

fn main() {
    sqmail::exit::run("qmail-lspawn", || {
        let dd = std::env::args_os()
            .nth(1)
            .ok_or(Die::quiet(sqmail::exit::PERM))?;
        let local = Local {
            home: sqmail::home::home(),
            default_delivery: dd,
            private: sqmail::home::private_mode(),
        };
        delivery::serve(&local, &local.home)
    })
}
