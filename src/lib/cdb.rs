//! Constant databases (D. J. Bernstein's cdb format), read and written.
//!
//! Reading costs a few `pread`s per lookup and never reads the whole file,
//! so a large rules or users database is as cheap as a small one.

use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The cdb hash: h = 5381; h = ((h << 5) + h) ^ c.
pub fn hash(key: &[u8]) -> u32 {
    key.iter().fold(5381u32, |h, &c| {
        (h.wrapping_shl(5).wrapping_add(h)) ^ c as u32
    })
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn corrupt() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "corrupt cdb")
}

/// An open cdb file.
pub struct Cdb {
    file: File,
    size: u64,
}

impl Cdb {
    pub fn open(path: &Path) -> io::Result<Cdb> {
        Cdb::from_file(File::open(path)?)
    }

    /// `None` when the file does not exist.
    pub fn open_optional(path: &Path) -> io::Result<Option<Cdb>> {
        match File::open(path) {
            Ok(f) => Cdb::from_file(f).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn from_file(file: File) -> io::Result<Cdb> {
        let size = file.metadata()?.len();
        Ok(Cdb { file, size })
    }

    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        if pos + buf.len() as u64 > self.size {
            return Err(corrupt());
        }
        self.file.read_exact_at(buf, pos)
    }

    /// The first value stored under `key`.
    pub fn get(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        self.find(key).next().transpose()
    }

    /// Every value stored under `key`, in insertion order.
    pub fn find<'a>(&'a self, key: &'a [u8]) -> Find<'a> {
        Find {
            cdb: self,
            key,
            h: hash(key),
            state: None,
        }
    }
}

/// Iterator over the values of one key.
pub struct Find<'a> {
    cdb: &'a Cdb,
    key: &'a [u8],
    h: u32,
    /// (table position, slot count, slots looked at, current slot)
    state: Option<(u64, u32, u32, u32)>,
}

impl Find<'_> {
    fn step(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.state.is_none() {
            let mut head = [0u8; 8];
            self.cdb
                .read_exact_at(&mut head, u64::from((self.h & 255) * 8))?;
            let (pos, slots) = (u32_at(&head, 0), u32_at(&head, 4));
            if slots == 0 {
                return Ok(None);
            }
            let start = (self.h >> 8) % slots;
            self.state = Some((u64::from(pos), slots, 0, start));
        }
        let Some((pos, slots, ref mut seen, ref mut slot)) = self.state else {
            return Ok(None);
        };
        while *seen < slots {
            let mut ent = [0u8; 8];
            self.cdb
                .read_exact_at(&mut ent, pos + u64::from(*slot) * 8)?;
            *seen += 1;
            *slot = (*slot + 1) % slots;
            let (h, rec) = (u32_at(&ent, 0), u64::from(u32_at(&ent, 4)));
            if rec == 0 {
                *seen = slots;
                return Ok(None);
            }
            if h != self.h {
                continue;
            }
            let mut lens = [0u8; 8];
            self.cdb.read_exact_at(&mut lens, rec)?;
            let (klen, dlen) = (u32_at(&lens, 0) as usize, u32_at(&lens, 4) as usize);
            if klen != self.key.len() {
                continue;
            }
            let mut kd = vec![0u8; klen + dlen];
            self.cdb.read_exact_at(&mut kd, rec + 8)?;
            if &kd[..klen] == self.key {
                return Ok(Some(kd.split_off(klen)));
            }
        }
        Ok(None)
    }
}

impl Iterator for Find<'_> {
    type Item = io::Result<Vec<u8>>;
    fn next(&mut self) -> Option<Self::Item> {
        self.step().transpose()
    }
}

/// Writes a cdb to `path.tmp`, then `finish` fsyncs and renames it into
/// place, so readers see the old or the new database, never a mix.
pub struct CdbMaker {
    out: BufWriter<File>,
    tmp: PathBuf,
    dest: PathBuf,
    pos: u32,
    entries: Vec<(u32, u32)>,
}

