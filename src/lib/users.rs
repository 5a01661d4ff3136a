//! Who owns a local address: `users/cdb` (built from `users/assign` by
//! qmail-newu), else qmail-getpw's passwd rules (local.md §4).

use std::path::Path;

/// One answer: the six fields qmail-lspawn hands to qmail-local.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub dash: String,
    pub ext: String,
}

/// Looks up `local` (the recipient's local part, case preserved). The error
/// is qmail-getpw's exit code (111 temporary, 115 NFS/stat, 116 no alias
/// user, 117 users/cdb unreadable, ...), which qmail-lspawn turns into its
/// fixed report text.
pub fn lookup(qmail_home: &Path, local: &str) -> Result<Assignment, i32> {
    let _ = (qmail_home, local);
    Err(111)
}
