//! The table of tracked connections: created by the first request seen on a socket,
//! dropped on close, after the idle timeout, or least recently active first when full.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rustc_hash::FxHashMap;

use super::budget::{Charge, MemoryBudget};
use super::connection::{Connection, PENDING_ROOM};
use super::{Exchange, HttpSegment, HttpStats, Role};
use crate::protocols::http::wire::check_request;

/// Spare table slots tolerated before [`HttpTracker::expire`] gives memory back (a table
/// this size costs well under a MiB).
pub(super) const SHRINK_SLACK: usize = 1024;

#[derive(Debug)]
struct Entry {
    /// Boxed: the table's slots stay small (a table grown to 65,536 connections has
    /// 131,072 slots, and holds the old ones while it grows).
    conn: Box<Connection>,
    /// Its [`CONNECTION_BYTES`], held against the budget.
    _charge: Charge,
    /// The latest segment timestamp seen on it.
    last_seen: u64,
    /// Its key in `HttpTracker::idle` is `(indexed, seq)`: `last_seen` as of when the key
    /// was written. Segments only move `last_seen`; the key catches up when it reaches the
    /// front of the index (so the hot path touches no tree).
    indexed: u64,
    seq: u64,
}

/// The tracker's state, every connection together, at most, unless set
/// (`pipeline.memory_limit`'s default).
pub const DEFAULT_MEMORY_BUDGET: usize = 16 << 20;

/// What a tracked connection holds with no split head or waiting request: its state, and
/// its slots in the table and in the idle index, twice each (a hash table is at most 7/8
/// full and doubles as it grows; a B-tree's nodes are at least half full).
pub(super) const CONNECTION_BYTES: usize = std::mem::size_of::<Connection>()
    + 2 * (std::mem::size_of::<(u64, Entry)>() + std::mem::size_of::<((u64, u64), u64)>());

/// Pairs the HTTP/1 requests and responses of captured syscalls into [`Exchange`]s.
/// Bounded: at most `max_connections` connections, each with at most 64 waiting requests
/// and 8 KiB of buffered head per direction, and all of that together within one
/// [`MemoryBudget`]: a new connection the budget has no room for evicts the least recently
/// active ones (as when the table is full) until it has.
#[derive(Debug)]
pub struct HttpTracker {
    max_connections: usize,
    idle_nanos: u64,
    conns: FxHashMap<u64, Entry>,
    /// (last seen as indexed, sequence) → cookie: least recently active first once the
    /// stale keys at its front are moved up.
    idle: BTreeMap<(u64, u64), u64>,
    next_seq: u64,
    stats: HttpStats,
    budget: Arc<MemoryBudget>,
}

impl HttpTracker {
    /// A tracker of at most `max_connections` (at least 1) connections, each dropped after
    /// `idle_timeout` without a segment (its waiting requests come out unanswered, so the
    /// timeout should exceed the slowest response expected).
    pub fn new(max_connections: usize, idle_timeout: Duration) -> Self {
        Self {
            max_connections: max_connections.max(1),
            idle_nanos: u64::try_from(idle_timeout.as_nanos()).unwrap_or(u64::MAX),
            conns: FxHashMap::default(),
            idle: BTreeMap::new(),
            next_seq: 0,
            stats: HttpStats::default(),
            budget: MemoryBudget::new(DEFAULT_MEMORY_BUDGET),
        }
    }

    /// Holds the tracker's state (connections, waiting requests, split heads), every
    /// connection together, to `limit` bytes.
    pub fn with_memory_budget(mut self, limit: usize) -> Self {
        self.budget = MemoryBudget::new(limit);
        self
    }

    /// Bytes of the budget held now, every connection together.
    pub fn memory_used(&self) -> usize {
        self.budget.used()
    }

