//! Matches DNS queries with responses into [`Lookup`]s, from the client's point of view.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use super::packet::{Lookup, Outcome};
use super::tcp_streams::{TcpStreams, MAX_TCP_STREAMS};
use crate::decode::Owner;
use crate::protocols::dns::wire::{self as dns, Question};
use crate::protocols::dns::DnsPacket;

/// What the tracker has seen and dropped since it started. Counters only grow; `pending`
/// and `tcp_streams` are the current sizes of its tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DnsStats {
    /// Packets handed to [`DnsTracker::packet`].
    pub packets: u64,
    /// Queries that started a lookup.
    pub queries: u64,
    /// Lookups completed by a response.
    pub answered: u64,
    /// Lookups that got no response within the timeout.
    pub timeouts: u64,
    /// Messages that could not be parsed (a response whose header parsed still completes
    /// its lookup, without answers).
    pub parse_errors: u64,
    /// Responses arriving at a client with no pending query (query not seen, or expired).
    pub unmatched_responses: u64,
    /// Queries repeating a pending one (retransmissions); the first timestamp is kept.
    pub duplicate_queries: u64,
    /// Messages that are not a client's lookup: server-side copies (a query arriving, a
    /// response leaving) and opcodes other than QUERY.
    pub ignored_messages: u64,
    /// Pending queries dropped, oldest first, because `max_pending` was reached.
    pub pending_evicted: u64,
    /// TCP chunks that broke DNS framing (the stream's state was reset).
    pub tcp_reassembly_errors: u64,
    /// TCP streams dropped with a partial message (table full, or idle past the timeout).
    pub tcp_streams_evicted: u64,
    /// Packets whose capture was cut short by the kernel.
    pub truncated_captures: u64,
    /// Queries waiting for a response now.
    pub pending: u64,
    /// TCP streams holding a partial message now.
    pub tcp_streams: u64,
}

/// A lookup is keyed as the client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    id: u16,
    client: SocketAddr,
    resolver: SocketAddr,
    tcp: bool,
}

#[derive(Debug)]
struct Pending {
    start: u64,
    /// This query's entry in `DnsTracker::order`.
    order: (u64, u64),
    owner: Owner,
    question: Question,
}

/// Turns captured DNS packets into lookups. Bounded: at most `max_pending` queries wait
/// for a response, and at most 256 TCP streams hold a partial message.
#[derive(Debug)]
pub struct DnsTracker {
    max_pending: usize,
    timeout_nanos: u64,
    pending: HashMap<Key, Pending>,
    /// (start, sequence) → key, oldest first: for expiry and eviction.
    order: BTreeMap<(u64, u64), Key>,
    next_seq: u64,
    tcp: TcpStreams,
    stats: DnsStats,
}

