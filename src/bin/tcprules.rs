//! tcprules: compile a rules text (stdin) into a cdb for tcpserver -x.
//! See man/tcprules.1.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;

use sqmail::cdb::CdbMaker;
use sqmail::exit::{Die, run};
use sqmail::ucspi::rules;

const USAGE: &str = "tcprules rules.cdb rules.tmp";

fn main() {
    run("tcprules", || {
        let args: Vec<_> = std::env::args_os().skip(1).collect();
        let [cdb, tmp] = &args[..] else {
            return Err(Die::usage(USAGE));
        };
        let (cdb, tmp) = (Path::new(cdb), Path::new(tmp));
        let mut maker = CdbMaker::create(tmp, cdb)
            .map_err(|e| Die::sys(format_args!("create: {}", tmp.display()), e))?;
        let mut input = BufReader::with_capacity(65536, std::io::stdin().lock());
        let mut line = Vec::new();
        let mut n = 0;
        loop {
            line.clear();
            if input
                .read_until(b'\n', &mut line)
                .map_err(|e| Die::sys("read input", e))?
                == 0
            {
                break;
            }
            n += 1;
            let rule = rules::parse_line(&line).map_err(|e| {
                let text = String::from_utf8_lossy(line.trim_ascii_end());
                Die::new(101, format!("{}: {text} (line {n})", e.0))
            })?;
            if let Some(rule) = rule {
                for key in &rule.keys {
                    maker
                        .add(key, &rule.data)
                        .map_err(|e| Die::sys(format_args!("write to: {}", tmp.display()), e))?;
                }
            }
        }
        maker.finish().map_err(|e| {
            Die::sys(
                format_args!("move {} to: {}", tmp.display(), cdb.display()),
                e,
            )
        })
    })
}
