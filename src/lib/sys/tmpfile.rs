//! Files that get their name only once complete: `open(O_TMPFILE)` makes a
//! file with no name in a directory, `linkat` gives it one. Nothing of an
//! interrupted writer is left under any name, and there is no temporary
//! name to create and remove.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::OnceLock;

use super::fd::cstr;

/// A new file without a name on the file system of directory `dir`, open
/// for writing. Fails (e.g. `Unsupported`, `EISDIR` on old kernels) where
/// the file system or kernel has no O_TMPFILE, and (`Unsupported`) where
/// there is no /proc for `link_unnamed` to name it by: better before the
/// file is written than after.
pub fn open_unnamed(dir: &Path, mode: u32) -> io::Result<File> {
    static PROC_FD: OnceLock<bool> = OnceLock::new();
    if !*PROC_FD.get_or_init(|| Path::new("/proc/self/fd").is_dir()) {
        return Err(io::ErrorKind::Unsupported.into());
    }
    OpenOptions::new()
        .write(true)
        .mode(mode)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
}

/// Gives the unnamed `file` the name `to` (never replacing one), through
/// its /proc/self/fd link, which needs no privilege (AT_EMPTY_PATH does).
pub fn link_unnamed(file: &File, to: &Path) -> io::Result<()> {
    let from = cstr(Path::new(&format!("/proc/self/fd/{}", file.as_raw_fd())))?;
    let to = cstr(to)?;
    // SAFETY: two NUL-terminated strings that live across the call; the
    // directory descriptors are AT_FDCWD.
    let r = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    super::check(r).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unnamed_until_linked() {
        use std::io::Write;
        let d = std::env::temp_dir().join(format!("sqmail-tmpfile-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let Ok(mut f) = open_unnamed(&d, 0o600) else {
            return std::fs::remove_dir_all(&d).unwrap(); // no O_TMPFILE here
        };
        f.write_all(b"hello").unwrap();
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        link_unnamed(&f, &d.join("a")).unwrap();
        assert_eq!(std::fs::read(d.join("a")).unwrap(), b"hello");
        let again = link_unnamed(&f, &d.join("a")).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
