//! The table of remote addresses that timed out (`queue/lock/tcpto`,
//! qmail-tcpto(8)): 32 records of 32 bytes, s/qmail's layout, changed
//! under an exclusive lock.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::sys;

pub const SIZE: usize = 1024;
const RECORD: usize = 32;
const RECORDS: usize = SIZE / RECORD;
const MAX_COUNT: u8 = 10;
const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;

/// One record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub ip: IpAddr,
    pub count: u8,
    pub when: u32,
}

fn encode_ip(ip: IpAddr, rec: &mut [u8]) {
    match ip {
        IpAddr::V4(v4) => {
            rec[0] = AF_INET;
            rec[16..20].copy_from_slice(&v4.octets());
            rec[20..32].fill(b'.');
        }
        IpAddr::V6(v6) => {
            rec[0] = AF_INET6;
            rec[16..32].copy_from_slice(&v6.octets());
        }
    }
}

fn decode(rec: &[u8]) -> Option<Entry> {
    let ip = match rec[0] {
        AF_INET => IpAddr::V4(Ipv4Addr::new(rec[16], rec[17], rec[18], rec[19])),
        AF_INET6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&rec[16..32]).ok()?)),
        _ => return None,
    };
    Some(Entry {
        ip,
        count: rec[4],
        when: u32::from_le_bytes([rec[8], rec[9], rec[10], rec[11]]),
    })
}

fn matches(rec: &[u8], ip: IpAddr) -> bool {
    decode(rec).is_some_and(|e| e.ip == ip)
}

/// The table file, locked while this value lives.
pub struct Table {
    file: File,
    data: [u8; SIZE],
}

impl Table {
    /// Opens and locks `path` (read/write) and reads it.
    pub fn open(path: &Path) -> io::Result<Table> {
        let mut file = OpenOptions::new().read(true).write(true).open(path)?;
        sys::flock_exclusive(&file, true)?;
        let mut data = [0u8; SIZE];
        let mut n = 0;
        while n < SIZE {
            match file.read(&mut data[n..])? {
                0 => break,
                r => n += r,
            }
        }
        Ok(Table { file, data })
    }

    fn rec(&self, i: usize) -> &[u8] {
        &self.data[i * RECORD..(i + 1) * RECORD]
    }

    fn find(&self, ip: IpAddr) -> Option<usize> {
        (0..RECORDS).find(|&i| matches(self.rec(i), ip))
    }

    fn write_rec(&mut self, i: usize) -> io::Result<()> {
        self.file.seek(SeekFrom::Start((i * RECORD) as u64))?;
        self.file
            .write_all(&self.data[i * RECORD..(i + 1) * RECORD])
    }

    /// Every record in use (count ≥ 1).
    pub fn entries(&self) -> Vec<Entry> {
        (0..RECORDS)
            .filter_map(|i| decode(self.rec(i)))
            .filter(|e| e.count > 0)
            .collect()
    }

    /// Should `ip` be skipped now? (≥ 2 recent timeouts, within a window
    /// of (60 + pid mod 32) × 64 seconds.)
    pub fn skip(&self, ip: IpAddr, now: u32, pid: u32) -> bool {
        let Some(e) = self.find(ip).and_then(|i| decode(self.rec(i))) else {
            return false;
        };
        e.count >= 2 && now.wrapping_sub(e.when) < (60 + pid % 32) * 64
    }

    /// Has `ip` a record with errors?
    pub fn known(&self, ip: IpAddr) -> bool {
        self.find(ip)
            .is_some_and(|i| self.data[i * RECORD + 4] != 0)
    }

    /// A connection to `ip` worked: forget its timeouts.
    pub fn success(&mut self, ip: IpAddr) -> io::Result<()> {
        match self.find(ip) {
            Some(i) if self.data[i * RECORD + 4] != 0 => {
                self.data[i * RECORD + 4] = 0;
                self.write_rec(i)
            }
            _ => Ok(()),
        }
    }

