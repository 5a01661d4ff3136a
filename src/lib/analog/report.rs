//! qmailanalog's reports (qmailanalog(1)) over matchup's output: the
//! overall figures, the reasons for successes, failures and deferrals,
//! and the tables per recipient, recipient host, sender and uid.

use std::collections::BTreeMap;
use std::fmt::Write;

/// The reports by name, as the programs of qmailanalog are called.
pub const NAMES: &[&str] = &[
    "zoverall",
    "zsuccesses",
    "zfailures",
    "zdeferrals",
    "zrecipients",
    "zrhosts",
    "zsenders",
    "zsuids",
];

/// An `m` line: a message that left the queue.
struct Message {
    birth: f64,
    done: f64,
    bytes: u128,
    k: u128,
    d: u128,
    z: u128,
    sender: String,
    uid: String,
}

/// A `d` line: one finished delivery attempt.
struct Delivery {
    result: u8,
    birth: f64,
    start: f64,
    end: f64,
    bytes: u128,
    sender: String,
    recip: String,
    uid: String,
    reason: String,
}

impl Delivery {
    fn xdelay(&self) -> f64 {
        self.end - self.start
    }
}

/// matchup's output, read; other lines are passed over.
#[derive(Default)]
pub struct Data {
    msgs: Vec<Message>,
    dels: Vec<Delivery>,
}

fn f64_of(s: &str) -> f64 {
    s.parse().unwrap_or(0.0)
}

/// Sizes and counts above this are nonsense and taken as this, so sums of
/// products stay exact in u128.
const MAX: u128 = 1 << 40;

fn u64_of(s: &str) -> u128 {
    s.parse::<u128>().map_or(0, |n| n.min(MAX))
}

impl Data {
    pub fn read(text: &str) -> Data {
        let mut data = Data::default();
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            match (f.first(), f.len()) {
                (Some(&"m"), 10) => data.msgs.push(Message {
                    birth: f64_of(f[1]),
                    done: f64_of(f[2]),
                    bytes: u64_of(f[3]),
                    k: u64_of(f[4]),
                    d: u64_of(f[5]),
                    z: u64_of(f[6]),
                    sender: f[7].to_string(),
                    uid: f[9].to_string(),
                }),
                (Some(&"d"), 11..) => data.dels.push(Delivery {
                    result: f[1].as_bytes().first().copied().unwrap_or(b'?'),
                    birth: f64_of(f[2]),
                    start: f64_of(f[3]),
                    end: f64_of(f[4]),
                    bytes: u64_of(f[5]),
                    sender: f[6].to_string(),
                    recip: f[7].to_string(),
                    uid: f[9].to_string(),
                    reason: f[10..].join(" "),
                }),
                _ => {}
            }
        }
        data
    }
}

/// The report `name` (one of `NAMES`), None for an unknown name.
pub fn report(name: &str, data: &Data) -> Option<String> {
    Some(match name {
        "zoverall" => overall(data),
        "zsuccesses" => reasons(data, b'k', "success", "ended in success"),
        "zfailures" => reasons(data, b'd', "failure", "failed permanently"),
        "zdeferrals" => reasons(data, b'z', "deferral", "was deferred"),
        "zrecipients" => per_recipient(data, "recipient", |r| r.to_string()),
        "zrhosts" => per_recipient(data, "host", |r| {
            r.rsplit_once('@').map_or(r, |(_, h)| h).to_string()
        }),
        "zsenders" => per_sender(data, "sender", |s, _| s.to_string()),
        "zsuids" => per_sender(data, "uid", |_, u| u.to_string()),
        _ => return None,
    })
}

/// Columns aligned: every column but the last right-aligned.
fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    let head: Vec<String> = head.iter().map(|h| h.to_string()).collect();
    for r in std::iter::once(&head).chain(rows) {
        let last = r.len() - 1;
        for (i, c) in r.iter().enumerate() {
            if i == last {
                out.push_str(c);
            } else {
                let _ = write!(out, "{c:>w$} ", w = width[i]);
            }
        }
        out.push('\n');
    }
    out
}

fn secs(x: f64) -> String {
    format!("{x:.2}")
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "0".to_string()
    }
}

