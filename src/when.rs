//! Durations and points in time as people type them, parsed in one place
//! for every command: `30s`, `15m`, `1h`, `7d`, `2w` for a span, and for a
//! point in time either a span ago or an RFC 3339 date (`2026-11-20` or
//! `2026-11-20T08:00:00Z`). Also how long a room keeps its history.

use std::fmt;
use std::str::FromStr;

const SECOND: u64 = 1000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
/// A day in milliseconds.
pub const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;

/// Why a duration or date was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhenError {
    /// Not a span like `30s`, `1h` or `7d`.
    #[error("{0:?} is not a duration; write a number and a unit, like 30s, 15m, 1h, 7d or 2w")]
    NotADuration(String),
    /// Neither a span nor a date.
    #[error(
        "{0:?} is neither a duration (30s, 1h, 7d) nor a date (2026-11-20 or 2026-11-20T08:00:00Z)"
    )]
    NotAPointInTime(String),
    /// Not `all`, a count or a span.
    #[error("{0:?} is not a retention; write all, a number of messages (500) or a duration (30d)")]
    NotARetention(String),
}

/// Parses a span into milliseconds: `30s`, `15m`, `1h`, `7d`, `2w`.
pub fn parse_duration_ms(text: &str) -> Result<u64, WhenError> {
    let bad = || WhenError::NotADuration(text.to_owned());
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let unit = match unit {
        "s" => SECOND,
        "m" | "min" => MINUTE,
        "h" => HOUR,
        "d" => DAY,
        "w" => WEEK,
        _ => return Err(bad()),
    };
    number.checked_mul(unit).ok_or_else(bad)
}

/// Parses a point in time into milliseconds since the Unix epoch: a span
/// before `now_ms`, or an RFC 3339 date or date-time.
pub fn parse_since_ms(text: &str, now_ms: u64) -> Result<u64, WhenError> {
    if let Ok(span) = parse_duration_ms(text) {
        return Ok(now_ms.saturating_sub(span));
    }
    let bad = || WhenError::NotAPointInTime(text.to_owned());
    let text = text.trim();
    if let Ok(moment) = chrono::DateTime::parse_from_rfc3339(text) {
        return u64::try_from(moment.timestamp_millis()).map_err(|_| bad());
    }
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad())?;
    let start = day.and_hms_opt(0, 0, 0).ok_or_else(bad)?;
    u64::try_from(start.and_utc().timestamp_millis()).map_err(|_| bad())
}

/// How much history a room keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retention {
    /// Everything (the default).
    #[default]
    All,
    /// Messages younger than this many milliseconds.
    Age(u64),
    /// The newest this many messages.
    Count(usize),
}

impl Retention {
    /// What to prune now: messages older than a moment, beyond a count.
    pub fn limits(self, now_ms: u64) -> (Option<u64>, Option<usize>) {
        match self {
            Retention::All => (None, None),
            Retention::Age(ms) => (Some(now_ms.saturating_sub(ms)), None),
            Retention::Count(count) => (None, Some(count)),
        }
    }
}

impl FromStr for Retention {
    type Err = WhenError;

    fn from_str(text: &str) -> Result<Self, WhenError> {
        let text = text.trim();
        if text == "all" {
            return Ok(Retention::All);
        }
        if let Ok(count) = text.parse::<usize>() {
            return Ok(Retention::Count(count));
        }
        parse_duration_ms(text)
            .map(Retention::Age)
            .map_err(|_| WhenError::NotARetention(text.to_owned()))
    }
}

impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Retention::All => f.write_str("all"),
            Retention::Count(count) => write!(f, "{count}"),
            Retention::Age(ms) => f.write_str(&describe_span(*ms)),
        }
    }
}

/// A span in the largest unit that divides it: `7d`, `90m`, `45s`, the
/// form [`parse_duration_ms`] reads.
pub fn describe_span(ms: u64) -> String {
    for (unit, size) in [("w", WEEK), ("d", DAY), ("h", HOUR), ("m", MINUTE)] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{}s", ms / SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_dates_and_retentions_parse() {
        assert_eq!(parse_duration_ms("30s"), Ok(30_000));
        assert_eq!(parse_duration_ms("1h"), Ok(3_600_000));
        assert_eq!(parse_duration_ms("7d"), Ok(7 * DAY));
        for bad in ["", "h", "10", "1y", "-1d", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
        let now = 10 * DAY;
        assert_eq!(parse_since_ms("1d", now), Ok(9 * DAY));
        assert_eq!(parse_since_ms("1970-01-02", now), Ok(DAY));
        assert_eq!(parse_since_ms("1970-01-01T01:00:00Z", now), Ok(HOUR));
        assert!(parse_since_ms("yesterday", now).is_err());
        assert_eq!("all".parse(), Ok(Retention::All));
        assert_eq!("500".parse(), Ok(Retention::Count(500)));
        assert_eq!("30d".parse(), Ok(Retention::Age(30 * DAY)));
        assert!("forever".parse::<Retention>().is_err());
        for text in ["all", "500", "30d", "2w", "12h"] {
            assert_eq!(text.parse::<Retention>().unwrap().to_string(), text);
        }
        assert_eq!(Retention::Age(30 * DAY).limits(31 * DAY), (Some(DAY), None));
    }
}
