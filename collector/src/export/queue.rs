//! The bounded queue between the pipeline and one signal's sender task. Sending never
//! blocks. A request is encoded when it is sent and the queue holds only its bytes, at
//! most `capacity` requests and `max_bytes` bytes (its memory budget, then the memory
//! it really holds): past either, the oldest requests are dropped and their items counted
//! as dropped, by reason, so memory stays bounded and the freshest data wins.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::telemetry::{DropReason, Outcome, Signal, Telemetry};

use super::encoded::Encoded;
use super::retry::WarnLimiter;
use super::signal::OtlpRequest;

/// How often a full queue may say so in the log.
const DROP_WARN_INTERVAL: Duration = Duration::from_secs(30);

/// One queued request: the request, its items, its encoded size.
pub(crate) type Queued<T> = (T, u64, u64);

/// State shared by the senders of one signal and its task.
pub(crate) struct Shared<T> {
    signal: Signal,
    capacity: usize,
    max_bytes: u64,
    state: Mutex<State<T>>,
    notify: Notify,
    telemetry: Arc<Telemetry>,
    /// Items of the request the task is delivering now.
    pub in_flight: AtomicU64,
    /// Items the backend accepted, since start.
    pub sent: AtomicU64,
    /// Items failed or rejected, since start.
    pub failed: AtomicU64,
    /// The last delivery error, for the shutdown report.
    pub last_error: Mutex<Option<String>>,
}

struct State<T> {
    requests: VecDeque<Queued<T>>,
    bytes: u64,
    closed: bool,
    drop_warn: WarnLimiter,
}

/// The handle the pipeline sends one signal's requests (`R`) through. Cheap to clone.
pub struct SignalSender<R> {
    shared: Arc<Shared<Encoded<R>>>,
}

