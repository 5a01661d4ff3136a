//! qmail-clean (qmail-clean(8)): removes queue files for qmail-send and
//! qmail-todo, who may not write in the queue owner's directories.
//! Request: a NUL-terminated path on fd 0; answer: one byte on fd 1.

use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::exit::Die;
use crate::queue::pool::Giver;
use crate::queue::{Queue, parse_id};

/// Age after which leftover `pid/` files are removed (qmail-clean(8)).
pub const OSSIFIED: u64 = 129_600;

fn unlink(p: &Path) -> bool {
    match fs::remove_file(p) {
        Ok(()) => true,
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

/// Carries out one request and returns the answer byte.
pub fn handle(q: &Queue, req: &[u8]) -> u8 {
    handle_pooled(q, None, req)
}

/// `handle` with the inode pool: finished `mess` and `intd` files go into
/// it instead of being unlinked (see `queue::pool`).
pub fn handle_pooled(q: &Queue, pool: Option<&Giver>, req: &[u8]) -> u8 {
    if req.len() < 7 || req.len() > 100 {
        return b'x';
    }
    let Ok(req) = std::str::from_utf8(req) else {
        return b'x';
    };
    let (dirs, id): (&[&str], Option<u64>) = if let Some(rest) = req.strip_prefix("foop/") {
        (&["intd", "mess"], parse_id(rest))
    } else if let Some(rest) = req.strip_prefix("todo/") {
        let id = rest.split_once('/').and_then(|(d, i)| {
            let id = parse_id(i)?;
            (parse_id(d)? == Queue::split_of(id)).then_some(id)
        });
        // todo first: then the envelope has one name left and can be
        // pooled, and a crash between the two never leaves a todo entry
        // of a finished message.
        (&["todo", "intd"], id)
    } else {
        return b'x';
    };
    let Some(id) = id else { return b'x' };
    let mut ok = true;
    for d in dirs {
        let p = q.path(d, id);
        ok &= match (pool, *d) {
            (Some(pool), "intd" | "mess") => pool.put(&p).is_ok(),
            _ => unlink(&p),
        };
    }
    if ok { b'+' } else { b'!' }
}

/// Removes `pid/` files whose atime is at least OSSIFIED seconds old.
pub fn sweep_pid(q: &Queue) {
    let Ok(rd) = fs::read_dir(q.root().join("pid")) else {
        return;
    };
    let limit = SystemTime::now() - Duration::from_secs(OSSIFIED);
    for e in rd.flatten() {
        if let Ok(m) = e.metadata()
            && m.accessed().is_ok_and(|a| a <= limit)
        {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// The program: serve requests until EOF.
pub fn serve(home: &Path) -> Result<(), Die> {
    let q = Queue::new(home);
    let pool = Giver::start(q.root());
    let mut input = BufReader::new(
        crate::sys::borrow_fd(0)
            .try_clone()
            .map_err(|e| Die::sys("dup fd 0", e))?,
    );
    let mut out = crate::sys::borrow_fd(1);
    let mut req = Vec::with_capacity(128);
    let mut count = 0u32;
    loop {
        if count.is_multiple_of(30) {
            sweep_pid(&q);
        }
        count = count.wrapping_add(1);
        req.clear();
        match input.read_until(0, &mut req) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(Die::sys("read request", e)),
        }
        if req.pop() != Some(0) {
            return Ok(()); // EOF inside a request
        }
        let a = handle_pooled(&q, pool.as_ref(), &req);
        if out.write_all(&[a]).is_err() {
            return Err(Die::quiet(crate::exit::PERM));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        let d = std::env::temp_dir().join(format!("sqmail-clean-{}", std::process::id()));
        let q = Queue::at(d.clone());
        let id = 4711u64;
        for dir in ["mess", "intd", "todo"] {
            let p = q.path(dir, id);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, "x").unwrap();
        }
        let todo = Queue::rel("todo", id);
        assert_eq!(handle(&q, todo.as_bytes()), b'+');
        assert!(!q.path("todo", id).exists() && !q.path("intd", id).exists());
        assert!(q.path("mess", id).exists());
        assert_eq!(handle(&q, format!("foop/{id}").as_bytes()), b'+');
        assert!(!q.path("mess", id).exists());
        assert_eq!(handle(&q, b"foop/12x4"), b'x');
        assert_eq!(handle(&q, b"todo/0/4711"), b'x', "wrong split");
        assert_eq!(handle(&q, b"foo"), b'x');
        fs::remove_dir_all(&d).unwrap();
    }
}
