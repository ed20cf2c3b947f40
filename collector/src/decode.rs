//! Ring-buffer bytes → owned events; kernel monotonic time → wall clock.
//!
//! Pure: a byte slice and a [`Clock`] in, a [`KernelEvent`] or a [`DecodeError`] out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use sonde_semconv::attr::close_reason;

use crate::bpf::types::{self, sonde_conn_event, sonde_dns_event, sonde_proc_event};

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const ECONNREFUSED: u32 = 111;
const ETIMEDOUT: u32 = 110;
const ECONNRESET: u32 = 104;
const EHOSTUNREACH: u32 = 113;
const ENETUNREACH: u32 = 101;

// enum sonde_conn_flags
const F_ESTABLISHED: u16 = 1 << 0;
const F_RST_SENT: u16 = 1 << 1;
const F_RST_RECEIVED: u16 = 1 << 2;
const F_OWNER_LISTENER: u16 = 1 << 4;

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
    },
    /// A DNS message seen on a watched port.
    DnsPacket(Box<DnsPacket>),
    /// Bytes a data syscall moved on an HTTP connection.
    Data(Box<DataSegment>),
}

/// One data syscall on an HTTP connection: its length and a bounded prefix of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSegment {
    /// Wall-clock time of the syscall's exit, Unix nanoseconds.
    pub ts_unix_nanos: u64,
    /// Socket cookie.
    pub cookie: u64,
    /// Process.
    pub pid: u32,
    /// Thread.
    pub tid: u32,
    /// Written by the process (else read).
    pub egress: bool,
    /// A sendfile(): `len` bytes, none captured.
    pub sendfile: bool,
    /// Bytes the syscall moved (may exceed `data`).
    pub len: u64,
    /// The captured prefix.
    pub data: Vec<u8>,
}

/// One DNS message as captured, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsPacket {
    /// Wall-clock capture time, Unix nanoseconds.
    pub ts_unix_nanos: u64,
    /// Leaving a local socket (else arriving at one).
    pub egress: bool,
    /// TCP payload (length-prefixed framing), else one UDP datagram.
    pub tcp: bool,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// Socket cookie (0: none).
    pub cookie: u64,
    /// Cgroup v2 id of the socket.
    pub cgroup_id: u64,
    /// The sending task on egress; `pid` 0 on ingress.
    pub owner: Owner,
    /// The captured bytes.
    pub payload: Vec<u8>,
    /// The message was longer than the capture.
    pub truncated: bool,
}

/// Who opened the connection, seen from the owning process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The process called connect().
    Client,
    /// The process accepted it.
    Server,
}

impl Direction {
    /// The `sonde.connection.direction` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Client => sonde_semconv::attr::DIRECTION_CLIENT,
            Direction::Server => sonde_semconv::attr::DIRECTION_SERVER,
        }
    }
}

/// The process that owned the socket, as the kernel saw it in process context.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Owner {
    /// Process id (tgid); 0 when no owner was seen (listener opened before Sonde started).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Cgroup v2 id.
    pub cgroup_id: u64,
    /// The kernel's 16-byte task name.
    pub comm: String,
    /// The owner is the listening process because accept() was not seen.
    pub from_listener: bool,
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Orderly close.
    Fin,
    /// This side sent a RST.
    RstSent,
    /// The peer sent a RST.
    RstReceived,
    /// The kernel gave up on an established connection.
    Timeout,
    /// connect() answered by a RST.
    Refused,
    /// connect() timed out.
    ConnectTimeout,
    /// connect() failed otherwise (unreachable, aborted).
    Failed,
    /// Closed before it was established, for no reason the kernel recorded.
    Other,
}

impl CloseReason {
    /// The `sonde.tcp.close_reason` value.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Fin => close_reason::FIN,
            CloseReason::RstSent => close_reason::RST_SENT,
            CloseReason::RstReceived => close_reason::RST_RECEIVED,
            CloseReason::Timeout | CloseReason::ConnectTimeout => close_reason::TIMEOUT,
            CloseReason::Refused => close_reason::REFUSED,
            CloseReason::Failed => close_reason::FAILED,
            CloseReason::Other => close_reason::OTHER,
        }
    }

    /// A connect() that never reached ESTABLISHED.
    pub fn is_failed_connect(self) -> bool {
        matches!(
            self,
            CloseReason::Refused | CloseReason::ConnectTimeout | CloseReason::Failed
        )
    }

    /// Whether the span of the connection is an error.
    pub fn is_error(self) -> bool {
        !matches!(self, CloseReason::Fin | CloseReason::Other)
    }
}

