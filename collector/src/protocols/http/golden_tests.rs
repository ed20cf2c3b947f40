//! Golden tests: every recorded connection `testdata/http1/<case>.stream` is replayed
//! through the tracker as the server's socket and as the client's, with every byte
//! captured and with a 96-byte capture limit, and the exchanges and counters are rendered
//! into `<case>.exchanges.expected`. `SONDE_UPDATE_GOLDEN=1 cargo test -p sonde-collector
//! --lib http` rewrites them after an intended change; review the diff.

#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::time::Duration;

use super::test_support::{replay, streams, Record};
use super::{Exchange, HttpStats, HttpTracker, Role};
use crate::protocols::http::wire::golden_tests::{render_request, render_response};

const BASE: u64 = 1_700_000_000_000_000_000;
const COOKIE: u64 = 7;

fn micros(ts: u64) -> String {
    let us = ts.saturating_sub(BASE) / 1_000;
    format!("+{us}us")
}

fn render_exchange(x: &Exchange, out_at: &str) -> String {
    let response = x
        .response
        .as_ref()
        .map_or("no response".to_owned(), render_response);
    format!(
        "{}\n    -> {response}\n    {} .. {} ({}us) pid={} tid={}, out {out_at}",
        render_request(&x.request),
        micros(x.start_unix_nanos),
        micros(x.end_unix_nanos),
        x.duration_nanos() / 1_000,
        x.pid,
        x.tid,
    )
}

/// The non-zero counters, in declaration order.
pub(super) fn render_stats(s: &HttpStats) -> String {
    let debug = format!("{s:?}");
    let inner = debug
        .trim_start_matches("HttpStats {")
        .trim_end_matches('}')
        .trim();
    inner
        .split(", ")
        .filter(|kv| !kv.ends_with(": 0"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Replays one connection, closed 1 ms after its last record.
fn run(records: &[Record], role: Role, limit: Option<usize>) -> String {
    let mut t = HttpTracker::new(16, Duration::from_secs(30));
    let mut done: Vec<(Exchange, String)> = Vec::new();
    let mut last = BASE;
    for (i, s) in replay(records, role, limit, COOKIE, BASE)
        .into_iter()
        .enumerate()
    {
        last = s.ts_unix_nanos;
        let at = format!("after record {}", i + 1);
        done.extend(t.segment(s).into_iter().map(|x| (x, at.clone())));
    }
    let closed = t.close(COOKIE, last + 1_000_000);
    done.extend(closed.into_iter().map(|x| (x, "at close".to_owned())));
    let mut out = String::new();
    for (x, at) in &done {
        assert_eq!((x.cookie, x.role), (COOKIE, role));
        writeln!(out, "  {}", render_exchange(x, at)).unwrap();
    }
    writeln!(out, "  stats: {}", render_stats(&t.stats())).unwrap();
    out
}

fn render_case(records: &[Record]) -> String {
    let mut out = String::new();
    for (title, role, limit) in [
        ("server socket, full capture", Role::Server, None),
        ("client socket, full capture", Role::Client, None),
        ("server socket, 96-byte capture", Role::Server, Some(96)),
    ] {
        writeln!(out, "== {title}").unwrap();
        out.push_str(&run(records, role, limit));
    }
    out
}

#[test]
fn golden_streams_pair_into_exchanges() {
    let cases = streams();
    assert!(cases.len() >= 12, "only {} stream cases", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(case, records)| {
            crate::testing::golden::check(
                "http1",
                &format!("{case}.exchanges"),
                &render_case(records),
            )
        })
        .collect();
    crate::testing::golden::assert_all(&failures);
}
