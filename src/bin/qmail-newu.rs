//! qmail-newu: compile users/assign into users/cdb. See man/qmail-newu.8;
//! the work is `sqmail::users::build_cdb`.

#![forbid(unsafe_code)]

use sqmail::exit::Die;

fn main() {
    sqmail::exit::run("qmail-newu", || {
        sqmail::sys::umask(0o033);
        sqmail::users::build_cdb(&sqmail::home::home()).map_err(Die::temp)
    })
}
