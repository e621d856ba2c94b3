//! Typed cell values and the parsers that turn CRM text into them.

use serde::{Deserialize, Serialize};

/// One typed cell. Missing is explicit: an empty cell is never confused with `0` or `false`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Missing,
    Str(Box<str>),
    Num(f64),
    Bool(bool),
    /// Seconds since the Unix epoch (UTC).
    Time(i64),
}

impl Value {
    pub fn is_missing(&self) -> bool {
        matches!(self, Value::Missing)
    }

    /// Numeric view: numbers, booleans as 0/1, times as epoch seconds, numeric-looking strings.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Num(x) => Some(*x),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Time(t) => Some(*t as f64),
            Value::Str(s) => parse_number(s),
            Value::Missing => None,
        }
    }

    /// Boolean view: booleans, 0/1 numbers, boolean-looking strings.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Num(x) if *x == 0.0 => Some(false),
            Value::Num(x) if *x == 1.0 => Some(true),
            Value::Str(s) => parse_bool(s),
            _ => None,
        }
    }

    /// Display text used by prompt rendering and exports (deterministic).
    pub fn render(&self) -> String {
        match self {
            Value::Missing => String::new(),
            Value::Str(s) => s.to_string(),
            Value::Num(x) => format_number(*x),
            Value::Bool(true) => "yes".to_string(),
            Value::Bool(false) => "no".to_string(),
            Value::Time(t) => format_timestamp(*t),
        }
    }
}

/// Formats a number deterministically: integers without a decimal point, others with up to six
/// significant decimals and no trailing zeros.
pub fn format_number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Parses a boolean in the spellings CRMs export (English and Chinese).
pub fn parse_bool(s: &str) -> Option<bool> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "true" | "t" | "yes" | "y" | "1" | "1.0" | "on" | "x" | "是" | "有" | "真" => Some(true),
        "false" | "f" | "no" | "n" | "0" | "0.0" | "off" | "否" | "无" | "没有" | "假" => {
            Some(false)
        }
        _ => None,
    }
}

/// Parses a number as CRMs export it: `1234.5`, `1,234.5`, `1 234,5`, `1.234,5`, `-3`, `12%`
/// (kept as 12), `1e3`, with an optional leading currency sign (`$ € £ ¥ ￥`).
/// Returns `None` for anything else, including empty strings, NaN and infinities.
pub fn parse_number(s: &str) -> Option<f64> {
    let mut t = s.trim();
    if t.is_empty() {
        return None;
    }
    let negative_paren = t.starts_with('(') && t.ends_with(')') && t.len() > 2;
    if negative_paren {
        t = &t[1..t.len() - 1];
    }
    let (sign, rest) = match t.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", t.strip_prefix('+').unwrap_or(t)),
    };
    let mut rest = rest.trim();
    for cur in ['$', '€', '£', '¥', '￥'] {
        if let Some(r) = rest.strip_prefix(cur) {
            rest = r.trim_start();
        }
    }
    let rest = rest.strip_suffix('%').unwrap_or(rest).trim_end();
    if rest.is_empty() {
        return None;
    }
    // Remove spaces (including narrow no-break) and apostrophes used as group separators.
    let compact: String = rest
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\'' | '_'))
        .collect();
    let has_dot = compact.contains('.');
    let has_comma = compact.contains(',');
    let normalised = if has_dot && has_comma {
        // The later of the two is the decimal separator.
        let last_dot = compact.rfind('.').unwrap_or(0);
        let last_comma = compact.rfind(',').unwrap_or(0);
        if last_comma > last_dot {
            if !groups_ok(&compact[..last_comma], '.') {
                return None;
            }
            compact.replace('.', "").replace(',', ".")
        } else {
            if !groups_ok(&compact[..last_dot], ',') {
                return None;
            }
            compact.replace(',', "")
        }
    } else if has_comma {
        if groups_ok(&compact, ',') && compact.matches(',').count() >= 1 && is_grouped(&compact) {
            compact.replace(',', "")
        } else if compact.matches(',').count() == 1 {
            compact.replace(',', ".")
        } else {
            return None;
        }
    } else {
        compact
    };
    if !normalised
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        || !normalised.starts_with(|c: char| c.is_ascii_digit() || c == '.')
    {
        return None;
    }
    let x: f64 = format!("{sign}{normalised}").parse().ok()?;
    if !x.is_finite() {
        return None;
    }
    Some(if negative_paren { -x } else { x })
}

