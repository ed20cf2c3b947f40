//! The ring-buffer thread: poll, decode (with the decoder it is given), hand over, count.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use libbpf_rs::{MapHandle, RingBuffer, RingBufferBuilder};

use crate::kernel::handoff::EventSender;
use crate::supervise::{fault_injected, Guard};
use crate::telemetry::{LostReason, Part, Telemetry};

use super::BpfError;

/// How long one poll waits. Records written without a wake-up (below the wake-up
/// threshold) wait at most this long.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// How long the reader waits before retrying a hand-off the pipeline had no room for.
const BACKOFF: Duration = Duration::from_millis(1);
/// A poll that read at least this many records means traffic is steady: the reader then
/// pauses [`BUSY_PAUSE`] and reads what accumulated, without waiting for a wake-up.
const BUSY_RECORDS: u64 = 64;
/// The pause between reads while busy. At 200k records/s it turns a wake-up of the reader
/// (and of the pipeline) every ~300 records into one per ~800, at 4 ms of added latency;
/// the rings hold far more than 4 ms of records (tcp/dns/http ring_buffer_size).
const BUSY_PAUSE: Duration = Duration::from_millis(4);
/// At stop, how long the reader keeps handing over what is left in the rings.
const STOP_DRAIN: Duration = Duration::from_secs(2);

/// Events handed to the pipeline at once, at most: a poll that drains more hands them
/// over in several batches, so the pipeline starts on the first while the rest are read.
const BATCH: usize = 512;

/// Sleeps on the rings' epoll descriptor until one of them is woken or `timeout` passes,
/// reading nothing (a signal ends the wait early, as a wake-up).
fn wait_for_wakeup(epoll_fd: i32, timeout: Duration) -> libbpf_rs::Result<()> {
    let mut ready = [libc::epoll_event { events: 0, u64: 0 }; 8];
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `ready` is a live array of as many events as the length passed; the
    // descriptor is the ring buffer's own, open while `rb` lives.
    let n = unsafe { libc::epoll_wait(epoll_fd, ready.as_mut_ptr(), ready.len() as i32, ms) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(libbpf_rs::Error::from(e));
        }
    }
    Ok(())
}

/// The events decoded since the last hand-off, shared by the callbacks of every ring.
struct Batcher<E> {
    events: Vec<E>,
    tx: EventSender<E>,
    telemetry: Arc<Telemetry>,
    /// An undecodable record was logged (once per agent).
    logged: bool,
    /// Records read since the reader last looked (see [`BUSY_RECORDS`]).
    read: u64,
    /// A callback stopped the read because the pipeline's queue was full: the poll's
    /// error is that, not a failure.
    paused: bool,
}

impl<E> Batcher<E> {
    /// Hands what was decoded to the pipeline without blocking; what does not fit stays
    /// here. Whether nothing is left.
    fn flush(&mut self) -> bool {
        if let Err(lost) = self.tx.send_some(&mut self.events) {
            // The pipeline is gone (shutting down after a failure): nothing will take them.
            let lost = lost + self.events.len();
            self.telemetry
                .lost(LostReason::PipelineQueueFull, lost as u64);
            self.events.clear();
        }
        self.events.is_empty()
    }
}

/// The per-record callback: copy (decode), queue, count, return.
fn callback<E, D: std::fmt::Display>(
    decode: impl Fn(&[u8]) -> Result<E, D>,
    batcher: Rc<RefCell<Batcher<E>>>,
) -> impl FnMut(&[u8]) -> i32 {
    move |data: &[u8]| -> i32 {
        let mut b = batcher.borrow_mut();
        b.telemetry.events_received(1);
        b.read += 1;
        match decode(data) {
            Ok(ev) => {
                b.events.push(ev);
                if b.events.len() >= BATCH && !b.flush() {
                    // The pipeline's queue is full: stop reading (this record is already
                    // out of the ring, and kept); the rest wait in the ring.
                    b.paused = true;
                    return -libc::EAGAIN;
                }
            }
            Err(e) => {
                b.telemetry.lost(LostReason::Undecodable, 1);
                if !std::mem::replace(&mut b.logged, true) {
                    tracing::warn!("dropping a ring-buffer record: {e} (logged once)");
                }
            }
        }
        0
    }
}

/// Reads the rings and hands their events over until `stop` is set, or polling fails
/// (the error).
fn read_until_stopped<E>(
    rb: &RingBuffer<'_>,
    batcher: &RefCell<Batcher<E>>,
    stop: &AtomicBool,
) -> Result<(), libbpf_rs::Error> {
    let mut busy = false;
    let telemetry = Arc::clone(&batcher.borrow().telemetry);
    while !stop.load(Ordering::Relaxed) {
        telemetry.health.beat(Part::RingReader);
        if !batcher.borrow_mut().flush() {
            // The pipeline is behind: records wait in the kernel's rings (whose
            // overflow is counted there) until its queue has room.
            std::thread::sleep(BACKOFF);
            continue;
        }
        // The wait only returns early on a wake-up; records submitted without one
        // are picked up by consume() after the timeout. While traffic is steady
        // the reader does not wait for wake-ups: it pauses and reads what came.
        // The wait reads nothing itself: libbpf's poll() would drain just the
        // rings that were woken, so a connection's close (a woken TCP ring)
        // could be read before the DNS answer that named its peer, waiting
        // unwoken in the DNS ring; consume() reads every ring in order.
        let polled = if busy {
            std::thread::sleep(BUSY_PAUSE);
            rb.consume()
        } else {
            wait_for_wakeup(rb.epoll_fd(), POLL_TIMEOUT).and_then(|()| rb.consume())
        };
        let paused = {
            let mut b = batcher.borrow_mut();
            busy = std::mem::take(&mut b.read) >= BUSY_RECORDS;
            b.flush();
            std::mem::take(&mut b.paused)
        };
        let polled = match polled {
            Ok(()) if fault_injected("ring-reader") => Err(libbpf_rs::Error::from(
                std::io::Error::other("fault injected (SONDE_FAULT=ring-reader)"),
            )),
            polled => polled,
        };
        failure(polled, paused)?;
    }
    Ok(())
}

