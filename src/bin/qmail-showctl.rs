//! qmail-showctl: print the compiled-in settings and the control files.
//! See man/qmail-showctl.8.

#![forbid(unsafe_code)]

use sqmail::exit::{Die, run};
use sqmail::{auto, home};

fn main() {
    run("qmail-showctl", || {
        let home = home::home();
        println!("qmail home directory: {}.", home.display());
        println!("subdirectory split: {}.", auto::SPLIT);
        Ok::<(), Die>(())
    })
}
