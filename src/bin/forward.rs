//! forward: forward the message on stdin to the given addresses.
//! See man/forward.1.

#![forbid(unsafe_code)]

use std::os::unix::ffi::OsStringExt;

use sqmail::exit::Die;
use sqmail::local::command;

const USAGE: &str = "forward address [ address ... ]";

fn main() {
    sqmail::exit::run("forward", || {
        let recipients: Vec<Vec<u8>> = std::env::args_os().skip(1).map(|a| a.into_vec()).collect();
        if recipients.is_empty() {
            return Err(Die::usage(USAGE));
        }
        let sender = command::need_env("NEWSENDER")?;
        let dtline = command::need_env("DTLINE")?;
        let qp = command::forward_stdin(&dtline, &sender, recipients)?;
        eprintln!("forward: qp {qp}");
        Ok(())
    })
}
