//! Time as Kasir sees it: microseconds since the Unix epoch, written as Tazapay writes time (Go's
//! `RFC3339Nano`: UTC, `Z`, the fraction's trailing zeros dropped and no fraction when it is zero), and a
//! clock that tests can move.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An instant, in whole microseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    pub const fn as_micros(self) -> i64 {
        self.0
    }

    pub fn plus(self, d: std::time::Duration) -> Self {
        Timestamp(self.0.saturating_add(d.as_micros().min(i64::MAX as u128) as i64))
    }

    pub fn minus(self, d: std::time::Duration) -> Self {
        Timestamp(self.0.saturating_sub(d.as_micros().min(i64::MAX as u128) as i64))
    }

    #[cfg(test)]
    fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// This moment's calendar date and time of day at `offset_secs` from UTC (e.g. [`WIB_OFFSET_SECS`]).
    pub fn civil(self, offset_secs: i64) -> Civil {
        let micros = self.0.saturating_add(offset_secs.saturating_mul(1_000_000));
        let secs = micros.div_euclid(1_000_000);
        let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
            micros: micros.rem_euclid(1_000_000) as u32,
        }
    }

    /// RFC 3339 in UTC as Go's `RFC3339Nano` writes it: `2024-01-29T13:05:54.2704Z`,
    /// `2024-01-29T13:05:54Z` on a whole second.
    pub fn to_rfc3339(self) -> String {
        let (buf, len) = self.rfc3339_bytes();
        std::str::from_utf8(&buf[..len]).expect("ASCII").to_string()
    }

    /// The RFC 3339 form in a stack buffer, and how much of it is used: every object serialises several
    /// timestamps, so this is on the path of every write and every webhook. Years outside 0000–9999
    /// clamp to those bounds.
    fn rfc3339_bytes(self) -> ([u8; 27], usize) {
        const MIN: i64 = -62_167_219_200_000_000; // 0000-01-01T00:00:00Z
        const MAX: i64 = 253_402_300_799_999_999; // 9999-12-31T23:59:59.999999Z
        let micros = self.0.clamp(MIN, MAX);
        let secs = micros.div_euclid(1_000_000);
        let frac = micros.rem_euclid(1_000_000) as u32;
        let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
        let (y, m, d) = civil_from_days(days);
        let mut b = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut v: u32| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, y as u32);
        put(5, 2, m);
        put(8, 2, d);
        put(11, 2, sod / 3600);
        put(14, 2, sod / 60 % 60);
        put(17, 2, sod % 60);
        put(20, 6, frac);
        // Go's `RFC3339Nano` drops the fraction's trailing zeros, and the point with them when none is left.
        let mut len = 26;
        while len > 20 && b[len - 1] == b'0' {
            len -= 1;
        }
        if len == 20 {
            len = 19;
        }
        b[len] = b'Z';
        (b, len + 1)
    }

    /// Parses RFC 3339. UTC with up to six fractional digits (Kasir's own form, old and new) is read
    /// directly; any other RFC 3339 (offsets, finer precisions) through the `time` crate.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        Self::parse_own(s).or_else(|| {
            let dt = OffsetDateTime::parse(s, &Rfc3339).ok()?;
            Some(Timestamp((dt.unix_timestamp_nanos() / 1000) as i64))
        })
    }

    fn parse_own(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if !(20..=27).contains(&b.len()) || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
            return None;
        }
        if b[16] != b':' || b[b.len() - 1] != b'Z' || (b.len() > 20 && (b[19] != b'.' || b.len() == 21)) {
            return None;
        }
        let num = |at: usize, width: usize| -> Option<u32> {
            b[at..at + width].iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32))
        };
        let (y, m, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
        let digits = b.len().saturating_sub(21);
        let frac = if digits == 0 { 0 } else { num(20, digits)? * 10u32.pow(6 - digits as u32) };
        let (hh, mm, ss) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
        let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        if !(1..=12).contains(&m) || d == 0 || d > month_days[m as usize - 1] || hh > 23 || mm > 59 || ss > 59 {
            return None;
        }
        let days = days_from_civil(y as i64, m, d);
        let secs = days * 86_400 + (hh * 3600 + mm * 60 + ss) as i64;
        Some(Timestamp(secs * 1_000_000 + frac as i64))
    }
}

