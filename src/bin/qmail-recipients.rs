//! qmail-recipients: compile `users/recipients` (one address a line) into
//! `users/recipients.cdb` for qmail-smtpd's recipient check.

#![forbid(unsafe_code)]

use sqmail::smtpd::cdbmake;

fn main() {
    sqmail::exit::run("qmail-recipients", || {
        let home = sqmail::home::home();
        cdbmake::build(
            &home,
            "users/recipients",
            "users/recipients.tmp",
            "users/recipients.cdb",
            &mut |line| {
                Ok(cdbmake::list_line(line)
                    .map(|a| {
                        (
                            format!(":{}", a.to_ascii_lowercase()).into_bytes(),
                            Vec::new(),
                        )
                    })
                    .into_iter()
                    .collect())
            },
        )
    })
}
