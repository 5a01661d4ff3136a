//! qmail-local: delivery of one message to one local address by `.qmail`
//! instructions (local.md §1–3).

use std::ffi::OsString;

/// qmail-local's whole job, in-process. `args` are qmail-local's arguments
/// without the program name (`[-nN] [--] user homedir local dash ext domain
/// sender defaultdelivery`). The message is on fd 0 (seekable), the report
/// goes to fds 1 and 2. Returns the exit code (0, 100, 111). The caller has
/// already taken the user's uid/gid; qmail-lspawn calls this in a forked
/// child, the `qmail-local` program from `main`.
pub fn run(args: &[OsString]) -> i32 {
    let _ = args;
    eprintln!("qmail-local: not built yet (#4.3.0)");
    111
}
