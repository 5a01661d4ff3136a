//! Entries of `todo/` and `intd/` that are not where `conf-files/split`
//! puts them: qmail 1.03's flat `todo/ID` and `intd/ID` (a queue C qmail
//! wrote and package/upgrade has not converted), or a split subdirectory
//! of another split. qmail-send and qmail-qmaint report them and never
//! remove a message with a todo entry anywhere (qmail-send(8)).

use std::collections::HashSet;
use std::fs;

use crate::queue::{Queue, parse_id};

/// What a scan of `todo/` and `intd/` found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every id with a todo entry, in place or not.
    pub todo: HashSet<u64>,
    /// Entries out of place, as `DIR/ID` or `DIR/D/ID`.
    pub stray: Vec<String>,
}

impl Scan {
    pub fn has_todo(&self, id: u64) -> bool {
        self.todo.contains(&id)
    }
}

/// Scans `todo/` and `intd/` of `q` one level deep and the split
/// subdirectories below them.
pub fn scan(q: &Queue) -> Scan {
    let mut s = Scan::default();
    for dir in ["todo", "intd"] {
        let Ok(rd) = fs::read_dir(q.root().join(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(n) = name.to_str().and_then(parse_id) else {
                continue;
            };
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                // qmail 1.03's flat entry.
                if dir == "todo" {
                    s.todo.insert(n);
                }
                s.stray.push(format!("{dir}/{n}"));
                continue;
            }
            let Ok(sub) = fs::read_dir(e.path()) else {
                continue;
            };
            for f in sub.flatten() {
                let Some(id) = f.file_name().to_str().and_then(parse_id) else {
                    continue;
                };
                if dir == "todo" {
                    s.todo.insert(id);
                }
                if Queue::split_of(id) != n {
                    s.stray.push(format!("{dir}/{n}/{id}"));
                }
            }
        }
    }
    s.stray.sort();
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auto;

    #[test]
    fn flat_and_misplaced_entries() {
        let d = std::env::temp_dir().join(format!("sqmail-stray-{}", std::process::id()));
        let q = Queue::at(d.clone());
        let split = u64::from(auto::SPLIT);
        for x in ["todo", "intd"] {
            fs::create_dir_all(d.join(x).join("1")).unwrap();
        }
        // In place, flat (C qmail), and in the wrong subdirectory.
        let placed = split + 1;
        fs::write(q.path("todo", placed), "").unwrap();
        fs::write(d.join("todo/4711"), "").unwrap();
        fs::write(d.join("intd/4711"), "").unwrap();
        fs::write(d.join("todo/1").join((split + 2).to_string()), "").unwrap();
        fs::write(d.join("todo/notes"), "").unwrap();
        let s = scan(&q);
        assert!(s.has_todo(placed) && s.has_todo(4711) && s.has_todo(split + 2));
        assert!(!s.has_todo(1));
        assert_eq!(
            s.stray,
            [
                "intd/4711".to_string(),
                format!("todo/1/{}", split + 2),
                "todo/4711".to_string()
            ]
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
