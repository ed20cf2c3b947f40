//! HTTP/1.0 and HTTP/1.1 message heads (RFC 9112), parsed from the bounded prefixes the
//! kernel captures of reads and writes.
//!
//! [`check_request`] and [`check_response`] are cheap tests on the first bytes of a
//! capture. [`parse_request`] and [`parse_response`] read the start line and the header
//! fields with `httparse` (SIMD-accelerated, battle-tested in hyper; see
//! `benches/http_parse.rs`) and keep what Sonde needs: method, path without its query,
//! Host, body framing, W3C `traceparent`/`tracestate`, `Expect: 100-continue` and whether
//! the connection closes afterwards. A head cut short is [`Parsed::Partial`], not an
//! error: the caller knows whether more bytes can come (another syscall) or not (the
//! capture limit was reached).
//!
//! Body framing follows RFC 9112 §6.3: `Transfer-Encoding` ending in `chunked` wins over
//! `Content-Length`; differing `Content-Length` values are an error (identical repeats,
//! as in `42, 42`, are accepted as the RFC allows); a request whose `Transfer-Encoding`
//! does not end in `chunked` is an error; 1xx, 204 and 304 responses have no body;
//! [`response_body`] adds the rules that need the request's method (HEAD, CONNECT).
//! [`ChunkedDecoder`] walks a chunked body to find where the next message starts.
//!
//! Guarantees on any input: no panic; at most [`MAX_HEADERS`] header fields (more is
//! [`HttpError::TooManyHeaders`]); every string kept is bounded (method, path, Host,
//! `tracestate`); work is linear in the input.

use std::fmt;
use std::mem::MaybeUninit;

mod chunked;
mod error;
mod fields;
mod traceparent;

pub use chunked::{ChunkedDecoder, ChunkedProgress, SkipOutcome, MAX_CHUNK_LINE};
pub use error::HttpError;
use fields::{bounded, host_string, split_target, Fields};
pub use traceparent::{mentions_traceparent, parse_traceparent, TraceParent, MAX_TRACESTATE_LEN};

/// Most header fields read from one message.
pub const MAX_HEADERS: usize = 64;
/// Longest path kept, in bytes (longer ones are cut at a character boundary).
pub const MAX_PATH_LEN: usize = 512;
/// Longest Host kept, in bytes (longer ones are cut at a character boundary).
pub const MAX_HOST_LEN: usize = 255;
/// Longest method accepted, in bytes.
pub const MAX_METHOD_LEN: usize = 32;

/// The outcome of parsing a message head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The head is complete.
    Complete {
        /// The message.
        msg: T,
        /// Bytes of the head, up to and including the empty line; the body starts here.
        header_len: usize,
    },
    /// The bytes end inside the head: more are needed.
    Partial,
}

/// A request method. The nine of RFC 9110 and PATCH have their own variant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// CONNECT
    Connect,
    /// OPTIONS
    Options,
    /// TRACE
    Trace,
    /// PATCH
    Patch,
    /// Any other token (at most [`MAX_METHOD_LEN`] bytes), as sent.
    Other(String),
}

impl Method {
    /// The method as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Other(m) => m,
            known => known.standard().unwrap_or_default(),
        }
    }

    /// A standard method's name (a constant), else `None`.
    pub fn standard(&self) -> Option<&'static str> {
        Some(match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
            Method::Other(_) => return None,
        })
    }

    fn from_token(token: &str) -> Result<Self, HttpError> {
        Ok(match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "CONNECT" => Method::Connect,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "PATCH" => Method::Patch,
            other if other.len() > MAX_METHOD_LEN => {
                return Err(HttpError::MethodTooLong { len: other.len() })
            }
            other => Method::Other(other.to_owned()),
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Body {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked transfer coding: ends with the last chunk and its trailers.
    Chunked,
    /// Until the connection closes (responses only).
    UntilClose,
}

/// A request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The path, without query string or fragment, at most [`MAX_PATH_LEN`] bytes, not
    /// percent-decoded. `*` for `OPTIONS *`, empty for CONNECT's `host:port`; for an
    /// absolute-form target (`http://host/p`, sent to proxies) the path part, `/` if none.
    pub path: String,
    /// The target had a query string (never kept).
    pub has_query: bool,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// The Host (first `Host` field, or the authority of an absolute-form or CONNECT
    /// target, which wins as RFC 9112 §3.2.2 says), lowercase, at most [`MAX_HOST_LEN`]
    /// bytes, without user info. `None` when absent or empty.
    pub host: Option<String>,
    /// How the body is delimited.
    pub body: Body,
    /// A valid W3C `traceparent` (one field only: repeated ones are invalid).
    pub traceparent: Option<TraceParent>,
    /// The `tracestate` list (fields joined with `,`), kept only with a valid
    /// `traceparent`, at most [`MAX_TRACESTATE_LEN`] bytes.
    pub tracestate: Option<String>,
    /// `Expect: 100-continue`: the client waits for an interim 100 before sending the body.
    pub expect_continue: bool,
    /// The connection closes after this exchange: `Connection: close`, or HTTP/1.0
    /// without `Connection: keep-alive`.
    pub connection_close: bool,
}

/// A response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// The status code (100..=999).
    pub status: u16,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// How the body is delimited, as far as the response alone says (see
    /// [`response_body`] for the rules that need the request).
    pub body: Body,
    /// The connection closes after this response: `Connection: close`, or HTTP/1.0
    /// without `Connection: keep-alive`.
    pub connection_close: bool,
}

