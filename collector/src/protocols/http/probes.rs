//! Load data.bpf.c: the HTTP data-path capture on the socket layer's send/receive tracepoints.

use std::io::Read;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use libbpf_rs::skel::{OpenSkel, Skel};
use libbpf_rs::{Iter, IterOpts, Link, MapCore, MapFlags, MapHandle};
use sonde_semconv::metric::HTTP_BUCKETS;

use crate::kernel::contract::{
    sonde_http_hist, sonde_http_key, DataSkel, DataSkelBuilder, DATA_DROP_MAX, DATA_MAX,
};
use crate::kernel::netns;
use crate::kernel::skeleton::{self, DropArray, QuietLibbpf};
use crate::kernel::BpfError;
use crate::kernel::{has_tracepoint, TRACEFS_EVENTS, TRACEPOINTS};
use crate::protocols::dns::DnsSocketMaps;
use crate::protocols::http::http_key;
use crate::protocols::http::kernel::{KernelHistogram, KERNEL_BUCKETS};
use crate::protocols::tcp::OwnerMaps;

/// What the data capture copies.
#[derive(Debug, Clone)]
pub struct DataProbeOptions {
    /// Bytes copied per syscall (at most 1024).
    pub capture_bytes: u32,
    /// Bytes of the data ring buffer.
    pub ring_buffer_bytes: u32,
    /// Wake the reader when this many bytes wait (0: every record).
    pub wakeup_bytes: u64,
    /// Exchanges followed byte by byte per second (0: all); past it the kernel times and
    /// counts them (`http.parse_per_second`).
    pub parse_per_second: u32,
    /// A response with nothing more moved for this long is complete (in-kernel exchanges
    /// on connections kept open).
    pub quiet: Duration,
}

/// How the sweep before each read of the kernel's histograms reaches every connection
/// that carries HTTP (it completes the responses of idle connections and moves what each
/// connection counted into its series).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// One iterator over the socket storage map's elements: exactly the connections with
    /// HTTP state, in every network namespace.
    Storage,
    /// Where the kernel refuses iterators over a map's elements: an iterator over the TCP
    /// sockets of a namespace, opened in each namespace that holds HTTP connections
    /// (data.bpf.c notes them in `http_netns`).
    ByNamespace,
}

/// The loaded data capture; dropping it detaches it.
pub struct DataProbes {
    skel: DataSkel<'static>,
    /// How the HTTP sweep reaches every connection.
    pub sweep: Sweep,
    /// How long open + load + attach took.
    pub load_time: Duration,
}

impl std::fmt::Debug for DataProbes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataProbes")
            .field("load_time", &self.load_time)
            .finish_non_exhaustive()
    }
}

impl DataProbes {
    /// Loads and attaches the data programs. Accepted sockets' owners are taken on
    /// `owners`, conn.bpf.c's maps (loaded with `owners_from_http`); DNS is seen on `dns`,
    /// dns.bpf.c's maps, when given (loaded with `steps_in_http`).
    pub fn load(
        opts: &DataProbeOptions,
        owners: &OwnerMaps,
        dns: Option<&DnsSocketMaps>,
    ) -> Result<DataProbes, BpfError> {
        let started = Instant::now();
        // Said plainly rather than as libbpf's "failed to find BTF for tp_btf" (the
        // preflight has mounted tracefs).
        for (tracepoint, rel) in TRACEPOINTS {
            if !has_tracepoint(rel) {
                return Err(BpfError::MissingTracepoint {
                    what: "HTTP capture (http.enabled)",
                    tracepoint,
                    since: "6.3",
                    path: format!("{}/{rel}", TRACEFS_EVENTS[0]),
                });
            }
        }
        // The kernel tells which sweep it allows only by loading it: the one over the
        // storage map first, with libbpf's warnings held back (some kernels refuse it, and
        // libbpf's hint for an EPERM, "try raising 'ulimit -l'", names the wrong cause).
        let mut sweep = Sweep::Storage;
        let first = {
            let _quiet = QuietLibbpf::new();
            open_and_load(opts, owners, dns, sweep)
        };
        let mut skel = match first {
            Ok(skel) => skel,
            Err(refused) => {
                sweep = Sweep::ByNamespace;
                tracing::debug!(
                    "the storage-map sweep did not load ({refused}); sweeping by namespace"
                );
                open_and_load(opts, owners, dns, sweep)?
            }
        };
        skel.attach()
            .map_err(BpfError::libbpf("attaching the HTTP data programs"))?;
        Ok(DataProbes {
            skel,
            sweep,
            load_time: started.elapsed(),
        })
    }

