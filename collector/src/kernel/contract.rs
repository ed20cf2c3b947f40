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

pub use conn::types::{
    sonde_conn_drops, sonde_conn_event, sonde_listen_event, sonde_owner, sonde_proc_event,
    sonde_walk_rec,
};
pub use conn::{ConnSkel, ConnSkelBuilder};
/// The skeleton of data.bpf.c.
pub mod data {
    include!(concat!(env!("OUT_DIR"), "/data.skel.rs"));
}

/// The skeleton of drops.bpf.c.
pub mod drops {
    include!(concat!(env!("OUT_DIR"), "/drops.skel.rs"));
}

pub use data::types::{sonde_data_event, sonde_http_event, sonde_http_hist, sonde_http_key};
pub use data::{DataSkel, DataSkelBuilder};
pub use dns::types::sonde_dns_event;
pub use dns::{DnsSkel, DnsSkelBuilder};
pub use drops::{DropsSkel, DropsSkelBuilder};

// The kernel/user contract's values, from the skeletons' enum types (each object declares
// a global of every enum it shares, so libbpf-cargo generates its constants from the
// object's BTF): events.h is their one source, and a value renumbered there is renumbered
// here by the build.
use conn::types::{
    sonde_conn_flags, sonde_direction, sonde_drop, sonde_event_kind, sonde_listen_flags,
    sonde_walk_kind,
};
use data::types::{sonde_data_drop, sonde_data_flags, sonde_http_method, sonde_http_role};
use dns::types::{sonde_dns_drop, sonde_dns_flags};

/// Record kinds from `enum sonde_event_kind`: a closed connection.
pub const EV_CONN_CLOSE: u8 = sonde_event_kind::SONDE_EV_CONN_CLOSE.0 as u8;
/// A process called execve.
pub const EV_PROC_EXEC: u8 = sonde_event_kind::SONDE_EV_PROC_EXEC.0 as u8;
/// A process exited.
pub const EV_PROC_EXIT: u8 = sonde_event_kind::SONDE_EV_PROC_EXIT.0 as u8;
/// A periodic report of a connection still open.
pub const EV_CONN_UPDATE: u8 = sonde_event_kind::SONDE_EV_CONN_UPDATE.0 as u8;
/// A listening socket, first seen.
pub const EV_LISTEN: u8 = sonde_event_kind::SONDE_EV_LISTEN.0 as u8;
/// A listener's drop count grew.
pub const EV_LISTEN_UPDATE: u8 = sonde_event_kind::SONDE_EV_LISTEN_UPDATE.0 as u8;
/// A listener stopped listening.
pub const EV_UNLISTEN: u8 = sonde_event_kind::SONDE_EV_UNLISTEN.0 as u8;
/// `enum sonde_listen_flags`: listening before the probes attached.
pub const LISTEN_F_PREEXISTING: u8 = sonde_listen_flags::SONDE_LISTEN_F_PREEXISTING.0 as u8;
/// An UNLISTEN of a listener no LISTEN was sent for.
pub const LISTEN_F_UNANNOUNCED: u8 = sonde_listen_flags::SONDE_LISTEN_F_UNANNOUNCED.0 as u8;
/// A DNS message.
pub const EV_DNS_PACKET: u8 = sonde_event_kind::SONDE_EV_DNS_PACKET.0 as u8;
/// Bytes a data syscall moved on an HTTP connection.
pub const EV_DATA: u8 = sonde_event_kind::SONDE_EV_DATA.0 as u8;
/// An HTTP exchange the kernel timed and counted, sent up to become an exemplar span.
pub const EV_HTTP: u8 = sonde_event_kind::SONDE_EV_HTTP.0 as u8;

/// `enum sonde_direction`: an accepted connection.
pub const DIR_SERVER: u8 = sonde_direction::SONDE_DIR_SERVER.0 as u8;

