//! Load data.bpf.c: the HTTP data-path capture on the socket layer's send/receive tracepoints.

use std::io::Read;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Iter, Link, MapCore, MapFlags, MapHandle, OpenObject};
use sonde_semconv::metric::HTTP_BUCKETS;

use super::dns::DnsSocketMaps;
use super::loader::{DropArray, OwnerMaps};
use super::types::{
    sonde_http_hist, sonde_http_key, DataSkel, DataSkelBuilder, DATA_DROP_MAX, DATA_MAX,
};
use super::BpfError;
use super::{has_tracepoint, TRACEFS_EVENTS};
use crate::decode::http_key;
use crate::http::kernel::{KernelHistogram, KERNEL_BUCKETS};

/// The socket layer's length tracepoints the capture attaches to (Linux 6.3 and later),
/// and where tracefs lists them below its `events` folder.
pub(super) const TRACEPOINTS: [(&str, &str); 2] = [
    ("sock:sock_send_length", "sock/sock_send_length"),
    ("sock:sock_recv_length", "sock/sock_recv_length"),
];

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

/// The loaded data capture; dropping it detaches it.
pub struct DataProbes {
    skel: DataSkel<'static>,
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
        // As in `Probes::load`: the skeleton lives as long as the agent.
        let object: &'static mut MaybeUninit<OpenObject> =
            Box::leak(Box::new(MaybeUninit::uninit()));
        let mut open = DataSkelBuilder::default()
            .open(object)
            .map_err(BpfError::libbpf("opening the BPF object data.bpf.o"))?;
        open.maps
            .data_events
            .set_max_entries(opts.ring_buffer_bytes)
            .map_err(BpfError::libbpf("sizing ring buffer `data_events`"))?;
        if let Some(rodata) = open.maps.rodata_data.as_deref_mut() {
            rodata.capture_bytes = opts.capture_bytes.min(DATA_MAX);
            rodata.wakeup_bytes = opts.wakeup_bytes;
            rodata.parse_per_cpu = parse_per_cpu(opts.parse_per_second, possible_cpus());
            for (ns, secs) in rodata.bounds_ns.iter_mut().zip(HTTP_BUCKETS) {
                *ns = (secs * 1e9).round() as u64;
            }
            rodata.quiet_ns = u64::try_from(opts.quiet.as_nanos()).unwrap_or(u64::MAX);
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
            None => open
                .maps
                .dns_events
                .set_max_entries(4096)
                .map_err(BpfError::libbpf("sizing ring buffer `dns_events`"))?,
        }
        open.maps
            .conns
            .reuse_fd(owners.conns.as_fd())
            .map_err(BpfError::libbpf("sharing conn.bpf.c's map `conns`"))?;
        open.maps
            .owner_pending
            .reuse_fd(owners.pending.as_fd())
            .map_err(BpfError::libbpf("sharing conn.bpf.c's map `owner_pending`"))?;
        // Run by `HttpSeries::pull` on the socket storage map, not attached at load.
        open.progs.sonde_http_sweep.set_autoattach(false);
        let mut skel = open.load().map_err(BpfError::libbpf(
            "loading the HTTP data programs (the verifier log is above)",
        ))?;
        skel.attach()
            .map_err(BpfError::libbpf("attaching the HTTP data programs"))?;
        Ok(DataProbes {
            skel,
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
        let sweep = self
            .skel
            .progs
            .sonde_http_sweep
            .attach_iter(self.skel.maps.http_conns.as_fd())
            .map_err(BpfError::libbpf("attaching the HTTP sweep iterator"))?;
        Ok(HttpSeries {
            series: handle(
                &self.skel.maps.http_series,
                "duplicating the http_series handle",
            )?,
            gen: handle(&self.skel.maps.http_gen, "duplicating the http_gen handle")?,
            sweep,
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

/// The data capture's cumulative counters, indexed by `enum sonde_data_drop`.
pub type DataCounters = DropArray<{ DATA_DROP_MAX as usize }>;

/// Per-CPU share of `per_second` (rounded up; 0 stays 0: no limit).
fn parse_per_cpu(per_second: u32, cpus: u32) -> u32 {
    if per_second == 0 {
        0
    } else {
        per_second.div_ceil(cpus.max(1))
    }
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
    sweep: Link,
    current: u32,
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
        let mut iter =
            Iter::new(&self.sweep).map_err(BpfError::libbpf("opening the HTTP sweep"))?;
        let mut sink = Vec::new();
        iter.read_to_end(&mut sink)
            .map_err(|e| BpfError::Io("running the HTTP sweep", e))?;
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
    fn the_parse_budget_is_shared_out_per_cpu_rounding_up() {
        assert_eq!(parse_per_cpu(0, 2), 0, "0 stays no limit");
        assert_eq!(parse_per_cpu(1000, 2), 500);
        assert_eq!(parse_per_cpu(1001, 2), 501);
        assert_eq!(parse_per_cpu(1, 8), 1, "never rounded down to no limit");
        assert_eq!(parse_per_cpu(5, 0), 5);
    }
}
