//! Listening TCP sockets (conn.bpf.c's `listen_socks` and its periodic pass): the
//! inventory of what accepts connections on this host, which process owns each socket,
//! a `sonde.tcp.listen` log record when one starts or stops listening, the
//! `sonde.listeners` gauge, and each listener's drops (accept-queue overflows and other
//! refused handshakes) counted as `sonde.network.drops`.
//!
//! The kernel announces a listener from its periodic pass (about once a second), once
//! `listen()` has set its backlog; listeners open before the agent started are put in the
//! same map by the walk at start and announced the same way, with the owner the walk
//! named by the socket's inode.

pub mod handler;
pub mod record;

pub use handler::{ListenerDropSink, ListenersHandler};
pub use record::{ListenKind, ListenRecord};