/// One TCP connection as reported by the kernel at close.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnRecord {
    /// Socket cookie: unique per socket for the life of the boot.
    pub cookie: u64,
    /// Who opened it.
    pub direction: Direction,
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port.
    pub remote: SocketAddr,
    /// Network namespace inode.
    pub netns: u32,
    /// Wall-clock start, nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// Wall-clock end, nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
    /// Payload bytes sent (each byte once).
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Segments sent.
    pub segs_out: u32,
    /// Segments received.
    pub segs_in: u32,
    /// Segments retransmitted.
    pub retransmits: u32,
    /// Smoothed RTT in microseconds (0: never measured).
    pub srtt_us: u32,
    /// Lowest RTT seen, microseconds.
    pub min_rtt_us: u32,
    /// How it ended.
    pub reason: CloseReason,
    /// The owning process.
    pub owner: Owner,
}

impl ConnRecord {
    /// Duration in nanoseconds.
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }

    /// `ipv4` or `ipv6` (an IPv4-mapped IPv6 socket counts as IPv6).
    pub fn network_type(&self) -> &'static str {
        if self.remote.is_ipv4() {
            "ipv4"
        } else {
            "ipv6"
        }
    }

    /// The server's port: the remote one for a client, the local one for a server.
    pub fn server_port(&self) -> u16 {
        match self.direction {
            Direction::Client => self.remote.port(),
            Direction::Server => self.local.port(),
        }
    }
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
}

/// Decodes one ring-buffer record.
pub fn decode(data: &[u8], clock: &Clock) -> Result<KernelEvent, DecodeError> {
    let kind = *data.first().ok_or(DecodeError::Empty)?;
    match kind {
        types::EV_CONN_CLOSE => {
            let raw: &sonde_conn_event = from_bytes(kind, data)?;
            decode_conn(raw, clock).map(|r| KernelEvent::ConnClose(Box::new(r)))
        }
        types::EV_CONN_UPDATE => {
            let raw: &sonde_conn_event = from_bytes(kind, data)?;
            decode_conn(raw, clock).map(|r| KernelEvent::ConnUpdate(Box::new(r)))
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
                KernelEvent::ProcExit { pid: raw.pid }
            })
        }
        types::EV_DATA => decode_data(data, clock).map(|d| KernelEvent::Data(Box::new(d))),
        types::EV_DNS_PACKET => {
            let raw: &sonde_dns_event = from_bytes(kind, data)?;
            decode_dns(raw, clock).map(|p| KernelEvent::DnsPacket(Box::new(p)))
        }
        other => Err(DecodeError::UnknownKind(other)),
    }
}

/// The data record is variable-length (header + captured bytes), so it is read by
/// offset rather than as the whole `sonde_data_event`.
fn decode_data(data: &[u8], clock: &Clock) -> Result<DataSegment, DecodeError> {
    let header = data
        .get(..types::DATA_HEADER)
        .ok_or(DecodeError::Truncated {
            kind: types::EV_DATA,
            len: data.len(),
            want: types::DATA_HEADER,
        })?;
    let u16_at = |o: usize| u16::from_ne_bytes([header[o], header[o + 1]]);
    let u32_at =
        |o: usize| u32::from_ne_bytes([header[o], header[o + 1], header[o + 2], header[o + 3]]);
    let u64_at = |o: usize| u64::from(u32_at(o)) | (u64::from(u32_at(o + 4)) << 32);
    let flags = header[1];
    let captured = usize::from(u16_at(2));
    let body = data
        .get(types::DATA_HEADER..types::DATA_HEADER + captured)
        .ok_or(DecodeError::Truncated {
            kind: types::EV_DATA,
            len: data.len(),
            want: types::DATA_HEADER + captured,
        })?;
    Ok(DataSegment {
        ts_unix_nanos: clock.to_unix_nanos(u64_at(24)),
        cookie: u64_at(16),
        pid: u32_at(4),
        tid: u32_at(8),
        egress: flags & types::DATA_F_EGRESS != 0,
        sendfile: flags & types::DATA_F_SENDFILE != 0,
        len: u64_at(32),
        data: body.to_vec(),
    })
}

