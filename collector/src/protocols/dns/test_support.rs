//! Synthetic packets for the tracker and cache tests, built from the golden captures.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use crate::decode::Owner;
pub(crate) use crate::protocols::dns::wire::golden_tests::golden;
use crate::protocols::dns::DnsPacket;

pub(crate) const SEC: u64 = 1_000_000_000;
pub(crate) const MS: u64 = 1_000_000;

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(crate) fn owner(pid: u32) -> Owner {
    Owner {
        pid,
        tid: pid,
        comm: if pid == 0 {
            String::new()
        } else {
            format!("proc{pid}")
        },
        ..Owner::default()
    }
}

/// A UDP packet from `src` to `dst`.
pub(crate) fn udp(
    ts: u64,
    egress: bool,
    src: &str,
    dst: &str,
    pid: u32,
    payload: Vec<u8>,
) -> DnsPacket {
    DnsPacket {
        ts_unix_nanos: ts,
        egress,
        tcp: false,
        src: addr(src),
        dst: addr(dst),
        cookie: 0,
        cgroup_id: 1,
        owner: owner(pid),
        payload,
        truncated: false,
    }
}

/// A TCP chunk from `src` to `dst` on the socket with `cookie`.
pub(crate) fn tcp(
    ts: u64,
    egress: bool,
    src: &str,
    dst: &str,
    cookie: u64,
    payload: &[u8],
) -> DnsPacket {
    DnsPacket {
        tcp: true,
        cookie,
        ..udp(
            ts,
            egress,
            src,
            dst,
            if egress { 42 } else { 0 },
            payload.to_vec(),
        )
    }
}

/// The same message with another transaction id.
pub(crate) fn with_id(mut msg: Vec<u8>, id: u16) -> Vec<u8> {
    msg[..2].copy_from_slice(&id.to_be_bytes());
    msg
}

/// The query a response answers: QR cleared, one question, no records.
pub(crate) fn query_for(response: &[u8]) -> Vec<u8> {
    // The question name at offset 12 is never compressed: it ends at the first zero byte.
    let name_end = 12 + response[12..].iter().position(|&b| b == 0).unwrap() + 1;
    let mut q = response[..name_end + 4].to_vec();
    q[2] &= 0x7F; // QR = 0
    q[2] &= !0x06; // AA, TC = 0
    q[3] = 0; // RA, RCODE = 0
    q[4..12].copy_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    q
}

/// `msg` framed for TCP.
pub(crate) fn framed(msg: &[u8]) -> Vec<u8> {
    let mut out = (msg.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(msg);
    out
}
