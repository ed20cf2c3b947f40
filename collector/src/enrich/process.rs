//! pid → who the process is: executable, command line, parent, container, service name.
//!
//! A process is its pid and its start time (the kernel's records carry both; a pid is
//! reused, never with its start). What `/proc` says of it is read by the reader threads
//! ([`super::reader`]) the first time it is seen and again after an exec, cached, kept a
//! grace period after it exits (closes of its sockets can arrive after its exit), and
//! bounded in size. The pipeline holds a process's events while its read is in flight
//! ([`ProcessCache::must_wait`]) and gives up after a bounded time
//! ([`ProcessCache::settle`]): they go out named by what the kernel recorded.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::CommandLine;
use crate::decode::Owner;

use super::procfs::{read_process, Read, ReadOptions};
use super::reader::{ReadReply, ReadRequest, Reader};

pub use super::procfs::{
    command_line, container_id_from_cgroup, parse_cmdline, service_name_from_environ,
};

/// How long an exited (or replaced) process stays cached for records still in flight.
const EXIT_GRACE: Duration = Duration::from_secs(30);

/// Who a process is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Process id (0: unknown owner).
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Executable base name, or the kernel's `comm` when /proc had nothing.
    pub exe_name: String,
    /// Executable path, when /proc could tell.
    pub exe_path: Option<String>,
    /// Command line, joined by spaces and capped.
    pub command_line: Option<String>,
    /// Container id, when the cgroup path carries one.
    pub container_id: Option<String>,
    /// `OTEL_SERVICE_NAME` (or `service.name` in `OTEL_RESOURCE_ATTRIBUTES`) from the
    /// process's environment, else the executable name.
    pub service_name: String,
    /// Whether the service name came from the process's environment.
    pub service_name_from_env: bool,
}

impl ProcessInfo {
    /// A process known only by what the kernel recorded.
    pub fn from_owner(owner: &Owner) -> ProcessInfo {
        let name = if owner.comm.is_empty() {
            sonde_semconv::resource::UNKNOWN_SERVICE.to_owned()
        } else {
            owner.comm.clone()
        };
        ProcessInfo {
            pid: owner.pid,
            ppid: owner.ppid,
            exe_name: name.clone(),
            exe_path: None,
            command_line: None,
            container_id: None,
            service_name: name,
            service_name_from_env: false,
        }
    }
}

/// The process now holding a pid.
#[derive(Debug)]
struct Live {
    /// Its start (0: unknown, for one settled from a record without it).
    start: u32,
    /// Its task name when it was read.
    comm: String,
    /// Who it is: as read, or as the kernel recorded it when its read failed or was
    /// given up on (a reply still replaces that).
    info: Arc<ProcessInfo>,
}

/// Where reads are done.
#[derive(Debug)]
enum Reads {
    /// By the reader threads.
    Pool(Reader),
    /// Here, at once (tests, and tools that own no pipeline).
    Inline(ReadOptions),
}

/// The bounded cache.
#[derive(Debug)]
pub struct ProcessCache {
    capacity: usize,
    reads: Reads,
    live: FxHashMap<u32, Live>,
    /// Insertion order, for eviction when over capacity. May hold stale pids.
    order: VecDeque<u32>,
    /// Processes that exited or whose pid now names another, by pid: `(start, who)`, for
    /// records of theirs still in flight. At most `capacity` in all.
    gone: FxHashMap<u32, Vec<(u32, Arc<ProcessInfo>)>>,
    gone_len: usize,
    /// When to forget a process: `(when, pid, start)`.
    exited: VecDeque<(Instant, u32, u32)>,
    /// Reads asked for and not answered, with the record that asked (what names the
    /// process if the read fails or is given up on).
    in_flight: FxHashMap<ReadRequest, Owner>,
}

impl ProcessCache {
    /// A cache whose reads are done by reader threads, and the channel their replies come
    /// on (for [`ProcessCache::on_reply`]).
    pub fn new(
        capacity: usize,
        command_line_max: usize,
        command_line: CommandLine,
    ) -> (ProcessCache, UnboundedReceiver<ReadReply>) {
        let (reader, replies) = Reader::start(ReadOptions {
            proc_root: PathBuf::from("/proc"),
            command_line_max,
            command_line,
        });
        (
            ProcessCache::with_reads(capacity, Reads::Pool(reader)),
            replies,
        )
    }

