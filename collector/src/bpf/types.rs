//! The generated skeleton and its record types, checked against the C contract.

// Generated code: the skeleton is libbpf-cargo's, not ours to lint.
#![allow(
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::undocumented_unsafe_blocks,
    missing_docs
)]
#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    dead_code,
    unused_imports
)]

/// The skeleton of conn.bpf.c.
pub mod conn {
    include!(concat!(env!("OUT_DIR"), "/conn.skel.rs"));
}

/// The skeleton of dns.bpf.c.
pub mod dns {
    include!(concat!(env!("OUT_DIR"), "/dns.skel.rs"));
}

pub use conn::types::{sonde_conn_event, sonde_listener_rec, sonde_owner, sonde_proc_event};
pub use conn::{ConnSkel, ConnSkelBuilder};
/// The skeleton of data.bpf.c.
pub mod data {
    include!(concat!(env!("OUT_DIR"), "/data.skel.rs"));
}

pub use data::types::{sonde_data_event, sonde_http_event, sonde_http_hist, sonde_http_key};
pub use data::{DataSkel, DataSkelBuilder};
pub use dns::types::sonde_dns_event;
pub use dns::{DnsSkel, DnsSkelBuilder};

/// Record kinds from `enum sonde_event_kind` in bpf-src/include/events.h.
pub const EV_CONN_CLOSE: u8 = 1;
/// A process called execve.
pub const EV_PROC_EXEC: u8 = 2;
/// A process exited.
pub const EV_PROC_EXIT: u8 = 3;
/// A periodic report of a connection still open.
pub const EV_CONN_UPDATE: u8 = 4;
/// A DNS message.
pub const EV_DNS_PACKET: u8 = 5;
/// Bytes a data syscall moved on an HTTP connection.
pub const EV_DATA: u8 = 6;
/// An HTTP exchange the kernel timed and counted, sent up to become an exemplar span.
pub const EV_HTTP: u8 = 7;

/// `SONDE_DATA_MAX`: bytes copied per syscall at most.
pub const DATA_MAX: u32 = 1024;
/// Bytes before `data[]` in a data record.
pub const DATA_HEADER: usize = 40;
/// `enum sonde_data_flags`: written by the process.
pub const DATA_F_EGRESS: u8 = 1 << 0;
/// sendfile(): a length, no bytes.
pub const DATA_F_SENDFILE: u8 = 1 << 1;
/// The syscall moved more than was copied.
pub const DATA_F_CUT: u8 = 1 << 2;
/// Operations of the connection were left out since the last record: an exchange starts.
pub const DATA_F_GAP: u8 = 1 << 3;
/// `enum sonde_data_drop`: the data ring buffer was full.
pub const DATA_DROP_RINGBUF_FULL: u32 = 0;
/// `enum sonde_data_drop`: the user buffer could not be read.
pub const DATA_DROP_READ_FAILED: u32 = 3;
/// `enum sonde_data_drop`: no socket storage for a new HTTP connection.
pub const DATA_DROP_NO_STORAGE: u32 = 4;
/// `enum sonde_data_drop`: an exchange timed in the kernel found no series slot.
pub const DATA_DROP_SERIES_FULL: u32 = 5;
/// `enum sonde_data_drop`: a network namespace with HTTP connections the sweep by
/// namespace cannot visit (its table was full).
pub const DATA_DROP_NETNS_FULL: u32 = 6;
/// `enum sonde_data_drop`: exchanges a flush of a connection's counts could not take its
/// turn for.
pub const DATA_DROP_FLUSH_BUSY: u32 = 7;
/// `enum sonde_data_drop`: a request that came while the kernel timed another.
pub const DATA_DROP_PIPELINED: u32 = 8;
/// `enum sonde_data_drop`: an exchange whose status line the kernel could not read.
pub const DATA_DROP_UNPARSED: u32 = 9;
/// `enum sonde_data_drop`: not a loss, connections handed to the agent's parser because
/// they pipeline.
pub const DATA_HANDED_PIPELINED: u32 = 10;
/// Number of data drop counters (`enum sonde_data_drop`).
pub const DATA_DROP_MAX: u32 = 11;
/// `SONDE_HTTP_BOUNDS`: bounds of the kernel's duration histograms.
pub const HTTP_BOUNDS: usize = 14;
/// `enum sonde_http_role`: the local process read the request.
pub const HTTP_SERVER: u8 = 1;
/// `enum sonde_http_role`: the local process wrote it.
pub const HTTP_CLIENT: u8 = 2;

