//! The threads that read `/proc`, off the pipeline.
//!
//! A read of one process can block for as long as that process's memory-map lock is held
//! (a thread stuck in a fault on a hung NFS or FUSE mount): it must never hold up the
//! signals of every other process. Requests go through a bounded queue to a few threads;
//! when every thread is busy (one may be stuck for good) another is started, up to
//! [`MAX_THREADS`]. Replies come back on a channel the pipeline selects on; a request whose
//! reply is late is the pipeline's to give up on ([`crate::enrich::ProcessCache::settle`]),
//! and its reply, whenever it comes, still replaces what was settled.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::procfs::{read_process, Read, ReadOptions};

/// Threads started at once.
const MIN_THREADS: usize = 2;
/// Threads at most: as many processes can hold a reader at once before requests queue.
pub const MAX_THREADS: usize = 8;
/// Requests waiting for a thread at most.
const QUEUE: usize = 1024;
/// A read that took longer than this is logged when it ends.
const SLOW: Duration = Duration::from_secs(5);

/// Process `pid` that started at `start` (0: whichever holds the pid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReadRequest {
    /// Process id.
    pub pid: u32,
    /// Its start, clock ticks since boot (0: unknown).
    pub start: u32,
}

/// What a read found.
#[derive(Debug)]
pub struct ReadReply {
    /// What was asked.
    pub request: ReadRequest,
    /// The process, or `None` when it is gone.
    pub read: Option<Read>,
}

/// The pool's handle, owned by the pipeline's process cache.
#[derive(Debug)]
pub struct Reader {
    requests: SyncSender<ReadRequest>,
    queue: Arc<Mutex<Receiver<ReadRequest>>>,
    replies: UnboundedSender<ReadReply>,
    opts: Arc<ReadOptions>,
    threads: usize,
    idle: Arc<AtomicUsize>,
}

impl Reader {
    /// A pool reading as `opts` says, and the channel its replies come on. The replies are
    /// as many as the requests the cache has in flight, which it bounds.
    pub fn start(opts: ReadOptions) -> (Reader, UnboundedReceiver<ReadReply>) {
        let (requests, queue) = sync_channel(QUEUE);
        let (replies, rx) = unbounded_channel();
        let mut reader = Reader {
            requests,
            queue: Arc::new(Mutex::new(queue)),
            replies,
            opts: Arc::new(opts),
            threads: 0,
            idle: Arc::new(AtomicUsize::new(0)),
        };
        for _ in 0..MIN_THREADS {
            reader.spawn();
        }
        (reader, rx)
    }

    /// Asks for a read; false when the queue is full (every thread stuck and 1,024
    /// waiting): the caller goes on with what it knows.
    pub fn request(&mut self, request: ReadRequest) -> bool {
        if self.idle.load(Ordering::Relaxed) == 0 && self.threads < MAX_THREADS {
            self.spawn();
        }
        match self.requests.try_send(request) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    fn spawn(&mut self) {
        let queue = Arc::clone(&self.queue);
        let replies = self.replies.clone();
        let opts = Arc::clone(&self.opts);
        let idle = Arc::clone(&self.idle);
        idle.fetch_add(1, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("sonde-proc".into())
            .spawn(move || serve(&queue, &replies, &opts, &idle));
        match spawned {
            Ok(_) => self.threads += 1,
            Err(e) => {
                self.idle.fetch_sub(1, Ordering::Relaxed);
                tracing::warn!("sonde: could not start a /proc reader thread: {e}");
            }
        }
    }
}

/// One thread: reads until the pool is dropped. Not joined: a thread stuck in a read
/// ends with the process.
fn serve(
    queue: &Mutex<Receiver<ReadRequest>>,
    replies: &UnboundedSender<ReadReply>,
    opts: &ReadOptions,
    idle: &AtomicUsize,
) {
    loop {
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(request) = next else {
            return;
        };
        idle.fetch_sub(1, Ordering::Relaxed);
        let started = Instant::now();
        let read = read_process(opts, request.pid, request.start);
        let took = started.elapsed();
        if took >= SLOW {
            tracing::warn!(
                "sonde: reading /proc/{} took {:.1} s (the process's memory map was \
                 locked); its signals went out named by its task name meanwhile",
                request.pid,
                took.as_secs_f64()
            );
        }
        idle.fetch_add(1, Ordering::Relaxed);
        if replies.send(ReadReply { request, read }).is_err() {
            return;
        }
    }
}
