//! qmail-mfrules: compile `control/mailfromrules` into
//! `control/mailfromrules.cdb` (which senders a relay client may use).

#![forbid(unsafe_code)]

use sqmail::smtpd::{cdbmake, mfrules};

fn main() {
    sqmail::exit::run("qmail-mfrules", || {
        let home = sqmail::home::home();
        cdbmake::build(
            &home,
            "control/mailfromrules",
            "control/mailfromrules.tmp",
            "control/mailfromrules.cdb",
            &mut |line| match mfrules::compile(line) {
                Some(r) => Ok(r
                    .into_iter()
                    .map(|(k, v)| (k.into_bytes(), v.into_bytes()))
                    .collect()),
                None => Err(format!("unable to parse this line: {line}")),
            },
        )
    })
}
