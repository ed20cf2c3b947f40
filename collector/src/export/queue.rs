//! The bounded queue between the pipeline and one signal's sender task. Sending never
//! blocks: when the queue is full the oldest request is dropped and its items counted as
//! [`Outcome::Dropped`], so memory stays bounded and the freshest data wins.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::telemetry::{Outcome, Signal, Telemetry};

use super::retry::WarnLimiter;

/// How often a full queue may say so in the log.
const DROP_WARN_INTERVAL: Duration = Duration::from_secs(30);

/// State shared by the senders of one signal and its task.
pub(crate) struct Shared<T> {
    signal: Signal,
    capacity: usize,
    state: Mutex<State<T>>,
    notify: Notify,
    telemetry: Arc<Telemetry>,
    /// Items of the request the task is delivering now.
    pub in_flight: AtomicU64,
    /// Items the backend accepted, since start.
    pub sent: AtomicU64,
    /// Items failed or rejected, since start.
    pub failed: AtomicU64,
}

struct State<T> {
    requests: VecDeque<(T, u64)>,
    closed: bool,
    drop_warn: WarnLimiter,
}

/// The handle the pipeline sends one signal's requests through. Cheap to clone.
pub struct SignalSender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for SignalSender<T> {
    fn clone(&self) -> Self {
        SignalSender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> SignalSender<T> {
    /// Queues a request holding `items` spans, data points or log records. Never blocks.
    /// When the queue is full the oldest queued request is dropped and its items counted as
    /// dropped; after shutdown the request itself is dropped and counted.
    pub fn send(&self, request: T, items: u64) {
        self.shared.push(request, items);
    }

    /// Requests waiting to be sent.
    pub fn queued(&self) -> usize {
        self.shared.lock().requests.len()
    }
}

impl<T> Shared<T> {
    /// An empty queue holding at most `capacity` requests (at least one).
    pub fn new(signal: Signal, capacity: usize, telemetry: Arc<Telemetry>) -> Arc<Self> {
        Arc::new(Shared {
            signal,
            capacity: capacity.max(1),
            state: Mutex::new(State {
                requests: VecDeque::with_capacity(capacity.clamp(1, 1024)),
                closed: false,
                drop_warn: WarnLimiter::new(DROP_WARN_INTERVAL),
            }),
            notify: Notify::new(),
            telemetry,
            in_flight: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        })
    }

    /// A sender for this queue.
    pub fn sender(self: &Arc<Self>) -> SignalSender<T> {
        SignalSender {
            shared: Arc::clone(self),
        }
    }

    /// The counters, shared with the exporter task.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// A poisoned lock only means a panic elsewhere; the queue itself is still consistent.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, request: T, items: u64) {
        let (evicted, depth, warn) = {
            let mut st = self.lock();
            if st.closed {
                drop(st);
                self.telemetry.export(self.signal, Outcome::Dropped, items);
                return;
            }
            let evicted = if st.requests.len() >= self.capacity {
                st.requests.pop_front()
            } else {
                None
            };
            st.requests.push_back((request, items));
            let warn = evicted.as_ref().and_then(|_| st.drop_warn.allow());
            (evicted, st.requests.len(), warn)
        };
        self.telemetry.set_queue_depth(self.signal, depth as u64);
        if let Some((old, old_items)) = evicted {
            drop(old);
            self.telemetry
                .export(self.signal, Outcome::Dropped, old_items);
            if let Some(suppressed) = warn {
                tracing::warn!(
                    signal = self.signal.as_str(),
                    dropped_items = old_items,
                    earlier_drops = suppressed,
                    "export queue full ({} requests): dropped the oldest request; the backend \
                     is slower than the agent or unreachable",
                    self.capacity
                );
            }
        }
        self.notify.notify_one();
    }

    /// Waits for the next request; `None` once the queue is closed and empty.
    pub async fn pop(&self) -> Option<(T, u64)> {
        loop {
            let notified = self.notify.notified();
            {
                let mut st = self.lock();
                if let Some(next) = st.requests.pop_front() {
                    let depth = st.requests.len();
                    drop(st);
                    self.telemetry.set_queue_depth(self.signal, depth as u64);
                    return Some(next);
                }
                if st.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Accepts no more requests; the task drains what is queued and stops.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_one();
    }

    /// Empties the queue after the task is gone, counting what was left as dropped (and the
    /// request that was being delivered as failed). Returns the items left unsent.
    pub fn drain_unsent(&self) -> u64 {
        let left: Vec<(T, u64)> = {
            let mut st = self.lock();
            st.closed = true;
            st.requests.drain(..).collect()
        };
        let queued: u64 = left.iter().map(|(_, n)| n).sum();
        let in_flight = self.in_flight.swap(0, Ordering::Relaxed);
        self.telemetry.export(self.signal, Outcome::Dropped, queued);
        self.telemetry
            .export(self.signal, Outcome::Failed, in_flight);
        self.failed.fetch_add(in_flight, Ordering::Relaxed);
        self.telemetry.set_queue_depth(self.signal, 0);
        queued + in_flight
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn counted(t: &Telemetry, outcome: Outcome) -> u64 {
        t.snapshot().export[Signal::Logs as usize][outcome as usize]
    }

    #[test]
    fn full_queue_drops_the_oldest_and_counts_its_items() {
        let t = Arc::new(Telemetry::default());
        let q = Shared::<&str>::new(Signal::Logs, 2, Arc::clone(&t));
        let s = q.sender();
        s.send("a", 10);
        s.send("b", 20);
        assert_eq!(counted(&t, Outcome::Dropped), 0);
        s.send("c", 30);
        assert_eq!(counted(&t, Outcome::Dropped), 10, "a's items");
        s.send("d", 40);
        assert_eq!(counted(&t, Outcome::Dropped), 30, "then b's");
        assert_eq!(s.queued(), 2);
        assert_eq!(t.snapshot().queue_depth[Signal::Logs as usize], 2);

        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(q.pop()), Some(("c", 30)));
        assert_eq!(t.snapshot().queue_depth[Signal::Logs as usize], 1);
        assert_eq!(rt.block_on(q.pop()), Some(("d", 40)));
    }

    #[test]
    fn closed_queue_drains_then_ends_and_refuses_new_requests() {
        let t = Arc::new(Telemetry::default());
        let q = Shared::<u8>::new(Signal::Logs, 4, Arc::clone(&t));
        let s = q.sender();
        s.send(1, 5);
        q.close();
        s.send(2, 7);
        assert_eq!(counted(&t, Outcome::Dropped), 7);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(q.pop()), Some((1, 5)));
        assert_eq!(rt.block_on(q.pop()), None);
    }

    #[test]
    fn drain_counts_queued_as_dropped_and_in_flight_as_failed() {
        let t = Arc::new(Telemetry::default());
        let q = Shared::<u8>::new(Signal::Logs, 4, Arc::clone(&t));
        q.sender().send(1, 5);
        q.sender().send(2, 6);
        q.in_flight.store(3, Ordering::Relaxed);
        assert_eq!(q.drain_unsent(), 14);
        assert_eq!(counted(&t, Outcome::Dropped), 11);
        assert_eq!(counted(&t, Outcome::Failed), 3);
        assert_eq!(t.snapshot().queue_depth[Signal::Logs as usize], 0);
    }

    #[tokio::test]
    async fn pop_wakes_on_send_from_another_thread() {
        let t = Arc::new(Telemetry::default());
        let q = Shared::<u32>::new(Signal::Logs, 4, t);
        let s = q.sender();
        let producer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            s.send(9, 1);
        });
        let got = tokio::time::timeout(Duration::from_secs(5), q.pop()).await;
        assert_eq!(got.unwrap(), Some((9, 1)));
        producer.join().unwrap();
    }
}