/// What a poll's result means for the reader: `paused`, a callback stopped the read
/// because the queue was full, so its error is no failure, whether or not the queue has
/// room again by now (it was taken for one when the pipeline caught up in between, and the
/// agent exited under load); an interrupted wait is none either.
fn failure(polled: libbpf_rs::Result<()>, paused: bool) -> libbpf_rs::Result<()> {
    match polled {
        Err(e) if !paused && e.kind() != libbpf_rs::ErrorKind::Interrupted => Err(e),
        _ => Ok(()),
    }
}

/// At stop, hands over what is still in the rings, for as long as the pipeline takes it
/// (at most [`STOP_DRAIN`]; what is left then is counted lost).
fn drain_at_stop<E>(rb: &RingBuffer<'_>, batcher: &RefCell<Batcher<E>>) {
    let deadline = Instant::now() + STOP_DRAIN;
    loop {
        if batcher.borrow_mut().flush() {
            let drained = rb.consume().is_ok();
            if batcher.borrow_mut().flush() && drained {
                break;
            }
        }
        if Instant::now() >= deadline {
            let mut b = batcher.borrow_mut();
            let left = b.events.len() as u64;
            b.telemetry.lost(LostReason::PipelineQueueFull, left);
            b.events.clear();
            break;
        }
        std::thread::sleep(BACKOFF);
    }
}

/// The thread that drains the ring buffer. Stops when dropped or on [`RingReader::stop`].
#[derive(Debug)]
pub struct RingReader {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RingReader {
    /// Starts the reader over one or more ring buffers: every record is decoded (`decode`) and sent
    /// on `tx` without blocking, in batches (what one poll drained, up to [`BATCH`]); a
    /// full queue or an undecodable record is counted in `telemetry`, never fatal. The
    /// thread holds `guard`: a polling error or a panic ends it, and the guard says so.
    pub fn start<E, D>(
        maps: Vec<MapHandle>,
        decode: impl Fn(&[u8]) -> Result<E, D> + Clone + Send + 'static,
        tx: EventSender<E>,
        telemetry: Arc<Telemetry>,
        mut guard: Guard,
    ) -> Result<RingReader, BpfError>
    where
        E: Send + 'static,
        D: std::fmt::Display,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        // Build the ring buffer on the thread, and report a failure to the caller.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sonde-ringbuf".into())
            .spawn(move || {
                let batcher = Rc::new(RefCell::new(Batcher {
                    events: Vec::with_capacity(BATCH),
                    tx,
                    telemetry,
                    logged: false,
                    read: 0,
                    paused: false,
                }));
                let mut builder = RingBufferBuilder::new();
                let mut added = Ok(());
                for map in &maps {
                    if let Err(e) = builder.add(map, callback(decode.clone(), Rc::clone(&batcher)))
                    {
                        added = Err(e);
                        break;
                    }
                }
                let built = added.and_then(|()| builder.build());
                let rb = match built {
                    Ok(rb) => {
                        let _ = ready_tx.send(Ok(()));
                        rb
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                // Said once, by main, with the part that ended and why.
                if let Err(e) = read_until_stopped(&rb, &batcher, &stop_flag) {
                    guard.failed(format_args!("ring buffer polling failed: {e}"));
                }
                drain_at_stop(&rb, &batcher);
                // The rings (and the callbacks' share of the batcher) go first, so the
                // sender is dropped here and the pipeline sees the queue close.
                drop(rb);
            })
            .map_err(|e| BpfError::Libbpf {
                what: "starting the ring-buffer thread".into(),
                source: libbpf_rs::Error::from(e),
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(RingReader {
                stop,
                thread: Some(thread),
            }),
            Ok(Err(source)) => Err(BpfError::Libbpf {
                what: "creating the ring buffer reader".into(),
                source,
            }),
            Err(_) => Err(BpfError::Libbpf {
                what: "creating the ring buffer reader".into(),
                source: libbpf_rs::Error::from(std::io::Error::other("reader thread died")),
            }),
        }
    }

    /// Stops polling after draining what is in the buffer, and joins the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RingReader {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: std::io::ErrorKind) -> libbpf_rs::Result<()> {
        Err(libbpf_rs::Error::from(std::io::Error::from(kind)))
    }

    #[test]
    fn a_read_stopped_for_a_full_queue_is_no_failure_even_once_the_queue_has_room() {
        // libbpf hands back the callback's -EAGAIN.
        assert!(failure(err(std::io::ErrorKind::WouldBlock), true).is_ok());
        assert!(failure(err(std::io::ErrorKind::Interrupted), false).is_ok());
        assert!(failure(Ok(()), false).is_ok());
        // The same error with no callback behind it is the ring failing.
        assert!(failure(err(std::io::ErrorKind::WouldBlock), false).is_err());
        assert!(failure(err(std::io::ErrorKind::InvalidData), false).is_err());
    }
}
