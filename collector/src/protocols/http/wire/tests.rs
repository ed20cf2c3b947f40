#![allow(clippy::unwrap_used)]

use super::*;

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn request(bytes: &[u8]) -> (Request, usize) {
    match parse_request(bytes).unwrap() {
        Parsed::Complete { msg, header_len } => (msg, header_len),
        Parsed::Partial => panic!("partial: {:?}", String::from_utf8_lossy(bytes)),
    }
}

fn response(bytes: &[u8]) -> Response {
    match parse_response(bytes).unwrap() {
        Parsed::Complete { msg, .. } => msg,
        Parsed::Partial => panic!("partial: {:?}", String::from_utf8_lossy(bytes)),
    }
}

#[test]
fn check_accepts_known_methods_and_status_lines_only() {
    for m in [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ] {
        assert!(
            check_request(format!("{m} / HTTP/1.1\r\n").as_bytes()),
            "{m}"
        );
        assert!(!check_request(m.as_bytes()), "{m} without a space");
    }
    for no in [
        &b""[..],
        b"get / HTTP/1.1",
        b"PROPFIND / HTTP/1.1",
        b"PAT",
        b"\x16\x03",
    ] {
        assert!(!check_request(no), "{no:?}");
    }
    assert!(check_response(b"HTTP/1.1 200 OK\r\n"));
    assert!(check_response(b"HTTP/1.0 404 Not Found\r\n"));
    assert!(!check_response(b"HTTP/2 200\r\n"));
    assert!(!check_response(b"HTTP/1"));
}

#[test]
fn request_fields() {
    let raw = format!(
        "POST /api/v1/users?id=7 HTTP/1.1\r\nHost: API.example.test\r\nContent-Length: 12\r\n\
         traceparent: {TP}\r\ntracestate: congo=t61rcWkgMzE\r\nExpect: 100-continue\r\n\r\n{{\"a\":\"bcde\"}}"
    );
    let (r, header_len) = request(raw.as_bytes());
    assert_eq!(header_len, raw.len() - 12);
    assert_eq!(r.method, Method::Post);
    assert_eq!(
        (r.path.as_str(), r.has_query, r.version),
        ("/api/v1/users", true, 1)
    );
    assert_eq!(r.host.as_deref(), Some("api.example.test"));
    assert_eq!(r.body, Body::Length(12));
    let tp = r.traceparent.unwrap();
    assert_eq!(tp.trace_id[0], 0x4b);
    assert_eq!(tp.parent_id[7], 0xb7);
    assert!(tp.sampled());
    assert_eq!(r.tracestate.as_deref(), Some("congo=t61rcWkgMzE"));
    assert!(r.expect_continue && !r.connection_close);
}

#[test]
fn traceparent_follows_w3c() {
    let tp = parse_traceparent(TP).unwrap();
    assert_eq!(tp.flags, 1);
    assert_eq!(parse_traceparent(&format!(" {TP}\t")), Some(tp));
    // Future versions may append fields after a dash; version 00 may not.
    let future = format!("01{}-more", &TP[2..]);
    assert_eq!(parse_traceparent(&future), Some(tp));
    assert_eq!(parse_traceparent(&format!("01{}", &TP[2..])), Some(tp));
    let bad = [
        format!("{TP}-more"),
        format!("01{}x", &TP[2..]),
        format!("ff{}", &TP[2..]),
        TP.to_uppercase(),
        TP.replace("4bf92f3577b34da6a3ce929d0e0e4736", &"0".repeat(32)),
        TP.replace("00f067aa0ba902b7", &"0".repeat(16)),
        TP.replace("-01", "-1"),
        TP.replace("-01", "-0g"),
        TP[..54].to_owned(),
        TP.replacen('-', "_", 1),
        String::new(),
        "0".to_owned(),
    ];
    for v in &bad {
        assert_eq!(parse_traceparent(v), None, "{v:?}");
    }
}