    /// A connection to `ip` timed out or was refused.
    pub fn failure(&mut self, ip: IpAddr, now: u32) -> io::Result<()> {
        let i = match self.find(ip) {
            Some(i) => {
                let e = decode(self.rec(i)).unwrap_or(Entry {
                    ip,
                    count: 0,
                    when: 0,
                });
                if e.count > 0 && now.wrapping_sub(e.when) < 120 {
                    return Ok(());
                }
                self.data[i * RECORD + 4] = (e.count + 1).min(MAX_COUNT);
                i
            }
            None => {
                let free = (0..RECORDS).find(|&i| self.data[i * RECORD + 4] == 0);
                let i = free.unwrap_or_else(|| {
                    (0..RECORDS)
                        .min_by_key(|&i| {
                            let e = decode(self.rec(i));
                            e.map_or(0, |e| u64::from(e.when) + u64::from(e.count) * 1024)
                        })
                        .unwrap_or(0)
                });
                let rec = &mut self.data[i * RECORD..(i + 1) * RECORD];
                rec.fill(0);
                encode_ip(ip, rec);
                rec[4] = 1;
                i
            }
        };
        self.data[i * RECORD + 8..i * RECORD + 12].copy_from_slice(&now.to_le_bytes());
        self.write_rec(i)
    }

    /// Empties the table (qmail-tcpok).
    pub fn clear(&mut self) -> io::Result<()> {
        self.data = [0u8; SIZE];
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&self.data)
    }
}

/// The table of the qmail home, for qmail-tcpto and qmail-tcpok.
pub fn open_home() -> Result<Table, crate::exit::Die> {
    let home = crate::home::home();
    std::env::set_current_dir(&home)
        .map_err(|e| crate::exit::Die::sys(format_args!("switch to {}", home.display()), e))?;
    Table::open(Path::new("queue/lock/tcpto"))
        .map_err(|e| crate::exit::Die::sys("open queue/lock/tcpto", e))
}

/// Seconds since the epoch, as the table stores them.
pub fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> (Table, std::path::PathBuf) {
        let p = std::env::temp_dir().join(format!(
            "sqmail-tcpto-{}-{}",
            std::process::id(),
            crate::dns::random_u64()
        ));
        std::fs::write(&p, [0u8; SIZE]).unwrap();
        (Table::open(&p).unwrap(), p)
    }

    #[test]
    fn counts_and_skips() {
        let (mut t, p) = table();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let ip6: IpAddr = "2001:db8::1".parse().unwrap();
        t.failure(ip, 1000).unwrap();
        assert!(!t.skip(ip, 1001, 100), "count 1 is always tried");
        t.failure(ip, 1050).unwrap();
        assert_eq!(
            t.entries()[0].count,
            1,
            "second failure within 120 s ignored"
        );
        t.failure(ip, 1200).unwrap();
        // count 2, last error 3000 s ago, pid 100 → window 4096.
        assert!(t.skip(ip, 1200 + 3000, 100));
        assert!(!t.skip(ip, 1200 + 5000, 100));
        assert!(t.skip(ip, 1200 + 5000, 31), "pid 31: window 5824");
        t.failure(ip6, 5).unwrap();
        drop(t);
        let raw = std::fs::read(&p).unwrap();
        assert_eq!(raw.len(), SIZE);
        assert_eq!(&raw[..12], &[2, 0, 0, 0, 2, 0, 0, 0, 0xb0, 4, 0, 0]);
        assert_eq!(&raw[16..32], b"\xc0\x00\x02\x01............");
        assert_eq!(raw[32], 10);
        let mut t = Table::open(&p).unwrap();
        t.success(ip).unwrap();
        assert_eq!(t.entries().len(), 1);
        t.clear().unwrap();
        assert!(t.entries().is_empty());
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn full_table_replaces_oldest() {
        let (mut t, p) = table();
        for i in 0..32u8 {
            t.failure(
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)),
                10_000 + u32::from(i),
            )
            .unwrap();
        }
        t.failure("10.0.1.1".parse().unwrap(), 20_000).unwrap();
        let e = t.entries();
        assert_eq!(e.len(), 32);
        assert!(
            !e.iter()
                .any(|e| e.ip == IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)))
        );
        std::fs::remove_file(&p).unwrap();
    }
}
