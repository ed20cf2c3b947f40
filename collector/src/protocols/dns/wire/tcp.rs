//! DNS-over-TCP framing: every message is preceded by its length as a 2-byte big-endian
//! integer (RFC 1035 §4.2.2, RFC 7766). [`TcpReassembler`] takes the TCP payload chunks of
//! one direction of one connection, in order, and hands back each complete message,
//! whether a chunk holds several messages or a message spans several chunks.
//!
//! It is bounded: at most [`MAX_BUFFERED`] bytes (one message and its prefix) are ever
//! held. A frame that cannot be a DNS message (shorter than the 12-byte header, or larger
//! than the limit) is an error and resets the state; the next chunk is then read as the
//! start of a new frame, which resynchronises whenever a sender writes one message per
//! segment (what stub resolvers do). The reassembler trusts its caller for order: it has
//! no sequence numbers, so a retransmitted or reordered segment desynchronises it until
//! the next error.

use super::HEADER_LEN;

/// Most bytes held for one direction of one connection: 64 KiB.
pub const MAX_BUFFERED: usize = 64 * 1024;
/// Length of the frame prefix.
const PREFIX_LEN: usize = 2;

/// Why a TCP stream could not be framed into DNS messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsTcpError {
    /// The length prefix announces a message too short to hold a DNS header.
    #[error("DNS-over-TCP frame announces {len} bytes, shorter than a DNS header; the stream is not DNS or out of sync (state reset)")]
    FrameTooShort {
        /// The announced length.
        len: u16,
    },
    /// The frame, prefix included, would not fit in the reassembly limit.
    #[error("DNS-over-TCP frame of {len} bytes does not fit the {limit}-byte reassembly limit (state reset)")]
    FrameTooLarge {
        /// The announced length.
        len: u16,
        /// The limit in force, prefix included.
        limit: usize,
    },
}

/// Reassembles DNS messages from the in-order TCP payload of one direction of a connection.
#[derive(Debug, Clone)]
pub struct TcpReassembler {
    /// Bytes of the current, incomplete frame (prefix included).
    buf: Vec<u8>,
    limit: usize,
}

impl Default for TcpReassembler {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpReassembler {
    /// A reassembler holding at most [`MAX_BUFFERED`] bytes.
    pub fn new() -> Self {
        Self::with_limit(MAX_BUFFERED)
    }

    /// A reassembler holding at most `limit` bytes, prefix included (capped at
    /// [`MAX_BUFFERED`]; at least one header-sized frame).
    pub fn with_limit(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            limit: limit.clamp(PREFIX_LEN + HEADER_LEN, MAX_BUFFERED),
        }
    }

    /// Bytes held for an incomplete message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Drops any partial message; the next chunk starts a new frame.
    pub fn reset(&mut self) {
        self.buf = Vec::new();
    }

    /// Feeds the next chunk of payload; returns the messages it completed (without their
    /// prefixes), in order. On a framing error the state is reset, and the messages this
    /// chunk had already completed are lost with it.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, DnsTcpError> {
        let mut out = Vec::new();
        let mut rest = chunk;
        while !rest.is_empty() {
            // Complete the prefix if it is still missing.
            if self.buf.len() < PREFIX_LEN {
                let take = (PREFIX_LEN - self.buf.len()).min(rest.len());
                self.buf.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if self.buf.len() < PREFIX_LEN {
                    break;
                }
                if let Err(e) = self.check_frame() {
                    self.reset();
                    return Err(e);
                }
                self.buf.reserve_exact(self.announced());
            }
            let total = PREFIX_LEN + self.announced();
            // Copy as much of the frame's body as this chunk holds.
            let take = (total - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buf.len() == total {
                let mut frame = std::mem::take(&mut self.buf);
                frame.drain(..PREFIX_LEN);
                out.push(frame);
            }
        }
        Ok(out)
    }

    fn announced(&self) -> usize {
        match self.buf.get(..PREFIX_LEN) {
            Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
            _ => 0,
        }
    }

