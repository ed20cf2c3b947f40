//! One home per protocol: each holds its kernel program's loader (`probes`), its record
//! decoder, its pure wire parser (`wire`), its tracker and its signal builders, and a
//! handler the pipeline dispatches to. The next protocol copies the shape of these.
//!
//! - [`tcp`]: connections (conn.bpf.c): flows, connection spans, TCP metrics.
//! - [`dns`]: DNS messages (dns.bpf.c): lookups, their spans and metrics, the names they
//!   teach the enrichment step.
//! - [`http`]: HTTP/1.x data capture (data.bpf.c): exchanges, their spans and metrics.
//! - [`drops`]: packets the kernel dropped (drops.bpf.c), by its reason.
//! - [`listeners`]: listening sockets (conn.bpf.c's periodic pass): the inventory.

pub mod dns;
pub mod drops;
pub mod http;
pub mod listeners;
pub mod tcp;

use std::borrow::Cow;

use crate::decode::{comm_to_string, from_bytes, Clock, DecodeError, Owner};
use crate::kernel::contract::{
    self, sonde_conn_event, sonde_dns_event, sonde_http_event, sonde_listen_event, sonde_proc_event,
};

use dns::DnsPacket;
use http::DataSegment;
use tcp::ConnRecord;

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
        /// Its start (clock ticks since boot, 32 bits): an exec keeps it.
        start: u32,
        /// Its name after the exec (the new executable's base name, 15 bytes at most).
        comm: String,
    },
    /// A process exited.
    ProcExit {
        /// The process.
        pid: u32,
        /// Its start (clock ticks since boot, 32 bits).
        start: u32,
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
    HttpKernel(Box<http::kernel::KernelExchange>),
    /// A listening socket started, stopped, or dropped handshakes.
    Listen(Box<listeners::ListenRecord>),
}

impl KernelEvent {
    /// The process the event is about (0: none): its events are handled in order.
    pub fn pid(&self) -> u32 {
        match self {
            KernelEvent::ConnClose(c) | KernelEvent::ConnUpdate(c) => c.owner.pid,
            KernelEvent::ProcExec { pid, .. } | KernelEvent::ProcExit { pid, .. } => *pid,
            KernelEvent::DnsPacket(p) => p.owner.pid,
            KernelEvent::Data(d) => d.pid,
            KernelEvent::HttpKernel(x) => x.key.pid,
            KernelEvent::Listen(l) => l.owner.pid,
        }
    }

    /// The process whose signal the event becomes, as the kernel recorded it (the data
    /// records carry only its pid and thread): what must be known of it before the event
    /// is handled. `None` for an event that names no process or that tells of one.
    pub fn owner(&self) -> Option<Cow<'_, Owner>> {
        let by_ids = |pid: u32, tid: u32| {
            Cow::Owned(Owner {
                pid,
                tid,
                ..Owner::default()
            })
        };
        let owner = match self {
            KernelEvent::ConnClose(c) | KernelEvent::ConnUpdate(c) => Cow::Borrowed(&c.owner),
            KernelEvent::DnsPacket(p) => Cow::Borrowed(&p.owner),
            KernelEvent::Listen(l) => Cow::Borrowed(&l.owner),
            KernelEvent::Data(d) => by_ids(d.pid, d.tid),
            KernelEvent::HttpKernel(x) => by_ids(x.key.pid, x.tid),
            KernelEvent::ProcExec { .. } | KernelEvent::ProcExit { .. } => return None,
        };
        (owner.pid != 0).then_some(owner)
    }
}

/// Decodes one ring-buffer record.
pub fn decode(data: &[u8], clock: &Clock) -> Result<KernelEvent, DecodeError> {
    let kind = *data.first().ok_or(DecodeError::Empty)?;
    match kind {
        contract::EV_CONN_CLOSE => {
            let raw: &sonde_conn_event = from_bytes(kind, data)?;
            tcp::record::decode(raw, clock).map(|r| KernelEvent::ConnClose(Box::new(r)))
        }
        contract::EV_CONN_UPDATE => {
            let raw: &sonde_conn_event = from_bytes(kind, data)?;
            tcp::record::decode(raw, clock).map(|r| KernelEvent::ConnUpdate(Box::new(r)))
        }
        contract::EV_PROC_EXEC | contract::EV_PROC_EXIT => {
            let raw: &sonde_proc_event = from_bytes(kind, data)?;
            Ok(if kind == contract::EV_PROC_EXEC {
                KernelEvent::ProcExec {
                    pid: raw.pid,
                    ppid: raw.ppid,
                    start: raw.start,
                    comm: comm_to_string(&raw.comm),
                }
            } else {
                KernelEvent::ProcExit {
                    pid: raw.pid,
                    start: raw.start,
                    comm: comm_to_string(&raw.comm),
                }
            })
        }
        contract::EV_DATA => http::decode::decode_data(data, clock).map(KernelEvent::Data),
        contract::EV_HTTP => {
            let raw: &sonde_http_event = from_bytes(kind, data)?;
            http::decode::decode_http(raw, clock).map(|e| KernelEvent::HttpKernel(Box::new(e)))
        }
        contract::EV_DNS_PACKET => {
            let raw: &sonde_dns_event = from_bytes(kind, data)?;
            dns::decode::decode_dns(raw, clock).map(|p| KernelEvent::DnsPacket(Box::new(p)))
        }
        contract::EV_LISTEN | contract::EV_LISTEN_UPDATE | contract::EV_UNLISTEN => {
            let raw: &sonde_listen_event = from_bytes(kind, data)?;
            listeners::record::decode(raw, clock).map(|l| KernelEvent::Listen(Box::new(l)))
        }
        other => Err(DecodeError::UnknownKind(other)),
    }
}

#[cfg(test)]
mod decode_tests;
#[cfg(test)]
mod signals_golden_tests;