/// True when `s` looks like `d{1,3}(,ddd)+` (thousands groups, optional decimal part after a dot).
fn is_grouped(s: &str) -> bool {
    let int_part = s.split('.').next().unwrap_or("");
    let mut groups = int_part.split(',');
    let first = groups.next().unwrap_or("");
    if first.is_empty() || first.len() > 3 {
        return false;
    }
    groups.all(|g| g.len() == 3)
}

/// Checks that the integer part grouped by `sep` has 1-3 leading digits and groups of three.
fn groups_ok(int_part: &str, sep: char) -> bool {
    if !int_part.contains(sep) {
        return true;
    }
    let mut groups = int_part.split(sep);
    let first = groups.next().unwrap_or("");
    !first.is_empty() && first.len() <= 3 && groups.all(|g| g.len() == 3)
}

/// Which order to read ambiguous numeric dates such as `03/04/2025` in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DateOrder {
    /// Month first (`03/04/2025` is March 4th), the US CRM default.
    #[default]
    Mdy,
    /// Day first (`03/04/2025` is April 3rd), European exports.
    Dmy,
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let d = i64::from(d);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Formats epoch seconds as `YYYY-MM-DD HH:MM:SS` (UTC), or `YYYY-MM-DD` at midnight.
pub fn format_timestamp(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if secs == 0 {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Formats epoch seconds as RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SSZ`).
pub fn format_rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Parses a timestamp as CRMs export it and returns epoch seconds (UTC).
///
/// Accepted: ISO 8601 / RFC 3339 (`2025-03-04`, `2025-03-04T10:20:30`, `…Z`, `…+08:00`,
/// fractional seconds), `2025/03/04 10:20`, `2025.03.04`, `2025年3月4日 10:20`, `04.03.2025`
/// (day first), `03/04/2025` and `3-4-2025` read in `order` (a first number above 12 forces
/// day-first, a second above 12 month-first), and epoch seconds (9-10 digits) or milliseconds
/// (12-13 digits). Times without an offset are taken as UTC.
pub fn parse_timestamp(s: &str, order: DateOrder) -> Option<i64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return match t.len() {
            9 | 10 => t.parse::<i64>().ok(),
            12 | 13 => t.parse::<i64>().ok().map(|ms| ms.div_euclid(1000)),
            _ => None,
        };
    }
    // Split date and time parts.
    let t = t.replace(['年', '月'], "-").replace('日', " ");
    let t = t.trim();
    let (date_part, time_part) = match t.find(['T', ' ']) {
        Some(i) => (&t[..i], t[i + 1..].trim()),
        None => (t, ""),
    };
    let sep = date_part.chars().find(|c| matches!(c, '-' | '/' | '.'))?;
    let parts: Vec<&str> = date_part.split(sep).collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let nums: Vec<i64> = parts.iter().filter_map(|p| p.parse::<i64>().ok()).collect();
    if nums.len() != 3 {
        return None;
    }
    let (y, m, d) = if parts[0].len() == 4 {
        (nums[0], nums[1], nums[2])
    } else if parts[2].len() == 4 {
        let day_first = match (nums[0] > 12, nums[1] > 12) {
            (true, false) => true,
            (false, true) => false,
            (true, true) => return None,
            (false, false) => sep == '.' || order == DateOrder::Dmy,
        };
        if day_first {
            (nums[2], nums[1], nums[0])
        } else {
            (nums[2], nums[0], nums[1])
        }
    } else {
        return None;
    };
    if !(1..=12).contains(&m) || d < 1 || d > i64::from(days_in_month(y, m as u32)) {
        return None;
    }
    if !(1000..=9999).contains(&y) {
        return None;
    }
    let days = days_from_civil(y, m as u32, d as u32);
    let (secs, offset) = parse_time_of_day(time_part)?;
    Some(days * 86_400 + secs - offset)
}

/// Parses `HH:MM[:SS[.fff]][Z|±HH[:MM]]`; empty means midnight. Returns (seconds, offset seconds).
fn parse_time_of_day(s: &str) -> Option<(i64, i64)> {
    let s = s.trim();
    if s.is_empty() {
        return Some((0, 0));
    }
    let (clock, offset) = if let Some(c) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        (c, 0)
    } else if let Some(i) = s.rfind(['+', '-']) {
        let (c, o) = s.split_at(i);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let o = o[1..].replace(':', "");
        if o.len() != 4 && o.len() != 2 || !o.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let hh: i64 = o[..2].parse().ok()?;
        let mm: i64 = if o.len() == 4 {
            o[2..].parse().ok()?
        } else {
            0
        };
        if hh > 14 || mm > 59 {
            return None;
        }
        (c.trim(), sign * (hh * 3600 + mm * 60))
    } else {
        (s, 0)
    };
    let mut it = clock.split(':');
    let h: i64 = it.next()?.trim().parse().ok()?;
    let m: i64 = it.next()?.trim().parse().ok()?;
    let sec: i64 = match it.next() {
        Some(x) => {
            let whole = x.split(['.', ',']).next()?;
            whole.parse().ok()?
        }
        None => 0,
    };
    if it.next().is_some()
        || !(0..=23).contains(&h)
        || !(0..=59).contains(&m)
        || !(0..=60).contains(&sec)
    {
        return None;
    }
    Some((h * 3600 + m * 60 + sec, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        for (s, x) in [
            ("1234.5", 1234.5),
            ("1,234.5", 1234.5),
            ("1,234,567", 1_234_567.0),
            ("1.234,5", 1234.5),
            ("1 234,5", 1234.5),
            ("3,5", 3.5),
            ("-3", -3.0),
            ("(12)", -12.0),
            ("$1,200", 1200.0),
            ("¥ 250000", 250_000.0),
            ("12%", 12.0),
            ("1e3", 1000.0),
            (" 7 ", 7.0),
        ] {
            assert_eq!(parse_number(s), Some(x), "{s}");
        }
        for s in [
            "", "abc", "1,23,4", "NaN", "inf", "1.2.3", "--1", "=1+2", "12ab",
        ] {
            assert_eq!(parse_number(s), None, "{s}");
        }
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("Yes"), Some(true));
        assert_eq!(parse_bool(" FALSE "), Some(false));
        assert_eq!(parse_bool("是"), Some(true));
        assert_eq!(parse_bool("否"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn civil_round_trip() {
        for z in [-800_000, -1, 0, 1, 10_957, 19_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn timestamps() {
        let base = days_from_civil(2025, 3, 4) * 86_400;
        let mdy = DateOrder::Mdy;
        assert_eq!(parse_timestamp("2025-03-04", mdy), Some(base));
        assert_eq!(
            parse_timestamp("2025-03-04T10:20:30Z", mdy),
            Some(base + 37_230)
        );
        assert_eq!(
            parse_timestamp("2025-03-04 10:20:30.123", mdy),
            Some(base + 37_230)
        );
        assert_eq!(
            parse_timestamp("2025-03-04T18:20:30+08:00", mdy),
            Some(base + 37_230)
        );
        assert_eq!(
            parse_timestamp("2025/03/04 10:20", mdy),
            Some(base + 37_200)
        );
        assert_eq!(parse_timestamp("2025年3月4日", mdy), Some(base));
        assert_eq!(
            parse_timestamp("2025年3月4日 10:20", mdy),
            Some(base + 37_200)
        );
        assert_eq!(parse_timestamp("03/04/2025", mdy), Some(base));
        assert_eq!(parse_timestamp("04/03/2025", DateOrder::Dmy), Some(base));
        assert_eq!(parse_timestamp("04.03.2025", mdy), Some(base));
        assert_eq!(
            parse_timestamp("25/03/2025", mdy),
            Some(days_from_civil(2025, 3, 25) * 86_400)
        );
        assert_eq!(parse_timestamp("1741046400", mdy), Some(base));
        assert_eq!(parse_timestamp("1741046400000", mdy), Some(base));
        for bad in [
            "",
            "2025-02-30",
            "2025-13-01",
            "yesterday",
            "32/13/2025",
            "2025-03-04T25:00",
            "12345",
        ] {
            assert_eq!(parse_timestamp(bad, mdy), None, "{bad}");
        }
        assert_eq!(format_timestamp(base + 37_230), "2025-03-04 10:20:30");
        assert_eq!(format_timestamp(base), "2025-03-04");
        assert_eq!(format_rfc3339(base), "2025-03-04T00:00:00Z");
    }

    #[test]
    fn number_format() {
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(-1.5), "-1.5");
    }
}
