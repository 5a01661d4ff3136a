//! The UCSPI servers under test: tcpserver or sslserver started on a free
//! port, and a clean command for any of our programs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::{bin, wait_until};

/// A running server (tcpserver or sslserver) started with `-1`; killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Server {
    /// Starts `cmd` (which must include `-1`) and reads the bound port.
    pub fn start(mut cmd: Command, dir: &Path) -> Option<Server> {
        let log = dir.join(format!("server-{}.log", rand_suffix()));
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(port) = line.split_whitespace().last().and_then(|p| p.parse().ok()) else {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        };
        Some(Server { child, port, log })
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// Waits until the log contains `needle` (the server writes it after
    /// reaping a child), for at most 10 s.
    pub fn wait_log(&self, needle: &str) -> String {
        let mut t = String::new();
        if wait_until(10, || {
            t = self.log_text();
            t.contains(needle)
        }) {
            return t;
        }
        panic!("log never showed {needle:?}: {}", self.log_text());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u32 {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst) as u32
}

/// A command for one of our programs with a clean environment.
pub fn prog(name: &str) -> Command {
    let mut c = Command::new(bin(name));
    c.env_clear().env("PATH", "/usr/bin:/bin");
    c
}
