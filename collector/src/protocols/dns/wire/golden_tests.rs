//! Golden tests: every `testdata/dns/<case>.bin` (real captures from dnsmasq and dig, and
//! crafted hostile messages) is parsed and rendered as text, and the text is compared with
//! `<case>.expected`. `SONDE_UPDATE_GOLDEN=1 cargo test -p sonde-collector --lib dns`
//! rewrites the expected files after an intended change; review the diff.

#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::PathBuf;

use super::*;

pub(crate) fn golden_dir() -> PathBuf {
    crate::testing::golden::dir("dns")
}

/// Every `.bin` case, sorted by name: (case name, bytes).
pub(crate) fn golden_cases() -> Vec<(String, Vec<u8>)> {
    let mut cases: Vec<(String, Vec<u8>)> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    cases.sort();
    cases
}

/// One golden case by name.
pub(crate) fn golden(case: &str) -> Vec<u8> {
    std::fs::read(golden_dir().join(format!("{case}.bin"))).unwrap()
}

fn render_data(data: &RecordData) -> String {
    match data {
        RecordData::A(ip) => ip.to_string(),
        RecordData::Aaaa(ip) => ip.to_string(),
        RecordData::Cname(n) => format!("-> {n}"),
        RecordData::Ptr(n) => format!("-> {n}"),
        RecordData::Other { len } => format!("({len} bytes)"),
    }
}

/// A stable text form of what the parser says about `msg`.
pub(crate) fn render(msg: &[u8]) -> String {
    let mut out = String::new();
    writeln!(out, "check: {}", check(msg)).unwrap();
    if let Ok(h) = header(msg) {
        let flags: Vec<&str> = [
            (h.authoritative, "aa"),
            (h.truncated, "tc"),
            (h.recursion_desired, "rd"),
            (h.recursion_available, "ra"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect();
        writeln!(
            out,
            "header: id={} {} opcode={} rcode={} flags=[{}] counts={}/{}/{}/{}",
            h.id,
            if h.is_response { "response" } else { "query" },
            h.opcode,
            h.rcode.name(),
            flags.join(","),
            h.question_count,
            h.answer_count,
            h.authority_count,
            h.additional_count,
        )
        .unwrap();
    }
    match parse(msg) {
        Ok(m) => {
            for q in &m.questions {
                writeln!(out, "question: {} {} class={}", q.name, q.qtype, q.class).unwrap();
            }
            for r in &m.answers {
                writeln!(
                    out,
                    "answer: {} {} class={} ttl={} {}",
                    r.name,
                    r.rtype,
                    r.class,
                    r.ttl,
                    render_data(&r.data)
                )
                .unwrap();
            }
            for (ip, ttl) in m.resolved_addresses() {
                writeln!(out, "resolved: {ip} ttl={ttl}").unwrap();
            }
        }
        Err(e) => {
            writeln!(out, "error: {e:?}").unwrap();
            writeln!(out, "message: {e}").unwrap();
        }
    }
    out
}

#[test]
fn golden_messages_match_expected() {
    let cases = golden_cases();
    assert!(cases.len() >= 40, "only {} golden cases found", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(case, bytes)| crate::testing::golden::check("dns", case, &render(bytes)))
        .collect();
    crate::testing::golden::assert_all(&failures);
}
