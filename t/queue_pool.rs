//! The queue's inode pool: qmail-clean gives finished files to
//! `queue/pool/`, qmail-queue takes them back; the message number stays the
//! inode number, a kill -9 of qmail-queue loses no acknowledged message, and
//! the pool stays bounded.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use crate::common::queue::{queue, queue_files, spawn_piped};
use crate::common::*;
use sqmail::queue::Queue;

/// Sends `reqs` to one qmail-clean run (which makes its pool batch
/// claimable before it exits at EOF) and returns its answers.
fn clean(h: &QmailHome, reqs: &[String]) -> Vec<u8> {
    let mut input = Vec::new();
    for r in reqs {
        input.extend_from_slice(r.as_bytes());
        input.push(0);
    }
    let out = run_with_input(&mut h.cmd("qmail-clean"), &input);
    assert!(out.status.success(), "qmail-clean: {:?}", out.status);
    out.stdout
}

/// Finishes message `id` the way qmail-send's fast path does.
fn finish(id: u64) -> [String; 2] {
    [Queue::rel("todo", id), format!("foop/{id}")]
}

/// The pool's entries as (name, inode, links).
fn pool(h: &QmailHome) -> Vec<(String, u64, u64)> {
    let dir = h.path("queue/pool");
    list(&dir)
        .into_iter()
        .map(|n| {
            let m = fs::metadata(dir.join(&n)).unwrap();
            (n, m.ino(), m.nlink())
        })
        .collect()
}

/// Every pool entry is a single-link file named by its inode; every mess
/// file's inode is its name; `pid/` is empty unless a run was killed (a run
/// that found no pool file makes its message file there first).
fn assert_sane(h: &QmailHome, killed: bool) {
    for (name, ino, links) in pool(h) {
        assert_eq!(name, ino.to_string(), "pool entry named by its inode");
        assert_eq!(links, 1, "pool entry {name} has one link");
    }
    for (id, p) in queue_files(h, "mess") {
        assert_eq!(
            fs::metadata(&p).unwrap().ino(),
            id,
            "mess/D/id has inode id"
        );
    }
    assert!(
        killed || list(&h.path("queue/pid")).is_empty(),
        "pid/ empty"
    );
}

#[test]
fn inodes_are_reused() {
    let h = QmailHome::new("pool-reuse");
    assert!(
        h.path("queue/pool").is_dir(),
        "package/home makes queue/pool"
    );
    assert_eq!(queue(&h, b"first\n", b"Fa\0Tb\0\0").code, Some(0));
    let (id, _) = queue_files(&h, "todo")[0].clone();
    let intd_ino = fs::metadata(h.path("queue").join(Queue::rel("intd", id)))
        .unwrap()
        .ino();
    assert_eq!(clean(&h, &finish(id)), b"++");
    assert_eq!(queue_files(&h, "mess"), vec![]);
    let mut in_pool: Vec<u64> = pool(&h).iter().map(|p| p.1).collect();
    in_pool.sort();
    let mut want = vec![id, intd_ino];
    want.sort();
    assert_eq!(in_pool, want, "both files of the message are pooled");
    for (_, _, links) in pool(&h) {
        assert_eq!(links, 1);
    }
    for (n, _, _) in pool(&h) {
        let size = fs::metadata(h.path("queue/pool").join(n)).unwrap().len();
        assert_eq!(size, 0, "pool files are truncated");
    }

    assert_eq!(queue(&h, b"second\n", b"Fc\0Td\0\0").code, Some(0));
    let todo = queue_files(&h, "todo");
    assert_eq!(todo.len(), 1);
    let (id2, todo2) = &todo[0];
    assert!(want.contains(id2), "the message number is a pooled inode");
    assert!(pool(&h).is_empty(), "both pool files taken");
    let mess = fs::read_to_string(h.path("queue").join(Queue::rel("mess", *id2))).unwrap();
    assert!(mess.starts_with("Received: (qmail ") && mess.ends_with("\nsecond\n"));
    assert!(!mess.contains("first"));
    assert!(fs::read(todo2).unwrap().ends_with(b"\0Fc\0Td\0"));
    assert_sane(&h, false);
}

