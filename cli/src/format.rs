//! Text forms shared by the commands: values and timestamps as the CSV files and query
//! output spell them, human-readable sizes, counts and durations, and disk usage.
use std::path::Path;
use std::time::Duration;

/// A value as text that [`parse_value`] reads back bit-exactly: the shortest decimal that
/// round-trips (exponent form below 1e-5 and from 1e16 on), `NaN`, `inf`, `-inf`, and
/// `NaN:0x...` (the 64 bits) for a NaN other than the usual one.
pub fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        if v.to_bits() == f64::NAN.to_bits() { "NaN".into() } else { format!("NaN:{:#018x}", v.to_bits()) }
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else if v == 0.0 || (1e-5..1e16).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// Read a value written by [`fmt_value`] or by hand: decimal or exponent notation, `NaN`,
/// `inf`/`infinity` (any case, optionally signed), or `NaN:0x` and 16 hex digits.
pub fn parse_value(s: &str) -> Result<f64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("value is empty".into());
    }
    if let Some(hex) = t.strip_prefix("NaN:0x").or_else(|| t.strip_prefix("nan:0x")) {
        return match u64::from_str_radix(hex, 16).map(f64::from_bits) {
            Ok(v) if v.is_nan() && hex.len() == 16 => Ok(v),
            _ => Err(format!("value {t:?} is not a NaN bit pattern (NaN:0x and 16 hex digits of a NaN)")),
        };
    }
    t.parse::<f64>().map_err(|_| format!("value {t:?} is not a number"))
}

/// Read a timestamp: an integer in `i64::MIN..=tsdb::MAX_TIMESTAMP`.
pub fn parse_ts(s: &str, what: &str) -> Result<i64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("{what} is empty"));
    }
    match t.parse::<i64>() {
        Ok(v) if v > tsdb::MAX_TIMESTAMP => Err(format!(
            "{what} {v} is reserved (the largest timestamp is {}, INT64_MAX - 1)",
            tsdb::MAX_TIMESTAMP
        )),
        Ok(v) => Ok(v),
        Err(e)
            if matches!(
                e.kind(),
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
            ) =>
        {
            Err(format!("{what} {t:?} is out of range (a 64-bit signed integer)"))
        }
        Err(_) => Err(format!("{what} {t:?} is not an integer")),
    }
}

/// `1234567` -> `1,234,567`.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in binary units: `512 B`, `21.3 KiB`, `1.50 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    match u {
        0 => format!("{n} B"),
        _ if v < 10.0 => format!("{v:.2} {}", UNITS[u]),
        _ => format!("{v:.1} {}", UNITS[u]),
    }
}

/// A rate in points per second: `3.21 M points/s`.
pub fn rate(points: u64, d: Duration) -> String {
    let per_s = points as f64 / d.as_secs_f64().max(1e-9);
    if per_s >= 1e6 {
        format!("{:.2} M points/s", per_s / 1e6)
    } else {
        format!("{} points/s", count(per_s as u64))
    }
}

/// A duration: `1.234 s`, `12.3 ms`, `850 ns`.
pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else if s >= 1e-6 {
        format!("{:.1} µs", s * 1e6)
    } else {
        format!("{:.0} ns", s * 1e9)
    }
}

/// Bytes allocated on disk under `path`, as `du` counts them (st_blocks x 512, not
/// following symlinks); per top-level entry name too, for a breakdown.
pub fn disk_usage(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::symlink_metadata(path)?;
    let mut total = md.blocks() * 512;
    if md.is_dir() {
        for entry in std::fs::read_dir(path)? {
            total += disk_usage(&entry?.path())?;
        }
    }
    Ok(total)
}

/// A string as a JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value as JSON: a number, or a string (`"NaN"`, `"inf"`, `"-inf"`) where JSON has none.
pub fn json_value(v: f64) -> String {
    if v.is_finite() { fmt_value(v) } else { json_str(&fmt_value(v)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_bit_exactly() {
        let odd_nan = f64::from_bits(0x7ff8_0000_0000_0001);
        for v in [
            0.0,
            -0.0,
            1.0,
            -1.5,
            0.1,
            1e-5,
            9.99e-6,
            1e16,
            123456789.123,
            1e300,
            -1e-300,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            odd_nan,
            -f64::NAN,
        ] {
            let s = fmt_value(v);
            assert_eq!(parse_value(&s).unwrap().to_bits(), v.to_bits(), "{v:?} -> {s}");
        }
        assert_eq!(fmt_value(1e300), "1e300");
        assert_eq!(fmt_value(0.25), "0.25");
        assert_eq!(fmt_value(-0.0), "-0");
        assert_eq!(fmt_value(odd_nan), "NaN:0x7ff8000000000001");
    }

    #[test]
    fn bad_values_and_timestamps_say_why() {
        assert_eq!(parse_value("abc").unwrap_err(), "value \"abc\" is not a number");
        assert_eq!(parse_value(" ").unwrap_err(), "value is empty");
        assert!(parse_value("NaN:0x0000000000000001").is_err(), "not a NaN");
        assert_eq!(parse_ts(" 42 ", "timestamp"), Ok(42));
        assert_eq!(parse_ts("1.5", "timestamp").unwrap_err(), "timestamp \"1.5\" is not an integer");
        assert!(parse_ts("99999999999999999999", "timestamp").unwrap_err().contains("out of range"));
        assert!(parse_ts(&i64::MAX.to_string(), "timestamp").unwrap_err().contains("reserved"));
    }

    #[test]
    fn human_forms() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(10_000_000), "10,000,000");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.50 KiB");
        assert_eq!(bytes(21 << 20), "21.0 MiB");
        assert_eq!(json_str("a\"b\\\u{1}"), "\"a\\\"b\\\\\\u0001\"");
        assert_eq!(json_value(f64::NAN), "\"NaN\"");
    }
}
