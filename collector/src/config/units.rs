//! Durations ("500ms", "30s", "1m") and sizes ("4MiB"): pure parsers, formatters, and the
//! serde glue that lets the YAML say `timeout: 10s`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;

/// Parses a duration written as an integer and a unit: `ms`, `s`, `m` or `h` (`"500ms"`,
/// `"30s"`, `"1m"`). Spaces between the number and the unit are allowed.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = split_number(text)?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "" => {
            return Err(format!(
                "duration \"{text}\" has no unit; write e.g. \"{number}s\" or \"{number}ms\""
            ))
        }
        other => {
            return Err(format!(
                "duration \"{text}\" has unknown unit \"{other}\"; use ms, s, m or h (e.g. \"30s\")"
            ))
        }
    };
    number
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration \"{text}\" is too large"))
}

/// Writes a duration in the largest unit that represents it exactly (`"1m"`, `"30s"`, `"1500ms"`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms != 0 && ms % 3_600_000 == 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms != 0 && ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else if ms != 0 && ms % 1_000 == 0 {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

const SIZE_UNITS: &str = "use B, KiB, MiB or GiB (e.g. \"4MiB\")";

/// Parses a size in bytes: a plain integer, or an integer followed by `B`, `KiB`, `MiB` or
/// `GiB` (case-insensitive, so `"4mib"` works too).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (number, unit) = split_number(text)?;
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "size \"{text}\": unknown unit \"{unit}\"; {SIZE_UNITS}"
            ))
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("size \"{text}\" is too large"))
}

/// Writes a size in the largest binary unit that represents it exactly (`"4MiB"`).
pub fn format_size(bytes: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes != 0 && bytes % (1 << shift) == 0 {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

/// Splits `"  30 s "` into `(30, "s")`.
fn split_number(text: &str) -> Result<(u64, &str), String> {
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    if digits_end == 0 {
        return Err(format!(
            "\"{text}\" does not start with a whole number (e.g. \"30s\", \"4MiB\")"
        ));
    }
    let number = trimmed[..digits_end]
        .parse::<u64>()
        .map_err(|_| format!("number in \"{text}\" is too large"))?;
    Ok((number, trimmed[digits_end..].trim()))
}

/// A visitor that accepts a string and runs a parser over it. Integers get a hint, since
/// `timeout: 10` is the most likely mistake.
struct ParseVisitor<T> {
    expecting: &'static str,
    example: &'static str,
    parse: fn(&str) -> Result<T, String>,
}

impl<T> Visitor<'_> for ParseVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Err(E::custom(format!(
            "{v} has no unit; write it as a string with a unit, e.g. \"{}\"",
            self.example
        )))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Err(E::custom(format!(
            "{v} is not valid; write a string with a unit, e.g. \"{}\"",
            self.example
        )))
    }
}

/// `#[serde(with = "duration")]` for `Duration` fields.
pub mod duration {
    use super::*;

    /// Reads a duration string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(ParseVisitor {
            expecting: "a duration such as \"500ms\", \"30s\" or \"1m\"",
            example: "10s",
            parse: parse_duration,
        })
    }

    /// Writes a duration string.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }
}

/// `#[serde(deserialize_with = "opt_duration")]` for `Option<Duration>` fields.
pub fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration::deserialize(d).map(Some)
}

/// `#[serde(with = "ring_size")]`: a BPF ring-buffer size, which the kernel wants to be a
/// power of two and a multiple of the page size.
pub mod ring_size {
    use super::*;

    /// Smallest ring buffer the kernel accepts on every architecture's page size we run on.
    const MIN: u64 = 4096;
    /// Largest ring buffer worth asking for.
    const MAX: u64 = 1 << 30;

    /// Checks that a ring-buffer size is a power of two between 4KiB and 1GiB.
    pub fn validate(bytes: u64) -> Result<u32, String> {
        if !(MIN..=MAX).contains(&bytes) || !bytes.is_power_of_two() {
            return Err(format!(
                "ring buffer size {} must be a power of two between 4KiB and 1GiB (e.g. \"4MiB\")",
                format_size(bytes)
            ));
        }
        u32::try_from(bytes).map_err(|_| format!("ring buffer size {bytes} does not fit in u32"))
    }

    /// Reads and validates a ring-buffer size.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        d.deserialize_any(ParseVisitor {
            expecting: "a size such as \"4MiB\"",
            example: "4MiB",
            parse: |s| parse_size(s).and_then(validate),
        })
    }

    /// Writes a size string.
    pub fn serialize<S: Serializer>(bytes: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_size(u64::from(*bytes)))
    }
}

/// `#[serde(with = "size")]` for byte counts that must be at least 1 ("8MiB").
pub mod size {
    use super::*;

    /// Reads a size string; a plain integer counts bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as \"8MiB\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
                positive(parse_size(v)).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
                positive(Ok(v)).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
                Err(E::custom(format!("{v} is not a size; write e.g. \"8MiB\"")))
            }
        }
        d.deserialize_any(SizeVisitor)
    }

    fn positive(v: Result<u64, String>) -> Result<u64, String> {
        match v {
            Ok(0) => Err("must be at least 1 byte, e.g. \"8MiB\"".into()),
            other => other,
        }
    }

    /// Writes a size string.
    pub fn serialize<S: Serializer>(bytes: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_size(*bytes))
    }
}

/// `#[serde(deserialize_with = "nonzero")]` for counts that must be at least 1.
pub fn nonzero<'de, D: Deserializer<'de>, T>(d: D) -> Result<T, D::Error>
where
    T: serde::Deserialize<'de> + PartialEq + From<u8>,
{
    let v = T::deserialize(d)?;
    if v == T::from(0) {
        return Err(de::Error::custom("must be at least 1"));
    }
    Ok(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration(" 1m "), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2 h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations_say_what_to_write() {
        let no_unit = parse_duration("30").unwrap_err();
        assert!(
            no_unit.contains("no unit") && no_unit.contains("30s"),
            "{no_unit}"
        );
        assert!(parse_duration("3x").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
        assert!(parse_duration("18446744073709551615h").is_err());
    }

    #[test]
    fn durations_format_in_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(format_duration(Duration::ZERO), "0ms");
        for text in ["500ms", "30s", "1m", "90s"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }

    #[test]
    fn sizes_parse_binary_units() {
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("4mib"), Ok(4 << 20));
        assert_eq!(parse_size("64 KiB"), Ok(64 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("10B"), Ok(10));
        assert!(parse_size("4MB").unwrap_err().contains("KiB, MiB or GiB"));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }

    #[test]
    fn sizes_format_in_the_largest_exact_unit() {
        assert_eq!(format_size(4 << 20), "4MiB");
        assert_eq!(format_size(1536), "1536B");
        assert_eq!(format_size(2048), "2KiB");
        assert_eq!(format_size(0), "0B");
    }

    #[test]
    fn ring_sizes_must_be_powers_of_two_in_range() {
        assert_eq!(ring_size::validate(4 << 20), Ok(4 << 20));
        assert!(ring_size::validate(3 << 20).is_err());
        assert!(ring_size::validate(1024).is_err());
        assert!(ring_size::validate(2 << 30).is_err());
    }
}