/// `SONDE_DATA_MAX`: bytes copied per syscall at most (a define: checked by the record's
/// size below).
pub const DATA_MAX: u32 = 1024;
/// Bytes before `data[]` in a data record.
pub const DATA_HEADER: usize = 40;
/// `enum sonde_data_flags`: written by the process.
pub const DATA_F_EGRESS: u8 = sonde_data_flags::SONDE_DATA_F_EGRESS.0 as u8;
/// sendfile(): a length, no bytes.
pub const DATA_F_SENDFILE: u8 = sonde_data_flags::SONDE_DATA_F_SENDFILE.0 as u8;
/// The syscall moved more than was copied.
pub const DATA_F_CUT: u8 = sonde_data_flags::SONDE_DATA_F_CUT.0 as u8;
/// Operations of the connection were left out since the last record: an exchange starts.
pub const DATA_F_GAP: u8 = sonde_data_flags::SONDE_DATA_F_GAP.0 as u8;
/// `enum sonde_data_drop`: the data ring buffer was full.
pub const DATA_DROP_RINGBUF_FULL: u32 = sonde_data_drop::SONDE_DATA_DROP_RINGBUF_FULL.0;
/// An exchange the kernel counted whose exemplar record found no room.
pub const DATA_DROP_EXEMPLAR_RINGBUF_FULL: u32 =
    sonde_data_drop::SONDE_DATA_DROP_EXEMPLAR_RINGBUF_FULL.0;
/// The user buffer could not be read.
pub const DATA_DROP_READ_FAILED: u32 = sonde_data_drop::SONDE_DATA_DROP_READ_FAILED.0;
/// No socket storage for a new HTTP connection.
pub const DATA_DROP_NO_STORAGE: u32 = sonde_data_drop::SONDE_DATA_DROP_NO_STORAGE.0;
/// An exchange timed in the kernel found no series slot.
pub const DATA_DROP_SERIES_FULL: u32 = sonde_data_drop::SONDE_DATA_DROP_SERIES_FULL.0;
/// A network namespace with HTTP connections the sweep by namespace cannot visit (its
/// table was full).
pub const DATA_DROP_NETNS_FULL: u32 = sonde_data_drop::SONDE_DATA_DROP_NETNS_FULL.0;
/// Exchanges a flush of a connection's counts could not take its turn for.
pub const DATA_DROP_FLUSH_BUSY: u32 = sonde_data_drop::SONDE_DATA_DROP_FLUSH_BUSY.0;
/// A request that came while the kernel timed another.
pub const DATA_DROP_PIPELINED: u32 = sonde_data_drop::SONDE_DATA_DROP_PIPELINED.0;
/// An exchange whose status line the kernel could not read.
pub const DATA_DROP_UNPARSED: u32 = sonde_data_drop::SONDE_DATA_DROP_UNPARSED.0;
/// Not a loss: connections handed to the agent's parser because they pipeline.
pub const DATA_HANDED_PIPELINED: u32 = sonde_data_drop::SONDE_DATA_HANDED_PIPELINED.0;
/// Number of data drop counters.
pub const DATA_DROP_MAX: u32 = sonde_data_drop::SONDE_DATA_DROP_MAX.0;
/// `SONDE_HTTP_BOUNDS`: bounds of the kernel's duration histograms (a define: checked by
/// the histogram's size below).
pub const HTTP_BOUNDS: usize = 14;
/// `enum sonde_http_role`: the local process read the request.
pub const HTTP_SERVER: u8 = sonde_http_role::SONDE_HTTP_SERVER.0 as u8;
/// The local process wrote it.
pub const HTTP_CLIENT: u8 = sonde_http_role::SONDE_HTTP_CLIENT.0 as u8;
/// `enum sonde_http_method` in the order GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH:
/// `http::kernel::kernel_method` reads them as 1 to 7 (asserted below).
pub const HTTP_METHODS: [u8; 7] = [
    sonde_http_method::SONDE_HTTP_GET.0 as u8,
    sonde_http_method::SONDE_HTTP_HEAD.0 as u8,
    sonde_http_method::SONDE_HTTP_POST.0 as u8,
    sonde_http_method::SONDE_HTTP_PUT.0 as u8,
    sonde_http_method::SONDE_HTTP_DELETE.0 as u8,
    sonde_http_method::SONDE_HTTP_OPTIONS.0 as u8,
    sonde_http_method::SONDE_HTTP_PATCH.0 as u8,
];