    /// A cache reading `proc_root` at once, on the caller's thread (tests).
    pub fn with_proc_root(proc_root: PathBuf, capacity: usize, command_line_max: usize) -> Self {
        ProcessCache::with_reads(
            capacity,
            Reads::Inline(ReadOptions {
                proc_root,
                command_line_max,
                command_line: CommandLine::Redacted,
            }),
        )
    }

    fn with_reads(capacity: usize, reads: Reads) -> Self {
        ProcessCache {
            capacity: capacity.max(1),
            reads,
            live: FxHashMap::default(),
            order: VecDeque::new(),
            gone: FxHashMap::default(),
            gone_len: 0,
            exited: VecDeque::new(),
            in_flight: FxHashMap::default(),
        }
    }

    /// What is known of `owner`'s process, if enough to name its signals.
    fn known(&self, owner: &Owner) -> Option<Arc<ProcessInfo>> {
        if owner.pid == 0 {
            return Some(Arc::new(ProcessInfo::from_owner(owner)));
        }
        if let Some(live) = self.live.get(&owner.pid) {
            if starts_agree(live.start, owner.start) && names_agree(live, owner) {
                return Some(Arc::clone(&live.info));
            }
        }
        let gone = self.gone.get(&owner.pid)?;
        gone.iter()
            .rev()
            .find(|(start, _)| starts_agree(*start, owner.start))
            .map(|(_, info)| Arc::clone(info))
    }

    /// Whether `owner`'s events must wait for its process to be read: it is not known and
    /// a read is in flight (asked now if it was not). False when nothing can be waited
    /// for (pid 0, no room for another read: then it is settled now).
    pub fn must_wait(&mut self, owner: &Owner) -> bool {
        if self.known(owner).is_some() {
            return false;
        }
        let request = ReadRequest {
            pid: owner.pid,
            start: owner.start,
        };
        if self.in_flight.contains_key(&request) {
            return true;
        }
        match &mut self.reads {
            Reads::Inline(opts) => {
                let read = read_process(opts, request.pid, request.start);
                self.in_flight.insert(request, owner.clone());
                self.on_reply(ReadReply { request, read });
                false
            }
            Reads::Pool(reader) => {
                if reader.request(request) {
                    self.in_flight.insert(request, owner.clone());
                    true
                } else {
                    self.settle(owner);
                    false
                }
            }
        }
    }

    /// Who owns a socket, from what is known now: a process not read yet is asked for and
    /// named by what the kernel recorded meanwhile. Never fails.
    pub fn lookup(&mut self, owner: &Owner) -> Arc<ProcessInfo> {
        if self.must_wait(owner) {
            self.settle(owner);
        }
        self.known(owner)
            .unwrap_or_else(|| Arc::new(ProcessInfo::from_owner(owner)))
    }

    /// A read came back: what it found replaces what was settled, or names a process gone.
    pub fn on_reply(&mut self, reply: ReadReply) {
        let hint = self.in_flight.remove(&reply.request);
        match reply.read {
            Some(Read { stat, info }) => self.insert(
                reply.request.pid,
                Live {
                    start: stat.start,
                    comm: stat.comm,
                    info: Arc::new(info),
                },
            ),
            None => {
                let owner = hint.unwrap_or(Owner {
                    pid: reply.request.pid,
                    start: reply.request.start,
                    ..Owner::default()
                });
                if self.known(&owner).is_none() {
                    self.settle(&owner);
                }
            }
        }
    }

    /// `owner`'s process is named by what the kernel recorded (its read failed, is late, or
    /// could not be asked for) until a read says more.
    pub fn settle(&mut self, owner: &Owner) {
        if owner.pid == 0 {
            return;
        }
        let named = self.named_by_exit(owner);
        let info = Arc::new(ProcessInfo::from_owner(&named));
        let agrees = self
            .live
            .get(&owner.pid)
            .is_none_or(|live| starts_agree(live.start, owner.start));
        if agrees {
            self.insert(
                owner.pid,
                Live {
                    start: owner.start,
                    comm: named.comm.clone(),
                    info,
                },
            );
        } else {
            self.add_gone(owner.pid, owner.start, info, Instant::now());
        }
    }

