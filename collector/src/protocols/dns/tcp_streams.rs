//! Per-socket, per-direction DNS-over-TCP reassembly state, bounded in count.
//!
//! Only streams holding part of a message are kept: an empty reassembler is the same as
//! none, so a stream whose chunks end on message boundaries (the usual case) costs nothing
//! between packets.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::protocols::dns::wire::tcp::TcpReassembler;
use crate::protocols::dns::DnsPacket;

/// Most streams with a partial message held at once (each holds at most 64 KiB).
pub(crate) const MAX_TCP_STREAMS: usize = 256;

/// One direction of one connection: by socket cookie when the kernel gave one, else by
/// address pair. The direction is needed: on loopback the sender's egress copy and the
/// receiver's ingress copy of a segment have the same addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum StreamKey {
    Cookie {
        cookie: u64,
        egress: bool,
    },
    Tuple {
        src: SocketAddr,
        dst: SocketAddr,
        egress: bool,
    },
}

impl StreamKey {
    fn of(p: &DnsPacket) -> Self {
        if p.cookie != 0 {
            StreamKey::Cookie {
                cookie: p.cookie,
                egress: p.egress,
            }
        } else {
            StreamKey::Tuple {
                src: p.src,
                dst: p.dst,
                egress: p.egress,
            }
        }
    }
}

#[derive(Debug)]
struct Stream {
    reassembler: TcpReassembler,
    last_seen: u64,
}

/// What feeding one chunk did.
#[derive(Debug, Default)]
pub(crate) struct Pushed {
    /// Complete messages, in order.
    pub messages: Vec<Vec<u8>>,
    /// The chunk broke framing (the stream was reset).
    pub error: bool,
    /// Another stream's partial message was dropped to make room.
    pub evicted: bool,
}

#[derive(Debug)]
pub(crate) struct TcpStreams {
    streams: HashMap<StreamKey, Stream>,
    max_streams: usize,
}

impl TcpStreams {
    pub(crate) fn new(max_streams: usize) -> Self {
        Self {
            streams: HashMap::new(),
            max_streams: max_streams.max(1),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.streams.len()
    }

    /// Feeds the packet's payload to its stream.
    pub(crate) fn push(&mut self, p: &DnsPacket) -> Pushed {
        let key = StreamKey::of(p);
        let mut reassembler = self
            .streams
            .remove(&key)
            .map(|s| s.reassembler)
            .unwrap_or_default();
        let mut pushed = Pushed::default();
        match reassembler.push(&p.payload) {
            Ok(messages) => pushed.messages = messages,
            Err(_) => pushed.error = true,
        }
        if p.truncated {
            // The rest of this segment was not captured: what follows cannot be framed.
            reassembler.reset();
        }
        if reassembler.buffered() > 0 {
            if self.streams.len() >= self.max_streams {
                pushed.evicted = self.evict_least_recent();
            }
            self.streams.insert(
                key,
                Stream {
                    reassembler,
                    last_seen: p.ts_unix_nanos,
                },
            );
        }
        pushed
    }

    /// Drops streams idle since `idle_nanos` before `now`; returns how many.
    pub(crate) fn expire(&mut self, now_unix_nanos: u64, idle_nanos: u64) -> usize {
        let before = self.streams.len();
        self.streams
            .retain(|_, s| s.last_seen.saturating_add(idle_nanos) > now_unix_nanos);
        before - self.streams.len()
    }

    fn evict_least_recent(&mut self) -> bool {
        let oldest = self
            .streams
            .iter()
            .min_by_key(|(_, s)| s.last_seen)
            .map(|(k, _)| *k);
        oldest.is_some_and(|k| self.streams.remove(&k).is_some())
    }
}
