//! qmail-qmqpc: qmail-queue's interface, delivering by QMQP to the servers
//! of control/qmqpservers (qmail-qmqpc(8)); the mini-qmail queue. The
//! client lives in `sqmail::qmtp::qmqpc`.

#![forbid(unsafe_code)]

use sqmail::exit::Die;

fn main() {
    // A panic is qmail-queue's "internal bug" (81), never a refusal.
    sqmail::exit::run_with("qmail-qmqpc", 81, || {
        match sqmail::qmtp::qmqpc::run(&sqmail::home::home()) {
            0 => Ok(()),
            code => Err(Die::quiet(code)),
        }
    })
}
