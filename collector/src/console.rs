//! The embedded default: a live, readable stream of flows on the terminal. What every
//! line shares is here (the header, time, sizes, durations, losses); each protocol
//! formats its own line.

use std::io::Write;

use crate::telemetry::{LostReason, Snapshot};

/// The header printed once before the stream.
pub const HEADER: &str = "TIME(UTC)     PROCESS[PID]            DIR LOCAL                  PEER                   END          SENT     RECV   SEGS OUT/IN RETR     SRTT  DURATION";

/// Prints one line of the stream (each protocol formats its own: `console_line()` of a
/// flow, a lookup, an exchange); a closed stdout (`sonde | head`) is not an error worth
/// dying for.
pub fn print(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// A summary of losses, when there were any since the last one.
pub fn loss_line(now: &Snapshot, before: &Snapshot) -> Option<String> {
    let lost: Vec<String> = LostReason::ALL
        .iter()
        .filter_map(|r| {
            let d = now.lost[*r as usize].saturating_sub(before.lost[*r as usize]);
            (d > 0).then(|| format!("{}={d}", r.as_str()))
        })
        .collect();
    (!lost.is_empty()).then(|| format!("sonde: LOST events since last report: {}", lost.join(" ")))
}

pub fn clock_time(unix_nanos: u64) -> String {
    let secs = unix_nanos / 1_000_000_000;
    let millis = (unix_nanos / 1_000_000) % 1000;
    let day = secs % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day / 3600,
        (day / 60) % 60,
        day % 60,
        millis
    )
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('~');
        t
    }
}

/// `1234` → `1.2K`, binary multiples, for the terminal.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b}B")
    } else {
        format!("{v:.1}{}", UNITS[i])
    }
}

/// Microseconds in the unit that reads best.
pub fn human_micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_well() {
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1536), "1.5K");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0M");
        assert_eq!(human_micros(42), "42us");
        assert_eq!(human_micros(1500), "1.5ms");
        assert_eq!(human_micros(2_500_000), "2.50s");
        assert_eq!(clock_time(1_700_000_000_123_000_000), "22:13:20.123");
        assert_eq!(
            truncate("a-very-long-process-name[123456]", 10),
            "a-very-lo~"
        );
    }

    #[test]
    fn loss_line_only_when_something_was_lost() {
        let before = Snapshot::default();
        let mut now = Snapshot::default();
        assert_eq!(loss_line(&now, &before), None);
        now.lost[LostReason::KernelRingbufFull as usize] = 4;
        assert_eq!(
            loss_line(&now, &before).as_deref(),
            Some("sonde: LOST events since last report: kernel_ringbuf_full=4")
        );
    }
}
