//! Who is behind a signal: the process that owns the socket (its service name, command
//! line, container) and the name its peer was resolved from. Every signal's builder asks
//! here; Kubernetes identity is the next step of the same kind.
//!
//! - [`process`]: who a process is, cached; [`procfs`] reads it from `/proc` on the
//!   [`reader`] threads, never on the pipeline.
//! - [`names`]: IP → DNS name, learned from the lookups the DNS protocol completes.

pub mod names;
pub mod process;
pub mod procfs;
pub mod reader;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub use names::NameCache;
pub use process::{ProcessCache, ProcessInfo};
pub use reader::ReadReply;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::CommandLine;
use crate::decode::Owner;

/// The enrichment step: every protocol's handler names its signal's process and peer here.
#[derive(Debug)]
pub struct Enricher {
    /// Processes by pid and start.
    pub processes: ProcessCache,
    /// IP → the name a process resolved it from (taught by `protocols::dns`).
    pub names: NameCache,
}

impl Enricher {
    /// An empty step: `processes` processes cached (command lines cut at
    /// `command_line_max`, exported as `command_line` says) and read by reader threads
    /// whose replies come on the channel returned; `names` addresses remembered.
    pub fn new(
        processes: usize,
        command_line_max: usize,
        command_line: CommandLine,
        names: usize,
    ) -> (Enricher, UnboundedReceiver<ReadReply>) {
        let (processes, replies) = ProcessCache::new(processes, command_line_max, command_line);
        let enricher = Enricher {
            processes,
            names: NameCache::new(names),
        };
        (enricher, replies)
    }

    /// A step whose processes are read at once from `cache`'s root (tests).
    pub fn with_cache(processes: ProcessCache, names: usize) -> Enricher {
        Enricher {
            processes,
            names: NameCache::new(names),
        }
    }

    /// The process behind `owner` (asked for when it is not known: named by the kernel's
    /// record meanwhile).
    pub fn process(&mut self, owner: &Owner) -> Arc<ProcessInfo> {
        self.processes.lookup(owner)
    }

    /// The process `pid` (its thread `tid`), as [`Enricher::process`].
    pub fn process_of(&mut self, pid: u32, tid: u32) -> Arc<ProcessInfo> {
        self.processes.lookup(&Owner {
            pid,
            tid,
            ..Owner::default()
        })
    }

    /// The name process `pid` resolved `ip` from, when it did and the answer is fresh.
    pub fn peer_name(&self, pid: u32, ip: IpAddr, at_unix_nanos: u64) -> Option<&str> {
        self.names.name_for(pid, ip, at_unix_nanos)
    }

    /// A client's server as a Host value: its DNS name when the process looked one up,
    /// else its address, with the port.
    pub fn server_host(&self, pid: u32, addr: SocketAddr, at_unix_nanos: u64) -> String {
        match self.peer_name(pid, addr.ip(), at_unix_nanos) {
            Some(name) => format!("{name}:{}", addr.port()),
            None => addr.to_string(),
        }
    }
}