#[test]
fn pool_stays_bounded() {
    let h = QmailHome::new("pool-bound");
    let n = sqmail::queue::pool::MAX / 2 + 20;
    for i in 0..n {
        let r = queue(&h, format!("m{i}\n").as_bytes(), b"Fa\0Tb\0\0");
        assert_eq!(r.code, Some(0));
    }
    let ids: Vec<u64> = queue_files(&h, "todo").iter().map(|t| t.0).collect();
    assert_eq!(ids.len(), n);
    let reqs: Vec<String> = ids.iter().flat_map(|&id| finish(id)).collect();
    assert_eq!(clean(&h, &reqs), vec![b'+'; 2 * n]);
    assert_eq!(pool(&h).len(), sqmail::queue::pool::MAX);
    for d in ["mess", "intd", "todo"] {
        assert!(queue_files(&h, d).is_empty(), "{d} empty");
    }
    assert_sane(&h, false);
    // A second round: the pool does not grow past its bound.
    for i in 0..30 {
        assert_eq!(
            queue(&h, format!("n{i}\n").as_bytes(), b"Fa\0Tb\0\0").code,
            Some(0)
        );
    }
    assert_eq!(
        pool(&h).len(),
        sqmail::queue::pool::MAX - 60,
        "each message took two"
    );
    let reqs: Vec<String> = queue_files(&h, "todo")
        .iter()
        .flat_map(|t| finish(t.0))
        .collect();
    clean(&h, &reqs);
    assert_eq!(pool(&h).len(), sqmail::queue::pool::MAX);
}

/// kill -9 of qmail-queue at random points while it takes its files from
/// the pool: every acknowledged message is queued once and complete, no
/// todo entry without its message, the pool and mess names stay sane.
#[test]
fn kill_with_pool_in_use() {
    let h = QmailHome::new("pool-kill");
    let mut seed = u64::from(std::process::id()) | 1;
    let mut acked = Vec::new();
    for i in 0..40u32 {
        if i % 8 == 0 {
            // Refill: queue and finish a few messages.
            for _ in 0..6 {
                assert_eq!(queue(&h, b"filler\n", b"Ff\0Tf\0\0").code, Some(0));
            }
            let reqs: Vec<String> = queue_files(&h, "todo")
                .iter()
                .filter(|(_, t)| fs::read(t).unwrap().ends_with(b"\0Ff\0Tf\0"))
                .flat_map(|t| finish(t.0))
                .collect();
            clean(&h, &reqs);
            assert!(!pool(&h).is_empty(), "the pool is in use");
        }
        let body = format!("Subject: {i}\n\n{}\n", "x".repeat(20_000));
        let env = format!("Fs{i}@a\0Tr{i}@b\0\0");
        let (mut child, mut env_w) = spawn_piped(&h);
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(body.as_bytes());
            drop(stdin);
            let _ = env_w.write_all(env.as_bytes());
        });
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_micros((seed >> 33) % 4000));
        let _ = child.kill();
        let status = child.wait().unwrap();
        writer.join().unwrap();
        if status.code() == Some(0) {
            acked.push(i);
        } else {
            assert_eq!(status.code(), None, "only a kill may stop it");
        }
        assert_sane(&h, true);
        // Every todo entry has its complete message.
        for (id, t) in queue_files(&h, "todo") {
            let env = fs::read(&t).unwrap();
            let mess = fs::read_to_string(h.path("queue").join(Queue::rel("mess", id))).unwrap();
            assert!(mess.starts_with("Received: (qmail "));
            if env.ends_with(b"\0Ff\0Tf\0") {
                assert!(mess.ends_with("\nfiller\n"));
                continue;
            }
            let pos = env.windows(3).position(|w| w == b"\0Fs").unwrap();
            let n: String = env[pos + 3..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .map(|&b| b as char)
                .collect();
            assert!(
                mess.contains(&format!("Subject: {n}\n")),
                "message {n} has its own body"
            );
            assert!(
                mess.ends_with(&format!("{}\n", "x".repeat(20_000))),
                "message {n} complete"
            );
        }
        for a in &acked {
            let mine = format!("\0Fs{a}@a\0Tr{a}@b\0");
            let found = queue_files(&h, "todo")
                .iter()
                .filter(|(_, t)| fs::read(t).unwrap().ends_with(mine.as_bytes()))
                .count();
            assert_eq!(found, 1, "acknowledged message {a} queued once");
        }
    }
    // qmail-qmaint finds the queue sane apart from the killed runs' leftovers.
    let out = h.run("qmail-qmaint", &[] as &[&str], b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("pool/"), "{text}");
}
