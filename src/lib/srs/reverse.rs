//! srsreverse(8): the bounce to an SRS address goes to the address it
//! stands for.

use std::path::Path;

use super::address;
use crate::control::{ConstMap, Control};
use crate::exit::Die;
use crate::local::command;

/// The address the SRS recipient `recipient` (as qmail-local sets
/// RECIPIENT, with the virtual-domain prefix `P-` that qmail-send added)
/// stands for.
pub fn original(c: &Control, host: &str, recipient: &[u8], today: u64) -> Result<Vec<u8>, Die> {
    let domains = super::domains(c)?;
    let vdoms = c
        .map("virtualdomains")
        .map_err(|e| Die::sys("read control/virtualdomains", e))?
        .unwrap_or_default();
    let at = recipient
        .iter()
        .rposition(|&b| b == b'@')
        .unwrap_or(recipient.len());
    let mut local = &recipient[..at];
    if let Some(p) = virtual_prefix(&vdoms, host)
        && local.starts_with(p.as_bytes())
        && local.get(p.len()) == Some(&b'-')
    {
        local = &local[p.len() + 1..];
    }
    let secrets = domains.secrets_for(host);
    if secrets.is_empty() {
        return Err(Die::temp(format!(
            "no SRS secret for {} in control/srsdomains (#4.3.0)",
            crate::printable::no_controls(host)
        )));
    }
    address::reverse(local, &secrets, today).map_err(|r| {
        let shown = crate::printable::text(&local[..local.len().min(100)], crate::printable::word);
        Die::perm(format!("{r}: {shown} (#5.1.1)"))
    })
}

/// The prefix virtualdomains gives `host` as qmail-send looks it up
/// (qmail-send(8)): the domain, each `.suffix` of it, then the empty key.
fn virtual_prefix<'a>(vdoms: &'a ConstMap, host: &'a str) -> Option<&'a str> {
    std::iter::once(host)
        .chain(host.match_indices('.').map(|(i, _)| &host[i..]))
        .chain(std::iter::once(""))
        .find_map(|k| vdoms.get(k))
        .filter(|p| !p.is_empty())
}

/// Queues DTLINE + stdin for the original address; returns the qp.
pub fn run(home: &Path) -> Result<u32, Die> {
    let host = super::env_text("HOST")?;
    let recipient = command::need_env("RECIPIENT")?;
    let dtline = command::need_env("DTLINE")?;
    // A bounce has the null sender; anything else keeps its sender.
    let sender = std::env::var_os("NEWSENDER")
        .map_or_else(Vec::new, std::os::unix::ffi::OsStringExt::into_vec);
    let to = original(&Control::new(home), &host, &recipient, super::today())?;
    command::forward_stdin(&dtline, &sender, vec![to])
}
