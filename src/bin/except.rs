//! except: reverse the exit code of a program (0 becomes a bounce).
//! See man/except.1.

#![forbid(unsafe_code)]

use std::ffi::OsString;

use sqmail::exit::Die;
use sqmail::local::command;

const USAGE: &str = "except program [ arg ... ]";

fn main() {
    sqmail::exit::run("except", || {
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        if args.is_empty() {
            return Err(Die::usage(USAGE));
        }
        match command::status(&args)? {
            Some(0) => Err(Die::quiet(sqmail::exit::PERM)),
            Some(111) => Err(Die::quiet(sqmail::exit::TEMP)),
            Some(_) => Ok(()),
            None => Err(Die::temp("child crashed")),
        }
    })
}
