//! qmail-metrics' counters (qmail-metrics(8)): read from the lines of
//! qmail-send's log (qmail-log(5)), qmail-smtpd's decision lines and
//! tcpserver's or sslserver's connection lines, and kept between runs in
//! a state file. `exposition` writes them out.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::multilog::Cursor;
use super::{stamp, words};
use crate::control::parse_leading_uint;

/// A label value from a log: only letters, digits and `_:.-` stay.
fn label(v: &str) -> String {
    v.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_:.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The state kept between runs: the counters, each log's cursor and the
/// channels of deliveries started but not yet finished.
#[derive(Debug, Default, PartialEq)]
pub struct State {
    pub counters: BTreeMap<String, u64>,
    pub first: Option<f64>,
    pub cursors: BTreeMap<String, Cursor>,
    pub open: BTreeMap<String, BTreeMap<u64, String>>,
}

const MAGIC: &str = "qmail-metrics state 1";

impl State {
    fn add(&mut self, series: String, n: u64) {
        let c = self.counters.entry(series).or_default();
        *c = c.saturating_add(n);
    }

    /// Counts one line of the log `source`.
    pub fn line(&mut self, source: &str, line: &str) {
        let stamped = line
            .split_once(' ')
            .and_then(|(s, rest)| Some((stamp::parse(s)?, rest)));
        let rest = match stamped {
            Some((t, rest)) => {
                self.first = Some(self.first.map_or(t, |f| f.min(t)));
                rest
            }
            None => line,
        };
        let w: [&str; 7] = words::first(rest.split(' '));
        let word = |i: usize| w[i];
        let num = parse_leading_uint;
        match (word(0), word(1)) {
            ("new", "msg") => self.add("qmail_messages_received_total".into(), 1),
            ("info", "msg") => {
                let bytes = num(word(4)).unwrap_or(0);
                self.add("qmail_messages_received_bytes_total".into(), bytes);
            }
            ("end", "msg") => self.add("qmail_messages_done_total".into(), 1),
            ("bounce", "msg") => self.add("qmail_bounces_total".into(), 1),
            ("starting", "delivery") => {
                let chan = label(word(6));
                if let Some(n) = num(word(2)) {
                    let open = self.open.entry(source.to_string()).or_default();
                    open.insert(n, chan.clone());
                }
                self.add(
                    format!("qmail_deliveries_started_total{{channel=\"{chan}\"}}"),
                    1,
                );
            }
            ("delivery", _) => {
                let result = match word(2) {
                    "success:" => "success",
                    "failure:" => "failure",
                    _ => "deferral",
                };
                let chan = num(word(1))
                    .and_then(|n| self.open.get_mut(source)?.remove(&n))
                    .unwrap_or_else(|| "unknown".to_string());
                self.add(
                    format!("qmail_deliveries_total{{channel=\"{chan}\",result=\"{result}\"}}"),
                    1,
                );
            }
            // qmail-send numbers deliveries from 1 again when it starts.
            ("status:", "exiting") => {
                self.open.remove(source);
            }
            ("alert:", _) => self.add("qmail_send_problems_total{level=\"alert\"}".into(), 1),
            ("warning:", _) => self.add("qmail_send_problems_total{level=\"warning\"}".into(), 1),
            ("qmail-smtpd:", "pid") => {
                if let Some((action, reason)) = word(3).split_once("::") {
                    let family = match action {
                        "Accept" => "qmail_smtpd_accepts_total",
                        "Reject" => "qmail_smtpd_rejects_total",
                        _ => return,
                    };
                    self.add(format!("{family}{{reason=\"{}\"}}", label(reason)), 1);
                }
            }
            ("tcpserver:" | "sslserver:", "ok") => self.add("qmail_smtp_sessions_total".into(), 1),
            ("tcpserver:" | "sslserver:", "deny") => self.add("qmail_smtp_denied_total".into(), 1),
            ("sslserver:", "ssl") if word(3) == "accept" => {
                let proto = label(word(4).split(':').next().unwrap_or(""));
                self.add(
                    format!("qmail_smtp_tls_sessions_total{{protocol=\"{proto}\"}}"),
                    1,
                );
            }
            _ => {}
        }
    }

    /// The state as its file holds it: a line per counter, cursor, finished
    /// file read and open delivery; the log's path is each line's last field.
    pub fn to_text(&self) -> String {
        let mut out = format!("{MAGIC}\n");
        if let Some(f) = self.first {
            let _ = writeln!(out, "first {}", stamp::text(f));
        }
        for (k, v) in &self.counters {
            let _ = writeln!(out, "counter {v} {k}");
        }
        for (src, c) in &self.cursors {
            let _ = writeln!(out, "cursor {} {} {src}", c.inode, c.offset);
            for name in &c.seen {
                let _ = writeln!(out, "seen {name} {src}");
            }
        }
        for (src, open) in &self.open {
            for (n, chan) in open {
                let _ = writeln!(out, "open {n} {chan} {src}");
            }
        }
        out
    }

    /// Reads `to_text`'s form; None for anything else.
    pub fn from_text(text: &str) -> Option<State> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut s = State::default();
        for line in lines {
            let mut f = line.splitn(2, ' ');
            let (kind, rest) = (f.next()?, f.next()?);
            match kind {
                "first" => s.first = Some(rest.parse().ok()?),
                "counter" => {
                    let (v, k) = rest.split_once(' ')?;
                    s.counters.insert(k.to_string(), v.parse().ok()?);
                }
                "cursor" => {
                    let mut p = rest.splitn(3, ' ');
                    let (ino, off, src) = (p.next()?, p.next()?, p.next()?);
                    let c = s.cursors.entry(src.to_string()).or_default();
                    (c.inode, c.offset) = (ino.parse().ok()?, off.parse().ok()?);
                }
                "seen" => {
                    let (name, src) = rest.split_once(' ')?;
                    let c = s.cursors.entry(src.to_string()).or_default();
                    c.seen.insert(name.to_string());
                }
                "open" => {
                    let mut p = rest.splitn(3, ' ');
                    let (n, chan, src) = (p.next()?, p.next()?, p.next()?);
                    let open = s.open.entry(src.to_string()).or_default();
                    open.insert(n.parse().ok()?, chan.to_string());
                }
                _ => return None,
            }
        }
        Some(s)
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    const SEND: &str = "\
@400000006774858a00000000 status: local 0/10 remote 0/20
@400000006774858a00000000 new msg 77
@400000006774858a00000000 info msg 77: bytes 300 from <joe@example.org> qp 42 uid 1000
@400000006774858a00000000 starting delivery 1: msg 77 to local alice@mx.example
@400000006774858a00000000 starting delivery 2: msg 77 to remote bob@far.example
@400000006774858b00000000 delivery 1: success: did_0+0+1/
@400000006774858c00000000 delivery 2: deferral: Sorry,_I_wasn't_able_to_establish_an_SMTP_connection._(#4.4.1)/
@400000006774858c00000000 delivery 9: failure: unmatched/
@400000006774858c00000000 bounce msg 77 qp 50
@400000006774858c00000000 warning: unable to open x
@400000006774858c00000000 end msg 77
";

    const SMTPD: &str = "\
@400000006774858a00000000 sslserver: status: 1/40
@400000006774858a00000000 sslserver: pid 9 from 127.0.0.1
@400000006774858a00000000 sslserver: ok 9 mx:127.0.0.1:25 :127.0.0.1::4000
@400000006774858a00000000 sslserver: ssl 9 accept TLSv1.3:TLS_AES_256_GCM_SHA384
@400000006774858a00000000 qmail-smtpd: pid 9 Accept::RCPT::Recipients_Cdb P:ESMTPS S:127.0.0.1:unknown H:x F:a@b T:c@d
@400000006774858a00000000 qmail-smtpd: pid 9 Reject::RCPT::Failed_Rcptto P:ESMTPS S:127.0.0.1:unknown H:x F:a@b T:e\"f@d
@400000006774858a00000000 sslserver: end 9 status 0
@400000006774858a00000000 sslserver: deny 10 mx:127.0.0.1:25 :127.0.0.1::4001
";

    pub fn state() -> State {
        let mut s = State::default();
        for l in SEND.lines() {
            s.line("/log/send", l);
        }
        for l in SMTPD.lines() {
            s.line("/log/smtpd", l);
        }
        s
    }

    #[test]
    fn counts() {
        let s = state();
        let c = |k: &str| s.counters.get(k).copied().unwrap_or(0);
        assert_eq!(c("qmail_messages_received_total"), 1);
        assert_eq!(c("qmail_messages_received_bytes_total"), 300);
        assert_eq!(c("qmail_messages_done_total"), 1);
        assert_eq!(c("qmail_bounces_total"), 1);
        assert_eq!(
            c("qmail_deliveries_total{channel=\"local\",result=\"success\"}"),
            1
        );
        assert_eq!(
            c("qmail_deliveries_total{channel=\"remote\",result=\"deferral\"}"),
            1
        );
        assert_eq!(
            c("qmail_deliveries_total{channel=\"unknown\",result=\"failure\"}"),
            1
        );
        assert_eq!(c("qmail_send_problems_total{level=\"warning\"}"), 1);
        assert_eq!(c("qmail_smtp_sessions_total"), 1);
        assert_eq!(c("qmail_smtp_denied_total"), 1);
        assert_eq!(c("qmail_smtp_tls_sessions_total{protocol=\"TLSv1.3\"}"), 1);
        assert_eq!(
            c("qmail_smtpd_accepts_total{reason=\"RCPT::Recipients_Cdb\"}"),
            1
        );
        assert_eq!(
            c("qmail_smtpd_rejects_total{reason=\"RCPT::Failed_Rcptto\"}"),
            1
        );
        assert_eq!(s.first, Some(1_735_689_600.0));
        assert!(s.open.get("/log/send").is_some_and(|o| o.is_empty()));
    }

    #[test]
    fn state_round_trip() {
        let mut s = state();
        s.line(
            "/log/send",
            "@400000006774858c00000000 starting delivery 3: msg 1 to remote x@y",
        );
        s.cursors.insert(
            "/log/with space".into(),
            Cursor {
                inode: 5,
                offset: 7,
                seen: ["@4000.s".to_string()].into_iter().collect(),
            },
        );
        let text = s.to_text();
        assert_eq!(State::from_text(&text), Some(s));
        assert_eq!(State::from_text("garbage\n"), None);
    }

    #[test]
    fn hostile_input() {
        let mut s = State::default();
        let big = "18446744073709551615";
        for l in [
            format!("info msg 1: bytes {big} from <a> qp 1 uid 2"),
            format!("info msg 1: bytes {big} from <a> qp 1 uid 2"),
            "qmail-smtpd: pid 1 Reject::\0\u{ff}\"}::x P:".to_string(),
            "starting delivery 1: msg 2 to lo\"cal x".to_string(),
            String::new(),
            "@".to_string(),
        ] {
            s.line("src", &l);
        }
        assert_eq!(s.counters["qmail_messages_received_bytes_total"], u64::MAX);
        assert_eq!(
            s.counters["qmail_smtpd_rejects_total{reason=\"____::x\"}"],
            1
        );
        assert_eq!(
            s.counters["qmail_deliveries_started_total{channel=\"lo_cal\"}"],
            1
        );
        assert_eq!(State::from_text(&s.to_text()), Some(s));
    }
}
