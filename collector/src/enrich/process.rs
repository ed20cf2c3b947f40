//! pid → who the process is: executable, command line, parent, container, service name.
//!
//! Read from `/proc` the first time a pid is seen, cached, refreshed when the kernel
//! reports an exec, evicted a grace period after it reports the exit (closes of the
//! process's sockets can arrive after its exit), and bounded in size.

use std::collections::VecDeque;
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::config::CommandLine;
use crate::decode::Owner;
use crate::redact::redact_args;

/// Environment variables read from a process, at most this many bytes of its environ.
const ENVIRON_MAX: usize = 64 * 1024;
/// How long an exited process stays cached for records still in flight.
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

/// The bounded cache.
#[derive(Debug)]
pub struct ProcessCache {
    proc_root: PathBuf,
    capacity: usize,
    command_line_max: usize,
    command_line: CommandLine,
    entries: FxHashMap<u32, Arc<ProcessInfo>>,
    /// Insertion order, for eviction when over capacity. May hold stale pids.
    order: VecDeque<u32>,
    /// Exited processes and when to forget them.
    exited: VecDeque<(Instant, u32)>,
    /// The names of exited processes that were never looked up while they ran (started
    /// before the agent, or with no socket until then), for records of theirs still in
    /// flight: at most `capacity`, forgotten with `exited`.
    exited_names: FxHashMap<u32, String>,
}

impl ProcessCache {
    /// A cache reading `/proc`.
    pub fn new(capacity: usize, command_line_max: usize) -> ProcessCache {
        ProcessCache::with_proc_root(PathBuf::from("/proc"), capacity, command_line_max)
    }

    /// Exports command lines as `mode` says (redacted unless set).
    pub fn command_lines(mut self, mode: CommandLine) -> Self {
        self.command_line = mode;
        self
    }

    /// A cache reading another procfs root (tests).
    pub fn with_proc_root(proc_root: PathBuf, capacity: usize, command_line_max: usize) -> Self {
        ProcessCache {
            proc_root,
            capacity: capacity.max(1),
            command_line_max,
            command_line: CommandLine::Redacted,
            entries: FxHashMap::default(),
            order: VecDeque::new(),
            exited: VecDeque::new(),
            exited_names: FxHashMap::default(),
        }
    }

    /// Who owns a socket. Never fails: a process gone from /proc is named by its `comm`.
    pub fn lookup(&mut self, owner: &Owner) -> Arc<ProcessInfo> {
        if owner.pid == 0 {
            return Arc::new(ProcessInfo::from_owner(owner));
        }
        if let Some(info) = self.entries.get(&owner.pid) {
            // A reused pid or a missed exec shows as a different comm — but only the main
            // thread's comm names the process: workers name themselves ("isc-net-0000").
            let worker = owner.tid != 0 && owner.tid != owner.pid;
            if worker || comm_matches(&info.exe_name, &owner.comm) || info.service_name_from_env {
                return Arc::clone(info);
            }
        }
        let info =
            Arc::new(self.read(owner.pid).unwrap_or_else(
                || match self.exited_names.get(&owner.pid) {
                    Some(comm) if owner.comm.is_empty() => ProcessInfo::from_owner(&Owner {
                        comm: comm.clone(),
                        ..owner.clone()
                    }),
                    _ => ProcessInfo::from_owner(owner),
                },
            ));
        self.insert(owner.pid, Arc::clone(&info));
        info
    }

    /// The process replaced its image: read it again now, while it runs. If it is already
    /// gone (a short-lived `dig`), remember what the kernel said at the exec: its name
    /// then is the new executable's, which a worker thread's name later is not.
    pub fn on_exec(&mut self, pid: u32, ppid: u32, comm: &str) {
        self.entries.remove(&pid);
        let info = self.read(pid).unwrap_or_else(|| {
            ProcessInfo::from_owner(&Owner {
                pid,
                tid: pid,
                ppid,
                comm: comm.to_owned(),
                ..Owner::default()
            })
        });
        self.insert(pid, Arc::new(info));
    }

    /// The process exited, named `comm`: forget it after the grace period. One never
    /// looked up keeps its name until then, for records that name only its pid.
    pub fn on_exit(&mut self, pid: u32, comm: &str, now: Instant) {
        if !self.entries.contains_key(&pid)
            && !comm.is_empty()
            && self.exited_names.len() < self.capacity
        {
            self.exited_names.insert(pid, comm.to_owned());
        }
        self.exited.push_back((now + EXIT_GRACE, pid));
        self.expire(now);
    }