impl CdbMaker {
    /// Writes via `tmp` (e.g. `users/cdb.tmp`) into `dest`.
    pub fn create(tmp: &Path, dest: &Path) -> io::Result<CdbMaker> {
        let mut f = File::create(tmp)?;
        f.write_all(&[0u8; 2048])?;
        Ok(CdbMaker {
            out: BufWriter::new(f),
            tmp: tmp.into(),
            dest: dest.into(),
            pos: 2048,
            entries: Vec::new(),
        })
    }

    pub fn add(&mut self, key: &[u8], data: &[u8]) -> io::Result<()> {
        let too_big = || io::Error::new(io::ErrorKind::OutOfMemory, "cdb too large");
        let rec_len = u32::try_from(8 + key.len() + data.len()).map_err(|_| too_big())?;
        self.out.write_all(&(key.len() as u32).to_le_bytes())?;
        self.out.write_all(&(data.len() as u32).to_le_bytes())?;
        self.out.write_all(key)?;
        self.out.write_all(data)?;
        self.entries.push((hash(key), self.pos));
        self.pos = self.pos.checked_add(rec_len).ok_or_else(too_big)?;
        Ok(())
    }

    /// Writes the hash tables and header, fsyncs, renames into place.
    pub fn finish(mut self) -> io::Result<()> {
        let mut header = [0u8; 2048];
        let mut buckets: Vec<Vec<(u32, u32)>> = vec![Vec::new(); 256];
        for &(h, p) in &self.entries {
            buckets[(h & 255) as usize].push((h, p));
        }
        let mut pos = self.pos;
        for (i, b) in buckets.iter().enumerate() {
            let slots = (b.len() * 2) as u32;
            header[i * 8..i * 8 + 4].copy_from_slice(&pos.to_le_bytes());
            header[i * 8 + 4..i * 8 + 8].copy_from_slice(&slots.to_le_bytes());
            let mut table = vec![(0u32, 0u32); slots as usize];
            for &(h, p) in b {
                let mut s = ((h >> 8) % slots) as usize;
                while table[s].1 != 0 {
                    s = (s + 1) % slots as usize;
                }
                table[s] = (h, p);
            }
            for (h, p) in table {
                self.out.write_all(&h.to_le_bytes())?;
                self.out.write_all(&p.to_le_bytes())?;
            }
            pos = pos
                .checked_add(slots * 8)
                .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "cdb too large"))?;
        }
        let mut f = self.out.into_inner().map_err(|e| e.into_error())?;
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&header)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&self.tmp, &self.dest)?;
        if let Some(dir) = self.dest.parent() {
            crate::fsutil::fsync_dir(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_duplicates() {
        let dir = std::env::temp_dir().join(format!("sqmail-cdb-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (tmp, dest) = (dir.join("t.tmp"), dir.join("t.cdb"));
        let mut m = CdbMaker::create(&tmp, &dest).unwrap();
        for i in 0..1000u32 {
            m.add(format!("key{i}").as_bytes(), format!("val{i}").as_bytes())
                .unwrap();
        }
        m.add(b"dup", b"one").unwrap();
        m.add(b"dup", b"two").unwrap();
        m.add(b"", b"empty key").unwrap();
        m.finish().unwrap();
        let c = Cdb::open(&dest).unwrap();
        for i in (0..1000u32).step_by(7) {
            assert_eq!(
                c.get(format!("key{i}").as_bytes()).unwrap().unwrap(),
                format!("val{i}").into_bytes()
            );
        }
        assert_eq!(c.get(b"absent").unwrap(), None);
        let all: Vec<Vec<u8>> = c.find(b"dup").map(Result::unwrap).collect();
        assert_eq!(all, vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(c.get(b"").unwrap().unwrap(), b"empty key");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn known_hash() {
        // Value from the reference implementation.
        assert_eq!(hash(b""), 5381);
        assert_eq!(hash(b"a"), (5381u32 * 33) ^ 97);
    }
}