impl Response {
    /// An interim (1xx) response other than 101: a final response follows it.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// The body of `resp` given the method of the request it answers: none for HEAD, for a
/// 2xx to CONNECT (the connection becomes a tunnel), and for 1xx, 204 and 304.
pub fn response_body(req_method: &Method, resp: &Response) -> Body {
    let tunnel = *req_method == Method::Connect && (200..300).contains(&resp.status);
    if *req_method == Method::Head || tunnel || status_has_no_body(resp.status) {
        Body::None
    } else {
        resp.body
    }
}

/// Cheap test: the bytes start with a known method (GET, HEAD, POST, PUT, DELETE,
/// CONNECT, OPTIONS, TRACE, PATCH) and a space.
pub fn check_request(buf: &[u8]) -> bool {
    let method: &[u8] = match buf.first() {
        Some(b'G') => b"GET ",
        Some(b'H') => b"HEAD ",
        Some(b'P') => match buf.get(1) {
            Some(b'O') => b"POST ",
            Some(b'U') => b"PUT ",
            _ => b"PATCH ",
        },
        Some(b'D') => b"DELETE ",
        Some(b'C') => b"CONNECT ",
        Some(b'O') => b"OPTIONS ",
        Some(b'T') => b"TRACE ",
        _ => return false,
    };
    buf.starts_with(method)
}

/// Cheap test: the bytes start with `HTTP/1.`.
pub fn check_response(buf: &[u8]) -> bool {
    buf.starts_with(b"HTTP/1.")
}

/// Parses a request head from the start of `buf`.
pub fn parse_request(buf: &[u8]) -> Result<Parsed<Request>, HttpError> {
    // Uninitialized: httparse writes the headers it finds (saves a 2 KiB memset).
    let mut headers = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let parsed = req.parse_with_uninit_headers(buf, &mut headers);
    let header_len = match parsed.map_err(HttpError::from_httparse)? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(Parsed::Partial),
    };
    // A complete parse always sets all three.
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(HttpError::BadToken);
    };
    let method = Method::from_token(method)?;
    let fields = Fields::read(req.headers, true)?;
    let body = if fields.transfer_encoding {
        if !fields.chunked {
            return Err(HttpError::UnframedRequestBody);
        }
        Body::Chunked
    } else {
        fields.content_length.map_or(Body::None, Body::Length)
    };
    let (authority, path, has_query) = split_target(target, &method);
    let host = authority.or(fields.host).and_then(host_string);
    let traceparent = match fields.traceparents {
        [Some(v), None] => std::str::from_utf8(v).ok().and_then(parse_traceparent),
        _ => None,
    };
    let tracestate = match (&traceparent, fields.tracestate.is_empty()) {
        (Some(_), false) => Some(fields.tracestate),
        _ => None,
    };
    let request = Request {
        method,
        path: bounded(path, MAX_PATH_LEN).to_owned(),
        has_query,
        version,
        host,
        body,
        traceparent,
        tracestate,
        expect_continue: fields.expect_continue,
        connection_close: fields.close || (version == 0 && !fields.keep_alive),
    };
    Ok(Parsed::Complete {
        msg: request,
        header_len,
    })
}

/// Parses a response head from the start of `buf`.
pub fn parse_response(buf: &[u8]) -> Result<Parsed<Response>, HttpError> {
    let mut headers = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut headers,
    );
    let header_len = match parsed.map_err(HttpError::from_httparse)? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(Parsed::Partial),
    };
    let (Some(status), Some(version)) = (resp.code, resp.version) else {
        return Err(HttpError::BadStatus);
    };
    if status < 100 {
        return Err(HttpError::StatusOutOfRange { status });
    }
    let fields = Fields::read(resp.headers, false)?;
    let body = if status_has_no_body(status) {
        Body::None
    } else if fields.transfer_encoding {
        if fields.chunked {
            Body::Chunked
        } else {
            Body::UntilClose
        }
    } else {
        fields.content_length.map_or(Body::UntilClose, Body::Length)
    };
    let response = Response {
        status,
        version,
        body,
        connection_close: fields.close || (version == 0 && !fields.keep_alive),
    };
    Ok(Parsed::Complete {
        msg: response,
        header_len,
    })
}

fn status_has_no_body(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) mod golden_tests;

#[cfg(test)]
pub(crate) mod mutation_tests;
