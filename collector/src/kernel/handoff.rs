//! The hand-off from the ring-buffer thread to the pipeline: decoded events travel in
//! batches (one channel message and at most one wake-up of the pipeline per batch, not per
//! event), and the queue is bounded by the number of events in it, not of batches. What
//! does not fit stays with the sender, which stops reading the kernel's rings until it
//! does: a backlog waits in the rings (sized for it, and counted when one fills), not in
//! agent memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

/// A queue holding at most `capacity` events (at least one batch always fits).
pub fn channel<E>(capacity: usize) -> (EventSender<E>, EventReceiver<E>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        EventSender {
            tx,
            queued: Arc::clone(&queued),
            capacity: capacity.max(1),
        },
        EventReceiver { rx, queued },
    )
}

/// The ring-buffer side: one sender (the bound relies on it), so not `Clone`.
#[derive(Debug)]
pub struct EventSender<E> {
    tx: mpsc::UnboundedSender<Vec<E>>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
}

impl<E> EventSender<E> {
    /// Queues as many of `events` as there is room for, oldest first, taking them out of
    /// `events`: what is left did not fit. `Err(n)` when the pipeline is gone: `n` events
    /// were taken out and are lost (the rest stay).
    pub fn send_some(&self, events: &mut Vec<E>) -> Result<(), usize> {
        // Only the sender adds; the pipeline only takes away, so the room can only grow
        // between this read and the add below.
        let room = self
            .capacity
            .saturating_sub(self.queued.load(Ordering::Acquire));
        let n = room.min(events.len());
        if n == 0 {
            return Ok(());
        }
        let batch = if n == events.len() {
            std::mem::replace(events, Vec::with_capacity(events.capacity()))
        } else {
            events.drain(..n).collect()
        };
        self.queued.fetch_add(n, Ordering::AcqRel);
        self.tx.send(batch).map_err(|_| {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            n
        })
    }
}

/// The pipeline side.
#[derive(Debug)]
pub struct EventReceiver<E> {
    rx: mpsc::UnboundedReceiver<Vec<E>>,
    queued: Arc<AtomicUsize>,
}

impl<E> EventReceiver<E> {
    /// The next batch, oldest first; `None` once every sender is gone and the queue is
    /// empty.
    pub async fn recv(&mut self) -> Option<Vec<E>> {
        let batch = self.rx.recv().await?;
        self.queued.fetch_sub(batch.len(), Ordering::AcqRel);
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(n: u32) -> Vec<u32> {
        (0..n).collect()
    }

    #[tokio::test]
    async fn the_bound_is_on_events_and_what_does_not_fit_stays_with_the_sender() {
        let (tx, mut rx) = channel(5);
        let mut first = events(3);
        assert_eq!(tx.send_some(&mut first), Ok(()));
        assert!(first.is_empty());
        // Two of four fit, the oldest two; the newest two stay.
        let mut second = events(4);
        assert_eq!(tx.send_some(&mut second), Ok(()));
        assert_eq!(second, vec![2, 3]);
        assert_eq!(tx.send_some(&mut second), Ok(()));
        assert_eq!(second.len(), 2, "full: nothing moves");
        assert_eq!(rx.recv().await.map(|b| b.len()), Some(3));
        assert_eq!(rx.recv().await, Some(vec![0, 1]));
        // Taken out: room again, and order is kept.
        assert_eq!(tx.send_some(&mut second), Ok(()));
        assert!(second.is_empty());
        drop(tx);
        assert_eq!(rx.recv().await, Some(vec![2, 3]));
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn events_sent_to_a_gone_pipeline_are_counted_as_lost() {
        let (tx, rx) = channel(8);
        drop(rx);
        let mut batch = events(3);
        assert_eq!(tx.send_some(&mut batch), Err(3));
        assert_eq!(tx.send_some(&mut Vec::new()), Ok(()));
    }
}
