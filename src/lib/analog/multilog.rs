//! Reading a log incrementally: a multilog directory (its finished files
//! `@*.s` and `@*.u`, oldest first, then `current`) or one plain file,
//! from where the last reading stopped. multilog renames `current` to
//! `@stamp.s` when it rotates, so a finished file with the inode `current`
//! had is read on from the offset reached in it.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Where the reading of one log stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The inode of the file read last as `current` and the offset after
    /// its last complete line.
    pub inode: u64,
    pub offset: u64,
    /// The finished files already read to the end.
    pub seen: BTreeSet<String>,
}

/// Calls `each` for every complete line added to the log at `path` since
/// `cursor`, and moves the cursor past them. A line is complete when its
/// newline is there; an unfinished last line waits for the next reading.
pub fn read_new(path: &Path, cursor: &mut Cursor, each: &mut dyn FnMut(&str)) -> io::Result<()> {
    if !fs::metadata(path)?.is_dir() {
        return read_current(path, cursor, each);
    }
    let mut finished: Vec<String> = fs::read_dir(path)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('@') && (n.ends_with(".s") || n.ends_with(".u")))
        .collect();
    finished.sort();
    for name in &finished {
        if cursor.seen.contains(name) {
            continue;
        }
        let p = path.join(name);
        let inode = fs::metadata(&p)?.ino();
        let from = if inode == cursor.inode {
            cursor.offset
        } else {
            0
        };
        // A finished file is read whole: a last line without its newline
        // (multilog killed) will get none.
        read_from(&p, from, true, each)?;
        if inode == cursor.inode {
            (cursor.inode, cursor.offset) = (0, 0);
        }
    }
    // Names multilog has deleted are forgotten.
    cursor.seen = finished.into_iter().collect();
    let current = path.join("current");
    match fs::metadata(&current) {
        Ok(_) => read_current(&current, cursor, each),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn read_current(path: &Path, cursor: &mut Cursor, each: &mut dyn FnMut(&str)) -> io::Result<()> {
    let meta = fs::metadata(path)?;
    let same = meta.ino() == cursor.inode && meta.len() >= cursor.offset;
    let from = if same { cursor.offset } else { 0 };
    let end = read_from(path, from, false, each)?;
    (cursor.inode, cursor.offset) = (meta.ino(), end);
    Ok(())
}

/// Lines longer than this are cut to it (a log line is short; this bounds
/// the memory a broken log can take).
pub const LINE_MAX: usize = 64 * 1024;

/// Reads one line of `input` into `line` (without its newline, at most
/// `LINE_MAX` bytes kept); returns the bytes consumed and whether the
/// newline was there. 0 at the end.
pub fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<(u64, bool)> {
    line.clear();
    let mut used = 0u64;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok((used, false));
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = LINE_MAX.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let n = done.unwrap_or(buf.len());
        input.consume(n);
        used += n as u64;
        if done.is_some() {
            return Ok((used, true));
        }
    }
}

/// Reads `path` from `from`; returns the offset after the last complete
/// line (or the end, with `whole`).
fn read_from(path: &Path, from: u64, whole: bool, each: &mut dyn FnMut(&str)) -> io::Result<u64> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(from))?;
    let mut input = BufReader::new(f);
    let mut line = Vec::new();
    let mut end = from;
    loop {
        let (n, complete) = read_line(&mut input, &mut line)?;
        if n == 0 || !(complete || whole) {
            return Ok(end);
        }
        end += n;
        if !line.is_empty() {
            each(&String::from_utf8_lossy(&line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(dir: &Path, c: &mut Cursor) -> Vec<String> {
        let mut got = Vec::new();
        read_new(dir, c, &mut |l| got.push(l.to_string())).unwrap();
        got
    }

    #[test]
    fn rotation_and_partial_lines() {
        let dir = std::env::temp_dir().join(format!("analog-multilog-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("@400000000000000000000001.s"), "old 1\nold 2\n").unwrap();
        fs::write(dir.join("current"), "a\nb\npart").unwrap();
        let mut c = Cursor::default();
        assert_eq!(lines(&dir, &mut c), ["old 1", "old 2", "a", "b"]);
        assert_eq!(lines(&dir, &mut c), Vec::<String>::new());
        // The line is finished, then current rotates and a new one starts.
        fs::write(dir.join("current"), "a\nb\npartial\nc\n").unwrap();
        fs::rename(dir.join("current"), dir.join("@400000000000000000000002.s")).unwrap();
        fs::remove_file(dir.join("@400000000000000000000001.s")).unwrap();
        fs::write(dir.join("current"), "d\n").unwrap();
        assert_eq!(lines(&dir, &mut c), ["partial", "c", "d"]);
        assert_eq!(c.seen.len(), 1);
        // A plain file that was truncated is read from its start.
        let file = dir.join("plain");
        fs::write(&file, "x\ny\n").unwrap();
        let mut c = Cursor::default();
        assert_eq!(lines(&file, &mut c), ["x", "y"]);
        fs::write(&file, "z\n").unwrap();
        assert_eq!(lines(&file, &mut c), ["z"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn long_lines_are_cut() {
        let mut data = vec![b'x'; LINE_MAX * 2 + 5];
        data.extend_from_slice(b"\nshort\nend");
        let mut input = &data[..];
        let mut line = Vec::new();
        assert_eq!(
            read_line(&mut input, &mut line).unwrap(),
            ((LINE_MAX * 2 + 6) as u64, true)
        );
        assert_eq!(line.len(), LINE_MAX);
        assert_eq!(read_line(&mut input, &mut line).unwrap(), (6, true));
        assert_eq!(line, b"short");
        assert_eq!(read_line(&mut input, &mut line).unwrap(), (3, false));
        assert_eq!(line, b"end");
        assert_eq!(read_line(&mut input, &mut line).unwrap(), (0, false));
    }
}
