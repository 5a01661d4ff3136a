//! mbox delivery (mbox(5)): append under an exclusive lock, From_
//! line first, `>From` quoting, a blank line after, fsync; on failure the
//! file is cut back to where it ended.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::exit::Die;
use crate::sys;

/// Whether a line would read as a message separator: `>*From `.
pub fn needs_quote(line: &[u8]) -> bool {
    let n = line.iter().take_while(|&&b| b == b'>').count();
    line[n..].starts_with(b"From ")
}

/// Appends the message from `message` (from its start) to `path`, after the
/// `prefix` lines. `name` is the file name as written in the .qmail file.
pub fn deliver(path: &Path, name: &str, prefix: &[&[u8]], message: &File) -> Result<(), Die> {
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            Die::temp(format!(
                "Unable to open {name}: {}. (#4.2.1)",
                super::errstr(&e)
            ))
        })?;
    let locked = match sys::lock_fcntl_timeout(&f, 30) {
        Ok(true) => true,
        Ok(false) => {
            return Err(Die::temp(
                "File has been locked for 30 seconds straight. (#4.3.0)",
            ));
        }
        Err(_) => false,
    };
    let start = f.seek(SeekFrom::End(0)).unwrap_or(0);
    let r = append(&mut f, prefix, message);
    if let Err(e) = r {
        if locked {
            let _ = f.set_len(start);
        }
        return Err(match e {
            Failure::Read(e) => Die::temp(format!(
                "Unable to read message: {}. (#4.3.0)",
                super::errstr(&e)
            )),
            Failure::Write(e) => Die::temp(format!(
                "Unable to write {name}: {}. (#4.3.0)",
                super::errstr(&e)
            )),
        });
    }
    Ok(())
}

enum Failure {
    Read(io::Error),
    Write(io::Error),
}

fn append(f: &mut File, prefix: &[&[u8]], mut message: &File) -> Result<(), Failure> {
    message.seek(SeekFrom::Start(0)).map_err(Failure::Read)?;
    let mut input = BufReader::with_capacity(64 * 1024, message);
    let mut out = BufWriter::with_capacity(64 * 1024, &mut *f);
    for p in prefix {
        out.write_all(p).map_err(Failure::Write)?;
    }
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        let n = input.read_until(b'\n', &mut line).map_err(Failure::Read)?;
        if n == 0 {
            break;
        }
        if needs_quote(&line) {
            out.write_all(b">").map_err(Failure::Write)?;
        }
        out.write_all(&line).map_err(Failure::Write)?;
        if !line.ends_with(b"\n") {
            out.write_all(b"\n").map_err(Failure::Write)?;
            break;
        }
    }
    out.write_all(b"\n").map_err(Failure::Write)?;
    out.flush().map_err(Failure::Write)?;
    drop(out);
    f.sync_all().map_err(Failure::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_quoting() {
        assert!(needs_quote(b"From x"));
        assert!(needs_quote(b">>From x"));
        assert!(!needs_quote(b"From: x"));
        assert!(!needs_quote(b" From x"));
        assert!(!needs_quote(b""));
    }
}
