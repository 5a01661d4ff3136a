//! qmail's view of system errors: its texts and which ones are worth a
//! retry.

use std::io;

/// The system's text for an error, without Rust's "(os error N)".
pub fn errstr(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

pub use crate::exit::is_temp_errno as is_temp;
