//! Listener records: which socket, where, who owns it, how many handshakes it dropped.

use std::net::SocketAddr;

use crate::decode::{ip4, ip6, Clock, DecodeError, Owner, AF_INET, AF_INET6};
use crate::kernel::contract::{
    sonde_listen_event, EV_LISTEN, EV_LISTEN_UPDATE, LISTEN_F_PREEXISTING, LISTEN_F_UNANNOUNCED,
};
use crate::protocols::tcp::record::owner;

/// What a listener record tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenKind {
    /// First seen listening.
    Listen,
    /// Its drop count grew.
    Update,
    /// It stopped listening.
    Unlisten,
}

/// One listening socket, as a kernel record described it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenRecord {
    /// What the record tells.
    pub kind: ListenKind,
    /// Socket cookie: one per socket for the life of the boot.
    pub cookie: u64,
    /// The address and port it listens on.
    pub local: SocketAddr,
    /// Network namespace inode.
    pub netns: u32,
    /// `listen()`'s backlog as the kernel keeps it.
    pub backlog: u32,
    /// The socket's drop count (`sk_drops`) in total.
    pub drops: u32,
    /// When it started listening (or was found listening), nanoseconds since the epoch.
    pub start_unix_nanos: u64,
    /// When the record was made, nanoseconds since the epoch.
    pub time_unix_nanos: u64,
    /// The process that called `listen()` (none for one found at start: the walk names it).
    pub owner: Owner,
    /// Listening before the agent started.
    pub preexisting: bool,
    /// An [`ListenKind::Unlisten`] of a socket no [`ListenKind::Listen`] was sent for (it
    /// listened for less than a periodic pass).
    pub unannounced: bool,
}

pub(crate) fn decode(raw: &sonde_listen_event, clock: &Clock) -> Result<ListenRecord, DecodeError> {
    let local = match raw.family {
        AF_INET => ip4(&raw.addr, raw.port),
        AF_INET6 => ip6(&raw.addr, raw.port),
        other => return Err(DecodeError::Family(other)),
    };
    let kind = match raw.kind {
        EV_LISTEN => ListenKind::Listen,
        EV_LISTEN_UPDATE => ListenKind::Update,
        _ => ListenKind::Unlisten,
    };
    Ok(ListenRecord {
        kind,
        cookie: raw.cookie,
        local,
        netns: raw.netns,
        backlog: raw.backlog,
        drops: raw.drops,
        start_unix_nanos: clock.to_unix_nanos(raw.start_ns),
        time_unix_nanos: clock.to_unix_nanos(raw.ts_ns),
        owner: owner(&raw.owner, false),
        preexisting: raw.flags & LISTEN_F_PREEXISTING != 0,
        unannounced: raw.flags & LISTEN_F_UNANNOUNCED != 0,
    })
}
