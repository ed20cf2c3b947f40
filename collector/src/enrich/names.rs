//! IP → name, learned from answered lookups (`protocols::dns` teaches it), per process and
//! host-wide.
//!
//! Every address reachable from a lookup's question name through the answers' CNAME chain
//! maps to the QUESTION name (what the application asked for, not the CDN's canonical
//! name). An entry lives for the answer's TTL, clamped to 5 s .. 1 h, and the cache is
//! bounded: when full it first drops expired entries (at most once a second), then the
//! least recently learned.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;

/// Shortest time a learned name is kept, whatever the TTL says.
const MIN_TTL_SECS: u64 = 5;
/// Longest time a learned name is kept, whatever the TTL says.
const MAX_TTL_SECS: u64 = 3600;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Remembers which name each IP address was resolved from. See the module docs.
#[derive(Debug)]
pub struct NameCache {
    /// The most recent name any process resolved to each IP.
    pub(crate) any: TtlMap<IpAddr>,
    /// The most recent name each process resolved to each IP.
    pub(crate) by_pid: TtlMap<(u32, IpAddr)>,
}

impl NameCache {
    /// A cache of at most `capacity` (at least 1) addresses, and as many (process,
    /// address) pairs.
    pub fn new(capacity: usize) -> Self {
        Self {
            any: TtlMap::new(capacity),
            by_pid: TtlMap::new(capacity),
        }
    }

    /// Learns that process `pid` (0: unknown) resolved `name` to each of `addresses`
    /// (address, TTL in seconds), at `now_unix_nanos`.
    pub fn learn_addresses(
        &mut self,
        pid: u32,
        name: &str,
        addresses: &[(IpAddr, u32)],
        now_unix_nanos: u64,
    ) {
        if addresses.is_empty() {
            return;
        }
        let name: Arc<str> = Arc::from(name);
        for &(ip, ttl) in addresses {
            let secs = u64::from(ttl).clamp(MIN_TTL_SECS, MAX_TTL_SECS);
            let expires = now_unix_nanos.saturating_add(secs * NANOS_PER_SEC);
            self.any
                .insert(ip, Arc::clone(&name), expires, now_unix_nanos);
            if pid != 0 {
                self.by_pid
                    .insert((pid, ip), Arc::clone(&name), expires, now_unix_nanos);
            }
        }
    }

    /// The name process `pid` resolved to `ip`, if it did and the entry is fresh; else the
    /// name any process most recently resolved to it.
    pub fn name_for(&self, pid: u32, ip: IpAddr, now_unix_nanos: u64) -> Option<&str> {
        let own = if pid != 0 {
            self.by_pid.get(&(pid, ip), now_unix_nanos)
        } else {
            None
        };
        own.or_else(|| self.any.get(&ip, now_unix_nanos))
    }

    /// Addresses held (fresh or not yet dropped).
    pub fn len(&self) -> usize {
        self.any.map.len()
    }

    /// Nothing learned, or everything dropped.
    pub fn is_empty(&self) -> bool {
        self.any.map.is_empty()
    }

    /// Entries dropped before they expired because the cache was full.
    pub fn evicted(&self) -> u64 {
        self.any.evicted + self.by_pid.evicted
    }
}

#[derive(Debug)]
struct Entry {
    name: Arc<str>,
    expires: u64,
    /// The insertion this entry's value came from; older `order` items for it are stale.
    seq: u64,
}

/// A bounded map whose entries expire, evicting the least recently inserted when full.
#[derive(Debug)]
pub(crate) struct TtlMap<K> {
    map: HashMap<K, Entry>,
    /// Insertions, oldest first; an item is live while its key's entry has its `seq`.
    pub(crate) order: VecDeque<(u64, K)>,
    next_seq: u64,
    capacity: usize,
    last_purge: Option<u64>,
    evicted: u64,
}

impl<K: Hash + Eq + Copy> TtlMap<K> {
    fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            capacity: capacity.max(1),
            last_purge: None,
            evicted: 0,
        }
    }

    fn get(&self, key: &K, now: u64) -> Option<&str> {
        self.map
            .get(key)
            .filter(|e| e.expires > now)
            .map(|e| &*e.name)
    }

    fn insert(&mut self, key: K, name: Arc<str>, expires: u64, now: u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if !self.map.contains_key(&key) && self.map.len() >= self.capacity {
            self.make_room(now);
        }
        self.map.insert(key, Entry { name, expires, seq });
        self.order.push_back((seq, key));
        // Stale items (keys learned again since) are dropped once they outnumber the live
        // ones: the queue stays within twice the entries held, at O(1) amortized per insert.
        // (Bounded by the capacity instead, a host that asks for the same few names 10k
        // times a second kept 2 x 65,536 stale items per map: 17 MB of the agent's heap.)
        if self.order.len() > 2 * self.map.len() + 16 {
            let map = &self.map;
            self.order
                .retain(|(seq, key)| map.get(key).is_some_and(|e| e.seq == *seq));
        }
    }

    fn make_room(&mut self, now: u64) {
        let due = self
            .last_purge
            .is_none_or(|t| now >= t.saturating_add(NANOS_PER_SEC));
        if due {
            self.map.retain(|_, e| e.expires > now);
            self.last_purge = Some(now);
        }
        while self.map.len() >= self.capacity {
            let Some((seq, key)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&key).is_some_and(|e| e.seq == seq) {
                self.map.remove(&key);
                self.evicted += 1;
            }
        }
    }
}
