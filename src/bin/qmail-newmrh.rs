//! qmail-newmrh: compile `control/morercpthosts` (one domain a line) into
//! `control/morercpthosts.cdb`, the large half of qmail-smtpd's rcpthosts.

#![forbid(unsafe_code)]

use sqmail::smtpd::cdbmake;

fn main() {
    sqmail::exit::run("qmail-newmrh", || {
        let home = sqmail::home::home();
        cdbmake::build(
            &home,
            "control/morercpthosts",
            "control/morercpthosts.tmp",
            "control/morercpthosts.cdb",
            &mut |line| {
                Ok(cdbmake::list_line(line)
                    .map(|d| (d.to_ascii_lowercase().into_bytes(), Vec::new()))
                    .into_iter()
                    .collect())
            },
        )
    })
}
