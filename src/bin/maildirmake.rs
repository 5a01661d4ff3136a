//! maildirmake: create a Maildir (dir, dir/tmp, dir/new, dir/cur).
//! See man/maildirmake.1.

#![forbid(unsafe_code)]

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use sqmail::exit::Die;

const USAGE: &str = "maildirmake name";

fn main() {
    sqmail::exit::run("maildirmake", || {
        let dir = PathBuf::from(
            std::env::args_os()
                .nth(1)
                .ok_or_else(|| Die::usage(USAGE))?,
        );
        sqmail::sys::umask(0o077);
        for d in [
            dir.clone(),
            dir.join("tmp"),
            dir.join("new"),
            dir.join("cur"),
        ] {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&d)
                .map_err(|e| Die::sys(format_args!("mkdir {}", d.display()), e))?;
        }
        Ok(())
    })
}
