//! What each fuzz target does with its input: the parsers and decoders that take bytes
//! from the network or the kernel, and event sequences through the trackers that hold
//! state across them. Each function must return without panicking, within bounded work,
//! for any input; the `afl::fuzz!` binaries in `src/bin/` call them, and
//! [`tests::every_committed_input_replays`] runs every committed input (the seed corpus
//! and every crash found, as a regression test) through them in a plain `cargo test`.

use std::net::SocketAddr;
use std::time::Duration;

use sonde::decode::{Clock, Owner};
use sonde::protocols::dns::wire::tcp::TcpReassembler;
use sonde::protocols::dns::wire::{check, header, parse};
use sonde::protocols::dns::{DnsPacket, DnsTracker};
use sonde::protocols::http::wire::{parse_request, parse_response, ChunkedDecoder};
use sonde::protocols::http::{HttpSegment, HttpTracker};

/// Reads the input front to back; past its end, zeros.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A DNS message (UDP payload): the cheap check, the header, the full parse.
pub fn dns_message(data: &[u8]) {
    let plausible = check(data);
    if plausible {
        assert!(
            header(data).is_ok(),
            "check() passed a message header() refuses"
        );
    }
    if let Ok(m) = parse(data) {
        assert!(m.questions.len() * 5 + m.answers.len() * 11 <= data.len());
        let _ = m.resolved_addresses();
    }
}

/// DNS over TCP: the stream cut into chunks whose sizes the first byte chooses, through
/// the reassembler; every message it gives is parsed.
pub fn dns_tcp(data: &[u8]) {
    let mut input = Input(data);
    let step = usize::from(input.byte() % 64) + 1;
    let mut r = TcpReassembler::with_limit(4096);
    while !input.is_empty() {
        match r.push(input.take(step)) {
            Ok(messages) => messages.iter().for_each(|m| dns_message(m)),
            Err(_) => r.reset(),
        }
        assert!(r.buffered() <= 4096 + 2);
    }
}

/// An HTTP/1 request or response head.
pub fn http_head(data: &[u8]) {
    let _ = parse_request(data);
    let _ = parse_response(data);
}

/// A chunked body pushed in pieces whose sizes the first byte chooses, with uncaptured
/// stretches skipped where the second byte says.
pub fn http_chunked(data: &[u8]) {
    let mut input = Input(data);
    let step = usize::from(input.byte() % 32) + 1;
    let skip_every = input.byte();
    let mut d = ChunkedDecoder::new();
    let mut n = 0u8;
    while !input.is_empty() && !d.is_done() {
        n = n.wrapping_add(1);
        let result = if skip_every != 0 && n.is_multiple_of(skip_every) {
            d.skip_uncaptured(u64::from(input.byte())).map(|_| ())
        } else {
            d.push(input.take(step)).map(|_| ())
        };
        if result.is_err() {
            return;
        }
    }
}

/// A ring-buffer record, as the reader hands it to the decoder.
pub fn kernel_record(data: &[u8]) {
    let _ = sonde::protocols::decode(data, &Clock::with_offset(0));
}

fn addr(i: u8) -> SocketAddr {
    const ADDRS: [&str; 4] = [
        "10.0.0.5:40000",
        "10.0.0.53:53",
        "[fd00::5]:40001",
        "[fd00::53]:53",
    ];
    ADDRS[usize::from(i % 4)]
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// Packets and expiries in the order the input says, through one DNS tracker (bounded
/// to 16 pending queries so eviction is reached).
pub fn dns_tracker(data: &[u8]) {
    let mut input = Input(data);
    let mut t = DnsTracker::new(16, Duration::from_secs(5));
    let mut now = 0u64;
    while !input.is_empty() {
        // Bits of `op`: 0 egress, 1 sent by the client, 2 over TCP, 3 an expiry instead,
        // 4-5 which addresses, 5 truncated, 6-7 the socket.
        let op = input.byte();
        now += u64::from(input.byte()) * 50_000_000;
        if op & 8 != 0 {
            let _ = t.expire(now);
            continue;
        }
        let len = usize::from(input.byte());
        let payload = input.take(len).to_vec();
        let from_client = op & 2 != 0;
        let (src, dst) = if from_client {
            (addr(op >> 4), addr((op >> 4) + 1))
        } else {
            (addr((op >> 4) + 1), addr(op >> 4))
        };
        let _ = t.packet(DnsPacket {
            ts_unix_nanos: now,
            egress: op & 1 != 0,
            tcp: op & 4 != 0,
            src,
            dst,
            cookie: u64::from(op >> 6),
            cgroup_id: 1,
            owner: Owner {
                pid: u32::from(op & 1) + 1,
                ..Owner::default()
            },
            payload,
            truncated: op & 32 != 0,
        });
        let stats = t.stats();
        assert!(stats.pending <= 16, "{stats:?}");
    }
    let _ = t.expire(u64::MAX);
}

/// Segments, closes and expiries in the order the input says, through one HTTP tracker
/// (bounded to 4 connections so eviction is reached).
pub fn http_tracker(data: &[u8]) {
    let mut input = Input(data);
    let mut t = HttpTracker::new(4, Duration::from_secs(60));
    let mut now = 1u64;
    while !input.is_empty() {
        // `op % 16`: 0 close, 1 expiry, 2 a segment after a gap, else a segment; bits
        // 0-1 the thread, 3 a capture cut short, 4 egress, 5-7 the connection.
        let op = input.byte();
        now += u64::from(input.byte()) * 10_000_000;
        let cookie = u64::from(op >> 5);
        match op % 16 {
            0 => drop(t.close(cookie, now)),
            1 => drop(t.expire(now)),
            _ => {
                let len = usize::from(input.byte());
                let data = input.take(len).to_vec();
                let extra = u64::from(input.byte()) * u64::from(op & 8 != 0);
                let _ = t.segment(HttpSegment {
                    ts_unix_nanos: now,
                    cookie,
                    tid: u32::from(op & 3),
                    pid: 7,
                    egress: op & 16 != 0,
                    len: data.len() as u64 + extra,
                    data,
                    gap: op % 16 == 2,
                });
            }
        }
    }
    let _ = t.expire(u64::MAX);
}

/// A target: what it does with one input.
pub type Target = fn(&[u8]);

/// The targets by name: a `src/bin/<name>.rs` and a `corpus/<name>/` each.
pub const TARGETS: [(&str, Target); 7] = [
    ("dns_message", dns_message),
    ("dns_tcp", dns_tcp),
    ("http_head", http_head),
    ("http_chunked", http_chunked),
    ("kernel_record", kernel_record),
    ("dns_tracker", dns_tracker),
    ("http_tracker", http_tracker),
];

#[cfg(test)]
mod tests {
    use super::TARGETS;

    /// Every committed input (the seed corpus and the regressions, `regressions/<target>/`:
    /// each crash the fuzzer found, kept once fixed) through its target.
    #[test]
    fn every_committed_input_replays() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut ran = 0;
        for (name, target) in TARGETS {
            for dir in ["corpus", "regressions"] {
                let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let data = std::fs::read(entry.path()).expect("readable input");
                    target(&data);
                    ran += 1;
                }
            }
        }
        assert!(ran >= TARGETS.len(), "no corpus: {ran} inputs");
    }
}
