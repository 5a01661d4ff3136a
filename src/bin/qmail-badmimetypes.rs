//! qmail-badmimetypes: compile `control/badmimetypes` into
//! `control/badmimetypes.cdb`: the first 9 bytes of every line are a key.

#![forbid(unsafe_code)]

use sqmail::smtpd::cdbmake;

fn main() {
    sqmail::exit::run("qmail-badmimetypes", || {
        let home = sqmail::home::home();
        cdbmake::build(
            &home,
            "control/badmimetypes",
            "control/badmimetypes.tmp",
            "control/badmimetypes.cdb",
            &mut |line| Ok(cdbmake::prefix_key(line, 9)),
        )
    })
}
