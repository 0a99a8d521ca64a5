//! [`Timestamp`]: the spec's `date-time` strings, as a chrono `DateTime<Utc>`.
//!
//! The generator is configured (in `xtask`) to use this type for `type: string,
//! format: date-time` instead of `chrono::DateTime<Utc>` itself. chrono's general parser
//! took about as long per ticket as decoding the rest of it; HubSpot always writes the
//! same form (`2019-10-30T03:30:17.883Z`), which is read here directly. Anything else
//! falls back to chrono's parser, so what decodes is exactly what chrono accepts.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat, Utc};
use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// An instant, in UTC. Dereferences to [`chrono::DateTime<Utc>`].
///
/// ```
/// use hubspot_tickets_client::Timestamp;
///
/// let t: Timestamp = "2019-10-30T03:30:17.883Z".parse()?;
/// assert_eq!(t.timestamp_millis(), 1_572_406_217_883);
/// assert_eq!(t.to_string(), "2019-10-30T03:30:17.883Z");
/// # Ok::<(), chrono::ParseError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// The instant as a chrono value.
    pub fn into_inner(self) -> DateTime<Utc> {
        self.0
    }
}

impl Deref for Timestamp {
    type Target = DateTime<Utc>;
    fn deref(&self) -> &DateTime<Utc> {
        &self.0
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Self(t)
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(t: Timestamp) -> Self {
        t.0
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// RFC 3339 in UTC with `Z`, with as many fraction digits as needed (as chrono's serde).
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl FromStr for Timestamp {
    type Err = chrono::ParseError;

    fn from_str(s: &str) -> Result<Self, chrono::ParseError> {
        if let Some(t) = parse_zulu(s.as_bytes()) {
            return Ok(Self(t));
        }
        s.parse::<DateTime<FixedOffset>>()
            .map(|t| Self(t.with_timezone(&Utc)))
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the only form HubSpot sends; `None` for anything
/// else (chrono then decides).
fn parse_zulu(b: &[u8]) -> Option<DateTime<Utc>> {
    fn num(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0_u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    }
    let (head, rest) = b.split_at_checked(19)?;
    let sep = |i: usize, c: u8| head.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let year = i32::try_from(num(head.get(0..4)?)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, num(head.get(5..7)?)?, num(head.get(8..10)?)?)?;
    let (hour, min, sec) = (
        num(head.get(11..13)?)?,
        num(head.get(14..16)?)?,
        num(head.get(17..19)?)?,
    );
    let (&last, frac) = rest.split_last()?;
    if last != b'Z' {
        return None;
    }
    let nanos = match frac.split_first() {
        None => 0,
        Some((b'.', digits)) if (1..=9).contains(&digits.len()) => {
            num(digits)? * 10_u32.pow(9 - u32::try_from(digits.len()).ok()?)
        }
        Some(_) => return None,
    };
    // Leap seconds (`:60`) and out-of-range fields are left to chrono.
    let time = chrono::NaiveTime::from_hms_nano_opt(hour, min, sec, nanos).filter(|_| sec < 60)?;
    Some(date.and_time(time).and_utc())
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TimestampVisitor)
    }
}

struct TimestampVisitor;

impl Visitor<'_> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 date and time")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
        v.parse().map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The fast path and chrono agree wherever the fast path answers.
    #[test]
    fn agrees_with_chrono() {
        let cases = [
            "2019-10-30T03:30:17.883Z",
            "2019-10-30T03:30:17Z",
            "2019-10-30T03:30:17.1Z",
            "2019-10-30T03:30:17.123456789Z",
            "2024-02-29T23:59:59.999Z",
            "1970-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
        ];
        for c in cases {
            let fast = parse_zulu(c.as_bytes()).unwrap();
            let slow: DateTime<Utc> = c.parse::<DateTime<FixedOffset>>().unwrap().into();
            assert_eq!(fast, slow, "{c}");
        }
    }

    #[test]
    fn other_forms_go_to_chrono() {
        for c in [
            "2019-10-30T03:30:17.883+02:00",
            "2019-10-30 03:30:17Z",
            "2019-10-30t03:30:17z",
            "2016-12-31T23:59:60Z",
            "2019-10-30T03:30:17.1234567891Z",
            "+019-10-30T03:30:17Z",
        ] {
            assert!(parse_zulu(c.as_bytes()).is_none(), "{c}");
            let chrono = c
                .parse::<DateTime<FixedOffset>>()
                .map(|t| t.with_timezone(&Utc));
            assert_eq!(c.parse::<Timestamp>().map(|t| t.0), chrono, "{c}");
        }
        // Whatever the input, the answer is chrono's.
        for odd in [
            "",
            "2019-02-30T00:00:00Z",
            "2019-10-30T24:00:00Z",
            "2019-10-30T03:30:17.Z",
            "2019-10-30T03:30:17",
            "2019-1a-30T03:30:17Z",
            "2019-10-30T03:30:17.88 Z",
            "2019-10-30T03:30:1\u{e9}Z",
        ] {
            let chrono = odd
                .parse::<DateTime<FixedOffset>>()
                .map(|t| t.with_timezone(&Utc));
            assert_eq!(odd.parse::<Timestamp>().map(|t| t.0), chrono, "{odd}");
        }
        assert!("".parse::<Timestamp>().is_err());
        assert!("2019-02-30T00:00:00Z".parse::<Timestamp>().is_err());
    }

    #[test]
    fn serde_round_trip_matches_chrono() {
        let t: Timestamp = serde_json::from_str(r#""2019-10-30T03:30:17.883Z""#).unwrap();
        let c: DateTime<Utc> = serde_json::from_str(r#""2019-10-30T03:30:17.883Z""#).unwrap();
        assert_eq!(t.0, c);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            serde_json::to_string(&c).unwrap()
        );
        assert!(serde_json::from_str::<Timestamp>("17").is_err());
    }
}
