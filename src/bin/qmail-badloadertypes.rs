//! qmail-badloadertypes: compile `control/badloadertypes` into
//! `control/badloadertypes.cdb`: the first 5 bytes of every line are a key.

#![forbid(unsafe_code)]

use sqmail::smtpd::cdbmake;

fn main() {
    sqmail::exit::run("qmail-badloadertypes", || {
        let home = sqmail::home::home();
        cdbmake::build(
            &home,
            "control/badloadertypes",
            "control/badloadertypes.tmp",
            "control/badloadertypes.cdb",
            &mut |line| Ok(cdbmake::prefix_key(line, 5)),
        )
    })
}
