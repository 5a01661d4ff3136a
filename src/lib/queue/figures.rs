//! The queue's figures for qmail-metrics(8): what qmail-qstat(8) counts,
//! and the age of the oldest message; read only.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The queue's figures (qmail-qstat's, and the oldest message's age).
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    pub messages: u64,
    pub todo: u64,
    pub oldest_age: u64,
}

/// Reads `queue/mess` and `queue/todo` (their split subdirectories) without
/// changing anything.
pub fn figures(queue: &Path, now: i64) -> std::io::Result<Figures> {
    let mut q = Figures::default();
    let mut oldest = now;
    for (sub, count) in [("mess", &mut q.messages), ("todo", &mut q.todo)] {
        for d in std::fs::read_dir(queue.join(sub))? {
            let d = d?.path();
            if !d.is_dir() {
                // A flat todo entry of a queue C qmail wrote.
                *count += 1;
                continue;
            }
            for e in std::fs::read_dir(&d)? {
                let e = e?;
                *count += 1;
                if sub == "mess"
                    && let Ok(m) = e.metadata()
                {
                    oldest = oldest.min(m.mtime());
                }
            }
        }
    }
    q.oldest_age = (now - oldest).max(0) as u64;
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_split_and_flat_entries() {
        let q = std::env::temp_dir().join(format!("queue-figures-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&q);
        for d in ["mess/0", "mess/1", "todo/0"] {
            std::fs::create_dir_all(q.join(d)).unwrap();
        }
        for f in ["mess/0/5", "mess/1/6", "todo/0/5", "todo/7"] {
            std::fs::write(q.join(f), "").unwrap();
        }
        let mtime = std::fs::metadata(q.join("mess/0/5")).unwrap().mtime();
        let f = figures(&q, mtime + 100).unwrap();
        assert_eq!((f.messages, f.todo), (2, 2));
        assert!((99..=101).contains(&f.oldest_age), "{f:?}");
        assert!(figures(&q.join("none"), 0).is_err());
        std::fs::remove_dir_all(&q).unwrap();
    }
}
