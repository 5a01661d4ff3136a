//! qmail-todo: preprocesses new messages for qmail-send (qmail-todo(8)).
#![forbid(unsafe_code)]

fn main() {
    sqmail::exit::run("qmail-todo", || {
        sqmail::send::todo::serve(&sqmail::home::home())
    })
}
