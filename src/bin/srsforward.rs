//! srsforward: forward the message on stdin to the given addresses with
//! the envelope sender rewritten by SRS. See man/srsforward.8.

#![forbid(unsafe_code)]

use sqmail::exit::Die;
use sqmail::getopt::{GetOpt, Opt, args};
use sqmail::srs::forward::{Done, run};

const USAGE: &str = "srsforward [ -p | -P ] address [ address ... ]";

fn main() {
    sqmail::exit::run("srsforward", || {
        let argv = args();
        let mut pass = false;
        let mut opts = GetOpt::new(&argv, b"pP");
        for o in opts.by_ref() {
            match o {
                Opt::Flag(b'p', _) => pass = true,
                Opt::Flag(b'P', _) => pass = false,
                _ => return Err(Die::usage(USAGE)),
            }
        }
        let recipients = opts.operands().to_vec();
        if recipients.is_empty() {
            return Err(Die::usage(USAGE));
        }
        match run(&sqmail::home::home(), pass, recipients)? {
            Done::Queued(qp) => eprintln!("srsforward: qp {qp}"),
            Done::PassedOn => eprintln!("srsforward: SRS off for this domain; passed on"),
        }
        Ok(())
    })
}
