//! Load dns.bpf.c: its socket programs (tp_btf on the socket layer's length tracepoints,
//! Linux 6.3+, and the cgroup recvmsg4/6 hooks) or, on older kernels or when asked, its
//! cgroup_skb programs, which every packet of the host goes through.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libbpf_rs::skel::OpenSkel;
use libbpf_rs::{Link, MapHandle};

use crate::config::DnsCapture;
use crate::kernel::contract::{DnsSkel, DnsSkelBuilder, DNS_DROP_MAX, DNS_PORTS_MAX};
use crate::kernel::skeleton::{self, DropArray};
use crate::kernel::TRACEPOINTS;
use crate::kernel::{has_tracepoint, BpfError};
use crate::protocols::tcp::OwnerMaps;

/// What the DNS capture watches.
#[derive(Debug, Clone)]
pub struct DnsProbeOptions {
    /// UDP and TCP ports carrying DNS (at most 8).
    pub ports: Vec<u16>,
    /// Bytes of the DNS ring buffer.
    pub ring_buffer_bytes: u32,
    /// Wake the reader when this many bytes wait (0: every record).
    pub wakeup_bytes: u64,
    /// Sockets, packets, or sockets where the kernel can.
    pub capture: DnsCapture,
    /// HTTP capture's programs will run the socket steps (`DataProbes::load` with
    /// [`DnsProbes::socket_maps`]): this object's own tracepoint programs are not loaded.
    pub steps_in_http: bool,
}

/// What data.bpf.c needs to run the DNS socket steps on this capture's maps.
#[derive(Debug)]
pub struct DnsSocketMaps {
    pub(crate) events: MapHandle,
    pub(crate) drops: MapHandle,
    pub(crate) from: MapHandle,
    /// The watched ports, as loaded.
    pub(crate) ports: [u16; DNS_PORTS_MAX],
    pub(crate) wakeup_bytes: u64,
}

/// Where the loaded capture sees DNS messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsPath {
    /// Socket operations.
    Sockets,
    /// Packets, on the cgroup-v2 root.
    Packets,
}

/// The loaded DNS capture; dropping it detaches it.
pub struct DnsProbes {
    skel: DnsSkel<'static>,
    _links: Vec<Link>,
    /// The cgroup the cgroup programs are attached to.
    pub cgroup: PathBuf,
    /// Where messages are seen.
    pub path: DnsPath,
    ports: [u16; DNS_PORTS_MAX],
    wakeup_bytes: u64,
    /// This capture's receive program takes accepted sockets' owners (conn.bpf.c's is
    /// then not attached: `Probes::attach_owner_recv`).
    pub takes_owners: bool,
    /// How long open + load + attach took.
    pub load_time: Duration,
}

impl std::fmt::Debug for DnsProbes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsProbes")
            .field("cgroup", &self.cgroup)
            .field("path", &self.path)
            .field("load_time", &self.load_time)
            .finish_non_exhaustive()
    }
}

impl DnsProbes {
    /// Loads the programs of one path and attaches them: the socket tracepoints and the
    /// recvmsg hooks, or the packet programs (ingress and egress); the cgroup programs on
    /// the cgroup-v2 root.
    /// Loads and attaches the DNS programs. conn.bpf.c's maps `owners` are shared (the
    /// receive program on sockets takes accepted sockets' owners on them, unless the HTTP
    /// capture's programs run the socket steps).
    pub fn load(opts: &DnsProbeOptions, owners: &OwnerMaps) -> Result<DnsProbes, BpfError> {
        let started = Instant::now();
        let cgroup = cgroup2_root().ok_or(BpfError::NoCgroup2)?;
        if opts.ports.is_empty() || opts.ports.len() > DNS_PORTS_MAX {
            return Err(BpfError::DnsPorts(opts.ports.len()));
        }
        let mut ports = [0; DNS_PORTS_MAX];
        ports[..opts.ports.len()].copy_from_slice(&opts.ports);
        let path = choose_path(opts.capture)?;
        let own_steps = path == DnsPath::Sockets && !opts.steps_in_http;
        let skel = open_and_load(opts, owners, path, ports, own_steps)?;
        let links = attach(&skel, &cgroup, path, own_steps)?;
        Ok(DnsProbes {
            skel,
            _links: links,
            cgroup,
            path,
            ports,
            wakeup_bytes: opts.wakeup_bytes,
            takes_owners: own_steps,
            load_time: started.elapsed(),
        })
    }

    /// A handle on the DNS ring buffer, for the reader thread.
    pub fn events_map(&self) -> Result<MapHandle, BpfError> {
        MapHandle::try_from(&self.skel.maps.dns_events)
            .map_err(BpfError::libbpf("duplicating the DNS ring buffer handle"))
    }

    /// The maps data.bpf.c runs the socket steps on (None on packets).
    pub fn socket_maps(&self) -> Result<Option<DnsSocketMaps>, BpfError> {
        if self.path != DnsPath::Sockets {
            return Ok(None);
        }
        let handle = |map, what| MapHandle::try_from(map).map_err(BpfError::libbpf(what));
        Ok(Some(DnsSocketMaps {
            events: handle(
                &self.skel.maps.dns_events,
                "duplicating the dns_events handle",
            )?,
            drops: handle(
                &self.skel.maps.dns_drops,
                "duplicating the dns_drops handle",
            )?,
            from: handle(&self.skel.maps.dns_from, "duplicating the dns_from handle")?,
            ports: self.ports,
            wakeup_bytes: self.wakeup_bytes,
        }))
    }

