//! qmail-queue: put a message (fd 0) with its envelope (fd 1) into the
//! queue. Prints nothing; the exit code says what happened.
//! See man/qmail-queue.8.

#![forbid(unsafe_code)]

use sqmail::exit::{Die, run_with};
use sqmail::queue::exitcode::code;
use sqmail::queue::writer;

/// Small blocks from a region never given back: see sqmail::sys::Arena.
#[global_allocator]
static ALLOC: sqmail::sys::Arena = sqmail::sys::Arena::new();

fn main() {
    run_with("qmail-queue", code::BUG, || {
        writer::main().map_err(Die::quiet)
    })
}
