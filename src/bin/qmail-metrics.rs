//! qmail-metrics: counters from the logs of qmail-send and qmail-smtpd
//! (multilog's directories) and the queue's size, in Prometheus' text
//! format or as MRTG's four lines. Runs once and exits: no daemon. See
//! man/qmail-metrics.8.

#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sqmail::analog::exposition;
use sqmail::analog::metrics::State;
use sqmail::analog::multilog;
use sqmail::exit::{Die, run, warn};

const USAGE: &str = "qmail-metrics [ -mhQ ] [ -s state ] log ...";

struct Options {
    mrtg: bool,
    http: bool,
    queue: bool,
    state: Option<PathBuf>,
}

fn main() {
    run("qmail-metrics", || {
        let args = sqmail::getopt::args();
        let (opts, logs) = sqmail::getopt::parse(&args, b"mhQs:", USAGE)?;
        let mut o = Options {
            mrtg: false,
            http: false,
            queue: true,
            state: None,
        };
        for (c, v) in opts {
            match c {
                b'm' => o.mrtg = true,
                b'h' => o.http = true,
                b'Q' => o.queue = false,
                b's' => o.state = v.map(|v| PathBuf::from(sqmail::getopt::text(&v))),
                _ => return Err(Die::usage(USAGE)),
            }
        }
        let logs: Vec<String> = logs.iter().map(|l| sqmail::getopt::text(l)).collect();
        if logs.iter().any(|l| l.contains('\n') || l.is_empty()) {
            return Err(Die::usage(USAGE));
        }
        if o.http {
            read_request()?;
        }
        let body = report(&o, &logs)?;
        let mut out = std::io::stdout().lock();
        let head = if o.http {
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nConnection: close\r\n\r\n"
        } else {
            ""
        };
        out.write_all(head.as_bytes())
            .and_then(|()| out.write_all(body.as_bytes()))
            .and_then(|()| out.flush())
            .map_err(|e| Die::sys("write output", e))
    })
}

/// Counts what the logs added since the state file's run, saves the state
/// and returns the text to print.
fn report(o: &Options, logs: &[String]) -> Result<String, Die> {
    // Two runs at once (cron and a scrape) take turns.
    let _lock = match &o.state {
        Some(p) => Some(lock(p)?),
        None => None,
    };
    let mut state = match &o.state {
        Some(p) => load(p)?,
        None => State::default(),
    };
    for log in logs {
        let mut cursor = state.cursors.remove(log).unwrap_or_default();
        // A read error returns before the state is saved, so lines counted
        // before it are counted again by the next run, not lost.
        multilog::read_new(Path::new(log), &mut cursor, &mut |l| state.line(log, l))
            .map_err(|e| Die::sys(format!("read {log}"), e))?;
        state.cursors.insert(log.clone(), cursor);
    }
    // Logs no longer named are forgotten with their open deliveries.
    state.cursors.retain(|k, _| logs.contains(k));
    state.open.retain(|k, _| logs.contains(k));
    if let Some(p) = &o.state {
        sqmail::fsutil::write_atomic(p, state.to_text().as_bytes(), 0o644)
            .map_err(|e| Die::sys(format!("write {}", p.display()), e))?;
    }
    let now = sqmail::date::now_secs();
    let home = sqmail::home::home();
    if o.mrtg {
        let name = sqmail::control::Control::new(&home)
            .line("me")
            .ok()
            .flatten()
            .unwrap_or_else(sqmail::sys::hostname);
        return Ok(exposition::mrtg(&state, now, &name));
    }
    let queue = if o.queue {
        match sqmail::queue::figures::figures(&home.join("queue"), now) {
            Ok(q) => Some(q),
            Err(e) => {
                warn(
                    "qmail-metrics",
                    format_args!("unable to read the queue: {e}"),
                );
                None
            }
        }
    } else {
        None
    };
    Ok(exposition::exposition(&state, queue))
}

fn lock(state: &Path) -> Result<std::fs::File, Die> {
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)
        .map_err(|e| Die::sys(format!("open {}", Path::new(&name).display()), e))?;
    sqmail::sys::flock_exclusive(&f, true).map_err(|e| Die::sys("lock the state file", e))?;
    Ok(f)
}

fn load(state: &Path) -> Result<State, Die> {
    match std::fs::read_to_string(state) {
        Ok(t) => State::from_text(&t).ok_or_else(|| {
            Die::temp(format!(
                "{} is no qmail-metrics state file",
                state.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(Die::sys(format!("read {}", state.display()), e)),
    }
}

/// The HTTP request of a scrape (under tcpserver or inetd): read up to the
/// empty line that ends its header, whatever it asks for.
fn read_request() -> Result<(), Die> {
    let mut input = sqmail::timeoutio::TimeoutFd::new(0, 10);
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") && !got.windows(2).any(|w| w == b"\n\n") {
        let n = input
            .read(&mut buf)
            .map_err(|e| Die::sys("read request", e))?;
        if n == 0 || got.len() > 16 * 1024 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(())
}
