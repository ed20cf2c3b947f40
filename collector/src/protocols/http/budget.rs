//! One byte budget for the HTTP tracker's state that grows with the traffic: tracked
//! connections, requests waiting for their responses, heads split over syscalls
//! (`pipeline.memory_limit`). Every piece of state holds a [`Charge`] for its bytes, given
//! back when the piece is dropped, so the sum can never drift from what is held.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes of tracker state every connection together may hold, at most.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether `bytes` more would fit now.
    pub(super) fn has_room(&self, bytes: usize) -> bool {
        self.used().saturating_add(bytes) <= self.limit
    }
}

/// `bytes` of a budget, held until dropped.
#[derive(Debug)]
pub(super) struct Charge {
    bytes: usize,
    budget: Arc<MemoryBudget>,
}

impl Charge {
    /// `bytes` of `budget`, if it has room for them.
    pub(super) fn take(budget: &Arc<MemoryBudget>, bytes: usize) -> Option<Charge> {
        budget
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes)
                    .filter(|&after| after <= budget.limit)
            })
            .ok()?;
        Some(Charge {
            bytes,
            budget: Arc::clone(budget),
        })
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_refused_past_the_limit_and_given_back_when_dropped() {
        let budget = MemoryBudget::new(100);
        let a = Charge::take(&budget, 60);
        assert!(a.is_some());
        assert!(Charge::take(&budget, 41).is_none(), "60 + 41 > 100");
        let b = Charge::take(&budget, 40);
        assert!(b.is_some());
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}