impl<R> Clone for SignalSender<R> {
    fn clone(&self) -> Self {
        SignalSender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<R: OtlpRequest> SignalSender<R> {
    /// Encodes a request holding `items` spans, data points or log records, frees it and
    /// queues its bytes. Never blocks. When the queue is over its request or byte limit
    /// the oldest queued requests are dropped and their items counted as dropped; after
    /// shutdown the request itself is.
    pub fn send(&self, request: R, items: u64) {
        let encoded = Encoded::new(&request);
        drop(request);
        let bytes = encoded.len() as u64;
        self.shared.push(encoded, items, bytes);
    }
}

impl<R> SignalSender<R> {
    /// Queues a request written straight into protobuf bytes (`bytes` must be an `R`'s
    /// encoding: [`crate::signals::LogBatch`] writes an `ExportLogsServiceRequest`);
    /// otherwise as [`SignalSender::send`].
    pub fn send_encoded(&self, bytes: Vec<u8>, items: u64) {
        let encoded = Encoded::from_encoded(bytes);
        let len = encoded.len() as u64;
        self.shared.push(encoded, items, len);
    }

    /// Requests waiting to be sent.
    pub fn queued(&self) -> usize {
        self.shared.queued()
    }

    /// Encoded bytes waiting to be sent: the memory the queue holds.
    pub fn queued_bytes(&self) -> u64 {
        self.shared.queued_bytes()
    }
}

impl<R> Shared<Encoded<R>> {
    /// A sender for this queue.
    pub fn sender(self: &Arc<Self>) -> SignalSender<R> {
        SignalSender {
            shared: Arc::clone(self),
        }
    }
}

impl<T> Shared<T> {
    /// An empty queue holding at most `capacity` requests (at least one) and `max_bytes`
    /// encoded bytes.
    pub fn new(
        signal: Signal,
        capacity: usize,
        max_bytes: u64,
        telemetry: Arc<Telemetry>,
    ) -> Arc<Self> {
        Arc::new(Shared {
            signal,
            capacity: capacity.max(1),
            max_bytes: max_bytes.max(1),
            state: Mutex::new(State {
                requests: VecDeque::with_capacity(capacity.clamp(1, 1024)),
                bytes: 0,
                closed: false,
                drop_warn: WarnLimiter::new(DROP_WARN_INTERVAL),
            }),
            notify: Notify::new(),
            telemetry,
            in_flight: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_error: Mutex::new(None),
        })
    }

    /// Requests waiting to be sent.
    pub fn queued(&self) -> usize {
        self.lock().requests.len()
    }

    /// Bytes waiting to be sent.
    pub fn queued_bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// The counters, shared with the exporter task.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// A poisoned lock only means a panic elsewhere; the queue itself is still consistent.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes the depth and size after a change.
    fn publish(&self, st: &State<T>) {
        self.telemetry
            .set_queue_depth(self.signal, st.requests.len() as u64);
        self.telemetry.set_queue_bytes(self.signal, st.bytes);
    }

    /// Queues a request of `items` items and `bytes` encoded bytes.
    pub(crate) fn push(&self, request: T, items: u64, bytes: u64) {
        self.telemetry.export_handed(self.signal, items);
        let mut dropped: Vec<(Queued<T>, DropReason)> = Vec::new();
        let warn = {
            let mut st = self.lock();
            if st.closed {
                dropped.push(((request, items, bytes), DropReason::Shutdown));
                None
            } else if bytes > self.max_bytes {
                // Alone larger than the whole budget: it can never be queued.
                dropped.push(((request, items, bytes), DropReason::MemoryBudget));
                st.drop_warn.allow()
            } else {
                while st.requests.len() >= self.capacity {
                    let Some(old) = st.requests.pop_front() else {
                        break;
                    };
                    st.bytes -= old.2;
                    dropped.push((old, DropReason::QueueFull));
                }
                while st.bytes + bytes > self.max_bytes {
                    let Some(old) = st.requests.pop_front() else {
                        break;
                    };
                    st.bytes -= old.2;
                    dropped.push((old, DropReason::MemoryBudget));
                }
                st.requests.push_back((request, items, bytes));
                st.bytes += bytes;
                self.publish(&st);
                if dropped.is_empty() {
                    None
                } else {
                    st.drop_warn.allow()
                }
            }
        };
        for ((_, old_items, _), reason) in &dropped {
            self.telemetry
                .export_dropped(self.signal, *reason, *old_items);
        }
        if let (Some(suppressed), Some((_, reason))) = (warn, dropped.first()) {
            let items: u64 = dropped.iter().map(|((_, n, _), _)| n).sum();
            tracing::warn!(
                signal = self.signal.as_str(),
                dropped_items = items,
                reason = reason.as_str(),
                earlier_drops = suppressed,
                "export queue over its limit ({} requests, {} bytes): dropped the oldest data; \
                 the backend is slower than the agent or unreachable",
                self.capacity,
                self.max_bytes
            );
        }
        drop(dropped);
        self.notify.notify_one();
    }

    /// Waits for the next request; `None` once the queue is closed and empty.
    pub async fn pop(&self) -> Option<(T, u64)> {
        loop {
            let notified = self.notify.notified();
            {
                let mut st = self.lock();
                if let Some((request, items, bytes)) = st.requests.pop_front() {
                    st.bytes -= bytes;
                    self.publish(&st);
                    return Some((request, items));
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

    /// Remembers the last delivery error, for the shutdown report.
    pub fn set_last_error(&self, error: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }

    /// The last delivery error, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Empties the queue after the task is gone, counting what was left as dropped (and the
    /// request that was being delivered as failed). Returns the items left unsent.
    pub fn drain_unsent(&self) -> u64 {
        let left: Vec<Queued<T>> = {
            let mut st = self.lock();
            st.closed = true;
            st.bytes = 0;
            let left = st.requests.drain(..).collect();
            self.publish(&st);
            left
        };
        let queued: u64 = left.iter().map(|(_, n, _)| n).sum();
        let in_flight = self.in_flight.swap(0, Ordering::Relaxed);
        self.telemetry
            .export_dropped(self.signal, DropReason::Shutdown, queued);
        self.telemetry
            .export(self.signal, Outcome::Failed, in_flight);
        self.failed.fetch_add(in_flight, Ordering::Relaxed);
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

    fn dropped(t: &Telemetry, reason: DropReason) -> u64 {
        t.snapshot().exporter.dropped[Signal::Logs as usize][reason as usize]
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn full_queue_drops_the_oldest_and_counts_its_items() {
        let t = Arc::new(Telemetry::default());
        let q = Shared::<&str>::new(Signal::Logs, 2, u64::MAX, Arc::clone(&t));
        q.push("a", 10, 1);
        q.push("b", 20, 1);
        assert_eq!(counted(&t, Outcome::Dropped), 0);
        q.push("c", 30, 1);
        assert_eq!(counted(&t, Outcome::Dropped), 10, "a's items");
        q.push("d", 40, 1);
        assert_eq!(counted(&t, Outcome::Dropped), 30, "then b's");
        assert_eq!(dropped(&t, DropReason::QueueFull), 30);
        assert_eq!(q.queued(), 2);
        let snap = t.snapshot();
        assert_eq!(snap.queue_depth[Signal::Logs as usize], 2);
        assert_eq!(snap.exporter.handed[Signal::Logs as usize], 100);

        assert_eq!(block_on(q.pop()), Some(("c", 30)));
        assert_eq!(t.snapshot().queue_depth[Signal::Logs as usize], 1);
        assert_eq!(block_on(q.pop()), Some(("d", 40)));
    }

    #[test]
    fn byte_budget_drops_the_oldest_until_the_new_request_fits() {
        let t = Arc::new(Telemetry::default());
        let q = Shared::<&str>::new(Signal::Logs, 100, 1000, Arc::clone(&t));
        q.push("a", 1, 400);
        q.push("b", 2, 400);
        assert_eq!(q.queued_bytes(), 800);
        assert_eq!(
            t.snapshot().exporter.queue_bytes[Signal::Logs as usize],
            800
        );
        q.push("c", 4, 500);
        assert_eq!(dropped(&t, DropReason::MemoryBudget), 1, "a went, b stays");
        assert_eq!(q.queued_bytes(), 900);
        q.push("huge", 8, 1001);
        assert_eq!(
            dropped(&t, DropReason::MemoryBudget),
            9,
            "larger than the budget: dropped alone"
        );
        assert_eq!(q.queued(), 2);
        assert_eq!(block_on(q.pop()), Some(("b", 2)));
        assert_eq!(
            t.snapshot().exporter.queue_bytes[Signal::Logs as usize],
            500
        );
    }

    #[test]
    fn sender_queues_the_encoded_request_and_counts_its_bytes() {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
        use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
        let t = Arc::new(Telemetry::default());
        let q = Shared::new(Signal::Logs, 4, 1 << 20, Arc::clone(&t));
        let req = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord::default(); 3],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let want = prost::Message::encode_to_vec(&req);
        q.sender().send(req, 3);
        assert_eq!(q.queued_bytes(), want.len() as u64);
        let (encoded, items) = block_on(q.pop()).unwrap();
        assert_eq!((encoded.bytes().as_ref(), items), (want.as_slice(), 3));
    }

    #[test]
    fn closed_queue_drains_then_ends_and_refuses_new_requests() {
        let t = Arc::new(Telemetry::default());
        let q = Shared::<u8>::new(Signal::Logs, 4, u64::MAX, Arc::clone(&t));
        q.push(1, 5, 1);
        q.close();
        q.push(2, 7, 1);
        assert_eq!(counted(&t, Outcome::Dropped), 7);
        assert_eq!(dropped(&t, DropReason::Shutdown), 7);
        assert_eq!(block_on(q.pop()), Some((1, 5)));
        assert_eq!(block_on(q.pop()), None);
    }

    #[test]
    fn drain_counts_queued_as_dropped_and_in_flight_as_failed() {
        let t = Arc::new(Telemetry::default());
        let q = Shared::<u8>::new(Signal::Logs, 4, u64::MAX, Arc::clone(&t));
        q.push(1, 5, 10);
        q.push(2, 6, 10);
        q.in_flight.store(3, Ordering::Relaxed);
        assert_eq!(q.drain_unsent(), 14);
        assert_eq!(counted(&t, Outcome::Dropped), 11);
        assert_eq!(dropped(&t, DropReason::Shutdown), 11);
        assert_eq!(counted(&t, Outcome::Failed), 3);
        let snap = t.snapshot();
        assert_eq!(snap.queue_depth[Signal::Logs as usize], 0);
        assert_eq!(snap.exporter.queue_bytes[Signal::Logs as usize], 0);
    }

    #[tokio::test]
    async fn pop_wakes_on_send_from_another_thread() {
        let t = Arc::new(Telemetry::default());
        let q = Shared::<u32>::new(Signal::Logs, 4, u64::MAX, t);
        let producer = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                q.push(9, 1, 1);
            })
        };
        let got = tokio::time::timeout(Duration::from_secs(5), q.pop()).await;
        assert_eq!(got.unwrap(), Some((9, 1)));
        producer.join().unwrap();
    }
}
