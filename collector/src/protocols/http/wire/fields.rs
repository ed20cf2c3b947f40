//! Reading the header fields and the request-target: the pieces of a head Sonde keeps,
//! bounded.

use super::traceparent::{append_tracestate, trim_ows};
use super::{HttpError, Method, MAX_HOST_LEN};

/// What the header fields say, before it is turned into a request or a response.
#[derive(Default)]
pub(super) struct Fields<'b> {
    pub(super) content_length: Option<u64>,
    pub(super) transfer_encoding: bool,
    /// The last transfer coding is `chunked`.
    pub(super) chunked: bool,
    pub(super) close: bool,
    pub(super) keep_alive: bool,
    pub(super) host: Option<&'b [u8]>,
    /// The first `traceparent` value, and a second one if there is one.
    pub(super) traceparents: [Option<&'b [u8]>; 2],
    pub(super) tracestate: String,
    pub(super) tracestate_members: usize,
    pub(super) expect_continue: bool,
}

impl<'b> Fields<'b> {
    /// Reads the fields that matter; `request` adds Host, Expect and the trace context.
    pub(super) fn read(headers: &[httparse::Header<'b>], request: bool) -> Result<Self, HttpError> {
        let mut f = Fields::default();
        for h in headers {
            let name = h.name.as_bytes();
            let is = |want: &str| name.eq_ignore_ascii_case(want.as_bytes());
            match name.len() {
                14 if is("content-length") => f.content_length(h.value)?,
                17 if is("transfer-encoding") => {
                    f.transfer_encoding = true;
                    if let Some(last) = tokens(h.value).last() {
                        f.chunked = last.eq_ignore_ascii_case(b"chunked");
                    }
                }
                10 if is("connection") => {
                    for t in tokens(h.value) {
                        f.close |= t.eq_ignore_ascii_case(b"close");
                        f.keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
                    }
                }
                _ if !request => {}
                4 if is("host") => {
                    f.host.get_or_insert(h.value);
                }
                6 if is("expect") => {
                    f.expect_continue |= trim_ows(h.value).eq_ignore_ascii_case(b"100-continue");
                }
                11 if is("traceparent") => match f.traceparents {
                    [None, _] => f.traceparents[0] = Some(h.value),
                    _ => f.traceparents[1] = Some(h.value),
                },
                10 if is("tracestate") => {
                    append_tracestate(&mut f.tracestate, &mut f.tracestate_members, h.value)
                }
                _ => {}
            }
        }
        Ok(f)
    }

    /// One `Content-Length` field: a list of identical decimal values.
    fn content_length(&mut self, value: &[u8]) -> Result<(), HttpError> {
        for item in value.split(|&b| b == b',') {
            let n = decimal(trim_ows(item)).ok_or(HttpError::BadContentLength)?;
            match self.content_length {
                Some(first) if first != n => {
                    return Err(HttpError::ConflictingContentLength { first, second: n })
                }
                _ => self.content_length = Some(n),
            }
        }
        Ok(())
    }
}

/// The non-empty, trimmed items of a comma-separated field value.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|t| !t.is_empty())
}

/// A non-empty run of ASCII digits as a `u64`.
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if d.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

/// Splits a request-target into (authority, path, has_query).
pub(super) fn split_target<'t>(
    target: &'t str,
    method: &Method,
) -> (Option<&'t [u8]>, &'t str, bool) {
    if *method == Method::Connect && !target.starts_with('/') {
        // authority-form: host:port
        return (Some(target.as_bytes()), "", false);
    }
    let (authority, rest) = match absolute_form(target) {
        Some((authority, rest)) => (Some(authority.as_bytes()), rest),
        None => (None, target),
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let has_query = rest[end..].starts_with('?');
    let path = match &rest[..end] {
        "" if authority.is_some() => "/",
        path => path,
    };
    (authority, path, has_query)
}

/// `scheme://authority/rest` → (authority, `/rest`), for `http` and `https`.
fn absolute_form(target: &str) -> Option<(&str, &str)> {
    let scheme_end = target.find("://")?;
    let scheme = &target[..scheme_end];
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let after = &target[scheme_end + 3..];
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    Some((&after[..authority_end], &after[authority_end..]))
}

/// A Host value as kept: without user info, trimmed, lowercase, bounded; `None` if empty.
pub(super) fn host_string(raw: &[u8]) -> Option<String> {
    let raw = trim_ows(raw);
    let raw = match raw.iter().rposition(|&b| b == b'@') {
        Some(at) => &raw[at + 1..],
        None => raw,
    };
    if raw.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(raw);
    Some(bounded(&text, MAX_HOST_LEN).to_ascii_lowercase())
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub(super) fn bounded(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
