//! Mutation "fuzzing" of the HTTP/1.x parser without a fuzzing toolchain: the golden
//! messages and the recorded stream pieces are mutated with a seeded generator (bit flips,
//! HTTP-significant bytes, truncations, insertions, deletions, repeated lines, injected
//! framing and trace-context headers, splices), and every result goes through
//! `check_*`, `parse_*`, `response_body` and a [`ChunkedDecoder`] (pushes and uncaptured
//! skips at random cuts), which must return without panicking and within the bounds the
//! types promise.
//!
//! A failure prints the seed, the round and the input. `SONDE_FUZZ_SEED=<n>` replays a
//! seed; `SONDE_FUZZ_ROUNDS=<n>` sets the number of mutants per base message (the default
//! makes at least 200,000 inputs).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use super::golden_tests::{messages, streams};
use super::*;
use crate::testing::Rng;

/// Bytes that matter to HTTP/1 syntax.
const INTERESTING: [u8; 20] = [
    b'\r', b'\n', b' ', b'\t', b':', b',', b';', b'-', b'0', b'9', b'a', b'f', b'F', b'/', b'?',
    b'@', 0x00, 0x7F, 0x80, 0xFF,
];

/// Header lines that change framing or trace context.
const LINES: [&[u8]; 12] = [
    b"Content-Length: 0\r\n",
    b"Content-Length: 18446744073709551615\r\n",
    b"Content-Length: 7, 8\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip\r\n",
    b"Connection: close\r\n",
    b"Expect: 100-continue\r\n",
    b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n",
    b"tracestate: a=1,b=2\r\n",
    b"Host: EXAMPLE.test:80\r\n",
    b"\r\n",
    b"0\r\n\r\n",
];

/// The base inputs: every golden message and every recorded piece (first 2 KiB).
pub(crate) fn bases() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = messages().into_iter().map(|(_, _, b)| b).collect();
    for (_, records) in streams() {
        out.extend(
            records
                .iter()
                .map(|r| r.data[..r.data.len().min(2048)].to_vec()),
        );
    }
    out
}

/// Applies one random mutation to `m`; `donor` is another base for splices.
pub(crate) fn mutate(rng: &mut Rng, m: &mut Vec<u8>, donor: &[u8]) {
    let len = m.len();
    match rng.below(10) {
        0 if len > 0 => {
            let i = rng.below(len);
            m[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            m[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        2 => m.truncate(rng.below(len + 1)),
        3 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            m.splice(at..at, bytes);
        }
        4 if len > 0 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(16)).min(len);
            m.drain(at..end);
        }
        // A framing or trace-context line after some line end.
        5 | 6 => {
            let ends: Vec<usize> = (0..len).filter(|&i| m[i] == b'\n').collect();
            let at = if ends.is_empty() {
                len
            } else {
                ends[rng.below(ends.len())] + 1
            };
            m.splice(at..at, LINES[rng.below(LINES.len())].iter().copied());
        }
        // Repeat one line (duplicate headers, many headers).
        7 if len > 0 => {
            let from = rng.below(len);
            let to = m[from..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(len, |p| from + p + 1);
            let line = m[from..to].to_vec();
            for _ in 0..1 + rng.below(80) {
                m.splice(from..from, line.iter().copied());
            }
        }
        8 if !donor.is_empty() => {
            let from = rng.below(donor.len());
            let to = (from + 1 + rng.below(64)).min(donor.len());
            let at = rng.below(len + 1);
            m.splice(at..at, donor[from..to].iter().copied());
        }
        _ => m.push(INTERESTING[rng.below(INTERESTING.len())]),
    }
}

/// The outcome's name, to see that the mutants reach every corner of the parser.
fn kind<T>(r: &Result<Parsed<T>, HttpError>) -> &'static str {
    match r {
        Ok(Parsed::Complete { .. }) => "Complete",
        Ok(Parsed::Partial) => "Partial",
        Err(e) => error_kind(e),
    }
}

fn error_kind(e: &HttpError) -> &'static str {
    match e {
        HttpError::BadToken => "BadToken",
        HttpError::BadVersion => "BadVersion",
        HttpError::BadStatus => "BadStatus",
        HttpError::StatusOutOfRange { .. } => "StatusOutOfRange",
        HttpError::BadHeaderName => "BadHeaderName",
        HttpError::BadHeaderValue => "BadHeaderValue",
        HttpError::BadNewLine => "BadNewLine",
        HttpError::TooManyHeaders => "TooManyHeaders",
        HttpError::MethodTooLong { .. } => "MethodTooLong",
        HttpError::BadContentLength => "BadContentLength",
        HttpError::ConflictingContentLength { .. } => "ConflictingContentLength",
        HttpError::UnframedRequestBody => "UnframedRequestBody",
        HttpError::BadChunkSize { .. } => "BadChunkSize",
        HttpError::BadChunkEnd { .. } => "BadChunkEnd",
        HttpError::ChunkLineTooLong { .. } => "ChunkLineTooLong",
        HttpError::ChunkSyncLost { .. } => "ChunkSyncLost",
    }
}

