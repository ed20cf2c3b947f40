//! Load data.bpf.c: the HTTP data-path capture on the socket layer's send/receive tracepoints.

use std::mem::MaybeUninit;
use std::path::Path;
use std::time::{Duration, Instant};

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{MapHandle, OpenObject};

use super::loader::DropArray;
use super::types::{DataSkel, DataSkelBuilder, DATA_DROP_MAX, DATA_MAX};
use super::BpfError;

/// The socket layer's length tracepoints the capture attaches to (Linux 6.3 and later),
/// and where tracefs lists them below its `events` folder.
const TRACEPOINTS: [(&str, &str); 2] = [
    ("sock:sock_send_length", "sock/sock_send_length"),
    ("sock:sock_recv_length", "sock/sock_recv_length"),
];
/// Where tracefs may be (the preflight mounts the first when neither is).
const TRACEFS_EVENTS: [&str; 2] = [
    "/sys/kernel/tracing/events",
    "/sys/kernel/debug/tracing/events",
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
    /// Loads and attaches the data programs.
    pub fn load(opts: &DataProbeOptions) -> Result<DataProbes, BpfError> {
        let started = Instant::now();
        // Said plainly rather than as libbpf's "failed to find BTF for tp_btf" (the
        // preflight has mounted tracefs).
        for (tracepoint, rel) in TRACEPOINTS {
            if !TRACEFS_EVENTS
                .iter()
                .any(|root| Path::new(root).join(rel).exists())
            {
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
        }
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

    /// A reader of the capture's loss counters.
    pub fn counters(&self) -> Result<DataCounters, BpfError> {
        let drops = MapHandle::try_from(&self.skel.maps.data_drops)
            .map_err(BpfError::libbpf("duplicating the data_drops map handle"))?;
        Ok(DropArray::new(drops))
    }
}

/// The data capture's cumulative counters, indexed by `enum sonde_data_drop`.
pub type DataCounters = DropArray<{ DATA_DROP_MAX as usize }>;
