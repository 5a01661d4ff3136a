//! Greylisting at RCPT (qmail-smtpd(8)): for clients without
//! RELAYCLIENT, after the other checks of step 4 passed, when `POSTGREY`
//! is set. The checks for everybody (step 6: badmailfrom, badrcptto,
//! SIZE, MAXRECIPIENTS) come after it, as the spec orders them.

use super::{Host, Session};
use crate::postgrey::{self, Query};

impl Session {
    /// Whether `rcpt` is greylisted; if so the 450 and the log line are
    /// written.
    pub(super) fn greylist(&mut self, rcpt: &[u8], host: &mut dyn Host) -> bool {
        let Some(server) = self.cfg.postgrey.as_deref() else {
            return false;
        };
        let q = Query {
            sender: &self.sender,
            recipient: rcpt,
            client_ip: self.cfg.remote_ip.as_bytes(),
            client_name: self
                .cfg
                .remote_host
                .as_deref()
                .unwrap_or("unknown")
                .as_bytes(),
        };
        if !host.greylisted(server, &q) {
            return false;
        }
        let t = postgrey::reply(&self.cfg.replies.greylisted);
        self.reply(&t);
        self.log_line(postgrey::LOG_GREYLISTED, Some(rcpt), "");
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::postgrey::Query;
    use crate::smtpd::filter::List;
    use crate::smtpd::session::{Config, Dns, Host, RcptCheck, Session};

    /// Greylists every recipient starting with `grey`; records the queries.
    #[derive(Default)]
    struct Grey {
        asked: Vec<String>,
    }

    impl Host for Grey {
        fn dns(&mut self, name: &str, _: bool) -> Dns {
            unreachable!("no DNS checks configured: {name}")
        }
        fn more_rcpthosts(&mut self, _: &str) -> bool {
            false
        }
        fn recipient(&mut self, addr: &[u8]) -> RcptCheck {
            if addr == b"nobody@example.com" {
                return RcptCheck::Reject;
            }
            RcptCheck::Accept("Recipients_Cdb")
        }
        fn mailfromrules(&mut self, _: &str, _: Option<&str>, _: &str, _: &str) -> Option<bool> {
            unreachable!("no LOCALMFCHECK configured")
        }
        fn sleep(&mut self, secs: u64) {
            unreachable!("no tarpit configured: {secs}")
        }
        fn export(&mut self, _: &str, _: &str) {}
        fn greylisted(&mut self, server: &str, q: &Query) -> bool {
            let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            self.asked.push(format!(
                "{server} {} {} {} {}",
                s(q.sender),
                s(q.recipient),
                s(q.client_ip),
                s(q.client_name)
            ));
            q.recipient.starts_with(b"grey")
        }
    }

    fn session(relay: Option<&str>, extra: &str) -> Session {
        let mut cfg = Config {
            pid: 7,
            greeting: "mx.example".into(),
            remote_ip: "192.0.2.7".into(),
            rcpthosts: Some(List::new(vec!["example.com".into()])),
            relayclient: relay.map(str::to_string),
            postgrey: Some("127.0.0.1;10023".into()),
            ..Config::default()
        };
        cfg.replies.greylisted = extra.into();
        Session::new(cfg)
    }

    fn say(s: &mut Session, h: &mut Grey, line: &str) -> String {
        s.out.clear();
        s.line(line.as_bytes(), h);
        String::from_utf8_lossy(&s.out).into_owned()
    }

    #[test]
    fn strangers_are_greylisted_after_the_other_checks() {
        let mut s = session(None, "try again");
        let h = &mut Grey::default();
        say(&mut s, h, "MAIL FROM:<a@b.org>");
        assert_eq!(
            say(&mut s, h, "RCPT TO:<grey@example.com>"),
            "450 greylisted try again (#4.7.1)\r\n"
        );
        assert_eq!(say(&mut s, h, "RCPT TO:<joe@example.com>"), "250 ok\r\n");
        // Unknown recipients and foreign domains never reach the server.
        assert!(say(&mut s, h, "RCPT TO:<nobody@example.com>").starts_with("550 "));
        assert!(say(&mut s, h, "RCPT TO:<grey@elsewhere.org>").starts_with("553 "));
        assert_eq!(
            h.asked,
            [
                "127.0.0.1;10023 a@b.org grey@example.com 192.0.2.7 unknown",
                "127.0.0.1;10023 a@b.org joe@example.com 192.0.2.7 unknown"
            ]
        );
        let log = String::from_utf8_lossy(&s.log);
        assert!(
            log.contains(
                "qmail-smtpd: pid 7 Reject::RCPT::Greylisted P:ESMTP S:192.0.2.7:unknown H: F:a@b.org T:grey@example.com\n"
            ),
            "{log}"
        );
        assert_eq!(s.envelope().recipients, [b"joe@example.com".to_vec()]);
    }

    #[test]
    fn relay_clients_are_exempt() {
        let mut s = session(Some(""), "");
        let h = &mut Grey::default();
        say(&mut s, h, "MAIL FROM:<a@b.org>");
        assert_eq!(say(&mut s, h, "RCPT TO:<grey@example.com>"), "250 ok\r\n");
        assert!(h.asked.is_empty());
    }
}
