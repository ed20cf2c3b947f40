//! W3C Trace Context (`traceparent`, `tracestate`) header values.
//!
//! `traceparent` is `version-traceid-parentid-flags` in lowercase hex: version `00` is
//! exactly 55 characters; a later version may append `-` and more fields, which are
//! ignored (the spec's forward compatibility rule); version `ff` is invalid. All-zero
//! trace and parent ids are invalid. `tracestate` is kept as text, bounded.

/// Longest `tracestate` Sonde keeps, in bytes (the W3C spec asks vendors to propagate at
/// least 512 characters; list members that do not fit are dropped whole).
pub const MAX_TRACESTATE_LEN: usize = 512;
/// Most `tracestate` list members kept (the W3C limit).
const MAX_TRACESTATE_MEMBERS: usize = 32;
/// Length of a version-00 `traceparent`.
const TRACEPARENT_LEN: usize = 55;

/// A valid W3C `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace id (never all zero).
    pub trace_id: [u8; 16],
    /// The caller's span id (never all zero).
    pub parent_id: [u8; 8],
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceParent {
    /// Whether the caller sampled this trace (flag bit 0).
    pub fn sampled(&self) -> bool {
        self.flags & 1 != 0
    }
}

/// Whether a message head may carry a `traceparent` field: a line of it starts with the
/// name, in any case. A cheap test (one SIMD scan for line ends) that spares a full parse
/// of the many requests that carry none.
pub fn mentions_traceparent(head: &[u8]) -> bool {
    const NAME: &[u8] = b"traceparent";
    memchr::memchr_iter(b'\n', head).any(|i| {
        head.get(i + 1..i + 1 + NAME.len())
            .is_some_and(|n| n.eq_ignore_ascii_case(NAME))
    })
}

/// Parses a `traceparent` header value (surrounding spaces and tabs allowed); `None` when
/// it is not valid per W3C Trace Context level 1.
pub fn parse_traceparent(v: &str) -> Option<TraceParent> {
    let v = v.trim_matches([' ', '\t']).as_bytes();
    let version = hex_byte(v.get(0..2)?)?;
    if version == 0xFF || v.len() < TRACEPARENT_LEN {
        return None;
    }
    // Version 00 is exactly 55 characters; a later one continues with '-' if longer.
    let exact = v.len() == TRACEPARENT_LEN;
    if !exact && (version == 0 || v[TRACEPARENT_LEN] != b'-') {
        return None;
    }
    if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let mut trace_id = [0u8; 16];
    hex_into(&v[3..35], &mut trace_id)?;
    let mut parent_id = [0u8; 8];
    hex_into(&v[36..52], &mut parent_id)?;
    let flags = hex_byte(&v[53..55])?;
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    Some(TraceParent {
        trace_id,
        parent_id,
        flags,
    })
}

/// Appends the list members of one `tracestate` field value to `out`, keeping it within
/// [`MAX_TRACESTATE_LEN`] bytes and 32 members; empty members are dropped, the others kept
/// as sent (trimmed).
pub(super) fn append_tracestate(out: &mut String, members: &mut usize, value: &[u8]) {
    out.reserve(
        value
            .len()
            .min(MAX_TRACESTATE_LEN - out.len().min(MAX_TRACESTATE_LEN)),
    );
    for member in value.split(|&b| b == b',') {
        let member = trim_ows(member);
        if member.is_empty() || *members >= MAX_TRACESTATE_MEMBERS {
            continue;
        }
        let Ok(member) = std::str::from_utf8(member) else {
            continue;
        };
        let sep = usize::from(!out.is_empty());
        if out.len() + sep + member.len() > MAX_TRACESTATE_LEN {
            continue;
        }
        if sep == 1 {
            out.push(',');
        }
        out.push_str(member);
        *members += 1;
    }
}

/// `bytes` without leading and trailing spaces and tabs.
pub(super) fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &bytes[start..end.max(start)]
}

/// One lowercase hex digit.
fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Two lowercase hex digits.
fn hex_byte(two: &[u8]) -> Option<u8> {
    match two {
        [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
        _ => None,
    }
}

/// Lowercase hex into `out` (`hex.len() == 2 * out.len()`).
fn hex_into(hex: &[u8], out: &mut [u8]) -> Option<()> {
    if hex.len() != 2 * out.len() {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = hex_byte(pair)?;
    }
    Some(())
}
