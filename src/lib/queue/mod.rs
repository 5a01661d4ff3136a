//! The queue: its directory layout (qmail-queue(8)), split names and paths.
//! Below it: the writer behind qmail-queue, the client that feeds it, the
//! inode pool, qmail-clean, and the checks of qmail-qread/qstat/qmaint.

pub mod check;
pub mod clean;
pub mod client;
pub mod exitcode;
pub mod figures;
pub mod pool;
pub mod stray;
pub mod writer;

use std::path::{Path, PathBuf};

use crate::auto;

/// Directories whose files live in `D/id` subdirectories.
pub const SPLIT_DIRS: [&str; 6] = ["mess", "intd", "todo", "info", "local", "remote"];

/// The queue of one qmail home.
#[derive(Debug, Clone)]
pub struct Queue {
    root: PathBuf,
}

impl Queue {
    pub fn new(home: &Path) -> Queue {
        Queue {
            root: home.join("queue"),
        }
    }

    pub fn at(root: PathBuf) -> Queue {
        Queue { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The hash subdirectory of a message id.
    pub fn split_of(id: u64) -> u64 {
        id % u64::from(auto::SPLIT)
    }

    /// `DIR/D/id` for split directories, `DIR/id` for `bounce`.
    pub fn path(&self, dir: &str, id: u64) -> PathBuf {
        if dir == "bounce" {
            self.root.join(dir).join(id.to_string())
        } else {
            self.root
                .join(dir)
                .join(Queue::split_of(id).to_string())
                .join(id.to_string())
        }
    }

    /// Relative form `DIR/D/id` as qmail passes it between programs.
    pub fn rel(dir: &str, id: u64) -> String {
        if dir == "bounce" {
            format!("bounce/{id}")
        } else {
            format!("{dir}/{}/{id}", Queue::split_of(id))
        }
    }

    pub fn lock(&self, name: &str) -> PathBuf {
        self.root.join("lock").join(name)
    }
}

/// Whether a directory entry is a message id (pure decimal).
pub fn parse_id(name: &str) -> Option<u64> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_paths() {
        let q = Queue::at(PathBuf::from("/q"));
        let id = 1234567u64;
        let d = id % u64::from(auto::SPLIT);
        assert_eq!(
            q.path("mess", id),
            PathBuf::from(format!("/q/mess/{d}/{id}"))
        );
        assert_eq!(
            q.path("bounce", id),
            PathBuf::from(format!("/q/bounce/{id}"))
        );
        assert_eq!(parse_id("0012"), Some(12));
        assert_eq!(parse_id("12.tmp"), None);
    }
}
