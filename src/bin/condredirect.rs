//! condredirect: forward the message elsewhere if a program says so.
//! See man/condredirect.1.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::{Seek, SeekFrom};
use std::os::unix::ffi::OsStringExt;

use sqmail::exit::Die;
use sqmail::local::command;

const USAGE: &str = "condredirect newaddress program [ arg ... ]";

fn main() {
    sqmail::exit::run("condredirect", || {
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        let [address, program @ ..] = &args[..] else {
            return Err(Die::usage(USAGE));
        };
        if program.is_empty() {
            return Err(Die::usage(USAGE));
        }
        match command::status(program)? {
            Some(0) => {}
            Some(111) => return Err(Die::temp("temporary child error")),
            Some(_) => return Ok(()),
            None => return Err(Die::temp("child crashed")),
        }
        (&*sqmail::sys::borrow_fd(0))
            .seek(SeekFrom::Start(0))
            .map_err(|e| Die::sys("rewind", e))?;
        let sender = command::need_env("SENDER")?;
        let dtline = command::need_env("DTLINE")?;
        let qp = command::forward_stdin(&dtline, &sender, vec![address.clone().into_vec()])?;
        eprintln!("condredirect: qp {qp}");
        Err(Die::quiet(99))
    })
}
