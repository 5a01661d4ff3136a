//! SPF in the RCPT checks (smtpd.md §7.1 step 4.8, §7.2) and the
//! Received-SPF header (§11.2). Runs only for clients without RELAYCLIENT
//! and only when `SPF` is 1–6; the outcome is kept for the transaction.

use super::{Action, Host, Session, lossy};
use crate::spf::{self, Outcome, Query, Verdict};

/// `SPF` and its control files (policy.md §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfPolicy {
    /// 1–6.
    pub level: u8,
    /// `control/spflocalrules`.
    pub local_rules: Option<String>,
    /// `control/spfexplain`, else the default.
    pub explain: String,
}

pub const SPF_TEMP: &str = "451 SPF lookup failure (#4.3.0)";

/// `SPF` is a number above 6 (the caller answers 421).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadLevel;

/// The level from `SPF`: `Ok(0)` is off. Like s/qmail, only leading
/// digits count.
pub fn level(v: Option<&str>) -> Result<u8, BadLevel> {
    let n = v.and_then(crate::control::parse_leading_uint).unwrap_or(0);
    u8::try_from(n).ok().filter(|&l| l <= 6).ok_or(BadLevel)
}

/// The (HELO, sender) an SPF outcome was found for.
pub type SpfKey = (Vec<u8>, Vec<u8>);

/// The 550 reply: one `550-` line per explanation line, the last with the
/// status code. Control characters become `?`.
pub fn reject_reply(explanation: &str) -> String {
    let lines: Vec<String> = explanation
        .split('\n')
        .map(|l| {
            l.chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect()
        })
        .collect();
    let mut r = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i + 1 < lines.len() {
            r.push_str(&format!("550-{l}\r\n"));
        } else {
            r.push_str(&format!("550 {l} (#5.7.1)"));
        }
    }
    r
}

impl Session {
    /// SPF for one accepted recipient `a`: `Err` when it is refused.
    pub(super) fn spf_rcpt(&mut self, a: &[u8], host: &mut dyn Host) -> Result<(), Action> {
        self.spf_pass = false;
        let Some(level) = self.cfg.spf.as_ref().map(|p| p.level) else {
            return Ok(());
        };
        let key = (self.helohost.clone(), self.sender.clone());
        if self.spf_done.as_ref().is_none_or(|(k, _)| *k != key) {
            let Some(o) = self.spf_evaluate(host) else {
                return Ok(());
            };
            self.spf_done = Some((key, o));
        }
        let Some((_, o)) = &self.spf_done else {
            return Ok(());
        };
        let v = o.verdict;
        host.export("SPFRESULT", v.spfresult());
        if v.is_error() {
            if level >= 2 {
                self.reply(SPF_TEMP);
                return Err(Action::Continue);
            }
            return Ok(());
        }
        if v.reject_from().is_some_and(|l| level >= l) {
            let t = reject_reply(o.explanation.as_deref().unwrap_or_default());
            self.reply(&t);
            self.log_line("Reject::SPF::Fail", Some(a), "");
            return Err(Action::Continue);
        }
        self.spf_pass = matches!(v, Verdict::Pass | Verdict::Local);
        Ok(())
    }

    fn spf_evaluate(&self, host: &mut dyn Host) -> Option<Outcome> {
        let p = self.cfg.spf.as_ref()?;
        let helo = lossy(&self.helohost);
        let sender = lossy(&self.sender);
        let q = Query {
            ip: &self.cfg.remote_ip,
            helo: &helo,
            sender: &sender,
            receiver: &self.cfg.local_host,
            local_rules: p.local_rules.as_deref(),
            explain: &p.explain,
            own_ips: &[],
            now: crate::date::now_secs().max(0) as u64,
        };
        host.spf(&q)
    }

    /// The Received-SPF header of this transaction, if SPF ran for it.
    pub(super) fn spf_header(&self) -> String {
        match (&self.cfg.spf, &self.relay, &self.spf_done) {
            (Some(_), None, Some(((helo, sender), o))) if *sender == self.sender => {
                spf::header::received_spf(
                    o,
                    &self.cfg.remote_ip,
                    &lossy(helo),
                    &lossy(sender),
                    &self.cfg.local_host,
                )
            }
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_replies() {
        assert_eq!(level(None), Ok(0));
        assert_eq!(level(Some("")), Ok(0));
        assert_eq!(level(Some("3")), Ok(3));
        assert_eq!(level(Some("6")), Ok(6));
        assert_eq!(level(Some("x")), Ok(0));
        assert_eq!(level(Some("7")), Err(BadLevel));
        assert_eq!(level(Some("300")), Err(BadLevel));
        assert_eq!(reject_reply("no"), "550 no (#5.7.1)");
        assert_eq!(reject_reply("one\ntwo\rx"), "550-one\r\n550 two?x (#5.7.1)");
    }
}
