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

/// Reads `queue/mess` and `queue/todo` (their split subdirectories, and
/// todo entries in qmail 1.03's flat layout) without changing anything.
pub fn figures(queue: &Path, now: i64) -> std::io::Result<Figures> {
    let (todo, flat) = super::check::count_todo(queue)?;
    let mut q = Figures {
        todo: todo + flat,
        ..Figures::default()
    };
    let mut oldest = now;
    for d in 0..crate::auto::SPLIT {
        for e in std::fs::read_dir(queue.join("mess").join(d.to_string()))? {
            let e = e?;
            q.messages += 1;
            if let Ok(m) = e.metadata() {
                oldest = oldest.min(m.mtime());
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
        for sub in ["mess", "todo"] {
            for d in 0..crate::auto::SPLIT {
                std::fs::create_dir_all(q.join(sub).join(d.to_string())).unwrap();
            }
        }
        for f in ["mess/0/5", "mess/1/6", "todo/0/5", "todo/1234"] {
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
