//! What the `.qmail` helper programs share (preline, condredirect,
//! bouncesaying, except, forward; qmail-command(8)): running the program named
//! by the rest of argv and reading qmail-local's environment.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};

use crate::exit::Die;
use crate::queue::client::QqError;

/// qmail-local's exit for a queue failure: 100 when it is permanent
/// (qmail-queue(8): codes 11 to 40, s/qmail's content refusals included).
pub fn exit_code(e: QqError) -> i32 {
    crate::exit::class_code(e.is_permanent())
}

/// How a child program ended: its exit code, or `None` if it crashed.
/// A program that cannot be started counts as exiting 111 (temporary
/// error) or 100, as a failed `execvp` in the child would.
pub fn status(argv: &[OsString]) -> Result<Option<i32>, Die> {
    let mut child = match spawn(argv, Stdio::inherit()) {
        Ok(c) => c,
        Err(code) => return Ok(Some(code)),
    };
    let st = child
        .wait()
        .map_err(|e| Die::temp(format!("wait failed: {e}")))?;
    Ok(if st.signal().is_some() {
        None
    } else {
        st.code()
    })
}

/// Starts `argv` (searched in PATH) with `stdin`; Err is the exit code a
/// failed exec stands for.
pub fn spawn(argv: &[OsString], stdin: Stdio) -> Result<Child, i32> {
    let (prog, args) = argv.split_first().ok_or(100)?;
    Command::new(prog)
        .args(args)
        .stdin(stdin)
        .spawn()
        .map_err(|e| if super::is_temp(&e) { 111 } else { 100 })
}

/// A variable qmail-local sets; its absence is a permanent error.
pub fn need_env(name: &str) -> Result<Vec<u8>, Die> {
    std::env::var_os(name)
        .map(OsString::into_vec)
        .ok_or_else(|| Die::perm(format!("{name} not set")))
}

/// Queues DTLINE + stdin (from where it stands) for `recipients`; returns
/// the qp. A qmail-queue failure is 100 for class D, else 111.
pub fn forward_stdin(dtline: &[u8], sender: &[u8], recipients: Vec<Vec<u8>>) -> Result<u32, Die> {
    let stdin = crate::sys::borrow_fd(0);
    super::forward::forward(&crate::home::home(), dtline, &stdin, sender, recipients)
        .map_err(|e: QqError| Die::new(exit_code(e), e.text()))
}
