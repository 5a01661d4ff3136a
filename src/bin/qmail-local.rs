//! qmail-local: deliver one message by the user's .qmail file.
//! See man/qmail-local.8; the work is `sqmail::local::run`.

#![forbid(unsafe_code)]

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(sqmail::local::run(&args));
}
