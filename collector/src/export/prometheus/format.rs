//! Numbers and strings as the Prometheus text format and OpenMetrics 1.0 write them.

use std::fmt::Write as _;

/// A sample value: `+Inf`, `-Inf`, `NaN`, or the shortest decimal that reads back as the
/// same float (exponent form for very large and very small values: `1e-7`, `1e21`). Both
/// formats accept every one of these.
pub fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v:?}")
    }
}

/// A bucket bound (`le` label value) in OpenMetrics' canonical form: what Go's `%g` writes
/// with the shortest precision, plus `.0` when that has neither a point nor an exponent
/// (`0.005`, `1.0`, `10.0`, `1e-05`, `2.5e-05`, `100000.0`, `1e+06`); `+Inf` for the last
/// bucket. Prometheus 3 normalises `le` to this form whatever the exposition format, so
/// both of Sonde's formats use it.
pub fn canonical(v: f64) -> String {
    if !v.is_finite() {
        return float(v);
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "2.5e-5", "1e5", "0e0".
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if v.is_sign_negative() && v != 0.0 {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exp.unsigned_abs());
        return out;
    }
    if exp < 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', int_len - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// An exemplar timestamp: Unix seconds with milliseconds (what Prometheus keeps).
pub fn timestamp(unix_nanos: u64) -> String {
    format!(
        "{}.{:03}",
        unix_nanos / 1_000_000_000,
        unix_nanos % 1_000_000_000 / 1_000_000
    )
}

/// A label value between double quotes (both formats): `\`, `"` and line feeds escaped.
pub fn label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// HELP text: the text format escapes `\` and line feeds; OpenMetrics also `"`.
pub fn help(out: &mut String, v: &str, openmetrics: bool) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if openmetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bounds_follow_the_openmetrics_canonical_examples() {
        // The examples of OpenMetrics 1.0, "Considerations: Canonical Numbers".
        for (v, want) in [
            (0.0, "0.0"),
            (0.001, "0.001"),
            (0.002, "0.002"),
            (0.01, "0.01"),
            (0.1, "0.1"),
            (0.9, "0.9"),
            (0.95, "0.95"),
            (0.99, "0.99"),
            (0.999, "0.999"),
            (1.0, "1.0"),
            (1.7, "1.7"),
            (10.0, "10.0"),
            (1e-10, "1e-10"),
            (1e-9, "1e-09"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (100000.0, "100000.0"),
            (1e6, "1e+06"),
            (1e10, "1e+10"),
            (2.5e-5, "2.5e-05"),
            (1234567.0, "1.234567e+06"),
            (-2.5, "-2.5"),
            (f64::INFINITY, "+Inf"),
        ] {
            assert_eq!(canonical(v), want, "{v}");
        }
    }

    #[test]
    fn values_timestamps_and_escapes() {
        assert_eq!(float(3.0), "3.0");
        assert_eq!(float(0.25), "0.25");
        assert_eq!(float(1e-7), "1e-7");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(timestamp(1_763_800_000_123_456_789), "1763800000.123");
        assert_eq!(timestamp(5_000_000), "0.005");
        let mut s = String::new();
        label_value(&mut s, "a\\b\"c\nd");
        assert_eq!(s, "a\\\\b\\\"c\\nd");
        let (mut text, mut om) = (String::new(), String::new());
        help(&mut text, "say \"hi\"\\\n", false);
        help(&mut om, "say \"hi\"\\\n", true);
        assert_eq!(text, "say \"hi\"\\\\\\n");
        assert_eq!(om, "say \\\"hi\\\"\\\\\\n");
    }
}
