//! qmail-send: the delivery scheduler (qmail-send(8)).
#![forbid(unsafe_code)]

fn main() {
    sqmail::exit::run("qmail-send", sqmail::send::main)
}
