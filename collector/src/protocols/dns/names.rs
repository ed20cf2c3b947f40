//! What an answered lookup teaches the enrichment step's name cache.

use super::packet::{Lookup, Outcome};
use super::wire::resolved_addresses;
use crate::enrich::NameCache;

/// Learning names from completed lookups.
pub trait LearnNames {
    /// Learns the addresses an answered, successful lookup gave for its question's name.
    fn learn(&mut self, lookup: &Lookup, now_unix_nanos: u64);
}

impl LearnNames for NameCache {
    fn learn(&mut self, lookup: &Lookup, now_unix_nanos: u64) {
        let Outcome::Answered { rcode, answers, .. } = &lookup.outcome else {
            return;
        };
        if rcode.is_error() {
            return;
        }
        let addresses = resolved_addresses(&lookup.question.name, answers);
        self.learn_addresses(
            lookup.owner.pid,
            &lookup.question.name,
            &addresses,
            now_unix_nanos,
        );
    }
}

#[cfg(test)]
#[path = "names_tests.rs"]
mod tests;