    /// A handle on the data ring buffer, for the reader thread.
    pub fn events_map(&self) -> Result<MapHandle, BpfError> {
        MapHandle::try_from(&self.skel.maps.data_events)
            .map_err(BpfError::libbpf("duplicating the data ring buffer handle"))
    }

    /// The reader of the kernel's HTTP duration histograms.
    pub fn http_series(&self) -> Result<HttpSeries, BpfError> {
        let handle = |map, what| MapHandle::try_from(map).map_err(BpfError::libbpf(what));
        let progs = &self.skel.progs;
        let sweeper = match self.sweep {
            Sweep::Storage => Sweeper::Storage(
                progs
                    .sonde_http_sweep
                    .attach_iter(self.skel.maps.http_conns.as_fd())
                    .map_err(BpfError::libbpf("attaching the HTTP sweep iterator"))?,
            ),
            Sweep::ByNamespace => Sweeper::ByNamespace {
                link: progs
                    .sonde_http_sweep_tcp
                    .attach_iter_with_opts(IterOpts::None)
                    .map_err(BpfError::libbpf("attaching the HTTP sweep iterator"))?,
                netns: handle(
                    &self.skel.maps.http_netns,
                    "duplicating the http_netns handle",
                )?,
                own: netns::own_inode()
                    .map_err(|e| BpfError::Io("reading the agent's network namespace", e))?,
            },
        };
        Ok(HttpSeries {
            series: handle(
                &self.skel.maps.http_series,
                "duplicating the http_series handle",
            )?,
            gen: handle(&self.skel.maps.http_gen, "duplicating the http_gen handle")?,
            sweeper,
            current: 0,
        })
    }

    /// A reader of the capture's loss counters.
    pub fn counters(&self) -> Result<DataCounters, BpfError> {
        let drops = MapHandle::try_from(&self.skel.maps.data_drops)
            .map_err(BpfError::libbpf("duplicating the data_drops map handle"))?;
        Ok(DropArray::new(drops))
    }
}

/// Opens data.bpf.o, configures it for `opts` and loads it with the sweep `sweep` (not
/// attached yet).
fn open_and_load(
    opts: &DataProbeOptions,
    owners: &OwnerMaps,
    dns: Option<&DnsSocketMaps>,
    sweep: Sweep,
) -> Result<DataSkel<'static>, BpfError> {
    let mut open = skeleton::open::<DataSkelBuilder>("data.bpf.o")?;
    skeleton::size(
        &mut open.maps.data_events,
        opts.ring_buffer_bytes,
        "ring buffer `data_events` (http.ring_buffer_size)",
    )?;
    if let Some(rodata) = open.maps.rodata_data.as_deref_mut() {
        rodata.capture_bytes = opts.capture_bytes.min(DATA_MAX);
        rodata.wakeup_bytes = opts.wakeup_bytes;
        rodata.parse_per_cpu = parse_per_cpu(opts.parse_per_second, possible_cpus());
        for (ns, secs) in rodata.bounds_ns.iter_mut().zip(HTTP_BUCKETS) {
            *ns = (secs * 1e9).round() as u64;
        }
        rodata.quiet_ns = u64::try_from(opts.quiet.as_nanos()).unwrap_or(u64::MAX);
        rodata.sweep_by_netns = u8::from(sweep == Sweep::ByNamespace);
        if let Some(d) = dns {
            rodata.dns_steps = 1;
            rodata.dns_ports = d.ports;
            rodata.dns_wakeup_bytes = d.wakeup_bytes;
        }
    }
    match dns {
        Some(d) => {
            for (map, fd, name) in [
                (&mut open.maps.dns_events, &d.events, "dns_events"),
                (&mut open.maps.dns_drops, &d.drops, "dns_drops"),
                (&mut open.maps.dns_from, &d.from, "dns_from"),
            ] {
                map.reuse_fd(fd.as_fd()).map_err(BpfError::libbpf(format!(
                    "sharing dns.bpf.c's map `{name}`"
                )))?;
            }
        }
        // Unused: the smallest ring there is.
        None => skeleton::size(&mut open.maps.dns_events, 4096, "ring buffer `dns_events`")?,
    }
    owners.share(&mut open.maps.conns, &mut open.maps.owner_pending)?;
    // Run by `HttpSeries::pull`, not attached at load; only `sweep`'s is loaded.
    open.progs.sonde_http_sweep.set_autoattach(false);
    open.progs.sonde_http_sweep_tcp.set_autoattach(false);
    open.progs
        .sonde_http_sweep
        .set_autoload(sweep == Sweep::Storage);
    open.progs
        .sonde_http_sweep_tcp
        .set_autoload(sweep == Sweep::ByNamespace);
    open.load().map_err(BpfError::libbpf(
        "loading the HTTP data programs (the verifier log is above)",
    ))
}