/// `enum sonde_dns_flags`.
pub const DNS_F_EGRESS: u16 = 1 << 0;
/// TCP payload.
pub const DNS_F_TCP: u16 = 1 << 1;
/// The copy was cut.
pub const DNS_F_TRUNCATED: u16 = 1 << 2;
/// The owner was taken from the sending task.
pub const DNS_F_OWNER: u16 = 1 << 3;
/// Watched-port slots (`SONDE_DNS_PORTS_MAX`).
pub const DNS_PORTS_MAX: usize = 8;
/// `enum sonde_dns_drop`: the ring buffer was full.
pub const DNS_DROP_RINGBUF_FULL: u32 = 0;
/// Messages longer than the copy.
pub const DNS_DROP_TRUNCATED: u32 = 1;
/// IPv6 extension headers or IPv4 fragments, not followed.
pub const DNS_DROP_UNPARSED_L3: u32 = 2;
/// The payload could not be copied (from the packet or the caller's buffer).
pub const DNS_DROP_LOAD_FAILED: u32 = 3;
/// A local server's side of a lookup, skipped (not lost).
pub const DNS_DROP_SERVER_SIDE: u32 = 4;
/// Socket path: a watched socket's message moved without a syscall buffer (io_uring,
/// recvmmsg, a kernel socket): not captured.
pub const DNS_DROP_NO_BUFFER: u32 = 5;
/// Socket path: no socket storage to note an answer's source in.
pub const DNS_DROP_NO_STORAGE: u32 = 6;
/// Number of DNS drop counters.
pub const DNS_DROP_MAX: u32 = 7;

/// Indexes of the kernel's `drops` array (`enum sonde_drop`).
pub const DROP_RINGBUF_FULL: u32 = 0;
/// The connection map was full.
pub const DROP_CONN_MAP_FULL: u32 = 1;
/// The listener map was full.
pub const DROP_LISTEN_MAP_FULL: u32 = 2;
/// Number of drop counters.
pub const DROP_MAX: u32 = 3;

// The layouts the C header declares; a change on one side without the other fails here.
const _: () = assert!(std::mem::size_of::<sonde_conn_event>() == 152);
const _: () = assert!(std::mem::size_of::<sonde_proc_event>() == 40);
const _: () = assert!(std::mem::size_of::<sonde_owner>() == 40);
const _: () = assert!(std::mem::size_of::<sonde_listener_rec>() == 16);
const _: () = assert!(std::mem::size_of::<sonde_dns_event>() == 1584);
const _: () = assert!(std::mem::size_of::<sonde_data_event>() == DATA_HEADER + DATA_MAX as usize);
const _: () = assert!(std::mem::size_of::<sonde_http_key>() == 28);
const _: () = assert!(std::mem::size_of::<sonde_http_hist>() == 8 * (HTTP_BOUNDS + 1) + 32);
const _: () = assert!(std::mem::size_of::<sonde_http_event>() == 128);
const _: () = assert!(sonde_semconv::metric::HTTP_BUCKETS.len() == HTTP_BOUNDS);

// SAFETY: both are `#[repr(C)]` structs of integers and byte arrays, valid for any bit
// pattern, which is what `plain::from_bytes` requires.
unsafe impl plain::Plain for sonde_conn_event {}
// SAFETY: as above.
unsafe impl plain::Plain for sonde_proc_event {}
// SAFETY: as above.
unsafe impl plain::Plain for sonde_dns_event {}
// SAFETY: as above.
unsafe impl plain::Plain for sonde_data_event {}
// SAFETY: as above.
unsafe impl plain::Plain for sonde_http_key {}
// SAFETY: as above.
unsafe impl plain::Plain for sonde_http_hist {}
// SAFETY: as above.
unsafe impl plain::Plain for sonde_http_event {}
// SAFETY: as above.
unsafe impl plain::Plain for sonde_listener_rec {}
// SAFETY: as above.
unsafe impl plain::Plain for sonde_owner {}
