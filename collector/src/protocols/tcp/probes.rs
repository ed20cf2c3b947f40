//! Load conn.bpf.c: open, size, load and attach its skeleton, own its links; its owner maps
//! are shared with the DNS and HTTP objects, and its drop counters read here.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use libbpf_rs::skel::{OpenSkel, Skel};
use libbpf_rs::{IterOpts, Link, MapCore, MapHandle, OpenMapMut};

use super::walk::{self, Walked};
use crate::kernel::contract::{ConnSkel, ConnSkelBuilder, DROP_MAX};
use crate::kernel::skeleton::{self, route_libbpf_logs, DropArray};
use crate::kernel::{has_tracepoint, BpfError};

/// Sizes and tunables applied before load.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Entries of the kernel's connection map: connections tracked at once.
    pub max_connections: u32,
    /// Bytes of the ring buffer (a power of two, at least one page).
    pub ring_buffer_bytes: u32,
    /// The consumer is woken when this many bytes wait; 0 wakes it on every record.
    pub wakeup_bytes: u64,
    /// Long-lived connections are reported this often (zero: only at close).
    pub report_interval: Duration,
    /// The HTTP capture's receive program will take accepted sockets' owners (on this
    /// skeleton's maps, [`Probes::owner_maps`]): this one's own receive program is not
    /// loaded, so that a receive runs one program, not two. Without HTTP capture it is
    /// loaded, and attached by [`Probes::attach_owner_recv`] unless the DNS capture's
    /// receive program takes the owners.
    pub owners_from_http: bool,
}

/// conn.bpf.c's connection map and accepted-socket marks, shared with data.bpf.c and
/// dns.bpf.c, and its connections' drops, shared with drops.bpf.c.
#[derive(Debug)]
pub struct OwnerMaps {
    pub(crate) conns: MapHandle,
    pub(crate) pending: MapHandle,
    pub(crate) conn_drops: MapHandle,
}

impl OwnerMaps {
    /// Makes another object's `conns` and `owner_pending` (owner.h declares both in every
    /// object that includes it) these maps, before it is loaded.
    pub(crate) fn share<'obj>(
        &self,
        conns: &mut OpenMapMut<'obj>,
        pending: &mut OpenMapMut<'obj>,
    ) -> Result<(), BpfError> {
        reuse([
            (conns, &self.conns, "conns"),
            (pending, &self.pending, "owner_pending"),
        ])
    }

    /// Makes drops.bpf.c's `conns` and `conn_drops` (conn_drops.h) these maps, before it
    /// is loaded.
    pub(crate) fn share_drops<'obj>(
        &self,
        conns: &mut OpenMapMut<'obj>,
        conn_drops: &mut OpenMapMut<'obj>,
    ) -> Result<(), BpfError> {
        reuse([
            (conns, &self.conns, "conns"),
            (conn_drops, &self.conn_drops, "conn_drops"),
        ])
    }
}

/// Makes each open map the named map of conn.bpf.c's whose handle it is paired with.
fn reuse(maps: [(&mut OpenMapMut<'_>, &MapHandle, &str); 2]) -> Result<(), BpfError> {
    for (map, fd, name) in maps {
        map.reuse_fd(fd.as_fd()).map_err(BpfError::libbpf(format!(
            "sharing conn.bpf.c's map `{name}`"
        )))?;
    }
    Ok(())
}

/// The loaded and attached programs. Dropping this detaches every one of them.
pub struct Probes {
    skel: ConnSkel<'static>,
    /// The owner receive program's link, once attached.
    owner_recv: Option<Link>,
    /// How long open + load + attach took.
    pub load_time: Duration,
    /// How many programs are attached.
    pub programs: usize,
}

impl std::fmt::Debug for Probes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probes")
            .field("load_time", &self.load_time)
            .field("programs", &self.programs)
            .finish_non_exhaustive()
    }
}

impl Probes {
    /// Opens, sizes, loads and attaches every program of `conn.bpf.c`.
    pub fn load(opts: &ProbeOptions) -> Result<Probes, BpfError> {
        let started = Instant::now();
        route_libbpf_logs();
        let mut open = skeleton::open::<ConnSkelBuilder>("conn.bpf.o")?;
        skeleton::size(
            &mut open.maps.conns,
            opts.max_connections,
            "map `conns` (tcp.max_connections)",
        )?;
        skeleton::size(
            &mut open.maps.events,
            opts.ring_buffer_bytes,
            "ring buffer `events` (tcp.ring_buffer_size)",
        )?;
        if let Some(rodata) = open.maps.rodata_data.as_deref_mut() {
            rodata.wakeup_bytes = opts.wakeup_bytes;
            rodata.report_interval_ns =
                u64::try_from(opts.report_interval.as_nanos()).unwrap_or(u64::MAX);
        }
        // An accepted socket's owner is taken at its first receive where the socket layer
        // has that tracepoint (6.3); only older kernels pay for the accept syscall
        // tracepoints, which slow every syscall of every task (conn.bpf.c).
        let at_receive = has_tracepoint("sock/sock_recv_length");
        open.progs
            .sonde_owner_recv
            .set_autoload(at_receive && !opts.owners_from_http);
        // Attached by `attach_owner_recv`, when no other receive program takes owners.
        open.progs.sonde_owner_recv.set_autoattach(false);
        // Run once, by `walk`.
        open.progs.sonde_walk.set_autoattach(false);
        open.progs.sonde_accept4_exit.set_autoload(!at_receive);
        open.progs.sonde_accept_exit.set_autoload(!at_receive);
        let mut skel = open.load().map_err(BpfError::libbpf(
            "loading the BPF programs (the verifier log is above)",
        ))?;
        skel.attach()
            .map_err(BpfError::libbpf("attaching the BPF programs"))?;
        let programs = skel.object().progs().filter(|p| p.autoload()).count();
        Ok(Probes {
            skel,
            owner_recv: None,
            load_time: started.elapsed(),
            programs,
        })
    }

