//! srsforward(8): forward(1) with the envelope sender in SRS form.

use std::path::Path;

use super::address::{MAX_ADDRESS, Srs};
use crate::control::Control;
use crate::exit::Die;
use crate::local::command;

/// What became of the message.
#[derive(Debug, PartialEq, Eq)]
pub enum Done {
    /// Queued; qmail-queue's pid.
    Queued(u32),
    /// SRS is off for the domain and `-p` said to pass the message on.
    PassedOn,
}

/// The new envelope sender for mail from `sender` to `host`: `None` when
/// SRS is off for `host`. The null sender stays null; a sender libsrs2
/// would not rewrite stays as it is.
pub fn new_sender(
    d: &super::config::SrsDomains,
    host: &str,
    sender: &[u8],
    today: u64,
) -> Result<Option<Vec<u8>>, Die> {
    let Some(dom) = d.for_host(host).filter(|x| !x.disabled) else {
        return Ok(None);
    };
    if sender.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let srs = Srs {
        secrets: &dom.secrets,
        separator: dom.separator,
    };
    let alias = dom.alias(host);
    let new = srs
        .forward(sender, alias.as_bytes(), today)
        .unwrap_or_else(|| sender.to_vec());
    if new.len() > MAX_ADDRESS {
        return Err(Die::perm("SRS address would be too long (#5.1.7)"));
    }
    Ok(Some(new))
}

/// Queues DTLINE + stdin for `recipients` from the rewritten NEWSENDER;
/// `pass` is `-p`.
pub fn run(home: &Path, pass: bool, recipients: Vec<Vec<u8>>) -> Result<Done, Die> {
    let sender = command::need_env("NEWSENDER")?;
    let dtline = command::need_env("DTLINE")?;
    let host = super::env_text("HOST")?;
    let domains = super::domains(&Control::new(home))?;
    match new_sender(&domains, &host, &sender, super::today())? {
        Some(s) => command::forward_stdin(&dtline, &s, recipients).map(Done::Queued),
        None if pass => Ok(Done::PassedOn),
        None => Err(Die::perm(format!(
            "SRS is not enabled for {} (#5.7.1)",
            crate::printable::no_controls(&host)
        ))),
    }
}
