//! QMTP and QMQP: the servers qmail-qmtpd (QMTP, and QMTPS under
//! sslserver) and qmail-qmqpd, and the QMQP client qmail-qmqpc that stands
//! in for qmail-queue on a mini-qmail host (qmail-qmtpd(8),
//! qmail-qmqpd(8), qmail-qmqpc(8), mini-qmail(7)).

pub mod crlf;
pub mod input;
pub mod peer;
pub mod qmqpc;
pub mod qmqpd;
pub mod qmtpd;
pub mod rcpthosts;

use crate::queue::client::QqError;

/// The answer for accepted recipients: `Kok TIME qp PID`, or qmail-queue's
/// refusal as `Z` (temporary) or `D` (permanent) text.
pub fn result_text(result: Result<(), QqError>, now: i64, qp: u32) -> String {
    match result {
        Ok(()) => format!("Kok {now} qp {qp}"),
        Err(e) => format!("{}{}", if e.is_permanent() { 'D' } else { 'Z' }, e.text()),
    }
}
