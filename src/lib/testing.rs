//! Support for the tests (unit tests here and the process-level tests in
//! `t/`); no program uses it.

use std::io::Write;

/// A test that cannot run here (a peer program, root, IPv6 or a port is
/// missing) says so loudly, named by its test thread. Where every peer is
/// promised (CI sets SQMAIL_REQUIRE_PEERS=1 after package/testdeps), a skip
/// is a failure instead. The caller returns after it.
#[track_caller]
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    if std::env::var_os("SQMAIL_REQUIRE_PEERS").is_some_and(|v| v == "1") {
        panic!("{test}: {reason} (SQMAIL_REQUIRE_PEERS=1: a skip is a failure)");
    }
    // Straight to fd 2: libtest hides what eprintln! says in a passing test.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {reason}");
}
