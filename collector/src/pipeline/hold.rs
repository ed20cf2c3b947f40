//! Events waiting for their process to be read.
//!
//! The first events of a process the agent has not read yet wait, in order and per pid,
//! while a reader thread reads `/proc/<pid>` (a fraction of a millisecond, usually);
//! every other process's events go on. A process whose read is late (its memory map is
//! locked) has its events go out after [`WAIT`], named by what the kernel recorded; so do
//! those that find the hold full. Both are counted
//! (`sonde.agent.process.metadata_late`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::decode::Owner;
use crate::protocols::KernelEvent;

/// The longest an event waits for its process's read.
pub const WAIT: Duration = Duration::from_millis(500);
/// Events held at most, all processes together (a data record is up to ~4 KiB).
pub const MAX_EVENTS: usize = 8192;

/// One process's events, oldest first.
#[derive(Debug)]
struct Queue {
    since: Instant,
    events: VecDeque<KernelEvent>,
}

/// The held events, by pid.
#[derive(Debug, Default)]
pub struct Held {
    queues: FxHashMap<u32, Queue>,
    events: usize,
}

impl Held {
    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// Whether events of `pid` wait (a later one waits behind them).
    pub fn holds(&self, pid: u32) -> bool {
        self.queues.contains_key(&pid)
    }

    /// Events waiting, all processes together.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.events
    }

    /// Holds `ev` behind `pid`'s others; gives it back when the hold is full.
    pub fn push(&mut self, pid: u32, ev: KernelEvent, now: Instant) -> Result<(), KernelEvent> {
        if self.events >= MAX_EVENTS {
            return Err(ev);
        }
        self.queue(pid, now).push_back(ev);
        self.events += 1;
        Ok(())
    }

    /// `pid`'s queue, made (waiting since `now`) if it has none.
    fn queue(&mut self, pid: u32, now: Instant) -> &mut VecDeque<KernelEvent> {
        &mut self
            .queues
            .entry(pid)
            .or_insert_with(|| Queue {
                since: now,
                events: VecDeque::new(),
            })
            .events
    }

    /// `pid`'s first waiting event's owner.
    pub fn head_owner(&self, pid: u32) -> Option<Owner> {
        let queue = self.queues.get(&pid)?;
        queue
            .events
            .iter()
            .find_map(|ev| ev.owner().map(|o| o.into_owned()))
    }

    /// Takes `pid`'s first waiting event.
    pub fn pop(&mut self, pid: u32) -> Option<KernelEvent> {
        let queue = self.queues.get_mut(&pid)?;
        let ev = queue.events.pop_front();
        if ev.is_some() {
            self.events -= 1;
        }
        if queue.events.is_empty() {
            self.queues.remove(&pid);
        }
        ev
    }

    /// Puts `ev` back at the head of `pid`'s queue (it must wait again).
    pub fn unpop(&mut self, pid: u32, ev: KernelEvent, now: Instant) {
        self.queue(pid, now).push_front(ev);
        self.events += 1;
    }

    /// The pids whose events have waited [`WAIT`] or longer.
    pub fn overdue(&self, now: Instant) -> Vec<u32> {
        self.queues
            .iter()
            .filter(|(_, q)| now.saturating_duration_since(q.since) >= WAIT)
            .map(|(pid, _)| *pid)
            .collect()
    }

    /// Every pid with events waiting.
    pub fn pids(&self) -> Vec<u32> {
        self.queues.keys().copied().collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn exit(pid: u32) -> KernelEvent {
        KernelEvent::ProcExit {
            pid,
            start: 1,
            comm: "x".into(),
        }
    }

    #[test]
    fn events_wait_in_order_per_pid_and_are_bounded() {
        let mut held = Held::default();
        let t0 = Instant::now();
        held.push(7, exit(7), t0).unwrap();
        held.push(8, exit(8), t0 + Duration::from_millis(300))
            .unwrap();
        held.push(7, exit(70), t0 + Duration::from_millis(400))
            .unwrap();
        assert_eq!(held.len(), 3);
        assert!(held.holds(7) && held.holds(8) && !held.holds(9));
        // Overdue by the first event's wait, not the last's.
        assert_eq!(held.overdue(t0 + WAIT), vec![7]);
        assert_eq!(held.pop(7).map(|e| e.pid()), Some(7));
        let second = held.pop(7).unwrap();
        assert_eq!(second.pid(), 70);
        held.unpop(7, second, t0);
        assert_eq!(held.pop(7).map(|e| e.pid()), Some(70));
        assert!(!held.holds(7));
        assert_eq!(held.pop(7), None);
        assert_eq!(held.len(), 1);

        for i in 1..MAX_EVENTS {
            held.push(i as u32, exit(1), t0).unwrap();
        }
        assert!(held.push(1, exit(1), t0).is_err(), "full");
    }
}
