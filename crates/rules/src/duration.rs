//! Rule intervals: `5m`, `1h`, `30s`, `1d`.

use std::fmt;

/// A rule's schedule interval, as Kibana writes it (`<n>s`, `<n>m`, `<n>h`, `<n>d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    seconds: u64,
}

/// Why an interval could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an interval (expected a number and a unit, like 5m, 30s, 1h or 1d)")]
pub struct IntervalError(pub String);

impl Interval {
    /// Reads `5m` and the like; the number must be positive.
    ///
    /// # Errors
    ///
    /// When the text is not a positive whole number followed by `s`, `m`, `h` or `d`.
    pub fn parse(text: &str) -> Result<Interval, IntervalError> {
        let err = || IntervalError(text.to_owned());
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (number, unit) = text.split_at(split);
        let n: u64 = number.parse().map_err(|_| err())?;
        let unit_seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(err()),
        };
        let seconds = n.checked_mul(unit_seconds).filter(|&s| s > 0).ok_or_else(err)?;
        Ok(Interval { seconds })
    }

    /// An interval of `seconds` seconds.
    pub fn from_seconds(seconds: u64) -> Interval {
        Interval { seconds }
    }

    /// The length in seconds.
    pub fn as_seconds(self) -> u64 {
        self.seconds
    }

    /// The length as a standard duration.
    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.seconds)
    }
}

impl fmt::Display for Interval {
    /// The largest unit that divides the interval: `300` seconds is `5m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        match () {
            _ if s.is_multiple_of(86_400) => write!(f, "{}d", s / 86_400),
            _ if s.is_multiple_of(3600) => write!(f, "{}h", s / 3600),
            _ if s.is_multiple_of(60) => write!(f, "{}m", s / 60),
            _ => write!(f, "{s}s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_and_print() {
        assert_eq!(Interval::parse("5m").map(Interval::as_seconds), Ok(300));
        assert_eq!(Interval::parse("60m").map(|i| i.to_string()), Ok("1h".into()));
        assert!(Interval::parse("0m").is_err());
        assert!(Interval::parse("5 m").is_err());
        assert!(Interval::parse("m").is_err());
        assert!(Interval::parse("5w").is_err());
    }
}
