//! qmail-qmqpd: receive mail by QMQP on fd 0/1 and
//! hand it to qmail-queue (qmail-qmqpd(8)). No arguments. The protocol lives in
//! `sqmail::qmtp::qmqpd`.

#![forbid(unsafe_code)]

fn main() {
    sqmail::exit::run("qmail-qmqpd", || {
        sqmail::qmtp::qmqpd::serve(&sqmail::home::home())
    })
}
