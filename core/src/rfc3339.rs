//! RFC 3339 times: UTC, whole seconds, `Z`.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z in seconds since the Unix epoch.
const FIRST: i64 = -62_167_219_200;
const LAST: i64 = 253_402_300_799;

/// True when [`format`] can write this time (years 0 to 9999).
pub fn representable(unix_seconds: i64) -> bool {
    (FIRST..=LAST).contains(&unix_seconds)
}

/// Formats seconds since the Unix epoch as `2026-12-03T18:07:43Z`; `None` outside years 0–9999.
pub fn format(unix_seconds: i64) -> Option<String> {
    if !representable(unix_seconds) {
        return None;
    }
    let at = OffsetDateTime::from_unix_timestamp(unix_seconds).ok()?;
    at.format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z")).ok()
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
    fn parses_offsets_and_fractions() {
        assert_eq!(parse("2026-12-03T18:27:43Z"), Some(1_796_322_463));
        assert_eq!(parse("2026-12-03T19:27:43.5+01:00"), Some(1_796_322_463));
        assert_eq!(parse("yesterday"), None);
    }
}
