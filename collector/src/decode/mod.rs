//! Ring-buffer bytes → owned events; kernel monotonic time → wall clock.
//!
//! Pure: a byte slice and a [`Clock`] in, a [`KernelEvent`] or a [`DecodeError`] out.

mod capture;
mod conn;

pub use capture::{http_key, DataSegment, DnsPacket};
pub use conn::{classify, CloseReason, ConnRecord, Direction, Owner};

use crate::bpf::types::{
    self, sonde_conn_event, sonde_dns_event, sonde_http_event, sonde_proc_event,
};
use crate::http::kernel::KernelExchange;

use conn::comm_to_string;

/// A record from the kernel, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum KernelEvent {
    /// A tracked TCP connection closed.
    ConnClose(Box<ConnRecord>),
    /// A periodic report of a connection still open: counters are totals so far.
    ConnUpdate(Box<ConnRecord>),
    /// A process called execve: its cached identity is stale.
    ProcExec {
        /// The process.
        pid: u32,
        /// Its parent.
        ppid: u32,
        /// Its name after the exec (the new executable's base name, 15 bytes at most).
        comm: String,
    },
    /// A process exited.
    ProcExit {
        /// The process.
        pid: u32,
        /// Its name at the exit (15 bytes at most): what names it once /proc no longer
        /// can, for records still in flight.
        comm: String,
    },
    /// A DNS message seen on a watched port.
    DnsPacket(Box<DnsPacket>),
    /// Bytes a data operation moved on an HTTP connection (not boxed: it is small, and
    /// there are several per HTTP request).
    Data(DataSegment),
    /// An HTTP exchange the kernel timed and counted, to become an exemplar span.
    HttpKernel(Box<KernelExchange>),
}

/// Converts the kernel's CLOCK_MONOTONIC nanoseconds into wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// realtime − monotonic, in nanoseconds.
    offset_nanos: i128,
}

impl Clock {
    /// Measures the offset once: of several paired readings, the one taken with the
    /// smallest gap between its two monotonic reads is kept.
    pub fn measure() -> Clock {
        let mut best: Option<(i128, i128)> = None;
        for _ in 0..5 {
            let m1 = clock_nanos(libc::CLOCK_MONOTONIC);
            let r = clock_nanos(libc::CLOCK_REALTIME);
            let m2 = clock_nanos(libc::CLOCK_MONOTONIC);
            let gap = m2 - m1;
            let offset = r - (m1 + gap / 2);
            if best.is_none_or(|(g, _)| gap < g) {
                best = Some((gap, offset));
            }
        }
        Clock {
            offset_nanos: best.map_or(0, |(_, o)| o),
        }
    }

    /// A clock with a fixed offset, for tests.
    pub fn with_offset(offset_nanos: i128) -> Clock {
        Clock { offset_nanos }
    }

    /// Kernel monotonic nanoseconds → Unix nanoseconds.
    pub fn to_unix_nanos(&self, monotonic_nanos: u64) -> u64 {
        let wall = i128::from(monotonic_nanos) + self.offset_nanos;
        u64::try_from(wall.max(0)).unwrap_or(u64::MAX)
    }
}

fn clock_nanos(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes to it.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the record its kind declares.
    #[error(
        "ring-buffer record of kind {kind} is {len} bytes, shorter than its {want}-byte layout"
    )]
    Truncated {
        /// The kind byte.
        kind: u8,
        /// Bytes received.
        len: usize,
        /// Bytes the layout needs.
        want: usize,
    },
    /// A kind this agent does not know (a newer BPF object?).
    #[error("ring-buffer record of unknown kind {0}")]
    UnknownKind(u8),
    /// An empty record.
    #[error("empty ring-buffer record")]
    Empty,
    /// An address family other than AF_INET/AF_INET6.
    #[error("connection record with address family {0}")]
    Family(u8),
    /// An HTTP record whose role is neither server nor client.
    #[error("HTTP exchange record with role {0}")]
    HttpRole(u8),
}

/// Decodes one ring-buffer record.
pub fn decode(data: &[u8], clock: &Clock) -> Result<KernelEvent, DecodeError> {
    let kind = *data.first().ok_or(DecodeError::Empty)?;
    match kind {
        types::EV_CONN_CLOSE => {
            let raw: &sonde_conn_event = from_bytes(kind, data)?;
            conn::decode(raw, clock).map(|r| KernelEvent::ConnClose(Box::new(r)))
        }
        types::EV_CONN_UPDATE => {
            let raw: &sonde_conn_event = from_bytes(kind, data)?;
            conn::decode(raw, clock).map(|r| KernelEvent::ConnUpdate(Box::new(r)))
        }
        types::EV_PROC_EXEC | types::EV_PROC_EXIT => {
            let raw: &sonde_proc_event = from_bytes(kind, data)?;
            Ok(if kind == types::EV_PROC_EXEC {
                KernelEvent::ProcExec {
                    pid: raw.pid,
                    ppid: raw.ppid,
                    comm: comm_to_string(&raw.comm),
                }
            } else {
                KernelEvent::ProcExit {
                    pid: raw.pid,
                    comm: comm_to_string(&raw.comm),
                }
            })
        }
        types::EV_DATA => capture::decode_data(data, clock).map(KernelEvent::Data),
        types::EV_HTTP => {
            let raw: &sonde_http_event = from_bytes(kind, data)?;
            capture::decode_http(raw, clock).map(|e| KernelEvent::HttpKernel(Box::new(e)))
        }
        types::EV_DNS_PACKET => {
            let raw: &sonde_dns_event = from_bytes(kind, data)?;
            capture::decode_dns(raw, clock).map(|p| KernelEvent::DnsPacket(Box::new(p)))
        }
        other => Err(DecodeError::UnknownKind(other)),
    }
}

fn from_bytes<T: plain::Plain>(kind: u8, data: &[u8]) -> Result<&T, DecodeError> {
    plain::from_bytes(data).map_err(|_| DecodeError::Truncated {
        kind,
        len: data.len(),
        want: std::mem::size_of::<T>(),
    })
}

#[cfg(test)]
mod tests;
