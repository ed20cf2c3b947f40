//! Loads and attaches drops.bpf.c, and reads its counters.

use std::time::{Duration, Instant};

use libbpf_rs::skel::{OpenSkel, Skel};
use libbpf_rs::MapHandle;

use super::reasons::DropReasons;
use crate::kernel::contract::{
    DropsSkel, DropsSkelBuilder, SKB_DIRECTIONS, SKB_LOSS_MAX, SKB_REASONS, SKB_TRANSPORTS,
};
use crate::kernel::skeleton::{self, route_libbpf_logs, DropArray};
use crate::kernel::BpfError;
use crate::protocols::tcp::OwnerMaps;

/// Counter slots: every reason slot × every transport slot × both directions.
pub const SLOTS: usize = (SKB_REASONS * SKB_TRANSPORTS * SKB_DIRECTIONS) as usize;

/// Loss counters (`enum sonde_skb_loss`).
pub const LOSSES: usize = SKB_LOSS_MAX as usize;

/// The attached program. Dropping this detaches it.
pub struct DropProbes {
    skel: DropsSkel<'static>,
    /// How long open + load + attach took.
    pub load_time: Duration,
}

impl std::fmt::Debug for DropProbes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DropProbes")
            .field("load_time", &self.load_time)
            .finish_non_exhaustive()
    }
}

impl DropProbes {
    /// Opens, loads and attaches `tp_btf/kfree_skb`, on conn.bpf.c's connection maps
    /// (`owners`): a tracked connection's drops go out with its records.
    pub fn load(owners: &OwnerMaps) -> Result<DropProbes, BpfError> {
        let started = Instant::now();
        route_libbpf_logs();
        let mut open = skeleton::open::<DropsSkelBuilder>("drops.bpf.o")?;
        owners.share_drops(&mut open.maps.conns, &mut open.maps.conn_drops)?;
        let mut skel = open.load().map_err(BpfError::libbpf(
            "loading the drop-counting program (the verifier log is above)",
        ))?;
        skel.attach()
            .map_err(BpfError::libbpf("attaching the drop-counting program"))?;
        Ok(DropProbes {
            skel,
            load_time: started.elapsed(),
        })
    }

    /// A reader of the counters, which names their reasons from `reasons`.
    pub fn counts(&self, reasons: DropReasons) -> Result<SkbDropCounts, BpfError> {
        let map = MapHandle::try_from(&self.skel.maps.skb_drops)
            .map_err(BpfError::libbpf("duplicating the skb_drops map handle"))?;
        let losses = MapHandle::try_from(&self.skel.maps.skb_losses)
            .map_err(BpfError::libbpf("duplicating the skb_losses map handle"))?;
        Ok(SkbDropCounts {
            map: DropArray::new(map),
            losses: DropArray::new(losses),
            reasons,
        })
    }
}

/// The kernel's drop counters and their reasons' names.
#[derive(Debug)]
pub struct SkbDropCounts {
    map: DropArray<SLOTS>,
    losses: DropArray<LOSSES>,
    /// The running kernel's names of the reason slots.
    pub reasons: DropReasons,
}

impl SkbDropCounts {
    /// Every slot's total since the program was attached, summed over the CPUs, indexed
    /// by `(reason * SKB_TRANSPORTS + transport) * SKB_DIRECTIONS + direction`.
    pub fn read(&self) -> Box<[u64; SLOTS]> {
        Box::new(self.map.read())
    }

    /// The loss counters (`enum sonde_skb_loss`), for the agent's telemetry.
    pub fn losses(&self) -> [u64; LOSSES] {
        self.losses.read()
    }
}
