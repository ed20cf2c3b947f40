//! DNS name decoding: labels, compression pointers and the presentation form.
//!
//! Names come out lowercase, without the trailing dot; the root name is ".". Bytes that are
//! not printable ASCII, and the `.` and `\` that would make a name ambiguous, are written as
//! `\DDD` (three decimal digits, RFC 1035 §5.1).

use super::error::DnsError;

/// Most compression pointers one name may follow; more is treated as a loop.
pub(crate) const MAX_POINTER_JUMPS: usize = 32;
/// Longest name in wire form, length bytes and the final zero included (RFC 1035 §3.1).
pub(crate) const MAX_NAME_WIRE_LEN: usize = 255;
/// Longest label (RFC 1035 §3.1).
const MAX_LABEL_LEN: u8 = 63;
/// Initial capacity of a decoded name.
const NAME_CAPACITY_HINT: usize = 64;

/// Reads the name starting at `start`. Returns the name and the offset just past it in
/// place (after its first compression pointer, if it has one).
pub(crate) fn read_name(msg: &[u8], start: usize) -> Result<(String, usize), DnsError> {
    // Most names fit: one allocation instead of a few reallocations as labels are added.
    let mut out = String::with_capacity(NAME_CAPACITY_HINT);
    let mut pos = start;
    let mut end_in_place = None;
    let mut jumps = 0usize;
    // Length bytes plus label bytes seen so far, the final zero byte not yet counted.
    let mut wire_len = 0usize;
    loop {
        let Some(&byte) = msg.get(pos) else {
            return Err(DnsError::Truncated { at: pos });
        };
        match byte >> 6 {
            0b00 if byte == 0 => {
                if out.is_empty() {
                    out.push('.');
                }
                return Ok((out, end_in_place.unwrap_or(pos + 1)));
            }
            0b00 => {
                let len = usize::from(byte);
                wire_len += 1 + len;
                if wire_len + 1 > MAX_NAME_WIRE_LEN {
                    return Err(DnsError::NameTooLong { at: start });
                }
                let Some(label) = msg.get(pos + 1..pos + 1 + len) else {
                    return Err(DnsError::Truncated { at: pos });
                };
                if !out.is_empty() {
                    out.push('.');
                }
                push_label(&mut out, label);
                pos += 1 + len;
            }
            0b11 => {
                let Some(&low) = msg.get(pos + 1) else {
                    return Err(DnsError::Truncated { at: pos });
                };
                let target = (usize::from(byte & 0x3F) << 8) | usize::from(low);
                if target >= msg.len() {
                    return Err(DnsError::PointerOutOfBounds { at: pos, target });
                }
                if target >= pos {
                    return Err(DnsError::ForwardPointer { at: pos, target });
                }
                jumps += 1;
                if jumps > MAX_POINTER_JUMPS {
                    return Err(DnsError::PointerLoop { at: start });
                }
                end_in_place.get_or_insert(pos + 2);
                pos = target;
            }
            0b01 => {
                debug_assert!(byte > MAX_LABEL_LEN);
                return Err(DnsError::LabelTooLong { at: pos, len: byte });
            }
            _ => return Err(DnsError::BadLabelType { at: pos, byte }),
        }
    }
}

/// Appends one label in presentation form: lowercase, `\DDD` for anything ambiguous.
fn push_label(out: &mut String, label: &[u8]) {
    // Fast path: the usual hostname characters go in as they are.
    if label
        .iter()
        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_'))
    {
        if let Ok(plain) = std::str::from_utf8(label) {
            out.push_str(plain);
            return;
        }
    }
    for &b in label {
        match b {
            b'.' | b'\\' => push_escaped(out, b),
            0x21..=0x7E => out.push(char::from(b.to_ascii_lowercase())),
            _ => push_escaped(out, b),
        }
    }
}

fn push_escaped(out: &mut String, b: u8) {
    out.push('\\');
    out.push(char::from(b'0' + b / 100));
    out.push(char::from(b'0' + (b / 10) % 10));
    out.push(char::from(b'0' + b % 10));
}
