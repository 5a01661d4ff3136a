//! qmail-showctl: print the compiled-in settings and what each control
//! file makes of the current configuration (qmail-showctl(8)). The report
//! is `sqmail::showctl`.

#![forbid(unsafe_code)]

use std::io::{self, BufWriter};

use sqmail::exit::{Die, run};

fn main() {
    run("qmail-showctl", || {
        let stdout = io::stdout();
        let mut out = BufWriter::new(stdout.lock());
        sqmail::showctl::show(&mut out).map_err(|e| Die::sys("write output", e))?
    })
}