fn decode_dns(raw: &sonde_dns_event, clock: &Clock) -> Result<DnsPacket, DecodeError> {
    let (src, dst) = match raw.family {
        AF_INET => (ip4(&raw.saddr, raw.sport), ip4(&raw.daddr, raw.dport)),
        AF_INET6 => (ip6(&raw.saddr, raw.sport), ip6(&raw.daddr, raw.dport)),
        other => return Err(DecodeError::Family(other)),
    };
    let captured = usize::from(raw.captured).min(raw.data.len());
    let owner = if raw.flags & types::DNS_F_OWNER != 0 {
        Owner {
            pid: raw.owner.pid,
            tid: raw.owner.tid,
            ppid: raw.owner.ppid,
            cgroup_id: raw.owner.cgroup_id,
            comm: comm_to_string(&raw.owner.comm),
            from_listener: false,
        }
    } else {
        Owner::default()
    };
    Ok(DnsPacket {
        ts_unix_nanos: clock.to_unix_nanos(raw.ts_ns),
        egress: raw.flags & types::DNS_F_EGRESS != 0,
        tcp: raw.flags & types::DNS_F_TCP != 0,
        src,
        dst,
        cookie: raw.cookie,
        cgroup_id: raw.cgroup_id,
        owner,
        payload: raw.data[..captured].to_vec(),
        truncated: raw.flags & types::DNS_F_TRUNCATED != 0,
    })
}

fn from_bytes<T: plain::Plain>(kind: u8, data: &[u8]) -> Result<&T, DecodeError> {
    plain::from_bytes(data).map_err(|_| DecodeError::Truncated {
        kind,
        len: data.len(),
        want: std::mem::size_of::<T>(),
    })
}

fn decode_conn(raw: &sonde_conn_event, clock: &Clock) -> Result<ConnRecord, DecodeError> {
    let (local, remote) = match raw.family {
        AF_INET => (ip4(&raw.laddr, raw.lport), ip4(&raw.raddr, raw.rport)),
        AF_INET6 => (ip6(&raw.laddr, raw.lport), ip6(&raw.raddr, raw.rport)),
        other => return Err(DecodeError::Family(other)),
    };
    let direction = if raw.direction == 2 {
        Direction::Server
    } else {
        Direction::Client
    };
    Ok(ConnRecord {
        cookie: raw.cookie,
        direction,
        local,
        remote,
        netns: raw.netns,
        start_unix_nanos: clock.to_unix_nanos(raw.start_ns),
        end_unix_nanos: clock.to_unix_nanos(raw.end_ns),
        bytes_sent: raw.bytes_sent,
        bytes_received: raw.bytes_received,
        segs_out: raw.segs_out,
        segs_in: raw.segs_in,
        retransmits: raw.total_retrans,
        srtt_us: raw.srtt_us,
        min_rtt_us: raw.min_rtt_us,
        reason: classify(raw.flags, raw.sk_err, direction),
        owner: Owner {
            pid: raw.owner.pid,
            tid: raw.owner.tid,
            ppid: raw.owner.ppid,
            cgroup_id: raw.owner.cgroup_id,
            comm: comm_to_string(&raw.owner.comm),
            from_listener: raw.flags & F_OWNER_LISTENER != 0,
        },
    })
}

/// How the connection ended, from the facts the hooks gathered.
pub fn classify(flags: u16, sk_err: u32, direction: Direction) -> CloseReason {
    let established = flags & F_ESTABLISHED != 0;
    // An abortive close we made also leaves ECONNRESET in sk_err: our own RST wins.
    let rst_sent = flags & F_RST_SENT != 0;
    let rst_received = flags & F_RST_RECEIVED != 0 || (sk_err == ECONNRESET && !rst_sent);
    if !established {
        return match (direction, sk_err) {
            (Direction::Client, ECONNREFUSED) => CloseReason::Refused,
            (Direction::Client, _) if rst_received => CloseReason::Refused,
            (Direction::Client, ETIMEDOUT) => CloseReason::ConnectTimeout,
            (Direction::Client, EHOSTUNREACH | ENETUNREACH) => CloseReason::Failed,
            (Direction::Client, _) => CloseReason::Failed,
            (Direction::Server, _) => CloseReason::Other,
        };
    }
    if rst_received {
        CloseReason::RstReceived
    } else if rst_sent {
        CloseReason::RstSent
    } else if sk_err == ETIMEDOUT {
        CloseReason::Timeout
    } else {
        CloseReason::Fin
    }
}

fn ip4(addr: &[u8; 16], port: u16) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])),
        port,
    )
}

fn ip6(addr: &[u8; 16], port: u16) -> SocketAddr {
    let v6 = Ipv6Addr::from(*addr);
    // A dual-stack socket talking IPv4 reports a v4-mapped address: show it as IPv4.
    let ip = v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4);
    SocketAddr::new(ip, port)
}

fn comm_to_string(comm: &[i8; 16]) -> String {
    let bytes: Vec<u8> = comm
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