#[test]
fn tracestate_is_joined_and_bounded() {
    let mut raw = format!("GET / HTTP/1.1\r\ntraceparent: {TP}\r\n");
    for i in 0..40 {
        raw.push_str(&format!("tracestate: k{i:02}={}\r\n", "v".repeat(40)));
    }
    raw.push_str("\r\n");
    let (r, _) = request(raw.as_bytes());
    let ts = r.tracestate.unwrap();
    assert!(ts.len() <= MAX_TRACESTATE_LEN, "{}", ts.len());
    assert!(
        ts.starts_with("k00=") && ts.split(',').count() == 11,
        "{ts}"
    );
    // Without a valid traceparent, tracestate is not kept.
    let (r, _) = request(b"GET / HTTP/1.1\r\ntracestate: a=1\r\n\r\n");
    assert_eq!(r.tracestate, None);
}

#[test]
fn framing_rules() {
    let resp = |s: &str| response(s.as_bytes());
    assert_eq!(
        resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").body,
        Body::Length(5)
    );
    assert_eq!(resp("HTTP/1.1 200 OK\r\n\r\n").body, Body::UntilClose);
    assert_eq!(
        resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n").body,
        Body::Chunked
    );
    for status in [
        "100 Continue",
        "101 Switching",
        "204 No Content",
        "304 Not Modified",
    ] {
        let r = resp(&format!("HTTP/1.1 {status}\r\nContent-Length: 5\r\n\r\n"));
        assert_eq!(r.body, Body::None, "{status}");
    }
    let ok = resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(response_body(&Method::Get, &ok), Body::Length(5));
    assert_eq!(response_body(&Method::Head, &ok), Body::None);
    assert_eq!(response_body(&Method::Connect, &ok), Body::None);
    let denied = resp("HTTP/1.1 407 Proxy Auth\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(response_body(&Method::Connect, &denied), Body::Length(5));
    assert!(resp("HTTP/1.1 100 Continue\r\n\r\n").is_interim());
    assert!(!resp("HTTP/1.1 101 Switching\r\n\r\n").is_interim());
}

#[test]
fn content_length_errors() {
    let err = |h: &str| parse_request(format!("POST / HTTP/1.1\r\n{h}\r\n\r\n").as_bytes());
    assert_eq!(
        err("Content-Length: 1\r\nContent-Length: 2"),
        Err(HttpError::ConflictingContentLength {
            first: 1,
            second: 2
        })
    );
    assert_eq!(err("Content-Length: 1x"), Err(HttpError::BadContentLength));
    assert_eq!(err("Content-Length: +1"), Err(HttpError::BadContentLength));
    assert_eq!(
        err("Content-Length: 99999999999999999999"),
        Err(HttpError::BadContentLength)
    );
    assert_eq!(
        err("Transfer-Encoding: gzip"),
        Err(HttpError::UnframedRequestBody)
    );
}

#[test]
fn partial_and_limits() {
    assert_eq!(
        parse_request(b"GET / HTTP/1.1\r\nHost: a"),
        Ok(Parsed::Partial)
    );
    assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n"), Ok(Parsed::Partial));
    let mut many = String::from("GET / HTTP/1.1\r\n");
    for i in 0..=MAX_HEADERS {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    // Too many headers is an error even before the head ends.
    assert_eq!(
        parse_request(many.as_bytes()),
        Err(HttpError::TooManyHeaders)
    );
    let long = format!("GET /{} HTTP/1.1\r\n\r\n", "é".repeat(400));
    let (r, _) = request(long.as_bytes());
    assert!(r.path.len() <= MAX_PATH_LEN && r.path.len() >= MAX_PATH_LEN - 1);
    assert_eq!(
        parse_request(format!("{} / HTTP/1.1\r\n\r\n", "X".repeat(33)).as_bytes()),
        Err(HttpError::MethodTooLong { len: 33 })
    );
}

/// Pushes `body` into a fresh decoder in pieces of `step` bytes.
fn push_in_steps(body: &[u8], step: usize) -> Result<Option<usize>, HttpError> {
    let mut d = ChunkedDecoder::new();
    let mut pos = 0;
    for piece in body.chunks(step) {
        match d.push(piece)? {
            ChunkedProgress::Done { consumed } => return Ok(Some(pos + consumed)),
            ChunkedProgress::NeedMore => pos += piece.len(),
        }
    }
    Ok(None)
}

#[test]
fn chunked_body_end_is_found_in_any_split() {
    let body = b"5\r\nhello\r\n1A;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Sum: 1\r\n\r\nNEXT";
    let end = body.len() - 4;
    for step in 1..=body.len() {
        assert_eq!(push_in_steps(body, step), Ok(Some(end)), "step {step}");
    }
    assert_eq!(push_in_steps(b"0\n\n", 1), Ok(Some(3)), "bare LF line ends");
    assert_eq!(push_in_steps(b"5\r\nhel", 2), Ok(None));
}

#[test]
fn chunked_errors() {
    let err = |b: &[u8]| push_in_steps(b, b.len()).unwrap_err();
    assert_eq!(err(b"x\r\n"), HttpError::BadChunkSize { at: 0 });
    assert_eq!(err(b"5x\r\n"), HttpError::BadChunkSize { at: 1 });
    assert_eq!(err(b"5\rx"), HttpError::BadChunkSize { at: 2 });
    assert_eq!(
        err(b"11111111111111111\r\n"),
        HttpError::BadChunkSize { at: 16 }
    );
    assert_eq!(err(b"2\r\nabc\r\n"), HttpError::BadChunkEnd { at: 5 });
    assert_eq!(err(b"0\r\n\rx"), HttpError::BadChunkEnd { at: 4 });
    let long_ext = [b"1;".as_slice(), &[b'e'; MAX_CHUNK_LINE]].concat();
    assert!(matches!(err(&long_ext), HttpError::ChunkLineTooLong { .. }));
    // The largest size still parses.
    assert_eq!(push_in_steps(b"ffffffffffffffff\r\nab", 3), Ok(None));
}

#[test]
fn chunked_skips_uncaptured_data() {
    let mut d = ChunkedDecoder::new();
    // A 4096-byte chunk of which only the size line was captured, CRLF uncaptured too.
    assert_eq!(d.push(b"1000\r\n"), Ok(ChunkedProgress::NeedMore));
    assert_eq!(d.skip_uncaptured(4096 + 2), Ok(SkipOutcome::InBody));
    assert_eq!(d.push(b"3\r\nabc"), Ok(ChunkedProgress::NeedMore));
    assert_eq!(d.skip_uncaptured(1), Ok(SkipOutcome::InBody));
    assert_eq!(
        d.push(b"\n0\r\n\r\n"),
        Ok(ChunkedProgress::Done { consumed: 6 })
    );
    assert_eq!(d.offset(), 6 + 4098 + 6 + 1 + 6);

    // nginx's last write: data, its CRLF and the last chunk, beyond the capture.
    let mut d = ChunkedDecoder::new();
    d.push(b"10\r\n0123").unwrap();
    assert_eq!(d.skip_uncaptured(12 + 2 + 5), Ok(SkipOutcome::AssumedEnd));
    assert!(d.is_done());

    // Running into the next size line loses the framing.
    let mut d = ChunkedDecoder::new();
    d.push(b"4\r\nab").unwrap();
    assert!(matches!(
        d.skip_uncaptured(2 + 2 + 3),
        Err(HttpError::ChunkSyncLost { at: 5, skipped: 7 })
    ));
    let mut d = ChunkedDecoder::new();
    d.push(b"4").unwrap();
    assert!(d.skip_uncaptured(1).is_err(), "inside a size line");
    let mut d = ChunkedDecoder::new();
    assert_eq!(d.skip_uncaptured(0), Ok(SkipOutcome::InBody));
    assert_eq!(d.skip_uncaptured(5), Ok(SkipOutcome::AssumedEnd));
}

#[test]
fn a_head_that_carries_a_traceparent_is_never_skipped_by_the_cheap_test() {
    for name in ["traceparent", "Traceparent", "TRACEPARENT", "TraceParent"] {
        for host_first in [true, false] {
            let head = if host_first {
                format!("GET / HTTP/1.1\r\nHost: a\r\n{name}: {TP}\r\n\r\n")
            } else {
                format!("GET / HTTP/1.1\r\n{name}: {TP}\r\nHost: a\r\n\r\n")
            };
            assert!(request(head.as_bytes()).0.traceparent.is_some(), "{head:?}");
            assert!(mentions_traceparent(head.as_bytes()), "{head:?}");
        }
    }
    for head in [
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nX-Traceparent: 1\r\n\r\n",
        "GET /traceparent HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\ntraceparen",
    ] {
        assert!(!mentions_traceparent(head.as_bytes()), "{head:?}");
    }
}
