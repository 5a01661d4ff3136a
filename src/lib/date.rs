//! Dates as qmail writes them, always in UTC with zone `-0000`.

use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32, // 1..=12
    pub day: u32,   // 1..=31
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    /// 0 = Thursday (1970-01-01 was a Thursday).
    weekday_from_epoch: u32,
}

impl Utc {
    pub fn from_unix(secs: i64) -> Utc {
        let days = secs.div_euclid(86400);
        let rem = secs.rem_euclid(86400) as u32;
        // Howard Hinnant's civil_from_days.
        let z = days + 719468;
        let era = z.div_euclid(146097);
        let doe = z.rem_euclid(146097);
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Utc {
            year,
            month,
            day,
            hour: rem / 3600,
            min: rem / 60 % 60,
            sec: rem % 60,
            weekday_from_epoch: days.rem_euclid(7) as u32,
        }
    }

    pub fn now() -> Utc {
        Utc::from_unix(now_secs())
    }

    pub fn month_name(&self) -> &'static str {
        MONTHS[(self.month - 1) as usize]
    }

    pub fn weekday_name(&self) -> &'static str {
        DAYS[self.weekday_from_epoch as usize]
    }

    /// `3 Jan 2024 09:05:07 -0000`: qmail's Received-line date.
    pub fn received(&self) -> String {
        format!(
            "{} {} {} {:02}:{:02}:{:02} -0000",
            self.day,
            self.month_name(),
            self.year,
            self.hour,
            self.min,
            self.sec
        )
    }

    /// `Wed, 3 Jan 2024 09:05:07 -0000`: an RFC 5322 Date: header value.
    pub fn rfc5322(&self) -> String {
        format!("{}, {}", self.weekday_name(), self.received())
    }

    /// `Wed Jan  3 09:05:07 2024`: the asctime form of mbox From_ lines.
    pub fn asctime(&self) -> String {
        format!(
            "{} {} {:2} {:02}:{:02}:{:02} {}",
            self.weekday_name(),
            self.month_name(),
            self.day,
            self.hour,
            self.min,
            self.sec,
            self.year
        )
    }
}

/// Seconds since the epoch.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        // 2024-01-03 09:05:07 UTC, a Wednesday.
        let t = Utc::from_unix(1704272707);
        assert_eq!(t.received(), "3 Jan 2024 09:05:07 -0000");
        assert_eq!(t.rfc5322(), "Wed, 3 Jan 2024 09:05:07 -0000");
        assert_eq!(t.asctime(), "Wed Jan  3 09:05:07 2024");
        assert_eq!(Utc::from_unix(0).received(), "1 Jan 1970 00:00:00 -0000");
        assert_eq!(
            Utc::from_unix(951782400).received(),
            "29 Feb 2000 00:00:00 -0000"
        );
    }
}
