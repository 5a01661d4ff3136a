//! qmail-postgrey: ask a postgrey greylisting server about one SMTP
//! recipient (qmail-postgrey(8)). Exit 10 = greylisted, 0 = pass; trouble
//! talking to the server is a warning and a pass (fail-open).

#![forbid(unsafe_code)]

use std::os::unix::ffi::OsStrExt;

use sqmail::exit::{self, Die};
use sqmail::postgrey::{self, Query, Verdict};

const PROG: &str = "qmail-postgrey";

fn main() {
    exit::run(PROG, || {
        let args: Vec<_> = std::env::args_os().skip(1).collect();
        if args.len() < 5 {
            return Err(Die::usage(postgrey::USAGE));
        }
        let arg = |i: usize| args[i].as_bytes();
        let server = String::from_utf8_lossy(arg(0));
        let q = Query {
            sender: arg(1),
            recipient: arg(2),
            client_ip: arg(3),
            client_name: arg(4),
        };
        match postgrey::query(&server, &q) {
            Ok(Verdict::Greylisted) => Err(Die::quiet(postgrey::EXIT_GREYLISTED)),
            Ok(Verdict::Pass) => Ok(()),
            Err(why) => {
                exit::warn(PROG, why);
                Ok(())
            }
        }
    })
}
