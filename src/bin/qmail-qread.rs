//! qmail-qread: list the messages in the queue with their senders and
//! recipients. See man/qmail-qread.8.

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
        for d in 0..auto::SPLIT {
            let dir = format!("info/{d}");
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
        out.flush()
            .map_err(|e| Die::temp(format!("unable to write output: {}", err_text(&e))))
    })
}

/// Prints one message: its summary line, then one line per recipient.
fn show(out: &mut impl Write, id: u64) -> io::Result<()> {
    let size = fs::metadata(Queue::rel("mess", id))?.len();
    let bouncing = fs::metadata(Queue::rel("bounce", id)).is_ok();
    let info_path = Queue::rel("info", id);
    let info = fs::read(&info_path)?;
    let when = fs::metadata(&info_path)?.mtime();
    let sender = info.get(1..).unwrap_or(b"");
    let sender = &sender[..memchr::memchr(0, sender).unwrap_or(sender.len())];
    let t = date::Utc::from_unix(when);
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
    if bouncing {
        line.extend_from_slice(b" bouncing");
    }
    out.write_all(&printable(&line, b'_'))?;
    out.write_all(b"\n")?;
    for channel in ["local", "remote"] {
        let data = match fs::read(Queue::rel(channel, id)) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                writeln!(out, "warning: trouble with #{id}: {}", err_text(&e))?;
                continue;
            }
        };
        // Only complete (NUL-terminated) records count.
        let complete = &data[..data.iter().rposition(|&b| b == 0).map_or(0, |i| i + 1)];
        for rec in complete.split(|&b| b == 0) {
            let prefix: &[u8] = match rec.first() {
                Some(b'D') => b"  done\t",
                Some(b'T') => b"\t",
                _ => continue,
            };
            out.write_all(prefix)?;
            out.write_all(channel.as_bytes())?;
            out.write_all(b"\t")?;
            out.write_all(&printable(&rec[1..], b'_'))?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}
