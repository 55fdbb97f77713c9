//! The two date formats the API may send: RFC 3339 (`expiresAt`) and HTTP dates (`Retry-After`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn checked(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    // Four-digit years only: the arithmetic below then cannot overflow, whatever a server sends.
    if !(0..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || s > 60
    {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86400 + (h * 3600 + mi * 60 + s) as i64)
}

/// Parses `2026-11-23T06:30:00Z`, with optional fraction and `+hh:mm` offset, to Unix seconds.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let base = checked(
        num(0..4)? as i64,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    )?;
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            // `hh:mm`, two digits each, as RFC 3339 has it (a longer one overflowed here).
            let (h, m) = rest[1..].split_once(':')?;
            let two = |t: &str| {
                (t.len() == 2 && t.bytes().all(|c| c.is_ascii_digit()))
                    .then(|| t.parse::<i64>().ok())
                    .flatten()
            };
            let (h, m) = (two(h).filter(|h| *h <= 23)?, two(m).filter(|m| *m <= 59)?);
            sign * (h * 3600 + m * 60)
        }
    };
    Some(base - offset)
}

/// Parses an IMF-fixdate (`Wed, 21 Oct 2015 07:28:00 GMT`) to Unix seconds.
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == parts[2])? as u32 + 1;
    let mut hms = parts[4].split(':').map(|x| x.parse::<u32>().ok());
    let (h, mi, sec) = (hms.next()??, hms.next()??, hms.next()??);
    checked(
        parts[3].parse().ok()?,
        month,
        parts[1].parse().ok()?,
        h,
        mi,
        sec,
    )
}

/// A `Retry-After` value (delta seconds or an HTTP date) as a wait from now. RFC 9110 allows
/// only whole non-negative seconds: a fraction or a sign makes the value invalid (`None`, so
/// the caller backs off), and a number too large for `u64` saturates like any other huge wait.
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = parse_http_date(v)?;
    Some(Duration::from_secs((at - now_unix()).max(0) as u64))
}

/// Formats Unix seconds as RFC 3339 UTC (for `expires_in` answers).
pub(crate) fn format_rfc3339(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // Inverse of days_from_civil.
    let z = days + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-23T06:30:00Z"), Some(1795415400));
        assert_eq!(
            parse_rfc3339("2026-11-23T07:30:00.123+01:00"),
            Some(1795415400)
        );
        assert_eq!(format_rfc3339(1795415400), "2026-11-23T06:30:00Z");
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    /// Found by the compress_answer fuzz target: a long offset or year overflowed (a panic in
    /// debug builds, a wrong expiry in release ones).
    #[test]
    fn offsets_and_years_out_of_range_are_invalid_not_overflows() {
        assert_eq!(
            parse_rfc3339("2026-11-23T06:30:00+7777777770777777770:+Z"),
            None
        );
        assert_eq!(parse_rfc3339("2026-11-23T06:30:00+24:00"), None);
        assert_eq!(parse_rfc3339("2026-11-23T06:30:00+1:00"), None);
        assert_eq!(
            parse_rfc3339("2026-11-23T06:30:00-05:30"),
            Some(1795415400 + 5 * 3600 + 30 * 60)
        );
        assert_eq!(
            parse_http_date("Wed, 21 Oct 99999999999999999 07:28:00 GMT"),
            None
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 9223372036854775807 07:28:00 GMT"),
            None
        );
    }

    #[test]
    fn http_dates_and_retry_after() {
        assert_eq!(
            parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(1445412480)
        );
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn huge_retry_after_saturates_and_odd_forms_are_invalid() {
        let max = Some(Duration::from_secs(u64::MAX));
        assert_eq!(parse_retry_after("18446744073709551615"), max);
        assert_eq!(
            parse_retry_after("18446744073709551616"),
            max,
            "past u64 saturates too"
        );
        assert_eq!(parse_retry_after("99999999999999999999999999"), max);
        for bad in ["1.5", "-1", "+3", "1e3", "", "NaN", "inf"] {
            assert_eq!(parse_retry_after(bad), None, "{bad:?}");
        }
    }
}
