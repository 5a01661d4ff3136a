//! Sender Rewriting Scheme: the address codec libsrs2 and Mail::SRS share,
//! `control/srsdomains`, and the logic of srsforward(8) and srsreverse(8).

pub mod address;
pub mod config;
pub mod forward;
pub mod reverse;

use crate::control::Control;
use crate::exit::Die;

/// srsdomains, loaded: a missing or malformed file is a temporary error
/// (the mail waits until the configuration is fixed).
fn domains(c: &Control) -> Result<config::SrsDomains, Die> {
    match config::SrsDomains::load(c) {
        Err(e) => Err(Die::sys("read control/srsdomains", e)),
        Ok(None) => Err(Die::temp("control/srsdomains is missing (#4.3.0)")),
        Ok(Some(Err(config::BadLine(n)))) => Err(Die::temp(format!(
            "control/srsdomains line {n} is malformed (#4.3.0)"
        ))),
        Ok(Some(Ok(d))) => Ok(d),
    }
}

/// Today's day number.
fn today() -> u64 {
    address::day(crate::date::now_secs().max(0) as u64)
}

/// An environment variable as text, or a permanent error if unset.
fn env_text(name: &str) -> Result<String, Die> {
    crate::local::command::need_env(name).map(|v| String::from_utf8_lossy(&v).into_owned())
}
