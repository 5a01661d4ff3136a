//! qmailanalog's matchup (matchup(1)): pairs each `starting delivery` line
//! of qmail-send's log (qmail-log(5)) with its result and each `info msg`
//! with its `end msg`, and writes one line per finished delivery and per
//! finished message:
//!
//! `m birth done bytes nk nd nz sender qp uid`
//! `d k|d|z birth dstart dend bytes sender chan.recip qp uid reason`
//!
//! (k success, d failure, z deferral; times in seconds since 1970). What is
//! still open at the end comes back as log lines (`pending`), to be put in
//! front of the next log.

use std::collections::HashMap;
use std::fmt::Write;

use super::{stamp, words};
use crate::control::parse_leading_uint;

struct Msg {
    birth: f64,
    bytes: u64,
    sender: String,
    qp: u64,
    uid: u64,
    k: u64,
    d: u64,
    z: u64,
}

struct Del {
    msg: u64,
    start: f64,
    chan: String,
    recip: String,
}

/// The state between lines: messages and deliveries not yet finished.
#[derive(Default)]
pub struct Matchup {
    msgs: HashMap<u64, Msg>,
    dels: HashMap<u64, Del>,
}

/// The fields of a line looked at: `info msg`'s reach to its uid.
const FIELDS: usize = 12;

/// The number a field starts with (`123:` is 123), 0 for none.
fn num(f: &str) -> u64 {
    parse_leading_uint(f).unwrap_or(0)
}

impl Matchup {
    /// Reads one log line (without its newline) and appends what it
    /// finishes to `out`.
    pub fn line(&mut self, line: &str, out: &mut String) {
        let f: [&str; FIELDS] = words::first(line.split([' ', '\t']).filter(|w| !w.is_empty()));
        let field = |i: usize| f[i];
        let Some(t) = stamp::parse(field(0)) else {
            let _ = writeln!(out, "? {line}");
            return;
        };
        match field(1) {
            "starting" => {
                let del = Del {
                    msg: num(field(5)),
                    start: t,
                    chan: field(7).to_string(),
                    recip: field(8).to_ascii_lowercase(),
                };
                self.dels.insert(num(field(3)), del);
            }
            "delivery" => self.delivery(t, &f, out),
            "new" => {
                self.msgs.remove(&num(field(3)));
            }
            "end" => {
                if let Some(m) = self.msgs.remove(&num(field(3))) {
                    let _ = writeln!(
                        out,
                        "m {} {} {} {} {} {} {} {} {}",
                        stamp::text(m.birth),
                        stamp::text(t),
                        m.bytes,
                        m.k,
                        m.d,
                        m.z,
                        m.sender,
                        m.qp,
                        m.uid
                    );
                }
            }
            "info" => {
                let m = Msg {
                    birth: t,
                    bytes: num(field(5)),
                    sender: field(7).to_ascii_lowercase(),
                    qp: num(field(9)),
                    uid: num(field(11)),
                    k: 0,
                    d: 0,
                    z: 0,
                };
                self.msgs.insert(num(field(3)), m);
            }
            // matchup's own record of a pending message's results so far.
            "extra" => {
                if let Some(m) = self.msgs.get_mut(&num(field(2))) {
                    (m.k, m.z, m.d) = (num(field(3)), num(field(4)), num(field(5)));
                }
            }
            // A restart of qmail-send numbers deliveries from 1 again; its
            // log's word is `status: exiting` (qmail-log(5)).
            "status:" if field(2) == "exiting" => self.dels.clear(),
            "status:" | "number" | "local" | "remote" | "bounce" | "double" | "triple" => {}
            "warning:" | "alert:" => {
                let _ = writeln!(out, "{line}");
            }
            _ => {
                let _ = writeln!(out, "? {line}");
            }
        }
    }

    fn delivery(&mut self, t: f64, f: &[&str; FIELDS], out: &mut String) {
        let field = |i: usize| f[i];
        let Some(del) = self.dels.remove(&num(field(2))) else {
            return;
        };
        let word = field(3);
        let (result, reason) = if word.starts_with("succ") {
            ('k', field(4))
        } else if word.starts_with("fail") {
            ('d', field(4))
        } else if word.starts_with("defer") {
            ('z', field(4))
        } else if word.starts_with("report") {
            ('z', "report_mangled")
        } else {
            ('?', "")
        };
        let msg = self.msgs.get_mut(&del.msg);
        match msg {
            Some(m) => {
                match result {
                    'k' => m.k = m.k.saturating_add(1),
                    'd' => m.d = m.d.saturating_add(1),
                    'z' => m.z = m.z.saturating_add(1),
                    _ => {}
                }
                let _ = writeln!(
                    out,
                    "d {result} {} {} {} {} {} {}.{} {} {} {reason}",
                    stamp::text(m.birth),
                    stamp::text(del.start),
                    stamp::text(t),
                    m.bytes,
                    m.sender,
                    del.chan,
                    del.recip,
                    m.qp,
                    m.uid
                );
            }
            None => {
                let s = stamp::text(del.start);
                let _ = writeln!(
                    out,
                    "d {result} {s} {s} {} 0 ? {}.{} ? ? {reason}",
                    stamp::text(t),
                    del.chan,
                    del.recip
                );
            }
        }
    }

