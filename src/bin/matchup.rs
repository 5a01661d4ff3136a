//! matchup: pairs the lines of qmail-send's log into one line per finished
//! delivery and per finished message, for qmailanalog's reports. See
//! man/matchup.1.

#![forbid(unsafe_code)]

use std::io::Write;

use sqmail::analog::matchup::Matchup;
use sqmail::analog::multilog::read_line;
use sqmail::exit::{Die, run};

const USAGE: &str = "matchup < log > matched [5> pending]";

fn main() {
    run("matchup", || {
        let args = sqmail::getopt::args();
        let (_, operands) = sqmail::getopt::parse(&args, b"", USAGE)?;
        if !operands.is_empty() {
            return Err(Die::usage(USAGE));
        }
        let mut m = Matchup::default();
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let mut line = Vec::new();
        let mut text = String::new();
        loop {
            let (n, _) = read_line(&mut input, &mut line).map_err(|e| Die::sys("read input", e))?;
            if n == 0 {
                break;
            }
            text.clear();
            m.line(&String::from_utf8_lossy(&line), &mut text);
            out.write_all(text.as_bytes())
                .map_err(|e| Die::sys("write output", e))?;
        }
        out.flush().map_err(|e| Die::sys("write output", e))?;
        // What is still open goes to descriptor 5 when it is open.
        if sqmail::sys::fd_is_open(5) {
            let mut f = sqmail::sys::borrow_fd(5);
            f.write_all(m.pending().as_bytes())
                .map_err(|e| Die::sys("write fd 5", e))?;
        }
        Ok(())
    })
}
