//! Elasticsearch dates: `strict_date_optional_time||epoch_millis` values and date math.
//!
//! Times are UTC. A date that leaves fields out (`2024-01-01`) stands for a span; parsing it
//! *rounded up* gives the span's last instant, as Elasticsearch does for `lte` and `gt` bounds.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

const NANOS_PER_MILLI: i64 = 1_000_000;
const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SECOND;

/// An instant, in nanoseconds since 1970-01-01T00:00:00Z (years 1677 to 2262). Serialized as
/// its number of nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Timestamp {
        let nanos = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_nanos()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_nanos()).unwrap_or(i64::MAX),
        };
        Timestamp(nanos)
    }

    /// The instant `millis` milliseconds after the epoch.
    pub fn from_millis(millis: i64) -> Timestamp {
        Timestamp(millis.saturating_mul(NANOS_PER_MILLI))
    }

    /// The instant `nanos` nanoseconds after the epoch.
    pub fn from_nanos(nanos: i64) -> Timestamp {
        Timestamp(nanos)
    }

    /// Nanoseconds since the epoch.
    pub fn as_nanos(self) -> i64 {
        self.0
    }

    /// Milliseconds since the epoch (rounded towards the past).
    pub fn as_millis(self) -> i64 {
        self.0.div_euclid(NANOS_PER_MILLI)
    }

    /// This instant truncated to whole milliseconds, as a `date` field stores it.
    pub fn truncate_to_millis(self) -> Timestamp {
        Timestamp::from_millis(self.as_millis())
    }

    /// Parses a date as a `date` field does (`strict_date_optional_time||epoch_millis`).
    /// With `round_up`, fields left out are filled with their largest value.
    pub fn parse(text: &str, round_up: bool) -> Option<Timestamp> {
        parse_iso(text, round_up).or_else(|| parse_epoch_millis(text))
    }

    fn civil(self) -> Civil {
        let days = self.0.div_euclid(NANOS_PER_DAY);
        let nanos_of_day = self.0.rem_euclid(NANOS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        Civil { year, month, day, nanos_of_day }
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with milliseconds, e.g. `2024-05-01T12:00:00.000Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.civil();
        let secs = c.nanos_of_day / NANOS_PER_SECOND;
        let millis = (c.nanos_of_day % NANOS_PER_SECOND) / NANOS_PER_MILLI;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            c.year,
            c.month,
            c.day,
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            millis
        )
    }
}

/// A calendar date and time of day in UTC.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    nanos_of_day: i64,
}

impl Civil {
    fn to_timestamp(&self) -> Option<Timestamp> {
        let days = days_from_civil(self.year, self.month, self.day);
        days.checked_mul(NANOS_PER_DAY)?.checked_add(self.nanos_of_day).map(Timestamp)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A small cursor over ASCII date text.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.bytes.get(self.at) == Some(&byte);
        self.at += usize::from(hit);
        hit
    }

    fn digits(&mut self, count: usize) -> Option<u32> {
        let digits = self.bytes.get(self.at..self.at + count)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.at += count;
        Some(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

/// `yyyy[-MM[-dd[Thh[:mm[:ss[.fffffffff]]][zone]]]]`, zone `Z`, `±hh`, `±hhmm` or `±hh:mm`.
fn parse_iso(text: &str, round_up: bool) -> Option<Timestamp> {
    let mut c = Cursor { bytes: text.as_bytes(), at: 0 };
    let year = i64::from(c.digits(4)?);
    let month = if c.eat(b'-') { Some(c.digits(2)?) } else { None };
    let day = if month.is_some() && c.eat(b'-') { Some(c.digits(2)?) } else { None };
    let mut time: [Option<u32>; 3] = [None; 3];
    let mut fraction: Option<(u32, usize)> = None;
    let mut offset_secs = 0i64;
    if day.is_some() && c.eat(b'T') {
        time[0] = Some(c.digits(2)?);
        if c.eat(b':') {
            time[1] = Some(c.digits(2)?);
            if c.eat(b':') {
                time[2] = Some(c.digits(2)?);
                if c.eat(b'.') || c.eat(b',') {
                    let start = c.at;
                    while c.at - start < 9 && c.bytes.get(c.at).is_some_and(u8::is_ascii_digit) {
                        c.at += 1;
                    }
                    let len = c.at - start;
                    if len == 0 {
                        return None;
                    }
                    c.at = start;
                    fraction = Some((c.digits(len)?, len));
                }
            }
        }
        if c.eat(b'Z') {
        } else if let Some(sign) = [b'+', b'-'].into_iter().find(|&s| c.eat(s)) {
            let hours = i64::from(c.digits(2)?);
            c.eat(b':');
            let minutes = if c.done() { 0 } else { i64::from(c.digits(2)?) };
            offset_secs = (hours * 3600 + minutes * 60) * if sign == b'-' { -1 } else { 1 };
        }
    }
    if !c.done() {
        return None;
    }
    let month_value = month.unwrap_or(if round_up { 12 } else { 1 });
    if !(1..=12).contains(&month_value) {
        return None;
    }
    let last_day = days_in_month(year, month_value);
    let day_value = day.unwrap_or(if round_up { last_day } else { 1 });
    if !(1..=last_day).contains(&day_value) {
        return None;
    }
    let [hour, minute, second] = time;
    let (hour, minute, second) = (
        hour.unwrap_or(if round_up { 23 } else { 0 }),
        minute.unwrap_or(if round_up { 59 } else { 0 }),
        second.unwrap_or(if round_up { 59 } else { 0 }),
    );
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let nanos = match fraction {
        Some((value, len)) => i64::from(value) * 10i64.pow(9 - len as u32),
        None if round_up => NANOS_PER_SECOND - 1,
        None => 0,
    };
    let nanos_of_day = (i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)) * NANOS_PER_SECOND + nanos;
    let local = Civil { year, month: month_value, day: day_value, nanos_of_day }.to_timestamp()?;
    local.0.checked_sub(offset_secs * NANOS_PER_SECOND).map(Timestamp)
}

fn parse_epoch_millis(text: &str) -> Option<Timestamp> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let unsigned = whole.strip_prefix('-').unwrap_or(whole);
    if unsigned.is_empty()
        || !unsigned.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let millis: i64 = whole.parse().ok()?;
    let mut sub = 0i64;
    for (i, d) in fraction.bytes().take(6).enumerate() {
        sub += i64::from(d - b'0') * 10i64.pow(5 - i as u32);
    }
    let sub = if whole.starts_with('-') { -sub } else { sub };
    millis.checked_mul(NANOS_PER_MILLI)?.checked_add(sub).map(Timestamp)
}

/// A calendar unit of date math: `y M w d h m s` (`H` is hours too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// `y`
    Year,
    /// `M`
    Month,
    /// `w`
    Week,
    /// `d`
    Day,
    /// `h` or `H`
    Hour,
    /// `m`
    Minute,
    /// `s`
    Second,
}

impl Unit {
    fn from_char(c: char) -> Option<Unit> {
        Some(match c {
            'y' => Unit::Year,
            'M' => Unit::Month,
            'w' => Unit::Week,
            'd' => Unit::Day,
            'h' | 'H' => Unit::Hour,
            'm' => Unit::Minute,
            's' => Unit::Second,
            _ => return None,
        })
    }

    /// The length of a fixed-size unit in nanoseconds (`None` for months and years).
    pub fn fixed_nanos(self) -> Option<i64> {
        Some(match self {
            Unit::Week => 7 * NANOS_PER_DAY,
            Unit::Day => NANOS_PER_DAY,
            Unit::Hour => 3600 * NANOS_PER_SECOND,
            Unit::Minute => 60 * NANOS_PER_SECOND,
            Unit::Second => NANOS_PER_SECOND,
            Unit::Year | Unit::Month => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Add(i64, Unit),
    Round(Unit),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Anchor {
    Now,
    /// The anchor's text, parsed when resolved (it may be rounded up when it has no math).
    Date(String),
}

/// A date-math expression: `now-30m`, `now-1d/d`, `2024-01-01||+1M/d`, or a plain date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DateMath {
    anchor: Anchor,
    ops: Vec<Op>,
}

/// Why a date-math expression could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DateMathError {
    /// The text is not `now`, a date, or `date||math`.
    #[error("`{0}` is not a date or date math (expected `now`, a date like 2024-01-31, or `now-1d/d`)")]
    NotADate(String),
    /// An operator was not followed by a valid unit.
    #[error("unknown date-math unit in `{0}` (use one of y M w d h m s)")]
    BadUnit(String),
    /// Something other than `+`, `-` or `/` followed the anchor.
    #[error("unexpected `{found}` in date math `{text}` (expected +N<unit>, -N<unit> or /<unit>)")]
    Unexpected {
        /// The whole expression.
        text: String,
        /// The character found.
        found: char,
    },
}

impl DateMath {
    /// Parses date math as Elasticsearch's range queries and rule `from`/`to` fields accept it.
    ///
    /// # Errors
    ///
    /// When the anchor is neither `now` nor a date, or the math after it is malformed.
    pub fn parse(text: &str) -> Result<DateMath, DateMathError> {
        let (anchor, math) = if let Some(math) = text.strip_prefix("now") {
            (Anchor::Now, math)
        } else if let Some((date, math)) = text.split_once("||") {
            if Timestamp::parse(date, false).is_none() {
                return Err(DateMathError::NotADate(text.to_owned()));
            }
            (Anchor::Date(date.to_owned()), math)
        } else if Timestamp::parse(text, false).is_some() {
            (Anchor::Date(text.to_owned()), "")
        } else {
            return Err(DateMathError::NotADate(text.to_owned()));
        };
        let mut ops = Vec::new();
        let mut chars = math.chars().peekable();
        while let Some(op) = chars.next() {
            let unit_after = |c: Option<char>| Unit::from_char(c?).ok_or(()).ok();
            match op {
                '+' | '-' => {
                    let mut digits = String::new();
                    while let Some(d) = chars.next_if(char::is_ascii_digit) {
                        digits.push(d);
                    }
                    let n: i64 = if digits.is_empty() {
                        1
                    } else {
                        digits.parse().map_err(|_| DateMathError::NotADate(text.to_owned()))?
                    };
                    let unit = unit_after(chars.next()).ok_or_else(|| DateMathError::BadUnit(text.to_owned()))?;
                    ops.push(Op::Add(if op == '-' { -n } else { n }, unit));
                }
                '/' => {
                    let unit = unit_after(chars.next()).ok_or_else(|| DateMathError::BadUnit(text.to_owned()))?;
                    ops.push(Op::Round(unit));
                }
                found => return Err(DateMathError::Unexpected { text: text.to_owned(), found }),
            }
        }
        Ok(DateMath { anchor, ops })
    }

    /// Whether the expression reads the clock (`now...`).
    pub fn is_relative(&self) -> bool {
        self.anchor == Anchor::Now
    }

    /// The instant this expression names at `now`. With `round_up` (for `lte` and `gt` bounds),
    /// rounding goes to the last instant of the unit, and a plain partial date to its last instant.
    pub fn resolve(&self, now: Timestamp, round_up: bool) -> Option<Timestamp> {
        let mut t = match &self.anchor {
            Anchor::Now => now,
            Anchor::Date(date) => Timestamp::parse(date, round_up && self.ops.is_empty())?,
        };
        for op in &self.ops {
            t = match *op {
                Op::Add(n, unit) => add(t, n, unit)?,
                Op::Round(unit) => {
                    let floor = round_down(t, unit)?;
                    if round_up { Timestamp(add(floor, 1, unit)?.0 - 1) } else { floor }
                }
            };
        }
        Some(t)
    }
}

fn add(t: Timestamp, n: i64, unit: Unit) -> Option<Timestamp> {
    if let Some(nanos) = unit.fixed_nanos() {
        return t.0.checked_add(n.checked_mul(nanos)?).map(Timestamp);
    }
    let c = t.civil();
    let months = if unit == Unit::Year { n.checked_mul(12)? } else { n };
    let total = c.year.checked_mul(12)? + i64::from(c.month - 1) + months;
    let (year, month) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
    let day = c.day.min(days_in_month(year, month));
    Civil { year, month, day, nanos_of_day: c.nanos_of_day }.to_timestamp()
}

fn round_down(t: Timestamp, unit: Unit) -> Option<Timestamp> {
    let c = t.civil();
    let day_start = |year, month, day| Civil { year, month, day, nanos_of_day: 0 }.to_timestamp();
    match unit {
        Unit::Year => day_start(c.year, 1, 1),
        Unit::Month => day_start(c.year, c.month, 1),
        Unit::Week => {
            // ISO weeks start on Monday; 1970-01-01 was a Thursday.
            let days = t.0.div_euclid(NANOS_PER_DAY);
            let monday = days - (days + 3).rem_euclid(7);
            monday.checked_mul(NANOS_PER_DAY).map(Timestamp)
        }
        fixed => {
            let size = fixed.fixed_nanos()?;
            Some(Timestamp(t.0 - t.0.rem_euclid(size)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse(text, false).expect("test dates are valid")
    }

    #[test]
    fn iso_dates_and_epoch_millis_parse() {
        assert_eq!(ts("1970-01-01T00:00:00Z").as_nanos(), 0);
        assert_eq!(ts("2024-02-29T12:30:15.250Z").to_string(), "2024-02-29T12:30:15.250Z");
        assert_eq!(ts("2024-01-01T01:00:00+01:00"), ts("2024-01-01T00:00:00Z"));
        assert_eq!(ts("1700000000000"), Timestamp::from_millis(1_700_000_000_000));
        assert_eq!(Timestamp::parse("2023-02-29", false), None);
        assert_eq!(Timestamp::parse("yesterday", false), None);
    }

    #[test]
    fn partial_dates_round_up_to_their_last_instant() {
        let end = Timestamp::parse("2024-01-01", true).expect("valid");
        assert_eq!(end.to_string(), "2024-01-01T23:59:59.999Z");
        assert_eq!(Timestamp::parse("2024-02", true).expect("valid").to_string(), "2024-02-29T23:59:59.999Z");
    }

    #[test]
    fn date_math_resolves_against_now() {
        let now = ts("2024-03-31T10:20:30Z");
        let resolve =
            |text: &str, up| DateMath::parse(text).expect("valid").resolve(now, up).expect("in range").to_string();
        assert_eq!(resolve("now-30m", false), "2024-03-31T09:50:30.000Z");
        assert_eq!(resolve("now-1d/d", false), "2024-03-30T00:00:00.000Z");
        assert_eq!(resolve("now-1d/d", true), "2024-03-30T23:59:59.999Z");
        assert_eq!(resolve("now-1M", false), "2024-02-29T10:20:30.000Z");
        assert_eq!(resolve("now/w", false), "2024-03-25T00:00:00.000Z");
        assert_eq!(resolve("2024-01-31||+1M", false), "2024-02-29T00:00:00.000Z");
        assert!(matches!(DateMath::parse("now-1x"), Err(DateMathError::BadUnit(_))));
        assert!(DateMath::parse("abc").is_err());
    }
}