    /// What is still open, as log lines this program reads back: each
    /// message's `info` and `extra` lines, each delivery's `starting` line.
    pub fn pending(&self) -> String {
        let mut out = String::new();
        let mut ids: Vec<&u64> = self.msgs.keys().collect();
        ids.sort();
        for id in ids {
            let m = &self.msgs[id];
            let t = stamp::text(m.birth);
            let _ = writeln!(
                out,
                "{t} info msg {id}: bytes {} from {} qp {} uid {}",
                m.bytes, m.sender, m.qp, m.uid
            );
            let _ = writeln!(out, "{t} extra {id} {} {} {}", m.k, m.z, m.d);
        }
        let mut ids: Vec<&u64> = self.dels.keys().collect();
        ids.sort();
        for id in ids {
            let d = &self.dels[id];
            let _ = writeln!(
                out,
                "{} starting delivery {id}: msg {} to {} {}",
                stamp::text(d.start),
                d.msg,
                d.chan,
                d.recip
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(m: &mut Matchup, log: &str) -> String {
        let mut out = String::new();
        for l in log.lines() {
            m.line(l, &mut out);
        }
        out
    }

    const LOG: &str = "\
@400000006774858a00000000 status: local 0/10 remote 0/20
@400000006774858a00000000 new msg 77
@400000006774858a00000000 info msg 77: bytes 300 from <Joe@Example.ORG> qp 42 uid 1000
@400000006774858a00000000 starting delivery 1: msg 77 to local Alice@mx.example
@400000006774858a00000000 starting delivery 2: msg 77 to remote bob@far.example
@400000006774858b00000000 delivery 1: success: did_0+0+1/
@400000006774858c00000000 delivery 2: deferral: Sorry,_I_wasn't_able_to_establish_an_SMTP_connection._(#4.4.1)/
@400000006774858c00000000 status: local 0/10 remote 0/20
";

    #[test]
    fn pairs_and_pending() {
        let mut m = Matchup::default();
        let out = run(&mut m, LOG);
        assert_eq!(
            out,
            "d k 1735689600.000000 1735689600.000000 1735689601.000000 300 <joe@example.org> local.alice@mx.example 42 1000 did_0+0+1/\n\
             d z 1735689600.000000 1735689600.000000 1735689602.000000 300 <joe@example.org> remote.bob@far.example 42 1000 Sorry,_I_wasn't_able_to_establish_an_SMTP_connection._(#4.4.1)/\n"
        );
        let pending = m.pending();
        assert_eq!(
            pending,
            "1735689600.000000 info msg 77: bytes 300 from <joe@example.org> qp 42 uid 1000\n\
             1735689600.000000 extra 77 1 1 0\n"
        );
        // The next run starts from the pending lines and finishes the message.
        let mut next = Matchup::default();
        let more = format!(
            "{pending}1735689700 starting delivery 1: msg 77 to remote bob@far.example\n\
             1735689701 delivery 1: failure: Sorry,_no_mailbox_here_by_that_name._(#5.1.1)/\n\
             1735689702 end msg 77\n"
        );
        let out = run(&mut next, &more);
        assert!(
            out.ends_with(
                "m 1735689600.000000 1735689702.000000 300 1 1 1 <joe@example.org> 42 1000\n"
            ),
            "{out}"
        );
        assert!(next.pending().is_empty());
    }

    #[test]
    fn odd_lines() {
        let mut m = Matchup::default();
        let out = run(
            &mut m,
            "no stamp here\n@400000006774858a00000000 warning: unable to open x\n\
             @400000006774858a00000000 delivery 9: success: x\n\
             @400000006774858a00000000 frobnicate\n\
             @400000006774858a00000000 starting delivery 3: msg 5 to local a@b\n\
             @400000006774858a00000000 delivery 3: report mangled, will defer\n",
        );
        assert_eq!(
            out,
            "? no stamp here\n@400000006774858a00000000 warning: unable to open x\n\
             ? @400000006774858a00000000 frobnicate\n\
             d z 1735689600.000000 1735689600.000000 1735689600.000000 0 ? local.a@b ? ? report_mangled\n"
        );
    }

    #[test]
    fn exiting_forgets_open_deliveries() {
        let mut m = Matchup::default();
        run(
            &mut m,
            "@400000006774858a00000000 starting delivery 3: msg 5 to local a@b\n",
        );
        assert!(m.pending().contains(" starting delivery 3: "));
        run(&mut m, "@400000006774858a00000000 status: exiting\n");
        assert_eq!(m.pending(), "");
    }

    #[test]
    fn hostile_input() {
        let mut m = Matchup::default();
        let big = "18446744073709551615";
        let out = run(
            &mut m,
            &format!(
                "@400000006774858a00000000 info msg 1: bytes {big} from <\0> qp x uid\n\
                 @400000006774858a00000000 extra 1 {big} {big} {big}\n\
                 @400000006774858a00000000 starting delivery {big}: msg 1 to\n\
                 @400000006774858a00000000 delivery {big}: success:\n\
                 99999999999999999999999999999999999999999999 end msg 1\n\
                 @400000006774858a00000000\n\n@\n"
            ),
        );
        assert!(out.contains("m 1735689600.000000 "), "{out}");
        assert!(
            out.contains(&format!(" {big} {big} {big} <\0> 0 0\n")),
            "{out}"
        );
        assert!(m.pending().is_empty());
    }
}