    /// A reader of the DNS capture's counters.
    pub fn counters(&self) -> Result<DnsCounters, BpfError> {
        let drops = MapHandle::try_from(&self.skel.maps.dns_drops)
            .map_err(BpfError::libbpf("duplicating the dns_drops map handle"))?;
        Ok(DropArray::new(drops))
    }
}

/// The DNS capture's cumulative counters, indexed by `enum sonde_dns_drop`.
pub type DnsCounters = DropArray<{ DNS_DROP_MAX as usize }>;

/// The first cgroup-v2 mount (`/sys/fs/cgroup` on a unified host,
/// `/sys/fs/cgroup/unified` on a hybrid one).
fn cgroup2_root() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let (_src, path, fs) = (f.next()?, f.next()?, f.next()?);
        (fs == "cgroup2").then(|| PathBuf::from(path))
    })
}

/// The way in `capture` asks for, where this kernel has it (`auto`: sockets where the
/// socket layer has its length tracepoints, 6.3 and later, else packets).
fn choose_path(capture: DnsCapture) -> Result<DnsPath, BpfError> {
    let sockets_possible = TRACEPOINTS.iter().all(|(_, rel)| has_tracepoint(rel));
    match capture {
        DnsCapture::Packets => Ok(DnsPath::Packets),
        DnsCapture::Auto if !sockets_possible => Ok(DnsPath::Packets),
        DnsCapture::Auto => Ok(DnsPath::Sockets),
        DnsCapture::Sockets if sockets_possible => Ok(DnsPath::Sockets),
        DnsCapture::Sockets => {
            let (tracepoint, rel) = TRACEPOINTS[0];
            Err(BpfError::MissingTracepoint {
                what: "DNS capture on sockets (dns.capture: sockets; `auto` uses packets)",
                tracepoint,
                since: "6.3",
                path: format!("{}/{rel}", crate::kernel::TRACEFS_EVENTS[0]),
            })
        }
    }
}

/// Opens dns.bpf.o, configures it for `opts` and `path` and loads the programs of that
/// path (the socket steps only when `own_steps`); not attached yet.
fn open_and_load(
    opts: &DnsProbeOptions,
    owners: &OwnerMaps,
    path: DnsPath,
    ports: [u16; DNS_PORTS_MAX],
    own_steps: bool,
) -> Result<DnsSkel<'static>, BpfError> {
    let mut open = skeleton::open::<DnsSkelBuilder>("dns.bpf.o")?;
    skeleton::size(
        &mut open.maps.dns_events,
        opts.ring_buffer_bytes,
        "ring buffer `dns_events` (dns.ring_buffer_size)",
    )?;
    let on_sockets = path == DnsPath::Sockets;
    if let Some(rodata) = open.maps.rodata_data.as_deref_mut() {
        rodata.dns_ports = ports;
        rodata.dns_wakeup_bytes = opts.wakeup_bytes;
        rodata.owner_steps = u8::from(own_steps);
    }
    // Shared always: unshared, this object would make its own connection map.
    owners.share(&mut open.maps.conns, &mut open.maps.owner_pending)?;
    for prog in [
        &mut open.progs.sonde_dns_send,
        &mut open.progs.sonde_dns_recv,
    ] {
        prog.set_autoload(own_steps);
    }
    for prog in [
        &mut open.progs.sonde_dns_recvmsg4,
        &mut open.progs.sonde_dns_recvmsg6,
    ] {
        prog.set_autoload(on_sockets);
    }
    for prog in [
        &mut open.progs.sonde_dns_egress,
        &mut open.progs.sonde_dns_ingress,
    ] {
        prog.set_autoload(!on_sockets);
    }
    open.load().map_err(BpfError::libbpf(
        "loading the DNS programs (the verifier log is above)",
    ))
}

/// Attaches the loaded programs of `path`: the socket steps (when `own_steps`), and the
/// cgroup programs on `cgroup`.
fn attach(
    skel: &DnsSkel<'static>,
    cgroup: &Path,
    path: DnsPath,
    own_steps: bool,
) -> Result<Vec<Link>, BpfError> {
    let dir = File::open(cgroup).map_err(|e| BpfError::Libbpf {
        what: format!("opening cgroup {}", cgroup.display()),
        source: libbpf_rs::Error::from(e),
    })?;
    let mut links = Vec::new();
    if own_steps {
        for prog in [&skel.progs.sonde_dns_send, &skel.progs.sonde_dns_recv] {
            links.push(prog.attach().map_err(BpfError::libbpf(format!(
                "attaching {}",
                prog.name().to_string_lossy()
            )))?);
        }
    }
    let cgroup_progs = if path == DnsPath::Sockets {
        [
            &skel.progs.sonde_dns_recvmsg4,
            &skel.progs.sonde_dns_recvmsg6,
        ]
    } else {
        [&skel.progs.sonde_dns_egress, &skel.progs.sonde_dns_ingress]
    };
    for prog in cgroup_progs {
        let link = prog
            .attach_cgroup(dir.as_raw_fd())
            .map_err(BpfError::libbpf(format!(
                "attaching {} to cgroup {}",
                prog.name().to_string_lossy(),
                cgroup.display()
            )))?;
        links.push(link);
    }
    Ok(links)
}
