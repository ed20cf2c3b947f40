//! The walk at start: the sockets that were open before the probes attached.
//!
//! conn.bpf.c's `sonde_walk` iterator runs once in each network namespace (it walks the
//! namespace it is opened in) and finds:
//! - **Listeners.** An accepted connection falls back on its listener's owner until a
//!   process receives on it (bpf-src/include/owner.h). conn.bpf.c learns listeners when
//!   they enter LISTEN, which a server started before the agent did long ago: its
//!   listener is named here instead, after the process holding its inode
//!   (`/proc/PID/fd/N` → `socket:[inode]`). Of the processes holding one listener (a
//!   pre-forked server's master and workers), the one whose parent does not hold it is the
//!   owner: the process that opened it, as the kernel's own `listen()` hook would have
//!   said. The entries are written with `BPF_NOEXIST`: a listener the kernel saw open
//!   after the probes attached keeps the kernel's owner.
//! - **Connections** (ESTABLISHED or closing). The iterator has already put each in
//!   `conns`, flagged preexisting, so the kernel reports it from then on like any other
//!   (periodically, and at close). What it hands up here: its counters at the walk, which
//!   the pipeline subtracts from its reports (a restarted agent does not count again what
//!   the previous one did), and its owner, named the same way as a listener's.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use libbpf_rs::{Iter, Link, MapCore, MapFlags};

use super::record::owner;
use crate::decode::Owner;
use crate::enrich::procfs::{read_stat, ProcStat};
use crate::kernel::contract::{sonde_owner, sonde_walk_rec, WALK_CONNECTION};
use crate::kernel::netns;
use crate::kernel::BpfError;

/// What the walk at start found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Walked {
    /// Network namespaces walked.
    pub namespaces: usize,
    /// Listening sockets found.
    pub listeners: usize,
    /// Of those, the ones a process was found for and written to the kernel's map.
    pub named: usize,
    /// Connections open before the probes attached, now tracked by the kernel.
    pub connections: Vec<Preexisting>,
    /// The listeners' owners found, by socket cookie (for the inventory: the kernel
    /// announces these listeners without one).
    pub listener_owners: Vec<(u64, Owner)>,
}

/// A connection open before the probes attached.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Preexisting {
    /// Its socket cookie.
    pub cookie: u64,
    /// The process holding it, when one was found.
    pub owner: Option<Owner>,
    /// Its counters at the walk.
    pub bytes_sent: u64,
    /// Bytes received by then.
    pub bytes_received: u64,
    /// Segments sent by then.
    pub segs_out: u32,
    /// Segments received by then.
    pub segs_in: u32,
    /// Segments retransmitted by then.
    pub retransmits: u32,
}

/// A socket the iterator found.
#[derive(Debug, Clone, Copy)]
struct Found {
    ino: u64,
    netns: u32,
    port: u16,
    cookie: u64,
    /// A connection's record; `None`: a listener.
    connection: Option<sonde_walk_rec>,
}