fn overall(data: &Data) -> String {
    let (mut recips, mut tries, mut bytes, mut sbytes, mut qtime) =
        (0u128, 0u128, 0u128, 0u128, 0.0);
    for m in &data.msgs {
        recips += m.k + m.d;
        tries += m.k + m.d + m.z;
        bytes += m.bytes;
        sbytes += m.bytes * m.k;
        qtime += m.done - m.birth;
    }
    let count = |r: u8| data.dels.iter().filter(|d| d.result == r).count();
    let (k, d, z) = (count(b'k'), count(b'd'), count(b'z'));
    let ddelay: f64 = data
        .dels
        .iter()
        .filter(|d| d.result == b'k')
        .map(|d| d.end - d.birth)
        .sum();
    let xdelay: f64 = data.dels.iter().map(Delivery::xdelay).sum();
    let times = data
        .msgs
        .iter()
        .flat_map(|m| [m.birth, m.done])
        .chain(data.dels.iter().flat_map(|d| [d.start, d.end]));
    let (lo, hi) = times.fold((f64::MAX, f64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let span = if hi > lo { hi - lo } else { 0.0 };
    let n = data.msgs.len();
    let mut out = String::from(
        "Basic statistics\n\n\
         qtime is the time a message spent in the queue, from its arrival to\n\
         its end. ddelay is the time from a message's arrival to the end of a\n\
         successful delivery to one recipient. xdelay is the time one delivery\n\
         attempt took; the average concurrency is the total xdelay over the\n\
         time the log spans, a measure of how busy the deliveries were.\n\n",
    );
    let _ = writeln!(out, "Completed messages: {n}");
    let _ = writeln!(out, "Recipients for completed messages: {recips}");
    let _ = writeln!(
        out,
        "Total delivery attempts for completed messages: {tries}"
    );
    let _ = writeln!(
        out,
        "Average delivery attempts per completed message: {}",
        ratio(tries as f64, n as f64)
    );
    let _ = writeln!(out, "Bytes in completed messages: {bytes}");
    let _ = writeln!(out, "Bytes weighted by success: {sbytes}");
    let _ = writeln!(out, "Average message qtime (s): {}", ratio(qtime, n as f64));
    let _ = writeln!(out, "\nTotal delivery attempts: {}", k + d + z);
    let _ = writeln!(out, "  success: {k}\n  failure: {d}\n  deferral: {z}");
    let _ = writeln!(out, "Total ddelay (s): {}", secs(ddelay));
    let _ = writeln!(
        out,
        "Average ddelay per success (s): {}",
        ratio(ddelay, k as f64)
    );
    let _ = writeln!(out, "Total xdelay (s): {}", secs(xdelay));
    let _ = writeln!(
        out,
        "Average xdelay per delivery attempt (s): {}",
        ratio(xdelay, (k + d + z) as f64)
    );
    let _ = writeln!(out, "Time span (days): {:.6}", span / 86400.0);
    let _ = writeln!(out, "Average concurrency: {}", ratio(xdelay, span));
    out
}

/// One line per reason of the deliveries with `result`.
fn reasons(data: &Data, result: u8, what: &str, ended: &str) -> String {
    let mut by: BTreeMap<String, (u128, f64)> = BTreeMap::new();
    for d in data.dels.iter().filter(|d| d.result == result) {
        let e = by.entry(d.reason.replace('_', " ")).or_default();
        e.0 += 1;
        e.1 += d.xdelay();
    }
    let mut rows: Vec<(String, (u128, f64))> = by.into_iter().collect();
    rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(r, (n, x))| vec![n.to_string(), secs(x), r])
        .collect();
    format!(
        "Reasons for {what}\n\n\
         One line per reason a delivery {ended}:\n\
         * del is the number of deliveries that ended with this reason.\n\
         * xdelay is the total xdelay of those deliveries.\n\n{}",
        table(&["del", "xdelay", "reason"], &rows)
    )
}

#[derive(Default)]
struct RecipientRow {
    sbytes: u128,
    mess: u128,
    tries: u128,
    xdelay: f64,
}

fn per_recipient(data: &Data, what: &str, key: impl Fn(&str) -> String) -> String {
    let mut by: BTreeMap<String, RecipientRow> = BTreeMap::new();
    for d in &data.dels {
        let e = by.entry(key(&d.recip)).or_default();
        e.tries += 1;
        e.xdelay += d.xdelay();
        if d.result != b'z' {
            e.mess += 1;
        }
        if d.result == b'k' {
            e.sbytes += d.bytes;
        }
    }
    let rows: Vec<Vec<String>> = by
        .into_iter()
        .map(|(k, r)| {
            let n = [r.sbytes, r.mess, r.tries].map(|n| n.to_string());
            vec![n[0].clone(), n[1].clone(), n[2].clone(), secs(r.xdelay), k]
        })
        .collect();
    format!(
        "Recipients by {what}\n\n\
         One line per {what} (channel.address for a recipient):\n\
         * sbytes is the number of bytes delivered successfully to it.\n\
         * mess is the number of deliveries that ended (success or failure).\n\
         * tries is the number of delivery attempts (with deferrals).\n\
         * xdelay is the total xdelay of those attempts.\n\n{}",
        table(&["sbytes", "mess", "tries", "xdelay", what], &rows)
    )
}

#[derive(Default)]
struct SenderRow {
    mess: u128,
    bytes: u128,
    sbytes: u128,
    rbytes: u128,
    recips: u128,
    tries: u128,
    xdelay: f64,
}

fn per_sender(data: &Data, what: &str, key: impl Fn(&str, &str) -> String) -> String {
    let mut by: BTreeMap<String, SenderRow> = BTreeMap::new();
    for m in &data.msgs {
        let e = by.entry(key(&m.sender, &m.uid)).or_default();
        e.mess += 1;
        e.bytes += m.bytes;
        e.sbytes += m.bytes * m.k;
        e.rbytes += m.bytes * (m.k + m.d);
        e.recips += m.k + m.d;
        e.tries += m.k + m.d + m.z;
    }
    for d in &data.dels {
        by.entry(key(&d.sender, &d.uid)).or_default().xdelay += d.xdelay();
    }
    let rows: Vec<Vec<String>> = by
        .into_iter()
        .map(|(k, r)| {
            let mut row: Vec<String> = [r.mess, r.bytes, r.sbytes, r.rbytes, r.recips, r.tries]
                .iter()
                .map(u128::to_string)
                .collect();
            row.push(secs(r.xdelay));
            row.push(k);
            row
        })
        .collect();
    format!(
        "Messages by {what}\n\n\
         One line per {what}, over the messages that left the queue:\n\
         * mess is the number of messages, bytes their size in bytes.\n\
         * sbytes is bytes times successful deliveries, rbytes bytes times\n  \
         ended deliveries (success or failure).\n\
         * recips is the number of recipients (success plus failure).\n\
         * tries is the number of delivery attempts (with deferrals).\n\
         * xdelay is the total xdelay of all its delivery attempts.\n\n{}",
        table(
            &[
                "mess", "bytes", "sbytes", "rbytes", "recips", "tries", "xdelay", what
            ],
            &rows
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "\
d k 100.000000 101.000000 102.000000 300 <joe@example.org> local.alice@mx.example 42 1000 did_0+0+1/
d z 100.000000 101.000000 104.000000 300 <joe@example.org> remote.bob@far.example 42 1000 Sorry,_no_SMTP./
d d 100.000000 110.000000 111.000000 300 <joe@example.org> remote.bob@far.example 42 1000 Sorry,_no_mailbox./
m 100.000000 112.000000 300 1 1 1 <joe@example.org> 42 1000
? junk
";

    #[test]
    fn overall_counts() {
        let r = report("zoverall", &Data::read(OUT)).unwrap();
        for want in [
            "Completed messages: 1\n",
            "Recipients for completed messages: 2\n",
            "Total delivery attempts for completed messages: 3\n",
            "Bytes weighted by success: 300\n",
            "Average message qtime (s): 12.00\n",
            "Total delivery attempts: 3\n  success: 1\n  failure: 1\n  deferral: 1\n",
            "Total ddelay (s): 2.00\n",
            "Total xdelay (s): 5.00\n",
            "Average concurrency: 0.42\n",
        ] {
            assert!(r.contains(want), "{want}\n{r}");
        }
    }

    #[test]
    fn tables() {
        let d = Data::read(OUT);
        let f = report("zfailures", &d).unwrap();
        assert!(
            f.ends_with("del xdelay reason\n  1   1.00 Sorry, no mailbox./\n"),
            "{f}"
        );
        let r = report("zrecipients", &d).unwrap();
        assert!(
            r.contains("\n   300    1     1   1.00 local.alice@mx.example\n"),
            "{r}"
        );
        assert!(
            r.contains("\n     0    1     2   4.00 remote.bob@far.example\n"),
            "{r}"
        );
        let h = report("zrhosts", &d).unwrap();
        assert!(h.contains(" far.example\n"), "{h}");
        let s = report("zsenders", &d).unwrap();
        assert!(
            s.contains("\n   1   300    300    600      2     3   5.00 <joe@example.org>\n"),
            "{s}"
        );
        let u = report("zsuids", &d).unwrap();
        assert!(u.ends_with("   5.00 1000\n"), "{u}");
        assert!(report("zfoo", &d).is_none());
    }

    #[test]
    fn hostile_input() {
        let big = "99999999999999999999";
        let text = format!(
            "m 1e400 -inf {big} {big} {big} {big} <a> 1 2\n\
             d k nan 1 2 {big} <a> local.x\0y 1 2 r\n\
             d\nm\n\0\n"
        );
        let d = Data::read(&text);
        for name in NAMES {
            assert!(report(name, &d).is_some());
        }
        let s = report("zsenders", &d).unwrap();
        assert!(s.contains(" 1099511627776 "), "{s}");
    }
}
