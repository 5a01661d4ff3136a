//! qmail-tcpto: prints the remote addresses qmail-remote saw time out
//! (HOME/queue/lock/tcpto), one line each.

#![forbid(unsafe_code)]

use std::io::Write;

use sqmail::exit::{self, Die};
use sqmail::remote::tcpto;

fn main() {
    exit::run("qmail-tcpto", || {
        let t = tcpto::open_home()?;
        let now = tcpto::now();
        let mut out = String::new();
        for e in t.entries() {
            out.push_str(&format!(
                "{} timed out {} seconds ago; # recent timeouts: {}\n",
                e.ip,
                now.wrapping_sub(e.when),
                e.count
            ));
        }
        std::io::stdout()
            .write_all(out.as_bytes())
            .map_err(|e| Die::sys("write output", e))
    })
}
