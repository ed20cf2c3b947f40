//! TCP connection records: who, where, how much, how it ended.

use std::net::SocketAddr;

use sonde_semconv::attr::close_reason;

use crate::decode::{comm_to_string, ip4, ip6, Clock, DecodeError, Owner, AF_INET, AF_INET6};
use crate::kernel::contract::{
    sonde_conn_drops, sonde_conn_event, sonde_owner, CONN_DROP_SLOTS, SKB_DIR_RECEIVE,
};

pub(crate) const ECONNREFUSED: u32 = 111;
pub(crate) const ETIMEDOUT: u32 = 110;
pub(crate) const ECONNRESET: u32 = 104;
pub(crate) const EHOSTUNREACH: u32 = 113;
pub(crate) const ENETUNREACH: u32 = 101;

use crate::kernel::contract::{
    DIR_SERVER, F_ESTABLISHED, F_OWNER_LISTENER, F_PREEXISTING, F_RST_RECEIVED, F_RST_SENT,
};

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
    /// Open before the agent started: found by the walk at start, counted from then.
    pub preexisting: bool,
    /// The packets of it the kernel dropped, so far.
    pub drops: ConnDrops,
}

/// The packets of one connection the kernel dropped (drops.bpf.c), by reason and
/// direction: up to [`CONN_DROP_SLOTS`] pairs, each kept from its first drop; the drops of
/// any further pair are counted in `unslotted` here and by their reason for the host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnDrops {
    /// The pairs in the order of their first drop; unused ones have a count of 0.
    pub slots: [DropSlot; CONN_DROP_SLOTS],
    /// Drops of a pair past the slots.
    pub unslotted: u32,
}

/// One (reason, direction) of a connection's drops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropSlot {
    /// The kernel's `enum skb_drop_reason` value (255: every value past Sonde's table).
    pub reason: u16,
    /// The packets were arriving (else leaving).
    pub receive: bool,
    /// Packets dropped.
    pub count: u32,
    /// When the first was, nanoseconds since the Unix epoch.
    pub first_unix_nanos: u64,
}

impl ConnDrops {
    /// Every packet dropped.
    pub fn total(&self) -> u64 {
        self.slots.iter().map(|s| u64::from(s.count)).sum::<u64>() + u64::from(self.unslotted)
    }

    /// The index of the slot with the most drops (the first of equals), if any is used.
    pub fn top_slot(&self) -> Option<usize> {
        (self.slots.iter().enumerate())
            .filter(|(_, s)| s.count > 0)
            .max_by_key(|(i, s)| (s.count, std::cmp::Reverse(*i)))
            .map(|(i, _)| i)
    }

    fn decode(raw: &sonde_conn_drops, clock: &Clock) -> ConnDrops {
        let mut out = ConnDrops {
            unslotted: raw.unslotted,
            ..ConnDrops::default()
        };
        for (i, slot) in out.slots.iter_mut().enumerate() {
            let key = raw.key[i];
            if key == 0 {
                continue;
            }
            *slot = DropSlot {
                reason: (key & 0xffff) as u16,
                receive: key >> 16 == SKB_DIR_RECEIVE,
                count: raw.count[i],
                first_unix_nanos: clock.to_unix_nanos(raw.first_ns[i]),
            };
        }
        out
    }
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

pub(crate) fn decode(raw: &sonde_conn_event, clock: &Clock) -> Result<ConnRecord, DecodeError> {
    let (local, remote) = match raw.family {
        AF_INET => (ip4(&raw.laddr, raw.lport), ip4(&raw.raddr, raw.rport)),
        AF_INET6 => (ip6(&raw.laddr, raw.lport), ip6(&raw.raddr, raw.rport)),
        other => return Err(DecodeError::Family(other)),
    };
    let direction = if raw.direction == DIR_SERVER {
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
        owner: owner(&raw.owner, raw.flags & F_OWNER_LISTENER != 0),
        preexisting: raw.flags & F_PREEXISTING != 0,
        drops: ConnDrops::decode(&raw.drops, clock),
    })
}

/// The owner the kernel (or the walk at start) recorded.
pub(crate) fn owner(raw: &sonde_owner, from_listener: bool) -> Owner {
    Owner {
        pid: raw.pid,
        tid: raw.tid,
        ppid: raw.ppid,
        start: raw.start,
        cgroup_id: raw.cgroup_id,
        comm: comm_to_string(&raw.comm),
        from_listener,
    }
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
