//! SPF in the RCPT checks (qmail-smtpd(8)) and the
//! Received-SPF header (§11.2). Runs only for clients without RELAYCLIENT
//! and only when `SPF` is 1–6; the outcome is kept for the transaction.

use super::{Action, Host, Session, log_clean, lossy};
use crate::spf::{self, Outcome, Query, Verdict};

/// `SPF` and its control files (qmail-smtpd(8), SPF).
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
    let lines: Vec<String> = explanation.split('\n').map(log_clean).collect();
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
        let same = |((helo, sender), _): &(SpfKey, Outcome)| {
            *helo == self.helohost && *sender == self.sender
        };
        if !self.spf_done.as_ref().is_some_and(same) {
            let Some(o) = self.spf_evaluate(host) else {
                return Ok(());
            };
            self.spf_done = Some(((self.helohost.clone(), self.sender.clone()), o));
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

    /// The SPF outcome of this transaction's sender, if SPF ran for it.
    fn spf_this(&self) -> Option<(&[u8], &Outcome)> {
        match (&self.cfg.spf, &self.relay, &self.spf_done) {
            (Some(_), None, Some(((helo, sender), o))) if *sender == self.sender => Some((helo, o)),
            _ => None,
        }
    }

    /// At DATA: the queue program learns the SPF result of this message
    /// and the domain checked (qmail-smtpd(8), SPF); `SPFDOMAIN` is
    /// emptied when SPF did not run for it, so an earlier transaction's
    /// `SPFRESULT` is not taken for this one's.
    pub(super) fn spf_export(&self, host: &mut dyn Host) {
        if self.cfg.spf.is_none() {
            return;
        }
        match self.spf_this() {
            Some((_, o)) => {
                host.export("SPFRESULT", o.verdict.spfresult());
                host.export("SPFDOMAIN", &o.identity);
            }
            None => host.export("SPFDOMAIN", ""),
        }
    }

    /// The Received-SPF header of this transaction, if SPF ran for it.
    pub(super) fn spf_header(&self) -> String {
        match self.spf_this() {
            Some((helo, o)) => spf::header::received_spf(
                o,
                &self.cfg.remote_ip,
                &lossy(helo),
                &lossy(&self.sender),
                &self.cfg.local_host,
            ),
            None => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtpd::filter::List;
    use crate::smtpd::{Config, Dns, RcptCheck};

    /// A host whose SPF verdict comes from the sender's domain name.
    #[derive(Default)]
    struct SpfHost {
        asked: usize,
        exported: Vec<(String, String)>,
    }

    impl Host for SpfHost {
        fn dns(&mut self, _: &str, _: bool) -> Dns {
            Dns::Found
        }
        fn more_rcpthosts(&mut self, _: &str) -> bool {
            false
        }
        fn recipient(&mut self, _: &[u8]) -> RcptCheck {
            RcptCheck::Accept("Recipients_Cdb")
        }
        fn mailfromrules(&mut self, _: &str, _: Option<&str>, _: &str, _: &str) -> Option<bool> {
            None
        }
        fn sleep(&mut self, _: u64) {}
        fn export(&mut self, name: &str, value: &str) {
            self.exported.push((name.into(), value.into()));
        }
        fn spf(&mut self, q: &Query) -> Option<Outcome> {
            self.asked += 1;
            let dom = q.sender.rsplit('@').next().unwrap_or("");
            let verdict = match dom {
                "pass.example" => Verdict::Pass,
                "fail.example" => Verdict::Fail,
                _ => Verdict::TempError,
            };
            Some(Outcome {
                verdict,
                trace: String::new(),
                records: String::new(),
                explanation: Some(format!("no\nway {}", q.explain)),
                identity: dom.into(),
                problem: None,
                mechanism: None,
            })
        }
    }

    fn session(level: u8, relay: bool) -> Session {
        Session::new(Config {
            pid: 1,
            greeting: "mx.example".into(),
            remote_ip: "192.0.2.7".into(),
            local_host: "mx.example".into(),
            rcpthosts: Some(List::new(vec!["example.com".into()])),
            relayclient: relay.then(String::new),
            spf: Some(SpfPolicy {
                level,
                local_rules: None,
                explain: "X".into(),
            }),
            ..Config::default()
        })
    }

    fn say(s: &mut Session, h: &mut SpfHost, lines: &[&str]) -> String {
        s.out.clear();
        for l in lines {
            s.line(l.as_bytes(), h);
        }
        String::from_utf8_lossy(&s.out).into_owned()
    }

    #[test]
    fn rcpt_replies_and_header() {
        let h = &mut SpfHost::default();
        let mut s = session(3, false);
        let out = say(
            &mut s,
            h,
            &[
                "HELO c.example",
                "MAIL FROM:<a@fail.example>",
                "RCPT TO:<x@example.com>",
            ],
        );
        assert_eq!(
            out,
            "250 mx.example\r\n250 ok\r\n550-no\r\n550 way X (#5.7.1)\r\n"
        );
        let log = String::from_utf8_lossy(&s.log).into_owned();
        assert!(log.contains(" Reject::SPF::Fail P:ESMTP S:192.0.2.7:unknown H:c.example F:a@fail.example T:x@example.com\n"));
        // One 451 and nothing else for an error from level 2 on.
        let out = say(
            &mut s,
            h,
            &["MAIL FROM:<a@down.example>", "RCPT TO:<x@example.com>"],
        );
        assert_eq!(out, "250 ok\r\n451 SPF lookup failure (#4.3.0)\r\n");
        // A pass: evaluated once for two recipients, logged as SPF, header.
        let before = h.asked;
        let out = say(
            &mut s,
            h,
            &[
                "MAIL FROM:<a@pass.example>",
                "RCPT TO:<x@example.com>",
                "RCPT TO:<y@example.com>",
            ],
        );
        assert_eq!(out, "250 ok\r\n250 ok\r\n250 ok\r\n");
        assert_eq!(h.asked, before + 1);
        assert!(String::from_utf8_lossy(&s.log).contains(" Accept::SPF::Recipients_Cdb "));
        assert_eq!(
            h.exported.last().unwrap(),
            &("SPFRESULT".to_string(), "pass".to_string())
        );
        assert_eq!(s.line(b"DATA", h), Action::Data);
        let n = h.exported.len();
        assert_eq!(
            h.exported[n - 2..],
            [
                ("SPFRESULT".to_string(), "pass".to_string()),
                ("SPFDOMAIN".to_string(), "pass.example".to_string())
            ]
        );
        let hdr = String::from_utf8(s.data_started(0)).unwrap();
        assert!(
            hdr.starts_with("Received-SPF:  pass (c.example: domain of pass.example\n"),
            "{hdr}"
        );
        // Level 1 refuses nothing.
        let mut s = session(1, false);
        let out = say(
            &mut s,
            h,
            &["MAIL FROM:<a@fail.example>", "RCPT TO:<x@example.com>"],
        );
        assert_eq!(out, "250 ok\r\n250 ok\r\n");
    }

    #[test]
    fn relay_clients_are_not_checked() {
        let h = &mut SpfHost::default();
        let mut s = session(6, true);
        let out = say(
            &mut s,
            h,
            &["MAIL FROM:<a@fail.example>", "RCPT TO:<x@anywhere.example>"],
        );
        assert_eq!(out, "250 ok\r\n250 ok\r\n");
        assert_eq!(s.line(b"DATA", h), Action::Data);
        // No SPF for this message: SPFDOMAIN says so.
        assert_eq!(
            h.exported.last().unwrap(),
            &("SPFDOMAIN".to_string(), String::new())
        );
        assert!(!h.exported.iter().any(|(k, _)| k == "SPFRESULT"));
        assert!(
            String::from_utf8(s.data_started(0))
                .unwrap()
                .starts_with("Received: ")
        );
        assert_eq!(h.asked, 0);
    }

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