    /// Attaches this object's own receive program, which takes accepted sockets' owners:
    /// for when neither the HTTP nor the DNS capture's receive program does (a no-op where
    /// it was not loaded: HTTP capture, or a kernel before 6.3 and its accept hooks).
    pub fn attach_owner_recv(&mut self) -> Result<(), BpfError> {
        let prog = &self.skel.progs.sonde_owner_recv;
        if prog.autoload() && self.owner_recv.is_none() {
            self.owner_recv = Some(
                prog.attach()
                    .map_err(BpfError::libbpf("attaching sonde_owner_recv"))?,
            );
        }
        Ok(())
    }

    /// Finds the listening sockets and connections that were open before the probes
    /// attached, in every network namespace (walk.rs): names the listeners' owners, and
    /// puts the connections under tracking. Call once, after attach.
    pub fn walk(&self) -> Result<Walked, BpfError> {
        let link = self
            .skel
            .progs
            .sonde_walk
            .attach_iter_with_opts(IterOpts::None)
            .map_err(BpfError::libbpf("attaching the walk at start"))?;
        walk::walk(&link, &self.skel.maps.listeners)
    }

    /// A handle on the ring buffer, for the reader thread.
    pub fn events_map(&self) -> Result<MapHandle, BpfError> {
        MapHandle::try_from(&self.skel.maps.events)
            .map_err(BpfError::libbpf("duplicating the ring buffer handle"))
    }

    /// Handles on the connection map and the accepted-socket marks, for the HTTP
    /// capture's receive program to share (`bpf-src/include/owner.h`).
    pub fn owner_maps(&self) -> Result<OwnerMaps, BpfError> {
        let handle = |map, what| MapHandle::try_from(map).map_err(BpfError::libbpf(what));
        Ok(OwnerMaps {
            conns: handle(&self.skel.maps.conns, "duplicating the conns map handle")?,
            pending: handle(
                &self.skel.maps.owner_pending,
                "duplicating the owner_pending map handle",
            )?,
            conn_drops: handle(
                &self.skel.maps.conn_drops,
                "duplicating the conn_drops map handle",
            )?,
        })
    }

    /// The trigger of the periodic-report program.
    pub fn reporter(&self) -> Result<Reporter, BpfError> {
        let fd = self
            .skel
            .progs
            .sonde_report
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| BpfError::Libbpf {
                what: "duplicating the report program's fd".into(),
                source: libbpf_rs::Error::from(e),
            })?;
        Ok(Reporter { fd })
    }

    /// A reader of the kernel's drop counters.
    pub fn drop_counters(&self) -> Result<DropCounters, BpfError> {
        let drops = MapHandle::try_from(&self.skel.maps.drops)
            .map_err(BpfError::libbpf("duplicating the drops map handle"))?;
        let conns = MapHandle::try_from(&self.skel.maps.conns)
            .map_err(BpfError::libbpf("duplicating the conns map handle"))?;
        Ok(DropCounters {
            drops: DropArray::new(drops),
            conns,
        })
    }
}

/// Runs the `sonde_report` program, which reports long-lived connections.
#[derive(Debug)]
pub struct Reporter {
    fd: OwnedFd,
}

impl Reporter {
    /// One pass over the tracked connections (cheap: a map walk in the kernel).
    pub fn run(&self) -> Result<(), BpfError> {
        // SAFETY: `opts` is a zeroed `bpf_test_run_opts` with its size set, as libbpf
        // requires; a syscall program takes no context or data, so every pointer stays null.
        let rc = unsafe {
            let mut opts: libbpf_rs::libbpf_sys::bpf_test_run_opts = std::mem::zeroed();
            opts.sz = std::mem::size_of::<libbpf_rs::libbpf_sys::bpf_test_run_opts>() as _;
            libbpf_rs::libbpf_sys::bpf_prog_test_run_opts(self.fd.as_raw_fd(), &mut opts)
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(BpfError::Libbpf {
                what: "running the periodic-report program".into(),
                source: libbpf_rs::Error::from(std::io::Error::from_raw_os_error(-rc)),
            })
        }
    }
}

/// Reads the kernel side's cumulative loss counters.
#[derive(Debug)]
pub struct DropCounters {
    drops: DropArray<{ DROP_MAX as usize }>,
    conns: MapHandle,
}

impl DropCounters {
    /// The per-CPU counters summed, indexed by `enum sonde_drop`.
    pub fn read(&self) -> [u64; DROP_MAX as usize] {
        self.drops.read()
    }

    /// How many connections the kernel tracks now (walks the map's keys: call rarely).
    pub fn tracked_connections(&self) -> u64 {
        self.conns.keys().count() as u64
    }
}
