//! Reading the logs for operators: qmailanalog's `matchup` and its
//! reports over qmail-send's log (qmail-log(5), matchup(1), qmailanalog(1)),
//! and the counters of qmail-metrics(8) over multilog's files.

pub mod exposition;
pub mod matchup;
pub mod metrics;
pub mod multilog;
pub mod report;
pub mod stamp;
pub mod words;
