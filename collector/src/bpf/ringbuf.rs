//! The ring-buffer thread: poll, decode, hand over, count.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use libbpf_rs::{MapHandle, RingBufferBuilder};
use tokio::sync::mpsc;

use crate::decode::{decode, Clock, KernelEvent};
use crate::telemetry::{LostReason, Telemetry};

use super::BpfError;

/// How long one poll waits. Records written without a wake-up (below the wake-up
/// threshold) wait at most this long.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// The per-record callback: copy (decode), hand over without blocking, count, return.
fn callback(
    clock: Clock,
    tx: mpsc::Sender<KernelEvent>,
    telemetry: Arc<Telemetry>,
    logged: Arc<AtomicBool>,
) -> impl FnMut(&[u8]) -> i32 {
    move |data: &[u8]| -> i32 {
        telemetry.events_received(1);
        match decode(data, &clock) {
            Ok(ev) => {
                if tx.try_send(ev).is_err() {
                    telemetry.lost(LostReason::PipelineQueueFull, 1);
                }
            }
            Err(e) => {
                telemetry.lost(LostReason::Undecodable, 1);
                if !logged.swap(true, Ordering::Relaxed) {
                    tracing::warn!("dropping a ring-buffer record: {e} (logged once)");
                }
            }
        }
        0
    }
}

/// The thread that drains the ring buffer. Stops when dropped or on [`RingReader::stop`].
#[derive(Debug)]
pub struct RingReader {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RingReader {
    /// Starts the reader over one or more ring buffers: every record is decoded and sent
    /// on `tx` without blocking; a full channel or an undecodable record is counted in
    /// `telemetry`, never fatal.
    pub fn start(
        maps: Vec<MapHandle>,
        clock: Clock,
        tx: mpsc::Sender<KernelEvent>,
        telemetry: Arc<Telemetry>,
    ) -> Result<RingReader, BpfError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        // Build the ring buffer on the thread, and report a failure to the caller.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sonde-ringbuf".into())
            .spawn(move || {
                let logged = Arc::new(AtomicBool::new(false));
                let mut builder = RingBufferBuilder::new();
                let mut added = Ok(());
                for map in &maps {
                    let cb = callback(
                        clock,
                        tx.clone(),
                        Arc::clone(&telemetry),
                        Arc::clone(&logged),
                    );
                    if let Err(e) = builder.add(map, cb) {
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
                drop(tx);
                while !stop_flag.load(Ordering::Relaxed) {
                    // poll() only returns early on a wake-up; records submitted without one
                    // are picked up by consume() after the timeout.
                    if let Err(e) = rb.poll(POLL_TIMEOUT).and_then(|()| rb.consume()) {
                        if e.kind() != libbpf_rs::ErrorKind::Interrupted {
                            tracing::error!("ring buffer polling failed: {e}; stopping the reader");
                            break;
                        }
                    }
                }
                let _ = rb.consume();
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
