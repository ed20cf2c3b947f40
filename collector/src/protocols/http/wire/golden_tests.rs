//! Golden tests for the HTTP/1.x parser, on two kinds of input in `testdata/http1`:
//!
//! - `req_*.bin` / `resp_*.bin`: one message head each (real ones cut out of captures,
//!   crafted ones for each rule and limit), parsed as a request or a response by name and
//!   rendered into `<case>.expected`, with what every shorter prefix of it parses to.
//! - `<case>.stream`: a real connection, both directions as recorded by `capture.py`.
//!   Each direction is walked message by message (head, then the body skipped by its
//!   framing) into `<case>.messages.expected`.
//!
//! `SONDE_UPDATE_GOLDEN=1 cargo test -p sonde-collector --lib http` rewrites the expected
//! files after an intended change; review the diff.

#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;

use super::*;

/// One recv() of the recording proxy: a piece of one direction of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// Client to server (`>`), else server to client (`<`).
    pub(crate) to_server: bool,
    /// Microseconds since the first record.
    pub(crate) micros: u64,
    /// The bytes.
    pub(crate) data: Vec<u8>,
}

/// Reads a `.stream` file (format in `testdata/http1/README.md`).
pub(crate) fn read_stream(bytes: &[u8]) -> Result<Vec<Record>, String> {
    let mut records = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("no header line end")?;
        let line = std::str::from_utf8(&rest[..nl]).map_err(|e| e.to_string())?;
        rest = &rest[nl + 1..];
        if line.starts_with('#') {
            if !records.is_empty() {
                return Err(format!("comment after the first record: {line}"));
            }
            continue;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        let [dir, micros, len] = fields[..] else {
            return Err(format!("bad record header {line:?}"));
        };
        let to_server = match dir {
            ">" => true,
            "<" => false,
            _ => return Err(format!("bad direction in {line:?}")),
        };
        let micros = micros
            .parse()
            .map_err(|_| format!("bad time in {line:?}"))?;
        let len: usize = len.parse().map_err(|_| format!("bad length in {line:?}"))?;
        if rest.len() < len + 1 || rest[len] != b'\n' {
            return Err(format!(
                "record {line:?} runs past the end or lacks its newline"
            ));
        }
        records.push(Record {
            to_server,
            micros,
            data: rest[..len].to_vec(),
        });
        rest = &rest[len + 1..];
    }
    Ok(records)
}