/// The data capture's cumulative counters, indexed by `enum sonde_data_drop`.
pub type DataCounters = DropArray<{ DATA_DROP_MAX as usize }>;

/// The kernel's parse budget runs over windows of 2^30 ns (data.bpf.c's
/// `SONDE_PARSE_WINDOW_SHIFT`: a shift of the clock, not a division).
const PARSE_WINDOW_NS: u64 = 1 << 30;

/// Per-CPU share of `per_second` over one budget window (rounded up; 0 stays 0: no limit).
fn parse_per_cpu(per_second: u32, cpus: u32) -> u32 {
    if per_second == 0 {
        return 0;
    }
    let per_window = (u64::from(per_second) * PARSE_WINDOW_NS).div_ceil(1_000_000_000);
    u32::try_from(per_window.div_ceil(u64::from(cpus.max(1)))).unwrap_or(u32::MAX)
}

fn possible_cpus() -> u32 {
    libbpf_rs::num_possible_cpus()
        .ok()
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(1)
}

/// Reads the kernel's HTTP duration histograms a generation at a time: the kernel counts
/// into the current one, `pull` flips it and takes the other out of the map (so a
/// series of a process that is gone does not stay).
pub struct HttpSeries {
    series: MapHandle,
    gen: MapHandle,
    sweeper: Sweeper,
    current: u32,
}

/// The sweep's iterator, attached (`Sweep`).
enum Sweeper {
    Storage(Link),
    ByNamespace {
        link: Link,
        /// data.bpf.c's `http_netns`: namespace inode → a process in it.
        netns: MapHandle,
        /// The agent's own namespace (swept without entering it).
        own: u64,
    },
}

impl Sweeper {
    fn run(&self) -> Result<(), BpfError> {
        match self {
            Sweeper::Storage(link) => run_iter(link),
            Sweeper::ByNamespace { link, netns, own } => sweep_namespaces(link, netns, *own),
        }
    }
}

/// Runs an iterator program once (its output is empty: it works on the maps).
fn run_iter(link: &Link) -> Result<(), BpfError> {
    let mut iter = Iter::new(link).map_err(BpfError::libbpf("opening the HTTP sweep"))?;
    let mut sink = Vec::new();
    iter.read_to_end(&mut sink)
        .map_err(|e| BpfError::Io("running the HTTP sweep", e))?;
    Ok(())
}