/// `enum sonde_dns_flags`: leaving a local socket.
pub const DNS_F_EGRESS: u16 = sonde_dns_flags::SONDE_DNS_F_EGRESS.0 as u16;
/// TCP payload.
pub const DNS_F_TCP: u16 = sonde_dns_flags::SONDE_DNS_F_TCP.0 as u16;
/// The copy was cut.
pub const DNS_F_TRUNCATED: u16 = sonde_dns_flags::SONDE_DNS_F_TRUNCATED.0 as u16;
/// The owner was taken from the sending task.
pub const DNS_F_OWNER: u16 = sonde_dns_flags::SONDE_DNS_F_OWNER.0 as u16;
/// Watched-port slots (`SONDE_DNS_PORTS_MAX`, a define: checked by the rodata's size).
pub const DNS_PORTS_MAX: usize = 8;
/// `enum sonde_dns_drop`: the ring buffer was full.
pub const DNS_DROP_RINGBUF_FULL: u32 = sonde_dns_drop::SONDE_DNS_DROP_RINGBUF_FULL.0;
/// Messages longer than the copy.
pub const DNS_DROP_TRUNCATED: u32 = sonde_dns_drop::SONDE_DNS_DROP_TRUNCATED.0;
/// IPv6 extension headers or IPv4 fragments, not followed.
pub const DNS_DROP_UNPARSED_L3: u32 = sonde_dns_drop::SONDE_DNS_DROP_UNPARSED_L3.0;
/// The payload could not be copied (from the packet or the caller's buffer).
pub const DNS_DROP_LOAD_FAILED: u32 = sonde_dns_drop::SONDE_DNS_DROP_LOAD_FAILED.0;
/// A local server's side of a lookup, skipped (not lost).
pub const DNS_DROP_SERVER_SIDE: u32 = sonde_dns_drop::SONDE_DNS_DROP_SERVER_SIDE.0;
/// Socket path: a watched socket's message moved without a syscall buffer (io_uring,
/// recvmmsg, a kernel socket): not captured.
pub const DNS_DROP_NO_BUFFER: u32 = sonde_dns_drop::SONDE_DNS_DROP_NO_BUFFER.0;
/// Socket path: no socket storage to note an answer's source in.
pub const DNS_DROP_NO_STORAGE: u32 = sonde_dns_drop::SONDE_DNS_DROP_NO_STORAGE.0;
/// Number of DNS drop counters.
pub const DNS_DROP_MAX: u32 = sonde_dns_drop::SONDE_DNS_DROP_MAX.0;

/// Indexes of the kernel's `drops` array (`enum sonde_drop`): the ring buffer was full.
pub const DROP_RINGBUF_FULL: u32 = sonde_drop::SONDE_DROP_RINGBUF_FULL.0;
/// The connection map was full.
pub const DROP_CONN_MAP_FULL: u32 = sonde_drop::SONDE_DROP_CONN_MAP_FULL.0;
/// The listener map was full.
pub const DROP_LISTEN_MAP_FULL: u32 = sonde_drop::SONDE_DROP_LISTEN_MAP_FULL.0;
/// Number of drop counters.
pub const DROP_MAX: u32 = sonde_drop::SONDE_DROP_MAX.0;

