//! qmailanalog: the reports of qmailanalog (zoverall, zfailures, ...) over
//! matchup's output; called by a report's name (a link) or with the name as
//! its argument. See man/qmailanalog.1.

#![forbid(unsafe_code)]

use std::io::{Read, Write};

use sqmail::analog::report::{Data, NAMES, report};
use sqmail::exit::{Die, run};

fn usage() -> Die {
    Die::usage(&format!("qmailanalog {} < matched", NAMES.join("|")))
}

fn main() {
    run("qmailanalog", || {
        let called = std::env::args_os()
            .next()
            .map(|a| {
                let p = std::path::PathBuf::from(a);
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let args = sqmail::getopt::args();
        let (_, operands) = sqmail::getopt::parse(&args, b"", "").map_err(|_| usage())?;
        let name = if NAMES.contains(&called.as_str()) {
            if !operands.is_empty() {
                return Err(usage());
            }
            called
        } else {
            match operands {
                [one] => sqmail::getopt::text(one),
                _ => return Err(usage()),
            }
        };
        let mut input = Vec::new();
        std::io::stdin()
            .read_to_end(&mut input)
            .map_err(|e| Die::sys("read input", e))?;
        let data = Data::read(&String::from_utf8_lossy(&input));
        let text = report(&name, &data).ok_or_else(usage)?;
        std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| Die::sys("write output", e))
    })
}