/// Walks every network namespace a process is in: names the listeners' owners and writes
/// them into `listeners` (conn.bpf.c's map), and names the connections' owners. `iter` is
/// the `sonde_walk` iterator, attached.
pub(super) fn walk<M: MapCore>(iter: &Link, listeners: &M) -> Result<Walked, BpfError> {
    let proc_root = Path::new("/proc");
    let namespaces = namespaces(proc_root);
    let own = netns::own_inode().map_err(|e| BpfError::Io("reading /proc/self/ns/net", e))?;
    let mut found = Vec::new();
    let mut foreign: Vec<OwnedFd> = Vec::new();
    for (&inode, &pid) in &namespaces {
        if inode == own {
            found.extend(run(iter)?);
        } else if let Some((fd, _)) = netns::open(inode, pid) {
            foreign.push(fd);
        }
    }
    if !foreign.is_empty() {
        // Entered by a thread of its own, which ends with the walk: no other thread of
        // the agent ever changes namespace (as the HTTP sweep by namespace does).
        let more = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let mut out = Vec::new();
                    for fd in &foreign {
                        netns::enter(fd)
                            .map_err(|e| BpfError::Io("entering a network namespace", e))?;
                        out.extend(run(iter)?);
                    }
                    Ok(out)
                })
                .join()
                .unwrap_or_else(|_| {
                    Err(BpfError::Io(
                        "walking network namespaces at start",
                        std::io::Error::other("the walk's thread panicked"),
                    ))
                })
        })?;
        found.extend(more);
    }
    let wanted: HashSet<u64> = found.iter().map(|f| f.ino).collect();
    let holders = holders(proc_root, &wanted);
    let cgroup_root = cgroup2_root(proc_root);
    let owner_of = |ino| {
        holders
            .get(&ino)
            .and_then(|pids| owner_of(proc_root, pids, cgroup_root.as_deref()))
    };
    let mut walked = Walked {
        namespaces: namespaces.len(),
        ..Walked::default()
    };
    for f in &found {
        if let Some(c) = &f.connection {
            walked.connections.push(Preexisting {
                cookie: c.cookie,
                owner: owner_of(f.ino).map(|o| owner(&o, false)),
                bytes_sent: c.bytes_sent,
                bytes_received: c.bytes_received,
                segs_out: c.segs_out,
                segs_in: c.segs_in,
                retransmits: c.total_retrans,
            });
            continue;
        }
        walked.listeners += 1;
        let Some(owner) = owner_of(f.ino) else {
            continue;
        };
        if f.cookie != 0 {
            walked
                .listener_owners
                .push((f.cookie, super::record::owner(&owner, false)));
        }
        let mut key = [0u8; 8];
        key[..4].copy_from_slice(&f.netns.to_ne_bytes());
        key[4..6].copy_from_slice(&f.port.to_ne_bytes());
        // SAFETY: sonde_owner is `Plain` (types.rs): a `#[repr(C)]` struct of integers
        // and bytes whose every byte is a named field; its bytes are what the map holds.
        let value = unsafe { plain::as_bytes(&owner) };
        // Seen by the kernel since attach (EEXIST: the kernel's owner stands), or the map
        // is full (the listener keeps no fallback; `named` says how many were written).
        if listeners.update(&key, value, MapFlags::NO_EXIST).is_ok() {
            walked.named += 1;
        }
    }
    Ok(walked)
}

/// Runs the iterator in the calling thread's namespace and decodes its records.
fn run(link: &Link) -> Result<Vec<Found>, BpfError> {
    let mut iter = Iter::new(link).map_err(BpfError::libbpf("opening the walk at start"))?;
    let mut raw = Vec::new();
    iter.read_to_end(&mut raw)
        .map_err(|e| BpfError::Io("running the walk at start", e))?;
    Ok(decode(&raw))
}

/// The iterator's output: whole `sonde_walk_rec`s, back to back.
fn decode(raw: &[u8]) -> Vec<Found> {
    raw.chunks_exact(std::mem::size_of::<sonde_walk_rec>())
        .filter_map(|chunk| {
            let mut r = sonde_walk_rec::default();
            plain::copy_from_bytes(&mut r, chunk).ok()?;
            Some(Found {
                ino: r.ino,
                netns: r.netns,
                port: r.port,
                cookie: r.cookie,
                connection: (r.kind == WALK_CONNECTION).then_some(r),
            })
        })
        .collect()
}

/// Every network namespace a process is in (inode → a process in it).
fn namespaces(proc_root: &Path) -> BTreeMap<u64, u32> {
    let mut out = BTreeMap::new();
    for pid in pids(proc_root) {
        if let Ok(meta) = std::fs::metadata(proc_root.join(format!("{pid}/ns/net"))) {
            out.entry(meta.ino()).or_insert(pid);
        }
    }
    out
}

