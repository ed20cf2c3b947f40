//! What every record's decoder shares: kernel monotonic time → wall clock ([`Clock`]), the
//! owning task as the kernel saw it ([`Owner`]), addresses, and [`DecodeError`].
//!
//! Pure: each protocol's decoder (`protocols::*::decode`) takes a byte slice and a
//! [`Clock`] and gives a typed record or a [`DecodeError`]; `protocols::decode`, a stage
//! above, picks the decoder by the record's kind byte.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `AF_INET`, as the kernel records it.
pub const AF_INET: u8 = 2;
/// `AF_INET6`, as the kernel records it.
pub const AF_INET6: u8 = 10;

/// The process that owned the socket, as the kernel saw it in process context.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Owner {
    /// Process id (tgid); 0 when no owner was seen (listener opened before Sonde started).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// When the process started, clock ticks since boot cut to 32 bits (0: unknown): with
    /// `pid`, which process this is (a pid is reused, never with its start).
    pub start: u32,
    /// Cgroup v2 id.
    pub cgroup_id: u64,
    /// The kernel's 16-byte task name.
    pub comm: String,
    /// The owner is the listening process because accept() was not seen.
    pub from_listener: bool,
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

    /// Now, on the events' time line: the monotonic clock plus the offset measured at
    /// start. What expiry compares event times with: a step of the wall clock (NTP, an
    /// operator's `date -s`) moves neither, so it neither times out every pending lookup
    /// (forward) nor stalls expiry (backward).
    pub fn now_unix_nanos(&self) -> u64 {
        let now = u64::try_from(clock_nanos(libc::CLOCK_MONOTONIC).max(0)).unwrap_or(u64::MAX);
        self.to_unix_nanos(now)
    }
}

pub(crate) fn clock_nanos(clock: libc::clockid_t) -> i128 {
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

/// The record `data` as the kernel laid it out, if it is long enough.
pub fn from_bytes<T: plain::Plain>(kind: u8, data: &[u8]) -> Result<&T, DecodeError> {
    plain::from_bytes(data).map_err(|_| DecodeError::Truncated {
        kind,
        len: data.len(),
        want: std::mem::size_of::<T>(),
    })
}

/// An IPv4 address as the kernel records it (the first 4 of 16 bytes).
pub fn ip4(addr: &[u8; 16], port: u16) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])),
        port,
    )
}

/// An IPv6 address as the kernel records it.
pub fn ip6(addr: &[u8; 16], port: u16) -> SocketAddr {
    let v6 = Ipv6Addr::from(*addr);
    // A dual-stack socket talking IPv4 reports a v4-mapped address: show it as IPv4.
    let ip = v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4);
    SocketAddr::new(ip, port)
}

/// The kernel's NUL-padded task name.
pub fn comm_to_string(comm: &[i8; 16]) -> String {
    let bytes: Vec<u8> = comm
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    /// The "now" expiry uses lives on the events' time line: the monotonic clock plus the
    /// offset measured at start, whatever the wall clock says. A clock whose offset is an
    /// hour off the real one stands for a wall clock stepped an hour after start.
    #[test]
    fn now_follows_the_monotonic_clock_not_the_wall_clock() {
        const HOUR: i128 = 3_600_000_000_000;
        let measured = Clock::measure();
        let stepped = Clock::with_offset(measured.offset_nanos + HOUR);
        let before = clock_nanos(libc::CLOCK_MONOTONIC);
        let (a, b) = (measured.now_unix_nanos(), stepped.now_unix_nanos());
        let after = clock_nanos(libc::CLOCK_MONOTONIC);
        let apart = i128::from(b) - i128::from(a) - HOUR;
        assert!(
            (0..=after - before).contains(&apart),
            "only the offset (and the time between the reads) moves it: {apart}"
        );
        let on_line = i128::from(a) - measured.offset_nanos;
        assert!(
            (before..=after).contains(&on_line),
            "{before} <= {on_line} <= {after}"
        );
        // An event stamped by the decoder now is not in the past or future of that now.
        let event = measured.to_unix_nanos(u64::try_from(before).unwrap_or(0));
        assert!(event <= measured.now_unix_nanos());
    }
}
