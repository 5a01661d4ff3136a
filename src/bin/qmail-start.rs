//! qmail-start: starts qmail-send and its helpers (qmail-start(8)).
#![forbid(unsafe_code)]

fn main() {
    sqmail::exit::run("qmail-start", sqmail::send::start::main)
}
