//! qmail-metrics' output (qmail-metrics(8)): the counters and the queue's
//! figures in Prometheus' text exposition format (0.0.4), or MRTG's four
//! lines.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::metrics::State;
use crate::queue::figures::Figures;

/// The families: name, type and help, in the order they are written.
const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "qmail_messages_received_total",
        "counter",
        "Messages qmail-send took from the queue (new msg lines).",
    ),
    (
        "qmail_messages_received_bytes_total",
        "counter",
        "Bytes of those messages (info msg lines).",
    ),
    (
        "qmail_messages_done_total",
        "counter",
        "Messages qmail-send finished and removed (end msg lines).",
    ),
    (
        "qmail_bounces_total",
        "counter",
        "Bounce messages qmail-send queued (bounce msg lines).",
    ),
    (
        "qmail_deliveries_started_total",
        "counter",
        "Delivery attempts started, by channel.",
    ),
    (
        "qmail_deliveries_total",
        "counter",
        "Delivery attempts finished, by channel and result.",
    ),
    (
        "qmail_send_problems_total",
        "counter",
        "alert: and warning: lines of qmail-send and qmail-todo.",
    ),
    (
        "qmail_smtp_sessions_total",
        "counter",
        "Connections tcpserver or sslserver let in (ok lines).",
    ),
    (
        "qmail_smtp_denied_total",
        "counter",
        "Connections refused by the rules (deny lines).",
    ),
    (
        "qmail_smtp_tls_sessions_total",
        "counter",
        "Connections that completed a TLS handshake, by protocol (sslserver -V).",
    ),
    (
        "qmail_smtpd_accepts_total",
        "counter",
        "qmail-smtpd's Accept decisions (one per accepted recipient or AUTH), by reason.",
    ),
    (
        "qmail_smtpd_rejects_total",
        "counter",
        "qmail-smtpd's Reject decisions, by reason.",
    ),
    (
        "qmail_log_first_timestamp_seconds",
        "gauge",
        "Time of the oldest log line counted.",
    ),
    (
        "qmail_queue_messages",
        "gauge",
        "Messages in the queue (queue/mess).",
    ),
    (
        "qmail_queue_todo_messages",
        "gauge",
        "Messages not yet preprocessed (queue/todo).",
    ),
    (
        "qmail_queue_oldest_message_age_seconds",
        "gauge",
        "Age of the oldest message in the queue (0 when it is empty).",
    ),
];

/// Series always written, so dashboards see zeros before the first event.
const ZEROS: &[&str] = &[
    "qmail_messages_received_total",
    "qmail_messages_received_bytes_total",
    "qmail_messages_done_total",
    "qmail_bounces_total",
    "qmail_deliveries_started_total{channel=\"local\"}",
    "qmail_deliveries_started_total{channel=\"remote\"}",
    "qmail_deliveries_total{channel=\"local\",result=\"success\"}",
    "qmail_deliveries_total{channel=\"local\",result=\"deferral\"}",
    "qmail_deliveries_total{channel=\"local\",result=\"failure\"}",
    "qmail_deliveries_total{channel=\"remote\",result=\"success\"}",
    "qmail_deliveries_total{channel=\"remote\",result=\"deferral\"}",
    "qmail_deliveries_total{channel=\"remote\",result=\"failure\"}",
    "qmail_send_problems_total{level=\"alert\"}",
    "qmail_send_problems_total{level=\"warning\"}",
    "qmail_smtp_sessions_total",
    "qmail_smtp_denied_total",
];

/// Prometheus' text exposition format of the counters and the queue.
pub fn exposition(s: &State, queue: Option<Figures>) -> String {
    let mut series: BTreeMap<&str, String> = BTreeMap::new();
    for z in ZEROS {
        series.insert(z, "0".to_string());
    }
    for (k, v) in &s.counters {
        series.insert(k, v.to_string());
    }
    let mut gauges: Vec<(&str, String)> = Vec::new();
    if let Some(f) = s.first {
        gauges.push(("qmail_log_first_timestamp_seconds", format!("{f:.3}")));
    }
    if let Some(q) = queue {
        gauges.push(("qmail_queue_messages", q.messages.to_string()));
        gauges.push(("qmail_queue_todo_messages", q.todo.to_string()));
        gauges.push((
            "qmail_queue_oldest_message_age_seconds",
            q.oldest_age.to_string(),
        ));
    }
    let mut out = String::new();
    for (name, kind, help) in FAMILIES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (k, v) in series.iter().filter(|(k, _)| family(k) == *name) {
            let _ = writeln!(out, "{k} {v}");
        }
        for (k, v) in gauges.iter().filter(|(k, _)| k == name) {
            let _ = writeln!(out, "{k} {v}");
        }
    }
    out
}

fn family(series: &str) -> &str {
    series.split('{').next().unwrap_or(series)
}

/// MRTG's four lines: messages in, successful deliveries, the time the
/// logs cover, and the name.
pub fn mrtg(s: &State, now: i64, name: &str) -> String {
    let get = |k: &str| s.counters.get(k).copied().unwrap_or(0);
    let done = get("qmail_deliveries_total{channel=\"local\",result=\"success\"}")
        + get("qmail_deliveries_total{channel=\"remote\",result=\"success\"}");
    let covered = s.first.map_or(0, |f| (now as f64 - f).max(0.0) as u64);
    let (d, h, m) = (covered / 86400, covered % 86400 / 3600, covered % 3600 / 60);
    format!(
        "{}\n{done}\n{d} days, {h}:{m:02} of logs\n{name}\n",
        get("qmail_messages_received_total")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analog::metrics::tests::state;

    #[test]
    fn prometheus_and_mrtg() {
        let q = Figures {
            messages: 2,
            todo: 1,
            oldest_age: 60,
        };
        let s = state();
        let e = exposition(&s, Some(q));
        assert!(e.contains("# TYPE qmail_deliveries_total counter\n"));
        assert!(e.contains("\nqmail_deliveries_total{channel=\"remote\",result=\"failure\"} 0\n"));
        assert!(e.contains("\nqmail_deliveries_total{channel=\"local\",result=\"success\"} 1\n"));
        assert!(e.contains("\nqmail_queue_oldest_message_age_seconds 60\n"));
        assert!(e.contains("\nqmail_log_first_timestamp_seconds 1735689600.000\n"));
        assert!(e.contains("\nqmail_smtpd_rejects_total{reason=\"RCPT::Failed_Rcptto\"} 1\n"));
        let m = mrtg(&s, 1_735_689_600 + 90_061, "mx.example");
        assert_eq!(m, "1\n1\n1 days, 1:01 of logs\nmx.example\n");
    }
}
