//! qmail-qread: list the messages in the queue with their senders and
//! recipients, the preprocessed ones (info/) first, then those still in
//! todo/. See man/qmail-qread.8.

#![forbid(unsafe_code)]

use std::fs;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::MetadataExt;

use sqmail::exit::{Die, run};
use sqmail::queue::Queue;
use sqmail::queue::check::{err_text, ids_in, printable};
use sqmail::{auto, date, home};

fn main() {
    run("qmail-qread", || {
        std::env::set_current_dir(home::home().join("queue"))
            .map_err(|e| Die::temp(format!("unable to chdir: {}", err_text(&e))))?;
        let stdout = io::stdout();
        let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
        for (dir, show) in [("info", show as Show), ("todo", show_todo)] {
            for d in 0..auto::SPLIT {
                let dir = format!("{dir}/{d}");
                let ids = ids_in(&dir)
                    .map_err(|e| Die::temp(format!("unable to opendir {dir}: {}", err_text(&e))))?;
                for id in ids {
                    if let Err(e) = show(&mut out, id) {
                        if e.kind() == io::ErrorKind::BrokenPipe {
                            return Ok(());
                        }
                        let _ = writeln!(out, "warning: trouble with #{id}: {}", err_text(&e));
                    }
                }
            }
        }
        out.flush()
            .map_err(|e| Die::temp(format!("unable to write output: {}", err_text(&e))))
    })
}

type Show = fn(&mut BufWriter<io::StdoutLock<'static>>, u64) -> io::Result<()>;

/// The summary line of a message: when it was queued (the mtime of `file`),
/// its id and size, the sender and a note.
fn summary(out: &mut impl Write, id: u64, file: &str, sender: &[u8], note: &str) -> io::Result<()> {
    let size = fs::metadata(Queue::rel("mess", id))?.len();
    let t = date::Utc::from_unix(fs::metadata(file)?.mtime());
    let mut line = format!(
        "{} {} {} {:02}:{:02}:{:02} GMT  #{id}  {size}  <",
        t.day,
        t.month_name(),
        t.year,
        t.hour,
        t.min,
        t.sec
    )
    .into_bytes();
    line.extend_from_slice(sender);
    line.extend_from_slice(b"> ");
    line.extend_from_slice(note.as_bytes());
    out.write_all(&printable(&line, b'_'))?;
    out.write_all(b"\n")
}

/// A recipient line: `[  done]\tCHANNEL\tADDRESS`.
fn recipient(out: &mut impl Write, done: bool, channel: &str, addr: &[u8]) -> io::Result<()> {
    out.write_all(if done { b"  done\t" } else { b"\t" })?;
    out.write_all(channel.as_bytes())?;
    out.write_all(b"\t")?;
    out.write_all(&printable(addr, b'_'))?;
    out.write_all(b"\n")
}

/// Only the complete (NUL-terminated) records of a list.
fn complete(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let end = data.iter().rposition(|&b| b == 0).map_or(0, |i| i + 1);
    data[..end].split(|&b| b == 0).filter(|r| !r.is_empty())
}

/// A message qmail-send has not preprocessed yet: the envelope
/// qmail-queue wrote (`todo/D/id`), its recipients not yet sorted into
/// local and remote. One preprocessed meanwhile is listed under info.
fn show_todo(out: &mut impl Write, id: u64) -> io::Result<()> {
    let todo = Queue::rel("todo", id);
    let env = match fs::read(&todo) {
        Ok(e) => e,
        // Preprocessed since the directory was read.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if fs::metadata(Queue::rel("info", id)).is_ok() {
        return Ok(());
    }
    let sender = complete(&env)
        .find_map(|r| r.strip_prefix(b"F"))
        .unwrap_or(b"");
    summary(out, id, &todo, sender, " not yet preprocessed")?;
    for r in complete(&env).filter_map(|r| r.strip_prefix(b"T")) {
        recipient(out, false, "todo", r)?;
    }
    Ok(())
}

/// Prints one preprocessed message: its summary line, then one line per
/// recipient.
fn show(out: &mut impl Write, id: u64) -> io::Result<()> {
    let bouncing = fs::metadata(Queue::rel("bounce", id)).is_ok();
    let info_path = Queue::rel("info", id);
    let info = fs::read(&info_path)?;
    let sender = info.get(1..).unwrap_or(b"");
    let sender = &sender[..memchr::memchr(0, sender).unwrap_or(sender.len())];
    let note = if bouncing { " bouncing" } else { "" };
    summary(out, id, &info_path, sender, note)?;
    for channel in ["local", "remote"] {
        let data = match fs::read(Queue::rel(channel, id)) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                writeln!(out, "warning: trouble with #{id}: {}", err_text(&e))?;
                continue;
            }
        };
        for rec in complete(&data) {
            match rec.split_first() {
                Some((b'D', a)) => recipient(out, true, channel, a)?,
                Some((b'T', a)) => recipient(out, false, channel, a)?,
                _ => {}
            }
        }
    }
    Ok(())
}