fn pids(proc_root: &Path) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The processes holding each socket inode of `wanted` (from their fd links).
fn holders(proc_root: &Path, wanted: &HashSet<u64>) -> HashMap<u64, Vec<u32>> {
    let mut out: HashMap<u64, Vec<u32>> = HashMap::new();
    if wanted.is_empty() {
        return out;
    }
    for pid in pids(proc_root) {
        let Ok(fds) = std::fs::read_dir(proc_root.join(format!("{pid}/fd"))) else {
            continue;
        };
        for fd in fds.flatten() {
            let Some(ino) = std::fs::read_link(fd.path())
                .ok()
                .and_then(|target| socket_inode(target.to_str()?))
            else {
                continue;
            };
            if wanted.contains(&ino) {
                let pids = out.entry(ino).or_default();
                if !pids.contains(&pid) {
                    pids.push(pid);
                }
            }
        }
    }
    out
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The owner of a listener held by `pids`: the holder whose parent is not a holder (the
/// process that opened it and forked the others), the lowest pid among several.
fn owner_of(proc_root: &Path, pids: &[u32], cgroup_root: Option<&Path>) -> Option<sonde_owner> {
    let stats: Vec<(u32, ProcStat)> = pids
        .iter()
        .filter_map(|&pid| Some((pid, read_stat(proc_root, pid)?)))
        .collect();
    let (pid, st) = pick_owner(&stats)?;
    let mut owner = sonde_owner {
        pid,
        tid: pid,
        ppid: st.ppid,
        start: st.start,
        cgroup_id: cgroup_root.map_or(0, |root| cgroup_id(proc_root, pid, root)),
        ..sonde_owner::default()
    };
    for (dst, src) in owner.comm.iter_mut().zip(st.comm.bytes().take(15)) {
        *dst = src as _;
    }
    Some(owner)
}

/// Of `(pid, stat)` holders, the root of their tree (lowest pid first).
fn pick_owner(stats: &[(u32, ProcStat)]) -> Option<(u32, &ProcStat)> {
    let held: HashSet<u32> = stats.iter().map(|(pid, _)| *pid).collect();
    stats
        .iter()
        .min_by_key(|(pid, st)| (held.contains(&st.ppid), *pid))
        .map(|(pid, st)| (*pid, st))
}

/// Where the cgroup v2 hierarchy is mounted, from the agent's mount table.
fn cgroup2_root(proc_root: &Path) -> Option<PathBuf> {
    let table = std::fs::read_to_string(proc_root.join("self/mountinfo")).ok()?;
    table.lines().find_map(|line| {
        // `id parent major:minor root mountpoint options… - fstype source super`
        let (left, right) = line.split_once(" - ")?;
        (right.split_ascii_whitespace().next()? == "cgroup2")
            .then(|| left.split_ascii_whitespace().nth(4).map(PathBuf::from))?
    })
}

/// The cgroup v2 id of `pid` (what `bpf_get_current_cgroup_id()` gives: the inode number
/// of its cgroup's directory), 0 when unknown.
fn cgroup_id(proc_root: &Path, pid: u32, root: &Path) -> u64 {
    let Ok(cgroups) = std::fs::read_to_string(proc_root.join(format!("{pid}/cgroup"))) else {
        return 0;
    };
    cgroups
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .and_then(|path| std::fs::metadata(root.join(path.trim_start_matches('/'))).ok())
        .map_or(0, |m| m.ino())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{pick_owner, socket_inode, ProcStat};

    #[test]
    fn socket_links_name_their_inode() {
        assert_eq!(socket_inode("socket:[123456]"), Some(123_456));
        assert_eq!(socket_inode("pipe:[1]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn the_master_owns_a_listener_its_workers_share() {
        let st = |ppid| ProcStat {
            comm: "nginx".into(),
            ppid,
            start: 0,
        };
        // The master (10, child of 1) and its workers 11 and 12.
        let holders = [(12, st(10)), (10, st(1)), (11, st(10))];
        assert_eq!(pick_owner(&holders).map(|(p, _)| p), Some(10));
        // Two unrelated processes (a socket passed over a unix socket): the lowest pid.
        let holders = [(30, st(1)), (20, st(2))];
        assert_eq!(pick_owner(&holders).map(|(p, _)| p), Some(20));
        assert_eq!(pick_owner(&[]).map(|(p, _)| p), None);
    }
}