fn files(ext: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(crate::testing::golden::dir("http1"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// Every `.stream` case, sorted by name.
pub(crate) fn streams() -> Vec<(String, Vec<Record>)> {
    files("stream")
        .into_iter()
        .map(|(name, bytes)| {
            let records = read_stream(&bytes).unwrap_or_else(|e| panic!("{name}.stream: {e}"));
            (name, records)
        })
        .collect()
}

/// Every single-message `.bin` case, sorted by name: (name, is a request, bytes).
pub(crate) fn messages() -> Vec<(String, bool, Vec<u8>)> {
    files("bin")
        .into_iter()
        .map(|(name, bytes)| {
            let request = name.starts_with("req_");
            assert!(request || name.starts_with("resp_"), "{name}.bin");
            (name, request, bytes)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A stable one-line form of a request.
pub(crate) fn render_request(r: &Request) -> String {
    let mut out = format!(
        "{} path={:?}{} HTTP/1.{} host={} body={:?}",
        r.method,
        r.path,
        if r.has_query { " +query" } else { "" },
        r.version,
        r.host.as_deref().unwrap_or("-"),
        r.body,
    );
    if let Some(tp) = &r.traceparent {
        let _ = write!(
            out,
            " traceparent={}-{}-{:02x}",
            hex(&tp.trace_id),
            hex(&tp.parent_id),
            tp.flags
        );
    }
    if let Some(ts) = &r.tracestate {
        let _ = write!(out, " tracestate={ts:?}");
    }
    if r.expect_continue {
        out.push_str(" expect-continue");
    }
    if r.connection_close {
        out.push_str(" close");
    }
    out
}

/// A stable one-line form of a response.
pub(crate) fn render_response(r: &Response) -> String {
    let mut out = format!("{} HTTP/1.{} body={:?}", r.status, r.version, r.body);
    if r.connection_close {
        out.push_str(" close");
    }
    out
}

fn render_parse<T>(result: &Result<Parsed<T>, HttpError>, show: impl Fn(&T) -> String) -> String {
    match result {
        Ok(Parsed::Complete { msg, header_len }) => {
            format!("{} (head {header_len} bytes)", show(msg))
        }
        Ok(Parsed::Partial) => "partial".to_owned(),
        Err(e) => format!("error {e:?}: {e}"),
    }
}

/// What the parser says about one message, and about each shorter prefix of it.
fn render_message(request: bool, bytes: &[u8]) -> String {
    let mut out = String::new();
    let parse = |b: &[u8]| -> (String, &'static str) {
        if request {
            let r = parse_request(b);
            (render_parse(&r, render_request), outcome(&r))
        } else {
            let r = parse_response(b);
            (render_parse(&r, render_response), outcome(&r))
        }
    };
    let check = if request {
        check_request(bytes)
    } else {
        check_response(bytes)
    };
    writeln!(out, "check: {check}").unwrap();
    writeln!(out, "parse: {}", parse(bytes).0).unwrap();
    let mut prefixes: std::collections::BTreeMap<&str, usize> = Default::default();
    for n in 0..bytes.len() {
        *prefixes.entry(parse(&bytes[..n]).1).or_default() += 1;
    }
    writeln!(out, "shorter prefixes: {prefixes:?}").unwrap();
    out
}

fn outcome<T>(r: &Result<Parsed<T>, HttpError>) -> &'static str {
    match r {
        Ok(Parsed::Complete { .. }) => "complete",
        Ok(Parsed::Partial) => "partial",
        Err(_) => "error",
    }
}

/// Walks one direction's bytes message by message. `methods` are the request methods in
/// order (to frame the responses); returns the rendering and, for requests, the methods.
fn walk(bytes: &[u8], request: bool, methods: &[Method]) -> (String, Vec<Method>) {
    let mut out = String::new();
    let mut seen = Vec::new();
    let mut pos = 0;
    let mut answered = 0;
    let arrow = if request { '>' } else { '<' };
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let (line, header_len, body) = if request {
            match parse_request(rest) {
                Ok(Parsed::Complete { msg, header_len }) => {
                    seen.push(msg.method.clone());
                    (render_request(&msg), header_len, msg.body)
                }
                other => (render_parse(&other, render_request), 0, Body::None),
            }
        } else {
            match parse_response(rest) {
                Ok(Parsed::Complete { msg, header_len }) => {
                    let method = if msg.is_interim() {
                        None
                    } else {
                        answered += 1;
                        methods.get(answered - 1)
                    };
                    let body = response_body(method.unwrap_or(&Method::Get), &msg);
                    let answers = method.map_or("-".to_owned(), |m| m.to_string());
                    let line = format!(
                        "{} (answers {answers}) framed={body:?}",
                        render_response(&msg)
                    );
                    (line, header_len, body)
                }
                other => (render_parse(&other, render_response), 0, Body::None),
            }
        };
        writeln!(out, "{arrow} @{pos}: {line}").unwrap();
        if header_len == 0 {
            return (out, seen);
        }
        pos += header_len;
        let body_len = match body {
            Body::None => 0,
            Body::Length(n) => usize::try_from(n).unwrap(),
            Body::UntilClose => bytes.len() - pos,
            Body::Chunked => {
                let mut dec = ChunkedDecoder::new();
                match dec.push(&bytes[pos..]) {
                    Ok(ChunkedProgress::Done { consumed }) => consumed,
                    Ok(ChunkedProgress::NeedMore) => {
                        writeln!(out, "{arrow}   chunked body does not end").unwrap();
                        return (out, seen);
                    }
                    Err(e) => {
                        writeln!(out, "{arrow}   chunked body: {e}").unwrap();
                        return (out, seen);
                    }
                }
            }
        };
        if body_len > 0 {
            writeln!(out, "{arrow}   body {body_len} bytes").unwrap();
        }
        pos += body_len;
    }
    writeln!(out, "{arrow} end @{pos}").unwrap();
    (out, seen)
}

/// Both directions of a recorded connection, message by message.
fn render_stream(records: &[Record]) -> String {
    let direction = |to_server: bool| -> Vec<u8> {
        records
            .iter()
            .filter(|r| r.to_server == to_server)
            .flat_map(|r| r.data.iter().copied())
            .collect()
    };
    let (requests, methods) = walk(&direction(true), true, &[]);
    let (responses, _) = walk(&direction(false), false, &methods);
    format!("{requests}{responses}")
}

#[test]
fn golden_messages_match_expected() {
    let cases = messages();
    assert!(cases.len() >= 80, "only {} message cases", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(case, request, bytes)| {
            crate::testing::golden::check("http1", case, &render_message(*request, bytes))
        })
        .collect();
    crate::testing::golden::assert_all(&failures);
}

#[test]
fn golden_streams_parse_message_by_message() {
    let cases = streams();
    assert!(cases.len() >= 12, "only {} stream cases", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(case, records)| {
            crate::testing::golden::check(
                "http1",
                &format!("{case}.messages"),
                &render_stream(records),
            )
        })
        .collect();
    crate::testing::golden::assert_all(&failures);
}

#[test]
fn stream_files_round_trip() {
    let bytes = b"# c\n> 0 3\nabc\n< 12 0\n\n";
    let records = read_stream(bytes).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].data, b"abc");
    assert!(!records[1].to_server && records[1].micros == 12 && records[1].data.is_empty());
    assert!(read_stream(b"> 0 5\nabc\n").is_err());
    assert!(read_stream(b"x 0 1\na\n").is_err());
}