    /// Forgets exited processes whose grace period is over.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(when, pid)) = self.exited.front() {
            if when > now {
                break;
            }
            self.exited.pop_front();
            self.entries.remove(&pid);
            self.exited_names.remove(&pid);
        }
    }

    /// Cached processes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn insert(&mut self, pid: u32, info: Arc<ProcessInfo>) {
        if self.entries.insert(pid, info).is_none() {
            self.order.push_back(pid);
        }
        while self.entries.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.entries.remove(&old);
                }
                None => break,
            }
        }
        // Keep `order` from growing with stale pids.
        if self.order.len() > self.capacity * 2 {
            let entries = &self.entries;
            self.order.retain(|p| entries.contains_key(p));
        }
    }

    fn read(&self, pid: u32) -> Option<ProcessInfo> {
        let dir = self.proc_root.join(pid.to_string());
        let status = fs::read_to_string(dir.join("status")).ok()?;
        let ppid = status_field(&status, "PPid:").unwrap_or(0);
        let comm = status_text(&status, "Name:").unwrap_or_default();
        let exe_path = fs::read_link(dir.join("exe")).ok().map(|p| {
            p.to_string_lossy()
                .trim_end_matches(" (deleted)")
                .to_owned()
        });
        let exe_name = exe_path
            .as_deref()
            .and_then(|p| p.rsplit('/').next())
            .filter(|n| !n.is_empty())
            .map_or_else(|| comm.clone(), str::to_owned);
        let command_line = match self.command_line {
            CommandLine::Off => None,
            mode => fs::read(dir.join("cmdline"))
                .ok()
                .and_then(|raw| command_line(&raw, self.command_line_max, mode)),
        };
        let container_id = fs::read_to_string(dir.join("cgroup"))
            .ok()
            .and_then(|c| container_id_from_cgroup(&c));
        let env_service = read_prefix(dir.join("environ"), ENVIRON_MAX)
            .and_then(|env| service_name_from_environ(&env));
        Some(ProcessInfo {
            pid,
            ppid,
            service_name: env_service.clone().unwrap_or_else(|| exe_name.clone()),
            service_name_from_env: env_service.is_some(),
            exe_name,
            exe_path,
            command_line,
            container_id,
        })
    }
}

/// `comm` is the first 15 bytes of the executable name (or what the process set).
fn comm_matches(exe_name: &str, comm: &str) -> bool {
    comm.is_empty() || exe_name.starts_with(comm) || comm.starts_with(exe_name)
}

fn status_text(status: &str, key: &str) -> Option<String> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_owned())
}

fn status_field(status: &str, key: &str) -> Option<u32> {
    status_text(status, key)?.parse().ok()
}

fn read_prefix(path: PathBuf, max: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    fs::File::open(path)
        .ok()?
        .take(max as u64)
        .read_to_end(&mut buf)
        .ok()?;
    Some(buf)
}

/// NUL-separated argv → one line as it is, capped at `max` bytes on a char boundary.
pub fn parse_cmdline(raw: &[u8], max: usize) -> Option<String> {
    command_line(raw, max, CommandLine::Full)
}

/// NUL-separated argv → one line, secrets redacted unless `mode` is full, capped at `max`
/// bytes on a char boundary (after redaction, so a cut never reveals a value).
pub fn command_line(raw: &[u8], max: usize, mode: CommandLine) -> Option<String> {
    let mut joined: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if joined.is_empty() {
        return None;
    }
    if mode != CommandLine::Full {
        joined = redact_args(&joined);
    }
    let mut line = joined.join(" ");
    if line.len() > max {
        let mut cut = max;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    Some(line)
}

/// `OTEL_SERVICE_NAME`, else `service.name` inside `OTEL_RESOURCE_ATTRIBUTES`.
pub fn service_name_from_environ(environ: &[u8]) -> Option<String> {
    let mut from_attrs = None;
    for var in environ.split(|&b| b == 0) {
        let var = String::from_utf8_lossy(var);
        if let Some(v) = var.strip_prefix("OTEL_SERVICE_NAME=") {
            if !v.trim().is_empty() {
                return Some(v.trim().to_owned());
            }
        } else if let Some(attrs) = var.strip_prefix("OTEL_RESOURCE_ATTRIBUTES=") {
            from_attrs = attrs.split(',').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k.trim() == "service.name" && !v.trim().is_empty()).then(|| v.trim().to_owned())
            });
        }
    }
    from_attrs
}

/// The container id in a `/proc/<pid>/cgroup` file: the 64-hex-digit id that Docker,
/// containerd, CRI-O and Podman put in the cgroup path (`docker-<id>.scope`,
/// `cri-containerd-<id>.scope`, `crio-<id>.scope`, `libpod-<id>.scope`, `/docker/<id>`,
/// `/kubepods/.../<id>`).
pub fn container_id_from_cgroup(cgroup: &str) -> Option<String> {
    for line in cgroup.lines() {
        // hierarchy-id:controllers:path
        let path = line.splitn(3, ':').nth(2)?;
        for part in path.rsplit('/') {
            let part = part.strip_suffix(".scope").unwrap_or(part);
            let id = part.rsplit(['-', ':']).next().unwrap_or(part);
            if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Some(id.to_ascii_lowercase());
            }
        }
    }
    None
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