/// The sweep by namespace: the TCP iterator opened in each namespace of `netns` (it walks
/// the namespace it is opened in). Namespaces other than the agent's are entered by a
/// thread of its own, which ends with the sweep, so no other thread of the agent ever
/// changes namespace. A namespace whose noted process is gone is found again through
/// another process in it, or forgotten when none is left (its sockets have closed, or are
/// closing, where data.bpf.c's close program counts them).
fn sweep_namespaces(link: &Link, netns: &MapHandle, own: u64) -> Result<(), BpfError> {
    let mut foreign = Vec::new();
    for key in netns.keys() {
        let Ok(raw) = <[u8; 4]>::try_from(key.as_slice()) else {
            continue;
        };
        let inode = u64::from(u32::from_ne_bytes(raw));
        if inode == own {
            run_iter(link)?;
            continue;
        }
        let pid = netns
            .lookup(&key, MapFlags::ANY)
            .ok()
            .flatten()
            .and_then(|v| <[u8; 4]>::try_from(v.as_slice()).ok())
            .map_or(0, u32::from_ne_bytes);
        match netns::open(inode, pid) {
            Some((fd, found)) => {
                if found != pid {
                    let _ = netns.update(&key, &found.to_ne_bytes(), MapFlags::ANY);
                }
                foreign.push(fd);
            }
            None => {
                let _ = netns.delete(&key);
            }
        }
    }
    if foreign.is_empty() {
        return Ok(());
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                for fd in &foreign {
                    netns::enter(fd)
                        .map_err(|e| BpfError::Io("entering a network namespace", e))?;
                    run_iter(link)?;
                }
                Ok(())
            })
            .join()
            .unwrap_or_else(|_| {
                Err(BpfError::Io(
                    "sweeping by namespace",
                    std::io::Error::other("the sweep thread panicked"),
                ))
            })
    })
}

impl std::fmt::Debug for HttpSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSeries")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

/// How long `pull` lets programs that read the old generation finish their update: they
/// run for microseconds, with preemption off.
const GENERATION_GRACE: Duration = Duration::from_millis(2);

impl HttpSeries {
    /// Completes idle responses (the sweep), flips the generation and returns what the
    /// previous one counted, removing it from the map.
    pub fn pull(&mut self) -> Result<Vec<KernelHistogram>, BpfError> {
        self.sweeper.run()?;
        let old = self.current;
        self.current ^= 1;
        self.gen
            .update(
                &0u32.to_ne_bytes(),
                &self.current.to_ne_bytes(),
                MapFlags::ANY,
            )
            .map_err(BpfError::libbpf("flipping the HTTP series generation"))?;
        std::thread::sleep(GENERATION_GRACE);
        let keys: Vec<Vec<u8>> = self.series.keys().collect();
        let mut out = Vec::new();
        for raw in keys {
            let mut raw_key = sonde_http_key::default();
            if plain::copy_from_bytes(&mut raw_key, &raw).is_err() || u32::from(raw_key.gen) != old
            {
                continue;
            }
            let per_cpu = self
                .series
                .lookup_percpu(&raw, MapFlags::ANY)
                .map_err(BpfError::libbpf("reading an HTTP series"))?;
            // Deleted after the read: the kernel no longer writes this generation.
            let _ = self.series.delete(&raw);
            let (Some(per_cpu), Ok(key)) = (per_cpu, http_key(&raw_key)) else {
                continue;
            };
            let mut s = KernelHistogram {
                key,
                counts: [0; KERNEL_BUCKETS],
                sum_ns: 0,
                min_ns: u64::MAX,
                max_ns: 0,
            };
            for cpu in per_cpu {
                let mut h = sonde_http_hist::default();
                if plain::copy_from_bytes(&mut h, &cpu).is_err() {
                    continue;
                }
                let n: u64 = h.counts.iter().sum();
                if n == 0 {
                    continue;
                }
                for (a, b) in s.counts.iter_mut().zip(h.counts) {
                    *a += b;
                }
                s.sum_ns += h.sum_ns;
                s.min_ns = s.min_ns.min(h.min_ns);
                s.max_ns = s.max_ns.max(h.max_ns);
            }
            if s.counts.iter().any(|&n| n > 0) {
                out.push(s);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_per_cpu;

    #[test]
    fn the_parse_budget_is_shared_out_per_cpu_per_window_rounding_up() {
        assert_eq!(parse_per_cpu(0, 2), 0, "0 stays no limit");
        // Windows of 1.073741824 s.
        assert_eq!(parse_per_cpu(1000, 2), 537);
        assert_eq!(parse_per_cpu(1000, 1), 1074);
        assert_eq!(parse_per_cpu(1, 8), 1, "never rounded down to no limit");
        assert_eq!(parse_per_cpu(5, 0), 6);
        assert_eq!(parse_per_cpu(u32::MAX, 1), u32::MAX, "saturates");
    }
}
