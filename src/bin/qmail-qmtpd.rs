//! qmail-qmtpd: receive mail by QMTP (QMTPS under sslserver) on fd 0/1 and
//! hand it to qmail-queue (qmail-qmtpd(8)). No arguments. The protocol lives in
//! `sqmail::qmtp::qmtpd`.

#![forbid(unsafe_code)]

fn main() {
    sqmail::exit::run("qmail-qmtpd", || {
        sqmail::qmtp::qmtpd::serve(&sqmail::home::home())
    })
}
