//! DNS records: one message as the socket or packet hook captured it.

use std::net::SocketAddr;

use crate::decode::{comm_to_string, ip4, ip6, Clock, DecodeError, Owner, AF_INET, AF_INET6};
use crate::kernel::contract::{self as types, sonde_dns_event};

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

pub(crate) fn decode_dns(raw: &sonde_dns_event, clock: &Clock) -> Result<DnsPacket, DecodeError> {
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
            start: raw.owner.start,
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
