//! qmail-clean: removes queue files on request (queue.md §5).
#![forbid(unsafe_code)]

fn main() {
    sqmail::exit::run("qmail-clean", || {
        sqmail::queue::clean::serve(&sqmail::home::home())
    })
}