/// Western Indonesia Time (WIB), UTC+7, in seconds: the time Indonesian customers and OVO write.
pub const WIB_OFFSET_SECS: i64 = 7 * 3600;

/// A calendar date and time of day (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub micros: u32,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (buf, len) = self.rfc3339_bytes();
        s.serialize_str(std::str::from_utf8(&buf[..len]).expect("ASCII"))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Timestamp, E> {
                Timestamp::parse_rfc3339(s).ok_or_else(|| E::custom("invalid RFC 3339 timestamp"))
            }
        }
        d.deserialize_str(V)
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .examples([serde_json::json!("2024-01-29T13:05:54.2704Z")])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

/// Where "now" comes from. Production reads the system clock; tests hold a [`ManualClock`].
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp(d.as_micros() as i64)
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start.0)))
    }

    pub fn advance(&self, d: std::time::Duration) {
        self.0.fetch_add(d.as_micros() as i64, Ordering::SeqCst);
    }

    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_with_fraction_and_z() {
        let t = Timestamp::parse_rfc3339("2024-01-29T13:05:54.270403381Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-01-29T13:05:54.270403Z");
        assert_eq!(Timestamp::from_micros(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        // Go's RFC3339Nano: the fraction's trailing zeros go, and the point when nothing is left.
        for (micros, text) in [(270_400, "54.2704"), (100_000, "54.1"), (1, "54.000001"), (0, "54")] {
            let t = Timestamp::parse_rfc3339("2024-01-29T13:05:54Z").unwrap().as_micros() + micros;
            let written = Timestamp::from_micros(t).to_rfc3339();
            assert_eq!(written, format!("2024-01-29T13:05:{text}Z"));
            assert_eq!(Timestamp::parse_own(&written), Some(Timestamp::from_micros(t)), "{written} reads back");
        }
        assert_eq!(Timestamp::parse_own("2024-01-29T13:05:54.Z"), None);
    }

    #[test]
    fn the_fast_form_agrees_with_the_time_crate() {
        let reference = |t: Timestamp| {
            let dt = t.to_datetime();
            let fraction = format!("{:06}", dt.microsecond());
            let fraction = fraction.trim_end_matches('0');
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{fraction}Z",
                dt.year(),
                dt.month() as u8,
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second(),
                if fraction.is_empty() { "" } else { "." },
            )
        };
        // Every day from 1900 to 2200 (leap years, centuries, the epoch, negative times), at odd moments.
        let mut t = Timestamp::parse_rfc3339("1900-01-01T00:00:00Z").unwrap().as_micros();
        let end = Timestamp::parse_rfc3339("2200-01-01T00:00:00Z").unwrap().as_micros();
        let mut n = 0u64;
        while t < end {
            let ts = Timestamp::from_micros(t);
            let s = ts.to_rfc3339();
            assert_eq!(s, reference(ts));
            assert_eq!(Timestamp::parse_rfc3339(&s), Some(ts), "{s}");
            n += 1;
            t += 86_400_000_000 + 3_600_000_000 * (n as i64 % 24) / 24 + 1_234_567 * (n as i64 % 7);
        }
        for bad in [
            "2024-02-30T00:00:00.000000Z",
            "2023-02-29T00:00:00.000000Z",
            "2024-13-01T00:00:00.000000Z",
            "2024-01-01T24:00:00.000000Z",
            "2024-01-01T00:00:00.00000aZ",
            "not a time",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(
            Timestamp::parse_rfc3339("2024-01-29T20:05:54.270403+07:00"),
            Timestamp::parse_rfc3339("2024-01-29T13:05:54.270403Z")
        );
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Timestamp::from_micros(1_000));
        assert_eq!(c.now().as_micros(), 1_000);
        c.advance(std::time::Duration::from_millis(2));
        assert_eq!(c.now().as_micros(), 3_000);
    }
}