/// Reason slots of drops.bpf.c's `skb_drops` (the last one shares every reason past it).
pub const SKB_REASONS: u32 = drops::types::sonde_skb_drop::SONDE_SKB_REASONS.0;
/// Transport slots per reason.
pub const SKB_TRANSPORTS: u32 = drops::types::sonde_skb_drop::SONDE_SKB_TRANSPORTS.0;
/// A drop's transport slot: TCP.
pub const SKB_TRANSPORT_TCP: u32 = drops::types::sonde_skb_drop::SONDE_SKB_TRANSPORT_TCP.0;
/// UDP.
pub const SKB_TRANSPORT_UDP: u32 = drops::types::sonde_skb_drop::SONDE_SKB_TRANSPORT_UDP.0;
/// ICMP or ICMPv6.
pub const SKB_TRANSPORT_ICMP: u32 = drops::types::sonde_skb_drop::SONDE_SKB_TRANSPORT_ICMP.0;
/// Another transport, or none known.
pub const SKB_TRANSPORT_OTHER: u32 = drops::types::sonde_skb_drop::SONDE_SKB_TRANSPORT_OTHER.0;
/// Direction slots per transport.
pub const SKB_DIRECTIONS: u32 = drops::types::sonde_skb_drop::SONDE_SKB_DIRECTIONS.0;
/// A drop's direction slot: the packet arrived on an interface.
pub const SKB_DIR_RECEIVE: u32 = drops::types::sonde_skb_drop::SONDE_SKB_DIR_RECEIVE.0;
/// The host sent it.
pub const SKB_DIR_TRANSMIT: u32 = drops::types::sonde_skb_drop::SONDE_SKB_DIR_TRANSMIT.0;
/// Drop slots per connection (`struct sonde_conn_drops`).
pub const CONN_DROP_SLOTS: usize = drops::types::sonde_skb_drop::SONDE_CONN_DROP_SLOTS.0 as usize;
/// drops.bpf.c's `skb_losses`: a connection's drop found `conn_drops` full.
pub const SKB_LOSS_CONN_DROPS_FULL: u32 =
    drops::types::sonde_skb_loss::SONDE_SKB_LOSS_CONN_DROPS_FULL.0;
/// Number of those counters.
pub const SKB_LOSS_MAX: u32 = drops::types::sonde_skb_loss::SONDE_SKB_LOSS_MAX.0;

/// `enum sonde_conn_flags`: reached ESTABLISHED.
pub const F_ESTABLISHED: u16 = sonde_conn_flags::SONDE_F_ESTABLISHED.0 as u16;
/// This side sent a RST.
pub const F_RST_SENT: u16 = sonde_conn_flags::SONDE_F_RST_SENT.0 as u16;
/// The peer sent a RST.
pub const F_RST_RECEIVED: u16 = sonde_conn_flags::SONDE_F_RST_RECEIVED.0 as u16;
/// The owner was taken from the listener.
pub const F_OWNER_LISTENER: u16 = sonde_conn_flags::SONDE_F_OWNER_LISTENER.0 as u16;
/// Open before the probes attached: found by the walk at start.
pub const F_PREEXISTING: u16 = sonde_conn_flags::SONDE_F_PREEXISTING.0 as u16;

/// `enum sonde_walk_kind`: a connection open before the probes attached.
pub const WALK_CONNECTION: u8 = sonde_walk_kind::SONDE_WALK_CONNECTION.0 as u8;

const _: () = {
    let mut i = 0;
    while i < HTTP_METHODS.len() {
        assert!(
            HTTP_METHODS[i] as usize == i + 1,
            "kernel_method reads 1..=7"
        );
        i += 1;
    }
};

// The layouts the C header declares; a change on one side without the other fails here.
const _: () = assert!(std::mem::size_of::<sonde_conn_event>() == 224);
const _: () = assert!(std::mem::size_of::<sonde_conn_drops>() == 72);
const _: () = assert!(std::mem::size_of::<sonde_proc_event>() == 40);
const _: () = assert!(std::mem::size_of::<sonde_owner>() == 40);
const _: () = assert!(std::mem::size_of::<sonde_walk_rec>() == 64);
const _: () = assert!(std::mem::size_of::<sonde_listen_event>() == 104);
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
unsafe impl plain::Plain for sonde_walk_rec {}
// SAFETY: as above.
unsafe impl plain::Plain for sonde_owner {}
// SAFETY: as above.
unsafe impl plain::Plain for sonde_listen_event {}
