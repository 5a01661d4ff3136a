//! qmail-send: the delivery scheduler (queue.md §6).
#![forbid(unsafe_code)]

fn main() {
    sqmail::exit::run("qmail-send", sqmail::send::main)
}