    fn check_frame(&self) -> Result<(), DnsTcpError> {
        let len = self.announced();
        let len16 = u16::try_from(len).unwrap_or(u16::MAX);
        if len < HEADER_LEN {
            return Err(DnsTcpError::FrameTooShort { len: len16 });
        }
        if PREFIX_LEN + len > self.limit {
            return Err(DnsTcpError::FrameTooLarge {
                len: len16,
                limit: self.limit,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::protocols::dns::wire::golden_tests::{golden, golden_dir};

    fn stream(name: &str) -> Vec<u8> {
        std::fs::read(golden_dir().join(format!("{name}.stream"))).unwrap()
    }

    fn push_all(r: &mut TcpReassembler, chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        chunks.iter().flat_map(|c| r.push(c).unwrap()).collect()
    }

    #[test]
    fn real_stream_in_one_chunk_gives_every_message() {
        // dig +tcp +keepopen: two responses on one connection.
        let mut r = TcpReassembler::new();
        let got = r.push(&stream("tcp_a.server")).unwrap();
        assert_eq!(got, vec![golden("tcp_a_tcp0"), golden("tcp_a_tcp1")]);
        assert_eq!(r.buffered(), 0);
        // The client side: two queries.
        let queries = TcpReassembler::new().push(&stream("tcp_a.client")).unwrap();
        assert_eq!(queries.len(), 2);
        assert!(queries
            .iter()
            .all(|q| crate::protocols::dns::wire::check(q)));
    }

    #[test]
    fn real_stream_split_at_every_offset() {
        for name in ["tcp_a.server", "tcp_big.server"] {
            let s = stream(name);
            let whole = TcpReassembler::new().push(&s).unwrap();
            for cut in 0..=s.len() {
                let mut r = TcpReassembler::new();
                let got = push_all(&mut r, &[&s[..cut], &s[cut..]]);
                assert_eq!(got, whole, "{name} cut at {cut}");
            }
        }
    }

    #[test]
    fn byte_by_byte() {
        let s = stream("tcp_big.server");
        let mut r = TcpReassembler::new();
        let chunks: Vec<&[u8]> = s.chunks(1).collect();
        let got = push_all(&mut r, &chunks);
        assert_eq!(got, vec![golden("tcp_big_tcp0")]);
        assert_eq!(got[0].len(), 685);
    }

    #[test]
    fn partial_message_is_held_until_complete() {
        let s = stream("tcp_big.server");
        let mut r = TcpReassembler::new();
        assert!(r.push(&s[..300]).unwrap().is_empty());
        assert_eq!(r.buffered(), 300);
        assert_eq!(r.push(&s[300..]).unwrap().len(), 1);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn frame_too_short_is_an_error_and_resets() {
        let mut r = TcpReassembler::new();
        r.push(&[0x00]).unwrap();
        assert_eq!(
            r.push(&[0x05, 1, 2]),
            Err(DnsTcpError::FrameTooShort { len: 5 })
        );
        assert_eq!(r.buffered(), 0);
        // The next chunk starts a new frame: a whole real stream goes through.
        assert_eq!(r.push(&stream("tcp_a.server")).unwrap().len(), 2);
    }

    #[test]
    fn frame_over_the_limit_is_an_error_and_resets() {
        let s = stream("tcp_big.server");
        let mut r = TcpReassembler::with_limit(512);
        assert_eq!(
            r.push(&s),
            Err(DnsTcpError::FrameTooLarge {
                len: 685,
                limit: 512
            })
        );
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.push(&stream("tcp_a.server")).unwrap().len(), 2);
        // The default limit holds the largest message up to 64 KiB, prefix included.
        let mut r = TcpReassembler::new();
        let mut big = vec![0xFF, 0xFE];
        big.resize(2 + 0xFFFE, 0);
        assert_eq!(r.push(&big).unwrap().len(), 1);
        assert_eq!(
            r.push(&[0xFF, 0xFF]),
            Err(DnsTcpError::FrameTooLarge {
                len: 0xFFFF,
                limit: MAX_BUFFERED
            })
        );
    }

    #[test]
    fn empty_chunks_are_harmless() {
        let mut r = TcpReassembler::new();
        assert!(r.push(&[]).unwrap().is_empty());
        let s = stream("tcp_a.server");
        let got = push_all(&mut r, &[&s[..1], &[], &s[1..]]);
        assert_eq!(got.len(), 2);
    }
}