/// Walks `body` as a chunked body, cut at random points, some cuts "uncaptured".
fn chunked(rng: &mut Rng, body: &[u8], kinds: &mut BTreeMap<&'static str, usize>) {
    let mut d = ChunkedDecoder::new();
    let mut rest = body;
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len());
        let result = if rng.below(4) == 0 {
            d.skip_uncaptured(n as u64)
                .map(|_| ChunkedProgress::NeedMore)
        } else {
            d.push(&rest[..n])
        };
        match result {
            Ok(ChunkedProgress::Done { consumed }) => {
                assert!(consumed <= n && d.is_done());
                *kinds.entry("ChunkedDone").or_default() += 1;
                return;
            }
            Ok(ChunkedProgress::NeedMore) if d.is_done() => {
                *kinds.entry("ChunkedAssumedEnd").or_default() += 1;
                return;
            }
            Ok(ChunkedProgress::NeedMore) => {}
            Err(e) => {
                *kinds.entry(error_kind(&e)).or_default() += 1;
                return;
            }
        }
        assert!(d.offset() <= body.len() as u64);
        rest = &rest[n..];
    }
}

/// What must hold for any input, beyond not panicking.
fn exercise(rng: &mut Rng, input: &[u8], kinds: &mut BTreeMap<&'static str, usize>) {
    let _ = (check_request(input), check_response(input));
    let req = parse_request(input);
    *kinds.entry(kind(&req)).or_default() += 1;
    if let Ok(Parsed::Complete { msg, header_len }) = &req {
        assert!(*header_len <= input.len());
        assert!(msg.path.len() <= MAX_PATH_LEN);
        assert!(msg
            .host
            .as_ref()
            .is_none_or(|h| h.len() <= MAX_HOST_LEN && !h.is_empty()));
        assert!(msg.method.as_str().len() <= MAX_METHOD_LEN);
        assert!(msg
            .tracestate
            .as_ref()
            .is_none_or(|t| t.len() <= MAX_TRACESTATE_LEN));
        assert!(msg.tracestate.is_none() || msg.traceparent.is_some());
        if let Some(tp) = msg.traceparent {
            assert!(tp.trace_id != [0; 16] && tp.parent_id != [0; 8]);
        }
        if msg.body == Body::Chunked {
            chunked(rng, &input[*header_len..], kinds);
        }
    }
    let resp = parse_response(input);
    *kinds.entry(kind(&resp)).or_default() += 1;
    if let Ok(Parsed::Complete { msg, header_len }) = &resp {
        assert!(*header_len <= input.len() && msg.status >= 100 && msg.version <= 1);
        if let Ok(Parsed::Complete { msg: req, .. }) = &req {
            let _ = response_body(&req.method, msg);
        }
        if msg.body == Body::Chunked {
            chunked(rng, &input[*header_len..], kinds);
        }
    }
    // Any bytes as a chunked body, too.
    chunked(rng, input, kinds);
}

pub(crate) fn seed() -> u64 {
    std::env::var("SONDE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_4771)
}

/// Mutants per base: `SONDE_FUZZ_ROUNDS`, or enough for at least `min_inputs` in all.
pub(crate) fn rounds(bases: usize, min_inputs: usize) -> usize {
    std::env::var("SONDE_FUZZ_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(min_inputs.div_ceil(bases.max(1)))
}

#[test]
fn mutated_http_messages_never_panic() {
    let bases = bases();
    let seed = seed();
    let rounds = rounds(bases.len(), 200_000);
    let mut rng = Rng::new(seed);
    let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut inputs = 0usize;
    let started = std::time::Instant::now();
    for round in 0..rounds {
        for (i, base) in bases.iter().enumerate() {
            let donor = &bases[(i + 1 + round) % bases.len()];
            let mut m = base.clone();
            for _ in 0..1 + rng.below(4) {
                mutate(&mut rng, &mut m, donor);
            }
            let mut inner = Rng::new(rng.next_u64());
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                exercise(&mut inner, &m, &mut kinds)
            }));
            if let Err(panic) = result {
                eprintln!(
                    "HTTP parser panicked: SONDE_FUZZ_SEED={seed} round {round}, base {i}, input {:?}",
                    String::from_utf8_lossy(&m)
                );
                std::panic::resume_unwind(panic);
            }
            inputs += 1;
        }
    }
    eprintln!(
        "{inputs} mutated HTTP messages parsed in {:?} (seed {seed}): {kinds:?}",
        started.elapsed()
    );
    assert!(inputs >= rounds * bases.len());
    // Every head error httparse and Sonde have, chunked outcomes, and plenty of
    // successes, or the mutator has gone blind.
    for k in [
        "Complete",
        "Partial",
        "BadToken",
        "BadVersion",
        "BadStatus",
        "StatusOutOfRange",
        "BadHeaderName",
        "BadHeaderValue",
        "BadNewLine",
        "TooManyHeaders",
        "BadContentLength",
        "ConflictingContentLength",
        "UnframedRequestBody",
        "BadChunkSize",
        "BadChunkEnd",
        "ChunkSyncLost",
        "ChunkedDone",
    ] {
        assert!(kinds.contains_key(k), "{k} never reached: {kinds:?}");
    }
    assert!(
        kinds["Complete"] * 10 >= inputs,
        "too few mutants parse: {kinds:?}"
    );
}
