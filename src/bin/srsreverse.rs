//! srsreverse: send the bounce to an SRS address on to the address it
//! stands for. See man/srsreverse.8.

#![forbid(unsafe_code)]

use sqmail::exit::Die;

fn main() {
    sqmail::exit::run("srsreverse", || {
        if !sqmail::getopt::args().is_empty() {
            return Err(Die::usage("srsreverse"));
        }
        let qp = sqmail::srs::reverse::run(&sqmail::home::home())?;
        eprintln!("srsreverse: qp {qp}");
        Ok(())
    })
}
