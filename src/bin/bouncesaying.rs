//! bouncesaying: bounce with a message, perhaps only if a program says so.
//! See man/bouncesaying.1.

#![forbid(unsafe_code)]

use std::ffi::OsString;

use sqmail::exit::Die;
use sqmail::local::command;

const USAGE: &str = "bouncesaying error [ program [ arg ... ] ]";

fn main() {
    sqmail::exit::run("bouncesaying", || {
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        let (error, program) = args.split_first().ok_or_else(|| Die::usage(USAGE))?;
        if !program.is_empty() {
            match command::status(program)? {
                Some(0) => {}
                Some(111) => return Err(Die::temp("temporary child error")),
                Some(_) => return Ok(()),
                None => return Err(Die::temp("child crashed")),
            }
        }
        eprintln!("{}", error.to_string_lossy());
        Err(Die::quiet(sqmail::exit::PERM))
    })
}