    /// `owner`, named by its exit when its record has no name (one that names only its
    /// pid, read after it exited).
    fn named_by_exit(&self, owner: &Owner) -> Owner {
        if !owner.comm.is_empty() {
            return owner.clone();
        }
        let comm = self
            .gone
            .get(&owner.pid)
            .and_then(|g| g.iter().rev().find(|(s, _)| starts_agree(*s, owner.start)))
            .map(|(_, info)| info.exe_name.clone())
            .unwrap_or_default();
        Owner {
            comm,
            ..owner.clone()
        }
    }

    /// The process replaced its image: read it again now, while it runs (a short-lived
    /// `dig` may be gone soon). Until the read comes back its events wait; if it is
    /// already gone, it is named by what the kernel said at the exec: its name then is the
    /// new executable's, which a worker thread's name later is not.
    pub fn on_exec(&mut self, pid: u32, start: u32, ppid: u32, comm: &str) {
        self.live.remove(&pid);
        let owner = Owner {
            pid,
            tid: pid,
            ppid,
            start,
            comm: comm.to_owned(),
            ..Owner::default()
        };
        // A read asked before the exec would answer with the old image.
        self.in_flight.remove(&ReadRequest { pid, start });
        self.must_wait(&owner);
    }

    /// The process exited, named `comm`: forget it after the grace period. One never
    /// read keeps its name until then, for records that name only its pid.
    pub fn on_exit(&mut self, pid: u32, start: u32, comm: &str, now: Instant) {
        let owner = Owner {
            pid,
            start,
            ..Owner::default()
        };
        if self.known(&owner).is_none() && !comm.is_empty() {
            let named = Owner {
                comm: comm.to_owned(),
                ..owner
            };
            self.add_gone(pid, start, Arc::new(ProcessInfo::from_owner(&named)), now);
        }
        self.exited.push_back((now + EXIT_GRACE, pid, start));
        self.expire(now);
    }

    /// Forgets exited processes whose grace period is over.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(when, pid, start)) = self.exited.front() {
            if when > now {
                break;
            }
            self.exited.pop_front();
            if self.live.get(&pid).is_some_and(|l| l.start == start) {
                self.live.remove(&pid);
            }
            if let Some(g) = self.gone.get_mut(&pid) {
                let before = g.len();
                g.retain(|(s, _)| *s != start);
                self.gone_len -= before - g.len();
                if g.is_empty() {
                    self.gone.remove(&pid);
                }
            }
        }
    }

    /// Cached processes (running ones).
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Reads in flight.
    pub fn reads_in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn insert(&mut self, pid: u32, live: Live) {
        let now = Instant::now();
        match self.live.insert(pid, live) {
            None => self.order.push_back(pid),
            // The pid names another process now: the one it named stays a while, for its
            // records still in flight.
            Some(old) if !starts_agree(old.start, self.live[&pid].start) => {
                self.add_gone(pid, old.start, old.info, now);
            }
            Some(_) => {}
        }
        while self.live.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.live.remove(&old);
                }
                None => break,
            }
        }
        // Keep `order` from growing with stale pids.
        if self.order.len() > self.capacity * 2 {
            let live = &self.live;
            self.order.retain(|p| live.contains_key(p));
        }
    }

    fn add_gone(&mut self, pid: u32, start: u32, info: Arc<ProcessInfo>, now: Instant) {
        if self.gone_len >= self.capacity {
            return;
        }
        self.gone.entry(pid).or_default().push((start, info));
        self.gone_len += 1;
        self.exited.push_back((now + EXIT_GRACE, pid, start));
    }
}

/// Two starts name the same process unless both are known and differ.
fn starts_agree(a: u32, b: u32) -> bool {
    a == 0 || b == 0 || a == b
}

/// Whether a record's task name fits the process as read. A missed exec shows as another
/// name on the main thread — but only the main thread's name names the process: workers
/// name themselves ("isc-net-0000"). A process named by its environment keeps its name.
fn names_agree(live: &Live, owner: &Owner) -> bool {
    let worker = owner.tid != 0 && owner.tid != owner.pid;
    worker
        || live.info.service_name_from_env
        || comm_matches(&live.info.exe_name, &owner.comm)
        || comm_matches(&live.comm, &owner.comm)
}

/// `comm` is the first 15 bytes of the executable name (or what the process set).
fn comm_matches(exe_name: &str, comm: &str) -> bool {
    comm.is_empty() || exe_name.starts_with(comm) || comm.starts_with(exe_name)
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