    /// One captured syscall; returns the exchanges it completed (and those of a
    /// connection evicted to make room).
    pub fn segment(&mut self, s: HttpSegment) -> Vec<Exchange> {
        self.stats.segments += 1;
        if s.len > s.data.len() as u64 {
            self.stats.truncated_captures += 1;
        }
        let mut out = Vec::new();
        if s.gap {
            if let Some(e) = self.remove(s.cookie) {
                self.stats.gaps += 1;
                e.conn.close(e.last_seen, &mut self.stats, &mut out);
            }
        }
        if !self.conns.contains_key(&s.cookie) {
            // The side that writes the first request is the client.
            if !check_request(&s.data) {
                self.stats.ignored_segments += 1;
                return out;
            }
            if self.conns.len() >= self.max_connections {
                self.evict_oldest(s.ts_unix_nanos, &mut out);
            }
            let Some(charge) = self.charge_connection(s.ts_unix_nanos, &mut out) else {
                self.stats.budget_connections += 1;
                return out;
            };
            let role = if s.egress { Role::Client } else { Role::Server };
            let seq = self.next_seq;
            self.next_seq += 1;
            self.idle.insert((s.ts_unix_nanos, seq), s.cookie);
            let entry = Entry {
                conn: Box::new(Connection::new(s.cookie, role, &self.budget)),
                _charge: charge,
                last_seen: s.ts_unix_nanos,
                indexed: s.ts_unix_nanos,
                seq,
            };
            self.conns.insert(s.cookie, entry);
        }
        let Some(e) = self.conns.get_mut(&s.cookie) else {
            return out;
        };
        e.last_seen = e.last_seen.max(s.ts_unix_nanos);
        e.conn.segment(&s, &mut self.stats, &mut out);
        out
    }

    /// The socket closed at `now_unix_nanos`: its open response ends, and its waiting
    /// requests come out without a response.
    pub fn close(&mut self, cookie: u64, now_unix_nanos: u64) -> Vec<Exchange> {
        let mut out = Vec::new();
        if let Some(e) = self.remove(cookie) {
            self.stats.closed_connections += 1;
            e.conn.close(now_unix_nanos, &mut self.stats, &mut out);
        }
        out
    }

    /// Drops the connections idle for the timeout as of `now_unix_nanos`, as if closed.
    pub fn expire(&mut self, now_unix_nanos: u64) -> Vec<Exchange> {
        let mut out = Vec::new();
        while let Some(oldest) = self.idle.first_entry() {
            if oldest.key().0.saturating_add(self.idle_nanos) > now_unix_nanos {
                break;
            }
            let cookie = oldest.remove();
            if let Some(e) = self.take_if_current(cookie) {
                self.stats.expired_connections += 1;
                e.conn.close(now_unix_nanos, &mut self.stats, &mut out);
            }
        }
        // A burst of connections grows the table; it does not shrink by itself.
        if self.conns.capacity() > 4 * self.conns.len() + SHRINK_SLACK {
            self.conns.shrink_to(2 * self.conns.len());
        }
        out
    }

    /// Counters and table sizes.
    pub fn stats(&self) -> HttpStats {
        HttpStats {
            connections: self.conns.len() as u64,
            pending_requests: self.conns.values().map(|e| e.conn.pending() as u64).sum(),
            ..self.stats
        }
    }

    /// Slots of the connection table (for tests of its memory).
    #[cfg(test)]
    pub(super) fn table_capacity(&self) -> usize {
        self.conns.capacity()
    }

    /// Bytes buffered for incomplete heads, over all connections (for tests of bounds).
    #[cfg(test)]
    pub(super) fn buffered(&self) -> usize {
        self.conns.values().map(|e| e.conn.buffered()).sum()
    }

    fn remove(&mut self, cookie: u64) -> Option<Entry> {
        let e = self.conns.remove(&cookie)?;
        self.idle.remove(&(e.indexed, e.seq));
        Some(e)
    }

    /// The connection whose index key was just taken off the front: removed if the key
    /// was current (nothing seen on it since), else re-indexed at its last activity and
    /// `None`.
    fn take_if_current(&mut self, cookie: u64) -> Option<Entry> {
        let e = self.conns.get_mut(&cookie)?;
        if e.last_seen > e.indexed {
            e.indexed = e.last_seen;
            self.idle.insert((e.indexed, e.seq), cookie);
            return None;
        }
        self.conns.remove(&cookie)
    }

    /// Room for one more connection in the budget, and for the request it starts with,
    /// made by evicting the least recently active ones if need be; `None` if even an
    /// empty table has none.
    fn charge_connection(&mut self, now: u64, out: &mut Vec<Exchange>) -> Option<Charge> {
        while !self.budget.has_room(CONNECTION_BYTES + PENDING_ROOM) {
            if !self.evict_oldest(now, out) {
                break;
            }
        }
        Charge::take(&self.budget, CONNECTION_BYTES)
    }

    /// Evicts the least recently active connection; whether there was one.
    fn evict_oldest(&mut self, now: u64, out: &mut Vec<Exchange>) -> bool {
        while let Some((_, cookie)) = self.idle.pop_first() {
            if let Some(e) = self.take_if_current(cookie) {
                self.stats.evicted_connections += 1;
                e.conn.close(now, &mut self.stats, out);
                return true;
            }
        }
        false
    }
}
