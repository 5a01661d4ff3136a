//! splogger: send each line of stdin to syslog, stamped with the time.
//! See man/splogger.8.

#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::{SystemTime, UNIX_EPOCH};

use sqmail::exit::run;

/// syslog truncates long lines; longer ones are split into chunks.
const CHUNK: usize = 799;
const LOG_MAIL: u32 = 2 << 3;
const LOG_ALERT: u32 = 1;
const LOG_WARNING: u32 = 4;
const LOG_INFO: u32 = 6;

/// The syslog socket: a datagram socket, or a stream socket on systems
/// whose /dev/log is one. Reconnected after a failure; without syslog,
/// lines are dropped (as syslog(3) does without LOG_CONS).
struct Syslog {
    path: String,
    conn: Option<Conn>,
}

enum Conn {
    Dgram(UnixDatagram),
    Stream(UnixStream),
}

impl Syslog {
    fn connect(&self) -> Option<Conn> {
        if let Ok(s) = UnixDatagram::unbound()
            && s.connect(&self.path).is_ok()
        {
            return Some(Conn::Dgram(s));
        }
        UnixStream::connect(&self.path).ok().map(Conn::Stream)
    }

    fn send(&mut self, msg: &[u8]) {
        for _ in 0..2 {
            if self.conn.is_none() {
                self.conn = self.connect();
            }
            let ok = match &mut self.conn {
                Some(Conn::Dgram(s)) => s.send(msg).is_ok(),
                Some(Conn::Stream(s)) => s.write_all(msg).and_then(|_| s.write_all(b"\0")).is_ok(),
                None => return,
            };
            if ok {
                return;
            }
            self.conn = None;
        }
    }
}

/// `<seconds>.<microseconds>`.
fn stamp() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

fn main() {
    run("splogger", || {
        let args = sqmail::getopt::args_lossy();
        let tag = args.first().map_or("splogger", String::as_str);
        let facility = match args.get(1) {
            Some(f) => sqmail::control::parse_leading_uint(f).unwrap_or(0) as u32 * 8,
            None => LOG_MAIL,
        };
        let mut log = Syslog {
            path: std::env::var("SPLOGGER_SOCKET").unwrap_or_else(|_| "/dev/log".into()),
            conn: None,
        };
        let mut line: Vec<u8> = Vec::with_capacity(CHUNK);
        // The stamp and priority of the current line, set by its first chunk.
        let mut current: Option<(String, u32)> = None;
        let mut flush = |line: &mut Vec<u8>, current: &mut Option<(String, u32)>| {
            if line.is_empty() {
                return;
            }
            let (st, prio, sep) = match current {
                Some((st, prio)) => (st.clone(), *prio, '+'),
                None => {
                    let prio = if line.starts_with(b"alert:") {
                        LOG_ALERT
                    } else if line.starts_with(b"warning:") {
                        LOG_WARNING
                    } else {
                        LOG_INFO
                    };
                    let st = stamp();
                    *current = Some((st.clone(), prio));
                    (st, prio, ' ')
                }
            };
            let mut msg = format!("<{}>{tag}: {st}{sep}", facility | prio).into_bytes();
            msg.extend_from_slice(line);
            log.send(&msg);
            line.clear();
        };
        let mut buf = [0u8; 4096];
        let mut stdin = io::stdin().lock();
        loop {
            let n = match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            for &b in &buf[..n] {
                if b == b'\n' {
                    flush(&mut line, &mut current);
                    current = None;
                    continue;
                }
                if line.len() == CHUNK {
                    flush(&mut line, &mut current);
                }
                line.push(if sqmail::printable::ascii(b) { b } else { b'?' });
            }
        }
        flush(&mut line, &mut current);
        Ok(())
    })
}