impl DnsTracker {
    /// A tracker holding at most `max_pending` (at least 1) unanswered queries, each for at
    /// most `timeout`.
    pub fn new(max_pending: usize, timeout: Duration) -> Self {
        Self {
            max_pending: max_pending.max(1),
            timeout_nanos: u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX),
            pending: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            tcp: TcpStreams::new(MAX_TCP_STREAMS),
            stats: DnsStats::default(),
        }
    }

    /// One captured packet; returns the lookups it completed.
    pub fn packet(&mut self, p: DnsPacket) -> Vec<Lookup> {
        self.stats.packets += 1;
        if p.truncated {
            self.stats.truncated_captures += 1;
        }
        let mut done = Vec::new();
        if p.tcp {
            let pushed = self.tcp.push(&p);
            self.stats.tcp_reassembly_errors += u64::from(pushed.error);
            self.stats.tcp_streams_evicted += u64::from(pushed.evicted);
            for msg in &pushed.messages {
                self.message(&p, msg, &mut done);
            }
        } else {
            self.message(&p, &p.payload, &mut done);
        }
        done
    }

    /// Lookups whose query got no answer within the timeout, as of `now_unix_nanos`. Also
    /// drops TCP streams idle for as long.
    pub fn expire(&mut self, now_unix_nanos: u64) -> Vec<Lookup> {
        let mut out = Vec::new();
        while let Some((&(start, seq), _)) = self.order.first_key_value() {
            if start.saturating_add(self.timeout_nanos) > now_unix_nanos {
                break;
            }
            let Some(key) = self.order.remove(&(start, seq)) else {
                break;
            };
            if let Some(p) = self.pending.remove(&key) {
                self.stats.timeouts += 1;
                let end = p.start.saturating_add(self.timeout_nanos);
                out.push(lookup(key, p, end, Outcome::Timeout));
            }
        }
        let idle = self.tcp.expire(now_unix_nanos, self.timeout_nanos);
        self.stats.tcp_streams_evicted += idle as u64;
        out
    }

    /// Counters and table sizes.
    pub fn stats(&self) -> DnsStats {
        DnsStats {
            pending: self.pending.len() as u64,
            tcp_streams: self.tcp.len() as u64,
            ..self.stats
        }
    }

    /// One DNS message carried by `p` (the payload itself for UDP, a reassembled message
    /// for TCP).
    fn message(&mut self, p: &DnsPacket, msg: &[u8], done: &mut Vec<Lookup>) {
        let Ok(h) = dns::header(msg) else {
            self.stats.parse_errors += 1;
            return;
        };
        match (h.is_response, p.egress) {
            (false, true) if h.opcode == 0 => self.query(p, msg, h.id),
            (true, false) if h.opcode == 0 => {
                if let Some(lookup) = self.response(p, msg, h) {
                    done.push(lookup);
                }
            }
            _ => self.stats.ignored_messages += 1,
        }
    }

    fn query(&mut self, p: &DnsPacket, msg: &[u8], id: u16) {
        let key = Key {
            id,
            client: p.src,
            resolver: p.dst,
            tcp: p.tcp,
        };
        if self.pending.contains_key(&key) {
            self.stats.duplicate_queries += 1;
            return;
        }
        let question = match dns::parse(msg).map(|m| m.questions.into_iter().next()) {
            Ok(Some(q)) => q,
            Ok(None) => {
                self.stats.ignored_messages += 1;
                return;
            }
            Err(_) => {
                self.stats.parse_errors += 1;
                return;
            }
        };
        if self.pending.len() >= self.max_pending {
            self.evict_oldest();
        }
        let order = (p.ts_unix_nanos, self.next_seq);
        self.next_seq += 1;
        self.order.insert(order, key);
        self.pending.insert(
            key,
            Pending {
                start: p.ts_unix_nanos,
                order,
                owner: p.owner.clone(),
                question,
            },
        );
        self.stats.queries += 1;
    }

    fn response(&mut self, p: &DnsPacket, msg: &[u8], h: dns::Header) -> Option<Lookup> {
        let key = Key {
            id: h.id,
            client: p.dst,
            resolver: p.src,
            tcp: p.tcp,
        };
        let Some(pending) = self.pending.remove(&key) else {
            self.stats.unmatched_responses += 1;
            return None;
        };
        self.order.remove(&pending.order);
        let outcome = match dns::parse(msg) {
            Ok(m) => Outcome::Answered {
                rcode: m.rcode,
                answers: m.answers,
                truncated: m.truncated,
            },
            Err(_) => {
                self.stats.parse_errors += 1;
                Outcome::Answered {
                    rcode: h.rcode,
                    answers: Vec::new(),
                    truncated: h.truncated,
                }
            }
        };
        self.stats.answered += 1;
        let end = p.ts_unix_nanos.max(pending.start);
        Some(lookup(key, pending, end, outcome))
    }

    fn evict_oldest(&mut self) {
        if let Some((_, key)) = self.order.pop_first() {
            if self.pending.remove(&key).is_some() {
                self.stats.pending_evicted += 1;
            }
        }
    }
}

fn lookup(key: Key, p: Pending, end: u64, outcome: Outcome) -> Lookup {
    Lookup {
        start_unix_nanos: p.start,
        end_unix_nanos: end,
        owner: p.owner,
        client: key.client,
        resolver: key.resolver,
        tcp: key.tcp,
        id: key.id,
        question: p.question,
        outcome,
    }
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
