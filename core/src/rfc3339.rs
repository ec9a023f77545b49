//! RFC 3339 times: UTC, whole seconds, `Z`.
//!
//! [`format`] is written here (the civil date of a day count), not with `time`'s formatter: it
//! runs in the filter, where `time`'s formatting machinery would add more to the `.wasm` than all
//! of this file. [`parse`], for the CLI's `--now`, uses `time`.

use std::fmt::Write as _;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z in seconds since the Unix epoch.
const FIRST: i64 = -62_167_219_200;
const LAST: i64 = 253_402_300_799;

const SECONDS_PER_DAY: i64 = 86_400;

/// True when [`format`] can write this time (years 0 to 9999).
pub fn representable(unix_seconds: i64) -> bool {
    (FIRST..=LAST).contains(&unix_seconds)
}

/// Formats seconds since the Unix epoch as `2026-12-03T18:07:43Z`; `None` outside years 0–9999.
pub fn format(unix_seconds: i64) -> Option<String> {
    if !representable(unix_seconds) {
        return None;
    }
    let days = unix_seconds.div_euclid(SECONDS_PER_DAY);
    let second_of_day = unix_seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_date(days);
    let (hour, minute, second) = (second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
    let mut text = String::with_capacity(20);
    write!(text, "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z").ok()?;
    Some(text)
}

/// The proleptic Gregorian (year, month, day) of a day count from 1970-01-01. Counted in 400-year
/// eras of 146,097 days that start on 1 March, so that a leap day is the last day of its year.
fn civil_date(days_since_epoch: i64) -> (i64, i64, i64) {
    const DAYS_PER_ERA: i64 = 146_097;
    // 0000-03-01 is 719,468 days before 1970-01-01.
    let days = days_since_epoch + 719_468;
    let era = days.div_euclid(DAYS_PER_ERA);
    let day_of_era = days.rem_euclid(DAYS_PER_ERA);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: 153 days in every five months.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    (year, month, day)
}

/// Parses any RFC 3339 timestamp (with offset or `Z`, fractions dropped) to Unix seconds.
pub fn parse(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339).ok().map(OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_seconds() {
        assert_eq!(format(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(format(1_796_322_463).unwrap(), "2026-12-03T18:27:43Z");
        assert_eq!(format(253_402_300_800), None);
        assert_eq!(format(LAST).unwrap(), "9999-12-31T23:59:59Z");
        assert_eq!(format(FIRST).unwrap(), "0000-01-01T00:00:00Z");
        assert_eq!(format(FIRST - 1), None);
    }

    #[test]
    fn leap_days_and_century_rules() {
        assert_eq!(format(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(format(4_107_542_400).unwrap(), "2100-03-01T00:00:00Z");
        assert_eq!(format(-86_400).unwrap(), "1969-12-31T00:00:00Z");
        assert_eq!(format(-1).unwrap(), "1969-12-31T23:59:59Z");
    }

    proptest::proptest! {
        #[test]
        fn formats_as_the_time_crate_does(seconds in FIRST..=LAST) {
            let at = OffsetDateTime::from_unix_timestamp(seconds).unwrap();
            let expected = at
                .format(time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"))
                .unwrap();
            proptest::prop_assert_eq!(format(seconds).unwrap(), expected);
        }
    }

    #[test]
    fn parses_offsets_and_fractions() {
        assert_eq!(parse("2026-12-03T18:27:43Z"), Some(1_796_322_463));
        assert_eq!(parse("2026-12-03T19:27:43.5+01:00"), Some(1_796_322_463));
        assert_eq!(parse("yesterday"), None);
    }
}
