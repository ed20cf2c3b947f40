//! What every protocol's loader shares: opening a skeleton and sizing its ring, per-CPU
//! drop counters, and libbpf's log routed to ours (held back to debug level around a load
//! the kernel may refuse).

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

use libbpf_rs::skel::SkelBuilder;
use libbpf_rs::{MapCore, MapFlags, MapHandle, OpenMapMut, OpenObject};

use super::BpfError;

/// Opens the skeleton `B` of the object file `file` (named in the error).
pub fn open<B>(file: &str) -> Result<B::Output, BpfError>
where
    B: SkelBuilder<'static> + Default,
{
    // The skeleton borrows its object for as long as the programs stay attached, which is
    // the life of the agent: leak one small allocation instead of self-referencing.
    let object: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
    B::default()
        .open(object)
        .map_err(BpfError::libbpf(format!("opening the BPF object {file}")))
}

/// Sizes ring buffer (or map) `map` to `entries` (bytes for a ring); `what` names it and
/// the setting it comes from, in the error.
pub fn size(map: &mut OpenMapMut<'_>, entries: u32, what: &str) -> Result<(), BpfError> {
    map.set_max_entries(entries)
        .map_err(BpfError::libbpf(format!("sizing {what}")))
}

/// A kernel part's per-CPU drop counters: `N` slots indexed by its `enum sonde_*_drop`.
#[derive(Debug)]
pub struct DropArray<const N: usize> {
    map: MapHandle,
}

impl<const N: usize> DropArray<N> {
    /// The counters in `map` (a per-CPU array of `N` u64).
    pub fn new(map: MapHandle) -> Self {
        DropArray { map }
    }

    /// The counters summed over the CPUs.
    pub fn read(&self) -> [u64; N] {
        sum_percpu(&self.map)
    }
}

/// Every slot of a per-CPU array of u64 counters, summed over the CPUs (0 where a slot
/// cannot be read): one batched read, else one read per slot.
fn sum_percpu<const N: usize>(map: &MapHandle) -> [u64; N] {
    if let Some(out) = sum_percpu_batch(map) {
        return out;
    }
    let mut out = [0u64; N];
    for (i, slot) in out.iter_mut().enumerate() {
        let key = u32::try_from(i).unwrap_or(u32::MAX).to_ne_bytes();
        if let Ok(Some(per_cpu)) = map.lookup_percpu(&key, MapFlags::ANY) {
            *slot = per_cpu
                .iter()
                .filter_map(|v| v.get(..8).and_then(|b| b.try_into().ok()))
                .map(u64::from_ne_bytes)
                .sum();
        }
    }
    out
}

/// [`sum_percpu`] in one `BPF_MAP_LOOKUP_BATCH` (the drop counters have 2,048 slots: one
/// system call instead of 2,048). `None` if the kernel refuses it.
fn sum_percpu_batch<const N: usize>(map: &MapHandle) -> Option<[u64; N]> {
    use std::os::fd::{AsFd, AsRawFd};

    let cpus = libbpf_rs::num_possible_cpus().ok()?;
    let mut keys = vec![0u32; N];
    // A u64 per CPU per slot: per-CPU values are laid out 8-byte aligned.
    let mut values = vec![0u64; N * cpus];
    let mut count = u32::try_from(N).ok()?;
    let mut next_batch = 0u32;
    let opts = libbpf_rs::libbpf_sys::bpf_map_batch_opts {
        sz: std::mem::size_of::<libbpf_rs::libbpf_sys::bpf_map_batch_opts>() as _,
        ..Default::default()
    };
    // SAFETY: `keys` holds `count` u32 keys and `values` `count` × `cpus` u64 values, the
    // sizes of this map's key and per-CPU value; `next_batch` is a u32, an array's key.
    let rc = unsafe {
        libbpf_rs::libbpf_sys::bpf_map_lookup_batch(
            map.as_fd().as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::from_mut(&mut next_batch).cast(),
            keys.as_mut_ptr().cast(),
            values.as_mut_ptr().cast(),
            &mut count,
            &opts,
        )
    };
    // ENOENT: the end of the map was reached in this batch (libbpf returns -errno).
    if (rc != 0 && rc != -libc::ENOENT) || count as usize != N {
        return None;
    }
    let mut out = [0u64; N];
    for (key, per_cpu) in keys
        .iter()
        .zip(values.chunks_exact(cpus))
        .take(count as usize)
    {
        if let Some(slot) = out.get_mut(*key as usize) {
            *slot = per_cpu.iter().sum();
        }
    }
    Some(out)
}

/// While set, libbpf's warnings go to the debug log: a load the kernel may refuse, tried
/// before another.
static LIBBPF_QUIET: AtomicBool = AtomicBool::new(false);

/// Holds libbpf's warnings back to debug level while it lives (loads are made one at a
/// time, at start-up).
pub(crate) struct QuietLibbpf(());

impl QuietLibbpf {
    /// Quiet until dropped.
    pub(crate) fn new() -> QuietLibbpf {
        LIBBPF_QUIET.store(true, Ordering::Relaxed);
        QuietLibbpf(())
    }
}

impl Drop for QuietLibbpf {
    fn drop(&mut self) {
        LIBBPF_QUIET.store(false, Ordering::Relaxed);
    }
}

/// libbpf's own messages go to our log at debug level, warnings at warn.
pub fn route_libbpf_logs() {
    fn print(level: libbpf_rs::PrintLevel, msg: String) {
        let msg = msg.trim_end();
        match level {
            libbpf_rs::PrintLevel::Warn if LIBBPF_QUIET.load(Ordering::Relaxed) => {
                tracing::debug!(target: "libbpf", "{msg}")
            }
            libbpf_rs::PrintLevel::Warn => tracing::warn!(target: "libbpf", "{msg}"),
            libbpf_rs::PrintLevel::Info => tracing::debug!(target: "libbpf", "{msg}"),
            libbpf_rs::PrintLevel::Debug => tracing::trace!(target: "libbpf", "{msg}"),
        }
    }
    libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Debug, print)));
}
