//! qmail-qmqpd: receive one message by QMQP on fd 0/1 and hand it to
//! qmail-queue (qmail-qmqpd(8)). QMQP has no relay control: tcpserver's
//! rules decide who may connect.

use std::path::Path;

use super::input::{MAX_LENGTH, NetIo, Stop};
use super::peer::Peer;
use super::qmtpd::SESSION;
use crate::environment::Environment;
use crate::exit::Die;
use crate::netstring;
use crate::queue::client::QueueClient;

/// Bytes the client may spend on the outer length prefix.
const PREFIX_BUDGET: u64 = 100;
const BAD_ADDRESS: &str = "Dsorry, I can't accept addresses like that (#5.1.3)";
const NO_RECIPIENTS: &str = "Dsorry, no recipients (#5.1.3)";

/// Serves the one message of the connection.
pub fn serve(home: &Path) -> Result<(), Die> {
    let peer = Peer::from_env(&Environment::from_process());
    let mut io = NetIo::stdio(SESSION);
    let r = message(&mut io, &peer, home);
    // A client gone before the answer is no failure of ours.
    let _ = io.flush();
    r.map_err(Stop::die)
}

/// Reads the message and queues its answer on `io`.
fn message(io: &mut NetIo, peer: &Peer, home: &Path) -> Result<(), Stop> {
    io.set_budget(PREFIX_BUDGET);
    let total = io.length(MAX_LENGTH)?;
    io.set_budget(total);
    let mut qq = QueueClient::start(home).map_err(|_| Stop::Resources)?;
    let qp = qq.pid();
    let now = crate::date::now_secs();
    qq.write_all(peer.received("QMQP", now).as_bytes());
    let len = io.length(MAX_LENGTH)?;
    io.copy(len, |c| qq.write_all(c))?;
    io.comma()?;
    qq.end_message();

    let mut addresses_ok = true;
    match io.address(0)? {
        Some(a) => envelope(&mut qq, b'F', &a),
        None => {
            addresses_ok = false;
            qq.fail();
        }
    }
    let mut count = 0u64;
    while io.budget() > 0 {
        match io.address(0)? {
            Some(a) => envelope(&mut qq, b'T', &a),
            None => {
                addresses_ok = false;
                qq.fail();
            }
        }
        count += 1;
    }
    if count == 0 {
        qq.fail();
    }
    io.set_budget(1);
    io.comma()?;
    qq.write_envelope(b"\0");
    let result = qq.close();
    let text = if !addresses_ok {
        BAD_ADDRESS.to_string()
    } else if count == 0 {
        NO_RECIPIENTS.to_string()
    } else {
        super::result_text(result, now, qp)
    };
    io.reply(&netstring::wrap(text.as_bytes()));
    Ok(())
}

fn envelope(qq: &mut QueueClient, kind: u8, a: &[u8]) {
    qq.write_envelope(&[kind]);
    qq.write_envelope(a);
    qq.write_envelope(b"\0");
}
