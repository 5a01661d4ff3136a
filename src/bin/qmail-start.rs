//! qmail-start: starts qmail-send and its helpers (queue.md §3).
#![forbid(unsafe_code)]

fn main() {
    sqmail::exit::run("qmail-start", sqmail::send::start::main)
}
