//! qmail-clean: removes queue files on request (qmail-clean(8)).
#![forbid(unsafe_code)]

fn main() {
    sqmail::exit::run("qmail-clean", || {
        sqmail::queue::clean::serve(&sqmail::home::home())
    })
}
